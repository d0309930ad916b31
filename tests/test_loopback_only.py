"""The suite and the benches talk only to this machine.

DynamoDB Local 2.x and later sends telemetry to an outside address unless it is started with
``-disableTelemetry``. Every place that starts it must go through
:func:`tests.dynamodb_fixtures.dynamodb_local_command`, and the process the suite runs must
carry the flag.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.dynamodb_fixtures import DynamoDBLocal, dynamodb_local_command

ROOT = Path(__file__).resolve().parents[1]
# Words that only a command line starting the Java server would contain.
_LAUNCH = re.compile(r"-inMemory|-sharedDb|-dbPath|java\.library\.path")


def test_the_one_dynamodb_local_command_disables_telemetry(tmp_path: Path) -> None:
    argv = dynamodb_local_command(tmp_path / "DynamoDBLocal.jar", 8123)
    assert "-disableTelemetry" in argv
    assert argv[argv.index("-port") + 1] == "8123"


def test_the_running_dynamodb_local_was_started_without_telemetry(
    dynamodb_local: DynamoDBLocal,
) -> None:
    assert dynamodb_local.proc is not None
    cmdline = Path(f"/proc/{dynamodb_local.proc.pid}/cmdline").read_bytes().split(b"\0")
    assert b"-disableTelemetry" in cmdline, cmdline
    assert dynamodb_local.endpoint.startswith("http://127.0.0.1:")


def test_nothing_else_starts_dynamodb_local() -> None:
    """A second launch site could leave the flag out: only the fixture module may build one."""
    allowed = {ROOT / "tests" / "dynamodb_fixtures.py"}
    offenders = []
    for folder in ("tests", "bench", "scripts", ".ci"):
        for path in sorted((ROOT / folder).rglob("*")):
            if not path.is_file() or path.suffix not in (".py", ".sh", "") or path in allowed:
                continue
            if path == Path(__file__).resolve():
                continue
            text = path.read_text(errors="replace")
            if _LAUNCH.search(text) and "dynamodb_local_command" not in text:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], f"DynamoDB Local started outside dynamodb_local_command: {offenders}"
