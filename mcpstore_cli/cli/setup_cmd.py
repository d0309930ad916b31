"""``mcpstore setup``: create the layout, print it (--dry-run), or verify it (--check)."""

from __future__ import annotations

from typing import Annotated

import typer

from mcpstore_cli.cli.common import (
    BackendOpt,
    Command,
    ConnectTimeoutOpt,
    DebugOpt,
    FormatOpt,
    LockTimeoutOpt,
    QuietOpt,
    UrlOpt,
)
from mcpstore_cli.errors import UsageError
from mcpstore_cli.exitcodes import ExitStatus

BACKEND_ONLY = {
    "--create-database": "postgres",
    "--notify": "postgres",
    "--tag": "dynamodb",
    "--pitr": "dynamodb",
    "--no-stream": "dynamodb",
}


def register(app: typer.Typer) -> None:
    app.command("setup")(setup)


def setup(
    ctx: typer.Context,
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
        typer.Option("--tag", help="DynamoDB: KEY=VALUE tag on both tables (repeatable)."),
    ] = None,
    pitr: Annotated[
        bool, typer.Option("--pitr", help="DynamoDB: enable point-in-time recovery.")
    ] = False,
    url: UrlOpt = None,
    backend: BackendOpt = None,
    connect_timeout: ConnectTimeoutOpt = 10.0,
    lock_timeout: LockTimeoutOpt = None,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Create the store's tables and indexes, idempotently, in the servers' exact layout."""
    cmd = Command.from_ctx(
        ctx,
        url_option=url,
        backend_option=backend,
        fmt_option=fmt,
        quiet=quiet,
        debug=debug,
        connect_timeout=connect_timeout,
        lock_timeout=lock_timeout,
    )
    if dry_run and check:
        cmd.check(lambda: _raise(UsageError("--dry-run and --check do not go together.")))
    store_url = cmd.check(lambda: cmd.url)
    given = {
        "--create-database": create_database,
        "--notify": notify,
        "--tag": bool(tag),
        "--pitr": pitr,
        "--no-stream": not stream,
    }
    for flag, on in given.items():
        if on and BACKEND_ONLY[flag] != store_url.backend:
            cmd.check(
                lambda flag=flag: _raise(
                    UsageError(
                        f"{flag} applies to {BACKEND_ONLY[flag]} stores, not {store_url.backend}."
                    )
                )
            )
    tags = cmd.check(lambda: _parse_tags(tag or []))
    options: dict[str, object] = {}
    if store_url.backend == "postgres":
        options = {"create_database": create_database, "notify": notify}
    elif store_url.backend == "dynamodb":
        options = {"stream": stream, "tags": tags, "pitr": pitr}
    store = cmd.check(lambda: cmd.open_store(creates=not check))

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
    if not quiet or cmd.fmt_option:
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


def _raise(exc: Exception) -> None:
    raise exc
