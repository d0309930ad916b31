"""``tail-events`` on PostgreSQL: LISTEN for the ``setup --notify`` trigger, else polling.

``setup --notify`` installs the function ``mcpstore_notify_event()`` and the trigger
``mcpstore_events_notify`` (AFTER INSERT ON events FOR EACH ROW), which notifies channel
``mcpstore_events`` with the new row's id and session id. PostgreSQL delivers a notification
when the inserting transaction commits, so a follower that LISTENs queries ``events`` right
after each commit. Without the trigger (or where LISTEN is impossible, e.g. on a standby) the
follower polls every :data:`POLL_INTERVAL` and says so once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import asyncpg

from mcpstore_cli.backends.sql.tail import IdSource, Row
from mcpstore_cli.errors import McpStoreError
from mcpstore_cli.store.follow import TailRequest, Warn

if TYPE_CHECKING:
    from mcpstore_cli.backends.postgres.store import PostgresStore

CHANNEL = "mcpstore_events"
FUNCTION = "mcpstore_notify_event"
TRIGGER = "mcpstore_events_notify"
POLL_INTERVAL = 0.25  # seconds between queries without the trigger
GAP_GRACE = 30.0  # seconds an id skipped over is watched for a late commit

FUNCTION_DDL = f"""CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $mcpstore$
BEGIN
    -- mcpstore tail-events: tell listeners which event was stored (delivered at commit)
    PERFORM pg_notify('{CHANNEL}',
        json_build_object('id', NEW.id, 'session_id', NEW.session_id)::text);
    RETURN NULL;
END
$mcpstore$"""

TRIGGER_DDL = (
    f"CREATE TRIGGER {TRIGGER} AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
)

# The trigger as it is: (enabled flag, function name, AFTER INSERT FOR EACH ROW?).
TRIGGER_SQL = f"""
SELECT t.tgenabled::text, p.proname::text,
       (t.tgtype::int & 1) = 1 AND (t.tgtype::int & 2) = 0 AND (t.tgtype::int & 4) = 4
         AND (t.tgtype::int & 64) = 0
FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
WHERE t.tgrelid = to_regclass('events') AND t.tgname = '{TRIGGER}' AND NOT t.tgisinternal
"""
FUNCTION_SQL = f"SELECT count(*) FROM pg_proc WHERE proname = '{FUNCTION}'"

_COLUMNS = "id, session_id, timestamp, event_type, data::text, retry"
_MINE = (
    "id, session_id, timestamp, event_type, CASE WHEN session_id = $4 THEN data::text END, retry"
)


def notify_ddl() -> list[str]:
    """What ``setup --notify`` runs (for ``--dry-run``)."""
    return [FUNCTION_DDL, f"DROP TRIGGER IF EXISTS {TRIGGER} ON events", TRIGGER_DDL]


def trigger_state(row: Any) -> str:
    """``ok``, ``missing``, ``disabled`` or ``different`` for a TRIGGER_SQL row (or None)."""
    if row is None:
        return "missing"
    enabled, function, shape = row[0], row[1], row[2]
    if function != FUNCTION or not shape:
        return "different"
    if enabled == "D":
        return "disabled"
    return "ok"


async def install_notify(conn: asyncpg.Connection) -> str:
    """Create or repair the function and trigger; returns created / exists / repaired."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(7367200202)  -- mcpstore setup --notify")
        state = trigger_state(await conn.fetchrow(TRIGGER_SQL))
        had_function = bool(await conn.fetchval(FUNCTION_SQL))
        await conn.execute(FUNCTION_DDL)
        if state == "ok":
            return "exists" if had_function else "created"
        if state != "missing":
            await conn.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON events")
        await conn.execute(TRIGGER_DDL)
        return "created" if state == "missing" else "repaired"


class PgIdSource(IdSource):
    gap_grace = GAP_GRACE

    def __init__(self, store: PostgresStore, warn: Warn | None) -> None:
        self.store = store
        self.warn = warn
        self.what = f"PostgreSQL at {store.target.where}"
        self.conn: asyncpg.Connection | None = None
        self.wake = asyncio.Event()
        self.listening = False
        self.warned = False
        self.safety_poll = POLL_INTERVAL
        self.opened = False

    async def open(self) -> None:
        try:
            conn = await self.store.raw_connect()
        except McpStoreError:
            raise
        except Exception as exc:
            if not self.opened or not self.is_transient(exc):
                raise self.store._wrap(exc) from exc  # say what is wrong, and stop
            raise
        self.conn = conn
        self.opened = True
        conn.add_termination_listener(self._terminated)
        state = trigger_state(await conn.fetchrow(TRIGGER_SQL))
        problem = None
        if state == "ok":
            try:
                await conn.add_listener(CHANNEL, self._notified)
            except asyncpg.PostgresError as exc:
                problem = f"LISTEN is not possible there ({exc})"
        else:
            problem = {
                "missing": f"the events table has no {TRIGGER} trigger",
                "disabled": f"the {TRIGGER} trigger is disabled",
                "different": f"the {TRIGGER} trigger is not the one setup --notify installs",
            }[state]
        self.listening = problem is None
        self.safety_poll = 5.0 if self.listening else POLL_INTERVAL
        if problem and not self.warned and self.warn is not None:
            self.warned = True
            self.warn(
                f"{problem}; polling every {POLL_INTERVAL:g} s instead "
                "(mcpstore setup --notify installs it for push)."
            )
        self.wake.set()  # query at once after (re)connecting

    def _notified(self, _conn: Any, _pid: int, _channel: str, _payload: str) -> None:
        self.wake.set()

    def _terminated(self, _conn: Any) -> None:
        self.wake.set()

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)
            if not conn.is_closed():
                conn.terminate()

    def _live(self) -> asyncpg.Connection:
        conn = self.conn
        if conn is None or conn.is_closed():
            raise asyncpg.ConnectionDoesNotExistError("the connection is closed")
        return conn

    async def top_ids(self, window: int) -> list[int]:
        rows = await self._live().fetch(
            "SELECT id FROM events WHERE id > (SELECT coalesce(max(id), 0) FROM events) - $1 "
            "ORDER BY id",
            window,
        )
        return [int(r[0]) for r in rows]

    async def history(self, request: TailRequest, after: int, upto: int, limit: int) -> list[Row]:
        where = ["id > $1", "id <= $2"]
        args: list[Any] = [after, upto, limit]
        if request.session_id is not None:
            args.append(request.session_id)
            where.append(f"session_id = ${len(args)}")
        if request.since_ms is not None:
            args.append(request.since_ms)
            where.append(f'"timestamp" >= ${len(args)}')
        sql = f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY id LIMIT $3"
        return list(await self._live().fetch(sql, *args))

    async def fetch(
        self, last: int, gaps: list[int], session_id: str | None, limit: int
    ) -> list[Row]:
        self.wake.clear()  # a commit during the query wakes the next wait()
        conn = self._live()
        # Every session's ids (to see holes and late commits); with a session followed, data
        # only for its rows. Two index scans: the watched gaps, and the next page by id (an
        # OR of both would read the whole backlog before its LIMIT after a long outage).
        cols = _COLUMNS if session_id is None else _MINE
        sql = (
            f"SELECT * FROM ((SELECT {cols} FROM events WHERE id = ANY($2::bigint[])) "
            f"UNION ALL (SELECT {cols} FROM events WHERE id > $1 ORDER BY id LIMIT $3)) AS t "
            "ORDER BY 1"
        )
        args: list[Any] = [last, gaps, limit]
        if session_id is not None:
            args.append(session_id)
        return list(await conn.fetch(sql, *args))

    async def wait(self, timeout: float) -> None:
        if self.listening:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)
        else:
            await asyncio.sleep(timeout)
        if self.conn is None or self.conn.is_closed():
            raise asyncpg.ConnectionDoesNotExistError("the connection was closed by the server")

    def translate(self, exc: BaseException) -> BaseException | None:
        return exc if isinstance(exc, McpStoreError) else self.store._wrap(exc)

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(
            exc,
            asyncpg.ConnectionDoesNotExistError
            | asyncpg.InterfaceError
            # a connection whose protocol broke under it (seen while a server restarts)
            | asyncpg.InternalClientError
            # 57xxx: shutting down, starting up, crashed
            | asyncpg.exceptions.OperatorInterventionError
            # 08xxx: connection failures
            | asyncpg.PostgresConnectionError
            | asyncpg.TooManyConnectionsError
            | OSError
            | TimeoutError
            | ConnectionError,
        ) or (isinstance(exc, McpStoreError) and "did not answer" in exc.message)
