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
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcpstore_cli.errors import (
    LayoutError,
    McpStoreError,
    StoreConnectionError,
    StoreMissingError,
)
from mcpstore_cli.store import ProgressCallback
from mcpstore_cli.teardown import ClearResult, Inventory, TableFacts

if TYPE_CHECKING:
    from mcpstore_cli.backends.postgres import PostgresStore
    from mcpstore_cli.backends.sqlite import SqliteStore

LAYOUT_TABLES = ("sessions", "events")
# Counting exactly is cheap below this size; above it the preview uses the planner's estimate.
EXACT_COUNT_MAX_BYTES = 64 * 1024 * 1024
NOTIFY_FUNCTION = "mcpstore_notify_event"
NOTIFY_TRIGGER = "mcpstore_events_notify"
LOCK_TIMEOUT_MS = 10_000


# -- SQLite ------------------------------------------------------------------------------
def sqlite_companions(path: Path) -> list[Path]:
    """The files that belong to a SQLite database (and mcpstore's own lock file)."""
    return [
        path,
        Path(f"{path}-wal"),
        Path(f"{path}-shm"),
        Path(f"{path}-journal"),
        Path(f"{path}.mcpstore-expire.lock"),
    ]


def _sqlite_objects(store: SqliteStore) -> dict[str, str]:
    return {r["name"]: r["type"] for r in store._read("SELECT name, type FROM sqlite_master")}


def _own_tables(objects: dict[str, str]) -> list[str]:
    """Tables in the file that are not the layout's (nor SQLite's own)."""
    return sorted(
        name
        for name, kind in objects.items()
        if kind == "table" and name not in LAYOUT_TABLES and not name.startswith("sqlite_")
    )


async def sqlite_inventory(store: SqliteStore) -> Inventory:
    started = time.monotonic()
    store._require_file()
    path = store.path
    inv = Inventory(
        backend="sqlite",
        store=store.url.masked(),
        name=path.name,
        exists=True,
    )
    objects = _sqlite_objects(store)
    for table in LAYOUT_TABLES:
        if objects.get(table) != "table":
            inv.tables.append(TableFacts(table, exists=False))
            continue
        rows = store._read(f"SELECT count(*) AS n FROM {table}")[0]["n"]
        inv.tables.append(TableFacts(table, rows=int(rows)))
    for companion in sqlite_companions(path):
        with contextlib.suppress(OSError):
            inv.files.append((str(companion), os.stat(companion).st_size))
    if objects.get("sqlite_sequence") == "table" and objects.get("events") == "table":
        seq = store._read("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
        inv.facts["events_id_counter"] = int(seq[0]["seq"]) if seq else 0
    others = _own_tables(objects)
    if others:
        inv.facts["other_tables"] = others
        inv.notes.append(
            f"{path.name} also holds other tables ({', '.join(others)}): deleting drops only "
            "the sessions and events tables and keeps the file."
        )
    inv.seconds = time.monotonic() - started
    return inv


async def sqlite_clear(store: SqliteStore, progress: ProgressCallback | None) -> ClearResult:
    started = time.monotonic()
    await store.ensure_readable()
    async with store.connect(write=True) as conn:
        # Events first: the sessions DELETE then has no cascade left to do.
        events = (await conn.exec_driver_sql("DELETE FROM events")).rowcount
        sessions = (await conn.exec_driver_sql("DELETE FROM sessions")).rowcount
    if progress is not None:
        progress(int(sessions) + int(events))
    return ClearResult(int(sessions), int(events), seconds=time.monotonic() - started)


def _sqlite_require_layout(store: SqliteStore, objects: dict[str, str]) -> None:
    from mcpstore_cli.backends.sqlite import REQUIRED

    for table in LAYOUT_TABLES:
        if objects.get(table) != "table":
            continue
        have = {r["name"] for r in store._read(f"PRAGMA table_info({table})")}
        missing = sorted(REQUIRED[table] - have)
        if missing:
            raise LayoutError(
                f"{store.path} is in another layout (table {table} has no column "
                f"{missing[0]}), so it is left alone; see mcpstore setup --check."
            )


async def sqlite_drop(store: SqliteStore) -> list[str]:
    store._require_file()
    path = store.path
    objects = _sqlite_objects(store)
    _sqlite_require_layout(store, objects)
    others = _own_tables(objects)
    if others:
        async with store.connect(write=True) as conn:
            present = await conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
                "('sessions', 'events')"
            )
            names = {row[0] for row in present}
            gone = []
            for table in ("events", "sessions"):
                if table in names:
                    await conn.exec_driver_sql(f"DROP TABLE {table}")
                    gone.append(f"table {table}")
            has_sequence = await conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
            )
            if has_sequence.first() is not None:
                await conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = 'events'")
        await store.close()
        return gone
    await store.close()
    # Nobody may be writing while the file goes: take the write lock once (a server in a
    # write transaction makes this wait, then fail, before anything is deleted).
    try:
        probe = sqlite3.connect(str(path), timeout=store.options.connect_timeout)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        finally:
            probe.close()
    except sqlite3.Error as exc:
        raise store._translate_error(exc) or StoreConnectionError(str(exc)) from exc
    gone = []
    for companion in sqlite_companions(path):
        try:
            companion.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreConnectionError(
                f"Cannot delete {companion}: {exc.strerror or exc}"
                + (f"; already deleted: {', '.join(gone)}." if gone else "; nothing was deleted.")
            ) from exc
        gone.append(str(companion))
    return gone


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
        from mcpstore_cli.durations import format_duration

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
    from mcpstore_cli.backends.postgres import _COLUMNS_SQL, REQUIRED, _columns_from_rows

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
