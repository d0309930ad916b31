"""DynamoDB specifics: naming conventions, ttl, setup on existing tables, drift, throttling,
errors; against DynamoDB Local (and moto's server, only for tags and point-in-time recovery)."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import pytest

from mcpstore_cli.backends.dynamodb.store import DynamoDBStore
from mcpstore_cli.model.records import Event
from mcpstore_cli.store import open_store
from mcpstore_cli.store.base import StoreOptions
from mcpstore_cli.store.urls import parse_store_url
from mcpstore_cli.util.timeutil import now_ms
from tests.conftest import StoreHandle
from tests.dynamodb_fixtures import (
    DYNAMO_ENV,
    DynamoDBLocal,
    DynamoServerWriter,
    _free_port,
    client,
    drop_tables,
    dynamodb_url,
    unique_table,
)
from tests.helpers import run_cli

MIN = 60_000


def _all(store: StoreHandle, *extra: str) -> list[dict]:
    result = store.run("list", "--limit", "0", "--format", "jsonl", *extra)
    assert result.exit_code == 0, result
    return result.jsonl()


def _create_raw_tables(
    endpoint: str,
    table: str,
    *,
    snake: bool,
    gsi: bool = True,
    ttl: bool = True,
    stream: bool = False,
    provisioned: bool = False,
) -> None:
    """Tables made by plain boto3 calls, the way the server's own setup program (or an old
    release of it) makes them."""
    c = client(endpoint)
    sid, la, eid = ("session_id", "last_activity", "event_id") if snake else (
        "sessionId", "lastActivity", "eventId")  # fmt: skip
    billing: dict[str, Any] = (
        {
            "BillingMode": "PROVISIONED",
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        }
        if provisioned
        else {"BillingMode": "PAY_PER_REQUEST"}
    )
    sessions: dict[str, Any] = {
        "TableName": table,
        "AttributeDefinitions": [{"AttributeName": sid, "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": sid, "KeyType": "HASH"}],
        **billing,
    }
    if gsi:
        sessions["AttributeDefinitions"].append({"AttributeName": la, "AttributeType": "N"})
        index: dict[str, Any] = {
            "IndexName": "LastActivityIndex",
            "KeySchema": [{"AttributeName": la, "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
        if provisioned:
            index["ProvisionedThroughput"] = billing["ProvisionedThroughput"]
        sessions["GlobalSecondaryIndexes"] = [index]
    c.create_table(**sessions)
    events: dict[str, Any] = {
        "TableName": f"{table}-events",
        "AttributeDefinitions": [
            {"AttributeName": sid, "AttributeType": "S"},
            {"AttributeName": eid, "AttributeType": "N"},
        ],
        "KeySchema": [
            {"AttributeName": sid, "KeyType": "HASH"},
            {"AttributeName": eid, "KeyType": "RANGE"},
        ],
        **billing,
    }
    if stream:
        events["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    c.create_table(**events)
    if ttl:
        for name in (table, f"{table}-events"):
            c.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
            )


def _endpoint(store: StoreHandle) -> str:
    return store.url.split("endpoint=", 1)[1]


# -- naming conventions ------------------------------------------------------------------
def test_snake_case_tables_are_read_and_written_in_snake_case(
    dynamodb_store: StoreHandle,
) -> None:
    store = dynamodb_store
    endpoint = _endpoint(store)
    _create_raw_tables(endpoint, store.name, snake=True)
    check = store.run("setup", "--check", "--format", "json")
    assert check.exit_code == 0, check
    writer = DynamoServerWriter(endpoint, store.name, snake=True)
    now = now_ms()
    writer.session(
        "a" * 32,
        created_at=now - 10 * MIN,
        last_activity=now - MIN,
        client_capabilities={"roots": {}},
        server_capabilities={"tools": {}},
        state={"client_info": {"name": "old", "version": "0.3"}},
    )
    for i in range(3):
        writer.event("a" * 32, timestamp=now - i, event_type="notifications/message", data={"i": i})
    writer.close()

    rows = _all(store)
    assert [r["session_id"] for r in rows] == ["a" * 32]
    assert rows[0]["event_count"] == 3 and rows[0]["client_info"]["name"] == "old"
    show = store.run("show", "a" * 32, "--format", "json").json()
    assert [e["id"] for e in show["events"]] == [1, 2, 3]
    stats = store.run("stats", "--format", "json").json()
    assert stats["sessions"]["total"] == 1 and stats["events"]["total"] == 3
    assert stats["backend_facts"]["attribute_names"] == "snake_case"

    demo = store.run("demo", "--sessions", "5", "--events-per-session", "2", "--quiet")
    assert demo.exit_code == 0, demo
    assert len(_all(store)) == 6

    async def append() -> Event:
        url = parse_store_url(store.url)
        async with open_store(url, StoreOptions(environ=DYNAMO_ENV)) as opened:
            return await opened.append_event(
                Event("a" * 32, 0, now, "notifications/progress", {"p": 1})
            )

    appended = asyncio.run(append())
    assert appended.id == 4

    c = client(endpoint)
    for name in (store.name, f"{store.name}-events"):
        for item in c.scan(TableName=name)["Items"]:
            camel = [k for k in item if k != k.lower()]
            assert camel == [], f"{name} got camelCase attributes {camel}"
    session = c.get_item(TableName=store.name, Key={"session_id": {"S": "a" * 32}})["Item"]
    assert session["last_activity"]["N"] == str(now)
    assert isinstance(session["state"]["S"], str), "state stays a JSON string"


def test_camel_case_items_are_exactly_the_servers(dynamodb_store: StoreHandle) -> None:
    store = dynamodb_store
    store.setup()
    assert store.run("demo", "--sessions", "3", "--events-per-session", "4", "--seed", "2",
                     "--quiet").exit_code == 0  # fmt: skip
    c = client(_endpoint(store))
    now_s = time.time()
    sessions = c.scan(TableName=store.name)["Items"]
    assert len(sessions) == 3
    for item in sessions:
        assert {"sessionId", "state", "createdAt", "lastActivity", "isInitialized", "metadata",
                "ttl"} <= set(item)  # fmt: skip
        assert set(item["state"]) == {"S"} and isinstance(json.loads(item["state"]["S"]), dict)
        assert set(item["isInitialized"]) == {"BOOL"}
        assert len(item["createdAt"]["N"]) == 13, "milliseconds"
        assert 29 * 60 <= int(item["ttl"]["N"]) - now_s <= 31 * 60, "epoch seconds, +30 min"
    events = c.scan(TableName=f"{store.name}-events")["Items"]
    per_session: dict[str, list[int]] = {}
    for item in events:
        per_session.setdefault(item["sessionId"]["S"], []).append(int(item["eventId"]["N"]))
        assert set(item["data"]) == {"S"} and "eventType" in item and "timestamp" in item
    for ids in per_session.values():
        assert sorted(ids) == list(range(1, len(ids) + 1)), "dense per-session ids"


# -- ttl -----------------------------------------------------------------------------------
def test_expired_items_are_gone_everywhere(dynamodb_store: StoreHandle) -> None:
    store = dynamodb_store
    # Time to live off, so that DynamoDB Local's own sweeper cannot delete the expired items
    # before mcpstore reads them: what is tested is that mcpstore ignores them.
    _create_raw_tables(_endpoint(store), store.name, snake=False, ttl=False)
    writer = DynamoServerWriter(_endpoint(store), store.name)
    now = now_ms()
    past = int(time.time()) - 60
    writer.session("1" * 32, created_at=now - MIN, last_activity=now, state={})
    writer.session("2" * 32, created_at=now - MIN, last_activity=now, state={}, ttl=past)
    writer.event("1" * 32, timestamp=now, event_type="m", data={})
    writer.event("1" * 32, timestamp=now, event_type="m", data={}, ttl=past)
    writer.event("2" * 32, timestamp=now, event_type="m", data={})  # its session expired
    writer.close()
    rows = _all(store)
    assert [r["session_id"] for r in rows] == ["1" * 32]
    assert rows[0]["event_count"] == 1
    assert store.run("list", "--limit", "5", "--format", "jsonl").jsonl()[0]["event_count"] == 1
    gone = store.run("show", "2" * 32)
    assert gone.exit_code == 1 and "No session" in gone.stderr
    shown = store.run("show", "1" * 32, "--format", "json").json()
    assert [e["id"] for e in shown["events"]] == [1]
    stats = store.run("stats", "--format", "json").json()
    assert stats["sessions"]["total"] == 1
    assert stats["events"]["total"] == 2
    assert stats["events"]["orphaned"] == 1
    # --approximate reads DescribeTable's item counts: no scan, expired items included.
    approx = store.run("stats", "--approximate", "--format", "json").json()
    assert approx["approximate"] is True
    assert approx["sessions"]["total"] == 2 and approx["events"]["total"] == 3
    assert approx["events"]["orphaned"] is None


# -- setup ---------------------------------------------------------------------------------
def test_setup_on_existing_tables_applies_what_is_missing(dynamodb_store: StoreHandle) -> None:
    store = dynamodb_store
    _create_raw_tables(
        _endpoint(store), store.name, snake=False, gsi=False, ttl=False, provisioned=True
    )
    check = store.run("setup", "--check", "--format", "json")
    assert check.exit_code == 3, check
    problems = {(f["object"], f["severity"]) for f in check.json()}
    name, events = f"table {store.name}", f"table {store.name}-events"
    assert (f"{name} index LastActivityIndex", "error") in problems
    assert (f"{name} time to live", "error") in problems
    assert (f"{events} time to live", "error") in problems
    assert (f"{name} billing mode", "error") in problems
    assert (f"{events} stream", "note") in problems

    result = store.run("setup", "--format", "json")
    assert result.exit_code == 0, result
    actions = {s["object"]: s["action"] for s in result.json()}
    assert actions["sessions"] == "exists" and actions["events"] == "exists"
    assert actions["sessions.LastActivityIndex"] == "created"
    assert actions["sessions ttl"] == "created" and actions["events ttl"] == "created"
    assert actions["events stream"] == "created"
    assert actions["sessions billing"] == "updated"
    after = store.run("setup", "--check", "--format", "json")
    assert after.exit_code == 0, after
    assert after.json() == []
    c = client(_endpoint(store))
    desc = c.describe_table(TableName=f"{store.name}-events")["Table"]
    assert desc["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


def test_setup_no_stream_and_dry_run(dynamodb_store: StoreHandle) -> None:
    store = dynamodb_store
    plan = store.run("setup", "--dry-run", "--no-stream", "--tag", "team=mcp", "--pitr")
    assert plan.exit_code == 0, plan
    text = plan.stdout
    assert text.count("aws dynamodb create-table") == 2
    assert text.count("update-time-to-live") == 2
    assert text.count("update-continuous-backups") == 2
    assert "LastActivityIndex" in text and "KEYS_ONLY" in text and "PAY_PER_REQUEST" in text
    assert '"Key":"team","Value":"mcp"' in text
    assert "StreamSpecification" not in text
    with_stream = store.run("setup", "--dry-run", "--format", "jsonl").jsonl()
    assert any('"StreamViewType":"NEW_IMAGE"' in line for line in with_stream)
    assert store.name not in client(_endpoint(store)).list_tables()["TableNames"]

    created = store.run("setup", "--no-stream", "--format", "json")
    assert created.exit_code == 0, created
    desc = client(_endpoint(store)).describe_table(TableName=f"{store.name}-events")["Table"]
    assert not (desc.get("StreamSpecification") or {}).get("StreamEnabled")
    check = store.run("setup", "--check", "--format", "json")
    assert check.exit_code == 0 and [f["severity"] for f in check.json()] == ["note"]


def test_wrong_layouts_and_missing_tables(dynamodb_store: StoreHandle) -> None:
    store = dynamodb_store
    c = client(_endpoint(store))
    c.create_table(
        TableName=store.name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    missing_events = store.run("list")
    assert missing_events.exit_code == 3, missing_events
    assert f"{store.name}-events" in missing_events.stderr and "setup" in missing_events.stderr
    assert missing_events.stderr.count("\n") == 1
    check = store.run("setup", "--check", "--format", "json")
    assert check.exit_code == 3
    objects = {f["object"]: f["problem"] for f in check.json()}
    assert objects[f"table {store.name}-events"] == "missing"
    assert "HASH key id" in objects[f"table {store.name} key schema"]
    c.create_table(
        TableName=f"{store.name}-events",
        AttributeDefinitions=[
            {"AttributeName": "sessionId", "AttributeType": "S"},
            {"AttributeName": "eventId", "AttributeType": "N"},
        ],
        KeySchema=[
            {"AttributeName": "sessionId", "KeyType": "HASH"},
            {"AttributeName": "eventId", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for args in (["list"], ["stats"], ["show", "x" * 32]):
        wrong = store.run(*args)
        assert wrong.exit_code == 3, wrong
        assert "not in the session layout" in wrong.stderr and wrong.stderr.count("\n") == 1
    refused = store.run("setup")
    assert refused.exit_code == 3 and "leaves it alone" in refused.stderr
    assert c.describe_table(TableName=store.name)["Table"]["KeySchema"][0]["AttributeName"] == "id"


# -- listing mechanics -----------------------------------------------------------------------
def test_segments_spill_and_both_ways_of_counting_agree(
    dynamodb_store: StoreHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = dynamodb_store
    store.setup()
    demo = store.run("demo", "--sessions", "90", "--events-per-session", "3", "--seed", "4",
                     "--quiet")  # fmt: skip
    assert demo.exit_code == 0, demo
    one = _all(store, "--segments", "1")
    assert len(one) == 90 and sum(r["event_count"] for r in one) == 270
    assert _all(store, "--segments", "7") == one
    # A page of 10 counts events with a query per session; the full list with one scan.
    page = store.run("list", "--limit", "10", "--segments", "3", "--format", "jsonl").jsonl()
    assert page == one[:10]
    filtered = _all(store, "--initialized")
    assert filtered == [r for r in one if r["is_initialized"]]
    monkeypatch.setattr(DynamoDBStore, "spill_rows", 7)
    assert _all(store, "--segments", "2") == one, "sorted runs on disk merge to the same order"


def test_concurrent_appends_get_dense_ids(dynamodb_store: StoreHandle) -> None:
    store = dynamodb_store
    store.setup()
    writer = DynamoServerWriter(_endpoint(store), store.name)
    now = now_ms()
    writer.session("f" * 32, created_at=now - MIN, last_activity=now - MIN, state={})
    writer.event("f" * 32, timestamp=now - MIN, event_type="m", data={})
    writer.close()

    async def appends() -> list[int]:
        url = parse_store_url(store.url)
        async with open_store(url, StoreOptions(environ=DYNAMO_ENV)) as opened:
            done = await asyncio.gather(
                *[
                    opened.append_event(Event("f" * 32, 0, now + i, "m", {"i": i}))
                    for i in range(12)
                ]
            )
        return sorted(e.id for e in done)

    assert asyncio.run(appends()) == list(range(2, 14))
    row = _all(store)[0]
    assert row["event_count"] == 13 and row["last_activity"] >= now


# -- throttling ------------------------------------------------------------------------------
class LoopbackServer:
    """An HTTP server on a loopback port, serving on a thread while in a ``with`` block."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class FaultyProxy(LoopbackServer):
    """A loopback HTTP proxy in front of DynamoDB Local that throttles every ``every``-th
    request of the chosen operations and, for the other BatchWriteItem calls, passes on only
    half of the items and returns the rest as UnprocessedItems (really not written)."""

    def __init__(self, upstream: str, operations: set[str], every: int = 3) -> None:
        self.every = every
        self.upstream = upstream.split("//", 1)[1]
        self.operations = operations
        self.lock = threading.Lock()
        self.seen: dict[str, int] = {}
        self.throttled = 0
        self.withheld = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                status, headers, payload = proxy.handle(target, dict(self.headers), body)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amz-crc32", str(zlib.crc32(payload) & 0xFFFFFFFF))
                self.end_headers()
                self.wfile.write(payload)

        super().__init__(Handler)

    def handle(self, target: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        withheld: dict[str, list] = {}
        if target in self.operations:
            with self.lock:
                n = self.seen[target] = self.seen.get(target, 0) + 1
            if n % self.every == 1:
                with self.lock:
                    self.throttled += 1
                error = {
                    "__type": "com.amazonaws.dynamodb.v20120810#"
                    "ProvisionedThroughputExceededException",
                    "message": "injected throttling",
                }
                return (
                    400,
                    {"Content-Type": "application/x-amz-json-1.0"},
                    json.dumps(error).encode(),
                )
            if target == "BatchWriteItem":
                request = json.loads(body)
                kept: dict[str, list] = {}
                for table, items in request["RequestItems"].items():
                    half = (len(items) + 1) // 2
                    kept[table] = items[:half]
                    if items[half:]:
                        withheld[table] = items[half:]
                with self.lock:
                    self.withheld += sum(len(v) for v in withheld.values())
                request["RequestItems"] = kept
                body = json.dumps(request).encode()
        forward = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "host")}
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            conn.request("POST", "/", body=body, headers=forward)
            response = conn.getresponse()
            payload = response.read()
            status = response.status
        finally:
            conn.close()
        if withheld and status == 200:
            doc = json.loads(payload)
            unprocessed = doc.setdefault("UnprocessedItems", {})
            for table, items in withheld.items():
                unprocessed.setdefault(table, []).extend(items)
            payload = json.dumps(doc).encode()
        return status, {"Content-Type": "application/x-amz-json-1.0"}, payload


def test_throttling_and_unprocessed_items_lose_nothing(dynamodb_store: StoreHandle) -> None:
    store = dynamodb_store
    store.setup()
    endpoint = _endpoint(store)
    with FaultyProxy(endpoint, {"BatchWriteItem", "Scan"}) as proxy:
        url = dynamodb_url(proxy.endpoint, store.name)
        demo = run_cli(
            ["demo", "--sessions", "30", "--events-per-session", "5", "--seed", "9", "--url", url],
            environ=DYNAMO_ENV,
        )
        assert demo.exit_code == 0, demo
        listed = run_cli(["list", "--limit", "0", "--segments", "3", "--format", "jsonl",
                          "--url", url], environ=DYNAMO_ENV)  # fmt: skip
        assert listed.exit_code == 0, listed
        assert len(listed.jsonl()) == 30
    assert proxy.throttled >= 5 and proxy.withheld >= 90, (proxy.throttled, proxy.withheld)
    # Everything arrived, read back directly (not through the proxy).
    c = client(endpoint)
    assert len(c.scan(TableName=store.name)["Items"]) == 30
    ids: dict[str, list[int]] = {}
    for page in c.get_paginator("scan").paginate(TableName=f"{store.name}-events"):
        for item in page["Items"]:
            ids.setdefault(item["sessionId"]["S"], []).append(int(item["eventId"]["N"]))
    assert sum(len(v) for v in ids.values()) == 150
    assert all(sorted(v) == list(range(1, len(v) + 1)) for v in ids.values())
    stats = store.run("stats", "--format", "json").json()
    assert stats["sessions"]["total"] == 30 and stats["events"]["total"] == 150


# -- errors ------------------------------------------------------------------------------------
def test_clear_errors(dynamodb_local: DynamoDBLocal) -> None:
    table = unique_table()
    url = dynamodb_url(dynamodb_local.endpoint, table)
    no_creds = {k: v for k, v in DYNAMO_ENV.items() if not k.startswith("AWS_ACCESS")}
    no_creds.pop("AWS_SECRET_ACCESS_KEY")
    result = run_cli(["list", "--url", url], environ=no_creds)
    assert result.exit_code == 1 and "No AWS credentials" in result.stderr, result
    assert result.stderr.count("\n") == 1

    denied = run_cli(
        ["stats", "--url", url], environ={**DYNAMO_ENV, "AWS_ACCESS_KEY_ID": "not-a-key!"}
    )
    assert denied.exit_code == 1 and "denied" in denied.stderr, denied
    assert denied.stderr.count("\n") == 1

    dead = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    unreachable = run_cli(
        ["list", "--url", dynamodb_url(dead, table), "--connect-timeout", "1"], environ=DYNAMO_ENV
    )
    assert time.monotonic() - started < 10
    assert unreachable.exit_code == 1 and "Cannot reach DynamoDB" in unreachable.stderr
    assert unreachable.stderr.count("\n") == 1

    missing = run_cli(["stats", "--url", url], environ=DYNAMO_ENV)
    assert missing.exit_code == 3 and "run mcpstore setup" in missing.stderr
    assert table not in client(dynamodb_local.endpoint).list_tables()["TableNames"]


def test_a_signature_mismatch_never_shows_the_session_token(
    dynamodb_local: DynamoDBLocal,
) -> None:
    from botocore.exceptions import ClientError

    store = _library_store(dynamodb_local.endpoint, "token-test", AWS_SESSION_TOKEN="tok-123")
    message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method.\n\nThe Canonical String for "
        "this request should have been\n'POST\n/\n\nx-amz-security-token:tok-123\n'"
    )
    error = ClientError(
        {"Error": {"Code": "InvalidSignatureException", "Message": message}}, "BatchWriteItem"
    )
    translated = store._translate(error, None)
    assert translated is not None
    assert "tok-123" not in translated.message and "\n" not in translated.message
    assert "does not match the signature you provided" in translated.message


def test_backend_variables_name_the_store(dynamodb_local: DynamoDBLocal) -> None:
    table = unique_table()
    env = {**DYNAMO_ENV, "MCP_SESSION_TABLE": table, "AWS_ENDPOINT_URL": dynamodb_local.endpoint}
    try:
        assert run_cli(["setup", "--backend", "dynamodb", "--quiet"], environ=env).exit_code == 0
        tables = client(dynamodb_local.endpoint).list_tables()["TableNames"]
        assert table in tables and f"{table}-events" in tables
        assert run_cli(["stats", "--backend", "dynamodb"], environ=env).exit_code == 0
    finally:
        drop_tables(dynamodb_local.endpoint, table)


# -- moto: tags and point-in-time recovery ----------------------------------------------------
@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - moto[server] is a test dependency
        from tests.conftest import unavailable

        unavailable(f"moto's server is not installed: {exc}")
        return
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(Exception):
            server.stop()


def test_tags_and_pitr_on_moto(moto_endpoint: str) -> None:
    table = unique_table("tags")
    url = dynamodb_url(moto_endpoint, table)
    created = run_cli(
        ["setup", "--tag", "team=mcp", "--tag", "env=test", "--pitr", "--format", "json",
         "--url", url],
        environ=DYNAMO_ENV,
    )  # fmt: skip
    assert created.exit_code == 0, created
    c = client(moto_endpoint)
    for name in (table, f"{table}-events"):
        arn = c.describe_table(TableName=name)["Table"]["TableArn"]
        tags = {t["Key"]: t["Value"] for t in c.list_tags_of_resource(ResourceArn=arn)["Tags"]}
        assert tags == {"team": "mcp", "env": "test"}
        backups = c.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    again = run_cli(["setup", "--tag", "owner=ops", "--format", "json", "--url", url],
                    environ=DYNAMO_ENV)  # fmt: skip
    assert again.exit_code == 0, again
    assert {s["object"]: s["action"] for s in again.json()}["sessions tags"] == "updated"
    arn = c.describe_table(TableName=table)["Table"]["TableArn"]
    tags = {t["Key"]: t["Value"] for t in c.list_tags_of_resource(ResourceArn=arn)["Tags"]}
    assert tags == {"team": "mcp", "env": "test", "owner": "ops"}
    drop_tables(moto_endpoint, table)


# -- the lean BatchWriteItem path ----------------------------------------------------------------
def _library_store(endpoint: str, table: str, **environ: str) -> DynamoDBStore:
    store = open_store(
        parse_store_url(dynamodb_url(endpoint, table)),
        StoreOptions(environ={**DYNAMO_ENV, **environ}),
    )
    assert isinstance(store, DynamoDBStore)
    return store


def test_bulk_writes_take_the_lean_path_and_fall_back_behind_a_proxy(
    dynamodb_store: StoreHandle,
) -> None:
    store = dynamodb_store
    store.setup()
    endpoint = _endpoint(store)
    lean = _library_store(endpoint, store.name)
    proxied = _library_store(endpoint, store.name, HTTPS_PROXY="http://127.0.0.1:9")
    try:
        assert lean._bulk_wire() is not None
        assert proxied._bulk_wire() is None
        # Both paths write the same items; each then deletes the other's.
        for writer, other, sid in ((lean, proxied, "lean"), (proxied, lean, "boto3")):
            key = {"sessionId": {"S": sid}, "eventId": {"N": "1"}}
            writer.batch_write([(f"{store.name}-events", {**key, "data": {"S": "{}"}})])
            got = client(endpoint).get_item(TableName=f"{store.name}-events", Key=key)
            assert got["Item"]["data"] == {"S": "{}"}
            other.batch_write([(f"{store.name}-events", key)], delete=True)
            assert "Item" not in client(endpoint).get_item(
                TableName=f"{store.name}-events", Key=key
            )
    finally:
        asyncio.run(lean.close())
        asyncio.run(proxied.close())
    # The CLI's clear goes through the client when a proxy is set (NO_PROXY lets it reach
    # DynamoDB Local directly) and still empties the tables.
    demo = store.run("demo", "--sessions", "20", "--events-per-session", "3", "--seed", "2")
    assert demo.exit_code == 0, demo
    env = {**DYNAMO_ENV, "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1"}
    cleared = run_cli(["clear", "--yes", "--url", store.url], environ=env)
    assert cleared.exit_code == 0, cleared
    assert client(endpoint).scan(TableName=f"{store.name}-events")["Count"] == 0


def test_lean_path_errors_read_like_the_clients(
    dynamodb_local: DynamoDBLocal, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcpstore_cli.backends.dynamodb import wire as dynamodb_wire
    from mcpstore_cli.errors import StoreConnectionError, StoreMissingError

    request = {"no-such-table": [{"DeleteRequest": {"Key": {"sessionId": {"S": "x"}}}}]}
    messages = []
    for environ in ({}, {"HTTPS_PROXY": "http://127.0.0.1:9"}):
        store = _library_store(dynamodb_local.endpoint, "no-such-table", **environ)
        try:
            with pytest.raises(StoreMissingError) as missing:
                store._batch_write_item(request)
            messages.append(missing.value.message)
        finally:
            asyncio.run(store.close())
    assert messages[0] == messages[1], messages

    # Signed like the client: a session token travels in the signed headers.
    store = _library_store(dynamodb_local.endpoint, "token-test", AWS_SESSION_TOKEN="token-1")
    try:
        wire = store._bulk_wire()
        assert wire is not None
        headers = wire._headers("BatchWriteItem", b"{}")
        assert headers["x-amz-security-token"] == "token-1"
        assert "x-amz-security-token" in headers["authorization"]
    finally:
        asyncio.run(store.close())

    # An endpoint that stops answering: retried, then one sentence.
    monkeypatch.setattr(dynamodb_wire, "MAX_ATTEMPTS", 2)
    dead = _library_store(f"http://127.0.0.1:{_free_port()}", "dead-test")
    try:
        assert dead._bulk_wire() is not None
        with pytest.raises(StoreConnectionError, match="Cannot reach DynamoDB at http://127"):
            dead._batch_write_item(request)
    finally:
        asyncio.run(dead.close())


class ScriptedEndpoint(LoopbackServer):
    """An HTTP/1.1 keep-alive front for DynamoDB Local that answers the first calls from a
    script ("throttle", "500", "invalid", "bad-crc", "bad-json", "close") and forwards the
    rest; it records each call's user agent."""

    def __init__(self, upstream: str, script: list[str]) -> None:
        self.script = list(script)
        self.agents: list[str] = []
        self.lock = threading.Lock()
        upstream_host = upstream.split("//", 1)[1]
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with front.lock:
                    front.agents.append(self.headers.get("User-Agent", ""))
                    step = front.script.pop(0) if front.script else "forward"
                if step == "close":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                status, payload = 200, b""
                if step in ("throttle", "invalid"):
                    kind = "ThrottlingException" if step == "throttle" else "ValidationException"
                    status = 400
                    payload = json.dumps({"__type": f"com.amazon.coral#{kind}",
                                          "message": f"scripted {step}"}).encode()  # fmt: skip
                elif step == "500":
                    status, payload = 500, b'{"__type": "InternalServerError"}'
                else:
                    forward = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    conn = http.client.HTTPConnection(upstream_host, timeout=30)
                    try:
                        conn.request("POST", "/", body=body, headers=forward)
                        response = conn.getresponse()
                        payload, status = response.read(), response.status
                    finally:
                        conn.close()
                    if step == "bad-json":
                        payload = payload[: len(payload) // 2]
                crc = zlib.crc32(payload) & 0xFFFFFFFF
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amz-crc32", str(crc ^ 1 if step == "bad-crc" else crc))
                self.end_headers()
                self.wfile.write(payload)

        super().__init__(Handler)


def test_lean_path_retries_what_the_client_retries(dynamodb_store: StoreHandle) -> None:
    from mcpstore_cli.errors import StoreConnectionError

    store = dynamodb_store
    store.setup()
    endpoint = _endpoint(store)
    events = f"{store.name}-events"
    script = ["throttle", "500", "bad-crc", "close", "bad-json"]
    with ScriptedEndpoint(endpoint, script) as front:
        lean = _library_store(front.endpoint, store.name)
        try:
            wire = lean._bulk_wire()
            assert wire is not None
            # A lone surrogate (a truncated emoji) travels escaped, as the client sends it.
            items = [
                (events, {"sessionId": {"S": "s"}, "eventId": {"N": str(i)},
                          "data": {"S": "\ud83d" if i == 1 else "{}"}})
                for i in range(1, 31)
            ]  # fmt: skip
            lean.batch_write(items)
            assert not front.script
            assert len(front.agents) == 7  # five scripted answers, then both batches
            assert all(agent.startswith("mcpstore/") for agent in front.agents)
            # A request the service refuses is not sent again.
            front.script = ["invalid"]
            with pytest.raises(StoreConnectionError, match="ValidationException: scripted"):
                lean.batch_write(items[:1])
            assert len(front.agents) == 8
            connections = list(wire._connections)
            assert connections and all(c.sock is not None for c in connections)
        finally:
            asyncio.run(lean.close())
        assert all(c.sock is None for c in connections) and not list(wire._connections)
    got = client(endpoint).scan(TableName=events)["Items"]
    assert len(got) == 30
    assert [i["data"]["S"] for i in got if i["eventId"]["N"] == "1"] == ["\ud83d"]


def test_lean_path_signs_as_botocore_does() -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from mcpstore_cli.backends.dynamodb.wire import CONTENT_TYPE, Wire, signed_headers

    body = b'{"RequestItems": {"t\\u00e9st": [{"DeleteRequest": {"Key": {}}}]}}'
    cases = [
        (
            Credentials("AKIDEXAMPLE", "wJalr/K7MDENG+bPxRfiCY"),
            "https://dynamodb.eu-west-1.amazonaws.com:443",
        ),
        (Credentials("AKID", "s", "token/with+odd=chars"), "http://127.0.0.1:8000/"),
        (Credentials("AKID", "s"), "https://[::1]:8443"),
        (Credentials("AKID", "s", " token  with spaces "), "https://LOCALHOST:443/"),
    ]
    for credentials, url in cases:
        wire = Wire(url, "eu-west-1", credentials, connect_timeout=5, read_timeout=5)
        request = AWSRequest(
            method="POST",
            url=url,
            data=body,
            headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": "DynamoDB_20120810.Scan"},
        )
        frozen = credentials.get_frozen_credentials()
        SigV4Auth(frozen, "dynamodb", "eu-west-1").add_auth(request)
        ours = signed_headers(
            frozen, "eu-west-1", wire.host_header, "Scan", body, request.headers["X-Amz-Date"]
        )
        assert ours["authorization"] == request.headers["Authorization"], url
    timeouts = {"connect_timeout": 5, "read_timeout": 5}
    assert Wire(cases[0][1], "eu-west-1", cases[0][0], **timeouts).host_header == (
        "dynamodb.eu-west-1.amazonaws.com"
    )
    for refused in ("https://example.com/prefix", "https://:secret@example.com"):
        with pytest.raises(ValueError):
            Wire(refused, "eu-west-1", cases[0][0], **timeouts)
