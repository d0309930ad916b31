"""Golden tests of turul's session layout, declared once in
``mcpstore_cli/layouts/turul_sessions/schema.py`` (SQL) and ``.../dynamodb.py``.

The SQL text below is the spec's layout, /work/shared/spec/storage-layouts.md, written as the
DDL a server runs: the spec gives each table as a list of columns (declared type,
constraints) and each backend's indexes by name and columns, and this is that list as
statements, in the framework's own form (one column per line, a single-column primary key
inline, ``CREATE INDEX ... IF NOT EXISTS``, CONCURRENTLY on PostgreSQL). It is kept here by
hand, never generated: the DDL mcpstore generates must equal it statement for statement
(whitespace aside), and running either on a real SQLite file or PostgreSQL database must give
the same catalog. A change of the declaration that changes the layout fails these tests.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from mcpstore_cli.backends.postgres import layout as pg_layout
from mcpstore_cli.backends.sqlite import layout as sqlite_layout
from mcpstore_cli.layouts.turul_sessions import dynamodb as ddb_layout
from tests.pg_fixtures import PgServer

# storage-layouts.md, section "SQLite": tables `sessions` and `events`, and "Indexes: ...
# All created with IF NOT EXISTS".
SQLITE_SPEC = [
    """CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    client_capabilities TEXT,
    server_capabilities TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    last_activity INTEGER NOT NULL,
    is_initialized BOOLEAN NOT NULL DEFAULT FALSE,
    metadata TEXT NOT NULL DEFAULT '{}'
)""",
    """CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    data TEXT NOT NULL,
    retry INTEGER,
    FOREIGN KEY (session_id) REFERENCES sessions(session_id) ON DELETE CASCADE
)""",
    "CREATE INDEX IF NOT EXISTS idx_sessions_last_activity ON sessions(last_activity)",
    "CREATE INDEX IF NOT EXISTS idx_events_session_id ON events(session_id)",
    "CREATE INDEX IF NOT EXISTS idx_events_session_id_id ON events(session_id, id)",
]

# storage-layouts.md, section "PostgreSQL": `sessions` (the SQLite columns with PostgreSQL's
# types, plus `version`), `events`, and the indexes "the server creates ... with CREATE INDEX
# CONCURRENTLY IF NOT EXISTS", in the order listed there.
POSTGRES_SPEC = [
    """CREATE TABLE IF NOT EXISTS sessions (
    session_id VARCHAR(36) PRIMARY KEY,
    client_capabilities JSONB,
    server_capabilities JSONB NOT NULL,
    state JSONB NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    last_activity BIGINT NOT NULL,
    is_initialized BOOLEAN NOT NULL DEFAULT FALSE,
    metadata JSONB NOT NULL DEFAULT '{}',
    version INTEGER NOT NULL DEFAULT 1
)""",
    """CREATE TABLE IF NOT EXISTS events (
    id BIGSERIAL PRIMARY KEY,
    session_id VARCHAR(36) NOT NULL REFERENCES sessions(session_id) ON DELETE CASCADE,
    timestamp BIGINT NOT NULL,
    event_type VARCHAR(100) NOT NULL,
    data JSONB NOT NULL,
    retry INTEGER
)""",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_sessions_last_activity ON sessions(last_activity)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_sessions_created_at ON sessions(created_at)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_session_id ON events(session_id)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_session_timestamp "
    "ON events(session_id, timestamp)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_session_id_id ON events(session_id, id)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_timestamp ON events(timestamp)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_sessions_active ON sessions(last_activity) "
    "WHERE is_initialized = TRUE",
]


def _normalized(statement: str) -> str:
    """Whitespace only: runs become one space; none next to a parenthesis or a comma."""
    text = re.sub(r"\s+", " ", statement.strip())
    return re.sub(r"\s*([(),])\s*", r"\1", text)


def _same_statements(generated: list[str], spec: list[str]) -> None:
    assert [_normalized(s) for s in generated] == [_normalized(s) for s in spec]


# -- the text ----------------------------------------------------------------------------------
def test_sqlite_ddl_is_the_spec() -> None:
    _same_statements(list(sqlite_layout.ddl_statements()), SQLITE_SPEC)


def test_postgres_ddl_is_the_spec() -> None:
    _same_statements(pg_layout.ddl_statements(), POSTGRES_SPEC)


def test_the_comparison_sees_more_than_whitespace() -> None:
    """The normalisation leaves every word and symbol: a different DDL is different."""
    changed = SQLITE_SPEC[0].replace("DEFAULT FALSE", "DEFAULT 0")
    assert _normalized(changed) != _normalized(SQLITE_SPEC[0])
    assert _normalized("a ( b , c )\n") == _normalized("a(b,c)")


def test_postgres_restore_limits_are_the_spec_column_lengths() -> None:
    limits = pg_layout.RESTORE_LIMITS
    assert (limits.session_id, limits.event_type, limits.nul_in_json) == (36, 100, False)


def test_sqlite_stores_do_not_load_the_postgresql_dialect() -> None:
    """The layout's tables declare PostgreSQL's types and index options without loading
    SQLAlchemy's PostgreSQL dialect on a SQLite store's path (it costs 50-120 ms)."""
    probe = (
        "import sys\n"
        "import mcpstore_cli.backends.sqlite.store\n"
        "from mcpstore_cli.layouts.turul_sessions import schema\n"
        "assert schema.sessions.c.state is not None\n"
        "print(sorted(m for m in sys.modules if m.startswith('sqlalchemy.dialects.')))\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=root, check=True
    ).stdout
    assert out.startswith("[") and "sqlalchemy.dialects.postgresql" not in out


# -- the catalog: SQLite -----------------------------------------------------------------------
def _sqlite_apply(path: Path, statements: list[str]) -> None:
    conn = sqlite3.connect(path)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def _sqlite_catalog(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    try:
        objects = conn.execute(
            "SELECT type, name, tbl_name FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        out: dict[str, Any] = {"objects": objects}
        for table in ("sessions", "events"):
            out[f"{table}.columns"] = conn.execute(f"PRAGMA table_xinfo({table})").fetchall()
            out[f"{table}.foreign_keys"] = conn.execute(
                f"PRAGMA foreign_key_list({table})"
            ).fetchall()
            indexes = conn.execute(f"PRAGMA index_list({table})").fetchall()
            out[f"{table}.indexes"] = indexes
            for index in indexes:
                out[f"index {index[1]}"] = conn.execute(
                    f"PRAGMA index_xinfo({index[1]})"
                ).fetchall()
        # AUTOINCREMENT is the sqlite_sequence table (and the rowid alias above); what it
        # counts shows once a row went in.
        conn.execute(
            "INSERT INTO sessions (session_id, server_capabilities, created_at, last_activity) "
            "VALUES ('s', '{}', 1, 2)"
        )
        conn.execute(
            "INSERT INTO events (session_id, timestamp, event_type, data) "
            "VALUES ('s', 3, 'm', '{}')"
        )
        out["defaults"] = conn.execute("SELECT * FROM sessions").fetchall()
        out["sequence"] = conn.execute("SELECT * FROM sqlite_sequence").fetchall()
        conn.rollback()
        return out
    finally:
        conn.close()


def test_sqlite_catalog_is_the_specs(tmp_path: Path) -> None:
    generated, spec = tmp_path / "generated.db", tmp_path / "spec.db"
    _sqlite_apply(generated, list(sqlite_layout.ddl_statements()))
    _sqlite_apply(spec, SQLITE_SPEC)
    got, want = _sqlite_catalog(generated), _sqlite_catalog(spec)
    assert got == want
    # The comparison looks at what matters: the columns, keys and indexes are there.
    assert [c[1] for c in want["sessions.columns"]][-1] == "metadata"
    assert want["events.foreign_keys"][0][6] == "CASCADE"
    assert {o[1] for o in want["objects"]} >= {"sqlite_sequence", "idx_events_session_id_id"}


def test_sqlite_check_expects_what_the_spec_creates(tmp_path: Path) -> None:
    """setup --check's expectations, generated too, are what the spec's DDL leaves."""
    spec = tmp_path / "spec.db"
    _sqlite_apply(spec, SQLITE_SPEC)
    conn = sqlite3.connect(spec)
    try:
        for table, expected in sqlite_layout.expected_columns().items():
            rows = conn.execute(f"PRAGMA table_info({table})").fetchall()
            assert [(r[1], r[2], bool(r[3]), r[4], bool(r[5])) for r in rows] == expected
        for name, (table, columns) in sqlite_layout.expected_indexes().items():
            rows = conn.execute(f"PRAGMA index_info({name})").fetchall()
            assert tuple(r[2] for r in rows) == columns, name
            assert conn.execute(
                "SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
            ).fetchone() == (table,)
    finally:
        conn.close()


# -- the catalog: PostgreSQL -------------------------------------------------------------------
_PG_CATALOG = {
    "columns": """
        SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity
        FROM pg_class c
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
        ORDER BY 1, 2""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, contype::text, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = 'public' ORDER BY 1, 2""",
    "index state": """
        SELECT i.indexrelid::regclass::text, i.indisvalid, i.indisready, i.indisunique
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1""",
    "sequences": """
        SELECT sequencename, data_type::text, start_value, increment_by, max_value
        FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1""",
    "owned sequences": """
        SELECT pg_get_serial_sequence('events', 'id'),
               pg_get_serial_sequence('sessions', 'session_id')""",
}


async def _pg_apply_and_read(url: str, statements: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        for statement in statements:  # each on its own: CONCURRENTLY needs no transaction
            await conn.execute(statement)
        return {
            name: [tuple(r) for r in await conn.fetch(sql)] for name, sql in _PG_CATALOG.items()
        }
    finally:
        await conn.close()


@pytest.fixture
def two_databases(pg_server: PgServer) -> Any:
    names = [pg_server.create_database(), pg_server.create_database()]
    yield [pg_server.url(name) for name in names]
    for name in names:
        pg_server.drop_database(name)


def test_postgres_catalog_is_the_specs(two_databases: list[str]) -> None:
    generated_url, spec_url = two_databases
    got = asyncio.run(_pg_apply_and_read(generated_url, pg_layout.ddl_statements()))
    want = asyncio.run(_pg_apply_and_read(spec_url, POSTGRES_SPEC))
    assert got == want
    # The comparison looks at what matters.
    assert len(want["columns"]) == 15
    assert any("ON DELETE CASCADE" in c[3] for c in want["constraints"])
    assert any("WHERE (is_initialized = true)" in i[2] for i in want["indexes"])
    assert want["owned sequences"] == [("public.events_id_seq", None)]


def test_postgres_check_expects_what_the_spec_creates(two_databases: list[str]) -> None:
    """setup --check's expectations, generated too, are what the spec's DDL leaves."""
    catalog = asyncio.run(_pg_apply_and_read(two_databases[0], POSTGRES_SPEC))
    for table, expected in pg_layout.expected_columns().items():
        rows = [r for r in catalog["columns"] if r[0] == table]
        assert [r[2] for r in rows] == [e[0] for e in expected]
        for (_t, _n, name, typ, notnull, default, _i), (_, etyp, enotnull, edefault) in zip(
            rows, expected, strict=True
        ):
            assert (typ, notnull) == (etyp, enotnull), name
            if edefault is not None and edefault.endswith("("):
                assert (default or "").startswith(edefault), name
            else:
                assert default == edefault, name
    keys = {c[0]: c[3] for c in catalog["constraints"] if c[2] == "p"}
    expected_keys = pg_layout.PRIMARY_KEYS.items()
    assert keys == {t: f"PRIMARY KEY ({', '.join(cols)})" for t, cols in expected_keys}
    indexes = {i[1]: i[2] for i in catalog["indexes"]}
    for name, (table, columns, where) in pg_layout.expected_indexes().items():
        definition = indexes[name].replace('"', "")  # pg_get_indexdef quotes "timestamp"
        assert f" ON public.{table} USING btree ({', '.join(columns)})" in definition, name
        assert ("WHERE" in definition) == (where is not None), name


def test_postgres_copy_columns_are_the_table_but_its_serial_key() -> None:
    assert pg_layout.copy_columns("sessions") == (
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
    assert pg_layout.copy_columns("events") == (
        "session_id",
        "timestamp",
        "event_type",
        "data",
        "retry",
    )


def _named(columns: str) -> list[str]:
    """Column names of a hand-written column list (``data::text`` names ``data``)."""
    return [c.strip().split("::")[0] for c in columns.split(",")]


def _insert_columns(statement: str) -> list[str]:
    found = re.search(r"INTO \w+ \(([^)]*)\)", statement)
    assert found, statement
    return _named(found.group(1))


def test_hand_written_statements_name_the_layouts_columns() -> None:
    """The fast paths' own SQL (positional rows, so written out) names the layout's columns in
    its order, every column a row must have: a change of the declaration shows here too."""
    from mcpstore_cli.backends.postgres import backup as pg_backup
    from mcpstore_cli.backends.postgres import tail as pg_tail
    from mcpstore_cli.backends.sqlite import backup as sqlite_backup
    from mcpstore_cli.backends.sqlite import store as sqlite_store
    from mcpstore_cli.backends.sqlite import tail as sqlite_tail

    sqlite = {t: [c[0] for c in cols] for t, cols in sqlite_layout.expected_columns().items()}
    postgres = {t: [c[0] for c in cols] for t, cols in pg_layout.expected_columns().items()}
    assert _insert_columns(sqlite_store._INSERT_SESSIONS) == sqlite["sessions"]
    assert _insert_columns(sqlite_backup._INSERT_SESSION) == sqlite["sessions"]
    assert _insert_columns(sqlite_store._INSERT_EVENTS) == sqlite["events"][1:]  # id: AUTOINCREMENT
    assert _named(sqlite_tail._COLUMNS) == sqlite["events"]
    assert _named(pg_tail._COLUMNS) == postgres["events"]
    # The backup file's session fields in its record order, each a column of the table.
    assert sorted(_named(pg_backup._SESSION_COLUMNS)) == sorted(postgres["sessions"])


# -- DynamoDB ----------------------------------------------------------------------------------
# storage-layouts.md, section "DynamoDB": (camelCase, snake_case, type) of each table's items.
DYNAMODB_SESSIONS_SPEC = [
    ("sessionId", "session_id", "S"),
    ("clientCapabilities", "client_capabilities", "S"),
    ("serverCapabilities", "server_capabilities", "S"),
    ("state", "state", "S"),
    ("createdAt", "created_at", "N"),
    ("lastActivity", "last_activity", "N"),
    ("isInitialized", "is_initialized", "BOOL"),
    ("metadata", "metadata", "S"),
    ("ttl", "ttl", "N"),
]
DYNAMODB_EVENTS_SPEC = [
    ("sessionId", "session_id", "S"),
    ("eventId", "event_id", "N"),
    ("timestamp", "timestamp", "N"),
    ("eventType", "event_type", "S"),
    ("data", "data", "S"),
    ("retry", "retry", "N"),
    ("ttl", "ttl", "N"),
]


def test_dynamodb_layout_is_the_spec() -> None:
    for table, spec in (
        (ddb_layout.SESSIONS, DYNAMODB_SESSIONS_SPEC),
        (ddb_layout.EVENTS, DYNAMODB_EVENTS_SPEC),
    ):
        declared = [(ddb_layout.CAMEL[name], name, typ) for name, typ in table.attributes.items()]
        assert declared == spec
        assert table.ttl == "ttl"
    keys = [(k.attribute, k.key_type) for k in ddb_layout.SESSIONS.keys]
    assert keys == [("session_id", "HASH")]
    keys = [(k.attribute, k.key_type) for k in ddb_layout.EVENTS.keys]
    assert keys == [("session_id", "HASH"), ("event_id", "RANGE")]
    (gsi,) = ddb_layout.SESSIONS.indexes
    assert (gsi.name, [(k.attribute, k.key_type) for k in gsi.keys], gsi.projection) == (
        "LastActivityIndex",
        [("last_activity", "HASH")],
        "KEYS_ONLY",
    )
    assert ddb_layout.EVENTS.indexes == ()
    assert (ddb_layout.EVENTS_SUFFIX, ddb_layout.BILLING_MODE) == ("-events", "PAY_PER_REQUEST")
    assert ddb_layout.SESSION_TTL_S == 30 * 60
    assert ddb_layout.is_snake(["session_id"]) and not ddb_layout.is_snake(["sessionId"])


@pytest.mark.parametrize("package", ["turul_tasks", "turul_ext_tasks", "turul_server_state"])
def test_light_declarations_match_the_schema(package: str) -> None:
    """The task and state layouts name their tables and identifying columns without
    SQLAlchemy (their stores read without it); these must be what the schema declares."""
    import importlib

    from mcpstore_cli.backends.sql import ddl

    light = importlib.import_module(f"mcpstore_cli.layouts.{package}")
    schema = importlib.import_module(f"mcpstore_cli.layouts.{package}.schema")
    assert tuple(t.name for t in schema.TABLES) == light.TABLE_NAMES
    main = schema.TABLES[0]
    for dialect in ("sqlite", "postgresql"):
        identifying = {c.name for c in ddl.columns(main, dialect) if c.info.get("identifies")}
        assert identifying == light.REQUIRED, dialect
