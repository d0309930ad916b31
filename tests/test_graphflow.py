"""GraphFlow's PostgreSQL sessions (layout ``graphflow``), against a real server.

Rows are written as graph-flow 0.5's PostgresSessionStorage writes them: its upsert keeping
the newer ``updated_at``, UUID ids, a JSONB context of ``data`` and ``chat_history``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from mcpstore_cli.layouts.graphflow.schema import SESSIONS, SESSIONS_DDL, UPSERT_SQL
from tests.helpers import Result, run_cli
from tests.pg_fixtures import PgServer

SPEC_DDL = """CREATE TABLE IF NOT EXISTS sessions (
    id UUID PRIMARY KEY,
    graph_id TEXT NOT NULL,
    current_task_id TEXT NOT NULL,
    status_message TEXT,
    context JSONB NOT NULL,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW()
)"""

NOW = dt.datetime.now(dt.UTC)


def context(data: dict[str, Any], messages: list[tuple[str, str]]) -> str:
    stamp = NOW - dt.timedelta(minutes=5)
    return json.dumps(
        {
            "data": data,
            "chat_history": {
                "messages": [
                    {
                        "role": role,
                        "content": text,
                        "timestamp": (stamp + dt.timedelta(seconds=i))
                        .isoformat()
                        .replace("+00:00", "Z"),
                    }
                    for i, (role, text) in enumerate(messages)
                ],
                "max_messages": 1000,
            },
        }
    )


@dataclass
class GraphflowDB:
    server: PgServer
    name: str

    @property
    def url(self) -> str:
        return self.server.url(self.name)

    def run(self, *args: str) -> Result:
        return run_cli([*args, "--url", self.url])

    def sql(self, *statements: str) -> list[Any]:
        return self.server.execute(*statements, database=self.name)

    def upsert(self, session_id: uuid.UUID, **kwargs: Any) -> str:
        """GraphFlow's save(): its upsert, through a plain asyncpg connection."""
        return asyncio.run(self.aupsert(session_id, **kwargs))

    async def aupsert(
        self,
        session_id: uuid.UUID,
        *,
        graph: str = "customer_support",
        task: str = "classify_intent",
        status: str | None = None,
        data: dict[str, Any] | None = None,
        messages: list[tuple[str, str]] | None = None,
        created: dt.datetime | None = None,
        updated: dt.datetime | None = None,
    ) -> str:
        import asyncpg

        conn = await asyncpg.connect(self.url, timeout=10)
        try:
            return str(
                await conn.execute(
                    UPSERT_SQL,
                    session_id,
                    graph,
                    task,
                    status,
                    context(data or {"step": 1}, messages or [("user", "hi")]),
                    created or NOW - dt.timedelta(hours=1),
                    updated or NOW,
                )
            )
        finally:
            await conn.close()


@pytest.fixture
def gf(pg_server: PgServer) -> Iterator[GraphflowDB]:
    name = pg_server.create_database()
    db = GraphflowDB(pg_server, name)
    yield db
    pg_server.drop_database(name)


@pytest.fixture
def gf_ready(gf: GraphflowDB) -> GraphflowDB:
    result = gf.run("setup", "--layout", "graphflow", "--quiet")
    assert result.exit_code == 0, result
    return gf


# -- the layout --------------------------------------------------------------------------
def test_golden_ddl() -> None:
    assert SESSIONS_DDL == SPEC_DDL


def test_dry_run_prints_the_exact_ddl(gf: GraphflowDB) -> None:
    result = gf.run("setup", "--layout", "graphflow", "--dry-run")
    assert result.exit_code == 0, result
    assert result.stdout == SPEC_DDL + ";\n"
    assert gf.sql("SELECT to_regclass('sessions')")[0][0][0] is None  # nothing created


def _catalog(db: GraphflowDB) -> list[Any]:
    rows = db.sql(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a LEFT JOIN pg_attrdef d "
        "ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = 'sessions'::regclass AND a.attnum > 0 ORDER BY a.attnum",
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'sessions'::regclass ORDER BY conname",
    )
    return [[tuple(r) for r in part] for part in rows]


def test_spec_ddl_sqlalchemy_ddl_and_setup_build_one_catalog(pg_server: PgServer) -> None:
    """The spec's text, SQLAlchemy's own CreateTable of the MetaData (which spells
    TIMESTAMP WITH TIME ZONE and a table-level PRIMARY KEY) and setup: the same catalog."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateTable

    alchemy = str(CreateTable(SESSIONS).compile(dialect=postgresql.dialect()))
    assert "TIMESTAMP WITH TIME ZONE" in alchemy  # why the layout renders its own text
    catalogs = []
    for how in ("spec", "alchemy", "setup"):
        db = GraphflowDB(pg_server, pg_server.create_database())
        try:
            if how == "spec":
                db.sql(SPEC_DDL)
            elif how == "alchemy":
                db.sql(alchemy)
            else:
                assert db.run("setup", "--layout", "graphflow", "-q").exit_code == 0
            catalogs.append(_catalog(db))
        finally:
            pg_server.drop_database(db.name)
    assert catalogs[0] == catalogs[1] == catalogs[2]
    assert catalogs[0][0][-1] == ("updated_at", "timestamp with time zone", False, "now()")


def test_setup_is_idempotent_and_check_passes(gf_ready: GraphflowDB) -> None:
    again = gf_ready.run("setup", "--layout", "graphflow", "-f", "json")
    assert again.exit_code == 0, again
    assert '"exists"' in again.stdout
    check = gf_ready.run("setup", "--check", "--layout", "graphflow")
    assert check.exit_code == 0, check
    detected = gf_ready.run("setup", "--check")  # the layout found from the columns
    assert detected.exit_code == 0, detected


def test_check_names_each_difference(gf: GraphflowDB) -> None:
    gf.sql(
        "CREATE TABLE sessions (id UUID PRIMARY KEY, graph_id TEXT NOT NULL, "
        "current_task_id TEXT NOT NULL, context JSON NOT NULL, created_at TIMESTAMPTZ, "
        "updated_at TIMESTAMPTZ DEFAULT NOW(), owner TEXT NOT NULL)"
    )
    result = gf.run("setup", "--check", "--layout", "graphflow", "-f", "jsonl")
    assert result.exit_code == 3, result
    problems = {(r["object"], r["problem"]) for r in result.jsonl()}
    assert ("column sessions.status_message", "missing") in problems
    assert ("column sessions.context", "type json, expected jsonb") in problems
    assert ("column sessions.created_at", "default none, expected now()") in problems
    assert any(o == "column sessions.owner" and "extra" in p for o, p in problems)


# -- detection -----------------------------------------------------------------------------
def test_turul_sessions_are_never_taken_for_graphflow(gf: GraphflowDB) -> None:
    assert gf.run("setup", "-q").exit_code == 0  # turul's layout
    gf.sql(
        "INSERT INTO sessions (session_id, server_capabilities, created_at, last_activity) "
        "VALUES ('0193aa00bb11cc22dd33ee44ff556677', '{}', 1, 2)"
    )
    listed = gf.run("list", "-f", "jsonl")
    assert listed.exit_code == 0, listed
    assert [r["session_id"] for r in listed.jsonl()] == ["0193aa00bb11cc22dd33ee44ff556677"]
    forced = gf.run("list", "--layout", "graphflow")
    assert forced.exit_code == 3, forced
    assert "not in GraphFlow's layout" in forced.stderr
    refused = gf.run("setup", "--layout", "graphflow")
    assert refused.exit_code == 3, refused


def test_graphflow_sessions_are_never_taken_for_turuls(gf_ready: GraphflowDB) -> None:
    sid = uuid.uuid4()
    gf_ready.upsert(sid)
    listed = gf_ready.run("list", "-f", "jsonl")
    assert listed.exit_code == 0, listed
    assert [r["session_id"] for r in listed.jsonl()] == [str(sid)]
    forced = gf_ready.run("list", "--layout", "sessions")
    assert forced.exit_code == 3, forced
    assert "another layout" in forced.stderr


def test_no_sessions_table_is_a_missing_store(gf: GraphflowDB) -> None:
    result = gf.run("list")
    assert result.exit_code == 3, result
    assert "no sessions table" in result.stderr


@pytest.mark.parametrize("backend", ["sqlite", "dynamodb"])
def test_graphflow_only_on_postgres(backend: str, tmp_path: Any) -> None:
    url = {
        "sqlite": f"sqlite:///{tmp_path}/x.db",
        "dynamodb": "dynamodb://mcp-sessions?region=us-east-1&endpoint=http://127.0.0.1:9",
    }[backend]
    result = run_cli(["list", "--layout", "graphflow", "--url", url])
    assert result.exit_code == 2, result
    assert result.stderr.count("\n") == 1
    assert "only on postgres" in result.stderr
    assert list(tmp_path.iterdir()) == []


# -- reading -------------------------------------------------------------------------------
def test_list_newest_first_with_cursor_pages(gf_ready: GraphflowDB) -> None:
    ids = [uuid.uuid4() for _ in range(7)]
    for i, sid in enumerate(ids):
        # microseconds apart within one millisecond for two of them: the cursor still holds
        gf_ready.upsert(sid, updated=NOW - dt.timedelta(minutes=i // 2, microseconds=(i % 2) * 3))
    seen: list[str] = []
    cursor: list[str] = []
    while True:
        page = gf_ready.run("list", "--limit", "3", "-f", "jsonl", *cursor)
        assert page.exit_code == 0, page
        rows = page.jsonl()
        seen += [r["session_id"] for r in rows]
        if "--cursor" not in page.stderr:
            break
        cursor = ["--cursor", rows[-1]["cursor"]]
    assert len(seen) == 7 and set(seen) == {str(s) for s in ids}
    everything = gf_ready.run("list", "--limit", "0", "-f", "jsonl").jsonl()
    assert [r["session_id"] for r in everything] == seen
    activity = [r["last_activity"] for r in everything]
    assert activity == sorted(activity, reverse=True)


def test_list_filters(gf_ready: GraphflowDB) -> None:
    old, new = uuid.uuid4(), uuid.uuid4()
    gf_ready.upsert(old, updated=NOW - dt.timedelta(hours=3), created=NOW - dt.timedelta(days=2))
    gf_ready.upsert(new, updated=NOW, created=NOW - dt.timedelta(minutes=10))

    def ids(*args: str) -> set[str]:
        result = gf_ready.run("list", "-f", "jsonl", *args)
        assert result.exit_code == 0, result
        return {r["session_id"] for r in result.jsonl()}

    assert ids("--idle-over", "2h") == {str(old)}
    assert ids("--active") == {str(new)}
    assert ids("--created-after", "1d") == {str(new)}
    assert ids("--created-before", "1d") == {str(old)}
    assert ids("--terminated") == set()


def test_show_by_prefix_any_case_prints_data_and_chat(gf_ready: GraphflowDB) -> None:
    sid = uuid.UUID("5f0c2a9e-1b7d-4c3e-9a2b-7d8e9f001122")
    gf_ready.upsert(uuid.UUID("5f0c2a9f-0000-4000-8000-000000000000"))
    gf_ready.upsert(
        sid,
        graph="insurance_claims",
        task="human_review",
        status="Waiting for an adjuster",
        data={"claim_id": "CLM-1", "estimated_damage": 1200.5},
        messages=[("user", "My car was hit by hail"), ("assistant", "Sorry to hear that")],
    )
    for typed in (str(sid), "5F0C2A9E", "5f0c2a9e-1b", str(sid).upper()):
        result = gf_ready.run("show", typed, "-f", "json")
        assert result.exit_code == 0, (typed, result)
        obj = result.json()
        assert obj["session_id"] == str(sid)
        assert obj["state"]["graph_id"] == "insurance_claims"
        assert obj["state"]["data"] == {"claim_id": "CLM-1", "estimated_damage": 1200.5}
        assert [e["event_type"] for e in obj["events"]] == ["user", "assistant"]
        assert obj["events"][0]["data"] == "My car was hit by hail"
    several = gf_ready.run("show", "5f0c")
    assert several.exit_code == 1 and "starts 2 session ids" in several.stderr, several
    short = gf_ready.run("show", "5f0")
    assert short.exit_code == 1, short
    missing = gf_ready.run("show", "abcd")
    assert missing.exit_code == 1, missing
    drawn = run_cli(["show", "5f0c2a9e", "--url", gf_ready.url], tty=True)
    assert drawn.exit_code == 0, drawn
    assert "My car was hit by hail" in drawn.stdout and "CLM-1" in drawn.stdout


def test_stats(gf_ready: GraphflowDB) -> None:
    gf_ready.upsert(uuid.uuid4(), messages=[("user", "a"), ("assistant", "b")])
    gf_ready.upsert(uuid.uuid4(), updated=NOW - dt.timedelta(hours=2))
    result = gf_ready.run("stats", "-f", "json")
    assert result.exit_code == 0, result
    obj = result.json()
    assert obj["sessions"]["total"] == 2
    assert obj["sessions"]["idle"] == 1
    assert obj["events"]["total"] == 3
    assert obj["backend_facts"]["layout"] == "graphflow"


def test_upsert_keeps_the_newer_row(gf_ready: GraphflowDB) -> None:
    sid = uuid.uuid4()
    gf_ready.upsert(sid, task="b", updated=NOW)
    assert gf_ready.upsert(sid, task="a", updated=NOW - dt.timedelta(minutes=1)) == "INSERT 0 0"
    obj = gf_ready.run("show", str(sid), "-f", "json").json()
    assert obj["state"]["current_task_id"] == "b"


# -- writing -------------------------------------------------------------------------------
def test_demo_then_read_back(gf: GraphflowDB) -> None:
    result = gf.run(
        "demo",
        "--layout",
        "graphflow",
        "--sessions",
        "40",
        "--events-per-session",
        "5",
        "--seed",
        "3",
    )
    assert result.exit_code == 0, result
    rows = gf.sql(
        "SELECT count(*), count(DISTINCT graph_id), "
        "min(jsonb_array_length(context->'chat_history'->'messages')), "
        "bool_and(context->'chat_history'->'messages'->0 ? 'timestamp') FROM sessions"
    )[0][0]
    assert tuple(rows) == (40, rows[1], 5, True) and rows[1] > 1
    listed = gf.run("list", "--limit", "0", "-f", "jsonl").jsonl()
    assert len(listed) == 40 and all(uuid.UUID(r["session_id"]) for r in listed)


def test_expire_by_updated_at(gf_ready: GraphflowDB) -> None:
    idle, live = uuid.uuid4(), uuid.uuid4()
    gf_ready.upsert(idle, updated=NOW - dt.timedelta(hours=2))
    gf_ready.upsert(live, updated=NOW)
    dry = gf_ready.run("expire", "--idle", "1h", "--dry-run", "-f", "json")
    assert dry.exit_code == 0, dry
    assert dry.json()["sessions"] == 1 and dry.json()["sample"] == [str(idle)]
    assert gf_ready.sql("SELECT count(*) FROM sessions")[0][0][0] == 2
    done = gf_ready.run("expire", "--idle", "1h", "-f", "json")
    assert done.exit_code == 0, done
    assert done.json()["sessions"] == 1
    left = gf_ready.sql("SELECT id FROM sessions")[0]
    assert [r[0] for r in left] == [live]


def test_expire_keeps_a_session_upserted_after_it_was_selected(gf_ready: GraphflowDB) -> None:
    """The race: select for expire, GraphFlow saves the session (a newer updated_at) from
    another connection, then the delete runs: the session stays."""
    from mcpstore_cli.backends.postgres.graphflow import GraphflowStore
    from mcpstore_cli.store.urls import resolve_store_url

    raced, idle = uuid.uuid4(), uuid.uuid4()
    gf_ready.upsert(raced, updated=NOW - dt.timedelta(hours=2))
    gf_ready.upsert(idle, updated=NOW - dt.timedelta(hours=3))
    cutoff = int((NOW - dt.timedelta(hours=1)).timestamp() * 1000)

    async def work() -> list[tuple[str, int]]:
        store = GraphflowStore(resolve_store_url(gf_ready.url, None, {}))
        async with store:
            selected = await store.expire_select(cutoff, 10)
            assert {k for k, _ in selected} == {raced, idle}
            # GraphFlow's save() from its own connection, between the select and the delete
            saved = await gf_ready.aupsert(raced, task="answered", updated=NOW)
            assert saved == "INSERT 0 1"
            return await store.expire_delete(selected)

    gone = asyncio.run(work())
    assert [k for k, _ in gone] == [str(idle)]
    left = gf_ready.sql("SELECT id, current_task_id FROM sessions")[0]
    assert [tuple(r) for r in left] == [(raced, "answered")]


def test_clear_and_teardown(gf_ready: GraphflowDB) -> None:
    gf_ready.upsert(uuid.uuid4())
    cleared = gf_ready.run("clear", "--yes", "-f", "json")
    assert cleared.exit_code == 0, cleared
    assert cleared.json()["sessions"] == 1
    assert gf_ready.sql("SELECT count(*) FROM sessions")[0][0][0] == 0
    gone = gf_ready.run("teardown", "--delete", "--yes")
    assert gone.exit_code == 0, gone
    assert gf_ready.sql("SELECT to_regclass('sessions')")[0][0][0] is None


# -- backup and restore ------------------------------------------------------------------
def _rows(db: GraphflowDB) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in db.sql(
            "SELECT id, graph_id, current_task_id, status_message, context::text, created_at, "
            "updated_at FROM sessions ORDER BY id"
        )[0]
    ]


def test_backup_and_restore_round_trip(
    gf_ready: GraphflowDB, pg_server: PgServer, tmp_path: Any
) -> None:
    gf_ready.upsert(uuid.uuid4(), status="Waiting", messages=[("user", "a\nb"), ("assistant", "ü")])
    gf_ready.upsert(uuid.uuid4(), updated=NOW - dt.timedelta(days=1, microseconds=7))
    gf_ready.sql(
        "INSERT INTO sessions (id, graph_id, current_task_id, context) VALUES "
        "('00000000-0000-4000-8000-000000000001', 'g', 't', '{\"data\": {}}')"
    )
    path = tmp_path / "gf.mcpbackup.zst"
    backup = gf_ready.run("backup", "-o", str(path))
    assert backup.exit_code == 0, backup
    target = GraphflowDB(pg_server, pg_server.create_database())
    try:
        # No tables and no --layout: the file's layout (GraphFlow's) is created and loaded.
        loaded = target.run("restore", str(path))
        assert loaded.exit_code == 0 and "created the store's tables" in loaded.stderr, loaded
        assert _rows(target) == _rows(gf_ready)  # microseconds and NULL created_at kept
        named = target.run("restore", str(path), "--layout", "graphflow")
        assert named.exit_code == 0 and "left 3 sessions" in named.stderr, named
        again = target.run("restore", str(path))  # merge: the layout detected, nothing new
        assert again.exit_code == 0, again
        assert len(_rows(target)) == 3
    finally:
        pg_server.drop_database(target.name)


def test_restore_refuses_another_layout(
    gf_ready: GraphflowDB, pg_server: PgServer, tmp_path: Any
) -> None:
    gf_ready.upsert(uuid.uuid4())
    path = tmp_path / "gf.mcpbackup.zst"
    assert gf_ready.run("backup", "-o", str(path)).exit_code == 0
    turul = GraphflowDB(pg_server, pg_server.create_database())
    try:
        assert turul.run("setup", "-q").exit_code == 0
        refused = turul.run("restore", str(path), "--yes")
        assert refused.exit_code == 3, refused
        assert "GraphFlow's layout" in refused.stderr, refused
        assert turul.sql("SELECT count(*) FROM sessions")[0][0][0] == 0
    finally:
        pg_server.drop_database(turul.name)


def test_a_damaged_graphflow_record_fails_verification(tmp_path: Any) -> None:
    from mcpstore_cli.util.backupfile import BackupFileError, BackupFileWriter, verify_file

    header = {"format": "mcpstore-backup", "version": 1, "layout": "graphflow", "source": {}}
    good = ["g", str(uuid.uuid4()), "g1", "t1", None, {"data": {}}, None, 1]
    for record, problem in (
        (good, None),
        (good[:7], "does not have 8 fields"),
        (["s", *good[1:]], "another layout"),
        ([*good[:5], "ctx", *good[6:]], "context is not a JSON object"),
    ):
        path = tmp_path / f"x{len(list(tmp_path.iterdir()))}.mcpbackup.zst"
        writer = BackupFileWriter(path)
        writer.header(header)
        writer.sessions_block(json.dumps(record).encode() + b"\n")
        writer.finish()
        if problem is None:
            assert verify_file(path).sessions == 1
        else:
            with pytest.raises(BackupFileError, match=problem):
                verify_file(path)


def test_list_by_graph(gf_ready: GraphflowDB, tmp_path: Any) -> None:
    claims, support = uuid.uuid4(), uuid.uuid4()
    gf_ready.upsert(claims, graph="insurance_claims")
    gf_ready.upsert(support, graph="customer_support")
    result = gf_ready.run("list", "--graph", "insurance_claims", "-f", "jsonl")
    assert result.exit_code == 0, result
    assert [r["session_id"] for r in result.jsonl()] == [str(claims)]
    # A layout without graphs says so rather than ignoring the filter.
    turul = run_cli(["list", "--graph", "x", "--url", f"sqlite:///{tmp_path}/t.db"])
    assert turul.exit_code in (2, 3), turul
    assert run_cli(["setup", "-q", "--url", f"sqlite:///{tmp_path}/t.db"]).exit_code == 0
    turul = run_cli(["list", "--graph", "x", "--url", f"sqlite:///{tmp_path}/t.db"])
    assert turul.exit_code == 2, turul
    assert "--graph applies to" in turul.stderr


# -- Ctrl-C --------------------------------------------------------------------------------
def _inserting(db: GraphflowDB) -> bool:
    rows = db.server.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = "
        f"'{db.name}' AND query LIKE 'INSERT INTO sessions%' AND state = 'active'"
    )
    return int(rows[0][0][0]) > 0


def test_demo_into_an_empty_table_is_all_or_nothing(gf_ready: GraphflowDB) -> None:
    from tests.test_interrupt import Proc, the_line, wait_until

    args = ["demo", "--layout", "graphflow", "--sessions", "400000", "-e", "3"]
    proc = Proc([*args, "--url", gf_ready.url])
    try:
        wait_until("the upserts run", lambda: _inserting(gf_ready), proc)
        time.sleep(0.5)
        code, err = proc.interrupt()
    finally:
        proc.kill()
    line = the_line(code, err)
    assert "rolled back: nothing was written" in line, line
    assert gf_ready.sql("SELECT count(*) FROM sessions")[0][0][0] == 0


def test_demo_into_a_table_with_rows_says_what_stayed(gf_ready: GraphflowDB) -> None:
    from tests.test_interrupt import Proc, number, the_line, wait_until

    gf_ready.upsert(uuid.uuid4())

    def count() -> int:
        return int(gf_ready.sql("SELECT count(*) FROM sessions")[0][0][0])

    args = ["demo", "--layout", "graphflow", "--sessions", "400000", "-e", "3"]
    proc = Proc([*args, "--url", gf_ready.url])
    try:
        wait_until("batches commit", lambda: count() > 1, proc)
        code, err = proc.interrupt()
    finally:
        proc.kill()
    line = the_line(code, err)
    match = re.search(r"wrote ([\d,]+) GraphFlow sessions in [\d,]+ whole batch", line)
    assert match, line
    assert count() == 1 + number(match.group(1))


def test_layout_refusals(gf_ready: GraphflowDB) -> None:
    tail = gf_ready.run("tail-events", "--no-follow")
    assert tail.exit_code == 1 and "has none" in tail.stderr, tail
    trim = gf_ready.run("expire", "--max-events-per-session", "5")
    assert trim.exit_code == 2 and "chat history" in trim.stderr, trim


def test_expire_keeps_a_session_saved_while_the_delete_waits(gf_ready: GraphflowDB) -> None:
    """GraphFlow's upsert holds the row when the batch DELETE reaches it: the DELETE waits,
    then re-checks updated_at on the saved row (READ COMMITTED) and leaves it."""
    import asyncpg

    from mcpstore_cli.backends.postgres.graphflow import GraphflowStore
    from mcpstore_cli.store.urls import resolve_store_url

    raced = uuid.uuid4()
    gf_ready.upsert(raced, updated=NOW - dt.timedelta(hours=2))
    cutoff = int((NOW - dt.timedelta(hours=1)).timestamp() * 1000)

    async def work() -> list[tuple[str, int]]:
        store = GraphflowStore(resolve_store_url(gf_ready.url, None, {}))
        server = await asyncpg.connect(gf_ready.url, timeout=10)
        try:
            async with store:
                selected = await store.expire_select(cutoff, 10)
                saving = server.transaction()
                await saving.start()
                await server.execute(
                    UPSERT_SQL, raced, "g", "later", None, context({}, []), NOW, NOW
                )
                delete = asyncio.ensure_future(store.expire_delete(selected))
                await asyncio.sleep(0.5)
                assert not delete.done()  # waiting for the row GraphFlow holds
                await saving.commit()
                return await asyncio.wait_for(delete, 10)
        finally:
            await server.close()

    assert asyncio.run(work()) == []
    left = gf_ready.sql("SELECT current_task_id FROM sessions")[0]
    assert [r[0] for r in left] == ["later"]


# -- delete, state, touch (terminate does not apply) ---------------------------------------


def _context_of(db: GraphflowDB, sid: uuid.UUID) -> tuple[dict[str, Any], dt.datetime]:
    rows = db.sql(f"SELECT context::text, updated_at FROM sessions WHERE id = '{sid}'")[0]
    return json.loads(rows[0][0]), rows[0][1]


def test_state_is_context_data_changed_in_one_statement(gf_ready: GraphflowDB) -> None:
    """state prints context.data; set/unset change it with jsonb operators and stamp
    updated_at now, keeping the chat history; the change survives GraphFlow reading it."""
    sid = uuid.uuid4()
    gf_ready.upsert(sid, data={"step": 2, "ticket": "T-9"}, messages=[("user", "hi")])
    old_ctx, old_at = _context_of(gf_ready, sid)
    got = gf_ready.run("state", str(sid)[:8], "--format", "json")
    assert got.exit_code == 0, got
    assert got.json() == {"step": 2, "ticket": "T-9"}
    done = gf_ready.run("state", str(sid), "set", "priority", '{"level": "high"}')
    assert done.exit_code == 0, done
    ctx, at = _context_of(gf_ready, sid)
    assert ctx["data"] == {"step": 2, "ticket": "T-9", "priority": {"level": "high"}}
    assert ctx["chat_history"] == old_ctx["chat_history"] and at > old_at
    assert gf_ready.run("state", str(sid), "unset", "ticket").exit_code == 0
    ctx, _ = _context_of(gf_ready, sid)
    assert ctx["data"] == {"step": 2, "priority": {"level": "high"}}
    shown = gf_ready.run("show", str(sid), "--format", "json")
    assert shown.exit_code == 0 and "priority" in shown.stdout, shown


def test_touch_delete_and_no_terminate(gf_ready: GraphflowDB) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    old = NOW - dt.timedelta(hours=3)
    gf_ready.upsert(a, updated=old, messages=[("user", "hi"), ("assistant", "hello")])
    gf_ready.upsert(b, updated=old)
    refused = gf_ready.run("terminate", str(a))
    assert refused.exit_code == 2 and "graphflow" in refused.stderr, refused
    assert gf_ready.run("touch", str(a)).exit_code == 0
    _, at = _context_of(gf_ready, a)
    assert at > NOW - dt.timedelta(minutes=5)
    done = gf_ready.run("delete", str(a)[:8], "--yes", "--format", "jsonl")
    assert done.exit_code == 0, done
    assert done.jsonl()[0]["removed"] == {"sessions": 1, "messages": 2}
    assert [r[0] for r in gf_ready.sql("SELECT id::text FROM sessions")[0]] == [str(b)]
