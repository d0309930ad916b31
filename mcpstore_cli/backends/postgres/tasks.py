"""turul's 2025 task store on PostgreSQL (table ``tasks``, beside ``sessions`` and ``events``
if the database holds them too).

A store of its own for layout ``tasks``; everything about talking to PostgreSQL (URLs,
``connect_timeout``, read-only sessions, ``--lock-timeout``, the lock-wait watcher,
``--create-database``, error sentences) is :class:`PgLink`'s, held as ``self.pg`` (no
SQLAlchemy: that loads only for DDL and checks).
Changes check and increment the row ``version``, the server's optimistic lock: a task the
server updated after it was read has another version and is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import asyncpg

from mcpstore_cli.backends.postgres.link import PgLink, quote_ident
from mcpstore_cli.backends.sql.ext_tasks import Change, SqlExtTaskStore
from mcpstore_cli.backends.sql.server_state import SqlServerStateStore
from mcpstore_cli.backends.sql.tasks import SqlTaskStore
from mcpstore_cli.errors import (
    Interrupted,
    LayoutError,
    McpStoreError,
    StoreMissingError,
)
from mcpstore_cli.layouts.turul_ext_tasks import records as ext_records
from mcpstore_cli.layouts.turul_tasks import records
from mcpstore_cli.model.records import Finding, SetupStep
from mcpstore_cli.model.teardown import ClearResult, Inventory, TableFacts
from mcpstore_cli.store.base import ProgressCallback, StoreOptions
from mcpstore_cli.store.nonsession import NonSessionStore
from mcpstore_cli.store.urls import StoreURL

DIALECT = "postgresql"
SETUP_LOCK_KEY = 7367200201  # the key turul's session setup takes: one setup at a time
_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?")

_COLUMNS_SQL = """
SELECT c.relkind::text, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid)
FROM pg_class c
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.oid = to_regclass($1)
ORDER BY a.attnum
"""

_INDEXES_SQL = """
SELECT i.relname,
       array(SELECT a.attname FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.num
             ORDER BY k.ord) AS cols,
       pg_get_expr(ix.indpred, ix.indrelid), ix.indisvalid, ix.indisprimary
FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid
WHERE ix.indrelid = to_regclass($1)
"""


def _ddl() -> Any:
    """The DDL generator (SQLAlchemy): loaded only by what makes or checks tables."""
    from mcpstore_cli.backends.sql import ddl

    return ddl


def ddl_statements(layout: Any = None) -> list[str]:
    if layout is None:
        from mcpstore_cli.layouts.turul_tasks import schema as layout
    return _ddl().create_statements(layout.TABLES, layout.indexes(), DIALECT)


def expected_columns(table: Any = None) -> list[tuple[str, str, bool, str | None]]:
    from mcpstore_cli.backends.postgres.layout import _catalog_default, _catalog_type

    if table is None:
        from mcpstore_cli.layouts.turul_tasks.schema import tasks as table
    out = []
    for spec in _ddl().column_specs(table, DIALECT):
        catalog_type = _catalog_type(spec.type)
        out.append(
            (
                spec.name,
                catalog_type,
                spec.not_null or spec.primary_key,
                _catalog_default(spec, catalog_type),
            )
        )
    return out


def _numbered(sql: str) -> str:
    """``?`` placeholders as asyncpg's ``$1, $2, ...``; a ``?`` inside a quoted literal (a
    regular expression) stays."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda m: m.group(0) if m.group(0) != "?" else f"${next(counter)}", sql)


class PostgresTableStore(NonSessionStore):
    """A layout of a few tables in a PostgreSQL database (tasks, ext-tasks, server state):
    connections, provisioning, clear and teardown. Subclasses name the main table and the
    schema module that declares every table."""

    backend: ClassVar[str] = "postgres"
    title: ClassVar[str] = "PostgreSQL"
    clears_in_one_transaction: ClassVar[bool] = True
    setup_options: ClassVar[frozenset[str]] = frozenset({"create_database"})
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
        self.pg = PgLink(url, self.options)
        self._readable = False

    @classmethod
    def _identifying(cls) -> set[str]:
        return set(cls._light().REQUIRED)

    async def close(self) -> None:
        await self.pg.close()

    def label(self) -> str:
        return self.pg.label()

    # -- connections ------------------------------------------------------------------------
    async def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        rows = await self.pg._fetch_page(_numbered(sql), list(args))
        return [dict(r) for r in rows]

    def _writer(self) -> contextlib.AbstractAsyncContextManager[asyncpg.Connection]:
        """A connection of its own, closed at the end (:meth:`PgLink.own_connection`)."""
        return self.pg.own_connection()

    # -- provisioning -----------------------------------------------------------------------
    def tables(self) -> list[str]:
        return self._names()

    def setup_plan(self, **options: Any) -> list[str]:
        plan: list[str] = []
        if options.get("create_database"):
            database = self.pg.target.database
            plan.append(
                f"-- on database postgres, only if {database} does not exist\n"
                f"CREATE DATABASE {quote_ident(database)}"
            )
        return plan + ddl_statements(self.SCHEMA)

    async def _catalog(
        self, table: str | None = None
    ) -> tuple[str | None, list[tuple[str, str, bool, str | None]]]:
        rows = await self.pg._fetch_page(_COLUMNS_SQL, [table or self.TABLE])
        if not rows:
            return None, []
        kind = str(rows[0][0])
        cols = [(r[1], r[2], bool(r[3]), r[4]) for r in rows if r[1] is not None]
        return kind, cols

    async def ensure_readable(self) -> None:
        if self._readable:
            return
        kind, cols = await self._catalog()
        target = self.pg.target
        if kind is None:
            raise StoreMissingError(
                f"Database {target.database} on {target.where} has no {self.TABLE} table; run "
                f"mcpstore setup --layout {self.layout} --url {self.url.masked()}."
            )
        missing = sorted(self._identifying() - {c[0] for c in cols})
        if missing:
            raise LayoutError(
                f"{self.url.masked()} is not in turul's {self.layout} layout: table "
                f"{self.TABLE} has no column {missing[0]}; see mcpstore setup --layout "
                f"{self.layout} --check."
            )
        self._readable = True

    async def setup(self, **options: Any) -> list[SetupStep]:
        steps: list[SetupStep] = []
        if options.get("notify"):
            raise LayoutError("setup --notify is for turul's events table; tasks have no events.")
        if options.get("create_database"):
            created = await self.pg._create_database()
            steps.append(
                SetupStep(self.pg.target.database, "created" if created else "exists", "database")
            )
        before: set[str] = set()
        tables_before = set()
        for name in self._names():
            if (await self._catalog(name))[0] is not None:
                tables_before.add(name)
                before |= {r[0] for r in await self.pg._fetch_page(_INDEXES_SQL, [name])}
        if tables_before:
            drift = [f for f in await self.check() if f.severity == "error"]
            if drift:
                raise LayoutError(
                    f"{self.url.masked()} has a {self.TABLE} table that differs from the layout "
                    f"({drift[0].object}: {drift[0].problem}); see mcpstore setup --layout "
                    f"{self.layout} --check."
                )
        statements = ddl_statements(self.SCHEMA)
        async with self._writer() as conn:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", SETUP_LOCK_KEY)
                for statement in statements:
                    if " CONCURRENTLY " not in statement:
                        await conn.execute(statement)
            # As the server builds them: CONCURRENTLY (a running server is not blocked), which
            # cannot run inside a transaction.
            for statement in statements:
                if " CONCURRENTLY " in statement:
                    await conn.execute(statement)
        for name in self._names():
            state = "exists" if name in tables_before else "created"
            steps.append(SetupStep(name, state, "table"))
        for spec in _ddl().index_specs(self.SCHEMA.indexes(), DIALECT):
            state = "exists" if spec.name in before else "created"
            steps.append(SetupStep(spec.name, state, "index"))
        self._readable = False
        return steps

    async def check(self) -> list[Finding]:
        findings: list[Finding] = []
        for table in self.SCHEMA.TABLES:
            findings += await self._check_table(table)
        return findings

    async def _check_table(self, table: Any) -> list[Finding]:
        name = table.name
        kind, cols = await self._catalog(name)
        if kind is None:
            return [Finding(f"table {name}", "missing")]
        if kind not in ("r", "p"):
            return [Finding(f"table {name}", f"is not a table (relkind {kind})")]
        from mcpstore_cli.backends.postgres.store import _compare_columns

        findings = _compare_columns(name, expected_columns(table), cols)
        indexes = {r[0]: r for r in await self.pg._fetch_page(_INDEXES_SQL, [name])}
        primary = [r for r in indexes.values() if r[4]]
        keys = tuple(c.name for c in table.primary_key.columns)
        if not primary:
            findings.append(Finding(f"primary key {name}", "missing"))
        elif tuple(primary[0][1]) != keys:
            findings.append(
                Finding(
                    f"primary key {name}",
                    f"on ({', '.join(primary[0][1])}), expected ({', '.join(keys)})",
                )
            )
        for spec in _ddl().index_specs(self.SCHEMA.indexes(), DIALECT):
            if spec.table != name:
                continue
            row = indexes.get(spec.name)
            if row is None:
                findings.append(Finding(f"index {spec.name}", "missing"))
                continue
            if tuple(row[1]) != spec.columns:
                findings.append(
                    Finding(
                        f"index {spec.name}",
                        f"on ({', '.join(row[1])}), expected ({', '.join(spec.columns)})",
                    )
                )
            if (row[2] is None) != (spec.where is None):
                findings.append(
                    Finding(
                        f"index {spec.name}",
                        "not partial, expected WHERE " + str(spec.where)
                        if row[2] is None
                        else f"partial (WHERE {row[2]}), expected on every row",
                    )
                )
            if not row[3]:
                findings.append(Finding(f"index {spec.name}", "invalid (a failed build)"))
        return findings

    # -- demo -------------------------------------------------------------------------------
    def _demo_insert(self) -> tuple[str, Any, int]:
        """The INSERT (of unnest arrays), the row maker, and the number of columns."""
        raise NotImplementedError

    async def write_demo(
        self, batches: Any, progress: ProgressCallback | None = None
    ) -> tuple[int, int]:
        """Insert the demo's tasks, a transaction per batch (committed batches stay)."""
        sql, make_row, width = self._demo_insert()
        written = 0
        try:
            async with self._writer() as conn:
                async for items, _events in batches:
                    rows = [make_row(item) for item in items]
                    if not rows:
                        continue
                    cols = [list(c) for c in zip(*rows, strict=True)]
                    assert len(cols) == width
                    async with conn.transaction():
                        await conn.execute(sql, *cols)
                    written += len(rows)
                    if progress is not None:
                        progress(len(rows))
        except (KeyboardInterrupt, Interrupted, asyncio.CancelledError):
            raise Interrupted(
                f"the demo wrote {written:,} tasks in whole batches; they stay in the store."
            ) from None
        return written, 0

    # -- the portable backup file ----------------------------------------------------------
    restores_in_one_transaction: ClassVar[bool] = True

    def _backup_queries(self) -> list[tuple[str, Any]]:
        """(SELECT, row -> record) per record kind, in file order."""
        raise NotImplementedError

    async def _restore_batch(
        self, conn: asyncpg.Connection, kind: str, records: list[list[Any]]
    ) -> int:
        """Insert records the table lacks (by key); how many were inserted."""
        raise NotImplementedError

    async def backup_records(
        self, spec: Any, out: Any, header: dict[str, Any], progress: ProgressCallback | None = None
    ) -> dict[str, Any]:
        """Every record, from one REPEATABLE READ READ ONLY snapshot."""
        from mcpstore_cli.backends.sql import nonsession_backup as nb

        nb.refuse_session_filters(spec, self.layout)
        await self.ensure_readable()
        header["layout"] = self.layout
        header["source"]["event_ids"] = "none"
        out.header(header)
        skipped = 0
        async with (
            self._writer() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            for sql, to_record in self._backup_queries():
                lines: list[bytes] = []
                async for row in conn.cursor(sql, prefetch=2000):
                    record = to_record(dict(row))
                    if record is None:
                        skipped += 1
                        continue
                    lines.append(nb.line(record))
                    if len(lines) >= 2000:
                        out.sessions_block(b"".join(lines))
                        if progress is not None:
                            progress(len(lines))
                        lines = []
                out.sessions_block(b"".join(lines))
                if progress is not None and lines:
                    progress(len(lines))
        notes = [f"{skipped:,} rows whose JSON is damaged were left out"] if skipped else []
        return {
            "consistency": "one REPEATABLE READ snapshot of the layout's tables",
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
        """Load a verified file in one transaction (``merge``: what the store lacks, by key;
        ``replace``: the layout's tables emptied first)."""
        import json

        from mcpstore_cli.util.backupfile import iter_record_blocks
        from mcpstore_cli.util.interrupt import to_thread

        blocks = iter_record_blocks(info.path)
        async with self._writer() as conn, conn.transaction():
            if mode == "replace":
                counts = [
                    int(
                        await conn.fetchval(
                            f"WITH gone AS (DELETE FROM {n} RETURNING 1) SELECT count(*) FROM gone"
                        )
                    )
                    for n in self._names()
                ]
                summary.replaced_sessions = counts[0]
            while True:
                block = await to_thread(next, blocks, None)
                if block is None:
                    break
                kind, lines = block
                records = [json.loads(raw) for raw in lines]
                written = await self._restore_batch(conn, kind, records)
                summary.sessions += written
                summary.skipped_sessions += len(records) - written
                if progress is not None:
                    progress(len(records))

    async def row_counts(self) -> tuple[int, int]:
        await self.ensure_readable()
        return int((await self._fetch(f"SELECT count(*) AS n FROM {self.TABLE}"))[0]["n"]), 0

    # -- clear and teardown -----------------------------------------------------------------
    async def inventory(self) -> Inventory:
        started = time.perf_counter()
        target = self.pg.target
        inv = Inventory(
            backend="postgres", store=self.url.masked(), name=target.database, exists=True
        )
        kind, _cols = await self._catalog()
        if kind is None:
            raise StoreMissingError(
                f"Database {target.database} on {target.where} has no {self.TABLE} table; "
                "nothing to clear or delete."
            )
        for name in self._names():
            if (await self._catalog(name))[0] is None:
                inv.tables.append(TableFacts(name, exists=False))
                continue
            row = (
                await self.pg._fetch_page(
                    f"SELECT count(*), pg_total_relation_size('{name}') FROM {name}", []
                )
            )[0]
            inv.tables.append(TableFacts(name, rows=int(row[0]), bytes=int(row[1])))
        inv.facts = {"layout": self.layout, "host": target.where, "database": target.database}
        inv.seconds = time.perf_counter() - started
        return inv

    async def clear(
        self, *, recreate: bool = False, progress: ProgressCallback | None = None
    ) -> ClearResult:
        await self.ensure_readable()
        started = time.perf_counter()
        counts = []
        async with self._writer() as conn, conn.transaction():
            for name in self._names():
                counts.append(
                    int(
                        await conn.fetchval(
                            f"WITH gone AS (DELETE FROM {name} RETURNING 1) "
                            "SELECT count(*) FROM gone"
                        )
                    )
                )
        n = counts[0]
        if progress is not None:
            progress(sum(counts))
        deleted = {self.RECORDS: n}
        for name, count in zip(self._names()[1:], counts[1:], strict=True):
            deleted[self.TABLE_NOUNS.get(name, f"rows of {name}")] = count
        return ClearResult(n, 0, seconds=time.perf_counter() - started, records=deleted)

    async def drop(self) -> list[str]:
        await self.ensure_readable()
        async with self._writer() as conn, conn.transaction():
            for name in self._names():
                await conn.execute(f"DROP TABLE IF EXISTS {name}")
        self._readable = False
        return [f"table {name}" for name in self._names()]


class PostgresTaskStore(PostgresTableStore, SqlTaskStore):
    """The 2025 lane's ``tasks``: writes check and increment the row ``version``."""

    layout: ClassVar[str] = "tasks"
    versioned: ClassVar[bool] = True
    parallel_expire: ClassVar[bool] = True
    # A batch is one DELETE over a range of pages, its own short transaction that locks only
    # the rows it deletes (about 20 ms for 20,000 tasks). At 500, the per-statement work
    # (about 0.35 ms) doubled the time of expiring 500,000 of 1,000,000 tasks (measured).
    EXPIRE_BATCH: ClassVar[int] = 20_000
    TABLE: ClassVar[str] = "tasks"
    LAYOUT_PACKAGE: ClassVar[str] = "mcpstore_cli.layouts.turul_tasks"

    def _columns(self) -> str:
        cols = [f"{c}::text AS {c}" if c in records.JSON_COLUMNS else c for c in records.COLUMNS]
        return ", ".join(cols) + ", version"

    # created_at + ttl < now in SQL. Text that looks like RFC 3339 but is no date (a 30
    # February) makes the cast fail; text that does not look like it at all makes the
    # statement fail on purpose (_NOT_A_TIME). Either way the batch deletes nothing and its
    # range is judged again (_expire_range), so that such a row is counted, never skipped
    # unseen, without a second scan of the table to look for them.
    # RFC 3339's shape, told by LIKE alone (a regular expression costs ten times the cast,
    # substr() and right() twice what LIKE does), the server's own spelling tested first: a
    # date, "T", a space or "t", a time, then an offset, "Z" or "z". PostgreSQL reads every
    # such spelling right; any other text, "yesterday" included (which PostgreSQL would read),
    # is not cast.
    _SHAPE = (
        "(created_at LIKE '____-__-__T__:__:__%' OR created_at LIKE '____-__-__ __:__:__%' "
        "OR created_at LIKE '____-__-__t__:__:__%') AND (created_at LIKE '%+__:__' "
        "OR created_at LIKE '%Z' OR created_at LIKE '%-__:__' OR created_at LIKE '%z')"
    )
    _TIME = f"CASE WHEN {_SHAPE} THEN created_at::timestamptz END"
    # The server's own spelling (chrono's to_rfc3339 of a UTC time), tested first: most rows.
    _SERVER_FORM = "created_at LIKE '____-__-__T__:__:__%+00:00'"
    _ODD = f"ttl IS NOT NULL AND NOT ({_SERVER_FORM} OR ({_SHAPE}))"
    # Fails the statement (invalid_text_representation: no text with "/" after it is an
    # integer; the only error of that class the expiry's statements can raise), row by row,
    # so it is not worked out when the statement is planned.
    _NOT_A_TIME = "(created_at || '/')::int = 0"
    # now, as a timestamptz worked out once per statement (an InitPlan), not per row.
    _PAST = (
        "created_at::timestamptz + ttl * interval '1 millisecond' < "
        "(SELECT timestamptz 'epoch' + {now_us} * interval '1 microsecond')"
    )

    @classmethod
    def _due(cls, now_us: int, cuts: Mapping[int, str] | None = None, *, odd: str = "") -> str:
        """created_at + ttl < now (``now_us``, written in), for the tasks of a readable time.

        A due time must not have a space after its seconds: a word PostgreSQL reads there
        ("epoch", "BC") or a space before the offset is no RFC 3339 (checked last, on the due
        rows only). ``cuts`` maps a ttl to :func:`sorting_cut` of now - ttl: a task in the
        server's spelling whose text sorts at or after it is not due, told by a byte
        comparison without casting its time (the cast decides for the others, and checks
        every time that is deleted). A task with a ttl whose time is not RFC 3339 text at all
        gets ``odd``: by default the statement fails (:attr:`_NOT_A_TIME`); ``"false"``
        leaves the task (when such tasks are judged apart).

        One CASE, so that the order of the tests is this one: PostgreSQL may reorder the
        terms of a top-level AND by their estimated cost, and would then cast every time."""
        from mcpstore_cli.util.rfc3339 import format_chrono

        past = cls._PAST.format(now_us=int(now_us))
        spaceless = "strpos(created_at, ' ') = 0"
        server = f"{past} AND {spaceless}"
        if cuts:
            # The bytes decide first; then the time PostgreSQL reads must be due as well,
            # compared with now - ttl written in (the same microseconds as _PAST, without
            # interval arithmetic on every due task: a tenth of the batch's time, measured).
            whens = " ".join(
                f"WHEN {int(ttl)} THEN created_at COLLATE \"C\" < '{cut}' AND {spaceless} "
                f"AND created_at::timestamptz < "
                f"'{format_chrono((int(now_us) - int(ttl) * 1000) * 1000)}'::timestamptz"
                for ttl, cut in cuts.items()
            )
            server = f"CASE ttl {whens} ELSE {server} END"
        return (
            f"CASE WHEN ttl IS NULL THEN false WHEN {cls._SERVER_FORM} THEN {server} "
            f"WHEN {cls._SHAPE} THEN {past} AND created_at NOT LIKE '___________________% %' "
            f"ELSE {odd or cls._NOT_A_TIME} END"
        )

    # ttl values a due-time cut is made for: the commonest, as the statistics know them (the
    # CASE that picks a cut tests them one by one).
    _CUTS = 16

    async def _cuts(self, now_ns: int) -> dict[int, str]:
        """The table's commonest ttl values (from its statistics; none before it was ever
        analysed), each with the cut of now - ttl."""
        from mcpstore_cli.util.rfc3339 import sorting_cut

        rows = await self._fetch(
            "SELECT s.most_common_vals::text AS v FROM pg_stats s "
            "JOIN pg_class c ON c.relname = s.tablename "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname "
            "WHERE c.oid = 'tasks'::regclass AND s.attname = 'ttl' AND NOT s.inherited"
        )
        text = rows[0]["v"] if rows else None
        cuts: dict[int, str] = {}
        for value in (text or "{}").strip("{}").split(","):
            if len(cuts) >= self._CUTS or not value.strip().lstrip("-").isdigit():
                continue
            ttl = int(value)
            cut = sorting_cut(now_ns - ttl * 1_000_000) if ttl >= 0 else None
            if cut is not None:
                cuts[ttl] = cut
        return cuts

    def _ms(self, column: str) -> str | None:
        when = self._TIME.replace("created_at", column)
        return f"(extract(epoch FROM {when}) * 1000)"

    def _no_fold(self) -> str:
        return " OFFSET 0"  # PostgreSQL's fence against pulling the subquery up

    def _unreadable_time(self, exc: BaseException) -> bool:
        cause = exc if isinstance(exc, asyncpg.exceptions.DataError) else exc.__cause__
        return isinstance(cause, asyncpg.exceptions.DataError)

    async def _expire_in_sql(self, opts: Any, progress: ProgressCallback | None) -> Any:
        """Batches by ranges of the table's pages, each one DELETE of the due tasks in it.

        Race-safe against the server without a second read: each batch runs in a REPEATABLE
        READ transaction, where a DELETE removes only the row versions its snapshot read (a
        row version carries its ``version``, so this is the version check, made by the
        database). A task the server updated after that snapshot makes PostgreSQL refuse the
        batch (a serialization failure) with nothing deleted; that range is then done by
        :meth:`_range_by_version`, which reads the tasks with their versions and deletes those
        still at the version read, skipping and counting the others.

        A task whose ``created_at`` is not RFC 3339 text fails its batch (see :meth:`_due`):
        the tasks of that kind in the range are judged row by row (counted as corrupt unless
        they read as a time after all), and the range is done again without them."""
        from mcpstore_cli.model.tasks import TaskExpireResult

        started = time.monotonic()
        now_us = opts.now_ns // 1000
        result = TaskExpireResult(dry_run=opts.dry_run)
        cuts = await self._cuts(opts.now_ns)
        if opts.dry_run:
            quiet = self._due(now_us, cuts, odd="false")
            try:
                rows = await self.pg._fetch_page(
                    f"SELECT task_id FROM tasks WHERE {quiet} ORDER BY created_at, task_id "
                    f"LIMIT {max(opts.sample, 0)}",
                    [],
                )
                count = await self.pg._fetch_page(f"SELECT count(*) FROM tasks WHERE {quiet}", [])
            except (asyncpg.exceptions.DataError, McpStoreError) as exc:
                if not self._unreadable_time(exc):
                    raise
                # A created_at of the right shape that is no time (a 30 February): judged
                # row by row.
                return await self._expire_rowwise(opts, progress)
            result.sample = [str(r[0]) for r in rows]
            result.deleted = result.examined = int(count[0][0])
            # The tasks whose created_at is not RFC 3339 text, judged row by row, within what
            # is left of the time budget.
            odd = await self._expire_rowwise(
                self._rest_of(opts, started), progress, condition=self._ODD
            )
            result.examined += odd.examined
            result.deleted += odd.deleted
            result.corrupt += odd.corrupt
            result.partial = odd.partial
            result.sample = (result.sample + odd.sample)[: max(opts.sample, 0)]
            result.elapsed_s = time.monotonic() - started
            return result
        await self._expire_batches(opts, progress, result, started, now_us, cuts)
        result.elapsed_s = time.monotonic() - started
        return result

    @staticmethod
    def _rest_of(opts: Any, started: float) -> Any:
        """``opts`` with what is left of its time budget."""
        import dataclasses

        if opts.time_budget_s is None:
            return opts
        left = max(opts.time_budget_s - (time.monotonic() - started), 0.0)
        return dataclasses.replace(opts, time_budget_s=left)

    async def _expire_batches(
        self,
        opts: Any,
        progress: ProgressCallback | None,
        result: Any,
        started: float,
        now_us: int,
        cuts: Mapping[int, str],
    ) -> None:
        """The ranges of pages, front to back, shared by ``opts.jobs`` connections (each
        takes the next range when it is done with one)."""
        due = self._due(now_us, cuts)
        quiet = self._due(now_us, cuts, odd="false")
        async with self._writer() as first:
            pages = await self._pages(first)
            per_page = await first.fetchval(
                "SELECT CASE WHEN relpages > 0 AND reltuples > 0 THEN reltuples / relpages "
                "END FROM pg_class WHERE oid = 'tasks'::regclass"
            )
            if per_page is None and pages:
                # Never analysed: count the rows of the first pages instead.
                seen = min(pages, 16)
                counted = await first.fetchval(
                    f"SELECT count(*) FROM tasks WHERE ctid < '({seen},0)'::tid"
                )
                per_page = max(int(counted) / seen, 1.0)
            step = max(1, int(opts.batch_size / float(per_page or 50)))
            state = {"next": 0, "pages": pages}

            def spent() -> bool:
                if opts.time_budget_s is None or time.monotonic() - started < opts.time_budget_s:
                    return False
                result.partial = True
                return True

            async def batches(conn: asyncpg.Connection) -> None:
                # A batch is one statement, its own transaction at this level (see
                # _expire_range).
                await conn.execute("SET default_transaction_isolation = 'repeatable read'")
                while True:
                    if state["next"] >= state["pages"]:
                        # Rows the server added past the end meanwhile: read the end again.
                        state["pages"] = max(state["pages"], await self._pages(conn))
                        if state["next"] >= state["pages"]:
                            return
                    if spent():
                        return
                    page = state["next"]
                    state["next"] += step
                    again: str | None = due
                    while again is not None:
                        read, again = await self._expire_range(
                            conn, page, step, opts, progress, result, again, quiet
                        )
                        await self._pace(opts.rate, result.deleted, started)
                        if step > 1 or read < opts.batch_size or spent():
                            break  # (a batch smaller than a page: the page again)

            async def another() -> None:
                async with self._writer() as conn:
                    await batches(conn)

            workers = [asyncio.ensure_future(batches(first))]
            workers += [asyncio.ensure_future(another()) for _ in range(max(1, opts.jobs) - 1)]
            try:
                await asyncio.gather(*workers)
            except BaseException:
                # One connection failed (or Ctrl-C): the others stop too, before this
                # returns.
                for job in workers:
                    job.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                raise

    async def _expire_range(
        self,
        conn: asyncpg.Connection,
        page: int,
        step: int,
        opts: Any,
        progress: ProgressCallback | None,
        result: Any,
        due: str,
        quiet: str,
    ) -> tuple[int, str | None]:
        """One batch: the due tasks of ``step`` pages from ``page`` (at most --batch-size of
        them when that is less than a page holds). How many were due, and the predicate for
        the range's next batch (None when the range was judged whole, row by row)."""
        # The page numbers are written in (ours, integers): as parameters a generic plan
        # would read the whole table each time.
        where = f"ctid >= '({page},0)'::tid AND ctid < '({page + step},0)'::tid AND {due}"
        if step == 1:
            where = (
                f"ctid = ANY(ARRAY(SELECT ctid FROM tasks WHERE {where} LIMIT {opts.batch_size}))"
            )
        want = max(opts.sample - len(result.sample), 0)
        again: str | None = due
        try:
            if want:
                async with conn.transaction(isolation="repeatable_read"):
                    row = await conn.fetchrow(
                        f"WITH gone AS (DELETE FROM tasks WHERE {where} RETURNING task_id) "
                        "SELECT count(*), (SELECT array_agg(task_id) FROM "
                        f"(SELECT task_id FROM gone ORDER BY task_id LIMIT {want}) s) FROM gone"
                    )
                deleted, sample = int(row[0]), [str(t) for t in row[1] or []]
            else:
                # One round trip: the statement alone, sent as text (no parameters), is its
                # own transaction, at the worker's repeatable read.
                status = await conn.execute(f"DELETE FROM tasks WHERE {where}")
                deleted, sample = int(str(status).rsplit(" ", 1)[-1]), []
            read = deleted
        except (
            asyncpg.exceptions.SerializationError,
            asyncpg.exceptions.DeadlockDetectedError,
            asyncpg.exceptions.DataError,
        ) as exc:
            # What the careful passes committed: (read, deleted, sample).
            done: list[Any] = [0, 0, []]
            try:
                if isinstance(exc, asyncpg.exceptions.DataError):
                    raise
                # The server changed a task of this range since the batch's snapshot: nothing
                # of it was deleted. Read it again, versions and all.
                await self._range_by_version(conn, page, step, opts.batch_size, want, due, done)
                read, deleted, sample = done
            except asyncpg.exceptions.DataError as bad:
                odd = isinstance(bad, asyncpg.exceptions.InvalidTextRepresentationError)
                if odd and due != quiet:
                    # A task whose created_at is not RFC 3339 text (_NOT_A_TIME): those of
                    # the range are judged here, and the range is done again without them
                    # failing it.
                    read, deleted, sample, corrupt = await self._range_rowwise(
                        conn, page, step, opts, self._ODD
                    )
                    again = quiet
                else:
                    # A created_at of RFC 3339's shape that PostgreSQL cannot read (a 30
                    # February, an offset past 15:59): this range is judged row by row (the
                    # tasks of any other text too, unless they were already).
                    shape = f"ttl IS NOT NULL AND {self._SHAPE}"
                    read, deleted, sample, corrupt = await self._range_rowwise(
                        conn, page, step, opts, shape if due == quiet else "ttl IS NOT NULL"
                    )
                    again = None
                # (with what a careful pass deleted before one failed)
                read, deleted, sample = read + done[0], deleted + done[1], done[2] + sample
                result.corrupt += corrupt
                result.examined += corrupt
                if progress is not None and corrupt:
                    progress(corrupt)
        result.examined += read
        result.deleted += deleted
        result.skipped_changed += read - deleted
        result.sample = (result.sample + sample)[: opts.sample]
        if progress is not None and read:
            progress(read)
        if again == quiet and due != quiet:
            # The range again at once, without its odd tasks failing it.
            more, again = await self._expire_range(
                conn, page, step, opts, progress, result, quiet, quiet
            )
            return read + more, again
        return read, again

    @staticmethod
    async def _pages(conn: asyncpg.Connection) -> int:
        return int(
            await conn.fetchval(
                "SELECT pg_relation_size('tasks') / current_setting('block_size')::int"
            )
        )

    async def _range_rowwise(
        self, conn: asyncpg.Connection, page: int, step: int, opts: Any, condition: str
    ) -> tuple[int, int, list[str], int]:
        """A range judged here: its tasks that meet ``condition``, decoded; the due ones
        deleted where their version is still the one read. (read, deleted, sample,
        corrupt)"""
        from mcpstore_cli.backends.sql.tasks import _unchanged
        from mcpstore_cli.model.tasks import Task

        rows = await conn.fetch(
            f"SELECT {self._columns()} FROM tasks WHERE ctid >= '({page},0)'::tid "
            f"AND ctid < '({page + step},0)'::tid AND {condition}"
        )
        due: list[Task] = []
        corrupt = 0
        for row in rows:
            item = self._decode(dict(row))
            if not isinstance(item, Task):
                corrupt += 1
            elif item.past_ttl(opts.now_ns):
                due.append(item)
        deleted = await self._delete_unchanged([_unchanged(t) for t in due]) if due else 0
        sample = sorted(t.task_id for t in due)[: opts.sample]
        return len(due), deleted, sample, corrupt

    async def _range_by_version(
        self,
        conn: asyncpg.Connection,
        page: int,
        step: int,
        size: int,
        want: int,
        due: str,
        done: list[Any],
    ) -> None:
        """One range of pages the careful way: one statement reads the due tasks with their
        versions and deletes those still at the version read, by the row's place; a task the
        server updated meanwhile has another place and another version, and stays. Again
        until the range holds no more due task it has not read. ``done`` (read, deleted,
        sample) counts each pass as it commits, so that a pass that fails loses none of the
        ones before it."""
        while True:
            # Read committed, whatever the connection's default: a task the server changes
            # while this statement runs is then checked again (its version) and left.
            async with conn.transaction(isolation="read_committed"):
                row = await conn.fetchrow(
                    "WITH due AS (SELECT ctid AS tid, task_id, version FROM tasks WHERE "
                    f"ctid >= '({page},0)'::tid AND ctid < '({page + step},0)'::tid AND "
                    f"{due} LIMIT {size}), gone AS (DELETE FROM tasks t USING due "
                    "WHERE t.ctid = due.tid AND t.task_id = due.task_id "
                    "AND t.version = due.version RETURNING t.task_id) "
                    "SELECT (SELECT count(*) FROM due), (SELECT count(*) FROM gone), "
                    "(SELECT array_agg(task_id) FROM "
                    f"(SELECT task_id FROM gone ORDER BY task_id LIMIT {max(want, 0)}) s)"
                )
            got, gone = int(row[0]), int(row[1])
            done[0] += got
            done[1] += gone
            done[2].extend(str(t) for t in row[2] or [])
            want -= len(row[2] or [])
            if got < size or gone == 0:
                return

    def _starts_with(self, column: str) -> str:
        return f"left({column}, length(?::text)) = ?::text"

    async def _delete_unchanged(self, rows: Sequence[tuple[str, str, str, int | None]]) -> int:
        async with self._writer() as conn, conn.transaction():
            status = await conn.execute(
                "DELETE FROM tasks t USING unnest($1::text[], $2::int[]) AS c(id, v) "
                "WHERE t.task_id = c.id AND t.version = c.v",
                [r[0] for r in rows],
                [r[3] for r in rows],
            )
        return int(str(status).rsplit(" ", 1)[-1])

    async def _update_unchanged(
        self,
        rows: Sequence[tuple[str, str, str, int | None]],
        *,
        status: str,
        message: str,
        now_text: str,
    ) -> list[str]:
        async with self._writer() as conn, conn.transaction():
            changed = await conn.fetch(
                "UPDATE tasks t SET status = $1, status_message = $2, last_updated_at = $3, "
                "version = t.version + 1 FROM unnest($4::text[], $5::int[]) AS c(id, v) "
                "WHERE t.task_id = c.id AND t.version = c.v RETURNING t.task_id",
                status,
                message,
                now_text,
                [r[0] for r in rows],
                [r[3] for r in rows],
            )
        return [str(r[0]) for r in changed]

    def _demo_insert(self) -> tuple[str, Any, int]:
        sql = (
            f"INSERT INTO tasks ({', '.join(records.COLUMNS)}) SELECT * FROM unnest("
            "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
            "$7::bigint[], $8::bigint[], $9::text[], $10::jsonb[], $11::jsonb[], $12::jsonb[])"
        )
        return sql, self.demo_row, len(records.COLUMNS)

    def _backup_queries(self) -> list[tuple[str, Any]]:
        from mcpstore_cli.backends.sql import nonsession_backup as nb

        return [(f"SELECT {self._columns()} FROM tasks ORDER BY task_id", nb.task_record)]

    async def _restore_batch(
        self, conn: asyncpg.Connection, kind: str, records_in: list[list[Any]]
    ) -> int:
        rows = [records.row_from_record(r) for r in records_in]
        cols = [[row[c] for row in rows] for c in (*records.COLUMNS, "version")]
        status = await conn.execute(
            f"INSERT INTO tasks ({', '.join(records.COLUMNS)}, version) SELECT t.a, t.b, t.c, "
            "t.d, t.e, t.f, t.g, t.h, t.i, t.j, t.k, t.l, coalesce(t.m, 1) FROM unnest("
            "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
            "$7::bigint[], $8::bigint[], $9::text[], $10::jsonb[], $11::jsonb[], $12::jsonb[], "
            "$13::int[]) AS t(a, b, c, d, e, f, g, h, i, j, k, l, m) "
            "ON CONFLICT (task_id) DO NOTHING",
            *cols,
        )
        return int(str(status).rsplit(" ", 1)[-1])


class PostgresExtTaskStore(PostgresTableStore, SqlExtTaskStore):
    """The 2026 lane's ``ext_tasks``: one JSONB document per task. A change is written only
    where the row still holds the document read, under the row lock the UPDATE takes (the
    equivalent of the server's ``SELECT ... FOR UPDATE``)."""

    layout: ClassVar[str] = "ext-tasks"
    TABLE: ClassVar[str] = "ext_tasks"
    LAYOUT_PACKAGE: ClassVar[str] = "mcpstore_cli.layouts.turul_ext_tasks"

    def _state(self) -> str:
        return "state::text AS state"

    def _created(self) -> str:
        return "coalesce(state->'fields'->>'createdAt', '')"

    async def _apply(self, changes: Sequence[Change]) -> list[bool]:
        done: list[bool] = []
        async with self._writer() as conn, conn.transaction():
            for c in changes:
                if c.delete:
                    status = await conn.execute(
                        "DELETE FROM ext_tasks WHERE task_id = $1 AND state = $2::jsonb",
                        c.task_id,
                        c.old_state,
                    )
                else:
                    status = await conn.execute(
                        "UPDATE ext_tasks SET status = $1, "
                        "last_updated_at = $2::text::timestamptz, state = $3::jsonb "
                        "WHERE task_id = $4 AND state = $5::jsonb",
                        c.status,
                        c.last_updated_at,
                        c.state,
                        c.task_id,
                        c.old_state,
                    )
                done.append(str(status).endswith(" 1"))
        return done

    def _demo_insert(self) -> tuple[str, Any, int]:
        def row(doc: dict[str, Any]) -> tuple[Any, ...]:
            fields = doc["fields"]
            return (fields["taskId"], doc["status"], fields["lastUpdatedAt"], ext_records.dump(doc))

        sql = (
            "INSERT INTO ext_tasks (task_id, status, last_updated_at, state) SELECT t.id, t.st, "
            "t.at::timestamptz, t.doc FROM unnest($1::text[], $2::text[], $3::text[], "
            "$4::jsonb[]) AS t(id, st, at, doc)"
        )
        return sql, row, 4

    def _backup_queries(self) -> list[tuple[str, Any]]:
        from mcpstore_cli.backends.sql import nonsession_backup as nb

        at = "to_char(last_updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        sql = (
            f"SELECT task_id, status, {at} AS last_updated_at, state::text AS state "
            "FROM ext_tasks ORDER BY task_id"
        )
        return [(sql, nb.ext_record)]

    async def _restore_batch(
        self, conn: asyncpg.Connection, kind: str, records_in: list[list[Any]]
    ) -> int:
        status = await conn.execute(
            "INSERT INTO ext_tasks (task_id, status, last_updated_at, state) SELECT t.id, t.st, "
            "t.at::timestamptz, t.doc FROM unnest($1::text[], $2::text[], $3::text[], "
            "$4::jsonb[]) AS t(id, st, at, doc) ON CONFLICT (task_id) DO NOTHING",
            [r[1] for r in records_in],
            [r[2] for r in records_in],
            [r[3] for r in records_in],
            [json.dumps(r[4]) for r in records_in],
        )
        return int(str(status).rsplit(" ", 1)[-1])


class PostgresServerStateStore(PostgresTableStore, SqlServerStateStore):
    """turul's server state: ``server_entity_state`` and ``server_fingerprints``."""

    TABLE: ClassVar[str] = "server_entity_state"
    LAYOUT_PACKAGE: ClassVar[str] = "mcpstore_cli.layouts.turul_server_state"
    RECORDS: ClassVar[str] = "entities"
    TABLE_NOUNS: ClassVar[dict[str, str]] = {"server_fingerprints": "fingerprints"}

    def _as_text(self, column: str) -> str:
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

    def _backup_queries(self) -> list[tuple[str, Any]]:
        from mcpstore_cli.backends.sql import nonsession_backup as nb

        at = self._as_text("updated_at")
        return [
            (
                "SELECT entity_type, entity_id, active, metadata::text AS metadata, "
                f"{at} AS updated_at FROM server_entity_state ORDER BY entity_type, entity_id",
                nb.entity_record,
            ),
            (
                f"SELECT entity_type, fingerprint, {at} AS updated_at FROM server_fingerprints "
                "ORDER BY entity_type",
                nb.fingerprint_record,
            ),
        ]

    async def _restore_batch(
        self, conn: asyncpg.Connection, kind: str, records_in: list[list[Any]]
    ) -> int:
        from mcpstore_cli.backends.sql import nonsession_backup as nb

        if kind == "v":
            status = await conn.execute(
                "INSERT INTO server_entity_state (entity_type, entity_id, active, metadata, "
                "updated_at) SELECT t.a, t.b, t.c, t.d, t.e::timestamptz FROM unnest($1::text[], "
                "$2::text[], $3::bool[], $4::jsonb[], $5::text[]) AS t(a, b, c, d, e) "
                "ON CONFLICT (entity_type, entity_id) DO NOTHING",
                [r[1] for r in records_in],
                [r[2] for r in records_in],
                [bool(r[3]) for r in records_in],
                [nb.dump(r[4]) for r in records_in],
                [r[5] for r in records_in],
            )
        else:
            status = await conn.execute(
                "INSERT INTO server_fingerprints (entity_type, fingerprint, updated_at) "
                "SELECT t.a, t.b, t.c::timestamptz FROM unnest($1::text[], $2::text[], "
                "$3::text[]) AS t(a, b, c) ON CONFLICT (entity_type) DO NOTHING",
                [r[1] for r in records_in],
                [r[2] for r in records_in],
                [r[3] for r in records_in],
            )
        return int(str(status).rsplit(" ", 1)[-1])

    def _demo_insert(self) -> tuple[str, Any, int]:
        raise NotImplementedError  # write_demo below writes two tables

    async def write_demo(self, batches: Any, progress: Any = None) -> tuple[int, int]:
        """The server's own upserts of each entity and fingerprint."""
        written = 0
        async with self._writer() as conn:
            async for items, _events in batches:
                async with conn.transaction():
                    for kind, row in items:
                        if kind == "entity":
                            await conn.execute(
                                "INSERT INTO server_entity_state (entity_type, entity_id, active, "
                                "metadata, updated_at) VALUES ($1, $2, $3, $4::jsonb, "
                                "$5::text::timestamptz) ON CONFLICT (entity_type, entity_id) DO "
                                "UPDATE SET active = EXCLUDED.active, metadata = "
                                "EXCLUDED.metadata, updated_at = EXCLUDED.updated_at",
                                row["entity_type"],
                                row["entity_id"],
                                bool(row["active"]),
                                None if row["metadata"] is None else json.dumps(row["metadata"]),
                                row["updated_at"],
                            )
                            written += 1
                        else:
                            await conn.execute(
                                "INSERT INTO server_fingerprints (entity_type, fingerprint, "
                                "updated_at) VALUES ($1, $2, $3::text::timestamptz) ON CONFLICT "
                                "(entity_type) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
                                "updated_at = EXCLUDED.updated_at",
                                row["entity_type"],
                                row["fingerprint"],
                                row["updated_at"],
                            )
                if progress is not None:
                    progress(len(items))
        return written, 0
