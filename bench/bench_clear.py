"""Benchmark: ``mcpstore clear`` against what an operator would otherwise run.

Run by hand (not by pytest)::

    python bench/bench_clear.py dynamodb [--sessions 10000 --events 10 --rounds 2]
    python bench/bench_clear.py postgres [--sessions 500000 --events 10 --rounds 2] [--url ...]

DynamoDB (DynamoDB Local, started and stopped here): ``mcpstore clear --yes`` against a
straightforward sequential boto3 script (DYNAMO_BASELINE: scan each table keys-only, page after
page, and BatchWriteItem-delete every page 25 keys a call, retrying UnprocessedItems), each on
a fresh DynamoDB Local of its own holding the same items, filled the way the server writes
them (see bench_dynamodb for why not one shared instance). Both are whole processes (Python
start-up, boto3 import, and for mcpstore also its preview: DescribeTable, a COUNT page per
table, the ListBackups probe); the ratio is of whole-process wall times.

PostgreSQL (a throwaway server unless --url): ``mcpstore clear --yes`` against
``psql -c 'TRUNCATE events, sessions'`` on two copies of one database (CREATE DATABASE ...
TEMPLATE). Compared are:

* in-process work: the library's clear() (its own connection, lock, count estimates, TRUNCATE,
  commit) as mcpstore reports it, against the TRUNCATE's time as psql's ``\\timing`` reports it
  (round trip and commit, no connection). This is the ratio the target (<= 1.2x) applies to;
* whole processes, for honesty: Python's start-up and imports alone cost a few hundred ms,
  which psql (a C program) does not pay; the preview mcpstore shows before it asks is reported
  on its own line (it uses planner estimates on big tables, so it stays cheap).

Each round rebuilds the data for both contenders and alternates who goes first. The load
average is printed with the figures: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PG_SERVER_SETTINGS = {"shared_buffers": "1GB", "max_wal_size": "8GB", "checkpoint_timeout": "30min"}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed ({proc.returncode}): {proc.stderr.strip()}")
    return seconds, proc.stdout


# -- DynamoDB ---------------------------------------------------------------------------------
DYNAMO_BASELINE = r"""
import sys, time
import boto3

endpoint, table = sys.argv[1], sys.argv[2]
c = boto3.client("dynamodb", endpoint_url=endpoint)
total = {}
for name, keys in ((table, "sessionId"), (table + "-events", "sessionId, eventId")):
    kw = {"TableName": name, "ProjectionExpression": keys}
    total[name] = 0
    while True:
        page = c.scan(**kw)
        items = page["Items"]
        for i in range(0, len(items), 25):
            pending = {name: [{"DeleteRequest": {"Key": k}} for k in items[i : i + 25]]}
            while pending:
                pending = c.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if pending:
                    time.sleep(0.05)
        total[name] += len(items)
        if "LastEvaluatedKey" not in page:
            break
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
print(total[table], total[table + "-events"])
"""


def _fresh_local(args: argparse.Namespace, table: str) -> tuple[Any, str, dict[str, str], str]:
    """A DynamoDB Local of its own with one filled table pair (see the module docstring)."""
    from bench_expire import _dynamo_counts, _dynamo_fill, _dynamo_local, _dynamo_setup

    server = _dynamo_local()
    try:
        url, env = _dynamo_setup(server.endpoint, table)
        t0 = time.perf_counter()
        _dynamo_fill(server.endpoint, [table], args.sessions, 0, args.events)
        sessions, n_events = _dynamo_counts(server.endpoint, table)
        if (len(sessions), n_events) != (args.sessions, args.sessions * args.events):
            raise SystemExit(f"the fill left {len(sessions)} sessions, {n_events} events")
        print(
            f"  fresh DynamoDB Local: {args.sessions:,} sessions and "
            f"{args.sessions * args.events:,} events in {time.perf_counter() - t0:.1f} s "
            f"(load {load()})",
            file=sys.stderr,
        )
    except BaseException:
        server.stop()
        raise
    return server, url, env, server.endpoint


def bench_dynamodb(args: argparse.Namespace) -> list[tuple[str, float, float, float, str]]:
    """Each contender gets a DynamoDB Local of its own, freshly filled, in every round: Local
    keeps stream records in one store for all tables and every write to a table with a stream
    gets slower as they pile up (measured: 5,000 deletes took 3.4 s on a fresh instance and
    85 s after some 200,000 stream records), so whoever ran second on a shared instance would
    lose. The events table has the NEW_IMAGE stream setup gives it, as in production."""
    from bench_expire import _dynamo_counts

    table = "bench-clear"
    expected = (args.sessions, args.sessions * args.events)
    ours_runs: list[float] = []
    raw_runs: list[float] = []
    inproc: list[tuple[float, float]] = []
    recreate_runs: list[float] = []

    def run_ours(url: str, env: dict[str, str], recreate: bool = False) -> None:
        extra = ["--recreate"] if recreate else []
        seconds, out = timed(
            [sys.executable, "-m", "mcpstore_cli", "clear", *extra, "--yes", "--quiet",
             "--format", "json", "--url", url],
            env=env,
        )  # fmt: skip
        summary = json.loads(out)
        if recreate:
            recreate_runs.append(seconds)
            return
        got = (summary["sessions"], summary["events"])
        if got != expected:
            raise SystemExit(f"mcpstore deleted {got}, expected {expected}")
        ours_runs.append(seconds)
        inproc.append((summary["duration_s"], summary["preview_s"]))

    def run_raw(endpoint: str, env: dict[str, str]) -> None:
        seconds, out = timed([sys.executable, "-c", DYNAMO_BASELINE, endpoint, table], env=env)
        got = tuple(int(x) for x in out.split())
        if got != expected:
            raise SystemExit(f"the script deleted {got}, expected {expected}")
        raw_runs.append(seconds)

    contenders = ["mcpstore", "script"]
    for round_no in range(args.rounds):
        order = contenders if round_no % 2 == 0 else contenders[::-1]
        for who in order:
            server, url, env, endpoint = _fresh_local(args, table)
            try:
                if who == "mcpstore":
                    run_ours(url, env)
                else:
                    run_raw(endpoint, env)
                sessions, n_events = _dynamo_counts(endpoint, table)
                if sessions or n_events:
                    raise SystemExit(f"{who} left {len(sessions)} sessions, {n_events} events")
            finally:
                server.stop()
        print(
            f"round {round_no + 1}: mcpstore {ours_runs[-1]:.2f} s (clear() "
            f"{inproc[-1][0]:.2f} s, preview {inproc[-1][1]:.2f} s), script "
            f"{raw_runs[-1]:.2f} s; both left empty tables (load {load()})",
            file=sys.stderr,
        )
    if args.recreate:
        server, url, env, _endpoint = _fresh_local(args, table)
        try:
            run_ours(url, env, recreate=True)
        finally:
            server.stop()
    ours, raw = statistics.median(ours_runs), statistics.median(raw_runs)
    rows = [
        (
            f"clear {args.sessions * (1 + args.events):,} items vs boto3 script",
            ours,
            raw,
            raw / ours,
            f"whole processes, median of {args.rounds}; {raw / ours:.1f}x faster (target >= 2x)",
        )
    ]
    if recreate_runs:
        rows.append(
            (
                "clear --recreate (same data)",
                recreate_runs[0],
                raw,
                raw / recreate_runs[0],
                "whole process, one run; DynamoDB Local deletes and creates tables at once, "
                "AWS takes seconds to minutes",
            )
        )
    return rows


# -- PostgreSQL -------------------------------------------------------------------------------
def _psql(url: str, *sql: str) -> str:
    cmd = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url]
    for statement in sql:
        cmd += ["-c", statement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"psql failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def build_postgres(url: str, sessions: int, events: int) -> None:
    from mcpstore_cli.backends.postgres.layout import ddl_statements as pg_ddl

    for statement in pg_ddl():
        _psql(url, statement)
    now = int(time.time() * 1000)
    state = '{"client_info":{"name":"bench","version":"1"},"negotiated_version":"2025-06-18"}'
    _psql(
        url,
        "INSERT INTO sessions (session_id, client_capabilities, server_capabilities, state, "
        "created_at, last_activity, is_initialized, metadata) "
        f"SELECT lpad(to_hex(g), 32, '0'), '{{\"tools\":{{}}}}', '{{\"tools\":{{}}}}', "
        f"'{state}', {now} - 300000, {now} - g, true, '{{}}' "
        f"FROM generate_series(0, {sessions - 1}) g",
    )
    _psql(
        url,
        "INSERT INTO events (session_id, timestamp, event_type, data) "
        f"SELECT s.session_id, s.last_activity - {events} + j, 'notifications/message', "
        '\'{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info"}}\' '
        f"FROM sessions s CROSS JOIN generate_series(0, {events - 1}) j "
        "ORDER BY s.session_id, j",
    )
    _psql(url, "VACUUM ANALYZE")


def bench_postgres(args: argparse.Namespace) -> list[tuple[str, float, float, float, str]]:
    from tests.pg_fixtures import PgServer

    server = None
    base_url = args.url
    if base_url is None:
        server = PgServer()
        server.start(PG_SERVER_SETTINGS)
        base_url = server.url("postgres")
    root = base_url.rsplit("/", 1)[0]
    raw_url, ours_url = f"{root}/clear_raw", f"{root}/clear_ours"
    try:
        _psql(base_url, "DROP DATABASE IF EXISTS clear_base")
        _psql(base_url, "CREATE DATABASE clear_base")
        t0 = time.perf_counter()
        build_postgres(f"{root}/clear_base", args.sessions, args.events)
        total_events = args.sessions * args.events
        size = _psql(
            f"{root}/clear_base", "SELECT pg_size_pretty(pg_database_size(current_database()))"
        )
        print(
            f"built {args.sessions:,} sessions and {total_events:,} events ({size}) in "
            f"{time.perf_counter() - t0:.1f} s (load {load()})",
            file=sys.stderr,
        )
        raw_inproc, ours_inproc, raw_whole, ours_whole, previews = [], [], [], [], []
        seq_before = int(_psql(f"{root}/clear_base", "SELECT last_value FROM events_id_seq"))
        for round_no in range(args.rounds):
            for name in ("clear_raw", "clear_ours"):
                _psql(base_url, f"DROP DATABASE IF EXISTS {name}")
                _psql(base_url, f"CREATE DATABASE {name} TEMPLATE clear_base")
            for url in (raw_url, ours_url):  # the same warm-up: read both tables once
                _psql(url, "SELECT count(*) FROM sessions", "SELECT count(*) FROM events")
            _psql(base_url, "CHECKPOINT")

            def run_raw() -> None:
                seconds, out = timed(
                    [
                        "psql",
                        "-X",
                        "-v",
                        "ON_ERROR_STOP=1",
                        raw_url,
                        "-c",
                        "\\timing on",
                        "-c",
                        "TRUNCATE events, sessions",
                    ]
                )
                match = re.search(r"Time: ([\d.]+) ms", out)
                if match is None:
                    raise SystemExit(f"psql printed no timing: {out!r}")
                raw_whole.append(seconds)
                raw_inproc.append(float(match.group(1)) / 1000)

            def run_ours() -> None:
                seconds, out = timed(
                    [
                        sys.executable,
                        "-m",
                        "mcpstore_cli",
                        "clear",
                        "--yes",
                        "--quiet",
                        "--format",
                        "json",
                        "--url",
                        ours_url,
                    ]
                )
                summary = json.loads(out)
                if summary["exact"]:
                    raise SystemExit("expected estimates on a table this size")
                ours_whole.append(seconds)
                ours_inproc.append(summary["duration_s"])
                previews.append(summary["preview_s"])
                print(
                    f"  mcpstore reported about {summary['sessions']:,} sessions and about "
                    f"{summary['events']:,} events (estimates)",
                    file=sys.stderr,
                )

            order = [run_ours, run_raw] if round_no % 2 == 0 else [run_raw, run_ours]
            for run in order:
                run()
            for name, url in (("psql", raw_url), ("mcpstore", ours_url)):
                counts = _psql(
                    url,
                    "SELECT (SELECT count(*) FROM sessions) || ' ' || (SELECT count(*) FROM events)"
                    " || ' ' || (SELECT last_value FROM events_id_seq)",
                )
                s, e, seq = (int(x) for x in counts.split())
                if s or e or seq != seq_before:
                    raise SystemExit(f"after {name}: {s} sessions, {e} events, sequence {seq}")
            print(
                f"round {round_no + 1}: TRUNCATE {raw_inproc[-1] * 1000:.0f} ms (psql process "
                f"{raw_whole[-1]:.2f} s); mcpstore clear() {ours_inproc[-1] * 1000:.0f} ms "
                f"(process {ours_whole[-1]:.2f} s, preview {previews[-1] * 1000:.0f} ms); "
                f"both empty, sequence kept at {seq_before:,} (load {load()})",
                file=sys.stderr,
            )
        startup, _ = timed(
            [
                sys.executable,
                "-c",
                "import mcpstore_cli.backends.postgres.store, mcpstore_cli.cli.app",
            ]
        )
        med = statistics.median
        return [
            (
                f"clear() vs TRUNCATE, {total_events:,} events",
                med(ours_inproc),
                med(raw_inproc),
                med(ours_inproc) / med(raw_inproc),
                f"in-process work (target <= 1.2x); median of {args.rounds}",
            ),
            (
                "whole process: mcpstore clear vs psql",
                med(ours_whole),
                med(raw_whole),
                med(ours_whole) / med(raw_whole),
                f"includes Python start-up + imports ({startup:.2f} s alone) and the preview "
                f"({med(previews) * 1000:.0f} ms)",
            ),
        ]
    finally:
        for name in ("clear_raw", "clear_ours", "clear_base"):
            subprocess.run(
                ["psql", "-X", "-q", base_url, "-c", f"DROP DATABASE IF EXISTS {name}"],
                capture_output=True,
            )
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("backend", choices=["postgres", "dynamodb"])
    parser.add_argument("--url", help="postgres: a server URL (superuser) instead of a throwaway")
    parser.add_argument("--sessions", type=int, help="default 500000 (dynamodb: 10000)")
    parser.add_argument("--events", type=int, default=10, help="events per session")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--recreate", action="store_true", help="dynamodb: also time --recreate")
    args = parser.parse_args()
    if args.sessions is None:
        args.sessions = 10_000 if args.backend == "dynamodb" else 500_000
    bench = bench_dynamodb if args.backend == "dynamodb" else bench_postgres
    rows = bench(args)
    print(f"\nload average {load()} on {os.cpu_count()} cores")
    print(f"{'measure':44} {'mcpstore':>10} {'baseline':>10} {'ratio':>7}  notes")
    for name, ours, base, _ratio, note in rows:
        print(f"{name:44} {ours:9.3f}s {base:9.3f}s {ours / base:6.2f}x  {note}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
