"""What ``demo`` is asked to write; every layout's demo generator takes it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class DemoPlan:
    sessions: int = 100
    events_per_session: int = 10
    idle_share: float = 0.3
    terminated_share: float = 0.1
    uninitialized_share: float = 0.05
    span_ms: int = 24 * 3_600_000  # how far back sessions were created
    seed: int | None = None
    batch_rows: int = 50_000
