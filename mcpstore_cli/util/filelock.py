"""An exclusive lock file beside a database, removed when released."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mcpstore_cli.errors import ExpireBusyError

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
