"""Which layout a store holds, when the command was given none (``--layout``).

A backend that holds more than one layout (PostgreSQL: turul's ``sessions`` and GraphFlow's,
both in a table named ``sessions``) is opened as a :class:`DetectingStore`. Its first
operation reads the catalog once through the default layout's store
(:meth:`Store.catalog_columns`) and picks the layout whose store class :meth:`Store.holds`
those columns; every operation then goes to that layout's store. Holding none, the default
layout's store answers, with the errors it gives today (a missing store, another layout);
holding several is a usage error naming them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcpstore_cli.errors import UsageError
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
from mcpstore_cli.store.base import ProgressCallback, Store, StoreOptions
from mcpstore_cli.store.urls import StoreURL

if TYPE_CHECKING:
    from mcpstore_cli.model.backup import RestoreLimits
    from mcpstore_cli.model.ids import IdMatches, Note
    from mcpstore_cli.model.teardown import ClearResult, Inventory
    from mcpstore_cli.store.follow import TailRequest, Warn


StoreClass = Callable[[str], type[Store]]  # layout name -> its Store class on this backend


async def detect_layout(store: Store, layouts: Sequence[str], classes: StoreClass) -> str | None:
    """The one of ``layouts`` whose columns ``store`` holds, or None."""
    columns = await store.catalog_columns()
    held = [name for name in layouts if classes(name).holds(columns)]
    if len(held) > 1:
        raise UsageError(
            f"{store.url.masked()} holds the layouts {' and '.join(held)}; choose one with "
            "--layout."
        )
    return held[0] if held else None


class DetectingStore(Store):
    """A store whose layout is found by its first operation (see the module's text)."""

    def __init__(
        self,
        url: StoreURL,
        options: StoreOptions | None,
        *,
        layouts: Sequence[str],
        classes: StoreClass,
    ) -> None:
        """``layouts``: the backend's, the default first; ``classes``: their Store classes
        (the registry's, passed in so that this module does not import it)."""
        super().__init__(url, options)
        self._layouts = list(layouts)
        self._classes = classes
        self._default = classes(self._layouts[0])(url, self.options)
        self._store: Store | None = None

    @property  # type: ignore[override]
    def backend(self) -> str:  # type: ignore[override]
        return self.url.backend

    @property  # type: ignore[override]
    def layout(self) -> str:  # type: ignore[override]
        return (self._store or self._default).layout

    @property
    def current(self) -> Store:
        """The detected store, or the default layout's until detection ran."""
        return self._store or self._default

    async def resolve(self) -> Store:
        if self._store is None:
            layout = await detect_layout(self._default, self._layouts, self._classes)
            if layout is None or layout == self._layouts[0]:
                self._store = self._default
            else:
                self._store = self._classes(layout)(self.url, self.options)
                await self._default.close()
        return self._store

    def __getattr__(self, name: str) -> Any:
        # Backend-specific extras (lock watch, targets) of whichever store answers.
        if name.startswith("__") or name in ("_default", "_store", "_layouts", "_classes"):
            raise AttributeError(name)
        return getattr(self.current, name)

    async def close(self) -> None:
        if self._store is not None and self._store is not self._default:
            await self._store.close()
        await self._default.close()

    def label(self) -> str:
        return self.current.label()

    def restore_limits(self) -> RestoreLimits | None:
        return self.current.restore_limits()

    def own_files(self) -> list[Path]:
        return self.current.own_files()

    def tables(self) -> list[str]:
        return self.current.tables()

    def setup_plan(self, **options: Any) -> list[str]:
        return self.current.setup_plan(**options)

    async def setup(self, **options: Any) -> list[SetupStep]:
        return await (await self.resolve()).setup(**options)

    async def check(self) -> list[Finding]:
        return await (await self.resolve()).check()

    async def ensure_readable(self) -> None:
        await (await self.resolve()).ensure_readable()

    async def catalog_columns(self) -> dict[str, set[str]]:
        return await self._default.catalog_columns()

    async def iter_sessions(
        self, flt: SessionFilter, *, limit: int | None, cursor: Cursor | None = None
    ) -> AsyncIterator[Session | CorruptRow]:
        store = await self.resolve()
        async for item in store.iter_sessions(flt, limit=limit, cursor=cursor):
            yield item

    async def get_session(self, session_id: str) -> Session | CorruptRow | None:
        return await (await self.resolve()).get_session(session_id)

    async def existing_session_ids(self, ids: Sequence[str]) -> list[str]:
        return await (await self.resolve()).existing_session_ids(ids)

    async def match_session_ids(
        self, prefixes: Sequence[str], *, limit: int, note: Note | None = None
    ) -> IdMatches:
        return await (await self.resolve()).match_session_ids(prefixes, limit=limit, note=note)

    async def recent_events(self, session_id: str, limit: int) -> list[Event | CorruptRow]:
        return await (await self.resolve()).recent_events(session_id, limit)

    async def stats(self, *, now_ms: int, timeout_ms: int, approximate: bool = False) -> Stats:
        store = await self.resolve()
        return await store.stats(now_ms=now_ms, timeout_ms=timeout_ms, approximate=approximate)

    async def metric_figures(
        self, *, now_ms: int, timeout_ms: int, stuck_after_ms: int = 3_600_000
    ) -> Any:
        store = await self.resolve()
        return await store.metric_figures(
            now_ms=now_ms, timeout_ms=timeout_ms, stuck_after_ms=stuck_after_ms
        )

    async def top_snapshot(self, *, now_ms: int, timeout_ms: int) -> Any:
        return await (await self.resolve()).top_snapshot(now_ms=now_ms, timeout_ms=timeout_ms)

    async def terminate_session(self, session_id: str, *, now_ms: int, ttl_s: int) -> Any:
        store = await self.resolve()
        return await store.terminate_session(session_id, now_ms=now_ms, ttl_s=ttl_s)

    async def deletion_preview(self, session_id: str) -> dict[str, int] | None:
        return await (await self.resolve()).deletion_preview(session_id)

    async def delete_session(self, session_id: str) -> Any:
        return await (await self.resolve()).delete_session(session_id)

    async def read_state(self, session_id: str) -> dict[str, Any] | None:
        return await (await self.resolve()).read_state(session_id)

    async def change_state(
        self, session_id: str, key: str, value: Any, *, unset: bool, now_ms: int, ttl_s: int
    ) -> Any:
        store = await self.resolve()
        return await store.change_state(
            session_id, key, value, unset=unset, now_ms=now_ms, ttl_s=ttl_s
        )

    async def touch_session(self, session_id: str, *, now_ms: int, ttl_s: int) -> Any:
        store = await self.resolve()
        return await store.touch_session(session_id, now_ms=now_ms, ttl_s=ttl_s)

    async def write_demo(
        self, batches: Any, progress: ProgressCallback | None = None
    ) -> tuple[int, int]:
        return await (await self.resolve()).write_demo(batches, progress)

    async def append_event(self, event: Event, *, touch: bool = True) -> Event:
        return await (await self.resolve()).append_event(event, touch=touch)

    async def expire(
        self, opts: ExpireOptions, progress: ProgressCallback | None = None
    ) -> ExpireResult:
        return await (await self.resolve()).expire(opts, progress)

    async def inventory(self) -> Inventory:
        return await (await self.resolve()).inventory()

    async def clear(
        self, *, recreate: bool = False, progress: ProgressCallback | None = None
    ) -> ClearResult:
        return await (await self.resolve()).clear(recreate=recreate, progress=progress)

    async def disable_streams(self) -> list[str]:
        return await (await self.resolve()).disable_streams()

    async def drop(self) -> list[str]:
        return await (await self.resolve()).drop()

    async def tail_events(
        self, request: TailRequest, *, warn: Warn | None = None
    ) -> AsyncIterator[list[Event | CorruptRow]]:
        store = await self.resolve()
        async for batch in store.tail_events(request, warn=warn):
            yield batch

    async def backup_records(
        self, spec: Any, out: Any, header: dict[str, Any], progress: ProgressCallback | None = None
    ) -> dict[str, Any]:
        return await (await self.resolve()).backup_records(spec, out, header, progress)

    async def restore_records(
        self,
        info: Any,
        summary: Any,
        *,
        mode: str,
        keep_ttl: bool = False,
        progress: ProgressCallback | None = None,
    ) -> None:
        store = await self.resolve()
        await store.restore_records(info, summary, mode=mode, keep_ttl=keep_ttl, progress=progress)

    async def row_counts(self) -> tuple[int, int]:
        return await (await self.resolve()).row_counts()

    async def native_backup(
        self, target: str | None = None, *, force: bool = False
    ) -> list[dict[str, Any]]:
        return await (await self.resolve()).native_backup(target, force=force)

    async def list_native_backups(self, directory: str = ".") -> list[dict[str, Any]]:
        return await (await self.resolve()).list_native_backups(directory)

    async def restore_native(self, name: str, to_table: str) -> list[dict[str, Any]]:
        return await (await self.resolve()).restore_native(name, to_table)


# What a kind of store can do is the detected store's (the default layout's until detection
# ran), not the base class's defaults, which this class would otherwise inherit.
_DELEGATED = (
    "title",
    "setup_options",
    "clears_in_one_transaction",
    "recreates_tables",
    "has_streams",
    "scan_segments",
    "event_ids_per_session",
    "item_ttl",
    "native_backup_is_file",
    "native_backups_in_service",
    "restores_in_one_transaction",
    "verifies_while_loading",
    "row_word",
    "session_changes",
    "bounded_top",
)


def _delegate(name: str) -> property:
    return property(lambda self: getattr(self.current, name))


for _name in _DELEGATED:
    setattr(DetectingStore, _name, _delegate(_name))
