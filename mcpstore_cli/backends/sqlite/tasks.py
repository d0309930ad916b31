"""turul's task stores in a SQLite file: the 2025 lane's ``tasks`` (``SQLITE_TASK_PATH``,
default ``mcp_tasks.db``) and the 2026 lane's ``ext_tasks`` (a file the operator names).

Reads go through a read-only connection (as the session store's reader does); every change
runs in one ``BEGIN IMMEDIATE`` transaction on a writable connection, conditional on the row
as it was read (see :mod:`mcpstore_cli.backends.sql.tasks` and ``sql.ext_tasks``); a batch of
``tasks expire`` is one DELETE that is a transaction of its own, which takes the write lock as
it starts just the same (:meth:`SqliteTaskStore._statement`).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from mcpstore_cli.backends.sql.ext_tasks import Change, SqlExtTaskStore
from mcpstore_cli.backends.sql.tasks import SqlTaskStore
from mcpstore_cli.backends.sqlite.reading import SqliteReading
from mcpstore_cli.backends.sqlite.teardown import sqlite_companions
from mcpstore_cli.errors import Interrupted, LayoutError, StoreMissingError, UsageError
from mcpstore_cli.layouts.turul_ext_tasks import records as ext_records
from mcpstore_cli.layouts.turul_tasks import records
from mcpstore_cli.model.records import Finding, SetupStep
from mcpstore_cli.model.teardown import ClearResult, Inventory, TableFacts
from mcpstore_cli.store.base import ProgressCallback, StoreOptions
from mcpstore_cli.store.nonsession import NonSessionStore
from mcpstore_cli.store.urls import StoreURL

DIALECT = "sqlite"


def _ddl() -> Any:
    """The DDL generator (SQLAlchemy): loaded only by what makes or checks tables."""
    from mcpstore_cli.backends.sql import ddl

    return ddl


def ddl_statements(layout: Any = None) -> list[str]:
    if layout is None:
        from mcpstore_cli.layouts.turul_tasks import schema as layout
    return _ddl().create_statements(layout.TABLES, layout.indexes(), DIALECT)


class _TaskFile(SqliteReading):
    """The task store's file: its path, read-only connection and error messages."""

    def __init__(self, url: StoreURL, options: StoreOptions) -> None:
        self.url = url
        self.options = options
        self._reader = None
        self._wal_found = None


class SqliteTableStore(NonSessionStore):
    """A layout of a few tables in a SQLite file (tasks, ext-tasks, server state): the file,
    provisioning, clear and teardown. Subclasses name the tables (the first is the main one)
    and the schema module that declares them."""

    backend: ClassVar[str] = "sqlite"
    title: ClassVar[str] = "SQLite"
    clears_in_one_transaction: ClassVar[bool] = True
    TABLE: ClassVar[str]
    # The layout's package: its light declaration (TABLE_NAMES, REQUIRED) and, loaded only
    # for DDL and checks, its SQLAlchemy schema (``<package>.schema``).
    LAYOUT_PACKAGE: ClassVar[str]
    RECORDS: ClassVar[str] = "tasks"  # what clear reports deleting
    TABLE_NOUNS: ClassVar[dict[str, str]] = {}  # what clear calls the rows of other tables

    @classmethod
    def _light(cls) -> Any:
        return importlib.import_module(cls.LAYOUT_PACKAGE)

    @property
    def SCHEMA(self) -> Any:
        return importlib.import_module(f"{self.LAYOUT_PACKAGE}.schema")

    @classmethod
    def _names(cls) -> list[str]:
        return list(cls._light().TABLE_NAMES)

    def __init__(self, url: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(url, options)
        self.file = _TaskFile(url, self.options)
        self._readable = False

    @classmethod
    def _identifying(cls) -> dict[str, set[str]]:
        return {cls.TABLE: set(cls._light().REQUIRED)}

    @property
    def path(self) -> Path:
        return self.file.path

    def own_files(self) -> list[Path]:
        return self.file.own_files()

    def label(self) -> str:
        return Path(self.url.path or "mcp_tasks.db").stem or "sqlite"

    async def close(self) -> None:
        self.file._close_reader()
        self.file._leave_as_found()

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.file._read(sql, args)

    async def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._read(sql, args)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before anything is read (BEGIN IMMEDIATE), on a
        connection of its own."""
        with self._writer() as own:
            yield from self._transaction(own)

    @contextlib.contextmanager
    def _writer(self) -> Iterator[sqlite3.Connection]:
        """A writable connection, for a run of write transactions."""
        self.file._require_file()
        try:
            conn = sqlite3.connect(
                str(self.path.absolute()),
                timeout=self.options.connect_timeout,
                isolation_level=None,
            )
        except sqlite3.Error as exc:
            raise self.file._translate_error(exc) or exc from exc
        try:
            yield conn
        finally:
            conn.close()

    def _statement(self, conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> int:
        """One write statement as a transaction of its own (``conn`` in autocommit); the rows
        it changed.

        As safe as BEGIN IMMEDIATE: SQLite takes the write lock as the statement starts,
        before it reads a row, and commits as it ends. Cheaper for a statement that changes
        many rows (measured, 50 DELETEs of 10,000 tasks each from 1,000,000, in four pairs
        of runs: 3.0-3.9 s on their own, 3.6-4.9 s each between BEGIN IMMEDIATE and
        COMMIT)."""
        try:
            return int(conn.execute(sql, args).rowcount)
        except sqlite3.Error as exc:
            raise self.file._translate_error(exc) or exc from exc

    def _transaction(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self.file._translate_error(exc) or exc from exc

    # -- provisioning -----------------------------------------------------------------------
    def tables(self) -> list[str]:
        return self._names()

    def setup_plan(self, **options: Any) -> list[str]:
        return ddl_statements(self.SCHEMA)

    def _objects(self) -> dict[str, str]:
        return {r["name"]: r["type"] for r in self._read("SELECT name, type FROM sqlite_master")}

    async def ensure_readable(self) -> None:
        if self._readable:
            return
        objects = self._objects()
        if objects.get(self.TABLE) != "table":
            raise StoreMissingError(
                f"{self.path} has no {self.TABLE} table; run mcpstore setup --layout "
                f"{self.layout} --url {self.url.masked()}."
            )
        have = {r["name"] for r in self._read(f"PRAGMA table_info({self.TABLE})")}
        missing = sorted(self._identifying()[self.TABLE] - have)
        if missing:
            raise LayoutError(
                f"{self.path} is in another layout: table {self.TABLE} has no column "
                f"{missing[0]}; see mcpstore setup --layout {self.layout} --check."
            )
        self._readable = True

    async def setup(self, **options: Any) -> list[SetupStep]:
        path = self.path
        if path.is_dir():
            raise UsageError(f"{path} is a directory; name the database file inside it.")
        parent = path.absolute().parent
        if not parent.is_dir():
            raise UsageError(f"The directory {parent} does not exist; create it first.")
        created_file = not path.exists()
        if not created_file and set(self._names()) & set(self._objects()):
            drift = [f for f in await self.check() if f.severity == "error"]
            if drift:
                raise LayoutError(
                    f"{path} has a {self.TABLE} table that differs from the layout "
                    f"({drift[0].object}: {drift[0].problem}); see mcpstore setup --layout "
                    f"{self.layout} --check."
                )
        self.file._close_reader()
        try:
            conn = sqlite3.connect(str(path.absolute()), isolation_level=None)
        except sqlite3.Error as exc:
            raise self.file._translate_error(exc) or exc from exc
        try:
            conn.execute("BEGIN IMMEDIATE")
            before = {n: k for n, k in conn.execute("SELECT name, type FROM sqlite_master")}
            for statement in ddl_statements(self.SCHEMA):
                conn.execute(statement)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self.file._translate_error(exc) or exc from exc
        finally:
            conn.close()
        steps = [SetupStep(str(path), "created" if created_file else "exists", "file")]
        for name in self._names():
            steps.append(SetupStep(name, "exists" if name in before else "created", "table"))
        for spec in _ddl().index_specs(self.SCHEMA.indexes(), DIALECT):
            steps.append(
                SetupStep(spec.name, "exists" if spec.name in before else "created", "index")
            )
        self._readable = False
        return steps

    async def check(self) -> list[Finding]:
        self.file._require_file()
        objects = self._objects()
        from mcpstore_cli.backends.sqlite.store import _compare_columns

        findings: list[Finding] = []
        for table in self.SCHEMA.TABLES:
            if objects.get(table.name) != "table":
                findings.append(Finding(f"table {table.name}", "missing"))
                continue
            expected = [
                (c.name, c.type, c.not_null, c.default, c.primary_key)
                for c in _ddl().column_specs(table, DIALECT)
            ]
            actual = [tuple(r.values()) for r in self._read(f"PRAGMA table_info({table.name})")]
            findings += _compare_columns(table.name, expected, actual)
        for spec in _ddl().index_specs(self.SCHEMA.indexes(), DIALECT):
            if objects.get(spec.table) != "table":
                continue
            if objects.get(spec.name) != "index":
                findings.append(Finding(f"index {spec.name}", "missing"))
                continue
            have = tuple(r["name"] for r in self._read(f"PRAGMA index_info({spec.name})"))
            if have != spec.columns:
                findings.append(
                    Finding(
                        f"index {spec.name}",
                        f"on ({', '.join(have)}), expected ({', '.join(spec.columns)})",
                    )
                )
        return findings

    # -- demo -------------------------------------------------------------------------------
    def _demo_insert(self) -> tuple[str, Any]:
        """The INSERT of demo rows and the function making a row of a demo item."""
        raise NotImplementedError

    async def write_demo(
        self, batches: Any, progress: ProgressCallback | None = None
    ) -> tuple[int, int]:
        """Insert the demo's tasks, a transaction per batch (committed batches stay)."""
        sql, make_row = self._demo_insert()
        written = 0
        try:
            async for items, _events in batches:
                rows = [make_row(item) for item in items]
                with self._writing() as conn:
                    conn.executemany(sql, rows)
                written += len(rows)
                if progress is not None:
                    progress(len(rows))
        except (KeyboardInterrupt, Interrupted):
            raise Interrupted(
                f"the demo wrote {written:,} tasks in whole batches; they stay in the store."
            ) from None
        return written, 0

    # -- the portable backup file ----------------------------------------------------------
    def _backup_queries(self) -> list[tuple[str, Any]]:
        """(SELECT, row -> record) per record kind, in file order."""
        raise NotImplementedError

    def _restore_insert(self, kind: str) -> tuple[str, Any]:
        """(INSERT OR IGNORE, record -> parameters) for a record kind."""
        raise NotImplementedError

    async def backup_records(
        self, spec: Any, out: Any, header: dict[str, Any], progress: ProgressCallback | None = None
    ) -> dict[str, Any]:
        """Every record, read in one read transaction of the file (one WAL snapshot)."""
        from mcpstore_cli.backends.sql import nonsession_backup as nb

        nb.refuse_session_filters(spec, self.layout)
        await self.ensure_readable()
        header["layout"] = self.layout
        header["source"]["event_ids"] = "none"
        out.header(header)
        skipped = 0
        conn = self.file._reader_conn()
        conn.execute("BEGIN")
        try:
            for sql, to_record in self._backup_queries():
                cur = conn.execute(sql)
                names = [d[0] for d in cur.description or ()]
                while rows := cur.fetchmany(2000):
                    lines = []
                    for values in rows:
                        record = to_record(dict(zip(names, values, strict=True)))
                        if record is None:
                            skipped += 1
                        else:
                            lines.append(nb.line(record))
                    out.sessions_block(b"".join(lines))
                    if progress is not None:
                        progress(len(rows))
        finally:
            conn.execute("COMMIT")
        notes = [f"{skipped:,} rows whose JSON is damaged were left out"] if skipped else []
        return {
            "consistency": "one read transaction of the SQLite file",
            "skipped": skipped,
            "notes": notes,
        }

    async def restore_records(
        self,
        info: Any,
        summary: Any,
        *,
        mode: str,
        keep_ttl: bool = False,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Load a verified file in one write transaction: ``merge`` adds what the store lacks
        (by key), ``replace`` empties the layout's tables first."""
        import json

        from mcpstore_cli.util.backupfile import iter_record_blocks

        with self._writing() as conn:
            if mode == "replace":
                counts = [conn.execute(f"DELETE FROM {n}").rowcount for n in self._names()]
                summary.replaced_sessions = counts[0]
            for kind, lines in iter_record_blocks(info.path):
                sql, params = self._restore_insert(kind)
                rows = [params(json.loads(raw)) for raw in lines]
                before = conn.total_changes
                conn.executemany(sql, rows)
                written = conn.total_changes - before
                summary.sessions += written
                summary.skipped_sessions += len(rows) - written
                if progress is not None:
                    progress(len(rows))

    async def row_counts(self) -> tuple[int, int]:
        await self.ensure_readable()
        return int(self._read(f"SELECT count(*) AS n FROM {self.TABLE}")[0]["n"]), 0

    # -- clear and teardown -----------------------------------------------------------------
    async def inventory(self) -> Inventory:
        started = time.monotonic()
        self.file._require_file()
        inv = Inventory(backend="sqlite", store=self.url.masked(), name=self.path.name, exists=True)
        objects = self._objects()
        for name in self._names():
            if objects.get(name) == "table":
                n = self._read(f"SELECT count(*) AS n FROM {name}")[0]["n"]
                inv.tables.append(TableFacts(name, rows=int(n)))
            else:
                inv.tables.append(TableFacts(name, exists=False))
        for companion in sqlite_companions(self.path):
            with contextlib.suppress(OSError):
                inv.files.append((str(companion), os.stat(companion).st_size))
        others = sorted(
            n
            for n, k in objects.items()
            if k == "table" and n not in self._names() and not n.startswith("sqlite_")
        )
        if others:
            inv.facts["other_tables"] = others
            inv.notes.append(
                f"{self.path.name} also holds other tables ({', '.join(others)}): deleting "
                f"drops only {', '.join(self._names())} and keeps the file."
            )
        inv.seconds = time.monotonic() - started
        return inv

    async def clear(
        self, *, recreate: bool = False, progress: ProgressCallback | None = None
    ) -> ClearResult:
        await self.ensure_readable()
        started = time.monotonic()
        with self._writing() as conn:
            counts = [conn.execute(f"DELETE FROM {name}").rowcount for name in self._names()]
        n = counts[0]
        if progress is not None:
            progress(sum(counts))
        deleted = {self.RECORDS: n}
        for name, count in zip(self._names()[1:], counts[1:], strict=True):
            deleted[self.TABLE_NOUNS.get(name, f"rows of {name}")] = count
        return ClearResult(n, 0, seconds=time.monotonic() - started, records=deleted)

    async def drop(self) -> list[str]:
        self.file._close_reader()
        with self._writing() as conn:
            for spec in _ddl().index_specs(self.SCHEMA.indexes(), DIALECT):
                conn.execute(f"DROP INDEX IF EXISTS {spec.name}")
            for name in self._names():
                conn.execute(f"DROP TABLE IF EXISTS {name}")
            left = [
                n
                for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not n.startswith("sqlite_")
            ]
        self._readable = False
        if not left:
            for companion in sqlite_companions(self.path):
                with contextlib.suppress(FileNotFoundError):
                    companion.unlink()
            return [str(self.path)]
        return [f"table {name}" for name in self._names()]


class SqliteTaskStore(SqliteTableStore, SqlTaskStore):
    """The 2025 lane's ``tasks``."""

    layout: ClassVar[str] = "tasks"
    TABLE: ClassVar[str] = "tasks"
    LAYOUT_PACKAGE: ClassVar[str] = "mcpstore_cli.layouts.turul_tasks"

    async def _delete_unchanged(self, rows: Sequence[tuple[str, str, str, int | None]]) -> int:
        with self._writing() as conn:
            cur = conn.executemany(
                "DELETE FROM tasks WHERE task_id = ? AND status = ? AND last_updated_at = ?",
                [r[:3] for r in rows],
            )
            return max(cur.rowcount, 0)

    async def _update_unchanged(
        self,
        rows: Sequence[tuple[str, str, str, int | None]],
        *,
        status: str,
        message: str,
        now_text: str,
    ) -> list[str]:
        changed: list[str] = []
        with self._writing() as conn:
            for task_id, old_status, old_updated, _version in rows:
                cur = conn.execute(
                    "UPDATE tasks SET status = ?, status_message = ?, last_updated_at = ? "
                    "WHERE task_id = ? AND status = ? AND last_updated_at = ?",
                    (status, message, now_text, task_id, old_status, old_updated),
                )
                if cur.rowcount == 1:
                    changed.append(task_id)
        return changed

    def _demo_insert(self) -> tuple[str, Any]:
        marks = ", ".join("?" for _ in records.COLUMNS)
        sql = f"INSERT INTO tasks ({', '.join(records.COLUMNS)}) VALUES ({marks})"
        return sql, self.demo_row

    # created_at + ttl < now in SQL: julianday() reads the RFC 3339 forms (to the ms) with an
    # offset up to 14:00 (a larger one, valid RFC 3339 that no server writes, reads as no
    # time: such a task is left); the guard leaves out a date julianday() would move (a 30
    # February), which is not a time, and the whitespace julianday() lets through and RFC
    # 3339 does not: a space (before the offset, say) or any at the end. (A tab or a line
    # feed just before the offset would still read: julianday()'s reading, and the server's.)
    # Two cheap calls: the rtrim() over the characters after the seconds they replace cost as
    # much as julianday() itself (measured on 1,000,000 tasks, half of them due: 250 ms).
    # A day past the 28th is checked against its month (julianday() would move a 30 February
    # on); the test on the 28th spares the date() call for most rows.
    _DATE_OK = (
        "(substr(created_at, 9, 2) <= '28' OR "
        "date(julianday(substr(created_at, 1, 10))) = substr(created_at, 1, 10))"
    )
    # An unreadable time makes julianday() NULL, and the comparison with it false.
    # (The date is checked last: only for the rows whose time says they are due.)
    _DUE = (
        "ttl IS NOT NULL AND (julianday(created_at) - 2440587.5) * 86400000.0 + ttl < ? "
        f"AND {_DATE_OK} AND instr(created_at, ' ') = 0 AND substr(created_at, -1) > ' '"
    )
    # Another RFC 3339 spelling (a "t", a space), which julianday() may not read, or text of
    # another length: judged row by row after the batches. Told by GLOB with wildcards only
    # (three times cheaper than digit classes), and without ttl, so that counting them reads
    # the index on created_at instead of the table. Text of the usual shape that julianday()
    # cannot read is no time at all: the batches leave it, as the row-by-row judge would.
    _ODD_SHAPE = "NOT (created_at GLOB '????-??-??T??:??:??*')"
    _ODD = f"ttl IS NOT NULL AND {_ODD_SHAPE}"

    def _ms(self, column: str) -> str | None:
        date_ok = self._DATE_OK.replace("created_at", column)
        return f"CASE WHEN {date_ok} THEN (julianday({column}) - 2440587.5) * 86400000.0 END"

    async def _expire_in_sql(self, opts: Any, progress: ProgressCallback | None) -> Any:
        """Batches of one write statement each, a transaction of its own that holds the
        write lock from before it reads (the rows a batch reads cannot change before it
        deletes them)."""
        from mcpstore_cli.model.tasks import TaskExpireResult

        started = time.monotonic()
        now_ms = opts.now_ns // 1_000_000
        result = TaskExpireResult(dry_run=opts.dry_run)
        if opts.dry_run:
            rows = self._read(
                f"SELECT task_id FROM tasks WHERE {self._DUE} ORDER BY created_at, task_id "
                f"LIMIT {max(opts.sample, 0)}",
                [now_ms],
            )
            result.sample = [str(r["task_id"]) for r in rows]
            result.deleted = int(
                self._read(f"SELECT count(*) AS n FROM tasks WHERE {self._DUE}", [now_ms])[0]["n"]
            )
            result.examined = result.deleted
            result.elapsed_s = time.monotonic() - started
            return result
        # Batches by ranges of rowid (the file's own order): the table is read once, front to
        # to back, and a batch is one DELETE whose WHERE says it all.
        with self._writer() as writer:
            await self._expire_ranges(opts, progress, result, started, now_ms, writer)
        odd_rows = await self._fetch(f"SELECT count(*) AS n FROM tasks WHERE {self._ODD_SHAPE}")
        if not result.partial and int(odd_rows[0]["n"]):
            # What the batches did not read as a time (another RFC 3339 spelling, or no time
            # at all): judged row by row.
            odd = await self._expire_rowwise(opts, progress, condition=self._ODD)
            result.examined += odd.examined
            result.deleted += odd.deleted
            result.skipped_changed += odd.skipped_changed
            result.corrupt += odd.corrupt
            result.partial = odd.partial
        result.elapsed_s = time.monotonic() - started
        return result

    async def _expire_ranges(
        self,
        opts: Any,
        progress: ProgressCallback | None,
        result: Any,
        started: float,
        now_ms: int,
        writer: sqlite3.Connection,
    ) -> None:
        """Batches by ranges of rowid (the file's own order): the table is read once, front
        to back, and a batch is one DELETE whose WHERE says it all, a transaction of its own
        on the same connection."""
        top = int(self._read("SELECT coalesce(max(rowid), 0) AS n FROM tasks")[0]["n"])
        low = 0
        while low < top:
            if opts.time_budget_s is not None and time.monotonic() - started >= opts.time_budget_s:
                result.partial = True
                return
            high = low + opts.batch_size
            if len(result.sample) < opts.sample:
                first = self._read(
                    f"SELECT task_id FROM tasks WHERE rowid > ? AND rowid <= ? AND {self._DUE} "
                    f"ORDER BY rowid LIMIT {opts.sample - len(result.sample)}",
                    [low, high, now_ms],
                )
                result.sample += [str(r["task_id"]) for r in first]
            gone = self._statement(
                writer,
                f"DELETE FROM tasks WHERE rowid > ? AND rowid <= ? AND {self._DUE}",
                [low, high, now_ms],
            )
            low = high
            result.deleted += gone
            result.examined += gone
            if progress is not None and gone:
                progress(gone)
            await self._pace(opts.rate, result.deleted, started)
            if low >= top:
                # Rows the server added meanwhile, past the end: read the end again.
                top = int(self._read("SELECT coalesce(max(rowid), 0) AS n FROM tasks")[0]["n"])

    def _backup_queries(self) -> list[tuple[str, Any]]:
        from mcpstore_cli.backends.sql import nonsession_backup as nb

        return [(f"SELECT {self._columns()} FROM tasks ORDER BY task_id", nb.task_record)]

    def _restore_insert(self, kind: str) -> tuple[str, Any]:
        marks = ", ".join("?" for _ in records.COLUMNS)
        sql = f"INSERT OR IGNORE INTO tasks ({', '.join(records.COLUMNS)}) VALUES ({marks})"

        def params(record: list[Any]) -> tuple[Any, ...]:
            row = records.row_from_record(record)
            return tuple(row[c] for c in records.COLUMNS)

        return sql, params


class SqliteExtTaskStore(SqliteTableStore, SqlExtTaskStore):
    """The 2026 lane's ``ext_tasks``: one JSON document per task."""

    layout: ClassVar[str] = "ext-tasks"
    TABLE: ClassVar[str] = "ext_tasks"
    LAYOUT_PACKAGE: ClassVar[str] = "mcpstore_cli.layouts.turul_ext_tasks"

    def label(self) -> str:
        return Path(self.url.path or "ext_tasks.db").stem or "sqlite"

    def _created(self) -> str:
        # Guarded: json_extract stops the whole query on one malformed document.
        return (
            "coalesce(CASE WHEN json_valid(state) THEN "
            "json_extract(state, '$.fields.createdAt') END, '')"
        )

    async def _apply(self, changes: Sequence[Change]) -> list[bool]:
        done: list[bool] = []
        with self._writing() as conn:
            for c in changes:
                if c.delete:
                    cur = conn.execute(
                        "DELETE FROM ext_tasks WHERE task_id = ? AND state = ?",
                        (c.task_id, c.old_state),
                    )
                else:
                    cur = conn.execute(
                        "UPDATE ext_tasks SET status = ?, last_updated_at = ?, state = ? "
                        "WHERE task_id = ? AND state = ?",
                        (c.status, c.last_updated_at, c.state, c.task_id, c.old_state),
                    )
                done.append(cur.rowcount == 1)
        return done

    def _demo_insert(self) -> tuple[str, Any]:
        def row(doc: dict[str, Any]) -> tuple[Any, ...]:
            fields = doc["fields"]
            return (fields["taskId"], doc["status"], fields["lastUpdatedAt"], ext_records.dump(doc))

        sql = "INSERT INTO ext_tasks (task_id, status, last_updated_at, state) VALUES (?, ?, ?, ?)"
        return sql, row

    def _backup_queries(self) -> list[tuple[str, Any]]:
        from mcpstore_cli.backends.sql import nonsession_backup as nb

        sql = "SELECT task_id, status, last_updated_at, state FROM ext_tasks ORDER BY task_id"
        return [(sql, nb.ext_record)]

    def _restore_insert(self, kind: str) -> tuple[str, Any]:
        sql = (
            "INSERT OR IGNORE INTO ext_tasks (task_id, status, last_updated_at, state) "
            "VALUES (?, ?, ?, ?)"
        )
        return sql, lambda r: (r[1], r[2], r[3], ext_records.dump(r[4]))
