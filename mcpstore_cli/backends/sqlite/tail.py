"""``tail-events`` on SQLite: cheap polling of ``PRAGMA data_version``.

``data_version`` changes when another connection commits to the file; reading it touches no
table (in WAL mode it reads the shared-memory index header), so an idle follower costs one
tiny call every :data:`POLL_INTERVAL` and queries ``events`` only after a commit.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mcpstore_cli.backends.sql.tail import IdSource, Row
from mcpstore_cli.store.follow import TailRequest

if TYPE_CHECKING:
    from mcpstore_cli.backends.sqlite.store import SqliteStore

POLL_INTERVAL = 0.05  # seconds between data_version reads

_COLUMNS = "id, session_id, timestamp, event_type, data, retry"


class SqliteIdSource(IdSource):
    gap_grace = 0.0  # one writer at a time: ids commit in order
    safety_poll = 5.0

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.what = f"SQLite file {store.path}"
        self.conn: sqlite3.Connection | None = None
        self.version: int | None = None

    async def open(self) -> None:
        self.store._require_file()
        try:
            conn = sqlite3.connect(
                f"file:{self.store.path.absolute()}?mode=ro",
                uri=True,
                timeout=self.store.options.connect_timeout,
                check_same_thread=False,
                isolation_level=None,
            )
        except sqlite3.Error as exc:
            raise self.store._translate_error(exc) or exc from exc
        self.conn = conn
        self.version = self._data_version()

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()

    def _data_version(self) -> int:
        assert self.conn is not None
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def _rows(self, sql: str, args: Sequence[Any]) -> list[Row]:
        assert self.conn is not None
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            if self.is_transient(exc):
                raise
            raise self.store._translate_error(exc) or exc from exc

    async def top_ids(self, window: int) -> list[int]:
        rows = self._rows(
            "SELECT id FROM events WHERE id > (SELECT coalesce(max(id), 0) FROM events) - ? "
            "ORDER BY id",
            (window,),
        )
        return [int(r[0]) for r in rows]

    async def history(self, request: TailRequest, after: int, upto: int, limit: int) -> list[Row]:
        where = ["id > ?", "id <= ?"]
        args: list[Any] = [after, upto]
        if request.session_id is not None:
            where.append("session_id = ?")
            args.append(request.session_id)
        if request.since_ms is not None:
            where.append("timestamp >= ?")
            args.append(request.since_ms)
        args.append(limit)
        return self._rows(
            f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
            args,
        )

    async def fetch(
        self, last: int, gaps: list[int], session_id: str | None, limit: int
    ) -> list[Row]:
        # The version before the query: a commit during it is seen by the next wait().
        self.version = self._data_version()
        if session_id is None:
            return self._rows(
                f"SELECT {_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?", (last, limit)
            )
        # One session's rows through its (session_id, id) index; the position advances over
        # what they show (other sessions' ids need not be seen: SQLite has no late commits).
        return self._rows(
            f"SELECT {_COLUMNS} FROM events WHERE session_id = ? AND id > ? ORDER BY id LIMIT ?",
            (session_id, last, limit),
        )

    async def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_INTERVAL)
            if self._data_version() != self.version:
                return

    def translate(self, exc: BaseException) -> BaseException | None:
        return self.store._translate_error(exc)

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()
