"""Lock waits are visible and bounded (issue 15, point 5), against a real PostgreSQL.

Another client holds a table lock on its own connection; mcpstore runs as a real process, so
that what it prints on stderr can be watched while it waits.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mcpstore_cli.util.timeutil import now_ms
from tests.conftest import StoreHandle
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
MIN = 60_000


class LockHolder:
    """Another client: a plain asyncpg connection in a transaction that holds a lock. The
    server keeps the lock while this side's event loop is idle."""

    def __init__(self, url: str) -> None:
        import asyncpg

        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(asyncpg.connect(url, timeout=10))
        self.pid = int(self.conn.get_server_pid())
        self._tx: Any = None

    def hold(self, statement: str) -> None:
        async def go() -> None:
            self._tx = self.conn.transaction()
            await self._tx.start()
            await self.conn.execute(statement)

        self.loop.run_until_complete(go())

    def waited_seconds(self) -> float:
        """How long the oldest lock request on the server has been waiting, now."""
        value = self.loop.run_until_complete(
            self.conn.fetchval(
                "SELECT extract(epoch FROM clock_timestamp() - min(waitstart))::float8 "
                "FROM pg_locks WHERE NOT granted"
            )
        )
        return float(value) if value is not None else -1.0

    def release(self) -> None:
        if self._tx is not None:
            self.loop.run_until_complete(self._tx.rollback())
            self._tx = None

    def close(self) -> None:
        try:
            self.release()
            self.loop.run_until_complete(self.conn.close())
        finally:
            self.loop.close()


class Running:
    """``mcpstore ARGS`` as a process of its own; stderr is collected line by line."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("MCPSTORE_URL", None)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mcpstore_cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[tuple[float, str]] = []
        self._out: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._out_reader = threading.Thread(target=self._read_out, daemon=True)
        self._out_reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append((time.monotonic() - self.started, line.rstrip("\n")))

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        self._out.append(self.proc.stdout.read())

    def wait_for_line(self, fragment: str, timeout: float) -> tuple[float, str] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for seen in list(self.lines):
                if fragment in seen[1]:
                    return seen
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        return None

    def finish(self, timeout: float = 60) -> int:
        status = self.proc.wait(timeout=timeout)
        self._reader.join(5)
        self._out_reader.join(5)
        return int(status)

    @property
    def stdout(self) -> str:
        return "".join(self._out)

    @property
    def stderr(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _seed(store: StoreHandle) -> None:
    """Two idle sessions with events and one fresh session, written as the server does."""
    writer = store.writer()
    now = now_ms()
    try:
        for sid, idle_min in (("idle-a", 90), ("idle-b", 600), ("fresh", 1)):
            last = now - idle_min * MIN
            writer.session(sid, created_at=last - MIN, last_activity=last)
            for i in range(3):
                writer.event(sid, timestamp=last - 3 + i, event_type="message", data={"i": i})
    finally:
        writer.close()


def _counts(store: StoreHandle) -> tuple[int, int]:
    stats = store.run("stats", "--format", "json")
    assert stats.exit_code == 0, stats
    doc = stats.json()
    return doc["sessions"]["total"], doc["events"]["total"]


COMMANDS = {
    "stats": ["stats", "--format", "json"],
    "list": ["list", "--format", "jsonl"],
    "expire": ["expire", "--format", "json"],
}


@pytest.fixture
def seeded(postgres_store: StoreHandle) -> StoreHandle:
    postgres_store.setup()
    _seed(postgres_store)
    return postgres_store


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_lock_wait_is_said_once_and_the_command_finishes_after_it(
    seeded: StoreHandle, command: str
) -> None:
    holder = LockHolder(seeded.url)
    running: Running | None = None
    try:
        holder.hold("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
        running = Running(*COMMANDS[command], "--url", seeded.url)
        seen = running.wait_for_line("waiting for a lock", timeout=20)
        assert seen is not None, running.stderr
        waited = holder.waited_seconds()
        _at, line = seen
        assert running.proc.poll() is None, "the command still waits while the lock is held"
        # The note comes a second or so into the wait, not before.
        assert 0.9 <= waited <= 2.5, (waited, line)
        assert "table sessions" in line, line
        assert f"backend pid {holder.pid} holds AccessExclusiveLock" in line, line
        assert "needs" in line and "Lock" in line.split("needs", 1)[1], line
        time.sleep(1.5)  # still waiting: the note is not repeated
        holder.release()
        status = running.finish()
    finally:
        if running is not None:
            running.kill()
        holder.close()
    assert status == 0, running.stderr
    assert running.stderr.count("waiting for a lock") == 1, running.stderr
    if command == "stats":
        assert '"total":3' in running.stdout.replace(" ", ""), running.stdout
    elif command == "list":
        assert len([ln for ln in running.stdout.splitlines() if ln.strip()]) == 3
    else:
        assert _counts(seeded) == (1, 3), "expire went on after the lock and did its work"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_lock_timeout_gives_up_with_one_sentence_and_changes_nothing(
    seeded: StoreHandle, command: str
) -> None:
    holder = LockHolder(seeded.url)
    try:
        holder.hold("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
        running = Running(*COMMANDS[command], "--url", seeded.url, "--lock-timeout", "1s")
        try:
            status = running.finish(timeout=30)
        finally:
            running.kill()
        # Ended by the lock timeout, not by the lock going away.
        assert holder._tx is not None
    finally:
        holder.close()
    assert status == 1, running.stderr
    lines = [ln for ln in running.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, running.stderr
    assert f"waited 1s for a lock on table sessions held by backend pid {holder.pid}" in lines[0], (
        lines
    )
    assert lines[0].endswith("try again later or raise --lock-timeout."), lines
    assert "Traceback" not in running.stderr
    assert _counts(seeded) == (3, 9), "nothing changed"


def test_lock_timeout_rolls_back_work_done_before_the_wait(seeded: StoreHandle) -> None:
    """expire deletes idle sessions, then the cascade needs ``events``, which another client
    holds: the timeout rolls the whole batch back, sessions included."""
    holder = LockHolder(seeded.url)
    try:
        holder.hold("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        result = seeded.run("expire", "--lock-timeout", "1500ms")
    finally:
        holder.close()
    assert result.exit_code == 1, result
    assert "for a lock on table events" in result.stderr, result
    assert f"backend pid {holder.pid}" in result.stderr, result
    assert "raise --lock-timeout" in result.stderr, result
    assert _counts(seeded) == (3, 9), "the deleted sessions came back with the rollback"


def test_the_note_is_not_printed_for_a_short_wait(seeded: StoreHandle) -> None:
    holder = LockHolder(seeded.url)
    try:
        holder.hold("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
        running = Running("stats", "--format", "json", "--url", seeded.url)
        time.sleep(0.3)
        holder.release()
        status = running.finish()
    finally:
        holder.close()
    assert status == 0, running.stderr
    assert "waiting for a lock" not in running.stderr


@pytest.mark.parametrize("value", ["0", "0s", "soon", "-5s"])
def test_a_bad_lock_timeout_is_a_usage_error(postgres_store: StoreHandle, value: str) -> None:
    postgres_store.setup()
    result = postgres_store.run("stats", "--lock-timeout", value)
    assert result.exit_code == 2, result
    assert "--lock-timeout" in result.stderr and "No such option" not in result.stderr, result
    assert any(word in result.stderr for word in ("zero", "positive", "duration")), result
    assert "Traceback" not in result.stderr


def test_every_command_that_opens_a_store_takes_lock_timeout() -> None:
    from mcpstore_cli.cli.app import get_command

    def walk(command: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
        out = [(path, command)]
        for name, sub in getattr(command, "commands", {}).items():
            out += walk(sub, (*path, name))
        return out

    missing = []
    checked = 0
    for path, command in walk(get_command(), ()):
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        if "--url" in options:
            checked += 1
            if "--lock-timeout" not in options:
                missing.append(" ".join(path))
    assert checked >= 10
    assert missing == []


def test_sqlite_and_dynamodb_accept_lock_timeout(sqlite_store: StoreHandle) -> None:
    sqlite_store.setup()
    result = sqlite_store.run("list", "--lock-timeout", "2s")
    assert result.exit_code == 0, result
    # DynamoDB takes the option and goes on to the store (here: nothing listens).
    dynamo = run_cli(
        [
            "list",
            "--url",
            "dynamodb://tbl?region=us-east-1&endpoint=http://127.0.0.1:1",
            "--lock-timeout",
            "1s",
            "--connect-timeout",
            "0.5",
        ],
        environ={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"},
    )
    assert dynamo.exit_code == 1 and "Cannot reach DynamoDB" in dynamo.stderr, dynamo
    help_text = run_cli(["stats", "--help"]).stdout
    assert "--lock-timeout" in help_text and "PostgreSQL" in help_text


def test_sqlite_still_says_when_the_file_is_locked(sqlite_store: StoreHandle) -> None:
    sqlite_store.setup()
    other = sqlite3.connect(sqlite_store.name, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        result = sqlite_store.run("demo", "--sessions", "3", "--quiet", "--connect-timeout", "0.5")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.exit_code == 1, result
    assert "is locked by another writer" in result.stderr, result
    assert "Traceback" not in result.stderr


def test_clear_takes_lock_timeout_instead_of_its_own_bound(seeded: StoreHandle) -> None:
    """clear waits at most 10 s for its ACCESS EXCLUSIVE lock unless told otherwise."""
    holder = LockHolder(seeded.url)
    try:
        holder.hold("LOCK TABLE sessions IN ACCESS SHARE MODE")
        started = time.monotonic()
        result = seeded.run("clear", "--yes", "--lock-timeout", "1s")
        took = time.monotonic() - started
    finally:
        holder.close()
    assert result.exit_code == 1, result
    assert took < 5, took
    assert "within 1s" in result.stderr and f"held by backend pid {holder.pid}" in result.stderr
    assert "nothing was changed" in result.stderr, result
    assert _counts(seeded) == (3, 9)


def test_a_row_lock_wait_names_the_transaction_and_its_backend(seeded: StoreHandle) -> None:
    """A server's open UPDATE of an idle session: expire's DELETE of that row waits for it."""
    holder = LockHolder(seeded.url)
    running: Running | None = None
    try:
        holder.hold("UPDATE sessions SET version = version + 1 WHERE session_id = 'idle-a'")
        running = Running("expire", "--format", "json", "--url", seeded.url)
        seen = running.wait_for_line("waiting for a lock", timeout=20)
        assert seen is not None, running.stderr
        line = seen[1]
        assert "rows that transaction" in line, line
        assert f"backend pid {holder.pid} holds ExclusiveLock" in line, line
        holder.release()
        status = running.finish()
    finally:
        if running is not None:
            running.kill()
        holder.close()
    assert status == 0, running.stderr
    assert _counts(seeded) == (1, 3)
