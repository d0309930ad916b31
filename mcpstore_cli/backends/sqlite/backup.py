"""SQLite backups: portable records from one read transaction, native copies through the
online backup API, and loading a verified backup file."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcpstore_cli.errors import StoreConnectionError
from mcpstore_cli.util.interrupt import check as check_interrupt
from mcpstore_cli.util.jsoncodec import dumps

if TYPE_CHECKING:
    from mcpstore_cli.backends.sqlite.store import SqliteStore
    from mcpstore_cli.model.backup import BackupSpec, RestoreSummary
    from mcpstore_cli.store.base import ProgressCallback
    from mcpstore_cli.util.backupfile import BackupFileWriter, BackupInfo


CHUNK = 5_000

MMAP_LIMIT = 1 << 40  # native copies read the source through a map of up to this


# Stored JSON goes into a record as it is stored (a server writes compact JSON): json_valid
# vouches for it. JSON text that spans lines (a newline is JSON whitespace) would break the
# one-record-per-line rule: a chunk with more lines than records is rendered again with json()
# minifying every value. CASE makes the guards short-circuit (AND does not in SQLite, and the
# JSON functions raise on BLOBs).
def _valid_json(column: str, *, optional: bool = False, obj: bool = False) -> str:
    test = f"CASE WHEN typeof({column}) = 'text' THEN json_valid({column}) ELSE 0 END"
    if obj:
        # Valid JSON whose first character is "{" is an object.
        test = f"({test} AND ltrim({column}, ' ' || char(9, 10, 13)) GLOB '{{*')"
    if optional:
        test = f"({column} IS NULL OR {column} = '' OR {test})"
    return test


def _json(column: str, minify: bool) -> str:
    return f"json({column})" if minify else column


def _optional(column: str, minify: bool) -> str:
    return (
        f"CASE WHEN {column} IS NULL OR {column} = '' THEN 'null' ELSE {_json(column, minify)} END"
    )


_VALID_SESSION = " AND ".join(
    [
        "typeof(created_at) = 'integer'",
        "typeof(last_activity) = 'integer'",
        _valid_json("state", obj=True),
        _valid_json("metadata", obj=True),
        _valid_json("client_capabilities", optional=True),
        _valid_json("server_capabilities", optional=True),
    ]
)


def _session_line(minify: bool) -> str:
    # One printf: a single allocation per record.
    return (
        "printf('[\"s\",%s,%lld,%lld,%s,%s,%s,%s,%s,null,null]', "
        "json_quote(CAST(session_id AS TEXT)), created_at, last_activity, "
        "CASE WHEN is_initialized THEN 'true' ELSE 'false' END, "
        f"{_optional('client_capabilities', minify)}, {_optional('server_capabilities', minify)}, "
        f"{_json('state', minify)}, {_json('metadata', minify)})"
    )


def _event_line(minify: bool) -> str:
    return (
        "printf('[\"e\",%s,%lld,%lld,%s,%s,%s,null]', json_quote(CAST(e.session_id AS TEXT)), "
        "e.id, e.timestamp, json_quote(CAST(e.event_type AS TEXT)), "
        f"{_json('e.data', minify)}, COALESCE(e.retry, 'null'))"
    )


_VALID_EVENT = " AND ".join(
    [
        _valid_json("e.data"),
        "typeof(e.timestamp) = 'integer'",
        "(e.retry IS NULL OR typeof(e.retry) = 'integer')",
        "e.id > 0",
    ]
)


_ORPHANS = (
    "SELECT d.session_id FROM (SELECT DISTINCT session_id FROM events) d "
    "WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = d.session_id)"
)


def _selection(spec: BackupSpec, alias: str = "") -> tuple[list[str], list[Any]]:
    """The --session / --since conditions on sessions (columns prefixed with ``alias``)."""
    where: list[str] = []
    args: list[Any] = []
    if spec.session_ids is not None:
        where.append(f"{alias}session_id IN (SELECT value FROM json_each(?))")
        args.append(json.dumps(list(spec.session_ids)))
    if spec.since_ms is not None:
        where.append(f"{alias}last_activity >= ?")
        args.append(spec.since_ms)
    return where, args


def _reader(store: SqliteStore) -> tuple[Any, type[BaseException]]:
    """A read-only connection for rendering records, and the error class of its binding.

    APSW, where it is installed, carries a recent SQLite whose JSON functions and printf run
    about twice as fast as an older system library's (measured on this module's queries);
    the standard library's sqlite3 reads the same files otherwise. Rendering is the part of
    a portable backup that one core does alone, so its speed is the backup's."""
    uri = f"file:{store.path.absolute()}?mode=ro"
    try:
        import apsw
    except ImportError:
        try:
            plain = sqlite3.connect(
                uri,
                uri=True,
                timeout=store.options.connect_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise store._translate_error(exc) or exc from exc
        return plain, sqlite3.Error
    try:
        conn = apsw.Connection(uri, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
        conn.set_busy_timeout(int(store.options.connect_timeout * 1000))
    except apsw.Error as exc:
        raise store._translate_error(exc) or StoreConnectionError(
            f"SQLite error on {store.path}: {exc}."
        ) from exc
    return conn, apsw.Error


def backup_sync(
    store: SqliteStore,
    spec: BackupSpec,
    out: BackupFileWriter,
    header: dict[str, Any],
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """Records from ONE read transaction, in keyset chunks that SQLite renders and joins
    itself (one string per chunk: no per-row Python work)."""
    path = store.path
    conn, db_error = _reader(store)
    skipped_sessions: list[str] = []
    scanned_events = 0
    try:
        conn.execute("PRAGMA cache_size=-16384")
        # One read transaction: in WAL mode a snapshot of the first read (writers go on);
        # in rollback-journal mode a shared lock that makes writers wait until the end.
        conn.execute("BEGIN")
        header["source"].update(event_ids="table", naming=None)
        header["consistency"] = "one SQLite read transaction"
        out.header(header)
        where, args = _selection(spec)
        picked = " AND ".join(where) if where else "1"

        def s_sql(minify: bool) -> str:
            # An unreadable session comes as its id after \x01, in the same column.
            return (
                "SELECT max(r), count(*), count(line), group_concat(line, char(10)) FROM ("
                f"SELECT rowid AS r, CASE WHEN {_VALID_SESSION} THEN {_session_line(minify)} "
                "ELSE char(1) || CAST(session_id AS TEXT) END AS line "
                f"FROM sessions WHERE rowid > ? AND rowid <= ? AND {picked} "
                f"ORDER BY rowid LIMIT {CHUNK})"
            )

        for text, count in _chunks(conn, s_sql, args):
            if "\x01" in text:
                good = []
                for line in text.split("\n"):
                    if line.startswith("\x01"):
                        skipped_sessions.append(line[1:])
                    else:
                        good.append(line)
                text = "\n".join(good)
            if text:
                out.sessions_block((text + "\n").encode())
            if progress is not None:
                progress(count)
        e_where, e_args = _selection(spec, "s.")
        # Events of sessions in the backup only: none of a skipped session, no orphans.
        if e_where:
            exists = "EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = e.session_id"
            exists += "".join(f" AND {w}" for w in e_where) + ")"
            excluded = list(skipped_sessions)
        else:
            # Every session is in: orphans are found once, from the (session_id, id) index
            # (sorted, so DISTINCT is a walk), not by a probe per event.
            exists = "1"
            excluded = [*skipped_sessions, *(r[0] for r in conn.execute(_ORPHANS))]
        if excluded:
            exists += " AND e.session_id NOT IN (SELECT value FROM json_each(?))"
            e_args.append(json.dumps(excluded))

        def e_sql(minify: bool) -> str:
            return (
                "SELECT max(id), count(*), count(line), group_concat(line, char(10)) FROM ("
                f"SELECT e.id AS id, CASE WHEN {_VALID_EVENT} AND {exists} "
                f"THEN {_event_line(minify)} END AS line "
                f"FROM events e WHERE e.id > ? AND e.id <= ? ORDER BY e.id LIMIT {CHUNK})"
            )

        for text, count in _chunks(conn, e_sql, e_args, params_first=False):
            scanned_events += count
            if text:
                out.events_block((text + "\n").encode())
            if progress is not None:
                progress(count)
        conn.execute("COMMIT")
    except db_error as exc:
        raise store._translate_error(exc) or StoreConnectionError(
            f"SQLite error on {path}: {exc}."
        ) from exc
    finally:
        conn.close()
    notes = []
    skipped = len(skipped_sessions)
    # Filtered: events of other sessions were never meant to be in it.
    skipped_events = 0 if where else scanned_events - out.events
    skipped += skipped_events
    if skipped_sessions:
        notes.append(
            f"left out {len(skipped_sessions):,} sessions that cannot be read (malformed "
            f"JSON), e.g. {skipped_sessions[0]}, with their events"
        )
    if skipped_events:
        notes.append(
            f"left out {skipped_events:,} events that cannot be read or whose session is gone "
            "or unreadable"
        )
    return {"consistency": header["consistency"], "skipped": skipped, "notes": notes}


def _chunks(
    conn: sqlite3.Connection, sql: Any, args: list[Any], *, params_first: bool = True
) -> Iterator[tuple[str, int]]:
    """(records joined by newlines, rows scanned) per keyset chunk of ``sql(minify)``; a chunk
    whose JSON spans lines is rendered again, minified, over the same key range."""
    plain, minified = sql(False), sql(True)
    last = -(2**63)
    top_key = 2**63 - 1
    while True:
        bounds = [last, top_key]
        params = [*bounds, *args] if params_first else [*args, *bounds]
        top, count, lines, text = conn.execute(plain, params).fetchone()
        if not count:
            return
        if text and text.count("\n") != lines - 1:
            bounds = [last, top]
            params = [*bounds, *args] if params_first else [*args, *bounds]
            top, count, lines, text = conn.execute(minified, params).fetchone()
        last = top
        yield text or "", count


# -- native: the online backup API ---------------------------------------------------------
def native_backup_sync(
    store: SqliteStore,
    target: Path,
    *,
    force: bool = False,
    cancelled: threading.Event | None = None,
) -> int:
    """Copy the database page by page with SQLite's online backup API into a temporary file
    that is fsynced and renamed to ``target`` (see :mod:`mcpstore_cli.util.outfile`: an existing
    file only with ``force``, never the store's own files or another database). WAL-safe: the
    copy is one consistent state, committed WAL frames included. A set ``cancelled`` (Ctrl-C)
    drops the copy instead of putting it in place. Returns the size of the copy."""
    from mcpstore_cli.util.outfile import OutputFile

    source_path = store.path
    out = OutputFile(target, force=force, protect=store.own_files())
    try:
        os.close(out.take_fd())
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
            # Pages are read through a memory map (SQLite caps it at its build's limit): half
            # the system calls of a page-by-page copy. The read transaction keeps the mapped
            # pages from being truncated away under it, in WAL and rollback-journal mode alike.
            src.execute(f"PRAGMA mmap_size={MMAP_LIMIT}")
            dst = sqlite3.connect(out.tmp)
            try:
                # One step: a copy in steps starts over whenever a server writes in between.
                src.backup(dst, pages=-1)
                # A standalone copy: no WAL beside it.
                dst.execute("PRAGMA journal_mode=DELETE")
            finally:
                dst.close()
        except sqlite3.Error as exc:
            raise store._translate_error(exc) or StoreConnectionError(
                f"SQLite backup of {source_path} failed: {exc}."
            ) from exc
        finally:
            src.close()
        with open(out.tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        # After Ctrl-C the copy is dropped here instead of taking its name.
        if cancelled is not None and cancelled.is_set():
            raise KeyboardInterrupt
        check_interrupt()
        return out.commit()
    finally:
        out.abort()


async def native_backup(store: SqliteStore, target: Path, *, force: bool = False) -> int:
    """:func:`native_backup_sync` in a thread; cancelling (Ctrl-C) leaves no copy behind."""
    from mcpstore_cli.util.interrupt import to_thread

    cancelled = threading.Event()
    try:
        return await to_thread(native_backup_sync, store, target, force=force, cancelled=cancelled)
    except BaseException:
        cancelled.set()
        raise


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
    from mcpstore_cli.util.backupfile import iter_record_blocks

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
                    erows: list[tuple[Any, ...]]
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
    from mcpstore_cli.util.interrupt import to_thread

    await to_thread(restore_sync, store, info, summary, mode=mode, keep_ids=None, progress=progress)


async def clear_counts(store: SqliteStore) -> tuple[int, int]:
    rows = store._read(
        "SELECT (SELECT count(*) FROM sessions) AS s, (SELECT count(*) FROM events) AS e"
    )
    return int(rows[0]["s"]), int(rows[0]["e"])


NATIVE_SUFFIX = ".backup.db"


def native_target(store: SqliteStore, target: str | None) -> Path:
    """Where ``backup --native`` writes: ``target`` (a file, or a directory for the default
    name), else ``<stem>-<UTC time>.backup.db`` in the current directory."""
    from mcpstore_cli.model.backup import timestamp_label

    name = f"{store.path.stem}-{timestamp_label()}{NATIVE_SUFFIX}"
    if target is None:
        return Path(name)
    path = Path(target).expanduser()
    if path.is_dir():
        return path / name
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
    from mcpstore_cli.util.backupfile import SQLITE_MAGIC

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
