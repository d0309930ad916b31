"""Behaviour every backend shares, run once per backend (see PARITY_BACKENDS in conftest)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mcpstore_cli.util.timeutil import now_ms
from tests.conftest import PARITY_BACKENDS, StoreHandle
from tests.helpers import Result
from tests.pg_fixtures import PgServer

MIN = 60_000


@dataclass
class LayoutHandle(StoreHandle):
    """A store handle that names its layout on every command."""

    layout: str = "sessions"

    def run(self, *args: str, **kwargs: object) -> Result:
        return super().run(*args, "--layout", self.layout, **kwargs)


@pytest.fixture
def graphflow_store(pg_server: PgServer) -> Iterator[StoreHandle]:
    name = pg_server.create_database()

    def no_writer() -> object:
        raise NotImplementedError("GraphFlow rows are written in tests/test_graphflow.py")

    yield LayoutHandle(
        backend="postgres",
        url=pg_server.url(name),
        writer_factory=no_writer,  # type: ignore[arg-type]
        name=name,
        layout="graphflow",
    )
    pg_server.drop_database(name)


@pytest.fixture(params=[*PARITY_BACKENDS, "graphflow"])
def layout_store(request: pytest.FixtureRequest) -> Iterator[StoreHandle]:
    """The parity fixture for tests that hold for every session-shaped layout too: once per
    backend, and once for GraphFlow's layout on PostgreSQL."""
    yield request.getfixturevalue(f"{request.param}_store")


def _demo(store: StoreHandle, sessions: int = 40, events: int = 5, seed: int = 7) -> None:
    result = store.run(
        "demo",
        "--sessions",
        str(sessions),
        "--events-per-session",
        str(events),
        "--seed",
        str(seed),
        "--quiet",
    )
    assert result.exit_code == 0, result


def _all(store: StoreHandle, *extra: str) -> list[dict]:
    result = store.run("list", "--limit", "0", "--format", "jsonl", *extra)
    assert result.exit_code == 0, result
    return result.jsonl()


def test_reading_commands_refuse_a_missing_store_and_create_nothing(
    layout_store: StoreHandle,
) -> None:
    store = layout_store
    for args in (["list"], ["show", "0193a1b2c3d4e5f6"], ["stats"]):
        result = store.run(*args)
        assert result.exit_code == 3, result
        assert "setup" in result.stderr
        assert result.stderr.count("\n") == 1, "one sentence, no traceback"
        assert result.stdout == ""
    check = store.run("setup", "--check", "--format", "json")
    assert check.exit_code == 3, check


def test_setup_is_idempotent_and_check_passes(layout_store: StoreHandle) -> None:
    store = layout_store
    first = store.run("setup", "--format", "json")
    assert first.exit_code == 0, first
    actions = {step["object"]: step["action"] for step in first.json()}
    assert actions["sessions"].startswith("created")
    second = store.run("setup", "--format", "json")
    assert second.exit_code == 0, second
    assert not [s for s in second.json() if s["action"].startswith("created")], second.stdout
    check = store.run("setup", "--check", "--format", "json")
    assert check.exit_code == 0, check
    assert [f for f in check.json() if f["severity"] == "error"] == []
    assert "matches the layout" in check.stderr


def test_dry_run_prints_the_plan_and_changes_nothing(store: StoreHandle) -> None:
    result = store.run("setup", "--dry-run")
    assert result.exit_code == 0, result
    assert "sessions" in result.stdout and "events" in result.stdout
    assert store.run("setup", "--check").exit_code == 3


def test_demo_list_and_stats_agree(layout_store: StoreHandle) -> None:
    store = layout_store
    store.setup()
    _demo(store, sessions=40, events=5)
    rows = _all(store)
    assert len(rows) == 40
    keys = [(r["last_activity"], r["session_id"]) for r in rows]
    assert keys == sorted(keys, reverse=True), "newest activity first"
    assert sum(r["event_count"] for r in rows) == 200
    stats = store.run("stats", "--format", "json")
    assert stats.exit_code == 0, stats
    data = stats.json()
    assert data["backend"] == store.backend
    assert data["sessions"]["total"] == 40
    assert data["events"]["total"] == 200
    assert data["events"]["orphaned"] in (0, None)
    statuses = [r["status"] for r in rows]
    assert data["sessions"]["terminated"] == statuses.count("terminated")
    assert data["sessions"]["idle"] == statuses.count("idle")
    assert data["sessions"]["active"] == statuses.count("active")
    assert data["sessions"]["initialized"] == sum(r["is_initialized"] for r in rows)
    assert sum(b["sessions"] for b in data["age_histogram"]) == 40
    assert sum(b["sessions"] for b in data["activity_histogram"]) == 40
    counts = sorted(r["event_count"] for r in rows)
    per = data["events"]["per_session"]
    assert per["max"] == counts[-1]
    assert per["p50"] == counts[19]
    assert per["mean"] == 5
    assert data["created_at"]["oldest"] == min(r["created_at"] for r in rows)
    assert data["last_activity"]["newest"] == max(r["last_activity"] for r in rows)


def test_cursor_pages_cover_everything_once(layout_store: StoreHandle) -> None:
    store = layout_store
    store.setup()
    _demo(store, sessions=23, events=1)
    everything = [r["session_id"] for r in _all(store)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        args = ["list", "--limit", "5", "--format", "jsonl"]
        if cursor:
            args += ["--cursor", cursor]
        result = store.run(*args)
        assert result.exit_code == 0, result
        page = result.jsonl()
        seen += [r["session_id"] for r in page]
        pages += 1
        if "--cursor" not in result.stderr:
            break
        hinted = result.stderr.split("--cursor ", 1)[1].split()[0]
        assert hinted == page[-1]["cursor"]
        cursor = hinted
        assert pages < 10
    assert seen == everything
    assert pages == 5


def test_filters(store: StoreHandle) -> None:
    store.setup()
    _demo(store, sessions=60, events=2, seed=3)
    now = now_ms()
    rows = _all(store)
    terminated = _all(store, "--terminated")
    assert terminated and all(r["terminated"] for r in terminated)
    assert len(terminated) == sum(r["terminated"] for r in rows)
    assert len(_all(store, "--not-terminated")) == len(rows) - len(terminated)
    active = _all(store, "--active")
    assert active and all(r["status"] == "active" for r in active)
    idle = _all(store, "--idle-over", "1h")
    assert idle and all(r["last_activity"] < now - 60 * MIN for r in idle)
    assert len(idle) == sum(r["last_activity"] < now - 60 * MIN for r in rows)
    uninit = _all(store, "--not-initialized")
    assert uninit and all(not r["is_initialized"] for r in uninit)
    assert len(_all(store, "--initialized")) == len(rows) - len(uninit)
    cut = sorted(r["created_at"] for r in rows)[30]
    after = _all(store, "--created-after", str(cut))
    before = _all(store, "--created-before", str(cut))
    assert all(r["created_at"] > cut for r in after)
    assert all(r["created_at"] < cut for r in before)
    assert len(after) + len(before) == len(rows) - sum(r["created_at"] == cut for r in rows)
    combined = _all(store, "--idle-over", "1h", "--not-terminated", "--initialized")
    assert all(not r["terminated"] and r["is_initialized"] for r in combined)


def test_show(store: StoreHandle) -> None:
    store.setup()
    _demo(store, sessions=10, events=30, seed=11)
    rows = _all(store)
    busiest = max(rows, key=lambda r: r["event_count"])
    result = store.run("show", busiest["session_id"], "--format", "json")
    assert result.exit_code == 0, result
    detail = result.json()
    assert detail["session_id"] == busiest["session_id"]
    assert detail["event_count"] == busiest["event_count"]
    assert len(detail["events"]) == min(10, busiest["event_count"])
    ids = [e["id"] for e in detail["events"]]
    assert ids == sorted(ids)
    assert all(e["session_id"] == busiest["session_id"] for e in detail["events"])
    short = store.run("show", busiest["session_id"][:20], "--events", "3", "--format", "json")
    assert short.exit_code == 0, short
    assert short.json()["session_id"] == busiest["session_id"]
    assert len(short.json()["events"]) == min(3, busiest["event_count"])
    missing = store.run("show", "ffffffffffffffffffffffffffffffff")
    assert missing.exit_code == 1 and "No session" in missing.stderr
    bad = store.run("show", "not an id")
    assert bad.exit_code == 2 and "visible ASCII" in bad.stderr


def test_rows_written_by_the_server_are_read_exactly(store: StoreHandle) -> None:
    store.setup()
    writer = store.writer()
    now = now_ms()
    try:
        writer.session(
            "a" * 32,
            created_at=now - 5 * MIN,
            last_activity=now - 5 * MIN,
            is_initialized=False,
            client_capabilities=None,
            server_capabilities=None,
            raw_server_capabilities="",
            state={},
            metadata={},
        )
        writer.session(
            "b" * 32,
            created_at=now - 120 * MIN,
            last_activity=now - 2 * MIN,
            client_capabilities={"roots": {"listChanged": True}, "sampling": {}},
            server_capabilities={"tools": {"listChanged": False}},
            state={
                "client_info": {"name": "goose", "version": "1.9.1"},
                "negotiated_version": "2025-06-18",
                "terminated": True,
                "terminated_at": now - 2 * MIN,
                "big": 12345678901234567,
                "unicode": "héllo ✓",
            },
            metadata={"__meta__:trace": "x"},
        )
        first = writer.event(
            "b" * 32,
            timestamp=now - 3 * MIN,
            event_type="notifications/progress",
            data={
                "jsonrpc": "2.0",
                "method": "notifications/progress",
                "params": {"progress": 1, "total": 2},
            },
            retry=None,
        )
        second = writer.event(
            "b" * 32,
            timestamp=now - 2 * MIN,
            event_type="notifications/message",
            data={
                "jsonrpc": "2.0",
                "method": "notifications/message",
                "params": {"level": "info", "data": "hi"},
            },
            retry=2500,
        )
    finally:
        writer.close()
    assert second > first
    rows = {r["session_id"]: r for r in _all(store)}
    fresh = rows["a" * 32]
    assert fresh["client_capabilities"] is None
    assert fresh["server_capabilities"] is None
    assert fresh["is_initialized"] is False and fresh["status"] == "active"
    assert fresh["event_count"] == 0
    ended = rows["b" * 32]
    assert ended["status"] == "terminated" and ended["terminated_at"] == now - 2 * MIN
    assert ended["client_info"] == {"name": "goose", "version": "1.9.1"}
    assert ended["protocol_version"] == "2025-06-18"
    assert ended["state"]["big"] == 12345678901234567
    assert ended["state"]["unicode"] == "héllo ✓"
    assert ended["metadata"] == {"__meta__:trace": "x"}
    assert ended["event_count"] == 2
    show = store.run("show", "b" * 32, "--format", "json").json()
    assert [e["retry"] for e in show["events"]] == [None, 2500]
    assert [e["event_type"] for e in show["events"]] == [
        "notifications/progress",
        "notifications/message",
    ]
    assert show["events"][1]["data"]["params"] == {"level": "info", "data": "hi"}
    assert [e["id"] for e in show["events"]] == [first, second]
    assert _all(store, "--terminated")[0]["session_id"] == "b" * 32


def test_corrupt_rows_are_reported_and_skipped(store: StoreHandle) -> None:
    store.setup()
    _demo(store, sessions=5, events=1)
    writer = store.writer()
    now = now_ms()
    try:
        if not writer.corrupt_session("c" * 32, created_at=now - MIN, last_activity=now + MIN):
            pytest.skip(f"{store.backend} cannot hold a corrupt session row")
    finally:
        writer.close()
    result = store.run("list", "--limit", "0", "--format", "jsonl")
    assert result.exit_code == 0, result
    assert len(result.jsonl()) == 5
    assert "c" * 32 in result.stderr and "skipped" in result.stderr
    # Paging steps past the corrupt row instead of getting stuck on it.
    page = store.run("list", "--limit", "1", "--format", "jsonl")
    assert page.jsonl() == [] and "--cursor" in page.stderr
    stats = store.run("stats", "--format", "json")
    assert stats.exit_code == 0 and stats.json()["sessions"]["total"] == 6


def test_orphaned_events_are_counted(store: StoreHandle) -> None:
    store.setup()
    writer = store.writer()
    now = now_ms()
    try:
        writer.session(
            "d" * 32, created_at=now - MIN, last_activity=now, state={}, server_capabilities={}
        )
        writer.session(
            "e" * 32, created_at=now - MIN, last_activity=now, state={}, server_capabilities={}
        )
        for i in range(3):
            writer.event(
                "d" * 32, timestamp=now - i, event_type="notifications/message", data={"i": i}
            )
        writer.event("e" * 32, timestamp=now, event_type="notifications/message", data={})
        writer.delete_session_raw("d" * 32)
    finally:
        writer.close()
    data = store.run("stats", "--format", "json").json()
    assert data["sessions"]["total"] == 1
    assert data["events"]["total"] == 4
    assert data["events"]["orphaned"] == 3
    assert data["events"]["per_session"]["max"] == 1


def test_every_output_format(layout_store: StoreHandle) -> None:
    store = layout_store
    store.setup()
    _demo(store, sessions=6, events=2)
    as_json = store.run("list", "--format", "json")
    assert len(as_json.json()) == 6
    as_csv = store.run("list", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(table) == 6 and table[0]["session_id"]
    piped = store.run("list")
    assert len(piped.jsonl()) == 6, "JSON Lines when stdout is not a terminal"
    tty = store.run("list", tty=True, width=200)  # full ids need the room
    assert tty.exit_code == 0
    assert "SESSION" in tty.stdout and as_json.json()[0]["session_id"] in tty.stdout
    stats_table = store.run("stats", tty=True)
    assert stats_table.exit_code == 0 and "█" in stats_table.stdout
    assert "sessions by age" in stats_table.stdout
    stats_csv = store.run("stats", "--format", "csv")
    fields = dict(csv.reader(io.StringIO(stats_csv.stdout)))
    assert fields["sessions.total"] == "6"
    sid = as_json.json()[0]["session_id"]
    show_table = store.run("show", sid, tty=True)
    assert show_table.exit_code == 0 and "server_capabilities" in show_table.stdout
    assert store.run("show", sid, "--format", "jsonl").jsonl()[0]["session_id"] == sid
    empty = store.run("list", "--terminated", "--idle-over", "3650d", "--format", "json")
    assert empty.json() == []


def test_demo_live_adds_events_and_touches_sessions(store: StoreHandle) -> None:
    store.setup()
    _demo(store, sessions=4, events=0, seed=5)
    before = {r["session_id"]: r for r in _all(store)}
    result = store.run("demo", "--sessions", "0", "--live", "--rate", "20", "--duration", "2s")
    assert result.exit_code == 0, result
    after = {r["session_id"]: r for r in _all(store)}
    added = sum(r["event_count"] for r in after.values())
    assert 20 <= added <= 45, added
    touched = [s for s in after if after[s]["last_activity"] > before[s]["last_activity"]]
    assert touched
    assert all(after[s]["event_count"] > 0 for s in touched)
