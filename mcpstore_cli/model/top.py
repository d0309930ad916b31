"""One reading of a store for ``mcpstore top``: backend-neutral, every figure that is not
exact says so in :attr:`TopSnapshot.estimates` (the screen marks it and says why)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

WINDOW_MIN = 30  # minutes the arrival and expiry sparklines cover
CAP = 20_000  # rows any one figure reads at most (counts past it are estimates)
SAMPLE = 2_000  # rows a sampled figure reads
NEWEST = 8  # newest events shown
TOP_N = 6  # clients and protocol versions shown
SORTS = ("count", "name")  # how the client and protocol tables are ordered (key s)


@dataclass
class TopSnapshot:
    at_ms: int
    timeout_ms: int
    statuses: dict[str, int] = field(default_factory=dict)  # in display order
    total: int = 0
    arrivals: list[int] | None = None  # per minute, oldest first (WINDOW_MIN of them)
    expiries: list[int] | None = None  # sessions passing the idle timeout, per minute
    events_total: int | None = None
    events_per_s: float | None = None
    clients: list[tuple[str, int]] = field(default_factory=list)
    protocols: list[tuple[str, int]] = field(default_factory=list)
    sampled: int = 0  # sessions the client and protocol figures come from
    newest: list[dict[str, Any]] = field(default_factory=list)  # id, session_id, time, type
    estimates: dict[str, str] = field(default_factory=dict)  # figure -> how it was estimated
    store_ms: float = 0.0  # time the reading took in the store

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at_ms,
            "timeout_ms": self.timeout_ms,
            "sessions": self.total,
            "statuses": dict(self.statuses),
            "arrivals_per_minute": self.arrivals,
            "expiries_per_minute": self.expiries,
            "events": self.events_total,
            "events_per_second": self.events_per_s,
            "clients": [list(c) for c in self.clients],
            "protocol_versions": [list(p) for p in self.protocols],
            "sampled_sessions": self.sampled,
            "newest_events": self.newest,
            "estimates": dict(self.estimates),
            "store_ms": round(self.store_ms, 2),
        }


def per_minute(times: Iterable[int], start_ms: int) -> list[int]:
    """Counts of ``times`` per minute from ``start_ms`` (WINDOW_MIN buckets)."""
    out = [0] * WINDOW_MIN
    for t in times:
        i = (t - start_ms) // 60_000
        if 0 <= i < WINDOW_MIN:
            out[i] += 1
    return out


def top_counts(values: Iterable[str | None], n: int = TOP_N) -> list[tuple[str, int]]:
    counts = Counter(v if v else "(unknown)" for v in values)
    return counts.most_common(n)
