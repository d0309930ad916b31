"""PostgreSQL backups: records made by the server itself (``json_build_array``) and streamed
with COPY from one REPEATABLE READ READ ONLY transaction; restore sends blocks of verified
record lines that the server decodes, in one transaction (all of it or nothing)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from mcpstore_cli.errors import McpStoreError, StoreConnectionError

if TYPE_CHECKING:
    import asyncpg

    from mcpstore_cli.backends.postgres import PostgresStore
    from mcpstore_cli.backup import BackupSpec, RestoreSummary
    from mcpstore_cli.backup.fileformat import BackupFileWriter, BackupInfo
    from mcpstore_cli.store import ProgressCallback

# CSV with a quote and a delimiter that JSON text never holds unescaped: COPY then sends
# each row's one JSON value exactly as the server rendered it, one line per record.
_COPY_OPTIONS = {"format": "csv", "delimiter": "\x02", "quote": "\x01"}

SESSION_RECORD = (
    "json_build_array('s', session_id, created_at, last_activity, is_initialized, "
    "client_capabilities, server_capabilities, state, metadata, version, NULL)"
)
EVENT_RECORD = "json_build_array('e', session_id, id, timestamp, event_type, data, retry, NULL)"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _session_where(spec: BackupSpec) -> str:
    where = []
    if spec.session_ids is not None:
        ids = ", ".join(_literal(s) for s in spec.session_ids) or "NULL"
        where.append(f"session_id IN ({ids})")
    if spec.since_ms is not None:
        where.append(f"last_activity >= {int(spec.since_ms)}")
    return " AND ".join(where)


class _LineSink:
    """COPY chunks to whole lines (a chunk may end inside a row)."""

    def __init__(self, put: Any, progress: ProgressCallback | None) -> None:
        self.put = put
        self.rest = b""
        self.progress = progress

    async def __call__(self, chunk: bytes) -> None:
        data = self.rest + chunk if self.rest else bytes(chunk)
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        if cut:
            block = data[:cut]
            self.put(block)
            if self.progress is not None:
                self.progress(block.count(b"\n"))

    def close(self) -> None:
        if self.rest:
            raise StoreConnectionError("PostgreSQL ended a COPY in the middle of a row.")


async def backup(
    store: PostgresStore,
    spec: BackupSpec,
    out: BackupFileWriter,
    header: dict[str, Any],
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    conn: asyncpg.Connection = await store.raw_connect()
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            header["source"].update(event_ids="table", naming=None)
            header["consistency"] = "one PostgreSQL REPEATABLE READ READ ONLY transaction"
            out.header(header)
            where = _session_where(spec)
            s_sql = f"SELECT {SESSION_RECORD} FROM sessions" + (f" WHERE {where}" if where else "")
            sink = _LineSink(out.sessions_block, progress)
            await conn.copy_from_query(s_sql, output=sink, **_COPY_OPTIONS)
            sink.close()
            e_sql = f"SELECT {EVENT_RECORD} FROM events"
            if where:
                e_sql += f" WHERE session_id IN (SELECT session_id FROM sessions WHERE {where})"
            # Ids increase within each session: in id order, each session's events are in
            # their order (what a restore that renumbers ids relies on).
            e_sql += " ORDER BY id"
            sink = _LineSink(out.events_block, progress)
            await conn.copy_from_query(e_sql, output=sink, **_COPY_OPTIONS)
            sink.close()
    except McpStoreError:
        raise
    except Exception as exc:
        raise store._wrap(exc) from exc
    finally:
        with contextlib.suppress(Exception):
            await conn.close()
    return {"consistency": header["consistency"], "skipped": 0, "notes": []}


# -- restore -------------------------------------------------------------------------------
_LINES = "(SELECT l::jsonb AS j, n FROM unnest($1::text[]) WITH ORDINALITY AS u(l, n)) AS r"
_SESSION_COLUMNS = (
    "session_id, created_at, last_activity, is_initialized, client_capabilities, "
    "server_capabilities, state, metadata, version"
)
_SESSION_VALUES = (
    "j->>1, (j->>2)::bigint, (j->>3)::bigint, (j->>4)::boolean, NULLIF(j->5, 'null'::jsonb), "
    "j->6, j->7, j->8, COALESCE((j->>9)::int, 1)"
)


def _event_insert(keep_ids: bool, filtered: bool) -> str:
    columns = "session_id, timestamp, event_type, data, retry"
    values = "j->>1, (j->>3)::bigint, j->>4, j->5, (j->>6)::int"
    if keep_ids:
        columns = "id, " + columns
        values = "(j->>2)::bigint, " + values
    sql = f"INSERT INTO events ({columns}) SELECT {values} FROM {_LINES}"
    if filtered:
        sql += (
            " WHERE EXISTS (SELECT 1 FROM pg_temp.mcpstore_restored x WHERE x.session_id = j->>1)"
        )
    # The target's sequence numbers rows in this order: each session's order is kept.
    return sql + " ORDER BY n"


async def restore(
    store: PostgresStore,
    info: BackupInfo,
    summary: RestoreSummary,
    *,
    mode: str,
    progress: ProgressCallback | None,
) -> None:
    from mcpstore_cli.backup.fileformat import iter_record_blocks

    conn: asyncpg.Connection = await store.raw_connect()
    try:
        seq = await conn.fetchval("SELECT pg_get_serial_sequence('events', 'id')")
        looks_empty = mode == "replace" or not await conn.fetchval(_ANY_ROWS)
        async with conn.transaction():
            # Into empty tables the load is pg_restore's: no secondary index, key or foreign
            # key while rows go in (they are built at the end), so that takes the tables for
            # itself. Otherwise only this restore writes them until it commits; readers go on.
            lock = "ACCESS EXCLUSIVE" if looks_empty else "SHARE ROW EXCLUSIVE"
            await conn.execute(f"LOCK TABLE sessions, events IN {lock} MODE")
            if mode == "replace":
                summary.replaced_sessions = await conn.fetchval("SELECT count(*) FROM sessions")
                summary.replaced_events = await conn.fetchval("SELECT count(*) FROM events")
                await conn.execute("TRUNCATE events, sessions")
            empty = not await conn.fetchval(_ANY_ROWS)
            saved = await _set_aside(conn) if empty and looks_empty else None
            keep_ids = info.event_ids == "table" and (
                info.min_event_id is None
                or not await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM events WHERE id BETWEEN $1 AND $2)",
                    info.min_event_id,
                    info.max_event_id,
                )
            )
            summary.event_ids = "kept" if keep_ids else "renumbered by the target"
            if keep_ids and info.max_event_id is not None and seq:
                # First, so that a server inserting meanwhile cannot draw a restored id.
                await _move_sequence(conn, seq, info.max_event_id)
            filtered = not empty
            if filtered:
                await conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS mcpstore_restored "
                    "(session_id text PRIMARY KEY) ON COMMIT DROP"
                )
                s_sql = (
                    "WITH ins AS (INSERT INTO sessions ("
                    + _SESSION_COLUMNS
                    + ") SELECT "
                    + _SESSION_VALUES
                    + " FROM "
                    + _LINES
                    + " ON CONFLICT (session_id) DO NOTHING RETURNING session_id) "
                    "INSERT INTO pg_temp.mcpstore_restored SELECT session_id FROM ins"
                )
            else:
                s_sql = (
                    "INSERT INTO sessions ("
                    + _SESSION_COLUMNS
                    + ") SELECT "
                    + _SESSION_VALUES
                    + " FROM "
                    + _LINES
                )
            e_sql = _event_insert(keep_ids, filtered)
            analyzed = False
            for kind, lines in _decoded(iter_record_blocks(info.path)):
                if kind == "s":
                    status = await conn.execute(s_sql, lines)
                    written = _rowcount(status)
                    summary.sessions += written
                    summary.skipped_sessions += len(lines) - written
                else:
                    if filtered and not analyzed:
                        await conn.execute("ANALYZE pg_temp.mcpstore_restored")
                        analyzed = True
                    written = _rowcount(await conn.execute(e_sql, lines))
                    summary.events += written
                    summary.skipped_events += len(lines) - written
                if progress is not None:
                    progress(len(lines))
            if saved is not None:
                await _put_back(conn, saved)
            if keep_ids and seq:
                await _move_sequence(conn, seq, None)
    except McpStoreError:
        raise
    except Exception as exc:
        translated = store._wrap(exc)
        raise StoreConnectionError(
            f"Restore was rolled back, nothing changed: {translated.message}"
        ) from exc
    finally:
        with contextlib.suppress(Exception):
            await conn.close()


_ANY_ROWS = "SELECT EXISTS (SELECT 1 FROM sessions) OR EXISTS (SELECT 1 FROM events)"
# Indexes no constraint owns, and the keys no foreign key depends on (events_pkey).
_INDEXES = """
SELECT pg_get_indexdef(i.indexrelid), i.indexrelid::regclass::text
FROM pg_index i
WHERE i.indrelid IN ('sessions'::regclass, 'events'::regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""
_KEYS = """
SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid)
FROM pg_constraint k
WHERE contype IN ('p', 'u') AND conrelid = 'events'::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = k.conindid)
"""
_FOREIGN_KEYS = """
SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid)
FROM pg_constraint
WHERE contype = 'f' AND conrelid IN ('sessions'::regclass, 'events'::regclass)
"""
_USER_TRIGGERS = """
SELECT tgrelid::regclass::text, quote_ident(tgname) FROM pg_trigger
WHERE tgrelid IN ('sessions'::regclass, 'events'::regclass) AND NOT tgisinternal
  AND tgenabled = 'O'
"""


async def _set_aside(conn: asyncpg.Connection) -> dict[str, list[Any]]:
    """Inside the transaction, tables empty and locked: drop what makes a row-by-row load
    slow (secondary indexes, events' primary key, the foreign key; per-row user triggers such
    as setup --notify's are disabled). :func:`_put_back` recreates them from these very
    definitions before the commit; a failure rolls all of it back."""
    saved: dict[str, list[Any]] = {
        "indexes": [tuple(r) for r in await conn.fetch(_INDEXES)],
        "keys": [tuple(r) for r in await conn.fetch(_KEYS)],
        "foreign_keys": [tuple(r) for r in await conn.fetch(_FOREIGN_KEYS)],
        "triggers": [tuple(r) for r in await conn.fetch(_USER_TRIGGERS)],
    }
    await conn.execute("SET LOCAL synchronous_commit TO OFF")
    await conn.execute("SET LOCAL maintenance_work_mem TO '512MB'")
    for table, name, _ in saved["foreign_keys"]:
        await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for table, name in saved["triggers"]:
        await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {name}")
    if saved["indexes"]:
        await conn.execute("DROP INDEX " + ", ".join(name for _, name in saved["indexes"]))
    for table, name, _ in saved["keys"]:
        await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    return saved


async def _put_back(conn: asyncpg.Connection, saved: dict[str, list[Any]]) -> None:
    for table, name, definition in saved["keys"]:
        await conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for definition, _ in saved["indexes"]:
        await conn.execute(definition)
    for table, name, definition in saved["foreign_keys"]:
        await conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for table, name in saved["triggers"]:
        await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {name}")


async def _move_sequence(conn: asyncpg.Connection, seq: str, at_least: int | None) -> None:
    """Never backwards: past the larger of the table's largest id and ``at_least``."""
    await conn.execute(
        f"SELECT setval($1::regclass, GREATEST("
        f"(SELECT last_value FROM {seq}), (SELECT COALESCE(max(id), 1) FROM events), "
        "COALESCE($2::bigint, 1)), true)",
        seq,
        at_least,
    )


def _rowcount(status: str) -> int:
    # "INSERT 0 123"
    try:
        return int(status.rsplit(" ", 1)[-1])
    except ValueError:
        return 0


def _decoded(blocks: Any) -> Any:
    """Record lines as text for the server to decode, in blocks of at most 10,000 lines."""
    for kind, lines in blocks:
        for start in range(0, len(lines), 10_000):
            yield kind, [line.decode() for line in lines[start : start + 10_000]]


async def count_rows(store: PostgresStore) -> tuple[int, int]:
    conn = await store.raw_connect()
    try:
        s = await conn.fetchval("SELECT count(*) FROM sessions")
        e = await conn.fetchval("SELECT count(*) FROM events")
        return int(s), int(e)
    finally:
        await conn.close()
