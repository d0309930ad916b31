"""``mcpstore top``: one reading (``--once``) equal to the rows written, on every backend;
the live screen through a real terminal (pexpect): it draws, refreshes when rows change,
pauses, sorts, quits on q (exit 0) and on Ctrl-C (exit 130), and outlives a PostgreSQL
restart. Read-only throughout."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from mcpstore_cli.util.timeutil import now_ms
from tests.conftest import StoreHandle
from tests.helpers import Result
from tests.test_metrics import snapshot

ROOT = Path(__file__).resolve().parents[1]
MIN = 60_000


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result
    return result


def fill(store: StoreHandle) -> dict[str, str]:
    """3 active sessions (2 arrived in the last minutes), 2 idle, 1 terminated; events."""
    store.setup()
    w = store.writer()
    now = now_ms()
    client = {"client_info": {"name": "claude-code", "version": "1"}}
    rows = [
        ("a1", now - 2 * MIN, now - MIN, {**client, "negotiated_version": "2025-06-18"}),
        ("a2", now - 3 * MIN, now - 2 * MIN, {**client, "negotiated_version": "2025-06-18"}),
        ("a3", now - 90 * MIN, now - 5 * MIN, {"client_info": {"name": "cursor"}}),
        ("i1", now - 200 * MIN, now - 40 * MIN, {}),
        ("i2", now - 300 * MIN, now - 100 * MIN, {}),
        ("t1", now - 20 * MIN, now - 4 * MIN, {"terminated": True, "terminated_at": now}),
    ]
    ids = {}
    for tag, created, last, state in rows:
        sid = ids[tag] = uuid.uuid4().hex
        w.session(sid, created_at=created, last_activity=last, state=state)
    for i in range(4):
        w.event(ids["a1"], timestamp=now - 10_000 + i, event_type="notifications/progress", data={})
    w.close()
    return ids


def test_once_reads_what_the_store_holds(store: StoreHandle) -> None:
    ids = fill(store)
    before = snapshot(store)
    got = ok(store.run("top", "--once", "-f", "json")).json()
    assert snapshot(store) == before
    assert got["sessions"] == 6
    assert got["statuses"] == {"active": 3, "idle": 2, "terminated": 1}
    assert got["events"] == 4
    if store.backend == "dynamodb":  # no bounded reading: every refresh reads it all
        assert "every figure" in got["estimates"]
        return
    assert got["estimates"] == {}
    assert sum(got["arrivals_per_minute"]) == 3  # a1, a2, t1 arrived in the last 30 minutes
    assert got["arrivals_per_minute"][-3] + got["arrivals_per_minute"][-4] >= 1
    assert sum(got["expiries_per_minute"]) == 1  # i1 passed the 30m timeout 10 minutes ago
    assert got["clients"][0] == ["claude-code", 2]
    assert ["2025-06-18", 2] in got["protocol_versions"]
    assert [e["session_id"] for e in got["newest_events"]] == [ids["a1"]] * 4
    assert got["events_per_second"] == pytest.approx(4 / 60)


def test_top_needs_a_terminal_without_once(sqlite_store: StoreHandle) -> None:
    sqlite_store.setup()
    result = sqlite_store.run("top")
    assert result.exit_code == 2 and "--once" in result.stderr, result


def _spawn(url: str, *args: str, environ: dict[str, str] | None = None) -> Any:
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, **(environ or {}), "PYTHONPATH": str(ROOT), "COLUMNS": "150"}
    return pexpect.spawn(
        sys.executable,
        ["-m", "mcpstore_cli", "top", "--url", url, "--interval", "300ms", *args],
        dimensions=(70, 150),
        encoding="utf-8",
        timeout=30,
        env=env,
    )


def test_live_screen_through_a_terminal(sqlite_store: StoreHandle) -> None:
    import pexpect

    fill(sqlite_store)
    before = snapshot(sqlite_store)
    child = _spawn(sqlite_store.url)
    try:
        child.expect("sessions 6")
        child.expect("q quit")
        now = now_ms()
        with sqlite3.connect(sqlite_store.name) as conn:
            conn.execute(
                "INSERT INTO sessions (session_id, client_capabilities, server_capabilities, "
                "state, created_at, last_activity, is_initialized, metadata) "
                "VALUES (?, '{}', '{}', '{}', ?, ?, 1, '{}')",
                (uuid.uuid4().hex, now, now),
            )
        child.expect("sessions 7")  # the next refresh shows the new row
        child.send("p")
        child.expect("PAUSED")
        child.send("p")
        child.send("s")
        child.expect("sort by count")
        child.send("q")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    after = snapshot(sqlite_store)
    assert len(after) == len(before) + 1  # only the row this test inserted

    child = _spawn(sqlite_store.url)
    try:
        child.expect("sessions 7")
        child.kill(signal.SIGTERM)  # as q: the terminal gets its mode back, exit 0
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert "\x1b[?1049l" in (child.before or "")  # the alternate screen was left

    child = _spawn(sqlite_store.url)
    try:
        child.expect("sessions 7")
        child.sendintr()  # Ctrl-C on the terminal: SIGINT to the process
        child.expect("interrupted; top only reads: nothing was changed")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 130


def test_live_screen_outlives_a_postgres_restart(
    postgres_store: StoreHandle, pg_server: Any
) -> None:
    import pexpect

    fill(postgres_store)
    child = _spawn(postgres_store.url)
    try:
        child.expect("sessions 6")
        pg_server.restart(down_for=1.5)
        child.expect("trying again")  # the lost connection is said on the screen
        w = postgres_store.writer()
        w.session(uuid.uuid4().hex, created_at=now_ms(), last_activity=now_ms(), state={})
        w.close()
        child.expect("sessions 7", timeout=30)  # read again on a new connection
        child.send("q")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_values_from_the_store_are_never_markup(sqlite_store: StoreHandle) -> None:
    """Client names, ids and event types are drawn as they are (a client picks its name)."""
    sqlite_store.setup()
    w = sqlite_store.writer()
    sid = "evil[/x]" + uuid.uuid4().hex[:8]
    w.session(
        sid,
        created_at=now_ms(),
        last_activity=now_ms(),
        state={"client_info": {"name": "[bold]boom[/nope]"}},
    )
    w.event(sid, timestamp=now_ms(), event_type="notifications/[red]x", data={})
    w.close()
    drawn = ok(sqlite_store.run("top", "--once", "-f", "table", width=160))
    assert "[bold]boom[/nope]" in drawn.stdout and "notifications/[red]x" in drawn.stdout
