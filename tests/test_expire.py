"""expire on every backend: semantics, safety against a live server, pacing, cron output."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from mcpstore_cli.store import open_store
from mcpstore_cli.store.urls import parse_store_url
from mcpstore_cli.util.timeutil import now_ms
from tests.conftest import StoreHandle

MIN = 60_000


def _seed(store: StoreHandle, rows: list[tuple[str, int, dict, int]]) -> None:
    """Sessions as (id, minutes since last activity, state, events), written as the server."""
    writer = store.writer()
    now = now_ms()
    try:
        for sid, idle_min, state, events in rows:
            last = now - idle_min * MIN
            writer.session(
                sid,
                created_at=last - 5 * MIN,
                last_activity=last,
                state=state,
                server_capabilities={"tools": {}},
            )
            for i in range(events):
                writer.event(
                    sid,
                    timestamp=last - events + i,
                    event_type="notifications/message",
                    data={"i": i},
                )
    finally:
        writer.close()


def _ids(store: StoreHandle) -> set[str]:
    result = store.run("list", "--limit", "0", "--format", "jsonl")
    assert result.exit_code == 0, result
    return {r["session_id"] for r in result.jsonl()}


def _expire(store: StoreHandle, *args: str) -> dict:
    result = store.run("expire", "--format", "json", *args)
    assert result.exit_code == 0, result
    return result.json()


def test_idle_sessions_go_with_their_events(store: StoreHandle) -> None:
    store.setup()
    _seed(
        store,
        [("idle1", 45, {}, 3), ("idle2", 600, {}, 0), ("fresh", 5, {}, 2), ("edge", 29, {}, 1)],
    )
    preview = _expire(store, "--dry-run")
    assert (preview["sessions"], preview["events"], preview["dry_run"]) == (2, 3, True)
    assert set(preview["sample"]) == {"idle1", "idle2"}
    assert _ids(store) == {"idle1", "idle2", "fresh", "edge"}, "dry run changed nothing"
    done = _expire(store)
    assert (done["sessions"], done["events"], done["partial"]) == (2, 3, False)
    assert _ids(store) == {"fresh", "edge"}
    stats = store.run("stats", "--format", "json").json()
    assert stats["events"]["total"] == 3 and stats["events"]["orphaned"] == 0
    assert _expire(store)["sessions"] == 0, "a second run finds nothing"
    assert _expire(store, "--idle", "10m")["sessions"] == 1
    assert _ids(store) == {"fresh"}


def test_terminated_sessions_with_grace(store: StoreHandle) -> None:
    store.setup()
    now = now_ms()
    _seed(
        store,
        [
            ("ended-long-ago", 2, {"terminated": True, "terminated_at": now - 20 * MIN}, 2),
            ("ended-just-now", 1, {"terminated": True, "terminated_at": now - 1000}, 1),
            ("ended-no-time", 15, {"terminated": True}, 0),
            ("live", 1, {"terminated": False}, 1),
        ],
    )
    assert _expire(store)["sessions"] == 0, "without --terminated ended sessions stay"
    graced = _expire(store, "--terminated", "--terminated-grace", "10m")
    assert (graced["sessions"], graced["events"]) == (2, 2)
    assert _ids(store) == {"ended-just-now", "live"}
    assert _expire(store, "--terminated")["sessions"] == 1
    assert _ids(store) == {"live"}


def test_trim_and_orphans(store: StoreHandle) -> None:
    store.setup()
    _seed(store, [("many", 1, {}, 12), ("few", 1, {}, 2), ("gone", 1, {}, 4)])
    writer = store.writer()
    try:
        writer.delete_session_raw("gone")
    finally:
        writer.close()
    preview = _expire(store, "--dry-run", "--max-events-per-session", "5")
    assert (preview["orphans"], preview["trimmed"]) == (4, 7)
    done = _expire(store, "--max-events-per-session", "5")
    assert (done["sessions"], done["orphans"], done["trimmed"]) == (0, 4, 7)
    shown = store.run("show", "many", "--events", "20", "--format", "json").json()
    assert shown["event_count"] == 5
    # The newest five stay.
    assert [e["data"]["i"] for e in shown["events"]] == [7, 8, 9, 10, 11]
    stats = store.run("stats", "--format", "json").json()
    assert stats["events"]["orphaned"] == 0 and stats["events"]["total"] == 7


def test_live_server_never_loses_an_active_session(store: StoreHandle) -> None:
    """A writer touches idle sessions while expire runs: none it revived may disappear."""
    store.setup()
    total = 3000
    _seed(store, [(f"s{i:05d}", 120, {}, 1 if i % 4 == 0 else 0) for i in range(total)])
    order = [f"s{i:05d}" for i in range(total)]
    random.Random(1).shuffle(order)
    touches: list[tuple[float, str, bool]] = []
    expiring = threading.Event()
    finished = threading.Event()

    def server() -> None:
        writer = store.writer()
        try:
            expiring.wait()
            for sid in order[:2000]:
                if finished.is_set():
                    break
                touches.append((time.monotonic(), sid, writer.touch(sid, now_ms())))
        finally:
            writer.close()

    thread = threading.Thread(target=server)
    thread.start()
    started = time.monotonic()
    expiring.set()
    # Rate-limited so that the run overlaps well over a thousand of the server's touches.
    result = store.run("expire", "--batch-size", "25", "--rate", "600", "--format", "json")
    ended = time.monotonic()
    finished.set()
    thread.join()
    assert result.exit_code == 0, result
    summary = result.json()
    left = _ids(store)
    revived = [sid for _, sid, ok in touches if ok]
    lost = [sid for sid in revived if sid not in left]
    assert lost == [], f"{len(lost)} sessions lost after the server touched them"
    during = [sid for at, sid, ok in touches if ok and started <= at <= ended]
    assert len(during) >= 1000, (len(during), len(touches))
    assert summary["sessions"] + len(left) == total
    assert left == set(revived), "everything not revived was expired"


def test_time_budget_and_rate_stop_cleanly(store: StoreHandle) -> None:
    store.setup()
    _seed(store, [(f"t{i:04d}", 90, {}, 0) for i in range(300)])
    started = time.monotonic()
    result = store.run(
        "expire", "--rate", "100", "--batch-size", "50", "--time-budget", "1s", "--format", "json"
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 5, result
    summary = result.json()
    assert summary["partial"] is True
    assert 50 <= summary["sessions"] <= 200, summary
    assert summary["remaining"]["sessions"] == 300 - summary["sessions"]
    assert "time budget" in result.stderr
    assert elapsed < 20
    finish = store.run("expire", "--format", "json")
    assert finish.exit_code == 0 and finish.json()["sessions"] == summary["remaining"]["sessions"]


def test_a_second_run_exits_at_once(store: StoreHandle) -> None:
    store.setup()
    _seed(store, [("x", 90, {}, 0)])
    handle = open_store(parse_store_url(store.url))
    lock = getattr(handle, "expire_lock", None)
    if lock is None:
        pytest.skip(f"{store.backend} runs overlapping expires without a lock (documented)")

    locked, release = threading.Event(), threading.Event()

    def holder() -> None:
        async def hold() -> None:
            async with handle, lock():
                locked.set()
                while not release.is_set():
                    await asyncio.sleep(0.02)

        asyncio.run(hold())

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert locked.wait(30)
        result = store.run("expire")
    finally:
        release.set()
        thread.join()
    assert result.exit_code == 5, result
    assert "Another mcpstore expire is running" in result.stderr
    assert _ids(store) == {"x"}, "the refused run changed nothing"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--idle", "0"], "longer than zero"),
        (["--idle", "0m"], "longer than zero"),
        (["--idle", "-5m"], "positive"),
        (["--batch-size", "0"], "--batch-size"),
        (["--segment", "3/2"], "below N"),
        (["--segment", "x"], "is not I/N"),
        (["--rate", "0"], "--rate"),
        (["--time-budget", "soon"], "not a duration"),
        (["--max-events-per-session", "0"], "1 or more"),
        (["--terminated-grace", "5m"], "goes with --terminated"),
    ],
)
def test_bad_input(sqlite_store: StoreHandle, args: list[str], fragment: str) -> None:
    sqlite_store.setup()
    result = sqlite_store.run("expire", *args)
    assert result.exit_code == 2, result
    assert fragment in result.stderr and result.stderr.count("\n") == 1


def test_segment_is_for_dynamodb_only(sqlite_store: StoreHandle) -> None:
    sqlite_store.setup()
    result = sqlite_store.run("expire", "--segment", "0/2")
    assert result.exit_code == 2 and "applies to dynamodb stores" in result.stderr


def test_cron_output(sqlite_store: StoreHandle) -> None:
    sqlite_store.setup()
    _seed(sqlite_store, [("old", 90, {}, 2)])
    quiet = sqlite_store.run("expire", "--quiet")
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    assert _ids(sqlite_store) == set()
    missing = StoreHandle("sqlite", sqlite_store.url + ".none", sqlite_store.writer_factory, "x")
    gone = missing.run("expire", "--quiet")
    assert gone.exit_code == 3 and gone.stderr.count("\n") == 1
