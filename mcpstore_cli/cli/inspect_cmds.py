"""Reading commands: ``list``, ``show`` and ``stats``. They never create or change a store."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mcpstore_cli.cli.common import Command, TimeoutOpt
from mcpstore_cli.cli.manpage import ManCommand
from mcpstore_cli.cli.options import store_command
from mcpstore_cli.errors import SessionNotFoundError, UsageError
from mcpstore_cli.util.durations import parse_duration
from mcpstore_cli.util.timeutil import now_ms, parse_point_in_time

if TYPE_CHECKING:
    from mcpstore_cli.model.records import Cursor, SessionFilter


def register(app: typer.Typer, panel: str) -> None:
    for name, fn in (("list", list_sessions), ("show", show), ("stats", stats)):
        app.command(name, cls=ManCommand, rich_help_panel=panel)(fn)


@store_command()
def list_sessions(
    cmd: Command,
    idle_over: Annotated[
        str | None,
        typer.Option(
            "--idle-over",
            metavar="DURATION",
            help="Only sessions idle longer than this (e.g. 2h).",
            show_default=False,
        ),
    ] = None,
    active: Annotated[
        bool, typer.Option("--active", help="Only sessions active within --timeout, not ended.")
    ] = False,
    terminated: Annotated[
        bool | None,
        typer.Option(
            "--terminated/--not-terminated",
            help="Only sessions the client ended / not.",
            show_default=False,
        ),
    ] = None,
    initialized: Annotated[
        bool | None,
        typer.Option(
            "--initialized/--not-initialized",
            help="Only (not) initialized sessions.",
            show_default=False,
        ),
    ] = None,
    created_after: Annotated[
        str | None,
        typer.Option(
            "--created-after",
            metavar="WHEN",
            help="Created after: 2026-11-21, an ISO time, Unix ms, or a duration ago (2h).",
            show_default=False,
        ),
    ] = None,
    created_before: Annotated[
        str | None,
        typer.Option(
            "--created-before",
            metavar="WHEN",
            help="Created before (same forms).",
            show_default=False,
        ),
    ] = None,
    graph: Annotated[
        str | None,
        typer.Option(
            "--graph",
            metavar="GRAPH_ID",
            help="Only sessions of this graph (layouts whose sessions run graphs: graphflow).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", "-n", metavar="N", help="Sessions per page; 0 lists all (streamed)."
        ),
    ] = 50,
    cursor: Annotated[
        str | None,
        typer.Option(
            "--cursor",
            metavar="CURSOR",
            help="Continue after this position (printed by the last page).",
            show_default=False,
        ),
    ] = None,
    timeout: TimeoutOpt = "30m",
) -> None:
    """List sessions, newest activity first, a page at a time (keyset pagination)."""
    from mcpstore_cli.model.records import CorruptRow, Cursor, SessionFilter

    now = now_ms()

    def build() -> tuple[SessionFilter, Cursor | None]:
        if limit < 0:
            raise UsageError(f"--limit must be 0 (all) or more, not {limit}.")
        if active and terminated:
            raise UsageError("--active and --terminated exclude each other.")
        if active and idle_over:
            raise UsageError("--active and --idle-over exclude each other.")
        flt = SessionFilter(
            now_ms=now,
            timeout_ms=parse_duration(timeout, option="--timeout"),
            idle_over_ms=parse_duration(idle_over, option="--idle-over", allow_zero=True)
            if idle_over is not None
            else None,
            active=active,
            terminated=terminated,
            initialized=initialized,
            created_after=parse_point_in_time(created_after, option="--created-after", now=now)
            if created_after is not None
            else None,
            created_before=parse_point_in_time(created_before, option="--created-before", now=now)
            if created_before is not None
            else None,
            graph_id=graph,
        )
        return flt, Cursor.decode(cursor) if cursor is not None else None

    flt, position = build()
    store = cmd.open_store(read_only=True)

    from mcpstore_cli.render.output import session_json, session_writer

    to_json: Any = session_json
    if store.session_kinds:
        from mcpstore_cli.render.kinds import kinds_json, kinds_writer

        writer = kinds_writer(cmd.env, cmd.fmt, now_ms=now)
        to_json = kinds_json
    else:
        writer = session_writer(cmd.env, cmd.fmt, now_ms=now)

    printed = [0]

    def kept() -> str:
        n = printed[0]
        return f"printed {n:,} session{'s' if n != 1 else ''}; nothing was changed."

    cmd.interrupt_note = kept

    async def work() -> tuple[int, Cursor | None, bool, int]:
        shown = skipped = 0
        last: Cursor | None = None
        more = False
        page = limit if limit else None
        rows = store.iter_sessions(flt, limit=None if page is None else page + 1, cursor=position)
        async with store, contextlib.aclosing(rows):
            async for item in rows:
                if page is not None and shown + skipped >= page:
                    more = True
                    break
                if isinstance(item, CorruptRow):
                    skipped += 1
                    cmd.warn(f"skipped session {item.key}: {item.problem}.")
                    last = item.cursor if isinstance(item.cursor, Cursor) else last
                    continue
                writer.write(to_json(item, now_ms=now, timeout_ms=flt.timeout_ms))
                last = Cursor.after(item)
                shown += 1
                printed[0] = shown
        writer.close()
        return shown, last, more, skipped

    shown, last, more, skipped = cmd.run(work, inline=store.inline_reads)
    if more and last is not None:
        cmd.info(f"more sessions: mcpstore list --cursor {last.encode()}  (same filters)")
    elif cmd.fmt == "table" and shown == 0:
        cmd.info("no sessions match.")
    if skipped:
        cmd.warn(f"{skipped} corrupt row{'s' if skipped != 1 else ''} skipped.")


@store_command()
def show(
    cmd: Command,
    session_id: Annotated[
        str, typer.Argument(metavar="SESSION_ID", help="Session id, or a unique prefix of one.")
    ],
    events: Annotated[
        int,
        typer.Option("--events", "-e", metavar="N", help="How many of the last events to show."),
    ] = 10,
    timeout: TimeoutOpt = "30m",
) -> None:
    """One session: capabilities, state, metadata, event count and its last events."""
    from mcpstore_cli.model.records import CorruptRow
    from mcpstore_cli.ops.ids import typed_session_id

    now = now_ms()

    def validate() -> int:
        typed_session_id(session_id)
        if events < 0:
            raise UsageError(f"--events must be 0 or more, not {events}.")
        return parse_duration(timeout, option="--timeout")

    timeout_ms = validate()
    store = cmd.open_store(read_only=True)

    async def work() -> tuple[Any, list[Any]]:
        async with store:
            from mcpstore_cli.ops.ids import resolve_session_id

            wanted = await resolve_session_id(store, session_id, note=cmd.info)
            if store.session_kinds:
                detail = await store.describe_session(wanted, events=events)
                if detail is None:
                    raise SessionNotFoundError(
                        f"Session {wanted} is no longer in {store.url.masked()}."
                    )
                return detail, []
            found = await store.get_session(wanted)
            if found is None:  # gone (or expired) since it was found
                raise SessionNotFoundError(
                    f"Session {wanted} is no longer in {store.url.masked()}."
                )
            if isinstance(found, CorruptRow):
                raise SessionNotFoundError(f"Session {found.key} cannot be read: {found.problem}.")
            recent = await store.recent_events(found.session_id, events) if events else []
            return found, recent

    session, recent = cmd.run(work, inline=store.inline_reads)
    from mcpstore_cli.render.output import draw_session, event_json, session_json, write_object

    if isinstance(session, dict):
        from mcpstore_cli.render.kinds import draw_kinds_session

        write_object(
            cmd.env, cmd.fmt, session, lambda: draw_kinds_session(cmd.env, session, now_ms=now)
        )
        return

    evs = []
    for item in recent:
        if isinstance(item, CorruptRow):
            cmd.warn(f"skipped event {item.key}: {item.problem}.")
        else:
            evs.append(event_json(item))
    obj = session_json(session, now_ms=now, timeout_ms=timeout_ms, with_cursor=False)
    obj["events"] = evs
    write_object(cmd.env, cmd.fmt, obj, lambda: draw_session(cmd.env, obj, evs, now_ms=now))


@store_command()
def stats(
    cmd: Command,
    timeout: TimeoutOpt = "30m",
    approximate: Annotated[
        bool,
        typer.Option("--approximate", help="DynamoDB: use the tables' item counts, no scan."),
    ] = False,
) -> None:
    """Counts, events per session, age histograms, storage size and backend facts."""
    timeout_ms = parse_duration(timeout, option="--timeout")
    store = cmd.open_store(read_only=True)

    async def work() -> Any:
        async with store:
            figures = await store.layout_stats(now_ms=now_ms())
            if figures is not None:
                return figures
            return await store.stats(
                now_ms=now_ms(), timeout_ms=timeout_ms, approximate=approximate
            )

    result = cmd.run(work, inline=store.inline_reads)
    from mcpstore_cli.render.output import draw_figures, draw_stats, stats_json, write_object

    if isinstance(result, dict):
        write_object(cmd.env, cmd.fmt, result, lambda: draw_figures(cmd.env, result))
        return
    obj = stats_json(result)
    write_object(cmd.env, cmd.fmt, obj, lambda: draw_stats(cmd.env, obj))
