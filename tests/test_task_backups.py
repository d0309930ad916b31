"""Portable backups of the task and server-state layouts, across SQLite and PostgreSQL:
what restore loads is what backup read, merge adds only what is missing, replace empties
first, and a damaged file changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli
from tests.pg_fixtures import PgServer

LAYOUTS = ["tasks", "ext-tasks", "server-state"]


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


def _content(url: str, layout: str) -> Any:
    """What a layout holds, in a form that does not depend on the backend."""
    if layout == "server-state":
        figures = run_cli(["stats", "--url", url, "--layout", layout, "-f", "json"]).json()
        return {
            kind: (v["entities"], v["active"], v.get("fingerprint"))
            for kind, v in figures["entity_types"].items()
        }
    listed = run_cli(["tasks", "list", "--url", url, "--layout", layout, "-n", "0", "-f", "jsonl"])
    assert listed.exit_code == 0, listed
    keep = (
        "task_id",
        "status",
        "status_message",
        "method",
        "session_id",
        "created_at",
        "ttl_ms",
        "params",
        "result",
        "error",
        "meta",
        "owner",
    )
    return sorted(
        (tuple(json.dumps(t.get(k), sort_keys=True) for k in keep) for t in listed.jsonl()),
        key=lambda row: row[0],
    )


@pytest.mark.parametrize("layout", LAYOUTS)
def test_sqlite_to_postgres_and_back(layout: str, tmp_path: Path, pg_url: str) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    made = run_cli(["demo", "--url", source, "--layout", layout, "-s", "250", "--seed", "11"])
    assert made.exit_code == 0, made
    first = tmp_path / "one.mcpbackup.zst"
    b = run_cli(["backup", "--url", source, "--layout", layout, "-o", str(first)])
    assert b.exit_code == 0 and f"of the {layout} layout" in b.stderr, b
    # Without --layout: the file's layout is the target's.
    r = run_cli(["restore", str(first), "--url", pg_url])
    assert r.exit_code == 0 and "created the store's tables" in r.stderr, r
    assert _content(pg_url, layout) == _content(source, layout)
    again = run_cli(["restore", str(first), "--url", pg_url, "-f", "json"])
    assert again.exit_code == 0, again
    assert again.json()["sessions"] == 0 and again.json()["skipped_sessions"] > 0, again
    second = tmp_path / "two.mcpbackup.zst"
    b2 = run_cli(["backup", "--url", pg_url, "--layout", layout, "-o", str(second)])
    assert b2.exit_code == 0, b2
    target = f"sqlite:///{tmp_path / 'target.db'}"
    r2 = run_cli(["restore", str(second), "--url", target])
    assert r2.exit_code == 0, r2
    assert _content(target, layout) == _content(source, layout)


def test_replace_empties_first_and_a_damaged_file_changes_nothing(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 's.db'}"
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert run_cli(["demo", "--url", source, "--layout", "tasks", "-s", "40"]).exit_code == 0
    assert run_cli(["demo", "--url", target, "--layout", "tasks", "-s", "25"]).exit_code == 0
    file = tmp_path / "b.mcpbackup.zst"
    assert run_cli(["backup", "--url", source, "--layout", "tasks", "-o", str(file)]).exit_code == 0
    replaced = run_cli(["restore", str(file), "--url", target, "--mode", "replace", "--yes"])
    assert replaced.exit_code == 0 and "replaced 25 records" in replaced.stderr, replaced
    assert _content(target, "tasks") == _content(source, "tasks")
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.mcpbackup.zst"
    bad.write_bytes(bytes(data))
    before = _content(target, "tasks")
    refused = run_cli(["restore", str(bad), "--url", target, "--mode", "replace", "--yes"])
    assert refused.exit_code == 1 and "nothing was changed" in refused.stderr, refused
    assert _content(target, "tasks") == before


def test_session_filters_do_not_apply(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert run_cli(["demo", "--url", url, "--layout", "tasks", "-s", "3"]).exit_code == 0
    r = run_cli(
        ["backup", "--url", url, "--layout", "tasks", "--since", "1h", "-o", str(tmp_path / "b")]
    )
    assert r.exit_code == 2 and "holds none" in r.stderr, r
    assert not (tmp_path / "b").exists()


def test_a_task_backup_is_not_restored_into_another_layout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert run_cli(["demo", "--url", url, "--layout", "tasks", "-s", "3"]).exit_code == 0
    file = tmp_path / "b.mcpbackup.zst"
    assert run_cli(["backup", "--url", url, "--layout", "tasks", "-o", str(file)]).exit_code == 0
    other = f"sqlite:///{tmp_path / 'y.db'}"
    r = run_cli(["restore", str(file), "--url", other, "--layout", "ext-tasks"])
    assert r.exit_code != 0 and "nothing was changed" in r.stderr, r


def test_one_postgres_database_holds_every_layout(pg_url: str) -> None:
    """Sessions, tasks, ext-tasks and server state side by side: each command finds its own
    layout, and --layout chooses between the two task layouts."""
    for layout in ("sessions", "tasks", "ext-tasks", "server-state"):
        made = run_cli(["setup", "--layout", layout, "--url", pg_url, "-q"])
        assert made.exit_code == 0, made
        filled = run_cli(["demo", "--layout", layout, "--url", pg_url, "-s", "20", "-q"])
        assert filled.exit_code == 0, filled
        check = run_cli(["setup", "--layout", layout, "--check", "--url", pg_url])
        assert check.exit_code == 0, check
    sessions = run_cli(["list", "--url", pg_url, "-f", "jsonl"])
    assert sessions.exit_code == 0 and len(sessions.jsonl()) == 20, sessions
    both = run_cli(["tasks", "list", "--url", pg_url])
    assert both.exit_code == 2 and "choose one with --layout" in both.stderr, both
    for layout in ("tasks", "ext-tasks"):
        listed = run_cli(["tasks", "list", "--url", pg_url, "--layout", layout, "-f", "jsonl"])
        assert listed.exit_code == 0 and len(listed.jsonl()) == 20, listed
    state = run_cli(["stats", "--layout", "server-state", "--url", pg_url, "-f", "json"])
    assert state.exit_code == 0 and state.json()["entities"] > 0, state
