"""The PostgreSQL bulk load into empty tables (``demo`` on an empty store): the same rows as
the ordinary path, exactly the same layout afterwards, and nothing changed when it fails."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from mcpstore_cli.backends.postgres import bulk as postgres_bulk
from mcpstore_cli.errors import McpStoreError
from mcpstore_cli.layouts.turul_sessions.demo import DemoBatches, generate
from mcpstore_cli.model.demo import DemoPlan
from mcpstore_cli.model.records import Event, Session
from mcpstore_cli.store import open_store
from mcpstore_cli.store.urls import parse_store_url
from mcpstore_cli.util.jsoncodec import dumps
from tests.conftest import StoreHandle
from tests.helpers import run_cli
from tests.pg_fixtures import PgServer, _execute, with_database

NOW = 1_800_000_000_000
EXPECTED_INDEXES = {
    "idx_sessions_last_activity": "CREATE INDEX idx_sessions_last_activity ON public.sessions "
    "USING btree (last_activity)",
    "idx_sessions_created_at": "CREATE INDEX idx_sessions_created_at ON public.sessions "
    "USING btree (created_at)",
    "idx_sessions_active": "CREATE INDEX idx_sessions_active ON public.sessions "
    "USING btree (last_activity) WHERE (is_initialized = true)",
    "idx_events_session_id": "CREATE INDEX idx_events_session_id ON public.events "
    "USING btree (session_id)",
    "idx_events_session_timestamp": "CREATE INDEX idx_events_session_timestamp ON "
    'public.events USING btree (session_id, "timestamp")',
    "idx_events_session_id_id": "CREATE INDEX idx_events_session_id_id ON public.events "
    "USING btree (session_id, id)",
    "idx_events_timestamp": "CREATE INDEX idx_events_timestamp ON public.events "
    'USING btree ("timestamp")',
    "sessions_pkey": "CREATE UNIQUE INDEX sessions_pkey ON public.sessions "
    "USING btree (session_id)",
    "events_pkey": "CREATE UNIQUE INDEX events_pkey ON public.events USING btree (id)",
}


def snapshot(pg_server: PgServer, db: str) -> dict[str, Any]:
    """Everything of the layout a load could disturb, names and definitions."""
    indexes, constraints, triggers, files = pg_server.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated "
        "FROM pg_constraint WHERE conrelid IN ('sessions'::regclass, 'events'::regclass)",
        # Internal (foreign-key) triggers are named after OIDs: their kind, not their name.
        "SELECT tgrelid::regclass::text, CASE WHEN tgisinternal THEN tgfoid::regproc::text "
        "ELSE tgname END, tgenabled::text FROM pg_trigger "
        "WHERE tgrelid IN ('sessions'::regclass, 'events'::regclass)",
        "SELECT i.indisvalid, i.indisready FROM pg_index i "
        "WHERE i.indrelid IN ('sessions'::regclass, 'events'::regclass)",
        database=db,
    )
    return {
        "indexes": {r[0]: r[1] for r in indexes},
        "constraints": sorted(tuple(r) for r in constraints),
        "triggers": sorted(tuple(r) for r in triggers),
        "valid": all(r[0] and r[1] for r in files),
    }


def filenodes(pg_server: PgServer, db: str) -> tuple[int, int]:
    row = pg_server.execute(
        "SELECT pg_relation_filenode('sessions'), pg_relation_filenode('events')", database=db
    )[0][0]
    return row[0], row[1]


def counts(pg_server: PgServer, db: str) -> tuple[int, int]:
    row = pg_server.execute(
        "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM events)", database=db
    )[0][0]
    return row[0], row[1]


def generated(plan: DemoPlan) -> tuple[list[Session], list[Event]]:
    sessions: list[Session] = []
    events: list[Event] = []
    for batch_sessions, batch_events in generate(plan, NOW):
        sessions += batch_sessions
        events += batch_events
    return sessions, events


def load_demo(url: str, plan: DemoPlan) -> tuple[int, int]:
    async def work() -> tuple[int, int]:
        store: Any = open_store(parse_store_url(url))
        async with store:
            await store.ensure_readable()
            return await store.write_demo(DemoBatches(plan, NOW))

    return asyncio.run(work())


def assert_stored(pg_server: PgServer, db: str, plan: DemoPlan) -> None:
    """The store holds exactly the generated rows, each session's ids in time order."""
    sessions, events = generated(plan)
    stored_sessions, stored_events = pg_server.execute(
        "SELECT session_id, client_capabilities::text, server_capabilities::text, state::text, "
        "created_at, last_activity, is_initialized, metadata::text, version FROM sessions",
        "SELECT session_id, timestamp, event_type, data::text, retry FROM events "
        "ORDER BY session_id, id",
        database=db,
    )
    by_id = {r[0]: r for r in stored_sessions}
    assert len(by_id) == len(sessions)
    for s in sessions:
        row = by_id[s.session_id]
        caps = None if row[1] is None else json.loads(row[1])
        assert caps == s.client_capabilities
        assert json.loads(row[2]) == s.server_capabilities
        assert json.loads(row[3]) == s.state
        assert (row[4], row[5], row[6]) == (s.created_at, s.last_activity, s.is_initialized)
        assert json.loads(row[7]) == s.metadata
        assert row[8] == 1
    expected = sorted(
        ((e.session_id, i, e) for i, e in enumerate(events)), key=lambda t: (t[0], t[1])
    )
    assert len(stored_events) == len(expected)
    for row, (_, _, e) in zip(stored_events, expected, strict=True):
        assert (row[0], row[1], row[2], row[4]) == (
            e.session_id,
            e.timestamp,
            e.event_type,
            e.retry,
        )
        assert json.loads(row[3]) == e.data


@pytest.fixture
def empty_store(pg_server: PgServer, postgres_store: StoreHandle) -> Iterator[StoreHandle]:
    postgres_store.setup()
    yield postgres_store


def test_bulk_load_stores_the_generated_rows_in_the_exact_layout(
    pg_server: PgServer, empty_store: StoreHandle
) -> None:
    db = empty_store.name
    before = snapshot(pg_server, db)
    assert before["indexes"] == EXPECTED_INDEXES
    nodes = filenodes(pg_server, db)
    plan = DemoPlan(sessions=3000, events_per_session=6, seed=5, batch_rows=4000)
    assert load_demo(empty_store.url, plan) == (3000, 18000)
    assert filenodes(pg_server, db) != nodes  # the empty-table path ran (TRUNCATE)
    assert snapshot(pg_server, db) == before
    assert_stored(pg_server, db, plan)
    check = empty_store.run("setup", "--check")
    assert check.exit_code == 0, check
    # The sequence moved on: a server insert after the load gets a fresh id.
    top, seq = pg_server.execute(
        "SELECT max(id), (SELECT last_value FROM events_id_seq) FROM events", database=db
    )[0][0]
    assert seq >= top
    # A second demo appends through the ordinary path (the tables are no longer empty).
    nodes = filenodes(pg_server, db)
    more = DemoPlan(sessions=200, events_per_session=3, seed=99)
    assert load_demo(empty_store.url, more) == (200, 600)
    assert filenodes(pg_server, db) == nodes
    assert counts(pg_server, db) == (3200, 18600)
    assert snapshot(pg_server, db) == before


def test_the_command_uses_it_and_ids_follow_time(
    pg_server: PgServer, empty_store: StoreHandle
) -> None:
    db = empty_store.name
    nodes = filenodes(pg_server, db)
    result = empty_store.run("demo", "--sessions", "400", "-e", "5", "--seed", "2")
    assert result.exit_code == 0, result
    assert "wrote 400 sessions and 2,000 events" in result.stderr
    assert filenodes(pg_server, db) != nodes
    bad = pg_server.execute(
        "SELECT count(*) FROM (SELECT timestamp, lag(timestamp) OVER w AS prev FROM events "
        "WINDOW w AS (PARTITION BY session_id ORDER BY id)) x WHERE prev > timestamp",
        database=db,
    )
    assert bad[0][0][0] == 0
    assert empty_store.run("setup", "--check").exit_code == 0


def test_a_store_the_command_creates_is_loaded_the_same_way(
    pg_server: PgServer, postgres_store: StoreHandle
) -> None:
    result = postgres_store.run("demo", "--sessions", "50", "-e", "2", "--quiet")
    assert result.exit_code == 0, result
    assert counts(pg_server, postgres_store.name) == (50, 100)
    assert snapshot(pg_server, postgres_store.name)["indexes"] == EXPECTED_INDEXES
    assert postgres_store.run("setup", "--check").exit_code == 0


def test_an_owner_without_superuser_rights_drops_and_adds_the_foreign_key_and_triggers(
    pg_server: PgServer,
) -> None:
    if pg_server.password_user is None:
        pytest.skip("needs the throwaway server's password user")
    from tests.pg_fixtures import PASSWORD

    db = f"t_{uuid.uuid4().hex[:12]}"
    pg_server.execute(f'CREATE DATABASE "{db}" OWNER {pg_server.password_user}')
    try:
        url = with_database(
            pg_server.admin_url, db, user=pg_server.password_user, password=PASSWORD
        )
        assert run_cli(["setup", "--quiet", "--url", url]).exit_code == 0
        # A per-row trigger as ``setup --notify`` installs it (the shared contract), owned by
        # the same user.
        asyncio.run(
            _execute(
                url,
                "CREATE FUNCTION mcpstore_notify_event() RETURNS trigger LANGUAGE plpgsql AS "
                "$$BEGIN PERFORM pg_notify('mcpstore_events', NEW.session_id); RETURN NEW; END$$",
                "CREATE TRIGGER mcpstore_events_notify AFTER INSERT ON events "
                "FOR EACH ROW EXECUTE FUNCTION mcpstore_notify_event()",
            )
        )
        before = snapshot(pg_server, db)
        assert ("events", "mcpstore_events_notify", "O") in before["triggers"]
        nodes = filenodes(pg_server, db)
        plan = DemoPlan(sessions=800, events_per_session=4, seed=3, batch_rows=1000)
        loaded, heard = asyncio.run(_load_listening(url, plan))
        assert loaded == (800, 3200)
        # The trigger was off for the load (no NOTIFY per demo row) and works again after it:
        # the one event a server appends afterwards is heard.
        assert heard == ["after"]
        assert filenodes(pg_server, db) != nodes
        # The foreign key is back (validated) and the notify trigger enabled again.
        assert snapshot(pg_server, db) == before
        pg_server.execute("DELETE FROM sessions WHERE session_id = 'after'", database=db)
        assert_stored(pg_server, db, plan)
        assert run_cli(["setup", "--check", "--url", url]).exit_code == 0
    finally:
        pg_server.drop_database(db)


async def _load_listening(url: str, plan: DemoPlan) -> tuple[tuple[int, int], list[str]]:
    heard: list[str] = []
    listener = await asyncpg.connect(url)
    try:
        await listener.add_listener("mcpstore_events", lambda *args: heard.append(args[3]))
        store: Any = open_store(parse_store_url(url))
        async with store:
            loaded = await store.write_demo(DemoBatches(plan, NOW))
        writer = await asyncpg.connect(url)
        try:
            await writer.execute(
                "INSERT INTO sessions (session_id, server_capabilities, created_at, "
                "last_activity) VALUES ('after', '{}', 1, 1)",
            )
            await writer.execute(
                "INSERT INTO events (session_id, timestamp, event_type, data) "
                "VALUES ('after', 1, 'x', '{}')"
            )
        finally:
            await writer.close()
        for _ in range(100):
            if heard:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
    finally:
        await listener.close()
    return loaded, heard


def test_a_user_who_may_only_write_rows_takes_the_ordinary_path(
    pg_server: PgServer, empty_store: StoreHandle
) -> None:
    db = empty_store.name
    role = f"writer_{uuid.uuid4().hex[:8]}"
    pg_server.execute(
        f"CREATE ROLE {role} LOGIN",
        f"GRANT SELECT, INSERT ON sessions, events TO {role}",
        f"GRANT USAGE ON SEQUENCE events_id_seq TO {role}",
        database=db,
    )
    try:
        before = snapshot(pg_server, db)
        nodes = filenodes(pg_server, db)
        plan = DemoPlan(sessions=600, events_per_session=3, seed=4, batch_rows=500)
        assert load_demo(with_database(empty_store.url, db, user=role), plan) == (600, 1800)
        assert filenodes(pg_server, db) == nodes  # no TRUNCATE: the ordinary COPY path
        assert snapshot(pg_server, db) == before
        assert_stored(pg_server, db, plan)
    finally:
        pg_server.execute(f"DROP OWNED BY {role}", f"DROP ROLE {role}", database=db)


async def _fail_after_one_chunk(url: str, failure: str) -> None:
    sessions, events = generated(DemoPlan(sessions=200, events_per_session=3, seed=6))

    async def chunks() -> AsyncIterator[postgres_bulk.CopyChunk]:
        yield postgres_bulk.copy_chunk(sessions[:100], [e for e in events if e.session_id in ids])
        if failure == "raise":
            raise RuntimeError("the source broke")
        bad = postgres_bulk.copy_chunk(sessions[100:], [])
        bad.sessions = bad.sessions.replace(b'"client_info"', b'"client_info', 1)  # bad JSON
        yield bad

    ids = {s.session_id for s in sessions[:100]}
    conn = await asyncpg.connect(url)
    try:
        await postgres_bulk.load_into_empty(conn, chunks())
    finally:
        await conn.close()


@pytest.mark.parametrize("failure", ["raise", "bad row"])
def test_a_failure_mid_load_changes_nothing(
    pg_server: PgServer, empty_store: StoreHandle, failure: str
) -> None:
    db = empty_store.name
    before = snapshot(pg_server, db)
    with pytest.raises((RuntimeError, asyncpg.PostgresError)):
        asyncio.run(_fail_after_one_chunk(empty_store.url, failure))
    assert counts(pg_server, db) == (0, 0)
    assert snapshot(pg_server, db) == before
    assert empty_store.run("setup", "--check").exit_code == 0
    # And the store still takes the fast path afterwards.
    assert load_demo(empty_store.url, DemoPlan(sessions=50, events_per_session=2, seed=1)) == (
        50,
        100,
    )


def test_a_failing_generator_changes_nothing(pg_server: PgServer, empty_store: StoreHandle) -> None:
    db = empty_store.name
    before = snapshot(pg_server, db)

    async def work() -> None:
        store: Any = open_store(parse_store_url(empty_store.url))
        async with store:
            # A recipe the child process cannot follow: it fails before its first chunk.
            await store.write_demo(DemoBatches(DemoPlan(sessions=10), "not a time"))  # type: ignore[arg-type]

    with pytest.raises(McpStoreError, match="demo row generator"):
        asyncio.run(work())
    assert counts(pg_server, db) == (0, 0)
    assert snapshot(pg_server, db) == before


@pytest.mark.parametrize("when", ["COPY", "CREATE"])
def test_a_connection_killed_mid_load_changes_nothing(
    pg_server: PgServer, empty_store: StoreHandle, when: str
) -> None:
    db = empty_store.name
    before = snapshot(pg_server, db)
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mcpstore_cli",
            "demo",
            "--url",
            empty_store.url,
            "--sessions",
            "40000",
            "-e",
            "10",
            "--seed",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        killed = False
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            rows = pg_server.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = current_database() AND query LIKE '{when}%' "
                "AND pid <> pg_backend_pid()",
                database=db,
            )[0]
            if rows:
                killed = True
                break
            time.sleep(0.02)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if not killed:
        pytest.fail(f"never saw the {when} statement; demo said: {stderr}")
    assert proc.returncode not in (0, None)
    assert len(stderr.strip().splitlines()) == 1, stderr  # one sentence
    assert counts(pg_server, db) == (0, 0)
    assert snapshot(pg_server, db) == before
    assert empty_store.run("setup", "--check").exit_code == 0


def test_copy_text_escapes_what_copy_must_see_escaped() -> None:
    session = Session(
        session_id="a\tb\\c",
        created_at=1,
        last_activity=2,
        is_initialized=False,
        client_capabilities=None,
        server_capabilities={"x": "back\\slash\nnew"},
        state={},
        metadata={"k": "\ttab"},
    )
    line = postgres_bulk.session_copy_text([session]).decode()
    assert line == (
        "a\\tb\\\\c\t\\N\t"
        + dumps(session.server_capabilities).replace("\\", "\\\\")
        + "\t{}\t1\t2\tf\t"
        + dumps(session.metadata).replace("\\", "\\\\")
        + "\t1\n"
    )
    event = Event(session_id="s", id=0, timestamp=5, event_type="t\r", data={"m": "\\"}, retry=7)
    assert postgres_bulk.event_copy_text([event]).decode() == ('s\t5\tt\\r\t{"m":"\\\\\\\\"}\t7\n')


def test_odd_text_round_trips_through_the_bulk_load(
    pg_server: PgServer, empty_store: StoreHandle
) -> None:
    session = Session(
        session_id="odd\\id",
        created_at=1,
        last_activity=2,
        is_initialized=True,
        client_capabilities={"a": "tab\there"},
        server_capabilities={"x": "back\\slash\nnew \u2028 ünï"},
        state={"q": '"quoted"'},
        metadata={},
    )
    event = Event(session_id="odd\\id", id=0, timestamp=5, event_type="t\\x", data={"m": "\r\n"})

    async def work() -> Any:
        conn = await asyncpg.connect(empty_store.url)
        try:

            async def chunks() -> AsyncIterator[postgres_bulk.CopyChunk]:
                yield postgres_bulk.copy_chunk([session], [event])

            return await postgres_bulk.load_into_empty(conn, chunks())
        finally:
            await conn.close()

    assert asyncio.run(work()) == (1, 1)
    rows = pg_server.execute(
        "SELECT session_id, client_capabilities::text, server_capabilities::text, state::text "
        "FROM sessions",
        "SELECT session_id, event_type, data::text FROM events",
        database=empty_store.name,
    )
    s_row, e_row = rows[0][0], rows[1][0]
    assert s_row[0] == "odd\\id"
    assert json.loads(s_row[1]) == session.client_capabilities
    assert json.loads(s_row[2]) == session.server_capabilities
    assert json.loads(s_row[3]) == session.state
    assert (e_row[0], e_row[1], json.loads(e_row[2])) == ("odd\\id", "t\\x", event.data)
