"""SQLite's reading path on the standard library: the reads behind ``list``, ``show`` and
``stats`` run on a plain read-only ``sqlite3`` connection (``mode=ro``), with the statements
SQLAlchemy compiles kept as text in :mod:`mcpstore_cli.backends.sqlite.prepared`.

A page or a lookup is a fraction of a millisecond of SQLite work: less than a hop to
aiosqlite's thread would cost, and far less than loading SQLAlchemy. Nothing here imports
SQLAlchemy or asyncio; :class:`SqliteReading` is shared by
:class:`~mcpstore_cli.backends.sqlite.store.SqliteStore` and by the light read-only
:class:`~mcpstore_cli.backends.sqlite.reader.SqliteReader`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mcpstore_cli.backends.sql import rows
from mcpstore_cli.backends.sqlite import prepared
from mcpstore_cli.errors import (
    LayoutError,
    McpStoreError,
    StoreConnectionError,
    StoreMissingError,
    UsageError,
)
from mcpstore_cli.model.records import CorruptRow, Cursor, Event, Session, SessionFilter, Stats
from mcpstore_cli.model.surgery import ALL_CHANGES

if TYPE_CHECKING:
    from mcpstore_cli.model.ids import IdMatches, Note
    from mcpstore_cli.store.base import StoreOptions
    from mcpstore_cli.store.urls import StoreURL

# Columns a reader needs, as backends/sqlite/layout.py generates them from the layout's
# tables (REQUIRED there); kept here as names so that reading loads no SQLAlchemy.
# tests/test_prepared_sql.py checks that both agree.
REQUIRED: dict[str, frozenset[str]] = {
    "sessions": frozenset(
        {
            "session_id",
            "client_capabilities",
            "server_capabilities",
            "state",
            "created_at",
            "last_activity",
            "is_initialized",
            "metadata",
        }
    ),
    "events": frozenset({"id", "session_id", "timestamp", "event_type", "data", "retry"}),
}

# Pages up to this many rows are read here at once; larger ones and ``--limit 0`` stream.
PAGE_MAX = 1000


class SqliteReading:
    """The SQLite file, its read-only connection, the readiness check and the reads; and
    what SQLite stores are (name, layout, capabilities: see Store), for the store and the
    reader alike."""

    backend: ClassVar[str] = "sqlite"
    title: ClassVar[str] = "SQLite"
    layout: ClassVar[str] = "sessions"  # SQLite holds one layout
    clears_in_one_transaction: ClassVar[bool] = True
    restores_in_one_transaction: ClassVar[bool] = True
    native_backup_is_file: ClassVar[bool] = True
    bounded_top: ClassVar[bool] = True
    # terminate, delete, state and touch (the full store makes them; the reader is read-only)
    session_changes: ClassVar[frozenset[str]] = ALL_CHANGES
    url: StoreURL
    options: StoreOptions
    _reader: sqlite3.Connection | None = None
    _readable = False
    _wal_found: bool | None = None  # whether a -wal file was there when we came

    def label(self) -> str:
        return Path(self.url.path or "mcp_sessions.db").stem or "sqlite"

    def check_filter(self, flt: SessionFilter) -> None:
        from mcpstore_cli.store.base import Store

        Store.check_filter(self, flt)  # type: ignore[arg-type]

    @property
    def path(self) -> Path:
        assert self.url.path is not None
        return Path(self.url.path).expanduser()

    def own_files(self) -> list[Path]:
        from mcpstore_cli.util.outfile import store_files

        return store_files(self.path)

    def _require_file(self) -> None:
        path = self.path
        if path.is_dir():
            raise UsageError(f"{path} is a directory; name the database file inside it.")
        if not path.exists():
            raise StoreMissingError(
                f"No SQLite store at {path}; create it with mcpstore setup --url "
                f"{self.url.masked()}."
            )

    def _translate_error(self, exc: BaseException) -> McpStoreError | None:
        text = str(getattr(exc, "orig", None) or exc)
        where = self.path
        if "file is not a database" in text or "file is encrypted" in text:
            return StoreConnectionError(f"{where} is not a SQLite database.")
        if "unable to open database file" in text:
            return StoreConnectionError(f"Cannot open {where}: check the path and its permissions.")
        if "database is locked" in text:
            return StoreConnectionError(
                f"{where} is locked by another writer; try again, or raise --connect-timeout."
            )
        if "readonly database" in text or "read-only" in text:
            return StoreConnectionError(f"{where} is read-only for this user.")
        if "no such table" in text:
            return StoreMissingError(f"{where} lacks a table ({text}); run mcpstore setup.")
        if "malformed" in text:
            return StoreConnectionError(f"{where} is damaged ({text}); restore it from a backup.")
        if self._is_driver_error(exc):
            return StoreConnectionError(f"SQLite error on {where}: {text}.")
        return None

    def _is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.Error)

    # -- the reading connection -------------------------------------------------------
    def _reader_conn(self) -> sqlite3.Connection:
        if self._reader is None:
            self._require_file()
            self._note_wal()
            try:
                conn = sqlite3.connect(
                    f"file:{self.path.absolute()}?mode=ro",
                    uri=True,
                    timeout=self.options.connect_timeout,
                    check_same_thread=False,
                )
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                raise self._translate_error(exc) or exc from exc
            self._reader = conn
        return self._reader

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts by column name."""
        conn = self._reader_conn()
        try:
            cur = conn.execute(sql, args)
            names = [d[0] for d in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        except sqlite3.Error as exc:
            raise self._translate_error(exc) or exc from exc

    def _read_tuples(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        conn = self._reader_conn()
        try:
            return conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise self._translate_error(exc) or exc from exc

    def _note_wal(self) -> None:
        if self._wal_found is None:
            self._wal_found = Path(f"{self.path}-wal").exists()

    def _close_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    def _leave_as_found(self) -> None:
        """At close, once every connection is closed."""
        if self._wal_found is False:
            self._tidy_wal()
        self._wal_found = None

    def _tidy_wal(self) -> None:
        """Leave the directory as we found it: a read-only connection to a database in WAL
        mode creates its -wal and -shm files and cannot remove them. When they were not there
        before, a last read through a writable connection lets SQLite itself check that no one
        else has the database open, checkpoint and remove them (as any last connection does);
        when someone else does, they stay theirs."""
        wal = Path(f"{self.path}-wal")
        if not wal.exists() or not self.path.exists():
            return
        with contextlib.suppress(sqlite3.Error, OSError):
            conn = sqlite3.connect(str(self.path.absolute()), timeout=1.0)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
            finally:
                conn.close()

    async def ensure_readable(self) -> None:
        if self._readable:
            return
        objects = {r["name"]: r["type"] for r in self._read("SELECT name, type FROM sqlite_master")}
        for table in ("sessions", "events"):
            if objects.get(table) != "table":
                raise StoreMissingError(
                    f"{self.path} has no {table} table; run mcpstore setup --url "
                    f"{self.url.masked()}."
                )
            have = {r["name"] for r in self._read(f"PRAGMA table_info({table})")}
            missing = sorted(REQUIRED[table] - have)
            if missing:
                raise LayoutError(
                    f"{self.path} is in another layout: table {table} has no column "
                    f"{missing[0]}; see mcpstore setup --check."
                )
        self._readable = True

    # -- reading ------------------------------------------------------------------------
    def _stream_sessions(
        self, flt: SessionFilter, *, limit: int | None, cursor: Cursor | None
    ) -> AsyncGenerator[Session | CorruptRow, None]:
        """Every matching session, or pages too big to read at once, streamed."""
        raise NotImplementedError

    async def iter_sessions(
        self, flt: SessionFilter, *, limit: int | None, cursor: Cursor | None = None
    ) -> AsyncGenerator[Session | CorruptRow, None]:
        self.check_filter(flt)
        if limit is None or limit > PAGE_MAX:
            streamed = self._stream_sessions(flt, limit=limit, cursor=cursor)
            async with contextlib.aclosing(streamed):
                async for item in streamed:
                    yield item
            return
        await self.ensure_readable()
        sql, args = prepared.page_query(flt, limit, cursor)
        for row in self._read(sql, args):
            yield rows.decode_session(row)

    async def get_session(self, session_id: str) -> Session | CorruptRow | None:
        await self.ensure_readable()
        found = self._read(*prepared.session_query(session_id))
        return rows.decode_session(found[0]) if found else None

    async def existing_session_ids(self, ids: Sequence[str]) -> list[str]:
        await self.ensure_readable()
        ids = list(ids)
        stored = {row[0] for row in self._read_tuples(*prepared.existing_ids_query(ids))}
        return [sid for sid in ids if sid in stored]

    async def match_session_ids(
        self, prefixes: Sequence[str], *, limit: int, note: Note | None = None
    ) -> IdMatches:
        from mcpstore_cli.model.ids import COUNT_CAP, IdMatches, merge

        await self.ensure_readable()
        found: list[IdMatches] = []
        for prefix in prefixes:
            first, counted = prepared.prefix_queries(prefix, limit)
            ids = [row[0] for row in self._read_tuples(*first)]
            total = len(ids)
            if total >= limit:  # several: how many
                total = int(self._read_tuples(*counted)[0][0])
            capped = total > COUNT_CAP
            found.append(IdMatches(ids, min(total, COUNT_CAP), capped))
        return merge(found, limit)

    async def recent_events(self, session_id: str, limit: int) -> list[Event | CorruptRow]:
        await self.ensure_readable()
        newest_first = self._read(*prepared.recent_events_query(session_id, limit))
        return [rows.decode_event(row) for row in reversed(newest_first)]

    async def stats(self, *, now_ms: int, timeout_ms: int, approximate: bool = False) -> Stats:
        await self.ensure_readable()
        sessions, distribution = prepared.stats_queries(now_ms, timeout_ms)
        agg = self._read(*sessions)[0]
        dist_rows = self._read_tuples(*distribution)
        facts = self._file_facts(self._reader_scalar)
        return rows.stats_from_rows(
            backend=self.backend,
            store=self.url.masked(),
            now_ms=now_ms,
            timeout_ms=timeout_ms,
            agg=agg,
            dist_rows=dist_rows,
            facts=facts,
        )

    async def metric_figures(
        self, *, now_ms: int, timeout_ms: int, stuck_after_ms: int = 3_600_000
    ) -> Any:
        """SqlStore.metric_figures' queries (prepared.metrics_queries), read here."""
        from mcpstore_cli.model.metrics import from_sessions_aggregate

        await self.ensure_readable()
        sessions, events = prepared.metrics_queries(now_ms, timeout_ms)
        agg = self._read(*sessions)[0]
        n_events = int(self._read_tuples(*events)[0][0])
        storage, _facts = self._file_facts(self._reader_scalar)
        return from_sessions_aggregate(
            agg, events=n_events, size=storage.get("total"), now_ms=now_ms
        )

    async def top_snapshot(self, *, now_ms: int, timeout_ms: int) -> Any:
        from mcpstore_cli.backends.sqlite import top

        await self.ensure_readable()
        return top.snapshot(self, now_ms=now_ms, timeout_ms=timeout_ms)

    def _reader_scalar(self, sql: str) -> Any:
        found = self._read_tuples(sql)
        return found[0][0] if found else None

    def _file_facts(self, scalar: Callable[[str], Any]) -> tuple[dict[str, int], dict[str, Any]]:
        """Storage sizes and facts of the file, read through ``scalar`` (one value of a
        statement) on whichever connection asks."""
        page_size = scalar("PRAGMA page_size") or 0
        page_count = scalar("PRAGMA page_count") or 0
        freelist = scalar("PRAGMA freelist_count") or 0
        journal = scalar("PRAGMA journal_mode")
        version = scalar("SELECT sqlite_version()")
        size = file_size(self.path)
        wal = file_size(Path(f"{self.path}-wal"))
        storage = {"database": size, "wal": wal, "total": size + wal}
        facts = {
            "file": str(self.path),
            "sqlite_version": version,
            "journal_mode": journal,
            "page_size": page_size,
            "pages": page_count,
            "free_pages": freelist,
        }
        return storage, facts


def file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
