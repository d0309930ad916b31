"""Input as typed (issue 15, point 6): plain paths name SQLite files, and every URL error
quotes what was typed (password masked) with an example that is not itself masked."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from mcpstore_cli.cli.common import Command
from mcpstore_cli.env import Environment
from mcpstore_cli.store.urls import mask_url, parse_store_url
from tests.helpers import run_cli

SECRET = "hunter2"
PG_EXAMPLE = "postgresql://USER:PASSWORD@HOST:5432/DB"
SQLITE_EXAMPLE = "sqlite:///relative.db"
DYNAMO_EXAMPLE = "dynamodb://TABLE?region=us-east-1"
DYNAMO_ENDPOINT_EXAMPLE = "dynamodb://TABLE?region=us-east-1&endpoint=http://127.0.0.1:8000"

# (what was typed, what the message must quote, an example it must show). One case for each
# error in mcpstore_cli/urls.py that a --url can reach.
URL_ERRORS = [
    pytest.param(f"://bob:{SECRET}@x.db", "'://bob:***@x.db'", PG_EXAMPLE, id="no-scheme"),
    pytest.param(
        f"mysql://bob:{SECRET}@db.example/app",
        "'mysql://bob:***@db.example/app'",
        PG_EXAMPLE,
        id="unknown-scheme",
    ),
    pytest.param(
        f"PostgreSQL:bob:{SECRET}@db.example/app",
        "'PostgreSQL:bob:***@db.example/app'",
        PG_EXAMPLE,
        id="scheme-without-slashes",
    ),
    pytest.param(
        f"sqlite://bob:{SECRET}@host/x.db",
        "'sqlite://bob:***@host/x.db'",
        SQLITE_EXAMPLE,
        id="sqlite-host",
    ),
    pytest.param(
        f"sqlite:///data/?password={SECRET}",
        "'sqlite:///data/?password=***'",
        SQLITE_EXAMPLE,
        id="sqlite-no-file",
    ),
    pytest.param(
        f"sqlite:///:memory:?password={SECRET}",
        "'sqlite:///:memory:?password=***'",
        SQLITE_EXAMPLE,
        id="sqlite-memory",
    ),
    pytest.param(
        f"sqlite:///a%00b.db?password={SECRET}",
        "'sqlite:///a%00b.db?password=***'",
        SQLITE_EXAMPLE,
        id="sqlite-nul",
    ),
    pytest.param(
        f"postgresql://bob:{SECRET}@db.example:99999/app",
        "'postgresql://bob:***@db.example:99999/app'",
        PG_EXAMPLE,
        id="postgres-port",
    ),
    pytest.param(
        f"postgresql://bob:pa/{SECRET}@db.example/app",
        "'postgresql://bob:***@db.example/app'",
        PG_EXAMPLE,
        id="postgres-slash-in-password",
    ),
    pytest.param(
        f"postgresql://bob:{SECRET}@[::1/app",
        "'postgresql://bob:***@[::1/app'",
        PG_EXAMPLE,
        id="postgres-unparsable",
    ),
    pytest.param(
        f"postgres://bob:{SECRET}@db.example/a/b",
        "'postgres://bob:***@db.example/a/b'",
        PG_EXAMPLE,
        id="postgres-two-databases",
    ),
    pytest.param(
        f"dynamodb://ab?aws_secret_access_key={SECRET}",
        "'dynamodb://ab?aws_secret_access_key=***'",
        DYNAMO_EXAMPLE,
        id="dynamodb-table",
    ),
    pytest.param(
        f"dynamodb://tbl?colour=red&token={SECRET}",
        "'dynamodb://tbl?colour=red&token=***'",
        DYNAMO_ENDPOINT_EXAMPLE,
        id="dynamodb-parameter",
    ),
    pytest.param(
        f"dynamodb://tbl?endpoint=ftp://bob:{SECRET}@files.example",
        "'dynamodb://tbl?endpoint=ftp:***@files.example'",
        DYNAMO_ENDPOINT_EXAMPLE,
        id="dynamodb-endpoint",
    ),
    pytest.param(
        f"host=db.example user=bob password={SECRET}",
        "'host=db.example user=bob password=***'",
        PG_EXAMPLE,
        id="libpq-string",
    ),
    pytest.param(
        f"bob:{SECRET}@db.example/app",
        "'bob:***@db.example/app'",
        PG_EXAMPLE,
        id="url-without-scheme",
    ),
    pytest.param(
        f"dynamodb://AKIA:{SECRET}@my table",
        "'dynamodb://AKIA:***@my table'",
        DYNAMO_EXAMPLE,
        id="dynamodb-credentials-bad-table",
    ),
    pytest.param(
        f"dynamodb://AKIA:{SECRET}@mytable",
        "'dynamodb://AKIA:***@mytable'",
        DYNAMO_EXAMPLE,
        id="dynamodb-credentials",
    ),
    pytest.param(":memory:", "':memory:'", "./mcp_sessions.db", id="path-memory"),
    pytest.param("data/", "'data/'", "./mcp_sessions.db", id="path-directory"),
]


def _check_message(stderr: str, quoted: str, example: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert SECRET not in stderr, stderr
    assert quoted in stderr, (quoted, stderr)
    assert example in stderr, (example, stderr)
    assert "Traceback" not in stderr


@pytest.mark.parametrize(("typed", "quoted", "example"), URL_ERRORS)
def test_url_errors_quote_the_input_and_show_a_working_example(
    typed: str, quoted: str, example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli(["list", "--url", typed])
    assert result.exit_code == 2, result
    _check_message(result.stderr, quoted, example)
    assert list(tmp_path.iterdir()) == [], "nothing was created"


@pytest.mark.parametrize(("typed", "quoted", "example"), URL_ERRORS[:3])
def test_mcpstore_url_errors_say_where_the_url_came_from(
    typed: str, quoted: str, example: str
) -> None:
    result = run_cli(["stats"], environ={"MCPSTORE_URL": typed})
    assert result.exit_code == 2, result
    _check_message(result.stderr, quoted, example)
    assert "from MCPSTORE_URL" in result.stderr


def test_environment_and_option_conflicts_quote_the_input() -> None:
    wrong_kind = run_cli(
        ["list", "--backend", "postgres"],
        environ={"DATABASE_URL": f"sqlite:///x.db?password={SECRET}"},
    )
    assert wrong_kind.exit_code == 2, wrong_kind
    _check_message(wrong_kind.stderr, "'sqlite:///x.db?password=***'", PG_EXAMPLE)

    bad_port = run_cli(
        ["list", "--backend", "postgres"],
        environ={"DATABASE_URL": f"postgresql://bob:{SECRET}@h:0x/db"},
    )
    assert bad_port.exit_code == 2, bad_port
    _check_message(bad_port.stderr, "'postgresql://bob:***@h:0x/db'", PG_EXAMPLE)
    assert "from DATABASE_URL" in bad_port.stderr

    missing = run_cli(["list", "--backend", "postgres"])
    assert missing.exit_code == 2, missing
    assert PG_EXAMPLE in missing.stderr, missing

    conflict = run_cli(["list", "--backend", "sqlite", "--url", f"postgresql://bob:{SECRET}@h/db"])
    assert conflict.exit_code == 2, conflict
    assert "'postgresql://bob:***@h/db'" in conflict.stderr and SECRET not in conflict.stderr

    table = run_cli(["list", "--backend", "dynamodb"], environ={"MCP_SESSION_TABLE": "ab"})
    assert table.exit_code == 2 and "'ab'" in table.stderr, table

    memory = run_cli(["list", "--backend", "sqlite"], environ={"SQLITE_PATH": ":memory:"})
    assert memory.exit_code == 2 and "':memory:' from SQLITE_PATH" in memory.stderr, memory


def test_the_message_scrubber_masks_secrets_but_not_the_example() -> None:
    cmd = Command(env=Environment(stderr=io.StringIO(), environ={}))
    text = f"see postgresql://bob:{SECRET}@h/db; write {PG_EXAMPLE}."
    scrubbed = cmd._scrub(text)
    assert SECRET not in scrubbed
    assert "postgresql://bob:***@h/db" in scrubbed
    assert f"write {PG_EXAMPLE}." in scrubbed


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://u:p@h/db", "postgresql://u:***@h/db"),
        ("POSTGRES://u:p@h/db?sslmode=require#x", "POSTGRES://u:***@h/db?sslmode=require#x"),
        ("postgresql://u:p@ss/w?rd@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db?password=p&x=1", "postgresql://u@h/db?password=***&x=1"),
        ("postgresql://u@h/db?sslpassword=p", "postgresql://u@h/db?sslpassword=***"),
        ("./mcp_sessions.db", "./mcp_sessions.db"),
        ("mcp_sessions.db", "mcp_sessions.db"),
        ("host=h password='a b' user=u", "host=h password=*** user=u"),
        (PG_EXAMPLE, PG_EXAMPLE),
    ],
)
def test_mask_url_changes_only_the_secret(text: str, masked: str) -> None:
    assert mask_url(text) == masked


def _sessions_in(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM sessions").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("typed", "relative_file"),
    [
        ("./mcp_sessions.db", "mcp_sessions.db"),
        ("mcp_sessions.db", "mcp_sessions.db"),
        ("my stores/with space.db", "my stores/with space.db"),
        ("../beside.db", "../beside.db"),
        ("ABSOLUTE/abs space.db", "abs space.db"),
        ("~/home.db", "home/home.db"),
    ],
)
def test_a_plain_path_is_a_sqlite_store(
    typed: str, relative_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    (work / "my stores").mkdir(parents=True)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(work)
    if typed.startswith("ABSOLUTE/"):
        typed = str(work / typed.removeprefix("ABSOLUTE/"))
        target = work / relative_file
    elif typed.startswith("~"):
        target = tmp_path / relative_file
    else:
        target = (work / relative_file).resolve()
    setup = run_cli(["setup", "--quiet", "--url", typed])
    assert setup.exit_code == 0, setup
    assert target.is_file(), sorted(str(p) for p in tmp_path.rglob("*"))
    demo = run_cli(["demo", "--quiet", "--sessions", "4", "--url", typed])
    assert demo.exit_code == 0, demo
    assert _sessions_in(target) == 4
    listed = run_cli(["list", "--format", "jsonl", "--url", typed])
    assert listed.exit_code == 0, listed
    assert len(listed.jsonl()) == 4
    # The same file through MCPSTORE_URL.
    from_env = run_cli(["list", "--format", "jsonl"], environ={"MCPSTORE_URL": typed})
    assert from_env.exit_code == 0 and len(from_env.jsonl()) == 4, from_env


def test_a_missing_plain_path_is_named_as_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli(["list", "--url", "./nowhere.db"])
    assert result.exit_code == 3, result
    assert "--url ./nowhere.db" in result.stderr, result
    assert not (tmp_path / "nowhere.db").exists()


def test_plain_paths_parse_as_sqlite() -> None:
    for text in ("./x.db", "/abs/x.db", "x.db", "../x.db", "data:2024.db", "C:\\x.db"):
        url = parse_store_url(text)
        assert (url.backend, url.path, url.masked()) == ("sqlite", text, text)
    home = parse_store_url("~/x.db")
    assert home.path is not None and not home.path.startswith("~")
