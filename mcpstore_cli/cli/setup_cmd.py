"""``mcpstore setup``: create the layout, print it (--dry-run), or verify it (--check)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from mcpstore_cli.cli.common import Command
from mcpstore_cli.cli.manpage import ManCommand
from mcpstore_cli.cli.options import store_command
from mcpstore_cli.errors import UsageError
from mcpstore_cli.exitcodes import ExitStatus


def register(app: typer.Typer, panel: str) -> None:
    app.command("setup", cls=ManCommand, rich_help_panel=panel)(setup)


@store_command()
def setup(
    cmd: Command,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the DDL / API calls instead of running them.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Compare the live store with the layout; exit 3 naming each difference.",
        ),
    ] = False,
    create_database: Annotated[
        bool, typer.Option("--create-database", help="PostgreSQL: create the database if missing.")
    ] = False,
    notify: Annotated[
        bool,
        typer.Option(
            "--notify",
            help="PostgreSQL: install the trigger tail-events listens to (with --check: "
            "require it).",
        ),
    ] = False,
    stream: Annotated[
        bool,
        typer.Option(
            "--stream/--no-stream", help="DynamoDB: a NEW_IMAGE stream on the events table."
        ),
    ] = True,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag", metavar="KEY=VALUE", help="DynamoDB: a tag on both tables (repeatable)."
        ),
    ] = None,
    pitr: Annotated[
        bool, typer.Option("--pitr", help="DynamoDB: enable point-in-time recovery.")
    ] = False,
) -> None:
    """Create the store's tables and indexes, idempotently, in the servers' exact layout."""
    if dry_run and check:
        raise UsageError("--dry-run and --check do not go together.")
    store_url = cmd.url
    wanted = {  # flag: (given?, the keyword option of Store.setup(), its value)
        "--create-database": (create_database, "create_database", create_database),
        "--notify": (notify, "notify", notify),
        "--no-stream": (not stream, "stream", stream),
        "--tag": (bool(tag), "tags", tag or []),
        "--pitr": (pitr, "pitr", pitr),
    }

    def takes(name: str) -> Callable[[Any], bool]:
        return lambda kind: name in kind.setup_options

    for flag, (given, name, _) in wanted.items():
        if given:
            cmd.require(takes(name), flag)
    taken = cmd.store_class.setup_options
    options = {name: value for _, name, value in wanted.values() if name in taken}
    if "tags" in options:
        options["tags"] = _parse_tags(tag or [])
    store = cmd.open_store(creates=not check)

    if dry_run:
        statements = store.setup_plan(**options)
        _print_plan(cmd, statements)
        return

    if check:
        from mcpstore_cli.render.output import write_findings

        async def _check() -> list:
            async with store:
                return await store.check()

        findings = cmd.run(_check)
        if notify:
            findings = _require_trigger(findings)
        errors = [f for f in findings if f.severity == "error"]
        if findings or cmd.fmt != "table":
            write_findings(cmd.env, cmd.fmt, findings)
        if errors:
            cmd.error(
                f"{store_url.masked()} differs from the layout in {len(errors)} "
                f"place{'s' if len(errors) != 1 else ''}; mcpstore setup creates what is missing."
            )
            cmd.exit(ExitStatus.CHECK_FAILED)
        cmd.info(f"{store_url.masked()} matches the layout.")
        return

    from mcpstore_cli.render.output import write_steps

    cmd.interrupt_note = (
        "setup was stopped: whatever it had created stays; mcpstore setup --check shows what "
        "is missing and setup again creates it."
    )

    async def _setup() -> list:
        async with store:
            return await store.setup(**options)

    steps = cmd.run(_setup)
    if not cmd.quiet or cmd.fmt_option:
        write_steps(cmd.env, cmd.fmt, steps)
    created = sum(1 for s in steps if s.action.startswith("created"))
    cmd.info(
        f"{store_url.masked()} is ready"
        + (
            f" ({created} object{'s' if created != 1 else ''} created)."
            if created
            else " (nothing to create)."
        )
    )


def _require_trigger(findings: list) -> list:
    """``setup --check --notify``: the tail-events trigger is part of what is checked, so
    anything but a working trigger is drift (exit 3) instead of a note."""
    from mcpstore_cli.model.records import Finding

    trigger = "trigger mcpstore_events_notify"
    out = []
    present = False
    for finding in findings:
        if finding.object == trigger and finding.problem.startswith("present"):
            present = True
        elif finding.object in (trigger, "function mcpstore_notify_event()"):
            finding = Finding(finding.object, finding.problem, "error")
        out.append(finding)
    tables_missing = any(f.object == "table events" for f in findings)
    if not present and not tables_missing and not any(f.object == trigger for f in out):
        out.append(Finding(trigger, "missing; run mcpstore setup --notify", "error"))
    return out


def _print_plan(cmd: Command, statements: list[str]) -> None:
    import json

    out = cmd.env.stdout
    if cmd.fmt_option in ("json", "jsonl"):
        if cmd.fmt_option == "json":
            out.write(json.dumps(statements, indent=2) + "\n")
        else:
            for s in statements:
                out.write(json.dumps(s) + "\n")
        return
    for statement in statements:
        out.write(statement.rstrip(";") + ";\n")


def _parse_tags(raw: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--tag {item!r} is not KEY=VALUE.")
        tags[key] = value
    return tags
