"""Pacing of batched writes to a rate."""

from __future__ import annotations

import asyncio
import time

from mcpstore_cli.model.records import ExpireOptions


class Pacer:
    """Caps the delete rate and notices when the time budget is spent."""

    def __init__(self, opts: ExpireOptions) -> None:
        self.rate = opts.rate
        self.deadline = (
            None if opts.time_budget_ms is None else time.monotonic() + opts.time_budget_ms / 1000
        )
        self.started = time.monotonic()
        self.rows = 0

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    async def done(self, rows: int) -> None:
        """Account for ``rows`` deleted; sleep as long as --rate asks (not past the budget)."""
        self.rows += rows
        if not self.rate:
            return
        ahead = self.started + self.rows / self.rate - time.monotonic()
        if self.deadline is not None:
            ahead = min(ahead, self.deadline - time.monotonic())
        if ahead > 0:
            await asyncio.sleep(ahead)

    def batch_limit(self, batch_size: int) -> int:
        """A batch no larger than one second of --rate, so pacing stays smooth."""
        if self.rate:
            return max(1, min(batch_size, int(self.rate)))
        return batch_size
