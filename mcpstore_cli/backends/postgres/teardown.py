"""Clear and teardown on the SQL stores.

SQLite: one write transaction (BEGIN IMMEDIATE) deletes the events, then the sessions; the
AUTOINCREMENT counter in ``sqlite_sequence`` is kept, so ids never repeat. Teardown deletes the
file with its ``-wal``, ``-shm`` and ``-journal`` companions and the expire lock file, unless the
file holds tables of its own: then only the layout's two tables are dropped.

PostgreSQL: one transaction takes both tables' locks (bounded by a lock timeout, so a waiting
clear never queues a live server's queries behind it for long), counts what goes (exactly on
small tables, from the planner's estimate on big ones, where an exact count would cost more
than the TRUNCATE itself) and runs ``TRUNCATE events, sessions CONTINUE IDENTITY``: the events
id sequence continues, so clients' Last-Event-IDs stay meaningful. Teardown drops exactly the
two tables and the notify function ``setup --notify`` installs (with its trigger).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mcpstore_cli.backends.sql.teardown import LAYOUT_TABLES
from mcpstore_cli.errors import (
    LayoutError,
    McpStoreError,
    StoreConnectionError,
    StoreMissingError,
)
from mcpstore_cli.model.teardown import ClearResult, Inventory, TableFacts
from mcpstore_cli.store.base import ProgressCallback

if TYPE_CHECKING:
    from mcpstore_cli.backends.postgres.store import PostgresStore

NOTIFY_FUNCTION = "mcpstore_notify_event"
NOTIFY_TRIGGER = "mcpstore_events_notify"
# Counting exactly is cheap below this size; above it the preview uses the planner's estimate.
EXACT_COUNT_MAX_BYTES = 64 * 1024 * 1024
LOCK_TIMEOUT_MS = 10_000


# -- PostgreSQL --------------------------------------------------------------------------
_RELATIONS_SQL = """
SELECT c.relname, pg_total_relation_size(c.oid) AS bytes
FROM pg_class c WHERE c.oid IN (to_regclass('sessions'), to_regclass('events'))
"""
_INSTALLED_SQL = f"""
SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p
WHERE p.proname = '{NOTIFY_FUNCTION}' AND pg_function_is_visible(p.oid)
UNION ALL
SELECT 'trigger ' || t.tgname || ' on ' || t.tgrelid::regclass::text FROM pg_trigger t
WHERE t.tgname = '{NOTIFY_TRIGGER}' AND NOT t.tgisinternal
"""
_DEPENDENTS_SQL = """
SELECT DISTINCT d.classid::regclass::text AS kind, CASE
  WHEN d.classid = 'pg_constraint'::regclass THEN (
    SELECT 'foreign key ' || conname || ' on ' || conrelid::regclass::text
    FROM pg_constraint WHERE oid = d.objid)
  WHEN d.classid = 'pg_rewrite'::regclass THEN (
    SELECT 'view ' || ev_class::regclass::text FROM pg_rewrite WHERE oid = d.objid)
  END AS what
FROM pg_depend d
WHERE d.refobjid IN (to_regclass('sessions'), to_regclass('events'))
  AND d.deptype = 'n'
  AND (
    (d.classid = 'pg_constraint'::regclass AND (SELECT conrelid FROM pg_constraint
        WHERE oid = d.objid) NOT IN (to_regclass('sessions'), to_regclass('events')))
    OR (d.classid = 'pg_rewrite'::regclass AND (SELECT ev_class FROM pg_rewrite
        WHERE oid = d.objid) NOT IN (to_regclass('sessions'), to_regclass('events')))
  )
"""


async def _pg_count(conn: Any, table: str, size: int) -> tuple[int, bool]:
    """(rows, exact): an exact count on small tables, the planner's estimate on big ones."""
    if size <= EXACT_COUNT_MAX_BYTES:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}")), True
    plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {table}")
    doc = json.loads(plan) if isinstance(plan, str) else plan
    return int(doc[0]["Plan"]["Plan Rows"]), False


async def _pg_conn(store: PostgresStore) -> Any:
    try:
        return await store.raw_connect()
    except McpStoreError:
        raise
    except Exception as exc:
        raise store._wrap(exc) from exc


def _pg_error(store: PostgresStore, exc: BaseException, what: str) -> McpStoreError:
    import asyncpg

    if isinstance(exc, McpStoreError):
        return exc
    if isinstance(exc, asyncpg.LockNotAvailableError):
        from mcpstore_cli.util.durations import format_duration

        wait = store.lock_watch.last
        held = wait.held_by.strip() if wait is not None and wait.held_by else ""
        held = held or "another transaction holds them"
        return StoreConnectionError(
            f"Could not lock the sessions and events tables of {store.url.masked()} within "
            f"{format_duration(_pg_lock_timeout(store))} ({held}); nothing was changed, try "
            f"{what} again or raise --lock-timeout."
        )
    if isinstance(exc, asyncpg.FeatureNotSupportedError | asyncpg.DependentObjectsStillExistError):
        detail = getattr(exc, "detail", None) or getattr(exc, "message", None) or str(exc)
        return StoreConnectionError(
            f"Other objects in {store.url.masked()} depend on the sessions or events table "
            f"({str(detail).rstrip('.')}); nothing was changed. Remove them first."
        )
    return store._wrap(exc)


def _pg_lock_timeout(store: PostgresStore) -> int:
    """Milliseconds clear and drop wait for their ACCESS EXCLUSIVE lock: --lock-timeout, else
    a bound of their own (a waiting ACCESS EXCLUSIVE request queues the server behind it)."""
    return store.options.lock_timeout_ms or LOCK_TIMEOUT_MS


async def _pg_require_layout(store: PostgresStore, conn: Any, tables: Sequence[str]) -> None:
    """On the working connection: refuse tables that are not the layout's (someone else's
    sessions table is never truncated or dropped)."""
    from mcpstore_cli.backends.postgres.catalog import _COLUMNS_SQL, _columns_from_rows
    from mcpstore_cli.backends.postgres.layout import REQUIRED

    kinds, columns = _columns_from_rows(await conn.fetch(_COLUMNS_SQL))
    for table in tables:
        if table not in kinds:
            raise StoreMissingError(
                f"Database {store.target.database} on {store.target.where} has no {table} "
                f"table; run mcpstore setup --url {store.url.masked()}."
            )
        have = {c[0] for c in columns.get(table, [])}
        missing = sorted(REQUIRED[table] - have)
        if kinds[table] not in ("r", "p") or missing:
            why = f"has no column {missing[0]}" if missing else "is not a table"
            raise LayoutError(
                f"{store.url.masked()} is in another layout ({table} {why}), so it is left "
                "alone; see mcpstore setup --check."
            )


async def postgres_inventory(store: PostgresStore) -> Inventory:
    started = time.monotonic()
    target = store.target
    conn = await _pg_conn(store)
    try:
        sizes = {r[0]: int(r[1]) for r in await conn.fetch(_RELATIONS_SQL)}
        inv = Inventory(
            backend="postgres",
            store=store.url.masked(),
            name=target.database,
            exists=bool(sizes),
        )
        for table in LAYOUT_TABLES:
            if table not in sizes:
                inv.tables.append(TableFacts(table, exists=False))
                continue
            rows, exact = await _pg_count(conn, table, sizes[table])
            inv.tables.append(TableFacts(table, rows=rows, rows_exact=exact, bytes=sizes[table]))
        inv.installed = [r[0] for r in await conn.fetch(_INSTALLED_SQL)]
        dependents = sorted({r[1] for r in await conn.fetch(_DEPENDENTS_SQL) if r[1]})
        if "events" in sizes:
            inv.facts["events_id_sequence_last"] = await conn.fetchval(
                "SELECT last_value FROM pg_sequences WHERE schemaname || '.' || sequencename = "
                "(SELECT pg_get_serial_sequence((to_regclass('events'))::text, 'id'))"
            )
        inv.facts.update(
            {
                "database": target.database,
                "host": target.where,
                "server_version": await conn.fetchval("SHOW server_version"),
            }
        )
        if dependents:
            inv.facts["dependents"] = dependents
            inv.notes.append(
                f"Other objects depend on the tables ({', '.join(dependents)}): clear and "
                "delete will refuse until they are removed."
            )
    except McpStoreError:
        raise
    except Exception as exc:
        raise store._wrap(exc) from exc
    finally:
        with contextlib.suppress(Exception):
            await conn.close(timeout=5)
    if not inv.exists and not inv.installed:
        raise StoreMissingError(
            f"Database {target.database} on {target.where} has no sessions or events table; "
            "there is nothing to clear or tear down."
        )
    inv.seconds = time.monotonic() - started
    return inv


async def postgres_clear(store: PostgresStore, progress: ProgressCallback | None) -> ClearResult:
    started = time.monotonic()
    conn = await _pg_conn(store)
    try:
        async with conn.transaction():
            await _pg_require_layout(store, conn, LAYOUT_TABLES)
            await conn.execute(f"SET LOCAL lock_timeout = {_pg_lock_timeout(store)}")
            await conn.execute("LOCK TABLE events, sessions IN ACCESS EXCLUSIVE MODE")
            sizes = {r[0]: int(r[1]) for r in await conn.fetch(_RELATIONS_SQL)}
            sessions, s_exact = await _pg_count(conn, "sessions", sizes.get("sessions", 0))
            events, e_exact = await _pg_count(conn, "events", sizes.get("events", 0))
            await conn.execute("TRUNCATE events, sessions CONTINUE IDENTITY")
    except Exception as exc:
        raise _pg_error(store, exc, "mcpstore clear") from exc
    finally:
        with contextlib.suppress(Exception):
            await conn.close(timeout=5)
    if progress is not None:
        progress(sessions + events)
    return ClearResult(
        sessions, events, exact=s_exact and e_exact, seconds=time.monotonic() - started
    )


async def postgres_drop(store: PostgresStore) -> list[str]:
    conn = await _pg_conn(store)
    gone: list[str] = []
    try:
        async with conn.transaction():
            await conn.execute(f"SET LOCAL lock_timeout = {_pg_lock_timeout(store)}")
            present = {r[0] for r in await conn.fetch(_RELATIONS_SQL)}
            installed = [r[0] for r in await conn.fetch(_INSTALLED_SQL)]
            tables = [t for t in ("events", "sessions") if t in present]
            await _pg_require_layout(store, conn, tables)
            if tables:
                # No CASCADE: a view or foreign key of someone else's stops the drop.
                await conn.execute(f"DROP TABLE {', '.join(tables)}")
                gone += [f"table {t}" for t in tables]
            await conn.execute(f"DROP FUNCTION IF EXISTS {NOTIFY_FUNCTION}() CASCADE")
            gone += installed
    except Exception as exc:
        raise _pg_error(store, exc, "mcpstore teardown --delete") from exc
    finally:
        with contextlib.suppress(Exception):
            await conn.close(timeout=5)
    store._readable = False
    return gone
