"""SQLite's reading path runs exactly the SQL SQLAlchemy compiles for SqlStore's statements.

``backends/sqlite/prepared.py`` keeps the statements of ``list``, ``show`` and ``stats`` as
text, so that those commands start without SQLAlchemy. Here each one is compared with what
SQLAlchemy compiles (SQLite dialect, ``?`` parameters) for the statement
:class:`~mcpstore_cli.backends.sql.base.SqlStore` builds from the tables
:class:`~mcpstore_cli.backends.sqlite.store.SqliteStore` declares: the same text and the same
parameters in the same order. Statements SqlStore builds inside a method (the session by id,
its events, the ids that exist) are taken from what its engine executes. The comparison fails
when either side changes without the other (the last tests show it does), and the reads
themselves give the same records both ways.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite.pysqlite import dialect as pysqlite_dialect

from mcpstore_cli.backends.sql.base import SqlStore
from mcpstore_cli.backends.sqlite import prepared
from mcpstore_cli.backends.sqlite.reader import SqliteReader
from mcpstore_cli.backends.sqlite.store import SqliteStore
from mcpstore_cli.model.records import Cursor, SessionFilter
from mcpstore_cli.store import open_store
from mcpstore_cli.store.base import StoreOptions
from mcpstore_cli.store.urls import parse_store_url
from tests.helpers import run_cli

NOW = 1_800_000_000_000
MIN = 60_000
Query = tuple[str, list[Any]]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo store with odd rows: corrupt JSON, wrong types, several states of ending."""
    path = tmp_path_factory.mktemp("prepared") / "s.db"
    result = run_cli(["demo", "--url", f"sqlite:///{path}", "-s", "80", "-e", "4", "--seed", "9"])
    assert result.exit_code == 0, result
    conn = sqlite3.connect(path)
    rows = [
        ("c" * 32, "{}", "{bad json", NOW - 5 * MIN, NOW - MIN, 1, "{}"),
        ("e" * 32, "", "", NOW - 50 * MIN, NOW - 3 * MIN, 0, ""),
        ("f" * 32, "{}", "null", NOW - 10 * MIN, NOW - 2 * MIN, 1, "null"),
        ("0a" * 16, "{}", "{}", "x", NOW - 7 * MIN, 1, "{}"),
        ("0c" * 16, "{}", "{}", NOW - 3 * MIN, NOW - 6 * MIN, "yes", "[1]"),
        ("ABCDEF" + "0" * 26, "{}", '{"terminated": true}', NOW - 9 * MIN, NOW - 9 * MIN, 1, "{}"),
        (
            "abcdef" + "0" * 26,
            "{}",
            '{"terminated": "true"}',
            NOW - 9 * MIN,
            NOW - 9 * MIN,
            0,
            "{}",
        ),
    ]
    conn.executemany(
        "INSERT INTO sessions (session_id, server_capabilities, state, created_at, "
        "last_activity, is_initialized, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.executemany(
        "INSERT INTO events (session_id, timestamp, event_type, data, retry) "
        "VALUES (?, ?, ?, ?, ?)",
        [("c" * 32, NOW - i, "x", data, retry) for i, (data, retry) in enumerate(
            [("{bad", None), ("null", "abc"), ('"s"', 2500), ("[1]", None)]
        )],
    )  # fmt: skip
    conn.commit()
    conn.close()
    return path


def _store(db: Path, *, read_only: bool = True) -> SqliteStore:
    return SqliteStore(parse_store_url(f"sqlite:///{db}"), StoreOptions(read_only=read_only))


def _compiled(stmt: Any) -> Query:
    compiled = stmt.compile(dialect=pysqlite_dialect(), compile_kwargs={"render_postcompile": True})
    return compiled.string, [compiled.params[name] for name in compiled.positiontup or ()]


def _executed(store: SqliteStore, call: Callable[[], Awaitable[Any]]) -> list[Query]:
    """The statements SQLAlchemy sends to the driver while ``call`` runs."""
    seen: list[Query] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        seen.append((statement, list(parameters)))

    async def run() -> None:
        try:
            sa.event.listen(store.engine.sync_engine, "before_cursor_execute", before)
            await call()
        finally:
            await store.close()

    asyncio.run(run())
    return seen


# Every shape a page's statement takes (each filter on or off, with and without a cursor).
SHAPES = list(
    itertools.product(
        [None, 2 * 60 * MIN],  # --idle-over
        [False, True],  # --active
        [None, True, False],  # --terminated / --not-terminated
        [None, True, False],  # --initialized / --not-initialized
        [None, NOW - 24 * 60 * MIN],  # --created-after
        [None, NOW - 5 * MIN],  # --created-before
        [None, Cursor(NOW - 30 * MIN, "01a23" + "f" * 27)],  # --cursor
    )
)


def _filter(shape: tuple[Any, ...]) -> tuple[SessionFilter, Cursor | None]:
    idle, active, terminated, initialized, after, before, cursor = shape
    flt = SessionFilter(
        now_ms=NOW,
        timeout_ms=30 * MIN,
        idle_over_ms=idle,
        active=active,
        terminated=terminated,
        initialized=initialized,
        created_after=after,
        created_before=before,
    )
    return flt, cursor


def page_mismatches(store: SqlStore) -> list[str]:
    out = []
    for shape in SHAPES:
        flt, cursor = _filter(shape)
        for limit in (1, 51):
            want = _compiled(store.list_statement(flt, limit=limit, cursor=cursor))
            if prepared.page_query(flt, limit, cursor) != want:
                out.append(f"{shape} limit {limit}: SQLAlchemy compiles {want}")
    return out


def stats_mismatches(store: SqlStore) -> list[str]:
    out = []
    for now, timeout in ((NOW, 30 * MIN), (NOW, 5 * MIN), (0, 1)):
        want = tuple(_compiled(s) for s in store.stats_statements(now, timeout))
        if prepared.stats_queries(now, timeout) != want:
            out.append(f"stats({now}, {timeout}): SQLAlchemy compiles {want}")
    return out


def metrics_mismatches(store: SqlStore) -> list[str]:
    out = []
    for now, timeout in ((NOW, 30 * MIN), (NOW, 5 * MIN), (0, 1)):
        want = tuple(_compiled(s) for s in store.metrics_statements(now, timeout))
        if prepared.metrics_queries(now, timeout) != want:
            out.append(f"metrics({now}, {timeout}): SQLAlchemy compiles {want}")
    return out


def prefix_mismatches(store: SqlStore) -> list[str]:
    out = []
    for prefix, limit in itertools.product(("01a2", "ABCD", "x", "0" * 31), (1, 6)):
        want = tuple(_compiled(s) for s in store.prefix_statements(prefix, limit))
        if prepared.prefix_queries(prefix, limit) != want:
            out.append(f"prefix {prefix!r} limit {limit}: SQLAlchemy compiles {want}")
    return out


def executed_mismatches(db: Path) -> list[str]:
    """The statements SqlStore's own methods execute (built inside them, not by a builder)."""
    cases: list[tuple[str, Callable[[SqliteStore], Awaitable[Any]], list[Query]]] = [
        (
            "get_session",
            lambda s: SqlStore.get_session(s, "c" * 32),
            [prepared.session_query("c" * 32)],
        ),
        (
            "recent_events",
            lambda s: SqlStore.recent_events(s, "c" * 32, 3),
            [prepared.recent_events_query("c" * 32, 3)],
        ),
        (
            "existing_session_ids",
            lambda s: SqlStore.existing_session_ids(s, ["abc", "ABC", "c" * 32]),
            [prepared.existing_ids_query(["abc", "ABC", "c" * 32])],
        ),
        (
            "existing_session_ids (one)",
            lambda s: SqlStore.existing_session_ids(s, ["f" * 32]),
            [prepared.existing_ids_query(["f" * 32])],
        ),
        (
            "match_session_ids",
            lambda s: SqlStore.match_session_ids(s, ["0"], limit=1),
            list(prepared.prefix_queries("0", 1)),
        ),
        (
            "stats",
            lambda s: SqlStore.stats(s, now_ms=NOW, timeout_ms=30 * MIN),
            list(prepared.stats_queries(NOW, 30 * MIN)),
        ),
        (
            "metric_figures",
            lambda s: SqlStore.metric_figures(s, now_ms=NOW, timeout_ms=30 * MIN),
            list(prepared.metrics_queries(NOW, 30 * MIN)),
        ),
    ]
    flt, cursor = _filter((None, True, None, False, None, None, Cursor(NOW, "z")))
    cases.append(
        (
            "iter_sessions",
            lambda s: _drain(SqlStore.iter_sessions(s, flt, limit=51, cursor=cursor)),
            [prepared.page_query(flt, 51, cursor)],
        )
    )
    out = []
    for name, call, want in cases:
        store = _store(db)
        got = _executed(store, functools.partial(call, store))
        if got[: len(want)] != want:
            out.append(f"{name}: SQLAlchemy executed {got[: len(want)]}, prepared {want}")
    return out


async def _drain(rows: Any) -> None:
    async for _ in rows:
        pass


def test_list_pages_are_sqlalchemys_statements(db: Path) -> None:
    assert len(SHAPES) == 288
    assert page_mismatches(_store(db)) == []


def test_stats_are_sqlalchemys_statements(db: Path) -> None:
    assert stats_mismatches(_store(db)) == []


def test_metrics_are_sqlalchemys_statements(db: Path) -> None:
    assert metrics_mismatches(_store(db)) == []


def test_id_prefixes_are_sqlalchemys_statements(db: Path) -> None:
    assert prefix_mismatches(_store(db)) == []


def test_what_sqlstore_executes_is_prepared(db: Path) -> None:
    assert executed_mismatches(db) == []


# -- the comparison notices drift, on either side ----------------------------------------
def test_a_changed_prepared_statement_is_noticed(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(db)
    monkeypatch.setattr(prepared, "PAGE_ORDER", prepared.PAGE_ORDER.replace("DESC", "ASC"))
    assert len(page_mismatches(store)) == 2 * len(SHAPES)
    monkeypatch.setattr(prepared, "TERMINATED_ARGS", (1, "$.ended", "true"))
    assert stats_mismatches(store)
    monkeypatch.setattr(prepared, "_PREFIX", prepared._PREFIX.replace(">=", ">"))
    assert prefix_mismatches(store)
    monkeypatch.setattr(
        prepared, "SESSION_SELECT", prepared.SESSION_SELECT.replace("sessions.state AS", "")
    )
    # Every statement executed changed above, but the events' and the ids' (a control).
    assert [m.split(":")[0] for m in executed_mismatches(db)] == [
        "get_session",
        "match_session_ids",
        "stats",
        "metric_figures",
        "iter_sessions",
    ]


def test_a_changed_sqlalchemy_statement_is_noticed(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The terminated test as a dialect might write it otherwise: every page that filters on
    # it and the stats change; then the select of events, its columns in another order.
    def terminated(self: SqliteStore) -> Any:
        return self.sessions.c.state.like('%"terminated":true%')

    monkeypatch.setattr(SqliteStore, "_terminated_expr", terminated)
    store = _store(db)
    changed = page_mismatches(store)
    filtered = [s for s in SHAPES if s[1] or s[2] is not None]
    assert len(changed) == 2 * len(filtered)
    assert stats_mismatches(store)
    assert prefix_mismatches(store) == []  # a control: prefixes do not test it
    assert [m.split(":")[0] for m in executed_mismatches(db)] == [
        "stats",
        "metric_figures",
        "iter_sessions",
    ]

    def columns(self: SqlStore) -> list[Any]:
        return list(reversed(original(self)))  # the same columns, another order

    original = SqlStore._event_columns
    monkeypatch.setattr(SqlStore, "_event_columns", columns)
    assert [m.split(":")[0] for m in executed_mismatches(db)] == [
        "recent_events",
        "stats",
        "metric_figures",
        "iter_sessions",
    ]


# -- the same records both ways ----------------------------------------------------------
Read = Callable[[Any], Awaitable[Any]]


def _both(db: Path, call: Read, old: Read) -> tuple[Any, Any]:
    """A read through the reader a read-only open gives, and SqlStore's SQLAlchemy path."""

    async def run() -> tuple[Any, Any]:
        reader = open_store(parse_store_url(f"sqlite:///{db}"), StoreOptions(read_only=True))
        assert isinstance(reader, SqliteReader)
        full = _store(db)
        try:
            return await call(reader), await old(full)
        finally:
            await reader.close()
            await full.close()

    return asyncio.run(run())


async def _listed(rows: Any) -> list[Any]:
    return [item async for item in rows]


def test_pages_read_the_same_records(db: Path) -> None:
    for shape in SHAPES[::7]:
        flt, cursor = _filter(shape)
        new, old = _both(
            db,
            lambda s, f=flt, c=cursor: _listed(s.iter_sessions(f, limit=51, cursor=c)),
            lambda s, f=flt, c=cursor: _listed(SqlStore.iter_sessions(s, f, limit=51, cursor=c)),
        )
        assert new == old, shape
    flt, _ = _filter(SHAPES[0])
    new, old = _both(
        db,
        lambda s: _listed(s.iter_sessions(flt, limit=200)),
        lambda s: _listed(SqlStore.iter_sessions(s, flt, limit=200)),
    )
    assert len(new) == 87 and new == old
    assert sum(type(item).__name__ == "CorruptRow" for item in new) == 3


def _agree(db: Path, new: Read, old: Read) -> Any:
    got, want = _both(db, new, old)
    assert got == want
    return got


def test_lookups_and_stats_read_the_same(db: Path) -> None:
    for sid in ("c" * 32, "e" * 32, "0a" * 16, "0c" * 16, "ABCDEF" + "0" * 26, "nope"):
        _agree(db, lambda s, i=sid: s.get_session(i), lambda s, i=sid: SqlStore.get_session(s, i))
        _agree(
            db,
            lambda s, i=sid: s.recent_events(i, 3),
            lambda s, i=sid: SqlStore.recent_events(s, i, 3),
        )
    for forms in (["abcdef" + "0" * 26, "ABCDEF" + "0" * 26], ["x"], ["c" * 32]):
        _agree(
            db,
            lambda s, f=forms: s.existing_session_ids(f),
            lambda s, f=forms: SqlStore.existing_session_ids(s, f),
        )
    for prefixes, limit in ((["01a2"], 6), (["abcd", "ABCD"], 6), (["0"], 1), (["zz"], 6)):
        _agree(
            db,
            lambda s, p=prefixes, n=limit: s.match_session_ids(p, limit=n),
            lambda s, p=prefixes, n=limit: SqlStore.match_session_ids(s, p, limit=n),
        )
    stats = _agree(
        db,
        lambda s: s.stats(now_ms=NOW, timeout_ms=30 * MIN),
        lambda s: SqlStore.stats(s, now_ms=NOW, timeout_ms=30 * MIN),
    )
    assert stats.sessions == 87 and stats.backend_facts["page_size"] > 0
    events = _agree(
        db,
        lambda s: s.recent_events("c" * 32, 10),
        lambda s: SqlStore.recent_events(s, "c" * 32, 10),
    )
    assert [type(e).__name__ for e in events] == ["CorruptRow", "CorruptRow", "Event", "Event"]


def test_the_readers_required_columns_are_the_layouts() -> None:
    from mcpstore_cli.backends.sqlite import layout, reading

    assert {t: set(cols) for t, cols in reading.REQUIRED.items()} == layout.REQUIRED


def test_the_reader_says_what_the_sqlite_store_says() -> None:
    from mcpstore_cli.backends.sqlite.reader import SqliteReader
    from mcpstore_cli.backends.sqlite.store import SqliteStore
    from mcpstore_cli.store.base import Store

    flags = [n for n in Store.__annotations__ if not n.startswith("_") and n != "inline_reads"]
    assert flags
    for name in flags:
        assert getattr(SqliteReader, name) == getattr(SqliteStore, name), name
