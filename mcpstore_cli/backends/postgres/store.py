"""PostgreSQL: multi-instance deployments, in exactly the layout turul's PostgresSessionStorage
writes (JSONB, BIGINT milliseconds, a row ``version`` every write increments).

The queries are shared with SQLite (:mod:`mcpstore_cli.backends.sql.base`); this module adds the
connection handling (asyncpg through SQLAlchemy, libpq-style URLs), the exact DDL, the drift
check against the system catalogs, clear connection errors and the COPY fast path for ``demo``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from mcpstore_cli.backends.postgres.catalog import _COLUMNS_SQL, _columns_from_rows
from mcpstore_cli.backends.postgres.layout import (
    PRIMARY_KEYS,
    REQUIRED,
    RESTORE_LIMITS,
    copy_columns,
    expected_columns,
    expected_indexes,
    index_ddl,
    table_ddl,
)
from mcpstore_cli.backends.postgres.link import (
    PgLink,
    quote_ident,
)
from mcpstore_cli.backends.sql.base import SqlStore
from mcpstore_cli.errors import (
    Interrupted,
    LayoutError,
    McpStoreError,
    NotSupportedError,
    StoreMissingError,
)
from mcpstore_cli.model.records import (
    CorruptRow,
    Cursor,
    Event,
    ExpireOptions,
    Finding,
    Session,
    SessionFilter,
    SetupStep,
)
from mcpstore_cli.store.base import ProgressCallback
from mcpstore_cli.util.jsoncodec import dumps

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from mcpstore_cli.model.backup import RestoreLimits
    from mcpstore_cli.model.teardown import ClearResult, Inventory
    from mcpstore_cli.store.follow import TailRequest, Warn


# Session id prefixes: a leading run of letters and digits, and each one's successor in the
# order every collation gives them (digits, then letters; case only breaks ties).
_ALNUM_RUN = re.compile(r"[0-9A-Za-z]+")
_NEXT_ALNUM = {
    **dict(zip("012345678", "123456789", strict=True)),
    "9": "a",
    **dict(zip("abcdefghijklmnopqrstuvwxy", "bcdefghijklmnopqrstuvwxyz", strict=True)),
    **dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXY", "BCDEFGHIJKLMNOPQRSTUVWXYZ", strict=True)),
}


_INDEXES_SQL = """
SELECT i.relname, t.relname, ix.indisvalid, ix.indisunique,
       array(SELECT a.attname FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.num
             ORDER BY k.ord) AS cols,
       pg_get_expr(ix.indpred, ix.indrelid), ix.indnkeyatts = array_length(ix.indkey::int2[], 1)
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class t ON t.oid = ix.indrelid
WHERE ix.indrelid IN (to_regclass('sessions'), to_regclass('events'))
"""

_CONSTRAINTS_SQL = """
SELECT con.conname, con.contype::text, t.relname,
       array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
             ORDER BY k.ord),
       f.relname,
       array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
             ORDER BY k.ord),
       con.confdeltype::text
FROM pg_constraint con
JOIN pg_class t ON t.oid = con.conrelid
LEFT JOIN pg_class f ON f.oid = con.confrelid
WHERE con.conrelid IN (to_regclass('sessions'), to_regclass('events'))
  AND con.contype IN ('p', 'f')
"""

_ON_DELETE = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}


def _normalize_expr(text: str | None) -> str:
    """A predicate or default without parentheses, spaces or case, for comparison."""
    return re.sub(r"[\s()]", "", (text or "")).lower()


class PostgresStore(PgLink, SqlStore):
    backend = "postgres"
    title = "PostgreSQL"
    setup_options = frozenset({"create_database", "notify"})
    clears_in_one_transaction = True
    restores_in_one_transaction = True
    verifies_while_loading = True
    versioned = True
    bounded_top = True
    required_columns = REQUIRED

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        SqlStore.__init__(self, *args, **kwargs)
        self._link_init()
        self._readable = False
        self._skip_fk_checks: bool | None = None

    @contextlib.asynccontextmanager
    async def connect(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        """Reads run in autocommit: one round trip per query, no BEGIN/ROLLBACK around it
        (psql's way); writes get a transaction as usual. ``conn.stream()`` (a server-side
        cursor) needs a transaction: use :meth:`read_transaction` for it."""
        if write:
            async with super().connect(write=True) as conn:
                yield conn
            return
        async with super().connect() as conn:
            try:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            except McpStoreError:
                raise
            except Exception as exc:
                raise self._wrap(exc) from exc
            yield auto

    def read_transaction(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        """A connection in a transaction (one snapshot) that is rolled back at the end."""
        return SqlStore.connect(self)

    async def iter_sessions(
        self, flt: SessionFilter, *, limit: int | None, cursor: Cursor | None = None
    ) -> AsyncGenerator[Session | CorruptRow, None]:
        self.check_filter(flt)
        if limit is not None and limit <= 1000:
            # A page: the shared statement, compiled once per filter shape, in one autocommit
            # round trip straight through asyncpg (its prepared-statement cache does the rest).
            await self.ensure_readable()
            sql, args = self.page_query(flt, limit, cursor)
            rows = await self._fetch_page(sql, args)
            for record in rows:
                yield self.decode_session_values(record)
            return
        # Everything: streamed through a server-side cursor, which lives in a transaction.
        await self.ensure_readable()
        stmt = self.list_statement(flt, limit=limit, cursor=cursor)
        async with self.read_transaction() as conn:
            streamed = await conn.stream(stmt.execution_options(yield_per=1000))
            async for row in streamed:
                yield self.decode_session(row)

    def _page_dialect(self) -> Any:
        from sqlalchemy.dialects.postgresql.asyncpg import dialect

        return dialect()

    async def close(self) -> None:
        await PgLink.close(self)
        await SqlStore.close(self)

    async def expire_idle_batch(
        self, opts: ExpireOptions, limit: int, position: Any
    ) -> tuple[bool, int, int, int, Any]:
        """Idle sessions in heap order: each batch is one DELETE (its own transaction) over
        a slice of the table's pages, found by a TID range scan, so the run walks the table
        once, as a plain DELETE's scan would, instead of hopping about it in activity order.
        The cutoff is in that DELETE's WHERE clause, which PostgreSQL checks again on any
        row a concurrent transaction changed: a session the server touched stays. Events go
        through the foreign key's ON DELETE CASCADE (counted as :meth:`_expire_delete` says)."""
        if position is None:
            pages, tuples = await self._fetch_row(
                "SELECT pg_relation_size('sessions') / current_setting('block_size')::int, "
                "greatest(reltuples, 0) FROM pg_class WHERE oid = 'sessions'::regclass"
            )
            per_page = max(float(tuples) / max(int(pages), 1), 1.0)
            position = (0, int(pages), max(1, int(limit / per_page)))
        start, end, step = position
        if start >= end:
            return False, 0, 0, 0, position
        stop = start + step
        gone, events = await self._expire_delete(
            "DELETE FROM sessions WHERE ctid = ANY(ARRAY("
            "SELECT ctid FROM sessions WHERE ctid >= $1::tid AND ctid < $2::tid "
            "AND last_activity < $3 LIMIT $4)) AND last_activity < $3 RETURNING session_id",
            (start, 0),
            (stop, 0),
            opts.idle_cutoff,
            limit,
        )
        if int(gone) >= limit or await self._fetch_value(
            # Fewer than a batch went: either the slice is done, or the server touched some
            # of the batch during the DELETE (they stay) while more idle rows wait beyond the
            # LIMIT. A look at the slice (cached pages, often all dead now) tells which.
            "SELECT EXISTS (SELECT FROM sessions WHERE ctid >= $1::tid AND ctid < $2::tid "
            "AND last_activity < $3)",
            (start, 0),
            (stop, 0),
            opts.idle_cutoff,
        ):
            # The slice may hold more: stay on it (what went is gone, and what the server
            # touched no longer matches).
            return True, int(gone), int(events), 0, position
        return stop < end, int(gone), int(events), 0, (stop, end, step)

    async def _expire_delete(self, delete_sql: str, *args: Any) -> tuple[int, int]:
        """Run one batch DELETE ... RETURNING session_id in a transaction of its own, on
        expire's own connection; return (sessions deleted, events the cascade deleted).

        Events are counted from the transaction's own statistics counter for ``events``: read
        in the DELETE's final SELECT (before its cascade runs, at the statement's end) and
        again after it, inside one transaction, where the counter cannot be flushed. That
        costs no extra work on the server. With track_counts off the counter stays still, so
        the events are then counted per session with an index probe instead.
        """
        conn = await self._kept("expire")
        try:
            async with conn.transaction():
                if self._track_counts:
                    gone, before = await conn.fetchrow(
                        f"WITH gone AS ({delete_sql}) SELECT count(*), "
                        "pg_stat_get_xact_tuples_deleted('events'::regclass) FROM gone",
                        *args,
                    )
                    after = await conn.fetchval(
                        "SELECT pg_stat_get_xact_tuples_deleted('events'::regclass)"
                    )
                    return int(gone), int(after - before)
                gone, events = await conn.fetchrow(
                    f"WITH gone AS ({delete_sql}) SELECT count(*), coalesce(sum(("
                    "SELECT count(*) FROM events e WHERE e.session_id = g.session_id)), 0) "
                    "FROM gone g",
                    *args,
                )
                return int(gone), int(events)
        except (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError) as exc:
            await self._drop_kept("expire")
            raise self._wrap(exc) from exc
        except McpStoreError:
            raise
        except Exception as exc:
            raise self._wrap(exc) from exc

    async def _fetch_value(self, sql: str, *args: Any) -> Any:
        """One value, on expire's own connection (its own transaction)."""
        conn = await self._kept("expire")
        try:
            return await conn.fetchval(sql, *args)
        except (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError) as exc:
            await self._drop_kept("expire")
            raise self._wrap(exc) from exc
        except Exception as exc:
            raise self._wrap(exc) from exc

    async def _fetch_row(self, sql: str, *args: Any) -> Any:
        """One row from one autocommit statement (its own transaction)."""
        async with self.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            try:
                return await driver.fetchrow(sql, *args)
            except Exception as exc:
                raise self._wrap(exc) from exc

    def _make_engine(self) -> AsyncEngine:
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(
            "postgresql+asyncpg://",
            async_creator=self.raw_connect,
            pool_size=2,
            max_overflow=4,
        )
        self.lock_watch.attach_engine(engine)
        return engine

    def _json_read(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        # As text, so that every row is decoded (and judged) by SqlStore.decode_session.
        return sa.cast(column, sa.Text)

    def _json_write(self, value: Any) -> Any:
        return value

    def _id_key(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        # Byte order whatever the database's collation, as on SQLite.
        return column.collate("C")

    def _terminated_expr(self) -> sa.ColumnElement[bool]:
        return self.sessions.c.state.op("@>", is_comparison=True)(
            sa.cast(sa.literal('{"terminated": true}', sa.Text), JSONB)
        )

    def _terminated_at_expr(self) -> sa.ColumnElement[Any]:
        value = self.sessions.c.state.op("->")(sa.literal("terminated_at", sa.Text))
        return sa.case(
            (
                sa.func.jsonb_typeof(value) == "number",
                sa.cast(sa.cast(value, sa.Text), sa.Numeric),
            ),
            else_=None,
        )

    async def top_snapshot(self, *, now_ms: int, timeout_ms: int) -> Any:
        from mcpstore_cli.backends.postgres import top

        await self.ensure_readable()
        return await top.snapshot(self, now_ms=now_ms, timeout_ms=timeout_ms)

    # -- one session at a time: single jsonb statements (surgery.py beside this module) --
    async def terminate_session(self, session_id: str, *, now_ms: int, ttl_s: int) -> Any:
        from mcpstore_cli.backends.postgres import surgery

        return await surgery.terminate(self, session_id, now_ms=now_ms)

    async def change_state(
        self, session_id: str, key: str, value: Any, *, unset: bool, now_ms: int, ttl_s: int
    ) -> Any:
        from mcpstore_cli.backends.postgres import surgery

        return await surgery.change_state(self, session_id, key, value, unset=unset, now_ms=now_ms)

    # -- clear and teardown (teardown.py beside this module) --------------------------
    async def inventory(self) -> Inventory:
        from mcpstore_cli.backends.postgres.teardown import postgres_inventory

        return await postgres_inventory(self)

    async def clear(
        self, *, recreate: bool = False, progress: ProgressCallback | None = None
    ) -> ClearResult:
        from mcpstore_cli.backends.postgres.teardown import postgres_clear

        return await postgres_clear(self, progress)

    async def drop(self) -> list[str]:
        from mcpstore_cli.backends.postgres.teardown import postgres_drop

        return await postgres_drop(self)

    # -- provisioning -------------------------------------------------------------------
    def tables(self) -> list[str]:
        return ["sessions", "events"]

    def setup_plan(self, **options: Any) -> list[str]:
        plan: list[str] = []
        if options.get("create_database"):
            plan.append(
                f"-- on database postgres, only if {self.target.database} does not exist\n"
                f"CREATE DATABASE {quote_ident(self.target.database)}"
            )
        plan.append("BEGIN")
        plan += table_ddl()
        plan.append("COMMIT")
        plan += [index_ddl(name) for name in expected_indexes()]
        if options.get("notify"):
            from mcpstore_cli.backends.postgres.tail import notify_ddl

            plan += ["-- only if the trigger is missing or differs", *notify_ddl()]
        return plan

    async def setup(self, **options: Any) -> list[SetupStep]:
        steps: list[SetupStep] = []
        if options.get("create_database"):
            created = await self._create_database()
            steps.append(
                SetupStep(self.target.database, "created" if created else "exists", "database")
            )
        async with self.connect(write=True) as conn:
            before = await self._relations(conn)
            for table in ("sessions", "events"):
                kind = before.get(table)
                if kind is not None and kind not in ("r", "p"):
                    raise LayoutError(
                        f"{self.url.masked()} has a {table} that is not a table; "
                        "see mcpstore setup --check."
                    )
            if before:
                # A store in another layout is refused before anything is changed; what
                # setup can add (missing tables, missing or invalid indexes) is not drift.
                await self._refuse_drift(conn, repairable=True)
            # Serialise concurrent setups of the same store on this transaction.
            await conn.exec_driver_sql(
                "SELECT pg_advisory_xact_lock(7367200201)  -- mcpstore setup"
            )
            for statement in table_ddl():
                await conn.exec_driver_sql(statement)
        for table in ("sessions", "events"):
            steps.append(SetupStep(table, "exists" if table in before else "created", "table"))
        # CREATE INDEX CONCURRENTLY cannot run in a transaction: autocommit, one at a time.
        async with self.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            existing: dict[str, Sequence[Any]] = {
                row[0]: row for row in await auto.exec_driver_sql(_INDEXES_SQL)
            }
            for name in expected_indexes():
                row = existing.get(name)
                if row is not None and not row[2]:
                    # A CONCURRENTLY build that failed leaves an invalid index behind, which
                    # IF NOT EXISTS would keep forever: rebuild it.
                    await auto.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
                    await auto.exec_driver_sql(index_ddl(name))
                    steps.append(SetupStep(name, "rebuilt (was invalid)", "index"))
                    continue
                await auto.exec_driver_sql(index_ddl(name))
                steps.append(SetupStep(name, "exists" if row is not None else "created", "index"))
        self._readable = False
        if before:
            async with self.connect() as conn:
                await self._refuse_drift(conn, repairable=False)
        if options.get("notify"):
            steps += await self._setup_notify()
        return steps

    async def _setup_notify(self) -> list[SetupStep]:
        from mcpstore_cli.backends.postgres.tail import FUNCTION, TRIGGER, install_notify

        conn = await self.raw_connect()
        try:
            action = await install_notify(conn)
        except McpStoreError:
            raise
        except Exception as exc:
            raise self._wrap(exc) from exc
        finally:
            await conn.close()
        function_action = "created" if action == "created" else "exists"
        return [
            SetupStep(f"{FUNCTION}()", function_action, "function"),
            SetupStep(TRIGGER, action, "trigger"),
        ]

    async def _refuse_drift(self, conn: AsyncConnection, *, repairable: bool) -> None:
        drift = [f for f in await self._findings(conn) if f.severity == "error"]
        if repairable:
            drift = [
                f
                for f in drift
                if not (
                    f.object.startswith(("table ", "index "))
                    and (f.problem == "missing" or f.problem.startswith("invalid"))
                )
            ]
        if drift:
            raise LayoutError(
                f"{self.url.masked()} has tables that differ from the layout "
                f"({drift[0].object}: {drift[0].problem}); see mcpstore setup --check."
            )

    async def _relations(self, conn: AsyncConnection) -> dict[str, str]:
        # Rows of the query's columns (SQLAlchemy 2.1 types exec_driver_sql's as one column).
        rows: Iterable[Sequence[Any]] = await conn.exec_driver_sql(
            "SELECT c.relname, c.relkind::text FROM pg_class c "
            "WHERE c.oid IN (to_regclass('sessions'), to_regclass('events'))"
        )
        return {name: kind for name, kind in rows}

    async def _columns(
        self, conn: AsyncConnection
    ) -> tuple[dict[str, str], dict[str, list[tuple[str, str, bool, str | None]]]]:
        return _columns_from_rows(await conn.exec_driver_sql(_COLUMNS_SQL))

    async def catalog_columns(self) -> dict[str, set[str]]:
        kinds, columns = _columns_from_rows(await self._fetch_page(_COLUMNS_SQL, []))
        return {table: {c[0] for c in columns.get(table, [])} for table in kinds}

    async def ensure_readable(self) -> None:
        if self._readable:
            return
        # On the reading connection that list pages use too: a one-page command then needs
        # neither SQLAlchemy's engine nor a second connection.
        kinds, columns = _columns_from_rows(await self._fetch_page(_COLUMNS_SQL, []))
        for table in ("sessions", "events"):
            if table not in kinds:
                hint = ""
                rows = await self._fetch_page("SELECT to_regclass('kv_store') IS NOT NULL", [])
                if rows and rows[0][0]:
                    hint = (
                        " (it has py-key-value's kv_store: FastMCP's, read with --layout fastmcp)"
                    )
                raise StoreMissingError(
                    f"Database {self.target.database} on {self.target.where} has no {table} "
                    f"table{hint}; run mcpstore setup --url {self.url.masked()}."
                )
            if kinds[table] not in ("r", "p", "v", "m", "f"):
                raise LayoutError(
                    f"{self.url.masked()} is in another layout: {table} is not a table; "
                    "see mcpstore setup --check."
                )
            have = {c[0] for c in columns.get(table, [])}
            missing = sorted(REQUIRED[table] - have)
            if missing:
                raise LayoutError(
                    f"{self.url.masked()} is in another layout: table {table} has no column "
                    f"{missing[0]}; see mcpstore setup --check."
                )
        self._readable = True

    async def check(self) -> list[Finding]:
        async with self.connect() as conn:
            return await self._findings(conn)

    async def _findings(self, conn: AsyncConnection) -> list[Finding]:
        findings: list[Finding] = []
        kinds, columns = await self._columns(conn)
        indexes: list[Sequence[Any]] = list(await conn.exec_driver_sql(_INDEXES_SQL))
        constraints: list[Sequence[Any]] = list(await conn.exec_driver_sql(_CONSTRAINTS_SQL))
        present = [t for t in ("sessions", "events") if kinds.get(t) in ("r", "p")]
        for table in ("sessions", "events"):
            kind = kinds.get(table)
            if kind is None:
                findings.append(Finding(f"table {table}", "missing"))
            elif kind not in ("r", "p"):
                findings.append(Finding(f"table {table}", f"is not a table (relkind {kind})"))
        for table in present:
            findings += _compare_columns(table, expected_columns()[table], columns.get(table, []))
            pk = [c for c in constraints if c[1] == "p" and c[2] == table]
            if not pk:
                findings.append(Finding(f"primary key {table}", "missing"))
            elif tuple(pk[0][3]) != PRIMARY_KEYS[table]:
                findings.append(
                    Finding(
                        f"primary key {table}",
                        f"on ({', '.join(pk[0][3])}), expected ({', '.join(PRIMARY_KEYS[table])})",
                    )
                )
        if "events" in present:
            fks = [
                c
                for c in constraints
                if c[1] == "f"
                and c[2] == "events"
                and list(c[3]) == ["session_id"]
                and c[4] == "sessions"
                and list(c[5]) == ["session_id"]
            ]
            if not fks:
                findings.append(Finding("foreign key events.session_id", "missing (→ sessions)"))
            elif fks[0][6] != "c":
                findings.append(
                    Finding(
                        "foreign key events.session_id",
                        f"ON DELETE {_ON_DELETE.get(fks[0][6], fks[0][6])}, expected CASCADE",
                    )
                )
        if "events" in present:
            findings += await self._notify_findings(conn)
        by_name = {row[0]: row for row in indexes}
        for name, (table, cols, where) in expected_indexes().items():
            if table not in present:
                continue
            row = by_name.get(name)
            if row is None:
                findings.append(Finding(f"index {name}", "missing"))
                continue
            _name, on_table, valid, _unique, have_cols, pred, _keys = row
            if on_table != table:
                findings.append(Finding(f"index {name}", f"on table {on_table}, expected {table}"))
                continue
            if tuple(have_cols) != cols:
                findings.append(
                    Finding(
                        f"index {name}",
                        f"on ({', '.join(have_cols)}), expected ({', '.join(cols)})",
                    )
                )
            if _normalize_expr(pred) != _normalize_expr(where):
                expected = f"WHERE {where}" if where else "no WHERE clause"
                findings.append(
                    Finding(
                        f"index {name}",
                        f"{'WHERE ' + pred if pred else 'no WHERE clause'}, expected {expected}",
                    )
                )
            if not valid:
                findings.append(
                    Finding(
                        f"index {name}", "invalid (a failed concurrent build); run mcpstore setup"
                    )
                )
        return findings

    async def _notify_findings(self, conn: AsyncConnection) -> list[Finding]:
        """The tail-events trigger is an extra a server ignores: notes, never drift."""
        from mcpstore_cli.backends.postgres.tail import (
            FUNCTION,
            FUNCTION_SQL,
            TRIGGER,
            TRIGGER_SQL,
            trigger_state,
        )

        row = (await conn.exec_driver_sql(TRIGGER_SQL)).first()
        state = trigger_state(row)
        name = f"trigger {TRIGGER}"
        if state == "ok":
            return [Finding(name, "present (setup --notify): tail-events is pushed", "note")]
        if state == "disabled":
            return [Finding(name, "disabled: tail-events polls; run setup --notify", "note")]
        if state == "different":
            return [
                Finding(name, f"does not run {FUNCTION}() after insert; run setup --notify", "note")
            ]
        if (await conn.exec_driver_sql(FUNCTION_SQL)).scalar():
            return [
                Finding(
                    f"function {FUNCTION}()",
                    "present without its trigger: tail-events polls; run setup --notify",
                    "note",
                )
            ]
        return []

    # -- reading ------------------------------------------------------------------------
    def _prefix_upper_bound(self, prefix: str) -> str | None:
        # The column's collation may not be byte order (en_US and the like), so the bound
        # is the leading run of letters and digits with its last character stepped up: in
        # every collation an id that starts with the run sorts before it.
        run = _ALNUM_RUN.match(prefix)
        head = run.group(0) if run else ""
        for i in range(len(head) - 1, -1, -1):
            step = _NEXT_ALNUM.get(head[i])
            if step is not None:
                return head[:i] + step
        return None

    async def _backend_facts(self, conn: AsyncConnection) -> tuple[dict[str, int], dict[str, Any]]:
        row: Sequence[Any] = (
            await conn.exec_driver_sql(
                "SELECT pg_total_relation_size('sessions'), pg_total_relation_size('events'), "
                "current_setting('server_version'), current_database(), current_user"
            )
        ).one()
        sessions_size, events_size, version, database, user = row
        storage = {
            "sessions": int(sessions_size),
            "events": int(events_size),
            "total": int(sessions_size) + int(events_size),
        }
        facts = {
            "server_version": version,
            "database": database,
            "user": user,
            "host": self.target.where,
        }
        return storage, facts

    # -- following ----------------------------------------------------------------------
    async def tail_events(
        self, request: TailRequest, *, warn: Warn | None = None
    ) -> AsyncIterator[list[Event | CorruptRow]]:
        from mcpstore_cli.backends.postgres.tail import PgIdSource
        from mcpstore_cli.backends.sql.tail import follow

        await self.ensure_readable()
        batches = follow(PgIdSource(self, warn), request, warn)
        async with contextlib.aclosing(batches):
            async for batch in batches:
                yield batch

    # -- writing ------------------------------------------------------------------------
    async def write_demo(
        self,
        batches: Any,
        progress: ProgressCallback | None = None,
    ) -> tuple[int, int]:
        """Into empty tables: one transaction, indexes built after the rows
        (:mod:`mcpstore_cli.backends.postgres.bulk`). Otherwise COPY each batch (sessions,
        then their events) in a transaction of its own.

        Two batches are in flight on two connections, so that the server's work (heap, five
        indexes, the foreign key) runs on two cores while the next batch is generated here.
        A session and all its events are always in the same batch, so each session's event
        ids still increase with its timestamps.
        """
        from mcpstore_cli.backends.postgres.bulk import demo_into_empty
        from mcpstore_cli.layouts.turul_sessions.demo import demo_kept, demo_rolled_back

        try:
            loaded = await demo_into_empty(self, batches, progress)
        except (KeyboardInterrupt, Interrupted, asyncio.CancelledError):
            raise demo_rolled_back() from None  # its one transaction rolled back
        if loaded is not None:
            return loaded
        lanes = DEMO_LANES
        running: set[asyncio.Task[tuple[int, int]]] = set()
        total_sessions = total_events = 0
        batches_done = 0

        async def settle(wait_for: int) -> None:
            nonlocal running, total_sessions, total_events, batches_done
            while len(running) > wait_for:
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    n_sessions, n_events = task.result()
                    total_sessions += n_sessions
                    total_events += n_events
                    batches_done += 1
                    if progress is not None:
                        progress(n_sessions + n_events)

        try:
            async for sessions, events in batches:
                # In key order, so that the index inserts of a batch walk each b-tree once
                # (a stable sort: each session's events keep their order, hence their ids').
                session_rows = sorted(_session_records(sessions), key=_first)
                event_rows = sorted(_event_records(events), key=_first)
                rows = (session_rows, event_rows)
                await settle(lanes - 1)
                running.add(asyncio.create_task(self._copy_batch(*rows)))
            await settle(0)
        except (KeyboardInterrupt, Interrupted, asyncio.CancelledError):
            # Ctrl-C: the batches in flight (each its own transaction) run to their end, so
            # that what is said to stay is exactly what committed.
            for task in asyncio.as_completed(running):
                with contextlib.suppress(Exception):
                    n_sessions, n_events = await task
                    total_sessions += n_sessions
                    total_events += n_events
                    batches_done += 1
            raise demo_kept(total_sessions, total_events, batches_done) from None
        except BaseException:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        return total_sessions, total_events

    async def _copy_batch(
        self, sessions: list[tuple[Any, ...]], events: list[tuple[Any, ...]]
    ) -> tuple[int, int]:
        async with self.connect(write=True) as conn:
            await self._copy(conn, sessions, events)
        return len(sessions), len(events)

    async def _copy(
        self, conn: AsyncConnection, sessions: list[tuple[Any, ...]], events: list[tuple[Any, ...]]
    ) -> None:
        # Demo rows only: a lost commit after a crash costs nothing, so do not wait for the
        # WAL flush (this also opens the transaction the COPYs run in).
        await conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        if self._skip_fk_checks is not False:
            # Demo rows are consistent by construction (a session is copied before its
            # events, in the same transaction), so the per-row foreign-key trigger is pure
            # cost. Skipping triggers needs superuser rights: try once, and remember a "no".
            try:
                async with conn.begin_nested():
                    await conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                self._skip_fk_checks = True
            except Exception:
                self._skip_fk_checks = False
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        if sessions:
            await driver.copy_records_to_table(
                "sessions", columns=copy_columns("sessions"), records=sessions
            )
        if events:
            # Without the id column: ids come from the BIGSERIAL sequence, as the server's do.
            await driver.copy_records_to_table(
                "events", columns=copy_columns("events"), records=events
            )

    async def _bulk_insert(
        self, conn: AsyncConnection, sessions: Sequence[Session], events: Sequence[Event]
    ) -> None:
        await self._copy(conn, _session_records(sessions), _event_records(events))

    # -- backups: see postgres_backup -----------------------------------------------------
    async def backup_records(
        self, spec: Any, out: Any, header: dict[str, Any], progress: Any = None
    ) -> dict[str, Any]:
        from mcpstore_cli.backends.postgres import backup as postgres_backup

        return await postgres_backup.backup(self, spec, out, header, progress)

    def restore_limits(self) -> RestoreLimits:
        return RESTORE_LIMITS

    async def restore_records(
        self, info: Any, summary: Any, *, mode: str, keep_ttl: bool = False, progress: Any = None
    ) -> None:
        from mcpstore_cli.backends.postgres import backup as postgres_backup

        await postgres_backup.restore(self, info, summary, mode=mode, progress=progress)

    async def row_counts(self) -> tuple[int, int]:
        from mcpstore_cli.backends.postgres import backup as postgres_backup

        await self.ensure_readable()
        return await postgres_backup.count_rows(self)

    async def native_backup(
        self, target: str | None = None, *, force: bool = False
    ) -> list[dict[str, Any]]:
        raise NotSupportedError(
            "PostgreSQL has no native backup in mcpstore: use pg_dump -Fc -t sessions -t "
            "events (or the portable mcpstore backup without --native)."
        )


DEMO_LANES = 2


def _first(row: tuple[Any, ...]) -> Any:
    return row[0]


def _session_records(sessions: Sequence[Session]) -> list[tuple[Any, ...]]:
    """COPY rows; JSON as compact text (pre-rendered by the demo generator when it can)."""
    out = []
    for s in sessions:
        pre = getattr(s, "state_json", None)
        if pre:
            client = s.client_capabilities_json  # type: ignore[attr-defined]
            server = s.server_capabilities_json  # type: ignore[attr-defined]
            state = pre
            metadata = s.metadata_json  # type: ignore[attr-defined]
        else:
            client = None if s.client_capabilities is None else dumps(s.client_capabilities)
            server = dumps(s.server_capabilities)
            state = dumps(s.state)
            metadata = dumps(s.metadata)
        out.append(
            (
                s.session_id,
                client,
                server,
                state,
                s.created_at,
                s.last_activity,
                s.is_initialized,
                metadata,
                s.extra("version") or 1,
            )
        )
    return out


def _event_records(events: Sequence[Event]) -> list[tuple[Any, ...]]:
    out = []
    for e in events:
        data = getattr(e, "data_json", None)
        out.append(
            (
                e.session_id,
                e.timestamp,
                e.event_type,
                data if data is not None else dumps(e.data),
                e.retry,
            )
        )
    return out


def _compare_columns(
    table: str,
    expected: list[tuple[str, str, bool, str | None]],
    actual: list[tuple[str, str, bool, str | None]],
) -> list[Finding]:
    out: list[Finding] = []
    have = {row[0]: row for row in actual}
    for name, typ, notnull, default in expected:
        obj = f"column {table}.{name}"
        row = have.get(name)
        if row is None:
            out.append(Finding(obj, "missing"))
            continue
        _name, got_type, got_notnull, got_default = row
        if got_type != typ:
            out.append(Finding(obj, f"type {got_type}, expected {typ}"))
        if got_notnull != notnull:
            out.append(
                Finding(
                    obj,
                    "NOT NULL, expected nullable" if got_notnull else "nullable, expected NOT NULL",
                )
            )
        if default is not None:
            if default.endswith("("):
                ok = (got_default or "").startswith(default)
            else:
                ok = _normalize_expr(got_default) == _normalize_expr(default)
            if not ok:
                out.append(
                    Finding(obj, f"default {got_default or 'none'}, expected {default.rstrip('(')}")
                )
    expected_names = {e[0] for e in expected}
    for name, row in have.items():
        if name not in expected_names:
            blocking = row[2] and row[3] is None
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
