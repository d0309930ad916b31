"""turul's session layout as SQLite holds it: DDL, indexes, the columns `setup --check` expects."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


SESSIONS_DDL = """CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    client_capabilities TEXT,
    server_capabilities TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    last_activity INTEGER NOT NULL,
    is_initialized BOOLEAN NOT NULL DEFAULT FALSE,
    metadata TEXT NOT NULL DEFAULT '{}'
)"""


EVENTS_DDL = """CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    data TEXT NOT NULL,
    retry INTEGER,
    FOREIGN KEY (session_id) REFERENCES sessions(session_id) ON DELETE CASCADE
)"""


INDEXES = {
    "idx_sessions_last_activity": ("sessions", ("last_activity",)),
    "idx_events_session_id": ("events", ("session_id",)),
    "idx_events_session_id_id": ("events", ("session_id", "id")),
}


# (name, declared type, not null, default as SQLite reports it, primary key)
EXPECTED_COLUMNS: dict[str, list[tuple[str, str, bool, str | None, bool]]] = {
    "sessions": [
        ("session_id", "TEXT", False, None, True),
        ("client_capabilities", "TEXT", False, None, False),
        ("server_capabilities", "TEXT", True, None, False),
        ("state", "TEXT", True, "'{}'", False),
        ("created_at", "INTEGER", True, None, False),
        ("last_activity", "INTEGER", True, None, False),
        ("is_initialized", "BOOLEAN", True, "FALSE", False),
        ("metadata", "TEXT", True, "'{}'", False),
    ],
    "events": [
        ("id", "INTEGER", False, None, True),
        ("session_id", "TEXT", True, None, False),
        ("timestamp", "INTEGER", True, None, False),
        ("event_type", "TEXT", True, None, False),
        ("data", "TEXT", True, None, False),
        ("retry", "INTEGER", False, None, False),
    ],
}


# Columns a reader needs; a table without them is in another layout.
REQUIRED = {table: {c[0] for c in cols} for table, cols in EXPECTED_COLUMNS.items()}


def ddl_statements() -> list[str]:
    out = [SESSIONS_DDL, EVENTS_DDL]
    for name, (table, cols) in INDEXES.items():
        out.append(f"CREATE INDEX IF NOT EXISTS {name} ON {table}({', '.join(cols)})")
    return out
