"""SQLite backups: portable records from one read transaction, native copies through the
online backup API, and loading a verified backup file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcpstore_cli.backends.jsoncodec import dumps
from mcpstore_cli.errors import StoreConnectionError

if TYPE_CHECKING:
    from mcpstore_cli.backends.sqlite import SqliteStore
    from mcpstore_cli.backup import BackupSpec, RestoreSummary
    from mcpstore_cli.backup.fileformat import BackupFileWriter, BackupInfo
    from mcpstore_cli.store import ProgressCallback

FETCH = 20_000

# A JSON text column as it goes into a record: minified by SQLite itself (json() keeps number
# and string tokens as written), NULL and "" (SQLite's "none") as null.
_OPTIONAL_JSON = "CASE WHEN {c} IS NULL OR {c} = '' THEN 'null' ELSE json({c}) END"
# CASE guards json_type: AND does not short-circuit in SQLite, and json_type raises on
# malformed JSON.
_VALID_SESSION = (
    "typeof(created_at) = 'integer' AND typeof(last_activity) = 'integer'"
    " AND CASE WHEN json_valid(state) THEN json_type(state) END = 'object'"
    " AND CASE WHEN json_valid(metadata) THEN json_type(metadata) END = 'object'"
    " AND (client_capabilities IS NULL OR client_capabilities = ''"
    " OR json_valid(client_capabilities))"
    " AND (server_capabilities IS NULL OR server_capabilities = ''"
    " OR json_valid(server_capabilities))"
)
_SESSION_LINE = (
    "'[\"s\",' || json_quote(CAST(session_id AS TEXT)) || ',' || created_at || ',' "
    "|| last_activity || ',' || CASE WHEN is_initialized THEN 'true' ELSE 'false' END || ',' "
    f"|| {_OPTIONAL_JSON.format(c='client_capabilities')} || ',' "
    f"|| {_OPTIONAL_JSON.format(c='server_capabilities')} || ',' "
    "|| json(state) || ',' || json(metadata) || ',null,null]'"
)
_EVENT_LINE = (
    "'[\"e\",' || json_quote(CAST(session_id AS TEXT)) || ',' || id || ',' || timestamp || ',' "
    "|| json_quote(CAST(event_type AS TEXT)) || ',' || json(data) || ',' "
    "|| COALESCE(retry, 'null') || ',null]'"
)
_VALID_EVENT = (
    "json_valid(data) AND typeof(timestamp) = 'integer'"
    " AND (retry IS NULL OR typeof(retry) = 'integer')"
)


def _session_where(spec: BackupSpec, args: list[Any]) -> str:
    where = [_VALID_SESSION]
    if spec.session_ids is not None:
        where.append("session_id IN (SELECT value FROM json_each(?))")
        args.append(json.dumps(list(spec.session_ids)))
    if spec.since_ms is not None:
        where.append("last_activity >= ?")
        args.append(spec.since_ms)
    return " AND ".join(where)


def backup_sync(
    store: SqliteStore,
    spec: BackupSpec,
    out: BackupFileWriter,
    header: dict[str, Any],
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    path = store.path
    try:
        conn = sqlite3.connect(
            f"file:{path.absolute()}?mode=ro",
            uri=True,
            timeout=store.options.connect_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise store._translate_error(exc) or exc from exc
    try:
        conn.execute("PRAGMA cache_size=-65536")
        # One read transaction: in WAL mode a snapshot of the first read (writers go on);
        # in rollback-journal mode a shared lock that makes writers wait until the end.
        conn.execute("BEGIN")
        s_args: list[Any] = []
        s_where = _session_where(spec, s_args)
        header["source"].update(event_ids="table", naming=None)
        header["consistency"] = "one SQLite read transaction"
        out.header(header)
        _stream(
            conn,
            f"SELECT {_SESSION_LINE} FROM sessions WHERE {s_where}",
            s_args,
            out.sessions_block,
            progress,
        )
        if spec.session_ids is None and spec.since_ms is None:
            e_filter = f"session_id IN (SELECT session_id FROM sessions WHERE {s_where})"
            e_args = list(s_args)
        else:
            e_filter = f"session_id IN (SELECT session_id FROM sessions WHERE {s_where})"
            e_args = list(s_args)
        _stream(
            conn,
            f"SELECT {_EVENT_LINE} FROM events WHERE {_VALID_EVENT} AND {e_filter} ORDER BY id",
            e_args,
            out.events_block,
            progress,
        )
        total_s = _count(conn, "sessions", spec, s_args)
        total_e = _count_events(conn, spec, s_args)
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise store._translate_error(exc) or StoreConnectionError(
            f"SQLite error on {path}: {exc}."
        ) from exc
    finally:
        conn.close()
    skipped = max(0, total_s - out.sessions) + max(0, total_e - out.events)
    notes = []
    if skipped:
        notes.append(
            f"left out {skipped:,} rows that cannot be read (malformed JSON, or events whose "
            "session is gone or unreadable)"
        )
    return {"consistency": header["consistency"], "skipped": skipped, "notes": notes}


def _count(conn: sqlite3.Connection, table: str, spec: BackupSpec, args: list[Any]) -> int:
    where = []
    params: list[Any] = []
    if spec.session_ids is not None:
        where.append("session_id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(spec.session_ids)))
    if spec.since_ms is not None:
        where.append("last_activity >= ?")
        params.append(spec.since_ms)
    sql = f"SELECT count(*) FROM {table}" + (f" WHERE {' AND '.join(where)}" if where else "")
    return int(conn.execute(sql, params).fetchone()[0])


def _count_events(conn: sqlite3.Connection, spec: BackupSpec, s_args: list[Any]) -> int:
    if spec.session_ids is None and spec.since_ms is None:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    where = []
    params: list[Any] = []
    if spec.session_ids is not None:
        where.append("session_id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(spec.session_ids)))
    if spec.since_ms is not None:
        where.append("last_activity >= ?")
        params.append(spec.since_ms)
    sql = (
        "SELECT count(*) FROM events WHERE session_id IN "
        f"(SELECT session_id FROM sessions WHERE {' AND '.join(where)})"
    )
    return int(conn.execute(sql, params).fetchone()[0])


def _stream(
    conn: sqlite3.Connection,
    sql: str,
    args: list[Any],
    sink: Any,
    progress: ProgressCallback | None,
) -> None:
    cur = conn.execute(sql, args)
    while True:
        rows = cur.fetchmany(FETCH)
        if not rows:
            return
        sink(("\n".join([r[0] for r in rows]) + "\n").encode())
        if progress is not None:
            progress(len(rows))


# -- native: the online backup API ---------------------------------------------------------
def native_backup_sync(store: SqliteStore, target: Path) -> int:
    """Copy the database page by page with SQLite's online backup API into a temporary file
    that is fsynced and renamed to ``target``. WAL-safe: the copy is one consistent state,
    committed WAL frames included. Returns the size of the copy."""
    source_path = store.path
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        src = sqlite3.connect(
            f"file:{source_path.absolute()}?mode=ro",
            uri=True,
            timeout=store.options.connect_timeout,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise store._translate_error(exc) or exc from exc
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst, pages=-1)
            # A standalone copy: no WAL beside it.
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        from mcpstore_cli.backup.fileformat import _fsync_dir

        _fsync_dir(target.parent)
        return os.stat(target).st_size
    except sqlite3.Error as exc:
        raise store._translate_error(exc) or StoreConnectionError(
            f"SQLite backup of {source_path} failed: {exc}."
        ) from exc
    finally:
        src.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


# -- restore -------------------------------------------------------------------------------
_INSERT_SESSION = (
    "INSERT {verb} INTO sessions (session_id, client_capabilities, server_capabilities, state, "
    "created_at, last_activity, is_initialized, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def restore_sync(
    store: SqliteStore,
    info: BackupInfo,
    summary: RestoreSummary,
    *,
    mode: str,
    keep_ids: bool | None,
    progress: ProgressCallback | None,
) -> None:
    """Load the verified file in ONE write transaction: all of it or nothing."""
    from mcpstore_cli.backup.fileformat import iter_record_blocks

    conn = sqlite3.connect(store.path, timeout=store.options.connect_timeout, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA cache_size=-131072")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if mode == "replace":
                summary.replaced_sessions = conn.execute(
                    "SELECT count(*) FROM sessions"
                ).fetchone()[0]
                summary.replaced_events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
                conn.execute("DELETE FROM events")
                conn.execute("DELETE FROM sessions")
            empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM sessions)").fetchone()[0]
            if keep_ids is None:
                keep_ids = info.event_ids == "table" and (
                    info.min_event_id is None
                    or not conn.execute(
                        "SELECT EXISTS (SELECT 1 FROM events WHERE id BETWEEN ? AND ?)",
                        (info.min_event_id, info.max_event_id),
                    ).fetchone()[0]
                )
            summary.event_ids = "kept" if keep_ids else "renumbered by the target"
            restored: set[str] | None = None if empty else set()
            if keep_ids:
                insert_event = (
                    "INSERT INTO events (id, session_id, timestamp, event_type, data, retry) "
                    "VALUES (?, ?, ?, ?, ?, ?)"
                )
            else:
                insert_event = (
                    "INSERT INTO events (session_id, timestamp, event_type, data, retry) "
                    "VALUES (?, ?, ?, ?, ?)"
                )
            for kind, lines in iter_record_blocks(info.path):
                records = [json.loads(line) for line in lines]
                if kind == "s":
                    rows = [
                        (
                            r[1],
                            None if r[5] is None else dumps(r[5]),
                            dumps(r[6]),
                            dumps(r[7]),
                            r[2],
                            r[3],
                            1 if r[4] else 0,
                            dumps(r[8]),
                        )
                        for r in records
                    ]
                    if restored is None:
                        conn.executemany(_INSERT_SESSION.format(verb=""), rows)
                        summary.sessions += len(rows)
                    else:
                        for row in rows:
                            cur = conn.execute(_INSERT_SESSION.format(verb="OR IGNORE"), row)
                            if cur.rowcount:
                                restored.add(row[0])
                                summary.sessions += 1
                            else:
                                summary.skipped_sessions += 1
                else:
                    if restored is not None:
                        kept = [r for r in records if r[1] in restored]
                        summary.skipped_events += len(records) - len(kept)
                        records = kept
                    if keep_ids:
                        erows = [(r[2], r[1], r[3], r[4], dumps(r[5]), r[6]) for r in records]
                    else:
                        erows = [(r[1], r[3], r[4], dumps(r[5]), r[6]) for r in records]
                    conn.executemany(insert_event, erows)
                    summary.events += len(erows)
                if progress is not None:
                    progress(len(lines))
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise store._translate_error(exc) or StoreConnectionError(
            f"Restore into {store.path} failed and was rolled back: {exc}."
        ) from exc
    finally:
        conn.close()


async def restore(
    store: SqliteStore,
    info: BackupInfo,
    summary: RestoreSummary,
    *,
    mode: str,
    progress: ProgressCallback | None,
) -> None:
    await asyncio.to_thread(
        restore_sync, store, info, summary, mode=mode, keep_ids=None, progress=progress
    )


async def clear_counts(store: SqliteStore) -> tuple[int, int]:
    rows = store._read(
        "SELECT (SELECT count(*) FROM sessions) AS s, (SELECT count(*) FROM events) AS e"
    )
    return int(rows[0]["s"]), int(rows[0]["e"])


NATIVE_SUFFIX = ".backup.db"


def native_target(store: SqliteStore, target: str | None) -> Path:
    """Where ``backup --native`` writes: ``target`` (a file, or a directory for the default
    name), else ``<stem>-<UTC time>.backup.db`` in the current directory."""
    from mcpstore_cli.backup import timestamp_label
    from mcpstore_cli.errors import UsageError

    name = f"{store.path.stem}-{timestamp_label()}{NATIVE_SUFFIX}"
    if target is None:
        return Path(name)
    path = Path(target).expanduser()
    if path.is_dir():
        return path / name
    if path.absolute() == store.path.absolute():
        raise UsageError("The backup cannot replace the database it copies; name another file.")
    return path


def native_row(path: Path, size: int) -> dict[str, Any]:
    stat = path.stat()
    return {
        "kind": "sqlite",
        "name": path.name,
        "path": str(path),
        "created_at": int(stat.st_mtime * 1000),
        "bytes": size,
        "status": "complete",
    }


def list_native(store: SqliteStore, directory: Path) -> list[dict[str, Any]]:
    """SQLite databases named ``*.backup.db`` in ``directory`` (what backup --native writes)."""
    from mcpstore_cli.backup.fileformat import SQLITE_MAGIC

    rows = []
    for path in sorted(directory.glob(f"*{NATIVE_SUFFIX}")):
        try:
            with open(path, "rb") as fh:
                if fh.read(16) != SQLITE_MAGIC:
                    continue
        except OSError:
            continue
        rows.append(native_row(path, path.stat().st_size))
    return rows
