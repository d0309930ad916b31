"""A light PostgreSQL store for the commands that read only figures (``metrics``, ``top``):
asyncpg alone, no SQLAlchemy, so that a cron job's ``mcpstore metrics`` spends its time in
the server, not in importing.

It reads the catalog once. A store in turul's session layout is read here (the metrics
aggregate below, ``top.py``'s bounded reading); anything else (GraphFlow's ``sessions``, a
missing table, drift) goes to the full store of the layout found, which reads it, or says
what is wrong, exactly as it does for every other command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from mcpstore_cli.backends.postgres.catalog import _COLUMNS_SQL, _columns_from_rows
from mcpstore_cli.backends.postgres.link import PgLink
from mcpstore_cli.errors import UsageError
from mcpstore_cli.layouts.graphflow.detect import REQUIRED as GRAPHFLOW_REQUIRED
from mcpstore_cli.store.base import StoreOptions
from mcpstore_cli.store.urls import StoreURL

# The columns that identify turul's layout on PostgreSQL (backends/postgres/layout.py derives
# them from the layout's schema; tests/test_metrics.py holds this copy to it).
SESSIONS_REQUIRED: dict[str, frozenset[str]] = {
    "sessions": frozenset({"session_id", "state", "created_at", "last_activity", "is_initialized"}),
    "events": frozenset({"id", "session_id", "timestamp", "event_type", "data"}),
}

# SqlStore.metrics_statements, as PostgreSQL reads them (tests/test_metrics.py compares the
# figures of both paths on one database).
TERMINATED = "coalesce(state @> '{\"terminated\": true}'::jsonb, false)"
METRICS_SESSIONS_SQL = (
    "SELECT count(*) AS sessions, "
    f"count(*) FILTER (WHERE {TERMINATED}) AS terminated, "
    f"count(*) FILTER (WHERE last_activity < $1 AND NOT {TERMINATED}) AS idle, "
    "count(*) FILTER (WHERE last_activity < $1) AS expired, "
    "count(*) FILTER (WHERE is_initialized = false) AS uninitialized, "
    "min(last_activity) AS oldest_activity FROM sessions"
)
METRICS_EVENTS_SQL = (
    "SELECT (SELECT count(*) FROM events) AS events, "
    "pg_total_relation_size('sessions') + pg_total_relation_size('events') AS size"
)

StoreClass = Callable[[str], type[Any]]


class PostgresFigures(PgLink):
    """See the module's text. ``layout``: as the command gave it (None: find it)."""

    backend: ClassVar[str] = "postgres"
    title: ClassVar[str] = "PostgreSQL"
    inline_reads: ClassVar[bool] = False

    def __init__(
        self,
        url: StoreURL,
        options: StoreOptions | None,
        *,
        layout: str | None,
        classes: StoreClass,
    ) -> None:
        PgLink.__init__(self, url, options)
        self._asked = layout
        self._classes = classes
        self._other: Any = None  # the full store, when this one does not read the layout
        self._found = False

    @property
    def layout(self) -> str:
        return self._other.layout if self._other is not None else (self._asked or "sessions")

    @property
    def bounded_top(self) -> bool:
        return True if self._other is None else bool(self._other.bounded_top)

    def own_files(self) -> list[Path]:
        return []

    async def __aenter__(self) -> PostgresFigures:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._other is not None:
            await self._other.close()
        await PgLink.close(self)

    async def _full(self, layout: str) -> None:
        self._other = self._classes(layout)(self.url, self.options)
        await PgLink.close(self)

    async def _resolve(self) -> Any:
        """None when this store reads the layout; else the full store that does."""
        if self._found:
            return self._other
        self._found = True
        if self._asked not in (None, "sessions"):
            await self._full(self._asked)
            return self._other
        kinds, columns = _columns_from_rows(await self._fetch_page(_COLUMNS_SQL, []))
        have = {t: {c[0] for c in columns.get(t, [])} for t in kinds}

        def holds(required: dict[str, frozenset[str]]) -> bool:
            return all(
                kinds.get(t) in ("r", "p") and set(cols) <= have.get(t, set())
                for t, cols in required.items()
            )

        turul, graphflow = holds(SESSIONS_REQUIRED), holds(GRAPHFLOW_REQUIRED)
        if turul and graphflow and self._asked is None:
            raise UsageError(
                f"{self.url.masked()} holds the layouts sessions and graphflow; choose one "
                "with --layout."
            )
        if turul:
            return None
        # GraphFlow's, or something wrong: the full store reads it or says what is wrong.
        await self._full("graphflow" if graphflow and self._asked is None else "sessions")
        await self._other.ensure_readable()
        return self._other

    async def ensure_readable(self) -> None:
        other = await self._resolve()
        if other is not None:
            await other.ensure_readable()

    def label(self) -> str:
        return self._other.label() if self._other is not None else PgLink.label(self)

    async def metric_figures(
        self, *, now_ms: int, timeout_ms: int, stuck_after_ms: int = 3_600_000
    ) -> Any:
        from mcpstore_cli.model.metrics import from_sessions_aggregate

        other = await self._resolve()
        if other is not None:
            return await other.metric_figures(
                now_ms=now_ms, timeout_ms=timeout_ms, stuck_after_ms=stuck_after_ms
            )
        # The two scans at once, on two connections (the server runs them side by side).
        sessions_rows, events_rows = await asyncio.gather(
            self._fetch_page(METRICS_SESSIONS_SQL, [now_ms - timeout_ms]),
            self._fetch_on("metrics", METRICS_EVENTS_SQL, []),
        )
        await self._drop_kept("metrics")
        return from_sessions_aggregate(
            sessions_rows[0],
            events=int(events_rows[0]["events"]),
            size=int(events_rows[0]["size"] or 0),
            now_ms=now_ms,
        )

    async def top_snapshot(self, *, now_ms: int, timeout_ms: int) -> Any:
        from mcpstore_cli.backends.postgres import top

        other = await self._resolve()
        if other is not None:
            return await other.top_snapshot(now_ms=now_ms, timeout_ms=timeout_ms)
        return await top.snapshot(self, now_ms=now_ms, timeout_ms=timeout_ms)  # type: ignore[arg-type]
