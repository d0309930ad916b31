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
HEAVY = ["boto3", "botocore", "sqlalchemy", "aiosqlite", "asyncpg", "questionary", "rich"]

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


def _probe(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY), *args],
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


def test_the_probe_would_notice_a_heavy_import() -> None:
    """The check above can fail: a real command that opens a store does load SQLAlchemy."""
    report = _probe(["list", "--url", "sqlite:///does-not-exist-here.db"])
    assert report["status"] == 3, report
    assert "sqlalchemy" in report["loaded"]


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
