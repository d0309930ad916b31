"""PostgreSQL bulk loads into empty tables: one transaction that leaves no trace if it fails.

When ``sessions`` and ``events`` are both empty, :func:`load_into_empty` loads them the way
``pg_restore`` does, inside one transaction:

1. lock both tables (ACCESS EXCLUSIVE: a concurrent reader or writer waits) and make sure they
   are empty, then TRUNCATE them (so that COPY may write frozen rows);
2. drop every secondary index of the two tables and the primary key no foreign key needs
   (``events_pkey``: one sort at the end costs less than a b-tree insert and its WAL record
   per row), and skip the per-row triggers: a superuser sets ``session_replication_role =
   replica``; anyone else drops the foreign key (added back at the end, which checks every
   row in one join) and disables the enabled user triggers, such as ``setup --notify``'s
   (a NOTIFY per row would pile up in one transaction), until the end;
3. COPY each chunk (``FREEZE``);
4. add the key and create the indexes again from their own definitions
   (``pg_get_constraintdef``/``pg_get_indexdef``, so names and definitions are exactly the
   ones the tables had), with a larger ``maintenance_work_mem``
   for the transaction, then commit.

Any failure (a bad row, a lost connection, Ctrl-C) rolls everything back: the tables are empty
again with exactly their previous indexes and constraints. When the tables are not empty or the
user may not alter them, nothing is done and the caller takes its ordinary path.

The chunks are :class:`CopyChunk`; :func:`session_copy_text` and :func:`event_copy_text` render
records in COPY's text format. For ``demo``, :func:`demo_chunks` generates and renders the rows
in a child process (``python -m mcpstore_cli.backends.postgres.bulk``), so that generating the
next rows here overlaps with the server storing the previous ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import operator
import os
import struct
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from mcpstore_cli.util.jsoncodec import dumps

if TYPE_CHECKING:
    import asyncpg

    from mcpstore_cli.backends.postgres.store import PostgresStore
    from mcpstore_cli.model.demo import DemoPlan
    from mcpstore_cli.model.records import Event, Session

# What a bulk load's index builds may use (the server default is 64MB; each build takes what
# it needs up to this, only for this transaction).
MAINTENANCE_WORK_MEM = "1GB"


@dataclass(slots=True)
class CopyChunk:
    """Rows for both tables: COPY text-format bytes, or records (tuples in column order)."""

    sessions: bytes | Sequence[tuple[Any, ...]]
    events: bytes | Sequence[tuple[Any, ...]]
    n_sessions: int
    n_events: int


@dataclass(slots=True)
class _Saved:
    """What the load takes away for its duration and puts back."""

    index_defs: list[str]
    keys: list[tuple[str, str, str]]  # (table, name, definition) of primary/unique keys
    foreign_keys: list[tuple[str, str, str]]  # (table, name, definition)
    triggers: list[tuple[str, str]]  # (table, name) of user triggers disabled for the load
    skip_triggers: bool  # superuser: session_replication_role = replica


# -- COPY text format --------------------------------------------------------------------
_NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def _json_text(value: str) -> str:
    # Compact JSON never holds a raw tab, newline or carriage return (they are escaped as
    # two characters, whose backslash is what COPY must see doubled).
    return value.replace("\\", "\\\\") if "\\" in value else value


def session_copy_text(sessions: Sequence[Session]) -> bytes:
    """Sessions as COPY text rows in the layout's COPY column order (``copy_columns``
    of :mod:`~mcpstore_cli.backends.postgres.layout`); JSON pre-rendered by the demo
    generator is used as it is."""
    lines: list[str] = []
    append = lines.append
    for s in sessions:
        state = getattr(s, "state_json", None)
        if state:
            client = s.client_capabilities_json  # type: ignore[attr-defined]
            server = s.server_capabilities_json  # type: ignore[attr-defined]
            metadata = s.metadata_json  # type: ignore[attr-defined]
        else:
            client = None if s.client_capabilities is None else dumps(s.client_capabilities)
            server = dumps(s.server_capabilities)
            state = dumps(s.state)
            metadata = dumps(s.metadata)
        version = s.extra("version") or 1
        append(
            f"{_text(s.session_id)}\t{_NULL if client is None else _json_text(client)}\t"
            f"{_json_text(server)}\t{_json_text(state)}\t{s.created_at}\t{s.last_activity}\t"
            f"{'t' if s.is_initialized else 'f'}\t{_json_text(metadata)}\t{version}\n"
        )
    return "".join(lines).encode()


def event_copy_text(events: Sequence[Event]) -> bytes:
    """Events as COPY text rows in the layout's COPY column order (``copy_columns``:
    without ``id``, which the BIGSERIAL sequence gives, as the server's ids are)."""
    lines: list[str] = []
    append = lines.append
    sid: str | None = None
    head = ""
    types: dict[str, str] = {}
    for e in events:
        if e.session_id is not sid:  # a session's events come together: escape its id once
            sid = e.session_id
            head = _text(sid) + "\t"
        etype = types.get(e.event_type)
        if etype is None:
            etype = types[e.event_type] = f"\t{_text(e.event_type)}\t"
        data = getattr(e, "data_json", None)
        if data is None:
            data = dumps(e.data)
        if "\\" in data:
            data = data.replace("\\", "\\\\")
        retry = e.retry
        append(f"{head}{e.timestamp}{etype}{data}\t{_NULL if retry is None else retry}\n")
    return "".join(lines).encode()


def copy_chunk(sessions: Sequence[Session], events: Sequence[Event]) -> CopyChunk:
    return CopyChunk(
        session_copy_text(sessions), event_copy_text(events), len(sessions), len(events)
    )


# -- the load ----------------------------------------------------------------------------
_SECONDARY_INDEXES_SQL = """
SELECT pg_get_indexdef(ix.indexrelid)
       || coalesce(' TABLESPACE ' || quote_ident(ts.spcname), '')
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
LEFT JOIN pg_tablespace ts ON ts.oid = i.reltablespace
WHERE ix.indrelid IN ('sessions'::regclass, 'events'::regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid)
ORDER BY ix.indrelid = 'events'::regclass, ix.indexrelid
"""

_INDEX_NAMES_SQL = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(i.relname)
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_namespace n ON n.oid = i.relnamespace
WHERE ix.indrelid IN ('sessions'::regclass, 'events'::regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid)
"""

# Primary and unique keys that no foreign key depends on (events_pkey in the layout): cheaper
# to build at the end (one sort, whole pages to the WAL) than to grow row by row.
_KEYS_SQL = """
SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid)
FROM pg_constraint k
WHERE contype IN ('p', 'u')
  AND conrelid IN ('sessions'::regclass, 'events'::regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = k.conindid)
ORDER BY conrelid = 'events'::regclass, conname
"""

# Enabled user triggers (``setup --notify``'s, a server's own): a superuser's replica role
# skips them; anyone else disables them for the load (a NOTIFY per row would pile up in one
# transaction) and enables them again before the commit.
_USER_TRIGGERS_SQL = """
SELECT tgrelid::regclass::text, quote_ident(tgname)
FROM pg_trigger
WHERE tgrelid IN ('sessions'::regclass, 'events'::regclass)
  AND NOT tgisinternal AND tgenabled = 'O'
ORDER BY tgname
"""

_FOREIGN_KEYS_SQL = """
SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid)
FROM pg_constraint
WHERE contype = 'f'
  AND (conrelid IN ('sessions'::regclass, 'events'::regclass)
       OR confrelid IN ('sessions'::regclass, 'events'::regclass))
ORDER BY conname
"""


async def _prepare(conn: asyncpg.Connection) -> _Saved | None:
    """Inside the open transaction: None if the tables are not both empty."""
    await conn.execute("SET LOCAL synchronous_commit TO OFF")
    await conn.execute(f"SET LOCAL maintenance_work_mem TO '{MAINTENANCE_WORK_MEM}'")
    await conn.execute("LOCK TABLE sessions, events IN ACCESS EXCLUSIVE MODE")
    empty = await conn.fetchval(
        "SELECT NOT EXISTS (SELECT 1 FROM sessions) AND NOT EXISTS (SELECT 1 FROM events)"
    )
    if not empty:
        return None
    index_defs = [r[0] for r in await conn.fetch(_SECONDARY_INDEXES_SQL)]
    index_names = [r[0] for r in await conn.fetch(_INDEX_NAMES_SQL)]
    foreign_keys = [tuple(r) for r in await conn.fetch(_FOREIGN_KEYS_SQL)]
    keys = [tuple(r) for r in await conn.fetch(_KEYS_SQL)]
    skip_triggers = await conn.fetchval("SELECT current_setting('is_superuser') = 'on'")
    # Empty already: TRUNCATE only gives the tables new files, so that COPY may freeze rows.
    await conn.execute("TRUNCATE sessions, events")
    if skip_triggers:
        await conn.execute("SET LOCAL session_replication_role = replica")
        triggers: list[tuple[str, str]] = []
    else:
        for table, name, _definition in foreign_keys:
            await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        triggers = [tuple(r) for r in await conn.fetch(_USER_TRIGGERS_SQL)]
        for table, name in triggers:
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {name}")
    if index_names:
        await conn.execute(f"DROP INDEX {', '.join(index_names)}")
    for table, name, _definition in keys:
        await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    return _Saved(
        index_defs, keys, [] if skip_triggers else foreign_keys, triggers, bool(skip_triggers)
    )


async def _restore(conn: asyncpg.Connection, saved: _Saved) -> None:
    if saved.skip_triggers:
        await conn.execute("SET LOCAL session_replication_role = origin")
    for table, name, definition in saved.keys:
        await conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for definition in saved.index_defs:
        await conn.execute(definition)
    for table, name, definition in saved.foreign_keys:
        await conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for table, name in saved.triggers:
        await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {name}")


async def _copy(conn: asyncpg.Connection, table: str, columns: tuple[str, ...], data: Any) -> None:
    if isinstance(data, bytes | bytearray | memoryview):
        if not data:
            return

        async def source() -> AsyncIterator[bytes]:
            yield bytes(data)

        await conn.copy_to_table(
            table, source=source(), columns=list(columns), format="text", freeze=True
        )
    elif data:
        await conn.copy_records_to_table(table, records=data, columns=list(columns))


async def load_into_empty(
    conn: asyncpg.Connection,
    chunks: AsyncIterator[CopyChunk],
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int] | None:
    """Load ``chunks`` into empty ``sessions`` and ``events`` in one transaction.

    Returns (sessions, events) loaded, or None when the tables are not both empty or this
    user may not drop and create their indexes: then nothing was changed and no chunk was
    read. ``conn`` must not be in a transaction.
    """
    import asyncpg

    from mcpstore_cli.backends.postgres.layout import copy_columns

    tx = conn.transaction()
    await tx.start()
    try:
        try:
            saved = await _prepare(conn)
        except asyncpg.PostgresError:
            saved = None  # no rights to alter the tables (or they are referenced elsewhere)
        if saved is None:
            await tx.rollback()
            return None
        n_sessions = n_events = 0
        async for chunk in chunks:
            await _copy(conn, "sessions", copy_columns("sessions"), chunk.sessions)
            await _copy(conn, "events", copy_columns("events"), chunk.events)
            n_sessions += chunk.n_sessions
            n_events += chunk.n_events
            if progress is not None:
                progress(chunk.n_sessions + chunk.n_events)
        await _restore(conn, saved)
    except BaseException:
        with contextlib.suppress(Exception):
            await tx.rollback()
        raise
    await tx.commit()
    return n_sessions, n_events


async def demo_into_empty(
    store: PostgresStore,
    batches: Any,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int] | None:
    """``demo``'s load when the store is empty (None otherwise: nothing done, nothing read).

    Batches that carry their recipe (:class:`~mcpstore_cli.layouts.turul_sessions.demo.DemoBatches`)
    are generated and rendered in a child process; any other batches are rendered here.
    """
    from mcpstore_cli.errors import McpStoreError

    plan = getattr(batches, "plan", None)
    now = getattr(batches, "now", None)
    if plan is not None and now is not None:
        if plan.sessions == 0:
            return None  # nothing to load: not worth a lock and new indexes
        chunks = demo_chunks(plan, now)
    else:
        chunks = (copy_chunk(s, e) async for s, e in batches)
    try:
        conn = await store.raw_connect()
        try:
            return await load_into_empty(conn, chunks, progress)
        finally:
            await conn.close()
    except McpStoreError:
        raise
    except Exception as exc:
        raise store._wrap(exc) from exc
    finally:
        await chunks.aclose()


# -- demo rows from a child process --------------------------------------------------------
_HEADER = struct.Struct("<IIII")  # sessions, events, bytes of sessions, bytes of events
_PREFETCH = 2  # chunks read ahead of the COPY


async def demo_chunks(plan: DemoPlan, now: int) -> AsyncGenerator[CopyChunk, None]:
    """``generate(plan, now)`` rendered for COPY by a child process, chunk by chunk (the
    same rows, in the same order, as generating here)."""
    import mcpstore_cli

    package_root = os.path.dirname(os.path.dirname(os.path.abspath(mcpstore_cli.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcpstore_cli.backends.postgres.bulk",
        json.dumps({"plan": asdict(plan), "now": now}),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        limit=1 << 24,  # chunks are a few MB: read each without pausing the pipe
    )
    assert proc.stdout is not None and proc.stderr is not None
    queue: asyncio.Queue[CopyChunk | BaseException | None] = asyncio.Queue(_PREFETCH)

    async def read() -> None:
        assert proc.stdout is not None
        try:
            while True:
                head = await proc.stdout.read(_HEADER.size)
                if not head:
                    break
                if len(head) < _HEADER.size:
                    head += await proc.stdout.readexactly(_HEADER.size - len(head))
                n_s, n_e, len_s, len_e = _HEADER.unpack(head)
                sessions = await proc.stdout.readexactly(len_s)
                events = await proc.stdout.readexactly(len_e)
                await queue.put(CopyChunk(sessions, events, n_s, n_e))
            await queue.put(None)
        except BaseException as exc:  # handed to the consumer
            await queue.put(exc)

    from mcpstore_cli.errors import McpStoreError

    reader = asyncio.create_task(read())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
        code = await proc.wait()
        if code != 0:
            err = (await proc.stderr.read()).decode(errors="replace").strip()
            last = err.splitlines()[-1] if err else f"exit status {code}"
            raise McpStoreError(f"The demo row generator (a child process) failed: {last}.")
    finally:
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def _worker(spec: str) -> None:
    from mcpstore_cli.layouts.turul_sessions.demo import generate
    from mcpstore_cli.model.demo import DemoPlan

    args = json.loads(spec)
    plan = DemoPlan(**args["plan"])
    out = sys.stdout.buffer
    by_id = operator.attrgetter("session_id")
    for sessions, events in generate(plan, int(args["now"])):
        # In key order (stable: each session's events keep their time order, hence their
        # ids'): rows lie in the order of the session-id indexes, which then build from
        # presorted input.
        sessions.sort(key=by_id)
        events.sort(key=by_id)
        s = session_copy_text(sessions)
        e = event_copy_text(events)
        out.write(_HEADER.pack(len(sessions), len(events), len(s), len(e)))
        out.write(s)
        out.write(e)
    out.flush()


if __name__ == "__main__":
    import signal

    # Ctrl-C on a terminal reaches the whole process group: the loader (the parent) handles
    # it, rolls back and ends this child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _worker(sys.argv[1])
    except BrokenPipeError:  # the loader went away
        with contextlib.suppress(Exception):
            sys.stdout = None  # type: ignore[assignment]
        os._exit(1)
