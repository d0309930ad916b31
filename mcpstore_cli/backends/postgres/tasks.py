"""turul's 2025 task store on PostgreSQL (table ``tasks``, beside ``sessions`` and ``events``
if the database holds them too).

A store of its own for layout ``tasks``; everything about talking to PostgreSQL (URLs,
``connect_timeout``, read-only sessions, ``--lock-timeout``, the lock-wait watcher,
``--create-database``, error sentences) is :class:`PostgresStore`'s, held as ``self.pg``.
Changes check and increment the row ``version``, the server's optimistic lock: a task the
server updated after it was read has another version and is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import asyncpg

from mcpstore_cli.backends.postgres.layout import _catalog_default, _catalog_type
from mcpstore_cli.backends.postgres.store import PostgresStore, _compare_columns, quote_ident
from mcpstore_cli.backends.sql import ddl
from mcpstore_cli.backends.sql.tasks import SqlTaskStore
from mcpstore_cli.errors import (
    Interrupted,
    LayoutError,
    McpStoreError,
    StoreMissingError,
)
from mcpstore_cli.layouts.turul_tasks import records, schema
from mcpstore_cli.model.records import Finding, SetupStep
from mcpstore_cli.model.teardown import ClearResult, Inventory, TableFacts
from mcpstore_cli.store.base import ProgressCallback, StoreOptions
from mcpstore_cli.store.urls import StoreURL

DIALECT = "postgresql"
TABLE = "tasks"
SETUP_LOCK_KEY = 7367200201  # the key turul's session setup takes: one setup at a time
_PLACEHOLDER = re.compile(r"\?")

_COLUMNS_SQL = """
SELECT c.relkind::text, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid)
FROM pg_class c
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.oid = to_regclass('tasks')
ORDER BY a.attnum
"""

_INDEXES_SQL = """
SELECT i.relname,
       array(SELECT a.attname FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.num
             ORDER BY k.ord) AS cols,
       pg_get_expr(ix.indpred, ix.indrelid), ix.indisvalid, ix.indisprimary
FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid
WHERE ix.indrelid = to_regclass('tasks')
"""


def ddl_statements() -> list[str]:
    return ddl.create_statements(schema.TABLES, schema.indexes(), DIALECT)


def expected_columns() -> list[tuple[str, str, bool, str | None]]:
    out = []
    for spec in ddl.column_specs(schema.tasks, DIALECT):
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
    """``?`` placeholders as asyncpg's ``$1, $2, ...`` (no ``?`` occurs in our literals)."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", sql)


class PostgresTaskStore(SqlTaskStore):
    backend: ClassVar[str] = "postgres"
    title: ClassVar[str] = "PostgreSQL"
    layout: ClassVar[str] = "tasks"
    versioned: ClassVar[bool] = True
    clears_in_one_transaction: ClassVar[bool] = True
    setup_options: ClassVar[frozenset[str]] = frozenset({"create_database"})
    required_columns: ClassVar[dict[str, set[str]]] = {
        TABLE: {c.name for c in ddl.columns(schema.tasks, DIALECT) if c.info.get("identifies")}
    }

    def __init__(self, url: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(url, options)
        self.pg = PostgresStore(url, self.options)
        self._readable = False

    async def close(self) -> None:
        await self.pg.close()

    def label(self) -> str:
        return self.pg.label()

    # -- connections ------------------------------------------------------------------------
    def _columns(self) -> str:
        cols = [f"{c}::text AS {c}" if c in records.JSON_COLUMNS else c for c in records.COLUMNS]
        return ", ".join(cols) + ", version"

    def _starts_with(self, column: str) -> str:
        return f"left({column}, length(?::text)) = ?::text"

    async def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        rows = await self.pg._fetch_page(_numbered(sql), list(args))
        return [dict(r) for r in rows]

    @contextlib.asynccontextmanager
    async def _writer(self) -> AsyncIterator[asyncpg.Connection]:
        try:
            conn = await self.pg.raw_connect()
        except McpStoreError:
            raise
        except Exception as exc:
            raise self.pg._wrap(exc) from exc
        try:
            yield conn
        except (McpStoreError, KeyboardInterrupt, Interrupted, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise self.pg._wrap(exc) from exc
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)

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

    # -- provisioning -----------------------------------------------------------------------
    def tables(self) -> list[str]:
        return [TABLE]

    def setup_plan(self, **options: Any) -> list[str]:
        plan: list[str] = []
        if options.get("create_database"):
            database = self.pg.target.database
            plan.append(
                f"-- on database postgres, only if {database} does not exist\n"
                f"CREATE DATABASE {quote_ident(database)}"
            )
        return plan + ddl_statements()

    async def _catalog(self) -> tuple[str | None, list[tuple[str, str, bool, str | None]]]:
        rows = await self.pg._fetch_page(_COLUMNS_SQL, [])
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
                f"Database {target.database} on {target.where} has no tasks table; run "
                f"mcpstore setup --layout tasks --url {self.url.masked()}."
            )
        have = {c[0] for c in cols}
        missing = sorted(self.required_columns[TABLE] - have)
        if missing:
            raise LayoutError(
                f"{self.url.masked()} is not in turul's tasks layout: table tasks has no column "
                f"{missing[0]}; see mcpstore setup --layout tasks --check."
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
        kind, _cols = await self._catalog()
        before = {r[0] for r in await self.pg._fetch_page(_INDEXES_SQL, [])} if kind else set()
        if kind is not None:
            drift = [f for f in await self.check() if f.severity == "error"]
            if drift:
                raise LayoutError(
                    f"{self.url.masked()} has a tasks table that differs from the layout "
                    f"({drift[0].object}: {drift[0].problem}); see mcpstore setup --layout "
                    "tasks --check."
                )
        async with self._writer() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SETUP_LOCK_KEY)
            for statement in ddl_statements():
                await conn.execute(statement)
        steps.append(SetupStep(TABLE, "exists" if kind else "created", "table"))
        for spec in ddl.index_specs(schema.indexes(), DIALECT):
            steps.append(
                SetupStep(spec.name, "exists" if spec.name in before else "created", "index")
            )
        self._readable = False
        return steps

    async def check(self) -> list[Finding]:
        kind, cols = await self._catalog()
        if kind is None:
            return [Finding(f"table {TABLE}", "missing")]
        if kind not in ("r", "p"):
            return [Finding(f"table {TABLE}", f"is not a table (relkind {kind})")]
        findings = _compare_columns(TABLE, expected_columns(), cols)
        indexes = {r[0]: r for r in await self.pg._fetch_page(_INDEXES_SQL, [])}
        primary = [r for r in indexes.values() if r[4]]
        if not primary:
            findings.append(Finding("primary key tasks", "missing"))
        elif tuple(primary[0][1]) != ("task_id",):
            findings.append(
                Finding("primary key tasks", f"on ({', '.join(primary[0][1])}), expected (task_id)")
            )
        for spec in ddl.index_specs(schema.indexes(), DIALECT):
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
    async def write_demo(
        self, batches: Any, progress: ProgressCallback | None = None
    ) -> tuple[int, int]:
        """Insert the demo's tasks, a transaction per batch (committed batches stay)."""
        written = 0
        sql = (
            f"INSERT INTO tasks ({', '.join(records.COLUMNS)}) SELECT * FROM unnest("
            "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
            "$7::bigint[], $8::bigint[], $9::text[], $10::jsonb[], $11::jsonb[], $12::jsonb[])"
        )
        try:
            async with self._writer() as conn:
                async for tasks, _events in batches:
                    rows = [self.demo_row(t) for t in tasks]
                    cols = [list(c) for c in zip(*rows, strict=True)] if rows else [[]] * 12
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

    # -- clear and teardown -----------------------------------------------------------------
    async def inventory(self) -> Inventory:
        started = time.perf_counter()
        target = self.pg.target
        inv = Inventory(
            backend="postgres",
            store=self.url.masked(),
            name=target.database,
            exists=True,
        )
        kind, _cols = await self._catalog()
        if kind is None:
            inv.tables.append(TableFacts(TABLE, exists=False))
            raise StoreMissingError(
                f"Database {target.database} on {target.where} has no tasks table; nothing to "
                "clear or delete."
            )
        row = (
            await self.pg._fetch_page(
                "SELECT count(*), pg_total_relation_size('tasks') FROM tasks", []
            )
        )[0]
        inv.tables.append(TableFacts(TABLE, rows=int(row[0]), bytes=int(row[1])))
        inv.facts = {"layout": "tasks", "host": target.where, "database": target.database}
        inv.seconds = time.perf_counter() - started
        return inv

    async def clear(
        self, *, recreate: bool = False, progress: ProgressCallback | None = None
    ) -> ClearResult:
        await self.ensure_readable()
        started = time.perf_counter()
        async with self._writer() as conn, conn.transaction():
            n = await conn.fetchval(
                "WITH gone AS (DELETE FROM tasks RETURNING 1) SELECT count(*) FROM gone"
            )
        if progress is not None:
            progress(int(n))
        return ClearResult(
            int(n), 0, seconds=time.perf_counter() - started, records={"tasks": int(n)}
        )

    async def drop(self) -> list[str]:
        await self.ensure_readable()
        async with self._writer() as conn, conn.transaction():
            await conn.execute("DROP TABLE tasks")
        self._readable = False
        return ["table tasks"]
