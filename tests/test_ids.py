"""One id rule for every command that takes a session id, on every backend (issue 15.3).

The full id, or a prefix of at least 4 characters that starts exactly one id; hex ids in any
case; no match, several matches or a short prefix: one sentence, exit 1, nothing written.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mcpstore_cli.model import ids as ids_module
from mcpstore_cli.ops.backup import verify_file
from mcpstore_cli.ops.ids import is_hex, spellings
from mcpstore_cli.store import open_store
from mcpstore_cli.store.urls import parse_store_url
from mcpstore_cli.util.timeutil import now_ms
from tests.conftest import StoreHandle

UNIQUE = "01a237a8" + "5e" * 12  # the only id starting 01a237a8
SEVEN = [f"01a237b{i}" + "c" * 25 for i in range(7)]  # seven ids starting 01a237b
SHORT = "abc"  # a full id shorter than a prefix may be
NAMED = ["Sess-Alpha-1", "Sess-Alpha-10"]  # not hex: matched exactly as typed
EVENTS = {UNIQUE: 3, SEVEN[0]: 2, SHORT: 1, NAMED[0]: 1}


def _fill(store: StoreHandle) -> None:
    store.setup()
    writer = store.writer()
    now = now_ms()
    try:
        for i, sid in enumerate([UNIQUE, *SEVEN, SHORT, *NAMED]):
            writer.session(sid, created_at=now - 60_000 + i, last_activity=now - 1_000 + i)
        for sid, count in EVENTS.items():
            for k in range(count):
                writer.event(sid, timestamp=now - 500 + k, event_type="ping", data={"k": k})
    finally:
        writer.close()


def _one_line_error(result: object) -> str:
    assert result.exit_code == 1, result  # type: ignore[attr-defined]
    assert result.stdout == "", result  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _show(store: StoreHandle, typed: str) -> str:
    result = store.run("show", typed, "--format", "json")
    assert result.exit_code == 0, result
    return result.json()["session_id"]


def _tail(store: StoreHandle, typed: str) -> list[dict]:
    result = store.run("tail-events", "--no-follow", "--session", typed, "-f", "jsonl")
    assert result.exit_code == 0, result
    return result.jsonl()


def test_show_resolves_by_the_id_rule(store: StoreHandle) -> None:
    _fill(store)
    assert _show(store, UNIQUE) == UNIQUE
    assert _show(store, UNIQUE[:8]) == UNIQUE  # unique prefix
    assert _show(store, UNIQUE[:4].replace("a", "A") + UNIQUE[4:8]) == UNIQUE
    assert _show(store, "01A237A8") == UNIQUE  # upper-case prefix
    assert _show(store, UNIQUE.upper()) == UNIQUE  # upper-case full id
    assert _show(store, SHORT) == SHORT  # a full id shorter than 4 characters
    assert _show(store, NAMED[0]) == NAMED[0]  # exact wins over being a prefix of another
    assert _show(store, "Sess-Alpha-10") == NAMED[1]


def test_show_refuses_short_ambiguous_and_unknown(store: StoreHandle) -> None:
    _fill(store)
    err = _one_line_error(store.run("show", "01a"))
    assert "'01a'" in err and "at least 4 characters" in err
    err = _one_line_error(store.run("show", "01A237B"))
    assert "starts 7 session ids" in err
    assert "'01A237B' starts 7 session ids: " + ", ".join(SEVEN[:5]) + " and 2 more;" in err
    assert SEVEN[5] not in err
    err = _one_line_error(store.run("show", "01a299"))
    assert "No session '01a299'" in err
    # A non-hex id is matched exactly as typed: no case folding.
    err = _one_line_error(store.run("show", "sess-alpha-1"))
    assert "No session 'sess-alpha-1'" in err
    err = _one_line_error(store.run("show", "Sess-Alpha"))
    assert "starts 2 session ids: Sess-Alpha-1, Sess-Alpha-10;" in err
    # Longer than any stored id (PostgreSQL's column holds 36): simply no such session.
    err = _one_line_error(store.run("show", "f" * 40))
    assert f"No session '{'f' * 40}'" in err
    assert store.run("show", "not an id").exit_code == 2  # malformed: a usage error


def test_backup_session_resolves_by_the_id_rule(store: StoreHandle, tmp_path: Path) -> None:
    _fill(store)
    path = tmp_path / "prefix.mcpbackup.zst"
    result = store.run("backup", "-o", str(path), "--session", "01A237A8", "--format", "json")
    assert result.exit_code == 0, result
    assert (result.json()["sessions"], result.json()["events"]) == (1, 3)
    info = verify_file(path)
    assert (info.sessions, info.events) == (1, 3)
    assert info.header["filters"]["sessions"] == [UNIQUE]
    # Repeated, two spellings of one session count once; a short full id works.
    both = tmp_path / "both.mcpbackup.zst"
    result = store.run(
        "backup", "-o", str(both), "--session", UNIQUE, "--session", "01a237a8",
        "--session", SEVEN[0][:8], "--session", SHORT, "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result
    info = verify_file(both)
    assert (info.sessions, info.events) == (3, 3 + 2 + 1)
    assert info.header["filters"]["sessions"] == [UNIQUE, SEVEN[0], SHORT]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("01a", "at least 4 characters"),
        ("01a237b", "starts 7 session ids"),
        ("01a299", "No session '01a299' (--session)"),
    ],
)
def test_backup_session_refusals_write_nothing(
    store: StoreHandle, tmp_path: Path, typed: str, expected: str
) -> None:
    _fill(store)
    out = tmp_path / "out"
    out.mkdir()
    path = out / "never.mcpbackup.zst"
    err = _one_line_error(
        store.run("backup", "-o", str(path), "--session", UNIQUE, "--session", typed)
    )
    assert expected in err
    assert list(out.iterdir()) == [], "no file, no temporary left"


def test_tail_events_session_resolves_by_the_id_rule(store: StoreHandle) -> None:
    _fill(store)
    for typed in (UNIQUE, UNIQUE[:8], "01A237A8", UNIQUE.upper()):
        rows = _tail(store, typed)
        assert [r["session_id"] for r in rows] == [UNIQUE] * 3, typed
        assert [r["data"] for r in rows] == [{"k": 0}, {"k": 1}, {"k": 2}]
    assert [r["session_id"] for r in _tail(store, SHORT)] == [SHORT]
    for typed, expected in (
        ("01a", "at least 4 characters"),
        ("01a237b", "'01a237b' (--session) starts 7 session ids"),
        ("01a299", "No session '01a299' (--session)"),
        ("nosuchsession", "No session 'nosuchsession' (--session)"),
    ):
        result = store.run("tail-events", "--no-follow", "--session", typed)
        assert expected in _one_line_error(result), typed


def test_spellings() -> None:
    # Which forms of a typed id are looked up: hex in both cases, anything else as typed.
    assert spellings("01a237A8") == ["01a237A8", "01a237a8", "01A237A8"]
    assert spellings("0193a1b2-c3d4") == ["0193a1b2-c3d4", "0193A1B2-C3D4"]
    assert spellings("Sess-Alpha") == ["Sess-Alpha"]
    assert spellings("1234") == ["1234"]
    assert is_hex("DEADbeef") and not is_hex("----") and not is_hex("g123")
    assert is_hex("0193a1b2-") and is_hex("0193A1B2-C3D4-7e5f-8a9b-0c1d2e3f4a5b")
    assert not is_hex("ab-c") and not is_hex("0193a1b2c-3d4") and not is_hex("0193a1b2--")
    assert spellings("aB-c") == ["aB-c"]


def test_postgres_prefixes_whatever_the_collation(
    pg_server: Any, postgres_store: StoreHandle
) -> None:
    # In a linguistic collation (ICU, en_US) ids do not sort byte-wise and punctuation may
    # weigh little; the range that serves a prefix must still hold every id it starts.
    store = postgres_store
    store.setup()
    rows = pg_server.execute(
        "SELECT collname FROM pg_collation WHERE collname IN ('en-US-x-icu', 'en_US.utf8', "
        "'und-x-icu') ORDER BY collname",
        database=store.name,
    )[0]
    if not rows:
        pytest.skip("this PostgreSQL server has no linguistic collation")
    collation = rows[0][0]
    pg_server.execute(
        *(
            f'ALTER TABLE {table} ALTER COLUMN session_id TYPE VARCHAR(36) COLLATE "{collation}"'
            for table in ("events", "sessions")
        ),
        database=store.name,
    )
    ids = ["ab-c1", "ab-c2", "aB-c3", "ab_c1", "abc", "ab.c9", UNIQUE, SEVEN[0].upper()]
    writer = store.writer()
    try:
        for sid in ids:
            writer.session(sid, created_at=1000, last_activity=5000)
    finally:
        writer.close()
    assert _show(store, "ab_c") == "ab_c1"
    assert _show(store, "ab.c") == "ab.c9"
    assert _show(store, "aB-c") == "aB-c3"
    assert _show(store, "01A237A8") == UNIQUE
    assert _show(store, SEVEN[0][:9]) == SEVEN[0].upper()  # stored upper case, typed lower
    err = _one_line_error(store.run("show", "ab-c"))
    assert "starts 2 session ids: ab-c1, ab-c2;" in err


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sql_prefix_reads_are_index_ranges(request: pytest.FixtureRequest, backend: str) -> None:
    # Both reads behind a prefix (the first ids, the capped count) are ranges of the primary
    # key's index, never a scan of the table, in either case of a hex prefix.
    handle: StoreHandle = request.getfixturevalue(f"{backend}_store")
    _fill(handle)
    store = open_store(parse_store_url(handle.url))
    dialect = store._page_dialect()
    for prefix in ("01a237b", "01A237B", "Sess-Alpha"):
        for stmt in store.prefix_statements(prefix, 6):
            sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            if backend == "sqlite":
                with sqlite3.connect(handle.name) as db:
                    plan = " ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}"))
                assert "USING COVERING INDEX sqlite_autoindex_sessions_1" in plan, plan
                assert "session_id>? AND session_id<?" in plan, plan
            else:
                pg = request.getfixturevalue("pg_server")
                rows = pg.execute(
                    "SET enable_seqscan = off", f"EXPLAIN {sql}", database=handle.name
                )[1]
                plan = " ".join(row[0] for row in rows)
                assert "sessions_pkey" in plan and "Index Cond" in plan, plan
                assert "Seq Scan" not in plan, plan


def test_many_matches_are_counted_up_to_a_cap(
    store: StoreHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQL stores count the matches of a prefix at most COUNT_CAP + 1 rows far (a short
    # prefix of time-ordered ids can start millions); DynamoDB's scan sees them all anyway.
    _fill(store)
    monkeypatch.setattr(ids_module, "COUNT_CAP", 6)
    err = _one_line_error(store.run("show", "01a237b"))
    listed = ", ".join(SEVEN[:5])
    if store.backend == "dynamodb":
        assert f"starts 7 session ids: {listed} and 2 more;" in err
    else:
        assert f"starts over 6 session ids: {listed} and more than 1 more;" in err


def test_dynamodb_prefix_scan_says_so_on_a_big_table(
    dynamodb_store: StoreHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcpstore_cli.backends.dynamodb import store as dynamodb

    store = dynamodb_store
    _fill(store)
    monkeypatch.setattr(dynamodb, "SCAN_NOTE_ITEMS", -1)  # every table counts as big
    full = store.run("show", UNIQUE, "--format", "json")
    assert full.exit_code == 0 and full.stderr == "", full  # a key lookup: no scan, no note
    found = store.run("show", "01A237A8", "--format", "json")
    assert found.exit_code == 0 and found.json()["session_id"] == UNIQUE
    assert found.stderr.startswith("looking for session ids starting with '01A237A8': scanning")
    assert found.stderr.count("\n") == 1, found.stderr
    quiet = store.run("show", "01a237a8", "--quiet", "--format", "json")
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet
    # A table that is not big, but a scan that runs long, gets the note once it does.
    monkeypatch.setattr(dynamodb, "SCAN_NOTE_ITEMS", 10**9)
    monkeypatch.setattr(dynamodb, "SCAN_NOTE_SECONDS", 0.0)
    slow = store.run("show", "01a237a8", "--format", "json")
    assert slow.exit_code == 0, slow
    assert (
        slow.stderr
        == f"looking for session ids starting with '01a237a8': still scanning {store.name}...\n"
    )
