"""Which task layout a store holds, when ``mcpstore tasks`` is not told (``--layout``).

A backend may keep turul's 2025 ``tasks`` and its 2026 ``ext_tasks`` (PostgreSQL: in one
database, beside the sessions). The choice is made on entering: each candidate layout's store
checks that its table is there; exactly one must be.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from mcpstore_cli.errors import LayoutError, StoreMissingError, UsageError

if TYPE_CHECKING:
    from mcpstore_cli.store.base import StoreOptions
    from mcpstore_cli.store.tasks import TaskStore
    from mcpstore_cli.store.urls import StoreURL


class TaskStoreChoice:
    """``async with TaskStoreChoice(url, options, layouts) as store``: the task store of the
    one layout in ``layouts`` the store holds (closed on leaving)."""

    def __init__(self, url: StoreURL, options: StoreOptions, layouts: list[str]) -> None:
        self.url = url
        self.options = options
        self.layouts = layouts
        self.store: TaskStore | None = None

    def _open(self, layout: str) -> TaskStore:
        from mcpstore_cli.store.registry import open_store

        return open_store(self.url, self.options, layout=layout)  # type: ignore[return-value]

    async def __aenter__(self) -> TaskStore:
        if len(self.layouts) == 1:
            self.store = self._open(self.layouts[0])
            return self.store
        # Each candidate checks its table on a connection of its own, all at once.
        stores = [self._open(layout) for layout in self.layouts]
        try:
            outcomes = await asyncio.gather(
                *(store.ensure_readable() for store in stores), return_exceptions=True
            )
        except BaseException:  # Ctrl-C
            for store in stores:
                with contextlib.suppress(Exception):
                    await store.close()
            raise
        present: list[TaskStore] = []
        problems: list[Exception] = []
        failure: BaseException | None = None
        for store, outcome in zip(stores, outcomes, strict=True):
            if outcome is None:
                present.append(store)
                continue
            await store.close()
            if isinstance(outcome, (StoreMissingError, LayoutError)):
                problems.append(outcome)
            elif failure is None:
                failure = outcome
        if failure is not None:
            for other in present:
                with contextlib.suppress(Exception):
                    await other.close()
            raise failure
        if len(present) == 1:
            self.store = present[0]
            return self.store
        for other in present:
            await other.close()
        names = " and ".join(self.layouts)
        if not present:
            if all(isinstance(p, StoreMissingError) for p in problems) or not problems:
                raise StoreMissingError(
                    f"{self.url.masked()} holds no task table of turul's ({names} layouts); "
                    "create one with mcpstore setup --layout tasks (or ext-tasks)."
                )
            raise next(p for p in problems if not isinstance(p, StoreMissingError))
        raise UsageError(
            f"{self.url.masked()} holds tasks in more than one layout "
            f"({', '.join(s.layout for s in present)}); choose one with --layout."
        )

    async def __aexit__(self, *exc: object) -> None:
        if self.store is not None:
            await self.store.close()
            self.store = None
