"""Stores of layouts that hold no sessions (turul's tasks, ext-tasks and server state).

They are :class:`~mcpstore_cli.store.base.Store` s, so that ``setup``, ``setup --check``,
``demo``, ``clear``, ``teardown``, ``backup`` and ``restore`` work on them unchanged; the
session commands (``list``, ``show``, ``stats``, ``expire``, ``tail-events``) get one sentence
saying what the store holds and which command reads it (exit 2).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from mcpstore_cli.errors import UsageError
from mcpstore_cli.store.base import ProgressCallback, Store

if TYPE_CHECKING:
    from mcpstore_cli.model.ids import IdMatches, Note
    from mcpstore_cli.model.records import (
        CorruptRow,
        Cursor,
        Event,
        ExpireOptions,
        ExpireResult,
        Session,
        SessionFilter,
        Stats,
    )
    from mcpstore_cli.store.follow import TailRequest, Warn


class NonSessionStore(Store):
    """A store whose layout holds something other than sessions."""

    contents: ClassVar[str] = "records"  # what it holds, in sentences: "turul's tasks"
    # The command that reads it, for each session command refused ("" keeps the name).
    reader_command: ClassVar[str] = "mcpstore tasks"

    def _not_sessions(self, command: str) -> NoReturn:
        raise UsageError(
            f"{self.url.masked()} holds {self.contents} ({self.layout} layout), not sessions; "
            f"use {self.reader_command} {command}".rstrip()
            + "."
        )

    def iter_sessions(
        self, flt: SessionFilter, *, limit: int | None, cursor: Cursor | None = None
    ) -> AsyncIterator[Session | CorruptRow]:
        self._not_sessions("list")

    async def get_session(self, session_id: str) -> Session | CorruptRow | None:
        self._not_sessions("show")

    async def existing_session_ids(self, ids: Sequence[str]) -> list[str]:
        self._not_sessions("show")

    async def match_session_ids(
        self, prefixes: Sequence[str], *, limit: int, note: Note | None = None
    ) -> IdMatches:
        self._not_sessions("show")

    async def recent_events(self, session_id: str, limit: int) -> list[Event | CorruptRow]:
        self._not_sessions("show")

    async def metric_figures(
        self, *, now_ms: int, timeout_ms: int, stuck_after_ms: int = 3_600_000
    ) -> Any:
        """From the layout's own figures (server state: entities active and not)."""
        from mcpstore_cli.model.metrics import MetricSet

        figures = await self.layout_stats(now_ms=now_ms) or {}
        out = MetricSet()
        if "entities" in figures:
            active = int(figures.get("active", 0))
            out.by(
                "entities",
                {"active": active, "inactive": int(figures["entities"]) - active},
                "state",
            )
        return out

    async def stats(self, *, now_ms: int, timeout_ms: int, approximate: bool = False) -> Stats:
        self._not_sessions("stats")

    async def append_event(self, event: Event, *, touch: bool = True) -> Event:
        self._not_sessions("list")

    async def expire(
        self, opts: ExpireOptions, progress: ProgressCallback | None = None
    ) -> ExpireResult:
        self._not_sessions("expire")

    def tail_events(
        self, request: TailRequest, *, warn: Warn | None = None
    ) -> AsyncIterator[list[Event | CorruptRow]]:
        self._not_sessions("list")
