"""turul's 2026 ext-tasks table (layout ``ext-tasks``) on DynamoDB Local.

The table and its items are made by plain boto3 calls exactly as the server makes them: key
``taskId`` only, the document in ``state``, every write a PutItem conditional on the revision
read (``attribute_not_exists(#r) OR #r = :expected``) setting rev + 1. mcpstore reads and
changes them through the command line or its store API; the server's side of a race is played
by a second boto3 client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from mcpstore_cli.backends.dynamodb.ext_tasks import DynamoDBExtTaskStore
from mcpstore_cli.backends.dynamodb.tasks import DynamoDBTaskStore
from mcpstore_cli.errors import LayoutError
from mcpstore_cli.layouts.turul_ext_tasks import records
from mcpstore_cli.model.tasks import TaskExpireOptions
from mcpstore_cli.store.base import StoreOptions
from mcpstore_cli.store.registry import open_store
from mcpstore_cli.store.urls import parse_store_url
from mcpstore_cli.util.rfc3339 import format_millis_z, parse_ns
from tests.dynamodb_fixtures import DYNAMO_ENV, DynamoDBLocal, client, dynamodb_url, unique_table
from tests.helpers import Result, run_cli
from tests.task_writers import ext_document

NS = 1_000_000_000
ORPHANED = {
    "code": -32603,
    "message": "task was abandoned: no progress within the orphan threshold",
}
TTL_EXCEEDED = {"code": -32603, "message": "task exceeded its ttlMs"}
LIVE = ("working", "input_required")


# -- the server's side ------------------------------------------------------------------------
def create_ext_table(c: Any, table: str, *, ttl: bool = True, provisioned: bool = False) -> None:
    """The table as the server's provisioning makes it (optionally with drift)."""
    request: dict[str, Any] = {
        "TableName": table,
        "KeySchema": [{"AttributeName": "taskId", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "taskId", "AttributeType": "S"}],
    }
    if provisioned:
        request["BillingMode"] = "PROVISIONED"
        request["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    else:
        request["BillingMode"] = "PAY_PER_REQUEST"
    c.create_table(**request)
    c.get_waiter("table_exists").wait(TableName=table)
    if ttl:
        c.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttlEpoch"},
        )


def compact(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


class Server:
    """turul's DynamoDB ext-task storage, in plain boto3: a read, then a PutItem conditional
    on the revision read, setting rev + 1."""

    def __init__(self, c: Any, table: str) -> None:
        self.c = c
        self.table = table

    def read(self, task_id: str) -> dict[str, Any] | None:
        item = self.c.get_item(
            TableName=self.table, Key={"taskId": {"S": task_id}}, ConsistentRead=True
        ).get("Item")
        return item or None

    def write(self, doc: dict[str, Any], *, expected: int, ttl_epoch: int | None = None) -> bool:
        item: dict[str, Any] = {
            "taskId": {"S": doc["fields"]["taskId"]},
            "state": {"S": compact(doc)},
            "status": {"S": doc["status"]},
            "rev": {"N": str(expected + 1)},
        }
        if ttl_epoch is not None:
            item["ttlEpoch"] = {"N": str(ttl_epoch)}
        try:
            self.c.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(#r) OR #r = :expected",
                ExpressionAttributeNames={"#r": "rev"},
                ExpressionAttributeValues={":expected": {"N": str(expected)}},
            )
        except self.c.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def put(self, doc: dict[str, Any], *, ttl_epoch: int | None = None) -> None:
        """Create a task (or write it again), as the server's store does."""
        old = self.read(doc["fields"]["taskId"])
        expected = int(old["rev"]["N"]) if old else 0
        assert self.write(doc, expected=expected, ttl_epoch=ttl_epoch)

    def complete(self, task_id: str, now_text: str) -> bool:
        """The server finishing a live task: read, change, conditional put; on a lost race,
        read again (a task that became terminal meanwhile is left)."""
        for _ in range(10):
            item = self.read(task_id)
            if item is None:
                return False
            doc = json.loads(item["state"]["S"])
            if doc["status"] not in LIVE:
                return False
            doc["status"] = "completed"
            doc["result"] = {"content": [{"type": "text", "text": "done"}], "isError": False}
            doc["fields"]["lastUpdatedAt"] = now_text
            epoch = int(item["ttlEpoch"]["N"]) if "ttlEpoch" in item else None
            if self.write(doc, expected=int(item["rev"]["N"]), ttl_epoch=epoch):
                return True
        raise AssertionError(f"task {task_id} kept changing")

    def put_raw(self, task_id: str, status: str, state: str) -> None:
        self.c.put_item(
            TableName=self.table,
            Item={
                "taskId": {"S": task_id},
                "state": {"S": state},
                "status": {"S": status},
                "rev": {"N": "1"},
            },
        )

    def doc(self, task_id: str) -> tuple[str, int, dict[str, Any]] | None:
        item = self.read(task_id)
        if item is None:
            return None
        return item["status"]["S"], int(item["rev"]["N"]), json.loads(item["state"]["S"])

    def count(self) -> int:
        return int(self.c.scan(TableName=self.table, Select="COUNT")["Count"])


@pytest.fixture
def ext(dynamodb_local: DynamoDBLocal) -> Iterator[ExtHandle]:
    table = unique_table("mcpstore-ext")
    c = client(dynamodb_local.endpoint)
    create_ext_table(c, table)
    yield ExtHandle(dynamodb_local.endpoint, table, c)
    with contextlib.suppress(c.exceptions.ResourceNotFoundException):
        c.delete_table(TableName=table)


class ExtHandle:
    def __init__(self, endpoint: str, table: str, c: Any) -> None:
        self.endpoint = endpoint
        self.table = table
        self.c = c
        self.url = dynamodb_url(endpoint, table)
        self.w = Server(c, table)

    def run(self, *args: str, layout: bool = True) -> Result:
        tail = ["--layout", "ext-tasks"] if layout else []
        return run_cli([*args, "--url", self.url, *tail], environ=DYNAMO_ENV)

    def store(self) -> DynamoDBExtTaskStore:
        store = open_store(
            parse_store_url(self.url), StoreOptions(environ=DYNAMO_ENV), layout="ext-tasks"
        )
        assert isinstance(store, DynamoDBExtTaskStore)
        return store


def tid(n: int) -> str:
    """A UUID v4 in simple form, as the server makes them (the same one for the same n)."""
    return uuid.UUID(int=random.Random(n).getrandbits(128), version=4).hex


def at(seconds_ago: float) -> str:
    return format_millis_z(time.time_ns() - int(seconds_ago * NS))


# -- setup and check --------------------------------------------------------------------------
def test_setup_is_idempotent_and_check_names_drift(dynamodb_local: DynamoDBLocal) -> None:
    c = client(dynamodb_local.endpoint)
    table = unique_table("mcpstore-ext")
    url = dynamodb_url(dynamodb_local.endpoint, table)

    def run(*args: str) -> Result:
        return run_cli([*args, "--url", url, "--layout", "ext-tasks"], environ=DYNAMO_ENV)

    try:
        made = run("setup", "-f", "jsonl")
        assert made.exit_code == 0, made
        assert {(s["object"], s["action"]) for s in made.jsonl()} == {
            ("ext-tasks", "created"),
            ("ext-tasks ttl", "created"),
        }
        desc = c.describe_table(TableName=table)["Table"]
        assert desc["KeySchema"] == [{"AttributeName": "taskId", "KeyType": "HASH"}]
        assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert "GlobalSecondaryIndexes" not in desc
        ttl = c.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttlEpoch")
        again = run("setup", "-f", "jsonl")
        assert again.exit_code == 0 and {s["action"] for s in again.jsonl()} == {"exists"}, again
        assert run("setup", "--check").exit_code == 0
        c.delete_table(TableName=table)
        c.get_waiter("table_not_exists").wait(TableName=table)

        # Drift: provisioned, no time to live.
        create_ext_table(c, table, ttl=False, provisioned=True)
        drift = run("setup", "--check", "-f", "jsonl")
        assert drift.exit_code == 3, drift
        shown = {(f["object"], f["problem"]) for f in drift.jsonl()}
        assert (f"table {table} billing mode", "PROVISIONED, expected PAY_PER_REQUEST") in shown
        assert (f"table {table} time to live", "disabled, expected on ttlEpoch") in shown
        fixed = run("setup", "-f", "jsonl")
        assert fixed.exit_code == 0, fixed
        assert ("ext-tasks billing", "updated") in {
            (s["object"], s["action"]) for s in fixed.jsonl()
        }
        assert run("setup", "--check").exit_code == 0
    finally:
        with contextlib.suppress(c.exceptions.ResourceNotFoundException):
            c.delete_table(TableName=table)


def test_a_tasks_table_is_not_an_ext_tasks_table(ext: ExtHandle) -> None:
    from tests.test_tasks_dynamodb import create_table

    other = unique_table("mcpstore-tasks")
    create_table(ext.c, other)
    try:
        url = dynamodb_url(ext.endpoint, other)
        check = run_cli(
            ["setup", "--check", "--url", url, "--layout", "ext-tasks", "-f", "jsonl"],
            environ=DYNAMO_ENV,
        )
        assert check.exit_code == 3 and "StatusIndex" in check.stdout, check
        refused = run_cli(
            ["tasks", "list", "--url", url, "--layout", "ext-tasks"], environ=DYNAMO_ENV
        )
        assert refused.exit_code != 0 and "tasks layout's index" in refused.stderr, refused
        setup = run_cli(["setup", "--url", url, "--layout", "ext-tasks"], environ=DYNAMO_ENV)
        assert setup.exit_code != 0 and "leaves it alone" in setup.stderr, setup
    finally:
        ext.c.delete_table(TableName=other)


# -- reading ----------------------------------------------------------------------------------
def test_list_and_show_documents(ext: ExtHandle) -> None:
    requests = {"confirm": {"method": "elicitation/create", "params": {"message": "Go?"}}}
    ext.w.put(ext_document(tid(1), created_at=at(300), owner="alice@example.com"))
    ext.w.put(
        ext_document(
            tid(2),
            created_at=at(200),
            status="input_required",
            message=None,
            poll_ms=None,
            input_requests=requests,
        )
    )
    ext.w.put(
        ext_document(
            tid(3), created_at=at(100), status="failed", error={"code": -32603, "message": "x"}
        )
    )
    ext.w.complete(tid(1), at(50))  # rev 2
    listed = ext.run("tasks", "list", "-f", "jsonl")
    assert listed.exit_code == 0, listed
    got = listed.jsonl()
    assert [t["task_id"] for t in got] == [tid(1), tid(2), tid(3)]
    assert got[0]["owner"] == "alice@example.com" and got[0]["status"] == "completed"
    assert [t["revision"] for t in got] == [2, 1, 1]
    assert got[2]["error"] == {"code": -32603, "message": "x"}
    page = ext.run("tasks", "list", "-n", "2", "-f", "jsonl")
    assert [t["task_id"] for t in page.jsonl()] == [tid(1), tid(2)], page
    failed = ext.run("tasks", "list", "--status", "failed", "-f", "jsonl")
    assert [t["task_id"] for t in failed.jsonl()] == [tid(3)], failed
    shown = ext.run("tasks", "show", tid(2)[:10], "-f", "json")
    assert shown.exit_code == 0, shown
    assert shown.json()["document"]["input_requests"] == requests
    assert shown.json()["document"] == ext.w.doc(tid(2))[2]  # type: ignore[index]
    refused = ext.run("tasks", "list", "--session", "s")
    assert refused.exit_code == 2 and "does not apply to ext-tasks" in refused.stderr, refused
    stats = ext.run("tasks", "stats", "-f", "json")
    assert stats.exit_code == 0, stats
    assert stats.json()["tasks"] == 3
    assert stats.json()["by_status"] == {"completed": 1, "failed": 1, "input_required": 1}


def test_cursor_pages_are_strictly_after(ext: ExtHandle) -> None:
    same = at(500)
    for i in range(12):
        ext.w.put(ext_document(tid(100 + i), created_at=same if i % 3 == 0 else at(400 - i)))

    async def pages() -> list[str]:
        from mcpstore_cli.model.tasks import Task, TaskCursor, TaskFilter

        seen: list[str] = []
        cursor: TaskCursor | None = None
        async with ext.store() as store:
            while True:
                flt = TaskFilter(now_ns=time.time_ns())
                got = [t async for t in store.iter_tasks(flt, limit=5, cursor=cursor)]
                if not got:
                    return seen
                assert all(isinstance(t, Task) for t in got)
                seen += [t.task_id for t in got]  # type: ignore[union-attr]
                cursor = TaskCursor.after(got[-1])  # type: ignore[arg-type]

    seen = asyncio.run(pages())
    everything = ext.run("tasks", "list", "-f", "jsonl").jsonl()
    assert seen == [t["task_id"] for t in everything] and len(seen) == 12
    keys = [(t["created_at"], t["task_id"]) for t in everything]
    assert keys == sorted(keys)


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ("{not json", "state is not JSON"),
        ('{"fields": {"taskId": "X"}, "status": "working"}', "differs from the row's task_id"),
        ("[1]", "not a JSON object"),
    ],
)
def test_malformed_state_is_skipped(ext: ExtHandle, state: str, problem: str) -> None:
    ext.w.put(ext_document(tid(1), created_at=at(50)))
    ext.w.put_raw(tid(2), "working", state)
    r = ext.run("tasks", "list", "-f", "jsonl")
    assert r.exit_code == 0, r
    assert [t["task_id"] for t in r.jsonl()] == [tid(1)]
    assert f"skipped task {tid(2)}" in r.stderr and problem in r.stderr, r
    one = ext.run("tasks", "show", tid(2))
    assert one.exit_code == 1 and problem in one.stderr, one
    swept = ext.run("tasks", "expire", "--orphan-after", "1s", "-f", "json")
    assert swept.exit_code == 0 and swept.json()["corrupt"] == 1, swept
    item = ext.w.read(tid(2))
    assert item is not None and (item["state"]["S"], item["rev"]["N"]) == (state, "1")


def test_items_past_their_ttl_epoch_are_gone(ext: ExtHandle) -> None:
    now_s = int(time.time())
    ext.w.put(ext_document(tid(1), created_at=at(60)), ttl_epoch=now_s - 5)  # passed
    ext.w.put(ext_document(tid(2), created_at=at(50)), ttl_epoch=now_s + 3600)
    ext.w.put(ext_document(tid(3), created_at=at(40)))
    listed = ext.run("tasks", "list", "-f", "jsonl")
    assert [t["task_id"] for t in listed.jsonl()] == [tid(2), tid(3)], listed
    shown = ext.run("tasks", "show", tid(1))
    assert shown.exit_code == 1, shown
    stats = ext.run("tasks", "stats", "-f", "json").json()
    assert stats["tasks"] == 2
    cancel = ext.run("tasks", "cancel", tid(1))
    assert cancel.exit_code == 1, cancel
    swept = ext.run("tasks", "expire", "--orphan-after", "1s", "-f", "json")
    assert swept.json()["examined"] == 2 and swept.json()["failed"] == 2, swept
    left = ext.w.doc(tid(1))  # DynamoDB may have deleted it by now; mcpstore never wrote it
    assert left is None or left[:2] == ("working", 1)
    # The ttlEpoch a retention policy set stays on the item mcpstore wrote.
    assert int(ext.w.read(tid(2))["ttlEpoch"]["N"]) == now_s + 3600  # type: ignore[index]


# -- retention --------------------------------------------------------------------------------
def test_retention_as_the_server_applies_it(ext: ExtHandle) -> None:
    w = ext.w
    requests = {"k": {"method": "elicitation/create", "params": {}}}
    w.put(ext_document(tid(1), created_at=at(7200), last_updated_at=at(7200)))  # orphan
    w.put(
        ext_document(
            tid(2),
            created_at=at(7200),
            last_updated_at=at(10),
            status="input_required",
            input_requests=requests,
            ttl_ms=60_000.0,
        )
    )  # past ttl
    w.put(ext_document(tid(3), created_at=at(7200), last_updated_at=at(10), ttl_ms=None))  # keep
    w.put(
        ext_document(
            tid(4),
            created_at=at(90_000),
            last_updated_at=at(90_000),
            status="completed",
            ttl_ms=1000.0,
            result={"ok": 1},
        )
    )  # old terminal: delete, never re-failed
    w.put(ext_document(tid(5), created_at=at(60), status="cancelled"))  # young terminal: keep
    w.put(
        ext_document(
            tid(6),
            created_at=at(9000),
            last_updated_at=at(9000),
            status="failed",
            error={"code": 1, "message": "own"},
            ttl_ms=1.0,
        )
    )  # terminal, orphan-old and past ttl, younger than a day: never re-failed
    before_docs = {i: w.doc(tid(i)) for i in range(1, 7)}
    args = ["--orphan-after", "1h", "--honour-ttl", "--delete-terminal-after", "1d"]
    dry = ext.run("tasks", "expire", *args, "--dry-run")
    assert dry.exit_code == 0 and "would delete 1 task, would fail 2 live" in dry.stderr, dry
    assert {i: w.doc(tid(i)) for i in range(1, 7)} == before_docs
    before = time.time_ns()
    r = ext.run("tasks", "expire", *args, "-f", "json")
    assert r.exit_code == 0, r
    assert (r.json()["deleted"], r.json()["failed"], r.json()["skipped_changed"]) == (1, 2, 0), r
    assert w.doc(tid(4)) is None
    status, rev, doc = w.doc(tid(1))  # type: ignore[misc]
    assert (status, rev, doc["status"], doc["error"]) == ("failed", 2, "failed", ORPHANED)
    updated = doc["fields"]["lastUpdatedAt"]
    assert updated.endswith("Z") and len(updated) == 24 and parse_ns(updated) >= before - 10**6
    expected = dict(before_docs[1][2])  # type: ignore[index]
    expected.update(status="failed", error=ORPHANED, input_requests=None)
    expected["fields"] = dict(expected["fields"], lastUpdatedAt=updated)
    assert doc == expected
    status2, rev2, doc2 = w.doc(tid(2))  # type: ignore[misc]
    assert (status2, rev2, doc2["error"], doc2["input_requests"]) == (
        "failed",
        2,
        TTL_EXCEEDED,
        None,
    )
    assert w.doc(tid(3)) == before_docs[3]
    assert w.doc(tid(5)) == before_docs[5]
    assert w.doc(tid(6)) == before_docs[6]
    again = ext.run("tasks", "expire", *args, "-f", "json")
    assert (again.json()["deleted"], again.json()["failed"]) == (0, 0), again


def test_recover_fails_stuck_tasks_as_abandoned(ext: ExtHandle) -> None:
    ext.w.put(ext_document(tid(1), created_at=at(7200), last_updated_at=at(3000)))
    ext.w.put(ext_document(tid(2), created_at=at(7200), last_updated_at=at(10)))
    r = ext.run("tasks", "recover", "--stuck-for", "30m", "-f", "json")
    assert r.exit_code == 0, r
    assert ext.w.doc(tid(1))[2]["error"] == ORPHANED  # type: ignore[index]
    assert ext.w.doc(tid(2))[0] == "working"  # type: ignore[index]


def test_a_stale_rev_write_is_refused(ext: ExtHandle) -> None:
    ext.w.put(ext_document(tid(1), created_at=at(7200)))
    ext.w.put(ext_document(tid(2), created_at=at(7200), status="completed", result={}))

    async def scenario() -> tuple[bool, bool]:
        async with ext.store() as store:
            await store.ensure_readable()
            old = store._get({"taskId": {"S": tid(1)}})
            old2 = store._get({"taskId": {"S": tid(2)}})
            assert old is not None and old2 is not None
            assert ext.w.complete(tid(1), at(0))  # the server: rev 1 -> 2
            assert ext.w.write(  # the server writes tid(2) again: rev 1 -> 2
                json.loads(old2["state"]["S"]), expected=1
            )
            doc = records.failed_document(json.loads(old["state"]["S"]), records.ORPHANED, 0)
            return store._put_changed(old, doc), store._delete_unchanged(old2)

    assert asyncio.run(scenario()) == (False, False)
    status, rev, doc = ext.w.doc(tid(1))  # type: ignore[misc]
    assert (status, rev, doc["status"], doc["error"]) == ("completed", 2, "completed", None)
    assert ext.w.doc(tid(2))[:2] == ("completed", 2)  # type: ignore[index]


def test_a_sweep_never_writes_back_a_task_deleted_meanwhile(ext: ExtHandle) -> None:
    ext.w.put(ext_document(tid(1), created_at=at(7200)))

    async def scenario() -> bool:
        async with ext.store() as store:
            await store.ensure_readable()
            old = store._get({"taskId": {"S": tid(1)}})
            assert old is not None
            ext.c.delete_item(TableName=ext.table, Key={"taskId": {"S": tid(1)}})
            doc = records.failed_document(json.loads(old["state"]["S"]), records.ORPHANED, 0)
            return store._put_changed(old, doc)

    assert asyncio.run(scenario()) is False
    assert ext.w.read(tid(1)) is None


def test_sweep_against_a_live_server_loses_no_completion(ext: ExtHandle) -> None:
    """The server completes tasks while ``tasks expire --orphan-after`` fails them: some
    completions land between the sweep's read and its write (played at that very point
    through a hook on the store's client, so the race is certain), others concurrently from a
    thread. No completion is lost: each task ends completed (by the server) or failed (by the
    sweep, counted), never a completion overwritten."""
    n = 120
    for i in range(n):
        ext.w.put(ext_document(tid(i), created_at=at(7200), last_updated_at=at(7200)))
    racer = Server(client(ext.endpoint), ext.table)
    completed: set[str] = set()
    lock = threading.Lock()
    hooked: list[str] = []

    def before_put(params: dict[str, Any], **_: Any) -> None:
        task_id = params["Item"]["taskId"]["S"]
        if int(task_id[:8], 16) % 3 == 0 and racer.complete(task_id, at(0)):
            with lock:
                completed.add(task_id)
                hooked.append(task_id)

    stop = threading.Event()
    other = Server(client(ext.endpoint), ext.table)

    def server() -> None:
        for i in range(n - 1, -1, -2):
            if stop.is_set():
                return
            if other.complete(tid(i), at(0)):
                with lock:
                    completed.add(tid(i))

    async def sweep() -> Any:
        async with ext.store() as store:
            store.client.meta.events.register("provide-client-params.dynamodb.PutItem", before_put)
            opts = TaskExpireOptions(now_ns=time.time_ns(), orphan_after_ms=3_600_000, batch_size=7)
            return await store.expire_tasks(opts)

    thread = threading.Thread(target=server)
    thread.start()
    try:
        result = asyncio.run(sweep())
    finally:
        stop.set()
        thread.join()
    assert hooked, "the hook never raced the sweep"
    assert result.skipped_changed >= len(hooked)
    for task_id in completed:
        status, _rev, doc = ext.w.doc(task_id)  # type: ignore[misc]
        assert (status, doc["status"], doc["error"]) == ("completed", "completed", None), task_id
    failed = [i for i in range(n) if ext.w.doc(tid(i))[0] == "failed"]  # type: ignore[index]
    assert len(failed) == result.failed and len(failed) + len(completed) == n
    # Every live task the scan met was an orphan: failed, or left because the server won.
    assert result.failed + result.skipped_changed == result.examined


# -- cancel -----------------------------------------------------------------------------------
def test_cancel_respects_owners_and_terminal_states(ext: ExtHandle) -> None:
    ext.w.put(ext_document(tid(1), created_at=at(60), owner="alice@example.com"))
    ext.w.put(ext_document(tid(2), created_at=at(60), status="completed", result={}))
    ext.w.put(ext_document(tid(3), created_at=at(60)))
    theirs = ext.run("tasks", "cancel", tid(1))
    assert theirs.exit_code == 1 and "belongs to 'alice@example.com'" in theirs.stderr, theirs
    assert ext.w.doc(tid(1))[:2] == ("working", 1)  # type: ignore[index]
    forced = ext.run("tasks", "cancel", tid(1), "--any-owner")
    assert forced.exit_code == 0, forced
    status, rev, doc = ext.w.doc(tid(1))  # type: ignore[misc]
    assert (status, rev, doc["status"], doc["owner"]) == (
        "cancelled",
        2,
        "cancelled",
        "alice@example.com",
    )
    done = ext.run("tasks", "cancel", tid(2))
    assert done.exit_code == 1 and "already completed" in done.stderr, done
    assert ext.w.doc(tid(2))[:2] == ("completed", 1)  # type: ignore[index]
    mine = ext.run("tasks", "cancel", tid(3))
    assert mine.exit_code == 0 and ext.w.doc(tid(3))[0] == "cancelled", mine


# -- detection --------------------------------------------------------------------------------
def test_tasks_commands_detect_the_layout_of_a_table(ext: ExtHandle) -> None:
    from tests.test_tasks_dynamodb import create_table, put_task

    ext.w.put(ext_document(tid(1), created_at=at(60), owner="bob"))
    found = run_cli(["tasks", "list", "--url", ext.url, "-f", "jsonl"], environ=DYNAMO_ENV)
    assert found.exit_code == 0, found
    assert [(t["task_id"], t["owner"]) for t in found.jsonl()] == [(tid(1), "bob")]

    old = unique_table("mcpstore-tasks")
    create_table(ext.c, old)
    try:
        put_task(ext.c, old, "0190aaaa7000", created_ns=time.time_ns(), session_id="s-1")
        url = dynamodb_url(ext.endpoint, old)
        listed = run_cli(["tasks", "list", "--url", url, "-f", "jsonl"], environ=DYNAMO_ENV)
        assert listed.exit_code == 0, listed
        got = listed.jsonl()
        assert [(t["task_id"], t["session_id"], t["method"]) for t in got] == [
            ("0190aaaa7000", "s-1", "tools/call")
        ]

        async def refusals() -> None:
            options = StoreOptions(environ=DYNAMO_ENV)
            tasks = open_store(parse_store_url(ext.url), options, layout="tasks")
            assert isinstance(tasks, DynamoDBTaskStore)
            async with tasks:
                with pytest.raises(LayoutError):
                    await tasks.ensure_readable()
            exts = open_store(parse_store_url(url), options, layout="ext-tasks")
            async with exts:
                with pytest.raises(LayoutError):
                    await exts.ensure_readable()

        asyncio.run(refusals())
    finally:
        ext.c.delete_table(TableName=old)
    # An empty ext-tasks table is still told apart.
    ext.c.delete_item(TableName=ext.table, Key={"taskId": {"S": tid(1)}})
    empty = run_cli(["tasks", "stats", "--url", ext.url, "-f", "json"], environ=DYNAMO_ENV)
    assert empty.exit_code == 0 and empty.json()["layout"] == "ext-tasks", empty


# -- demo, clear ------------------------------------------------------------------------------
def test_demo_stats_and_clear(ext: ExtHandle) -> None:
    r = ext.run("demo", "-s", "200", "--seed", "5")
    assert r.exit_code == 0 and "wrote 200 tasks" in r.stderr, r
    items = ext.c.scan(TableName=ext.table)["Items"]
    assert len(items) == 200
    assert all(i["rev"] == {"N": "1"} and "ttlEpoch" not in i for i in items)
    for item in items:
        doc = json.loads(item["state"]["S"])
        assert item["state"]["S"] == compact(doc)
        assert (
            item["status"]["S"] == doc["status"] and item["taskId"]["S"] == doc["fields"]["taskId"]
        )
    s = ext.run("tasks", "stats", "-f", "json").json()
    assert s["tasks"] == 200 and s["corrupt"] == 0
    assert set(s["by_status"]) == {"working", "input_required", "completed", "failed", "cancelled"}
    assert s["stuck"] > 0 and s["past_ttl"] > 0
    cleared = ext.run("clear", "--yes")
    assert cleared.exit_code == 0 and "deleted 200 tasks" in cleared.stderr, cleared
    assert ext.w.count() == 0


def test_setup_plan_prints_the_api_calls() -> None:
    from mcpstore_cli.backends.dynamodb.server_state import DynamoDBServerStateStore

    endpoint = "http://127.0.0.1:8000"
    ext_plan = DynamoDBExtTaskStore(parse_store_url(dynamodb_url(endpoint, "ext"))).setup_plan()
    create = next(line for line in ext_plan if " create-table " in line)
    body = json.loads(create.split("--cli-input-json ", 1)[1].strip("'"))
    assert body == {
        "TableName": "ext",
        "AttributeDefinitions": [{"AttributeName": "taskId", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "taskId", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    assert any(" update-time-to-live " in line and "ttlEpoch" in line for line in ext_plan)
    url = parse_store_url(dynamodb_url(endpoint, "state"))
    state_plan = DynamoDBServerStateStore(url).setup_plan()
    create = next(line for line in state_plan if " create-table " in line)
    body = json.loads(create.split("--cli-input-json ", 1)[1].strip("'"))
    assert body["KeySchema"] == [
        {"AttributeName": "entityType", "KeyType": "HASH"},
        {"AttributeName": "entityId", "KeyType": "RANGE"},
    ]
    assert "GlobalSecondaryIndexes" not in body
    assert not any("time-to-live" in line for line in state_plan)
    assert all(endpoint in line for line in ext_plan + state_plan if line.startswith("aws "))
