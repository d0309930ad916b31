"""Start-up stays light: help, every command's help and completion import no heavy module.

Each case runs in a fresh interpreter, so modules loaded by other tests cannot hide an import.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mcpstore_cli import __version__
from mcpstore_cli.cli.app import get_command

ROOT = Path(__file__).resolve().parent.parent
HEAVY = [
    "boto3",
    "botocore",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "questionary",
    "rich",
]
# pydantic is not among them: Typer 0.29 converts option values through pydantic and offers
# no public way around it (the cli uses Typer's public API only), so a command that reads
# its options loads it.

# Runs mcpstore in-process in a fresh interpreter, then reports which heavy packages loaded.
PROBE = """
import io, json, sys
from mcpstore_cli.cli.app import main
from mcpstore_cli.env import Environment

heavy = json.loads(sys.argv[1])
out, err = io.StringIO(), io.StringIO()
status = main(sys.argv[2:], env=Environment(stdout=out, stderr=err, environ={}))
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(heavy))
print(json.dumps({"status": status, "loaded": loaded, "out": out.getvalue(),
                  "err": err.getvalue()}))
"""


def _commands() -> list[list[str]]:
    """Every command path in the tree (``backup list`` style groups included)."""
    root = get_command()
    ctx = root.context_class(root, info_name="mcpstore", **root.context_settings)
    found: list[list[str]] = []

    def walk(command: object, ctx: object, path: list[str]) -> None:
        list_commands = getattr(command, "list_commands", None)
        if list_commands is None:
            return
        for name in list_commands(ctx):
            sub = command.get_command(ctx, name)  # type: ignore[attr-defined]
            sub_ctx = sub.context_class(sub, parent=ctx, info_name=name, **sub.context_settings)
            found.append([*path, name])
            walk(sub, sub_ctx, [*path, name])

    walk(root, ctx, [])
    return found


CASES = [
    ["--help"],
    ["--version"],
    *([*path, "--help"] for path in _commands()),
    ["completion", "bash"],
    ["completion", "zsh"],
    ["completion", "fish"],
]


def _probe(args: list[str], heavy: list[str] = HEAVY) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(heavy), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_every_command_is_covered() -> None:
    names = {" ".join(path) for path in _commands()}
    assert {"setup", "list", "show", "stats", "demo", "completion"} <= names


@pytest.mark.parametrize("args", CASES, ids=" ".join)
def test_imports_nothing_heavy(args: list[str]) -> None:
    report = _probe(args)
    assert report["status"] == 0, report
    assert report["out"], f"mcpstore {' '.join(args)} printed nothing"
    assert report["loaded"] == [], (
        f"mcpstore {' '.join(args)} imported {', '.join(report['loaded'])} at start-up; "
        "import it inside the code that needs it"
    )


# What list, show and stats load on SQLite (the default store): they read with the standard
# library's sqlite3 and SQL prepared from SQLAlchemy, run without an event loop
# (tests/test_inline_run.py). asyncio itself is not checked here: pydantic_core, which Typer
# loads to convert option values, imports it.
READING_HEAVY = HEAVY


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tests.helpers import run_cli

    path = tmp_path_factory.mktemp("startup") / "s.db"
    result = run_cli(["demo", "--url", f"sqlite:///{path}", "-s", "120", "--seed", "4", "-q"])
    assert result.exit_code == 0, result
    return f"sqlite:///{path}"


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["list", "--format", "json", "--limit", "999"],
        ["list", "--format", "csv", "--idle-over", "1m", "--not-terminated", "--initialized"],
        ["list", "--active", "--created-after", "1d", "--cursor", "CURSOR"],
        ["show", "ID"],
        ["show", "ID", "--format", "json", "--events", "3"],
        ["stats"],
        ["stats", "--format", "json"],
    ],
    ids=" ".join,
)
def test_reading_sqlite_imports_no_sqlalchemy_and_no_event_loop(
    sqlite_db: str, args: list[str]
) -> None:
    listed = _probe(["list", "--limit", "1", "--format", "jsonl", "--url", sqlite_db])
    first = json.loads(listed["out"])
    args = [{"ID": first["session_id"][:10], "CURSOR": first["cursor"]}.get(a, a) for a in args]
    report = _probe([*args, "--url", sqlite_db], READING_HEAVY)
    assert report["status"] == 0, report
    assert report["out"], report
    assert report["loaded"] == [], (
        f"mcpstore {' '.join(args)} on SQLite imported {', '.join(report['loaded'])}"
    )


def test_the_probe_would_notice_a_heavy_import(sqlite_db: str) -> None:
    """The checks above can fail: reading a whole store streams it through SQLAlchemy's
    engine on aiosqlite, in an event loop."""
    report = _probe(["list", "--limit", "0", "--url", sqlite_db], READING_HEAVY)
    assert report["status"] == 0, report
    assert {"sqlalchemy", "aiosqlite"} <= set(report["loaded"])


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_python_dash_m_works_like_the_console_script() -> None:
    module = _run(sys.executable, "-m", "mcpstore_cli", "--version")
    assert module.returncode == 0, module.stderr
    assert module.stdout == f"mcpstore {__version__}\n"
    script = Path(sys.executable).with_name("mcpstore")
    if script.exists():
        console = _run(str(script), "--version")
        assert (console.returncode, console.stdout, console.stderr) == (
            module.returncode,
            module.stdout,
            module.stderr,
        )
    helped = _run(sys.executable, "-m", "mcpstore_cli", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "Usage: mcpstore" in helped.stdout
