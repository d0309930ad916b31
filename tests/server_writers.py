"""Write rows exactly as a turul MCP server does, without going through mcpstore.

Each backend's writer uses that store's plain client (sqlite3, asyncpg, boto3) and the
server's own statements, so tests can check that mcpstore reads what servers really write.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Protocol


class ServerWriter(Protocol):
    def session(
        self,
        session_id: str,
        *,
        created_at: int,
        last_activity: int,
        is_initialized: bool = True,
        client_capabilities: Any = None,
        server_capabilities: Any = None,
        state: dict | None = None,
        metadata: dict | None = None,
        raw_server_capabilities: str | None = None,
    ) -> None: ...

    def event(
        self,
        session_id: str,
        *,
        timestamp: int,
        event_type: str,
        data: Any,
        retry: int | None = None,
    ) -> int:
        """Store one event the way the server does; returns its id."""
        ...

    def delete_session_raw(self, session_id: str) -> None:
        """Delete a session row the way a careless client would (events may stay behind)."""
        ...

    def touch(self, session_id: str, last_activity: int) -> bool:
        """A request on the session, as the server records it; False if the row is gone."""
        ...

    def corrupt_session(self, session_id: str, *, created_at: int, last_activity: int) -> bool:
        """Write a session row whose state cannot be decoded; False if the store forbids it."""
        ...

    def close(self) -> None: ...


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class SqliteServerWriter:
    """The statements of turul's SqliteSessionStorage, through Python's sqlite3."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA foreign_keys=ON")

    def session(
        self,
        session_id: str,
        *,
        created_at: int,
        last_activity: int,
        is_initialized: bool = True,
        client_capabilities: Any = None,
        server_capabilities: Any = None,
        state: dict | None = None,
        metadata: dict | None = None,
        raw_server_capabilities: str | None = None,
    ) -> None:
        server_caps = (
            raw_server_capabilities
            if raw_server_capabilities is not None
            else compact(server_capabilities)
        )
        self.conn.execute(
            "INSERT INTO sessions (session_id, client_capabilities, server_capabilities, state, "
            "created_at, last_activity, is_initialized, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                None if client_capabilities is None else compact(client_capabilities),
                server_caps,
                compact(state or {}),
                created_at,
                last_activity,
                is_initialized,
                compact(metadata or {}),
            ),
        )

    def event(
        self,
        session_id: str,
        *,
        timestamp: int,
        event_type: str,
        data: Any,
        retry: int | None = None,
    ) -> int:
        cur = self.conn.execute(
            "INSERT INTO events (session_id, timestamp, event_type, data, retry) "
            "VALUES (?, ?, ?, ?, ?)",
            (session_id, timestamp, event_type, compact(data), retry),
        )
        return int(cur.lastrowid or 0)

    def delete_session_raw(self, session_id: str) -> None:
        self.conn.execute("PRAGMA foreign_keys=OFF")
        self.conn.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
        self.conn.execute("PRAGMA foreign_keys=ON")

    def touch(self, session_id: str, last_activity: int) -> bool:
        cur = self.conn.execute(
            "UPDATE sessions SET last_activity = ? WHERE session_id = ?",
            (last_activity, session_id),
        )
        return cur.rowcount == 1

    def corrupt_session(self, session_id: str, *, created_at: int, last_activity: int) -> bool:
        self.conn.execute(
            "INSERT INTO sessions (session_id, client_capabilities, server_capabilities, state, "
            "created_at, last_activity, is_initialized, metadata) "
            "VALUES (?, NULL, '{}', '{not json', ?, ?, 1, '{}')",
            (session_id, created_at, last_activity),
        )
        return True

    def close(self) -> None:
        self.conn.close()
