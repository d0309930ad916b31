"""``backup list``: the backup files in a directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcpstore_cli.util.backupfile import (
    GZIP_MAGIC,
    SQLITE_MAGIC,
    ZSTD_MAGIC,
    BackupFileError,
    read_header,
)

NATIVE_SQLITE_SUFFIX = ".backup.db"


def _magic(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(16)
    except OSError:
        return b""


def list_files(folder: Path) -> list[dict[str, Any]]:
    """Portable backups (by their header), SQLite copies made by backup --native, and the
    temporary files of interrupted backups (never restorable: they lack a trailer)."""
    rows: list[dict[str, Any]] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        stat = path.stat()
        base = {
            "name": path.name,
            "path": str(path),
            "bytes": stat.st_size,
            "created_at": int(stat.st_mtime * 1000),
            "backend": None,
            "store": None,
        }
        if path.name.startswith(".") and path.name.endswith(".partial"):
            rows.append({**base, "kind": "file", "status": "incomplete (interrupted backup)"})
            continue
        magic = _magic(path)
        if magic.startswith(SQLITE_MAGIC):
            if path.name.endswith(NATIVE_SQLITE_SUFFIX):
                rows.append({**base, "kind": "sqlite", "backend": "sqlite", "status": "copy"})
            continue
        if not (magic.startswith(ZSTD_MAGIC) or magic.startswith(GZIP_MAGIC)):
            continue
        try:
            header = read_header(path)
        except BackupFileError:
            continue
        source = header.get("source") or {}
        rows.append(
            {
                **base,
                "kind": "file",
                "backend": source.get("backend"),
                "store": source.get("store"),
                "created_at": header.get("created_at", base["created_at"]),
                "status": "unverified (restore verifies it)",
            }
        )
    return rows
