#!/usr/bin/env python3
"""FastMCP's layout (py-key-value entries) at scale, mcpstore against the baseline the issue
names, measured in the same run.

Run by hand (not by pytest)::

    python bench/bench_fastmcp.py postgres [--entries 1000000] [--repeat 3]
    python bench/bench_fastmcp.py redis    [--entries 1000000] [--repeat 5]
    python bench/bench_fastmcp.py tail     [--events 400]

postgres: a throwaway server of its own. ``kv_store`` exactly as py-key-value creates it, filled
with ``--entries`` entries as FastMCP writes them (events 90%, their streams, session state),
created over the last 2.5 hours with FastMCP's one-hour TTL, so that 60% have expired. Then, on
fresh copies of that database, taking turns: ``mcpstore expire --layout fastmcp`` as a whole
process against one raw ``DELETE FROM kv_store WHERE expires_at < now()`` by psql. Target at
most 1.3x, with mcpstore's peak memory under 150 MB.

redis: a redis-server of its own, ``--entries`` keys written as py-key-value does (``SET
<collection>::<key> <document> EX <ttl>``). ``mcpstore stats`` as a whole process against two
baselines that read every key and value: the issue's shell pipeline read literally
(``redis-cli --scan --pattern 'fastmcp_*'``, then ``GET`` of each key through ``redis-cli
--pipe``), and a redis-py script doing the same reads the fastest way Python can (SCAN MATCH
fastmcp_* COUNT 1000, an MGET of each page). ``redis-cli --scan ... | wc -l`` alone (keys
only) is printed too. Target at most 1.5x.

tail: the latency from a stored event to its printed line (``tail-events --format jsonl``),
p50 and p95 over ``--events`` events written one at a time by a writer as FastMCP writes
them: PostgreSQL with ``setup --notify``'s trigger, Redis with keyspace notifications. Target
p95 at most 100 ms.

Every figure is a median of the repeats, with the load average printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_expire import timed  # noqa: E402

USER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
USER_ENV["PYTHONPATH"] = os.pathsep.join(
    [str(HERE.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
)
MCPSTORE = [sys.executable, "-m", "mcpstore_cli"]


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def psql(url: str, sql: str) -> str:
    proc = subprocess.run(
        ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"psql failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def fill_postgres(url: str, n: int) -> None:
    """``n`` entries as FastMCP writes them through py-key-value's PostgreSQLStore: 90% events
    (progress notifications, 100 to a stream), their streams, 9% state keys; created evenly
    over the last 2.5 hours with a 3600 s TTL (events, streams) or, for state, 3600 s here
    too, so that 60% of them have expired."""
    from mcpstore_cli.layouts.fastmcp.schema import index_ddl, table_ddl

    psql(url, table_ddl())
    psql(url, index_ddl())
    events = n * 90 // 100
    streams = events // 100
    states = n - events - streams
    span = "interval '9000 seconds'"

    def at(i: str, total: int) -> str:
        return f"now() - {span} + ({i}::float8 / {total}) * {span}"

    psql(
        url,
        "INSERT INTO kv_store (collection, key, value, ttl, created_at, expires_at) "
        "SELECT 'fastmcp_events', k, jsonb_build_object('event_id', k, 'stream_id', "
        "'32:' || md5((i / 100)::text) || ':' || (i / 100 % 9), 'message', "
        "jsonb_build_object('jsonrpc', '2.0', 'method', 'notifications/progress', 'params', "
        "jsonb_build_object('progressToken', i / 100, 'progress', i % 100, 'total', 100))), "
        f"3599.9998, t, t + interval '3600 seconds' FROM generate_series(1, {events}) i, "
        f"LATERAL (SELECT md5('e' || i)::uuid::text AS k, {at('i', events)} AS t) x",
    )
    psql(
        url,
        "INSERT INTO kv_store (collection, key, value, ttl, created_at, expires_at) "
        "SELECT 'fastmcp_streams', '32:' || md5(s::text) || ':' || (s % 9), "
        "jsonb_build_object('event_ids', (SELECT jsonb_agg(md5('e' || e)::uuid::text) FROM "
        "generate_series(s * 100, s * 100 + 99) e)), 3599.9998, t, t + interval '3600 seconds' "
        f"FROM generate_series(0, {streams - 1}) s, "
        f"LATERAL (SELECT {at('s * 100 + 99', events)} AS t) x",
    )
    psql(
        url,
        "INSERT INTO kv_store (collection, key, value, ttl, created_at, expires_at) "
        "SELECT 'fastmcp_state', md5('s' || (i / 4)) || ':key' || (i % 4), "
        "jsonb_build_object('value', jsonb_build_object('n', i, 'note', repeat('x', 40))), "
        f"3599.9998, t, t + interval '3600 seconds' FROM generate_series(1, {states}) i, "
        f"LATERAL (SELECT {at('i', states)} AS t) x",
    )
    psql(url, "VACUUM ANALYZE kv_store")


def bench_postgres(args: argparse.Namespace) -> list[tuple[str, float, float, float]]:
    from tests.pg_fixtures import PgServer

    server = PgServer()
    server.start({"fsync": "off", "shared_buffers": "256MB"})
    base_url = server.url("postgres")
    root = base_url.rsplit("/", 1)[0]
    out: list[tuple[str, float, float, float]] = []
    try:
        psql(base_url, "CREATE DATABASE kv_base")
        t0 = time.perf_counter()
        fill_postgres(f"{root}/kv_base", args.entries)
        total = psql(f"{root}/kv_base", "SELECT count(*) FROM kv_store")
        expired = psql(f"{root}/kv_base", "SELECT count(*) FROM kv_store WHERE expires_at < now()")
        print(
            f"built {total} entries ({expired} expired) in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        copies = {"raw": "kv_raw", "one": "kv_one", "two": "kv_two"}
        times: dict[str, list[float]] = {k: [] for k in copies}
        peaks: list[int] = []
        for round_no in range(args.repeat):
            for name in copies.values():
                psql(base_url, f"DROP DATABASE IF EXISTS {name}")
                psql(base_url, f"CREATE DATABASE {name} TEMPLATE kv_base")
                psql(f"{root}/{name}", "SELECT count(*) FROM kv_store")
            turn = list(copies.items())
            shift = round_no % len(turn)  # who goes first rotates round by round
            for key, name in turn[shift:] + turn[:shift]:
                psql(base_url, "CHECKPOINT")
                url = f"{root}/{name}"
                started = time.time()
                if key == "raw":
                    took, _mb, _ = timed(
                        [
                            "psql",
                            "-X",
                            "-q",
                            url,
                            "-c",
                            "DELETE FROM kv_store WHERE expires_at < now()",
                        ]
                    )
                else:
                    took, mb, _ = timed(
                        [
                            *MCPSTORE,
                            "expire",
                            "--layout",
                            "fastmcp",
                            "--url",
                            url,
                            "--batch-size",
                            str(args.batch_size),
                            "--jobs",
                            "1" if key == "one" else "2",
                            "-f",
                            "json",
                        ],
                        env=USER_ENV,
                    )
                    peaks.append(mb)
                times[key].append(took)
                # Nothing that had expired when the run started is left.
                stale = psql(
                    url,
                    "SELECT count(*) FROM kv_store WHERE expires_at < timestamptz 'epoch' + "
                    f"{started} * interval '1 second'",
                )
                assert stale == "0", (key, stale)
            left = [psql(f"{root}/{n}", "SELECT count(*) FROM kv_store") for n in copies.values()]
            print(f"entries left: raw DELETE, mcpstore, --jobs 2: {left}", file=sys.stderr)
        raw = median(times["raw"])
        out.append(("expire (whole process)", median(times["one"]), raw, 1.3))
        out.append(("expire --jobs 2 (whole process)", median(times["two"]), raw, 1.3))
        out.append((f"expire peak memory MB: {max(peaks)}", float(max(peaks)), 150.0, 1.0))
    finally:
        server.stop()
    return out


# -- Redis ---------------------------------------------------------------------------------
def start_redis() -> tuple[subprocess.Popen[bytes], int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return proc, port


def fill_redis(port: int, n: int) -> None:
    """``n`` keys as py-key-value's RedisStore writes them: ``SET <collection>::<key> <doc>
    EX <ttl>``, the document ``json.dumps(sort_keys=True)``."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    now = time.time()
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        created = now - (n - i) * 0.001
        if i % 10 < 9:
            collection, key = "fastmcp_events", str(uuid.UUID(int=i + 1, version=4))
            value: Any = {
                "event_id": key,
                "stream_id": f"32:{i // 100:032x}:{i // 100 % 9}",
                "message": {
                    "jsonrpc": "2.0",
                    "method": "notifications/progress",
                    "params": {"progressToken": i // 100, "progress": i % 100, "total": 100},
                },
            }
        elif i % 100 == 9:
            collection, key = "fastmcp_streams", f"32:{i // 100:032x}:{i // 100 % 9}"
            value = {
                "event_ids": [
                    str(uuid.UUID(int=j + 1, version=4)) for j in range(i - 9, i + 91) if j % 10 < 9
                ]
            }
        else:
            collection, key = "fastmcp_state", f"{i // 40:032x}:key{i % 4}"
            value = {"value": {"n": i}}
        doc = {
            "collection": collection,
            "created_at": _iso(created),
            "expires_at": _iso(created + 3600),
            "key": key,
            "value": value,
            "version": 1,
        }
        pipe.set(f"{collection}::{key}", json.dumps(doc, sort_keys=True), ex=3600)
        if i % 10000 == 9999:
            pipe.execute()
    pipe.execute()


def _iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, tz=UTC).isoformat()


BASELINE = """
import sys, redis
client = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]))
cursor, n, size = 0, 0, 0
while True:
    cursor, keys = client.scan(cursor, match="fastmcp_*", count=1000)
    if keys:
        for value in client.mget(keys):
            n += 1
            size += len(value or b"")
    if cursor == 0:
        break
print(n, size)
"""


def bench_redis(args: argparse.Namespace) -> list[tuple[str, float, float, float]]:
    proc, port = start_redis()
    out: list[tuple[str, float, float, float]] = []
    try:
        t0 = time.perf_counter()
        fill_redis(port, args.entries)
        print(f"wrote {args.entries:,} keys in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        url = f"redis://127.0.0.1:{port}/0"
        ours: list[float] = []
        base: list[float] = []
        cli: list[float] = []
        piped: list[float] = []
        for round_no in range(args.repeat):
            turn = ["ours", "base", "cli", "piped"]
            if round_no % 2:
                turn.reverse()
            for who in turn:
                if who == "ours":
                    took, mb, text = timed(
                        [*MCPSTORE, "stats", "--url", url, "-f", "json"], env=USER_ENV
                    )
                    got = json.loads(text)
                    ours.append(took)
                elif who == "base":
                    took, _mb, text = timed([sys.executable, "-c", BASELINE, str(port)])
                    base.append(took)
                elif who == "cli":
                    t0 = time.perf_counter()
                    counted = subprocess.run(
                        f"redis-cli -p {port} --scan --pattern 'fastmcp_*' | wc -l",
                        shell=True,
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout.strip()
                    cli.append(time.perf_counter() - t0)
                else:
                    # The shell baseline read literally: the same scan, then a GET of
                    # every key it printed, pipelined (redis-cli --pipe).
                    t0 = time.perf_counter()
                    report = subprocess.run(
                        f"redis-cli -p {port} --scan --pattern 'fastmcp_*' | "
                        "awk '{print \"GET \" $0}' | "
                        f"redis-cli -p {port} --pipe",
                        shell=True,
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout.strip()
                    piped.append(time.perf_counter() - t0)
        print(
            f"mcpstore counted {sum(got['entries'].values()):,} entries, peak {mb} MB; "
            f"redis-cli counted {counted} keys",
            file=sys.stderr,
        )
        out.append(("stats vs redis-py SCAN+MGET (whole process)", median(ours), median(base), 1.5))
        print(f"redis-cli --pipe: {report.splitlines()[-1]}", file=sys.stderr)
        out.append(
            (
                "stats vs redis-cli --scan | GET each | redis-cli --pipe",
                median(ours),
                median(piped),
                1.5,
            )
        )
        out.append(
            ("stats vs redis-cli --scan | wc -l (keys only)", median(ours), median(cli), 0.0)
        )
    finally:
        proc.terminate()
        proc.wait(10)
    return out


# -- tail latency ----------------------------------------------------------------------------
def _latencies(
    tail_cmd: list[str], write_one: Any, events: int, gap: float
) -> tuple[list[float], int]:
    """Start ``tail-events``, write ``events`` events one by one (``write_one(i)`` returns
    the time the store acknowledged it), and match each printed line to its write by event
    id: the latency is printed-at minus stored-at."""
    import selectors

    proc = subprocess.Popen(tail_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=USER_ENV)
    try:
        time.sleep(2.5)  # started and following
        stored: dict[str, float] = {}
        printed: dict[str, float] = {}
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        buffer = b""

        def drain(until: float) -> None:
            nonlocal buffer
            while True:
                left = until - time.perf_counter()
                if left <= 0:
                    return
                if not sel.select(left):
                    return
                chunk = proc.stdout.read() or b""  # type: ignore[union-attr]
                now = time.perf_counter()
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        printed[json.loads(line)["event_id"]] = now

        for i in range(events):
            key, at = write_one(i)
            stored[key] = at
            drain(time.perf_counter() + gap)
        drain(time.perf_counter() + 2.0)
        lat = [(printed[k] - stored[k]) * 1000 for k in stored if k in printed]
        return lat, len(stored) - len(lat)
    finally:
        proc.terminate()
        proc.wait(10)


def bench_tail(args: argparse.Namespace) -> list[tuple[str, float, float, float]]:
    from tests.pg_fixtures import PgServer

    out: list[tuple[str, float, float, float]] = []
    server = PgServer()
    server.start({"fsync": "off"})
    rproc, port = start_redis()
    try:
        url = server.url("postgres")
        subprocess.run(
            [*MCPSTORE, "setup", "--layout", "fastmcp", "--notify", "--url", url, "-q"],
            check=True,
            env=USER_ENV,
        )
        import asyncpg

        loop = asyncio.new_event_loop()
        conn = loop.run_until_complete(asyncpg.connect(url))

        def pg_write(i: int) -> tuple[str, float]:
            key = str(uuid.uuid4())
            value = json.dumps(
                {"event_id": key, "stream_id": "32:" + "a" * 32 + ":1", "message": None}
            )
            loop.run_until_complete(
                conn.execute(
                    "INSERT INTO kv_store (collection, key, value, ttl, created_at, expires_at) "
                    "VALUES ('fastmcp_events', $1, $2::jsonb, 3600, now(), now() + interval "
                    "'1 hour') ON CONFLICT (collection, key) DO UPDATE SET value = "
                    "EXCLUDED.value, ttl = EXCLUDED.ttl, expires_at = EXCLUDED.expires_at",
                    key,
                    value,
                )
            )
            return key, time.perf_counter()

        lat, lost = _latencies(
            [*MCPSTORE, "tail-events", "--layout", "fastmcp", "--url", url, "-f", "jsonl"],
            pg_write,
            args.events,
            0.02,
        )
        loop.run_until_complete(conn.close())
        loop.close()
        q = statistics.quantiles(lat, n=20)
        print(f"PostgreSQL trigger: p50 {median(lat):.1f} ms, p95 {q[18]:.1f} ms, missed {lost}")
        out.append(("tail p95 ms, PostgreSQL trigger", q[18], 100.0, 1.0))

        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        client.config_set("notify-keyspace-events", "KA")

        def redis_write(i: int) -> tuple[str, float]:
            key = str(uuid.uuid4())
            now = time.time()
            doc = {
                "collection": "fastmcp_events",
                "created_at": _iso(now),
                "expires_at": _iso(now + 3600),
                "key": key,
                "value": {"event_id": key, "stream_id": "32:" + "b" * 32 + ":1", "message": None},
                "version": 1,
            }
            client.set(f"fastmcp_events::{key}", json.dumps(doc, sort_keys=True), ex=3600)
            return key, time.perf_counter()

        lat, lost = _latencies(
            [*MCPSTORE, "tail-events", "--url", f"redis://127.0.0.1:{port}/0", "-f", "jsonl"],
            redis_write,
            args.events,
            0.02,
        )
        q = statistics.quantiles(lat, n=20)
        print(
            f"Redis keyspace notifications: p50 {median(lat):.1f} ms, p95 {q[18]:.1f} ms, "
            f"missed {lost}"
        )
        out.append(("tail p95 ms, Redis keyspace notifications", q[18], 100.0, 1.0))
    finally:
        rproc.terminate()
        rproc.wait(10)
        server.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["postgres", "redis", "tail"])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=10000)
    parser.add_argument("--events", type=int, default=400)
    args = parser.parse_args()
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(HERE.parent / "mcpstore_cli")],
        check=True,
        env=USER_ENV,
    )
    print(f"load average: {os.getloadavg()}", file=sys.stderr)
    rows = {"postgres": bench_postgres, "redis": bench_redis, "tail": bench_tail}[args.what](args)
    print(f"load average: {os.getloadavg()}", file=sys.stderr)
    for name, ours, base, target in rows:
        if target == 1.0:
            verdict = "ok" if ours <= base else "OVER"
            print(f"{name}: {ours:.1f} (limit {base:.0f}) {verdict}")
        elif target:
            ratio = ours / base
            verdict = "ok" if ratio <= target else "OVER"
            print(
                f"{name}: mcpstore {ours:.3f} s, baseline {base:.3f} s: {ratio:.2f}x "
                f"(target <= {target}x) {verdict}"
            )
        else:
            print(f"{name}: mcpstore {ours:.3f} s, baseline {base:.3f} s: {ours / base:.2f}x")


if __name__ == "__main__":
    main()
