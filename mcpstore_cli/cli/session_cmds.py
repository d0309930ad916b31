"""Commands that act on single sessions: ``terminate``, ``delete``, ``state`` and ``touch``.

Each takes session ids by the id rule (a full id or a unique prefix of 4+ characters), prints
one line per session (a record per session with ``--format``) and exits 1 if any failed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mcpstore_cli.cli.common import Command
from mcpstore_cli.cli.manpage import ManCommand
from mcpstore_cli.cli.options import store_command
from mcpstore_cli.errors import McpStoreError, UsageError
from mcpstore_cli.exitcodes import ExitStatus
from mcpstore_cli.util.durations import parse_duration
from mcpstore_cli.util.timeutil import now_ms

if TYPE_CHECKING:
    from mcpstore_cli.model.surgery import SessionChange

IdsArg = Annotated[
    list[str],
    typer.Argument(metavar="SESSION_ID...", help="Session ids, or unique prefixes of them."),
]
SessionTtlOpt = Annotated[
    str | None,
    typer.Option(
        "--session-ttl",
        metavar="DURATION",
        help="DynamoDB: the session TTL the server runs with; ttl becomes now plus this "
        "[default: 30m, turul's].",
        show_default=False,
    ),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def register(app: typer.Typer, panel: str) -> None:
    for name, fn in (
        ("terminate", terminate),
        ("delete", delete),
        ("state", state),
        ("touch", touch),
    ):
        app.command(name, cls=ManCommand, rich_help_panel=panel)(fn)


def _able(cmd: Command, change: str, command: str, kind: Any = None) -> Any:
    """Refuse (exit 2) a command that means nothing in this store's layout (``kind``: the
    opened store, once its layout is known; else the class the options name)."""
    kind = kind if kind is not None else cmd.store_class
    if change not in kind.session_changes:
        if kind.holds_tasks or (kind.records_noun is not None and not kind.session_kinds):
            what = "it holds no sessions"
        elif change == "terminate":
            what = "its server keeps no mark of a session's end in the store"
        else:
            what = "its sessions have no state"
        hint = "; mcpstore delete removes a session" if "delete" in kind.session_changes else ""
        raise UsageError(f"{command} does not apply to the {kind.layout} layout ({what}){hint}.")
    return kind


def _ttl_s(cmd: Command, session_ttl: str | None) -> int:
    if session_ttl is None:
        return 30 * 60
    if not cmd.store_class.item_ttl:
        raise UsageError(
            f"--session-ttl applies to stores whose sessions carry a ttl (DynamoDB), not to "
            f"this {cmd.url.backend} store."
        )
    return parse_duration(session_ttl, option="--session-ttl") // 1000


class _Outcomes:
    """Prints each session's outcome as it comes: a line on a terminal's table format, a
    record otherwise; counts what was done for the Ctrl-C line."""

    def __init__(self, cmd: Command, verb: str) -> None:
        self.cmd = cmd
        self.verb = verb
        self.done = 0
        self.writer: Any = None
        if cmd.fmt != "table":
            from mcpstore_cli.render.output import Column, RecordWriter

            columns = [
                Column("session_id", "session_id"),
                Column("action", "action"),
                Column("ok", "ok"),
                Column("changed", "changed"),
                Column("outcome", "outcome"),
                Column("detail", "detail"),
            ]
            self.writer = RecordWriter(cmd.env, cmd.fmt, columns, [str(c.key) for c in columns])

    def __call__(self, change: SessionChange) -> None:
        if change.changed:
            self.done += 1
        if self.cmd.fmt != "table":
            if self.writer is not None:
                self.writer.write(change.as_json())
            return
        out = self.cmd.env.stdout
        out.write(self.cmd.scrub(change.line()) + "\n")
        out.flush()

    def kept(self) -> str:
        n = self.done
        return (
            f"{self.verb} {n:,} session{'s' if n != 1 else ''}; each change is whole, the "
            "sessions not reached are unchanged."
        )

    def close(self) -> None:
        """End the records written so far (a JSON array gets its ``]``); idempotent."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def finish(self, changes: list[SessionChange]) -> None:
        self.close()
        from mcpstore_cli.ops.surgery import failures

        failed = failures(changes)
        if failed:
            n = len(failed)
            self.cmd.error(
                f"{n:,} of {len(changes):,} session{'s' if len(changes) != 1 else ''} failed."
            )
            self.cmd.exit(ExitStatus.ERROR)


def _each(
    cmd: Command,
    ids: list[str],
    action: str,
    verb: str,
    change: Callable[[Any, str], Awaitable[SessionChange]],
) -> None:
    change_name = "state" if action in ("set", "unset") else action
    from mcpstore_cli.ops.ids import typed_session_id

    for one in ids:
        typed_session_id(one)
    store = cmd.open_store()
    report = _Outcomes(cmd, verb)
    cmd.interrupt_note = report.kept

    async def work() -> list[SessionChange]:
        async with store:
            from mcpstore_cli.ops.surgery import change_each

            await store.ensure_readable()
            _able(
                cmd,
                change_name,
                change_name if change_name != "state" else "state " + action,
                store,
            )
            return await change_each(
                store, ids, action, lambda sid: change(store, sid), report=report, note=cmd.info
            )

    try:
        changes = cmd.run(work)
    finally:
        report.close()
    report.finish(changes)


@store_command()
def terminate(cmd: Command, session_ids: IdsArg, session_ttl: SessionTtlOpt = None) -> None:
    """End sessions as the server does on HTTP DELETE: state.terminated and terminated_at
    are set, last_activity is touched, the row stays until it expires."""
    _able(cmd, "terminate", "terminate")
    ttl_s = _ttl_s(cmd, session_ttl)
    _each(
        cmd,
        session_ids,
        "terminate",
        "terminated",
        lambda store, sid: store.terminate_session(sid, now_ms=now_ms(), ttl_s=ttl_s),
    )


@store_command()
def touch(cmd: Command, session_ids: IdsArg, session_ttl: SessionTtlOpt = None) -> None:
    """Mark sessions active now (last_activity; DynamoDB's ttl and FastMCP's expiries are
    pushed as the server computes them)."""
    _able(cmd, "touch", "touch")
    ttl_s = _ttl_s(cmd, session_ttl)
    _each(
        cmd,
        session_ids,
        "touch",
        "touched",
        lambda store, sid: store.touch_session(sid, now_ms=now_ms(), ttl_s=ttl_s),
    )


@store_command()
def delete(cmd: Command, session_ids: IdsArg, yes: YesOpt = False) -> None:
    """Remove sessions with all their events (asks first; --yes skips the question)."""
    from mcpstore_cli.ops.ids import typed_session_id

    _able(cmd, "delete", "delete")
    for one in session_ids:
        typed_session_id(one)
    store = cmd.open_store()
    report = _Outcomes(cmd, "deleted")

    async def plan() -> tuple[list[tuple[str, dict[str, int]]], list[SessionChange]]:
        async with store:
            from mcpstore_cli.model.surgery import gone
            from mcpstore_cli.ops.surgery import resolve_each

            await store.ensure_readable()
            _able(cmd, "delete", "delete", store)
            found, failed = await resolve_each(store, session_ids, "delete", note=cmd.info)
            rows = []
            for sid in found:
                what = await store.deletion_preview(sid)
                if what is None:  # gone since its id was found
                    failed.append(gone(sid, "delete", store.url.masked()))
                else:
                    rows.append((sid, what))
            return rows, failed

    try:
        rows, failed = cmd.run(plan)
        for change in failed:
            report(change)
        if not rows:
            report.finish(failed)
            return
        _confirm_and_delete(cmd, store, rows, failed, report, yes)
    finally:
        report.close()


def _confirm_and_delete(
    cmd: Command,
    store: Any,
    rows: list[tuple[str, dict[str, int]]],
    failed: list[SessionChange],
    report: _Outcomes,
    yes: bool,
) -> None:
    from mcpstore_cli.cli.confirm import confirm_destructive
    from mcpstore_cli.model.surgery import removed_text

    total: dict[str, int] = {}
    for _sid, what in rows:
        for kind, n in what.items():
            total[kind] = total.get(kind, 0) + n
    preview = [f"Deleting from {store.url.masked()}:"]
    preview += [f"  {sid}: {removed_text(what)}" for sid, what in rows]
    preview.append(f"  in all: {removed_text(total)}")
    confirm_destructive(
        cmd,
        action=f"Deleting {len(rows):,} session{'s' if len(rows) != 1 else ''}",
        preview=preview,
        yes=yes,
        question=f"Delete {len(rows):,} session{'s' if len(rows) != 1 else ''} and all they hold?",
    )
    cmd.interrupt_note = report.kept
    store = cmd.open_store()

    async def work() -> list[SessionChange]:
        out = list(failed)
        async with store:
            for sid, _what in rows:
                done = await store.delete_session(sid)
                report(done)
                out.append(done)
        return out

    report.finish(cmd.run(work))


@store_command()
def state(
    cmd: Command,
    session_id: Annotated[
        str, typer.Argument(metavar="SESSION_ID", help="Session id, or a unique prefix of one.")
    ],
    action: Annotated[
        str | None,
        typer.Argument(
            metavar="[get|set|unset]",
            help="What to do (none: print the state).",
            show_default=False,
        ),
    ] = None,
    key: Annotated[
        str | None, typer.Argument(metavar="[KEY]", help="The state key.", show_default=False)
    ] = None,
    value: Annotated[
        str | None,
        typer.Argument(
            metavar="[JSON]",
            help="set: the value, as JSON (a string needs its quotes: '\"text\"').",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print a session's state, one key of it (get), or change one key (set, unset) as the
    server does: atomically, with last_activity touched."""
    from mcpstore_cli.ops.ids import typed_session_id
    from mcpstore_cli.ops.surgery import check_key, parse_json_value

    typed_session_id(session_id)
    if action not in (None, "get", "set", "unset"):
        raise UsageError(f"The action is get, set or unset, not {action!r}.")
    if action is None and key is not None:
        raise UsageError("Give an action before KEY: state ID get|set|unset KEY.")
    if action is not None and key is None:
        raise UsageError(f"state ID {action} needs KEY.")
    if action == "set" and value is None:
        raise UsageError("state ID set KEY needs the JSON value: state ID set KEY JSON.")
    if action != "set" and value is not None:
        raise UsageError(
            f"state ID {action or ''} takes no value; only set does.".replace("  ", " ")
        )
    parsed = parse_json_value(value) if value is not None else None
    if key is not None:
        check_key(key)
    _able(cmd, "state", "state")
    if action in ("set", "unset"):
        assert key is not None
        unset = action == "unset"
        _each(
            cmd,
            [session_id],
            action,
            "changed",
            lambda store, sid: store.change_state(
                sid, key, parsed, unset=unset, now_ms=now_ms(), ttl_s=30 * 60
            ),
        )
        return
    store = cmd.open_store()  # a full store (SQLite's fast reader has no state reads)

    async def work() -> tuple[str, dict[str, Any] | None]:
        async with store:
            from mcpstore_cli.ops.ids import resolve_session_id

            await store.ensure_readable()
            _able(cmd, "state", "state", store)
            wanted = await resolve_session_id(store, session_id, note=cmd.info)
            return wanted, await store.read_state(wanted)

    wanted, found = cmd.run(work)
    if found is None:
        raise McpStoreError(f"Session {wanted} is no longer in {store.url.masked()}.")
    if action == "get":
        assert key is not None
        if key not in found:
            raise McpStoreError(f"Session {wanted} has no state key {key!r}.")
        _print_json(cmd, found[key])
        return
    _print_json(cmd, found)


def _print_json(cmd: Command, value: Any) -> None:
    """A JSON value: indented on a terminal and with --format json, one line otherwise."""
    import json

    if cmd.fmt in ("table", "json"):
        text = json.dumps(value, indent=2, ensure_ascii=False)
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    cmd.env.stdout.write(text + "\n")
    cmd.env.stdout.flush()
