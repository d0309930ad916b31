"""turul's server state (layout ``server-state``) on SQLite and PostgreSQL: the server's DDL
and writes (INSERT OR REPLACE / upsert, as turul-mcp-server-state-storage runs them), then
mcpstore's setup --check, stats, clear and teardown."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Result, run_cli
from tests.pg_fixtures import PgServer

SQLITE_DDL = [
    """CREATE TABLE IF NOT EXISTS server_entity_state (
    entity_type TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    metadata    TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (entity_type, entity_id)
)""",
    """CREATE TABLE IF NOT EXISTS server_fingerprints (
    entity_type TEXT NOT NULL PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    updated_at  TEXT NOT NULL
)""",
]
POSTGRES_DDL = [
    """CREATE TABLE IF NOT EXISTS server_entity_state (
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT true,
    metadata JSONB,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (entity_type, entity_id)
)""",
    """CREATE TABLE IF NOT EXISTS server_fingerprints (
    entity_type TEXT NOT NULL PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
)""",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_server_entity_state_type_active "
    "ON server_entity_state (entity_type) WHERE active = true",
]

NOW = "2026-12-03T10:00:00.123456789+00:00"


class StateHandle:
    def __init__(self, backend: str, url: str, execute: Any) -> None:
        self.backend = backend
        self.url = url
        self.execute = execute  # (sql, *args) as the server runs it

    def run(self, *args: str) -> Result:
        return run_cli([*args, "--url", self.url, "--layout", "server-state"])

    def server_setup(self) -> None:
        for statement in SQLITE_DDL if self.backend == "sqlite" else POSTGRES_DDL:
            self.execute(statement)

    def entity(self, kind: str, name: str, active: bool, meta: Any = None) -> None:
        if self.backend == "sqlite":
            self.execute(
                "INSERT OR REPLACE INTO server_entity_state (entity_type, entity_id, active, "
                "metadata, updated_at) VALUES (?, ?, ?, ?, ?)",
                kind,
                name,
                int(active),
                None if meta is None else json.dumps(meta),
                NOW,
            )
        else:
            self.execute(
                "INSERT INTO server_entity_state (entity_type, entity_id, active, metadata, "
                "updated_at) VALUES ($1, $2, $3, $4::jsonb, $5::text::timestamptz) ON CONFLICT "
                "(entity_type, entity_id) DO UPDATE SET active = EXCLUDED.active, "
                "metadata = EXCLUDED.metadata, updated_at = EXCLUDED.updated_at",
                kind,
                name,
                active,
                None if meta is None else json.dumps(meta),
                NOW,
            )

    def fingerprint(self, kind: str, value: str) -> None:
        if self.backend == "sqlite":
            self.execute(
                "INSERT OR REPLACE INTO server_fingerprints (entity_type, fingerprint, "
                "updated_at) VALUES (?, ?, ?)",
                kind,
                value,
                NOW,
            )
        else:
            self.execute(
                "INSERT INTO server_fingerprints (entity_type, fingerprint, updated_at) VALUES "
                "($1, $2, $3::text::timestamptz) ON CONFLICT (entity_type) DO UPDATE SET "
                "fingerprint = EXCLUDED.fingerprint, updated_at = EXCLUDED.updated_at",
                kind,
                value,
                NOW,
            )


@pytest.fixture(params=["sqlite", "postgres"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateHandle]:
    if request.param == "sqlite":
        path = tmp_path / "server_state.db"

        def run_sqlite(sql: str, *args: Any) -> None:
            conn = sqlite3.connect(path)
            try:
                conn.execute(sql, args)
                conn.commit()
            finally:
                conn.close()

        yield StateHandle("sqlite", f"sqlite:///{path}", run_sqlite)
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = server.create_database()
    url = server.url(name)

    def run_pg(sql: str, *args: Any) -> None:
        import asyncpg

        async def go() -> None:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(sql, *args)
            finally:
                await conn.close()

        asyncio.run(go())

    yield StateHandle("postgres", url, run_pg)
    server.drop_database(name)


def _norm(text: str) -> str:
    return " ".join(text.replace("(", " (").split())


def test_generated_ddl_is_the_servers() -> None:
    from mcpstore_cli.backends.sql import ddl
    from mcpstore_cli.layouts.turul_server_state import schema

    for dialect, expected in (("sqlite", SQLITE_DDL), ("postgresql", POSTGRES_DDL)):
        made = ddl.create_statements(schema.TABLES, schema.indexes(), dialect)
        assert [_norm(s) for s in made] == [_norm(s) for s in expected]


def test_the_servers_tables_pass_check_and_stats_count(state: StateHandle) -> None:
    state.server_setup()
    state.entity("tools", "add", True, {"version": "1.0"})
    state.entity("tools", "multiply", True)
    state.entity("tools", "old", False)
    state.entity("resources", "file", True)
    state.entity("tools", "multiply", False)  # a later write replaces the row
    state.fingerprint("tools", "abc123")
    check = state.run("setup", "--check")
    assert check.exit_code == 0, check
    again = state.run("setup", "-f", "jsonl")
    assert again.exit_code == 0 and all(s["action"] == "exists" for s in again.jsonl()), again
    s = state.run("stats", "-f", "json")
    assert s.exit_code == 0, s
    figures = s.json()
    assert (figures["entities"], figures["active"]) == (4, 2)
    tools = figures["entity_types"]["tools"]
    assert (tools["entities"], tools["active"], tools["inactive"]) == (3, 1, 2)
    assert tools["fingerprint"] == "abc123"
    assert figures["entity_types"]["resources"]["active"] == 1


def test_drift_is_named(state: StateHandle) -> None:
    state.server_setup()
    state.execute("DROP TABLE server_fingerprints")
    r = state.run("setup", "--check", "-f", "jsonl")
    assert r.exit_code == 3, r
    assert any(f["object"] == "table server_fingerprints" for f in r.jsonl()), r


def test_setup_demo_clear_teardown(state: StateHandle) -> None:
    made = state.run("setup")
    assert made.exit_code == 0, made
    demo = state.run("demo", "--seed", "3")
    assert demo.exit_code == 0 and "entities" in demo.stderr, demo
    assert state.run("stats", "-f", "json").json()["entities"] > 0
    cleared = state.run("clear", "--yes")
    assert cleared.exit_code == 0 and "entities" in cleared.stderr, cleared
    assert state.run("stats", "-f", "json").json()["entities"] == 0
    refused = state.run("list")
    assert refused.exit_code == 2 and "server state" in refused.stderr, refused
    gone = state.run("teardown", "--delete", "--yes")
    assert gone.exit_code == 0, gone
    assert state.run("setup", "--check").exit_code == 3
