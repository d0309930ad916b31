"""No command writes over an existing file without --force, and nothing ever writes over the
store's own files or any SQLite database: refused in one sentence, exit 2, every file as it
was, no temporary file left; every file written appears whole or not at all."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcpstore_cli.ops.backup import verify_file
from mcpstore_cli.store import open_store
from mcpstore_cli.store.base import StoreOptions
from mcpstore_cli.store.urls import parse_store_url
from mcpstore_cli.util.timeutil import now_ms
from tests.conftest import StoreHandle
from tests.helpers import Result, run_cli

STORE = "mcp_sessions.db"
URL = f"sqlite:///{STORE}"


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry of ``folder``: a file by the SHA-256 of its bytes, a symlink by its target."""
    out: dict[str, str] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink():
            out[entry.name] = "-> " + os.readlink(entry)
        elif entry.is_dir():
            out[entry.name] = "dir"
        else:
            out[entry.name] = hashlib.sha256(entry.read_bytes()).hexdigest()
    return out


def run(*args: str, environ: dict[str, str] | None = None) -> Result:
    return run_cli(list(args), environ=environ)


def refused(result: Result, name: str, *, force_helps: bool) -> None:
    assert result.exit_code == 2, result
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result
    assert name in result.stderr, result
    if force_helps:
        assert "add --force" in result.stderr, result
    else:
        assert "even with --force" in result.stderr, result
    assert "Traceback" not in result.stderr


@pytest.fixture
def live_store(in_tmp: Path) -> Iterator[Path]:
    """``mcp_sessions.db`` in the current directory with sessions, held open by a writer as
    a running server holds it (so its -wal and -shm exist)."""
    made = run("demo", "--sessions", "20", "--events-per-session", "3", "--quiet", "--url", URL)
    assert made.exit_code == 0, made
    server = sqlite3.connect(STORE, isolation_level=None)
    server.execute("UPDATE sessions SET last_activity = last_activity + 1")
    assert (in_tmp / f"{STORE}-wal").exists() and (in_tmp / f"{STORE}-shm").exists()
    (in_tmp / "link.db").symlink_to(STORE)
    os.link(STORE, in_tmp / "hard.db")
    (in_tmp / "sub").mkdir()
    try:
        yield in_tmp
    finally:
        server.close()


WRITERS = {
    "backup": ["backup", "-o"],
    "backup --native": ["backup", "--native", "-o"],
    # --all: were the refusal to fail, the store would be deleted after the backup.
    "teardown": ["teardown", "--all", "--yes", "--backup-file"],
}

OWN_SPELLINGS = [
    STORE,
    f"./{STORE}",
    f"sub/../{STORE}",
    "ABSOLUTE",
    f"{STORE}-wal",
    f"{STORE}-shm",
    f"{STORE}-journal",  # does not exist: must not be created either
    "link.db",
    "hard.db",
]


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_nothing_writes_over_the_store_s_own_files(
    live_store: Path, writer: str, force: bool
) -> None:
    before = snapshot(live_store)
    for spelling in OWN_SPELLINGS:
        target = str(live_store / STORE) if spelling == "ABSOLUTE" else spelling
        result = run(*WRITERS[writer], target, *(["--force"] if force else []), "--url", URL)
        refused(result, target.rstrip("/"), force_helps=False)
        assert "store's own" in result.stderr, result
        assert snapshot(live_store) == before, f"{writer} {target} changed the directory"
    check = run("setup", "--check", "--url", URL)
    assert check.exit_code == 0, check


@pytest.fixture
def other_db(live_store: Path) -> Iterator[Path]:
    """Beside the store: an unrelated SQLite database in WAL mode, open (with -wal, -shm),
    and a closed one in rollback-journal mode."""
    other = sqlite3.connect("other.db", isolation_level=None)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("CREATE TABLE precious (x)")
    other.execute("INSERT INTO precious VALUES ('keep me')")
    closed = sqlite3.connect("closed.db")
    closed.execute("CREATE TABLE t (x)")
    closed.commit()
    closed.close()
    try:
        yield live_store
    finally:
        other.close()


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_an_unrelated_sqlite_database_is_refused_even_with_force(
    other_db: Path, writer: str
) -> None:
    before = snapshot(other_db)
    assert {"other.db-wal", "other.db-shm"} <= set(before)
    for target in ["other.db", "other.db-wal", "other.db-shm", "closed.db", "closed.db-wal"]:
        for force in ([], ["--force"]):
            result = run(*WRITERS[writer], target, *force, "--url", URL)
            refused(result, target, force_helps=False)
            assert "SQLite" in result.stderr, result
            assert snapshot(other_db) == before, f"{writer} {target} {force}"
    with sqlite3.connect("other.db") as conn:
        assert conn.execute("SELECT x FROM precious").fetchall() == [("keep me",)]
    conn.close()


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_an_existing_file_needs_force_and_force_replaces_it(live_store: Path, writer: str) -> None:
    old = live_store / "old.bin"
    old.write_bytes(os.urandom(4096))
    before = snapshot(live_store)
    result = run(*WRITERS[writer], "old.bin", "--url", URL)
    refused(result, "old.bin", force_helps=True)
    assert snapshot(live_store) == before
    assert run("setup", "--check", "--url", URL).exit_code == 0, "teardown stopped first"

    result = run(*WRITERS[writer], "old.bin", "--force", "--url", URL)
    assert result.exit_code == 0, result
    after = snapshot(live_store)
    assert after["old.bin"] != before["old.bin"]
    assert not [n for n in after if n.endswith(".partial")], after
    if writer == "backup --native":
        with sqlite3.connect(old) as conn:
            assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 20
        conn.close()
    else:
        info = verify_file(old)
        assert info.sessions == 20 and info.events == 60
    if writer == "teardown":
        assert not (live_store / STORE).exists(), "teardown went on after the backup"
    else:
        assert set(after) == set(before), "nothing else written"  # (-shm: read marks)


def test_a_new_file_needs_no_force_and_a_directory_gets_a_new_name(live_store: Path) -> None:
    assert run("backup", "-o", "new.zst", "--quiet", "--url", URL).exit_code == 0
    assert verify_file(live_store / "new.zst").sessions == 20
    assert run("backup", "-o", "sub", "--quiet", "--url", URL).exit_code == 0
    assert run("backup", "--native", "-o", "sub", "--quiet", "--url", URL).exit_code == 0
    names = sorted(p.name for p in (live_store / "sub").iterdir())
    assert len(names) == 2 and not [n for n in names if n.endswith(".partial")], names


def test_force_without_a_file_for_teardown_is_a_usage_error(live_store: Path) -> None:
    result = run("teardown", "--all", "--yes", "--force", "--url", URL)
    assert result.exit_code == 2 and "--force goes with --backup-file" in result.stderr, result
    assert (live_store / STORE).exists()


# -- stores on a server: the files written are still local ---------------------------------
@pytest.mark.parametrize("backend", ["postgres", "dynamodb"])
def test_a_backup_from_a_server_store_never_overwrites_silently(
    request: pytest.FixtureRequest, in_tmp: Path, backend: str
) -> None:
    store: StoreHandle = request.getfixturevalue(f"{backend}_store")
    store.setup()
    writer = store.writer()
    now = now_ms()
    try:
        for i in range(3):
            writer.session(f"s{i}", created_at=now - 1000, last_activity=now)
            writer.event(f"s{i}", timestamp=now, event_type="notifications/message", data={})
    finally:
        writer.close()
    (in_tmp / "old.bin").write_bytes(b"an operator's file\n")
    db = sqlite3.connect("local.db")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    before = snapshot(in_tmp)

    refused(store.run("backup", "-o", "old.bin"), "old.bin", force_helps=True)
    refused(store.run("backup", "-o", "local.db", "--force"), "local.db", force_helps=False)
    refused(
        store.run("teardown", "--all", "--yes", "--backup-file", "old.bin"),
        "old.bin",
        force_helps=True,
    )
    assert snapshot(in_tmp) == before
    assert store.run("setup", "--check").exit_code == 0, "teardown changed nothing"

    result = store.run("backup", "-o", "old.bin", "--force", "--quiet")
    assert result.exit_code == 0, result
    assert verify_file(in_tmp / "old.bin").sessions == 3
    assert sorted(p.name for p in in_tmp.iterdir()) == ["local.db", "old.bin"]


# -- the library: whole or nothing ----------------------------------------------------------
def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    from mcpstore_cli.util.outfile import output_file

    old = tmp_path / "old.bin"
    old.write_bytes(b"old contents")
    with pytest.raises(RuntimeError), output_file(old, force=True) as out:
        Path(out.tmp).write_bytes(b"half of the new")
        raise RuntimeError("the store went away")
    assert old.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.bin"]

    with output_file(old, force=True) as out:
        Path(out.tmp).write_bytes(b"new contents")
        assert old.read_bytes() == b"old contents", "replaced only at the end"
    assert old.read_bytes() == b"new contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.bin"]


def test_a_file_that_appears_meanwhile_is_not_replaced_without_force(tmp_path: Path) -> None:
    from mcpstore_cli.util.outfile import OutputFile, OutputRefusedError

    target = tmp_path / "new.bin"
    out = OutputFile(target)
    fd = out.take_fd()
    os.write(fd, b"ours")
    os.close(fd)
    target.write_bytes(b"someone else's")
    with pytest.raises(OutputRefusedError, match="add --force"):
        out.commit()
    assert target.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.bin"]


def test_a_cancelled_native_copy_leaves_the_old_file(in_tmp: Path) -> None:
    from mcpstore_cli.backends.sqlite import backup as sqlite_backup

    made = run("demo", "--sessions", "5", "--quiet", "--url", URL)
    assert made.exit_code == 0, made
    old = in_tmp / "old.bin"
    old.write_bytes(b"old contents")
    before = snapshot(in_tmp)
    store = open_store(parse_store_url(URL), StoreOptions())
    cancelled = threading.Event()
    cancelled.set()  # Ctrl-C arrived while the copy ran
    with pytest.raises(KeyboardInterrupt):
        sqlite_backup.native_backup_sync(store, old, force=True, cancelled=cancelled)
    after = snapshot(in_tmp)
    assert after["old.bin"] == before["old.bin"]
    assert not [n for n in after if "old.bin" in n and n != "old.bin"], after
    assert sqlite_backup.native_backup_sync(store, old, force=True) > 0
    assert old.read_bytes().startswith(b"SQLite format 3\x00")
    assert not [n for n in os.listdir(in_tmp) if "old.bin" in n and n != "old.bin"]
