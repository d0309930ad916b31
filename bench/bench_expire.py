"""Benchmark: ``mcpstore expire`` against one raw DELETE by the database's own shell.

Run by hand (not by pytest)::

    python bench/bench_expire.py sqlite [--idle 1000000 --live 100000 --events 5]
    python bench/bench_expire.py postgres [--url postgresql://...]   # else a throwaway server
    python bench/bench_expire.py dynamodb [--idle 20000 --live 0 --events 5]

DynamoDB (DynamoDB Local, started and stopped here): ``mcpstore expire`` against a sequential
boto3 scan + batch-delete script (see DYNAMO_BASELINE) on an identical second table pair.

The same data is built twice (one copy per contender): ``--idle`` sessions idle for two hours
with ``--events`` events each, and ``--live`` sessions active a minute ago with as many events.
Then, in the same run:

* the baseline: ``sqlite3 COPY.db "PRAGMA foreign_keys=ON; DELETE FROM sessions WHERE
  last_activity < CUTOFF"`` (or ``psql -c "DELETE ..."``), whole process wall time;
* ``mcpstore expire --idle 30m`` on the other copy, whole process wall time, with its peak
  resident memory (ru_maxrss of the child);

and a table with the ratio. Afterwards both copies must hold exactly the live sessions and
their events (checked, and printed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcpstore_cli.backends.sqlite.layout import ddl_statements  # noqa: E402

PG_SERVER_SETTINGS = {
    # The same server for both contenders, sized for the data (as bench_postgres.py does).
    "shared_buffers": "1GB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
}

MIN = 60_000


def _rows(idle: int, live: int, events: int, now: int):  # type: ignore[no-untyped-def]
    state = '{"client_info":{"name":"bench","version":"1"},"negotiated_version":"2025-06-18"}'
    caps = '{"tools":{"listChanged":true}}'
    for i in range(idle + live):
        last = now - (120 * MIN if i < idle else MIN) - i % 1000
        sid = f"{i:032x}"
        yield (
            (sid, caps, caps, state, last - 5 * MIN, last, 1, "{}"),
            [
                (
                    sid,
                    last - events + j,
                    "notifications/message",
                    '{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info"}}',
                    None,
                )
                for j in range(events)
            ],
        )


def build_sqlite(path: Path, idle: int, live: int, events: int, now: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    for statement in ddl_statements():
        conn.execute(statement)
    conn.execute("BEGIN")
    sessions, evs = [], []
    for session, its_events in _rows(idle, live, events, now):
        sessions.append(session)
        evs.extend(its_events)
        if len(sessions) >= 50_000:
            conn.executemany("INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?)", sessions)
            conn.executemany(
                "INSERT INTO events (session_id, timestamp, event_type, data, retry) "
                "VALUES (?,?,?,?,?)",
                evs,
            )
            sessions, evs = [], []
    if sessions:
        conn.executemany("INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?)", sessions)
        conn.executemany(
            "INSERT INTO events (session_id, timestamp, event_type, data, retry) "
            "VALUES (?,?,?,?,?)",
            evs,
        )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Wall seconds, the child's own peak RSS in MiB, and its stdout.

    The peak is the child's VmHWM, polled every 20 ms (ru_maxrss would report the parent's
    high-water mark, which Linux carries across fork and exec).
    """
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _hwm_kib(proc.pid))
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(
            f"  {Path(cmd[1]).name if cmd[1] != '-c' else 'script'} {cmd[2:4]}: "
            f"{elapsed:.2f} s wall, {cpu:.2f} s CPU in the client process",
            file=sys.stderr,
        )
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {err.read().strip()}")
        return elapsed, peak // 1024, out.read()


def counts_sqlite(path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    try:
        return (
            conn.execute("SELECT count(*) FROM sessions").fetchone()[0],
            conn.execute("SELECT count(*) FROM events").fetchone()[0],
        )
    finally:
        conn.close()


def bench_sqlite(args: argparse.Namespace) -> list[tuple[str, float, float, str]]:
    work = Path(tempfile.mkdtemp(prefix="mcpstore-bench-expire-"))
    try:
        now = int(time.time() * 1000)
        base = work / "base.db"
        t0 = time.perf_counter()
        build_sqlite(base, args.idle, args.live, args.events, now)
        print(
            f"built {args.idle + args.live:,} sessions and "
            f"{(args.idle + args.live) * args.events:,} events in "
            f"{time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        raw, ours = work / "raw.db", work / "ours.db"
        shutil.copy(base, raw)
        shutil.copy(base, ours)
        cutoff = now - 30 * MIN
        # Both sides start with the same cold-ish page cache state: read each file once.
        for path in (raw, ours):
            path.read_bytes()
        raw_s, raw_mb, _ = timed(
            [
                "sqlite3",
                str(raw),
                f"PRAGMA foreign_keys=ON; DELETE FROM sessions WHERE last_activity < {cutoff};",
            ]
        )
        ours_s, ours_mb, out = timed(
            [
                sys.executable,
                "-m",
                "mcpstore_cli",
                "expire",
                "--idle",
                "30m",
                "--format",
                "json",
                "--url",
                f"sqlite:///{ours}",
            ]
        )
        summary = json.loads(out)
        expected = (args.live, args.live * args.events)
        for name, path in (("sqlite3", raw), ("mcpstore", ours)):
            got = counts_sqlite(path)
            status = "ok" if got == expected else f"WRONG {got} != {expected}"
            print(
                f"after {name}: {got[0]:,} sessions, {got[1]:,} events: {status}", file=sys.stderr
            )
        print(
            f"mcpstore removed {summary['sessions']:,} sessions and {summary['events']:,} "
            f"events in {summary['duration_s']} s",
            file=sys.stderr,
        )
        return [
            (
                "expire vs sqlite3 DELETE (FK on)",
                ours_s,
                raw_s,
                f"peak RSS mcpstore {ours_mb} MiB, sqlite3 {raw_mb} MiB",
            )
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _psql(url: str, sql: str) -> str:
    proc = subprocess.run(
        ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"psql failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def build_postgres(url: str, idle: int, live: int, events: int, now: int) -> None:
    from mcpstore_cli.backends.postgres.layout import ddl_statements as pg_ddl

    for statement in pg_ddl():
        _psql(url, statement)
    state = '{"client_info":{"name":"bench","version":"1"},"negotiated_version":"2025-06-18"}'
    _psql(
        url,
        "INSERT INTO sessions (session_id, client_capabilities, server_capabilities, state, "
        "created_at, last_activity, is_initialized, metadata) "
        f"SELECT lpad(to_hex(g), 32, '0'), '{{\"tools\":{{}}}}', '{{\"tools\":{{}}}}', "
        f"'{state}', last - 300000, last, true, '{{}}' FROM ("
        f"SELECT g, {now} - CASE WHEN g < {idle} THEN {120 * MIN} ELSE {MIN} END - g % 1000 "
        f"AS last FROM generate_series(0, {idle + live - 1}) g) x",
    )
    _psql(
        url,
        "INSERT INTO events (session_id, timestamp, event_type, data) "
        f"SELECT s.session_id, s.last_activity - {events} + j, 'notifications/message', "
        '\'{"jsonrpc":"2.0","method":"notifications/message"}\' '
        f"FROM sessions s CROSS JOIN generate_series(0, {events - 1}) j "
        "ORDER BY s.session_id, j",
    )
    _psql(url, "VACUUM ANALYZE")


def counts_postgres(url: str) -> tuple[int, int]:
    out = _psql(url, "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM events)")
    a, b = out.split("|")
    return int(a), int(b)


def bench_postgres(args: argparse.Namespace) -> list[tuple[str, float, float, str]]:
    from tests.pg_fixtures import PgServer

    server = None
    base_url = args.url
    if base_url is None:
        server = PgServer()
        server.start(PG_SERVER_SETTINGS)
        base_url = server.url("postgres")
    root = base_url.rsplit("/", 1)[0]
    try:
        now = int(time.time() * 1000)
        _psql(base_url, "DROP DATABASE IF EXISTS expire_base")
        _psql(base_url, "CREATE DATABASE expire_base")
        t0 = time.perf_counter()
        build_postgres(f"{root}/expire_base", args.idle, args.live, args.events, now)
        print(
            f"built {args.idle + args.live:,} sessions and "
            f"{(args.idle + args.live) * args.events:,} events in "
            f"{time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        for name in ("expire_raw", "expire_ours"):
            _psql(base_url, f"DROP DATABASE IF EXISTS {name}")
            _psql(base_url, f"CREATE DATABASE {name} TEMPLATE expire_base")
        cutoff = now - 30 * MIN
        raw_url, ours_url = f"{root}/expire_raw", f"{root}/expire_ours"
        for url in (raw_url, ours_url):  # same warm-up for both: read the tables once
            _psql(url, "SELECT count(*) FROM sessions; SELECT count(*) FROM events")
        raw_s, _raw_mb, _ = timed(
            [
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                raw_url,
                "-c",
                f"DELETE FROM sessions WHERE last_activity < {cutoff}",
            ]
        )
        commits_before = int(
            _psql(
                base_url, "SELECT xact_commit FROM pg_stat_database WHERE datname = 'expire_ours'"
            )
        )
        ours_s, ours_mb, out = timed(
            [
                sys.executable,
                "-m",
                "mcpstore_cli",
                "expire",
                "--idle",
                "30m",
                "--format",
                "json",
                "--url",
                ours_url,
            ]
        )
        time.sleep(1)  # statistics are reported asynchronously
        commits = (
            int(
                _psql(
                    base_url,
                    "SELECT xact_commit FROM pg_stat_database WHERE datname = 'expire_ours'",
                )
            )
            - commits_before
        )
        summary = json.loads(out)
        expected = (args.live, args.live * args.events)
        for name, url in (("psql", raw_url), ("mcpstore", ours_url)):
            got = counts_postgres(url)
            status = "ok" if got == expected else f"WRONG {got} != {expected}"
            print(
                f"after {name}: {got[0]:,} sessions, {got[1]:,} events: {status}", file=sys.stderr
            )
        batches = -(-summary["sessions"] // 5000)
        print(
            f"mcpstore removed {summary['sessions']:,} sessions and {summary['events']:,} "
            f"events in {summary['duration_s']} s; {commits} commits for {batches} batches "
            "of at most 5,000 sessions",
            file=sys.stderr,
        )
        return [
            (
                "expire vs psql DELETE",
                ours_s,
                raw_s,
                f"peak RSS mcpstore {ours_mb} MiB (target < 150), {commits} transactions",
            )
        ]
    finally:
        if server is not None:
            server.stop()


# -- DynamoDB ----------------------------------------------------------------------------
# The baseline: what an operator would write by hand. One sequential boto3 scan of the
# sessions table with a filter; for every page, batch-delete its sessions (25 a call,
# UnprocessedItems retried), then query each session's events (keys only) and batch-delete
# them (25 a call). Run as a process of its own, like mcpstore.
DYNAMO_BASELINE = r"""
import sys, time
import boto3

endpoint, table, cutoff = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = boto3.client("dynamodb", endpoint_url=endpoint)
events = table + "-events"


def batch_delete(name, keys):
    for i in range(0, len(keys), 25):
        pending = {name: [{"DeleteRequest": {"Key": k}} for k in keys[i : i + 25]]}
        while pending:
            pending = c.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if pending:
                time.sleep(0.05)


sessions = n_events = 0
kw = {
    "TableName": table,
    "FilterExpression": "lastActivity < :cutoff",
    "ProjectionExpression": "sessionId",
    "ExpressionAttributeValues": {":cutoff": {"N": str(cutoff)}},
}
while True:
    page = c.scan(**kw)
    keys = page["Items"]
    batch_delete(table, keys)
    sessions += len(keys)
    doomed = []
    for key in keys:
        q = {
            "TableName": events,
            "KeyConditionExpression": "sessionId = :s",
            "ProjectionExpression": "sessionId, eventId",
            "ExpressionAttributeValues": {":s": key["sessionId"]},
        }
        while True:
            found = c.query(**q)
            doomed += found["Items"]
            if "LastEvaluatedKey" not in found:
                break
            q["ExclusiveStartKey"] = found["LastEvaluatedKey"]
        if len(doomed) >= 25:
            batch_delete(events, doomed)
            n_events += len(doomed)
            doomed = []
    batch_delete(events, doomed)
    n_events += len(doomed)
    if "LastEvaluatedKey" not in page:
        break
    kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
print(sessions, n_events)
"""


def _dynamo_fill(endpoint: str, tables: list[str], idle: int, live: int, events: int) -> None:
    """Identical items in every table pair, exactly as the server puts them (camelCase, JSON
    strings, times in ms, ttl half an hour after the write), by parallel raw batch writes."""
    from concurrent.futures import ThreadPoolExecutor

    from botocore.config import Config

    from tests.dynamodb_fixtures import client

    c = client(endpoint, config=Config(max_pool_connections=16, parameter_validation=False))
    now = int(time.time() * 1000)
    ttl = str(now // 1000 + 1800)
    state = '{"client_info":{"name":"bench","version":"1"},"negotiated_version":"2025-06-18"}'
    caps = '{"tools":{"listChanged":true}}'
    data = '{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info"}}'

    def items(i: int) -> list[tuple[str, dict[str, Any]]]:
        last = now - (120 * MIN if i < idle else MIN) - i % 1000
        sid = f"{i:032x}"
        out: list[tuple[str, dict[str, Any]]] = [
            (
                "",
                {
                    "sessionId": {"S": sid},
                    "clientCapabilities": {"S": caps},
                    "serverCapabilities": {"S": caps},
                    "state": {"S": state},
                    "createdAt": {"N": str(last - 5 * MIN)},
                    "lastActivity": {"N": str(last)},
                    "isInitialized": {"BOOL": True},
                    "metadata": {"S": "{}"},
                    "ttl": {"N": ttl},
                },
            )
        ]
        for j in range(events):
            out.append(
                (
                    "-events",
                    {
                        "sessionId": {"S": sid},
                        "eventId": {"N": str(j + 1)},
                        "timestamp": {"N": str(last - events + j)},
                        "eventType": {"S": "notifications/message"},
                        "data": {"S": data},
                        "ttl": {"N": ttl},
                    },
                )
            )
        return out

    def put(start: int) -> None:
        requests = [
            (table + suffix, item)
            for i in range(start, min(start + 5, idle + live))
            for table in tables
            for suffix, item in items(i)
        ]
        for k in range(0, len(requests), 25):
            pending: dict[str, list[dict[str, Any]]] = {}
            for name, item in requests[k : k + 25]:
                pending.setdefault(name, []).append({"PutRequest": {"Item": item}})
            while pending:
                pending = c.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(0, idle + live, 5)))


def _dynamo_counts(endpoint: str, table: str) -> tuple[set[str], int]:
    from tests.dynamodb_fixtures import client

    c = client(endpoint)
    sessions: set[str] = set()
    n_events = 0
    for name in (table, f"{table}-events"):
        kw: dict[str, Any] = {"TableName": name, "ProjectionExpression": "sessionId"}
        while True:
            page = c.scan(**kw)
            if name == table:
                sessions |= {item["sessionId"]["S"] for item in page["Items"]}
            else:
                n_events += len(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sessions, n_events


def _dynamo_local() -> Any:
    """A started DynamoDB Local of the bench's own, as the tests start it (stop it with
    .stop(), which ends it by its pid)."""
    from tests.dynamodb_fixtures import DynamoDBLocal, dynamodb_local_jar

    jar = dynamodb_local_jar()
    if jar is None:
        raise SystemExit("DynamoDB Local is not installed (run scripts/install-test-deps.sh)")
    server = DynamoDBLocal(jar)
    server.start()
    return server


def _dynamo_setup(endpoint: str, table: str) -> tuple[str, dict[str, str]]:
    """``mcpstore setup`` of one table pair; returns its URL and the environment to run in."""
    from tests.dynamodb_fixtures import DYNAMO_ENV

    env = {**os.environ, **DYNAMO_ENV, "AWS_DEFAULT_REGION": DYNAMO_ENV["AWS_REGION"]}
    url = f"dynamodb://{table}?region={DYNAMO_ENV['AWS_REGION']}&endpoint={endpoint}"
    subprocess.run(
        [sys.executable, "-m", "mcpstore_cli", "setup", "--quiet", "--url", url],
        env=env,
        check=True,
    )
    return url, env


def bench_dynamodb(args: argparse.Namespace) -> list[tuple[str, float, float, str]]:
    """mcpstore expire vs the sequential boto3 script, on identical table pairs in one
    DynamoDB Local (started here as the tests start it, stopped by its pid)."""
    server = _dynamo_local()
    try:
        endpoint = server.endpoint
        ours_t, raw_t = "bench-expire-ours", "bench-expire-raw"
        ours_url, env = _dynamo_setup(endpoint, ours_t)
        _dynamo_setup(endpoint, raw_t)
        t0 = time.perf_counter()
        _dynamo_fill(endpoint, [ours_t, raw_t], args.idle, args.live, args.events)
        per_pair = (args.idle + args.live) * (1 + args.events)
        print(
            f"built 2 x {args.idle + args.live:,} sessions and "
            f"{(args.idle + args.live) * args.events:,} events ({2 * per_pair:,} items) in "
            f"{time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        cutoff = int(time.time() * 1000) - 30 * MIN
        ours_s, ours_mb, out = timed(
            [
                sys.executable,
                "-m",
                "mcpstore_cli",
                "expire",
                "--idle",
                "30m",
                "--format",
                "json",
                "--url",
                ours_url,
            ],
            env=env,
        )
        raw_s, raw_mb, raw_out = timed(
            [sys.executable, "-c", DYNAMO_BASELINE, endpoint, raw_t, str(cutoff)], env=env
        )
        summary = json.loads(out)
        raw_sessions, raw_events = (int(x) for x in raw_out.split())
        left = {}
        for name, table in (("boto3 script", raw_t), ("mcpstore", ours_t)):
            left[name] = _dynamo_counts(endpoint, table)
            sessions, n_events = left[name]
            print(f"after {name}: {len(sessions):,} sessions, {n_events:,} events", file=sys.stderr)
        expected_live = {f"{i:032x}" for i in range(args.idle, args.idle + args.live)}
        same = left["mcpstore"] == left["boto3 script"] == (expected_live, args.live * args.events)
        print(
            f"mcpstore removed {summary['sessions']:,} sessions and {summary['events']:,} events "
            f"(+{summary['orphans']:,} orphans) in {summary['duration_s']} s; the script "
            f"{raw_sessions:,} and {raw_events:,}; both left the same: "
            f"{'ok' if same else 'NO'}",
            file=sys.stderr,
        )
        if not same:
            raise SystemExit("the two table pairs differ after the runs")
        return [
            (
                "expire vs sequential boto3 script",
                ours_s,
                raw_s,
                f"{raw_s / ours_s:.1f}x faster (target >= 2x); peak RSS mcpstore {ours_mb} MiB, "
                f"script {raw_mb} MiB",
            )
        ]
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("backend", choices=["sqlite", "postgres", "dynamodb"])
    parser.add_argument("--url", help="postgres: a server URL (superuser) instead of a throwaway")
    parser.add_argument("--idle", type=int, help="default 1000000 (dynamodb: 20000)")
    parser.add_argument("--live", type=int, help="default 100000 (dynamodb: 0)")
    parser.add_argument("--events", type=int, default=5)
    args = parser.parse_args()
    dynamo = args.backend == "dynamodb"
    if args.idle is None:
        args.idle = 20_000 if dynamo else 1_000_000
    if args.live is None:
        args.live = 0 if dynamo else 100_000
    benches = {"sqlite": bench_sqlite, "postgres": bench_postgres, "dynamodb": bench_dynamodb}
    rows = benches[args.backend](args)
    print(f"\n{'measure':40} {'mcpstore':>10} {'baseline':>10} {'ratio':>7}  notes")
    for name, ours, base, note in rows:
        print(f"{name:40} {ours:9.2f}s {base:9.2f}s {ours / base:6.2f}x  {note}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
