"""DynamoDB backups: portable records from strongly consistent parallel scans, native
on-demand backups of both tables, and loading a verified backup file.

What a portable DynamoDB backup can promise: every item it holds was read with a strongly
consistent read, and every event in it belongs to a session in it; DynamoDB has no
cross-table snapshot, so writes that happen while the scans run may or may not be in it
(a session created after the session scan passed its key is left out with its events).
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from mcpstore_cli.backends.dynamodb.common import BATCH_WRITE_MAX, _expired, _n, _s
from mcpstore_cli.errors import StoreConnectionError, UsageError
from mcpstore_cli.layouts.turul_sessions.dynamodb import EVENTS_SUFFIX, SESSION_TTL_S, TTL
from mcpstore_cli.model.records import CorruptRow, Event, Session

if TYPE_CHECKING:
    from mcpstore_cli.backends.dynamodb.store import DynamoDBStore
    from mcpstore_cli.model.backup import BackupSpec, RestoreSummary
    from mcpstore_cli.store.base import ProgressCallback
    from mcpstore_cli.util.backupfile import BackupFileWriter, BackupInfo

BLOCK_LINES = 5000


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def backup_sync(
    store: DynamoDBStore,
    spec: BackupSpec,
    out: BackupFileWriter,
    header: dict[str, Any],
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    store._ensure_readable_sync()
    assert store._sessions is not None and store._events is not None
    header["source"].update(event_ids="session", naming=store._sessions.names.convention)
    header["consistency"] = (
        "strongly consistent parallel scans of each table (DynamoDB has no snapshot across "
        "tables: writes during the backup may be left out)"
    )
    out.header(header)
    now_s = int(time.time())
    wanted = set(spec.session_ids) if spec.session_ids is not None else None
    kept: set[str] = set()
    skipped = 0
    lines: list[str] = []

    def flush(put: Any) -> None:
        if lines:
            put(("\n".join(lines) + "\n").encode())
            if progress is not None:
                progress(len(lines))
            lines.clear()

    s_info = store._sessions
    segments = store._segments_for(s_info)
    for page in store._scan_pages(s_info, {"ConsistentRead": True}, segments):
        for raw in page:
            ttl = _n(raw.get(s_info.names.ttl))
            if _expired(ttl, now_s):
                continue
            session = store._decode_session(raw)
            if isinstance(session, CorruptRow):
                skipped += 1
                continue
            if wanted is not None and session.session_id not in wanted:
                continue
            if spec.since_ms is not None and session.last_activity < spec.since_ms:
                continue
            kept.add(session.session_id)
            lines.append(_dumps(session_record(session)))
        if len(lines) >= BLOCK_LINES:
            flush(out.sessions_block)
    flush(out.sessions_block)
    e_info = store._events
    segments = store._segments_for(e_info)
    for page in store._scan_pages(e_info, {"ConsistentRead": True}, segments):
        for raw in page:
            sid = _s(raw.get(e_info.names.session_id))
            if sid not in kept or _expired(_n(raw.get(e_info.names.ttl)), now_s):
                continue
            event = store._decode_event(raw)
            if isinstance(event, CorruptRow):
                skipped += 1
                continue
            lines.append(_dumps(event_record(event)))
        if len(lines) >= BLOCK_LINES:
            flush(out.events_block)
    flush(out.events_block)
    notes = []
    if skipped:
        notes.append(f"left out {skipped:,} items that cannot be read")
    return {"consistency": header["consistency"], "skipped": skipped, "notes": notes}


def session_record(s: Session) -> list[Any]:
    return [
        "s",
        s.session_id,
        s.created_at,
        s.last_activity,
        bool(s.is_initialized),
        s.client_capabilities,
        s.server_capabilities,
        s.state,
        s.metadata,
        s.extra("version"),
        s.extra(TTL),
    ]


def event_record(e: Event) -> list[Any]:
    return ["e", e.session_id, e.id, e.timestamp, e.event_type, e.data, e.retry, e.extra(TTL)]


# -- restore -------------------------------------------------------------------------------
def _existing(store: DynamoDBStore, ids: list[str], now_s: int) -> set[str]:
    """Which of ``ids`` the sessions table holds (unexpired), by consistent BatchGetItem."""
    assert store._sessions is not None
    n = store._sessions.names
    found: set[str] = set()
    for start in range(0, len(ids), 100):
        keys = [{n.session_id: {"S": sid}} for sid in dict.fromkeys(ids[start : start + 100])]
        request: dict[str, Any] = {
            store.table: {
                "Keys": keys,
                "ConsistentRead": True,
                "ProjectionExpression": "#sid, #ttl",
                "ExpressionAttributeNames": {"#sid": n.session_id, "#ttl": n.ttl},
            }
        }
        delay = 0.05
        while request:
            response = store._call("batch_get_item", RequestItems=request)
            for item in response.get("Responses", {}).get(store.table, []):
                if not _expired(_n(item.get(n.ttl)), now_s):
                    found.add(_s(item.get(n.session_id)) or "")
            request = {k: v for k, v in (response.get("UnprocessedKeys") or {}).items() if v}
            if request:
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
    return found


def _clear_sync(store: DynamoDBStore, pool: ThreadPoolExecutor, workers: int) -> tuple[int, int]:
    """Delete every item of both tables (keys-only scans, batched deletes)."""
    counts = []
    for info in (store._sessions, store._events):
        assert info is not None
        keys = [k["AttributeName"] for k in (info.description or {}).get("KeySchema", [])]
        params = {
            "ProjectionExpression": ", ".join(f"#k{i}" for i in range(len(keys))),
            "ExpressionAttributeNames": {f"#k{i}": k for i, k in enumerate(keys)},
        }
        total = 0
        for page in store._scan_pages(info, params, store._segments_for(info)):
            requests = [(info.name, {k: item[k] for k in keys}) for item in page]
            total += len(requests)
            _parallel_write(store, pool, workers, requests, delete=True)
        counts.append(total)
    return counts[0], counts[1]


def _parallel_write(
    store: DynamoDBStore,
    pool: ThreadPoolExecutor,
    workers: int,
    requests: list[tuple[str, dict[str, Any]]],
    *,
    delete: bool = False,
) -> None:
    if not requests:
        return
    size = BATCH_WRITE_MAX * max(1, math.ceil(len(requests) / BATCH_WRITE_MAX / workers))
    chunks = [requests[i : i + size] for i in range(0, len(requests), size)]
    for future in [pool.submit(store.batch_write, c, delete=delete) for c in chunks]:
        future.result()


def restore_sync(
    store: DynamoDBStore,
    info: BackupInfo,
    summary: RestoreSummary,
    *,
    mode: str,
    keep_ttl: bool,
    progress: ProgressCallback | None,
) -> None:
    from mcpstore_cli.util.backupfile import iter_record_blocks

    store._ensure_readable_sync()
    assert store._sessions is not None and store._events is not None
    workers = max(4, store.options.segments or 8)
    now_s = int(time.time())
    fresh_ttl = now_s + SESSION_TTL_S
    keep_ids = info.event_ids == "session"
    summary.event_ids = "kept" if keep_ids else "renumbered per session (1, 2, 3, ...)"
    summary.ttl = "kept from the backup" if keep_ttl else "recomputed from now"
    skip: set[str] = set()
    next_id: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mcpstore-restore") as pool:
        if mode == "replace":
            summary.replaced_sessions, summary.replaced_events = _clear_sync(store, pool, workers)
        for kind, lines in iter_record_blocks(info.path):
            for start in range(0, len(lines), BLOCK_LINES):
                part = [json.loads(line) for line in lines[start : start + BLOCK_LINES]]
                requests: list[tuple[str, dict[str, Any]]] = []
                if kind == "s":
                    present = (
                        _existing(store, [r[1] for r in part], now_s) if mode == "merge" else set()
                    )
                    for r in part:
                        if r[1] in present:
                            skip.add(r[1])
                            summary.skipped_sessions += 1
                            continue
                        session = Session(
                            session_id=r[1],
                            created_at=r[2],
                            last_activity=r[3],
                            is_initialized=r[4],
                            client_capabilities=r[5],
                            server_capabilities=r[6],
                            state=r[7],
                            metadata=r[8],
                            extras={TTL: r[10]} if keep_ttl and r[10] is not None else None,
                        )
                        requests.append((store.table, store._session_item(session, fresh_ttl)))
                    summary.sessions += len(requests)
                else:
                    for r in part:
                        sid = r[1]
                        if sid in skip:
                            summary.skipped_events += 1
                            continue
                        if keep_ids:
                            eid = r[2]
                        else:
                            eid = next_id.get(sid, 0) + 1
                            next_id[sid] = eid
                        event = Event(
                            session_id=sid,
                            id=eid,
                            timestamp=r[3],
                            event_type=r[4],
                            data=r[5],
                            retry=r[6],
                            extras={TTL: r[7]} if keep_ttl and r[7] is not None else None,
                        )
                        requests.append((store.events_table, store._event_item(event, fresh_ttl)))
                    summary.events += len(requests)
                _parallel_write(store, pool, workers, requests)
                if progress is not None:
                    progress(len(part))


async def restore(
    store: DynamoDBStore,
    info: BackupInfo,
    summary: RestoreSummary,
    *,
    mode: str,
    keep_ttl: bool,
    progress: ProgressCallback | None,
) -> None:
    from mcpstore_cli.util.interrupt import to_thread

    await to_thread(
        restore_sync, store, info, summary, mode=mode, keep_ttl=keep_ttl, progress=progress
    )


def count_rows_sync(store: DynamoDBStore) -> tuple[int, int]:
    """Unexpired items of both tables (a keys-only count scan of each)."""
    store._ensure_readable_sync()
    now_s = int(time.time())
    totals = []
    for info in (store._sessions, store._events):
        assert info is not None
        total = 0
        params = {
            "FilterExpression": "attribute_not_exists(#ttl) OR #ttl > :now",
            "ExpressionAttributeNames": {"#ttl": info.names.ttl},
            "ExpressionAttributeValues": {":now": {"N": str(now_s)}},
            "Select": "COUNT",
        }
        segments = store._segments_for(info)
        kw: dict[str, Any] = dict(params)
        if segments <= 1:
            while True:
                response = store._call("scan", TableName=info.name, **kw)
                total += int(response.get("Count", 0))
                last = response.get("LastEvaluatedKey")
                if not last:
                    break
                kw["ExclusiveStartKey"] = last
        else:
            for page in store._scan_pages(info, {**params, "Select": "ALL_ATTRIBUTES"}, segments):
                total += len(page)
        totals.append(total)
    return totals[0], totals[1]


# -- native: on-demand backups -------------------------------------------------------------
def native_backup_sync(store: DynamoDBStore, label: str) -> list[dict[str, Any]]:
    """On-demand backups of both tables, named ``<table>-<label>``."""
    store._ensure_readable_sync()
    out = []
    for table in (store.table, store.events_table):
        name = f"{table}-{label}"
        details = store._call("create_backup", TableName=table, BackupName=name)["BackupDetails"]
        out.append(_backup_row(table, details))
    return out


def _backup_row(table: str, details: dict[str, Any]) -> dict[str, Any]:
    created: Any = details.get("BackupCreationDateTime")  # a datetime from botocore
    created_ms = int(created.timestamp() * 1000) if hasattr(created, "timestamp") else None
    return {
        "kind": "dynamodb",
        "backend": "dynamodb",
        "name": details.get("BackupName"),
        "table": details.get("TableName", table),
        "created_at": created_ms,
        "bytes": details.get("BackupSizeBytes"),
        "status": details.get("BackupStatus"),
        "arn": details.get("BackupArn"),
    }


def list_native_sync(store: DynamoDBStore) -> list[dict[str, Any]]:
    rows = []
    for table in (store.table, store.events_table):
        kw: dict[str, Any] = {"TableName": table}
        while True:
            response = store._call("list_backups", **kw)
            for summary in response.get("BackupSummaries", []):
                rows.append(_backup_row(table, summary))
            last = response.get("LastEvaluatedBackupArn")
            if not last:
                break
            kw["ExclusiveStartBackupArn"] = last
    return rows


def restore_native_sync(store: DynamoDBStore, name: str, to_table: str) -> list[dict[str, Any]]:
    """Restore the backup pair ``name`` (as ``backup list`` shows it: the sessions table's
    backup; the events table's is found beside it) into new tables ``to_table`` and
    ``to_table-events``, then turn time to live on as setup does."""
    backups = list_native_sync(store)
    by_name = {row["name"]: row for row in backups}
    sessions = by_name.get(name)
    if sessions is None or sessions["table"] != store.table:
        raise UsageError(
            f"No on-demand backup named {name} of table {store.table}; see mcpstore backup list."
        )
    suffix = name[len(store.table) :] if name.startswith(store.table) else None
    events = by_name.get(f"{store.events_table}{suffix}") if suffix is not None else None
    if events is None:
        raise UsageError(
            f"The backup {name} has no matching backup of {store.events_table}; restore it "
            "with the AWS console or CLI."
        )
    targets = [(sessions, to_table), (events, to_table + EVENTS_SUFFIX)]
    for _, target in targets:
        if store._describe(target) is not None:
            raise UsageError(f"Table {target} exists already; --to-table needs a new name.")
    for row in (sessions, events):
        if row["status"] not in (None, "AVAILABLE"):
            raise StoreConnectionError(
                f"The backup {row['name']} is {row['status']}, not AVAILABLE yet; try again later."
            )
    done = []
    for row, target in targets:
        store._call("restore_table_from_backup", TargetTableName=target, BackupArn=row["arn"])
        done.append({"backup": row["name"], "table": target})
    for _, target in targets:
        store._wait_active(target)
        ttl = store._sessions.names.ttl if store._sessions is not None else TTL
        store._call(
            "update_time_to_live",
            TableName=target,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl},
        )
    return done
