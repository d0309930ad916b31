"""Write turul's task rows exactly as its task store does, without mcpstore: the server's DDL
(more-layouts.md §1), its INSERT, and its status update (PostgreSQL: ``version + 1`` where the
version read still holds)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

SQLITE_DDL = [
    """CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    session_id TEXT,
    status TEXT NOT NULL DEFAULT 'working',
    status_message TEXT,
    created_at TEXT NOT NULL,
    last_updated_at TEXT NOT NULL,
    ttl INTEGER,
    poll_interval INTEGER,
    original_method TEXT NOT NULL,
    original_params TEXT,
    result TEXT,
    meta TEXT
)""",
    "CREATE INDEX IF NOT EXISTS idx_tasks_list ON tasks (created_at, task_id)",
    "CREATE INDEX IF NOT EXISTS idx_tasks_session ON tasks (session_id, created_at, task_id)",
    "CREATE INDEX IF NOT EXISTS idx_tasks_status ON tasks (status)",
]

POSTGRES_DDL = [
    """CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    session_id VARCHAR(36),
    status TEXT NOT NULL DEFAULT 'working',
    status_message TEXT,
    created_at TEXT NOT NULL,
    last_updated_at TEXT NOT NULL,
    ttl BIGINT,
    poll_interval BIGINT,
    original_method TEXT NOT NULL,
    original_params JSONB,
    result JSONB,
    meta JSONB,
    version INTEGER NOT NULL DEFAULT 1
)""",
    "CREATE INDEX IF NOT EXISTS idx_tasks_list ON tasks (created_at, task_id)",
    "CREATE INDEX IF NOT EXISTS idx_tasks_session ON tasks (session_id, created_at, task_id)",
    "CREATE INDEX IF NOT EXISTS idx_tasks_status ON tasks (status)",
    "CREATE INDEX IF NOT EXISTS idx_tasks_active ON tasks (last_updated_at) "
    "WHERE status IN ('working', 'input_required')",
]

COLUMNS = (
    "task_id",
    "session_id",
    "status",
    "status_message",
    "created_at",
    "last_updated_at",
    "ttl",
    "poll_interval",
    "original_method",
    "original_params",
    "result",
    "meta",
)


def _text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def task_row(
    task_id: str,
    *,
    created_at: str,
    last_updated_at: str | None = None,
    status: str = "working",
    status_message: str | None = None,
    session_id: str | None = None,
    ttl: int | None = None,
    poll_interval: int | None = 1000,
    method: str = "tools/call",
    params: Any = None,
    result: Any = None,
    meta: Any = None,
) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "session_id": session_id,
        "status": status,
        "status_message": status_message,
        "created_at": created_at,
        "last_updated_at": last_updated_at or created_at,
        "ttl": ttl,
        "poll_interval": poll_interval,
        "original_method": method,
        "original_params": _text(params if params is not None else {"name": "echo"}),
        "result": _text(result),
        "meta": _text(meta),
    }


class SqliteTaskWriter:
    backend = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)

    def create_tables(self) -> None:
        for statement in SQLITE_DDL:
            self.conn.execute(statement)

    def insert(self, row: dict[str, Any]) -> None:
        marks = ", ".join("?" for _ in COLUMNS)
        self.conn.execute(
            f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({marks})",
            [row[c] for c in COLUMNS],
        )

    def insert_text(self, row: dict[str, Any]) -> bool:
        """A row with values the layout does not allow (for corrupt-row tests)."""
        self.insert(row)
        return True

    def update_status(self, task_id: str, status: str, updated_at: str, result: Any = None) -> bool:
        """The server's status update; False when the task is gone or finished (the server
        refuses to leave a terminal status)."""
        cur = self.conn.execute(
            "UPDATE tasks SET status = ?, last_updated_at = ?, result = coalesce(?, result) "
            "WHERE task_id = ? AND status IN ('working', 'input_required')",
            (status, updated_at, _text(result), task_id),
        )
        return cur.rowcount == 1

    def get(self, task_id: str) -> dict[str, Any] | None:
        cur = self.conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM tasks WHERE task_id = ?", (task_id,)
        )
        row = cur.fetchone()
        return None if row is None else dict(zip(COLUMNS, row, strict=True))

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM tasks").fetchone()[0])

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def close(self) -> None:
        self.conn.close()


class PgTaskWriter:
    backend = "postgres"

    def __init__(self, url: str) -> None:
        import asyncpg

        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(asyncpg.connect(url))

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def create_tables(self) -> None:
        for statement in POSTGRES_DDL:
            self._run(self.conn.execute(statement))

    def insert(self, row: dict[str, Any]) -> None:
        marks = ", ".join(
            f"${i}::jsonb" if c in ("original_params", "result", "meta") else f"${i}"
            for i, c in enumerate(COLUMNS, 1)
        )
        self._run(
            self.conn.execute(
                f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({marks})",
                *[row[c] for c in COLUMNS],
            )
        )

    def insert_text(self, row: dict[str, Any]) -> bool:
        self.insert(row)
        return True

    def update_status(self, task_id: str, status: str, updated_at: str, result: Any = None) -> bool:
        """The server's status update: read the task, refuse to leave a terminal status,
        write where the version read still holds."""
        row = self._run(
            self.conn.fetchrow("SELECT status, version FROM tasks WHERE task_id = $1", task_id)
        )
        if row is None or row["status"] not in ("working", "input_required"):
            return False
        version = row["version"]
        status_text = self._run(
            self.conn.execute(
                "UPDATE tasks SET status = $1, last_updated_at = $2, "
                "result = coalesce($3::jsonb, result), version = version + 1 "
                "WHERE task_id = $4 AND version = $5",
                status,
                updated_at,
                _text(result),
                task_id,
                version,
            )
        )
        return str(status_text) == "UPDATE 1"

    def get(self, task_id: str) -> dict[str, Any] | None:
        cols = ", ".join(
            f"{c}::text" if c in ("original_params", "result", "meta") else c for c in COLUMNS
        )
        row = self._run(
            self.conn.fetchrow(f"SELECT {cols}, version FROM tasks WHERE task_id = $1", task_id)
        )
        if row is None:
            return None
        out = dict(zip([*COLUMNS, "version"], list(row), strict=True))
        return out

    def count(self) -> int:
        return int(self._run(self.conn.fetchval("SELECT count(*) FROM tasks")))

    def execute(self, sql: str) -> None:
        self._run(self.conn.execute(sql))

    def close(self) -> None:
        try:
            self._run(self.conn.close())
        finally:
            self.loop.close()


# -- ext-tasks (the 2026-07-28 lane) --------------------------------------------------------
EXT_SQLITE_DDL = [
    """CREATE TABLE IF NOT EXISTS ext_tasks (
    task_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    last_updated_at TEXT NOT NULL,
    state TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS idx_ext_tasks_sweep ON ext_tasks (status, last_updated_at)",
]
EXT_POSTGRES_DDL = [
    """CREATE TABLE IF NOT EXISTS ext_tasks (
    task_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    last_updated_at TIMESTAMPTZ NOT NULL,
    state JSONB NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS idx_ext_tasks_sweep ON ext_tasks (status, last_updated_at)",
]

_UPSERT = (
    "INSERT INTO ext_tasks (task_id, status, last_updated_at, state) VALUES ({}) "
    "ON CONFLICT (task_id) DO UPDATE SET status = excluded.status, "
    "last_updated_at = excluded.last_updated_at, state = excluded.state"
)


def ext_document(
    task_id: str,
    *,
    created_at: str,
    last_updated_at: str | None = None,
    status: str = "working",
    ttl_ms: float | None = None,
    poll_ms: float | None = 500.0,
    message: str | None = "executing tool",
    owner: str | None = None,
    input_requests: Any = None,
    result: Any = None,
    error: Any = None,
) -> dict[str, Any]:
    """A document in the server's field order (statusMessage and pollIntervalMs omitted when
    unset, ttlMs always present)."""
    fields: dict[str, Any] = {"taskId": task_id}
    if message is not None:
        fields["statusMessage"] = message
    fields["createdAt"] = created_at
    fields["lastUpdatedAt"] = last_updated_at or created_at
    fields["ttlMs"] = ttl_ms
    if poll_ms is not None:
        fields["pollIntervalMs"] = poll_ms
    return {
        "fields": fields,
        "status": status,
        "owner": owner,
        "input_requests": input_requests,
        "collected_responses": {},
        "request_state": None,
        "result": result,
        "error": error,
    }


class SqliteExtWriter(SqliteTaskWriter):
    def create_tables(self) -> None:
        for statement in EXT_SQLITE_DDL:
            self.conn.execute(statement)

    def put(self, doc: dict[str, Any]) -> None:
        """The server's write_state: an upsert of the columns and the document."""
        f = doc["fields"]
        self.conn.execute(
            _UPSERT.format("?, ?, ?, ?"),
            (
                f["taskId"],
                doc["status"],
                f["lastUpdatedAt"],
                json.dumps(doc, separators=(",", ":")),
            ),
        )

    def put_raw(self, task_id: str, status: str, updated: str, state: str) -> None:
        self.conn.execute(_UPSERT.format("?, ?, ?, ?"), (task_id, status, updated, state))

    def complete(self, task_id: str, now_text: str) -> bool:
        """The server's complete in one transaction: read, refuse a terminal task, write."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute(
                "SELECT state FROM ext_tasks WHERE task_id = ?", (task_id,)
            ).fetchone()
            if row is None:
                return False
            doc = json.loads(row[0])
            if doc["status"] not in ("working", "input_required"):
                return False
            doc["status"] = "completed"
            doc["result"] = {"content": [], "isError": False}
            doc["input_requests"] = None
            doc["fields"]["lastUpdatedAt"] = now_text
            self.put(doc)
            return True
        finally:
            self.conn.execute("COMMIT")

    def doc(self, task_id: str) -> tuple[str, str, dict[str, Any]] | None:
        row = self.conn.execute(
            "SELECT status, last_updated_at, state FROM ext_tasks WHERE task_id = ?", (task_id,)
        ).fetchone()
        return None if row is None else (row[0], row[1], json.loads(row[2]))

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM ext_tasks").fetchone()[0])


class PgExtWriter(PgTaskWriter):
    def create_tables(self) -> None:
        for statement in EXT_POSTGRES_DDL:
            self._run(self.conn.execute(statement))

    def put(self, doc: dict[str, Any]) -> None:
        f = doc["fields"]
        self.put_raw(f["taskId"], doc["status"], f["lastUpdatedAt"], json.dumps(doc))

    def put_raw(self, task_id: str, status: str, updated: str, state: str) -> None:
        self._run(
            self.conn.execute(
                _UPSERT.format("$1, $2, $3::text::timestamptz, $4::jsonb"),
                task_id,
                status,
                updated,
                state,
            )
        )

    def complete(self, task_id: str, now_text: str) -> bool:
        async def go() -> bool:
            async with self.conn.transaction():
                state = await self.conn.fetchval(
                    "SELECT state::text FROM ext_tasks WHERE task_id = $1 FOR UPDATE", task_id
                )
                if state is None:
                    return False
                doc = json.loads(state)
                if doc["status"] not in ("working", "input_required"):
                    return False
                doc["status"] = "completed"
                doc["result"] = {"content": [], "isError": False}
                doc["input_requests"] = None
                doc["fields"]["lastUpdatedAt"] = now_text
                await self.conn.execute(
                    "UPDATE ext_tasks SET status = $1, last_updated_at = $2::text::timestamptz, "
                    "state = $3::jsonb WHERE task_id = $4",
                    "completed",
                    now_text,
                    json.dumps(doc),
                    task_id,
                )
                return True

        return bool(self._run(go()))

    def doc(self, task_id: str) -> tuple[str, str, dict[str, Any]] | None:
        row = self._run(
            self.conn.fetchrow(
                "SELECT status, last_updated_at, state::text FROM ext_tasks WHERE task_id = $1",
                task_id,
            )
        )
        return None if row is None else (row[0], row[1], json.loads(row[2]))

    def count(self) -> int:
        return int(self._run(self.conn.fetchval("SELECT count(*) FROM ext_tasks")))
