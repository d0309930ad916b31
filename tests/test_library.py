"""The library without the CLI: durations, store URLs, records, cursors, demo data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mcpstore_cli.errors import UsageError
from mcpstore_cli.exitcodes import ExitStatus
from mcpstore_cli.layouts.turul_sessions.demo import generate, uuid7_simple
from mcpstore_cli.model.demo import DemoPlan
from mcpstore_cli.model.records import (
    Cursor,
    Session,
    SessionFilter,
    percentiles_from_distribution,
    validate_session_id,
)
from mcpstore_cli.store import open_store
from mcpstore_cli.store.base import Store
from mcpstore_cli.store.urls import mask_url, parse_store_url, resolve_store_url
from mcpstore_cli.util.durations import format_duration, parse_duration
from mcpstore_cli.util.timeutil import parse_point_in_time

NOW = 1_800_000_000_000


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("90s", 90_000),
        ("30m", 1_800_000),
        ("12h", 43_200_000),
        ("7d", 604_800_000),
        ("1h30m", 5_400_000),
        ("2w", 1_209_600_000),
        ("1d2h3m4s", 93_784_000),
        ("250ms", 250),
        (" 5M ", 300_000),
    ],
)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("5", "no unit"),
        ("-5m", "positive"),
        ("0m", "longer than zero"),
        ("5x", "not a duration"),
        ("m5", "not a duration"),
        ("30m1h", "misorders"),
        ("1h1h", "repeats"),
        ("1.5h", "not a duration"),
    ],
)
def test_parse_duration_rejects(text: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment) as info:
        parse_duration(text, option="--idle")
    assert info.value.exit_status == ExitStatus.USAGE


def test_zero_duration_allowed_when_asked() -> None:
    assert parse_duration("0s", allow_zero=True) == 0


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (500, "500ms"),
        (90_000, "1m30s"),
        (5_400_000, "1h30m"),
        (86_400_000, "1d"),
        (3_600_000, "1h"),
    ],
)
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration(ms) == text


def test_point_in_time_forms() -> None:
    assert parse_point_in_time("2h", option="--x", now=NOW) == NOW - 7_200_000
    assert parse_point_in_time("1763733600000", option="--x", now=NOW) == 1763733600000
    assert parse_point_in_time("2025-11-21", option="--x", now=NOW) == 1763683200000
    assert parse_point_in_time("2025-11-21T14:00:00Z", option="--x", now=NOW) == 1763733600000
    assert parse_point_in_time("2025-11-21T15:00:00+01:00", option="--x", now=NOW) == 1763733600000
    for bad in ("yesterday", "1763733600", ""):
        with pytest.raises(UsageError):
            parse_point_in_time(bad, option="--x", now=NOW)


def test_sqlite_urls() -> None:
    rel = parse_store_url("sqlite:///data/mcp.db")
    assert (rel.backend, rel.path) == ("sqlite", "data/mcp.db")
    absolute = parse_store_url("sqlite:////var/lib/mcp/s.db")
    assert absolute.path == "/var/lib/mcp/s.db"
    for bad in ("sqlite://host/x.db", "sqlite:///", "sqlite:///:memory:", ":memory:", "ftp://x"):
        with pytest.raises(UsageError):
            parse_store_url(bad)
    plain = parse_store_url("mcp.db")
    assert (plain.backend, plain.path, plain.masked()) == ("sqlite", "mcp.db", "mcp.db")


def test_postgres_urls_and_masking() -> None:
    url = parse_store_url("postgres://mcp:s3cr%40t@localhost:5432/mcp_sessions?sslmode=require")
    assert url.backend == "postgres"
    assert url.password == "s3cr@t"
    assert "s3cr" not in url.masked()
    assert url.masked() == "postgres://mcp:***@localhost:5432/mcp_sessions?sslmode=require"
    assert "s3cr" not in repr(url) and "s3cr" not in str(url)
    assert url.display_name == "mcp_sessions"
    assert ("sslmode", "require") in url.params
    with pytest.raises(UsageError):
        parse_store_url("postgresql://u:p@host:notaport/db")
    assert "hunter2" not in mask_url("postgresql://u@h/db?password=hunter2")


def test_dynamodb_urls() -> None:
    url = parse_store_url("dynamodb://my-sessions?region=eu-west-1&endpoint=http://127.0.0.1:8000")
    assert (url.table, url.region, url.endpoint) == (
        "my-sessions",
        "eu-west-1",
        "http://127.0.0.1:8000",
    )
    assert parse_store_url("dynamodb://").table == "mcp-sessions"
    for bad in (
        "dynamodb://a",
        "dynamodb://bad name",
        "dynamodb://t?colour=red",
        "dynamodb://tbl?endpoint=ftp://x",
    ):
        with pytest.raises(UsageError):
            parse_store_url(bad)


def test_resolution_order() -> None:
    env = {
        "MCPSTORE_URL": "sqlite:///from-env.db",
        "SQLITE_PATH": "/tmp/from-sqlite-path.db",
        "DATABASE_URL": "postgresql://u:pw@127.0.0.1/db",
        "MCP_SESSION_TABLE": "tbl-x",
        "AWS_REGION": "eu-central-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9999",
    }
    assert resolve_store_url("sqlite:///flag.db", None, env).path == "flag.db"
    assert resolve_store_url(None, "sqlite", env).path == "/tmp/from-sqlite-path.db"
    assert resolve_store_url(None, "postgres", env).source == "DATABASE_URL"
    dyn = resolve_store_url(None, "dynamodb", env)
    assert (dyn.table, dyn.region, dyn.endpoint) == (
        "tbl-x",
        "eu-central-1",
        "http://127.0.0.1:9999",
    )
    assert resolve_store_url(None, None, env).path == "from-env.db"
    default = resolve_store_url(None, None, {})
    assert (default.backend, default.path, default.source) == (
        "sqlite",
        "mcp_sessions.db",
        "the default",
    )
    assert resolve_store_url(None, "sqlite", {}).path == "mcp_sessions.db"
    assert resolve_store_url(None, "dynamodb", {}).table == "mcp-sessions"
    with pytest.raises(UsageError, match="DATABASE_URL"):
        resolve_store_url(None, "postgres", {})
    with pytest.raises(UsageError, match="--backend says"):
        resolve_store_url("sqlite:///x.db", "postgres", env)
    with pytest.raises(UsageError, match="Unknown backend"):
        resolve_store_url(None, "mongodb", env)


def test_session_ids() -> None:
    assert validate_session_id("0193a1b2c3d4e5f60718293a4b5c6d7e")
    assert validate_session_id("!~weird-but-visible")
    for bad in ("", "has space", "tab\tid", "é", "x" * 256):
        with pytest.raises(UsageError):
            validate_session_id(bad)


def test_cursor_round_trip_and_rejects_garbage() -> None:
    cursor = Cursor(1_763_733_600_000, "id:with/odd~chars")
    assert Cursor.decode(cursor.encode()) == cursor
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor.encode())
    for bad in ("", "not-base64!", "WzFd", "eyJhIjoxfQ"):
        with pytest.raises(UsageError, match="cursor"):
            Cursor.decode(bad)


def test_session_derived_fields() -> None:
    s = Session(
        "abc",
        created_at=NOW - 10_000_000,
        last_activity=NOW - 1000,
        is_initialized=True,
        state={
            "client_info": {"name": "goose", "version": "1.9"},
            "negotiated_version": "2025-06-18",
        },
    )
    assert s.client_name == "goose 1.9"
    assert s.protocol_version == "2025-06-18"
    assert s.status(NOW, 1_800_000) == "active"
    assert s.status(NOW + 1_800_000, 1_800_000) == "idle"
    s.state["terminated"] = True
    s.state["terminated_at"] = NOW
    assert s.terminated and s.terminated_at == NOW
    assert s.status(NOW, 1_800_000) == "terminated"
    s.state["terminated"] = "true"  # only JSON true counts
    assert not s.terminated


def test_filter_predicate() -> None:
    s = Session("a", created_at=NOW - 5_000_000, last_activity=NOW - 4_000_000, is_initialized=True)
    assert SessionFilter(NOW, idle_over_ms=3_600_000).matches(s)
    assert not SessionFilter(NOW, idle_over_ms=5_000_000).matches(s)
    assert not SessionFilter(NOW, active=True).matches(s)
    assert SessionFilter(NOW, initialized=True, terminated=False).matches(s)
    assert not SessionFilter(NOW, created_after=NOW - 1000).matches(s)
    assert SessionFilter(NOW, created_before=NOW - 1000).matches(s)


def test_percentiles() -> None:
    assert percentiles_from_distribution({}) == {"mean": 0, "p50": 0, "p95": 0, "max": 0}
    dist = {0: 10, 1: 40, 5: 45, 100: 5}  # 100 sessions
    assert percentiles_from_distribution(dist) == {"mean": 7.65, "p50": 1, "p95": 5, "max": 100}
    assert percentiles_from_distribution({3: 1})["p95"] == 3


def test_uuid7_simple_form() -> None:
    import random

    sid = uuid7_simple(NOW, random.Random(1))
    assert re.fullmatch(r"[0-9a-f]{32}", sid)
    assert sid[12] == "7"  # version nibble
    assert sid[16] in "89ab"  # variant
    assert int(sid[:12], 16) == NOW


def test_demo_generator_is_exact_and_server_shaped() -> None:
    plan = DemoPlan(sessions=200, events_per_session=7, seed=42, batch_rows=300)
    sessions, events = [], []
    for batch_sessions, batch_events in generate(plan, NOW):
        sessions += batch_sessions
        events += batch_events
    assert len(sessions) == 200
    assert len(events) == 1400
    assert len({s.session_id for s in sessions}) == 200
    kinds = {s.status(NOW, 1_800_000) for s in sessions}
    assert kinds == {"active", "idle", "terminated"}
    uninit = [s for s in sessions if not s.is_initialized]
    assert uninit and all(s.client_capabilities is None for s in uninit)
    init = [s for s in sessions if s.is_initialized]
    assert all("client_info" in s.state and "negotiated_version" in s.state for s in init)
    types = {e.event_type for e in events}
    assert {"notifications/progress", "notifications/message"} <= types
    assert any(e.retry is not None for e in events) and any(e.retry is None for e in events)
    by_id = {s.session_id: s for s in sessions}
    for e in events:
        owner = by_id[e.session_id]
        assert owner.created_at <= e.timestamp <= max(owner.last_activity, owner.created_at + 7)
        assert e.data["jsonrpc"] == "2.0"
    again = [s.session_id for b, _ in generate(plan, NOW) for s in b]
    assert again == [s.session_id for s in sessions]  # --seed reproduces


def test_clearing_a_missing_store_says_so_and_creates_nothing(tmp_path: Path) -> None:
    import asyncio

    from mcpstore_cli.errors import StoreMissingError

    path = tmp_path / "unused.db"
    store = open_store(parse_store_url(f"sqlite:///{path}"))
    assert isinstance(store, Store)
    for work in (store.clear, store.inventory, store.drop):
        with pytest.raises(StoreMissingError, match="No SQLite store"):
            asyncio.run(work())
    assert not path.exists()
