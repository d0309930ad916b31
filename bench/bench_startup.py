"""Start-up time of ``mcpstore --help`` and ``mcpstore list`` against ``python -c "import typer"``.

Run by hand: ``python bench/bench_startup.py [--runs N] [--mcpstore PATH]``. Every command runs
in a fresh interpreter, interleaved round by round so that a busy machine slows all of them
alike; the table shows median wall times and each one's ratio to the Typer baseline of the
same run. Targets (issue 2): ``mcpstore --help`` at most 1.5x ``import typer``; ``mcpstore
list`` (the first page of the default SQLite store, ``mcp_sessions.db`` in the current
directory, holding 2,000 sessions made by ``mcpstore demo -s 2000``) at most 2.0x.

``--mcpstore`` names the console script to time (for example one installed in a private
venv); the baseline and the ``python -m`` rows then use the interpreter that script runs on,
so that both sides pay for the same ``site`` start-up. The store is made once, in a temporary
directory, before any timing; ``show`` and ``stats`` on it are timed too, without a target.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TYPER = 'python -c "import typer"'
TARGETS = {
    "mcpstore --help": 1.5,
    "python -m mcpstore_cli --help": 1.5,
    "mcpstore list": 2.0,
}
SESSIONS = 2000

# As a user's shell runs it: Python may cache bytecode (the warm-up run writes the .pyc files),
# whatever this shell's PYTHONDONTWRITEBYTECODE says.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def find_script(given: str | None) -> str | None:
    if given is not None:
        return given
    # The console script pip installed next to this interpreter (a pyenv shim on PATH would
    # add its own start-up), else whatever PATH has.
    beside = Path(sys.executable).with_name("mcpstore")
    return str(beside) if beside.exists() else shutil.which("mcpstore")


def interpreter_of(script: str | None) -> str:
    """The Python a console script runs on (its ``#!`` line), else this one."""
    if script is not None:
        try:
            with open(script, "rb") as fh:
                first = fh.readline().decode(errors="replace").strip()
        except OSError:
            first = ""
        if first.startswith("#!"):
            candidate = first[2:].strip().split()[0]
            if os.access(candidate, os.X_OK) and "python" in Path(candidate).name:
                return candidate
    return sys.executable


def commands(script: str | None, py: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {TYPER: [py, "-c", "import typer"]}
    if script is not None:
        out["mcpstore --help"] = [script, "--help"]
    out["python -m mcpstore_cli --help"] = [py, "-m", "mcpstore_cli", "--help"]
    if script is not None:
        out["mcpstore list --help"] = [script, "list", "--help"]
        out["mcpstore completion bash"] = [script, "completion", "bash"]
        out["mcpstore list"] = [script, "list"]
        out["mcpstore list -f table"] = [script, "list", "--format", "table"]
        out["mcpstore show ID"] = [script, "show", "ID"]  # the id is filled in once known
        out["mcpstore stats"] = [script, "stats"]
    out['python -c "pass"'] = [py, "-c", "pass"]
    return out


def make_store(script: str, where: Path) -> str:
    """``mcpstore demo -s 2000`` into ``where/mcp_sessions.db``; the newest session's id."""
    subprocess.run(
        [script, "demo", "-s", str(SESSIONS), "--seed", "1", "--quiet"],
        cwd=where,
        env=ENV,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    first = subprocess.run(
        [script, "list", "--limit", "1", "--format", "jsonl"],
        cwd=where,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    return str(json.loads(first.stdout.splitlines()[0])["session_id"])


def once(argv: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV, cwd=cwd
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each command (>= 15)")
    parser.add_argument(
        "--mcpstore", metavar="PATH", help="the console script to time [default: beside python]"
    )
    args = parser.parse_args()
    runs = max(args.runs, 15)
    script = find_script(args.mcpstore)
    py = interpreter_of(script)
    cmds = commands(script, py)
    if script is None:
        print("note: no mcpstore console script found; pass --mcpstore PATH", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        where = Path(tmp)
        if script is not None:
            sid = make_store(script, where)
            cmds["mcpstore show ID"] = [script, "show", sid[:12]]
        for argv in cmds.values():  # warm the OS file cache and .pyc files
            once(argv, where)
        times: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(runs):
            for name, argv in cmds.items():
                times[name].append(once(argv, where))
        load = os.getloadavg()
    base = statistics.median(times[TYPER])
    print(
        f"start-up, {runs} interleaved runs each; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min) on {os.cpu_count()} CPUs"
    )
    print(f"console script: {script or '(none)'}; python: {py}")
    print(f"store: {SESSIONS:,} sessions (mcpstore demo -s {SESSIONS}) in mcp_sessions.db")
    print(f"{'command':<34} {'median ms':>10} {'min ms':>8} {'vs typer':>9}  target")
    for name, values in times.items():
        med = statistics.median(values)
        ratio = med / base
        target = ""
        if name in TARGETS:
            limit = TARGETS[name]
            target = f"<= {limit}x  " + ("ok" if ratio <= limit else "MISSED")
        print(f"{name:<34} {med * 1000:>10.1f} {min(values) * 1000:>8.1f} {ratio:>8.2f}x  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
