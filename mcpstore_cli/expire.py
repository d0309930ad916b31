"""What every backend's ``expire`` shares: pacing (--rate, --time-budget), the run lock for
stores without one of their own, and the summary's JSON form."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mcpstore_cli.errors import Interrupted, PartialError
from mcpstore_cli.records import ExpireOptions, ExpireResult


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


class ExpireBusyError(PartialError):
    """Another expire holds the store's lock: this run does nothing (exit 5)."""


LOCK_ATTEMPTS = 50


def _open_lock(database: Path) -> tuple[int, Path]:
    """Open (creating) the lock file beside the database, or in the temp directory when
    that directory is not writable."""
    target = Path(f"{database}.mcpstore-expire.lock")
    try:
        return os.open(target, os.O_RDWR | os.O_CREAT, 0o600), target
    except OSError:
        digest = hashlib.sha1(str(database.resolve()).encode()).hexdigest()[:16]
        target = Path(tempfile.gettempdir()) / f"mcpstore-expire-{digest}.lock"
        return os.open(target, os.O_RDWR | os.O_CREAT, 0o600), target


@contextlib.contextmanager
def file_lock(database: Path, what: str) -> Iterator[None]:
    """An exclusive, non-blocking lock beside the database file (or in the temp directory
    when that directory is not writable); the OS drops it if the process dies.

    The file exists only while a run holds it: the holder removes it when the run ends
    (normally, on an error or on Ctrl-C), and only while still holding the lock, so it never
    removes a file another run has locked. A run that opened the file just before the holder
    removed it locks a file no longer at that path: it sees so (the inode at the path differs
    from the one it locked, or there is none) and starts again with a fresh file.
    """
    fd, target = _open_lock(database)
    for attempt in range(LOCK_ATTEMPTS):
        if attempt:
            fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ExpireBusyError(
                f"Another mcpstore expire is running on {what} (lock {target}); "
                "this run did nothing."
            ) from None
        except BaseException:
            os.close(fd)
            raise
        if _still_at(fd, target):
            break
        os.close(fd)  # the previous holder removed the file between our open and lock
    else:
        raise ExpireBusyError(
            f"Could not take the expire lock {target} of {what} (other runs kept replacing "
            "it); this run did nothing."
        )
    try:
        yield
    finally:
        try:
            if _still_at(fd, target):
                with contextlib.suppress(OSError):
                    os.unlink(target)
        finally:
            os.close(fd)


def _still_at(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        at_path = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (at_path.st_dev, at_path.st_ino) == (mine.st_dev, mine.st_ino)


def result_json(result: ExpireResult, opts: ExpireOptions, store: str) -> dict[str, Any]:
    duration = round(result.duration_s, 3)
    return {
        "store": store,
        "dry_run": result.dry_run,
        "idle_cutoff": opts.idle_cutoff,
        "terminated": opts.terminated,
        "sessions": result.sessions,
        "events": result.events,
        "orphans": result.orphans,
        "trimmed": result.trimmed,
        "skipped_active": result.skipped,
        "duration_s": duration,
        "rate": round(result.rows / result.duration_s, 1)
        if result.duration_s > 0 and not result.dry_run
        else None,
        "partial": result.partial,
        "remaining": result.remaining,
        "sample": result.sample,
        "notes": result.notes,
    }


def expire_interrupted(result: ExpireResult, batches: int | None) -> Interrupted:
    """Ctrl-C in expire: what the committed batches removed (``batches`` None: item by
    item, as on DynamoDB); the rest is untouched."""
    if batches == 0 or not result.rows:
        return Interrupted("expire had removed nothing yet; the store is unchanged.")
    parts = [f"{result.sessions:,} sessions ({result.events:,} events)"]
    if result.trimmed:
        parts.append(f"{result.trimmed:,} trimmed events")
    if result.orphans:
        parts.append(f"{result.orphans:,} orphaned events")
    within = (
        "" if batches is None else f" in {batches:,} committed batch{'es' if batches != 1 else ''}"
    )
    return Interrupted(f"expire removed {' and '.join(parts)}{within}; the rest is untouched.")
