"""``mcpstore demo``: fill a store with realistic, server-shaped sessions and events."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import typer

from mcpstore_cli.cli.common import Command
from mcpstore_cli.cli.manpage import ManCommand
from mcpstore_cli.cli.options import store_command
from mcpstore_cli.errors import Interrupted, StoreMissingError, UsageError
from mcpstore_cli.util.durations import format_duration, parse_duration


def register(app: typer.Typer, panel: str) -> None:
    app.command("demo", cls=ManCommand, rich_help_panel=panel)(demo)


@store_command(formats=None)
def demo(
    cmd: Command,
    sessions: Annotated[
        int, typer.Option("--sessions", "-s", metavar="N", help="Sessions to create.")
    ] = 100,
    events_per_session: Annotated[
        int,
        typer.Option(
            "--events-per-session",
            "-e",
            metavar="N",
            help="Mean events per session (exact total).",
        ),
    ] = 10,
    idle_share: Annotated[
        float,
        typer.Option("--idle-share", metavar="FRACTION", help="Share of sessions idle past 30m."),
    ] = 0.3,
    terminated_share: Annotated[
        float,
        typer.Option(
            "--terminated-share", metavar="FRACTION", help="Share of sessions the client ended."
        ),
    ] = 0.1,
    seed: Annotated[
        int | None,
        typer.Option("--seed", metavar="N", help="Make the data reproducible.", show_default=False),
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Then keep adding events like a running server.")
    ] = False,
    rate: Annotated[
        float, typer.Option("--rate", metavar="N", help="With --live: events per second.")
    ] = 10.0,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration",
            metavar="DURATION",
            help="With --live: stop after this long (default: Ctrl-C).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Fill a store with realistic sessions and events (creating the store if needed)."""

    def validate() -> int | None:
        if sessions < 0:
            raise UsageError(f"--sessions must be 0 or more, not {sessions}.")
        if events_per_session < 0:
            raise UsageError(f"--events-per-session must be 0 or more, not {events_per_session}.")
        for name, share in (("--idle-share", idle_share), ("--terminated-share", terminated_share)):
            if not 0 <= share <= 1:
                raise UsageError(f"{name} must be between 0 and 1, not {share}.")
        if idle_share + terminated_share > 1:
            raise UsageError("--idle-share and --terminated-share add up to more than 1.")
        if rate <= 0:
            raise UsageError(f"--rate must be more than 0, not {rate}.")
        if (duration is not None or rate != 10.0) and not live:
            raise UsageError("--rate and --duration go with --live.")
        return parse_duration(duration, option="--duration") if duration else None

    live_ms = validate()
    if not cmd.store_class.has_demo:
        raise UsageError(
            f"mcpstore demo does not write the {cmd.store_class.layout} layout: its server "
            "writes those entries (run one against the store to fill it)."
        )
    store = cmd.open_store(creates=True)

    from mcpstore_cli.model.demo import DemoPlan
    from mcpstore_cli.store.registry import layout_part
    from mcpstore_cli.util.timeutil import now_ms

    demo_data = layout_part(store.layout, "demo")

    plan = DemoPlan(
        sessions=sessions,
        events_per_session=events_per_session,
        idle_share=idle_share,
        terminated_share=terminated_share,
        seed=seed,
    )
    total_rows = sessions + sessions * events_per_session

    done = {"created": False, "sessions": -1, "events": 0, "live": 0}

    def kept() -> str:
        # What stays when Ctrl-C comes outside the bulk load (which says so itself).
        if done["sessions"] >= 0:
            text = (
                f"the demo wrote {done['sessions']:,} sessions and {done['events']:,} events"
                + (f", then --live added {done['live']:,} events" if live else "")
                + "; all of them stay in the store."
            )
        else:
            text = "nothing was written."
        if done["created"]:
            text += f" The store {cmd.url.masked()} was created and stays."
        return text

    cmd.interrupt_note = kept

    async def work() -> tuple[int, int, float, int]:
        try:
            return await fill()
        except Interrupted as exc:
            if not done["created"]:
                raise
            raise Interrupted(
                f"{exc.message} The store {cmd.url.masked()} was created by this run and stays."
            ) from None

    async def fill() -> tuple[int, int, float, int]:
        async with store:
            try:
                await store.ensure_readable()
            except StoreMissingError:
                await store.setup()
                done["created"] = True
                cmd.info(f"created the store {store.url.masked()}.")
            started = time.perf_counter()
            with cmd.progress("writing", total_rows) as bar:
                written = await store.write_demo(
                    demo_data.DemoBatches(plan, now_ms()), progress=bar
                )
            elapsed = time.perf_counter() - started
            done["sessions"], done["events"] = written
            events_live = 0
            if live:
                events_live = await _live(cmd, store, rate, live_ms, seed, done)
            return written[0], written[1], elapsed, events_live

    n_sessions, n_events, elapsed, live_events = cmd.run(work)
    rows = n_sessions + n_events
    what = (
        f"{n_sessions:,} {store.records_noun}"
        if store.records_noun
        else f"{n_sessions:,} sessions and {n_events:,} events"
    )
    cmd.info(
        f"demo: wrote {what} to "
        f"{cmd.url.masked()} in {elapsed:.2f} s ({rows / max(elapsed, 1e-9):,.0f} rows/s)."
    )
    if live and live_events:
        cmd.info(f"demo --live: added {live_events:,} events.")


async def _live(
    cmd: Command,
    store: Any,
    rate: float,
    limit_ms: int | None,
    seed: int | None,
    done: dict[str, Any],
) -> int:
    """Append events to active sessions at ``rate`` per second until stopped."""
    import asyncio
    import random

    from mcpstore_cli.model.demo import DemoPlan
    from mcpstore_cli.model.records import CorruptRow, SessionFilter
    from mcpstore_cli.store.registry import layout_part
    from mcpstore_cli.util.interrupt import finish
    from mcpstore_cli.util.timeutil import now_ms

    demo_data = layout_part(store.layout, "demo")
    rng = random.Random(seed)
    now = now_ms()
    ids = [
        s.session_id
        async for s in store.iter_sessions(SessionFilter(now_ms=now, active=True), limit=50)
        if not isinstance(s, CorruptRow)
    ]
    if not ids:
        fresh = demo_data.make_session(rng, now, DemoPlan(), "active")
        await store.write_demo(_single(fresh))
        ids = [fresh.session_id]
    cmd.info(
        f"demo --live: adding about {rate:g} events/s to {len(ids)} active sessions"
        + (f" for {format_duration(limit_ms)}" if limit_ms else "; Ctrl-C stops")
        + "."
    )
    interval = 1.0 / rate
    start = time.monotonic()
    count = 0
    while limit_ms is None or (time.monotonic() - start) * 1000 < limit_ms:
        event = demo_data.live_event(rng, rng.choice(ids), now_ms(), count)
        # One event is one write: Ctrl-C lets it finish, so the count said is exact.
        _, stop = await finish(store.append_event(event))
        count += 1
        done["live"] = count
        if stop:
            raise asyncio.CancelledError
        delay = start + count * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    return count


async def _single(session: Any) -> AsyncIterator[Any]:
    yield [session], []
