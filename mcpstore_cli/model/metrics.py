"""The figures ``mcpstore metrics`` exports, backend-neutral: samples named without the
``mcpstore_`` prefix, each with its help text and labels. ``render/metrics.py`` turns them
into Prometheus' text format through prometheus_client.

Every metric is a gauge: the figures are a reading of the store, not counters of mcpstore's
own. The names (and what they count) are documented in the README ("Metrics").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

HELP = {
    "sessions": "Stored sessions by status: active (used within the timeout), idle (past it, "
    "not ended), terminated (ended by the client); event-store and state sessions on FastMCP's "
    "layout (status events, state).",
    "sessions_uninitialized": "Stored sessions whose client never finished initialize.",
    "sessions_expired_present": "Sessions past the idle timeout that the store still holds: "
    "what expire would remove.",
    "events": "Stored SSE events.",
    "oldest_idle_seconds": "Seconds since the least recently active stored session was used.",
    "tasks": "Stored tasks by status.",
    "tasks_stuck": "Live tasks not updated for the stuck threshold (--stuck-for).",
    "tasks_past_ttl": "Tasks whose created_at + ttl has passed, still stored.",
    "fastmcp_entries": "FastMCP's live entries by collection.",
    "fastmcp_entries_expired_present": "FastMCP's entries past their expiry, still stored "
    "(PostgreSQL keeps them until expire removes them).",
    "other_entries": "Entries of other collections in the same store (counted, never read).",
    "entities": "turul server-state entities by activity (active, inactive).",
    "store_size_bytes": "Storage the store's tables, keys or file take.",
    "figures_estimated": "1 when some figures are estimates (see the README), else 0.",
    "figures_duration_seconds": "Time the figures took to read from the store.",
}


@dataclass(slots=True)
class Sample:
    name: str  # a key of HELP
    value: float
    labels: tuple[tuple[str, str], ...] = ()


@dataclass
class MetricSet:
    """The samples of one reading of a store."""

    samples: list[Sample] = field(default_factory=list)
    estimated: bool = False

    def add(self, name: str, value: float | None, **labels: str) -> None:
        if value is None:
            return
        assert name in HELP, name
        self.samples.append(Sample(name, float(value), tuple(sorted(labels.items()))))

    def by(self, name: str, counts: Mapping[str, Any], label: str) -> None:
        for key, n in counts.items():
            self.add(name, n, **{label: str(key)})


def session_figures(
    out: MetricSet,
    *,
    now_ms: int,
    sessions: int,
    terminated: int,
    idle: int,
    uninitialized: int | None,
    expired_present: int,
    events: int | None,
    oldest_activity: int | None,
) -> None:
    """The session layouts' samples, from counts however the store gathered them."""
    active = max(sessions - terminated - idle, 0)
    out.by("sessions", {"active": active, "idle": idle, "terminated": terminated}, "status")
    out.add("sessions_uninitialized", uninitialized)
    out.add("sessions_expired_present", expired_present)
    out.add("events", events)
    out.add(
        "oldest_idle_seconds",
        0 if oldest_activity is None else max(now_ms - oldest_activity, 0) / 1000,
    )


def from_sessions_aggregate(
    agg: Mapping[str, Any], *, events: int, size: int | None, now_ms: int
) -> MetricSet:
    """The samples of turul's layout from its aggregate row (the columns of
    SqlStore.metrics_statements: sessions, terminated, idle, expired, uninitialized,
    oldest_activity), the events counted and the storage size."""
    out = MetricSet()
    session_figures(
        out,
        now_ms=now_ms,
        sessions=int(agg["sessions"]),
        terminated=int(agg["terminated"]),
        idle=int(agg["idle"]),
        uninitialized=int(agg["uninitialized"]),
        expired_present=int(agg["expired"]),
        events=events,
        oldest_activity=agg["oldest_activity"],
    )
    out.add("store_size_bytes", size)
    return out
