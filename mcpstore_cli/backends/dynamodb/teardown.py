"""Clear and teardown on DynamoDB.

``clear`` scans both tables keys-only in parallel segments and deletes what it finds with
BatchWriteItem (25 keys a call) on a pool of threads, so reads and writes overlap and the
service, not one round trip after another, sets the pace. ``clear --recreate`` reads both
tables' settings (keys, billing, indexes, stream, encryption, table class, time to live, tags,
point-in-time recovery where the endpoint can say), deletes the tables, waits until they are
gone and creates them again with the same settings: the stream gets a new ARN.

The preview (:func:`inventory`) costs a few control-plane calls and one COUNT page per table:
exact on small tables, DescribeTable's item count (refreshed about every six hours) beyond.
Endpoints without the backup API (DynamoDB Local) report backups as unknown.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcpstore_cli.backends.dynamodb.common import _items
from mcpstore_cli.errors import (
    LayoutError,
    McpStoreError,
    StoreConnectionError,
    StoreMissingError,
)
from mcpstore_cli.model.teardown import ClearResult, Inventory, TableFacts
from mcpstore_cli.store.base import ProgressCallback

if TYPE_CHECKING:
    from mcpstore_cli.backends.dynamodb.common import TableInfo
    from mcpstore_cli.backends.dynamodb.store import DynamoDBStore

COUNT_PAGE_LIMIT = 5_000  # the preview counts exactly when one COUNT page covers the table
DELETE_THREADS = 8  # DynamoDB Local burns more CPU per delete beyond this (measured)
MIN_CLEAR_SEGMENTS = 4  # keys-only scans are light: more segments keep the deletes fed
FIRST_PAGE = 250  # a short first page per segment: the deletes start at once
GONE_TIMEOUT_S = 300.0
UNSUPPORTED = {"UnknownOperationException", "UnrecognizedClientException"}


def _code(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        response = getattr(cause, "response", None)
        if isinstance(response, dict):
            return str(response.get("Error", {}).get("Code", ""))
        cause = cause.__cause__
    return ""


def _optional(store: DynamoDBStore, method: str, **kw: Any) -> tuple[Any, str | None]:
    """A control-plane call some endpoints lack: (response, None) or (None, why not)."""
    try:
        return store._call(method, **kw), None
    except McpStoreError as exc:
        code = _code(exc)
        if code in UNSUPPORTED or "does not support" in exc.message:
            return None, "this endpoint does not offer it"
        if code in ("AccessDeniedException",):
            return None, "access denied"
        return None, exc.message


# -- the preview ----------------------------------------------------------------------------
def _count(store: DynamoDBStore, name: str, estimate: int) -> tuple[int, bool]:
    response = store._call("scan", TableName=name, Select="COUNT", Limit=COUNT_PAGE_LIMIT)
    counted = int(response.get("Count") or 0)
    if not response.get("LastEvaluatedKey"):
        return counted, True
    return max(estimate, counted), False


def _backups(store: DynamoDBStore, names: list[str]) -> dict[str, Any]:
    found: list[dict[str, Any]] = []
    for name in names:
        kw: dict[str, Any] = {"TableName": name, "BackupType": "ALL"}
        while True:
            response, why = _optional(store, "list_backups", **kw)
            if response is None:
                return {"status": "unknown", "reason": f"ListBackups: {why}"}
            found += response.get("BackupSummaries") or []
            last = response.get("LastEvaluatedBackupArn")
            if not last or len(found) >= 1000:
                break
            kw["ExclusiveStartBackupArn"] = last
    latest = max(found, key=lambda b: str(b.get("BackupCreationDateTime") or ""), default=None)
    out: dict[str, Any] = {"status": "listed", "count": len(found)}
    if latest is not None:
        out["latest"] = {
            "name": latest.get("BackupName"),
            "table": latest.get("TableName"),
            "created": str(latest.get("BackupCreationDateTime")),
            "status": latest.get("BackupStatus"),
        }
    return out


def _pitr(store: DynamoDBStore, name: str) -> str:
    response, why = _optional(store, "describe_continuous_backups", TableName=name)
    if response is None:
        return f"unknown ({why})"
    desc = (response.get("ContinuousBackupsDescription") or {}).get(
        "PointInTimeRecoveryDescription"
    ) or {}
    return str(desc.get("PointInTimeRecoveryStatus", "DISABLED")).lower()


def _stream(name: str, desc: dict[str, Any]) -> dict[str, Any]:
    spec = desc.get("StreamSpecification") or {}
    return {
        "table": name,
        "enabled": bool(spec.get("StreamEnabled")),
        "view_type": spec.get("StreamViewType") if spec.get("StreamEnabled") else None,
        "arn": desc.get("LatestStreamArn") if spec.get("StreamEnabled") else None,
    }


def inventory_sync(store: DynamoDBStore) -> Inventory:
    started = time.monotonic()
    sessions, events = store._discover()
    if not sessions.exists and not events.exists:
        raise StoreMissingError(
            f"No DynamoDB tables {store.table} and {store.events_table} {store._where()}; "
            "there is nothing to clear or tear down."
        )
    inv = Inventory(
        unit=store.row_word,
        backend="dynamodb",
        store=store.url.masked(),
        name=store.table,
        exists=True,
        facts={"region": store.region, "endpoint": store.endpoint or "AWS"},
    )
    present = [info for info in (sessions, events) if info.exists]
    # The preview's calls go out together: it is shown before every clear and teardown.
    with ThreadPoolExecutor(2 * len(present) + 1, thread_name_prefix="preview") as pool:
        counts = {i.name: pool.submit(_count, store, i.name, i.item_count) for i in present}
        pitrs = {i.name: pool.submit(_pitr, store, i.name) for i in present}
        backups = pool.submit(_backups, store, [i.name for i in present])
    for info in (sessions, events):
        if not info.exists:
            inv.tables.append(TableFacts(info.name, exists=False))
            continue
        desc = info.description or {}
        rows, exact = counts[info.name].result()
        billing = (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        facts: dict[str, Any] = {
            "status": desc.get("TableStatus"),
            "billing_mode": billing,
            "item_count_estimate": info.item_count,
            "point_in_time_recovery": pitrs[info.name].result(),
            "deletion_protection": bool(desc.get("DeletionProtectionEnabled")),
        }
        inv.tables.append(
            TableFacts(info.name, rows=rows, rows_exact=exact, bytes=info.size_bytes, facts=facts)
        )
        inv.streams.append(_stream(info.name, desc))
        if facts["deletion_protection"]:
            inv.notes.append(
                f"Table {info.name} has deletion protection on: deleting or recreating it is "
                "refused until it is turned off."
            )
    inv.backups = backups.result()
    inv.seconds = time.monotonic() - started
    return inv


# -- clear: parallel keys-only scans, pooled batch deletes -----------------------------------
def _key_projection(info: TableInfo) -> tuple[str, dict[str, str]]:
    keys = [k["AttributeName"] for k in (info.description or {}).get("KeySchema", [])]
    names = {f"#k{i}": key for i, key in enumerate(keys)}
    return ", ".join(names), names


def _clear_table(
    store: DynamoDBStore,
    info: TableInfo,
    pool: ThreadPoolExecutor,
    stop: threading.Event,
    tick: Callable[[int], None],
) -> int:
    """Delete every item of one table; returns how many. Scan segments run on threads of
    their own; each hands its pages' keys to the delete pool, at most two pages ahead."""
    projection, names = _key_projection(info)
    params: dict[str, Any] = {"ProjectionExpression": projection, "ExpressionAttributeNames": names}
    total_segments = max(MIN_CLEAR_SEGMENTS, store._segments_for(info))
    # About one 1 MB page of items: DynamoDB Local reads Limit items for every page whatever
    # it returns, and a page that ends early costs one more call, not a wasted read.
    page_limit = store._page_limit(info, fill=1.0)
    deleted = [0] * total_segments

    def delete(keys: list[dict[str, Any]]) -> int:
        if stop.is_set():
            return 0
        store.batch_write([(info.name, key) for key in keys], delete=True)
        tick(len(keys))
        return len(keys)

    def segment(index: int) -> None:
        kw = dict(params, Segment=index, TotalSegments=total_segments, Limit=FIRST_PAGE)
        in_flight: list[Future[int]] = []
        while not stop.is_set():
            response = store._call("scan", TableName=info.name, **kw)
            kw["Limit"] = page_limit
            keys = _items(response)
            # Wait for the page before last: at most two pages of deletes in flight.
            previous, in_flight = in_flight, []
            for start in range(0, len(keys), 25):
                in_flight.append(pool.submit(delete, keys[start : start + 25]))
            for future in previous:
                deleted[index] += future.result()
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            kw["ExclusiveStartKey"] = last
        for future in in_flight:
            deleted[index] += future.result()

    with ThreadPoolExecutor(total_segments, thread_name_prefix=f"clear-{info.name}") as scans:
        futures = [scans.submit(segment, i) for i in range(total_segments)]
        try:
            for future in futures:
                future.result()
        except BaseException:
            stop.set()
            raise
    return sum(deleted)


def clear_sync(
    store: DynamoDBStore,
    progress: ProgressCallback | None,
    stop: threading.Event | None = None,
) -> ClearResult:
    started = time.monotonic()
    store._ensure_readable_sync()
    assert store._sessions is not None and store._events is not None
    sessions_info, events_info = store._sessions, store._events
    lock = threading.Lock()

    def tick(n: int) -> None:
        if progress is not None:
            with lock:
                progress(n)

    stop = stop or threading.Event()
    with (
        ThreadPoolExecutor(DELETE_THREADS, thread_name_prefix="clear-delete") as pool,
        ThreadPoolExecutor(2, thread_name_prefix="clear-table") as tables,
    ):
        ev = tables.submit(_clear_table, store, events_info, pool, stop, tick)
        se = tables.submit(_clear_table, store, sessions_info, pool, stop, tick)
        try:
            events = ev.result()
            sessions = se.result()
        except BaseException:
            stop.set()
            raise
    return ClearResult(sessions, events, seconds=time.monotonic() - started)


# -- recreate ---------------------------------------------------------------------------------
def _create_request(
    store: DynamoDBStore, name: str, desc: dict[str, Any], notes: list[str]
) -> dict[str, Any]:
    """CreateTable arguments that give ``name`` its current settings back."""
    billing = (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    req: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": desc["AttributeDefinitions"],
        "KeySchema": desc["KeySchema"],
        "BillingMode": billing,
    }

    def throughput(d: dict[str, Any]) -> dict[str, int]:
        pt = d.get("ProvisionedThroughput") or {}
        return {
            "ReadCapacityUnits": int(pt.get("ReadCapacityUnits") or 1),
            "WriteCapacityUnits": int(pt.get("WriteCapacityUnits") or 1),
        }

    if billing == "PROVISIONED":
        req["ProvisionedThroughput"] = throughput(desc)
    gsis = []
    for g in desc.get("GlobalSecondaryIndexes") or []:
        item = {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"]}
        item["Projection"] = g.get("Projection") or {"ProjectionType": "ALL"}
        if billing == "PROVISIONED":
            item["ProvisionedThroughput"] = throughput(g)
        gsis.append(item)
    if gsis:
        req["GlobalSecondaryIndexes"] = gsis
    lsis = [
        {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
        for i in desc.get("LocalSecondaryIndexes") or []
    ]
    if lsis:
        req["LocalSecondaryIndexes"] = lsis
    spec = desc.get("StreamSpecification") or {}
    if spec.get("StreamEnabled"):
        req["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": spec.get("StreamViewType", "NEW_IMAGE"),
        }
    sse = desc.get("SSEDescription") or {}
    if sse.get("Status") in ("ENABLED", "ENABLING") and sse.get("SSEType") == "KMS":
        req["SSESpecification"] = {"Enabled": True, "SSEType": "KMS"}
        if sse.get("KMSMasterKeyArn"):
            req["SSESpecification"]["KMSMasterKeyId"] = sse["KMSMasterKeyArn"]
    table_class = (desc.get("TableClassSummary") or {}).get("TableClass")
    if table_class and table_class != "STANDARD":
        req["TableClass"] = table_class
    if desc.get("TableArn"):
        tags, why = _optional(store, "list_tags_of_resource", ResourceArn=desc["TableArn"])
        if tags is None:
            notes.append(f"tags of {name} could not be read ({why}); none were set again")
        elif tags.get("Tags"):
            req["Tags"] = tags["Tags"]
    return req


def _wait_gone(store: DynamoDBStore, name: str) -> None:
    deadline = time.monotonic() + GONE_TIMEOUT_S
    delay = 0.1
    while store._describe(name) is not None:
        if time.monotonic() > deadline:
            raise StoreConnectionError(
                f"DynamoDB table {name} was still being deleted after {GONE_TIMEOUT_S:.0f} s; "
                "check it in the AWS console."
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def _refuse_protected(store: DynamoDBStore, infos: list[TableInfo], what: str) -> None:
    for info in infos:
        if (info.description or {}).get("DeletionProtectionEnabled"):
            raise StoreConnectionError(
                f"DynamoDB table {info.name} has deletion protection on, so {what} is "
                "refused; nothing was changed. Turn it off first (aws dynamodb update-table "
                f"--table-name {info.name} --no-deletion-protection-enabled)."
            )


def recreate_sync(store: DynamoDBStore, progress: ProgressCallback | None) -> ClearResult:
    started = time.monotonic()
    store._ensure_readable_sync()
    sessions_info, events_info = store._discover()
    infos = [sessions_info, events_info]
    _refuse_protected(store, infos, "clear --recreate")
    notes: list[str] = []
    plans = []
    for info in infos:
        desc = info.description or {}
        request = _create_request(store, info.name, desc, notes)
        ttl = store._call("describe_time_to_live", TableName=info.name)["TimeToLiveDescription"]
        pitr = _pitr(store, info.name)
        if pitr.startswith("unknown"):
            notes.append(f"point-in-time recovery of {info.name} is {pitr}; not set again")
        plans.append((info, request, ttl, pitr == "enabled"))
    counts = [_count(store, info.name, info.item_count) for info in infos]
    arn_before = (events_info.description or {}).get("LatestStreamArn")
    # Keep the settings on disk until the tables are back, in case this run dies half-way.
    from mcpstore_cli.util.outfile import output_file

    stamp = f"{int(time.time())}-{os.getpid()}"
    saved = Path(tempfile.gettempdir()) / f"mcpstore-recreate-{store.table}-{stamp}.json"
    # Whole or not at all, and never over another run's file of the same second.
    with output_file(saved) as out:
        Path(out.tmp).write_text(
            json.dumps(
                [
                    {"create_table": req, "time_to_live": ttl, "pitr": pitr}
                    for _i, req, ttl, pitr in plans
                ],
                indent=2,
                default=str,
            )
        )
    try:
        for info in infos:
            store._call("delete_table", TableName=info.name)
        for info in infos:
            _wait_gone(store, info.name)
        for _info, request, _ttl, _pitr_on in plans:
            store._call("create_table", **request)
        for info, _request, ttl, pitr_on in plans:
            store._wait_active(info.name)
            if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and ttl.get("AttributeName"):
                store._call(
                    "update_time_to_live",
                    TableName=info.name,
                    TimeToLiveSpecification={
                        "Enabled": True,
                        "AttributeName": ttl["AttributeName"],
                    },
                )
            if pitr_on:
                store._call(
                    "update_continuous_backups",
                    TableName=info.name,
                    PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
                )
    except McpStoreError as exc:
        raise StoreConnectionError(
            f"Recreating the tables failed ({exc.message.rstrip('.')}); their settings are "
            f"saved in {saved}, and mcpstore setup recreates the layout."
        ) from exc
    saved.unlink(missing_ok=True)
    store._sessions = store._events = None
    after = store._describe(store.events_table) or {}
    arn_after = after.get("LatestStreamArn")
    if progress is not None:
        progress(sum(c for c, _ in counts))
    if arn_before or arn_after:
        notes.append(
            f"the events stream has a new ARN ({arn_after}); stream consumers must switch to it"
        )
    return ClearResult(
        sessions=counts[0][0],
        events=counts[1][0],
        exact=counts[0][1] and counts[1][1],
        seconds=time.monotonic() - started,
        recreated=True,
        stream_arn_before=arn_before,
        stream_arn_after=arn_after,
        notes=notes,
    )


# -- teardown steps ---------------------------------------------------------------------------
def disable_streams_sync(store: DynamoDBStore) -> list[str]:
    changed = []
    for info in store._discover():
        spec = (info.description or {}).get("StreamSpecification") or {}
        if info.exists and spec.get("StreamEnabled"):
            store._wait_active(info.name)
            store._call(
                "update_table", TableName=info.name, StreamSpecification={"StreamEnabled": False}
            )
            store._wait_active(info.name)
            changed.append(info.name)
    store._sessions = store._events = None
    return changed


def drop_sync(store: DynamoDBStore) -> list[str]:
    infos = [info for info in store._discover() if info.exists]
    if not infos:
        raise StoreMissingError(
            f"No DynamoDB tables {store.table} and {store.events_table} {store._where()}; "
            "there is nothing to delete."
        )
    for info in infos:
        problems = store._key_problems(info, events=info.name == store.events_table)
        if problems:
            raise LayoutError(
                f"DynamoDB table {info.name} is not in the session layout (it {problems[0]}), "
                "so it is left alone; see mcpstore setup --check."
            )
    _refuse_protected(store, infos, "deleting it")
    for info in infos:
        if (info.description or {}).get("TableStatus") in ("CREATING", "UPDATING"):
            store._wait_active(info.name)
        store._call("delete_table", TableName=info.name)
    for info in infos:
        _wait_gone(store, info.name)
    store._sessions = store._events = None
    return [f"table {info.name}" for info in infos]
