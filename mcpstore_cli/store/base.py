"""The one async store interface every backend implements, and the factory that opens one.

Backends live in :mod:`mcpstore_cli.backends`, one module each, imported only when a store of
that kind is opened (so the CLI starts without SQLAlchemy, drivers or boto3).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mcpstore_cli.errors import UsageError, not_supported
from mcpstore_cli.model.records import (
    CorruptRow,
    Cursor,
    Event,
    ExpireOptions,
    ExpireResult,
    Finding,
    Session,
    SessionFilter,
    SetupStep,
    Stats,
)
from mcpstore_cli.store.urls import StoreURL

if TYPE_CHECKING:
    from mcpstore_cli.model.backup import RestoreLimits
    from mcpstore_cli.model.ids import IdMatches, Note
    from mcpstore_cli.model.metrics import MetricSet
    from mcpstore_cli.model.surgery import SessionChange
    from mcpstore_cli.model.teardown import ClearResult, Inventory
    from mcpstore_cli.model.top import TopSnapshot
    from mcpstore_cli.store.follow import TailRequest, Warn

ProgressCallback = Callable[[int], None]


@dataclass(slots=True)
class StoreOptions:
    """Connection settings shared by the backends (each reads what applies to it)."""

    connect_timeout: float = 10.0
    read_only: bool = False
    segments: int | None = None
    # The command's environment (credentials, profiles); None means the process environment.
    environ: Mapping[str, str] | None = None
    # PostgreSQL: give up on a lock wait after this many milliseconds (None: wait, as psql).
    lock_timeout_ms: int | None = None
    # Where a backend says something the operator should know while it works (a lock wait).
    notice: Callable[[str], None] | None = None
    # A key-value layout's table on PostgreSQL (--table; None: the layout's default).
    table: str | None = None


class Store(abc.ABC):
    """An MCP session store in the turul layout.

    Use as ``async with open_store(url) as store: ...``. Reading methods never create
    anything: on a missing store they raise :class:`~mcpstore_cli.errors.StoreMissingError`.
    """

    backend: ClassVar[str]
    title: ClassVar[str]  # the backend's name in sentences: "PostgreSQL"
    # The layout this store reads and writes (a name in store.registry.LAYOUTS).
    layout: ClassVar[str] = "sessions"
    # Whether the reads of list, show and stats (iter_sessions, get_session,
    # existing_session_ids, match_session_ids, recent_events, stats, close) may start without
    # an event loop: they end without one, or await util.interrupt.need_loop() first.
    inline_reads: ClassVar[bool] = False
    # Columns per table that a store in this layout must have: how store.detect tells
    # layouts that share a table name apart (empty: the backend holds one layout).
    required_columns: ClassVar[Mapping[str, frozenset[str] | set[str]]] = {}
    # SessionFilter fields beyond the common ones that this layout's store applies.
    filter_fields: ClassVar[frozenset[str]] = frozenset()

    def check_filter(self, flt: SessionFilter) -> None:
        """A usage error for a filter that does not apply to this layout (never ignored)."""
        if flt.graph_id is not None and "graph_id" not in self.filter_fields:
            raise UsageError(
                f"--graph applies to layouts whose sessions run graphs (graphflow); "
                f"{self.url.masked()} is in the {self.layout} layout."
            )

    # What this kind of store can do, for callers (the CLI) that ask instead of comparing
    # backend names. Each backend class sets what it has.
    setup_options: ClassVar[frozenset[str]] = frozenset()  # keyword options setup() takes
    clears_in_one_transaction: ClassVar[bool] = False  # clear: all or nothing
    recreates_tables: ClassVar[bool] = False  # clear(recreate=True)
    has_streams: ClassVar[bool] = False  # change streams: disable_streams()
    scan_segments: ClassVar[bool] = False  # ExpireOptions.segment: N hosts share one pass
    event_ids_per_session: ClassVar[bool] = False  # event ids count per session, not store
    item_ttl: ClassVar[bool] = False  # sessions carry a ttl a restore may keep
    native_backup_is_file: ClassVar[bool] = False  # native_backup() writes a file
    native_backups_in_service: ClassVar[bool] = False  # kept by the service, by name
    restores_in_one_transaction: ClassVar[bool] = False  # Ctrl-C in restore: rolled back
    verifies_while_loading: ClassVar[bool] = False  # restore checks the file as it loads
    row_word: ClassVar[str] = "row"  # what one stored record is called: row, item
    holds_tasks: ClassVar[bool] = False  # a task layout (mcpstore tasks), not sessions
    # Sessions come in kinds (list marks each; show asks describe_session()): FastMCP's.
    session_kinds: ClassVar[bool] = False
    # expire removes entries past their own expiry (key-value layouts), not idle sessions.
    expires_entries: ClassVar[bool] = False
    # expire --jobs N: several connections delete at once.
    parallel_expire: ClassVar[bool] = False
    # --table names the store's table (a key-value layout on PostgreSQL).
    table_option: ClassVar[bool] = False
    # mcpstore demo can fill it (False: only the framework writes the layout).
    has_demo: ClassVar[bool] = True
    # What terminate, delete, state and touch can do to this layout's sessions (names in
    # model.surgery; empty: none of them applies).
    session_changes: ClassVar[frozenset[str]] = frozenset()
    # What a layout without sessions holds, counted in messages ("tasks", "entities"); None:
    # sessions and their events.
    records_noun: ClassVar[str | None] = None

    def __init__(self, url: StoreURL, options: StoreOptions | None = None) -> None:
        self.url = url
        self.options = options or StoreOptions()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def label(self) -> str:
        """A short name of the store for default file names (its file, database or table)."""
        return self.backend

    def own_files(self) -> list[Path]:
        """The files the store itself lives in (SQLite: the database, -wal, -shm, -journal),
        which no file mcpstore writes may replace; none for a server's store."""
        return []

    async def catalog_columns(self) -> dict[str, set[str]]:
        """The columns of the tables this backend's layouts use, as the store holds them
        (for telling layouts apart, see :mod:`mcpstore_cli.store.detect`)."""
        raise not_supported("detecting the layout", self.backend)

    @classmethod
    def holds(cls, columns: Mapping[str, set[str]]) -> bool:
        """Whether a store with these tables and columns is in this class's layout."""
        return bool(cls.required_columns) and all(
            table in columns and set(required) <= columns[table]
            for table, required in cls.required_columns.items()
        )

    # -- provisioning -------------------------------------------------------------------
    @abc.abstractmethod
    def setup_plan(self, **options: Any) -> list[str]:
        """The DDL statements or API calls ``setup`` runs, for ``--dry-run``."""

    @abc.abstractmethod
    async def setup(self, **options: Any) -> list[SetupStep]:
        """Create whatever of the layout is missing; idempotent."""

    @abc.abstractmethod
    async def check(self) -> list[Finding]:
        """Compare the live store with the layout. Raises StoreMissingError if absent."""

    @abc.abstractmethod
    async def ensure_readable(self) -> None:
        """Raise StoreMissingError / LayoutError unless the store can be read."""

    @abc.abstractmethod
    def tables(self) -> list[str]:
        """The names of the store's tables (or the file), for messages and previews."""

    # -- reading ------------------------------------------------------------------------
    @abc.abstractmethod
    def iter_sessions(
        self, flt: SessionFilter, *, limit: int | None, cursor: Cursor | None = None
    ) -> AsyncIterator[Session | CorruptRow]:
        """Sessions newest activity first (ties: larger id first), strictly after ``cursor``.

        ``limit=None`` streams every matching session. Rows that cannot be decoded come as
        :class:`CorruptRow` in their place.
        """

    @abc.abstractmethod
    async def get_session(self, session_id: str) -> Session | CorruptRow | None:
        """One session with its ``event_count``, or None."""

    @abc.abstractmethod
    async def existing_session_ids(self, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` that are stored (live) sessions, found by key lookups only."""

    @abc.abstractmethod
    async def match_session_ids(
        self, prefixes: Sequence[str], *, limit: int, note: Note | None = None
    ) -> IdMatches:
        """The ``limit`` smallest ids starting with any of ``prefixes`` and how many do.

        ``prefixes`` are spellings of one typed id (none a prefix of another). SQL stores
        read a range of the primary key; DynamoDB scans, telling ``note`` when that is long.
        Used through :func:`mcpstore_cli.ops.ids.resolve_session_id`, which holds the id rule.
        """

    @abc.abstractmethod
    async def recent_events(self, session_id: str, limit: int) -> list[Event | CorruptRow]:
        """The last ``limit`` events of a session, oldest first."""

    @abc.abstractmethod
    async def stats(self, *, now_ms: int, timeout_ms: int, approximate: bool = False) -> Stats:
        """Counts, distributions, sizes and backend facts."""

    async def describe_session(self, session_id: str, *, events: int) -> dict[str, Any] | None:
        """A layout whose sessions come in kinds (``session_kinds``): one session whole, as
        JSON; None when it is not stored."""
        raise not_supported("describing a session", self.backend)

    async def layout_stats(self, *, now_ms: int) -> dict[str, Any] | None:
        """A layout without sessions may answer ``stats`` with figures of its own (JSON);
        None: ``stats`` means :meth:`stats`."""
        return None

    async def metric_figures(
        self, *, now_ms: int, timeout_ms: int, stuck_after_ms: int = 3_600_000
    ) -> MetricSet:
        """What ``mcpstore metrics`` exports (see :mod:`mcpstore_cli.model.metrics`): read
        only, never renewing anything. By default from :meth:`stats`; stores with a cheaper
        way (a few aggregate queries) override it."""
        from mcpstore_cli.model.metrics import MetricSet, session_figures

        st = await self.stats(now_ms=now_ms, timeout_ms=timeout_ms)
        out = MetricSet(estimated=st.approximate)
        session_figures(
            out,
            now_ms=now_ms,
            sessions=st.sessions,
            terminated=st.terminated,
            idle=st.idle,
            uninitialized=st.sessions - st.initialized,
            expired_present=st.expired if st.expired is not None else st.idle,
            events=st.events,
            oldest_activity=st.oldest_activity,
        )
        out.add("store_size_bytes", st.storage_bytes)
        return out

    # Whether top_snapshot's cost is bounded whatever the store's size (else each refresh
    # reads the whole store, which ``top`` says).
    bounded_top: ClassVar[bool] = False

    async def top_snapshot(self, *, now_ms: int, timeout_ms: int) -> TopSnapshot:
        """One reading for ``mcpstore top``. By default from the layout's figures
        (:meth:`metric_figures`: a full read); SQLite and PostgreSQL read a bounded one."""
        import time

        from mcpstore_cli.model.top import TopSnapshot

        started = time.perf_counter()
        figures = await self.metric_figures(now_ms=now_ms, timeout_ms=timeout_ms)
        snap = TopSnapshot(at_ms=now_ms, timeout_ms=timeout_ms)
        for sample in figures.samples:
            labels = dict(sample.labels)
            if sample.name == "sessions" or sample.name == "tasks":
                snap.statuses[labels.get("status", "")] = int(sample.value)
            elif sample.name == "events":
                snap.events_total = int(sample.value)
        snap.total = sum(snap.statuses.values())
        snap.estimates["every figure"] = "a full read of the store at each refresh"
        snap.store_ms = (time.perf_counter() - started) * 1000
        return snap

    # -- writing ------------------------------------------------------------------------
    @abc.abstractmethod
    async def write_demo(
        self,
        batches: AsyncIterator[tuple[Sequence[Session], Sequence[Event]]] | Any,
        progress: ProgressCallback | None = None,
    ) -> tuple[int, int]:
        """Insert batches of new sessions with their events, as a server writes them.

        Event ids are assigned by the store the way the server's own writes get them.
        Returns (sessions, events) written.
        """

    @abc.abstractmethod
    async def append_event(self, event: Event, *, touch: bool = True) -> Event:
        """Store one event as the server does (and bump the session's last activity)."""

    # -- later work: every backend inherits a clear refusal until it implements these ---
    async def expire(
        self, opts: ExpireOptions, progress: ProgressCallback | None = None
    ) -> ExpireResult:
        """Remove expired sessions with their events, trim, and drop orphaned events.

        Safe against a live server: a session that becomes active after it was selected is
        never removed. Raises ExpireBusyError when another expire holds the store's lock.
        """
        raise not_supported("expire", self.backend)

    # -- one session at a time (see mcpstore_cli.ops.surgery) --------------------------------
    # Each change is made as the framework's server makes it, atomically and conditional on
    # what was read; a session that changes meanwhile is read again, never overwritten.
    async def terminate_session(self, session_id: str, *, now_ms: int, ttl_s: int) -> SessionChange:
        """End the session as the server does on HTTP DELETE; the row stays."""
        raise not_supported("terminate", self.backend)

    async def deletion_preview(self, session_id: str) -> dict[str, int] | None:
        """What deleting the session would remove, by kind (``{"sessions": 1, "events": 12}``);
        None when it is not stored."""
        raise not_supported("delete", self.backend)

    async def delete_session(self, session_id: str) -> SessionChange:
        """Remove the session with all its events (and whatever else is only its own)."""
        raise not_supported("delete", self.backend)

    async def read_state(self, session_id: str) -> dict[str, Any] | None:
        """The session's state object; None when the session is not stored."""
        raise not_supported("state", self.backend)

    async def change_state(
        self, session_id: str, key: str, value: Any, *, unset: bool, now_ms: int, ttl_s: int
    ) -> SessionChange:
        """Set ``key`` to the JSON ``value`` (or remove it, ``unset``) as the server writes."""
        raise not_supported("state", self.backend)

    async def touch_session(self, session_id: str, *, now_ms: int, ttl_s: int) -> SessionChange:
        """Mark the session active at ``now_ms`` (and push its expiry as the server does;
        ``ttl_s``: the session TTL of a store whose items carry one)."""
        raise not_supported("touch", self.backend)

    # -- clear and teardown (see mcpstore_cli.ops.teardown) ---------------------------------
    async def inventory(self) -> Inventory:
        """What clear/teardown would destroy: tables, counts (estimates on big tables), sizes
        and backend facts. Cheap on any size of store; raises StoreMissingError only when
        nothing of the store exists."""
        raise not_supported("teardown", self.backend)

    async def clear(
        self, *, recreate: bool = False, progress: ProgressCallback | None = None
    ) -> ClearResult:
        """Delete every session and event and keep the tables (and the id counters)."""
        raise not_supported("clear", self.backend)

    async def clear_all_collections(
        self, *, progress: ProgressCallback | None = None
    ) -> ClearResult:
        """Key-value layouts (``session_kinds``): delete every entry of every collection,
        not only the layout's own."""
        raise not_supported("clear --all-collections", self.backend)

    async def disable_streams(self) -> list[str]:
        """Turn off change streams; the names of the tables changed (none on SQL stores)."""
        return []

    async def drop(self) -> list[str]:
        """Delete the tables (SQLite: the file) and what mcpstore installed with them; wait
        until they are gone. Returns what was deleted."""
        raise not_supported("teardown", self.backend)

    def tail_events(
        self, request: TailRequest, *, warn: Warn | None = None
    ) -> AsyncIterator[list[Event | CorruptRow]]:
        """Stored events as they arrive, in batches (see :mod:`mcpstore_cli.store.follow`).

        Starts where ``request`` says, reconnects after a lost connection (reporting through
        ``warn``) and resumes after the last event delivered, with no gap and no duplicate.
        Ends only when ``request.follow`` is false and history is exhausted, or when closed.
        """
        raise not_supported("tail-events", self.backend)

    # -- backups (see mcpstore_cli.ops.backup; each backend's *_backup module does the work) ---
    async def backup_records(
        self,
        spec: Any,
        out: Any,
        header: dict[str, Any],
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Write the header and every selected session, then their events, to ``out`` (a
        :class:`~mcpstore_cli.util.backupfile.BackupFileWriter`) from one consistent read.
        Returns ``consistency``, ``skipped`` and ``notes``."""
        raise not_supported("backup", self.backend)

    async def restore_records(
        self,
        info: Any,
        summary: Any,
        *,
        mode: str,
        keep_ttl: bool = False,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Load a verified backup file (``merge`` or ``replace``), filling ``summary``."""
        raise not_supported("restore", self.backend)

    def restore_limits(self) -> RestoreLimits | None:
        """What this store's columns cannot hold, which a backup file must not bring (None:
        nothing it can be refused for)."""
        return None

    async def row_counts(self) -> tuple[int, int]:
        """(sessions, events) the store holds now (what a replace would delete)."""
        raise not_supported("counting rows", self.backend)

    async def native_backup(
        self, target: str | None = None, *, force: bool = False
    ) -> list[dict[str, Any]]:
        """A backend-native backup; returns one row per backup made. A backup written to a
        file replaces an existing one only with ``force`` (see :mod:`mcpstore_cli.util.outfile`)."""
        raise not_supported("backup --native", self.backend)

    async def list_native_backups(self, directory: str = ".") -> list[dict[str, Any]]:
        """Native backups of this store (none where the backend has no such thing)."""
        return []

    async def restore_native(self, name: str, to_table: str) -> list[dict[str, Any]]:
        raise not_supported("restore --native", self.backend)
