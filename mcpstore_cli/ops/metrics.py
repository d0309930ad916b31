"""``mcpstore metrics``: one reading of the store's figures, timed, as Prometheus text; with
``-o FILE`` written atomically (a temporary file beside it, renamed into place) as
node_exporter's textfile collector needs, readable by it (mode 0644).

Reading never changes or renews anything: the stores answer from aggregate queries, scans
and counts only (tests compare the store before and after).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcpstore_cli.store.base import Store


async def read_figures(
    store: Store, *, now_ms: int, timeout_ms: int, stuck_after_ms: int
) -> tuple[str, float]:
    """The exposition text and the seconds the figures took."""
    from mcpstore_cli.render.metrics import exposition

    started = time.perf_counter()
    figures = await store.metric_figures(
        now_ms=now_ms, timeout_ms=timeout_ms, stuck_after_ms=stuck_after_ms
    )
    took = time.perf_counter() - started
    labels = {"backend": store.backend, "layout": store.layout, "store": store.label()}
    return exposition(figures, store_labels=labels, duration_s=took), took


def ours(path: Path) -> bool:
    """A file an earlier ``metrics -o`` wrote (a later run replaces it without --force)."""
    from mcpstore_cli.render.metrics import FIRST_LINE

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
