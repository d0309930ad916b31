"""``mcpstore top``'s loop: read the store every interval, draw, answer keys (``q`` quits,
``p`` pauses, ``s`` cycles the sort). Read-only. A failed reading (a lost connection) is
shown on the screen and the next interval tries again on a new connection; the last figures
stay up meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from mcpstore_cli.errors import McpStoreError

if TYPE_CHECKING:
    from mcpstore_cli.model.top import TopSnapshot
    from mcpstore_cli.store.base import Store

HISTORY = 30  # refreshes the event-rate sparkline keeps


@contextlib.contextmanager
def keys_from(fd: int | None, out: Any = None) -> Iterator[asyncio.Queue[str]]:
    """Keys typed on the terminal ``fd`` (cbreak mode: no Enter needed, Ctrl-C still a
    signal), into a queue; SIGTERM comes as ``q``. The terminal's mode comes back at the end,
    however it ends (a second Ctrl-C's immediate exit included: the alternate screen on
    ``out`` is left too)."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    if fd is None:
        yield queue
        return
    import signal
    import termios
    import tty

    from mcpstore_cli.util.interrupt import undo_on_hard_exit

    saved = termios.tcgetattr(fd)
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        for ch in data.decode("utf-8", "replace"):
            queue.put_nowait(ch)

    def restore() -> None:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        if out is not None:
            out.write("\x1b[?1049l\x1b[?25h")  # leave the alternate screen, show the cursor
            out.flush()

    with undo_on_hard_exit(restore):
        try:
            tty.setcbreak(fd)
            loop.add_reader(fd, readable)
            loop.add_signal_handler(signal.SIGTERM, lambda: queue.put_nowait("q"))
            yield queue
        finally:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signal.SIGTERM)
            with contextlib.suppress(Exception):
                loop.remove_reader(fd)
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


async def run(
    store: Store,
    *,
    interval_s: float,
    timeout_ms: int,
    draw: Callable[..., None],
    key_fd: int | None,
    now_ms: Callable[[], int],
    out: Any = None,
) -> None:
    """Until ``q``: ``draw(snapshot, paused=, sort=, rate_history=, problem=)`` after every
    reading and key."""
    from mcpstore_cli.model.top import SORTS

    snap: TopSnapshot | None = None
    problem: str | None = None
    paused = False
    sort = SORTS[0]
    rates: deque[float] = deque(maxlen=HISTORY)

    def show() -> None:
        draw(snap, paused=paused, sort=sort, rate_history=list(rates), problem=problem)

    with keys_from(key_fd, out) as keys:
        next_at = 0.0
        while True:
            if not paused and time.monotonic() >= next_at:
                try:
                    snap = await store.top_snapshot(now_ms=now_ms(), timeout_ms=timeout_ms)
                    problem = None
                    if snap.events_per_s is not None:
                        rates.append(snap.events_per_s)
                except Exception as exc:  # a lost connection, a driver's error: shown
                    what = str(exc) if isinstance(exc, McpStoreError) else repr(exc)
                    problem = f"{what} (showing the last reading; trying again)"
                next_at = time.monotonic() + interval_s
                show()
            wait = max(next_at - time.monotonic(), 0.05) if not paused else None
            try:
                key = await asyncio.wait_for(keys.get(), timeout=wait)
            except TimeoutError:
                continue
            if key in ("q", "Q"):
                return
            if key in ("p", "P", " "):
                paused = not paused
                if not paused:
                    next_at = 0.0
            elif key in ("s", "S"):
                sort = SORTS[(SORTS.index(sort) + 1) % len(SORTS)]
            show()
