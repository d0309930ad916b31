"""The command-line contract: bad input, exit codes, stdout/stderr discipline, secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import StoreHandle
from tests.helpers import run_cli


@pytest.fixture
def ready(sqlite_store: StoreHandle) -> StoreHandle:
    sqlite_store.setup()
    result = sqlite_store.run("demo", "--sessions", "5", "--events-per-session", "2", "--quiet")
    assert result.exit_code == 0, result
    return sqlite_store


BAD_INPUT = [
    # (args, fragment of the one-line message)
    (["list", "--idle-over", "5x"], "not a duration"),
    (["list", "--idle-over", "-5m"], "positive"),
    (["list", "--timeout", "0s"], "longer than zero"),
    (["list", "--timeout", "10"], "no unit"),
    (["list", "--created-after", "last tuesday"], "--created-after"),
    (["list", "--created-before", "1700000000"], "milliseconds"),
    (["list", "--limit", "-1"], "--limit"),
    (["list", "--cursor", "garbage!"], "not a cursor"),
    (["list", "--active", "--terminated"], "exclude each other"),
    (["list", "--active", "--idle-over", "1h"], "exclude each other"),
    (["list", "--format", "xml"], "--format"),
    (["list", "--backend", "mongodb"], "--backend"),
    (["list", "--connect-timeout", "0"], "--connect-timeout"),
    (["list", "--no-such-option"], "No such option"),
    (["show"], "Missing argument"),
    (["show", "has space"], "visible ASCII"),
    (["show", "x" * 300], "at most 255"),
    (["show", "abc", "--events", "-1"], "--events"),
    (["stats", "--timeout", "soon"], "not a duration"),
    (["demo", "--sessions", "-1"], "--sessions"),
    (["demo", "--events-per-session", "-2"], "--events-per-session"),
    (["demo", "--idle-share", "1.5"], "between 0 and 1"),
    (["demo", "--idle-share", "0.8", "--terminated-share", "0.5"], "more than 1"),
    (["demo", "--rate", "0", "--live"], "--rate"),
    (["demo", "--duration", "5s"], "go with --live"),
    (["demo", "--live", "--duration", "soon"], "not a duration"),
    (["setup", "--dry-run", "--check"], "do not go together"),
    (["setup", "--tag", "a=b"], "dynamodb stores"),
    (["setup", "--create-database"], "postgres stores"),
    (["nosuchcommand"], "No such command"),
]


@pytest.mark.parametrize(
    ("args", "fragment"), BAD_INPUT, ids=[" ".join(a)[:40] for a, _ in BAD_INPUT]
)
def test_bad_input_is_one_sentence_exit_2(
    ready: StoreHandle, args: list[str], fragment: str
) -> None:
    before = Path(ready.name).read_bytes()
    result = ready.run(*args)
    assert result.exit_code == 2, result
    assert fragment in result.stderr
    assert result.stderr.startswith("mcpstore: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert Path(ready.name).read_bytes() == before, "nothing changed"


BAD_URLS = [
    ("", "empty"),
    ("://mcp.db", "not a store URL"),
    ("mongodb://localhost", "unknown store type"),
    ("redis://localhost/db0", "a Redis database is a number"),
    ("sqlite://host/db.sqlite", "names a host"),
    ("sqlite:///:memory:", "in-memory"),
    ("postgresql://u:pw@host:99999/db", "port that is not a number"),
    ("dynamodb://x", "DynamoDB table"),
    ("dynamodb://tbl?color=red", "unknown parameter"),
]


@pytest.mark.parametrize(("url", "fragment"), BAD_URLS)
def test_bad_urls(url: str, fragment: str) -> None:
    result = run_cli(["list", "--url", url])
    assert result.exit_code == 2, result
    assert fragment in result.stderr
    assert result.stderr.count("\n") == 1


def test_bad_environment_urls() -> None:
    assert run_cli(["list"], environ={"MCPSTORE_URL": "nope://x"}).exit_code == 2
    missing = run_cli(["list", "--backend", "postgres"])
    assert missing.exit_code == 2 and "DATABASE_URL" in missing.stderr
    conflict = run_cli(["list", "--backend", "postgres", "--url", "sqlite:///x.db"])
    assert conflict.exit_code == 2 and "--backend says" in conflict.stderr


def test_store_is_found_in_contract_order(tmp_path: Path, in_tmp: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    for path in (a, b):
        assert run_cli(["setup", "-q", "--url", f"sqlite:///{path}"]).exit_code == 0
    assert run_cli(["demo", "-q", "-s", "2", "--url", f"sqlite:///{a}"]).exit_code == 0
    assert run_cli(["demo", "-q", "-s", "3", "--url", f"sqlite:///{b}"]).exit_code == 0
    env = {"MCPSTORE_URL": f"sqlite:///{a}", "SQLITE_PATH": str(b)}
    assert len(run_cli(["list"], environ=env).jsonl()) == 2
    assert len(run_cli(["list", "--backend", "sqlite"], environ=env).jsonl()) == 3
    assert len(run_cli(["list", "--url", f"sqlite:///{b}"], environ=env).jsonl()) == 3
    # The embedded default: mcp_sessions.db in the working directory.
    default = run_cli(["list"])
    assert default.exit_code == 3 and "mcp_sessions.db" in default.stderr
    assert not (in_tmp / "mcp_sessions.db").exists()
    assert run_cli(["setup", "-q"]).exit_code == 0
    assert (in_tmp / "mcp_sessions.db").exists()


def test_passwords_never_reach_output() -> None:
    secret = "s3cretpw"
    url = f"postgresql://mcp:{secret}@127.0.0.1:1/mcp_sessions?connect_timeout=1"
    for args in (["list"], ["stats"], ["setup", "--check"], ["show", "abc"], ["list", "--debug"]):
        result = run_cli([*args, "--url", url, "--connect-timeout", "1"])
        assert result.exit_code != 0
        assert secret not in result.stdout + result.stderr, result
        assert "postgres" in result.stderr.lower()
    bad = run_cli(["list", "--url", f"postgresql://mcp:{secret}@host:notaport/db"])
    assert bad.exit_code == 2 and secret not in bad.stderr


def test_help_and_version() -> None:
    top = run_cli(["--help"])
    assert top.exit_code == 0
    for name in ("setup", "list", "show", "stats", "demo"):
        assert name in top.stdout
    assert "Exit status" in top.stdout
    for name in ("setup", "list", "show", "stats", "demo"):
        sub = run_cli([name, "--help"])
        assert sub.exit_code == 0 and "--url" in sub.stdout, sub
    version = run_cli(["--version"])
    assert version.exit_code == 0 and version.stdout.startswith("mcpstore ")
    assert run_cli([]).exit_code in (0, 2)


def test_python_dash_m_works_like_the_script(tmp_path: Path) -> None:
    env = {**os.environ, "MCPSTORE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    setup = subprocess.run(
        [sys.executable, "-m", "mcpstore_cli", "setup", "-q"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert setup.returncode == 0, setup.stderr
    check = subprocess.run(
        [sys.executable, "-m", "mcpstore_cli", "setup", "--check"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0 and "matches the layout" in check.stderr


def test_closed_pipe_exits_quietly(ready: StoreHandle) -> None:
    demo = ready.run("demo", "-q", "-s", "3000", "-e", "0")
    assert demo.exit_code == 0
    proc = subprocess.run(
        f"{sys.executable} -m mcpstore_cli list --limit 0 --url '{ready.url}' | head -n 2",
        shell=True,
        capture_output=True,
        text=True,
        executable="/bin/bash",
    )
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 2
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_data_on_stdout_messages_on_stderr(ready: StoreHandle) -> None:
    result = ready.run("demo", "-s", "2")
    assert result.stdout == ""
    assert "wrote 2 sessions" in result.stderr
    quiet = ready.run("demo", "-s", "2", "-q")
    assert quiet.stdout == "" and quiet.stderr == ""
    listed = ready.run("list", "-q", "--limit", "1")
    assert listed.stderr == "" and len(listed.jsonl()) == 1


def test_debug_shows_a_traceback_only_when_asked(tmp_path: Path) -> None:
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"this is not a database at all" * 100)
    plain = run_cli(["list", "--url", f"sqlite:///{bad}"])
    assert plain.exit_code == 1
    assert "not a SQLite database" in plain.stderr and "Traceback" not in plain.stderr
    debug = run_cli(["list", "--debug", "--url", f"sqlite:///{bad}"])
    assert debug.exit_code == 1 and "Traceback" in debug.stderr


@pytest.mark.parametrize("fmt", ["jsonl", "table", "csv"])
def test_a_reader_that_goes_away_is_not_an_error(sqlite_store: StoreHandle, fmt: str) -> None:
    """`mcpstore list | head -2`: the reader leaves early; mcpstore stops quietly, status 0."""
    sqlite_store.setup()
    made = sqlite_store.run("demo", "--sessions", "3000", "--events-per-session", "1", "--quiet")
    assert made.exit_code == 0, made
    command = (
        f"{sys.executable} -m mcpstore_cli list --url {sqlite_store.url} --limit 3000 "
        f"--format {fmt} | head -2; echo status=${{PIPESTATUS[0]}}"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.stdout.count("\n") == 3, result
    assert result.stdout.endswith("status=0\n"), result
    assert "Error" not in result.stderr and "Traceback" not in result.stderr, result
