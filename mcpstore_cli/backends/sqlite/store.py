"""SQLite: the embedded default, in exactly the layout turul's SqliteSessionStorage writes."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event

from mcpstore_cli.backends.sql.base import SqlStore
from mcpstore_cli.backends.sqlite.layout import (
    ddl_statements,
    expected_columns,
    expected_indexes,
)
from mcpstore_cli.backends.sqlite.reading import SqliteReading
from mcpstore_cli.errors import (
    Interrupted,
    LayoutError,
    UsageError,
)
from mcpstore_cli.layouts.turul_sessions.demo import (
    DemoEvent,
    DemoSession,
    demo_kept,
    demo_rolled_back,
)
from mcpstore_cli.model.records import (
    CorruptRow,
    Cursor,
    Event,
    Finding,
    Session,
    SessionFilter,
    SetupStep,
)
from mcpstore_cli.store.base import ProgressCallback, StoreOptions
from mcpstore_cli.store.urls import StoreURL
from mcpstore_cli.util.jsoncodec import dumps

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from mcpstore_cli.model.teardown import ClearResult, Inventory
    from mcpstore_cli.store.follow import TailRequest, Warn


class SqliteStore(SqliteReading, SqlStore):
    # backend, title, label() and the capability flags: SqliteReading's (the reader's too)

    def __init__(self, url: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(url, options)
        self._reader: sqlite3.Connection | None = None
        self._readable = False
        self._wal_found: bool | None = None  # whether a -wal file was there when we came

    # -- dialect hooks ------------------------------------------------------------------
    def _make_engine(self) -> AsyncEngine:
        self._note_wal()
        path = self.path.absolute()
        target = f"file:{path}?mode=ro&uri=true" if self.options.read_only else str(path)
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(
            f"sqlite+aiosqlite:///{target}",
            connect_args={"timeout": self.options.connect_timeout},
        )

        @sa_event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            # The server's own connections have foreign keys on; without it, deleting a
            # session would leave its events behind.
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode")
            mode = cursor.fetchone()
            if mode and str(mode[0]).lower() == "wal":
                # In WAL mode NORMAL cannot corrupt the file (a power cut may only lose the
                # last commits); it spares an fsync per batch. Checkpoint less often, too.
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA wal_autocheckpoint=10000")
            cursor.close()

        return engine

    def _json_write(self, value: Any) -> Any:
        return dumps(value)

    def _terminated_expr(self) -> sa.ColumnElement[bool]:
        state = self.sessions.c.state
        # CASE guards json_type: one corrupt row must not abort a whole query (AND does not
        # short-circuit in SQLite).
        return (
            sa.case(
                (sa.func.json_valid(state) == 1, sa.func.json_type(state, "$.terminated")),
                else_=None,
            )
            == "true"
        )

    def _terminated_at_expr(self) -> sa.ColumnElement[Any]:
        state = self.sessions.c.state
        value = sa.func.json_extract(state, "$.terminated_at")
        is_number = sa.func.json_type(state, "$.terminated_at").in_(["integer", "real"])
        return sa.case((sa.func.json_valid(state) == 1, sa.case((is_number, value))), else_=None)

    def _physical_order(self) -> sa.ColumnElement[Any] | None:
        return sa.literal_column("sessions.rowid")

    @contextlib.asynccontextmanager
    async def expire_lock(self) -> AsyncIterator[None]:
        from mcpstore_cli.util.filelock import file_lock

        with file_lock(self.path, str(self.path)):
            yield

    def _is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sa.exc.DBAPIError | sqlite3.Error)

    @contextlib.asynccontextmanager
    async def connect(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        """Write transactions start with BEGIN IMMEDIATE: they take the write lock before
        they read, so what a batch selects cannot change under it (a live server's writes
        wait for the busy timeout instead of invalidating the batch's snapshot)."""
        if not write:
            async with super().connect() as conn:
                yield conn
            return
        async with super().connect() as conn:
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(Exception):
                    await conn.exec_driver_sql("ROLLBACK")
                raise
            await conn.exec_driver_sql("COMMIT")
            await conn.commit()

    # -- clear and teardown (teardown.py beside this module) --------------------------
    async def inventory(self) -> Inventory:
        from mcpstore_cli.backends.sqlite.teardown import sqlite_inventory

        return await sqlite_inventory(self)

    async def clear(
        self, *, recreate: bool = False, progress: ProgressCallback | None = None
    ) -> ClearResult:
        from mcpstore_cli.backends.sqlite.teardown import sqlite_clear

        return await sqlite_clear(self, progress)

    async def drop(self) -> list[str]:
        from mcpstore_cli.backends.sqlite.teardown import sqlite_drop

        return await sqlite_drop(self)

    # -- provisioning -------------------------------------------------------------------
    def tables(self) -> list[str]:
        return ["sessions", "events"]

    def setup_plan(self, **options: Any) -> list[str]:
        return ["PRAGMA journal_mode=WAL", *ddl_statements()]

    async def _existing_objects(self, conn: AsyncConnection) -> dict[str, str]:
        # Rows of the query's columns (SQLAlchemy 2.1 types exec_driver_sql's as one column).
        rows: Iterable[Sequence[Any]] = await conn.exec_driver_sql(
            "SELECT name, type FROM sqlite_master"
        )
        return {name: kind for name, kind in rows}

    async def setup(self, **options: Any) -> list[SetupStep]:
        path = self.path
        if path.is_dir():
            raise UsageError(f"{path} is a directory; name the database file inside it.")
        parent = path.absolute().parent
        if not parent.is_dir():
            raise UsageError(f"The directory {parent} does not exist; create it first.")
        created_file = not path.exists()
        steps: list[SetupStep] = []
        async with self.connect(write=True) as conn:
            before = await self._existing_objects(conn)
            for statement in ddl_statements():
                await conn.exec_driver_sql(statement)
        async with self.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode=WAL")).scalar()
        steps.append(SetupStep(str(path), "created" if created_file else "exists", "file"))
        for name in ["sessions", "events", *expected_indexes()]:
            kind = "table" if name in ("sessions", "events") else "index"
            steps.append(SetupStep(name, "exists" if name in before else "created", kind))
        steps.append(SetupStep("journal_mode", f"set to {str(mode).lower()}", "pragma"))
        if not created_file and "sessions" in before:
            drift = [f for f in await self.check() if f.severity == "error"]
            if drift:
                raise LayoutError(
                    f"{path} has tables that differ from the layout ({drift[0].object}: "
                    f"{drift[0].problem}); see mcpstore setup --check."
                )
        return steps

    async def _columns(self, conn: AsyncConnection, table: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await conn.exec_driver_sql(f"PRAGMA table_info({table})")]

    # -- reading (see reading.py: pages, lookups and stats run on a sqlite3 connection) ----
    def _page_dialect(self) -> Any:
        from sqlalchemy.dialects.sqlite.pysqlite import dialect

        return dialect()

    def _stream_sessions(
        self, flt: SessionFilter, *, limit: int | None, cursor: Cursor | None
    ) -> AsyncGenerator[Session | CorruptRow, None]:
        # Streamed through the engine (aiosqlite), so that Ctrl-C is heard between rows.
        return SqlStore.iter_sessions(self, flt, limit=limit, cursor=cursor)

    async def close(self) -> None:
        self._close_reader()
        await SqlStore.close(self)
        self._leave_as_found()

    async def check(self) -> list[Finding]:
        self._require_file()
        findings: list[Finding] = []
        async with self.connect() as conn:
            objects = await self._existing_objects(conn)
            for table, expected in expected_columns().items():
                if objects.get(table) != "table":
                    findings.append(Finding(f"table {table}", "missing"))
                    continue
                findings += _compare_columns(table, expected, await self._columns(conn, table))
            if objects.get("events") == "table":
                sql = (
                    await conn.exec_driver_sql(
                        "SELECT sql FROM sqlite_master WHERE type='table' AND name='events'"
                    )
                ).scalar() or ""
                if not re.search(r"\bAUTOINCREMENT\b", sql, re.IGNORECASE):
                    findings.append(
                        Finding("column events.id", "not AUTOINCREMENT (ids could be reused)")
                    )
                fks: list[Sequence[Any]] = list(
                    await conn.exec_driver_sql("PRAGMA foreign_key_list(events)")
                )
                good = [
                    fk
                    for fk in fks
                    if fk[2] == "sessions" and fk[3] == "session_id" and fk[4] == "session_id"
                ]
                if not good:
                    findings.append(
                        Finding("foreign key events.session_id", "missing (→ sessions)")
                    )
                elif str(good[0][6]).upper() != "CASCADE":
                    findings.append(
                        Finding(
                            "foreign key events.session_id",
                            f"ON DELETE {good[0][6]}, expected CASCADE",
                        )
                    )
            for name, (table, cols) in expected_indexes().items():
                if objects.get(table) != "table":
                    continue
                if objects.get(name) != "index":
                    findings.append(Finding(f"index {name}", "missing"))
                    continue
                index_rows: Iterable[Sequence[Any]] = await conn.exec_driver_sql(
                    f"PRAGMA index_info({name})"
                )
                have_cols = tuple(r[2] for r in index_rows)
                if have_cols != cols:
                    findings.append(
                        Finding(
                            f"index {name}",
                            f"on ({', '.join(have_cols)}), expected ({', '.join(cols)})",
                        )
                    )
        return findings

    async def _backend_facts(self, conn: AsyncConnection) -> tuple[dict[str, int], dict[str, Any]]:
        return await conn.run_sync(
            lambda sync: self._file_facts(lambda sql: sync.exec_driver_sql(sql).scalar())
        )

    # -- following ----------------------------------------------------------------------
    async def tail_events(
        self, request: TailRequest, *, warn: Warn | None = None
    ) -> AsyncIterator[list[Event | CorruptRow]]:
        from mcpstore_cli.backends.sql.tail import follow
        from mcpstore_cli.backends.sqlite.tail import SqliteIdSource

        await self.ensure_readable()
        batches = follow(SqliteIdSource(self), request, warn)
        async with contextlib.aclosing(batches):
            async for batch in batches:
                yield batch

    # -- writing ------------------------------------------------------------------------
    async def _bulk_insert(
        self, conn: AsyncConnection, sessions: Sequence[Session], events: Sequence[Event]
    ) -> None:
        # Fast path: plain tuples straight to the driver's executemany.
        if sessions:
            await conn.exec_driver_sql(
                _INSERT_SESSIONS + _SESSION_VALUES, [_session_row(s) for s in sessions]
            )
        if events:
            await conn.exec_driver_sql(
                _INSERT_EVENTS + _EVENT_VALUES, [_event_row(e) for e in events]
            )

    async def write_demo(
        self, batches: Any, progress: ProgressCallback | None = None
    ) -> tuple[int, int]:
        """Bulk load, pipelined: a worker thread inserts one batch while the next is made.

        The worker has a connection of its own (foreign keys on, like every connection), so
        the settings that speed up a bulk load stay on it and end with it: synchronous=NORMAL
        (in WAL mode) and a large page cache. Into empty tables the whole load is one
        transaction (Ctrl-C or an error leaves them empty); otherwise each batch is one.
        Multi-row INSERTs keep the driver's calls (and the worker's turns at the GIL) few.
        """
        import asyncio
        from concurrent.futures import Future, ThreadPoolExecutor

        await self.ensure_readable()
        loop = asyncio.get_running_loop()
        total_sessions = total_events = 0
        kept = [0, 0, 0]  # sessions, events, batches committed
        pending: asyncio.Future[int] | None = None
        pending_job: Future[int] | None = None  # the same batch, as the worker sees it
        pending_counts = (0, 0)
        one_transaction = False
        switch = sys.getswitchinterval()

        def settled(done: int) -> None:
            if not one_transaction:
                kept[0] += pending_counts[0]
                kept[1] += pending_counts[1]
                kept[2] += 1
            if progress is not None:
                progress(done)

        with ThreadPoolExecutor(1, thread_name_prefix="mcpstore-demo") as pool:
            loader = _BulkLoader(self.path, self.options.connect_timeout)
            try:
                await loop.run_in_executor(pool, loader.open)
                one_transaction = await loop.run_in_executor(pool, loader.begin_if_empty)
                # The generator holds the GIL most of the time: hand it over sooner, so the
                # worker is not kept waiting between statements.
                sys.setswitchinterval(0.0005)
                async for sessions, events in batches:
                    if pending is not None:
                        settled(await pending)
                        pending = None
                    pending_job = pool.submit(loader.insert, sessions, events)
                    pending = asyncio.wrap_future(pending_job)
                    pending_counts = (len(sessions), len(events))
                    total_sessions += len(sessions)
                    total_events += len(events)
                if pending is not None:
                    settled(await pending)
                    pending = None
                if one_transaction:
                    await loop.run_in_executor(pool, loader.commit)
            except sqlite3.Error as exc:
                translated = self._translate_error(exc)
                if translated is None:
                    raise
                raise translated from exc
            except (KeyboardInterrupt, Interrupted, asyncio.CancelledError):
                # The one worker ends the batch it has begun, then closes the connection
                # (which rolls back a transaction still open); a batch that committed counts.
                await asyncio.wrap_future(pool.submit(loader.close))
                if pending is not None and pending_job is not None:
                    if not pending_job.cancelled() and pending_job.exception() is None:
                        settled(pending_job.result())
                    pending = None
                raise _demo_interrupted(one_transaction, kept) from None
            finally:
                sys.setswitchinterval(switch)
                if pending is not None:
                    with contextlib.suppress(BaseException):
                        await pending
                await loop.run_in_executor(pool, loader.close)
        return total_sessions, total_events

    # -- backups: see sqlite_backup -------------------------------------------------------
    async def backup_records(
        self, spec: Any, out: Any, header: dict[str, Any], progress: Any = None
    ) -> dict[str, Any]:

        from mcpstore_cli.backends.sqlite import backup as sqlite_backup
        from mcpstore_cli.util.interrupt import to_thread

        return await to_thread(sqlite_backup.backup_sync, self, spec, out, header, progress)

    async def restore_records(
        self, info: Any, summary: Any, *, mode: str, keep_ttl: bool = False, progress: Any = None
    ) -> None:
        from mcpstore_cli.backends.sqlite import backup as sqlite_backup

        await sqlite_backup.restore(self, info, summary, mode=mode, progress=progress)

    async def row_counts(self) -> tuple[int, int]:
        from mcpstore_cli.backends.sqlite import backup as sqlite_backup

        await self.ensure_readable()
        return await sqlite_backup.clear_counts(self)

    async def native_backup(
        self, target: str | None = None, *, force: bool = False
    ) -> list[dict[str, Any]]:
        from mcpstore_cli.backends.sqlite import backup as sqlite_backup
        from mcpstore_cli.util.outfile import check_output

        path = sqlite_backup.native_target(self, target)
        shown = target if target is not None and path == Path(target).expanduser() else None
        check_output(path, force=force, protect=self.own_files(), shown=shown)
        await self.ensure_readable()
        size = await sqlite_backup.native_backup(self, path, force=force)
        return [sqlite_backup.native_row(path, size)]

    async def list_native_backups(self, directory: str = ".") -> list[dict[str, Any]]:
        from mcpstore_cli.backends.sqlite import backup as sqlite_backup

        return sqlite_backup.list_native(self, Path(directory))


_INSERT_SESSIONS = (
    "INSERT INTO sessions (session_id, client_capabilities, server_capabilities, state, "
    "created_at, last_activity, is_initialized, metadata) VALUES "
)
_SESSION_VALUES = "(?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_EVENTS = "INSERT INTO events (session_id, timestamp, event_type, data, retry) VALUES "
_EVENT_VALUES = "(?, ?, ?, ?, ?)"


def _session_row(s: Session) -> tuple[Any, ...]:
    if isinstance(s, DemoSession):  # JSON already rendered, exactly as dumps would
        return (
            s.session_id,
            s.client_capabilities_json,
            s.server_capabilities_json,
            s.state_json,
            s.created_at,
            s.last_activity,
            1 if s.is_initialized else 0,
            s.metadata_json,
        )
    return (
        s.session_id,
        None if s.client_capabilities is None else dumps(s.client_capabilities),
        dumps(s.server_capabilities),
        dumps(s.state),
        s.created_at,
        s.last_activity,
        1 if s.is_initialized else 0,
        dumps(s.metadata),
    )


def _event_row(e: Event) -> tuple[Any, ...]:
    text = e.data_json if isinstance(e, DemoEvent) else dumps(e.data)
    return (e.session_id, e.timestamp, e.event_type, text, e.retry)


def _demo_interrupted(one_transaction: bool, kept: list[int]) -> Interrupted:
    if one_transaction:
        return demo_rolled_back()
    return demo_kept(kept[0], kept[1], kept[2])


class _BulkLoader:
    """The demo's private writer connection, used only from its worker thread."""

    ROWS_PER_STATEMENT = 500  # 4,000 parameters at most: under every SQLite's limit

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self.conn: sqlite3.Connection | None = None
        self.single = False  # the whole load in one transaction

    def open(self) -> None:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.execute("PRAGMA foreign_keys=ON")
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            # Safe from corruption in WAL mode (a power cut can only lose the last commits);
            # in rollback-journal mode SQLite's own default (FULL) stays.
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-262144")  # 256 MiB of pages, for this connection
        self.conn = conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()  # an unfinished transaction rolls back
            self.conn = None

    def begin_if_empty(self) -> bool:
        """Into empty tables, open the one transaction the whole load runs in (True)."""
        conn = self.conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        empty = conn.execute(
            "SELECT NOT EXISTS (SELECT 1 FROM sessions) AND NOT EXISTS (SELECT 1 FROM events)"
        ).fetchone()[0]
        if not empty:
            conn.execute("ROLLBACK")
        self.single = bool(empty)
        return self.single

    def commit(self) -> None:
        assert self.conn is not None
        self.conn.execute("COMMIT")
        # The one transaction went through the WAL whole: once checkpointed (the commit's
        # auto-checkpoint copies it), give its disk space back.
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def insert(self, sessions: Sequence[Session], events: Sequence[Event]) -> int:
        conn = self.conn
        assert conn is not None
        if self.single:
            self._many(conn, _INSERT_SESSIONS, _SESSION_VALUES, map(_session_row, sessions))
            self._many(conn, _INSERT_EVENTS, _EVENT_VALUES, map(_event_row, events))
            return len(sessions) + len(events)
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._many(conn, _INSERT_SESSIONS, _SESSION_VALUES, map(_session_row, sessions))
            self._many(conn, _INSERT_EVENTS, _EVENT_VALUES, map(_event_row, events))
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return len(sessions) + len(events)

    def _many(
        self, conn: sqlite3.Connection, head: str, one: str, rows: Iterator[tuple[Any, ...]]
    ) -> None:
        per = self.ROWS_PER_STATEMENT
        full = head + ", ".join([one] * per)
        params: list[Any] = []
        count = 0
        for row in rows:
            params.extend(row)
            count += 1
            if count == per:
                conn.execute(full, params)
                params = []
                count = 0
        if count:
            conn.execute(head + ", ".join([one] * count), params)


def _compare_columns(
    table: str,
    expected: list[tuple[str, str, bool, str | None, bool]],
    actual: list[tuple[Any, ...]],
) -> list[Finding]:
    out: list[Finding] = []
    have = {row[1]: row for row in actual}
    for name, decl, notnull, default, pk in expected:
        obj = f"column {table}.{name}"
        row = have.get(name)
        if row is None:
            out.append(Finding(obj, "missing"))
            continue
        _cid, _name, got_type, got_notnull, got_default, got_pk = row
        if str(got_type).upper() != decl:
            out.append(Finding(obj, f"declared {got_type or 'without a type'}, expected {decl}"))
        if bool(got_notnull) != notnull and not pk:
            out.append(
                Finding(
                    obj,
                    "NOT NULL, expected nullable" if got_notnull else "nullable, expected NOT NULL",
                )
            )
        if bool(got_pk) != pk:
            out.append(Finding(obj, "not the primary key" if pk else "part of the primary key"))
        if default is not None and str(got_default).upper() != default.upper():
            out.append(Finding(obj, f"default {got_default}, expected {default}"))
    expected_names = {e[0] for e in expected}
    for name, row in have.items():
        if name not in expected_names:
            blocking = bool(row[3]) and row[4] is None
            out.append(
                Finding(
                    f"column {table}.{name}",
                    "extra, NOT NULL without a default: server inserts will fail"
                    if blocking
                    else "extra (the server ignores it)",
                    "error" if blocking else "note",
                )
            )
    return out
