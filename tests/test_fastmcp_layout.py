"""mcpstore's ``fastmcp`` layout end to end: a real FastMCP 4.2.3 server (py-key-value-aio 0.5)
on PostgreSQL, Redis and DynamoDB Local, driven by a real ``fastmcp.Client``, and mcpstore's
commands run in this process (tests.helpers.run_cli) or, where a command must run on its own
while the test does something else (``tail-events`` following, ``expire`` racing a writer),
as ``python -m mcpstore_cli`` with this checkout on PYTHONPATH.

What the server wrote is read back raw (asyncpg, redis-py, boto3: tests.fastmcp_server) and
compared with what mcpstore prints. Entries written by hand go through tests.fastmcp_raw, raw
calls that write exactly what py-key-value writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fastmcp_raw import RawKV, expiry, key_set, live, new_event_id, now
from tests.fastmcp_server import (
    EVENTS,
    STATE,
    STREAMS,
    DriveResult,
    FastMCPServer,
    FastMCPStore,
    RawEntry,
    by_collection,
    drive_default,
    drive_legacy,
    parse_time,
    pg_columns,
    pg_indexes,
    resume,
)
from tests.helpers import Result, run_cli

ROOT = Path(__file__).resolve().parents[1]
Servers = Callable[..., FastMCPServer]
STATE_VALUE = {"shade": "teal", "n": 7, "tags": ["a", "b"]}
STREAM_KEY = re.compile(r"^(\d+):([0-9a-f]+):(.+)$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
# A collection FastMCP's OAuth proxy keeps its upstream tokens in (fastmcp 4.2.3).
SECRET_COLLECTION = "mcp-upstream-tokens"
# --layout: PostgreSQL and DynamoDB need it; a Redis store is always in this layout.
LAYOUT = {"postgres": ["--layout", "fastmcp"], "dynamodb": ["--layout", "fastmcp"], "redis": []}


# -- helpers ---------------------------------------------------------------------------------


def cli(store: FastMCPStore, *args: str, **kwargs: Any) -> Result:
    """``mcpstore ARGS [--layout fastmcp] --url <store>`` in this process."""
    return store.run(*args, *LAYOUT[store.backend], **kwargs)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result
    return result


def start(servers: Servers, store: FastMCPStore, **kwargs: Any) -> FastMCPServer:
    return servers(store.backend, **store.server_kwargs, **kwargs)


def start_both(servers: Servers, store: FastMCPStore, *configs: dict[str, Any]) -> list[Any]:
    """Several servers on the same store, started side by side (startup is mostly imports)."""
    with ThreadPoolExecutor(len(configs)) as pool:
        return list(pool.map(lambda kw: start(servers, store, **kw), configs))


def scope_of(stream_id: str) -> str:
    match = STREAM_KEY.match(stream_id)
    assert match, stream_id
    return match.group(2)


def method_of(message: Any) -> str:
    """How a stored event is counted: its JSON-RPC method, result, error, or priming."""
    if message is None:
        return "priming"
    if "method" in message:
        return str(message["method"])
    return "result" if "result" in message else "error"


def expected_sessions(entries: list[RawEntry]) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, id) -> streams, events, keys and expiry, from the live raw entries."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in live(entries):
        if entry.collection == STREAMS:
            kind, sid = "events", scope_of(entry.key)
        elif entry.collection == EVENTS:
            kind, sid = "events", scope_of(entry.value["stream_id"])
        elif entry.collection == STATE:
            kind, sid = "state", entry.key.partition(":")[0]
        else:
            continue
        got = out.setdefault(
            (kind, sid), {"streams": 0, "event_count": 0, "keys": 0, "expires": 0.0}
        )
        got[{STREAMS: "streams", EVENTS: "event_count", STATE: "keys"}[entry.collection]] += 1
        got["expires"] = max(got["expires"], expiry(entry) or 0.0)
    return out


def listed(result: Result) -> dict[tuple[str, str], dict[str, Any]]:
    rows = result.json() if result.stdout.lstrip().startswith("[") else result.jsonl()
    out = {(r["kind"], r["session_id"]): r for r in rows}
    assert len(out) == len(rows), rows  # no session twice
    return out


def check_listed(result: Result, entries: list[RawEntry]) -> dict[tuple[str, str], Any]:
    """``list``'s sessions are exactly the live raw entries' sessions, with their counts and
    expiry (within a second: DynamoDB's ttl is whole seconds)."""
    got = listed(ok(result))
    want = expected_sessions(entries)
    assert set(got) == set(want), (sorted(got), sorted(want))
    for ident, row in got.items():
        if ident[0] == "events":
            assert (row["streams"], row["event_count"]) == (
                want[ident]["streams"],
                want[ident]["event_count"],
            ), (ident, row, want[ident])
            assert "keys" not in row
        else:
            assert row["keys"] == want[ident]["keys"], (ident, row)
        assert abs(row["expires_at"] / 1000 - want[ident]["expires"]) <= 1.0, (ident, row)
        assert row["created_at"] <= row["last_activity"] <= row["expires_at"], row
    return got


def stream_order(entries: list[RawEntry], scope: str) -> list[str]:
    """A scope's streams in the order they began: by the stored time of their first event."""
    coll = by_collection(live(entries))

    def began(key: str) -> tuple[float, str]:
        first = coll[STREAMS][key].value["event_ids"][0]
        return (created_of(coll[EVENTS][first]), key)

    return sorted((k for k in coll[STREAMS] if scope_of(k) == scope), key=began)


def created_of(entry: RawEntry) -> float:
    raw = entry.raw
    if "read_at" in raw:
        return float(raw["created_at"].timestamp())
    return parse_time(raw["doc"]["created_at"]).timestamp()


def put_secret(raw: RawKV, secret: str) -> str:
    """An OAuth-proxy-like token entry in a collection of its own (its value is a secret)."""
    key = "upstream-" + new_event_id()
    raw.put(
        SECRET_COLLECTION,
        key,
        {"access_token": secret, "refresh_token": secret[::-1], "token_type": "Bearer"},
        ttl=3600,
    )
    return key


def secret_free(secret: str, *results: Result) -> None:
    for result in results:
        for stream in (result.stdout, result.stderr):
            assert secret not in stream and secret[::-1] not in stream, result


def read_backup(path: Path) -> tuple[dict[str, Any], list[list[Any]], str]:
    """(header, records, the whole decompressed text) of a portable backup file."""
    import zstandard

    text = zstandard.ZstdDecompressor().stream_reader(path.read_bytes()).read().decode()
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["format"] == "mcpstore-backup" and lines[-1]["end"] == "mcpstore-backup"
    return lines[0], lines[1:-1], text


def cursor_of(result: Result) -> str | None:
    match = re.search(r"mcpstore list --cursor (\S+)", result.stderr)
    return match.group(1) if match else None


def tools_call(seen: DriveResult, tool: str = "progress") -> str:
    return str(seen.stream("tools/call", tool).request_id)


@contextlib.contextmanager
def own_store(request: pytest.FixtureRequest, backend: str) -> Iterator[FastMCPStore]:
    """A fresh store for a whole module on one backend (the function-scoped fixtures of
    tests.fastmcp_server give one per test): a database of its own on PostgreSQL, logical
    database 0 on Redis (the fixtures hand out 1..15), a table of its own on DynamoDB."""
    from tests.fastmcp_server import dynamodb_entries, pg_entries, redis_entries

    if backend == "postgres":
        pg = request.getfixturevalue("pg_server")
        name = pg.create_database()
        url = pg.url(name)
        try:
            yield FastMCPStore("postgres", url, name, {"url": url}, lambda: pg_entries(url))
        finally:
            pg.drop_database(name)
    elif backend == "redis":
        server = request.getfixturevalue("redis_server")
        url = server.url_for(0)
        server.flushdb(0)
        try:
            yield FastMCPStore("redis", url, url, {"url": url}, lambda: redis_entries(url))
        finally:
            server.flushdb(0)
    else:
        from tests.dynamodb_fixtures import DYNAMO_ENV, client, dynamodb_url, unique_table

        endpoint = request.getfixturevalue("dynamodb_local").endpoint
        table = unique_table("fastmcp-layout")
        try:
            yield FastMCPStore(
                "dynamodb",
                dynamodb_url(endpoint, table),
                table,
                {"table": table, "endpoint": endpoint},
                lambda: dynamodb_entries(endpoint, table),
                environ=dict(DYNAMO_ENV),
            )
        finally:
            c = client(endpoint)
            with contextlib.suppress(Exception):
                c.delete_table(TableName=table)
            c.close()


@contextlib.contextmanager
def running(store: FastMCPStore, **kwargs: Any) -> Iterator[FastMCPServer]:
    """A FastMCPServer on the store for the block (skipped locally, failed under CI, when
    fastmcp and its friends are not installed)."""
    from tests.conftest import unavailable
    from tests.fastmcp_server import _missing_packages

    missing = _missing_packages()
    if missing:
        unavailable(f"not installed: {', '.join(missing)}")
    server = store.server(**kwargs)
    try:
        yield server.start()
    finally:
        server.stop()


# -- 1. list, show, stats, tail --no-follow, clear: one server run per backend ----------------


class Served:
    """What one server run wrote (both lanes), plus the entries written by hand."""

    def __init__(self, store: FastMCPStore) -> None:
        self.store = store
        self.raw = RawKV(store)
        with running(store, events_ttl=600, state_ttl=540) as server:
            self.began_ms = int(time.time() * 1000)
            self.seen = drive_legacy(server.url, state_value=STATE_VALUE)
            self.fresh = drive_default(server.url, state_value={"lane": "2026"}, announce=False)
            self.ended_ms = int(time.time() * 1000)
        self.secret = "tok_" + new_event_id().replace("-", "")
        put_secret(self.raw, self.secret)
        # A state session the server wrote two hours ago with FastMCP's default TTL (a day).
        self.old_sid = new_event_id().replace("-", "")
        self.raw.put(
            STATE,
            f"{self.old_sid}:color",
            {"value": "old"},
            ttl=86400,
            created=now() - timedelta(hours=2),
        )
        if store.backend == "postgres":
            # PostgreSQL keeps rows past their expiry (nothing deletes them): readers skip them.
            gone = new_event_id().replace("-", "")
            self.raw.put(
                STATE, f"{gone}:k", {"value": 1}, ttl=60, created=now() - timedelta(hours=1)
            )
        self.entries = store.entries()
        self.coll = by_collection(live(self.entries))
        scopes = {scope_of(k) for k in self.coll[STREAMS]}
        assert len(scopes) == 1, scopes
        self.scope = scopes.pop()

    def run(self, *args: str, **kwargs: Any) -> Result:
        return cli(self.store, *args, **kwargs)


@pytest.fixture(scope="module", params=["postgres", "redis", "dynamodb"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    with own_store(request, request.param) as store:
        yield Served(store)


def test_list_shows_both_kinds_of_session(served: Served) -> None:
    """``list``: exactly the sessions the server wrote, each marked with its kind: one
    event-store session (the transport's 32-hex scope, not the Mcp-Session-Id) with its
    streams and events; state sessions: the Mcp-Session-Id (2025-11-25), a fresh UUID
    (2026-07-28), and the old one written by hand."""
    seen, fresh = served.seen, served.fresh
    sessions = check_listed(served.run("list", "-f", "json"), served.entries)
    scope = served.scope
    assert HEX32.match(scope) and scope != seen.session_id
    assert {sid for kind, sid in sessions if kind == "events"} == {scope}
    assert {sid for kind, sid in sessions if kind == "state"} == {
        seen.session_id,
        fresh.state["session_id"],
        served.old_sid,
    }
    assert UUID4.match(fresh.state["session_id"])
    assert all(row["kind"] == kind for (kind, _), row in sessions.items())
    row = sessions[("events", scope)]
    # initialize, progress, tools/list, remember, recall, announce, interrupted, GET stream
    assert row["streams"] == 8 and row["event_count"] == len(served.coll[EVENTS])
    assert served.began_ms - 1000 <= row["created_at"] <= row["last_activity"]
    assert row["last_activity"] <= served.ended_ms + 1000
    # Every event id the client got over the wire is one of the session's events.
    wire_ids = {e.id for w in seen.wire for e in w.events if e.id}
    assert wire_ids and wire_ids <= set(served.coll[EVENTS])
    # JSON Lines: the same sessions, in the same order (newest activity first).
    jsonl = ok(served.run("list", "-f", "jsonl"))
    assert [(r["kind"], r["session_id"]) for r in jsonl.jsonl()] == list(sessions)
    last = [sessions[k]["last_activity"] for k in sessions]
    assert last == sorted(last, reverse=True)
    table = ok(served.run("list", "-f", "table", width=200))
    assert "event store" in table.stdout and "state" in table.stdout
    for _, sid in sessions:
        assert sid in table.stdout


def test_list_pages_and_filters(served: Served) -> None:
    """``--limit 1`` and the cursor it prints cover every session once, in order;
    ``--idle-over`` and ``--active`` split on last activity; ``--terminated`` is refused."""
    everything = list(listed(ok(served.run("list", "-f", "json"))))
    paged: list[tuple[str, str]] = []
    cursor: str | None = None
    for _ in range(len(everything) + 2):
        args = ["list", "-f", "json", "--limit", "1"] + (["--cursor", cursor] if cursor else [])
        page = ok(served.run(*args))
        rows = page.json()
        assert len(rows) <= 1, rows
        paged += [(r["kind"], r["session_id"]) for r in rows]
        cursor = cursor_of(page)
        if cursor is None:
            break
        assert cursor == rows[-1]["cursor"]
    assert paged == everything

    idle = ok(served.run("list", "-f", "json", "--idle-over", "1h"))
    assert [(r["kind"], r["session_id"]) for r in idle.json()] == [("state", served.old_sid)]
    assert idle.json()[0]["status"] == "idle"
    active = ok(served.run("list", "-f", "json", "--active"))
    assert list(listed(active)) == [s for s in everything if s != ("state", served.old_sid)]
    assert all(r["status"] == "active" for r in active.json())

    for flag in ("--terminated", "--not-terminated", "--initialized"):
        refused = served.run("list", flag)
        assert refused.exit_code == 2, refused
        assert refused.stdout == "" and flag.lstrip("-").split("-")[-1] in refused.stderr


def test_show_event_store_session(served: Served) -> None:
    """``show PREFIX`` of the scope: every stream with its events (the ids it lists, the
    last ``--events N``), the JSON-RPC messages read out (progress, log level and text,
    results) as the client saw them, priming events marked; an unknown prefix: exit 1."""
    seen, coll = served.seen, served.coll
    obj = ok(served.run("show", served.scope[:8], "--events", "100", "-f", "json")).json()
    assert obj["session_id"] == served.scope
    assert [p["kind"] for p in obj["kinds"]] == ["events"]
    streams = obj["kinds"][0]["streams"]
    by_request = {s["request"]: s for s in streams}
    for stream in streams:
        ids = coll[STREAMS][stream["stream_id"]].value["event_ids"]
        assert stream["event_ids"] == len(ids)
        assert [e["event_id"] for e in stream["events"]] == ids
        for event in stream["events"]:
            message = coll[EVENTS][event["event_id"]].value["message"]
            assert event["priming"] is (message is None), event
            assert event.get("method") == (message or {}).get("method"), event

    progress = by_request[tools_call(seen)]["events"]
    assert progress[0]["priming"] and progress[-1]["kind"] == "result"
    assert [
        (e["progress"], e["total"]) for e in progress if e.get("method") == "notifications/progress"
    ] == [(value, total) for value, total, _ in seen.progress]
    logs = [(e["level"], e["text"]) for e in progress if e.get("method") == "notifications/message"]
    assert [level for level, _ in logs] == [level for level, _ in seen.logs]
    for (_, text), (_, data) in zip(logs, seen.logs, strict=True):
        assert data["msg"] in text
    assert progress[-1]["result"]["content"] == [{"type": "text", "text": "done 3"}]
    # The interrupted call's stream was primed twice (once more when the client resumed it).
    interrupted = by_request[tools_call(seen, "interrupted")]["events"]
    assert [e["priming"] for e in interrupted].count(True) == 2
    assert [e.get("method") for e in by_request["_GET_stream"]["events"]] == [
        "notifications/tools/list_changed"
    ]

    # --events N: the last N events of each stream.
    last_two = ok(served.run("show", served.scope, "--events", "2", "-f", "json")).json()
    for stream in last_two["kinds"][0]["streams"]:
        ids = coll[STREAMS][stream["stream_id"]].value["event_ids"]
        assert [e["event_id"] for e in stream["events"]] == ids[-2:]

    # A prefix that matches nothing: one sentence, exit 1.
    ids = [sid for _, sid in expected_sessions(served.entries)]
    prefix = next(
        p for p in ("abcd", "dcba", "0f0f", "f0f0") if not any(i.startswith(p) for i in ids)
    )
    missing = served.run("show", prefix)
    assert missing.exit_code == 1, missing
    assert missing.stdout == "" and len(missing.stderr.strip().splitlines()) == 1, missing


def test_show_lists_streams_in_the_order_they_began(served: Served) -> None:
    """The same server run gives the same stream order on every backend: the order the
    streams began (their priming event), not the time of their last write (Redis and
    DynamoDB rewrite a stream's whole document, created_at included, at every event)."""
    obj = ok(served.run("show", served.scope, "--events", "1", "-f", "json")).json()
    got = [s["stream_id"] for s in obj["kinds"][0]["streams"]]
    assert got == stream_order(served.entries, served.scope)
    requests = [k.rsplit(":", 1)[1] for k in got]
    # Requests 1..7 in order; the standalone GET stream's first event (the announce tool's
    # notification) comes after request 6's priming event.
    assert requests == ["1", "2", "3", "4", "5", "6", "_GET_stream", "7"], requests


def test_show_drawn_view(served: Served) -> None:
    """The drawn ``show``: each progress line carries the message the client saw, each log
    line its level and text, priming events are marked."""
    seen = served.seen
    drawn = ok(served.run("show", served.scope[:8], "--events", "100", "-f", "table", width=220))
    lines = drawn.stdout.splitlines()
    assert f"{served.scope} (event store session)" in drawn.stdout
    for level, data in seen.logs:
        assert any(f"log {level}" in x and data["msg"] in x for x in lines), (level, data)
    priming = sum(
        1
        for e in served.coll[EVENTS].values()
        if e.value["message"] is None and scope_of(e.value["stream_id"]) == served.scope
    )
    assert sum("(priming event: no message)" in x for x in lines) == priming
    for value, total, message in seen.progress:
        line = next((x for x in lines if f"progress {value}/{total}" in x), None)
        assert line is not None, drawn.stdout
        assert message in line, (message, line)


def test_show_state_sessions(served: Served) -> None:
    """``show`` of a state session: its keys and values as the tool set them (full id,
    UUID with hyphens, or a prefix)."""
    for sid, value in (
        (served.seen.session_id, STATE_VALUE),
        (served.fresh.state["session_id"], {"lane": "2026"}),
        (served.old_sid[:10], "old"),
    ):
        parts = ok(served.run("show", sid, "-f", "json")).json()["kinds"]
        assert [p["kind"] for p in parts] == ["state"]
        assert [(k["key"], k["value"]) for k in parts[0]["keys"]] == [("color", value)]
    drawn = ok(served.run("show", served.seen.session_id[:6], "-f", "table", width=200))
    assert "(state session)" in drawn.stdout and "teal" in drawn.stdout


def test_stats_counts_what_is_stored(served: Served) -> None:
    """``stats``: live entries per collection as stored, sessions of each kind, events by
    JSON-RPC method, no orphans, other collections by name and count only."""
    coll, seen = served.coll, served.seen
    figures = ok(served.run("stats", "-f", "json")).json()
    assert figures["layout"] == "fastmcp"
    assert figures["entries"] == {c: len(coll.get(c, {})) for c in (EVENTS, STREAMS, STATE)}
    assert figures["events"] == len(coll[EVENTS]) and figures["streams"] == len(coll[STREAMS])
    assert figures["events_by_method"] == dict(
        Counter(method_of(e.value["message"]) for e in coll[EVENTS].values())
    )
    assert figures["events_by_method"]["notifications/progress"] == len(seen.progress) + len(
        seen.resumed_progress
    )
    assert figures["events_by_method"]["priming"] == 8  # one per POST stream, one resumption
    assert figures["sessions"] == {"event_store": 1, "state": 3}
    assert figures["other_collections"] == {SECRET_COLLECTION: 1}
    assert figures["orphans"] == {
        "streams_naming_missing_events": 0,
        "missing_event_ids": 0,
        "events_of_no_stream": 0,
    }
    expected_expired = {STATE: 1} if served.store.backend == "postgres" else 0
    assert figures["expired_but_present"] == expected_expired
    # Every entry of FastMCP's collections falls in one bucket (expired ones included).
    fastmcp_entries = [e for e in served.entries if e.collection in (EVENTS, STREAMS, STATE)]
    assert sum(figures["ttl_left"].values()) == len(fastmcp_entries)
    assert figures["storage"]["bytes"] > 0


def test_tail_events_no_follow(served: Served) -> None:
    """``tail-events --no-follow``: every stored event once, oldest first, with the server's
    event ids, streams and messages; ``--format sse`` prints ``id: <uuid>`` lines."""
    coll = served.coll
    printed = ok(served.run("tail-events", "--no-follow", "-f", "jsonl")).jsonl()
    assert sorted(p["event_id"] for p in printed) == sorted(coll[EVENTS])
    for p in printed:
        value = coll[EVENTS][p["event_id"]].value
        assert p["stream_id"] == value["stream_id"] and p["session_id"] == served.scope
        assert p["data"] == value["message"]
        assert p["event_type"] == method_of(value["message"])
    times = [p["timestamp"] for p in printed]
    assert times == sorted(times)
    # Within each stream, the order the stream lists its events.
    for key, stream in coll[STREAMS].items():
        order = [p["event_id"] for p in printed if p["stream_id"] == key]
        assert order == stream.value["event_ids"], key

    sse = ok(served.run("tail-events", "--no-follow", "--format", "sse")).stdout
    ids = re.findall(r"^id: (\S+)$", sse, flags=re.M)
    assert sorted(ids) == sorted(coll[EVENTS]) and all(UUID4.match(i) for i in ids)
    blocks = [b for b in sse.split("\n\n") if b.strip()]
    assert len(blocks) == len(ids)
    for block in blocks:
        (event_id,) = re.findall(r"^id: (\S+)$", block, flags=re.M)
        data = "\n".join(re.findall(r"^data: ?(.*)$", block, flags=re.M))
        message = coll[EVENTS][event_id].value["message"]
        assert (json.loads(data) if data else None) == message
    # --session: only that scope's events (there is only one), by prefix.
    only = ok(
        served.run("tail-events", "--no-follow", "-f", "jsonl", "--session", served.scope[:6])
    )
    assert len(only.jsonl()) == len(coll[EVENTS])


def test_secret_values_never_printed(served: Served, tmp_path: Path) -> None:
    """The other collection's value (a token) appears in no output of list, show, stats,
    tail-events, expire --dry-run, clear --dry-run, nor in a backup without
    --include-secrets; with it the header says so."""
    secret = served.secret
    outputs = [
        served.run("list", "-f", "json"),
        served.run("list", "-f", "table", width=200),
        served.run("show", served.scope, "--events", "100", "-f", "json"),
        served.run("show", served.scope, "--events", "100", "-f", "table", width=200),
        served.run("show", served.seen.session_id, "-f", "json"),
        served.run("stats", "-f", "json"),
        served.run("stats", "-f", "table", width=200),
        served.run("tail-events", "--no-follow", "-f", "jsonl"),
        served.run("expire", "--dry-run", "-f", "json"),
        served.run("clear", "--dry-run", "-f", "json"),
        served.run("backup", "-o", str(tmp_path / "plain.mcpbackup.zst")),
    ]
    for result in outputs:
        ok(result)
    secret_free(secret, *outputs)
    header, records, text = read_backup(tmp_path / "plain.mcpbackup.zst")
    assert secret not in text
    assert {r[1] for r in records} == {EVENTS, STREAMS, STATE}
    assert header["secrets"].startswith("left out")

    with_secrets = ok(
        served.run("backup", "--include-secrets", "-o", str(tmp_path / "all.mcpbackup.zst"))
    )
    secret_free(secret, with_secrets)
    header, records, text = read_backup(tmp_path / "all.mcpbackup.zst")
    assert header["secrets"].startswith("included") and SECRET_COLLECTION in header["secrets"]
    assert secret not in json.dumps(header)
    tokens = [r for r in records if r[1] == SECRET_COLLECTION]
    assert [r[3]["access_token"] for r in tokens] == [secret]


def test_clear_deletes_fastmcp_collections_only(served: Served) -> None:
    """``clear --yes``: FastMCP's three collections go, the other collection stays;
    ``--all-collections``: everything. (Runs last on each backend's store.)"""
    result = ok(served.run("clear", "--yes"))
    secret_free(served.secret, result)
    left = served.store.entries()
    assert [(e.collection, e.value["access_token"]) for e in left] == [
        (SECRET_COLLECTION, served.secret)
    ]
    listed_now = ok(served.run("list", "-f", "json")).json()
    assert listed_now == []
    ok(served.run("clear", "--yes", "--all-collections"))
    assert served.store.entries() == []


# -- mcpstore as a process of its own --------------------------------------------------------


def mcpstore_argv(store: FastMCPStore, *args: str) -> list[str]:
    return [sys.executable, "-m", "mcpstore_cli", *args, *LAYOUT[store.backend], "--url", store.url]


def process_env(store: FastMCPStore) -> dict[str, str]:
    """This checkout first on the path, DynamoDB Local's dummy credentials, nothing else of
    the developer's environment."""
    env = {
        "PYTHONPATH": str(ROOT),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "NO_PROXY": "127.0.0.1",
        **store.environ,
    }
    probe = subprocess.run(
        [sys.executable, "-c", "import mcpstore_cli; print(mcpstore_cli.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.strip() == str(ROOT / "mcpstore_cli" / "__init__.py"), probe
    return env


class Background:
    """A command running on its own; its output lines collected as they come. Stopped by its
    pid: SIGINT (mcpstore's Ctrl-C), SIGKILL if it does not end within 10 s."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._lock = threading.Lock()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, pipe: Any, into: list[str]) -> None:
        for line in iter(pipe.readline, b""):
            with self._lock:
                into.append(line.decode(errors="replace"))

    def lines(self) -> list[str]:
        with self._lock:
            return list(self.out)

    def stderr(self) -> str:
        with self._lock:
            return "".join(self.err)

    def wait_for(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the readers drain
                raise AssertionError(
                    f"{what}: the command ended ({self.proc.returncode}): {self.stderr()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what} within {timeout:g} s; stderr: {self.stderr()[-2000:]}"
                )
            time.sleep(0.05)

    def wait(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=5)
        return self.proc.returncode

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def pg_listening(url: str) -> bool:
    import asyncio

    async def count() -> int:
        import asyncpg

        conn = await asyncpg.connect(url, timeout=10)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN %'"
                )
            )
        finally:
            await conn.close()

    return asyncio.run(count()) > 0


# -- 2. tail-events, following ----------------------------------------------------------------


def test_tail_events_follows_what_the_server_stores(
    fastmcp_store: FastMCPStore, fastmcp_servers: Servers, request: pytest.FixtureRequest
) -> None:
    """``tail-events -f jsonl`` started while a server runs prints the events stored from
    then on (not the older ones), each once, with the server's ids: pushed by the trigger of
    ``setup --notify`` (PostgreSQL), by keyspace notifications (Redis), polled (DynamoDB)."""
    store = fastmcp_store
    if store.backend == "postgres":
        steps = ok(cli(store, "setup", "--notify", "-f", "json"))
        assert "kv_store_mcpstore_notify" in steps.stdout
    elif store.backend == "redis":
        request.getfixturevalue("redis_server").enable_keyspace_notifications("KEA")
    env = process_env(store)
    server = start(fastmcp_servers, store, events_ttl=600, state_ttl=600)
    drive_legacy(server.url, announce=False, interrupt=False)
    before = key_set(store.entries())
    with Background(mcpstore_argv(store, "tail-events", "-f", "jsonl"), env) as tail:
        if store.backend == "postgres":
            tail.wait_for(lambda: pg_listening(store.url), 20, "LISTEN")
        elif store.backend == "redis":
            client = RawKV(store).redis()
            try:
                tail.wait_for(
                    lambda: int(client.execute_command("PUBSUB", "NUMPAT")) > 0, 20, "PSUBSCRIBE"
                )
            finally:
                client.close()
        else:
            tail.wait_for(lambda: "following by reading" in tail.stderr(), 20, "polling")
        second = drive_legacy(server.url, announce=False, interrupt=False)
        entries = store.entries()
        fresh = {
            e.key: e for e in entries if e.collection == EVENTS and (EVENTS, e.key) not in before
        }
        assert len(fresh) >= 10

        def printed_ids() -> list[str]:
            return [json.loads(line)["event_id"] for line in tail.lines() if line.strip()]

        tail.wait_for(lambda: set(printed_ids()) >= set(fresh), 20, "the new events printed")
        time.sleep(1.2)  # two more polls: nothing else may come
    printed = [json.loads(line) for line in tail.lines() if line.strip()]
    assert sorted(p["event_id"] for p in printed) == sorted(fresh)  # once each, no older one
    scopes = {scope_of(e.value["stream_id"]) for e in fresh.values()}
    assert len(scopes) == 1 and second.session_id not in scopes
    for p in printed:
        value = fresh[p["event_id"]].value
        assert (p["stream_id"], p["data"]) == (value["stream_id"], value["message"])
        assert p["session_id"] in scopes
    streams = by_collection(entries)[STREAMS]
    for key in {p["stream_id"] for p in printed}:
        order = [p["event_id"] for p in printed if p["stream_id"] == key]
        assert order == streams[key].value["event_ids"], key
    if store.backend == "postgres":
        assert "no notify trigger" not in tail.stderr()
    elif store.backend == "redis":
        assert "keyspace notifications are off" not in tail.stderr()


# -- 3. expire --------------------------------------------------------------------------------


class PgTransaction:
    """One open asyncpg transaction (its own event loop), for holding a row lock while a
    command runs in another process."""

    def __init__(self, url: str) -> None:
        import asyncio

        import asyncpg

        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(asyncpg.connect(url, timeout=10))
        self.tx = self.conn.transaction()
        self.loop.run_until_complete(self.tx.start())

    def execute(self, sql: str, *args: Any) -> Any:
        return self.loop.run_until_complete(self.conn.execute(sql, *args))

    def commit(self) -> None:
        self.loop.run_until_complete(self.tx.commit())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.loop.run_until_complete(self.conn.close())
        self.loop.close()


def pg_waiting_on_lock(url: str, statement: str) -> bool:
    import asyncio

    async def count() -> int:
        import asyncpg

        conn = await asyncpg.connect(url, timeout=10)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query ILIKE $1",
                    f"%{statement}%",
                )
            )
        finally:
            await conn.close()

    return asyncio.run(count()) > 0


def values(entries: list[RawEntry]) -> dict[tuple[str, str], Any]:
    return {(e.collection, e.key): e.value for e in entries}


def test_expire_removes_what_expired_and_the_server_still_replays(
    fastmcp_store: FastMCPStore, fastmcp_servers: Servers
) -> None:
    """Two servers on one store: one with a 2 s TTL (its session expires), one with 300 s
    (its session stays and is kept open). After the short TTL: ``expire --dry-run`` counts
    the expired entries and changes nothing; ``expire`` removes exactly them (PostgreSQL: an
    expired entry the server puts again while expire runs stays; DynamoDB: nothing expired
    is left, nothing live is gone; Redis expired its keys itself and expire only takes
    orphans, which on the other backends wait for ``--orphans``). The kept session's stream
    still replays from the store, event for event."""
    store = fastmcp_store
    raw = RawKV(store)
    short, server = start_both(
        fastmcp_servers,
        store,
        {"events_ttl": 2, "state_ttl": 2},
        {"events_ttl": 300, "state_ttl": 300},
    )
    gone = drive_legacy(short.url, announce=False, interrupt=False)
    drive_default(short.url, announce=False, interrupt=False)
    short_done = time.monotonic()
    short.stop()
    kept = drive_legacy(server.url, announce=False, interrupt=False, keep_session=True)
    post = kept.stream("tools/call")
    kept_events = by_collection(store.entries())[EVENTS]
    kept_scope = scope_of(kept_events[post.event_ids[0]].value["stream_id"])
    # An event of the kept session that is gone (its stream still names it): an orphan.
    listing = f"32:{kept_scope}:{kept.stream('tools/list').request_id}"
    listing_ids = by_collection(store.entries())[STREAMS][listing].value["event_ids"]
    raw.delete(EVENTS, listing_ids[1])

    time.sleep(max(0.0, short_done + 2.6 - time.monotonic()))  # the short TTL has passed
    before = store.entries()
    alive = live(before)
    expired = [e for e in before if e not in alive]
    assert {scope_of(e.key) for e in alive if e.collection == STREAMS} == {kept_scope}
    assert {e.key.partition(":")[0] for e in alive if e.collection == STATE} == {kept.session_id}
    if store.backend == "postgres":
        # Every entry of the short-lived server is still stored, past its expiry: the events
        # of its session (on PostgreSQL they stay until deleted), 5 streams, 2 state entries.
        gone_scope = scope_of(
            kept_events[gone.stream("tools/call").event_ids[0]].value["stream_id"]
        )
        assert Counter(e.collection for e in expired) == Counter(
            {EVENTS: len(gone_events(before, gone_scope)), STREAMS: 5, STATE: 2}
        )
    elif store.backend == "redis":
        assert expired == []  # Redis expired them itself

    dry = ok(cli(store, "expire", "--dry-run", "-f", "json"))
    summary = dry.json()
    assert summary["dry_run"] is True
    after_dry = store.entries()
    assert key_set(after_dry) <= key_set(before) and key_set(alive) <= key_set(after_dry)
    if store.backend == "postgres":
        assert summary["entries"] == dict(Counter(e.collection for e in expired))
        assert key_set(after_dry) == key_set(before)
    elif store.backend == "dynamodb":
        # DynamoDB Local deletes items past their ttl itself, a few at a time.
        counted = Counter(summary.get("entries", {}))
        assert all(counted[c] <= n for c, n in Counter(e.collection for e in expired).items())
        assert set(counted) <= {EVENTS, STREAMS, STATE}
    else:
        assert summary.get("entries", {}) == {}
        assert summary["trimmed"] == 1  # Redis: orphans are always part of expire
    if store.backend != "redis":
        assert summary["trimmed"] == 0 and summary["orphans"] == 0

    if store.backend == "postgres":
        # The race: the server puts an expired entry again (a new expiry) while expire runs.
        # The DELETE selected it as expired and waits for the row; once the put commits,
        # PostgreSQL re-checks expires_at < now() on the new row: it stays.
        again = ("fastmcp_state", f"{gone.session_id}:color")
        writer = PgTransaction(store.url)
        try:
            writer.execute(
                "INSERT INTO kv_store (collection, key, value, ttl, created_at, expires_at) "
                "VALUES ($1, $2, $3, $4, now(), now() + interval '300 seconds') "
                "ON CONFLICT (collection, key) DO UPDATE SET value = EXCLUDED.value, "
                "ttl = EXCLUDED.ttl, expires_at = EXCLUDED.expires_at",
                *again,
                json.dumps({"value": "set again"}),
                300.0,
            )
            with Background(
                mcpstore_argv(store, "expire", "-f", "json"), process_env(store)
            ) as run:
                run.wait_for(lambda: pg_waiting_on_lock(store.url, "DELETE FROM"), 30, "a wait")
                writer.commit()
                assert run.wait() == 0, run.stderr()
        finally:
            writer.close()
        result = json.loads("".join(run.lines()))
        # PostgreSQL's DELETEs count entries, not collections (a DELETE that returns its rows
        # costs twice as much): the total, every expired entry but the one put again.
        assert result["expired_entries"] == len(expired) - 1
        after = store.entries()
        assert key_set(after) == key_set(alive) | {again}
        assert values(after)[again] == {"value": "set again"}
    else:
        result = ok(cli(store, "expire", "-f", "json")).json()
        after = store.entries()
        assert key_set(after) == key_set(alive)  # nothing expired left, nothing live gone
        if store.backend == "redis":
            assert result.get("entries", {}) == {} and result["trimmed"] == 1
    # What did not expire is untouched (the orphaned stream list aside, on Redis).
    unchanged = values(after)
    for ident, value in values(alive).items():
        if ident != (STREAMS, listing):
            assert unchanged[ident] == value, ident
    listing_now = values(after)[(STREAMS, listing)]["event_ids"]
    if store.backend == "redis":
        assert listing_now == [listing_ids[0]]
    else:
        assert listing_now == listing_ids  # not without --orphans
        trimmed = ok(cli(store, "expire", "--orphans", "-f", "json")).json()
        assert trimmed["trimmed"] == 1 and trimmed["orphans"] == 0
        assert values(store.entries())[(STREAMS, listing)]["event_ids"] == [listing_ids[0]]

    # The server replays the kept session's progress stream from the store.
    replay = resume(
        server.url, str(kept.session_id), post.events[0].id, expect=len(post.events) - 1
    )
    assert replay.status == 200, replay
    replayed = [e for e in replay.events if e.message is not None]
    assert [e.id for e in replayed] == post.event_ids[1:]
    assert [e.message for e in replayed] == [e.message for e in post.events[1:]]


def gone_events(entries: list[RawEntry], scope: str) -> list[RawEntry]:
    return [
        e for e in entries if e.collection == EVENTS and scope_of(e.value["stream_id"]) == scope
    ]


# -- 4. expire --orphans ----------------------------------------------------------------------


def test_expire_orphans_trims_and_leaves_what_the_server_rewrote(
    fastmcp_store: FastMCPStore, fastmcp_servers: Servers
) -> None:
    """Two stream lists name events that are gone; one event no stream lists was stored two
    minutes ago, another just now. ``expire --orphans`` (``--rate 1``: one change a second)
    trims the first list it gets to; meanwhile the server appends an event to the other
    stream (a new list, a new expiry): that one is left as the server wrote it, and counted.
    The old unlisted event goes, the fresh one (maybe on its way into a list) stays."""
    store = fastmcp_store
    raw = RawKV(store)
    server = start(fastmcp_servers, store, events_ttl=300, state_ttl=300)
    seen = drive_legacy(server.url, announce=False, interrupt=False)
    server.stop()
    coll = by_collection(store.entries())
    scope = scope_of(next(iter(coll[STREAMS])))
    progress_key = f"32:{scope}:{tools_call(seen)}"
    remember_key = f"32:{scope}:{tools_call(seen, 'remember')}"
    lists = {k: coll[STREAMS][k].value["event_ids"] for k in (progress_key, remember_key)}
    missing = {progress_key: lists[progress_key][3], remember_key: lists[remember_key][1]}
    for event_id in missing.values():
        raw.delete(EVENTS, event_id)
    old_id, fresh_id = new_event_id(), new_event_id()
    for event_id, created in ((old_id, now() - timedelta(minutes=2)), (fresh_id, now())):
        message = {
            "jsonrpc": "2.0",
            "method": "notifications/message",
            "params": {"level": "info", "data": f"stray {event_id}"},
        }
        value = {"event_id": event_id, "stream_id": progress_key, "message": message}
        raw.put(EVENTS, event_id, value, ttl=300, created=created)
    before = store.entries()

    figures = ok(cli(store, "stats", "-f", "json")).json()
    assert figures["orphans"] == {
        "streams_naming_missing_events": 2,
        "missing_event_ids": 2,
        "events_of_no_stream": 2,
    }
    dry = ok(cli(store, "expire", "--orphans", "--dry-run", "-f", "json")).json()
    assert (dry["trimmed"], dry["orphans"]) == (2, 1)
    assert sorted(dry["sample"]) == sorted(
        [f"{STREAMS}::{progress_key}", f"{STREAMS}::{remember_key}", f"{EVENTS}::{old_id}"]
    )
    assert values(store.entries()) == values(before)

    def current(key: str) -> list[str]:
        found = values(store.entries()).get((STREAMS, key))
        return found["event_ids"] if found else []

    env = process_env(store)
    argv = mcpstore_argv(store, "expire", "--orphans", "--rate", "1", "-f", "json")
    appended = new_event_id()
    with Background(argv, env) as run:
        run.wait_for(
            lambda: any(current(k) != lists[k] for k in lists), 30, "one stream list trimmed"
        )
        first = next(k for k in lists if current(k) != lists[k])
        other = next(k for k in lists if k != first)
        # The server appends an event to the other stream: the event, then the list (every
        # put gives the entry a new expiry).
        appended_value = {"event_id": appended, "stream_id": other, "message": None}
        raw.put(EVENTS, appended, appended_value, ttl=300)
        raw.put(STREAMS, other, {"event_ids": [*lists[other], appended]}, ttl=300)
        assert run.wait() == 0, run.stderr()
    result = json.loads("".join(run.lines()))
    assert (result["trimmed"], result["orphans"], result["skipped_active"]) == (1, 1, 1), result
    assert "left 1 entries the server wrote again meanwhile" in run.stderr()
    after = values(store.entries())
    assert after[(STREAMS, first)]["event_ids"] == [i for i in lists[first] if i != missing[first]]
    assert after[(STREAMS, other)]["event_ids"] == [*lists[other], appended]
    assert (EVENTS, old_id) not in after and (EVENTS, fresh_id) in after
    assert (EVENTS, appended) in after
    # Nothing else changed.
    for ident, value in values(before).items():
        if ident not in {(STREAMS, first), (STREAMS, other), (EVENTS, old_id)}:
            assert after[ident] == value, ident


# -- 5. backup and restore across backends -----------------------------------------------------


def fastmcp_only(entries: list[RawEntry]) -> list[RawEntry]:
    return [e for e in entries if e.collection in (EVENTS, STREAMS, STATE)]


def check_same_expiry(source: list[RawEntry], target: list[RawEntry]) -> None:
    """Each restored entry keeps its absolute expiry (within a second: DynamoDB's ttl is whole
    seconds); on Redis the key's own time to live says the same."""
    want = {(e.collection, e.key): expiry(e) for e in source}
    checked = time.time()
    for entry in target:
        got = expiry(entry)
        assert got is not None and want[(entry.collection, entry.key)] is not None
        assert abs(got - want[(entry.collection, entry.key)]) <= 1.0, entry
        if "pttl" in entry.raw:
            assert abs(checked + entry.raw["pttl"] / 1000 - got) <= 1.0, entry.raw
        if "item" in entry.raw:  # DynamoDB: ttl is the document's expiry, whole seconds
            doc_expiry = parse_time(entry.raw["doc"]["expires_at"]).timestamp()
            assert int(entry.raw["item"]["ttl"]["N"]) == int(doc_expiry), entry.raw


def comparable_list(result: Result) -> dict[tuple[str, str], Any]:
    return {
        ident: (row.get("streams"), row.get("event_count"), row.get("keys"))
        for ident, row in listed(ok(result)).items()
    }


STATS_KEYS = ("entries", "sessions", "streams", "events", "events_by_method", "orphans")


@pytest.mark.parametrize(
    ("source", "target"), [("postgres", "redis"), ("redis", "dynamodb"), ("dynamodb", "postgres")]
)
def test_backup_restores_into_another_backend(
    source: str,
    target: str,
    request: pytest.FixtureRequest,
    fastmcp_servers: Servers,
    tmp_path: Path,
) -> None:
    """A backup of what the server wrote restores into another backend: the same entries and
    values, each with its absolute expiry, so ``list`` and ``stats`` on the target match the
    source's; entries whose expiry passed since the backup are skipped and counted; the
    other collections (secrets) only with ``--include-secrets``, which the header says."""
    src = request.getfixturevalue(f"fastmcp_{source}_store")
    dst = request.getfixturevalue(f"fastmcp_{target}_store")
    server = start(fastmcp_servers, src, events_ttl=300, state_ttl=4)
    drive_legacy(server.url, state_value=STATE_VALUE)
    drive_default(server.url, announce=False, interrupt=False)
    state_written = time.monotonic()
    secret = "tok_" + new_event_id().replace("-", "")
    secret_key = put_secret(RawKV(src), secret)
    at_backup = src.entries()
    assert len(fastmcp_only(live(at_backup))) == len(fastmcp_only(at_backup))

    plain, full = tmp_path / "plain.mcpbackup.zst", tmp_path / "full.mcpbackup.zst"
    outputs = [
        ok(cli(src, "backup", "-o", str(plain), "-f", "json")),
        ok(cli(src, "backup", "--include-secrets", "-o", str(full), "-f", "json")),
    ]
    header, records, text = read_backup(plain)
    assert header["layout"] == "fastmcp" and header["source"]["backend"] == source
    assert header["secrets"].startswith("left out") and secret not in text
    assert len(records) == len(fastmcp_only(at_backup)) and {r[0] for r in records} == {"k"}
    header_full, records_full, _ = read_backup(full)
    assert header_full["secrets"].startswith("included: 1 entries of other collections")
    assert SECRET_COLLECTION in header_full["secrets"] and secret not in json.dumps(header_full)
    assert len(records_full) == len(records) + 1

    # Restore once the state entries (4 s) expired: they are skipped and counted.
    time.sleep(max(0.0, state_written + 4.3 - time.monotonic()))
    restored = run_cli(["restore", str(plain), "--url", dst.url, "-f", "json"], environ=dst.environ)
    outputs.append(ok(restored))
    summary = restored.json()
    states = [e for e in at_backup if e.collection == STATE]
    assert len(states) == 2
    assert summary["notes"] == ["skipped 2 entries whose expiry passed since the backup"]
    want = [e for e in fastmcp_only(at_backup) if e.collection != STATE]
    assert summary["sessions"] == len(want)
    got = dst.entries()
    assert key_set(got) == key_set(want)
    assert values(got) == values(want)
    check_same_expiry(want, got)

    # list and stats on the target: what they say on the source (whose state expired too).
    src_list = listed(ok(cli(src, "list", "-f", "json")))
    dst_list = listed(ok(cli(dst, "list", "-f", "json")))
    assert comparable_list(cli(dst, "list", "-f", "json")) == comparable_list(
        cli(src, "list", "-f", "json")
    )
    for ident, row in src_list.items():
        assert abs(dst_list[ident]["expires_at"] - row["expires_at"]) <= 1000, (ident, row)
    src_stats = ok(cli(src, "stats", "-f", "json")).json()
    dst_stats = ok(cli(dst, "stats", "-f", "json")).json()
    for name in STATS_KEYS:
        assert dst_stats[name] == src_stats[name], name
    assert src_stats["other_collections"] == {SECRET_COLLECTION: 1}
    assert dst_stats["other_collections"] == {}
    assert src_stats["sessions"] == {"event_store": 1, "state": 0}

    # --include-secrets: the other collection comes along; what the target has stays.
    again = run_cli(["restore", str(full), "--url", dst.url, "-f", "json"], environ=dst.environ)
    outputs.append(ok(again))
    assert again.json()["sessions"] == 1
    assert again.json()["skipped_sessions"] == len(want)
    assert again.json()["notes"] == ["skipped 2 entries whose expiry passed since the backup"]
    got = dst.entries()
    token = values(got)[(SECRET_COLLECTION, secret_key)]
    assert token["access_token"] == secret
    check_same_expiry(
        [e for e in at_backup if e.collection == SECRET_COLLECTION],
        [e for e in got if e.collection == SECRET_COLLECTION],
    )
    dst_stats = ok(cli(dst, "stats", "-f", "json")).json()
    assert dst_stats["other_collections"] == {SECRET_COLLECTION: 1}
    secret_free(secret, *outputs)

    if target == "postgres":
        # The table restore created is py-key-value's.
        assert pg_columns(dst.url) == [
            ("collection", "text", "NO"),
            ("key", "text", "NO"),
            ("value", "jsonb", "NO"),
            ("ttl", "double precision", "YES"),
            ("created_at", "timestamp with time zone", "YES"),
            ("expires_at", "timestamp with time zone", "YES"),
        ]
        assert set(pg_indexes(dst.url)) == {"kv_store_pkey", "idx_kv_store_expires_at"}
    if target == "dynamodb":
        from tests.dynamodb_fixtures import client

        c = client(dst.server_kwargs["endpoint"])
        try:
            table = c.describe_table(TableName=dst.name)["Table"]
            ttl = c.describe_time_to_live(TableName=dst.name)["TimeToLiveDescription"]
        finally:
            c.close()
        assert sorted((k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]) == [
            ("collection", "HASH"),
            ("key", "RANGE"),
        ]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")

    # A restore is not activity: the sessions' times on the target are the server's writes
    # (the restore ran more than 4 s after them), not the time of the restore.
    for ident, row in src_list.items():
        for name in ("created_at", "last_activity"):
            assert abs(dst_list[ident][name] - row[name]) <= 1000, (name, row, dst_list[ident])


# -- 6. setup, check and teardown on PostgreSQL -------------------------------------------------


def test_setup_creates_py_key_values_table_on_postgres(
    fastmcp_postgres_store: FastMCPStore, fastmcp_servers: Servers, pg_server: Any
) -> None:
    """``setup --layout fastmcp`` creates exactly the table and index the real server creates
    (also under another ``--table``); ``setup --check`` passes on the server's table and
    fails (3) once its index is dropped, and ``setup`` then creates the index again;
    ``teardown --delete`` drops the table."""
    store = fastmcp_postgres_store
    server = start(fastmcp_servers, store)
    drive_default(server.url, announce=False, interrupt=False)
    server.stop()
    columns, indexes = pg_columns(store.url), pg_indexes(store.url)
    assert set(indexes) == {"kv_store_pkey", "idx_kv_store_expires_at"}
    assert ok(cli(store, "setup", "--check")).stdout == ""
    pg_server.execute("DROP INDEX idx_kv_store_expires_at", database=store.name)
    drifted = cli(store, "setup", "--check")
    assert drifted.exit_code == 3, drifted
    assert "idx_kv_store_expires_at" in drifted.stdout + drifted.stderr
    gone = ok(cli(store, "teardown", "--delete", "--yes"))
    assert "deleted table kv_store" in gone.stderr
    assert pg_columns(store.url) == []
    after = cli(store, "list")
    assert after.exit_code == 3 and "setup --layout fastmcp" in after.stderr, after

    name = pg_server.create_database()
    url = pg_server.url(name)
    try:
        missing = run_cli(["setup", "--check", "--layout", "fastmcp", "--url", url])
        assert missing.exit_code == 3, missing
        plan = ok(run_cli(["setup", "--dry-run", "--layout", "fastmcp", "--url", url]))
        assert plan.stdout.splitlines() == [
            "CREATE TABLE IF NOT EXISTS kv_store (collection TEXT NOT NULL, key TEXT NOT NULL, "
            "value JSONB NOT NULL, ttl DOUBLE PRECISION, created_at TIMESTAMPTZ, expires_at "
            "TIMESTAMPTZ, PRIMARY KEY (collection, key));",
            "CREATE INDEX IF NOT EXISTS idx_kv_store_expires_at ON kv_store(expires_at) "
            "WHERE expires_at IS NOT NULL;",
        ]
        assert pg_columns(url) == []  # a dry run creates nothing
        ok(run_cli(["setup", "--layout", "fastmcp", "--url", url]))
        assert pg_columns(url) == columns and pg_indexes(url) == indexes
        again = ok(run_cli(["setup", "--layout", "fastmcp", "--url", url, "-f", "json"]))
        assert '"exists"' in again.stdout
        ok(run_cli(["setup", "--check", "--layout", "fastmcp", "--url", url]))
        # Another table name: the same table and index, named after it.
        ok(run_cli(["setup", "--layout", "fastmcp", "--table", "fm_kv", "--url", url]))
        assert pg_columns(url, "fm_kv") == columns
        assert pg_indexes(url, "fm_kv") == {
            n.replace("kv_store", "fm_kv"): d.replace("kv_store", "fm_kv")
            for n, d in indexes.items()
        }
        args = ["list", "-f", "json", "--layout", "fastmcp", "--table", "fm_kv", "--url", url]
        assert ok(run_cli(args)).json() == []
        # setup --check says "mcpstore setup creates what is missing": it must.
        pg_server.execute("DROP INDEX idx_kv_store_expires_at", database=name)
        check = run_cli(["setup", "--check", "--layout", "fastmcp", "--url", url])
        assert check.exit_code == 3 and "setup creates what is missing" in check.stderr, check
        ok(run_cli(["setup", "--layout", "fastmcp", "--url", url]))
        assert pg_indexes(url) == indexes
    finally:
        pg_server.drop_database(name)


# -- state, touch, delete on a live server (terminate does not apply) --------------------------


def call_tool(url: str, session_id: str, tool: str, arguments: dict[str, Any]) -> Any:
    """One tools/call on an existing session, as a client's next request (raw HTTP, the
    session's Mcp-Session-Id); the tool's structured result."""
    import httpx2

    from tests.fastmcp_server import LEGACY_PROTOCOL, SSEParser

    body = {
        "jsonrpc": "2.0",
        "id": 901,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    headers = {
        "Mcp-Session-Id": session_id,
        "MCP-Protocol-Version": LEGACY_PROTOCOL,
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    with httpx2.Client(timeout=20, trust_env=False) as client:
        response = client.post(url, json=body, headers=headers)
    assert response.status_code == 200, response.text
    if response.headers.get("content-type", "").startswith("application/json"):
        messages = [response.json()]
    else:
        messages = [e.message for e in SSEParser().feed(response.content) if e.message]
    for message in messages:
        if message.get("id") == 901:
            return message["result"]["structuredContent"]
    raise AssertionError(f"no answer to the call in {messages!r}")


def test_state_touch_delete_as_the_server_sees_them(
    fastmcp_store: FastMCPStore, fastmcp_servers: Servers
) -> None:
    """On a running FastMCP server: ``state`` prints what the tool set; ``state set`` writes
    an entry the server's next ``get_state`` returns; ``unset`` makes it return null; ``touch``
    pushes the expiry of every entry of a session; ``terminate`` does not apply (exit 2);
    ``delete`` of the event-store session takes its streams and events and leaves the state
    session, and ``delete`` of the state session takes its entries."""
    store = fastmcp_store
    server = start(fastmcp_servers, store, state_ttl=600)
    seen = drive_legacy(server.url, state_value={"shade": "teal"}, keep_session=True)
    sid = seen.session_id
    assert sid is not None
    state = ok(cli(store, "state", sid[:8], "-f", "json")).json()
    assert state == {"color": {"shade": "teal"}}

    ok(cli(store, "state", sid, "set", "color", '{"shade": "navy"}'))
    assert call_tool(server.url, sid, "recall", {"key": "color"})["value"] == {"shade": "navy"}
    ok(cli(store, "state", sid, "set", "extra", "[1, 2]"))
    assert call_tool(server.url, sid, "recall", {"key": "extra"})["value"] == [1, 2]
    ok(cli(store, "state", sid, "unset", "extra"))
    assert call_tool(server.url, sid, "recall", {"key": "extra"})["value"] is None

    entries = store.entries()
    mine = [e for e in live(entries) if e.collection == STATE and e.key.startswith(sid + ":")]
    before = {e.key: expiry(e) for e in mine}
    assert set(before) == {f"{sid}:color"}
    ok(cli(store, "touch", sid))
    after = {e.key: expiry(e) for e in live(store.entries()) if e.key in before}
    for key, at in before.items():
        assert at is not None and after[key] is not None
        assert after[key] > time.time() + 86400 - 60  # FastMCP's state TTL, from now
    assert call_tool(server.url, sid, "recall", {"key": "color"})["value"] == {"shade": "navy"}

    refused = cli(store, "terminate", sid)
    assert refused.exit_code == 2 and "fastmcp" in refused.stderr, refused

    coll = by_collection(live(store.entries()))
    scopes = {scope_of(k) for k in coll[STREAMS]}
    assert len(scopes) == 1
    scope = scopes.pop()
    n_streams = len(coll[STREAMS])
    n_events = sum(
        1
        for e in coll[EVENTS].values()
        if isinstance(e.value, dict) and scope_of(e.value["stream_id"]) == scope
    )
    done = ok(cli(store, "delete", scope, "--yes", "-f", "jsonl")).jsonl()
    assert done[0]["removed"]["streams"] == n_streams
    assert done[0]["removed"]["events"] >= n_events
    left = by_collection(live(store.entries()))
    assert not left.get(STREAMS) and not left.get(EVENTS)
    assert f"{sid}:color" in left[STATE]

    ok(cli(store, "delete", sid, "--yes"))
    left = by_collection(live(store.entries()))
    assert not any(k.startswith(sid + ":") for k in left.get(STATE, {}))
    assert call_tool(server.url, sid, "recall", {"key": "color"})["value"] is None
