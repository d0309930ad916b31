"""A SQLite store opened read-only, light to start: what ``list``, ``show`` and ``stats`` ask
(a page of sessions, an id, a session with its last events, the stats) it reads itself on the
standard library (:class:`~mcpstore_cli.backends.sqlite.reading.SqliteReading`), so those
commands load neither SQLAlchemy nor aiosqlite.

Anything else (``list --limit 0`` streaming, ``tail-events``, backups, dry runs and every
attribute of the full store) goes to a :class:`~mcpstore_cli.backends.sqlite.store.SqliteStore`
made on first need with the same URL and options; the reading connection and what the reader
noted about the file (its -wal file, its layout check) pass to it, and from then on every call
does, so the store behaves as one object.

The registry opens this class for read-only SQLite opens (``store.registry.READERS``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from mcpstore_cli.backends.sqlite.reading import SqliteReading
from mcpstore_cli.model.records import CorruptRow, Cursor, Event, Session, SessionFilter, Stats
from mcpstore_cli.store.base import Store, StoreOptions
from mcpstore_cli.util import interrupt

if TYPE_CHECKING:
    from mcpstore_cli.backends.sqlite.store import SqliteStore
    from mcpstore_cli.model.ids import IdMatches, Note
    from mcpstore_cli.store.urls import StoreURL


class SqliteReader(SqliteReading):
    backend: ClassVar[str] = "sqlite"
    inline_reads: ClassVar[bool] = True  # see Store.inline_reads

    def __init__(self, url: StoreURL, options: StoreOptions | None = None) -> None:
        self.url = url
        self.options = options or StoreOptions()
        self._full: SqliteStore | None = None

    def full(self) -> SqliteStore:
        """The full store, made now if need be; it takes over the reading connection."""
        if self._full is None:
            if interrupt.running_inline():
                # Its work may need the event loop: ask for one first (need_loop()).
                raise RuntimeError("SqliteReader.full() in work started without a loop")
            from mcpstore_cli.backends.sqlite.store import SqliteStore

            full = SqliteStore(self.url, self.options)
            full._reader, full._readable, full._wal_found = (
                self._reader,
                self._readable,
                self._wal_found,
            )
            self._reader, self._readable, self._wal_found = None, False, None
            self._full = full
        return self._full

    def __getattr__(self, name: str) -> Any:
        # Only for what this class does not have: the full store's every other attribute.
        if name.startswith("__") or name == "_full":
            raise AttributeError(name)
        return getattr(self.full(), name)

    async def __aenter__(self) -> SqliteReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._full is not None:
            await self._full.close()
            return
        self._close_reader()
        self._leave_as_found()

    def tables(self) -> list[str]:
        return ["sessions", "events"]

    # -- reads served here until the full store exists ---------------------------------
    async def ensure_readable(self) -> None:
        if self._full is not None:
            return await self._full.ensure_readable()
        return await super().ensure_readable()

    async def _stream_sessions(
        self, flt: SessionFilter, *, limit: int | None, cursor: Cursor | None
    ) -> AsyncGenerator[Session | CorruptRow, None]:
        await interrupt.need_loop()  # streamed by the full store, through aiosqlite
        rows = self.full().iter_sessions(flt, limit=limit, cursor=cursor)
        async with contextlib.aclosing(rows):
            async for item in rows:
                yield item

    def iter_sessions(
        self, flt: SessionFilter, *, limit: int | None, cursor: Cursor | None = None
    ) -> AsyncGenerator[Session | CorruptRow, None]:
        if self._full is not None:
            return self._full.iter_sessions(flt, limit=limit, cursor=cursor)
        return super().iter_sessions(flt, limit=limit, cursor=cursor)

    async def get_session(self, session_id: str) -> Session | CorruptRow | None:
        if self._full is not None:
            return await self._full.get_session(session_id)
        return await super().get_session(session_id)

    async def existing_session_ids(self, ids: Sequence[str]) -> list[str]:
        if self._full is not None:
            return await self._full.existing_session_ids(ids)
        return await super().existing_session_ids(ids)

    async def match_session_ids(
        self, prefixes: Sequence[str], *, limit: int, note: Note | None = None
    ) -> IdMatches:
        if self._full is not None:
            return await self._full.match_session_ids(prefixes, limit=limit, note=note)
        return await super().match_session_ids(prefixes, limit=limit, note=note)

    async def recent_events(self, session_id: str, limit: int) -> list[Event | CorruptRow]:
        if self._full is not None:
            return await self._full.recent_events(session_id, limit)
        return await super().recent_events(session_id, limit)

    async def layout_stats(self, *, now_ms: int) -> dict[str, Any] | None:
        return None  # turul's sessions: stats() says it all

    async def stats(self, *, now_ms: int, timeout_ms: int, approximate: bool = False) -> Stats:
        if self._full is not None:
            return await self._full.stats(
                now_ms=now_ms, timeout_ms=timeout_ms, approximate=approximate
            )
        return await super().stats(now_ms=now_ms, timeout_ms=timeout_ms, approximate=approximate)


# Wherever a Store is expected (isinstance checks included), a reader is one; what a Store
# says it can do (its ClassVar flags) the reader says too, without making the full store:
# SqliteReading sets SQLite's own, the rest are Store's defaults (a test compares them all
# with SqliteStore's).
Store.register(SqliteReader)
for _name, _value in vars(Store).items():
    if (
        not _name.startswith("_")
        and not callable(_value)
        and not isinstance(_value, (property, classmethod, staticmethod))
        and not hasattr(SqliteReader, _name)
    ):
        setattr(SqliteReader, _name, _value)
