"""turul's server state (layout ``server-state``) on DynamoDB Local, and portable backups of
the DynamoDB ext-tasks and server-state layouts across backends.

The server's table and items are made by plain boto3 calls as turul-mcp-server-state-storage
makes them: keys ``entityType``/``entityId``, an entity's ``active``/``updatedAt``/``metadata``,
the fingerprint in the item whose entityId is ``#fingerprint``."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dynamodb_fixtures import DYNAMO_ENV, DynamoDBLocal, client, dynamodb_url, unique_table
from tests.helpers import Result, run_cli
from tests.task_writers import ext_document

NOW = "2026-12-03T10:00:00.123456789+00:00"
EARLIER = "2026-12-03T09:00:00.5+00:00"


def create_state_table(c: Any, table: str, *, provisioned: bool = False) -> None:
    request: dict[str, Any] = {
        "TableName": table,
        "KeySchema": [
            {"AttributeName": "entityType", "KeyType": "HASH"},
            {"AttributeName": "entityId", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "entityType", "AttributeType": "S"},
            {"AttributeName": "entityId", "AttributeType": "S"},
        ],
    }
    if provisioned:
        request["BillingMode"] = "PROVISIONED"
        request["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    else:
        request["BillingMode"] = "PAY_PER_REQUEST"
    c.create_table(**request)
    c.get_waiter("table_exists").wait(TableName=table)


class StateServer:
    """The server's writes: a PutItem per entity and per fingerprint."""

    def __init__(self, c: Any, table: str) -> None:
        self.c = c
        self.table = table

    def entity(
        self, kind: str, name: str, active: bool, meta: Any = None, updated: str = NOW
    ) -> None:
        item: dict[str, Any] = {
            "entityType": {"S": kind},
            "entityId": {"S": name},
            "active": {"BOOL": active},
            "updatedAt": {"S": updated},
        }
        if meta is not None:
            item["metadata"] = {"S": json.dumps(meta, separators=(",", ":"))}
        self.c.put_item(TableName=self.table, Item=item)

    def fingerprint(self, kind: str, value: str) -> None:
        self.c.put_item(
            TableName=self.table,
            Item={
                "entityType": {"S": kind},
                "entityId": {"S": "#fingerprint"},
                "fingerprint": {"S": value},
                "updatedAt": {"S": NOW},
            },
        )


class Tables:
    """Fresh table names on DynamoDB Local, deleted afterwards."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.c = client(endpoint)
        self.made: list[str] = []

    def new(self, prefix: str = "mcpstore-state") -> tuple[str, str]:
        table = unique_table(prefix)
        self.made.append(table)
        return table, dynamodb_url(self.endpoint, table)

    def cleanup(self) -> None:
        for table in self.made:
            with contextlib.suppress(self.c.exceptions.ResourceNotFoundException):
                self.c.delete_table(TableName=table)


@pytest.fixture
def tables(dynamodb_local: DynamoDBLocal) -> Iterator[Tables]:
    made = Tables(dynamodb_local.endpoint)
    yield made
    made.cleanup()


def cli(*args: str) -> Result:
    return run_cli(list(args), environ=DYNAMO_ENV)


def state(url: str, *args: str) -> Result:
    return cli(*args, "--url", url, "--layout", "server-state")


# -- server state -----------------------------------------------------------------------------
def test_the_servers_table_passes_check_and_stats_count(tables: Tables) -> None:
    table, url = tables.new()
    create_state_table(tables.c, table)
    w = StateServer(tables.c, table)
    w.entity("tools", "add", True, {"version": "1.0"}, updated=EARLIER)
    w.entity("tools", "multiply", True)
    w.entity("tools", "old", False)
    w.entity("resources", "file", True)
    w.entity("tools", "multiply", False)  # a later put replaces the item
    w.fingerprint("tools", "abc123")
    w.fingerprint("prompts", "p0")  # a type with no entity left
    check = state(url, "setup", "--check")
    assert check.exit_code == 0, check
    again = state(url, "setup", "-f", "jsonl")
    assert again.exit_code == 0 and {s["action"] for s in again.jsonl()} == {"exists"}, again
    s = state(url, "stats", "-f", "json")
    assert s.exit_code == 0, s
    figures = s.json()
    assert (figures["layout"], figures["entities"], figures["active"]) == ("server-state", 4, 2)
    assert figures["entity_types"] == {
        "resources": {
            "entities": 1,
            "active": 1,
            "inactive": 0,
            "oldest_update": NOW,
            "newest_update": NOW,
        },
        "tools": {
            "entities": 3,
            "active": 1,
            "inactive": 2,
            "oldest_update": EARLIER,
            "newest_update": NOW,
            "fingerprint": "abc123",
            "fingerprint_updated": NOW,
        },
        "prompts": {
            "entities": 0,
            "active": 0,
            "fingerprint": "p0",
            "fingerprint_updated": NOW,
        },
    }
    assert list(figures["entity_types"]) == ["resources", "tools", "prompts"]


def test_setup_creates_the_table_and_check_names_drift(tables: Tables) -> None:
    table, url = tables.new()
    made = state(url, "setup", "-f", "jsonl")
    assert made.exit_code == 0 and [(s["object"], s["action"]) for s in made.jsonl()] == [
        ("server-state", "created")
    ], made
    desc = tables.c.describe_table(TableName=table)["Table"]
    assert desc["KeySchema"] == [
        {"AttributeName": "entityType", "KeyType": "HASH"},
        {"AttributeName": "entityId", "KeyType": "RANGE"},
    ]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert state(url, "setup", "--check").exit_code == 0

    wrong, wrong_url = tables.new()
    tables.c.create_table(
        TableName=wrong,
        KeySchema=[{"AttributeName": "entityType", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "entityType", "AttributeType": "S"}],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    )
    r = state(wrong_url, "setup", "--check", "-f", "jsonl")
    assert r.exit_code == 3, r
    shown = {(f["object"], f["problem"]) for f in r.jsonl()}
    assert (f"table {wrong} key schema", "has no RANGE key (expected entityId)") in shown
    assert (f"table {wrong} billing mode", "PROVISIONED, expected PAY_PER_REQUEST") in shown
    refused = state(wrong_url, "stats")
    assert refused.exit_code != 0 and "not in the server-state layout" in refused.stderr, refused
    missing = state(dynamodb_url(tables.endpoint, unique_table()), "setup", "--check")
    assert missing.exit_code == 3, missing


def test_setup_demo_clear_teardown(tables: Tables) -> None:
    table, url = tables.new()
    assert state(url, "setup").exit_code == 0
    demo = state(url, "demo", "--seed", "3")
    assert demo.exit_code == 0 and "entities" in demo.stderr, demo
    items = tables.c.scan(TableName=table)["Items"]
    prints = [i for i in items if i["entityId"]["S"] == "#fingerprint"]
    entities = [i for i in items if i["entityId"]["S"] != "#fingerprint"]
    assert len(prints) == 3 and all("fingerprint" in i for i in prints)
    assert all("BOOL" in i["active"] for i in entities)
    figures = state(url, "stats", "-f", "json").json()
    assert figures["entities"] == len(entities) > 0
    assert figures["active"] == sum(i["active"]["BOOL"] for i in entities)
    cleared = state(url, "clear", "--yes")
    assert cleared.exit_code == 0, cleared
    assert f"deleted {len(entities)} entities and 3 fingerprints" in cleared.stderr, cleared
    assert tables.c.scan(TableName=table)["Items"] == []
    assert state(url, "stats", "-f", "json").json()["entities"] == 0
    refused = state(url, "list")
    assert refused.exit_code == 2 and "server state" in refused.stderr, refused
    gone = state(url, "teardown", "--delete", "--yes")
    assert gone.exit_code == 0, gone
    with pytest.raises(tables.c.exceptions.ResourceNotFoundException):
        tables.c.describe_table(TableName=table)
    assert state(url, "setup", "--check").exit_code == 3


# -- portable backups across backends ---------------------------------------------------------
def _content(url: str, layout: str) -> Any:
    """What a layout holds, in a form that does not depend on the backend."""
    if layout == "server-state":
        figures = cli("stats", "--url", url, "--layout", layout, "-f", "json")
        assert figures.exit_code == 0, figures
        return figures.json()["entity_types"]
    listed = cli("tasks", "list", "--url", url, "--layout", layout, "-n", "0", "-f", "jsonl")
    assert listed.exit_code == 0, listed
    keep = (
        "task_id",
        "status",
        "status_message",
        "created_at",
        "last_updated_at",
        "ttl_ms",
        "result",
        "error",
        "owner",
        "document",
    )
    return [tuple(json.dumps(t.get(k), sort_keys=True) for k in keep) for t in listed.jsonl()]


@pytest.mark.parametrize("layout", ["tasks", "ext-tasks", "server-state"])
def test_dynamodb_to_sqlite_and_back(layout: str, tables: Tables, tmp_path: Path) -> None:
    _table, source = tables.new()
    made = cli("demo", "--url", source, "--layout", layout, "-s", "120", "--seed", "11")
    assert made.exit_code == 0, made
    expected = _content(source, layout)
    assert expected
    first = tmp_path / "one.mcpbackup.zst"
    b = cli("backup", "--url", source, "--layout", layout, "-o", str(first), "-f", "json")
    assert b.exit_code == 0 and f"of the {layout} layout" in b.stderr, b
    assert "not a snapshot" in b.json()["consistency"], b
    target = f"sqlite:///{tmp_path / 'target.db'}"
    r = cli("restore", str(first), "--url", target)
    assert r.exit_code == 0 and "created the store's tables" in r.stderr, r
    assert _content(target, layout) == expected
    again = cli("restore", str(first), "--url", target, "-f", "json")
    assert again.exit_code == 0, again
    assert again.json()["sessions"] == 0 and again.json()["skipped_sessions"] > 0, again

    second = tmp_path / "two.mcpbackup.zst"
    b2 = cli("backup", "--url", target, "--layout", layout, "-o", str(second))
    assert b2.exit_code == 0, b2
    _back_table, back = tables.new()
    r2 = cli("restore", str(second), "--url", back, "--layout", layout)
    assert r2.exit_code == 0 and "created the store's tables" in r2.stderr, r2
    assert _content(back, layout) == expected
    merged = cli("restore", str(second), "--url", back, "-f", "json")
    assert merged.exit_code == 0, merged
    assert merged.json()["sessions"] == 0 and merged.json()["skipped_sessions"] > 0, merged
    assert _content(back, layout) == expected


def test_restore_keeps_rev_and_ttl_epoch_and_replace_empties_first(
    tables: Tables, tmp_path: Path
) -> None:
    from tests.test_ext_tasks_dynamodb import Server, at, create_ext_table, tid

    source, source_url = tables.new("mcpstore-ext")
    create_ext_table(tables.c, source)
    w = Server(tables.c, source)
    epoch = int(time.time()) + 7200
    w.put(ext_document(tid(1), created_at=at(600)), ttl_epoch=epoch)
    w.complete(tid(1), at(300))  # rev 2
    w.complete(tid(1), at(200))  # already terminal: stays rev 2
    w.put(ext_document(tid(2), created_at=at(500), owner="alice@example.com"))
    w.put(ext_document(tid(3), created_at=at(400)), ttl_epoch=int(time.time()) - 10)  # gone
    file = tmp_path / "ext.mcpbackup.zst"
    b = cli("backup", "--url", source_url, "--layout", "ext-tasks", "-o", str(file), "-f", "json")
    assert b.exit_code == 0 and b.json()["sessions"] == 2, b
    # DynamoDB Local deletes an expired item within seconds: the note is there unless its
    # sweeper was first.
    still_there = "Item" in tables.c.get_item(TableName=source, Key={"taskId": {"S": tid(3)}})
    noted = any("past their ttlEpoch" in n for n in b.json()["notes"])
    assert noted or not still_there, b

    target, target_url = tables.new("mcpstore-ext")
    create_ext_table(tables.c, target)
    other = Server(tables.c, target)
    other.put(ext_document(tid(9), created_at=at(100)))
    other.put(ext_document(tid(2), created_at=at(100), status="completed", result={}))
    merged = cli("restore", str(file), "--url", target_url, "-f", "json")
    assert merged.exit_code == 0, merged
    assert (merged.json()["sessions"], merged.json()["skipped_sessions"]) == (1, 1), merged
    assert other.doc(tid(2))[0] == "completed"  # type: ignore[index]  # merge never overwrites

    replaced = cli(
        "restore", str(file), "--url", target_url, "--mode", "replace", "--yes", "-f", "json"
    )
    assert replaced.exit_code == 0, replaced
    assert replaced.json()["replaced_sessions"] == 3 and replaced.json()["sessions"] == 2
    have = {i["taskId"]["S"]: i for i in tables.c.scan(TableName=target)["Items"]}
    want = {
        i["taskId"]["S"]: i
        for i in tables.c.scan(TableName=source)["Items"]
        if i["taskId"]["S"] != tid(3)
    }
    assert have == want
    assert have[tid(1)]["rev"] == {"N": "2"} and have[tid(1)]["ttlEpoch"] == {"N": str(epoch)}


def test_task_items_come_back_as_the_server_wrote_them(tables: Tables, tmp_path: Path) -> None:
    """The 2025 lane's tasks through a backup file: items past their ttlEpoch are left out
    and said so, a restore writes each item as the server does (ttlEpoch from createdAt +
    ttl), merge never writes over a task the table has, replace empties first."""
    from tests.test_tasks_dynamodb import NS, create_table, put_task, tid

    source, source_url = tables.new("mcpstore-tasks")
    create_table(tables.c, source)
    now = time.time_ns()
    one, two, gone, nine = tid(1), tid(2), tid(3), tid(9)  # (random beyond the prefix)
    written = {
        one: put_task(tables.c, source, one, created_ns=now - 600 * NS, ttl_ms=86_400_000),
        two: put_task(
            tables.c,
            source,
            two,
            created_ns=now - 500 * NS,
            status="completed",
            result={"Success": {"content": [{"type": "text", "text": "ok"}]}},
            session_id="9b0c1f8e-3c1d-4a57-8f4e-6f2a1b0c9d8e",
            meta={"progressToken": 7},
        ),
    }
    put_task(tables.c, source, gone, created_ns=now - 400 * NS, ttl_epoch=int(time.time()) - 5)
    file = tmp_path / "tasks.mcpbackup.zst"
    b = cli("backup", "--url", source_url, "--layout", "tasks", "-o", str(file), "-f", "json")
    assert b.exit_code == 0 and b.json()["sessions"] == 2, b
    # DynamoDB Local deletes an expired item within seconds: the note is there unless its
    # sweeper was first.
    still_there = "Item" in tables.c.get_item(TableName=source, Key={"taskId": {"S": gone}})
    noted = any("past their ttlEpoch" in n for n in b.json()["notes"])
    assert noted or not still_there, b

    target, target_url = tables.new("mcpstore-tasks")
    create_table(tables.c, target)
    theirs = put_task(tables.c, target, two, created_ns=now - 100 * NS, status="working")
    put_task(tables.c, target, nine, created_ns=now - 50 * NS)
    merged = cli("restore", str(file), "--url", target_url, "-f", "json")
    assert merged.exit_code == 0, merged
    assert (merged.json()["sessions"], merged.json()["skipped_sessions"]) == (1, 1), merged
    have = {i["taskId"]["S"]: i for i in tables.c.scan(TableName=target)["Items"]}
    assert have[two] == theirs  # merge never writes over
    assert have[one] == written[one]

    replaced = cli(
        "restore", str(file), "--url", target_url, "--mode", "replace", "--yes", "-f", "json"
    )
    assert replaced.exit_code == 0, replaced
    assert replaced.json()["replaced_sessions"] == 3 and replaced.json()["sessions"] == 2
    have = {i["taskId"]["S"]: i for i in tables.c.scan(TableName=target)["Items"]}
    assert have == written


def test_a_task_already_past_its_ttl_epoch_is_not_restored(tables: Tables, tmp_path: Path) -> None:
    """A SQL store keeps a task past created_at + ttl until something expires it; restored
    into DynamoDB its ttlEpoch would already have passed: it is not written, and said."""
    from tests.task_writers import SqliteTaskWriter, task_row
    from tests.test_tasks import at, tid

    path = tmp_path / "mcp_tasks.db"
    writer = SqliteTaskWriter(str(path))
    writer.create_tables()
    writer.insert(task_row(tid(1), created_at=at(3600), ttl=1000))
    writer.insert(task_row(tid(2), created_at=at(60), ttl=86_400_000))
    writer.close()
    file = tmp_path / "t.mcpbackup.zst"
    b = cli("backup", "--url", f"sqlite:///{path}", "--layout", "tasks", "-o", str(file))
    assert b.exit_code == 0, b
    _table, url = tables.new("mcpstore-tasks")
    r = cli("restore", str(file), "--url", url, "--layout", "tasks", "-f", "json")
    assert r.exit_code == 0, r
    assert r.json()["sessions"] == 1, r
    assert any("1 task already past their ttlEpoch" in n for n in r.json()["notes"]), r
    assert "already past their ttlEpoch" in r.stderr, r
    listed = cli("tasks", "list", "--url", url, "-f", "jsonl")
    assert [t["task_id"] for t in listed.jsonl()] == [tid(2)], listed
