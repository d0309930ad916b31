"""turul's task table (layout ``tasks``) on DynamoDB Local.

Tables and items are made by plain boto3 calls exactly as turul's DynamoDB task storage makes
them (camelCase, and one old snake_case table); mcpstore only reads and changes them through
the store API. Races with a live server are played by a second boto3 client, at points chosen
with botocore event hooks on the store's own client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from mcpstore_cli.backends.dynamodb.tasks import DynamoDBTaskStore
from mcpstore_cli.errors import LayoutError, StoreMissingError
from mcpstore_cli.layouts.turul_tasks.demo import DemoBatches
from mcpstore_cli.model.demo import DemoPlan
from mcpstore_cli.model.records import CorruptRow
from mcpstore_cli.model.tasks import (
    CANCELLED_MESSAGE,
    RECOVERED_MESSAGE,
    Task,
    TaskCursor,
    TaskExpireOptions,
    TaskFilter,
)
from mcpstore_cli.store.base import StoreOptions
from mcpstore_cli.store.registry import open_store
from mcpstore_cli.store.urls import parse_store_url
from mcpstore_cli.util.rfc3339 import format_chrono
from tests.dynamodb_fixtures import DYNAMO_ENV, DynamoDBLocal, client, dynamodb_url, unique_table

NS = 1_000_000_000
MS = 1_000_000
MIN_NS = 60 * NS
HOUR_NS = 60 * MIN_NS


# -- the server's side: tables and items as turul writes them ----------------------------------
def _names(snake: bool) -> dict[str, str]:
    logical = [
        "task_id",
        "session_id",
        "status",
        "status_message",
        "created_at",
        "last_updated_at",
        "ttl",
        "poll_interval",
        "original_method",
        "original_params",
        "result",
        "meta",
        "ttl_epoch",
    ]

    def camel(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(w.capitalize() for w in rest)

    return {n: n if snake else camel(n) for n in logical}


def create_table(
    c: Any,
    table: str,
    *,
    snake: bool = False,
    status_index: bool = True,
    session_index: bool = True,
    ttl: bool = True,
    provisioned: bool = False,
) -> None:
    """The table as the server's setup makes it (optionally missing parts)."""
    n = _names(snake)
    gsis = []
    if session_index:
        gsis.append(("SessionIndex", n["session_id"]))
    if status_index:
        gsis.append(("StatusIndex", n["status"]))
    throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    request: dict[str, Any] = {
        "TableName": table,
        "KeySchema": [{"AttributeName": n["task_id"], "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": "S"}
            for a in [n["task_id"], n["created_at"], *(h for _, h in gsis)]
        ],
    }
    if provisioned:
        request["BillingMode"] = "PROVISIONED"
        request["ProvisionedThroughput"] = throughput
    else:
        request["BillingMode"] = "PAY_PER_REQUEST"
    if gsis:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": h, "KeyType": "HASH"},
                    {"AttributeName": n["created_at"], "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
                **({"ProvisionedThroughput": throughput} if provisioned else {}),
            }
            for name, h in gsis
        ]
    else:
        request["AttributeDefinitions"] = request["AttributeDefinitions"][:1]
    c.create_table(**request)
    c.get_waiter("table_exists").wait(TableName=table)
    if ttl:
        c.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": n["ttl_epoch"]},
        )


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def put_task(
    c: Any,
    table: str,
    task_id: str,
    *,
    created_ns: int,
    status: str = "working",
    updated_ns: int | None = None,
    ttl_ms: int | None = None,
    session_id: str | None = None,
    status_message: str | None = None,
    poll_interval: int | None = 1000,
    method: str = "tools/call",
    params: Any = None,
    result: Any = None,
    meta: Any = None,
    snake: bool = False,
    ttl_epoch: int | None = None,
    raw: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One task put as turul's DynamoDB task storage puts it: attributes absent when None,
    JSON as strings, ttlEpoch = created + ttl (or + 60 min). ``raw`` overrides attributes
    as written (for items no server could have written)."""
    n = _names(snake)
    created_at = format_chrono(created_ns)
    item: dict[str, Any] = {
        n["task_id"]: {"S": task_id},
        n["status"]: {"S": status},
        n["created_at"]: {"S": created_at},
        n["last_updated_at"]: {"S": format_chrono(updated_ns or created_ns)},
        n["original_method"]: {"S": method},
    }
    if session_id is not None:
        item[n["session_id"]] = {"S": session_id}
    if status_message is not None:
        item[n["status_message"]] = {"S": status_message}
    if ttl_ms is not None:
        item[n["ttl"]] = {"N": str(ttl_ms)}
    if poll_interval is not None:
        item[n["poll_interval"]] = {"N": str(poll_interval)}
    if params is None:
        params = {"name": "search_docs", "arguments": {"query": "x"}}
    item[n["original_params"]] = {"S": compact(params)}
    if result is not None:
        item[n["result"]] = {"S": compact(result)}
    if meta is not None:
        item[n["meta"]] = {"S": compact(meta)}
    if ttl_epoch is None:
        ttl_epoch = created_ns // NS + (3600 if ttl_ms is None else ttl_ms // 1000)
    item[n["ttl_epoch"]] = {"N": str(ttl_epoch)}
    item.update(raw or {})
    c.put_item(TableName=table, Item=item)
    return item


def tid(i: int, prefix: str = "0190") -> str:
    """A task id in the server's form (32 lowercase hex), ordered by ``i``."""
    return f"{prefix}{i:08x}7{random.getrandbits(76):019x}"[:32]


def raw_items(c: Any, table: str) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    kw: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = c.scan(**kw)
        for item in page["Items"]:
            key = item.get("taskId") or item.get("task_id")
            items[key["S"]] = item
        if "LastEvaluatedKey" not in page:
            return items
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def ddb(dynamodb_local: DynamoDBLocal) -> Iterator[tuple[str, str, Any]]:
    """(endpoint, a fresh table name, a boto3 client playing the server)."""
    table = unique_table("mcpstore-tasks")
    c = client(dynamodb_local.endpoint)
    yield dynamodb_local.endpoint, table, c
    with contextlib.suppress(c.exceptions.ResourceNotFoundException):
        c.delete_table(TableName=table)


def open_tasks(endpoint: str, table: str) -> DynamoDBTaskStore:
    url = parse_store_url(dynamodb_url(endpoint, table))
    store = open_store(url, StoreOptions(environ=DYNAMO_ENV), layout="tasks")
    assert isinstance(store, DynamoDBTaskStore)
    return store


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _listed(
    store: DynamoDBTaskStore,
    flt: TaskFilter,
    limit: int | None = None,
    cursor: TaskCursor | None = None,
) -> list[Task | CorruptRow]:
    return [item async for item in store.iter_tasks(flt, limit=limit, cursor=cursor)]


def listed(store: DynamoDBTaskStore, flt: TaskFilter, **kw: Any) -> list[Task | CorruptRow]:
    async def go() -> list[Task | CorruptRow]:
        async with store:
            return await _listed(store, flt, **kw)

    return run(go())


def call(store: DynamoDBTaskStore, method: str, *args: Any, **kw: Any) -> Any:
    async def go() -> Any:
        async with store:
            return await getattr(store, method)(*args, **kw)

    return run(go())


class Calls:
    """Every API call the store's client makes: (operation, its parameters)."""

    def __init__(self, store: DynamoDBTaskStore) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        store.client.meta.events.register("provide-client-params.dynamodb", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        with self.lock:
            self.calls.append((model.name, dict(params)))

    def ops(self) -> list[str]:
        return [op for op, _ in self.calls]


def _key(item: Task | CorruptRow) -> tuple[str, str]:
    if isinstance(item, Task):
        return item.created_at, item.task_id
    assert isinstance(item.cursor, TaskCursor)
    return item.cursor.created_at, item.cursor.task_id


# -- setup and check ----------------------------------------------------------------------------
def test_setup_creates_the_layout_and_is_idempotent(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, c = ddb
    steps = call(open_tasks(endpoint, table), "setup")
    assert {(s.object, s.action) for s in steps} >= {
        ("tasks", "created"),
        ("tasks.SessionIndex", "created"),
        ("tasks.StatusIndex", "created"),
        ("tasks ttl", "created"),
    }
    desc = c.describe_table(TableName=table)["Table"]
    assert desc["KeySchema"] == [{"AttributeName": "taskId", "KeyType": "HASH"}]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    gsis = {g["IndexName"]: g for g in desc["GlobalSecondaryIndexes"]}
    assert set(gsis) == {"SessionIndex", "StatusIndex"}
    assert [k["AttributeName"] for k in gsis["SessionIndex"]["KeySchema"]] == [
        "sessionId",
        "createdAt",
    ]
    assert [k["AttributeName"] for k in gsis["StatusIndex"]["KeySchema"]] == [
        "status",
        "createdAt",
    ]
    assert all(g["Projection"]["ProjectionType"] == "ALL" for g in gsis.values())
    ttl = c.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "ttlEpoch"

    again = call(open_tasks(endpoint, table), "setup")
    assert {s.action for s in again} == {"exists"}
    assert call(open_tasks(endpoint, table), "check") == []


def test_setup_plan_prints_the_api_calls(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, _c = ddb
    plan = open_tasks(endpoint, table).setup_plan()
    create = next(line for line in plan if " create-table " in line)
    body = json.loads(create.split("--cli-input-json ", 1)[1].strip("'"))
    assert body["TableName"] == table
    assert body["KeySchema"] == [{"AttributeName": "taskId", "KeyType": "HASH"}]
    assert {g["IndexName"] for g in body["GlobalSecondaryIndexes"]} == {
        "SessionIndex",
        "StatusIndex",
    }
    assert any(" update-time-to-live " in line and "ttlEpoch" in line for line in plan)
    assert all(endpoint in line for line in plan if line.startswith("aws "))


def test_check_names_each_drift_and_setup_repairs_it(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, c = ddb
    create_table(c, table, status_index=False, ttl=False, provisioned=True)
    findings = call(open_tasks(endpoint, table), "check")
    shown = {(f.object, f.problem) for f in findings}
    assert (f"table {table} index StatusIndex", "missing") in shown
    assert (f"table {table} time to live", "disabled, expected on ttlEpoch") in shown
    assert (f"table {table} billing mode", "PROVISIONED, expected PAY_PER_REQUEST") in shown
    assert not any("SessionIndex" in f.object for f in findings)

    steps = call(open_tasks(endpoint, table), "setup")
    assert ("tasks.StatusIndex", "created") in {(s.object, s.action) for s in steps}
    assert call(open_tasks(endpoint, table), "check") == []


def test_check_and_reads_on_a_missing_or_foreign_table(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, c = ddb
    with pytest.raises(StoreMissingError):
        call(open_tasks(endpoint, table), "check")
    with pytest.raises(StoreMissingError):
        listed(open_tasks(endpoint, table), TaskFilter(now_ns=time.time_ns()))
    c.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "sessionId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "sessionId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(LayoutError):
        listed(open_tasks(endpoint, table), TaskFilter(now_ns=time.time_ns()))
    with pytest.raises(LayoutError):
        call(open_tasks(endpoint, table), "setup")
    findings = call(open_tasks(endpoint, table), "check")
    assert any("key schema" in f.object and "sessionId" in f.problem for f in findings)


# -- listing ------------------------------------------------------------------------------------
def _seed_listing(c: Any, table: str, now: int) -> list[str]:
    ids = []
    for i in range(40):
        created = now - (50 - i) * MIN_NS + (i % 3) * 7 * MS
        if i in (10, 15, 20, 25):
            created = now - 30 * MIN_NS  # equal createdAt (all working): taskId decides
        status = ["working", "completed", "input_required", "failed", "cancelled"][i % 5]
        task_id = tid(random.randrange(1 << 20))
        put_task(
            c,
            table,
            task_id,
            created_ns=created,
            status=status,
            updated_ns=created + 5 * NS,
            ttl_ms=3_600_000 * 4,
            session_id="s-a" if i % 2 else "s-b",
            result={"Success": {"n": i}} if status == "completed" else None,
        )
        ids.append(task_id)
    return ids


def test_list_order_and_cursor_paging(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, c = ddb
    create_table(c, table)
    now = time.time_ns()
    _seed_listing(c, table, now)
    flt = TaskFilter(now_ns=now)
    everything = listed(open_tasks(endpoint, table), flt)
    assert len(everything) == 40 and all(isinstance(t, Task) for t in everything)
    keys = [_key(t) for t in everything]
    assert keys == sorted(keys)
    ties = [k for k in keys if k[0] == format_chrono(now - 30 * MIN_NS)]
    assert len(ties) == 4 and ties == sorted(ties)

    pages: list[Task | CorruptRow] = []
    cursor = None
    for _ in range(20):
        page = listed(open_tasks(endpoint, table), flt, limit=7, cursor=cursor)
        if not page:
            break
        assert len(page) <= 7
        pages += page
        last = page[-1]
        assert isinstance(last, Task)
        cursor = TaskCursor.decode(TaskCursor.after(last).encode())
    assert [_key(t) for t in pages] == keys


def test_status_filter_queries_the_status_index(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, c = ddb
    create_table(c, table)
    now = time.time_ns()
    _seed_listing(c, table, now)
    everything = listed(open_tasks(endpoint, table), TaskFilter(now_ns=now))
    live = [t for t in everything if isinstance(t, Task) and t.live]

    store = open_tasks(endpoint, table)
    calls = Calls(store)
    flt = TaskFilter(now_ns=now, statuses=("working", "input_required"))
    got = listed(store, flt)
    assert [_key(t) for t in got] == [_key(t) for t in live]
    tied = [t for t in got if t.created_at == format_chrono(now - 30 * MIN_NS)]
    assert len(tied) == 4 and [t.task_id for t in tied] == sorted(t.task_id for t in tied)
    assert "Scan" not in calls.ops()
    queries = [p for op, p in calls.calls if op == "Query"]
    assert len(queries) == 2 and {q["IndexName"] for q in queries} == {"StatusIndex"}
    assert {q["ExpressionAttributeValues"][":h"]["S"] for q in queries} == {
        "working",
        "input_required",
    }

    # Paged with the same filter: a cursor continues the merged streams.
    first = listed(open_tasks(endpoint, table), flt, limit=5)
    last = first[-1]
    assert isinstance(last, Task)
    rest = listed(open_tasks(endpoint, table), flt, cursor=TaskCursor.after(last))
    assert [_key(t) for t in first + rest] == [_key(t) for t in live]

    store = open_tasks(endpoint, table)
    calls = Calls(store)
    mine = listed(store, TaskFilter(now_ns=now, session_id="s-a", statuses=("completed",)))
    assert mine and all(isinstance(t, Task) for t in mine)
    expected = [
        _key(t)
        for t in everything
        if isinstance(t, Task) and t.session_id == "s-a" and t.status == "completed"
    ]
    assert [_key(t) for t in mine] == expected
    assert "Scan" not in calls.ops()
    assert {p["IndexName"] for op, p in calls.calls if op == "Query"} == {"SessionIndex"}


def test_list_without_the_index_falls_back_to_a_scan(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, c = ddb
    create_table(c, table, status_index=False)
    now = time.time_ns()
    _seed_listing(c, table, now)
    store = open_tasks(endpoint, table)
    calls = Calls(store)
    got = listed(store, TaskFilter(now_ns=now, statuses=("failed",)))
    assert len(got) == 8 and all(isinstance(t, Task) and t.status == "failed" for t in got)
    assert "Scan" in calls.ops() and "Query" not in calls.ops()


def test_snake_case_table(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, c = ddb
    create_table(c, table, snake=True)
    now = time.time_ns()
    put_task(c, table, tid(1), created_ns=now - 3 * MIN_NS, snake=True, session_id="s1")
    put_task(
        c,
        table,
        tid(2),
        created_ns=now - 2 * MIN_NS,
        status="completed",
        result={"Error": {"code": -32603, "message": "boom"}},
        snake=True,
    )
    tasks = listed(open_tasks(endpoint, table), TaskFilter(now_ns=now))
    assert [t.task_id for t in tasks] == [tid_ for tid_ in sorted(raw_items(c, table))]
    assert all(isinstance(t, Task) for t in tasks)
    working = listed(open_tasks(endpoint, table), TaskFilter(now_ns=now, statuses=("working",)))
    assert len(working) == 1 and isinstance(working[0], Task) and working[0].session_id == "s1"
    assert call(open_tasks(endpoint, table), "check") == []
    assert {s.action for s in call(open_tasks(endpoint, table), "setup")} == {"exists"}

    change = call(open_tasks(endpoint, table), "cancel_task", working[0].task_id, now_ns=now)
    assert change.done
    item = raw_items(c, table)[working[0].task_id]
    assert item["status"]["S"] == "cancelled"
    assert item["status_message"]["S"] == CANCELLED_MESSAGE
    assert "statusMessage" not in item and "lastUpdatedAt" not in item


def test_corrupt_items_are_reported_and_skipped(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, c = ddb
    create_table(c, table)
    now = time.time_ns()
    good = [tid(i) for i in range(3)]
    for i, task_id in enumerate(good):
        put_task(c, table, task_id, created_ns=now - (10 - i) * MIN_NS, ttl_ms=600_000_000)
    bad = {
        "bad-status": {"status": {"S": "paused"}},
        "bad-time": {"createdAt": {"S": "yesterday at noon"}},
        "bad-result": {"result": {"S": compact({"Partial": 1})}},
        "negative-ttl": {"ttl": {"N": "-5"}},
    }
    for i, (name, raw) in enumerate(bad.items()):
        put_task(c, table, f"{name}-{i}", created_ns=now - (5 - i) * MIN_NS, raw=raw)

    items = listed(open_tasks(endpoint, table), TaskFilter(now_ns=now))
    corrupt = {item.key: item for item in items if isinstance(item, CorruptRow)}
    assert set(corrupt) == {f"{name}-{i}" for i, name in enumerate(bad)}
    assert "status 'paused'" in corrupt["bad-status-0"].problem
    assert "created_at" in corrupt["bad-time-1"].problem
    assert "neither Success nor Error" in corrupt["bad-result-2"].problem
    assert "negative" in corrupt["negative-ttl-3"].problem
    assert all(r.table == table and isinstance(r.cursor, TaskCursor) for r in corrupt.values())
    assert [t.task_id for t in items if isinstance(t, Task)] == good

    # Paging steps past a corrupt row by its cursor.
    first = listed(open_tasks(endpoint, table), TaskFilter(now_ns=now), limit=4)
    assert isinstance(first[-1], CorruptRow)
    cursor = first[-1].cursor
    assert isinstance(cursor, TaskCursor)
    rest = listed(open_tasks(endpoint, table), TaskFilter(now_ns=now), cursor=cursor)
    assert [_key(t) for t in first + rest] == [_key(t) for t in items]

    # The same through StatusIndex: the unreadable working items come in their place.
    working = listed(open_tasks(endpoint, table), TaskFilter(now_ns=now, statuses=("working",)))
    # In list order, by createdAt as text: "yesterday at noon" sorts after every date.
    assert [_key(t) for t in working] == [
        _key(t) for t in items if not (isinstance(t, CorruptRow) and t.key == "bad-status-0")
    ]
    assert [t.key for t in working if isinstance(t, CorruptRow)][-1] == "bad-time-1"

    one = call(open_tasks(endpoint, table), "get_task", "bad-result-2")
    assert isinstance(one, CorruptRow) and "Partial" in one.problem
    stats = call(open_tasks(endpoint, table), "task_stats", now_ns=now, stuck_after_ms=60_000)
    assert stats.corrupt == 4 and stats.tasks == 3

    result = call(open_tasks(endpoint, table), "expire_tasks", TaskExpireOptions(now_ns=now))
    # negative-ttl is the only corrupt item with a ttl: counted, left alone.
    assert result.corrupt == 1 and result.deleted == 0
    assert len(raw_items(c, table)) == 7


def test_items_past_their_ttl_epoch_count_as_gone(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, c = ddb
    create_table(c, table)
    now = time.time_ns()
    live, gone = "abcd" + "0" * 28, "abce" + "0" * 28
    put_task(c, table, live, created_ns=now - MIN_NS)
    put_task(c, table, gone, created_ns=now - MIN_NS, ttl_epoch=now // NS - 5)
    assert [t.task_id for t in listed(open_tasks(endpoint, table), TaskFilter(now_ns=now))] == [
        live
    ]
    working = listed(open_tasks(endpoint, table), TaskFilter(now_ns=now, statuses=("working",)))
    assert [t.task_id for t in working] == [live]
    assert call(open_tasks(endpoint, table), "get_task", gone) is None
    found = call(open_tasks(endpoint, table), "get_task", live)
    assert isinstance(found, Task) and found.extras["ttl_epoch"] == now // NS - MIN_NS // NS + 3600
    assert call(open_tasks(endpoint, table), "existing_task_ids", [gone, live, "nope"]) == [live]
    matches = call(open_tasks(endpoint, table), "match_task_ids", ["abc"], limit=5)
    assert matches.ids == [live] and matches.total == 1
    stats = call(open_tasks(endpoint, table), "task_stats", now_ns=now, stuck_after_ms=60_000)
    assert stats.tasks == 1 and stats.backend_facts["items_past_ttl_epoch"] == 1
    change = call(open_tasks(endpoint, table), "cancel_task", gone, now_ns=now)
    assert not change.done and change.reason == "not found"


def test_ids_and_stats(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, c = ddb
    create_table(c, table)
    now = time.time_ns()
    ids = [f"{p}{'0' * 24}{i:04x}" for i, p in enumerate(["aaaa1111", "aaaa2222", "bbbb1111"])]
    day = 86_400_000
    put_task(c, table, ids[0], created_ns=now - 2 * HOUR_NS, updated_ns=now - HOUR_NS, ttl_ms=day)
    put_task(
        c,
        table,
        ids[1],
        created_ns=now - 10 * MIN_NS,
        status="completed",
        ttl_ms=60_000,
        method="resources/read",
        result={"Success": {}},
        ttl_epoch=now // NS + 600,
    )
    put_task(
        c,
        table,
        ids[2],
        created_ns=now - 20 * NS,
        status="input_required",
        updated_ns=now - 10 * NS,
    )
    matches = call(open_tasks(endpoint, table), "match_task_ids", ["aaaa"], limit=1)
    assert matches.ids == [ids[0]] and matches.total == 2
    many = 150
    assert (
        call(open_tasks(endpoint, table), "existing_task_ids", ids[::-1] + ["x"] * many)
        == (ids[::-1])
    )

    stats = call(open_tasks(endpoint, table), "task_stats", now_ns=now, stuck_after_ms=300_000)
    assert stats.tasks == 3
    assert stats.by_status == {"completed": 1, "input_required": 1, "working": 1}
    assert stats.by_method == {"tools/call": 2, "resources/read": 1}
    assert stats.stuck == 1 and stats.past_ttl == 1
    assert stats.oldest_live is not None and stats.oldest_live.task_id == ids[0]
    assert stats.oldest_created_ns == now - 2 * HOUR_NS
    assert stats.newest_created_ns == now - 20 * NS
    assert dict(stats.age_histogram) == {
        "< 1m": 1,
        "1m-5m": 0,
        "5m-30m": 1,
        "30m-1h": 0,
        "1h-6h": 1,
        "6h-1d": 0,
        "1d-7d": 0,
        ">= 7d": 0,
    }
    assert stats.backend_facts["ttl"] == "enabled on ttlEpoch"
    assert stats.backend_facts["attribute_names"] == "camelCase"


# -- expire -------------------------------------------------------------------------------------
def test_expire_deletes_exactly_the_tasks_past_their_ttl(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, c = ddb
    create_table(c, table)
    now = time.time_ns()
    past, kept = [], []
    for i in range(60):
        created = now - (i + 2) * MIN_NS
        task_id = tid(i)
        if i % 3 == 0:  # ttl 1 minute: past
            put_task(c, table, task_id, created_ns=created, ttl_ms=60_000, status="completed")
            past.append(task_id)
        elif i % 3 == 1:  # ttl one day: not yet
            put_task(c, table, task_id, created_ns=created, ttl_ms=86_400_000)
            kept.append(task_id)
        else:  # no ttl: never expires
            put_task(c, table, task_id, created_ns=created - 3 * HOUR_NS, ttl_ms=None)
            kept.append(task_id)

    preview = call(
        open_tasks(endpoint, table),
        "expire_tasks",
        TaskExpireOptions(now_ns=now, dry_run=True, sample=5),
    )
    assert preview.dry_run and preview.deleted == len(past) and preview.examined == 40
    # The sample: the five whose ttl ran out first (the oldest).
    assert preview.sample == past[::-1][:5]
    assert len(raw_items(c, table)) == 60

    result = call(
        open_tasks(endpoint, table),
        "expire_tasks",
        TaskExpireOptions(now_ns=now, batch_size=7),
    )
    assert result.deleted == len(past) and result.skipped_changed == 0 and not result.partial
    assert set(raw_items(c, table)) == set(kept)
    again = call(open_tasks(endpoint, table), "expire_tasks", TaskExpireOptions(now_ns=now))
    assert again.deleted == 0


def test_expire_time_budget_and_rate(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, c = ddb
    create_table(c, table)
    now = time.time_ns()
    for i in range(30):
        put_task(c, table, tid(i), created_ns=now - HOUR_NS, ttl_ms=1000)
    spent = call(
        open_tasks(endpoint, table),
        "expire_tasks",
        TaskExpireOptions(now_ns=now, time_budget_s=0.0),
    )
    assert spent.partial and spent.deleted == 0
    assert len(raw_items(c, table)) == 30

    started = time.monotonic()
    paced = call(
        open_tasks(endpoint, table),
        "expire_tasks",
        TaskExpireOptions(now_ns=now, rate=40.0, batch_size=10),
    )
    assert paced.deleted == 30 and not paced.partial
    # 30 deletes at 40 a second take at least 29/40 s.
    assert time.monotonic() - started >= 29 / 40
    assert raw_items(c, table) == {}


def no_partiql(store: DynamoDBTaskStore) -> None:
    """Make the store's endpoint one without PartiQL (as some emulators are): every
    BatchExecuteStatement is answered UnknownOperationException without being sent."""

    class Refused:
        status_code = 400

    def refuse(**_: Any) -> tuple[Any, dict[str, Any]]:
        return Refused(), {"Error": {"Code": "UnknownOperationException", "Message": "no"}}

    store.client.meta.events.register("before-call.dynamodb.BatchExecuteStatement", refuse)


def _statement_task(parameters: list[dict[str, Any]], ids: set[str]) -> tuple[str, str | None]:
    """(task id, the lastUpdatedAt a PartiQL statement is conditional on, or None)."""
    values = [p.get("S") for p in parameters]
    task_id = next(v for v in values if v in ids)
    stamps = [v for v in values[values.index(task_id) :] if v and v[:4].isdigit() and "T" in v]
    return task_id, stamps[0] if stamps else None


@pytest.mark.parametrize("mode", ["batched", "paced", "no-partiql"])
def test_expire_loses_every_race_with_a_writer(ddb: tuple[str, str, Any], mode: str) -> None:
    """A server keeps updating past-ttl tasks while expire runs. Those it updated after expire
    read them are skipped and counted; no item the writer successfully updated after expire
    read it is deleted (every delete that went matches the writer's last value)."""
    endpoint, table, c = ddb
    create_table(c, table)
    now = time.time_ns()
    original: dict[str, str] = {}
    for i in range(300):
        task_id = tid(i)
        item = put_task(c, table, task_id, created_ns=now - HOUR_NS - i * MS, ttl_ms=60_000)
        original[task_id] = item["lastUpdatedAt"]["S"]
    ids = sorted(original)
    touched_once = ids[:40]  # updated after expire's read, before any delete
    hammered = ids[100:160]  # updated over and over while expire deletes
    server = client(endpoint)
    last_written: dict[str, str] = {}
    written_lock = threading.Lock()
    counter = iter(range(1, 10**9))

    def server_update(task_id: str) -> bool:
        value = format_chrono(now + next(counter) * MS)
        try:
            server.update_item(
                TableName=table,
                Key={"taskId": {"S": task_id}},
                UpdateExpression="SET lastUpdatedAt = :lu",
                ConditionExpression="attribute_exists(taskId)",
                ExpressionAttributeValues={":lu": {"S": value}},
            )
        except server.exceptions.ConditionalCheckFailedException:
            return False
        with written_lock:
            last_written[task_id] = value
        return True

    store = open_tasks(endpoint, table)
    if mode == "no-partiql":
        no_partiql(store)
    first_delete = threading.Lock()
    state = {"touched": False}
    deletes: list[tuple[str, str | None]] = []  # (task id, lastUpdatedAt its condition held)
    known = set(original)

    def touch_first() -> None:
        with first_delete:  # every delete waits until the server has touched its 40 tasks
            if not state["touched"]:
                for task_id in touched_once:
                    assert server_update(task_id)
                state["touched"] = True

    def before_one(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        touch_first()
        # The lastUpdatedAt the delete is conditional on (None: it is not).
        seen = (params.get("ExpressionAttributeValues") or {}).get(":lu", {}).get("S")
        context["tasks"] = [(params["Key"]["taskId"]["S"], seen)]

    def before_batch(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        touch_first()
        context["tasks"] = [_statement_task(s["Parameters"], known) for s in params["Statements"]]

    def after_one(http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if http_response.status_code == 200:
            with written_lock:
                deletes.extend(context["tasks"])

    def after_batch(
        http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        if http_response.status_code == 200:
            answers = parsed["Responses"]
            with written_lock:
                pairs = zip(context["tasks"], answers, strict=True)
                deletes.extend(t for t, a in pairs if "Error" not in a)

    events = store.client.meta.events
    events.register("provide-client-params.dynamodb.DeleteItem", before_one)
    events.register("after-call.dynamodb.DeleteItem", after_one)
    events.register("provide-client-params.dynamodb.BatchExecuteStatement", before_batch)
    events.register("after-call.dynamodb.BatchExecuteStatement", after_batch)
    calls = Calls(store)
    stop = threading.Event()
    updates = [0]

    def hammer() -> None:
        rng = random.Random(7)
        while not stop.is_set():
            if server_update(rng.choice(hammered)):
                updates[0] += 1

    writer = threading.Thread(target=hammer)
    writer.start()
    opts = TaskExpireOptions(now_ns=now, batch_size=50, rate=1e6 if mode == "paced" else None)
    try:
        result = call(store, "expire_tasks", opts)
    finally:
        stop.set()
        writer.join()
    ops = Counter(calls.ops())
    if mode == "batched":
        assert ops["BatchExecuteStatement"] >= 300 // 25 and not ops["DeleteItem"]
    else:
        assert ops["DeleteItem"] == 300
    assert updates[0] > 0
    left = raw_items(c, table)
    gone = set(original) - set(left)
    assert result.examined == 300
    assert result.deleted == len(gone) == len(deletes)
    assert result.skipped_changed == len(left) >= len(touched_once)
    assert set(touched_once) <= set(left)
    for task_id in touched_once:
        assert left[task_id]["lastUpdatedAt"]["S"] == last_written[task_id]
    # No update lost: each delete removed exactly the state the writer last left.
    for task_id, seen in deletes:
        assert last_written.get(task_id, original[task_id]) == seen
    for task_id, item in left.items():
        assert item["lastUpdatedAt"]["S"] == last_written.get(task_id, original[task_id])


# -- recover ------------------------------------------------------------------------------------
@pytest.mark.parametrize("partiql", [True, False])
def test_recover_makes_stuck_tasks_failed_and_loses_races(
    ddb: tuple[str, str, Any], partiql: bool
) -> None:
    endpoint, table, c = ddb
    create_table(c, table)
    now = time.time_ns()
    stuck = [tid(i) for i in range(8)]
    for i, task_id in enumerate(stuck):
        put_task(
            c,
            table,
            task_id,
            created_ns=now - 3 * HOUR_NS,
            updated_ns=now - 2 * HOUR_NS,
            status="working" if i % 2 else "input_required",
            ttl_ms=86_400_000,
        )
    fresh = tid(100)
    put_task(
        c, table, fresh, created_ns=now - 3 * HOUR_NS, updated_ns=now - MIN_NS, ttl_ms=86_400_000
    )
    done = tid(101)
    put_task(
        c,
        table,
        done,
        created_ns=now - 3 * HOUR_NS,
        status="completed",
        result={"Success": 1},
        ttl_ms=86_400_000,
    )

    preview = call(
        open_tasks(endpoint, table),
        "recover_tasks",
        stuck_for_ms=3_600_000,
        now_ns=now,
        dry_run=True,
    )
    assert preview.dry_run and preview.recovered == 8 and preview.examined == 9
    assert sorted(preview.sample) == sorted(stuck)
    assert all(raw_items(c, table)[t]["status"]["S"] != "failed" for t in stuck)

    server = client(endpoint)
    finished, touched = stuck[0], stuck[1]
    raced: set[str] = set()
    lock = threading.Lock()

    def race(task_id: str) -> None:
        """Between recover's read of a task and its write: the server finishes one stuck
        task and reports progress on another (recover writes while it reads on)."""
        if task_id in raced:
            return
        raced.add(task_id)
        if task_id == finished:
            server.update_item(
                TableName=table,
                Key={"taskId": {"S": finished}},
                UpdateExpression="SET #s = :done, lastUpdatedAt = :lu",
                ConditionExpression="#s = :expected",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":done": {"S": "completed"},
                    ":lu": {"S": format_chrono(now - 1000)},
                    ":expected": {"S": "input_required"},
                },
            )
        elif task_id == touched:
            server.update_item(
                TableName=table,
                Key={"taskId": {"S": touched}},
                UpdateExpression="SET lastUpdatedAt = :lu",
                ExpressionAttributeValues={":lu": {"S": format_chrono(now - 500)}},
            )

    def before(params: dict[str, Any], **_: Any) -> None:
        if "Key" in params:
            written = {params["Key"]["taskId"]["S"]}
        else:
            written = {p.get("S") for s in params["Statements"] for p in s["Parameters"]}
        with lock:
            for task_id in (finished, touched):
                if task_id in written:
                    race(task_id)

    store = open_tasks(endpoint, table)
    if not partiql:
        no_partiql(store)
    calls = Calls(store)
    events = store.client.meta.events
    events.register("provide-client-params.dynamodb.UpdateItem", before)
    events.register("provide-client-params.dynamodb.BatchExecuteStatement", before)
    result = call(store, "recover_tasks", stuck_for_ms=3_600_000, now_ns=now, batch_size=3)
    assert result.recovered == 6 and result.skipped_changed == 2 and result.examined == 9
    assert "Scan" not in calls.ops()
    assert {p.get("IndexName") for op, p in calls.calls if op == "Query"} == {"StatusIndex"}
    assert ("UpdateItem" in calls.ops()) == (not partiql)
    items = raw_items(c, table)
    for task_id in stuck[2:]:
        assert items[task_id]["status"]["S"] == "failed"
        assert items[task_id]["statusMessage"]["S"] == RECOVERED_MESSAGE
        assert items[task_id]["lastUpdatedAt"]["S"] == format_chrono(now)
    assert items[finished]["status"]["S"] == "completed"
    assert items[touched]["status"]["S"] == "working"
    assert items[touched]["lastUpdatedAt"]["S"] == format_chrono(now - 500)
    assert items[fresh]["status"]["S"] == "working"
    assert items[done]["status"]["S"] == "completed"


@pytest.mark.parametrize("snake", [False, True])
def test_recover_streams_in_batches_and_falls_back_to_a_scan(
    ddb: tuple[str, str, Any], snake: bool
) -> None:
    """Without StatusIndex the live tasks come from a Scan; the writes go while reading goes
    on, at most --batch-size tasks at a time, and every stuck task ends failed."""
    endpoint, table, c = ddb
    create_table(c, table, snake=snake, status_index=False)
    n = _names(snake)
    now = time.time_ns()
    stuck = [tid(i) for i in range(57)]
    for i, task_id in enumerate(stuck):
        status = "working" if i % 3 else "input_required"
        put_task(
            c,
            table,
            task_id,
            created_ns=now - 3 * HOUR_NS - i * MS,
            updated_ns=now - 2 * HOUR_NS,
            status=status,
            ttl_ms=86_400_000,
            snake=snake,
        )
    fresh = [tid(100 + i) for i in range(5)]
    for task_id in fresh:
        put_task(c, table, task_id, created_ns=now - MIN_NS, snake=snake)
        put_task(c, table, tid(200), created_ns=now - MIN_NS, status="completed", snake=snake)
    store = open_tasks(endpoint, table)
    calls = Calls(store)
    result = call(store, "recover_tasks", stuck_for_ms=3_600_000, now_ns=now, batch_size=10)
    assert result.recovered == 57 and result.skipped_changed == 0 and result.examined == 62
    assert "Scan" in calls.ops() and "Query" not in calls.ops()
    batches = [len(p["Statements"]) for op, p in calls.calls if op == "BatchExecuteStatement"]
    assert sum(batches) == 57 and max(batches) <= 10 and len(batches) == 6
    items = raw_items(c, table)
    for task_id in stuck:
        assert items[task_id][n["status"]]["S"] == "failed"
        assert items[task_id][n["status_message"]]["S"] == RECOVERED_MESSAGE
        assert items[task_id][n["last_updated_at"]]["S"] == format_chrono(now)
    assert all(items[task_id][n["status"]]["S"] == "working" for task_id in fresh)


def test_recover_stops_on_ctrl_c_between_batches(ddb: tuple[str, str, Any]) -> None:
    """Ctrl-C while recover writes: the writes under way finish, no new one starts, and the
    run ends Interrupted saying how many were made failed (those stay failed)."""
    from mcpstore_cli.errors import Interrupted
    from mcpstore_cli.util import interrupt

    endpoint, table, c = ddb
    create_table(c, table)
    now = time.time_ns()
    for i in range(100):
        put_task(
            c,
            table,
            tid(i),
            created_ns=now - 3 * HOUR_NS,
            updated_ns=now - 2 * HOUR_NS,
            ttl_ms=86_400_000,
        )
    store = open_tasks(endpoint, table)
    sent = [0]

    def after(**_: Any) -> None:
        sent[0] += 1
        if sent[0] == 2:
            interrupt.requested.set()

    store.client.meta.events.register("after-call.dynamodb.BatchExecuteStatement", after)
    try:
        with pytest.raises(Interrupted) as stopped:
            call(store, "recover_tasks", stuck_for_ms=3_600_000, now_ns=now, batch_size=5)
    finally:
        interrupt.requested.clear()
    failed = [i for i in raw_items(c, table).values() if i["status"]["S"] == "failed"]
    assert 10 <= len(failed) < 100
    assert f"made {len(failed):,} stuck tasks failed" in str(stopped.value)


# -- cancel -------------------------------------------------------------------------------------
def test_cancel_live_terminal_missing(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, c = ddb
    create_table(c, table)
    now = time.time_ns()
    live, terminal = tid(1), tid(2)
    put_task(c, table, live, created_ns=now - MIN_NS, status="input_required")
    before = put_task(
        c, table, terminal, created_ns=now - MIN_NS, status="completed", result={"Success": 2}
    )
    change = call(open_tasks(endpoint, table), "cancel_task", live, now_ns=now)
    assert change.done and change.status == "cancelled"
    item = raw_items(c, table)[live]
    assert item["status"]["S"] == "cancelled"
    assert item["statusMessage"]["S"] == CANCELLED_MESSAGE
    assert item["lastUpdatedAt"]["S"] == format_chrono(now)

    refused = call(open_tasks(endpoint, table), "cancel_task", terminal, now_ns=now)
    assert not refused.done and refused.status == "completed"
    assert refused.reason == "already completed"
    assert raw_items(c, table)[terminal] == before
    again = call(open_tasks(endpoint, table), "cancel_task", live, now_ns=now)
    assert not again.done and again.reason == "already cancelled"
    missing = call(open_tasks(endpoint, table), "cancel_task", "f" * 32, now_ns=now)
    assert not missing.done and missing.reason == "not found"


@pytest.mark.parametrize("server_moves_to", ["completed", "input_required"])
def test_cancel_is_conditional_on_the_status_read(
    ddb: tuple[str, str, Any], server_moves_to: str
) -> None:
    endpoint, table, c = ddb
    create_table(c, table)
    now = time.time_ns()
    task_id = tid(1)
    put_task(c, table, task_id, created_ns=now - MIN_NS, status="working")
    server = client(endpoint)
    state = {"raced": False}

    def before(**_: Any) -> None:
        if state["raced"]:
            return
        state["raced"] = True  # the server moves the task on between cancel's read and write
        server.update_item(
            TableName=table,
            Key={"taskId": {"S": task_id}},
            UpdateExpression="SET #s = :new, statusMessage = :m",
            ConditionExpression="#s = :old",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":new": {"S": server_moves_to},
                ":old": {"S": "working"},
                ":m": {"S": "server"},
            },
        )

    store = open_tasks(endpoint, table)
    store.client.meta.events.register("provide-client-params.dynamodb.UpdateItem", before)
    change = call(store, "cancel_task", task_id, now_ns=now)
    item = raw_items(c, table)[task_id]
    if server_moves_to == "completed":
        assert not change.done and change.reason == "already completed"
        assert item["status"]["S"] == "completed" and item["statusMessage"]["S"] == "server"
    else:  # still live: cancelled on the second try, from the status it has now
        assert change.done
        assert item["status"]["S"] == "cancelled"
        assert item["statusMessage"]["S"] == CANCELLED_MESSAGE


# -- demo, clear, teardown ----------------------------------------------------------------------
def test_demo_writes_items_as_the_server_does(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, c = ddb
    store = open_tasks(endpoint, table)
    call(store, "setup")
    now_ms = time.time_ns() // MS
    plan = DemoPlan(sessions=120, events_per_session=0, seed=3, batch_rows=50)
    written = call(open_tasks(endpoint, table), "write_demo", DemoBatches(plan, now_ms))
    assert written == (120, 0)
    from mcpstore_cli.layouts.turul_tasks.demo import tasks as demo_tasks

    expected = {t.task_id: t for t in demo_tasks(120, now_ns=now_ms * MS, seed=3)}
    items = raw_items(c, table)
    assert set(items) == set(expected)
    for task_id, item in items.items():
        task = expected[task_id]
        assert ("sessionId" in item) == (task.session_id is not None)
        assert ("statusMessage" in item) == (task.status_message is not None)
        assert ("ttl" in item) == (task.ttl_ms is not None)
        assert ("result" in item) == (task.result is not None)
        assert json.loads(item["originalParams"]["S"]) == task.params
        span = 3600 if task.ttl_ms is None else int(task.ttl_ms) // 1000
        assert int(item["ttlEpoch"]["N"]) == task.created_ns // NS + span
        assert item["createdAt"]["S"] == task.created_at
    visible = listed(open_tasks(endpoint, table), TaskFilter(now_ns=now_ms * MS))
    assert visible and all(isinstance(t, Task) for t in visible)
    for task in visible:
        assert isinstance(task, Task)
        same = expected[task.task_id]
        assert (task.status, task.result, task.meta, task.ttl_ms) == (
            same.status,
            same.result,
            same.meta,
            same.ttl_ms,
        )


def test_inventory_clear_and_drop(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, c = ddb
    create_table(c, table)
    now = time.time_ns()
    for i in range(60):
        put_task(c, table, tid(i), created_ns=now - MIN_NS)
    inv = call(open_tasks(endpoint, table), "inventory")
    assert inv.name == table and inv.unit == "item"
    assert [(t.name, t.rows, t.rows_exact) for t in inv.tables] == [(table, 60, True)]
    cleared = call(open_tasks(endpoint, table), "clear")
    assert cleared.sessions == 60
    assert raw_items(c, table) == {}
    assert c.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"
    assert call(open_tasks(endpoint, table), "drop") == [f"table {table}"]
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.describe_table(TableName=table)
    with pytest.raises(StoreMissingError):
        call(open_tasks(endpoint, table), "inventory")


def test_clear_recreate_keeps_the_layout(ddb: tuple[str, str, Any]) -> None:
    endpoint, table, c = ddb
    call(open_tasks(endpoint, table), "setup")
    now = time.time_ns()
    for i in range(10):
        put_task(c, table, tid(i), created_ns=now - MIN_NS)
    cleared = call(open_tasks(endpoint, table), "clear", recreate=True)
    assert cleared.recreated and cleared.sessions == 10
    assert raw_items(c, table) == {}
    assert call(open_tasks(endpoint, table), "check") == []
