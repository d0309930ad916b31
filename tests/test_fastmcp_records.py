"""FastMCP's layout without a server: how entries are read and written (py-key-value 0.5's
documents), how they become the two kinds of session, the orphan rules, Redis URLs, the
registry's choice of layout for Redis, and the portable backup's ``k`` records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mcpstore_cli.errors import UsageError
from mcpstore_cli.layouts.fastmcp.records import (
    BadEntry,
    describe_message,
    document,
    from_document,
    method_of,
    parse_stream_id,
    parse_time,
    state_session,
)
from mcpstore_cli.layouts.fastmcp.sessions import (
    Figures,
    SessionIndex,
    orphan_plan,
    ttl_bucket,
)
from mcpstore_cli.model.kv import Entry
from mcpstore_cli.store.registry import default_layout, open_store, store_class
from mcpstore_cli.store.urls import parse_store_url, resolve_store_url
from tests.helpers import run_cli

NOW = 1_800_000_000_000
SCOPE = "72a823acee614df48cd4a71bc1245baf"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def _doc(collection: str, key: str, value: object, created: int, expires: int | None) -> str:
    """A document exactly as py-key-value's RedisStore writes it."""
    doc: dict[str, object] = {
        "collection": collection,
        "key": key,
        "value": value,
        "version": 1,
        "created_at": _iso(created),
    }
    if expires is not None:
        doc["expires_at"] = _iso(expires)
    return json.dumps(doc, sort_keys=True)


def test_documents_read_and_write_as_py_key_value_does() -> None:
    text = _doc("fastmcp_state", f"{SCOPE}:color", {"value": "teal"}, NOW, NOW + 86_400_000)
    entry = from_document(text)
    assert (entry.collection, entry.key) == ("fastmcp_state", f"{SCOPE}:color")
    assert entry.value == {"value": "teal"}
    assert (entry.created_at, entry.expires_at) == (NOW, NOW + 86_400_000)
    assert entry.token == text
    # Written back, byte for byte the same document.
    assert document(entry) == text
    # No expiry: py-key-value leaves expires_at out, and so does mcpstore.
    never = from_document(_doc("c", "k", {"a": 1}, NOW, None))
    assert never.expires_at is None and not never.expired(NOW + 10**12)
    assert "expires_at" not in json.loads(document(never))


@pytest.mark.parametrize(
    "text",
    ["not json", "[1, 2]", json.dumps({"collection": "c", "key": "k"})],
)
def test_what_is_not_a_document_is_refused(text: str) -> None:
    with pytest.raises(BadEntry):
        from_document(text)


def test_times_in_every_offset() -> None:
    assert parse_time("2026-12-03T15:50:09.040467+00:00") == 1796313009040
    assert parse_time("2026-12-03T15:50:09+00:00") == 1796313009000
    assert parse_time("2026-12-03T21:20:09.040467+05:30") == 1796313009040
    assert parse_time(None) is None
    with pytest.raises(BadEntry):
        parse_time("yesterday")


def test_stream_ids_and_state_keys() -> None:
    assert parse_stream_id(f"32:{SCOPE}:2") == (SCOPE, "2")
    assert parse_stream_id(f"32:{SCOPE}:_GET_stream") == (SCOPE, "_GET_stream")
    assert parse_stream_id("5:ab:c:7") is None  # the length does not match the scope
    assert parse_stream_id("plain") is None
    assert state_session(f"{SCOPE}:color") == (SCOPE, "color")
    assert state_session(f"{SCOPE}:_visibility_rules") == (SCOPE, "_visibility_rules")
    opened, name = state_session("session:anon:8f0c")
    assert opened == "8f0c" and "principal anon" in name


def test_messages_are_described_for_an_operator() -> None:
    progress = {
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": {"progressToken": 2, "progress": 2.0, "total": 3.0, "message": "step 2/3"},
    }
    got = describe_message(progress)
    assert got["method"] == "notifications/progress" and got["progress"] == 2.0
    assert got["total"] == 3.0 and got["kind"] == "notification"
    log = {
        "jsonrpc": "2.0",
        "method": "notifications/message",
        "params": {"level": "warning", "data": "disk almost full"},
    }
    assert describe_message(log)["level"] == "warning"
    assert describe_message(log)["text"] == "disk almost full"
    result = {"jsonrpc": "2.0", "id": 3, "result": {"content": []}}
    assert describe_message(result)["kind"] == "result"
    assert describe_message(None) == {"kind": "priming"}
    assert [method_of(m) for m in (progress, result, None)] == [
        "notifications/progress",
        "result",
        "priming",
    ]


def _event(key: str, stream: str, created: int, ttl: int = 3_600_000) -> Entry:
    value = {"event_id": key, "stream_id": stream, "message": None}
    return Entry("fastmcp_events", key, value, created, created + ttl)


def _stream(key: str, ids: list[str], created: int, ttl: int = 3_600_000) -> Entry:
    return Entry("fastmcp_streams", key, {"event_ids": ids}, created, created + ttl)


def test_two_kinds_of_session_never_linked() -> None:
    index = SessionIndex(NOW)
    stream = f"32:{SCOPE}:1"
    for i in range(3):
        index.add(_event(f"e{i}", stream, NOW - 3000 + i))
    index.add(_stream(stream, ["e0", "e1", "e2"], NOW - 3000))
    session = "b" * 32
    index.add(Entry("fastmcp_state", f"{session}:color", {"value": 1}, NOW - 10, NOW + 86_400_000))
    # Expired entries count as gone, as the server's reads skip them.
    index.add(_event("old", f"32:{'c' * 32}:1", NOW - 7_200_000))
    kinds = {(s.kind, s.session_id): s for s in index.ordered()}
    assert set(kinds) == {("events", SCOPE), ("state", session)}
    events = kinds[("events", SCOPE)]
    assert events.events == 3 and len(events.streams) == 1
    assert (events.first, events.last) == (NOW - 3000, NOW - 2998)
    assert kinds[("state", session)].keys == ["color"]
    # Newest activity first.
    assert [s.session_id for s in index.ordered()] == [session, SCOPE]


def test_figures_count_orphans_both_ways() -> None:
    figures = Figures(NOW)
    stream = f"32:{SCOPE}:1"
    figures.add(_stream(stream, ["e0", "e1", "gone"], NOW - 1000))
    for key in ("e0", "e1", "lonely"):
        figures.add(_event(key, stream, NOW - 500))
    figures.add(_event("expired", stream, NOW - 7_200_000))
    assert figures.orphans() == {
        "streams_naming_missing_events": 1,
        "missing_event_ids": 1,
        "events_of_no_stream": 1,
    }
    assert figures.entries["fastmcp_events"] == 3
    assert figures.expired["fastmcp_events"] == 1
    assert figures.methods["priming"] == 3


def test_ttl_buckets() -> None:
    def entry(left_ms: int | None) -> Entry:
        return Entry("c", "k", {}, NOW, None if left_ms is None else NOW + left_ms)

    assert ttl_bucket(entry(None), NOW) == "never"
    assert ttl_bucket(entry(-1), NOW) == "expired"
    assert ttl_bucket(entry(30_000), NOW) == "< 1m"
    assert ttl_bucket(entry(3_599_000), NOW) == "10m-1h"
    assert ttl_bucket(entry(86_400_000 * 3), NOW) == ">= 1d"


def test_orphan_plan_keeps_what_is_on_its_way_in() -> None:
    stream = f"32:{SCOPE}:1"
    streams = {stream: (_stream(stream, ["e0", "gone"], NOW - 1000), ["e0", "gone"])}
    stored = {hash("e0")}
    candidates = [
        _event("old", stream, NOW - 120_000),
        _event("fresh", stream, NOW - 5_000),
        _event("expired", stream, NOW - 7_200_000),
    ]
    trims, unlisted = orphan_plan(streams, stored, candidates, now_ms=NOW, grace_ms=60_000)
    assert [(e.key, kept) for e, kept in trims] == [(stream, ["e0"])]
    assert [e.key for e in unlisted] == ["old"]


def test_redis_urls() -> None:
    url = parse_store_url("redis://alice:s3cret@127.0.0.1:6390/2")
    assert url.backend == "redis" and url.password == "s3cret"
    assert "s3cret" not in url.masked() and "***" in url.masked()
    assert url.display_name == "127.0.0.1:6390/2"
    assert parse_store_url("rediss://127.0.0.1").backend == "redis"
    assert parse_store_url("valkey://127.0.0.1:6379/0").backend == "redis"
    with pytest.raises(UsageError, match="a Redis database is a number"):
        parse_store_url("redis://127.0.0.1:6379/zero")
    with pytest.raises(UsageError, match="port that is not a number"):
        parse_store_url("redis://127.0.0.1:99999/0")
    got = resolve_store_url(None, "redis", {"REDIS_URL": "redis://127.0.0.1:6390/1"})
    assert got.backend == "redis" and got.source == "REDIS_URL"
    with pytest.raises(UsageError, match="REDIS_URL"):
        resolve_store_url(None, "redis", {})


def test_redis_holds_the_fastmcp_layout_only() -> None:
    assert default_layout("redis") == "fastmcp"
    assert default_layout("postgres") == "sessions"
    url = parse_store_url("redis://127.0.0.1:6390/0")
    assert open_store(url).layout == "fastmcp"
    assert store_class("redis", "fastmcp").session_kinds
    with pytest.raises(UsageError, match="not on redis"):
        store_class("redis", "sessions")
    refused = run_cli(["list", "--layout", "sessions", "--url", "redis://127.0.0.1:6390/0"])
    assert refused.exit_code == 2 and "not on redis" in refused.stderr, refused
    # PostgreSQL and DynamoDB: never detected, named with --layout.
    assert store_class("postgres", "fastmcp").layout == "fastmcp"
    assert store_class("dynamodb", "fastmcp").layout == "fastmcp"


def test_options_that_do_not_apply_are_refused() -> None:
    url = "redis://127.0.0.1:6390/0"
    cases = [
        (["expire", "--idle", "1h"], "--idle does not apply"),
        (["expire", "--jobs", "2"], "--jobs applies to"),
        (["list", "--terminated"], "do not apply to the fastmcp layout"),
        (["tail-events", "--after", "5", "--no-follow"], "FastMCP's are UUIDs"),
    ]
    for args, fragment in cases:
        got = run_cli([*args, "--url", url, "--connect-timeout", "0.5"])
        assert got.exit_code == 2 and fragment in got.stderr, got
    demo = run_cli(["demo", "--url", url])
    assert demo.exit_code == 2 and "its server writes those entries" in demo.stderr, demo
    big = run_cli(["expire", "--batch-size", "100001", "--url", url])
    assert big.exit_code == 2 and "between 1 and 100000" in big.stderr, big
    sessions = run_cli(["expire", "--batch-size", "10001", "--url", "sqlite:///nothing-here.db"])
    assert sessions.exit_code == 2 and "between 1 and 10000," in sessions.stderr, sessions
    turul = run_cli(["expire", "--orphans", "--url", "sqlite:///nothing-here.db"])
    assert turul.exit_code == 2 and "--orphans is for the fastmcp layout" in turul.stderr


def test_k_records_verify(tmp_path: Path) -> None:
    from mcpstore_cli.util.backupfile import BackupFileError, BackupFileWriter, verify_file

    def write(path: Path, lines: list[list[object]]) -> None:
        out = BackupFileWriter(path, level=1, threads=0)
        out.header(
            {
                "format": "mcpstore-backup",
                "version": 1,
                "source": {"backend": "redis"},
                "layout": "fastmcp",
            }
        )
        out.sessions_block(b"".join(json.dumps(x).encode() + b"\n" for x in lines))
        out.finish()

    good = tmp_path / "good.mcpbackup.zst"
    write(good, [["k", "fastmcp_state", "a:b", {"value": 1}, NOW, NOW + 1000, NOW]])
    info = verify_file(good)
    assert info.layout == "fastmcp" and info.sessions == 1
    bad = tmp_path / "bad.mcpbackup.zst"
    write(bad, [["k", "fastmcp_state", "a:b", {"value": 1}, "yesterday", None, None]])
    with pytest.raises(BackupFileError, match="created_at is not an integer"):
        verify_file(bad)
