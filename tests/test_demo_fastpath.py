"""The demo's fast path writes exactly what the plain path would.

Demo records carry their JSON columns pre-rendered so that the SQLite bulk load can skip
encoding; the text must be byte for byte what ``jsoncodec.dumps`` makes of the decoded values,
and what lands in the store must read back as the generated records.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from pathlib import Path

from mcpstore_cli.layouts.turul_sessions.demo import DemoEvent, DemoSession, generate, live_event
from mcpstore_cli.model.demo import DemoPlan
from mcpstore_cli.model.records import Event, Session
from mcpstore_cli.store import open_store
from mcpstore_cli.store.urls import parse_store_url
from mcpstore_cli.util.jsoncodec import dumps

NOW = 1_800_000_000_000
TIMEOUT = 30 * 60 * 1000


def _all(plan: DemoPlan) -> tuple[list[Session], list[Event]]:
    sessions: list[Session] = []
    events: list[Event] = []
    for batch_sessions, batch_events in generate(plan, NOW):
        sessions += batch_sessions
        events += batch_events
    return sessions, events


def test_prerendered_json_is_what_dumps_makes() -> None:
    sessions, events = _all(DemoPlan(sessions=3000, events_per_session=4, seed=11))
    assert all(isinstance(s, DemoSession) for s in sessions)
    assert all(isinstance(e, DemoEvent) for e in events)
    for s in sessions:
        assert isinstance(s, DemoSession)
        assert s.state_json == dumps(s.state)
        assert s.metadata_json == dumps(s.metadata)
        assert s.server_capabilities_json == dumps(s.server_capabilities)
        expected = None if s.client_capabilities is None else dumps(s.client_capabilities)
        assert s.client_capabilities_json == expected
    for e in events:
        assert isinstance(e, DemoEvent)
        assert dumps(e.data) == e.data_json  # decoded on demand, encodes back the same
        assert e.data["jsonrpc"] == "2.0" and e.data["method"] == e.event_type
    kinds = {e.event_type for e in events}
    assert kinds == {
        "notifications/progress",
        "notifications/message",
        "notifications/resources/updated",
        "notifications/tools/list_changed",
    }


def test_sessions_come_in_server_order_with_exact_shares() -> None:
    plan = DemoPlan(sessions=2000, events_per_session=3, seed=3)
    sessions, events = _all(plan)
    created = [s.created_at for s in sessions]
    assert created == sorted(created)  # as a server creates them
    statuses = [s.status(NOW, TIMEOUT) for s in sessions]
    assert statuses.count("terminated") == round(2000 * plan.terminated_share)
    uninitialized = round(2000 * plan.uninitialized_share)
    assert sum(not s.is_initialized for s in sessions) == uninitialized
    # Sessions that never initialized went quiet at once: they count as idle too.
    assert statuses.count("idle") == round(2000 * plan.idle_share) + uninitialized
    assert len(events) == 6000
    for s in sessions:
        assert s.created_at <= s.last_activity <= NOW
        if s.status(NOW, TIMEOUT) == "active":
            assert NOW - s.last_activity < TIMEOUT


def test_event_data_can_be_replaced() -> None:
    event = live_event(random.Random(1), "abc", NOW, 3)
    assert event.data["method"] == event.event_type
    event.data = {"jsonrpc": "2.0", "method": "x"}
    assert event.data == {"jsonrpc": "2.0", "method": "x"}


def test_sqlite_bulk_load_stores_the_generated_rows(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    plan = DemoPlan(sessions=1500, events_per_session=4, seed=8, batch_rows=1000)
    sessions, events = _all(plan)

    async def load() -> tuple[int, int]:
        store = open_store(parse_store_url(f"sqlite:///{path}"))
        async with store:
            await store.setup()

            async def batches():  # type: ignore[no-untyped-def]
                for batch in generate(plan, NOW):
                    yield batch

            return await store.write_demo(batches())

    assert asyncio.run(load()) == (1500, 6000)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # The bulk load's speed settings lived on its own connection only.
        assert conn.execute("PRAGMA synchronous").fetchone()[0] != 0
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT session_id, client_capabilities, server_capabilities, state, "
                "created_at, last_activity, is_initialized, metadata FROM sessions"
            )
        }
        stored_events = conn.execute(
            "SELECT session_id, timestamp, event_type, data, retry FROM events ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    assert len(rows) == 1500
    for s in sessions:
        caps, server, state, created, last, init, meta = rows[s.session_id]
        assert caps == (None if s.client_capabilities is None else dumps(s.client_capabilities))
        assert json.loads(server) == s.server_capabilities
        assert json.loads(state) == s.state and state == dumps(s.state)
        assert (created, last, bool(init)) == (s.created_at, s.last_activity, s.is_initialized)
        assert json.loads(meta) == s.metadata
    assert [(e.session_id, e.timestamp, e.event_type, dumps(e.data), e.retry) for e in events] == [
        tuple(row) for row in stored_events
    ]
