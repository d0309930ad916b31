"""turul's session layout as PostgreSQL holds it: DDL, indexes, the columns ``setup --check``
expects, the COPY column lists."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


SESSIONS_DDL = """CREATE TABLE IF NOT EXISTS sessions (
    session_id VARCHAR(36) PRIMARY KEY,
    client_capabilities JSONB,
    server_capabilities JSONB NOT NULL,
    state JSONB NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    last_activity BIGINT NOT NULL,
    is_initialized BOOLEAN NOT NULL DEFAULT FALSE,
    metadata JSONB NOT NULL DEFAULT '{}',
    version INTEGER NOT NULL DEFAULT 1
)"""


EVENTS_DDL = """CREATE TABLE IF NOT EXISTS events (
    id BIGSERIAL PRIMARY KEY,
    session_id VARCHAR(36) NOT NULL REFERENCES sessions(session_id) ON DELETE CASCADE,
    timestamp BIGINT NOT NULL,
    event_type VARCHAR(100) NOT NULL,
    data JSONB NOT NULL,
    retry INTEGER
)"""


# name: (table, columns, partial-index predicate)
INDEXES: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "idx_sessions_last_activity": ("sessions", ("last_activity",), None),
    "idx_sessions_created_at": ("sessions", ("created_at",), None),
    "idx_events_session_id": ("events", ("session_id",), None),
    "idx_events_session_timestamp": ("events", ("session_id", "timestamp"), None),
    "idx_events_session_id_id": ("events", ("session_id", "id"), None),
    "idx_events_timestamp": ("events", ("timestamp",), None),
    "idx_sessions_active": ("sessions", ("last_activity",), "is_initialized = TRUE"),
}


# (name, type as format_type() prints it, NOT NULL, default as pg_get_expr() prints it)
# A default of "nextval(" means any sequence default (BIGSERIAL).
EXPECTED_COLUMNS: dict[str, list[tuple[str, str, bool, str | None]]] = {
    "sessions": [
        ("session_id", "character varying(36)", True, None),
        ("client_capabilities", "jsonb", False, None),
        ("server_capabilities", "jsonb", True, None),
        ("state", "jsonb", True, "'{}'::jsonb"),
        ("created_at", "bigint", True, None),
        ("last_activity", "bigint", True, None),
        ("is_initialized", "boolean", True, "false"),
        ("metadata", "jsonb", True, "'{}'::jsonb"),
        ("version", "integer", True, "1"),
    ],
    "events": [
        ("id", "bigint", True, "nextval("),
        ("session_id", "character varying(36)", True, None),
        ("timestamp", "bigint", True, None),
        ("event_type", "character varying(100)", True, None),
        ("data", "jsonb", True, None),
        ("retry", "integer", False, None),
    ],
}


PRIMARY_KEYS = {"sessions": ("session_id",), "events": ("id",)}


# Columns a reader needs; a table without them is in another layout.
REQUIRED = {
    "sessions": {"session_id", "state", "created_at", "last_activity", "is_initialized"},
    "events": {"id", "session_id", "timestamp", "event_type", "data"},
}


SESSION_COPY_COLUMNS = (
    "session_id",
    "client_capabilities",
    "server_capabilities",
    "state",
    "created_at",
    "last_activity",
    "is_initialized",
    "metadata",
    "version",
)


EVENT_COPY_COLUMNS = ("session_id", "timestamp", "event_type", "data", "retry")

# The longest values the VARCHAR columns hold (what a restore must check first).
SESSION_ID_MAX = 36
EVENT_TYPE_MAX = 100
