"""The FastMCP harness against the real thing: FastMCP 4.2.3 over py-key-value-aio 0.5.0 on
PostgreSQL, Redis and DynamoDB (Local), driven by real ``fastmcp.Client`` instances.

Every test starts a server in a subprocess on a fresh store, drives it, and reads the store with
raw calls (asyncpg SQL, redis-py, boto3) to check the rows against more-layouts.md §4.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fastmcp_server import (
    DEFAULT_EVENTS_TTL,
    DEFAULT_STATE_TTL,
    EVENTS,
    LEGACY_PROTOCOL,
    MODERN_PROTOCOL,
    STATE,
    STREAMS,
    DriveResult,
    FastMCPServer,
    FastMCPStore,
    RawEntry,
    by_collection,
    drive_default,
    drive_legacy,
    end_session,
    parse_time,
    pg_columns,
    pg_indexes,
    resume,
)

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
STREAM_KEY = re.compile(r"^(\d+):([^:]+):(.+)$")
STATE_VALUE = {"shade": "teal", "n": 7, "tags": ["a", "b"], "none": None}
STEPS = 3

Servers = Callable[..., FastMCPServer]


def _start(servers: Servers, store: FastMCPStore, **kwargs: Any) -> FastMCPServer:
    return servers(store.backend, **store.server_kwargs, **kwargs)


# -- what every backend must hold ---------------------------------------------------------------


def _without_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nones(v) for v in value]
    return value


def _check_legacy_entries(entries: list[RawEntry], seen: DriveResult) -> dict[str, dict]:
    """The three collections, exactly as §4 describes them, matching what went over the wire."""
    coll = by_collection(entries)
    assert set(coll) == {EVENTS, STREAMS, STATE}, sorted(coll)

    # fastmcp_streams: <len>:<scope>:<n>, one scope for the one session, not its id.
    scopes = set()
    for key in coll[STREAMS]:
        match = STREAM_KEY.match(key)
        assert match, key
        length, scope, n = match.groups()
        assert int(length) == len(scope) == 32 and HEX32.match(scope), key
        scopes.add(scope)
        assert n.isdigit() or n == "_GET_stream", key
    assert len(scopes) == 1, scopes
    scope = scopes.pop()
    assert seen.session_id is not None and HEX32.match(seen.session_id)
    assert scope != seen.session_id

    # One stream per POST answered with an event stream (n: its JSON-RPC id), and the
    # session's standalone stream for what relates to no request.
    posts = {
        str(w.request_id): w for w in seen.posts if w.content_type.startswith("text/event-stream")
    }
    assert {w.method for w in posts.values()} == {"initialize", "tools/call", "tools/list"}
    resumed = [w for w in seen.gets if w.last_event_id]
    standalone = [w for w in seen.gets if not w.last_event_id]
    assert len(resumed) == 1 and len(standalone) == 1  # `interrupted`; the client's GET
    stream_ns = {STREAM_KEY.match(k).group(3) for k in coll[STREAMS]}
    assert stream_ns == {*posts, "_GET_stream"}

    wire_events = {e.id: e for w in seen.wire for e in w.events if e.id}
    owner: dict[str, str] = {}
    for key, entry in coll[STREAMS].items():
        assert set(entry.value) == {"event_ids"}, entry.value
        ids = entry.value["event_ids"]
        for event_id in ids:
            assert event_id not in owner
            owner[event_id] = key
        messages = [coll[EVENTS][i].value["message"] for i in ids]
        n = STREAM_KEY.match(key).group(3)
        if n == "_GET_stream":
            # No priming event here: the standalone GET stream is never primed.
            assert [m["method"] for m in messages] == ["notifications/tools/list_changed"]
            assert standalone[0].event_ids in ([], ids)
            continue
        # The stored list is the wire order: the POST's response, then what a resumption
        # of it (GET with Last-Event-ID) carried.
        wire_ids = posts[n].event_ids + [
            i for r in resumed if r.last_event_id in posts[n].event_ids for i in r.event_ids
        ]
        assert ids == wire_ids
        assert messages[0] is None  # the priming event
        # Messageless events: exactly the priming events sent (one more per resumption).
        assert {i for i, m in zip(ids, messages, strict=True) if m is None} == {
            i for i in ids if wire_events[i].message is None
        }
        assert messages[-1]["id"] == int(n)  # the response closes the stream
        assert messages[-1]["jsonrpc"] == "2.0"

    # The stream of `interrupted`: primed, closed by the tool after its first step; the
    # client resumed it from the last event it had, and the server primed the resumed
    # stream again: a second messageless event, in the middle of the stored list.
    interrupted = posts[str(seen.stream("tools/call", "interrupted").request_id)]
    assert interrupted.events[0].message is None
    assert resumed[0].last_event_id == interrupted.events[-1].id
    got = [
        None if e.message is None else e.message.get("method", "result")
        for e in interrupted.events[1:] + resumed[0].events
    ]
    assert [g for g in got if g] == ["notifications/progress"] * 4 + ["result"]
    assert got.count(None) == 1
    interrupted_key = f"32:{scope}:{interrupted.request_id}"
    stored = [
        coll[EVENTS][i].value["message"] for i in coll[STREAMS][interrupted_key].value["event_ids"]
    ]
    assert stored[0] is None and stored.count(None) == 2 and stored[-1] is not None

    # fastmcp_events: keyed by a UUID v4, exactly {event_id, stream_id, message}.
    assert set(coll[EVENTS]) == set(owner)
    for key, entry in coll[EVENTS].items():
        assert UUID4.match(key), key
        assert set(entry.value) == {"event_id", "stream_id", "message"}, entry.value
        assert entry.value["event_id"] == key
        assert entry.value["stream_id"] == owner[key]
        if key in wire_events:
            # The stored message is the model dumped with its None members (e.g. "params":
            # null for tools/list_changed); the wire leaves them out.
            assert _without_nones(entry.value["message"]) == _without_nones(
                wire_events[key].message
            )
    get_stream = next(k for k in coll[STREAMS] if k.endswith(":_GET_stream"))
    (announced,) = coll[STREAMS][get_stream].value["event_ids"]
    assert coll[EVENTS][announced].value["message"] == {
        "jsonrpc": "2.0",
        "method": "notifications/tools/list_changed",
        "params": None,
    }

    # The progress call's stream: priming, 3 x (progress, info), warning, result.
    progress_post = seen.stream("tools/call", "progress")
    stream_key = f"32:{scope}:{progress_post.request_id}"
    messages = [
        coll[EVENTS][i].value["message"] for i in coll[STREAMS][stream_key].value["event_ids"]
    ]
    assert messages[0] is None
    methods = [m.get("method") for m in messages[1:-1]]
    assert methods == ["notifications/progress", "notifications/message"] * STEPS + [
        "notifications/message"
    ]
    progress = [m["params"] for m in messages[1:-1] if m["method"] == "notifications/progress"]
    assert [p["progress"] for p in progress] == [1.0, 2.0, 3.0]
    assert {p["progressToken"] for p in progress} == {progress_post.request_id}
    levels = [
        m["params"]["level"] for m in messages[1:-1] if m["method"] != "notifications/progress"
    ]
    assert levels == ["info"] * STEPS + ["warning"]
    assert messages[-1]["result"]["content"] == [{"type": "text", "text": f"done {STEPS}"}]

    # fastmcp_state: <Mcp-Session-Id>:<key> -> {"value": ...}
    assert list(coll[STATE]) == [f"{seen.session_id}:color"]
    assert coll[STATE][f"{seen.session_id}:color"].value == {"value": STATE_VALUE}
    return coll


def _check_client_saw(seen: DriveResult) -> None:
    assert seen.result == f"done {STEPS}"
    assert seen.progress == [(float(i), float(STEPS), f"step {i}/{STEPS}") for i in (1, 2, 3)]
    assert seen.logs == [
        ("info", {"msg": f"step {i} of {STEPS}", "extra": None}) for i in (1, 2, 3)
    ] + [("warning", {"msg": f"done after {STEPS} steps", "extra": None})]
    assert seen.state["value"] == STATE_VALUE
    assert seen.announced == "announced"
    assert seen.resumed == "resumed 4"
    assert seen.resumed_progress == [(float(i), 4.0, f"step {i}/4") for i in (1, 2, 3, 4)]


# -- backend forms ---------------------------------------------------------------------------------


def _ttl_for(collection: str, events_ttl: int, state_ttl: int) -> int:
    return state_ttl if collection == STATE else events_ttl


def _check_postgres_form(
    store: FastMCPStore, entries: list[RawEntry], events_ttl: int, state_ttl: int
) -> None:
    assert pg_columns(store.url) == [
        ("collection", "text", "NO"),
        ("key", "text", "NO"),
        ("value", "jsonb", "NO"),
        ("ttl", "double precision", "YES"),
        ("created_at", "timestamp with time zone", "YES"),
        ("expires_at", "timestamp with time zone", "YES"),
    ]
    indexes = pg_indexes(store.url)
    assert set(indexes) == {"kv_store_pkey", "idx_kv_store_expires_at"}, indexes
    assert indexes["kv_store_pkey"].endswith("USING btree (collection, key)")
    assert indexes["idx_kv_store_expires_at"].endswith(
        "USING btree (expires_at) WHERE (expires_at IS NOT NULL)"
    )
    for entry in entries:
        row = entry.raw
        configured = _ttl_for(entry.collection, events_ttl, state_ttl)
        # ttl: the seconds left when the row was written, a hair under the configured TTL.
        assert configured - 1 < row["ttl"] < configured, row
        assert row["created_at"] <= row["expires_at"]
        lifetime = row["expires_at"] - row["created_at"]
        if entry.collection == STREAMS and len(entry.value["event_ids"]) > 1:
            # Upserted once per event: created_at stays the first write's.
            assert lifetime > timedelta(seconds=configured), row
        else:
            assert lifetime == timedelta(seconds=configured), row
        # Written moments ago.
        assert row["read_at"] - row["created_at"] < timedelta(seconds=30)


def _check_redis_form(entries: list[RawEntry], events_ttl: int, state_ttl: int) -> None:
    for entry in entries:
        raw = entry.raw
        assert raw["type"] == "string"
        assert raw["name"] == f"{entry.collection}::{entry.key}"
        doc = raw["doc"]
        assert set(doc) == {"collection", "key", "value", "created_at", "expires_at", "version"}
        assert doc["collection"] == entry.collection and doc["key"] == entry.key
        assert doc["version"] == 1
        configured = _ttl_for(entry.collection, events_ttl, state_ttl)
        created, expires = parse_time(doc["created_at"]), parse_time(doc["expires_at"])
        assert created.utcoffset() == timedelta(0)
        # Every put rewrites the whole document (streams too): expires_at - created_at is the TTL.
        assert expires - created == timedelta(seconds=configured)
        # SET ... EX int(seconds left) (at least 1): one second under the configured TTL.
        assert 0 < raw["ttl"] <= configured - 1, raw
        assert raw["ttl"] > configured - 30, raw
        # The text is json.dumps(doc, sort_keys=True), default separators.
        assert raw["text"] == json.dumps(doc, sort_keys=True)


def _check_dynamodb_form(
    store: FastMCPStore, entries: list[RawEntry], events_ttl: int, state_ttl: int
) -> None:
    from tests.dynamodb_fixtures import client

    c = client(store.server_kwargs["endpoint"])
    table = c.describe_table(TableName=store.name)["Table"]
    assert sorted((k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]) == [
        ("collection", "HASH"),
        ("key", "RANGE"),
    ]
    assert sorted(
        (a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]
    ) == [("collection", "S"), ("key", "S")]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl_desc = c.describe_time_to_live(TableName=store.name)["TimeToLiveDescription"]
    assert ttl_desc["TimeToLiveStatus"] == "ENABLED" and ttl_desc["AttributeName"] == "ttl"
    c.close()
    for entry in entries:
        item = entry.raw["item"]
        assert {name: next(iter(v)) for name, v in item.items()} == {
            "collection": "S",
            "key": "S",
            "value": "S",
            "ttl": "N",
        }, item
        doc = entry.raw["doc"]
        assert set(doc) == {"collection", "key", "value", "created_at", "expires_at", "version"}
        assert doc["collection"] == entry.collection and doc["key"] == entry.key
        assert doc["version"] == 1
        configured = _ttl_for(entry.collection, events_ttl, state_ttl)
        created, expires = parse_time(doc["created_at"]), parse_time(doc["expires_at"])
        assert expires - created == timedelta(seconds=configured)
        # ttl: whole epoch seconds, the document's expires_at truncated.
        ttl = int(item["ttl"]["N"])
        assert ttl == int(expires.timestamp())
        assert 0 <= expires.timestamp() - ttl < 1
        assert abs(datetime.now(UTC).timestamp() + configured - ttl) < 30


def _check_form(
    store: FastMCPStore, entries: list[RawEntry], *, events_ttl: int, state_ttl: int
) -> None:
    if store.backend == "postgres":
        _check_postgres_form(store, entries, events_ttl, state_ttl)
    elif store.backend == "redis":
        _check_redis_form(entries, events_ttl, state_ttl)
    else:
        _check_dynamodb_form(store, entries, events_ttl, state_ttl)


def _expires_at(entry: RawEntry) -> datetime:
    if "expires_at" in entry.raw:
        return entry.raw["expires_at"]
    return parse_time(entry.raw["doc"]["expires_at"])


# -- the tests -----------------------------------------------------------------------------------


def test_legacy_lane_writes_events_streams_and_state(
    fastmcp_store: FastMCPStore, fastmcp_servers: Servers
) -> None:
    """2025-11-25 with FastMCP's default TTLs: all three collections, exactly as §4 says."""
    server = _start(fastmcp_servers, fastmcp_store)
    seen = drive_legacy(server.url, state_value=STATE_VALUE)
    assert seen.protocol_version == LEGACY_PROTOCOL
    _check_client_saw(seen)
    assert seen.state["session_id"] == seen.session_id
    assert seen.recall == seen.state  # the same session: state carries over
    server.stop()  # the client closed its session: nothing of it leaves the store
    entries = fastmcp_store.entries()
    _check_legacy_entries(entries, seen)
    _check_form(fastmcp_store, entries, events_ttl=DEFAULT_EVENTS_TTL, state_ttl=DEFAULT_STATE_TTL)


def test_default_lane_writes_state_only(
    fastmcp_store: FastMCPStore, fastmcp_servers: Servers
) -> None:
    """2026-07-28 (what Client negotiates by default): one state entry per set_state, under a
    fresh UUID per request; no events and no streams even though the tool streamed progress."""
    server = _start(fastmcp_servers, fastmcp_store, events_ttl=60, state_ttl=45)
    seen = drive_default(server.url, state_value=STATE_VALUE)
    assert seen.protocol_version == MODERN_PROTOCOL
    assert seen.session_id is None
    _check_client_saw(seen)
    assert UUID4.match(seen.state["session_id"])
    assert UUID4.match(seen.recall["session_id"])
    assert seen.recall["session_id"] != seen.state["session_id"]
    assert seen.recall["value"] is None  # the next request is another "session"
    # The progress calls still answered with event streams, but no event has an id, and
    # nothing was resumed: no GET at all.
    streamed = [w for w in seen.wire if w.content_type.startswith("text/event-stream")]
    assert streamed and all(e.id is None for w in streamed for e in w.events)
    assert seen.gets == []

    entries = fastmcp_store.entries()
    assert [(e.collection, e.key, e.value) for e in entries] == [
        (STATE, f"{seen.state['session_id']}:color", {"value": STATE_VALUE})
    ]
    _check_form(fastmcp_store, entries, events_ttl=60, state_ttl=45)


def test_resumption_replays_stored_events(
    fastmcp_store: FastMCPStore, fastmcp_servers: Servers
) -> None:
    """A client resuming with Last-Event-ID gets the stored events after it, from the store."""
    server = _start(fastmcp_servers, fastmcp_store, events_ttl=120, state_ttl=90)
    seen = drive_legacy(
        server.url, state_value=STATE_VALUE, announce=False, interrupt=False, keep_session=True
    )
    assert seen.kept_open and seen.session_id
    post = seen.stream("tools/call", "progress")
    before = by_collection(fastmcp_store.entries())
    scope = STREAM_KEY.match(next(iter(before[STREAMS]))).group(2)
    stream_key = f"32:{scope}:{post.request_id}"
    assert before[STREAMS][stream_key].value["event_ids"] == post.event_ids

    # From the priming event: everything the call sent, same ids, same messages.
    first = resume(server.url, seen.session_id, post.events[0].id)
    assert first.status == 200, first
    assert first.headers.get("mcp-session-id") == seen.session_id
    replayed = [e for e in first.events if e.message is not None]
    assert [e.id for e in replayed] == post.event_ids[1:]
    assert [e.message for e in replayed] == [e.message for e in post.events[1:]]
    # The server primes the resumed stream again: a new event with no message, stored.
    assert first.events[-1].message is None and first.events[-1].id not in post.event_ids
    reprimed_1 = first.events[-1].id

    # From the middle: the rest only.
    middle = resume(server.url, seen.session_id, post.events[4].id)
    assert [e.id for e in middle.events if e.message is not None] == post.event_ids[5:]
    reprimed_2 = middle.events[-1].id
    assert middle.events[-1].message is None

    after = by_collection(fastmcp_store.entries())
    assert after[STREAMS][stream_key].value["event_ids"] == [
        *post.event_ids,
        reprimed_1,
        reprimed_2,
    ]
    for event_id in (reprimed_1, reprimed_2):
        assert after[EVENTS][event_id].value == {
            "event_id": event_id,
            "stream_id": stream_key,
            "message": None,
        }
    # Re-priming rewrote the stream entry: its expiry moved on; the old events' did not.
    assert _expires_at(after[STREAMS][stream_key]) > _expires_at(before[STREAMS][stream_key])
    for event_id in post.event_ids:
        assert _expires_at(after[EVENTS][event_id]) == _expires_at(before[EVENTS][event_id])

    # An event id the store does not hold: an empty stream. Another session's: not found.
    unknown = resume(server.url, seen.session_id, "00000000-0000-4000-8000-000000000000")
    assert unknown.status == 200 and unknown.events == []
    assert resume(server.url, "0" * 32, post.events[0].id).status == 404

    # Ending the session does not touch the store; the session cannot be resumed any more.
    assert end_session(server.url, seen.session_id) == 200
    assert resume(server.url, seen.session_id, post.events[0].id).status == 404
    final = by_collection(fastmcp_store.entries())
    assert set(final[EVENTS]) == set(after[EVENTS])
    assert final[STREAMS].keys() == after[STREAMS].keys()


def test_events_without_ttl_never_expire(
    fastmcp_store: FastMCPStore, fastmcp_servers: Servers
) -> None:
    """EventStore(ttl=None): events and streams are written with no expiry at all."""
    server = _start(fastmcp_servers, fastmcp_store, events_ttl=None, state_ttl=50)
    seen = drive_legacy(server.url, state_value=STATE_VALUE, announce=False, interrupt=False)
    entries = fastmcp_store.entries()
    assert {e.collection for e in entries} == {EVENTS, STREAMS, STATE}
    assert [e.key for e in entries if e.collection == STATE] == [f"{seen.session_id}:color"]
    for entry in entries:
        expiring = entry.collection == STATE
        raw = entry.raw
        if fastmcp_store.backend == "postgres":
            assert raw["created_at"] is not None
            assert (raw["ttl"] is not None, raw["expires_at"] is not None) == (expiring, expiring)
        else:
            # The document leaves expires_at out (it is not null): None members are dropped.
            assert ("expires_at" in raw["doc"]) == expiring, raw["doc"]
            assert "created_at" in raw["doc"]
            if fastmcp_store.backend == "redis":
                assert (raw["ttl"] > 0) if expiring else (raw["ttl"] == -1), raw
            else:
                assert ("ttl" in raw["item"]) == expiring, raw["item"]


def test_redis_keyspace_notifications(
    redis_server: Any, redis_db: Any, fastmcp_servers: Servers
) -> None:
    """The Redis fixture can switch keyspace notifications on; FastMCP's writes show up."""
    redis_server.enable_keyspace_notifications("K$gx")
    assert set(redis_server.keyspace_notifications()) == set("K$gx")
    client = redis_db.client()
    pubsub = client.pubsub()
    pubsub.psubscribe(f"__keyspace@{redis_db.db}__:*")
    pubsub.get_message(timeout=2)  # the subscription confirmation
    server = fastmcp_servers("redis", url=redis_db.url)
    drive_default(server.url, state_value=STATE_VALUE)
    got = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(got) < 3:
        msg = pubsub.get_message(timeout=0.5 if len(got) >= 2 else 2)
        if msg is None and len(got) >= 2:
            break
        if msg is not None and msg["type"] == "pmessage":
            got.append((msg["channel"].split(":", 1)[1], msg["data"]))
    pubsub.close()
    client.close()
    assert len(got) == 2 and {g[1] for g in got} == {"set", "expire"}
    assert all(g[0].startswith(f"{STATE}::") for g in got)
