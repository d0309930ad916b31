"""``mcpstore metrics``: Prometheus text built by prometheus_client, checked by promtool,
figures equal to what the store holds (rows written as the servers write them), never a
change to the store, and ``-o FILE`` written atomically for node_exporter's textfile
collector. Every backend and layout it applies to."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from mcpstore_cli.util.timeutil import now_ms
from tests.conftest import StoreHandle, unavailable
from tests.helpers import Result, run_cli

MIN = 60_000


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result
    return result


def promtool_check(text: str) -> None:
    tool = shutil.which("promtool")
    if tool is None:
        unavailable("promtool is not installed (Debian package prometheus)")
    assert tool is not None
    done = subprocess.run(
        [tool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, (done.stdout, done.stderr, text)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by (name, labels other than backend/layout/store)."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = tuple(
                sorted(
                    (k, v) for k, v in s.labels.items() if k not in ("backend", "layout", "store")
                )
            )
            out[(s.name, labels)] = s.value
    return out


def snapshot(store: StoreHandle) -> Any:
    """Everything the store holds, raw, for before/after comparisons."""
    if store.backend == "sqlite":
        with sqlite3.connect(store.name) as conn:
            return list(conn.iterdump())
    if store.backend == "postgres":
        from tests.surgery_raw import _pg

        return [
            [tuple(r) for r in _pg(store.url, f"SELECT * FROM {t} ORDER BY 1, 2")]
            for t in ("sessions", "events")
        ]
    from tests.surgery_raw import _dynamo

    c = _dynamo(store)
    try:
        out = []
        for table in (store.name, f"{store.name}-events"):
            items = c.scan(TableName=table, ConsistentRead=True)["Items"]
            out.append(sorted(json.dumps(i, sort_keys=True) for i in items))
        return out
    finally:
        c.close()


def test_session_figures_on_every_backend(store: StoreHandle) -> None:
    """2 active (one never initialized), 3 idle, 1 terminated recently, 1 terminated long
    ago; 5 events. The figures say so, promtool accepts the text, and the store is
    byte-for-byte what it was (nothing read renews a session)."""
    store.setup()
    w = store.writer()
    now = now_ms()
    rows = [
        ("a1", now - MIN, {}, True),
        ("a2", now - 2 * MIN, {}, False),
        ("i1", now - 40 * MIN, {}, True),
        ("i2", now - 90 * MIN, {}, True),
        ("i3", now - 300 * MIN, {}, True),
        ("t1", now - 5 * MIN, {"terminated": True, "terminated_at": now - 5 * MIN}, True),
        ("t2", now - 600 * MIN, {"terminated": True, "terminated_at": now - 600 * MIN}, True),
    ]
    ids = {}
    for tag, last, state, init in rows:
        sid = ids[tag] = uuid.uuid4().hex
        w.session(sid, created_at=last - MIN, last_activity=last, state=state, is_initialized=init)
    for i in range(5):
        w.event(ids["a1"], timestamp=now - MIN + i, event_type="notifications/message", data={})
    w.close()
    before = snapshot(store)
    text = ok(store.run("metrics")).stdout
    assert snapshot(store) == before
    promtool_check(text)
    got = samples(text)
    assert got[("mcpstore_sessions", (("status", "active"),))] == 2
    assert got[("mcpstore_sessions", (("status", "idle"),))] == 3
    assert got[("mcpstore_sessions", (("status", "terminated"),))] == 2
    assert got[("mcpstore_sessions_uninitialized", ())] == 1
    assert got[("mcpstore_sessions_expired_present", ())] == 4  # i1-i3 and t2, past 30m
    assert got[("mcpstore_events", ())] == 5
    assert 600 * 60 - 5 <= got[("mcpstore_oldest_idle_seconds", ())] <= 600 * 60 + 60
    assert got[("mcpstore_store_size_bytes", ())] > 0
    assert got[("mcpstore_figures_duration_seconds", ())] > 0
    assert f'store="{Path(store.name).stem}"' in text or f'store="{store.name}"' in text
    # --timeout moves the line between active and idle
    wide = samples(ok(store.run("metrics", "--timeout", "2h")).stdout)
    assert wide[("mcpstore_sessions", (("status", "idle"),))] == 1


def test_output_file_is_atomic_readable_and_replaced_only_when_ours(
    sqlite_store: StoreHandle, tmp_path: Path
) -> None:
    sqlite_store.setup()
    target = tmp_path / "textfile" / "mcpstore.prom"
    target.parent.mkdir()
    done = ok(sqlite_store.run("metrics", "-o", str(target)))
    assert done.stdout == "" and "wrote" in done.stderr
    first = target.read_text()
    promtool_check(first)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    inode = target.stat().st_ino
    time.sleep(0.01)
    ok(sqlite_store.run("metrics", "-o", str(target)))  # an earlier run's file: replaced
    assert target.stat().st_ino != inode  # a new file renamed into place, not rewritten
    assert sorted(p.name for p in target.parent.iterdir()) == ["mcpstore.prom"]

    other = tmp_path / "textfile" / "node.prom"
    other.write_text("node_thing 1\n")
    refused = sqlite_store.run("metrics", "-o", str(other))
    assert refused.exit_code == 2 and "--force" in refused.stderr, refused
    assert other.read_text() == "node_thing 1\n"
    ok(sqlite_store.run("metrics", "-o", str(other), "--force"))
    assert other.read_text().startswith("# HELP mcpstore_")

    own = sqlite_store.run("metrics", "-o", sqlite_store.name, "--force")
    assert own.exit_code == 2, own
    assert Path(sqlite_store.name).read_bytes()[:16] == b"SQLite format 3\x00"


def test_task_layouts_count_tasks_by_status(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tasks.db'}"
    for layout in ("tasks", "ext-tasks"):
        ok(run_cli(["demo", "--layout", layout, "--url", url, "-s", "40"]))
        figures = ok(run_cli(["tasks", "stats", "--url", url, "--layout", layout, "-f", "json"]))
        want = figures.json()
        text = ok(run_cli(["metrics", "--url", url, "--layout", layout])).stdout
        promtool_check(text)
        got = samples(text)
        by_status = {
            dict(labels)["status"]: v
            for (name, labels), v in got.items()
            if name == "mcpstore_tasks"
        }
        assert sum(by_status.values()) == want["tasks"] > 0
        for status, n in (want.get("by_status") or {}).items():
            assert by_status[status] == n
        assert got[("mcpstore_tasks_stuck", ())] == want["stuck"]


def test_graphflow_and_server_state(pg_server: Any, tmp_path: Path) -> None:
    name = pg_server.create_database()
    try:
        url = pg_server.url(name)
        ok(run_cli(["demo", "--layout", "graphflow", "--url", url, "-s", "12"]))
        text = ok(run_cli(["metrics", "--url", url])).stdout  # the layout is detected
        promtool_check(text)
        got = samples(text)
        assert sum(v for (n, _l), v in got.items() if n == "mcpstore_sessions") == 12
        assert 'layout="graphflow"' in text
    finally:
        pg_server.drop_database(name)
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    ok(run_cli(["demo", "--layout", "server-state", "--url", state_url]))
    text = ok(run_cli(["metrics", "--url", state_url, "--layout", "server-state"])).stdout
    promtool_check(text)
    got = samples(text)
    want = ok(
        run_cli(["stats", "--url", state_url, "--layout", "server-state", "-f", "json"])
    ).json()
    assert got[("mcpstore_entities", (("state", "active"),))] == want["active"]
    assert sum(v for (n, _l), v in got.items() if n == "mcpstore_entities") == want["entities"]


def test_fastmcp_entries_by_collection(fastmcp_store: Any) -> None:
    """Entries as py-key-value writes them (raw puts): live ones by collection, the expired
    one that PostgreSQL still holds, other collections counted (never read)."""
    from datetime import timedelta

    from tests.fastmcp_raw import RawKV, new_event_id, now
    from tests.test_fastmcp_layout import LAYOUT

    ok(fastmcp_store.run("setup", *LAYOUT[fastmcp_store.backend]))
    raw = RawKV(fastmcp_store)
    scope = uuid.uuid4().hex
    stream = f"32:{scope}:1"
    events = [new_event_id() for _ in range(3)]
    for eid in events:
        raw.put(
            "fastmcp_events",
            eid,
            {"event_id": eid, "stream_id": stream, "message": None},
            ttl=3600,
        )
    raw.put("fastmcp_streams", stream, {"event_ids": events}, ttl=3600)
    sid = uuid.uuid4().hex
    raw.put("fastmcp_state", f"{sid}:color", {"value": "teal"}, ttl=86400)
    raw.put("mcp-upstream-tokens", "client-1", {"token": "tok_secret"}, ttl=None)
    if fastmcp_store.backend == "postgres":
        raw.put(
            "fastmcp_state", f"{sid}:old", {"value": 1}, ttl=60, created=now() - timedelta(hours=1)
        )
    before = sorted((e.collection, e.key, json.dumps(e.value)) for e in fastmcp_store.entries())
    text = ok(fastmcp_store.run("metrics", *LAYOUT[fastmcp_store.backend])).stdout
    after = sorted((e.collection, e.key, json.dumps(e.value)) for e in fastmcp_store.entries())
    assert after == before
    promtool_check(text)
    assert "tok_secret" not in text
    got = samples(text)
    entries = {
        dict(labels)["collection"]: v
        for (name, labels), v in got.items()
        if name == "mcpstore_fastmcp_entries"
    }
    assert entries == {"fastmcp_events": 3, "fastmcp_streams": 1, "fastmcp_state": 1}
    expired = got[("mcpstore_fastmcp_entries_expired_present", (("collection", "fastmcp_state"),))]
    assert expired == (1 if fastmcp_store.backend == "postgres" else 0)
    assert got[("mcpstore_other_entries", (("collection", "mcp-upstream-tokens"),))] == 1
    assert got[("mcpstore_sessions", (("status", "events"),))] == 1
    assert got[("mcpstore_sessions", (("status", "state"),))] == 1


def test_the_light_postgres_reader_agrees_with_the_store(
    postgres_store: StoreHandle, pg_server: Any
) -> None:
    """``metrics`` and ``top`` on PostgreSQL start without SQLAlchemy (backends/postgres/
    figures.py): its copy of the layout's identifying columns is the layout's, and its
    figures are the full store's, on rows that are odd as well as plain."""
    import asyncio

    from mcpstore_cli.backends.postgres import figures, layout
    from mcpstore_cli.backends.postgres.store import PostgresStore
    from mcpstore_cli.store.base import StoreOptions
    from mcpstore_cli.store.registry import open_figures, store_class
    from mcpstore_cli.store.urls import parse_store_url

    assert {t: set(c) for t, c in figures.SESSIONS_REQUIRED.items()} == layout.REQUIRED
    store = postgres_store
    store.setup()
    w = store.writer()
    now = now_ms()
    for i, state in enumerate(
        [{}, {"terminated": True}, {"terminated": "true"}, {"terminated": False}, {"x": [1]}]
    ):
        for j in range(3):
            w.session(
                uuid.uuid4().hex,
                created_at=now - i * 20 * MIN,
                last_activity=now - (i * 17 + j) * MIN,
                state=state,
                is_initialized=bool(j),
            )
    w.close()
    from tests.surgery_raw import _pg

    _pg(
        store.url,
        "UPDATE sessions SET state = '[1, 2]' WHERE session_id IN "
        "(SELECT session_id FROM sessions LIMIT 1)",
    )

    async def both() -> tuple[Any, Any, Any]:
        url = parse_store_url(store.url)
        light = open_figures(url, StoreOptions(read_only=True), layout=None)
        assert isinstance(light, figures.PostgresFigures)
        full = PostgresStore(url, StoreOptions(read_only=True))
        try:
            a = await light.metric_figures(now_ms=now, timeout_ms=30 * MIN)
            b = await full.metric_figures(now_ms=now, timeout_ms=30 * MIN)
            snap = await light.top_snapshot(now_ms=now, timeout_ms=30 * MIN)
        finally:
            await light.close()
            await full.close()
        return a, b, snap

    light_figures, full_figures, snap = asyncio.run(both())
    assert light_figures.samples == full_figures.samples
    assert snap.total == 15 and snap.statuses["terminated"] == 3
    assert store_class("postgres", "sessions") is PostgresStore

    empty = pg_server.create_database()
    try:
        result = run_cli(["metrics", "--url", pg_server.url(empty)])
        stats = run_cli(["stats", "--url", pg_server.url(empty)])
        assert result.exit_code == stats.exit_code == 3, result
        assert result.stderr == stats.stderr
    finally:
        pg_server.drop_database(empty)
