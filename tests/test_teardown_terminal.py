"""The interactive teardown end to end through a real pseudo-terminal (pexpect): the
questionary checklist, the confirmation and the typed name, as a person meets them."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

REPO = Path(__file__).resolve().parent.parent
UP = "\x1b[A"


def _spawn(args: list[str], cwd: Path) -> object:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    )
    env.update({"TERM": "xterm-256color", "COLUMNS": "100", "LINES": "40", "NO_COLOR": "1"})
    return pexpect.spawn(
        sys.executable,
        ["-m", "mcpstore_cli", *args],
        cwd=str(cwd),
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 100),
    )


def _setup(tmp_path: Path) -> Path:
    from tests.helpers import run_cli

    db = tmp_path / "sessions.db"
    url = f"sqlite:///{db}"
    assert run_cli(["setup", "--url", url, "--quiet"]).exit_code == 0
    assert run_cli(["demo", "--url", url, "--sessions", "7", "--quiet"]).exit_code == 0
    return db


def test_interactive_teardown_in_a_real_terminal(tmp_path: Path) -> None:
    db = _setup(tmp_path)
    child = _spawn(["teardown", "--url", f"sqlite:///{db}"], tmp_path)
    child.expect("table sessions: 7 rows")
    child.expect("What should teardown do")
    child.expect("delete the file sessions.db")
    child.send(UP)  # the list wraps around to its last line: delete
    child.send(" ")
    child.send("\r")
    child.expect("1. delete tables")
    child.expect(r"Run 1 step\(s\)")
    child.send("y")
    child.expect("Type sessions.db to confirm")
    child.send("sessions.db\r")
    child.expect("teardown: 1 step\\(s\\) done")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert not db.exists() and not Path(f"{db}-wal").exists()


def test_ctrl_c_in_a_real_terminal_changes_nothing(tmp_path: Path) -> None:
    db = _setup(tmp_path)
    child = _spawn(["teardown", "--url", f"sqlite:///{db}"], tmp_path)
    child.expect("What should teardown do")
    child.send(" ")
    child.send("\r")
    child.expect(r"Run 1 step\(s\)")
    child.sendintr()
    child.expect("nothing was changed")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 7
    conn.close()
