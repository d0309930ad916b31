"""``mcpstore metrics``: one reading of the store's figures, timed, as Prometheus text; with
``-o FILE`` written atomically (a temporary file beside it, renamed into place) as
node_exporter's textfile collector needs, readable by it (mode 0644).

Reading never changes or renews anything: the stores answer from aggregate queries, scans
and counts only (tests compare the store before and after).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcpstore_cli.model.metrics import MetricSet
    from mcpstore_cli.store.base import Store

# The first line of every file ``metrics -o`` writes: a later run may replace such a file.
FIRST_LINE = "# HELP mcpstore_"


async def read_figures(
    store: Store,
    *,
    now_ms: int,
    timeout_ms: int,
    stuck_after_ms: int,
    meanwhile: Callable[[], None] | None = None,
) -> tuple[MetricSet, float]:
    """The figures and the seconds they took. ``meanwhile`` runs in a thread while the
    store works (the caller's slow imports: prometheus_client)."""
    import asyncio

    started = time.perf_counter()
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:  # an inline read (SQLite's reader): nothing to overlap
        loop = None
    loading = None
    if meanwhile is not None:
        if loop is None:
            meanwhile()
        else:
            loading = loop.run_in_executor(None, meanwhile)
    try:
        figures = await store.metric_figures(
            now_ms=now_ms, timeout_ms=timeout_ms, stuck_after_ms=stuck_after_ms
        )
    finally:
        if loading is not None:
            await loading
    return figures, time.perf_counter() - started


def ours(path: Path) -> bool:
    """A file an earlier ``metrics -o`` wrote (a later run replaces it without --force)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(FIRST_LINE)).decode("ascii", "replace") == FIRST_LINE
    except OSError:
        return False


def write_atomically(path: str, text: str, *, force: bool, protect: list[Path]) -> int:
    """Write ``text`` to ``path`` through a temporary file renamed into place; an existing
    file is replaced when an earlier run wrote it, or with ``force``."""
    from mcpstore_cli.util.outfile import OutputFile

    target = Path(path).expanduser()
    out = OutputFile(target, force=force or ours(target), protect=protect)
    try:
        fd = out.take_fd()
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fchmod(fh.fileno(), 0o644)
            os.fsync(fh.fileno())
        return out.commit()
    finally:
        out.abort()
