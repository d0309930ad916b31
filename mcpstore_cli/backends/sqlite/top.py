"""``mcpstore top`` on turul's SQLite file: one reading whose cost does not grow with the
store. Range reads go through ``idx_sessions_last_activity`` and the events' id (their rowid)
and stop at CAP rows; terminated sessions are counted in a sample of random rowids; the
events are counted from their id range (AUTOINCREMENT: one counter for the table). Each
estimate says so."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING

from mcpstore_cli.backends.sqlite.prepared import TERMINATED, TERMINATED_ARGS
from mcpstore_cli.model.top import (
    CAP,
    NEWEST,
    SAMPLE,
    WINDOW_MIN,
    TopSnapshot,
    per_minute,
    top_counts,
)

if TYPE_CHECKING:
    from mcpstore_cli.backends.sqlite.reading import SqliteReading

EXACT_BELOW = 50_000
_CLIENT = (
    "CASE WHEN json_valid(state) THEN json_extract(state, '$.client_info.name') END, "
    "CASE WHEN json_valid(state) THEN coalesce(json_extract(state, '$.negotiated_version'), "
    "json_extract(state, '$.mcp_version')) END"
)


def snapshot(store: SqliteReading, *, now_ms: int, timeout_ms: int) -> TopSnapshot:
    started = time.perf_counter()
    q = store._read_tuples
    snap = TopSnapshot(at_ms=now_ms, timeout_ms=timeout_ms)
    start = now_ms - WINDOW_MIN * 60_000
    cutoff = now_ms - timeout_ms
    total = int(q("SELECT count(*) FROM sessions")[0][0])
    if total < EXACT_BELOW:
        terminated = int(
            q(f"SELECT count(*) FROM sessions WHERE {TERMINATED} = 1", TERMINATED_ARGS)[0][0]
        )
    else:
        low, high = q("SELECT min(rowid), max(rowid) FROM sessions")[0]
        picks = sorted({random.randint(low, high) for _ in range(SAMPLE)})
        marks = ",".join("?" * len(picks))
        seen, hits = q(
            f"SELECT count(*), coalesce(sum({TERMINATED}), 0) FROM sessions "
            f"WHERE rowid IN ({marks})",
            [*TERMINATED_ARGS, *picks],
        )[0]
        terminated = round(total * int(hits) / int(seen)) if seen else 0
        snap.estimates["terminated"] = f"a sample of {int(seen):,} sessions at random rowids"
    active, in_range = q(
        f"SELECT coalesce(sum({TERMINATED} = 0), 0), count(*) FROM (SELECT state FROM sessions "
        "WHERE last_activity >= ? LIMIT ?) AS sessions",
        [*TERMINATED_ARGS, cutoff, CAP + 1],
    )[0]
    if in_range > CAP:
        snap.estimates["active"] = f"more than {CAP:,}: the count stops there"
    active = int(active)
    snap.total = total
    snap.statuses = {
        "active": active,
        "idle": max(total - active - terminated, 0),
        "terminated": terminated,
    }
    if snap.estimates:
        snap.estimates["idle"] = "sessions less active and terminated ones"

    # Sessions that arrived within the window were active within it: the newest CAP of
    # those, by last_activity (SQLite's layout has no index on created_at).
    recent = q(
        f"SELECT created_at, {_CLIENT} FROM sessions WHERE last_activity >= ? "
        "ORDER BY last_activity DESC LIMIT ?",
        [start, CAP + 1],
    )
    snap.arrivals = per_minute((r[0] for r in recent if isinstance(r[0], int)), start)
    if len(recent) > CAP:
        snap.estimates["arrivals"] = f"the {CAP:,} most recently active sessions only"
    snap.sampled = min(len(recent), SAMPLE)
    snap.clients = top_counts(r[1] for r in recent[:SAMPLE])
    snap.protocols = top_counts(r[2] for r in recent[:SAMPLE])
    ends = q(
        "SELECT last_activity FROM sessions WHERE last_activity >= ? AND last_activity < ? LIMIT ?",
        [start - timeout_ms, cutoff, CAP + 1],
    )
    snap.expiries = per_minute((r[0] + timeout_ms for r in ends), start)
    if len(ends) > CAP:
        snap.estimates["expiries"] = f"the first {CAP:,} sessions of the window only"

    low, high = q("SELECT min(id), max(id) FROM events")[0]
    if low is None:
        snap.events_total = 0
    elif high - low < EXACT_BELOW:
        snap.events_total = int(q("SELECT count(*) FROM events")[0][0])
    else:
        snap.events_total = int(high - low + 1)
        snap.estimates["events"] = "the range of event ids (ids a trim or expire freed count)"
    times = [r[0] for r in q("SELECT timestamp FROM events ORDER BY id DESC LIMIT ?", [SAMPLE])]
    in_minute = [t for t in times if isinstance(t, int) and t >= now_ms - 60_000]
    if len(in_minute) == SAMPLE and len(times) == SAMPLE:
        span = max(now_ms - min(in_minute), 1) / 1000
        snap.events_per_s = SAMPLE / span
        snap.estimates["event rate"] = f"the newest {SAMPLE:,} events"
    else:
        snap.events_per_s = len(in_minute) / 60.0
    snap.newest = [
        {"id": int(r[0]), "session_id": r[1], "time": r[2], "type": r[3]}
        for r in q(
            "SELECT id, session_id, timestamp, event_type FROM events ORDER BY id DESC LIMIT ?",
            [NEWEST],
        )
    ]
    snap.store_ms = (time.perf_counter() - started) * 1000
    return snap
