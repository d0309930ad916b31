"""turul's server state in a SQLite file (the server's default: ``server_state.db``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from mcpstore_cli.backends.sql.server_state import SqlServerStateStore
from mcpstore_cli.backends.sqlite.tasks import SqliteTableStore


class SqliteServerStateStore(SqliteTableStore, SqlServerStateStore):
    TABLE: ClassVar[str] = "server_entity_state"
    LAYOUT_PACKAGE: ClassVar[str] = "mcpstore_cli.layouts.turul_server_state"
    RECORDS: ClassVar[str] = "entities"
    TABLE_NOUNS: ClassVar[dict[str, str]] = {"server_fingerprints": "fingerprints"}

    def label(self) -> str:
        return Path(self.url.path or "server_state.db").stem or "sqlite"

    def _demo_insert(self) -> tuple[str, Any]:
        raise NotImplementedError  # write_demo below writes two tables

    def _backup_queries(self) -> list[tuple[str, Any]]:
        from mcpstore_cli.backends.sql import nonsession_backup as nb

        return [
            (
                "SELECT entity_type, entity_id, active, metadata, updated_at "
                "FROM server_entity_state ORDER BY entity_type, entity_id",
                nb.entity_record,
            ),
            (
                "SELECT entity_type, fingerprint, updated_at FROM server_fingerprints "
                "ORDER BY entity_type",
                nb.fingerprint_record,
            ),
        ]

    def _restore_insert(self, kind: str) -> tuple[str, Any]:
        from mcpstore_cli.backends.sql import nonsession_backup as nb

        if kind == "v":
            return (
                "INSERT OR IGNORE INTO server_entity_state (entity_type, entity_id, active, "
                "metadata, updated_at) VALUES (?, ?, ?, ?, ?)",
                lambda r: (r[1], r[2], int(r[3]), nb.dump(r[4]), r[5]),
            )
        return (
            "INSERT OR IGNORE INTO server_fingerprints (entity_type, fingerprint, updated_at) "
            "VALUES (?, ?, ?)",
            lambda r: (r[1], r[2], r[3]),
        )

    async def write_demo(self, batches: Any, progress: Any = None) -> tuple[int, int]:
        """The server's own writes: ``INSERT OR REPLACE`` of each entity and fingerprint."""
        written = 0
        async for items, _events in batches:
            with self._writing() as conn:
                for kind, row in items:
                    if kind == "entity":
                        conn.execute(
                            "INSERT OR REPLACE INTO server_entity_state (entity_type, entity_id, "
                            "active, metadata, updated_at) VALUES (?, ?, ?, ?, ?)",
                            (
                                row["entity_type"],
                                row["entity_id"],
                                int(row["active"]),
                                None if row["metadata"] is None else json.dumps(row["metadata"]),
                                row["updated_at"],
                            ),
                        )
                        written += 1
                    else:
                        conn.execute(
                            "INSERT OR REPLACE INTO server_fingerprints (entity_type, "
                            "fingerprint, updated_at) VALUES (?, ?, ?)",
                            (row["entity_type"], row["fingerprint"], row["updated_at"]),
                        )
            if progress is not None:
                progress(len(items))
        return written, 0
