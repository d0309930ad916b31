"""What clear and teardown do that only one backend has: PostgreSQL's notify function and
dependent objects, SQLite files that hold other tables, DynamoDB streams, recreating tables
with their settings, and backup facts (moto's server, which has the backup API)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StoreHandle, unavailable
from tests.dynamodb_fixtures import DYNAMO_ENV, client, drop_tables, dynamodb_url, unique_table
from tests.helpers import run_cli
from tests.pg_fixtures import PgServer

UP = "\x1b[A"
DOWN = "\x1b[B"

NOTIFY_DDL = (
    "CREATE FUNCTION mcpstore_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN PERFORM pg_notify('mcpstore_events', NEW.session_id || ':' || NEW.id); "
    "RETURN NEW; END $$",
    "CREATE TRIGGER mcpstore_events_notify AFTER INSERT ON events FOR EACH ROW "
    "EXECUTE FUNCTION mcpstore_notify_event()",
)


def _fill(store: StoreHandle, sessions: int = 10, events: int = 4) -> None:
    store.setup()
    result = store.run(
        "demo", "--sessions", str(sessions), "--events-per-session", str(events), "--quiet"
    )
    assert result.exit_code == 0, result


def _preview(store: StoreHandle) -> dict[str, Any]:
    result = store.run("clear", "--dry-run", "--format", "json")
    assert result.exit_code == 0, result
    obj: dict[str, Any] = result.json()
    return obj


# -- PostgreSQL ------------------------------------------------------------------------------
def test_postgres_delete_drops_the_tables_and_the_notify_function_only(
    postgres_store: StoreHandle, pg_server: PgServer
) -> None:
    store = postgres_store
    _fill(store)
    pg_server.execute(*NOTIFY_DDL, "CREATE TABLE keep_me (id int)", database=store.name)
    installed = _preview(store)["installed"]
    assert "function mcpstore_notify_event()" in installed
    assert "trigger mcpstore_events_notify on events" in installed
    result = store.run("teardown", "--delete", "--yes")
    assert result.exit_code == 0, result
    assert "mcpstore_notify_event" in result.stderr
    rows = pg_server.execute(
        "SELECT count(*) FROM pg_proc WHERE proname = 'mcpstore_notify_event'",
        "SELECT count(*) FROM pg_trigger WHERE tgname = 'mcpstore_events_notify'",
        "SELECT to_regclass('sessions') IS NULL, to_regclass('events') IS NULL, "
        "to_regclass('keep_me') IS NOT NULL",
        database=store.name,
    )
    assert rows[0][0][0] == 0 and rows[1][0][0] == 0
    assert tuple(rows[2][0]) == (True, True, True)
    assert store.run("setup", "--check").exit_code == 3


def test_postgres_clear_truncates_and_keeps_the_sequence(
    postgres_store: StoreHandle, pg_server: PgServer
) -> None:
    store = postgres_store
    _fill(store)
    before = pg_server.execute("SELECT last_value FROM events_id_seq", database=store.name)
    assert store.run("clear", "--yes").exit_code == 0
    after = pg_server.execute(
        "SELECT last_value FROM events_id_seq", "SELECT count(*) FROM events", database=store.name
    )
    assert after[0][0][0] == before[0][0][0] == 40
    assert after[1][0][0] == 0


def test_postgres_big_tables_are_estimated_not_counted(
    postgres_store: StoreHandle, pg_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcpstore_cli.backends.postgres import teardown as sql_teardown

    store = postgres_store
    _fill(store, sessions=50, events=4)
    pg_server.execute("ANALYZE sessions", "ANALYZE events", database=store.name)
    monkeypatch.setattr(sql_teardown, "EXACT_COUNT_MAX_BYTES", 0)
    tables = _preview(store)["tables"]
    assert [t["rows_exact"] for t in tables] == [False, False]
    assert [t["rows"] for t in tables] == [50, 200]  # fresh statistics: the planner knows
    shown = store.run("clear", "--yes")
    assert shown.exit_code == 0, shown
    assert "table events: about 200 rows (estimate)" in shown.stderr
    assert "deleted about 50 sessions and about 200 events" in shown.stderr


def test_postgres_refuses_when_other_objects_depend_and_changes_nothing(
    postgres_store: StoreHandle, pg_server: PgServer
) -> None:
    store = postgres_store
    _fill(store)
    pg_server.execute(
        "CREATE TABLE audit (sid varchar(36) REFERENCES sessions(session_id))",
        "CREATE VIEW recent AS SELECT session_id FROM sessions",
        database=store.name,
    )
    preview = _preview(store)
    assert "view recent" in preview["facts"]["dependents"]
    assert any("foreign key" in d for d in preview["facts"]["dependents"])
    for args in (["clear", "--yes"], ["teardown", "--delete", "--yes"]):
        result = store.run(*args)
        assert result.exit_code == 1, result
        assert "nothing was changed" in result.stderr
    assert [t["rows"] for t in _preview(store)["tables"]] == [10, 40]


# -- SQLite ----------------------------------------------------------------------------------
def test_sqlite_file_with_other_tables_keeps_the_file(sqlite_store: StoreHandle) -> None:
    store = sqlite_store
    _fill(store)
    with sqlite3.connect(store.name) as conn:
        conn.execute("CREATE TABLE keep_me (id INTEGER)")
        conn.execute("INSERT INTO keep_me VALUES (1)")
    conn.close()
    preview = _preview(store)
    assert preview["facts"]["other_tables"] == ["keep_me"]
    result = store.run("teardown", "--delete", "--yes")
    assert result.exit_code == 0, result
    assert Path(store.name).exists()
    with sqlite3.connect(store.name) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert conn.execute("SELECT count(*) FROM keep_me").fetchone()[0] == 1
    conn.close()
    assert "sessions" not in names and "events" not in names and "keep_me" in names
    assert store.run("setup", "--check").exit_code == 3


def test_sqlite_delete_removes_the_companions_and_the_lock_file(
    sqlite_store: StoreHandle,
) -> None:
    store = sqlite_store
    _fill(store)
    assert store.run("expire", "--quiet").exit_code == 0
    path = Path(store.name)
    lock = Path(f"{path}.mcpstore-expire.lock")
    assert not lock.exists(), "expire removes its lock file when it ends"
    lock.write_bytes(b"")  # as an older mcpstore left it
    result = store.run("teardown", "--delete", "--yes", "--format", "json")
    assert result.exit_code == 0, result
    deleted = result.json()["steps"][0]["deleted"]
    assert str(path) in deleted and str(lock) in deleted
    assert list(path.parent.iterdir()) == []


# -- DynamoDB --------------------------------------------------------------------------------
def _describe(endpoint: str, table: str) -> dict[str, Any]:
    desc: dict[str, Any] = client(endpoint).describe_table(TableName=table)["Table"]
    return desc


def _settings(endpoint: str, table: str) -> dict[str, Any]:
    c = client(endpoint)
    desc = _describe(endpoint, table)
    ttl = c.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    return {
        "keys": desc["KeySchema"],
        "attributes": sorted(desc["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
        "billing": (desc.get("BillingModeSummary") or {}).get("BillingMode"),
        "gsi": [
            (g["IndexName"], g["KeySchema"], g["Projection"])
            for g in desc.get("GlobalSecondaryIndexes", [])
        ],
        "stream": desc.get("StreamSpecification"),
        "ttl": (ttl.get("TimeToLiveStatus"), ttl.get("AttributeName")),
    }


def test_dynamodb_disable_streams_alone(dynamodb_store: StoreHandle) -> None:
    store = dynamodb_store
    _fill(store)
    result = store.run("teardown", keys=f"{DOWN}{DOWN} \ry")
    assert result.exit_code == 0, result
    assert "disabled the streams of" in result.stderr
    preview = _preview(store)
    assert [s["enabled"] for s in preview["streams"]] == [False, False]
    assert [t["rows"] for t in preview["tables"]] == [10, 40]
    check = store.run("setup", "--check", "--format", "json")
    assert check.exit_code == 0, check
    # Nothing left to disable: the checklist says so instead of offering it.
    again = store.run("teardown", "--disable-streams", "--yes")
    assert again.exit_code == 0 and "no stream was enabled" in again.stderr, again


def test_dynamodb_recreate_keeps_every_setting_and_says_the_arn_changed(
    dynamodb_store: StoreHandle, dynamodb_local: Any
) -> None:
    store = dynamodb_store
    _fill(store)
    endpoint = dynamodb_local.endpoint
    tables = (store.name, f"{store.name}-events")
    before = {t: _settings(endpoint, t) for t in tables}
    arn_before = _describe(endpoint, tables[1])["LatestStreamArn"]
    refused = store.run("clear", "--recreate", keys=f"y{store.name}x\r")
    assert refused.exit_code == 4, refused
    result = store.run("clear", "--recreate", keys=f"y{store.name}\r")
    assert result.exit_code == 0, result
    assert "new ARN" in result.stderr
    assert {t: _settings(endpoint, t) for t in tables} == before
    arn_after = _describe(endpoint, tables[1])["LatestStreamArn"]
    assert arn_after != arn_before and arn_after in result.stderr
    assert [t["rows"] for t in _preview(store)["tables"]] == [0, 0]
    assert store.run("setup", "--check").exit_code == 0


def test_dynamodb_clear_in_segments_with_json_summary(dynamodb_store: StoreHandle) -> None:
    store = dynamodb_store
    _fill(store, sessions=60, events=10)
    result = store.run("clear", "--yes", "--segments", "3", "--format", "json")
    assert result.exit_code == 0, result
    obj = result.json()
    assert (obj["sessions"], obj["events"], obj["recreated"]) == (60, 600, False)
    assert [t["rows"] for t in _preview(store)["tables"]] == [0, 0]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's server: only for the control-plane facts DynamoDB Local lacks (backups,
    point-in-time recovery, deletion protection)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - moto[server] is a test dependency
        unavailable(f"moto's server is not installed: {exc}")
        return
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_store(moto_endpoint: str) -> Iterator[StoreHandle]:
    table = unique_table("teardown")
    yield StoreHandle(
        backend="dynamodb",
        url=dynamodb_url(moto_endpoint, table),
        writer_factory=lambda: None,  # type: ignore[arg-type,return-value]
        name=table,
        environ=dict(DYNAMO_ENV),
    )
    drop_tables(moto_endpoint, table)


def test_dynamodb_backup_and_pitr_facts_on_moto(
    moto_store: StoreHandle, moto_endpoint: str
) -> None:
    store = moto_store
    assert store.run("setup", "--pitr", "--quiet").exit_code == 0
    c = client(moto_endpoint)
    c.create_backup(TableName=store.name, BackupName="before-teardown")
    preview = _preview(store)
    assert preview["backups"]["status"] == "listed"
    assert preview["backups"]["count"] == 1
    assert preview["backups"]["latest"]["name"] == "before-teardown"
    pitr = [t["facts"]["point_in_time_recovery"] for t in preview["tables"]]
    assert pitr == ["enabled", "enabled"]
    shown = store.run("teardown", "--dry-run", tty=True)
    assert "on-demand backups: 1, latest before-teardown" in shown.stdout, shown
    result = run_cli(["teardown", "--delete", "--yes", "--url", store.url], environ=DYNAMO_ENV)
    assert result.exit_code == 0, result
    names = c.list_tables()["TableNames"]
    assert store.name not in names and f"{store.name}-events" not in names
    assert store.run("setup", "--check").exit_code == 3


def test_dynamodb_deletion_protection_refuses(moto_store: StoreHandle, moto_endpoint: str) -> None:
    store = moto_store
    assert store.run("setup", "--quiet").exit_code == 0
    c = client(moto_endpoint)
    c.update_table(TableName=f"{store.name}-events", DeletionProtectionEnabled=True)
    preview = _preview(store)
    assert any("deletion protection" in n for n in preview["notes"])
    result = store.run("teardown", "--delete", "--yes")
    assert result.exit_code == 1, result
    assert "deletion protection" in result.stderr and "nothing was changed" in result.stderr
    assert store.run("setup", "--check").exit_code == 0
    c.update_table(TableName=f"{store.name}-events", DeletionProtectionEnabled=False)


def test_postgres_clear_gives_up_on_a_held_lock_and_changes_nothing(
    postgres_store: StoreHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    import subprocess
    import time

    from mcpstore_cli.backends.postgres import teardown as sql_teardown

    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    store = postgres_store
    _fill(store)
    monkeypatch.setattr(sql_teardown, "LOCK_TIMEOUT_MS", 500)
    holder = subprocess.Popen(
        ["psql", "-X", "-q", store.url, "-c",
         "BEGIN; LOCK TABLE sessions IN ACCESS SHARE MODE; SELECT pg_sleep(4); COMMIT;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(1.0)  # let it take the lock
        started = time.monotonic()
        result = store.run("clear", "--yes")
        assert time.monotonic() - started < 3.5, "gave up after the lock timeout"
        assert result.exit_code == 1, result
        assert "Could not lock" in result.stderr and "nothing was changed" in result.stderr
    finally:
        holder.wait(timeout=10)
    assert [t["rows"] for t in _preview(store)["tables"]] == [10, 40]
