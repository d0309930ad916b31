"""PostgreSQL-specific behaviour, against a real server (see tests/pg_fixtures.py)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from mcpstore_cli.util.timeutil import now_ms
from tests.conftest import StoreHandle
from tests.helpers import run_cli
from tests.pg_fixtures import PASSWORD, PgServer, with_database

EXPECTED_COLUMNS = {
    # (table, column): (data_type, max length, nullable, default)
    ("sessions", "session_id"): ("character varying", 36, "NO", None),
    ("sessions", "client_capabilities"): ("jsonb", None, "YES", None),
    ("sessions", "server_capabilities"): ("jsonb", None, "NO", None),
    ("sessions", "state"): ("jsonb", None, "NO", "'{}'::jsonb"),
    ("sessions", "created_at"): ("bigint", None, "NO", None),
    ("sessions", "last_activity"): ("bigint", None, "NO", None),
    ("sessions", "is_initialized"): ("boolean", None, "NO", "false"),
    ("sessions", "metadata"): ("jsonb", None, "NO", "'{}'::jsonb"),
    ("sessions", "version"): ("integer", None, "NO", "1"),
    ("events", "id"): ("bigint", None, "NO", "nextval('events_id_seq'::regclass)"),
    ("events", "session_id"): ("character varying", 36, "NO", None),
    ("events", "timestamp"): ("bigint", None, "NO", None),
    ("events", "event_type"): ("character varying", 100, "NO", None),
    ("events", "data"): ("jsonb", None, "NO", None),
    ("events", "retry"): ("integer", None, "YES", None),
}

EXPECTED_INDEXES = {
    "idx_sessions_last_activity": "public.sessions USING btree (last_activity)",
    "idx_sessions_created_at": "public.sessions USING btree (created_at)",
    "idx_events_session_id": "public.events USING btree (session_id)",
    "idx_events_session_timestamp": 'public.events USING btree (session_id, "timestamp")',
    "idx_events_session_id_id": "public.events USING btree (session_id, id)",
    "idx_events_timestamp": 'public.events USING btree ("timestamp")',
    "idx_sessions_active": (
        "public.sessions USING btree (last_activity) WHERE (is_initialized = true)"
    ),
    "sessions_pkey": "public.sessions USING btree (session_id)",
    "events_pkey": "public.events USING btree (id)",
}


def sql(pg_server: PgServer, store: StoreHandle, *statements: str) -> list[Any]:
    return pg_server.execute(*statements, database=store.name)


def layout(pg_server: PgServer, store: StoreHandle) -> dict[str, Any]:
    columns, indexes, fks, seq = sql(
        pg_server,
        store,
        "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, "
        "column_default FROM information_schema.columns WHERE table_schema = 'public'",
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
        "SELECT tc.table_name, kcu.column_name, ccu.table_name, ccu.column_name, rc.delete_rule "
        "FROM information_schema.table_constraints tc "
        "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name "
        "JOIN information_schema.constraint_column_usage ccu "
        "  ON ccu.constraint_name = tc.constraint_name "
        "JOIN information_schema.referential_constraints rc "
        "  ON rc.constraint_name = tc.constraint_name "
        "WHERE tc.constraint_type = 'FOREIGN KEY'",
        "SELECT data_type FROM information_schema.sequences WHERE sequence_name = 'events_id_seq'",
    )
    return {
        "columns": {(r[0], r[1]): (r[2], r[3], r[4], r[5]) for r in columns},
        "indexes": {r[0]: r[1].split(" ON ", 1)[1] for r in indexes},
        "index_defs": {r[0]: r[1] for r in indexes},
        "fks": [tuple(r) for r in fks],
        "sequence": [r[0] for r in seq],
    }


def test_setup_creates_exactly_the_layout(pg_server: PgServer, postgres_store: StoreHandle) -> None:
    result = postgres_store.run("setup", "--format", "json")
    assert result.exit_code == 0, result
    actions = {s["object"]: s["action"] for s in result.json()}
    assert actions["sessions"] == actions["events"] == "created"
    assert all(actions[name] == "created" for name in EXPECTED_INDEXES if name.startswith("idx"))
    got = layout(pg_server, postgres_store)
    assert got["columns"] == EXPECTED_COLUMNS
    assert got["indexes"] == EXPECTED_INDEXES
    assert got["fks"] == [("events", "session_id", "sessions", "session_id", "CASCADE")]
    assert got["sequence"] == ["bigint"]  # BIGSERIAL
    # The partial index is the server's exact one, and every index is valid.
    assert "WHERE (is_initialized = true)" in got["index_defs"]["idx_sessions_active"]
    invalid = sql(pg_server, postgres_store, "SELECT count(*) FROM pg_index WHERE NOT indisvalid")
    assert invalid[0][0][0] == 0


def test_setup_is_idempotent(pg_server: PgServer, postgres_store: StoreHandle) -> None:
    postgres_store.setup()
    before = layout(pg_server, postgres_store)
    again = postgres_store.run("setup", "--format", "json")
    assert again.exit_code == 0, again
    assert {s["action"] for s in again.json()} == {"exists"}
    assert "nothing to create" in again.stderr
    assert layout(pg_server, postgres_store) == before
    check = postgres_store.run("setup", "--check")
    assert check.exit_code == 0, check
    assert "matches the layout" in check.stderr


def test_dry_run_ddl_builds_a_store_that_passes_check(
    pg_server: PgServer, postgres_store: StoreHandle
) -> None:
    result = postgres_store.run("setup", "--dry-run", "--format", "json")
    assert result.exit_code == 0, result
    statements = result.json()
    assert (
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_sessions_active ON sessions(last_activity) "
        "WHERE is_initialized = TRUE" in statements
    )
    # Nothing was created by --dry-run.
    tables = sql(pg_server, postgres_store, "SELECT to_regclass('sessions')")
    assert tables[0][0][0] is None
    # Running the printed DDL by hand (as an operator would with psql) gives the exact layout.
    runnable = [s for s in statements if s not in ("BEGIN", "COMMIT")]
    sql(pg_server, postgres_store, *runnable)
    check = postgres_store.run("setup", "--check")
    assert check.exit_code == 0, check
    assert layout(pg_server, postgres_store)["indexes"] == EXPECTED_INDEXES


def test_dry_run_with_create_database_names_it(postgres_store: StoreHandle) -> None:
    result = postgres_store.run("setup", "--dry-run", "--create-database")
    assert result.exit_code == 0, result
    assert f'CREATE DATABASE "{postgres_store.name}";' in result.stdout


def test_check_names_each_drift(pg_server: PgServer, postgres_store: StoreHandle) -> None:
    postgres_store.setup()
    sql(
        pg_server,
        postgres_store,
        "DROP INDEX idx_events_timestamp",
        "ALTER TABLE events ALTER COLUMN retry TYPE BIGINT",
        "ALTER TABLE sessions ALTER COLUMN client_capabilities SET NOT NULL",
        "ALTER TABLE sessions DROP COLUMN version",
        "DROP INDEX idx_sessions_active",
        "CREATE INDEX idx_sessions_active ON sessions(last_activity)",
    )
    result = postgres_store.run("setup", "--check", "--format", "json")
    assert result.exit_code == 3, result
    findings = {(f["object"], f["problem"]) for f in result.json()}
    assert ("index idx_events_timestamp", "missing") in findings
    assert ("column events.retry", "type bigint, expected integer") in findings
    assert ("column sessions.client_capabilities", "NOT NULL, expected nullable") in findings
    assert ("column sessions.version", "missing") in findings
    assert (
        "index idx_sessions_active",
        "no WHERE clause, expected WHERE is_initialized = TRUE",
    ) in findings
    assert len(findings) == 5, findings
    assert "differs from the layout in 5 places" in result.stderr

    sql(pg_server, postgres_store, "DROP TABLE events")
    result = postgres_store.run("setup", "--check", "--format", "json")
    assert result.exit_code == 3, result
    objects = {f["object"]: f["problem"] for f in result.json()}
    assert objects["table events"] == "missing"
    assert not any(o.startswith("index idx_events") for o in objects)


def test_setup_refuses_to_mix_with_a_drifted_store(
    pg_server: PgServer, postgres_store: StoreHandle
) -> None:
    postgres_store.setup()
    sql(pg_server, postgres_store, "ALTER TABLE events ALTER COLUMN data TYPE TEXT")
    result = postgres_store.run("setup")
    assert result.exit_code == 3, result
    assert "column events.data" in result.stderr and "setup --check" in result.stderr


def test_setup_rebuilds_an_invalid_index(pg_server: PgServer, postgres_store: StoreHandle) -> None:
    postgres_store.setup()
    sql(
        pg_server,
        postgres_store,
        "UPDATE pg_index SET indisvalid = false "
        "WHERE indexrelid = 'idx_events_timestamp'::regclass",
    )
    check = postgres_store.run("setup", "--check", "--format", "json")
    assert check.exit_code == 3
    assert [f["object"] for f in check.json()] == ["index idx_events_timestamp"]
    fixed = postgres_store.run("setup", "--format", "json")
    assert fixed.exit_code == 0, fixed
    actions = {s["object"]: s["action"] for s in fixed.json()}
    assert actions["idx_events_timestamp"].startswith("rebuilt")
    assert postgres_store.run("setup", "--check").exit_code == 0


def test_create_database(pg_server: PgServer) -> None:
    name = f"t_new_{uuid.uuid4().hex[:8]}"
    url = pg_server.url(name)
    try:
        missing = run_cli(["setup", "--url", url])
        assert missing.exit_code == 3, missing
        assert "does not exist" in missing.stderr
        assert "--create-database" in missing.stderr
        created = run_cli(["setup", "--create-database", "--format", "json", "--url", url])
        assert created.exit_code == 0, created
        assert {"object": name, "action": "created", "kind": "database"} in created.json()
        again = run_cli(["setup", "--create-database", "--format", "json", "--url", url])
        assert again.exit_code == 0, again
        assert {"object": name, "action": "exists", "kind": "database"} in again.json()
        assert run_cli(["setup", "--check", "--url", url]).exit_code == 0
    finally:
        pg_server.drop_database(name)


def test_create_database_as_a_password_user(pg_server: PgServer) -> None:
    if pg_server.password_user is None:
        pytest.skip("the given server has no password-auth test user")
    name = f"t_pw_{uuid.uuid4().hex[:8]}"
    url = pg_server.url(name, user=pg_server.password_user, password=PASSWORD)
    try:
        created = run_cli(["setup", "--create-database", "--url", url])
        assert created.exit_code == 0, created
        assert PASSWORD not in created.stdout + created.stderr
        assert run_cli(["list", "--url", url]).exit_code == 0
    finally:
        pg_server.drop_database(name)


def test_live_demo_increments_version_like_the_server(
    pg_server: PgServer, postgres_store: StoreHandle
) -> None:
    assert postgres_store.run("demo", "--sessions", "20", "--seed", "3", "--quiet").exit_code == 0
    (before,) = sql(pg_server, postgres_store, "SELECT count(*), sum(version) FROM sessions")
    assert before[0]["sum"] == before[0]["count"]  # new rows start at version 1
    (events_before,) = sql(pg_server, postgres_store, "SELECT count(*) FROM events")
    live = postgres_store.run(
        "demo", "--sessions", "0", "--live", "--rate", "40", "--duration", "1s", "--quiet"
    )
    assert live.exit_code == 0, live
    (events_after,) = sql(pg_server, postgres_store, "SELECT count(*) FROM events")
    added = events_after[0][0] - events_before[0][0]
    assert added > 0
    (after,) = sql(pg_server, postgres_store, "SELECT count(*), sum(version) FROM sessions")
    # Every appended event touched its session once: version went up by one per event.
    assert after[0]["sum"] - after[0]["count"] == added
    listed = postgres_store.run("list", "--limit", "0", "--format", "jsonl").jsonl()
    assert sum(s["version"] - 1 for s in listed) == added


def test_demo_takes_event_ids_from_the_sequence(
    pg_server: PgServer, postgres_store: StoreHandle
) -> None:
    assert postgres_store.run("demo", "--sessions", "300", "-e", "7", "--quiet").exit_code == 0
    rows = sql(
        pg_server,
        postgres_store,
        "SELECT count(*) AS n, count(DISTINCT id) AS ids, max(id) AS top, "
        "(SELECT last_value FROM events_id_seq) AS seq FROM events",
    )[0][0]
    assert rows["n"] == rows["ids"] == 2100
    assert rows["seq"] >= rows["top"]
    # Within a session, ids increase with the timestamp, as the server's inserts make them.
    (bad,) = sql(
        pg_server,
        postgres_store,
        "SELECT count(*) FROM (SELECT timestamp, lag(timestamp) OVER w AS prev FROM events "
        "WINDOW w AS (PARTITION BY session_id ORDER BY id)) x WHERE prev > timestamp",
    )
    assert bad[0][0] == 0
    # A server insert after the demo does not collide with the demo's ids.
    writer = postgres_store.writer()
    sid = sql(pg_server, postgres_store, "SELECT session_id FROM sessions LIMIT 1")[0][0][0]
    new_id = writer.event(sid, timestamp=1, event_type="notifications/message", data={})
    assert new_id > rows["top"]


def test_server_rows_read_correctly(pg_server: PgServer, postgres_store: StoreHandle) -> None:
    postgres_store.setup()
    now = int(time.time() * 1000)
    sql(
        pg_server,
        postgres_store,
        # As the server writes them: JSONB, ms, version bumped by its own updates.
        "INSERT INTO sessions (session_id, client_capabilities, server_capabilities, state, "
        "created_at, last_activity, is_initialized, metadata, version) VALUES "
        f"('0199aa00bb11cc22dd33ee44ff556677', NULL, 'null', "
        f"""'{{"client_info": {{"name": "Zed", "version": "0.205.3"}}, "negotiated_version": """
        f""""2025-06-18", "terminated": true, "terminated_at": {now}, "note": "ünïcødé ✓"}}', """
        f'{now - 5000}, {now}, TRUE, \'{{"__meta__:ua": "x"}}\', 7), '
        f"('id-with.dots_and:colons~!', '{{\"roots\": {{}}}}', '{{\"tools\": {{}}}}', '{{}}', "
        f"{now - 9000}, {now - 8000}, FALSE, DEFAULT, DEFAULT)",
        "INSERT INTO events (session_id, timestamp, event_type, data, retry) VALUES "
        f"('0199aa00bb11cc22dd33ee44ff556677', {now - 100}, 'notifications/progress', "
        """'{"jsonrpc": "2.0", "params": {"progress": 1.5, "big": 12345678901234}}', 3000), """
        f"('0199aa00bb11cc22dd33ee44ff556677', {now - 50}, 'notifications/message', 'null', NULL)",
    )
    listed = postgres_store.run("list", "--format", "jsonl").jsonl()
    assert [s["session_id"] for s in listed] == [
        "0199aa00bb11cc22dd33ee44ff556677",
        "id-with.dots_and:colons~!",
    ]
    first, second = listed
    assert first["version"] == 7 and second["version"] == 1
    assert first["server_capabilities"] is None and first["client_capabilities"] is None
    assert first["terminated"] is True and first["terminated_at"] == now
    assert first["state"]["note"] == "ünïcødé ✓"
    assert first["metadata"] == {"__meta__:ua": "x"}
    assert first["client_info"] == {"name": "Zed", "version": "0.205.3"}
    assert first["event_count"] == 2
    assert second["client_capabilities"] == {"roots": {}}
    assert second["state"] == {} and second["metadata"] == {}
    shown = postgres_store.run("show", "0199aa00", "--format", "json").json()
    assert isinstance(shown, dict)
    events = shown["events"]
    assert [e["event_type"] for e in events] == ["notifications/progress", "notifications/message"]
    assert events[0]["data"]["params"] == {"progress": 1.5, "big": 12345678901234}
    assert events[0]["retry"] == 3000 and events[1]["data"] is None
    terminated = postgres_store.run("list", "--terminated", "--format", "jsonl").jsonl()
    assert [s["session_id"] for s in terminated] == ["0199aa00bb11cc22dd33ee44ff556677"]
    not_terminated = postgres_store.run("list", "--not-terminated", "--format", "jsonl")
    assert not_terminated.exit_code == 0, not_terminated
    assert [s["session_id"] for s in not_terminated.jsonl()] == ["id-with.dots_and:colons~!"]


def test_stats_reports_relation_sizes(pg_server: PgServer, postgres_store: StoreHandle) -> None:
    assert postgres_store.run("demo", "--sessions", "50", "--quiet").exit_code == 0
    stats = postgres_store.run("stats", "--format", "json").json()
    sizes = sql(
        pg_server,
        postgres_store,
        "SELECT pg_total_relation_size('sessions') AS s, pg_total_relation_size('events') AS e",
    )[0][0]
    assert stats["storage"] == {
        "sessions": sizes["s"],
        "events": sizes["e"],
        "total": sizes["s"] + sizes["e"],
    }
    assert stats["storage_bytes"] == sizes["s"] + sizes["e"]
    facts = stats["backend_facts"]
    assert facts["database"] == postgres_store.name
    assert facts["server_version"].split()[0][:2].isdigit()
    assert stats["sessions"]["total"] == 50


# -- errors ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a host that hangs)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(sock.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


def test_unreachable_port_fails_fast_with_one_sentence() -> None:
    port = _free_port()
    started = time.monotonic()
    result = run_cli(["list", "--url", f"postgresql://mcp:hunter2@127.0.0.1:{port}/mcp"])
    assert time.monotonic() - started < 5
    assert result.exit_code == 1, result
    assert f"Cannot reach PostgreSQL at 127.0.0.1:{port}: connection refused" in result.stderr
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_connect_timeout_bounds_a_hanging_server(silent_server: int) -> None:
    started = time.monotonic()
    result = run_cli(
        [
            "stats",
            "--connect-timeout",
            "1",
            "--url",
            f"postgresql://mcp:hunter2@127.0.0.1:{silent_server}/mcp",
        ]
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 1, result
    assert elapsed < 4, elapsed
    assert "did not answer within 1 s" in result.stderr
    assert "hunter2" not in result.stderr


def test_connect_timeout_from_the_url(silent_server: int) -> None:
    started = time.monotonic()
    result = run_cli(
        ["list", "--url", f"postgresql://127.0.0.1:{silent_server}/mcp?connect_timeout=1"]
    )
    assert result.exit_code == 1, result
    assert time.monotonic() - started < 4
    assert "did not answer within 1 s" in result.stderr


def test_wrong_password_is_never_printed(pg_server: PgServer, postgres_store: StoreHandle) -> None:
    if pg_server.password_user is None:
        pytest.skip("the given server has no password-auth test user")
    wrong = "Wr0ng-pa55word-XYZ"
    url = with_database(
        postgres_store.url, postgres_store.name, user=pg_server.password_user, password=wrong
    )
    for args in (["list"], ["stats", "--debug"], ["setup", "--check"], ["show", "abcd", "--debug"]):
        result = run_cli([*args, "--url", url])
        assert result.exit_code == 1, result
        assert wrong not in result.stdout + result.stderr
        assert "rejected the password of user mcp_pw" in result.stderr
    # The same through DATABASE_URL.
    result = run_cli(["list", "--backend", "postgres"], environ={"DATABASE_URL": url})
    assert result.exit_code == 1
    assert wrong not in result.stdout + result.stderr
    # And the right password works.
    good = with_database(
        postgres_store.url, postgres_store.name, user=pg_server.password_user, password=PASSWORD
    )
    postgres_store_good = run_cli(["setup", "--check", "--url", good])
    assert postgres_store_good.exit_code == 3  # reachable, but not set up yet
    assert PASSWORD not in postgres_store_good.stdout + postgres_store_good.stderr


def test_missing_database(pg_server: PgServer) -> None:
    url = pg_server.url(f"nope_{uuid.uuid4().hex[:6]}")
    for args in (["list"], ["stats"], ["show", "abc123"], ["setup", "--check"]):
        result = run_cli([*args, "--url", url])
        assert result.exit_code == 3, result
        assert "does not exist" in result.stderr
        assert "run mcpstore setup --create-database" in result.stderr


def test_missing_tables(postgres_store: StoreHandle) -> None:
    for args in (["list"], ["stats"], ["show", "abc123"]):
        result = postgres_store.run(*args)
        assert result.exit_code == 3, result
        assert "has no sessions table; run mcpstore setup" in result.stderr
    check = postgres_store.run("setup", "--check", "--format", "json")
    assert check.exit_code == 3
    assert {f["object"] for f in check.json()} == {"table sessions", "table events"}


def test_another_layout(pg_server: PgServer, postgres_store: StoreHandle) -> None:
    sql(
        pg_server,
        postgres_store,
        "CREATE TABLE sessions (id TEXT PRIMARY KEY, data JSONB)",
        "CREATE TABLE events (id BIGSERIAL PRIMARY KEY, payload TEXT)",
    )
    for args in (["list"], ["stats"]):
        result = postgres_store.run(*args)
        assert result.exit_code == 3, result
        assert "is in another layout" in result.stderr
        assert "no column" in result.stderr
    setup = postgres_store.run("setup")
    assert setup.exit_code == 3, setup
    assert "differ from the layout" in setup.stderr
    # setup changed nothing of the foreign tables.
    (cols,) = sql(
        pg_server,
        postgres_store,
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'sessions'",
    )
    assert cols[0][0] == 2


def test_postgres_scheme_and_database_url(pg_server: PgServer, postgres_store: StoreHandle) -> None:
    short = postgres_store.url.replace("postgresql://", "postgres://", 1)
    assert run_cli(["setup", "--quiet", "--url", short]).exit_code == 0
    assert run_cli(["demo", "--sessions", "5", "--quiet", "--url", short]).exit_code == 0
    via_env = run_cli(
        ["list", "--backend", "postgres", "--format", "jsonl"], environ={"DATABASE_URL": short}
    )
    assert via_env.exit_code == 0, via_env
    assert len(via_env.jsonl()) == 5


@pytest.mark.parametrize(
    "query",
    [
        "sslmode=disable",
        "sslmode=prefer",
        "sslmode=allow",
        "application_name=ops-check&connect_timeout=5&keepalives=1",
        "options=-c%20statement_timeout%3D5000",
    ],
)
def test_libpq_parameters_are_accepted(postgres_store: StoreHandle, query: str) -> None:
    postgres_store.setup()
    result = run_cli(["stats", "--format", "json", "--url", f"{postgres_store.url}?{query}"])
    assert result.exit_code == 0, result
    assert result.json()["sessions"]["total"] == 0


def test_sslmode_require_against_a_server_without_tls(postgres_store: StoreHandle) -> None:
    result = run_cli(["list", "--url", f"{postgres_store.url}?sslmode=require"])
    assert result.exit_code == 1, result
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("mcpstore: ") and result.stderr.count("\n") == 1


def test_bad_sslmode_is_a_usage_error(postgres_store: StoreHandle) -> None:
    result = run_cli(["list", "--url", f"{postgres_store.url}?sslmode=sometimes"])
    assert result.exit_code == 2, result
    assert "sslmode" in result.stderr and "Traceback" not in result.stderr


def test_ids_order_bytewise_whatever_the_collation(
    pg_server: PgServer, postgres_store: StoreHandle
) -> None:
    postgres_store.setup()
    writer = postgres_store.writer()
    ids = ["a-b", "aB", "abc_d1", "A", "ab", "a.b", "Z9", "a~", "abcXd2"]
    for sid in ids:
        writer.session(sid, created_at=1000, last_activity=5000)
    listed = postgres_store.run("list", "--format", "jsonl").jsonl()
    assert [s["session_id"] for s in listed] == sorted(ids, reverse=True)
    page = postgres_store.run("list", "--limit", "3", "--format", "jsonl")
    cursor = page.stderr.split("--cursor ")[1].split()[0]
    rest = postgres_store.run("list", "--cursor", cursor, "--limit", "0", "--format", "jsonl")
    assert [s["session_id"] for s in page.jsonl() + rest.jsonl()] == sorted(ids, reverse=True)
    # A prefix with LIKE wildcards in it is matched literally.
    shown = postgres_store.run("show", "abc_", "--format", "json")
    assert shown.exit_code == 0, shown
    assert shown.json()["session_id"] == "abc_d1"


def test_unix_socket_through_the_host_parameter(
    pg_server: PgServer, postgres_store: StoreHandle
) -> None:
    if pg_server.base is None:
        pytest.skip("the given server's socket directory is unknown")
    postgres_store.setup()
    url = (
        f"postgresql:///{postgres_store.name}?host={pg_server.base}&port={pg_server.port}"
        "&user=postgres"
    )
    result = run_cli(["stats", "--format", "json", "--url", url])
    assert result.exit_code == 0, result
    assert result.json()["backend_facts"]["database"] == postgres_store.name


def test_create_database_without_the_privilege(pg_server: PgServer) -> None:
    role = f"nocreate_{uuid.uuid4().hex[:6]}"
    pg_server.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    name = f"t_denied_{uuid.uuid4().hex[:6]}"
    try:
        url = pg_server.url(name, user=role)
        result = run_cli(["setup", "--create-database", "--url", url])
        assert result.exit_code == 1, result
        assert f"User {role} may not create database {name}" in result.stderr
        assert "Traceback" not in result.stderr
        exists = pg_server.execute(f"SELECT count(*) FROM pg_database WHERE datname = '{name}'")
        assert exists[0][0][0] == 0
    finally:
        pg_server.drop_database(name)
        pg_server.execute(f"DROP ROLE {role}")


def test_expire_counts_events_exactly_with_statistics_off(
    postgres_store: StoreHandle, pg_server: PgServer
) -> None:
    """expire counts cascaded events from the transaction's statistics counter; with
    track_counts off (the counter never moves) it counts them per session instead."""
    postgres_store.setup()
    pg_server.execute(f"ALTER DATABASE {postgres_store.name} SET track_counts = off")
    writer = postgres_store.writer()
    now = now_ms()
    try:
        for i in range(30):
            sid = f"off{i:03d}"
            last = now - (3_600_000 if i < 20 else 1000)
            writer.session(
                sid, created_at=last, last_activity=last, state={}, server_capabilities={}
            )
            for j in range(i % 4):
                writer.event(
                    sid, timestamp=last + j, event_type="notifications/message", data={"j": j}
                )
    finally:
        writer.close()
    expected = sum(i % 4 for i in range(20))
    result = postgres_store.run("expire", "--batch-size", "7", "--format", "json")
    assert result.exit_code == 0, result
    summary = result.json()
    assert (summary["sessions"], summary["events"]) == (20, expected)
