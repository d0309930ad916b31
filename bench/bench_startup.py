"""Start-up time of ``mcpstore --help`` against ``python -c "import typer"`` (issue 2).

Run by hand: ``python bench/bench_startup.py [--runs N]``. Every command runs in a fresh
interpreter, interleaved round by round so that a busy machine slows all of them alike; the
table shows median wall times and each one's ratio to the Typer baseline of the same run.
Target: ``mcpstore --help`` at most 1.5x ``import typer``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET = 1.5


def commands() -> dict[str, list[str]]:
    py = sys.executable
    out: dict[str, list[str]] = {'python -c "import typer"': [py, "-c", "import typer"]}
    # The console script pip installed next to this interpreter (a pyenv shim on PATH would
    # add its own start-up), else whatever PATH has.
    beside = Path(sys.executable).with_name("mcpstore")
    script = str(beside) if beside.exists() else shutil.which("mcpstore")
    if script is not None:
        out["mcpstore --help"] = [script, "--help"]
    out["python -m mcpstore_cli --help"] = [py, "-m", "mcpstore_cli", "--help"]
    if script is not None:
        out["mcpstore list --help"] = [script, "list", "--help"]
        out["mcpstore completion bash"] = [script, "completion", "bash"]
    out['python -c "pass"'] = [py, "-c", "pass"]
    return out


# As a user's shell runs it: Python may cache bytecode (the warm-up run writes the .pyc files),
# whatever this shell's PYTHONDONTWRITEBYTECODE says.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def once(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each command (>= 15)")
    args = parser.parse_args()
    runs = max(args.runs, 15)
    cmds = commands()
    if "mcpstore --help" not in cmds:
        print("note: no mcpstore console script on PATH; pip install -e . first", file=sys.stderr)
    for argv in cmds.values():  # warm the OS file cache and .pyc files
        once(argv)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(runs):
        for name, argv in cmds.items():
            times[name].append(once(argv))
    base = statistics.median(times['python -c "import typer"'])
    print(f"start-up, {runs} interleaved runs each; load average {os.getloadavg()[0]:.2f}")
    print(f"console script: {cmds.get('mcpstore --help', ['(none)'])[0]}")
    print(f"{'command':<34} {'median ms':>10} {'min ms':>8} {'vs typer':>9}  target")
    for name, values in times.items():
        med = statistics.median(values)
        ratio = med / base
        target = ""
        if name in ("mcpstore --help", "python -m mcpstore_cli --help"):
            target = f"<= {TARGET}x  " + ("ok" if ratio <= TARGET else "MISSED")
        print(f"{name:<34} {med * 1000:>10.1f} {min(values) * 1000:>8.1f} {ratio:>8.2f}x  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
