"""terminate, delete, state and touch on turul's sessions, once per backend (SQLite,
PostgreSQL, DynamoDB Local), and on GraphFlow's layout. Rows are written as the server writes
them (tests.server_writers) and read back raw (tests.surgery_raw): the tests check what the
store holds, not only what mcpstore prints."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from mcpstore_cli.util.timeutil import now_ms
from tests.conftest import StoreHandle
from tests.helpers import Result
from tests.surgery_raw import raw_event_count, raw_row

ROOT = Path(__file__).resolve().parents[1]
STATE = {
    "client_info": {"name": "claude-code", "version": "1.0.3"},
    "negotiated_version": "2025-06-18",
    "mcp:tool_fingerprint": "ab12cd34",
}


def sid() -> str:
    return uuid.uuid4().hex


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result
    return result


def seeded(store: StoreHandle, events: int = 3, **state: object) -> str:
    """A set-up store holding one session with ``events`` events, as the server wrote it."""
    store.setup()
    w = store.writer()
    session = sid()
    t = now_ms() - 60_000
    w.session(session, created_at=t - 1000, last_activity=t, state={**STATE, **state})
    for i in range(events):
        w.event(session, timestamp=t + i, event_type="notifications/message", data={"i": i})
    w.close()
    return session


def test_terminate_marks_the_row_as_the_server_does(store: StoreHandle) -> None:
    """state.terminated true and terminated_at now (ms), last_activity touched, PostgreSQL's
    version bumped, DynamoDB's ttl renewed; other keys kept; the row stays; a prefix works.
    Terminating again says so and changes nothing (exit 0)."""
    session = seeded(store)
    before = raw_row(store, session)
    assert before is not None
    t0 = now_ms()
    out = ok(store.run("terminate", session[:8], "--format", "jsonl")).jsonl()
    t1 = now_ms()
    assert out == [
        {
            "session_id": session,
            "action": "terminate",
            "ok": True,
            "changed": True,
            "outcome": "terminated",
            "detail": out[0]["detail"],
        }
    ]
    row = raw_row(store, session)
    assert row is not None
    assert row.state == {**STATE, "terminated": True, "terminated_at": row.state["terminated_at"]}
    assert t0 <= row.state["terminated_at"] <= t1
    assert t0 <= row.last_activity <= t1
    if store.backend == "postgres":
        assert row.version == (before.version or 0) + 1
    if store.backend == "dynamodb":
        assert abs(row.ttl - (t1 // 1000 + 30 * 60)) <= 2
    assert raw_event_count(store, session) == 3
    listed = ok(store.run("list", "--terminated", "--format", "jsonl")).jsonl()
    assert [s["session_id"] for s in listed] == [session]

    again = store.run("terminate", session, "--format", "table")
    assert again.exit_code == 0, again
    assert "already terminated" in again.stdout
    assert raw_row(store, session) == row


def test_state_get_set_unset(store: StoreHandle) -> None:
    """state prints the object; get one key; set parses JSON and writes it with
    last_activity (and PostgreSQL's version); a bare word is a usage error suggesting quotes;
    unset removes the key; a missing key: exit 1."""
    session = seeded(store)
    printed = ok(store.run("state", session[:6], "--format", "json")).json()
    assert printed == STATE
    got = ok(store.run("state", session, "get", "client_info", "--format", "jsonl"))
    assert json.loads(got.stdout) == STATE["client_info"]

    before = raw_row(store, session)
    assert before is not None
    t0 = now_ms()
    ok(store.run("state", session, "set", "limits", '{"rpm": 60, "tags": ["a", "b"]}'))
    row = raw_row(store, session)
    assert row is not None
    assert row.state == {**STATE, "limits": {"rpm": 60, "tags": ["a", "b"]}}
    assert row.last_activity >= t0
    if store.backend == "postgres":
        assert row.version == (before.version or 0) + 1
    if store.backend == "dynamodb":  # the server's set_session_state leaves ttl alone
        assert row.ttl == before.ttl

    bare = store.run("state", session, "set", "mode", "fast")
    assert bare.exit_code == 2, bare
    assert "'\"fast\"'" in bare.stderr and "\n" not in bare.stderr.strip()
    ok(store.run("state", session, "set", "mode", '"fast"'))
    assert json.loads(ok(store.run("state", session, "get", "mode")).stdout) == "fast"

    ok(store.run("state", session, "unset", "limits"))
    row = raw_row(store, session)
    assert row is not None and "limits" not in row.state and row.state["mode"] == "fast"
    again = ok(store.run("state", session, "unset", "limits", "--format", "jsonl")).jsonl()
    assert again[0]["changed"] is False and "was not set" in again[0]["outcome"]
    missing = store.run("state", session, "get", "limits")
    assert missing.exit_code == 1 and "no state key" in missing.stderr, missing


def test_touch_marks_sessions_active_now(store: StoreHandle) -> None:
    session = seeded(store, events=0)
    before = raw_row(store, session)
    assert before is not None
    t0 = now_ms()
    ok(store.run("touch", session))
    row = raw_row(store, session)
    assert row is not None and row.last_activity >= t0 and row.state == before.state
    if store.backend == "postgres":
        assert row.version == (before.version or 0) + 1
    if store.backend == "dynamodb":
        assert row.ttl is not None and row.ttl >= t0 // 1000 + 30 * 60
        ok(store.run("touch", session, "--session-ttl", "2h"))
        row = raw_row(store, session)
        assert row is not None and row.ttl is not None and row.ttl >= t0 // 1000 + 7200
    else:
        refused = store.run("touch", session, "--session-ttl", "2h")
        assert refused.exit_code == 2, refused


def test_several_ids_one_line_each_exit_1_if_any_failed(store: StoreHandle) -> None:
    a = seeded(store, events=0)
    w = store.writer()
    b = sid()
    w.session(b, created_at=now_ms(), last_activity=now_ms(), state={})
    w.close()
    result = store.run("terminate", a, "ffff0000", b[:10], a[:7], "--format", "table")
    assert result.exit_code == 1, result
    lines = result.stdout.splitlines()
    assert len(lines) == 3, lines  # a once, b, and the id that names nothing
    assert any(line.startswith("ffff0000: not found") for line in lines)
    assert f"{a}: terminated" in result.stdout and f"{b}: terminated" in result.stdout
    assert "1 of 3 sessions failed" in result.stderr
    for s in (a, b):
        row = raw_row(store, s)
        assert row is not None and row.state["terminated"] is True


def test_delete_asks_then_removes_the_session_and_its_events(store: StoreHandle) -> None:
    """Without a terminal and without --yes: exit 4, nothing changed. On a terminal it shows
    what goes and asks (default No); yes deletes the session and every event of it (DynamoDB:
    its items in the events table too); other sessions stay."""
    session = seeded(store, events=4)
    w = store.writer()
    other = sid()
    w.session(other, created_at=now_ms(), last_activity=now_ms(), state={})
    w.event(other, timestamp=now_ms(), event_type="notifications/message", data={})
    w.close()

    refused = store.run("delete", session)
    assert refused.exit_code == 4, refused
    assert raw_row(store, session) is not None and raw_event_count(store, session) == 4

    declined = store.run("delete", session[:9], keys="n")
    assert declined.exit_code == 4, declined
    assert f"{session}: 1 session, 4 events" in declined.stderr
    assert raw_row(store, session) is not None

    done = store.run("delete", session[:9], keys="y")
    assert done.exit_code == 0, done
    assert raw_row(store, session) is None
    assert raw_event_count(store, session) == 0
    assert raw_row(store, other) is not None and raw_event_count(store, other) == 1

    gone = store.run("delete", session, "--yes")
    assert gone.exit_code == 1, gone


def test_refusals_are_one_sentence(store: StoreHandle, tmp_path: Path) -> None:
    session = seeded(store, events=0)
    for args in (
        ["state", session, "frob"],
        ["state", session, "set", "k"],
        ["state", session, "get"],
        ["state", session, "unset", "k", "1"],
        ["state", session, "set", "k", "{nope"],
    ):
        result = store.run(*args)
        assert result.exit_code == 2, result
        assert result.stderr.count("\n") == 1, result


# -- races with a live server ----------------------------------------------------------------


def _mcpstore(store: StoreHandle, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **store.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "mcpstore_cli", *args, "--url", store.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_sqlite_state_change_waits_for_the_servers_write(sqlite_store: StoreHandle) -> None:
    """The server holds the write lock and changes state; mcpstore's set waits, then reads
    what the server wrote: both keys survive (no lost update)."""
    session = seeded(sqlite_store, events=0)
    conn = sqlite3.connect(sqlite_store.name, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "UPDATE sessions SET state = json_set(state, '$.server_key', 1) WHERE session_id = ?",
        (session,),
    )
    proc = _mcpstore(sqlite_store, "state", session, "set", "ops_key", "2")
    time.sleep(1.0)
    assert proc.poll() is None  # waiting for the lock
    conn.execute("COMMIT")
    conn.close()
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    row = raw_row(sqlite_store, session)
    assert row is not None and row.state["server_key"] == 1 and row.state["ops_key"] == 2


def test_postgres_terminate_keeps_a_concurrent_server_write(postgres_store: StoreHandle) -> None:
    """A server transaction changes the state and holds the row; terminate's one statement
    waits for it and applies on top of what it committed."""
    import asyncpg

    session = seeded(postgres_store, events=0)

    async def server_write(started: threading.Event, release: threading.Event) -> None:
        conn = await asyncpg.connect(postgres_store.url)
        try:
            tx = conn.transaction()
            await tx.start()
            await conn.execute(
                "UPDATE sessions SET state = state || '{\"server_key\": 1}', "
                "version = version + 1 WHERE session_id = $1",
                session,
            )
            started.set()
            while not release.is_set():
                await asyncio.sleep(0.05)
            await tx.commit()
        finally:
            await conn.close()

    started, release = threading.Event(), threading.Event()
    thread = threading.Thread(target=lambda: asyncio.run(server_write(started, release)))
    thread.start()
    try:
        assert started.wait(10)
        proc = _mcpstore(postgres_store, "terminate", session)
        time.sleep(1.0)
        assert proc.poll() is None  # waiting on the row lock
    finally:
        release.set()
        thread.join(10)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    row = raw_row(postgres_store, session)
    assert row is not None
    assert row.state["server_key"] == 1 and row.state["terminated"] is True
    assert row.version == 3  # written 1, the server's update 2, terminate 3


def test_dynamodb_expired_item_is_gone_and_never_brought_back(
    dynamodb_store: StoreHandle,
) -> None:
    """An item past its ttl counts as gone (DynamoDB has not removed it yet): touch and
    terminate say not found and write nothing."""
    dynamodb_store.setup()
    w = dynamodb_store.writer()
    session = sid()
    past = int(time.time()) - 5
    w.session(session, created_at=now_ms(), last_activity=now_ms(), state={}, ttl=past)
    w.close()
    for command in ("touch", "terminate"):
        result = dynamodb_store.run(command, session)
        assert result.exit_code == 1, result
    row = raw_row(dynamodb_store, session)
    assert row is None or row.ttl == past


def test_dynamodb_state_set_retries_when_the_server_wrote_between(
    dynamodb_store: StoreHandle,
) -> None:
    """The conditional write compares the state string read: a server write that lands in
    between makes it read again, so the server's key is kept."""
    from mcpstore_cli.backends.dynamodb import surgery
    from mcpstore_cli.layouts.turul_sessions.changes import state_edit
    from mcpstore_cli.store.base import StoreOptions
    from mcpstore_cli.store.registry import open_store
    from mcpstore_cli.store.urls import parse_store_url

    session = seeded(dynamodb_store, events=0)
    options = StoreOptions(environ={**os.environ, **dynamodb_store.environ})
    store = open_store(parse_store_url(dynamodb_store.url), options, layout="sessions")
    calls = [0]
    real = surgery._read

    def read_then_server_writes(st: object, session_id: str) -> object:
        found = real(st, session_id)  # type: ignore[arg-type]
        calls[0] += 1
        if calls[0] == 1:  # the server's set_session_state lands after this read
            w = dynamodb_store.writer()
            w.client.update_item(
                TableName=dynamodb_store.name,
                Key={"sessionId": {"S": session}},
                UpdateExpression="SET #s = :s",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":s": {"S": json.dumps({**STATE, "server_key": 1})}},
            )
            w.close()
        return found

    surgery._read = read_then_server_writes  # type: ignore[assignment]
    try:
        change = surgery.edit_state(
            store,  # type: ignore[arg-type]
            session,
            "set",
            state_edit(session, "ops_key", 2, unset=False),
            now_ms=now_ms(),
            ttl_s=None,
        )
    finally:
        surgery._read = real  # type: ignore[assignment]
        asyncio.run(store.close())
    assert change.ok and calls[0] == 2
    row = raw_row(dynamodb_store, session)
    assert row is not None and row.state["server_key"] == 1 and row.state["ops_key"] == 2


def test_delete_asks_in_a_real_terminal(sqlite_store: StoreHandle) -> None:
    """Through a pseudo-terminal (pexpect): the preview, the question (default No), then
    yes deletes; a plain Enter keeps the session."""
    pexpect = __import__("pytest").importorskip("pexpect")
    session = seeded(sqlite_store, events=2)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "NO_COLOR": "1"}

    def spawn() -> object:
        return pexpect.spawn(
            sys.executable,
            ["-m", "mcpstore_cli", "delete", session[:8], "--url", sqlite_store.url],
            env=env,
            encoding="utf-8",
            timeout=30,
            dimensions=(40, 120),
        )

    child = spawn()
    child.expect(f"{session}: 1 session, 2 events")
    child.expect("Delete 1 session")
    child.send("\r")  # the default: No
    child.expect("nothing was changed")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 4
    assert raw_row(sqlite_store, session) is not None

    child = spawn()
    child.expect("Delete 1 session")
    child.send("y")
    child.expect(f"{session}: deleted")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert raw_row(sqlite_store, session) is None and raw_event_count(sqlite_store, session) == 0


def test_json_records_stay_whole_when_a_delete_is_refused(sqlite_store: StoreHandle) -> None:
    import json as _json

    session = seeded(sqlite_store, events=0)
    refused = sqlite_store.run("delete", "zzzz", session, "--format", "json")
    assert refused.exit_code == 4, refused
    records = _json.loads(refused.stdout)  # a whole JSON array, closed
    assert [r["session_id"] for r in records] == ["zzzz"]


def test_ctrl_c_while_terminate_waits_changes_nothing(postgres_store: StoreHandle) -> None:
    """A server transaction holds the first session's row; terminate waits on it; SIGINT to
    the process: exit 130, the line says what was done (nothing), and once the server's
    transaction ends the row holds only what the server wrote."""
    import signal

    import asyncpg

    first = seeded(postgres_store, events=0)
    w = postgres_store.writer()
    second = sid()
    w.session(second, created_at=now_ms(), last_activity=now_ms(), state={})
    w.close()

    async def hold(started: threading.Event, release: threading.Event) -> None:
        conn = await asyncpg.connect(postgres_store.url)
        try:
            tx = conn.transaction()
            await tx.start()
            await conn.execute(
                "UPDATE sessions SET last_activity = last_activity WHERE session_id = $1", first
            )
            started.set()
            while not release.is_set():
                await asyncio.sleep(0.05)
            await tx.rollback()
        finally:
            await conn.close()

    started, release = threading.Event(), threading.Event()
    thread = threading.Thread(target=lambda: asyncio.run(hold(started, release)))
    thread.start()
    try:
        assert started.wait(10)
        proc = _mcpstore(postgres_store, "terminate", first, second)
        time.sleep(2.0)
        assert proc.poll() is None  # waiting on the row lock
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        release.set()
        thread.join(10)
    assert proc.returncode == 130, err
    assert "terminated 0 sessions" in err, err
    for session in (first, second):
        row = raw_row(postgres_store, session)
        assert row is not None and "terminated" not in row.state
