"""``mcpstore clear`` and ``mcpstore teardown``: destructive, so they show what goes first and
ask (default No; deleting tables also needs the name typed). ``--yes`` skips the questions;
without a terminal and without ``--yes`` they refuse (exit 4) and change nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mcpstore_cli.cli.common import Command, ForceOpt
from mcpstore_cli.cli.manpage import ManCommand
from mcpstore_cli.cli.options import store_command
from mcpstore_cli.errors import ConfirmationError, UsageError

if TYPE_CHECKING:
    from mcpstore_cli.model.teardown import Inventory

YesOpt = Annotated[
    bool, typer.Option("--yes", "-y", help="Do it without asking (scripts, CI); still previews.")
]
DryRunOpt = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Print what would be destroyed (tables, counts, sizes); change nothing."
    ),
]


def register(app: typer.Typer, panel: str) -> None:
    app.command("clear", cls=ManCommand, rich_help_panel=panel)(clear)
    app.command("teardown", cls=ManCommand, rich_help_panel=panel)(teardown)


# -- shared pieces ------------------------------------------------------------------------
def _inventory(cmd: Command) -> Inventory:
    store = cmd.open_store()

    async def work() -> Inventory:
        async with store:
            inv: Inventory = await store.inventory()
            return inv

    return cmd.run(work)


@contextlib.contextmanager
def _interruptible(cmd: Command) -> Iterator[None]:
    """Ctrl-C at a question: nothing has changed yet, say so and exit 130."""
    try:
        yield
    except KeyboardInterrupt:
        cmd.interrupted("nothing was changed.")


def _dry_run(cmd: Command, obj: dict[str, Any], extra: dict[str, Any]) -> None:
    from mcpstore_cli.render.output import draw_inventory, write_object

    def draw() -> None:
        draw_inventory(cmd.env, obj)
        for key, value in extra.items():
            cmd.env.console().print(f"{key}: {value}", highlight=False)

    write_object(cmd.env, cmd.fmt, {**obj, **extra}, draw)
    cmd.info("Dry run: nothing was changed.")


def _count_text(inv: Inventory) -> str:
    parts = []
    for t in inv.tables:
        if t.exists and t.rows is not None:
            about = "" if t.rows_exact else "about "
            parts.append(f"{about}{t.rows:,} in {t.name}")
    return ", ".join(parts) or "nothing"


# -- clear --------------------------------------------------------------------------------
@store_command()
def clear(
    cmd: Command,
    recreate: Annotated[
        bool,
        typer.Option(
            "--recreate",
            help="DynamoDB: delete and recreate both tables with identical settings instead of "
            "deleting items (faster on big tables; the stream gets a new ARN).",
        ),
    ] = False,
    all_collections: Annotated[
        bool,
        typer.Option(
            "--all-collections",
            help="fastmcp layout: also the other collections of the store (the OAuth proxy's "
            "clients and tokens, caches), not only FastMCP's events, streams and state.",
        ),
    ] = False,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Delete every session and event (or every record of a task or server-state layout);
    keep the tables, their settings and the id counters."""
    store_url = cmd.url
    if all_collections:
        why = f"the {cmd.store_class.layout} layout keeps its records in tables of its own"
        cmd.require(lambda kind: kind.session_kinds, "--all-collections", why)
    if recreate:
        why = f"a {store_url.backend} store is cleared in place"
        cmd.require(lambda kind: kind.recreates_tables, "--recreate", why)
    from mcpstore_cli.render.output import inventory_json, inventory_lines

    inv = _inventory(cmd)
    obj = inventory_json(inv)
    if dry_run:
        _dry_run(
            cmd,
            obj,
            {
                "would": "recreate the tables"
                if recreate
                else f"delete {_every(cmd, everything=all_collections)}"
            },
        )
        return
    preview = inventory_lines(obj)
    if recreate:
        preview.append(
            "clear --recreate deletes both tables and creates them again with the same "
            "settings; the events stream gets a new ARN."
        )
        question = f"Delete and recreate {inv.name} and {inv.name}-events?"
    else:
        every = _every(cmd, everything=all_collections)
        preview.append(f"clear deletes {every}; the tables stay.")
        question = f"Delete {every} ({_count_text(inv)})?"
    from mcpstore_cli.cli.confirm import confirm_destructive

    with _interruptible(cmd):
        confirm_destructive(
            cmd,
            action="clear",
            preview=preview,
            yes=yes,
            question=question,
            typed_name=inv.name if recreate else None,
        )

    store = cmd.open_store()
    deleted = [0]
    if cmd.store_class.clears_in_one_transaction:
        cmd.interrupt_note = "clear is one transaction and was rolled back: nothing was changed."
    elif recreate:
        cmd.interrupt_note = (
            "clear --recreate is never stopped half-way: it ran to its end before exiting; "
            "mcpstore setup --check shows the tables."
        )
    else:
        cmd.interrupt_note = lambda: (
            f"clear was stopped part-way: about {deleted[0]:,} items were deleted, the rest stay."
        )
    with cmd.progress("clearing", inv.rows, unit="items") as bar:

        def tick(n: int) -> None:
            deleted[0] += n
            if bar is not None:
                bar(n)

        async def work() -> Any:
            async with store:
                if all_collections:
                    return await store.clear_all_collections(progress=tick)
                return await store.clear(recreate=recreate, progress=tick)

        result = cmd.run(work)
    from mcpstore_cli.render.output import clear_json, write_object

    summary = clear_json(result, store_url.masked())
    summary["preview_s"] = round(inv.seconds, 3)
    if cmd.fmt_option:
        write_object(cmd.env, cmd.fmt, summary, lambda: None)
    rate = f" ({summary['rate']:,.0f} items/s)" if summary["rate"] and not recreate else ""
    verb = "recreated the tables, dropping" if recreate else "deleted"
    cmd.info(
        f"clear: {verb} {result.deleted_words()} "
        f"from {store_url.masked()} in {result.seconds:.2f} s{rate}."
    )
    for note in result.notes:
        if "stream" in note and "ARN" in note:
            cmd.warn(note + ".")
        else:
            cmd.info(f"clear: {note}.")


def _every(cmd: Command, *, everything: bool = False) -> str:
    """What clear deletes, in the layout's words."""
    if cmd.store_class.records_noun is None:
        return "every session and event"
    if cmd.store_class.session_kinds:
        if everything:
            return "every entry of every collection (FastMCP's and the others)"
        return "every entry of FastMCP's collections (events, streams, state)"
    return f"every record of the {cmd.store_class.layout} layout"


# -- teardown -----------------------------------------------------------------------------
def _choices(cmd: Command, inv: Inventory) -> list[Any]:
    from mcpstore_cli.cli.prompts import Choice
    from mcpstore_cli.model.teardown import BACKUP, CLEAR, DELETE, DISABLE_STREAMS

    if inv.files and not inv.facts.get("other_tables"):  # a store that is one file
        delete_title = f"delete the file {inv.name} (with its -wal and -shm)"
    else:
        delete_title = f"delete the tables {', '.join(t.name for t in inv.tables if t.exists)}"
        if inv.installed:
            delete_title += f" and what mcpstore installed ({', '.join(inv.installed)})"
    streams = None
    if not cmd.store_class.has_streams:
        noun = cmd.store_class.records_noun
        streams = (
            f"{inv.backend} stores have none"
            if noun is None
            else f"{inv.backend} stores of the {cmd.store_class.layout} layout have none"
        )
    elif not inv.has_streams:
        streams = "no stream enabled"
    return [
        Choice(CLEAR, f"clear data ({_count_text(inv)})"),
        Choice(BACKUP, "back up first (a backup file in the current directory)"),
        Choice(DISABLE_STREAMS, "disable streams", disabled=streams),
        Choice(DELETE, delete_title),
    ]


@store_command()
def teardown(
    cmd: Command,
    clear_data: Annotated[
        bool,
        typer.Option(
            "--clear-data", help="Delete every session and event (or the layout's records)."
        ),
    ] = False,
    backup: Annotated[
        bool, typer.Option("--backup", help="Write a backup file before anything is destroyed.")
    ] = False,
    backup_file: Annotated[
        str | None,
        typer.Option(
            "--backup-file",
            metavar="FILE",
            help="Where --backup writes [default: a new file in the current directory].",
            show_default=False,
        ),
    ] = None,
    force: ForceOpt = False,
    disable_streams: Annotated[
        bool, typer.Option("--disable-streams", help="DynamoDB: turn off the tables' streams.")
    ] = False,
    delete: Annotated[
        bool,
        typer.Option(
            "--delete",
            help="Delete the tables (SQLite: the file with its -wal/-shm; PostgreSQL: also "
            "mcpstore's notify function). DynamoDB waits until they are gone.",
        ),
    ] = False,
    all_steps: Annotated[
        bool, typer.Option("--all", help="Every step that applies to the store.")
    ] = False,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Take a store apart: choose among clear data, back up first, disable streams and
    delete tables on a terminal, or name the steps with flags. Steps run in a safe order:
    the backup before anything destructive."""
    from mcpstore_cli.model.teardown import BACKUP, CLEAR, DELETE, DISABLE_STREAMS, STEP_TITLES
    from mcpstore_cli.ops.teardown import order_steps

    store_url = cmd.url
    streams = cmd.store_class.has_streams
    if disable_streams:
        why = f"a {store_url.backend} store has no streams"
        cmd.require(lambda kind: kind.has_streams, "--disable-streams", why)
    if backup_file is not None and not (backup or all_steps):
        raise UsageError("--backup-file goes with --backup (or --all).")
    if force and backup_file is None:
        raise UsageError("--force goes with --backup-file.")
    if backup_file is not None:
        from mcpstore_cli.ops.backup import check_backup_target

        # Refused before anything is shown or asked: nothing is read, nothing written.
        check_backup_target(cmd.open_store(), backup_file, force=force)
    chosen: list[str] = []
    if all_steps:
        chosen = [BACKUP, CLEAR, DELETE] + ([DISABLE_STREAMS] if streams else [])
    else:
        flags = {
            CLEAR: clear_data,
            BACKUP: backup,
            DISABLE_STREAMS: disable_streams,
            DELETE: delete,
        }
        chosen = [step for step, on in flags.items() if on]
    if not chosen and yes:
        raise UsageError(
            "--yes needs the steps named: --clear-data, --backup, --disable-streams, "
            "--delete or --all."
        )
    if not chosen and not dry_run:
        from mcpstore_cli.cli.confirm import needs_terminal

        needs_terminal(cmd, "teardown")

    from mcpstore_cli.render.output import inventory_json, inventory_lines

    inv = _inventory(cmd)
    obj = inventory_json(inv)
    if dry_run:
        plan = [STEP_TITLES[s] for s in order_steps(chosen)]
        _dry_run(cmd, obj, {"steps": plan})
        return

    from mcpstore_cli.cli.confirm import ask, needs_terminal, require_typed, show_preview

    with _interruptible(cmd):
        interactive = not chosen
        show_preview(cmd, inventory_lines(obj), force=interactive or not yes)
        if interactive:
            from mcpstore_cli.cli.prompts import prompter_for

            chosen = prompter_for(cmd.env).checkbox("What should teardown do?", _choices(cmd, inv))
            if not chosen:
                raise ConfirmationError("Nothing chosen; nothing was changed.")
        steps = order_steps(chosen)
        if CLEAR in chosen and CLEAR not in steps:
            plan_note = ["  (clear data is left out: deleting removes the data anyway)"]
        else:
            plan_note = []
        if steps == [DISABLE_STREAMS] and not inv.has_streams:
            cmd.info("teardown: no stream is enabled; nothing to do.")
        plan_lines = (
            ["Steps, in this order:"]
            + [
                f"  {i}. {STEP_TITLES[s]}"
                + (f" ({backup_file})" if s == BACKUP and backup_file else "")
                for i, s in enumerate(steps, 1)
            ]
            + plan_note
        )
        if yes:
            show_preview(cmd, plan_lines)
        else:
            needs_terminal(cmd, "teardown")
            show_preview(cmd, plan_lines, force=True)
            ask(cmd, f"Run {len(steps)} step(s) on {inv.store}?")
            if DELETE in steps:
                require_typed(cmd, inv.name)

    store = cmd.open_store()
    clearing = CLEAR in steps
    label = "clearing" if clearing else "tearing down"
    with cmd.progress(label, inv.rows if clearing else None, unit="items") as tick:

        async def work() -> Any:
            from mcpstore_cli.ops.teardown import run_teardown

            async with store:
                return await run_teardown(
                    store, steps, backup_path=backup_file, backup_force=force, progress=tick
                )

        result = cmd.run(work)
    from mcpstore_cli.render.output import draw_steps_done, teardown_json, write_object

    summary = teardown_json(result, store_url.masked())
    if cmd.fmt_option:
        write_object(cmd.env, cmd.fmt, summary, lambda: draw_steps_done(cmd.env, summary))
    for step in result.steps:
        cmd.info(f"teardown: {step.done} ({step.seconds:.2f} s).")
    cmd.info(
        f"teardown: {len(result.steps)} step(s) done on {store_url.masked()} in "
        f"{result.seconds:.2f} s."
    )
