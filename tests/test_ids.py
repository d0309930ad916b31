"""One id rule for every command that takes a session id, on every backend (issue 15.3).

The full id, or a prefix of at least 4 characters that starts exactly one id; hex ids in any
case; no match, several matches or a short prefix: one sentence, exit 1, nothing written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpstore_cli.backup import verify_file
from mcpstore_cli.ids import is_hex, spellings
from mcpstore_cli.timeutil import now_ms
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
    assert "is the start of 7 session ids" in err
    assert ", ".join(SEVEN[:5]) + " and 2 more" in err and SEVEN[5] not in err
    err = _one_line_error(store.run("show", "01a299"))
    assert "No session '01a299'" in err
    # A non-hex id is matched exactly as typed: no case folding.
    err = _one_line_error(store.run("show", "sess-alpha-1"))
    assert "No session 'sess-alpha-1'" in err
    err = _one_line_error(store.run("show", "Sess-Alpha"))
    assert "is the start of 2 session ids (Sess-Alpha-1, Sess-Alpha-10)" in err
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
        ("01a237b", "is the start of 7 session ids"),
        ("01a299", "No session --session '01a299'"),
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
        ("01a237b", "--session '01a237b' is the start of 7 session ids"),
        ("01a299", "No session --session '01a299'"),
        ("nosuchsession", "No session --session 'nosuchsession'"),
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
