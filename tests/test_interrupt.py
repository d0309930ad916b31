"""Ctrl-C: a real ``mcpstore`` process gets SIGINT while it is demonstrably at work.

Every command exits 130 with one line on stderr saying what was done and what was kept, with
no traceback; the store afterwards holds exactly what that line says. A demo into an empty
store is all or nothing; into a store with rows, the committed batches stay and are counted.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import StoreHandle
from tests.helpers import run_cli
from tests.pg_fixtures import PgServer

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^mcpstore: interrupted; (.+)$")


class Proc:
    """``python -m mcpstore_cli ARGS``; stderr is collected by a thread, stdout is either
    discarded or left to the test to read (``stdout=True``)."""

    def __init__(
        self, args: list[str], *, environ: dict[str, str] | None = None, stdout: bool = False
    ) -> None:
        env = {**os.environ, **(environ or {}), "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mcpstore_cli", *args],
            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            cwd=str(ROOT),
        )
        self.err = b""
        self._pump = threading.Thread(target=self._read_err, daemon=True)
        self._pump.start()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for chunk in iter(lambda: self.proc.stderr.read1(4096), b""):  # type: ignore[union-attr]
            self.err += chunk

    def interrupt(self, timeout: float = 60.0) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        return self.finish(timeout)

    def finish(self, timeout: float = 60.0) -> tuple[int, str]:
        code = self.proc.wait(timeout=timeout)
        self._pump.join(5)
        return code, self.err.decode(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_until(what: str, test: Callable[[], bool], proc: Proc, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        if proc.proc.poll() is not None:
            pytest.fail(f"the process ended before {what}: {proc.err.decode(errors='replace')}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.02)


def the_line(code: int, stderr: str) -> str:
    """Exit status 130, no traceback, one interrupt line (the last one); its text."""
    assert code == 130, stderr
    assert "Traceback" not in stderr and "unexpected error" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, stderr
    hits = [line for line in lines if line.startswith("mcpstore: interrupted")]
    assert len(hits) == 1 and hits[0] == lines[-1], stderr
    match = LINE.match(lines[-1])
    assert match, stderr
    return match.group(1)


def number(text: str) -> int:
    return int(text.replace(",", ""))


def sqlite_counts(path: str | Path) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    try:
        return (
            conn.execute("SELECT count(*) FROM sessions").fetchone()[0],
            conn.execute("SELECT count(*) FROM events").fetchone()[0],
        )
    finally:
        conn.close()


def pg_counts(server: PgServer, handle: StoreHandle) -> tuple[int, int]:
    rows = server.execute(
        "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM events)",
        database=handle.name,
    )
    record = rows[0][0]  # the first statement's first row
    return int(record[0]), int(record[1])


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


# -- a big SQLite store, made once --------------------------------------------------------
BIG_SESSIONS = 120_000
BIG_EVENTS = 4


@pytest.fixture(scope="module")
def big_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Mostly idle sessions (expire has work), enough rows that each command takes seconds."""
    path = tmp_path_factory.mktemp("big") / "big.db"
    made = run_cli(
        [
            "demo",
            "--url",
            f"sqlite:///{path}",
            "--sessions",
            str(BIG_SESSIONS),
            "--events-per-session",
            str(BIG_EVENTS),
            "--idle-share",
            "0.9",
            "--terminated-share",
            "0",
            "--seed",
            "7",
            "--quiet",
        ]
    )
    assert made.exit_code == 0, made
    return path


@pytest.fixture(scope="module")
def big_backup(big_sqlite: Path) -> Path:
    path = big_sqlite.with_name("big.mcpbackup.zst")
    made = run_cli(["backup", "--url", f"sqlite:///{big_sqlite}", "-o", str(path), "--quiet"])
    assert made.exit_code == 0, made
    return path


def copy_of(big: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.db"
    src = sqlite3.connect(big)
    dst = sqlite3.connect(target)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return target


# -- demo ---------------------------------------------------------------------------------
def test_demo_live_exits_130_and_says_how_many_events_it_added(sqlite_store: StoreHandle) -> None:
    db = sqlite_store.name
    proc = Proc(["demo", "--live", "--sessions", "20", "--rate", "40", "--url", sqlite_store.url])
    try:
        wait_until("--live adds events", lambda: "adding about" in proc.err.decode(), proc)
        wait_until("a few live events", lambda: sqlite_counts(db)[1] >= 20 * 10 + 5, proc)
        code, err = proc.interrupt()
    finally:
        proc.kill()
    line = the_line(code, err)
    match = re.search(r"wrote 20 sessions and 200 events, then --live added ([\d,]+) events", line)
    assert match, line
    assert "stay in the store" in line
    assert sqlite_counts(db) == (20, 200 + number(match.group(1)))


def test_sqlite_demo_into_an_empty_store_leaves_it_empty(sqlite_store: StoreHandle) -> None:
    sqlite_store.setup()
    wal = Path(f"{sqlite_store.name}-wal")
    proc = Proc(["demo", "--sessions", "400000", "-e", "5", "--url", sqlite_store.url])
    try:
        # The load is one transaction: its rows show as the WAL growing, not as rows.
        wait_until("the load has written 8 MB", lambda: file_size(wal) > 8 << 20, proc)
        code, err = proc.interrupt()
    finally:
        proc.kill()
    line = the_line(code, err)
    assert "rolled back: nothing was written" in line, line
    assert sqlite_counts(sqlite_store.name) == (0, 0)


def test_sqlite_demo_into_a_store_with_rows_says_what_stayed(sqlite_store: StoreHandle) -> None:
    made = sqlite_store.run("demo", "--sessions", "10", "--quiet")
    assert made.exit_code == 0, made
    proc = Proc(["demo", "--sessions", "400000", "-e", "5", "--url", sqlite_store.url])
    try:
        wait_until("batches commit", lambda: sqlite_counts(sqlite_store.name)[0] > 10, proc)
        code, err = proc.interrupt()
    finally:
        proc.kill()
    line = the_line(code, err)
    match = re.search(r"committed ([\d,]+) sessions and ([\d,]+) events in [\d,]+ batch", line)
    assert match, line
    assert "they stay in the store" in line
    assert sqlite_counts(sqlite_store.name) == (
        10 + number(match.group(1)),
        100 + number(match.group(2)),
    )


def test_a_second_ctrl_c_during_cleanup_still_exits_130(sqlite_store: StoreHandle) -> None:
    sqlite_store.setup()
    wal = Path(f"{sqlite_store.name}-wal")
    proc = Proc(["demo", "--sessions", "400000", "-e", "5", "--url", sqlite_store.url])
    try:
        wait_until("the load has written 8 MB", lambda: file_size(wal) > 8 << 20, proc)
        proc.proc.send_signal(signal.SIGINT)
        proc.proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        code, err = proc.finish(timeout=30)
    finally:
        proc.kill()
    assert time.monotonic() - started < 10
    assert code == 130, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("mcpstore: interrupted"), err
    # Whatever the moment, the one transaction never committed.
    assert sqlite_counts(sqlite_store.name) == (0, 0)


def _pg_copy_running(server: PgServer, handle: StoreHandle) -> bool:
    rows = server.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND query ILIKE 'COPY%' AND state = 'active'",
        database=handle.name,
    )
    return int(rows[0][0][0]) > 0


def test_postgres_demo_into_an_empty_store_leaves_it_empty(
    postgres_store: StoreHandle, pg_server: PgServer
) -> None:
    postgres_store.setup()
    proc = Proc(["demo", "--sessions", "400000", "-e", "5", "--url", postgres_store.url])
    try:
        wait_until("COPY runs", lambda: _pg_copy_running(pg_server, postgres_store), proc)
        time.sleep(0.5)
        code, err = proc.interrupt()
    finally:
        proc.kill()
    line = the_line(code, err)
    assert "rolled back: nothing was written" in line, line
    assert pg_counts(pg_server, postgres_store) == (0, 0)
    # The indexes and keys the bulk load dropped for its duration are back.
    made = postgres_store.run("setup", "--check", "--quiet")
    assert made.exit_code == 0, made


def test_postgres_demo_into_a_store_with_rows_says_what_stayed(
    postgres_store: StoreHandle, pg_server: PgServer
) -> None:
    made = postgres_store.run("demo", "--sessions", "10", "--quiet")
    assert made.exit_code == 0, made
    proc = Proc(["demo", "--sessions", "400000", "-e", "5", "--url", postgres_store.url])
    try:
        wait_until("batches commit", lambda: pg_counts(pg_server, postgres_store)[0] > 10, proc)
        code, err = proc.interrupt()
    finally:
        proc.kill()
    line = the_line(code, err)
    match = re.search(r"committed ([\d,]+) sessions and ([\d,]+) events in [\d,]+ batch", line)
    assert match, line
    assert pg_counts(pg_server, postgres_store) == (
        10 + number(match.group(1)),
        100 + number(match.group(2)),
    )


# -- expire, backup, restore, list, tail-events -------------------------------------------
def test_expire_says_what_the_committed_batches_removed(big_sqlite: Path, tmp_path: Path) -> None:
    db = copy_of(big_sqlite, tmp_path)
    before = sqlite_counts(db)
    proc = Proc(["expire", "--batch-size", "200", "--rate", "20000", "--url", f"sqlite:///{db}"])
    try:
        wait_until("sessions go", lambda: sqlite_counts(db)[0] < before[0] - 1000, proc)
        code, err = proc.interrupt()
    finally:
        proc.kill()
    line = the_line(code, err)
    match = re.search(
        r"expire removed ([\d,]+) sessions \(([\d,]+) events\) in [\d,]+ committed batches; "
        r"the rest is untouched\.",
        line,
    )
    assert match, line
    assert sqlite_counts(db) == (
        before[0] - number(match.group(1)),
        before[1] - number(match.group(2)),
    )


def test_backup_leaves_no_file_behind(big_sqlite: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.mcpbackup.zst"
    proc = Proc(["backup", "-o", str(target), "--url", f"sqlite:///{big_sqlite}"])
    partial = tmp_path / f".{target.name}.{proc.proc.pid}.partial"  # the temporary file
    try:
        wait_until("the backup writes", lambda: file_size(partial) > 0, proc)
        code, err = proc.interrupt()
    finally:
        proc.kill()
    line = the_line(code, err)
    assert line == f"backup not written ({target} was not created); nothing was changed."
    assert list(tmp_path.iterdir()) == []


def test_restore_is_rolled_back(big_backup: Path, sqlite_store: StoreHandle) -> None:
    made = sqlite_store.run("demo", "--sessions", "10", "--quiet")
    assert made.exit_code == 0, made
    wal = Path(f"{sqlite_store.name}-wal")
    start = file_size(wal)
    proc = Proc(["restore", str(big_backup), "--url", sqlite_store.url])
    try:
        # Verified first (nothing written), then loaded in one transaction: the WAL grows.
        wait_until("the load writes", lambda: file_size(wal) > start + (4 << 20), proc)
        code, err = proc.interrupt()
    finally:
        proc.kill()
    line = the_line(code, err)
    assert line == "the restore was one transaction and was rolled back: the store is as it was."
    assert sqlite_counts(sqlite_store.name) == (10, 100)


def test_restore_during_verification_changes_nothing(big_backup: Path, tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    proc = Proc(["restore", str(big_backup), "--mode", "replace", "--url", f"sqlite:///{db}"])
    try:
        time.sleep(1.0)  # reading and checking the file (it takes seconds)
        assert proc.proc.poll() is None
        code, err = proc.interrupt()
    finally:
        proc.kill()
    assert the_line(code, err) == "nothing was changed."
    assert not db.exists()


def test_list_to_a_slow_reader(big_sqlite: Path) -> None:
    proc = Proc(
        ["list", "--limit", "0", "--format", "jsonl", "--url", f"sqlite:///{big_sqlite}"],
        stdout=True,
    )
    assert proc.proc.stdout is not None
    got = 0
    try:
        for _ in range(50):  # the pipe fills up: mcpstore is blocked writing
            proc.proc.stdout.readline()
            got += 1
        time.sleep(0.5)
        proc.proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
        got += len(proc.proc.stdout.read().splitlines())  # the reader goes on to the end
        code, err = proc.finish()
    finally:
        proc.kill()
    line = the_line(code, err)
    match = re.fullmatch(r"printed ([\d,]+) sessions; nothing was changed\.", line)
    assert match, line
    assert number(match.group(1)) == got < BIG_SESSIONS


def test_a_list_page_to_a_slow_reader(big_sqlite: Path) -> None:
    """A page (read without an event loop) is written to its end, then the command stops
    with 130, as it did when the page ran in a task that never waited."""
    proc = Proc(
        ["list", "--limit", "999", "--format", "jsonl", "--url", f"sqlite:///{big_sqlite}"],
        stdout=True,
    )
    assert proc.proc.stdout is not None
    got = 0
    try:
        for _ in range(20):  # the pipe fills up: mcpstore is blocked writing
            proc.proc.stdout.readline()
            got += 1
        time.sleep(0.5)
        proc.proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
        got += len(proc.proc.stdout.read().splitlines())
        code, err = proc.finish()
    finally:
        proc.kill()
    assert the_line(code, err) == "printed 999 sessions; nothing was changed."
    assert got == 999
    assert "more sessions" not in err


def test_tail_events_says_how_many_it_printed(sqlite_store: StoreHandle) -> None:
    made = sqlite_store.run("demo", "--sessions", "4", "-e", "3", "--quiet")
    assert made.exit_code == 0, made
    proc = Proc(
        ["tail-events", "--since", "3d", "--format", "jsonl", "--url", sqlite_store.url],
        stdout=True,
    )
    assert proc.proc.stdout is not None
    try:
        lines = [proc.proc.stdout.readline() for _ in range(12)]
        assert all(lines)
        time.sleep(0.3)  # following now
        code, err = proc.interrupt()
    finally:
        proc.kill()
    assert the_line(code, err) == "printed 12 events; nothing was changed."


def test_ctrl_c_at_the_restore_question_changes_nothing(
    big_backup: Path, sqlite_store: StoreHandle
) -> None:
    made = sqlite_store.run("demo", "--sessions", "10", "--quiet")
    assert made.exit_code == 0, made
    result = sqlite_store.run("restore", str(big_backup), "--mode", "replace", keys="\x03")
    assert result.exit_code == 130, result
    assert result.stderr.splitlines()[-1] == "mcpstore: interrupted; nothing was changed.", result
    assert sqlite_counts(sqlite_store.name) == (10, 100)


# -- DynamoDB: no transactions, so an interrupted demo into empty tables is undone ----------
def _dynamo_counts(handle: StoreHandle) -> tuple[int, int]:
    from tests.dynamodb_fixtures import client

    ddb = client(handle.url.split("endpoint=")[1].split("&")[0])
    out = []
    for table in (handle.name, f"{handle.name}-events"):
        total, kw = 0, {"TableName": table, "Select": "COUNT", "ConsistentRead": True}
        while True:
            page = ddb.scan(**kw)
            total += page["Count"]
            if "LastEvaluatedKey" not in page:
                break
            kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        out.append(total)
    return out[0], out[1]


def test_dynamodb_demo_into_empty_tables_is_undone(dynamodb_store: StoreHandle) -> None:
    dynamodb_store.setup()
    proc = Proc(
        ["demo", "--sessions", "200000", "-e", "2", "--url", dynamodb_store.url],
        environ=dynamodb_store.environ,
    )
    try:
        wait_until("items appear", lambda: _dynamo_counts(dynamodb_store)[0] > 0, proc, 180)
        code, err = proc.interrupt(timeout=60)
    finally:
        proc.kill()
    line = the_line(code, err)
    match = re.fullmatch(
        r"the demo into the empty tables was undone: the ([\d,]+) sessions and ([\d,]+) "
        r"events it had written were deleted again; the tables are empty as before\.",
        line,
    )
    assert match and number(match.group(1)) > 0, line
    assert _dynamo_counts(dynamodb_store) == (0, 0)


def test_dynamodb_demo_into_tables_with_items_says_what_stayed(
    dynamodb_store: StoreHandle,
) -> None:
    made = dynamodb_store.run("demo", "--sessions", "10", "--quiet")
    assert made.exit_code == 0, made
    proc = Proc(
        ["demo", "--sessions", "200000", "-e", "2", "--url", dynamodb_store.url],
        environ=dynamodb_store.environ,
    )
    try:
        wait_until("items appear", lambda: _dynamo_counts(dynamodb_store)[0] > 10, proc, 180)
        code, err = proc.interrupt(timeout=60)
    finally:
        proc.kill()
    line = the_line(code, err)
    match = re.search(r"had written ([\d,]+) sessions and ([\d,]+) events", line)
    assert match, line
    assert _dynamo_counts(dynamodb_store) == (
        10 + number(match.group(1)),
        100 + number(match.group(2)),
    )


def test_teardown_says_which_steps_were_done(big_sqlite: Path, tmp_path: Path) -> None:
    db = copy_of(big_sqlite, tmp_path)
    before = sqlite_counts(db)
    wal = Path(f"{db}-wal")
    backup = tmp_path / "before-teardown.mcpbackup.zst"
    proc = Proc(
        [
            "teardown",
            "--yes",
            "--backup",
            "--backup-file",
            str(backup),
            "--clear-data",
            "--url",
            f"sqlite:///{db}",
        ]
    )
    try:
        # The backup comes first; then clearing (one transaction) makes the WAL grow.
        wait_until("clearing runs", lambda: backup.exists() and file_size(wal) > 1 << 20, proc)
        code, err = proc.interrupt()
    finally:
        proc.kill()
    line = the_line(code, err)
    assert line.startswith("teardown finished these steps: "), line
    assert line.endswith(
        "; then clearing data was one transaction and was rolled back; no later step ran."
    ), line
    assert sqlite_counts(db) == before
    assert backup.exists()


def _pg_writing(server: PgServer, handle: StoreHandle) -> bool:
    """Another connection has a transaction that has written (it holds a transaction id)."""
    rows = server.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL",
        database=handle.name,
    )
    return int(rows[0][0][0]) > 0


def test_postgres_restore_is_rolled_back(
    big_backup: Path, postgres_store: StoreHandle, pg_server: PgServer
) -> None:
    made = postgres_store.run("demo", "--sessions", "10", "--quiet")
    assert made.exit_code == 0, made
    proc = Proc(["restore", str(big_backup), "--url", postgres_store.url])
    try:
        wait_until("the load writes", lambda: _pg_writing(pg_server, postgres_store), proc)
        time.sleep(0.3)
        code, err = proc.interrupt()
    finally:
        proc.kill()
    line = the_line(code, err)
    assert line == "the restore was one transaction and was rolled back: the store is as it was."
    assert pg_counts(pg_server, postgres_store) == (10, 100)


def test_more_ctrl_c_while_winding_down_keep_status_130(big_sqlite: Path, tmp_path: Path) -> None:
    """Ctrl-C pressed again and again: every press after the first, up to the very end of
    the process, still ends in status 130 (never death by signal)."""
    target = tmp_path / "out.mcpbackup.zst"
    proc = Proc(["backup", "-o", str(target), "--url", f"sqlite:///{big_sqlite}"])
    partial = tmp_path / f".{target.name}.{proc.proc.pid}.partial"
    try:
        wait_until("the backup writes", lambda: file_size(partial) > 0, proc)
        proc.proc.send_signal(signal.SIGINT)
        wait_until("the interrupt line", lambda: b"interrupted" in proc.err, proc, timeout=60)
        while proc.proc.poll() is None:
            proc.proc.send_signal(signal.SIGINT)
            time.sleep(0.002)
        code, err = proc.finish()
    finally:
        proc.kill()
    assert code == 130, (code, err)
    assert "Traceback" not in err, err


def test_ctrl_c_while_the_options_are_parsed_is_said(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A Ctrl-C that lands while Click converts the options (before any command code runs)
    comes back from Typer as a bare status 130; it still gets its line. The interrupt is
    raised where the signal would land, in the option layer; a real SIGINT cannot be timed
    into that window reliably."""
    import typer.core

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(typer.core.TyperOption, "handle_parse_result", interrupted)
    result = run_cli(["list", "--url", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 130, result
    assert result.stderr == "mcpstore: interrupted; nothing was changed.\n", result
    assert not (tmp_path / "x.db").exists()


def test_tasks_expire_says_how_many_tasks_it_got_through(tmp_path: Path) -> None:
    """SQLite's tasks expire, each batch one DELETE committed as it ends: after Ctrl-C the
    tasks gone are exactly the ones it says it examined (all due), never part of a batch."""
    from mcpstore_cli.util.rfc3339 import format_chrono
    from tests.task_writers import COLUMNS, SQLITE_DDL, task_row

    db = tmp_path / "mcp_tasks.db"
    conn = sqlite3.connect(db)
    for statement in SQLITE_DDL:
        conn.execute(statement)
    old = format_chrono(time.time_ns() - 3_600 * 1_000_000_000)
    rows = [task_row(f"{i:032x}", created_at=old, ttl=1000) for i in range(20_000)]
    conn.executemany(
        f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
        [tuple(r[c] for c in COLUMNS) for r in rows],
    )
    conn.commit()
    conn.close()

    def left() -> int:
        c = sqlite3.connect(db)
        try:
            return int(c.execute("SELECT count(*) FROM tasks").fetchone()[0])
        finally:
            c.close()

    proc = Proc(
        ["tasks", "expire", "--batch-size", "50", "--rate", "2000", "--url", f"sqlite:///{db}"]
    )
    try:
        wait_until("tasks go", lambda: left() < 19_000, proc)
        code, err = proc.interrupt()
    finally:
        proc.kill()
    line = the_line(code, err)
    match = re.search(r"stopped after ([\d,]+) tasks were examined; the ones deleted", line)
    assert match, line
    examined = number(match.group(1))
    assert 1_000 <= examined < 20_000, line
    assert left() == 20_000 - examined, line
