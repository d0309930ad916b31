"""tail-events on every backend, with events stored by a separate process as a server does."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StoreHandle

ROOT = Path(__file__).resolve().parent.parent


def sid() -> str:
    return uuid.uuid4().hex


def child_env(handle: StoreHandle) -> dict[str, str]:
    return {**os.environ, **handle.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


class Proc:
    """A child process whose stdout lines are collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            cwd=str(ROOT),
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.err_text = ""
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()
        self._e = threading.Thread(target=self._pump_err, daemon=True)
        self._e.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        self.err_text = self.proc.stderr.read()

    def read(self, n: int, timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        got: list[str] = []
        while len(got) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                got.append(self.lines.get(timeout=left))
            except queue.Empty:
                break
        self.seen += got
        return got

    def wait(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout=timeout)
        self._t.join(5)
        self._e.join(5)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def stderr(self) -> str:
        return self.err_text


def spawn_tail(handle: StoreHandle, *args: str) -> Proc:
    return Proc(
        [sys.executable, "-m", "mcpstore_cli", "tail-events", "--url", handle.url, *args],
        child_env(handle),
    )


def spawn_writer(handle: StoreHandle, *args: str) -> Proc:
    return Proc(
        [sys.executable, "-m", "tests.tail_writer", "--url", handle.url, *args],
        child_env(handle),
    )


def seqs(lines: list[str]) -> list[int]:
    return [json.loads(line)["data"]["params"]["seq"] for line in lines]


def seed(handle: StoreHandle) -> tuple[str, str, list[int], int]:
    """Sessions A and B with events as the server writes them; returns A, B, A's ids, B's id."""
    a, b = "a" + sid()[1:], "b" + sid()[1:]
    w = handle.writer()
    now = int(time.time() * 1000)
    try:
        for s in (a, b):
            w.session(s, created_at=now - 5000, last_activity=now, server_capabilities={})
        ids = [
            w.event(
                a,
                timestamp=now - 3000,
                event_type="notifications/progress",
                # Keys in an order every store keeps (JSONB orders keys by length, then bytes).
                data={"method": "m", "params": {"note": "é ü", "progress": 1}},
                retry=3000,
            ),
            w.event(a, timestamp=now - 2000, event_type="ping", data={}),
        ]
        b_id = w.event(b, timestamp=now - 1500, event_type="notifications/message", data=[1, 2])
        ids.append(w.event(a, timestamp=now - 1000, event_type="keepalive", data=None))
        ids.append(
            w.event(a, timestamp=now - 500, event_type="notifications/message", data={"x": "y"})
        )
    finally:
        w.close()
    return a, b, ids, b_id


def test_no_follow_prints_what_is_stored(store: StoreHandle) -> None:
    store.setup()
    a, b, ids, b_id = seed(store)
    everything = store.run("tail-events", "--no-follow")
    assert everything.exit_code == 0, everything
    rows = everything.jsonl()  # jsonl: the default when stdout is not a terminal
    assert sorted((r["session_id"], r["id"]) for r in rows) == sorted(
        [(a, i) for i in ids] + [(b, b_id)]
    )
    mine = store.run("tail-events", "--no-follow", "--session", a, "-f", "jsonl").jsonl()
    assert [r["id"] for r in mine] == ids
    assert mine[0] == {
        "session_id": a,
        "id": ids[0],
        "timestamp": mine[0]["timestamp"],
        "event_type": "notifications/progress",
        "data": {"method": "m", "params": {"note": "é ü", "progress": 1}},
        "retry": 3000,
    }
    counted = store.run("tail-events", "--no-follow", "--session", a, "--count", "2")
    assert [r["id"] for r in counted.jsonl()] == ids[:2]
    after = store.run("tail-events", "--no-follow", "--session", a, "--after", str(ids[1]))
    assert [r["id"] for r in after.jsonl()] == ids[2:]
    since = store.run("tail-events", "--no-follow", "--session", a, "--since", "1h")
    assert [r["id"] for r in since.jsonl()] == ids
    recent = store.run("tail-events", "--no-follow", "--since", "1200ms")
    assert {(r["session_id"], r["id"]) for r in recent.jsonl()} <= {(a, ids[2]), (a, ids[3])}


def test_sse_is_the_servers_wire_form(store: StoreHandle) -> None:
    store.setup()
    a, _b, ids, _ = seed(store)
    result = store.run("tail-events", "--no-follow", "--session", a, "--format", "sse")
    assert result.exit_code == 0, result
    expected = (
        f"id: {ids[0]}\nevent: message\n"
        'data: {"method":"m","params":{"note":"é ü","progress":1}}\nretry: 3000\n\n'
        ": keepalive\n\n"
        ": keepalive\n\n"
        f'id: {ids[3]}\nevent: message\ndata: {{"x":"y"}}\n\n'
    )
    assert result.stdout == expected


def test_pretty_lines(store: StoreHandle) -> None:
    store.setup()
    a, _b, ids, _ = seed(store)
    result = store.run("tail-events", "--no-follow", "--session", a, tty=True, width=200)
    assert result.exit_code == 0, result
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert a[:8] in lines[0] and f"#{ids[0]}" in lines[0]
    assert "notifications/progress" in lines[0] and "retry 3000 ms" in lines[0]
    assert '{"method":"m","params":{"note":"é ü","progress":1}}' in _plain(lines[0])


def _plain(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_follow_from_the_end_with_a_separate_writer(store: StoreHandle) -> None:
    store.setup()
    a, _b, _ids, _ = seed(store)
    tail = spawn_tail(store, "--count", "6", "--format", "jsonl")
    writer = spawn_writer(store, "--session", a, "--count", "60", "--interval", "0.1")
    try:
        lines = tail.read(6, timeout=60)
        assert tail.wait(30) == 0, tail.stderr
    finally:
        tail.stop()
        writer.stop()
    got = seqs(lines)
    assert len(got) == 6, (lines, tail.stderr)
    # Started at the end: none of the seeded events, then every event in order, none missed.
    assert got == list(range(got[0], got[0] + 6)), got


def test_follow_one_session_after_an_id(store: StoreHandle) -> None:
    store.setup()
    a, b, ids, _ = seed(store)
    tail = spawn_tail(store, "--session", a, "--after", str(ids[1]), "--count", "12")
    writer = spawn_writer(
        store, "--session", a, "--session", b, "--count", "20", "--interval", "0.03"
    )
    try:
        lines = tail.read(12, timeout=60)
        assert tail.wait(30) == 0, tail.stderr
        writer.wait(60)
    finally:
        tail.stop()
        writer.stop()
    rows = [json.loads(line) for line in lines]
    assert [r["session_id"] for r in rows] == [a] * 12
    assert [r["id"] for r in rows[:2]] == ids[2:]
    # The writer alternates A and B: A gets the even seqs.
    assert seqs(lines[2:]) == list(range(0, 20, 2)), tail.stderr
    written = {int(w.split()[0]): int(w.split()[1]) for w in writer.seen}
    assert [r["id"] for r in rows[2:]] == [written[s] for s in range(0, 20, 2)]


def test_since_prints_history_then_follows(store: StoreHandle) -> None:
    store.setup()
    a, b, ids, b_id = seed(store)
    tail = spawn_tail(store, "--since", "1h", "--count", "8")
    writer = spawn_writer(
        store, "--session", sid(), "--create-session", "--count", "40", "--interval", "0.1"
    )
    try:
        lines = tail.read(8, timeout=60)
        assert tail.wait(30) == 0, tail.stderr
    finally:
        tail.stop()
        writer.stop()
    rows = [json.loads(line) for line in lines]
    seeded = [r for r in rows if "seq" not in str(r["data"])]
    assert sorted((r["session_id"], r["id"]) for r in seeded) == sorted(
        [(a, i) for i in ids] + [(b, b_id)]
    )
    # Whether a written event came from history or live, none is missed or repeated.
    assert seqs([line for line in lines if '"seq"' in line]) == [0, 1, 2]


def test_interrupt_exits_130(store: StoreHandle) -> None:
    store.setup()
    a = sid()
    tail = spawn_tail(store)
    writer = spawn_writer(
        store, "--session", a, "--create-session", "--count", "200", "--interval", "0.1"
    )
    try:
        assert len(tail.read(1, timeout=60)) == 1, tail.stderr  # following, in its loop
        tail.proc.send_signal(signal.SIGINT)
        assert tail.wait(20) == 130
    finally:
        tail.stop()
        writer.stop()
    assert "Traceback" not in tail.stderr
    assert re.search(
        r"^mcpstore: interrupted; printed \d+ events?; nothing was changed\.$",
        tail.stderr.strip().splitlines()[-1],
    ), tail.stderr


@pytest.mark.parametrize("follow", [False, True])
def test_closed_pipe_exits_quietly(sqlite_store: StoreHandle, follow: bool) -> None:
    store = sqlite_store
    store.setup()
    a = sid()
    writer = spawn_writer(
        store, "--session", a, "--create-session", "--count", "300", "--interval", "0"
    )
    writer.wait(60)
    args = ["--no-follow"] if not follow else ["--after", "0"]
    command = (
        f"{sys.executable} -m mcpstore_cli tail-events --url {store.url} {' '.join(args)} "
        "| head -5; echo status=${PIPESTATUS[0]}"
    )
    if follow:
        # head leaves after 5 lines; the tail notices at its next write.
        later = spawn_writer(store, "--session", a, "--count", "40", "--interval", "0.05")
    result = subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        env=child_env(store),
        timeout=60,
    )
    if follow:
        later.wait(60)
    assert result.stdout.count("\n") == 6, result
    assert result.stdout.endswith("status=0\n"), result
    assert result.stderr == "", result


def test_usage_errors(store: StoreHandle) -> None:
    missing = store.run("tail-events", "--no-follow")
    assert missing.exit_code == 3, missing
    both = store.run("tail-events", "--after", "1", "--since", "1h")
    assert both.exit_code == 2 and "exclude" in both.stderr
    zero = store.run("tail-events", "--count", "0")
    assert zero.exit_code == 2
    bad = store.run("tail-events", "--session", "bad id")
    assert bad.exit_code == 2
    if store.backend == "dynamodb":
        store.setup()
        no_session = store.run("tail-events", "--after", "3")
        assert no_session.exit_code == 2 and "per session" in no_session.stderr


# -- PostgreSQL: the trigger, late commits and a restarted server ---------------------------
def test_setup_notify_installs_the_trigger(postgres_store: StoreHandle, pg_server: Any) -> None:
    store = postgres_store
    plan = store.run("setup", "--notify", "--dry-run")
    assert "CREATE OR REPLACE FUNCTION mcpstore_notify_event()" in plan.stdout
    assert "CREATE TRIGGER mcpstore_events_notify AFTER INSERT ON events" in plan.stdout
    store.setup()
    clean = store.run("setup", "--check", "-f", "jsonl")
    assert clean.exit_code == 0 and "mcpstore_events_notify" not in clean.stdout
    first = store.run("setup", "--notify", "-f", "jsonl")
    assert first.exit_code == 0, first
    steps = {r["object"]: r["action"] for r in first.jsonl()}
    assert steps["mcpstore_events_notify"] == "created"
    assert steps["mcpstore_notify_event()"] == "created"
    again = store.run("setup", "--notify", "-f", "jsonl")
    assert {r["object"]: r["action"] for r in again.jsonl()}["mcpstore_events_notify"] == "exists"
    check = store.run("setup", "--check", "-f", "jsonl")
    assert check.exit_code == 0, check
    notes = {r["object"]: r for r in check.jsonl()}
    assert notes["trigger mcpstore_events_notify"]["severity"] == "note"
    assert store.run("setup", "--check", "--notify", "-q").exit_code == 0
    rows = pg_server.execute(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'events'::regclass AND NOT tgisinternal",
        database=store.name,
    )[0]
    assert [r[0] for r in rows] == ["mcpstore_events_notify"]
    # Disabled by hand: check says so.
    pg_server.execute(
        "ALTER TABLE events DISABLE TRIGGER mcpstore_events_notify", database=store.name
    )
    disabled = store.run("setup", "--check", "-f", "jsonl")
    assert disabled.exit_code == 0 and "disabled" in disabled.stdout
    strict = store.run("setup", "--check", "--notify", "-f", "jsonl")
    assert strict.exit_code == 3, strict
    assert {r["object"]: r["severity"] for r in strict.jsonl()}[
        "trigger mcpstore_events_notify"
    ] == "error"
    # Teardown's drop takes the trigger with the function.
    pg_server.execute(
        "DROP FUNCTION IF EXISTS mcpstore_notify_event() CASCADE", database=store.name
    )
    gone = store.run("setup", "--check", "-f", "jsonl")
    assert gone.exit_code == 0 and "mcpstore_events_notify" not in gone.stdout
    missing = store.run("setup", "--check", "--notify", "-f", "jsonl")
    assert missing.exit_code == 3, missing
    assert "missing; run mcpstore setup --notify" in missing.stdout


def test_notify_refused_on_other_backends(sqlite_store: StoreHandle) -> None:
    result = sqlite_store.run("setup", "--notify")
    assert result.exit_code == 2 and "postgres" in result.stderr


def test_without_the_trigger_tail_polls_and_warns(postgres_store: StoreHandle) -> None:
    store = postgres_store
    store.setup()
    a = sid()
    tail = spawn_tail(store, "--count", "3")
    writer = spawn_writer(
        store, "--session", a, "--create-session", "--count", "30", "--interval", "0.1"
    )
    try:
        lines = tail.read(3, timeout=60)
        assert tail.wait(30) == 0
    finally:
        tail.stop()
        writer.stop()
    assert len(lines) == 3
    assert "no mcpstore_events_notify trigger; polling" in tail.stderr


def test_with_the_trigger_tail_listens(postgres_store: StoreHandle) -> None:
    store = postgres_store
    store.setup()
    assert store.run("setup", "--notify", "-q").exit_code == 0
    a = sid()
    tail = spawn_tail(store, "--count", "5")
    writer = spawn_writer(
        store, "--session", a, "--create-session", "--count", "40", "--interval", "0.1"
    )
    try:
        lines = tail.read(5, timeout=60)
        assert tail.wait(30) == 0
    finally:
        tail.stop()
        writer.stop()
    assert len(lines) == 5
    got = seqs(lines)
    assert got == list(range(got[0], got[0] + 5))
    assert tail.stderr == ""


@pytest.mark.parametrize("one_session", [False, True])
def test_a_late_commit_is_not_skipped(
    postgres_store: StoreHandle, pg_server: Any, one_session: bool
) -> None:
    """Id k+1 commits before id k: the tail prints k+1, then k when it commits."""
    import asyncio

    import asyncpg

    store = postgres_store
    store.setup()
    assert store.run("setup", "--notify", "-q").exit_code == 0
    a = sid()
    w = store.writer()
    w.session(a, created_at=1, last_activity=1, server_capabilities={})
    w.close()
    args = ["--count", "2"] + (["--session", a] if one_session else [])
    tail = spawn_tail(store, *args)

    async def scenario() -> tuple[int, int, list[str]]:
        slow = await asyncpg.connect(store.url)
        fast = await asyncpg.connect(store.url)
        insert = (
            "INSERT INTO events (session_id, timestamp, event_type, data, retry) "
            "VALUES ($1, $2, 'notifications/message', $3::jsonb, NULL) RETURNING id"
        )
        try:
            await asyncio.sleep(3)  # the tail is positioned at the end
            tx = slow.transaction()
            await tx.start()
            k = await slow.fetchval(insert, a, 1, '{"params":{"seq":0}}')
            k1 = await fast.fetchval(insert, a, 2, '{"params":{"seq":1}}')
            first = await asyncio.to_thread(tail.read, 1, 30)
            await asyncio.sleep(0.5)
            await tx.commit()
            second = await asyncio.to_thread(tail.read, 1, 30)
            return k, k1, first + second
        finally:
            await slow.close()
            await fast.close()

    try:
        k, k1, lines = asyncio.run(scenario())
        assert tail.wait(30) == 0, tail.stderr
    finally:
        tail.stop()
    assert k1 == k + 1
    assert [json.loads(line)["id"] for line in lines] == [k1, k], tail.stderr


def test_restarted_server_no_gap_no_duplicate(postgres_store: StoreHandle, pg_server: Any) -> None:
    if pg_server.base is None:
        pytest.skip("needs a PostgreSQL server these tests started (to restart it)")
    store = postgres_store
    store.setup()
    assert store.run("setup", "--notify", "-q").exit_code == 0
    a = sid()
    w = store.writer()
    w.session(a, created_at=1, last_activity=1, server_capabilities={})
    w.close()
    tail = spawn_tail(store, "--session", a, "--after", "0")
    writer = spawn_writer(
        store, "--session", a, "--count", "200", "--interval", "0.02", "--reconnect"
    )
    try:
        first = tail.read(20, timeout=60)
        assert len(first) == 20, tail.stderr
        pg_server.restart(down_for=1.0)  # down a while: the tail retries with backoff
        middle = tail.read(20, timeout=60)
        assert len(middle) == 20, tail.stderr
        pg_server.restart()  # straight back up
        assert writer.wait(120) == 0, writer.stderr
        stored = [
            r[0]
            for r in pg_server.execute(
                f"SELECT id FROM events WHERE session_id = '{a}' ORDER BY id", database=store.name
            )[0]
        ]
        rest = tail.read(len(stored) - 40, timeout=60)
        extra = tail.read(1, timeout=2)
    finally:
        tail.stop()
        writer.stop()
    printed = [json.loads(line)["id"] for line in first + middle + rest + extra]
    assert len(stored) >= 200
    assert printed == stored, (len(printed), len(stored), tail.stderr)
    assert "lost the connection" in tail.stderr and "reconnected" in tail.stderr


# -- DynamoDB: without a stream ---------------------------------------------------------------
def test_dynamodb_without_a_stream_polls(dynamodb_store: StoreHandle) -> None:
    store = dynamodb_store
    assert store.run("setup", "--no-stream", "-q").exit_code == 0
    a = sid()
    w = store.writer()
    w.session(a, created_at=1, last_activity=1, server_capabilities={})
    w.close()
    everyone = spawn_tail(store, "--count", "4")
    one = spawn_tail(store, "--session", a, "--count", "4")
    writer = spawn_writer(store, "--session", a, "--count", "40", "--interval", "0.2")
    try:
        lines_all = everyone.read(4, timeout=60)
        lines_one = one.read(4, timeout=60)
        assert everyone.wait(30) == 0 and one.wait(30) == 0
    finally:
        everyone.stop()
        one.stop()
        writer.stop()
    for lines in (lines_all, lines_one):
        got = seqs(lines)
        assert got == list(range(got[0], got[0] + 4)), got
    assert "has no stream: polling it with a Scan" in everyone.stderr
    assert one.stderr == ""


class FlakyProxy:
    """A loopback TCP proxy whose connections can be cut (and new ones refused) for a while:
    a network outage between mcpstore and its store, with the store itself untouched."""

    def __init__(self, target_port: int) -> None:
        import socket

        self.target_port = target_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = int(self.listener.getsockname()[1])
        self.down = threading.Event()
        self.closed = False
        self.sockets: list[Any] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: Any, dst: Any) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self, seconds: float) -> None:
        import socket

        self.down.set()
        with self.lock:
            doomed, self.sockets = self.sockets, []
        for s in doomed:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        time.sleep(seconds)
        self.down.clear()

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        self.cut(0)


def test_dynamodb_network_outage_no_gap_no_duplicate(
    dynamodb_store: StoreHandle, dynamodb_local: Any
) -> None:
    store = dynamodb_store
    store.setup()
    a = sid()
    w = store.writer()
    w.session(a, created_at=1, last_activity=1, server_capabilities={})
    w.close()
    proxy = FlakyProxy(dynamodb_local.port)
    through = StoreHandle(
        backend="dynamodb",
        url=store.url.replace(f":{dynamodb_local.port}", f":{proxy.port}"),
        writer_factory=store.writer_factory,
        name=store.name,
        environ=store.environ,
    )
    tail = spawn_tail(through, "--session", a, "--after", "0")
    writer = spawn_writer(store, "--session", a, "--count", "80", "--interval", "0.03")
    try:
        first = tail.read(15, timeout=60)
        assert len(first) == 15, tail.stderr
        proxy.cut(3.0)
        assert writer.wait(120) == 0, writer.stderr
        rest = tail.read(80 - 15, timeout=60)
        extra = tail.read(1, timeout=3)
    finally:
        tail.stop()
        writer.stop()
        proxy.close()
    printed = [json.loads(line)["id"] for line in first + rest + extra]
    assert printed == list(range(1, 81)), tail.stderr
    assert "lost the connection" in tail.stderr and "reconnected" in tail.stderr


def test_unknown_session_is_an_error(store: StoreHandle) -> None:
    # The id rule (issue 15): no session with that id or prefix is exit 1, never an empty
    # result, with or without --follow.
    store.setup()
    for follow in ("--no-follow", "--follow"):
        result = store.run("tail-events", follow, "--session", "nosuchsession")
        assert result.exit_code == 1, result
        assert result.stdout == ""
        assert "No session 'nosuchsession' (--session)" in result.stderr
