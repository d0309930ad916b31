"""``mcpstore top``: a live full-screen view of one store (read-only)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from mcpstore_cli.cli.common import Command, TimeoutOpt
from mcpstore_cli.cli.manpage import ManCommand
from mcpstore_cli.cli.options import store_command
from mcpstore_cli.errors import UsageError
from mcpstore_cli.util.durations import parse_duration
from mcpstore_cli.util.timeutil import now_ms


def register(app: typer.Typer, panel: str) -> None:
    app.command("top", cls=ManCommand, rich_help_panel=panel)(top)


@store_command()
def top(
    cmd: Command,
    interval: Annotated[
        str,
        typer.Option("--interval", "-n", metavar="DURATION", help="Time between refreshes."),
    ] = "2s",
    timeout: TimeoutOpt = "30m",
    once: Annotated[
        bool,
        typer.Option("--once", help="Print one reading (as --format says) and exit."),
    ] = False,
) -> None:
    """A live view of the store: sessions by status, arrivals and expiries per minute, the
    event rate, top clients and protocol versions, the newest events. q quits, p pauses,
    s changes the sort. Read-only; each refresh's cost is bounded on SQLite and PostgreSQL."""
    interval_ms = parse_duration(interval, option="--interval")
    timeout_ms = parse_duration(timeout, option="--timeout")
    if interval_ms < 200:
        raise UsageError("--interval must be at least 200ms.")
    env = cmd.env
    if not once and not (env.stdout_isatty and env.stdin_isatty):
        raise UsageError(
            "top draws on a terminal; run it in one, or use --once for a single reading."
        )
    store = cmd.open_figures()
    cmd.interrupt_note = "top only reads: nothing was changed."

    if once:

        async def one() -> Any:
            async with store:
                return await store.top_snapshot(now_ms=now_ms(), timeout_ms=timeout_ms)

        snap = cmd.run(one)
        from mcpstore_cli.render.output import write_object

        obj = snap.as_json()
        write_object(env, cmd.fmt, obj, lambda: _draw_once(cmd, store, snap))
        return

    from rich.live import Live

    from mcpstore_cli.render.top import screen

    console = env.console()
    name = store.url.masked()

    async def live() -> None:
        from mcpstore_cli.ops import top as loop

        with Live(console=console, screen=True, auto_refresh=False) as view:

            def draw(snap: Any, **state: Any) -> None:
                if state.get("problem"):
                    state["problem"] = cmd.scrub(state["problem"])
                view.update(
                    screen(
                        snap,
                        store=name,
                        layout=store.layout,
                        interval_s=interval_ms / 1000,
                        **state,
                    ),
                    refresh=True,
                )

            async with store:
                await loop.run(
                    store,
                    interval_s=interval_ms / 1000,
                    timeout_ms=timeout_ms,
                    draw=draw,
                    key_fd=_stdin_fd(env),
                    now_ms=now_ms,
                    out=env.stdout,
                )

    cmd.run(live)


def _stdin_fd(env: Any) -> int | None:
    stream = env.stdin
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fd if fd == sys.stdin.fileno() and env.stdin_isatty else None


def _draw_once(cmd: Command, store: Any, snap: Any) -> None:
    from mcpstore_cli.render.top import screen

    cmd.env.console().print(
        screen(
            snap,
            store=store.url.masked(),
            layout=store.layout,
            interval_s=0,
            paused=False,
            sort="count",
            rate_history=[snap.events_per_s or 0.0],
            problem=None,
        )
    )
