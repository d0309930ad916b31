"""The interface of task stores (layouts ``tasks`` and ``ext-tasks``): what the ``mcpstore
tasks`` commands call.

A task store is a :class:`~mcpstore_cli.store.base.Store` too, so that ``setup``, ``setup
--check``, ``demo``, ``clear`` and ``teardown`` work on it unchanged; the session commands
(``list``, ``show``, ``stats``, ``expire``, ``tail-events``) get one sentence pointing at
``mcpstore tasks`` (exit 2) instead of sessions.

Every change a task store makes is conditional on what it read (PostgreSQL's ``version``,
DynamoDB's old status or ``rev``, a transaction holding the row on SQLite), so that a task
the server moved on meanwhile is left alone and counted, never overwritten.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from mcpstore_cli.store.base import ProgressCallback
from mcpstore_cli.store.nonsession import NonSessionStore

if TYPE_CHECKING:
    from mcpstore_cli.model.ids import IdMatches, Note
    from mcpstore_cli.model.records import (
        CorruptRow,
    )
    from mcpstore_cli.model.tasks import (
        RecoverResult,
        Task,
        TaskChange,
        TaskCursor,
        TaskExpireOptions,
        TaskExpireResult,
        TaskFilter,
        TaskStats,
    )


class TaskStore(NonSessionStore):
    """A store of tasks. Subclasses set ``backend``, ``title`` and ``layout``."""

    layout: ClassVar[str] = "tasks"
    holds_tasks: ClassVar[bool] = True
    records_noun: ClassVar[str | None] = "tasks"
    # expire can delete on several connections at once (--jobs)
    parallel_expire: ClassVar[bool] = False
    # expire's --batch-size when none is given (see expire_batch)
    EXPIRE_BATCH: ClassVar[int] = 500
    # The retention flags of ``tasks expire`` this layout takes (ext-tasks: all three).
    retention_options: ClassVar[frozenset[str]] = frozenset()
    # What ``tasks cancel`` checks before changing a task of someone else (ext-tasks: owner).
    has_owners: ClassVar[bool] = False

    contents: ClassVar[str] = "turul's tasks"
    reader_command: ClassVar[str] = "mcpstore tasks"

    def expire_batch(self, rate: float | None) -> int:
        """``tasks expire``'s batch when --batch-size is not given. With --rate, 500 at most,
        so that the pace stays even (the rate is kept batch by batch)."""
        return min(self.EXPIRE_BATCH, 500) if rate else self.EXPIRE_BATCH

    # -- tasks ------------------------------------------------------------------------------
    @abc.abstractmethod
    def iter_tasks(
        self, flt: TaskFilter, *, limit: int | None, cursor: TaskCursor | None = None
    ) -> AsyncIterator[Task | CorruptRow]:
        """Tasks in the server's order, ``(created_at, task_id)`` ascending, strictly after
        ``cursor``; rows that cannot be read come as CorruptRow (with their cursor)."""

    @abc.abstractmethod
    async def get_task(self, task_id: str) -> Task | CorruptRow | None:
        """One task by its exact id, or None (also when its DynamoDB ttlEpoch has passed)."""

    @abc.abstractmethod
    async def existing_task_ids(self, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` that are stored tasks, by key lookups only."""

    @abc.abstractmethod
    async def match_task_ids(
        self, prefixes: Sequence[str], *, limit: int, note: Note | None = None
    ) -> IdMatches:
        """The ``limit`` smallest task ids starting with any of ``prefixes``, and how many."""

    async def metric_figures(
        self, *, now_ms: int, timeout_ms: int, stuck_after_ms: int = 3_600_000
    ) -> Any:
        """Tasks by status, stuck and past their ttl, from :meth:`task_stats`."""
        from mcpstore_cli.model.metrics import MetricSet
        from mcpstore_cli.model.tasks import STATUSES

        st = await self.task_stats(now_ns=now_ms * 1_000_000, stuck_after_ms=stuck_after_ms)
        out = MetricSet()
        out.by("tasks", {s: st.by_status.get(s, 0) for s in STATUSES}, "status")
        out.add("tasks_stuck", st.stuck)
        out.add("tasks_past_ttl", st.past_ttl)
        return out

    @abc.abstractmethod
    async def task_stats(self, *, now_ns: int, stuck_after_ms: int) -> TaskStats:
        """Counts by status and method, stuck and past-ttl tasks, ages, the oldest live one."""

    @abc.abstractmethod
    async def expire_tasks(
        self, opts: TaskExpireOptions, progress: ProgressCallback | None = None
    ) -> TaskExpireResult:
        """The server's expiry (``tasks``) or retention (``ext-tasks``), race-safe."""

    @abc.abstractmethod
    async def recover_tasks(
        self,
        *,
        stuck_for_ms: int,
        now_ns: int,
        dry_run: bool = False,
        batch_size: int = 500,
        progress: ProgressCallback | None = None,
    ) -> RecoverResult:
        """Live tasks not updated for ``stuck_for_ms`` become failed, as the server's own
        recovery makes them."""

    @abc.abstractmethod
    async def cancel_task(
        self, task_id: str, *, now_ns: int, any_owner: bool = False
    ) -> TaskChange:
        """Cancel a live task as the server does; a terminal one is left, with the reason."""
