"""Following the ``events`` table of an SQL store (SQLite, PostgreSQL) by its id.

Both stores number events with one counter for the whole table, so a follower's position is
the largest id it has seen. On PostgreSQL that alone is not enough: BIGSERIAL ids are taken
when a row is inserted but become visible when its transaction commits, so between two
concurrent writers id 105 can be visible before id 104. A follower that moved past 105 would
never see 104. So every id skipped over (a *gap*) is watched for a grace period: the live
query asks for ``id > last OR id = ANY(gaps)``, and a gap that fills late is delivered then.
Gaps that never fill (rolled-back inserts, the sequence's jump after a crash, deleted rows)
are forgotten after the grace period. SQLite commits one writer at a time, ids in order, so
it has no gaps to watch.

A backend supplies an :class:`IdSource` (its queries and how it waits for news); the
follower here does the rest and keeps its position across reconnections.
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

from mcpstore_cli.model.records import CorruptRow, Event
from mcpstore_cli.store.follow import PAGE, Reconnector, TailRequest, Warn
from mcpstore_cli.util.jsoncodec import BadJSON, loads_any

# Ids just below the top that may still be in flight when following starts.
TOP_WINDOW = 1000
# Ids of one hole that are watched (the highest ones), and of all holes together.
MAX_GAP_RUN = 1000
MAX_GAPS = 10_000

# A row: (id, session_id, timestamp, event_type, data JSON text or None, retry).
Row = Sequence[Any]


class IdSource(abc.ABC):
    """One backend's queries for following ``events`` by id."""

    what: str  # "PostgreSQL at host:port", for messages
    gap_grace: float = 0.0  # seconds a skipped id is watched (0: no gaps on this store)
    safety_poll: float = 5.0  # longest wait between queries, whatever wait() says

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect (again); errors here at the start are fatal, later ones are retried."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def top_ids(self, window: int) -> list[int]:
        """The ids within ``window`` of the largest, ascending (empty when no events)."""

    @abc.abstractmethod
    async def history(self, request: TailRequest, after: int, upto: int, limit: int) -> list[Row]:
        """Stored events of the request with ``after < id <= upto``, by id."""

    @abc.abstractmethod
    async def fetch(
        self, last: int, gaps: list[int], session_id: str | None, limit: int
    ) -> list[Row]:
        """Rows with ``id > last`` or an id in ``gaps``, ascending, every session's (rows of
        other sessions than ``session_id`` may carry no data)."""

    @abc.abstractmethod
    async def wait(self, timeout: float) -> None:
        """Return when new events may have been stored, or after ``timeout`` seconds."""

    @abc.abstractmethod
    def is_transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` is a lost connection or a restarting server (retried)."""

    def translate(self, exc: BaseException) -> BaseException | None:
        """The store's one-sentence error for a lasting failure (None: as it is)."""
        return None


def decode_row(row: Row) -> Event | CorruptRow:
    event_id, session_id, timestamp, event_type, data, retry = row
    try:
        return Event(
            session_id=str(session_id),
            id=int(event_id),
            timestamp=int(timestamp),
            event_type=str(event_type),
            data=loads_any(data, "data"),
            retry=None if retry is None else int(retry),
        )
    except (BadJSON, TypeError, ValueError) as exc:
        return CorruptRow("events", f"{session_id}#{event_id}", str(exc))


class IdFollower:
    """Position (last id seen, gaps watched) plus the loop that advances it."""

    def __init__(self, source: IdSource, request: TailRequest, warn: Warn | None) -> None:
        self.source = source
        self.request = request
        self.last = 0
        self.gaps: dict[int, float] = {}  # id -> monotonic deadline
        self.delivered_last: int | None = None
        self.reconnector = Reconnector(
            source.what, warn, source.is_transient, translate=source.translate
        )

    # -- gaps ---------------------------------------------------------------------------
    def _watch(self, low: int, high: int, now: float) -> None:
        """Watch the ids ``low..high`` (a hole just stepped over)."""
        if self.source.gap_grace <= 0 or high < low:
            return
        low = max(low, high - MAX_GAP_RUN + 1)
        deadline = now + self.source.gap_grace
        for gap in range(low, high + 1):
            self.gaps[gap] = deadline
        if len(self.gaps) > MAX_GAPS:
            for gap in sorted(self.gaps)[: len(self.gaps) - MAX_GAPS]:
                del self.gaps[gap]

    def _expire(self, now: float) -> None:
        if self.gaps:
            for gap in [g for g, deadline in self.gaps.items() if deadline <= now]:
                del self.gaps[gap]

    def position(self) -> str:
        shown = (
            f"event id {self.delivered_last}"
            if self.delivered_last is not None
            else "the start position"
        )
        return shown + (f" ({len(self.gaps)} late ids watched)" if self.gaps else "")

    # -- the loop -----------------------------------------------------------------------
    async def run(self) -> AsyncGenerator[list[Event | CorruptRow], None]:
        source = self.source
        request = self.request
        try:
            await source.open()
            top = await source.top_ids(TOP_WINDOW)
        except Exception as exc:
            await source.close()
            translated = source.translate(exc)
            if translated is not None and translated is not exc:
                raise translated from exc
            raise
        try:
            high = top[-1] if top else 0
            if request.after_id is not None:
                start = request.after_id
            elif request.from_end:
                start = high
            else:
                start = 0
            # Holes just below the top may be inserts that have not committed yet.
            now = time.monotonic()
            present = set(top)
            floor = max(start, high - TOP_WINDOW)
            missing = [i for i in range(floor + 1, high + 1) if i not in present]
            for gap in missing:
                self._watch(gap, gap, now)
            if start < high:
                async for batch in self._history(start, high):
                    yield batch
            if not request.follow:
                return
            self.last = max(high, start)
            async for batch in self._live():
                yield batch
        finally:
            await source.close()

    async def _history(self, start: int, high: int) -> AsyncIterator[list[Event | CorruptRow]]:
        after = start
        while True:
            rows = await self._retrying(
                lambda after=after: self.source.history(self.request, after, high, PAGE)
            )
            batch = []
            for row in rows:
                event_id = int(row[0])
                self.gaps.pop(event_id, None)
                batch.append(decode_row(row))
                after = event_id
            if batch:
                self.delivered_last = after
                yield batch
            if len(rows) < PAGE:
                return

    async def _live(self) -> AsyncIterator[list[Event | CorruptRow]]:
        source = self.source
        wanted = self.request.session_id
        while True:
            rows = await self._retrying(
                lambda: source.fetch(self.last, sorted(self.gaps), wanted, PAGE)
            )
            now = time.monotonic()
            batch: list[Event | CorruptRow] = []
            last = self.last
            fresh = sum(1 for row in rows if int(row[0]) > last)
            for row in rows:
                event_id = int(row[0])
                if event_id in self.gaps:
                    del self.gaps[event_id]  # committed late: deliver it now
                elif event_id > last:
                    if event_id > last + 1:
                        self._watch(last + 1, event_id - 1, now)
                    last = event_id
                else:
                    continue  # seen before
                if wanted is None or row[1] == wanted:
                    batch.append(decode_row(row))
                    self.delivered_last = event_id
            self.last = last
            self._expire(now)
            if batch:
                yield batch
            if fresh >= PAGE:
                continue  # a full page: more is waiting
            try:
                await source.wait(source.safety_poll)
            except Exception as exc:
                await self.reconnector.recover(exc, self._reopen, self.position)

    async def _reopen(self) -> None:
        await self.source.close()
        await self.source.open()

    async def _retrying(self, query: Any) -> list[Row]:
        while True:
            try:
                return list(await query())
            except Exception as exc:
                await self.reconnector.recover(exc, self._reopen, self.position)


async def follow(
    source: IdSource, request: TailRequest, warn: Warn | None
) -> AsyncGenerator[list[Event | CorruptRow], None]:
    """The batches of :meth:`IdFollower.run`, closing the source when the caller stops."""
    batches = IdFollower(source, request, warn).run()
    async with contextlib.aclosing(batches):
        async for batch in batches:
            yield batch
