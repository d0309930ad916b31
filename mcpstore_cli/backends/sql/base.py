"""The SQL shared by the SQLite and PostgreSQL backends (SQLAlchemy Core, async engines).

A dialect module supplies the engine, the JSON column handling and its fast paths (bulk
loading, notifications); the tables are the layout's (``layouts/turul_sessions/schema.py``,
whose DDL ``backends/sql/ddl.py`` generates) and the queries are written once here.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from mcpstore_cli.backends.sql import rows
from mcpstore_cli.errors import McpStoreError
from mcpstore_cli.layouts.turul_sessions import schema
from mcpstore_cli.model.records import (
    AGE_BUCKETS,
    CorruptRow,
    Cursor,
    Event,
    ExpireOptions,
    ExpireResult,
    Session,
    SessionFilter,
    Stats,
)
from mcpstore_cli.model.surgery import ALL_CHANGES
from mcpstore_cli.store.base import ProgressCallback, Store, StoreOptions
from mcpstore_cli.store.urls import StoreURL

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from mcpstore_cli.model.ids import IdMatches, Note


class SqlStore(Store, abc.ABC):
    """Queries shared by the SQL backends."""

    versioned: ClassVar[bool] = False

    def __init__(self, url: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(url, options)
        self._engine: AsyncEngine | None = None
        self._page_sql: dict[tuple[Any, ...], Any] = {}
        # The layout's tables; a store that is not ``versioned`` never names ``version``.
        self.sessions, self.events = schema.sessions, schema.events

    # -- dialect hooks ------------------------------------------------------------------
    @abc.abstractmethod
    def _make_engine(self) -> AsyncEngine: ...

    def _id_key(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """A session id as it is compared and ordered: byte order on every backend."""
        return column

    def _json_read(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """How a JSON column is selected so that it arrives as text (decoded here)."""
        return column

    @abc.abstractmethod
    def _json_write(self, value: Any) -> Any:
        """A bind value for a JSON column."""

    @abc.abstractmethod
    def _terminated_expr(self) -> sa.ColumnElement[bool]:
        """True where state.terminated is JSON true (false for unreadable state)."""

    @abc.abstractmethod
    def _translate_error(self, exc: BaseException) -> McpStoreError | None:
        """A clear error for a driver/connection failure, or None to re-raise."""

    def _terminated_at_expr(self) -> sa.ColumnElement[Any]:
        """state.terminated_at as an integer, or NULL when absent or not a number."""
        raise NotImplementedError

    async def expire_idle_batch(
        self, opts: ExpireOptions, limit: int, position: Any
    ) -> tuple[bool, int, int, int, Any]:
        """One transaction of idle sessions: (more to do, sessions, events, skipped, position).

        ``position`` is this method's own bookmark (None at the start of a run)."""
        from mcpstore_cli.backends.sql import expire as sql_expire

        return await sql_expire.idle_batch(self, opts, limit, position)

    def _physical_order(self) -> sa.ColumnElement[Any] | None:
        """A column in storage order, for batch work that should walk the table; None to
        walk oldest activity first instead."""
        return None

    def expire_lock(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Held for a whole expire run so that a second one exits instead of competing."""
        raise NotImplementedError

    async def expire(
        self, opts: ExpireOptions, progress: ProgressCallback | None = None
    ) -> ExpireResult:
        from mcpstore_cli.backends.sql import expire as sql_expire

        return await sql_expire.expire(self, opts, progress)

    def terminated_clause(self) -> sa.ColumnElement[bool]:
        """The dialect's predicate made two-valued: a missing key is false, never NULL."""
        return sa.func.coalesce(self._terminated_expr(), sa.false())

    # -- connections --------------------------------------------------------------------
    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = self._make_engine()
        return self._engine

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    @contextlib.asynccontextmanager
    async def connect(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection (in a transaction when ``write``), with driver errors made clear."""
        try:
            if write:
                async with self.engine.begin() as conn:
                    yield conn
            else:
                async with self.engine.connect() as conn:
                    yield conn
        except McpStoreError:
            raise
        except Exception as exc:
            translated = self._translate_error(exc)
            if translated is None:
                raise
            raise translated from exc

    # -- decoding -----------------------------------------------------------------------
    def _session_columns(self) -> list[sa.ColumnElement[Any]]:
        s = self.sessions.c
        cols: list[sa.ColumnElement[Any]] = [
            s.session_id,
            self._json_read(s.client_capabilities).label("client_capabilities"),
            self._json_read(s.server_capabilities).label("server_capabilities"),
            self._json_read(s.state).label("state"),
            s.created_at,
            s.last_activity,
            s.is_initialized,
            self._json_read(s.metadata).label("metadata"),
        ]
        if self.versioned:
            cols.append(s.version)
        return cols

    def _event_count_subquery(self) -> sa.Label[Any]:
        e = self.events.c
        return (
            sa.select(sa.func.count())
            .where(e.session_id == self.sessions.c.session_id)
            .scalar_subquery()
            .label("event_count")
        )

    def decode_session(self, row: Any) -> Session | CorruptRow:
        return self.decode_session_values(row._mapping)

    def decode_session_values(self, m: Any) -> Session | CorruptRow:
        """A session from a row mapping (SQLAlchemy's, or a driver record by column name)."""
        return rows.decode_session(m)

    def decode_event(self, row: Any) -> Event | CorruptRow:
        return rows.decode_event(row._mapping)

    def _event_columns(self) -> list[sa.ColumnElement[Any]]:
        e = self.events.c
        return [
            e.id,
            e.session_id,
            e.timestamp,
            e.event_type,
            self._json_read(e.data).label("data"),
            e.retry,
        ]

    # -- reading ------------------------------------------------------------------------
    @staticmethod
    def list_params(
        flt: SessionFilter, *, limit: int | None, cursor: Cursor | None
    ) -> dict[str, Any]:
        """The bind values of :meth:`list_statement`, by name (a fast path reuses a compiled
        statement per filter shape and only rebuilds these)."""
        params: dict[str, Any] = {}
        if flt.idle_over_ms is not None:
            params["idle_before"] = flt.now_ms - flt.idle_over_ms
        if flt.active:
            params["active_since"] = flt.now_ms - flt.timeout_ms
        if flt.created_after is not None:
            params["created_after"] = flt.created_after
        if flt.created_before is not None:
            params["created_before"] = flt.created_before
        if cursor is not None:
            params["cursor_activity"] = cursor.last_activity
            params["cursor_id"] = cursor.session_id
        if limit is not None:
            params["page_limit"] = limit
        return params

    @staticmethod
    def list_shape(
        flt: SessionFilter, *, limit: int | None, cursor: Cursor | None
    ) -> tuple[Any, ...]:
        """What decides the SQL text of :meth:`list_statement` (not the values)."""
        return (
            flt.idle_over_ms is not None,
            flt.active,
            flt.terminated,
            flt.initialized,
            flt.created_after is not None,
            flt.created_before is not None,
            cursor is not None,
            limit is not None,
        )

    def filter_clauses(
        self, flt: SessionFilter, params: dict[str, Any]
    ) -> list[sa.ColumnElement[bool]]:
        s = self.sessions.c

        def bind(name: str) -> Any:
            return sa.bindparam(name, params[name], type_=sa.BigInteger)

        where: list[sa.ColumnElement[bool]] = []
        if flt.idle_over_ms is not None:
            where.append(s.last_activity < bind("idle_before"))
        if flt.active:
            where.append(s.last_activity >= bind("active_since"))
            where.append(sa.not_(self.terminated_clause()))
        if flt.terminated is True:
            where.append(self.terminated_clause())
        elif flt.terminated is False:
            where.append(sa.not_(self.terminated_clause()))
        if flt.initialized is not None:
            where.append(
                s.is_initialized == sa.true() if flt.initialized else s.is_initialized == sa.false()
            )
        if flt.created_after is not None:
            where.append(s.created_at > bind("created_after"))
        if flt.created_before is not None:
            where.append(s.created_at < bind("created_before"))
        return where

    def list_statement(
        self, flt: SessionFilter, *, limit: int | None, cursor: Cursor | None
    ) -> sa.Select[Any]:
        s = self.sessions.c
        params = self.list_params(flt, limit=limit, cursor=cursor)
        where = self.filter_clauses(flt, params)
        if cursor is not None:
            activity = sa.bindparam("cursor_activity", params["cursor_activity"], sa.BigInteger)
            # Written so that the range on last_activity can use its index.
            where.append(s.last_activity <= activity)
            where.append(
                sa.or_(
                    s.last_activity < activity,
                    self._id_key(s.session_id)
                    < sa.bindparam("cursor_id", params["cursor_id"], sa.String),
                )
            )
        stmt = (
            sa.select(*self._session_columns(), self._event_count_subquery())
            .where(*where)
            .order_by(s.last_activity.desc(), self._id_key(s.session_id).desc())
        )
        if limit is not None:
            stmt = stmt.limit(sa.bindparam("page_limit", limit, sa.Integer))
        return stmt

    def _page_dialect(self) -> Any:
        """The driver-level dialect a page fast path compiles for."""
        raise NotImplementedError

    def page_query(
        self, flt: SessionFilter, limit: int, cursor: Cursor | None
    ) -> tuple[str, list[Any]]:
        """:meth:`list_statement` as driver SQL and positional values, compiled once per filter
        shape: a dialect's page fast path runs it on its own reading connection."""
        shape = self.list_shape(flt, limit=limit, cursor=cursor)
        compiled = self._page_sql.get(shape)
        if compiled is None:
            stmt = self.list_statement(flt, limit=limit, cursor=cursor)
            compiled = stmt.compile(dialect=self._page_dialect())
            self._page_sql[shape] = compiled
        values = compiled.construct_params(self.list_params(flt, limit=limit, cursor=cursor))
        return compiled.string, [values[name] for name in compiled.positiontup or ()]

    async def iter_sessions(
        self, flt: SessionFilter, *, limit: int | None, cursor: Cursor | None = None
    ) -> AsyncGenerator[Session | CorruptRow, None]:
        # Streamed through the engine; dialects serve single pages from their own fast path.
        self.check_filter(flt)
        await self.ensure_readable()
        stmt = self.list_statement(flt, limit=limit, cursor=cursor)
        async with self.connect() as conn:
            streamed = await conn.stream(stmt.execution_options(yield_per=1000))
            async for row in streamed:
                yield self.decode_session(row)

    async def get_session(self, session_id: str) -> Session | CorruptRow | None:
        await self.ensure_readable()
        stmt = sa.select(*self._session_columns(), self._event_count_subquery()).where(
            self.sessions.c.session_id == session_id
        )
        async with self.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else self.decode_session(row)

    async def existing_session_ids(self, ids: Sequence[str]) -> list[str]:
        await self.ensure_readable()
        s = self.sessions.c
        stmt = sa.select(s.session_id).where(s.session_id.in_(list(ids)))
        async with self.connect() as conn:
            stored = {row[0] for row in await conn.execute(stmt)}
        return [sid for sid in ids if sid in stored]

    def _prefix_upper_bound(self, prefix: str) -> str | None:
        """An exclusive upper bound of the ids that start with ``prefix``, in the column's
        own order (None: no bound). Byte order (SQLite's BINARY): any id is visible ASCII."""
        return prefix + "\x7f"

    def _prefix_condition(self, prefix: str) -> sa.ColumnElement[bool]:
        # A range of the primary key, so that the index serves it; the substr comparison
        # keeps exactly the ids that start with the prefix (the range may hold more).
        column = self.sessions.c.session_id
        condition = sa.and_(column >= prefix, sa.func.substr(column, 1, len(prefix)) == prefix)
        upper = self._prefix_upper_bound(prefix)
        return condition if upper is None else sa.and_(condition, column < upper)

    def prefix_statements(self, prefix: str, limit: int) -> tuple[sa.Select[Any], sa.Select[Any]]:
        """The two reads behind :meth:`match_session_ids` for one prefix: the first ``limit``
        ids in index order (so that LIMIT ends the range read early), and their number,
        counting at most COUNT_CAP + 1."""
        from mcpstore_cli.model.ids import COUNT_CAP

        s = self.sessions.c
        where = self._prefix_condition(prefix)
        first = sa.select(s.session_id).where(where).order_by(s.session_id).limit(limit)
        some = sa.select(sa.literal(1)).select_from(self.sessions).where(where)
        counted = sa.select(sa.func.count()).select_from(some.limit(COUNT_CAP + 1).subquery())
        return first, counted

    async def match_session_ids(
        self, prefixes: Sequence[str], *, limit: int, note: Note | None = None
    ) -> IdMatches:
        from mcpstore_cli.model.ids import COUNT_CAP, IdMatches, merge

        await self.ensure_readable()
        found: list[IdMatches] = []
        async with self.connect() as conn:
            for prefix in prefixes:
                first, counted = self.prefix_statements(prefix, limit)
                ids = [row[0] for row in await conn.execute(first)]
                total = len(ids)
                if total >= limit:  # several: how many
                    total = int((await conn.execute(counted)).scalar_one())
                capped = total > COUNT_CAP
                found.append(IdMatches(ids, min(total, COUNT_CAP), capped))
        return merge(found, limit)

    async def recent_events(self, session_id: str, limit: int) -> list[Event | CorruptRow]:
        await self.ensure_readable()
        e = self.events.c
        stmt = (
            sa.select(*self._event_columns())
            .where(e.session_id == session_id)
            .order_by(e.id.desc())
            .limit(limit)
        )
        async with self.connect() as conn:
            rows = list(await conn.execute(stmt))
        return [self.decode_event(row) for row in reversed(rows)]

    def stats_statements(self, now_ms: int, timeout_ms: int) -> tuple[sa.Select[Any], ...]:
        """The aggregate queries behind ``stats`` (also run by the benchmarks' baseline)."""
        s = self.sessions.c

        def count_if(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
            return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)

        bounds = [b for _, b in AGE_BUCKETS if b is not None]
        terminated = self.terminated_clause()
        cols: list[sa.ColumnElement[Any]] = [
            sa.func.count().label("sessions"),
            count_if(s.is_initialized == sa.true()).label("initialized"),
            count_if(terminated).label("terminated"),
            count_if(sa.and_(s.last_activity < now_ms - timeout_ms, sa.not_(terminated))).label(
                "idle"
            ),
            sa.func.min(s.created_at).label("oldest_created"),
            sa.func.max(s.created_at).label("newest_created"),
            sa.func.min(s.last_activity).label("oldest_activity"),
            sa.func.max(s.last_activity).label("newest_activity"),
        ]
        # Cumulative counts: sessions younger than each bucket's upper bound.
        cols += [
            count_if(s.created_at > now_ms - b).label(f"age_{i}") for i, b in enumerate(bounds)
        ]
        cols += [
            count_if(s.last_activity > now_ms - b).label(f"act_{i}") for i, b in enumerate(bounds)
        ]
        sessions_stmt = sa.select(*cols)
        e = self.events.c
        per_session = (
            sa.select(e.session_id.label("sid"), sa.func.count().label("n"))
            .group_by(e.session_id)
            .subquery("per_session")
        )
        orphan = sa.case((self.sessions.c.session_id.is_(None), 1), else_=0)
        dist_stmt = (
            sa.select(
                per_session.c.n,
                sa.func.count().label("groups"),
                sa.func.coalesce(sa.func.sum(orphan), 0).label("orphan_groups"),
            )
            .select_from(
                per_session.outerjoin(
                    self.sessions, self.sessions.c.session_id == per_session.c.sid
                )
            )
            .group_by(per_session.c.n)
        )
        return sessions_stmt, dist_stmt

    async def stats(self, *, now_ms: int, timeout_ms: int, approximate: bool = False) -> Stats:
        await self.ensure_readable()
        sessions_stmt, dist_stmt = self.stats_statements(now_ms, timeout_ms)
        async with self.connect() as conn:
            agg = (await conn.execute(sessions_stmt)).one()._mapping
            dist_rows = list(await conn.execute(dist_stmt))
            facts = await self._backend_facts(conn)
        return rows.stats_from_rows(
            backend=self.backend,
            store=self.url.masked(),
            now_ms=now_ms,
            timeout_ms=timeout_ms,
            agg=agg,
            dist_rows=dist_rows,
            facts=facts,
        )

    def metrics_statements(self, now_ms: int, timeout_ms: int) -> tuple[sa.Select[Any], ...]:
        """The aggregate queries behind ``metrics``: one pass over the sessions, one count
        of the events (the benchmark's baseline runs the same SQL in psql / sqlite3)."""
        s = self.sessions.c

        def count_if(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
            return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)

        terminated = self.terminated_clause()
        past = s.last_activity < now_ms - timeout_ms
        sessions = sa.select(
            sa.func.count().label("sessions"),
            count_if(terminated).label("terminated"),
            count_if(sa.and_(past, sa.not_(terminated))).label("idle"),
            count_if(past).label("expired"),
            count_if(s.is_initialized == sa.false()).label("uninitialized"),
            sa.func.min(s.last_activity).label("oldest_activity"),
        )
        return sessions, sa.select(sa.func.count()).select_from(self.events)

    async def metric_figures(
        self, *, now_ms: int, timeout_ms: int, stuck_after_ms: int = 3_600_000
    ) -> Any:
        from mcpstore_cli.model.metrics import from_sessions_aggregate

        await self.ensure_readable()
        sessions_stmt, events_stmt = self.metrics_statements(now_ms, timeout_ms)
        async with self.connect() as conn:
            agg = (await conn.execute(sessions_stmt)).one()._mapping
            events = int((await conn.execute(events_stmt)).scalar_one())
            storage, _facts = await self._backend_facts(conn)
        return from_sessions_aggregate(agg, events=events, size=storage.get("total"), now_ms=now_ms)

    async def _backend_facts(self, conn: AsyncConnection) -> tuple[dict[str, int], dict[str, Any]]:
        return {}, {}

    # -- writing ------------------------------------------------------------------------
    def session_params(self, session: Session) -> dict[str, Any]:
        params = {
            "session_id": session.session_id,
            "client_capabilities": None
            if session.client_capabilities is None
            else self._json_write(session.client_capabilities),
            "server_capabilities": self._json_write(session.server_capabilities),
            "state": self._json_write(session.state),
            "created_at": session.created_at,
            "last_activity": session.last_activity,
            "is_initialized": session.is_initialized,
            "metadata": self._json_write(session.metadata),
        }
        if self.versioned:
            params["version"] = session.extra("version") or 1
        return params

    def event_params(self, event: Event) -> dict[str, Any]:
        return {
            "session_id": event.session_id,
            "timestamp": event.timestamp,
            "event_type": event.event_type,
            "data": self._json_write(event.data),
            "retry": event.retry,
        }

    async def write_demo(
        self,
        batches: Any,
        progress: ProgressCallback | None = None,
    ) -> tuple[int, int]:
        total_sessions = total_events = 0
        async for sessions, events in batches:
            async with self.connect(write=True) as conn:
                await self._bulk_insert(conn, sessions, events)
            total_sessions += len(sessions)
            total_events += len(events)
            if progress is not None:
                progress(len(sessions) + len(events))
        return total_sessions, total_events

    async def _bulk_insert(
        self, conn: AsyncConnection, sessions: Sequence[Session], events: Sequence[Event]
    ) -> None:
        """Insert new rows; dialects override this with their fast path."""
        if sessions:
            await conn.execute(sa.insert(self.sessions), [self.session_params(s) for s in sessions])
        if events:
            await conn.execute(sa.insert(self.events), [self.event_params(e) for e in events])

    # -- one session at a time (backends/sql/surgery.py) ------------------------------
    session_changes: ClassVar[frozenset[str]] = ALL_CHANGES

    async def terminate_session(self, session_id: str, *, now_ms: int, ttl_s: int) -> Any:
        from mcpstore_cli.backends.sql import surgery
        from mcpstore_cli.layouts.turul_sessions import changes

        edit = changes.terminate_edit(session_id, now_ms)
        return await surgery.edit_state(self, session_id, "terminate", edit, now_ms=now_ms)

    async def deletion_preview(self, session_id: str) -> dict[str, int] | None:
        from mcpstore_cli.backends.sql import surgery

        return await surgery.preview(self, session_id)

    async def delete_session(self, session_id: str) -> Any:
        from mcpstore_cli.backends.sql import surgery

        return await surgery.delete(self, session_id)

    async def read_state(self, session_id: str) -> dict[str, Any] | None:
        from mcpstore_cli.backends.sql import surgery

        return await surgery.read_state(self, session_id)

    async def change_state(
        self, session_id: str, key: str, value: Any, *, unset: bool, now_ms: int, ttl_s: int
    ) -> Any:
        from mcpstore_cli.backends.sql import surgery
        from mcpstore_cli.layouts.turul_sessions import changes

        edit = changes.state_edit(session_id, key, value, unset=unset)
        action = "unset" if unset else "set"
        return await surgery.edit_state(self, session_id, action, edit, now_ms=now_ms)

    async def touch_session(self, session_id: str, *, now_ms: int, ttl_s: int) -> Any:
        from mcpstore_cli.backends.sql import surgery

        return await surgery.touch(self, session_id, now_ms=now_ms)

    def touch_values(self, last_activity: int) -> dict[str, Any]:
        """Column values for a session update (PostgreSQL also bumps ``version``)."""
        values: dict[str, Any] = {"last_activity": last_activity}
        if self.versioned:
            values["version"] = self.sessions.c.version + 1
        return values

    async def append_event(self, event: Event, *, touch: bool = True) -> Event:
        stmt = sa.insert(self.events).values(self.event_params(event)).returning(self.events.c.id)
        async with self.connect(write=True) as conn:
            new_id = (await conn.execute(stmt)).scalar_one()
            if touch:
                await conn.execute(
                    sa.update(self.sessions)
                    .where(self.sessions.c.session_id == event.session_id)
                    .values(self.touch_values(event.timestamp))
                )
        event.id = int(new_id)
        return event
