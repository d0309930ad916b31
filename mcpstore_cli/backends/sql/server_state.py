"""turul's server state on SQL stores: what SQLite and PostgreSQL share (its figures)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, ClassVar

from mcpstore_cli.store.nonsession import NonSessionStore


class SqlServerStateStore(NonSessionStore):
    layout: ClassVar[str] = "server-state"
    contents: ClassVar[str] = "turul's server state"
    reader_command: ClassVar[str] = "mcpstore stats --layout server-state"
    records_noun: ClassVar[str | None] = "entities"

    def _not_sessions(self, command: str) -> Any:
        from mcpstore_cli.errors import UsageError

        raise UsageError(
            f"{self.url.masked()} holds turul's server state, not sessions; mcpstore stats "
            "--layout server-state shows it."
        )

    @abc.abstractmethod
    async def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    def _as_text(self, column: str) -> str:
        return column

    async def layout_stats(self, *, now_ms: int) -> dict[str, Any] | None:
        await self.ensure_readable()
        by_type: dict[str, dict[str, Any]] = {}
        rows = await self._fetch(
            "SELECT entity_type, count(*) AS n, "
            "sum(CASE WHEN active THEN 1 ELSE 0 END) AS active, "
            f"min({self._as_text('updated_at')}) AS oldest, "
            f"max({self._as_text('updated_at')}) AS newest "
            "FROM server_entity_state GROUP BY entity_type ORDER BY entity_type"
        )
        for r in rows:
            by_type[str(r["entity_type"])] = {
                "entities": int(r["n"]),
                "active": int(r["active"] or 0),
                "inactive": int(r["n"]) - int(r["active"] or 0),
                "oldest_update": r["oldest"],
                "newest_update": r["newest"],
            }
        for r in await self._fetch(
            f"SELECT entity_type, fingerprint, {self._as_text('updated_at')} AS updated_at "
            "FROM server_fingerprints ORDER BY entity_type"
        ):
            entry = by_type.setdefault(str(r["entity_type"]), {"entities": 0, "active": 0})
            entry["fingerprint"] = r["fingerprint"]
            entry["fingerprint_updated"] = r["updated_at"]
        return {
            "store": self.url.masked(),
            "layout": self.layout,
            "entities": sum(int(v.get("entities", 0)) for v in by_type.values()),
            "active": sum(int(v.get("active", 0)) for v in by_type.values()),
            "entity_types": by_type,
        }
