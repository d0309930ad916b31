"""``mcpstore tail-events``: follow the events a store keeps, live, like ``tail -f``."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Annotated

import typer

from mcpstore_cli.cli.common import Command
from mcpstore_cli.cli.manpage import ManCommand
from mcpstore_cli.cli.options import TAIL_FORMATS, store_command
from mcpstore_cli.errors import UsageError

if TYPE_CHECKING:
    from mcpstore_cli.store.follow import TailRequest


def register(app: typer.Typer, panel: str) -> None:
    app.command("tail-events", cls=ManCommand, rich_help_panel=panel)(tail_events)


@store_command(
    formats=TAIL_FORMATS,
    format_help="pretty (UTC time, session, id, type, JSON), sse (the server's wire form) or "
    "jsonl [default: pretty on a terminal, jsonl otherwise].",
)
def tail_events(
    cmd: Command,
    session: Annotated[
        str | None,
        typer.Option(
            "--session",
            "-s",
            metavar="SESSION_ID",
            help="Only this session's events: its id, or a unique prefix of 4 or more characters.",
            show_default=False,
        ),
    ] = None,
    after: Annotated[
        int | None,
        typer.Option(
            "--after",
            metavar="EVENT_ID",
            help="Start after this event id, like a client's Last-Event-ID (DynamoDB: needs "
            "--session, ids count per session).",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="Start with events stored this long ago (e.g. 10m), or since a date/time.",
            show_default=False,
        ),
    ] = None,
    count: Annotated[
        int | None,
        typer.Option(
            "--count", "-n", metavar="N", help="Stop after this many events.", show_default=False
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow/--no-follow",
            help="Keep following; --no-follow prints what is stored (all of it, unless "
            "--after/--since) and exits.",
        ),
    ] = True,
) -> None:
    """Follow events as the server stores them (start at the end; Ctrl-C stops).

    PostgreSQL is pushed by the trigger of `setup --notify` (else polled); SQLite is polled
    cheaply; DynamoDB reads the events table's stream (else polls). A lost connection is
    retried with backoff and following resumes after the last event printed.
    """
    from mcpstore_cli.render.output import choose_tail_format

    request = _request(session, after, since, count, follow)
    store_url = cmd.url
    if after is not None and session is None and cmd.store_class.event_ids_per_session:
        raise UsageError(
            f"--after needs --session on {store_url.backend} stores: event ids are counted per "
            "session there (use --since for all sessions)."
        )
    fmt_name = choose_tail_format(cmd.fmt_option, cmd.env)
    store = cmd.open_store(read_only=True)

    async def work() -> int:
        from mcpstore_cli.model.records import CorruptRow
        from mcpstore_cli.render.output import EventTailWriter

        writer = EventTailWriter(cmd.env, fmt_name)
        cmd.interrupt_note = lambda: (
            f"printed {writer.count:,} event{'s' if writer.count != 1 else ''}; "
            "nothing was changed."
        )
        async with store:
            if request.session_id is not None:
                from mcpstore_cli.ops.ids import resolve_session_id

                request.session_id = await resolve_session_id(
                    store, request.session_id, option="--session", note=cmd.info
                )
            if cmd.env.stderr_isatty and request.follow:
                what = f"session {request.session_id}" if request.session_id else "all sessions"
                cmd.info(f"following events of {what} in {store_url.masked()} (Ctrl-C stops)")
            batches = store.tail_events(request, warn=cmd.warn)
            async with contextlib.aclosing(batches):
                async for batch in batches:
                    for item in batch:
                        if isinstance(item, CorruptRow):
                            cmd.warn(f"skipped event {item.key}: {item.problem}.")
                            continue
                        writer.write(item)
                        if count is not None and writer.count >= count:
                            writer.flush()
                            return writer.count
                    writer.flush()
        writer.flush()
        return writer.count

    cmd.run(work)


def _request(
    session: str | None, after: int | None, since: str | None, count: int | None, follow: bool
) -> TailRequest:
    from mcpstore_cli.ops.ids import typed_session_id
    from mcpstore_cli.store.follow import TailRequest
    from mcpstore_cli.util.timeutil import now_ms, parse_point_in_time

    if session is not None:
        typed_session_id(session, option="--session")
    if after is not None and after < 0:
        raise UsageError(f"--after must be an event id (0 or more), not {after}.")
    if after is not None and since is not None:
        raise UsageError("--after and --since exclude each other.")
    if count is not None and count <= 0:
        raise UsageError(f"--count must be a positive whole number, not {count}.")
    since_ms = None
    if since is not None:
        since_ms = parse_point_in_time(since, option="--since", now=now_ms())
    return TailRequest(session_id=session, after_id=after, since_ms=since_ms, follow=follow)
