"""GraphFlow's PostgreSQL sessions (crate ``graph-flow`` 0.5, ``PostgresSessionStorage``).

A store of its own for layout ``graphflow`` (see :mod:`mcpstore_cli.layouts.graphflow`). It
borrows everything about talking to PostgreSQL from :class:`PgLink`, which it holds as
``self.pg`` (no SQLAlchemy): URL handling (libpq parameters, ``sslmode``,
``connect_timeout``), read-only and ``--lock-timeout`` settings, the lock-wait watcher, the
expire advisory lock, ``--create-database`` and the translation of driver errors into one
sentence.

Times: GraphFlow keeps ``TIMESTAMPTZ`` (microseconds); mcpstore's records and cursors carry
Unix milliseconds. Every comparison and the list order use ``updated_at`` truncated to the
millisecond, so a cursor printed from a record continues exactly after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import asyncpg

from mcpstore_cli.backends.postgres.catalog import _COLUMNS_SQL, _columns_from_rows
from mcpstore_cli.backends.postgres.link import (
    PgLink,
    quote_ident,
)
from mcpstore_cli.errors import (
    Interrupted,
    LayoutError,
    McpStoreError,
    NotSupportedError,
    StoreMissingError,
    UsageError,
)
from mcpstore_cli.layouts.graphflow import records
from mcpstore_cli.layouts.graphflow.detect import REQUIRED
from mcpstore_cli.model.expire import expire_interrupted
from mcpstore_cli.model.ids import COUNT_CAP, IdMatches
from mcpstore_cli.model.records import (
    AGE_BUCKETS,
    CorruptRow,
    Cursor,
    Event,
    ExpireOptions,
    ExpireResult,
    Finding,
    Session,
    SessionFilter,
    SetupStep,
    Stats,
    percentiles_from_distribution,
)
from mcpstore_cli.store.base import ProgressCallback, Store, StoreOptions
from mcpstore_cli.store.pacing import Pacer
from mcpstore_cli.store.urls import StoreURL
from mcpstore_cli.util.interrupt import finish

if TYPE_CHECKING:
    from mcpstore_cli.model.ids import Note
    from mcpstore_cli.model.teardown import ClearResult, Inventory

# updated_at and created_at as mcpstore's records see them: Unix ms (truncated).
_LA = "date_trunc('milliseconds', updated_at)"
_CR = "date_trunc('milliseconds', coalesce(created_at, updated_at))"
_MS = "timestamptz 'epoch' + ({} * interval '1 millisecond')"
_COLUMNS = (
    "id, graph_id, current_task_id, status_message, context::text AS context, "
    "created_at, updated_at"
)
_MESSAGES = "coalesce(jsonb_array_length(CASE WHEN jsonb_typeof(context->'chat_history'->"
_MESSAGES += "'messages') = 'array' THEN context->'chat_history'->'messages' END), 0)"
SETUP_LOCK_KEY = 7367200201  # the same key turul's setup takes: one setup at a time


def _ms(param: str) -> str:
    return _MS.format(param)


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def prefix_range(prefix: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The UUIDs that start with ``prefix`` (hex, hyphens where the UUID form has them, any
    case) as an inclusive range of the primary key; None when no UUID can start with it."""
    digits = prefix.replace("-", "").lower()
    if not digits or len(digits) > 32 or any(ch not in "0123456789abcdef" for ch in digits):
        return None
    text = prefix.lower()
    for i, ch in enumerate(text):
        if ch == "-" and i not in (8, 13, 18, 23):
            return None
    low = uuid.UUID(digits.ljust(32, "0"))
    high = uuid.UUID(digits.ljust(32, "f"))
    return low, high


class GraphflowStore(Store):
    """GraphFlow's ``sessions`` table on PostgreSQL."""

    backend = "postgres"
    title = "PostgreSQL"
    layout = "graphflow"
    clears_in_one_transaction = True
    restores_in_one_transaction = True
    # Columns that make a ``sessions`` table GraphFlow's (store.registry detects by them).
    required_columns: ClassVar[dict[str, frozenset[str]]] = REQUIRED
    filter_fields = frozenset({"graph_id"})

    def __init__(self, url: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(url, options)
        self.pg = PgLink(url, self.options)
        self._readable = False

    async def close(self) -> None:
        await self.pg.close()

    def label(self) -> str:
        return self.pg.label()

    @property
    def target(self) -> Any:
        """Where the URL points (host, port, database), as :class:`PgLink` has it."""
        return self.pg.target

    # -- connections ------------------------------------------------------------------------
    async def _reader(self) -> asyncpg.Connection:
        return await self.pg._kept("page")

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        return await self.pg._fetch_page(sql, list(args))

    def _writer(self) -> contextlib.AbstractAsyncContextManager[asyncpg.Connection]:
        """A connection of its own, closed at the end (:meth:`PgLink.own_connection`)."""
        return self.pg.own_connection()

    async def catalog_columns(self) -> dict[str, set[str]]:
        """The columns of the tables named ``sessions`` and ``events`` (for detection)."""
        kinds, columns = _columns_from_rows(await self._fetch(_COLUMNS_SQL))
        return {t: {c[0] for c in columns.get(t, [])} for t in kinds}

    # -- provisioning -----------------------------------------------------------------------
    def tables(self) -> list[str]:
        return ["sessions"]

    def setup_plan(self, **options: Any) -> list[str]:
        from mcpstore_cli.layouts.graphflow.schema import SESSIONS_DDL

        plan: list[str] = []
        if options.get("create_database"):
            database = self.pg.target.database
            plan.append(
                f"-- on database postgres, only if {database} does not exist\n"
                f"CREATE DATABASE {quote_ident(database)}"
            )
        plan.append(SESSIONS_DDL)
        return plan

    async def setup(self, **options: Any) -> list[SetupStep]:
        from mcpstore_cli.layouts.graphflow.schema import SESSIONS_DDL

        steps: list[SetupStep] = []
        if options.get("notify"):
            raise LayoutError(
                "setup --notify is for turul's events table; GraphFlow's layout has no events."
            )
        if options.get("create_database"):
            created = await self.pg._create_database()
            steps.append(
                SetupStep(self.pg.target.database, "created" if created else "exists", "database")
            )
        existed = "sessions" in await self.catalog_columns()
        if existed:
            await self._refuse_drift()
        async with self._writer() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SETUP_LOCK_KEY)
            await conn.execute(SESSIONS_DDL)
        steps.append(SetupStep("sessions", "exists" if existed else "created", "table"))
        self._readable = False
        return steps

    async def _refuse_drift(self) -> None:
        drift = [f for f in await self.check() if f.severity == "error"]
        if drift:
            raise LayoutError(
                f"{self.url.masked()} has a sessions table that differs from GraphFlow's "
                f"layout ({drift[0].object}: {drift[0].problem}); see mcpstore setup --check "
                "--layout graphflow."
            )

    async def check(self) -> list[Finding]:
        from mcpstore_cli.backends.postgres.store import _CONSTRAINTS_SQL, _compare_columns
        from mcpstore_cli.layouts.graphflow.schema import EXPECTED_COLUMNS, PRIMARY_KEYS

        kinds, columns = _columns_from_rows(await self._fetch(_COLUMNS_SQL))
        kind = kinds.get("sessions")
        if kind is None:
            return [Finding("table sessions", "missing")]
        if kind not in ("r", "p"):
            return [Finding("table sessions", f"is not a table (relkind {kind})")]
        findings = _compare_columns("sessions", EXPECTED_COLUMNS["sessions"], columns["sessions"])
        keys = [
            c for c in await self._fetch(_CONSTRAINTS_SQL) if c[1] == "p" and c[2] == "sessions"
        ]
        if not keys:
            findings.append(Finding("primary key sessions", "missing"))
        elif tuple(keys[0][3]) != PRIMARY_KEYS["sessions"]:
            findings.append(
                Finding(
                    "primary key sessions",
                    f"on ({', '.join(keys[0][3])}), expected (id)",
                )
            )
        return findings

    async def ensure_readable(self) -> None:
        if self._readable:
            return
        kinds, columns = _columns_from_rows(await self._fetch(_COLUMNS_SQL))
        if "sessions" not in kinds:
            raise StoreMissingError(
                f"Database {self.pg.target.database} on {self.pg.target.where} has no sessions "
                f"table; run mcpstore setup --layout graphflow --url {self.url.masked()}."
            )
        have = {c[0] for c in columns.get("sessions", [])}
        missing = sorted(REQUIRED["sessions"] - have)
        if missing:
            raise LayoutError(
                f"{self.url.masked()} is not in GraphFlow's layout: table sessions has no "
                f"column {missing[0]}; see mcpstore setup --check --layout graphflow."
            )
        self._readable = True

    # -- reading ----------------------------------------------------------------------------
    def _where(self, flt: SessionFilter, cursor: Cursor | None) -> tuple[str, list[Any]]:
        parts: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if flt.idle_over_ms is not None:
            parts.append(f"{_LA} < {_ms(arg(flt.now_ms - flt.idle_over_ms) + '::bigint')}")
        if flt.active:
            parts.append(f"{_LA} >= {_ms(arg(flt.now_ms - flt.timeout_ms) + '::bigint')}")
        if flt.terminated is True or flt.initialized is False:
            parts.append("false")  # GraphFlow sessions are never ended nor uninitialised
        if flt.created_after is not None:
            parts.append(f"{_CR} > {_ms(arg(flt.created_after) + '::bigint')}")
        if flt.created_before is not None:
            parts.append(f"{_CR} < {_ms(arg(flt.created_before) + '::bigint')}")
        if flt.graph_id is not None:
            parts.append(f"graph_id = {arg(flt.graph_id)}")
        if cursor is not None:
            at = _uuid(cursor.session_id)
            if at is None:
                parts.append("false")
            else:
                la = _ms(arg(cursor.last_activity) + "::bigint")
                parts.append(f"({_LA}, id) < ({la}, {arg(at)}::uuid)")
        return (" WHERE " + " AND ".join(parts)) if parts else "", args

    async def iter_sessions(
        self, flt: SessionFilter, *, limit: int | None, cursor: Cursor | None = None
    ) -> AsyncIterator[Session | CorruptRow]:
        await self.ensure_readable()
        where, args = self._where(flt, cursor)
        order = f" ORDER BY {_LA} DESC, id DESC"
        if limit is not None:
            args.append(limit)
            rows = await self._fetch(
                f"SELECT {_COLUMNS} FROM sessions{where}{order} LIMIT ${len(args)}", *args
            )
            for row in rows:
                yield records.decode(row)
            return
        async with self._writer() as conn, conn.transaction(readonly=True):
            async for row in conn.cursor(f"SELECT {_COLUMNS} FROM sessions{where}{order}", *args):
                yield records.decode(row)

    async def get_session(self, session_id: str) -> Session | CorruptRow | None:
        await self.ensure_readable()
        key = _uuid(session_id)
        if key is None:
            return None
        rows = await self._fetch(f"SELECT {_COLUMNS} FROM sessions WHERE id = $1", key)
        return records.decode(rows[0]) if rows else None

    async def existing_session_ids(self, ids: Sequence[str]) -> list[str]:
        await self.ensure_readable()
        keys = list({k for k in (_uuid(i) for i in ids) if k is not None})
        if not keys:
            return []
        rows = await self._fetch("SELECT id::text FROM sessions WHERE id = ANY($1::uuid[])", keys)
        return sorted(row[0] for row in rows)

    async def match_session_ids(
        self, prefixes: Sequence[str], *, limit: int, note: Note | None = None
    ) -> IdMatches:
        await self.ensure_readable()
        ranges = {r for r in (prefix_range(p) for p in prefixes) if r is not None}
        if not ranges:
            return IdMatches()
        low, high = next(iter(ranges))  # every spelling of one typed id is the same range
        rows = await self._fetch(
            "SELECT id::text FROM sessions WHERE id BETWEEN $1 AND $2 ORDER BY id LIMIT $3",
            low,
            high,
            limit,
        )
        total = await self._fetch(
            "SELECT count(*) FROM (SELECT 1 FROM sessions WHERE id BETWEEN $1 AND $2 LIMIT $3) s",
            low,
            high,
            COUNT_CAP + 1,
        )
        n = int(total[0][0])
        return IdMatches(ids=[r[0] for r in rows], total=min(n, COUNT_CAP), capped=n > COUNT_CAP)

    async def recent_events(self, session_id: str, limit: int) -> list[Event | CorruptRow]:
        """The last ``limit`` chat messages of a session, oldest first."""
        await self.ensure_readable()
        key = _uuid(session_id)
        if key is None or limit <= 0:
            return []
        rows = await self._fetch("SELECT context::text FROM sessions WHERE id = $1", key)
        if not rows:
            return []
        try:
            return list(records.messages_as_events(str(key), rows[0][0], limit))
        except ValueError as exc:
            return [CorruptRow("sessions", str(key), f"context is not JSON ({exc})")]

    # -- one session at a time (graphflow_surgery.py beside this module) ----------------
    session_changes: ClassVar[frozenset[str]] = frozenset({"delete", "state", "touch"})

    async def deletion_preview(self, session_id: str) -> dict[str, int] | None:
        from mcpstore_cli.backends.postgres import graphflow_surgery

        return await graphflow_surgery.preview(self, session_id)

    async def delete_session(self, session_id: str) -> Any:
        from mcpstore_cli.backends.postgres import graphflow_surgery

        return await graphflow_surgery.delete(self, session_id)

    async def read_state(self, session_id: str) -> dict[str, Any] | None:
        from mcpstore_cli.backends.postgres import graphflow_surgery

        return await graphflow_surgery.read_state(self, session_id)

    async def change_state(
        self, session_id: str, key: str, value: Any, *, unset: bool, now_ms: int, ttl_s: int
    ) -> Any:
        from mcpstore_cli.backends.postgres import graphflow_surgery

        return await graphflow_surgery.change_state(self, session_id, key, value, unset=unset)

    async def touch_session(self, session_id: str, *, now_ms: int, ttl_s: int) -> Any:
        from mcpstore_cli.backends.postgres import graphflow_surgery

        return await graphflow_surgery.touch(self, session_id)

    async def stats(self, *, now_ms: int, timeout_ms: int, approximate: bool = False) -> Stats:
        await self.ensure_readable()
        now = _ms("$1::bigint")
        age = f"(extract(epoch FROM {now} - {_CR}) * 1000)"
        idle = f"(extract(epoch FROM {now} - {_LA}) * 1000)"

        def buckets(expr: str) -> str:
            cols = []
            low = 0
            for _label, high in AGE_BUCKETS:
                cond = f"{expr} >= {low}" + (f" AND {expr} < {high}" if high is not None else "")
                cols.append(f"count(*) FILTER (WHERE {cond})")
                low = high or low
            return ", ".join(cols)

        row = (
            await self._fetch(
                f"SELECT count(*), count(*) FILTER (WHERE {_LA} < "
                f"{_ms('($1::bigint - $2::bigint)')}), "
                f"(extract(epoch FROM min({_CR})) * 1000)::bigint, "
                f"(extract(epoch FROM max({_CR})) * 1000)::bigint, "
                f"(extract(epoch FROM min({_LA})) * 1000)::bigint, "
                f"(extract(epoch FROM max({_LA})) * 1000)::bigint, "
                f"coalesce(sum({_MESSAGES}), 0), {buckets(age)}, {buckets(idle)}, "
                "pg_total_relation_size('sessions'), current_setting('server_version'), "
                "current_database(), current_user FROM sessions",
                now_ms,
                timeout_ms,
            )
        )[0]
        n = len(AGE_BUCKETS)
        dist = await self._fetch(f"SELECT {_MESSAGES} AS n, count(*) FROM sessions GROUP BY 1")
        size = int(row[7 + 2 * n])
        return Stats(
            backend="postgres",
            store=self.url.masked(),
            now_ms=now_ms,
            timeout_ms=timeout_ms,
            sessions=int(row[0]),
            initialized=int(row[0]),
            terminated=0,
            idle=int(row[1]),
            events=int(row[6]),
            events_per_session=percentiles_from_distribution({int(a): int(b) for a, b in dist}),
            oldest_created_at=row[2],
            newest_created_at=row[3],
            oldest_activity=row[4],
            newest_activity=row[5],
            storage_bytes=size,
            storage={"sessions": size, "total": size},
            backend_facts={
                "layout": "graphflow",
                "events_are": "chat messages in context.chat_history",
                "server_version": row[8 + 2 * n],
                "database": row[9 + 2 * n],
                "user": row[10 + 2 * n],
                "host": self.pg.target.where,
            },
            age_histogram=[(label, int(row[7 + i])) for i, (label, _) in enumerate(AGE_BUCKETS)],
            activity_histogram=[
                (label, int(row[7 + n + i])) for i, (label, _) in enumerate(AGE_BUCKETS)
            ],
        )

    # -- writing ----------------------------------------------------------------------------
    async def write_demo(
        self, batches: Any, progress: ProgressCallback | None = None
    ) -> tuple[int, int]:
        """Sessions upserted as GraphFlow writes them. Into an empty table: all batches in
        one transaction (Ctrl-C or a failure leaves it empty); otherwise each batch in a
        transaction of its own. Returns (sessions, chat messages) written."""
        from mcpstore_cli.layouts.graphflow.demo import demo_kept
        from mcpstore_cli.layouts.graphflow.schema import UPSERT_SQL

        sessions = messages = done = 0
        async with self._writer() as conn:
            empty = not await conn.fetchval("SELECT EXISTS (SELECT FROM sessions)")
            whole = conn.transaction()
            if empty:
                await whole.start()
            try:
                async for batch, _events in batches:
                    rows = [records.row_values(s) for s in batch]
                    n_messages = sum(s.event_count or 0 for s in batch)
                    work = (
                        conn.executemany(UPSERT_SQL, rows)
                        if empty
                        else self._upsert(conn, UPSERT_SQL, rows)
                    )
                    _, stop = await finish(work)
                    sessions += len(rows)
                    messages += n_messages
                    done += 1
                    if progress is not None:
                        progress(len(rows) + n_messages)
                    if stop:
                        raise asyncio.CancelledError
                if empty:
                    await whole.commit()
            except (KeyboardInterrupt, Interrupted, asyncio.CancelledError):
                if empty:
                    with contextlib.suppress(Exception):
                        await whole.rollback()
                    raise Interrupted(
                        "the demo into the empty sessions table was rolled back: nothing was "
                        "written, the table is empty as before."
                    ) from None
                raise demo_kept(sessions, done) from None
            except BaseException:
                if empty:
                    with contextlib.suppress(Exception):
                        await whole.rollback()
                raise
        return sessions, messages

    @staticmethod
    async def _upsert(conn: asyncpg.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
        async with conn.transaction():
            await conn.execute("SET LOCAL synchronous_commit TO OFF")
            await conn.executemany(sql, rows)

    async def append_event(self, event: Event, *, touch: bool = True) -> Event:
        """A chat message appended to the session's history (as GraphFlow's
        ``ChatHistory::add`` then ``save``: the oldest dropped past ``max_messages``)."""
        key = _uuid(event.session_id)
        if key is None:
            raise StoreMissingError(f"No GraphFlow session {event.session_id}.")
        message = {
            "role": event.event_type,
            "content": event.data,
            "timestamp": records.message_time(event.timestamp),
        }
        async with self._writer() as conn:
            count = await conn.fetchval(
                "UPDATE sessions SET context = jsonb_set(context, '{chat_history}', "
                "jsonb_build_object('messages', (SELECT coalesce(jsonb_agg(m ORDER BY i), "
                "'[]') FROM (SELECT m, i FROM jsonb_array_elements(coalesce("
                "context->'chat_history'->'messages', '[]') || jsonb_build_array($2::jsonb)) "
                "WITH ORDINALITY AS t(m, i) ORDER BY i DESC LIMIT coalesce((context->"
                "'chat_history'->>'max_messages')::int, 1000)) kept), 'max_messages', "
                "coalesce(context->'chat_history'->'max_messages', '1000'))), "
                "updated_at = CASE WHEN $3 THEN greatest(updated_at, now()) ELSE updated_at END "
                "WHERE id = $1 RETURNING " + _MESSAGES,
                key,
                json.dumps(message),
                touch,
            )
        return Event(
            event.session_id, int(count or 0), event.timestamp, event.event_type, event.data
        )

    # -- expire -----------------------------------------------------------------------------
    async def expire_select(self, cutoff_ms: int, limit: int) -> list[tuple[uuid.UUID, Any]]:
        """Up to ``limit`` idle sessions (id, updated_at as read), the longest idle first."""
        rows = await self._fetch(
            f"SELECT id, updated_at FROM sessions WHERE {_LA} < {_ms('$1::bigint')} "
            "ORDER BY updated_at, id LIMIT $2",
            cutoff_ms,
            limit,
        )
        return [(r[0], r[1]) for r in rows]

    async def expire_delete(
        self, selected: Sequence[tuple[uuid.UUID, Any]]
    ) -> list[tuple[str, int]]:
        """Delete the selected sessions whose ``updated_at`` is still the one read: a session
        GraphFlow upserted meanwhile (a newer ``updated_at``) stays. One transaction.
        Returns (id, chat messages) of each session deleted."""
        if not selected:
            return []
        conn = await self.pg._kept("expire")
        try:
            async with conn.transaction():
                rows = await conn.fetch(
                    "DELETE FROM sessions s USING unnest($1::uuid[], $2::timestamptz[]) "
                    "AS v(id, read_at) WHERE s.id = v.id AND s.updated_at = v.read_at "
                    "RETURNING s.id::text, " + _MESSAGES.replace("context", "s.context"),
                    [k for k, _ in selected],
                    [t for _, t in selected],
                )
        except (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError) as exc:
            await self.pg._drop_kept("expire")
            raise self.pg._wrap(exc) from exc
        except McpStoreError:
            raise
        except Exception as exc:
            raise self.pg._wrap(exc) from exc
        return [(r[0], int(r[1])) for r in rows]

    async def expire(
        self, opts: ExpireOptions, progress: ProgressCallback | None = None
    ) -> ExpireResult:
        """Idle sessions (by ``updated_at``) in batches; ``--terminated``, trimming and
        orphans do not apply (GraphFlow has no ended state and no events table)."""
        if opts.max_events_per_session is not None:
            raise UsageError(
                "--max-events-per-session trims an events table; GraphFlow's layout keeps its "
                "chat history inside each session (capped by its own max_messages)."
            )
        await self.ensure_readable()
        started = time.perf_counter()
        cutoff = opts.idle_cutoff
        where = f"{_LA} < {_ms('$1::bigint')}"
        if opts.dry_run:
            result = ExpireResult(dry_run=True)
            row = (
                await self._fetch(
                    f"SELECT count(*), coalesce(sum({_MESSAGES}), 0) FROM sessions WHERE {where}",
                    cutoff,
                )
            )[0]
            result.sessions, result.events = int(row[0]), int(row[1])
            result.sample = [str(k) for k, _ in await self.expire_select(cutoff, opts.sample_size)]
            result.duration_s = time.perf_counter() - started
            return result
        result = ExpireResult()
        pacer = Pacer(opts)
        limit = pacer.batch_limit(opts.batch_size)
        batches = 0
        async with self.pg.expire_lock():
            try:
                while not pacer.out_of_time():
                    selected = await self.expire_select(cutoff, limit)
                    if not selected:
                        break
                    gone, stop = await finish(self.expire_delete(selected))
                    batches += 1
                    messages = sum(n for _, n in gone)
                    result.sessions += len(gone)
                    result.events += messages
                    result.skipped += len(selected) - len(gone)
                    if len(result.sample) < opts.sample_size:
                        result.sample += [
                            k for k, _ in gone[: opts.sample_size - len(result.sample)]
                        ]
                    if stop:
                        raise expire_interrupted(result, batches)
                    if progress is not None:
                        progress(len(gone) + messages)
                    await pacer.done(len(gone))
                    if len(selected) < limit:
                        break
            except asyncio.CancelledError:
                raise expire_interrupted(result, batches) from None
            if pacer.out_of_time():
                left = await self._fetch(f"SELECT count(*) FROM sessions WHERE {where}", cutoff)
                result.remaining = {"sessions": int(left[0][0])}
                result.partial = bool(result.remaining["sessions"])
        result.duration_s = time.perf_counter() - started
        return result

    def tail_events(self, request: Any, *, warn: Any = None) -> AsyncIterator[Any]:
        raise NotSupportedError(
            "tail-events follows an events table, and GraphFlow's layout has none: its chat "
            "messages live inside each session (mcpstore show ID lists the last ones)."
        )

    async def native_backup(
        self, target: str | None = None, *, force: bool = False
    ) -> list[dict[str, Any]]:
        raise NotSupportedError(
            "PostgreSQL has no native backup in mcpstore: use pg_dump -Fc -t sessions (or the "
            "portable mcpstore backup without --native)."
        )

    # -- clear and teardown -----------------------------------------------------------------
    async def inventory(self) -> Inventory:
        from mcpstore_cli.model.teardown import Inventory, TableFacts

        started = time.perf_counter()
        target = self.pg.target
        inv = Inventory(
            backend="postgres", store=self.url.masked(), name=target.database, exists=False
        )
        row = (
            await self._fetch(
                "SELECT to_regclass('sessions') IS NOT NULL, "
                "coalesce(pg_total_relation_size(to_regclass('sessions')), 0)"
            )
        )[0]
        if row[0]:
            count = await self._fetch("SELECT count(*) FROM sessions")
            inv.exists = True
            inv.tables.append(TableFacts("sessions", rows=int(count[0][0]), bytes=int(row[1])))
        else:
            inv.tables.append(TableFacts("sessions", exists=False))
            raise StoreMissingError(
                f"Database {target.database} on {target.where} has no sessions table; "
                "nothing to clear or delete."
            )
        inv.facts = {"layout": "graphflow", "host": target.where, "database": target.database}
        inv.seconds = time.perf_counter() - started
        return inv

    async def clear(
        self, *, recreate: bool = False, progress: ProgressCallback | None = None
    ) -> ClearResult:
        from mcpstore_cli.model.teardown import ClearResult

        await self.ensure_readable()
        started = time.perf_counter()
        async with self._writer() as conn, conn.transaction():
            n = await conn.fetchval(
                "WITH gone AS (DELETE FROM sessions RETURNING 1) SELECT count(*) FROM gone"
            )
        if progress is not None:
            progress(int(n))
        return ClearResult(sessions=int(n), events=0, seconds=time.perf_counter() - started)

    async def drop(self) -> list[str]:
        await self.ensure_readable()
        async with self._writer() as conn, conn.transaction():
            await conn.execute("DROP TABLE sessions")
        self._readable = False
        return ["table sessions"]

    async def row_counts(self) -> tuple[int, int]:
        await self.ensure_readable()
        row = (await self._fetch(f"SELECT count(*), coalesce(sum({_MESSAGES}), 0) FROM sessions"))[
            0
        ]
        return int(row[0]), int(row[1])

    # -- backups (the portable file: "g" records, docs/backup-format.md) --------------------
    async def backup_records(
        self,
        spec: Any,
        out: Any,
        header: dict[str, Any],
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Every selected session as a ``g`` record, read from one snapshot
        (``REPEATABLE READ READ ONLY``); PostgreSQL renders each record itself."""
        from mcpstore_cli.util.backupfile import GRAPHFLOW_LAYOUT

        header["layout"] = GRAPHFLOW_LAYOUT
        header["source"]["event_ids"] = "none"
        out.header(header)
        where: list[str] = []
        args: list[Any] = []
        if spec.session_ids is not None:
            args.append([k for k in (_uuid(i) for i in spec.session_ids) if k is not None])
            where.append(f"id = ANY(${len(args)}::uuid[])")
        if spec.since_ms is not None:
            args.append(spec.since_ms)
            where.append(f"{_LA} >= {_ms(f'${len(args)}::bigint')}")
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        us = "(extract(epoch FROM {}) * 1000000)::bigint"
        sql = (
            "SELECT json_build_array('g', id::text, graph_id, current_task_id, status_message, "
            f"context, {us.format('created_at')}, {us.format('updated_at')})::text "
            f"FROM sessions{clause} ORDER BY id"
        )
        async with (
            self._writer() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            lines: list[bytes] = []
            async for row in conn.cursor(sql, *args, prefetch=2000):
                lines.append(row[0].encode() + b"\n")
                if len(lines) >= 2000:
                    out.sessions_block(b"".join(lines))
                    if progress is not None:
                        progress(len(lines))
                    lines = []
            if lines:
                out.sessions_block(b"".join(lines))
                if progress is not None:
                    progress(len(lines))
        return {
            "consistency": "one REPEATABLE READ snapshot of the sessions table",
            "skipped": 0,
            "notes": [],
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
        """Verify the whole file first, then load it in one transaction: ``merge`` adds the
        sessions the store lacks (``ON CONFLICT (id) DO NOTHING``), ``replace`` deletes every
        session first."""
        from mcpstore_cli.util.backupfile import iter_record_blocks, verify_file
        from mcpstore_cli.util.interrupt import to_thread

        if not info.verified:
            started = time.perf_counter()
            info = await to_thread(verify_file, info.path)
            summary.verify_seconds = time.perf_counter() - started
        summary.event_ids = "none (GraphFlow keeps its chat history inside each session)"
        insert = (
            "INSERT INTO sessions (id, graph_id, current_task_id, status_message, context, "
            "created_at, updated_at) SELECT r.id, r.graph_id, r.task, r.status, r.context, "
            "timestamptz 'epoch' + r.created * interval '1 microsecond', "
            "timestamptz 'epoch' + r.updated * interval '1 microsecond' "
            "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], "
            "$6::bigint[], $7::bigint[]) AS r(id, graph_id, task, status, context, created, "
            "updated) ON CONFLICT (id) DO NOTHING"
        )
        blocks = iter_record_blocks(info.path)
        async with self._writer() as conn, conn.transaction():
            if mode == "replace":
                summary.replaced_sessions = int(
                    await conn.fetchval(
                        "WITH gone AS (DELETE FROM sessions RETURNING 1) SELECT count(*) FROM gone"
                    )
                )
            while True:
                block = await to_thread(next, blocks, None)
                if block is None:
                    break
                kind, lines = block
                if kind != "g":
                    continue
                rows = [json.loads(line) for line in lines]
                columns = list(zip(*[r[1:] for r in rows], strict=True))
                status = await conn.execute(
                    insert,
                    [uuid.UUID(x) for x in columns[0]],
                    list(columns[1]),
                    list(columns[2]),
                    list(columns[3]),
                    [json.dumps(c) for c in columns[4]],
                    list(columns[5]),
                    list(columns[6]),
                )
                written = int(status.rsplit(" ", 1)[-1])
                summary.sessions += written
                summary.skipped_sessions += len(rows) - written
                if progress is not None:
                    progress(len(rows))
