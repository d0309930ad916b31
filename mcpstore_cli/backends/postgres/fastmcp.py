"""FastMCP's entries in py-key-value's PostgreSQL table (more-layouts.md §4, "PostgreSQL"):
``kv_store`` by default, another name with ``--table``. Talking to PostgreSQL is
:class:`PgLink`'s (held as ``self.pg``, no SQLAlchemy); what FastMCP's layout means is
:class:`~mcpstore_cli.backends.kv.fastmcp.FastmcpSessions`'.

Nothing in py-key-value deletes an expired row: ``expire`` does, in batches on the partial
index, oldest expiry first. Each batch's DELETE repeats ``expires_at < now()``, which
PostgreSQL re-checks on a row the server re-put meanwhile: such an entry (new expiry) stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import asyncpg

from mcpstore_cli.backends.kv.fastmcp import FastmcpSessions
from mcpstore_cli.backends.postgres.link import PgLink, quote_ident
from mcpstore_cli.errors import (
    Interrupted,
    LayoutError,
    StoreMissingError,
    UsageError,
)
from mcpstore_cli.layouts.fastmcp import COLLECTIONS, DEFAULT_TABLE, EVENTS
from mcpstore_cli.layouts.fastmcp import schema as kvschema
from mcpstore_cli.model.expire import expire_interrupted
from mcpstore_cli.model.kv import Entry
from mcpstore_cli.model.records import ExpireOptions, ExpireResult, Finding, SetupStep
from mcpstore_cli.store.base import ProgressCallback, Store, StoreOptions
from mcpstore_cli.store.pacing import Pacer
from mcpstore_cli.store.urls import StoreURL

if TYPE_CHECKING:
    from mcpstore_cli.model.teardown import ClearResult, Inventory

PAGE = 2000
_MS = "(extract(epoch FROM {}) * 1000)::bigint"
_SELECT = (
    f"SELECT collection, key, value::text, ttl, {_MS.format('created_at')}, "
    f"{_MS.format('expires_at')}, expires_at"
)
SETUP_LOCK_KEY = 7367200201


def _in_collections(collections: Sequence[str] | None) -> tuple[str, list[Any]]:
    """`` WHERE collection = ANY($1)`` and its argument (None: every collection)."""
    if collections is None:
        return "", []
    return " WHERE collection = ANY($1::text[])", [list(collections)]


class PostgresFastmcpStore(FastmcpSessions, Store):
    """py-key-value's ``kv_store`` table on PostgreSQL."""

    backend: ClassVar[str] = "postgres"
    title: ClassVar[str] = "PostgreSQL"
    clears_in_one_transaction: ClassVar[bool] = True
    parallel_expire: ClassVar[bool] = True  # expire --jobs N
    table_option: ClassVar[bool] = True  # --table
    setup_options: ClassVar[frozenset[str]] = frozenset({"notify"})

    def __init__(self, url: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(url, options)
        self.pg = PgLink(url, self.options)
        self.table = self.options.table or DEFAULT_TABLE
        if not kvschema.valid_table(self.table):
            raise UsageError(
                f"--table {self.table!r} is not a table name py-key-value can use (letters, "
                "digits and underscores, not starting with a digit, at most 63)."
            )
        self._t = quote_ident(self.table)
        self._readable = False

    async def close(self) -> None:
        await self.pg.close()

    def label(self) -> str:
        return f"{self.pg.label()}-{self.table}"

    def tables(self) -> list[str]:
        return [self.table]

    # -- connections ----------------------------------------------------------------------
    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        return await self.pg._fetch_page(sql, list(args))

    def _conn(self) -> contextlib.AbstractAsyncContextManager[asyncpg.Connection]:
        """A connection of its own, closed at the end (:meth:`PgLink.own_connection`)."""
        return self.pg.own_connection()

    # -- provisioning ---------------------------------------------------------------------
    def setup_plan(self, **options: Any) -> list[str]:
        plan = [kvschema.table_ddl(self.table), kvschema.index_ddl(self.table)]
        if options.get("notify"):
            from mcpstore_cli.backends.postgres.kvnotify import statements

            plan += statements(self.table)
        return plan

    async def setup(self, **options: Any) -> list[SetupStep]:
        if options.get("create_database"):
            raise UsageError("setup --create-database is for turul's layouts.")
        existed = await self._columns() is not None
        if existed:
            drift = [
                f
                for f in await self.check()
                if f.severity == "error" and not f.object.startswith("index ")
            ]
            if drift:
                raise LayoutError(
                    f"{self.url.masked()} has a {self.table} table that differs from "
                    f"py-key-value's ({drift[0].object}: {drift[0].problem}); see mcpstore "
                    "setup --check --layout fastmcp."
                )
        async with self._conn() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SETUP_LOCK_KEY)
            for statement in self.setup_plan()[:2]:
                await conn.execute(statement)
        self._readable = False
        steps = [SetupStep(self.table, "exists" if existed else "created", "table")]
        steps.append(SetupStep(kvschema.index_name(self.table), "ensured", "index"))
        if options.get("notify"):
            steps.extend(await self._install_notify())
        return steps

    async def _install_notify(self) -> list[SetupStep]:
        from mcpstore_cli.backends.postgres.kvnotify import install

        async with self._conn() as conn:
            return await install(conn, self.table)

    async def _columns(self) -> dict[str, tuple[str, bool]] | None:
        rows = await self._fetch(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
            "FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum",
            self._t,
        )
        exists = await self._fetch("SELECT to_regclass($1) IS NOT NULL", self._t)
        if not exists[0][0]:
            return None
        return {r[0]: (r[1], bool(r[2])) for r in rows}

    async def check(self) -> list[Finding]:
        columns = await self._columns()
        if columns is None:
            return [Finding(f"table {self.table}", "missing")]
        findings: list[Finding] = []
        for name, (typ, notnull) in kvschema.COLUMNS.items():
            have = columns.get(name)
            if have is None:
                findings.append(Finding(f"column {self.table}.{name}", "missing"))
            elif have[0] != typ:
                findings.append(
                    Finding(f"column {self.table}.{name}", f"is {have[0]}, expected {typ}")
                )
            elif have[1] != notnull:
                findings.append(
                    Finding(
                        f"column {self.table}.{name}",
                        "is NOT NULL" if have[1] else "allows NULL, expected NOT NULL",
                    )
                )
        for name in sorted(set(columns) - set(kvschema.COLUMNS)):
            findings.append(Finding(f"column {self.table}.{name}", "extra", severity="note"))
        keys = await self._fetch(
            "SELECT array(SELECT a.attname FROM unnest(c.conkey) k JOIN pg_attribute a ON "
            "a.attrelid = c.conrelid AND a.attnum = k ORDER BY array_position(c.conkey, k)) "
            "FROM pg_constraint c WHERE c.conrelid = to_regclass($1) AND c.contype = 'p'",
            self._t,
        )
        if not keys:
            findings.append(Finding(f"primary key {self.table}", "missing"))
        elif tuple(keys[0][0]) != kvschema.PRIMARY_KEY:
            findings.append(
                Finding(
                    f"primary key {self.table}",
                    f"on ({', '.join(keys[0][0])}), expected (collection, key)",
                )
            )
        index = kvschema.index_name(self.table)
        found = await self._fetch(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = "
            "to_regclass($1) AND i.indexrelid = to_regclass($2)",
            self._t,
            quote_ident(index),
        )
        if not found:
            findings.append(
                Finding(f"index {index}", "missing: expire reads the whole table without it")
            )
        elif "(expires_at)" not in found[0][0] or "IS NOT NULL" not in found[0][0]:
            findings.append(Finding(f"index {index}", f"is {found[0][0]}"))
        return findings

    async def ensure_readable(self) -> None:
        if self._readable:
            return
        columns = await self._columns()
        if columns is None:
            raise StoreMissingError(
                f"Database {self.pg.target.database} on {self.pg.target.where} has no "
                f"{self.table} table; run mcpstore setup --layout fastmcp --url "
                f"{self.url.masked()}"
                + (f" --table {self.table}" if self.options.table else "")
                + "."
            )
        missing = sorted(kvschema.REQUIRED - set(columns))
        if missing:
            raise LayoutError(
                f"{self.url.masked()}: table {self.table} is not py-key-value's (no column "
                f"{missing[0]}); see mcpstore setup --check --layout fastmcp."
            )
        self._readable = True

    # -- primitives -----------------------------------------------------------------------
    @staticmethod
    def _entry(row: Any) -> Entry:
        import json

        try:
            value = json.loads(row[2])
        except ValueError:
            value = None
        return Entry(
            collection=row[0],
            key=row[1],
            value=value,
            ttl=row[3],
            created_at=row[4],
            expires_at=row[5],
            token=row[6],
        )

    async def kv_scan(
        self, collections: Sequence[str] | None, *, others: dict[str, int] | None = None
    ) -> AsyncIterator[list[Entry]]:
        where, args = _in_collections(collections)
        async with (
            self._conn() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            page: list[Entry] = []
            async for row in conn.cursor(f"{_SELECT} FROM {self._t}{where}", *args, prefetch=PAGE):
                page.append(self._entry(row))
                if len(page) >= PAGE:
                    yield page
                    page = []
            if page:
                yield page

    async def _index(self, now_ms: int, collections: Sequence[str] = COLLECTIONS) -> Any:
        """The sessions, counted in PostgreSQL: streams and state keys row by row (their
        keys name the sessions), events grouped by the scope of their stream id, so that no
        event's value crosses the wire."""
        from mcpstore_cli.layouts.fastmcp import STATE, STREAMS
        from mcpstore_cli.layouts.fastmcp.sessions import SessionIndex

        await self.ensure_readable()
        index = SessionIndex(now_ms)
        now = "timestamptz 'epoch' + $1::bigint * interval '1 millisecond'"
        live = f"(expires_at IS NULL OR expires_at > {now})"
        ms = _MS
        rows = await self._fetch(
            f"SELECT collection, key, NULL::text, ttl, {ms.format('created_at')}, "
            f"{ms.format('expires_at')} FROM {self._t} WHERE collection = ANY($2::text[]) "
            f"AND collection <> '{EVENTS}' AND {live}",
            now_ms,
            [c for c in collections if c in (STREAMS, STATE)],
        )
        for row in rows:
            index.add(Entry(row[0], row[1], None, row[4], row[5], row[3]))
        if EVENTS in collections:
            scope = (
                "CASE WHEN s ~ '^[0-9]{1,6}:' THEN substr(s, strpos(s, ':') + 1, "
                "split_part(s, ':', 1)::int) END"
            )
            groups = await self._fetch(
                f"SELECT scope, count(*), {ms.format('min(created_at)')}, "
                f"{ms.format('max(created_at)')}, {ms.format('max(expires_at)')}, "
                "bool_or(expires_at IS NULL) FROM (SELECT created_at, expires_at, "
                f"{scope} AS scope FROM (SELECT value->>'stream_id' AS s, created_at, expires_at "
                f"FROM {self._t} WHERE collection = '{EVENTS}' AND {live}) e) g "
                "WHERE scope IS NOT NULL GROUP BY scope",
                now_ms,
            )
            for scope_id, count, first, last, expires, never in groups:
                index.add_events(scope_id, int(count), first, last, expires, bool(never))
        return index

    async def layout_stats(self, *, now_ms: int) -> dict[str, Any] | None:
        """``stats`` computed by PostgreSQL: counts, buckets and orphans in SQL (anti-joins on
        the primary key), so that no value crosses the wire."""
        from mcpstore_cli.layouts.fastmcp import STREAMS
        from mcpstore_cli.layouts.fastmcp.sessions import TTL_BUCKETS

        await self.ensure_readable()
        now = "(timestamptz 'epoch' + $1::bigint * interval '1 millisecond')"
        live = f"(expires_at IS NULL OR expires_at > {now})"
        buckets = [f"count(*) FILTER (WHERE expires_at <= {now})"]
        low = 0
        for _label, high in TTL_BUCKETS[1:]:
            op = ">" if low == 0 else ">="
            cond = f"expires_at {op} {now} + interval '{low} seconds'"
            if high is not None:
                cond += f" AND expires_at < {now} + interval '{high} seconds'"
            buckets.append(f"count(*) FILTER (WHERE {cond})")
            low = high or low
        buckets.append("count(*) FILTER (WHERE expires_at IS NULL)")
        rows = await self._fetch(
            f"SELECT collection, count(*) FILTER (WHERE {live}), "
            f"count(*) FILTER (WHERE NOT {live}), {', '.join(buckets)} "
            f"FROM {self._t} GROUP BY collection",
            now_ms,
        )
        entries: dict[str, int] = {}
        expired: dict[str, int] = {}
        others: dict[str, int] = {}
        labels = ["expired"] + [label for label, _ in TTL_BUCKETS[1:]] + ["never"]
        ttl_left = dict.fromkeys(labels, 0)
        for row in rows:
            collection = row[0]
            if collection not in COLLECTIONS:
                others[collection] = int(row[1]) + int(row[2])
                continue
            entries[collection], expired[collection] = int(row[1]), int(row[2])
            for label, n in zip(labels, row[3:], strict=True):
                ttl_left[label] += int(n)
        message = "value->'message'"
        methods = await self._fetch(
            f"SELECT CASE WHEN jsonb_typeof({message}) IS DISTINCT FROM 'object' THEN "
            f"CASE WHEN {message} IS NULL OR jsonb_typeof({message}) = 'null' THEN 'priming' "
            f"ELSE 'unknown' END WHEN jsonb_typeof({message}->'method') = 'string' THEN "
            f"{message}->>'method' WHEN {message} ? 'result' THEN 'result' WHEN {message} ? "
            f"'error' THEN 'error' ELSE 'unknown' END, count(*) FROM {self._t} "
            f"WHERE collection = '{EVENTS}' AND {live} GROUP BY 1",
            now_ms,
        )
        listed = (
            f"SELECT s.key AS stream, i.id FROM {self._t} s CROSS JOIN LATERAL "
            "jsonb_array_elements_text(CASE WHEN jsonb_typeof(s.value->'event_ids') = 'array' "
            f"THEN s.value->'event_ids' END) AS i(id) WHERE s.collection = '{STREAMS}' AND "
            f"(s.expires_at IS NULL OR s.expires_at > {now})"
        )
        live_event = (
            f"SELECT 1 FROM {self._t} e WHERE e.collection = '{EVENTS}' AND e.key = {{}} AND "
            f"(e.expires_at IS NULL OR e.expires_at > {now})"
        )
        orphan_rows = await self._fetch(
            f"WITH listed AS ({listed}), missing AS (SELECT stream FROM listed l WHERE NOT "
            f"EXISTS ({live_event.format('l.id')})) SELECT (SELECT count(DISTINCT stream) FROM "
            "missing), (SELECT count(*) FROM missing), (SELECT count(*) FROM "
            f"{self._t} e WHERE e.collection = '{EVENTS}' AND (e.expires_at IS NULL OR "
            f"e.expires_at > {now}) AND NOT EXISTS (SELECT 1 FROM listed l WHERE l.id = e.key))",
            now_ms,
        )
        naming, missing, unlisted = orphan_rows[0]
        return self.stats_object(
            entries=entries,
            expired=expired,
            index=await self._index(now_ms),
            methods={r[0]: int(r[1]) for r in methods},
            orphans={
                "streams_naming_missing_events": int(naming),
                "missing_event_ids": int(missing),
                "events_of_no_stream": int(unlisted),
            },
            ttl_left=ttl_left,
            others=others,
            storage=await self.kv_storage(),
        )

    async def kv_get(self, collection: str, keys: Sequence[str]) -> dict[str, Entry]:
        rows = await self._fetch(
            f"{_SELECT} FROM {self._t} WHERE collection = $1 AND key = ANY($2::text[])",
            collection,
            list(keys),
        )
        return {r[1]: self._entry(r) for r in rows}

    async def kv_delete(self, entries: Sequence[Entry]) -> int:
        if not entries:
            return 0
        async with self._conn() as conn:
            status = await conn.execute(
                f"DELETE FROM {self._t} t USING unnest($1::text[], $2::text[], "
                "$3::timestamptz[]) AS d(c, k, e) WHERE t.collection = d.c AND t.key = d.k "
                "AND t.expires_at IS NOT DISTINCT FROM d.e",
                [e.collection for e in entries],
                [e.key for e in entries],
                [e.token for e in entries],
            )
        return int(status.rsplit(" ", 1)[-1])

    async def kv_replace(self, entry: Entry, value: Any) -> bool:
        import json

        async with self._conn() as conn:
            status = await conn.execute(
                f"UPDATE {self._t} SET value = $3::jsonb WHERE collection = $1 AND key = $2 "
                "AND expires_at IS NOT DISTINCT FROM $4",
                entry.collection,
                entry.key,
                json.dumps(value),
                entry.token,
            )
        return status.endswith(" 1")

    async def kv_write(self, entry: Entry, *, expected: Entry | None) -> bool:
        """An upsert keeps the first ``created_at`` (py-key-value's); the update is
        conditional on the expiry and the value read."""
        import json

        ttl = None if entry.expires_at is None else entry.ttl
        async with self._conn() as conn:
            if expected is None:
                status = await conn.execute(
                    f"INSERT INTO {self._t} (collection, key, value, ttl, created_at, "
                    "expires_at) VALUES ($1, $2, $3::jsonb, $4, timestamptz 'epoch' + $5::bigint "
                    "* interval '1 millisecond', timestamptz 'epoch' + $6::bigint * interval "
                    "'1 millisecond') ON CONFLICT (collection, key) DO NOTHING",
                    entry.collection,
                    entry.key,
                    json.dumps(entry.value),
                    ttl,
                    entry.created_at,
                    entry.expires_at,
                )
            else:
                status = await conn.execute(
                    f"UPDATE {self._t} SET value = $3::jsonb, ttl = $4, expires_at = "
                    "timestamptz 'epoch' + $5::bigint * interval '1 millisecond' "
                    "WHERE collection = $1 AND key = $2 AND expires_at IS NOT DISTINCT FROM $6 "
                    "AND value = $7::jsonb",
                    entry.collection,
                    entry.key,
                    json.dumps(entry.value),
                    ttl,
                    entry.expires_at,
                    expected.token,
                    json.dumps(expected.value),
                )
        return status.endswith(" 1")

    backup_consistency: ClassVar[str] = "one REPEATABLE READ snapshot of the table"

    async def kv_put(self, entries: Sequence[Entry], *, only_missing: bool) -> int:
        """As py-key-value writes: the entry's own times; ``ttl`` the TTL it was last written
        with (so that ``expires_at - ttl`` still says when), else the seconds left now."""
        import json

        if not entries:
            return 0
        now = time.time() * 1000
        conflict = (
            "DO NOTHING"
            if only_missing
            else (
                "DO UPDATE SET value = EXCLUDED.value, ttl = EXCLUDED.ttl, "
                "expires_at = EXCLUDED.expires_at"
            )
        )
        async with self._conn() as conn:
            status = await conn.execute(
                f"INSERT INTO {self._t} (collection, key, value, ttl, created_at, expires_at) "
                "SELECT r.c, r.k, r.v, r.ttl, timestamptz 'epoch' + r.cr * interval '1 "
                "millisecond', timestamptz 'epoch' + r.ex * interval '1 millisecond' FROM "
                "unnest($1::text[], $2::text[], $3::jsonb[], $4::float8[], $5::bigint[], "
                "$6::bigint[]) AS r(c, k, v, ttl, cr, ex) ON CONFLICT (collection, key) "
                + conflict,
                [e.collection for e in entries],
                [e.key for e in entries],
                [json.dumps(e.value) for e in entries],
                [
                    None
                    if e.expires_at is None
                    else e.ttl
                    if e.ttl is not None
                    else (e.expires_at - now) / 1000
                    for e in entries
                ],
                [e.created_at for e in entries],
                [e.expires_at for e in entries],
            )
        return int(status.rsplit(" ", 1)[-1])

    async def kv_counts(self) -> dict[str, int]:
        await self.ensure_readable()
        rows = await self._fetch(f"SELECT collection, count(*) FROM {self._t} GROUP BY 1")
        return {r[0]: int(r[1]) for r in rows}

    async def kv_storage(self, counts: dict[str, int] | None = None) -> dict[str, Any]:
        rows = await self._fetch("SELECT pg_total_relation_size(to_regclass($1))", self._t)
        return {"bytes": int(rows[0][0] or 0), "measured": "pg_total_relation_size"}

    # -- tail-events ----------------------------------------------------------------------
    async def kv_follow(self, seen: set[str], warn: Any) -> AsyncIterator[list[Entry]]:
        """With ``setup --notify``'s trigger: LISTEN, and read each notified key. Without
        it: poll new events through the expires_at index (FastMCP gives every event the same
        TTL, so a newer event expires later), every ``poll_seconds``."""
        from mcpstore_cli.backends.postgres import kvnotify

        async with self._conn() as conn:
            if await kvnotify.installed(conn, self.table):
                queue: asyncio.Queue[str] = asyncio.Queue()
                await conn.add_listener(
                    kvnotify.channel(self.table), lambda *args: queue.put_nowait(args[3])
                )
                while True:
                    keys = [await queue.get()]
                    while not queue.empty():
                        keys.append(queue.get_nowait())
                    rows = await conn.fetch(
                        f"{_SELECT} FROM {self._t} WHERE collection = $1 AND key = ANY($2)",
                        EVENTS,
                        keys,
                    )
                    entries = [self._entry(r) for r in rows if r[1] not in seen]
                    seen.update(e.key for e in entries)
                    if entries:
                        yield entries
            if warn is not None:
                warn(
                    f"no notify trigger on {self.table} (mcpstore setup --layout fastmcp "
                    f"--notify installs it): polling every {self.poll_seconds:g} s."
                )
            mark = await conn.fetchval(
                f"SELECT max(expires_at) FROM {self._t} WHERE collection = $1", EVENTS
            )
            while True:
                await asyncio.sleep(self.poll_seconds)
                rows = await conn.fetch(
                    f"{_SELECT} FROM {self._t} WHERE collection = $1 AND expires_at >= "
                    "coalesce($2, '-infinity'::timestamptz) - interval '5 seconds'",
                    EVENTS,
                    mark,
                )
                entries = [self._entry(r) for r in rows if r[1] not in seen]
                for r in rows:
                    if mark is None or (r[6] is not None and r[6] > mark):
                        mark = r[6]
                seen.update(e.key for e in entries)
                if entries:
                    yield entries

    # -- expire ---------------------------------------------------------------------------
    async def kv_expire(
        self, opts: ExpireOptions, result: ExpireResult, pacer: Pacer, progress: Any
    ) -> None:
        """Batches of at most ``--batch-size`` entries, oldest expiry first: a planner walks
        the expires_at index to the next batch's upper bound, and ``--jobs`` connections each
        delete a range ``lo <= expires_at < hi``. Every DELETE repeats ``expires_at <
        now()``, which PostgreSQL re-checks on a row the server re-put meanwhile (its new
        expiry is in the future): such an entry stays."""
        if opts.dry_run:
            rows = await self._fetch(
                f"SELECT collection, count(*) FROM {self._t} WHERE expires_at < now() GROUP BY 1"
            )
            result.entries = {r[0]: int(r[1]) for r in rows}
            result.expired_entries = sum(result.entries.values())
            sample = await self._fetch(
                f"SELECT collection || '::' || key FROM {self._t} WHERE expires_at < now() "
                "ORDER BY expires_at LIMIT $1",
                opts.sample_size,
            )
            result.sample = [r[0] for r in sample]
            return
        import datetime as dt

        limit = pacer.batch_limit(opts.batch_size)
        jobs = max(1, opts.jobs)
        queue: asyncio.Queue[tuple[Any, Any] | None] = asyncio.Queue(maxsize=2 * jobs)
        batches = [0]
        next_bound = (
            f"SELECT expires_at FROM {self._t} WHERE expires_at >= $1 AND expires_at < now() "
            "ORDER BY expires_at OFFSET $2 LIMIT 1"
        )
        within = "expires_at >= $1 AND expires_at < now()"

        async def plan(conn: asyncpg.Connection) -> None:
            low: Any = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
            try:
                while not pacer.out_of_time():
                    high = await conn.fetchval(next_bound, low, limit)
                    await queue.put((low, high))
                    if high is None:
                        return
                    low = high
                left = await conn.fetchval(f"SELECT count(*) FROM {self._t} WHERE {within}", low)
                if left:
                    result.partial = True
                    result.remaining["expired entries"] = int(left)
            finally:
                for _ in range(jobs):
                    await queue.put(None)

        async def work(conn: asyncpg.Connection) -> None:
            while (item := await queue.get()) is not None:
                low, high = item
                if high is None:
                    status = await conn.execute(f"DELETE FROM {self._t} WHERE {within}", low)
                else:
                    status = await conn.execute(
                        f"DELETE FROM {self._t} WHERE {within} AND expires_at < $2", low, high
                    )
                n = int(status.rsplit(" ", 1)[-1])
                batches[0] += 1
                result.expired_entries += n
                if progress is not None:
                    progress(n)
                await pacer.done(n)

        async with self.pg.expire_lock(), contextlib.AsyncExitStack() as stack:
            conns = [await stack.enter_async_context(self._conn()) for _ in range(jobs + 1)]
            for conn in conns:
                await conn.execute("SET plan_cache_mode = auto")
            tasks = [asyncio.ensure_future(plan(conns[0]))]
            tasks += [asyncio.ensure_future(work(c)) for c in conns[1:]]
            try:
                await asyncio.gather(*tasks)
            except BaseException as exc:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                if isinstance(exc, KeyboardInterrupt | Interrupted | asyncio.CancelledError):
                    raise expire_interrupted(result, batches[0]) from None
                raise

    # -- clear and teardown ---------------------------------------------------------------
    async def inventory(self) -> Inventory:
        from mcpstore_cli.model.teardown import Inventory, TableFacts

        started = time.perf_counter()
        columns = await self._columns()
        inv = Inventory(
            backend=self.backend,
            store=self.url.masked(),
            name=self.table,
            exists=columns is not None,
        )
        if columns is not None:
            counts = await self.kv_counts()
            size = await self.kv_storage()
            others = {c: n for c, n in counts.items() if c not in COLLECTIONS}
            inv.tables = [
                TableFacts(name=self.table, rows=sum(counts.values()), bytes=size["bytes"])
            ]
            inv.facts = {c: counts.get(c, 0) for c in COLLECTIONS}
            from mcpstore_cli.backends.postgres import kvnotify

            async with self._conn() as conn:
                if await kvnotify.installed(conn, self.table):
                    inv.installed = [f"trigger and function {kvnotify.function_name(self.table)}"]
            if others:
                inv.facts["other_collections"] = others
        inv.seconds = time.perf_counter() - started
        return inv

    async def clear(
        self,
        *,
        recreate: bool = False,
        progress: ProgressCallback | None = None,
        collections: Sequence[str] | None = COLLECTIONS,
    ) -> ClearResult:

        await self.ensure_readable()
        started = time.perf_counter()
        where, args = _in_collections(collections)
        async with self._conn() as conn, conn.transaction():
            rows = await conn.fetch(
                f"WITH gone AS (DELETE FROM {self._t}{where} RETURNING collection) "
                "SELECT collection, count(*) FROM gone GROUP BY 1",
                *args,
            )
        counts = {r[0]: int(r[1]) for r in rows}
        return self.cleared(counts, started)

    async def drop(self) -> list[str]:
        async with self._conn() as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {self._t}")
            from mcpstore_cli.backends.postgres.kvnotify import function_name

            await conn.execute(f"DROP FUNCTION IF EXISTS {function_name(self.table)}()")
        return [f"table {self.table}"]
