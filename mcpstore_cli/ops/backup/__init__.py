"""Backups: the portable file (any backend to any backend) and the backends' native ones.

Library API (teardown's "back up first" calls it too)::

    summary = await write_backup(store, "x.mcpbackup.zst")
    result = await restore_backup(store, "x.mcpbackup.zst", mode="merge")

The file format is documented in ``docs/backup-format.md``; :mod:`.fileformat` writes and
verifies it, each backend's ``*_backup`` module reads and loads its rows.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcpstore_cli import __version__
from mcpstore_cli.errors import Interrupted, UsageError
from mcpstore_cli.model.backup import BackupSpec, BackupSummary, RestoreSummary, timestamp_label
from mcpstore_cli.util.backupfile import (
    FORMAT_NAME,
    FORMAT_VERSION,
    SUFFIX,
    BackupFileError,
    BackupFileWriter,
    BackupInfo,
    verify_file,
)

if TYPE_CHECKING:
    from mcpstore_cli.store.base import Store

ProgressCallback = Callable[[int], None]

__all__ = [
    "SUFFIX",
    "BackupFileError",
    "BackupInfo",
    "BackupSpec",
    "BackupSummary",
    "RestoreSummary",
    "check_backup_target",
    "default_backup_path",
    "restore_backup",
    "verify_file",
    "write_backup",
]


def store_label(store: Store) -> str:
    """A short name for default file names: the SQLite file, database or table."""
    return store.label()


def default_backup_path(store: Store, directory: str | os.PathLike[str] = ".") -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", store_label(store))
    return Path(directory) / f"{safe}-{timestamp_label()}{SUFFIX}"


def _target_path(store: Store, path: str | os.PathLike[str] | None) -> Path:
    if path is None:
        return default_backup_path(store)
    target = Path(path).expanduser()
    if str(path) == "-":
        raise UsageError(
            "Backups are written to a file (they are renamed into place when "
            "complete); give a file name, not -."
        )
    if target.is_dir():
        return default_backup_path(store, target)
    return target


def check_backup_target(
    store: Store, path: str | os.PathLike[str] | None = None, *, force: bool = False
) -> Path:
    """Where :func:`write_backup` would write, or :class:`~mcpstore_cli.util.outfile.
    OutputRefusedError` (exit 2) if it may not: an existing file without ``force``, the
    store's own files or any SQLite database ever. Connects to nothing."""
    from mcpstore_cli.util.outfile import check_output

    target = _target_path(store, path)
    shown = os.fspath(path) if path is not None and target == Path(path).expanduser() else None
    return check_output(target, force=force, protect=store.own_files(), shown=shown)


async def write_backup(
    store: Store,
    path: str | os.PathLike[str] | None = None,
    *,
    session_ids: Sequence[str] | None = None,
    since_ms: int | None = None,
    progress: ProgressCallback | None = None,
    level: int | None = None,
    force: bool = False,
    include_secrets: bool = False,
) -> BackupSummary:
    """Write a consistent backup of ``store`` (or of some sessions) to ``path``.

    ``path=None`` names a file in the current directory after the store and the time. The
    file appears under its name only once it is complete, fsynced and verified-by-construction
    (trailer with counts and checksum); mode 0600. An existing file is replaced only with
    ``force``; the store's own files and any SQLite database never are
    (:func:`mcpstore_cli.util.outfile.check_output`).
    """
    import asyncio

    from mcpstore_cli.util.backupfile import DEFAULT_LEVEL

    target = check_backup_target(store, path, force=force)
    protect = store.own_files()
    spec = BackupSpec(session_ids=session_ids, since_ms=since_ms, include_secrets=include_secrets)
    started = time.perf_counter()
    await store.ensure_readable()
    header: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "tool": f"mcpstore {__version__}",
        "created_at": int(time.time() * 1000),
        "source": {"backend": store.backend, "store": store.url.masked()},
        "filters": spec.as_json(),
    }
    existed = target.exists()
    writer = BackupFileWriter(
        target, level=level or DEFAULT_LEVEL, threads=_threads(), force=force, protect=protect
    )
    try:
        result: dict[str, Any] = await store.backup_records(spec, writer, header, progress)
        size = writer.finish()
    except (KeyboardInterrupt, Interrupted, asyncio.CancelledError):
        writer.abort()
        raise Interrupted(
            f"backup not written ({target} "
            + ("is as it was" if existed else "was not created")
            + "); nothing was changed."
        ) from None
    except BaseException:
        writer.abort()
        raise
    return BackupSummary(
        path=str(target),
        sessions=writer.sessions,
        events=writer.events,
        bytes=size,
        seconds=time.perf_counter() - started,
        backend=store.backend,
        consistency=str(result.get("consistency", "")),
        skipped=int(result.get("skipped", 0)),
        notes=list(result.get("notes", [])),
        layout=str(header.get("layout") or "sessions"),
    )


def _threads() -> int:
    """zstd worker threads: compression overlaps reading when there is a core to spare."""
    return 1 if (os.cpu_count() or 1) > 1 else 0


async def restore_backup(
    store: Store,
    path: str | os.PathLike[str],
    *,
    mode: str = "merge",
    keep_ttl: bool = False,
    progress: ProgressCallback | None = None,
    verified: BackupInfo | None = None,
) -> RestoreSummary:
    """Verify the whole file and load it into ``store``.

    SQLite and DynamoDB: a first pass verifies the whole file, a second loads it. PostgreSQL:
    one pass loads it inside one transaction that commits only once the whole file passed
    (checksum, counts, every record: PostgreSQL decodes each value), so a file that fails
    leaves the store as it was.

    ``mode="merge"`` adds the sessions the store does not have (with their events) and leaves
    the others as they are, so running it twice changes nothing; ``mode="replace"`` first
    deletes every session and event of the store (the CLI asks before). A file that fails
    verification raises :class:`BackupFileError` before anything is written.
    """
    from mcpstore_cli.ops.backup.restore import restore_verified
    from mcpstore_cli.util.interrupt import to_thread

    if mode not in ("merge", "replace"):
        raise UsageError(f"--mode must be merge or replace, not {mode!r}.")
    source = Path(path).expanduser()
    started = time.perf_counter()
    if verified is not None:
        info = verified
    elif store.verifies_while_loading:
        # A store that loads in one transaction that commits only after the whole file
        # checked out (PostgreSQL): one pass (the header is read now, so that a foreign file
        # is refused first).
        from mcpstore_cli.util.backupfile import read_header

        info = BackupInfo(path=source, header=read_header(source), verified=False)
    else:
        info = await to_thread(verify_file, source)
    verify_seconds = time.perf_counter() - started if info.verified else 0.0
    summary = await restore_verified(store, info, mode=mode, keep_ttl=keep_ttl, progress=progress)
    summary.verify_seconds += verify_seconds  # a store that verifies first adds its own
    summary.verified_while_loading = store.verifies_while_loading and not info.verified
    summary.seconds = time.perf_counter() - started
    return summary
