"""expire on DynamoDB: what the parity suite cannot show (naming, ttl, orphans the server
leaves, --segment shares, the conditional delete losing a race it must lose)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from mcpstore_cli.backends.dynamodb import expire as dynamodb_expire
from mcpstore_cli.model.records import ExpireOptions, ExpireResult
from mcpstore_cli.store import open_store
from mcpstore_cli.store.base import StoreOptions
from mcpstore_cli.store.urls import parse_store_url
from mcpstore_cli.util.timeutil import now_ms
from tests.conftest import StoreHandle
from tests.dynamodb_fixtures import DYNAMO_ENV, DynamoServerWriter, client

MIN = 60_000


def _endpoint(store: StoreHandle) -> str:
    return store.url.split("endpoint=", 1)[1]


def _seed(
    writer: DynamoServerWriter, rows: list[tuple[str, int, int]], *, ttl: int | None = None
) -> None:
    """(id, minutes idle, events) written as the server writes them."""
    now = now_ms()
    for sid, idle_min, events in rows:
        last = now - idle_min * MIN
        writer.session(
            sid,
            created_at=last - MIN,
            last_activity=last,
            state={},
            server_capabilities={},
            ttl=ttl,
        )
        for i in range(events):
            writer.event(sid, timestamp=last - events + i, event_type="message", data={"i": i})


def _items(store: StoreHandle, table: str) -> list[dict[str, Any]]:
    c = client(_endpoint(store))
    items: list[dict[str, Any]] = []
    kw: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = c.scan(**kw)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _left(store: StoreHandle, key: str = "sessionId") -> tuple[set[str], list[str]]:
    """Session ids in the sessions table, and the session id of every event (raw scans)."""
    sessions = {item[key]["S"] for item in _items(store, store.name)}
    events = [item[key]["S"] for item in _items(store, f"{store.name}-events")]
    return sessions, events


def _expire(store: StoreHandle, *args: str, code: int = 0) -> dict:
    result = store.run("expire", "--format", "json", *args)
    assert result.exit_code == code, result
    return result.json()


def _library_expire(store: StoreHandle, opts: ExpireOptions, hook: Any = None) -> ExpireResult:
    """expire through the library; ``hook(session_id)`` runs just before each session's
    conditional delete is sent (DeleteItem, or its statement in a BatchExecuteStatement)."""

    def before_delete(params: dict[str, Any], **_: Any) -> None:
        if "Statements" in params:
            for statement in params["Statements"]:
                hook(statement["Parameters"][0]["S"])
        else:
            hook(params["Key"]["sessionId"]["S"])

    async def work() -> ExpireResult:
        handle = open_store(parse_store_url(store.url), StoreOptions(environ=dict(DYNAMO_ENV)))
        async with handle:
            if hook is not None:
                events = handle.client.meta.events  # type: ignore[attr-defined]
                for op in ("DeleteItem", "BatchExecuteStatement"):
                    events.register(f"before-parameter-build.dynamodb.{op}", before_delete)
            return await handle.expire(opts)

    return asyncio.run(work())


def _raw_tables(store: StoreHandle, *, snake: bool) -> None:
    """Tables made by plain boto3, as old server releases did (no time to live set)."""
    sid, eid = ("session_id", "event_id") if snake else ("sessionId", "eventId")
    c = client(_endpoint(store))
    c.create_table(
        TableName=store.name,
        AttributeDefinitions=[{"AttributeName": sid, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": sid, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    c.create_table(
        TableName=f"{store.name}-events",
        AttributeDefinitions=[
            {"AttributeName": sid, "AttributeType": "S"},
            {"AttributeName": eid, "AttributeType": "N"},
        ],
        KeySchema=[
            {"AttributeName": sid, "KeyType": "HASH"},
            {"AttributeName": eid, "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def test_snake_case_tables_are_expired_in_snake_case(dynamodb_store: StoreHandle) -> None:
    store = dynamodb_store
    _raw_tables(store, snake=True)
    writer = DynamoServerWriter(_endpoint(store), store.name, snake=True)
    try:
        _seed(writer, [("old-1", 90, 3), ("old-2", 45, 0), ("new", 1, 8), ("gone", 1, 2)])
        writer.delete_session_raw("gone")
    finally:
        writer.close()
    preview = _expire(store, "--dry-run", "--max-events-per-session", "5")
    assert (preview["sessions"], preview["events"], preview["orphans"], preview["trimmed"]) == (
        2,
        3,
        2,
        3,
    )
    done = _expire(store, "--max-events-per-session", "5")
    assert (done["sessions"], done["events"], done["orphans"], done["trimmed"]) == (2, 3, 2, 3)
    sessions, events = _left(store, "session_id")
    assert sessions == {"new"} and events == ["new"] * 5
    ids = sorted(int(i["event_id"]["N"]) for i in _items(store, f"{store.name}-events"))
    assert ids == [4, 5, 6, 7, 8], "the newest five stay"
    # Nothing in camelCase was ever written.
    assert all("sessionId" not in item for item in _items(store, store.name))


def test_items_past_their_ttl_are_expired(dynamodb_store: StoreHandle) -> None:
    store = dynamodb_store
    _raw_tables(store, snake=False)  # no time to live: DynamoDB Local would delete at once
    writer = DynamoServerWriter(_endpoint(store), store.name)
    try:
        _seed(writer, [("ttl-gone", 1, 2)], ttl=int(time.time()) - 60)
        _seed(writer, [("alive", 1, 1)])
    finally:
        writer.close()
    listed = store.run("list", "--limit", "0", "--format", "jsonl").jsonl()
    assert [r["session_id"] for r in listed] == ["alive"], "a passed ttl counts as gone"
    preview = _expire(store, "--dry-run")
    assert (preview["sessions"], preview["events"], preview["sample"]) == (1, 2, ["ttl-gone"])
    done = _expire(store)
    assert (done["sessions"], done["events"], done["orphans"]) == (1, 2, 0)
    assert _left(store) == ({"alive"}, ["alive"])


def test_orphans_the_server_leaves_are_removed(dynamodb_store: StoreHandle) -> None:
    store = dynamodb_store
    store.setup()
    writer = DynamoServerWriter(_endpoint(store), store.name)
    try:
        _seed(writer, [(f"o{i}", 1, 3) for i in range(6)] + [("kept", 1, 4)])
        for i in range(6):
            writer.delete_session_raw(f"o{i}")  # the server's delete: events stay behind
    finally:
        writer.close()
    stats = store.run("stats", "--format", "json").json()
    assert stats["events"]["orphaned"] == 18
    done = _expire(store)
    assert (done["sessions"], done["events"], done["orphans"]) == (0, 0, 18)
    assert _left(store) == ({"kept"}, ["kept"] * 4)
    assert _expire(store)["orphans"] == 0


def test_segment_shares_cover_everything_exactly_once(dynamodb_store: StoreHandle) -> None:
    store = dynamodb_store
    store.setup()
    writer = DynamoServerWriter(_endpoint(store), store.name)
    total = 120
    try:
        _seed(writer, [(f"seg{i:03d}", 60, i % 3) for i in range(total)] + [("live", 1, 2)])
    finally:
        writer.close()
    all_events = sum(i % 3 for i in range(total))
    first = _expire(store, "--segment", "0/2", "--segments", "3")
    assert 0 < first["sessions"] < total, "one share alone removes only part"
    sessions, _ = _left(store)
    assert len(sessions) == total + 1 - first["sessions"]
    assert _expire(store, "--segment", "0/2", "--segments", "3")["sessions"] == 0
    second = _expire(store, "--segment", "1/2", "--segments", "3")
    assert 0 < second["sessions"] < total
    assert first["sessions"] + second["sessions"] == total
    assert first["events"] + second["events"] == all_events
    assert first["orphans"] + second["orphans"] == 0, "each host deletes its own sessions' events"
    assert _left(store) == ({"live"}, ["live", "live"])
    again = _expire(store)
    assert (again["sessions"], again["events"], again["orphans"]) == (0, 0, 0)


def test_a_session_touched_before_its_delete_stays(dynamodb_store: StoreHandle) -> None:
    """The server touches a session between expire's scan and its DeleteItem: the
    condition fails, the session and its events stay, and it is counted as skipped."""
    store = dynamodb_store
    store.setup()
    writer = DynamoServerWriter(_endpoint(store), store.name)
    try:
        _seed(writer, [(f"r{i}", 90, 2) for i in range(10)])
        touched: list[str] = []

        def touch_first(sid: str) -> None:
            if sid in ("r3", "r7") and sid not in touched:
                touched.append(sid)
                assert writer.touch(sid, now_ms())

        result = _library_expire(store, ExpireOptions(now_ms=now_ms()), hook=touch_first)
    finally:
        writer.close()
    assert sorted(touched) == ["r3", "r7"]
    assert (result.sessions, result.events, result.skipped, result.orphans) == (8, 16, 2, 0)
    sessions, events = _left(store)
    assert sessions == {"r3", "r7"}
    assert sorted(events) == ["r3", "r3", "r7", "r7"]


def test_a_touched_session_stays_with_single_deletes_too(dynamodb_store: StoreHandle) -> None:
    """With --rate sessions go by single DeleteItems: the same race, the same outcome."""
    store = dynamodb_store
    store.setup()
    writer = DynamoServerWriter(_endpoint(store), store.name)
    try:
        _seed(writer, [(f"d{i}", 90, 1) for i in range(6)])
        touched: list[str] = []

        def touch(sid: str) -> None:
            if sid == "d2" and not touched:
                touched.append(sid)
                assert writer.touch(sid, now_ms())

        result = _library_expire(store, ExpireOptions(now_ms=now_ms(), rate=1000), hook=touch)
    finally:
        writer.close()
    assert touched == ["d2"]
    assert (result.sessions, result.events, result.skipped) == (5, 5, 1)
    assert _left(store) == ({"d2"}, ["d2"])


def test_events_by_query_past_the_remembered_ids(
    dynamodb_store: StoreHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond DEFERRED_MAX remembered sessions, events go by Query right after their
    session: the counts stay exact either way."""
    store = dynamodb_store
    store.setup()
    monkeypatch.setattr(dynamodb_expire, "DEFERRED_MAX", 4)
    writer = DynamoServerWriter(_endpoint(store), store.name)
    try:
        _seed(writer, [(f"q{i}", 90, 1 + i % 4) for i in range(12)] + [("stay", 2, 3)])
        _seed(writer, [("orphan", 1, 2)])
        writer.delete_session_raw("orphan")
    finally:
        writer.close()
    result = _library_expire(store, ExpireOptions(now_ms=now_ms(), batch_size=3))
    expected_events = sum(1 + i % 4 for i in range(12))
    assert (result.sessions, result.events, result.orphans, result.skipped) == (
        12,
        expected_events,
        2,
        0,
    )
    assert _left(store) == ({"stay"}, ["stay"] * 3)
