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
import shlex
import socket
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

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
from mcpstore_cli.backends.postgres.locks import LockWatch, WatchedConnection
from mcpstore_cli.backends.sql.base import SqlStore
from mcpstore_cli.errors import (
    Interrupted,
    LayoutError,
    LockTimeoutError,
    McpStoreError,
    NotSupportedError,
    StoreConnectionError,
    StoreMissingError,
    UsageError,
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


# libpq parameters that asyncpg does not take and that have no server-side meaning: accepted
# (so that a DATABASE_URL written for libpq works) and left out of the connection.
_CLIENT_ONLY_PARAMS = {
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "gssencmode",
    "channel_binding",
    "requirepeer",
    "sslcompression",
    "sslsni",
    "require_auth",
    "load_balance_hosts",
    "hostaddr",
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


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _normalize_expr(text: str | None) -> str:
    """A predicate or default without parentheses, spaces or case, for comparison."""
    return re.sub(r"[\s()]", "", (text or "")).lower()


class _Target:
    """Where a PostgreSQL URL points, for connecting and for messages (no password)."""

    def __init__(self, raw: str) -> None:
        parts = urlsplit(raw)
        query = parse_qsl(parts.query, keep_blank_values=True)
        params = {k: v for k, v in query}
        host = parts.hostname or params.get("host") or "localhost"
        self.host = host
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is None:
            given = params.get("port", "")
            port = int(given) if given.isdigit() else 5432
        self.port = port
        self.user = unquote(parts.username) if parts.username else params.get("user")
        path_db = unquote(parts.path.lstrip("/")) if parts.path else ""
        self.database = path_db or params.get("dbname") or params.get("database") or self.user or ""
        self.url_timeout: float | None = None
        server_settings: dict[str, str] = {}
        kept: list[tuple[str, str]] = []
        for key, value in query:
            low = key.lower()
            if low == "connect_timeout":
                try:
                    seconds = float(value)
                except ValueError:
                    raise UsageError(
                        f"connect_timeout={value!r} in the PostgreSQL URL is not a number of "
                        "seconds."
                    ) from None
                self.url_timeout = seconds if seconds > 0 else None
            elif low == "options":
                server_settings.update(_parse_options(value))
            elif low == "fallback_application_name":
                server_settings.setdefault("application_name", value)
            elif low in _CLIENT_ONLY_PARAMS:
                continue
            else:
                kept.append((key, value))
        if not any(k.lower() == "application_name" for k, _ in kept):
            server_settings.setdefault("application_name", "mcpstore")
        # Statements are prepared (asyncpg): plan each execution for its own values, as psql's
        # literal SQL is, rather than a generic plan that cannot see LIMIT 51 or the cursor.
        if not any(k.lower() == "plan_cache_mode" for k, _ in kept):
            server_settings.setdefault("plan_cache_mode", "force_custom_plan")
        self.server_settings = server_settings
        query_text = urlencode(kept)
        self.dsn = f"postgresql://{parts.netloc}{parts.path}" + (f"?{query_text}" if kept else "")

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def _parse_options(value: str) -> dict[str, str]:
    """libpq's ``options`` (``-c name=value`` and ``--name=value``) as server settings."""
    out: dict[str, str] = {}
    try:
        words = shlex.split(value)
    except ValueError:
        raise UsageError(f"options={value!r} in the PostgreSQL URL cannot be parsed.") from None
    it = iter(words)
    for word in it:
        if word == "-c":
            word = next(it, "")
        elif word.startswith("-c") or word.startswith("--"):
            word = word[2:]
        else:
            raise UsageError(
                f"options={value!r} in the PostgreSQL URL: only -c name=value settings are "
                "supported."
            )
        name, eq, setting = word.partition("=")
        if not eq or not name:
            raise UsageError(f"options={value!r} in the PostgreSQL URL: expected name=value.")
        out[name.replace("-", "_")] = setting
    return out


class PostgresStore(SqlStore):
    backend = "postgres"
    title = "PostgreSQL"
    setup_options = frozenset({"create_database", "notify"})
    clears_in_one_transaction = True
    restores_in_one_transaction = True
    verifies_while_loading = True
    versioned = True
    required_columns = REQUIRED

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._target: _Target | None = None
        self._readable = False
        self._skip_fk_checks: bool | None = None
        self._kept_conns: dict[str, asyncpg.Connection] = {}
        self._track_counts = True
        self.lock_watch = LockWatch(self)

    def label(self) -> str:
        return str(self.target.database or "postgres")

    @property
    def target(self) -> _Target:
        if self._target is None:
            self._target = _Target(self.url.raw)
        return self._target

    @property
    def connect_timeout(self) -> float:
        default = type(self.options).__dataclass_fields__["connect_timeout"].default
        url_timeout = self.target.url_timeout
        if url_timeout is not None and self.options.connect_timeout == default:
            return url_timeout
        return self.options.connect_timeout

    # -- connections --------------------------------------------------------------------
    async def raw_connect(
        self, database: str | None = None, *, watched: bool = True
    ) -> asyncpg.Connection:
        """A plain asyncpg connection to the store (or another database on its server).

        ``watched`` connections report their statements to the store's lock watcher (see
        :mod:`mcpstore_cli.backends.postgres.locks`); the watcher's own connection is not."""
        target = self.target
        settings = dict(target.server_settings)
        if self.options.read_only and database is None:
            settings.setdefault("default_transaction_read_only", "on")
        if self.options.lock_timeout_ms is not None:
            settings["lock_timeout"] = f"{self.options.lock_timeout_ms}ms"
        kwargs: dict[str, Any] = {
            "dsn": target.dsn,
            "timeout": self.connect_timeout,
            "server_settings": settings,
        }
        if database is not None:
            kwargs["database"] = database
        if watched:
            kwargs["connection_class"] = WatchedConnection
        try:
            conn = await asyncpg.connect(**kwargs)
        except TimeoutError:
            raise StoreConnectionError(
                f"PostgreSQL at {target.where} did not answer within "
                f"{self.connect_timeout:g} s; check the host and port, or raise "
                "--connect-timeout."
            ) from None
        if watched:
            conn._lock_watch = self.lock_watch
        return conn

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

    async def _kept(self, role: str) -> asyncpg.Connection:
        """The store's own asyncpg connection for ``role`` ("page": list pages and the
        readiness check; "expire": batch deletes), opened on first use."""
        conn = self._kept_conns.get(role)
        if conn is None or conn.is_closed():
            try:
                conn = await self.raw_connect()
                if role == "expire":
                    # PostgreSQL's default plan caching: the forced custom plans that suit
                    # list pages make the batch DELETE twice as slow (measured).
                    await conn.execute("SET plan_cache_mode = auto")
                    self._track_counts = (await conn.fetchval("SHOW track_counts")) == "on"
            except McpStoreError:
                raise
            except Exception as exc:
                raise self._wrap(exc) from exc
            self._kept_conns[role] = conn
        return conn

    async def _drop_kept(self, role: str) -> None:
        conn = self._kept_conns.pop(role, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)

    async def _fetch_page(self, sql: str, args: list[Any]) -> list[Any]:
        """A page query on the reading connection (reopened once if the server dropped it)."""
        for attempt in (1, 2):
            conn = await self._kept("page")
            try:
                return list(await conn.fetch(sql, *args))
            except (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError, OSError):
                await self._drop_kept("page")
                if attempt == 2:
                    raise
            except Exception as exc:
                raise self._wrap(exc) from exc
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self.lock_watch.close()
        for role in list(self._kept_conns):
            await self._drop_kept(role)
        await super().close()

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

    @contextlib.asynccontextmanager
    async def expire_lock(self) -> AsyncIterator[None]:
        """A session-level advisory lock on a connection of its own, held for the whole run
        (the server drops it if this process dies)."""
        from mcpstore_cli.errors import ExpireBusyError

        try:
            conn = await self.raw_connect()
        except McpStoreError:
            raise
        except Exception as exc:
            raise self._wrap(exc) from exc
        try:
            got = await conn.fetchval("SELECT pg_try_advisory_lock($1)", EXPIRE_LOCK_KEY)
            if not got:
                raise ExpireBusyError(
                    f"Another mcpstore expire is running on {self.url.masked()} (advisory lock "
                    f"{EXPIRE_LOCK_KEY}); this run did nothing."
                )
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    await conn.fetchval("SELECT pg_advisory_unlock($1)", EXPIRE_LOCK_KEY)
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)

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

    def _translate_error(self, exc: BaseException) -> McpStoreError | None:
        return translate_error(exc, self)

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

    async def _create_database(self) -> bool:
        """Create the store's database if missing; True if it was created."""
        name = self.target.database
        if not name:
            raise UsageError(f"{self.url.masked()} names no database to create.")
        # If the database answers, it exists: no need to reach the maintenance database
        # (which a user may not be allowed to connect to).
        try:
            probe = await self.raw_connect()
        except asyncpg.InvalidCatalogNameError:
            pass
        except McpStoreError:
            raise
        except Exception as exc:
            raise self._wrap(exc) from exc
        else:
            await probe.close()
            return False
        conn = None
        last: BaseException | None = None
        for maintenance in ("postgres", "template1"):
            try:
                conn = await self.raw_connect(database=maintenance)
                break
            except asyncpg.InvalidCatalogNameError as exc:
                last = exc
            except McpStoreError:
                raise
            except Exception as exc:
                raise self._wrap(exc) from exc
        if conn is None:
            raise StoreConnectionError(
                f"Cannot create database {name}: the server at {self.target.where} has no "
                f"postgres or template1 database to connect to ({last})."
            )
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if exists:
                return False
            try:
                await conn.execute(f"CREATE DATABASE {quote_ident(name)}")
            except asyncpg.DuplicateDatabaseError:
                return False
            except asyncpg.InsufficientPrivilegeError:
                raise StoreConnectionError(
                    f"User {self.target.user or '(default)'} may not create database {name} "
                    f"on {self.target.where}; ask an administrator to create it, or to grant "
                    "CREATEDB."
                ) from None
            return True
        finally:
            await conn.close()

    def _wrap(self, exc: BaseException) -> McpStoreError:
        translated = self._translate_error(exc)
        if translated is None:
            return StoreConnectionError(f"PostgreSQL error on {self.url.masked()}: {exc}.")
        return translated

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
                raise StoreMissingError(
                    f"Database {self.target.database} on {self.target.where} has no {table} "
                    f"table; run mcpstore setup --url {self.url.masked()}."
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


EXPIRE_LOCK_KEY = 7367200202  # "mcpstore expire", per database


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


def _walk(exc: BaseException) -> list[BaseException]:
    """The exception, what SQLAlchemy wrapped, and its causes."""
    seen: list[BaseException] = []
    stack: list[BaseException | None] = [exc]
    while stack:
        item = stack.pop(0)
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        stack += [getattr(item, "orig", None), item.__cause__, item.__context__]
    return seen


def translate_error(exc: BaseException, store: PostgresStore) -> McpStoreError | None:
    """One clear sentence for a driver or connection failure (never with the password)."""
    target = store.target
    where = target.where
    url = store.url.masked()
    chain = _walk(exc)
    for item in chain:
        if isinstance(item, McpStoreError):
            return item
    for item in chain:
        if isinstance(item, asyncpg.LockNotAvailableError):
            return lock_timeout_error(store)
        if isinstance(item, asyncpg.InvalidPasswordError):
            return StoreConnectionError(
                f"PostgreSQL at {where} rejected the password of user "
                f"{target.user or '(default)'}; check the password in the URL."
            )
        if isinstance(item, asyncpg.InvalidCatalogNameError):
            return StoreMissingError(
                f"Database {target.database} does not exist on {where}; run mcpstore setup "
                f"--create-database --url {url}."
            )
        if isinstance(item, asyncpg.InvalidAuthorizationSpecificationError):
            return StoreConnectionError(
                f"PostgreSQL at {where} refused user {target.user or '(default)'}: "
                f"{_server_message(item)}."
            )
        if isinstance(item, asyncpg.UndefinedTableError):
            return StoreMissingError(
                f"{url} lacks a table ({_server_message(item)}); run mcpstore setup."
            )
        if isinstance(item, asyncpg.UndefinedColumnError):
            return LayoutError(
                f"{url} is in another layout ({_server_message(item)}); see mcpstore setup --check."
            )
        if isinstance(item, asyncpg.InsufficientPrivilegeError):
            return StoreConnectionError(
                f"User {target.user or '(default)'} lacks a privilege on {url}: "
                f"{_server_message(item)}."
            )
        if isinstance(item, asyncpg.ReadOnlySQLTransactionError):
            return StoreConnectionError(f"{url} is read-only for this command or user.")
        if isinstance(item, asyncpg.CannotConnectNowError):
            return StoreConnectionError(
                f"PostgreSQL at {where} is not accepting connections yet "
                f"({_server_message(item)}); try again shortly."
            )
        if isinstance(item, asyncpg.TooManyConnectionsError):
            return StoreConnectionError(
                f"PostgreSQL at {where} has no free connection slots; try again later."
            )
        if isinstance(item, asyncpg.StringDataRightTruncationError):
            return UsageError(
                f"A value is too long for its column on {url} ({_server_message(item)})."
            )
        if isinstance(item, asyncpg.ClientConfigurationError):
            return UsageError(f"The PostgreSQL URL {url} has a bad setting: {item}.")
    for item in chain:
        if isinstance(item, TimeoutError | asyncio.TimeoutError):
            return StoreConnectionError(
                f"PostgreSQL at {where} did not answer within {store.connect_timeout:g} s; "
                "check the host and port, or raise --connect-timeout."
            )
        if isinstance(item, socket.gaierror):
            return StoreConnectionError(
                f"Cannot resolve the PostgreSQL host {target.host}; check the URL."
            )
        if isinstance(item, ssl.SSLError):
            return StoreConnectionError(
                f"TLS with PostgreSQL at {where} failed ({item.reason or item}); check sslmode "
                "and the certificates."
            )
        if isinstance(item, ConnectionRefusedError):
            return StoreConnectionError(
                f"Cannot reach PostgreSQL at {where}: connection refused; check the host and "
                "port, and that the server is running."
            )
        if isinstance(item, asyncpg.PostgresConnectionError | asyncpg.InterfaceError):
            return StoreConnectionError(f"The connection to PostgreSQL at {where} failed: {item}.")
        if isinstance(item, ConnectionError | OSError):
            return StoreConnectionError(
                f"Cannot reach PostgreSQL at {where} ({item.strerror or item}); check the host "
                "and port."
            )
    for item in chain:
        if isinstance(item, asyncpg.PostgresError):
            return StoreConnectionError(f"PostgreSQL error on {url}: {_server_message(item)}.")
    return None


def lock_timeout_error(store: PostgresStore) -> LockTimeoutError:
    """SQLSTATE 55P03: a lock wait outlasted lock_timeout. The server names no lock, so the
    sentence says what the lock watcher saw last."""
    from mcpstore_cli.util.durations import format_duration

    limit = store.options.lock_timeout_ms
    waited = f"waited {format_duration(limit)}" if limit else "waited longer than lock_timeout"
    wait = store.lock_watch.last
    what = f" on {wait.what}{wait.held_by}" if wait is not None else ""
    return LockTimeoutError(
        f"PostgreSQL at {store.target.where}: this command {waited} for a lock{what} and gave "
        "up, rolling back its open transaction; try again later or raise --lock-timeout."
    )


def _server_message(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return str(text).rstrip(".")
