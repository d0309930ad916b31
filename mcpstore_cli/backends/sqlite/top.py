"""``mcpstore top`` on turul's SQLite file: one reading whose cost does not grow with the
store. Range reads go through ``idx_sessions_last_activity`` and the events' id (their rowid)
and stop at CAP rows; terminated sessions are counted in a sample of random rowids; the
events are counted from their id range (AUTOINCREMENT: one counter for the table). Each
estimate says so."""

from __future__ import annotations

import random
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from mcpstore_cli.backends.sqlite.prepared import TERMINATED, TERMINATED_ARGS
from mcpstore_cli.model.top import (
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
RANGE_CAP = 200_000  # index-only counts stop here
BLOCKS, BLOCK = 50, 10  # the terminated sample of one refresh: runs of rowids
KEPT_SAMPLES = 12  # refreshes whose samples the terminated figure combines
ARRIVALS_CAP = 10_000  # created_at is read row by row (no index on it in SQLite)
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
    if total <= SAMPLE:
        terminated = int(
            q(f"SELECT count(*) FROM sessions WHERE {TERMINATED} = 1", TERMINATED_ARGS)[0][0]
        )
    else:
        low = q("SELECT min(rowid) FROM sessions")[0][0]
        high = q("SELECT max(rowid) FROM sessions")[0][0]
        # Runs of consecutive rowids from random places: a few pages each, instead of a page
        # per sampled row.
        starts = sorted({random.randint(low, max(low, high - BLOCK)) for _ in range(BLOCKS)})
        clauses = " OR ".join("rowid BETWEEN ? AND ?" for _ in starts)
        bounds = [v for a in starts for v in (a, a + BLOCK - 1)]
        seen, hits = q(
            f"SELECT count(*), coalesce(sum({TERMINATED}), 0) FROM sessions WHERE {clauses}",
            [*TERMINATED_ARGS, *bounds],
        )[0]
        # Each refresh adds a small sample to those of the refreshes before it: the figure
        # sharpens while top runs, at a bounded cost per refresh.
        kept = store.__dict__.setdefault("_top_samples", deque(maxlen=KEPT_SAMPLES))
        kept.append((int(seen), int(hits)))
        seen = sum(n for n, _ in kept)
        hits = sum(h for _, h in kept)
        terminated = round(total * hits / seen) if seen else 0
        snap.estimates["terminated"] = (
            f"a sample of {seen:,} sessions at random rowids over the last {len(kept)} "
            "refresh" + ("es" if len(kept) != 1 else "")
        )
    in_range = int(
        q(
            "SELECT count(*) FROM (SELECT 1 FROM sessions WHERE last_activity >= ? LIMIT ?)",
            [cutoff, RANGE_CAP + 1],
        )[0][0]
    )
    # The most recently active sessions: which of them ended, their clients and protocols.
    recent = q(
        f"SELECT {TERMINATED}, {_CLIENT} FROM sessions WHERE last_activity >= ? "
        "ORDER BY last_activity DESC LIMIT ?",
        [*TERMINATED_ARGS, cutoff, SAMPLE],
    )
    ended = sum(1 for r in recent if r[0] == 1)
    if in_range <= len(recent):
        active = in_range - ended
    else:
        active = round(in_range * (1 - ended / len(recent))) if recent else in_range
        snap.estimates["active"] = (
            f"the {len(recent):,} most recently active sessions' share of ended ones"
            + (f", of more than {RANGE_CAP:,}" if in_range > RANGE_CAP else "")
        )
    snap.total = total
    snap.statuses = {
        "active": active,
        "idle": max(total - active - terminated, 0),
        "terminated": terminated,
    }
    if snap.estimates:
        snap.estimates["idle"] = "sessions less active and terminated ones"
    snap.sampled = len(recent)
    snap.clients = top_counts(r[1] for r in recent)
    snap.protocols = top_counts(r[2] for r in recent)

    snap.arrivals = _arrivals(q, start, now_ms, snap)
    # Sessions passing the idle timeout in each minute: an index-only count per minute.
    edges = [start - timeout_ms + i * 60_000 for i in range(WINDOW_MIN + 1)]
    edges[-1] = min(edges[-1], cutoff)
    snap.expiries = [
        int(r[0])
        for r in q(
            " UNION ALL ".join(
                "SELECT count(*) FROM sessions WHERE last_activity >= ? AND last_activity < ?"
                for _ in range(WINDOW_MIN)
            ),
            [v for i in range(WINDOW_MIN) for v in (edges[i], edges[i + 1])],
        )
    ]
    # Two statements: SQLite answers a lone min() or max() of the rowid from the b-tree's ends.
    low = q("SELECT min(id) FROM events")[0][0]
    high = q("SELECT max(id) FROM events")[0][0]
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


def _uuid7_ms(session_id: str) -> int | None:
    """The Unix ms a UUID v7 in turul's simple form carries in its first 48 bits."""
    if len(session_id) != 32 or session_id[12] != "7" or session_id != session_id.lower():
        return None
    try:
        return int(session_id[:12], 16)
    except ValueError:
        return None


def _arrivals(q: Any, start: int, now_ms: int, snap: TopSnapshot) -> list[int]:
    """Sessions created per minute of the window. turul's ids are ``Uuid::now_v7()``: their
    first 48 bits are the creation time, so where the newest sessions' ids agree with their
    ``created_at`` the window is a range of the primary key's index, read without a row
    (SQLite's layout has no index on created_at). Otherwise: the created_at of the sessions
    active in the window, through the last_activity index, up to ARRIVALS_CAP of them."""
    newest = q("SELECT session_id, created_at FROM sessions ORDER BY last_activity DESC LIMIT 20")
    if newest and all(
        isinstance(r[1], int) and (ms := _uuid7_ms(str(r[0]))) is not None and abs(ms - r[1]) < 2000
        for r in newest
    ):
        # One index-only count per minute: rows are counted, never read out.
        edges = [f"{start + i * 60_000:012x}" for i in range(WINDOW_MIN + 1)]
        counts = q(
            " UNION ALL ".join(
                "SELECT count(*) FROM sessions WHERE session_id >= ? AND session_id < ?"
                for _ in range(WINDOW_MIN)
            ),
            [v for i in range(WINDOW_MIN) for v in (edges[i], edges[i + 1])],
        )
        return [int(r[0]) for r in counts]
    arrived = q(
        "SELECT created_at FROM sessions WHERE last_activity >= ? "
        "ORDER BY last_activity DESC LIMIT ?",
        [start, ARRIVALS_CAP + 1],
    )
    if len(arrived) > ARRIVALS_CAP:
        snap.estimates["arrivals"] = (
            f"the {ARRIVALS_CAP:,} most recently active sessions only: earlier minutes count short"
        )
    return per_minute((r[0] for r in arrived if isinstance(r[0], int)), start)
