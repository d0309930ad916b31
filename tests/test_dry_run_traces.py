"""Dry runs leave the store's directory exactly as they found it, and expire's lock file exists
only while a run holds it (removed at the end, on an error and on Ctrl-C, and only by the run
that holds it)."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcpstore_cli.util.timeutil import now_ms
from tests.helpers import run_cli
from tests.server_writers import SqliteServerWriter

ROOT = Path(__file__).resolve().parents[1]
STORE = "mcp_sessions.db"
LOCK = f"{STORE}.mcpstore-expire.lock"


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def seed(folder: Path, idle: int = 10, fresh: int = 5) -> str:
    """A store with ``idle`` sessions idle for two hours and ``fresh`` active ones, closed."""
    url = f"sqlite:///{folder / STORE}"
    made = run_cli(["setup", "--quiet", "--url", url])
    assert made.exit_code == 0, made
    writer = SqliteServerWriter(str(folder / STORE))
    now = now_ms()
    for i in range(idle + fresh):
        last = now - 2 * 3_600_000 if i < idle else now
        writer.session(f"s{i:04d}", created_at=last - 1000, last_activity=last)
        writer.event(f"s{i:04d}", timestamp=last, event_type="notifications/message", data={})
    writer.close()
    return url


def close_cleanly(folder: Path) -> None:
    """What a server's last connection does on close: checkpoint, remove -wal and -shm."""
    conn = sqlite3.connect(folder / STORE)
    conn.execute("SELECT count(*) FROM sessions").fetchall()
    conn.close()


@pytest.fixture(params=["closed", "live", "stale"])
def store_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A store as an operator finds it: closed (just the database), live (a server holds it
    open: -wal and -shm), or stale (a server was killed: -wal and -shm, nobody attached)."""
    url = seed(tmp_path)
    close_cleanly(tmp_path)
    held = None
    if request.param == "live":
        held = sqlite3.connect(tmp_path / STORE, isolation_level=None)
        held.execute("UPDATE sessions SET last_activity = last_activity WHERE 0")
        held.execute("SELECT count(*) FROM sessions").fetchall()
    elif request.param == "stale":
        script = (
            "import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('UPDATE sessions SET metadata = metadata'); os._exit(0)"
        )
        subprocess.run([sys.executable, "-c", script, str(tmp_path / STORE)], check=True)
    if request.param != "closed":
        assert {f"{STORE}-wal", f"{STORE}-shm"} <= set(listing(tmp_path))
    try:
        yield tmp_path, url
    finally:
        if held is not None:
            held.close()


DRY_RUNS = {
    "expire": ["expire", "--dry-run", "--idle", "1h"],
    "expire --terminated": ["expire", "--dry-run", "--terminated", "--max-events-per-session", "1"],
    "clear": ["clear", "--dry-run"],
    "teardown --all": ["teardown", "--dry-run", "--all"],
    "teardown --backup-file": ["teardown", "--dry-run", "--backup", "--backup-file", "b.zst"],
    "setup": ["setup", "--dry-run"],
}


@pytest.mark.parametrize("name", sorted(DRY_RUNS))
def test_a_dry_run_leaves_the_directory_as_it_was(store_dir: tuple[Path, str], name: str) -> None:
    folder, url = store_dir
    before = listing(folder)
    database = digest(folder / STORE)
    result = run_cli([*DRY_RUNS[name], "--url", url, "--format", "json"])
    assert result.exit_code == 0, result
    assert listing(folder) == before, f"{name} --dry-run left or removed files"
    assert digest(folder / STORE) == database
    if name.startswith("expire"):
        assert result.json()["sessions"] == 10 and result.json()["dry_run"] is True


def test_setup_dry_run_in_an_empty_directory_creates_nothing(tmp_path: Path) -> None:
    result = run_cli(["setup", "--dry-run", "--url", f"sqlite:///{tmp_path / STORE}"])
    assert result.exit_code == 0, result
    assert listing(tmp_path) == []


def test_expire_removes_its_lock_file_when_it_ends(tmp_path: Path) -> None:
    url = seed(tmp_path)
    close_cleanly(tmp_path)
    before = listing(tmp_path)
    assert before == [STORE]
    result = run_cli(["expire", "--idle", "1h", "--url", url, "--format", "json"])
    assert result.exit_code == 0 and result.json()["sessions"] == 10, result
    assert listing(tmp_path) == before
    # ... also when the run fails (here: a store without its events table).
    with sqlite3.connect(tmp_path / STORE) as conn:
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("DROP TABLE events")
    conn.close()
    failed = run_cli(["expire", "--url", url])
    assert failed.exit_code != 0, failed
    assert LOCK not in listing(tmp_path)


def test_ctrl_c_removes_the_lock_file(tmp_path: Path) -> None:
    """A real expire process, slowed by --rate, interrupted while it holds the lock."""
    url = seed(tmp_path, idle=200, fresh=0)
    close_cleanly(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = ["expire", "--idle", "1h", "--rate", "2", "--batch-size", "1", "--url", url]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcpstore_cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while LOCK not in listing(tmp_path):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "expire never took its lock"
            time.sleep(0.02)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert LOCK not in listing(tmp_path), err


def test_a_busy_run_leaves_the_holder_s_lock_file(tmp_path: Path) -> None:
    from mcpstore_cli.util.filelock import file_lock

    url = seed(tmp_path)
    with file_lock(tmp_path / STORE, "the store"):
        busy = run_cli(["expire", "--url", url])
        assert busy.exit_code == 5 and "Another mcpstore expire" in busy.stderr, busy
        assert LOCK in listing(tmp_path), "the refused run must not remove the holder's lock"
    assert LOCK not in listing(tmp_path)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_the_lock_file_goes_however_the_run_ends(tmp_path: Path, error: type) -> None:
    from mcpstore_cli.util.filelock import file_lock

    database = tmp_path / STORE
    database.touch()
    with pytest.raises(error), file_lock(database, "the store"):
        assert LOCK in listing(tmp_path)
        raise error()
    assert listing(tmp_path) == [STORE]


def test_mutual_exclusion_holds_while_holders_remove_the_file(tmp_path: Path) -> None:
    """Many runs at once, each taking the lock, working a moment and removing the file: never
    two inside at the same time (a run that locked a file removed under it must start over)."""
    from mcpstore_cli.errors import ExpireBusyError
    from mcpstore_cli.util.filelock import file_lock

    database = tmp_path / STORE
    database.touch()
    inside = 0
    most = 0
    entries = 0
    guard = threading.Lock()
    stop = time.monotonic() + 3

    def worker() -> None:
        nonlocal inside, most, entries
        while time.monotonic() < stop:
            try:
                with file_lock(database, "the store"):
                    with guard:
                        inside += 1
                        entries += 1
                        most = max(most, inside)
                    time.sleep(0.0005)
                    with guard:
                        inside -= 1
            except ExpireBusyError:
                pass

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert entries > 100, entries
    assert most == 1, f"{most} runs held the lock at once"
    assert listing(tmp_path) == [STORE]
