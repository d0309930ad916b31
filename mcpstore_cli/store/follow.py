"""Following a store's events live (``tail-events``): what to follow, and the pieces every
backend's follower shares (reconnecting with backoff, the order in which history and live
events are delivered).

A backend's ``tail_events(request, warn=...)`` is an async iterator of *batches* (lists of
:class:`~mcpstore_cli.model.records.Event` or :class:`~mcpstore_cli.model.records.CorruptRow`),
so that a caller can flush its output once per batch. Delivery is at most once and without gaps:
a follower remembers its position (the last event it delivered, plus whatever it needs to catch
events that commit late) across reconnections.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Warn = Callable[[str], None]

# History is read, and live events are fetched, at most this many rows per query.
PAGE = 1000


@dataclass(slots=True)
class TailRequest:
    """What to follow.

    With neither ``after_id`` nor ``since_ms``, following starts at the end (only events
    stored from now on); without ``follow`` it starts at the beginning instead, so that
    ``--no-follow`` alone prints everything that exists.
    """

    session_id: str | None = None
    after_id: int | None = None  # like a client's Last-Event-ID: events with a larger id
    since_ms: int | None = None  # events whose timestamp is at or after this
    follow: bool = True

    @property
    def from_end(self) -> bool:
        return self.follow and self.after_id is None and self.since_ms is None

    def wants(self, session_id: str) -> bool:
        return self.session_id is None or session_id == self.session_id


def _ignore(_message: str) -> None:
    pass


class Backoff:
    """Delays between reconnection attempts: doubling from ``first`` up to ``cap``, jittered."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self.first = first
        self.cap = cap
        self.attempt = 0

    def next_delay(self) -> float:
        base = min(self.cap, self.first * (2**self.attempt))
        self.attempt += 1
        return base * random.uniform(0.75, 1.25)

    def reset(self) -> None:
        self.attempt = 0


class Reconnector:
    """Reports a lost connection once, retries ``reopen`` with backoff until it works, and
    reports how long the outage lasted. ``is_transient`` decides which errors are outages;
    anything else is raised."""

    def __init__(
        self,
        what: str,
        warn: Warn | None,
        is_transient: Callable[[BaseException], bool],
        *,
        translate: Callable[[BaseException], BaseException | None] | None = None,
        first: float = 0.1,
        cap: float = 5.0,
    ) -> None:
        self.what = what
        self.warn = warn or _ignore
        self.is_transient = is_transient
        self.translate = translate
        self.backoff = Backoff(first, cap)
        self.outages = 0

    async def recover(
        self,
        exc: BaseException,
        reopen: Callable[[], Awaitable[None]],
        position: Callable[[], str],
    ) -> None:
        if not self.is_transient(exc):
            self._raise(exc)
        self.outages += 1
        lost_at = time.monotonic()
        self.warn(
            f"lost the connection to {self.what} ({_reason(exc)}); reconnecting with backoff."
        )
        self.backoff.reset()
        while True:
            await asyncio.sleep(self.backoff.next_delay())
            try:
                await reopen()
            except Exception as again:
                if not self.is_transient(again):
                    self._raise(again)
                continue
            break
        self.warn(
            f"reconnected to {self.what} after {time.monotonic() - lost_at:.1f} s; "
            f"resuming after {position()}."
        )

    def _raise(self, exc: BaseException) -> None:
        """Raise a lasting error as the one-sentence error the store would give."""
        translated = self.translate(exc) if self.translate is not None else None
        if translated is not None and translated is not exc:
            raise translated from exc
        raise exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
