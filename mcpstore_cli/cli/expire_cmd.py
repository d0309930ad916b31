"""``mcpstore expire``: the cron job that keeps session stores small. It asks nothing."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from mcpstore_cli.cli.common import Command
from mcpstore_cli.cli.manpage import ManCommand
from mcpstore_cli.cli.options import store_command
from mcpstore_cli.errors import UsageError
from mcpstore_cli.exitcodes import ExitStatus
from mcpstore_cli.util.durations import format_duration, parse_duration


def register(app: typer.Typer, panel: str) -> None:
    app.command("expire", cls=ManCommand, rich_help_panel=panel)(expire)


def parse_segment(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise UsageError(f"--segment {text!r} is not I/N (for example 0/4: the first of four).")
    index, total = int(match.group(1)), int(match.group(2))
    if total < 1 or total > 1_000_000:
        raise UsageError(f"--segment {text!r}: N must be between 1 and 1000000.")
    if index >= total:
        raise UsageError(f"--segment {text!r}: I counts from 0 and must be below N ({total}).")
    return index, total


@store_command()
def expire(
    cmd: Command,
    idle: Annotated[
        str | None,
        typer.Option(
            "--idle",
            metavar="DURATION",
            help="Remove sessions idle longer than this (the server's default timeout is 30m).",
            show_default=False,
        ),
    ] = None,
    terminated: Annotated[
        bool, typer.Option("--terminated", help="Also remove sessions the client ended.")
    ] = False,
    terminated_grace: Annotated[
        str,
        typer.Option(
            "--terminated-grace",
            metavar="DURATION",
            help="With --terminated: only those ended longer ago than this.",
        ),
    ] = "0s",
    max_events: Annotated[
        int | None,
        typer.Option(
            "--max-events-per-session",
            metavar="N",
            help="Trim every session to its newest N events.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Count what would go and show a sample; change nothing."),
    ] = False,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            metavar="N",
            help="Sessions per transaction (bounded transactions; fastmcp layout: entries, up "
            "to 100000).",
        ),
    ] = 5000,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate",
            metavar="N",
            help="At most this many rows deleted per second (caps DynamoDB write units).",
            show_default=False,
        ),
    ] = None,
    time_budget: Annotated[
        str | None,
        typer.Option(
            "--time-budget",
            metavar="DURATION",
            help="Stop cleanly after this long; exit 5 and say what is left.",
            show_default=False,
        ),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            metavar="N",
            help="fastmcp layout on PostgreSQL: delete on N connections at once (faster, and N "
            "times the load on the database).",
        ),
    ] = 1,
    orphans: Annotated[
        bool,
        typer.Option(
            "--orphans",
            help="fastmcp layout: also trim stream lists naming missing events and remove "
            "events no stream lists (always done on Redis).",
        ),
    ] = False,
    segment: Annotated[
        str | None,
        typer.Option(
            "--segment",
            metavar="I/N",
            help="DynamoDB: do scan segment I of N (0-based), so N hosts share one pass.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Remove idle (and ended) sessions with their events, trim, drop orphaned events.

    Safe to run against a live server: a session that becomes active after it was selected is
    never removed. A second expire started while one runs exits at once (status 5).
    """
    from mcpstore_cli.model.records import ExpireOptions
    from mcpstore_cli.util.timeutil import now_ms

    def build() -> ExpireOptions:
        # A key-value entry is one small row with nothing hanging off it: its batches may be
        # bigger (a batch of 100,000 holds its row locks for about a tenth of a second).
        kind = cmd.store_class
        most = 100_000 if kind.expires_entries or kind.session_kinds else 10_000
        if batch_size < 1 or batch_size > most:
            raise UsageError(f"--batch-size must be between 1 and {most}, not {batch_size}.")
        if max_events is not None and max_events < 1:
            raise UsageError(f"--max-events-per-session must be 1 or more, not {max_events}.")
        if not 1 <= jobs <= 16:
            raise UsageError(f"--jobs must be from 1 to 16, not {jobs}.")
        if rate is not None and rate <= 0:
            raise UsageError(f"--rate must be more than 0, not {rate}.")
        part = parse_segment(segment) if segment is not None else None
        grace = parse_duration(terminated_grace, option="--terminated-grace", allow_zero=True)
        if terminated_grace != "0s" and not terminated:
            raise UsageError("--terminated-grace goes with --terminated.")
        return ExpireOptions(
            now_ms=now_ms(),
            idle_ms=parse_duration(idle or "30m", option="--idle"),
            terminated=terminated,
            terminated_grace_ms=grace,
            max_events_per_session=max_events,
            batch_size=batch_size,
            rate=rate,
            time_budget_ms=parse_duration(time_budget, option="--time-budget")
            if time_budget is not None
            else None,
            dry_run=dry_run,
            segment=part,
            kv_orphans=orphans,
            jobs=jobs,
        )

    opts = build()
    store_url = cmd.url
    by_entry = cmd.store_class.expires_entries or cmd.store_class.session_kinds
    if by_entry:
        given = [
            name
            for name, value in (
                ("--idle", idle),
                ("--terminated", terminated or None),
                ("--max-events-per-session", max_events),
            )
            if value is not None
        ]
        if given:
            raise UsageError(
                f"{given[0]} does not apply to the {cmd.store_class.layout} layout: its entries "
                "carry their own expiry (expire removes those past it; --orphans for the rest)."
            )
    if jobs > 1:
        why = f"a {store_url.backend} store of the {cmd.store_class.layout} layout is expired "
        cmd.require(lambda kind: kind.parallel_expire, "--jobs", why + "on one connection")
    if not by_entry and orphans:
        raise UsageError(
            "--orphans is for the fastmcp layout; expire always removes orphaned events of "
            f"the {cmd.store_class.layout} layout."
        )
    if opts.segment is not None:
        why = f"a {store_url.backend} store is expired in one pass"
        cmd.require(lambda kind: kind.scan_segments, "--segment", why)
    # A dry run reads only: a read-only connection cannot change the store or its files.
    store = cmd.open_store(read_only=dry_run)

    async def work() -> Any:
        async with store:
            if dry_run:
                return await store.expire(opts)
            with cmd.progress("expiring") as bar:
                return await store.expire(opts, progress=bar)

    result = cmd.run(work)
    from mcpstore_cli.render.expire import result_json
    from mcpstore_cli.render.output import draw_expire, write_object

    obj = result_json(result, opts, store_url.masked(), by_entry=by_entry)
    if not cmd.quiet or cmd.fmt_option:
        write_object(cmd.env, cmd.fmt, obj, lambda: draw_expire(cmd.env, obj))
    verb = "would remove" if result.dry_run else "removed"
    if by_entry:
        rate_text = f" ({obj['rate']:,.0f} rows/s)" if obj["rate"] and not result.dry_run else ""
        expired = result.expired_entries
        per = ", ".join(f"{c} {n:,}" for c, n in sorted(result.entries.items()) if n)
        cmd.info(
            f"expire: {verb} {expired:,} expired entries{f' ({per})' if per else ''}, "
            f"{result.orphans:,} events of no stream and {result.trimmed:,} missing event ids "
            f"from stream lists in {result.duration_s:.2f} s{rate_text}."
        )
        if result.skipped:
            cmd.info(f"expire: left {result.skipped:,} entries the server wrote again meanwhile.")
        if result.partial:
            cmd.warn(
                f"time budget of {format_duration(opts.time_budget_ms or 0)} reached; left "
                + ", ".join(f"{v:,} {k}" for k, v in result.remaining.items())
                + " for the next run."
            )
            cmd.exit(ExitStatus.PARTIAL)
        return
    rate_text = f" ({obj['rate']:,.0f} rows/s)" if obj["rate"] and not result.dry_run else ""
    cmd.info(
        f"expire: {verb} {result.sessions:,} sessions with {result.events:,} events, "
        f"{result.orphans:,} orphaned events and {result.trimmed:,} trimmed events "
        f"in {result.duration_s:.2f} s{rate_text}."
    )
    if result.skipped:
        cmd.info(f"expire: left {result.skipped:,} sessions that became active meanwhile.")
    if result.partial:
        left = result.remaining
        cmd.warn(
            f"time budget of {format_duration(opts.time_budget_ms or 0)} reached; left "
            f"{left.get('sessions', 0):,} sessions, {left.get('orphans', 0):,} orphaned and "
            f"{left.get('trimmed', 0):,} over-limit events for the next run."
        )
        cmd.exit(ExitStatus.PARTIAL)
