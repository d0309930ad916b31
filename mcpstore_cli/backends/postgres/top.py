"""``mcpstore top`` on turul's PostgreSQL tables: one reading whose cost does not grow with
the store. Totals come from the statistics PostgreSQL keeps (``pg_stat_user_tables``; exact
counts below a small size), every range read is capped at CAP rows through the layout's
indexes (last_activity, created_at, events.timestamp, the primary keys), terminated sessions
are counted in a TABLESAMPLE, and clients and protocol versions come from the most recently
active sessions. Each estimate says so."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mcpstore_cli.model.top import (
    CAP,
    NEWEST,
    SAMPLE,
    WINDOW_MIN,
    TopSnapshot,
    top_counts,
)

if TYPE_CHECKING:
    from mcpstore_cli.backends.postgres.store import PostgresStore

EXACT_BELOW = 50_000  # tables smaller than this are counted exactly
RANGE_CAP = 200_000  # index-only counts stop here
TERMINATED = "state @> '{\"terminated\": true}'"


async def snapshot(store: PostgresStore, *, now_ms: int, timeout_ms: int) -> TopSnapshot:
    started = time.perf_counter()

    async def q(sql: str, *args: Any) -> list[Any]:
        return await store._fetch_on("top", sql, list(args))

    snap = TopSnapshot(at_ms=now_ms, timeout_ms=timeout_ms)
    start = now_ms - WINDOW_MIN * 60_000
    cutoff = now_ms - timeout_ms
    live = {
        r[0]: int(r[1])
        for r in await q(
            "SELECT relname, n_live_tup FROM pg_stat_user_tables "
            "WHERE relname IN ('sessions', 'events') AND schemaname = current_schema()"
        )
    }
    total = live.get("sessions", 0)
    exact = total <= SAMPLE
    if exact:
        total, terminated = (
            await q(f"SELECT count(*), count(*) FILTER (WHERE {TERMINATED}) FROM sessions")
        )[0]
    else:
        # Whole pages are sampled (SYSTEM): rows written together come together, so take
        # more of them than the other samples.
        pct = min(100.0, 100.0 * SAMPLE * 5 / max(total, 1))
        seen, hits = (
            await q(
                f"SELECT count(*), count(*) FILTER (WHERE {TERMINATED}) FROM sessions "
                "TABLESAMPLE SYSTEM ($1)",
                pct,
            )
        )[0]
        terminated = round(total * hits / seen) if seen else 0
        snap.estimates["sessions"] = "PostgreSQL's live-row statistics (pg_stat_user_tables)"
        snap.estimates["terminated"] = f"a TABLESAMPLE of {int(seen):,} sessions"
    in_range = int(
        (
            await q(
                "SELECT count(*) FROM (SELECT 1 FROM sessions WHERE last_activity >= $1 "
                "LIMIT $2) s",
                cutoff,
                RANGE_CAP + 1,
            )
        )[0][0]
    )
    # The most recently active sessions: which of them ended, their clients and protocols.
    recent = await q(
        f"SELECT {TERMINATED}, state -> 'client_info' ->> 'name', "
        "coalesce(state ->> 'negotiated_version', state ->> 'mcp_version') "
        "FROM sessions WHERE last_activity >= $1 ORDER BY last_activity DESC LIMIT $2",
        cutoff,
        SAMPLE,
    )
    ended = sum(1 for r in recent if r[0])
    if in_range <= len(recent):
        active = in_range - ended
    else:
        active = round(in_range * (1 - ended / len(recent))) if recent else in_range
        snap.estimates["active"] = (
            f"the {len(recent):,} most recently active sessions' share of ended ones"
            + (f", of more than {RANGE_CAP:,}" if in_range > RANGE_CAP else "")
        )
    total, terminated = int(total), int(terminated)
    idle = max(total - active - terminated, 0)
    snap.total = total
    snap.statuses = {"active": active, "idle": idle, "terminated": terminated}
    if snap.estimates:
        snap.estimates["idle"] = "sessions less active and terminated ones"
    snap.sampled = len(recent)
    snap.clients = top_counts(r[1] for r in recent)
    snap.protocols = top_counts(r[2] for r in recent)

    # Per minute, counted in the server through the created_at and last_activity indexes
    # (no row crosses the wire).
    arrivals = await q(
        "SELECT (created_at - $1) / 60000 AS m, count(*) FROM sessions "
        "WHERE created_at >= $1 AND created_at < $2 GROUP BY m",
        start,
        start + WINDOW_MIN * 60_000,
    )
    snap.arrivals = _buckets(arrivals)
    ends = await q(
        "SELECT (last_activity + $2 - $1) / 60000 AS m, count(*) FROM sessions "
        "WHERE last_activity >= $1 - $2 AND last_activity < $3 GROUP BY m",
        start,
        timeout_ms,
        cutoff,
    )
    snap.expiries = _buckets(ends)

    events = live.get("events", 0)
    if events < EXACT_BELOW:
        events = int((await q("SELECT count(*) FROM events"))[0][0])
    else:
        snap.estimates["events"] = "PostgreSQL's live-row statistics (pg_stat_user_tables)"
    snap.events_total = events
    last_minute = int(
        (
            await q(
                "SELECT count(*) FROM (SELECT 1 FROM events WHERE timestamp >= $1 LIMIT $2) e",
                now_ms - 60_000,
                CAP + 1,
            )
        )[0][0]
    )
    snap.events_per_s = min(last_minute, CAP + 1) / 60.0
    if last_minute > CAP:
        snap.estimates["event rate"] = f"at least: the count stops at {CAP:,} a minute"
    snap.newest = [
        {"id": int(r[0]), "session_id": r[1], "time": int(r[2]), "type": r[3]}
        for r in await q(
            "SELECT id, session_id, timestamp, event_type FROM events ORDER BY id DESC LIMIT $1",
            NEWEST,
        )
    ]
    snap.store_ms = (time.perf_counter() - started) * 1000
    return snap


def _buckets(rows: list[Any]) -> list[int]:
    out = [0] * WINDOW_MIN
    for minute, n in rows:
        if 0 <= int(minute) < WINDOW_MIN:
            out[int(minute)] += int(n)
    return out
