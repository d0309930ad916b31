"""SQLite specifics: the exact layout, drift detection, foreign keys, files that are not stores."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from mcpstore_cli.backends.sqlite.store import SqliteStore
from mcpstore_cli.store.urls import parse_store_url
from mcpstore_cli.util.timeutil import now_ms
from tests.conftest import StoreHandle
from tests.helpers import run_cli

# The server's own DDL (turul SqliteSessionStorage), written out here independently.
SERVER_DDL = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    client_capabilities TEXT,
    server_capabilities TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    last_activity INTEGER NOT NULL,
    is_initialized BOOLEAN NOT NULL DEFAULT FALSE,
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    data TEXT NOT NULL,
    retry INTEGER,
    FOREIGN KEY (session_id) REFERENCES sessions(session_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_sessions_last_activity ON sessions(last_activity);
CREATE INDEX IF NOT EXISTS idx_events_session_id ON events(session_id);
CREATE INDEX IF NOT EXISTS idx_events_session_id_id ON events(session_id, id);
"""


def _schema(path: Path) -> dict[str, object]:
    conn = sqlite3.connect(path)
    try:
        out: dict[str, object] = {}
        for table in ("sessions", "events"):
            out[table] = conn.execute(f"PRAGMA table_info({table})").fetchall()
            out[f"{table}_fk"] = conn.execute(f"PRAGMA foreign_key_list({table})").fetchall()
        out["indexes"] = sorted(
            (name, tbl, tuple(r[2] for r in conn.execute(f"PRAGMA index_info({name})")))
            for name, tbl in conn.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"
            )
        )
        out["autoincrement"] = (
            "AUTOINCREMENT"
            in conn.execute("SELECT sql FROM sqlite_master WHERE name='events'").fetchone()[0]
        )
        return out
    finally:
        conn.close()


def test_setup_creates_exactly_the_servers_layout(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.db", tmp_path / "theirs.db"
    assert run_cli(["setup", "-q", "--url", f"sqlite:///{ours}"]).exit_code == 0
    conn = sqlite3.connect(theirs)
    conn.executescript(SERVER_DDL)
    conn.close()
    assert _schema(ours) == _schema(theirs)
    # And the server's own DDL runs unchanged on a store mcpstore made (IF NOT EXISTS).
    conn = sqlite3.connect(ours)
    conn.executescript(SERVER_DDL)
    conn.close()
    check = run_cli(["setup", "--check", "--url", f"sqlite:///{theirs}"])
    assert check.exit_code == 0, check


def test_dry_run_prints_ddl_that_builds_the_layout(tmp_path: Path) -> None:
    result = run_cli(["setup", "--dry-run", "--url", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 0
    assert not (tmp_path / "x.db").exists()
    assert "AUTOINCREMENT" in result.stdout and "ON DELETE CASCADE" in result.stdout
    built = tmp_path / "built.db"
    conn = sqlite3.connect(built)
    conn.executescript(result.stdout)
    conn.close()
    check = run_cli(["setup", "--check", "--url", f"sqlite:///{built}"])
    assert check.exit_code == 0, check


def test_check_names_every_difference(tmp_path: Path) -> None:
    path = tmp_path / "drift.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE sessions (
            session_id TEXT PRIMARY KEY,
            client_capabilities TEXT,
            server_capabilities TEXT,
            state TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            last_activity INTEGER NOT NULL,
            is_initialized BOOLEAN NOT NULL DEFAULT FALSE,
            owner TEXT NOT NULL,
            note TEXT
        );
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions(session_id),
            timestamp INTEGER NOT NULL,
            event_type TEXT NOT NULL,
            data TEXT NOT NULL,
            retry INTEGER
        );
        CREATE INDEX idx_events_session_id ON events(timestamp);
        """
    )
    conn.close()
    result = run_cli(["setup", "--check", "--format", "json", "--url", f"sqlite:///{path}"])
    assert result.exit_code == 3, result
    found = {(f["object"], f["severity"]): f["problem"] for f in result.json()}
    assert found[("column sessions.metadata", "error")] == "missing"
    assert "expected INTEGER" in found[("column sessions.created_at", "error")]
    assert "NOT NULL" in found[("column sessions.server_capabilities", "error")]
    assert "server inserts will fail" in found[("column sessions.owner", "error")]
    assert found[("column sessions.note", "note")].startswith("extra")
    assert "AUTOINCREMENT" in found[("column events.id", "error")]
    assert "CASCADE" in found[("foreign key events.session_id", "error")]
    assert "expected (session_id)" in found[("index idx_events_session_id", "error")]
    assert found[("index idx_sessions_last_activity", "error")] == "missing"
    assert "differs from the layout in" in result.stderr
    # setup refuses to paper over drift, and reading commands name the other layout.
    assert run_cli(["setup", "--url", f"sqlite:///{path}"]).exit_code == 3
    listed = run_cli(["list", "--url", f"sqlite:///{path}"])
    assert listed.exit_code == 3 and "another layout" in listed.stderr


def test_missing_table_is_named(tmp_path: Path) -> None:
    path = tmp_path / "half.db"
    conn = sqlite3.connect(path)
    conn.executescript(SERVER_DDL.split("CREATE TABLE IF NOT EXISTS events")[0])
    conn.close()
    listed = run_cli(["list", "--url", f"sqlite:///{path}"])
    assert listed.exit_code == 3 and "no events table" in listed.stderr
    check = run_cli(["setup", "--check", "--format", "json", "--url", f"sqlite:///{path}"])
    assert check.exit_code == 3
    assert {"object": "table events", "problem": "missing", "severity": "error"} in check.json()
    assert run_cli(["setup", "-q", "--url", f"sqlite:///{path}"]).exit_code == 0
    assert run_cli(["setup", "--check", "--url", f"sqlite:///{path}"]).exit_code == 0


def test_paths_that_are_not_stores(tmp_path: Path) -> None:
    missing = run_cli(["list", "--url", f"sqlite:///{tmp_path / 'nope.db'}"])
    assert missing.exit_code == 3 and "No SQLite store" in missing.stderr
    assert not (tmp_path / "nope.db").exists()
    directory = run_cli(["stats", "--url", f"sqlite:///{tmp_path}"])
    assert directory.exit_code == 2 and "is a directory" in directory.stderr
    no_parent = run_cli(["setup", "--url", f"sqlite:///{tmp_path / 'no' / 'such' / 'x.db'}"])
    assert no_parent.exit_code == 2 and "does not exist" in no_parent.stderr
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x00garbage" * 512)
    for args in (["list"], ["setup"], ["setup", "--check"], ["show", "abcd"]):
        result = run_cli([*args, "--url", f"sqlite:///{junk}"])
        assert result.exit_code == 1, result
        assert "is not a SQLite database" in result.stderr
        assert result.stderr.count("\n") == 1


def test_read_only_file_is_still_readable(sqlite_store: StoreHandle) -> None:
    sqlite_store.setup()
    assert sqlite_store.run("demo", "-q", "-s", "3").exit_code == 0
    path = Path(sqlite_store.name)
    path.chmod(0o444)
    try:
        assert len(sqlite_store.run("list").jsonl()) == 3
    finally:
        path.chmod(0o644)


def test_every_connection_has_foreign_keys_on(sqlite_store: StoreHandle) -> None:
    sqlite_store.setup()
    assert sqlite_store.run("demo", "-q", "-s", "3", "-e", "4").exit_code == 0
    store = SqliteStore(parse_store_url(sqlite_store.url))

    async def probe() -> tuple[int, int, int]:
        async with store, store.connect(write=True) as conn:
            fk = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
            sid = (await conn.exec_driver_sql("SELECT session_id FROM events LIMIT 1")).scalar()
            await conn.exec_driver_sql("DELETE FROM sessions WHERE session_id = ?", (sid,))
            left = (
                await conn.exec_driver_sql(
                    "SELECT count(*) FROM events WHERE session_id = ?", (sid,)
                )
            ).scalar()
            total = (await conn.exec_driver_sql("SELECT count(*) FROM events")).scalar()
        return int(fk), int(left), int(total)

    fk, left, total = asyncio.run(probe())
    assert fk == 1
    assert left == 0, "deleting a session took its events with it"
    assert total < 12


def test_wal_and_a_concurrent_server_writer(sqlite_store: StoreHandle) -> None:
    sqlite_store.setup()
    conn = sqlite3.connect(sqlite_store.name)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    now = now_ms()
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO sessions (session_id, server_capabilities, created_at, last_activity) "
        "VALUES ('w', '{}', ?, ?)",
        (now, now),
    )
    # A reader is not blocked by an open write transaction.
    assert sqlite_store.run("list").exit_code == 0
    conn.execute("COMMIT")
    conn.close()
    assert [r["session_id"] for r in sqlite_store.run("list").jsonl()] == ["w"]


@pytest.mark.parametrize("raw", ["null", ""])
def test_server_capabilities_null_forms(sqlite_store: StoreHandle, raw: str) -> None:
    sqlite_store.setup()
    now = now_ms()
    conn = sqlite3.connect(sqlite_store.name)
    conn.execute(
        "INSERT INTO sessions VALUES ('s1', NULL, ?, '{}', ?, ?, 0, '{}')", (raw, now, now)
    )
    conn.commit()
    conn.close()
    rows = sqlite_store.run("list").jsonl()
    assert rows[0]["server_capabilities"] is None and rows[0]["client_capabilities"] is None
