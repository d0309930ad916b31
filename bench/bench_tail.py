"""tail-events latency and idle cost on every backend (issue 8).

Run by hand: ``python bench/bench_tail.py [--seconds 20] [--idle 30] [--rate 100]``. It starts
a throwaway PostgreSQL (with ``setup --notify``), DynamoDB Local (events table with its
stream) and an SQLite file, and for each one:

- follows the store with ``mcpstore tail-events -f jsonl`` while ``mcpstore demo --live``
  writes about ``--rate`` events per second, and measures each event's delay from its stored
  ``timestamp`` to the moment its line is read from the tail's stdout. The demo takes the
  timestamp just before it stores the event, so the delay includes the write itself: it is an
  upper bound on the delay from commit to printed line;
- runs, in the same window and on the same events, the baseline an operator would script by
  hand: a loop that polls the store with its plain client every second (``watch -n1`` style),
  printing new events as JSON lines;
- measures the CPU time an idle ``tail-events`` uses (``/proc/PID/stat`` user + system) over
  ``--idle`` seconds with no writer.

Targets: p95 at most 100 ms on PostgreSQL with the trigger, 250 ms on SQLite, 1.5 s on
DynamoDB Local with the stream; an idle tail at most 2% of a core.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_P95_MS = {"postgres": 100.0, "sqlite": 250.0, "dynamodb": 1500.0}
TARGET_IDLE_CPU = 2.0  # percent of one core

BASELINE = r"""
import json, sys, time
backend, url = sys.argv[1], sys.argv[2]
def out(rows):
    for r in rows:
        sys.stdout.write(json.dumps(r) + "\n")
    sys.stdout.flush()
if backend == "sqlite":
    import sqlite3
    conn = sqlite3.connect(url[len("sqlite:///"):])
    last = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
    while True:
        rows = conn.execute("SELECT id, session_id, timestamp FROM events WHERE id > ? ORDER BY id",
                            (last,)).fetchall()
        if rows:
            last = rows[-1][0]
            out({"id": r[0], "session_id": r[1], "timestamp": r[2]} for r in rows)
        time.sleep(1)
elif backend == "postgres":
    import asyncio, asyncpg
    async def main():
        conn = await asyncpg.connect(url)
        last = await conn.fetchval("SELECT coalesce(max(id), 0) FROM events")
        while True:
            rows = await conn.fetch(
                "SELECT id, session_id, timestamp FROM events WHERE id > $1 ORDER BY id", last)
            if rows:
                last = rows[-1][0]
                out({"id": r[0], "session_id": r[1], "timestamp": r[2]} for r in rows)
            await asyncio.sleep(1)
    asyncio.run(main())
else:
    import boto3
    from urllib.parse import urlsplit, parse_qs
    parts = urlsplit(url)
    client = boto3.client("dynamodb", endpoint_url=parse_qs(parts.query)["endpoint"][0],
                          region_name="us-east-1")
    table = parts.netloc + "-events"
    seen = {}
    since = int(time.time() * 1000)
    first = True
    while True:
        began = int(time.time() * 1000)
        kw = {"TableName": table, "FilterExpression": "#t >= :s",
              "ExpressionAttributeNames": {"#t": "timestamp"},
              "ExpressionAttributeValues": {":s": {"N": str(since - 5000)}}}
        rows = []
        while True:
            page = client.scan(**kw)
            for item in page["Items"]:
                sid, eid = item["sessionId"]["S"], int(item["eventId"]["N"])
                if eid > seen.get(sid, 0):
                    seen[sid] = eid
                    rows.append({"id": eid, "session_id": sid,
                                 "timestamp": int(item["timestamp"]["N"])})
            if "LastEvaluatedKey" not in page:
                break
            kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if not first:
            out(sorted(rows, key=lambda r: r["timestamp"]))
        first = False
        since = began
        time.sleep(1)
"""


class Reader:
    """Reads a child's JSON lines and notes each line's arrival time."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.delays: list[float] = []
        self.keys: list[tuple[str, int]] = []
        self.counting = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            arrived = time.time() * 1000
            if not self.counting:
                continue
            row = json.loads(raw)
            self.delays.append(arrived - row["timestamp"])
            self.keys.append((row["session_id"], row["id"]))


def child_env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **extra, "PYTHONPATH": str(ROOT)}


def mcpstore(*args: str, env: dict[str, str], **kw: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "mcpstore_cli", *args], env=env, check=True, **kw)


def spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def stop(proc: subprocess.Popen[bytes]) -> str:
    if proc.poll() is None:
        proc.send_signal(2)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return (proc.stderr.read() if proc.stderr else b"").decode(errors="replace")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, int(-(-q * len(ordered) // 1)))
    return ordered[min(rank, len(ordered)) - 1]


def measure(
    backend: str, url: str, env: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    """Latency of tail-events and of the 1 s polling baseline during demo --live."""
    mcpstore("demo", "--url", url, "--sessions", "20", "--events-per-session", "2", "-q", env=env)
    tail = spawn(
        [sys.executable, "-m", "mcpstore_cli", "tail-events", "--url", url, "-f", "jsonl"], env
    )
    base = spawn([sys.executable, "-c", BASELINE, backend, url], env)
    readers = {"mcpstore": Reader(tail), "baseline": Reader(base)}
    time.sleep(4)  # both positioned at the end
    for reader in readers.values():
        reader.counting = True
    writers = []
    per_writer = args.rate / args.writers
    for _ in range(args.writers):
        writers.append(
            spawn(
                [
                    sys.executable,
                    "-m",
                    "mcpstore_cli",
                    "demo",
                    "--url",
                    url,
                    "--sessions",
                    "0",
                    "--live",
                    "--rate",
                    f"{per_writer:g}",
                    "--duration",
                    f"{int(args.seconds)}s",
                    "-q",
                ],
                env,
            )
        )
    for w in writers:
        w.wait(timeout=args.seconds + 120)
        if w.returncode != 0:
            err = (w.stderr.read() if w.stderr else b"").decode(errors="replace")
            print(f"  demo --live exited {w.returncode}: {err.strip()[:300]}")
    time.sleep(3)  # the last events arrive (the baseline polls once a second)
    tail_err = stop(tail)
    stop(base)
    noise = "mcpstore: interrupted."
    out: dict[str, Any] = {"tail_stderr": tail_err.replace(noise, "").strip()}
    for name, reader in readers.items():
        reader.thread.join(5)
        out[name] = reader
    return out


def idle_cpu(url: str, env: dict[str, str], seconds: float) -> subprocess.Popen[bytes]:
    return spawn(
        [sys.executable, "-m", "mcpstore_cli", "tail-events", "--url", url, "-f", "jsonl"], env
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="demo --live duration")
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--idle", type=float, default=30.0, help="idle CPU window, seconds")
    parser.add_argument("--backends", default="postgres,sqlite,dynamodb")
    parser.add_argument(
        "--dynamodb-writers",
        type=int,
        default=6,
        help="demo --live processes sharing --rate on DynamoDB Local (one cannot reach 100/s)",
    )
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    from tests.dynamodb_fixtures import DYNAMO_ENV, DynamoDBLocal, dynamodb_local_jar
    from tests.pg_fixtures import PgServer

    work = Path(tempfile.mkdtemp(prefix="mcpstore-bench-tail-"))
    pg: PgServer | None = None
    ddb: DynamoDBLocal | None = None
    stores: dict[str, tuple[str, dict[str, str]]] = {}
    results: dict[str, dict[str, Any]] = {}
    idle: dict[str, float] = {}
    try:
        if "sqlite" in backends:
            stores["sqlite"] = (f"sqlite:///{work / 'bench.db'}", child_env({}))
        if "postgres" in backends:
            pg = PgServer()
            pg.start()
            name = pg.create_database()
            stores["postgres"] = (pg.url(name), child_env({}))
        if "dynamodb" in backends:
            jar = dynamodb_local_jar()
            if jar is None:
                raise SystemExit("DynamoDB Local is not installed (scripts/install-test-deps.sh)")
            ddb = DynamoDBLocal(jar)
            ddb.start()
            table = f"bench-tail-{uuid.uuid4().hex[:8]}"
            url = f"dynamodb://{table}?region=us-east-1&endpoint={ddb.endpoint}"
            stores["dynamodb"] = (url, child_env(DYNAMO_ENV))
        for backend, (url, env) in stores.items():
            extra = ["--notify"] if backend == "postgres" else []
            mcpstore("setup", "--url", url, "-q", *extra, env=env, stdout=subprocess.DEVNULL)
        for backend in backends:
            url, env = stores[backend]
            args.writers = args.dynamodb_writers if backend == "dynamodb" else 1
            print(f"{backend}: demo --live at {args.rate:g} events/s for {args.seconds:g} s ...")
            results[backend] = measure(backend, url, env, args)
        # Idle: all tails at once, nothing written.
        procs = {b: idle_cpu(stores[b][0], stores[b][1], args.idle) for b in backends}
        time.sleep(5)  # past start-up
        before = {b: cpu_seconds(p.pid) for b, p in procs.items()}
        started = time.monotonic()
        time.sleep(args.idle)
        elapsed = time.monotonic() - started
        for b, p in procs.items():
            idle[b] = (cpu_seconds(p.pid) - before[b]) / elapsed * 100
            stop(p)
    finally:
        if pg is not None:
            pg.stop()
        if ddb is not None:
            ddb.stop()
        shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()
    print()
    print(
        f"tail-events: delay from an event's timestamp (taken just before it is stored) to its "
        f"line read from stdout; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"{os.cpu_count()} cores"
    )
    head = (
        f"{'backend':<10} {'follower':<22} {'events':>7} {'rate/s':>7} {'p50 ms':>8} "
        f"{'p95 ms':>8} {'max ms':>8} {'p95 vs base':>11} {'idle CPU':>9}  target"
    )
    print(head)
    for backend in backends:
        r = results[backend]
        mine, base = r["mcpstore"], r["baseline"]
        mode = {
            "postgres": "tail-events (LISTEN)",
            "sqlite": "tail-events (poll)",
            "dynamodb": "tail-events (stream)",
        }[backend]
        p95 = pct(mine.delays, 0.95)
        bp95 = pct(base.delays, 0.95)
        target = TARGET_P95_MS[backend]
        verdict = "ok" if p95 <= target and idle[backend] <= TARGET_IDLE_CPU else "MISSED"
        rate = len(mine.delays) / args.seconds
        dup = len(mine.keys) - len(set(mine.keys))
        print(
            f"{backend:<10} {mode:<22} {len(mine.delays):>7} {rate:>7.1f} "
            f"{pct(mine.delays, 0.5):>8.1f} {p95:>8.1f} {max(mine.delays, default=0):>8.1f} "
            f"{p95 / bp95 if bp95 else float('nan'):>10.2f}x {idle[backend]:>8.2f}%  "
            f"p95 <= {target:g} ms, idle <= {TARGET_IDLE_CPU:g}%: {verdict}"
        )
        print(
            f"{'':<10} {'baseline: poll 1 s':<22} {len(base.delays):>7} "
            f"{len(base.delays) / args.seconds:>7.1f} {pct(base.delays, 0.5):>8.1f} "
            f"{bp95:>8.1f} {max(base.delays, default=0):>8.1f} {'1.00x':>11} {'':>9}"
        )
        missing = set(base.keys) - set(mine.keys)
        if dup or missing:
            print(f"{'':<10} !! duplicates {dup}, seen by the baseline only {len(missing)}")
        if r["tail_stderr"]:
            print(f"{'':<10} tail stderr: {r['tail_stderr'][:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
