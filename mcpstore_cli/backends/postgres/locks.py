"""Lock waits on PostgreSQL, made visible: one watcher per store.

Every connection the store opens is a :class:`WatchedConnection`, which marks itself busy
while a statement of its own runs (SQLAlchemy's statements are marked by engine events, see
:meth:`LockWatch.attach_engine`). When a statement has been busy for a while, the watcher asks
the server, on a separate connection of its own (so the waiting one is left alone), whether
that backend waits for a lock: ``pg_stat_activity`` first (cheap), ``pg_locks`` and
``pg_blocking_pids()`` only when it does. A wait longer than :data:`NOTE_AFTER` seconds is
said once per locked object through the store's ``notice``; what was seen last names the lock
in the error that ``--lock-timeout`` ends in (SQLSTATE 55P03 says nothing about it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from mcpstore_cli.backends.postgres.link import PgLink

NOTE_AFTER = 1.0  # seconds of waiting before the operator hears about it
POLL = 1.0  # seconds between looks while a statement stays busy
PROBE_IDLE = 5.0  # seconds the look-out connection stays open once nothing is busy

_WAITING_SQL = """
SELECT pid FROM pg_stat_activity WHERE pid = ANY($1::int[]) AND wait_event_type = 'Lock'
"""

# The lock each waiting backend asked for, what it is on, and who holds it (the backends
# pg_blocking_pids() names that hold a granted lock on the same object, with their modes).
_LOCKS_SQL = """
SELECT w.pid, w.locktype, w.mode,
       CASE WHEN w.relation IS NOT NULL THEN w.relation::regclass::text END,
       (SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'i' THEN 'index'
               WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
               ELSE 'relation' END
        FROM pg_class c WHERE c.oid = w.relation),
       w.transactionid::text,
       w.objid,
       pg_blocking_pids(w.pid),
       ARRAY(SELECT h.pid || ' ' || h.mode FROM pg_locks h
             WHERE h.granted AND h.pid = ANY(pg_blocking_pids(w.pid))
               AND h.locktype = w.locktype
               AND h.database IS NOT DISTINCT FROM w.database
               AND h.relation IS NOT DISTINCT FROM w.relation
               AND h.page IS NOT DISTINCT FROM w.page
               AND h.tuple IS NOT DISTINCT FROM w.tuple
               AND h.virtualxid IS NOT DISTINCT FROM w.virtualxid
               AND h.transactionid IS NOT DISTINCT FROM w.transactionid
               AND h.classid IS NOT DISTINCT FROM w.classid
               AND h.objid IS NOT DISTINCT FROM w.objid
               AND h.objsubid IS NOT DISTINCT FROM w.objsubid
             ORDER BY h.pid)
FROM pg_locks w
WHERE w.pid = ANY($1::int[]) AND NOT w.granted
"""


@dataclass(frozen=True)
class LockWait:
    """One backend of ours waiting for a lock, as the server described it."""

    pid: int
    what: str  # "table sessions", "a row of table sessions", "another transaction's end"
    mode: str  # the mode this command asked for
    holders: tuple[tuple[int, str], ...]  # (pid, mode) of the backends holding it
    blockers: tuple[int, ...]  # every backend pg_blocking_pids() names

    @property
    def held_by(self) -> str:
        """`` held by backend pid 1234`` (or the queue ahead), or nothing when unknown."""
        pids = [pid for pid, _mode in self.holders] or list(self.blockers)
        if not pids:
            return ""
        word = "pid" if len(pids) == 1 else "pids"
        return f" held by backend {word} {', '.join(str(p) for p in pids)}"

    def note(self) -> str:
        if self.holders:
            holders = ", ".join(f"backend pid {pid} holds {mode}" for pid, mode in self.holders)
        elif self.blockers:
            queue = ", ".join(str(p) for p in self.blockers)
            holders = f"backend pids {queue} are ahead in the queue"
        else:
            holders = "another client holds it"
        return (
            f"waiting for a lock on {self.what} ({holders}; this command needs {self.mode}); "
            "it goes on when the lock is released (Ctrl-C stops it, --lock-timeout bounds it)."
        )


def describe(locktype: str, relation: str | None, kind: str | None, xid: str | None) -> str:
    """What a lock is on, in words."""
    table = f"{kind or 'relation'} {relation}" if relation else None
    if locktype == "relation" and table:
        return table
    if locktype == "tuple" and table:
        return f"a row of {table}"
    if locktype in ("page", "extend") and table:
        return f"{table} ({locktype})"
    if locktype == "transactionid":
        return (
            f"rows that transaction {xid} is changing" if xid else "rows another transaction holds"
        )
    if locktype == "virtualxid":
        return "the end of another transaction"
    if locktype == "advisory":
        return "an advisory lock"
    return f"a {locktype} lock"


class LockWatch:
    """The store's watcher: which connections are busy since when, and what they wait for."""

    def __init__(self, store: PgLink) -> None:
        self.store = store
        self._busy: dict[int, list[Any]] = {}  # id(conn) -> [conn, since, depth]
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._probe: asyncpg.Connection | None = None
        self._broken = False
        self._said: set[str] = set()
        self.last: LockWait | None = None

    @property
    def first_look(self) -> float:
        """Seconds a statement runs before the first look: early enough to have seen the
        lock before a short --lock-timeout ends the wait."""
        limit = self.store.options.lock_timeout_ms
        if limit:
            return min(NOTE_AFTER, max(0.05, limit / 2000))
        return NOTE_AFTER

    # -- marking ---------------------------------------------------------------------------
    def begin(self, conn: Any) -> None:
        entry = self._busy.get(id(conn))
        if entry is None:
            self._busy[id(conn)] = [conn, time.monotonic(), 1]
        else:
            entry[2] += 1
        self._start()

    def end(self, conn: Any) -> None:
        entry = self._busy.get(id(conn))
        if entry is None:
            return
        entry[2] -= 1
        if entry[2] <= 0:
            del self._busy[id(conn)]

    @contextlib.contextmanager
    def busy(self, conn: Any) -> Iterator[None]:
        self.begin(conn)
        try:
            yield
        finally:
            self.end(conn)

    def attach_engine(self, engine: AsyncEngine) -> None:
        """Mark every statement SQLAlchemy runs on the engine's connections."""
        from sqlalchemy import event

        def driver(conn: Any) -> Any:
            with contextlib.suppress(Exception):
                return conn.connection.driver_connection
            return None

        def before(conn: Any, *_args: Any) -> None:
            raw = driver(conn)
            if raw is not None:
                self.begin(raw)

        def after(conn: Any, *_args: Any) -> None:
            raw = driver(conn)
            if raw is not None:
                self.end(raw)

        def failed(context: Any) -> None:
            conn = getattr(context, "connection", None)
            raw = driver(conn) if conn is not None else None
            if raw is not None:
                self.end(raw)

        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", before)
        event.listen(sync, "after_cursor_execute", after)
        event.listen(sync, "handle_error", failed)

    # -- watching --------------------------------------------------------------------------
    def _start(self) -> None:
        if self._broken:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._task is None or self._task.done() or self._loop is not loop:
            self._loop = loop
            self._probe = None  # a probe of another event loop cannot be used here
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run(), name="mcpstore-lock-watch")
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            for key, entry in list(self._busy.items()):
                if entry[0].is_closed():  # a statement that never said it ended
                    del self._busy[key]
            if not self._busy:
                self._wake.clear()
                if self._probe is not None:
                    # The look-out connection goes when the store has been quiet a while.
                    try:
                        await asyncio.wait_for(self._wake.wait(), PROBE_IDLE)
                    except TimeoutError:
                        await self._close_probe()
                    continue
                await self._wake.wait()
                continue
            now = time.monotonic()
            due = min(entry[1] for entry in self._busy.values()) + self.first_look
            if now < due:
                await asyncio.sleep(due - now)
                continue
            started = {id(e[0]): e[1] for e in self._busy.values() if now - e[1] >= self.first_look}
            pids = [e[0].get_server_pid() for e in self._busy.values() if id(e[0]) in started]
            try:
                waits = await self._look(pids)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Watching is a courtesy: a server that refuses the extra connection (no
                # free slots, no privilege) leaves the command to wait as before.
                self._broken = True
                await self._close_probe()
                return
            by_pid = {e[0].get_server_pid(): e[1] for e in self._busy.values()}
            for wait in waits:
                self.last = wait
                since = by_pid.get(wait.pid)
                if since is None or time.monotonic() - since < NOTE_AFTER:
                    continue
                if wait.what not in self._said:
                    self._said.add(wait.what)
                    self._say(wait.note())
            await asyncio.sleep(min(POLL, self.first_look))

    async def _look(self, pids: list[int]) -> list[LockWait]:
        if not pids:
            return []
        if self._probe is None or self._probe.is_closed():
            self._probe = await self.store.raw_connect(watched=False)
        waiting = [r[0] for r in await self._probe.fetch(_WAITING_SQL, pids)]
        if not waiting:
            return []
        out = []
        for row in await self._probe.fetch(_LOCKS_SQL, waiting):
            pid, locktype, mode, relation, kind, xid, _objid, blockers, holders = row
            held = []
            for item in holders or []:
                holder_pid, _, holder_mode = str(item).partition(" ")
                held.append((int(holder_pid), holder_mode))
            out.append(
                LockWait(
                    pid=int(pid),
                    what=describe(locktype, relation, kind, xid),
                    mode=str(mode),
                    holders=tuple(held),
                    blockers=tuple(int(b) for b in blockers or []),
                )
            )
        return out

    def _say(self, text: str) -> None:
        notice: Callable[[str], None] | None = self.store.options.notice
        if notice is not None:
            with contextlib.suppress(Exception):
                notice(text)

    async def _close_probe(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            with contextlib.suppress(Exception):
                await probe.close(timeout=2)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await self._close_probe()


class WatchedConnection(asyncpg.Connection):
    """An asyncpg connection that tells its store's :class:`LockWatch` while it works."""

    _lock_watch: LockWatch | None = None

    @contextlib.contextmanager
    def _watched(self) -> Iterator[None]:
        watch = self._lock_watch
        if watch is None:
            yield
            return
        with watch.busy(self):
            yield

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        with self._watched():
            return await super().execute(*args, **kwargs)

    async def executemany(self, *args: Any, **kwargs: Any) -> Any:
        with self._watched():
            return await super().executemany(*args, **kwargs)

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        with self._watched():
            return await super().fetch(*args, **kwargs)

    async def fetchval(self, *args: Any, **kwargs: Any) -> Any:
        with self._watched():
            return await super().fetchval(*args, **kwargs)

    async def fetchrow(self, *args: Any, **kwargs: Any) -> Any:
        with self._watched():
            return await super().fetchrow(*args, **kwargs)

    async def copy_records_to_table(self, *args: Any, **kwargs: Any) -> Any:
        with self._watched():
            return await super().copy_records_to_table(*args, **kwargs)

    async def copy_to_table(self, *args: Any, **kwargs: Any) -> Any:
        with self._watched():
            return await super().copy_to_table(*args, **kwargs)

    async def copy_from_table(self, *args: Any, **kwargs: Any) -> Any:
        with self._watched():
            return await super().copy_from_table(*args, **kwargs)

    async def copy_from_query(self, *args: Any, **kwargs: Any) -> Any:
        with self._watched():
            return await super().copy_from_query(*args, **kwargs)
