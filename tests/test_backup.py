"""backup and restore: round trips on every backend and between every ordered pair of them,
refusal of damaged files and wrong layouts, interrupted backups, native backups."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcpstore_cli.model.records import CorruptRow, Session, SessionFilter
from mcpstore_cli.ops.backup import BackupFileError, restore_backup, verify_file, write_backup
from mcpstore_cli.store import open_store
from mcpstore_cli.store.base import StoreOptions
from mcpstore_cli.store.urls import parse_store_url
from mcpstore_cli.util.timeutil import now_ms
from tests.conftest import PARITY_BACKENDS, StoreHandle
from tests.dynamodb_fixtures import (
    DYNAMO_ENV,
    DynamoServerWriter,
    drop_tables,
    dynamodb_url,
    unique_table,
)
from tests.helpers import run_cli
from tests.server_writers import SqliteServerWriter

ROOT = Path(__file__).resolve().parent.parent


def fresh_store(request: pytest.FixtureRequest | None, tmp_path: Path, backend: str) -> StoreHandle:
    """A new, empty store of ``backend`` (two of the same backend are distinct); SQLite needs
    no ``request``."""
    if backend == "sqlite":
        path = tmp_path / f"s-{uuid.uuid4().hex[:8]}.db"
        return StoreHandle(
            "sqlite", f"sqlite:///{path}", lambda: SqliteServerWriter(str(path)), str(path)
        )
    assert request is not None, "a server-backed store needs the test's request"
    if backend == "postgres":
        from tests.pg_fixtures import PgServerWriter

        server = request.getfixturevalue("pg_server")
        name = server.create_database()
        request.addfinalizer(lambda: server.drop_database(name))
        url = server.url(name)
        return StoreHandle("postgres", url, lambda: PgServerWriter(url), name)
    local = request.getfixturevalue("dynamodb_local")
    table = unique_table("bk")
    endpoint = local.endpoint
    request.addfinalizer(lambda: drop_tables(endpoint, table))
    return StoreHandle(
        "dynamodb",
        dynamodb_url(endpoint, table),
        lambda: DynamoServerWriter(endpoint, table),
        table,
        environ=dict(DYNAMO_ENV),
    )


def open_handle(handle: StoreHandle) -> Any:
    return open_store(
        parse_store_url(handle.url), StoreOptions(environ={**os.environ, **handle.environ})
    )


async def _content(handle: StoreHandle) -> dict[str, Any]:
    """Every session with its events (in order), as comparable plain values."""
    out: dict[str, Any] = {}
    async with open_handle(handle) as store:
        sessions = [
            s
            async for s in store.iter_sessions(SessionFilter(now_ms=now_ms()), limit=None)
            if isinstance(s, Session)
        ]
        for s in sessions:
            events = await store.recent_events(s.session_id, 100_000)
            assert not any(isinstance(e, CorruptRow) for e in events)
            out[s.session_id] = {
                "created_at": s.created_at,
                "last_activity": s.last_activity,
                "is_initialized": s.is_initialized,
                "client_capabilities": s.client_capabilities,
                "server_capabilities": s.server_capabilities,
                "state": s.state,
                "metadata": s.metadata,
                "events": [(e.timestamp, e.event_type, e.data, e.retry) for e in events],
                "event_ids": [e.id for e in events],
            }
    return out


def content(handle: StoreHandle) -> dict[str, Any]:
    return asyncio.run(_content(handle))


def without_ids(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: {f: v for f, v in s.items() if f != "event_ids"} for k, s in snapshot.items()}


STATE = {
    "client_info": {"name": "Zed ✓ 編集", "version": "0.205.3"},
    "negotiated_version": "2025-06-18",
    "big": 123456789012345678901234567890,
    "deep": {"a": [{"b": {"c": [1, 2, {"d": None}]}}]},
    "empty": {},
    "list": [],
    "quote": 'he said "hi"\n\ttab \\ slash',
}


def fill(handle: StoreHandle, sessions: int = 4, events: int = 3) -> None:
    """Server-written data with awkward JSON; returns nothing (read it back with content)."""
    handle.setup()
    writer = handle.writer()
    base = now_ms() - 60_000
    try:
        for i in range(sessions):
            sid = f"019a{i:028x}"
            writer.session(
                sid,
                created_at=base + i,
                last_activity=base + 1000 + i,
                is_initialized=i % 2 == 0,
                client_capabilities={"roots": {"listChanged": True}} if i % 2 else None,
                server_capabilities={"tools": {"listChanged": True}, "logging": {}},
                state={**STATE, "i": i, "terminated": i == 3},
                metadata={"__meta__:origin": "test", "n": i} if i else {},
            )
            for j in range(events):
                writer.event(
                    sid,
                    timestamp=base + 2000 + 10 * j,
                    event_type="notifications/message" if j % 2 else "notifications/progress",
                    data={"jsonrpc": "2.0", "params": {"progress": j, "text": "ünï ☃ 😀"}},
                    retry=1500 if j == 1 else None,
                )
    finally:
        writer.close()


# -- round trips --------------------------------------------------------------------------
def test_round_trip_same_backend(
    store: StoreHandle, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    fill(store)
    before = content(store)
    target = tmp_path / "b.mcpbackup.zst"
    made = store.run("backup", "-o", str(target), "--format", "json")
    assert made.exit_code == 0, made
    summary = made.json()
    assert (summary["sessions"], summary["events"]) == (4, 12)
    assert target.stat().st_mode & 0o777 == 0o600
    assert summary["bytes"] == target.stat().st_size
    other = fresh_store(request, tmp_path, store.backend)
    restored = other.run("restore", str(target), "--format", "json")
    assert restored.exit_code == 0, restored
    result = restored.json()
    assert (result["sessions"], result["events"]) == (4, 12)
    assert result["event_ids"] == "kept"
    assert content(other) == before  # ids included: the same backend keeps them
    # merge is idempotent: a second run writes nothing and changes nothing.
    again = other.run("restore", str(target), "--format", "json")
    assert again.exit_code == 0, again
    assert (again.json()["sessions"], again.json()["events"]) == (0, 0)
    assert again.json()["skipped_sessions"] == 4
    assert content(other) == before


@pytest.mark.parametrize(
    ("source", "dest"),
    [(a, b) for a in PARITY_BACKENDS for b in PARITY_BACKENDS],
    ids=lambda v: str(v),
)
def test_every_ordered_pair_round_trips(
    source: str, dest: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    src = fresh_store(request, tmp_path, source)
    fill(src, sessions=3, events=4)
    before = content(src)
    path = tmp_path / f"{source}.mcpbackup.zst"
    assert src.run("backup", "-o", str(path), "--quiet").exit_code == 0
    dst = fresh_store(request, tmp_path, dest)
    restored = dst.run("restore", str(path), "--format", "json")
    assert restored.exit_code == 0, restored
    after = content(dst)
    assert without_ids(after) == without_ids(before)
    ids = restored.json()["event_ids"]
    if dest == "dynamodb":
        expected = "kept" if source == "dynamodb" else "renumbered per session (1, 2, 3, ...)"
        assert ids == expected
        if source != "dynamodb":
            assert all(s["event_ids"] == [1, 2, 3, 4] for s in after.values())
    else:
        assert ids == ("kept" if source != "dynamodb" else "renumbered by the target")
    for s in after.values():  # each session's ids increase in event order
        assert s["event_ids"] == sorted(s["event_ids"])
    if source == dest or (source != "dynamodb" and dest != "dynamodb"):
        assert after == before
    # ... and back again: the content survives the second leg too.
    back_path = tmp_path / "back.mcpbackup.zst"
    assert dst.run("backup", "-o", str(back_path), "--quiet").exit_code == 0
    third = fresh_store(request, tmp_path, source)
    assert third.run("restore", str(back_path), "--quiet").exit_code == 0
    assert without_ids(content(third)) == without_ids(before)


def test_filters_session_and_since(store: StoreHandle, tmp_path: Path) -> None:
    fill(store)
    one = tmp_path / "one.mcpbackup.zst"
    r = store.run("backup", "-o", str(one), "--session", f"019a{1:028x}", "--format", "json")
    assert r.exit_code == 0, r
    assert (r.json()["sessions"], r.json()["events"]) == (1, 3)
    info = verify_file(one)
    assert info.header["filters"]["sessions"] == [f"019a{1:028x}"]
    # --since: last_activity >= cutoff keeps the two newest of four.
    cutoff = content(store)[f"019a{2:028x}"]["last_activity"]
    r = store.run(
        "backup", "-o", str(tmp_path / "s.zst"), "--since", str(cutoff), "--format", "json"
    )
    assert r.exit_code == 0, r
    assert (r.json()["sessions"], r.json()["events"]) == (2, 6)


def test_replace_needs_confirmation_and_replaces(store: StoreHandle, tmp_path: Path) -> None:
    fill(store, sessions=2, events=1)
    path = tmp_path / "x.mcpbackup.zst"
    assert store.run("backup", "-o", str(path), "--quiet").exit_code == 0
    writer = store.writer()
    try:
        writer.session("extra-session", created_at=1, last_activity=2, state={})
    finally:
        writer.close()
    refused = store.run("restore", str(path), "--mode", "replace")
    assert refused.exit_code == 4, refused
    assert "extra-session" in content(store)  # nothing changed
    done = store.run("restore", str(path), "--mode", "replace", "--yes", "--format", "json")
    assert done.exit_code == 0, done
    assert done.json()["replaced_sessions"] == 3
    assert "sessions: 3" in done.stderr  # what was destroyed was shown
    assert sorted(content(store)) == [f"019a{i:028x}" for i in range(2)]


def test_unreadable_rows_are_left_out_and_reported(
    sqlite_store: StoreHandle, tmp_path: Path
) -> None:
    fill(sqlite_store, sessions=3, events=2)
    writer = sqlite_store.writer()
    try:
        assert writer.corrupt_session("broken", created_at=1, last_activity=2)
    finally:
        writer.close()
    with sqlite3.connect(sqlite_store.name) as conn:  # foreign keys off: an orphan, bad data
        conn.execute(
            "INSERT INTO events (session_id, timestamp, event_type, data) "
            "VALUES ('broken', 1, 'm', '{}'), ('gone', 1, 'm', '{}'), "
            f"('019a{0:028x}', 1, 'm', '{{not json')"
        )
    path = tmp_path / "c.mcpbackup.zst"
    r = sqlite_store.run("backup", "-o", str(path), "--format", "json")
    assert r.exit_code == 0, r
    assert (r.json()["sessions"], r.json()["events"], r.json()["skipped"]) == (3, 6, 4)
    assert "broken" in r.stderr and "3 events" in r.stderr
    info = verify_file(path)
    assert (info.sessions, info.events) == (3, 6)


def test_sqlite_json_on_several_lines_stays_one_record(
    sqlite_store: StoreHandle, tmp_path: Path
) -> None:
    sqlite_store.setup()
    with sqlite3.connect(sqlite_store.name) as conn:
        conn.execute(
            "INSERT INTO sessions (session_id, server_capabilities, state, created_at, "
            "last_activity, is_initialized, metadata) VALUES "
            "('pretty', '{}', '{\n  \"a\": [1,\n 2]\n}', 1, 2, 1, '{}')"
        )
        conn.execute(
            "INSERT INTO events (session_id, timestamp, event_type, data) "
            "VALUES ('pretty', 3, 'm', '{\r\n\"x\": \"line\\nbreak\"\n}')"
        )
    path = tmp_path / "p.mcpbackup.zst"
    assert sqlite_store.run("backup", "-o", str(path), "--quiet").exit_code == 0
    other = fresh_store(None, tmp_path, "sqlite")
    assert other.run("restore", str(path), "--quiet").exit_code == 0
    got = content(other)["pretty"]
    assert got["state"] == {"a": [1, 2]}
    assert got["events"] == [(3, "m", {"x": "line\nbreak"}, None)]


# -- damaged files ------------------------------------------------------------------------
@pytest.fixture
def good_backup(tmp_path: Path) -> tuple[StoreHandle, Path]:
    path = tmp_path / "src.db"
    handle = StoreHandle(
        "sqlite", f"sqlite:///{path}", lambda: SqliteServerWriter(str(path)), str(path)
    )
    fill(handle, sessions=30, events=5)
    target = tmp_path / "good.mcpbackup.zst"
    assert handle.run("backup", "-o", str(target), "--quiet").exit_code == 0
    return handle, target


def test_truncated_and_bit_flipped_files_are_refused(
    good_backup: tuple[StoreHandle, Path], tmp_path: Path
) -> None:
    _, good = good_backup
    data = good.read_bytes()
    verify_file(good)
    target_path = tmp_path / "target.db"
    target = StoreHandle(
        "sqlite",
        f"sqlite:///{target_path}",
        lambda: SqliteServerWriter(str(target_path)),
        str(target_path),
    )
    target.setup()
    bad = tmp_path / "bad.mcpbackup.zst"
    cuts = sorted({1, 4, 10, len(data) // 3, len(data) // 2, len(data) - 20, len(data) - 1})
    for cut in cuts:
        bad.write_bytes(data[:cut])
        with pytest.raises(BackupFileError):
            verify_file(bad)
        r = target.run("restore", str(bad))
        assert r.exit_code == 1, (cut, r)
        assert "nothing was changed" in r.stderr
    # A flipped bit is refused, unless it falls where zstd does not look (some bits of a
    # frame header, block padding): then the file still holds exactly the same records, and
    # accepting it is right. Anything else the verifier accepts is a failure.
    original = _decompressed(data)
    refused = 0
    for position in range(0, len(data), max(1, len(data) // 40)):
        for bit in (0, 5):
            flipped = bytearray(data)
            flipped[position] ^= 1 << bit
            bad.write_bytes(bytes(flipped))
            try:
                verify_file(bad)
            except BackupFileError:
                refused += 1
                continue
            assert _decompressed(bytes(flipped)) == original, (position, bit)
    assert refused >= 60  # of 80 or so: nearly every bit matters
    assert content(target) == {}  # never touched


def _decompressed(data: bytes) -> bytes:
    import io

    import zstandard

    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
    return bytes(reader.read())


def test_a_consistent_but_edited_file_is_refused(
    good_backup: tuple[StoreHandle, Path], tmp_path: Path
) -> None:
    """Checksum recomputed after an edit: the records themselves are still checked."""
    import hashlib

    import zstandard

    _, good = good_backup
    lines = zstandard.ZstdDecompressor().decompress(good.read_bytes(), max_output_size=1 << 26)
    body = lines.split(b"\n")[:-2]

    def write(records: list[bytes]) -> Path:
        digest = hashlib.sha256(b"".join(r + b"\n" for r in records)).hexdigest()
        trailer = {
            "end": "mcpstore-backup",
            "sessions": sum(r.startswith(b'["s"') for r in records),
            "events": sum(r.startswith(b'["e"') for r in records),
            "sha256": digest,
        }
        out = tmp_path / "edited.mcpbackup.zst"
        raw = b"".join(r + b"\n" for r in records) + json.dumps(trailer).encode() + b"\n"
        out.write_bytes(zstandard.ZstdCompressor().compress(raw))
        return out

    verify_file(write(body))  # the unedited content passes
    orphan = b'["e","no-such-session",1,2,"message",{},null,null]'
    with pytest.raises(BackupFileError, match="not in the file"):
        verify_file(write([*body, orphan]))
    wrong = body[1].replace(b'"s",', b'"s",7,', 1)
    with pytest.raises(BackupFileError, match="11 fields"):
        verify_file(write([body[0], wrong, *body[2:]]))


def test_gzip_files_restore(good_backup: tuple[StoreHandle, Path], tmp_path: Path) -> None:
    import zstandard

    handle, good = good_backup
    raw = zstandard.ZstdDecompressor().decompress(good.read_bytes(), max_output_size=1 << 26)
    gz = tmp_path / "same.mcpbackup.gz"
    gz.write_bytes(gzip.compress(raw))
    path = tmp_path / "t.db"
    target = StoreHandle(
        "sqlite", f"sqlite:///{path}", lambda: SqliteServerWriter(str(path)), str(path)
    )
    r = target.run("restore", str(gz))
    assert r.exit_code == 0, r
    assert content(target) == content(handle)


def test_not_a_backup_and_missing_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    missing = run_cli(["restore", str(tmp_path / "nope.zst"), "--url", url])
    assert missing.exit_code == 2 and "No backup file" in missing.stderr
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    r = run_cli(["restore", str(text), "--url", url])
    assert r.exit_code == 1 and "not an mcpstore backup" in r.stderr
    assert not (tmp_path / "t.db").exists()


def test_wrong_layout_is_refused(good_backup: tuple[StoreHandle, Path], tmp_path: Path) -> None:
    _, good = good_backup
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sessions (id INTEGER PRIMARY KEY, payload TEXT)")
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO sessions (payload) VALUES ('keep me')")
    r = run_cli(["restore", str(good), "--url", f"sqlite:///{path}"])
    assert r.exit_code == 3, r
    assert "another layout" in r.stderr
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT payload FROM sessions").fetchall() == [("keep me",)]


def test_postgres_wrong_layout_and_limits_are_refused(
    request: pytest.FixtureRequest, tmp_path: Path, good_backup: tuple[StoreHandle, Path]
) -> None:
    _, good = good_backup
    pg = fresh_store(request, tmp_path, "postgres")
    server = request.getfixturevalue("pg_server")
    server.execute("CREATE TABLE sessions (id int PRIMARY KEY, payload text)", database=pg.name)
    r = pg.run("restore", str(good))
    assert r.exit_code == 3, r
    # Ids longer than PostgreSQL's VARCHAR(36): refused before anything is written.
    long_path = tmp_path / "long.db"
    long = StoreHandle(
        "sqlite",
        f"sqlite:///{long_path}",
        lambda: SqliteServerWriter(str(long_path)),
        str(long_path),
    )
    long.setup()
    w = long.writer()
    w.session("x" * 40, created_at=1, last_activity=2, state={})
    w.close()
    path = tmp_path / "long.mcpbackup.zst"
    assert long.run("backup", "-o", str(path), "--quiet").exit_code == 0
    empty = fresh_store(request, tmp_path, "postgres")
    r = empty.run("restore", str(path))
    assert r.exit_code == 1 and "at most 36" in r.stderr, r


def test_postgres_one_pass_restore_rolls_back_damaged_files(
    request: pytest.FixtureRequest, tmp_path: Path, good_backup: tuple[StoreHandle, Path]
) -> None:
    """Into PostgreSQL the file is checked as it loads: a damaged one leaves nothing behind
    (no rows, every index and key as before)."""
    import zstandard

    _, good = good_backup
    data = good.read_bytes()
    raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 26)
    pg = fresh_store(request, tmp_path, "postgres")
    pg.setup()
    bad = tmp_path / "bad.mcpbackup.zst"
    edited = raw.replace(b'"notifications/message"', b'"notifications/messagE"', 1)
    variants = [
        data[: len(data) - 3],  # truncated inside the last frame
        zstandard.ZstdCompressor().compress(raw[: raw.rfind(b"\n", 0, len(raw) - 1) + 1]),
        zstandard.ZstdCompressor().compress(edited),  # checksum no longer matches
        zstandard.ZstdCompressor().compress(raw.replace(b"]\n", b"}\n", 3)),
    ]
    for variant in variants:
        bad.write_bytes(variant)
        r = pg.run("restore", str(bad))
        assert r.exit_code == 1, r
        assert "nothing" in r.stderr and "changed" in r.stderr, r
        assert content(pg) == {}
        checked = pg.run("setup", "--check", "--format", "json")
        assert checked.exit_code == 0 and not [
            f for f in checked.json() if f["severity"] == "error"
        ], checked


# -- interrupted backups ------------------------------------------------------------------
def test_sigkill_never_leaves_an_acceptable_incomplete_file(tmp_path: Path) -> None:
    db = tmp_path / "big.db"
    handle = StoreHandle("sqlite", f"sqlite:///{db}", lambda: SqliteServerWriter(str(db)), str(db))
    assert (
        handle.run(
            "demo", "--sessions", "20000", "--events-per-session", "5", "--quiet", "--seed", "3"
        ).exit_code
        == 0
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    import random

    rng = random.Random(11)
    command = [
        sys.executable,
        "-m",
        "mcpstore_cli",
        "backup",
        "--url",
        f"sqlite:///{db}",
        "--quiet",
        "-o",
    ]
    started = time.perf_counter()
    subprocess.run([*command, str(tmp_path / "full.mcpbackup.zst")], env=env, check=True)
    full = time.perf_counter() - started
    complete = incomplete = 0
    for trial in range(12):
        folder = tmp_path / f"trial{trial}"
        folder.mkdir()
        out = folder / "b.mcpbackup.zst"
        proc = subprocess.Popen(
            [*command, str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.3, 1.1) * full)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for leftover in folder.iterdir():
            assert leftover == out or leftover.name.endswith(".partial"), leftover
            try:
                info = verify_file(leftover)
            except BackupFileError:
                assert leftover != out  # only a temporary file may be incomplete
                incomplete += 1
                continue
            # Accepted: then it is the whole backup.
            assert (info.sessions, info.events) == (20000, 100000)
            complete += 1
    assert incomplete >= 2, (complete, incomplete, full)  # the kills did land mid-backup


# -- backend specifics --------------------------------------------------------------------
def test_postgres_sequence_moves_past_restored_ids(
    request: pytest.FixtureRequest, tmp_path: Path, good_backup: tuple[StoreHandle, Path]
) -> None:
    _, good = good_backup
    info = verify_file(good)
    pg = fresh_store(request, tmp_path, "postgres")
    assert pg.run("restore", str(good), "--quiet").exit_code == 0
    writer = pg.writer()
    try:
        new_id = writer.event(f"019a{0:028x}", timestamp=now_ms(), event_type="message", data={})
    finally:
        writer.close()
    assert info.max_event_id is not None and new_id > info.max_event_id
    # The load into empty tables set indexes and keys aside: all of them are back.
    checked = pg.run("setup", "--check", "--format", "json")
    assert checked.exit_code == 0, checked
    assert not [f for f in checked.json() if f["severity"] == "error"]
    server = request.getfixturevalue("pg_server")
    rows = server.execute(
        "SELECT count(*) FROM pg_indexes WHERE tablename IN ('sessions', 'events')",
        "SELECT confdeltype::text FROM pg_constraint WHERE contype = 'f' AND "
        "conrelid = 'events'::regclass",
        database=pg.name,
    )
    assert rows[0][0][0] == 9  # 7 of the layout + both primary keys
    assert rows[1][0][0] == "c"  # ON DELETE CASCADE


def test_dynamodb_ttl_recomputed_or_kept(
    request: pytest.FixtureRequest, tmp_path: Path, good_backup: tuple[StoreHandle, Path]
) -> None:
    _, good = good_backup
    ddb = fresh_store(request, tmp_path, "dynamodb")
    ddb.setup()
    assert ddb.run("restore", str(good), "--quiet").exit_code == 0
    sessions = content(ddb)

    async def ttls(handle: StoreHandle) -> list[int | None]:
        async with open_handle(handle) as store:
            return [
                s.extra("ttl")
                async for s in store.iter_sessions(SessionFilter(now_ms=now_ms()), limit=None)
            ]

    now_s = int(time.time())
    recomputed = asyncio.run(ttls(ddb))
    assert len(recomputed) == len(sessions) == 30
    assert all(t is not None and now_s + 1500 <= t <= now_s + 1900 for t in recomputed)
    # A DynamoDB backup carries ttl; --keep-ttl keeps it, otherwise it is recomputed.
    path = tmp_path / "ddb.mcpbackup.zst"
    assert ddb.run("backup", "-o", str(path), "--quiet").exit_code == 0
    kept = fresh_store(request, tmp_path, "dynamodb")
    time.sleep(1.1)
    r = kept.run("restore", str(path), "--keep-ttl", "--format", "json")
    assert r.exit_code == 0 and r.json()["ttl"] == "kept from the backup", r
    assert sorted(asyncio.run(ttls(kept))) == sorted(recomputed)


def test_sqlite_native_backup_is_wal_safe(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    handle = StoreHandle("sqlite", f"sqlite:///{db}", lambda: SqliteServerWriter(str(db)), str(db))
    fill(handle)
    # An open writer with committed frames still only in the WAL.
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute(
        "INSERT INTO sessions (session_id, server_capabilities, state, created_at, "
        "last_activity, is_initialized, metadata) VALUES ('in-wal', '{}', '{}', 1, 2, 0, '{}')"
    )
    conn.commit()
    assert Path(f"{db}-wal").stat().st_size > 0
    out = tmp_path / "copy.backup.db"
    r = handle.run("backup", "--native", "-o", str(out))
    conn.close()
    assert r.exit_code == 0, r
    assert out.stat().st_mode & 0o777 == 0o600
    copy = StoreHandle("sqlite", f"sqlite:///{out}", lambda: SqliteServerWriter(str(out)), str(out))
    assert "in-wal" in content(copy)
    listed = run_cli(
        ["backup", "list", "--dir", str(tmp_path), "--format", "json", "--url", f"sqlite:///{db}"]
    )
    assert listed.exit_code == 0, listed
    assert {(row["kind"], row["name"]) for row in listed.json()} >= {("sqlite", "copy.backup.db")}


def test_backup_list_shows_files_and_leftovers(
    good_backup: tuple[StoreHandle, Path], tmp_path: Path
) -> None:
    (tmp_path / ".x.mcpbackup.zst.123.partial").write_bytes(b"\x28\xb5\x2f\xfd")
    r = run_cli(["backup", "list", "--dir", str(tmp_path), "--format", "json"])
    assert r.exit_code == 0, r
    rows = {row["name"]: row for row in r.json()}
    assert rows["good.mcpbackup.zst"]["backend"] == "sqlite"
    assert rows["good.mcpbackup.zst"]["kind"] == "file"
    assert rows[".x.mcpbackup.zst.123.partial"]["status"].startswith("incomplete")


def test_postgres_native_backup_is_refused_clearly(postgres_store: StoreHandle) -> None:
    postgres_store.setup()
    r = postgres_store.run("backup", "--native")
    assert r.exit_code == 1 and "pg_dump" in r.stderr, r


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """moto's server: DynamoDB Local has no on-demand backups."""
    import contextlib
    import socket

    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - moto[server] is a test dependency
        from tests.conftest import unavailable

        unavailable(f"moto's server is not installed: {exc}")
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(Exception):
            server.stop()


def test_dynamodb_native_backups_on_moto(moto_server: str, tmp_path: Path) -> None:
    moto_endpoint = moto_server
    table = unique_table("nat")
    url = dynamodb_url(moto_endpoint, table)
    try:
        assert run_cli(["setup", "--quiet", "--url", url], environ=DYNAMO_ENV).exit_code == 0
        writer = DynamoServerWriter(moto_endpoint, table)
        writer.session("s1", created_at=1, last_activity=now_ms(), state={"a": 1})
        writer.event("s1", timestamp=1, event_type="message", data={"x": 1})
        made = run_cli(["backup", "--native", "--format", "json", "--url", url], environ=DYNAMO_ENV)
        assert made.exit_code == 0, made
        names = [row["name"] for row in made.json()]
        assert len(names) == 2 and names[0].startswith(f"{table}-2")
        assert names[1].startswith(f"{table}-events-2")
        listed = run_cli(
            ["backup", "list", "--format", "json", "--url", url, "--dir", str(tmp_path)],
            environ=DYNAMO_ENV,
        )
        assert listed.exit_code == 0, listed
        assert {r["name"] for r in listed.json() if r["kind"] == "dynamodb"} == set(names)
        new = unique_table("restored")
        r = run_cli(
            ["restore", "--native", names[0], "--to-table", new, "--url", url], environ=DYNAMO_ENV
        )
        assert r.exit_code == 0, r
        handle = StoreHandle(
            "dynamodb",
            dynamodb_url(moto_endpoint, new),
            lambda: writer,
            new,
            environ=dict(DYNAMO_ENV),
        )
        restored = content(handle)
        assert restored["s1"]["state"] == {"a": 1}
        assert restored["s1"]["events"] == [(1, "message", {"x": 1}, None)]
        again = run_cli(
            ["restore", "--native", names[0], "--to-table", new, "--url", url], environ=DYNAMO_ENV
        )
        assert again.exit_code == 2 and "exists already" in again.stderr
        drop_tables(moto_endpoint, new)
    finally:
        drop_tables(moto_endpoint, table)


def test_library_api_default_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "mystore.db"
    handle = StoreHandle("sqlite", f"sqlite:///{db}", lambda: SqliteServerWriter(str(db)), str(db))
    fill(handle)

    async def go() -> Any:
        async with open_handle(handle) as store:
            summary = await write_backup(store)
        async with open_store(parse_store_url(f"sqlite:///{tmp_path / 'r.db'}")) as target:
            restored = await restore_backup(target, summary.path)
        return summary, restored

    summary, restored = asyncio.run(go())
    assert Path(summary.path).name.startswith("mystore-")
    assert summary.path.endswith(".mcpbackup.zst")
    assert (summary.sessions, summary.events, restored.events) == (4, 12, 12)
    assert summary.bytes == Path(summary.path).stat().st_size and summary.seconds > 0


def test_sqlite_backup_renders_the_same_with_either_binding(
    sqlite_store: StoreHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """APSW's SQLite renders the records when installed, the standard library's otherwise:
    the two files hold the same record lines, and the one made without APSW restores."""
    import zstandard

    pytest.importorskip("apsw")
    fill(sqlite_store)

    def record_lines(path: Path) -> list[bytes]:
        with path.open("rb") as fh:
            data = zstandard.ZstdDecompressor().stream_reader(fh).read()
        return data.splitlines()[1:-1]  # no header (it has the time) and no trailer

    with_apsw = tmp_path / "apsw.mcpbackup.zst"
    assert sqlite_store.run("backup", "-o", str(with_apsw), "--quiet").exit_code == 0
    monkeypatch.setitem(sys.modules, "apsw", None)  # "import apsw" now raises ImportError
    without = tmp_path / "stdlib.mcpbackup.zst"
    assert sqlite_store.run("backup", "-o", str(without), "--quiet").exit_code == 0
    lines = record_lines(without)
    assert len(lines) == 4 + 12
    assert record_lines(with_apsw) == lines
    other = fresh_store(None, tmp_path, "sqlite")
    assert other.run("restore", str(without), "--quiet").exit_code == 0
    assert content(other) == content(sqlite_store)


def test_postgres_event_rows_are_the_same_by_pattern_and_line_by_line() -> None:
    """Restore into PostgreSQL takes usual event lines apart with one pattern over a whole
    block; lines it cannot take (escapes in an id, a tab, a bad record) go line by line. Both
    ways give the same COPY text, and a bad record is refused either way."""
    from mcpstore_cli.backends.postgres.backup import _BadRecord, _event_block, _event_rows

    def line(rec: list[Any], compact: bool) -> bytes:
        seps = (",", ":") if compact else (", ", ": ")
        return json.dumps(rec, separators=seps, ensure_ascii=False).encode()

    records: list[list[Any]] = [
        ["e", "s1", 1, 1700000000000, "message", {"a": 1}, None, None],
        ["e", "s1", 2, -5, "notifications/progress", {"t": 'a\\b "q"'}, 3000, 1700000999],
        ["e", "sé", 3, 0, "x", [1, {"k": []}], -1, None],
        ["e", "s2", 4, 7, "", "just a string", None, 12],
        ["e", "s2", 5, 8, "t", None, 0, None],
        ["e", "s2", 999999999999999999, 9, "t", {"n": 123456789012345678901234567890}, 1, 2],
    ]
    for compact in (True, False):
        lines = [line(r, compact) for r in records]
        block = b"".join(x + b"\n" for x in lines)
        for keep_ids in (True, False):
            by_lines = _event_rows(lines, keep_ids)
            assert _event_block(block, len(lines), keep_ids) == by_lines
            assert by_lines.count(b"\n") == len(lines)
        rows = _event_block(block, len(lines), True).split(b"\n")
        assert rows[0] == b"s1\t1\t1700000000000\tmessage\t" + line({"a": 1}, compact) + b"\t\\N"
        data = line({"t": 'a\\b "q"'}, compact)
        assert rows[1].split(b"\t")[4] == data.replace(b"\\", b"\\\\")  # COPY text escapes
        # Lines the pattern does not take: escapes in an id, a tab inside data (JSON
        # whitespace); the rest of the block still matches the line-by-line rendering.
        odd = [
            line(["e", 's"3', 6, 1, "t", {}, None, None], compact),
            line(["e", "s3", 7, 1, "t", {}, None, None], compact).replace(b"{}", b"{\t}"),
        ]
        mixed = lines + odd
        block = b"".join(x + b"\n" for x in mixed)
        assert _event_block(block, len(mixed), True) == _event_rows(mixed, True)
        assert b's"3\t6\t1\tt\t{}\t\\N' in _event_block(block, len(mixed), True)
    for bad in (
        b'["e","s1",0,1,"t",{},null,null]',  # event ids start at 1
        b'["e","s1",1,1,"t",{},null,"x"]',  # ttl is not an integer
        b'["s","s1",1,1,"t",{},null,null]',  # not an event
        b'["e","s1",1,1,"t",{},null]',  # a field short
        b'["e","s1",1,007,"t",{},null,null]',  # not a JSON integer
        b'["e","a,b",1,007,"t",{},null,null]',  # the same on a line that goes through json
    ):
        block = b"".join(x + b"\n" for x in [lines[0], bad])
        with pytest.raises(_BadRecord):
            _event_block(block, 2, True)


def test_postgres_backup_lines_are_what_json_build_array_writes(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backup reads records as COPY text columns and joins them itself: the lines are
    byte for byte the JSON arrays PostgreSQL renders, whatever the strings hold."""
    import zstandard

    pg = fresh_store(request, tmp_path, "postgres")
    pg.setup()
    odd = ['q"uote', "back\\slash", "tab\there", "nl\nx", "é✓😀", "ctl\x01\x1f", "\\N", "a, b"]
    w = pg.writer()
    try:
        for i, sid in enumerate(odd):
            w.session(
                sid,
                created_at=-i,
                last_activity=10**15 + i,
                is_initialized=i % 2 == 0,
                client_capabilities=None if i % 3 == 0 else {"x": sid, "n": 10**30},
                server_capabilities=None if i == 1 else {"s": "\\N\t\\t"},
                state={"k\\": ["\\\\", "\n", 1.5e300, {"": {}}]},
                metadata={"__meta__:a": sid},
            )
            for j, data in enumerate([{"a": sid}, "str\\N", None, [{"t": "\t"}], 10**22, "\\"]):
                w.event(sid, timestamp=j - 3, event_type=sid + "\\t", data=data, retry=j or None)
    finally:
        w.close()
    # Enough events that some arrive while the sessions are still being written (they wait
    # in the temporary file) and more after (written as they come): the order holds.
    demo = ("demo", "--sessions", "3000", "--events-per-session", "20", "--seed", "3", "--quiet")
    assert pg.run(*demo).exit_code == 0
    path = tmp_path / "odd.mcpbackup.zst"
    assert pg.run("backup", "-o", str(path), "--quiet").exit_code == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mcpstore-events-")]
    raw = zstandard.ZstdDecompressor().decompress(path.read_bytes(), max_output_size=1 << 28)
    lines = raw.decode().split("\n")[1:-2]  # header, trailer and the last newline left out
    server = request.getfixturevalue("pg_server")
    expected = server.execute(
        "SELECT json_build_array('s', session_id, created_at, last_activity, is_initialized, "
        "client_capabilities, server_capabilities, state, metadata, version, NULL)::text "
        "FROM sessions",
        "SELECT json_build_array('e', session_id, id, timestamp, event_type, data, retry, "
        "NULL)::text FROM events ORDER BY id",
        database=pg.name,
    )
    sessions = [r[0] for r in expected[0]]
    events = [r[0] for r in expected[1]]
    assert len(sessions) == len(odd) + 3000 and len(events) == 6 * len(odd) + 60_000
    assert sorted(lines[: len(sessions)]) == sorted(sessions)
    assert lines[len(sessions) :] == events
    restored = fresh_store(request, tmp_path, "postgres")
    assert restored.run("restore", str(path), "--quiet").exit_code == 0
    assert content(restored) == content(pg)
    # With the temporary file full at once, the events wait for the sessions: same lines.
    from mcpstore_cli.backends.postgres import backup as postgres_backup

    monkeypatch.setattr(postgres_backup, "SPOOL_LIMIT", 1)
    waited = tmp_path / "waited.mcpbackup.zst"
    assert pg.run("backup", "-o", str(waited), "--quiet").exit_code == 0
    again = zstandard.ZstdDecompressor().decompress(waited.read_bytes(), max_output_size=1 << 28)
    assert again.split(b"\n")[1:-2] == raw.split(b"\n")[1:-2]


def test_postgres_session_rows_are_the_same_with_or_without_simdjson() -> None:
    """Session records become COPY rows through simdjson when it is installed; a block with
    an integer above 64 bits or a session id with a control character goes through orjson
    and json. Either way each column holds the same values."""
    from mcpstore_cli.backends.postgres.backup import (
        _BadRecord,
        _session_rows,
        _session_rows_checked,
    )

    def block(records: list[list[Any]]) -> bytes:
        return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)

    def columns(text: bytes) -> list[list[Any]]:
        rows = []
        for row in text.split(b"\n")[:-1]:
            f = row.split(b"\t")
            values = [
                None if v == b"\\N" else json.loads(v.replace(b"\\\\", b"\\")) for v in f[4:8]
            ]
            rows.append([*f[:4], *values, f[8]])
        return rows

    usual = [
        ["s", "a", 1, 2, True, {"x": "é\\"}, {"t": {}}, {"k": [1, 2.5, None]}, {}, 3, None],
        ["s", "b\\c", -1, 0, False, None, None, {"n": -0.5}, {"__meta__:z": "\\N"}, None, 7],
        ["s", "😀", 9, 9, True, [], "", {}, {"q": '"'}, 1, None],
    ]
    odd = [
        [*usual, ["s", "big", 1, 2, True, None, {}, {"n": 10**30}, {}, 1, None]],
        [*usual, ["s", "tab\there", 1, 2, True, None, {}, {}, {}, 1, None]],
    ]
    for records in [usual, *odd]:
        text = block(records)
        assert columns(_session_rows(text)) == columns(_session_rows_checked(text))
    assert columns(_session_rows(block(odd[0])))[-1][6] == {"n": 10**30}
    assert columns(_session_rows(block(usual)))[2][4:6] == [[], ""]
    for bad in (
        ["s", "a", 1, 2, "yes", None, {}, {}, {}, 1, None],
        ["s", "a", 1, 2, True, None, {}, [], {}, 1, None],
        ["e", "a", 1, 2, True, None, {}, {}, {}, 1, None],
    ):
        with pytest.raises(_BadRecord):
            _session_rows(block([*usual, bad]))
    with pytest.raises(_BadRecord):  # a byte order mark before a record is not JSON
        _session_rows(block(usual[:1]) + b"\xef\xbb\xbf" + block(usual[1:]))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_restore_says_when_it_verified(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    good_backup: tuple[StoreHandle, Path],
    backend: str,
) -> None:
    """PostgreSQL checks a merge in the loading pass (one transaction); SQLite and any
    replace check the whole file first. The summary says which, in words and in JSON."""
    _, good = good_backup
    target = fresh_store(request, tmp_path, backend)
    r = target.run("restore", str(good), "-f", "json")
    assert r.exit_code == 0, r
    one_pass = backend == "postgres"
    assert r.json()["verified_while_loading"] is one_pass
    assert ("verified as it loaded" in r.stderr) is one_pass, r
    assert ("s first;" in r.stderr) is not one_pass, r
    again = target.run("restore", str(good), "--mode", "replace", "--yes", "-f", "json")
    assert again.exit_code == 0, again
    assert again.json()["verified_while_loading"] is False
    assert "s first;" in again.stderr, again
