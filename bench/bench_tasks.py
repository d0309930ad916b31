#!/usr/bin/env python3
"""turul's task store (layout ``tasks``) at scale, mcpstore against the database's own shell
in the same run.

Run by hand (not by pytest)::

    python bench/bench_tasks.py sqlite   [--tasks 1000000] [--repeat 15]
    python bench/bench_tasks.py postgres [--tasks 1000000] [--url postgresql://...]
    python bench/bench_tasks.py dynamodb [--tasks 50000]

It builds ``--tasks`` tasks as the server writes them (chrono's RFC 3339 text, half of them
with a 60 s ttl long past, the rest with a 48 h ttl; five statuses, eight sessions), then:

(a) ``tasks list``'s first page and a page reached with a cursor (mid-table): the statement
    the store runs for the page, executed in this process on the store's reading connection
    and its rows fetched, against the shell running the same keyset SQL (sqlite3 ``.timer``,
    psql ``\\timing``); target at most 1.5x. Decoding the rows into tasks is shown apart.
(b) ``tasks stats``: ``task_stats()`` in this process against the shell running the same
    aggregate statements; target at most 2x.
(c) ``tasks expire`` of the half past its ttl, as a whole process (``mcpstore tasks expire``
    on one copy of the data) against one raw DELETE with the server's own predicate (turul's
    expire_tasks statement, on each backend) by the shell on
    another copy, ``--expire-repeat`` times on fresh copies, taking turns; target at most
    1.3x, with mcpstore's peak memory under 150 MB. On PostgreSQL mcpstore runs with its
    default --batch-size (20,000 there), on SQLite with --batch-size 20000 (its default is
    500: the write lock is held one batch at a time). mcpstore runs as installed: this
    checkout's bytecode compiled first, as pip install does (PYTHONDONTWRITEBYTECODE, if the
    shell sets it, would make every run compile it again).

DynamoDB (a DynamoDB Local of its own, started and stopped here; time to live off on the two
tables, which DynamoDB Local would otherwise empty within seconds): ``tasks list --status
working`` counts its requests (StatusIndex Queries, no Scan), and ``tasks expire`` and ``tasks
recover --stuck-for 10m`` as whole processes against sequential boto3 scripts doing the same
on an identical table; target at least 2x faster.

Every figure is the median of the repeats; the load average is printed: the machine may be
shared, and the ratios compare runs of the same moment.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_expire import timed  # noqa: E402

# mcpstore as a user's shell runs it once installed: pip compiles the bytecode at install
# (main() does the same for this checkout), and Python may use it, whatever this shell's
# PYTHONDONTWRITEBYTECODE says. The command is this checkout's, whatever is on PATH.
USER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
USER_ENV["PYTHONPATH"] = os.pathsep.join(
    [str(HERE.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
)
MCPSTORE = [sys.executable, "-m", "mcpstore_cli"]

from mcpstore_cli.util.rfc3339 import format_chrono  # noqa: E402

STATUSES = ["completed", "working", "failed", "input_required", "cancelled"]
MS = 1_000_000
UNION_COPIES = 200
QUERY_RUNS = 20


def rows(n: int, now_ns: int):  # type: ignore[no-untyped-def]
    params = '{"name":"run_query","arguments":{"sql":"SELECT 1"}}'
    for i in range(n):
        created = now_ns - (n - i) * 50 * MS - 3_600_000 * MS
        ttl = 60_000 if i % 2 == 0 else 48 * 3_600_000
        status = STATUSES[i % 5]
        yield (
            f"{i:032x}",
            f"{(i % 8):032x}",
            status,
            None,
            format_chrono(created),
            format_chrono(created + 1000 * MS),
            ttl,
            1000,
            "tools/call" if i % 10 else "resources/read",
            params,
            '{"Success":{"content":[]}}' if status == "completed" else None,
            None,
        )


COLUMNS = (
    "task_id, session_id, status, status_message, created_at, last_updated_at, ttl, "
    "poll_interval, original_method, original_params, result, meta"
)


def load() -> str:
    return os.popen("cat /proc/loadavg").read().split(" ")[:3].__str__()


def median(xs: list[float]) -> float:
    return statistics.median(xs)


# -- SQLite ---------------------------------------------------------------------------------
def build_sqlite(path: Path, n: int, now_ns: int) -> None:
    from mcpstore_cli.backends.sqlite.tasks import ddl_statements

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for s in ddl_statements():
        conn.execute(s)
    conn.execute("BEGIN")
    conn.executemany(
        f"INSERT INTO tasks ({COLUMNS}) VALUES ({', '.join('?' * 12)})", rows(n, now_ns)
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def sqlite_shell(db: Path, statements: list[str], repeat: int) -> list[float]:
    script = [".output /dev/null", ".timer on"]
    for s in statements:
        script += [s + ";"] * repeat
    proc = subprocess.run(
        ["sqlite3", "-readonly", str(db)],
        input="\n".join(script) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    reals = [float(x) for x in re.findall(r"Run Time: real ([\d.]+)", proc.stdout)]
    per = [reals[i * repeat : (i + 1) * repeat] for i in range(len(statements))]
    # The statements of one figure run one after another: their times add up, per repeat.
    return [sum(p[r] for p in per) for r in range(repeat)]


def stats_statements(store: Any) -> list[str]:
    """The statements task_stats() runs, with their values written in (for the shell)."""
    now_ns = time.time_ns()
    return [literal(sql, list(a)) for sql, a in store.stats_statements(now_ns, 3_600_000)]


def literal(sql: str, args: list[Any]) -> str:
    out = sql
    for a in args:
        out = out.replace("?", f"'{a}'" if isinstance(a, str) else str(a), 1)
    return out


async def our_page(store: Any, cursor: Any, repeat: int) -> tuple[list[float], list[float], str]:
    """(query times, decode-included times, the SQL) of one list page, as iter_tasks runs it."""
    from mcpstore_cli.model.tasks import TaskFilter

    flt = TaskFilter(now_ns=time.time_ns())
    where, args = store._where(flt, cursor)
    sql = f"SELECT {store._columns()} FROM tasks"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY created_at, task_id LIMIT {store.page_size(flt, 51)}"
    query, whole = [], []
    for _ in range(repeat):
        # Query work: the statement executed on the store's reading connection and its rows
        # fetched (turning them into dicts and tasks is the "with decoding" line); QUERY_RUNS
        # runs in a row, the time divided by them, as the shell's figure is of UNION_COPIES
        # (a single run of 0.1 ms is at the mercy of whatever the decoding run before it left).
        t0 = time.perf_counter()
        for _ in range(QUERY_RUNS):
            if hasattr(store, "file"):
                store.file._read_tuples(sql, args)
            else:
                from mcpstore_cli.backends.postgres.tasks import _numbered

                await store.pg._fetch_page(_numbered(sql), list(args))
        query.append((time.perf_counter() - t0) / QUERY_RUNS)
        t0 = time.perf_counter()
        got = [t async for t in store.iter_tasks(flt, limit=51, cursor=cursor)]
        whole.append(time.perf_counter() - t0)
        assert len(got) == 51
    return query, whole, literal(sql, args)


async def paired_pages(
    store: Any, cursor: Any, repeat: int, shell: Any, rounds: int = 3
) -> tuple[list[float], list[float], list[float]]:
    """(our query times, our decode-included times, the shell's times) of one list page, the
    two sides taking turns in ``rounds`` blocks: a server that is busier at one moment (a
    checkpoint, the OS cache) weighs on both alike."""
    query: list[float] = []
    whole: list[float] = []
    theirs: list[float] = []
    per = max(1, repeat // rounds)
    for _ in range(rounds):
        q, w, sql = await our_page(store, cursor, per)
        query += q
        whole += w
        theirs += await asyncio.to_thread(shell, sql, per)
    return query, whole, theirs


def bench_sqlite(args: argparse.Namespace) -> list[tuple[str, float, float, float]]:
    from mcpstore_cli.model.tasks import TaskCursor
    from mcpstore_cli.store.registry import open_store
    from mcpstore_cli.store.urls import parse_store_url

    work = Path(tempfile.mkdtemp(prefix="mcpstore-bench-tasks-"))
    out: list[tuple[str, float, float, float]] = []
    try:
        base = work / "base.db"
        now_ns = time.time_ns()
        t0 = time.perf_counter()
        build_sqlite(base, args.tasks, now_ns)
        print(f"built {args.tasks:,} tasks in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        mid = f"{args.tasks // 2:032x}"
        conn = sqlite3.connect(base)
        mid_created = conn.execute(
            "SELECT created_at FROM tasks WHERE task_id = ?", (mid,)
        ).fetchone()[0]
        conn.close()

        async def ours() -> dict[str, Any]:
            store: Any = open_store(parse_store_url(f"sqlite:///{base}"), layout="tasks")
            async with store:
                await store.ensure_readable()

                def shell(sql: str, n: int) -> list[float]:
                    # The shell's timer counts whole milliseconds: K copies of the page as
                    # one statement, the time divided by K.
                    copies = " UNION ALL ".join([f"SELECT * FROM ({sql})"] * UNION_COPIES)
                    return [t / UNION_COPIES for t in sqlite_shell(base, [copies], n)]

                first = await paired_pages(store, None, args.repeat, shell)
                later = await paired_pages(store, TaskCursor(mid_created, mid), args.repeat, shell)
                stats = []
                for _ in range(max(3, args.repeat // 3)):
                    t0 = time.perf_counter()
                    s = await store.task_stats(now_ns=time.time_ns(), stuck_after_ms=3_600_000)
                    stats.append(time.perf_counter() - t0)
                return {
                    "first": first,
                    "later": later,
                    "stats": stats,
                    "tasks": s.tasks,
                    "statements": stats_statements(store),
                }

        got = asyncio.run(ours())
        for name in ("first", "later"):
            query, whole, shell = got[name]
            out.append((f"list {name} page: query", median(query), median(shell), 1.5))
            out.append((f"list {name} page: with decoding", median(whole), median(shell), 0.0))
        aggregates = got["statements"]
        shell = sqlite_shell(base, aggregates, max(3, args.repeat // 3))
        out.append(("stats", median(got["stats"]), median(shell), 2.0))

        # (c) expire, on fresh copies, raw and mcpstore taking turns (who goes first
        # alternates); the copies are flushed to disk first.
        raw, mine = work / "raw.db", work / "mine.db"
        raws, mine_s, peaks = [], [], []
        for round_no in range(args.expire_repeat):
            shutil.copy(base, raw)
            shutil.copy(base, mine)
            os.sync()
            for db in (raw, mine):  # the same warm-up: read the table once
                subprocess.run(
                    ["sqlite3", str(db), "SELECT count(*) FROM tasks"],
                    check=True,
                    capture_output=True,
                )
            # The server's own statement (turul's SqliteTaskStorage::expire_tasks).
            due = "ttl IS NOT NULL AND (julianday('now') - julianday(created_at)) * 86400000 > ttl"
            order = ["raw", "ours"] if round_no % 2 == 0 else ["ours", "raw"]
            for side in order:
                if side == "raw":
                    raw_s, _raw_mb, _ = timed(
                        ["sqlite3", str(raw), f"DELETE FROM tasks WHERE {due}"]
                    )
                    continue
                ours_s, ours_mb, _ = timed(
                    [
                        *MCPSTORE,
                        "tasks",
                        "expire",
                        "--url",
                        f"sqlite:///{mine}",
                        "--batch-size",
                        "20000",
                        "-f",
                        "json",
                    ],
                    env=USER_ENV,
                )
            left = [
                sqlite3.connect(db).execute("SELECT count(*) FROM tasks").fetchone()[0]
                for db in (raw, mine)
            ]
            print(f"tasks left: raw DELETE {left[0]:,}, mcpstore {left[1]:,}", file=sys.stderr)
            assert left[0] == left[1], left
            raws.append(raw_s)
            mine_s.append(ours_s)
            peaks.append(ours_mb)
        out.append(("expire (whole process)", median(mine_s), median(raws), 1.3))
        out.append((f"expire peak memory MB: {max(peaks)}", float(max(peaks)), 150.0, 1.0))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


# -- PostgreSQL ------------------------------------------------------------------------------
def psql(url: str, sql: str) -> str:
    proc = subprocess.run(
        ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"psql failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def psql_times(url: str, statements: list[str], repeat: int) -> list[float]:
    script = ["\\o /dev/null", "\\timing on"]
    for s in statements:
        script += [s + ";"] * repeat
    proc = subprocess.run(
        ["psql", "-X", "-q", url],
        input="\n".join(script) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    ms = [float(x) for x in re.findall(r"Time: ([\d.]+) ms", proc.stdout)]
    per = [ms[i * repeat : (i + 1) * repeat] for i in range(len(statements))]
    return [sum(p[r] for p in per) / 1000 for r in range(repeat)]


def build_postgres(url: str, n: int, now_ns: int) -> None:
    from mcpstore_cli.backends.postgres.tasks import ddl_statements

    for s in ddl_statements():
        psql(url, s)
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as fh:
        import csv

        w = csv.writer(fh)
        for r in rows(n, now_ns):
            w.writerow(["" if v is None else v for v in r])
        name = fh.name
    os.chmod(name, 0o644)
    psql(url, f"\\copy tasks ({COLUMNS}) FROM '{name}' WITH (FORMAT csv)")
    os.unlink(name)
    psql(url, "VACUUM ANALYZE tasks")


def bench_postgres(args: argparse.Namespace) -> list[tuple[str, float, float, float]]:
    from mcpstore_cli.model.tasks import TaskCursor
    from mcpstore_cli.store.registry import open_store
    from mcpstore_cli.store.urls import parse_store_url
    from tests.pg_fixtures import PgServer

    server = None
    base_url = args.url
    if base_url is None:
        server = PgServer()
        # No autovacuum: a worker vacuuming one copy's dead rows (a DELETE leaves 500,000)
        # would weigh on whichever run comes next, raw or mcpstore.
        server.start({"fsync": "off", "shared_buffers": "256MB", "autovacuum": "off"})
        base_url = server.url("postgres")
    root = base_url.rsplit("/", 1)[0]
    out: list[tuple[str, float, float, float]] = []
    try:
        psql(base_url, "DROP DATABASE IF EXISTS tasks_base")
        psql(base_url, "CREATE DATABASE tasks_base")
        url = f"{root}/tasks_base"
        now_ns = time.time_ns()
        t0 = time.perf_counter()
        build_postgres(url, args.tasks, now_ns)
        print(f"built {args.tasks:,} tasks in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        mid = f"{args.tasks // 2:032x}"
        mid_created = psql(url, f"SELECT created_at FROM tasks WHERE task_id = '{mid}'")

        async def ours() -> dict[str, Any]:
            store: Any = open_store(parse_store_url(url), layout="tasks")
            async with store:
                await store.ensure_readable()

                def shell(sql: str, n: int) -> list[float]:
                    return psql_times(url, [sql.replace("::text::", "::")], n)

                first = await paired_pages(store, None, args.repeat, shell)
                later = await paired_pages(store, TaskCursor(mid_created, mid), args.repeat, shell)
                stats = []
                for _ in range(max(3, args.repeat // 3)):
                    t0 = time.perf_counter()
                    await store.task_stats(now_ns=time.time_ns(), stuck_after_ms=3_600_000)
                    stats.append(time.perf_counter() - t0)
                return {
                    "first": first,
                    "later": later,
                    "stats": stats,
                    "statements": stats_statements(store),
                }

        got = asyncio.run(ours())
        for name in ("first", "later"):
            query, whole, shell = got[name]
            out.append((f"list {name} page: query", median(query), median(shell), 1.5))
            out.append((f"list {name} page: with decoding", median(whole), median(shell), 0.0))
        aggregates = got["statements"]
        shell = psql_times(url, aggregates, max(3, args.repeat // 3))
        out.append(("stats", median(got["stats"]), median(shell), 2.0))

        # Expire, on fresh copies of the database, raw and mcpstore taking turns; mcpstore
        # on one connection and with --jobs 2. A checkpoint before each run: copying a
        # database leaves the server writing pages out, which would weigh on whoever runs
        # first.
        copies = {"raw": "tasks_raw", "one": "tasks_one", "two": "tasks_two"}
        times: dict[str, list[float]] = {k: [] for k in copies}
        peaks = []
        for _ in range(args.expire_repeat):
            for name in copies.values():
                psql(base_url, f"DROP DATABASE IF EXISTS {name}")
                psql(base_url, f"CREATE DATABASE {name} TEMPLATE tasks_base")
                psql(f"{root}/{name}", "SELECT count(*) FROM tasks")
            # The server's own statement (turul's PostgresTaskStorage::expire_tasks).
            due = (
                "ttl IS NOT NULL AND created_at::timestamptz + "
                "make_interval(secs := ttl::double precision / 1000.0) < NOW()"
            )
            turn = list(copies.items())
            shift = len(times["raw"]) % len(turn)  # who goes first rotates round by round
            for key, name in turn[shift:] + turn[:shift]:
                # The server's dirty pages, then the system's, written out before the clock
                # starts (the copies and the last run leave hundreds of MB for the kernel to
                # write back, which it would do during whichever run came next).
                psql(base_url, "CHECKPOINT")
                os.sync()
                url_k = f"{root}/{name}"
                if key == "raw":
                    took, _mb, _ = timed(
                        ["psql", "-X", "-q", url_k, "-c", f"DELETE FROM tasks WHERE {due}"]
                    )
                else:
                    jobs = "1" if key == "one" else "2"
                    took, mb, _ = timed(
                        [
                            *MCPSTORE,
                            "tasks",
                            "expire",
                            "--url",
                            url_k,
                            # (the default --batch-size: 20,000 tasks a batch here)
                            "--jobs",
                            jobs,
                            "-f",
                            "json",
                        ],
                        env=USER_ENV,
                    )
                    peaks.append(mb)
                times[key].append(took)
            left = [
                psql(f"{root}/{name}", "SELECT count(*) FROM tasks") for name in copies.values()
            ]
            print(f"tasks left: raw DELETE, mcpstore, --jobs 2: {left}", file=sys.stderr)
            assert len(set(left)) == 1, left
        raw_median = median(times["raw"])
        out.append(("expire (whole process)", median(times["one"]), raw_median, 1.3))
        out.append(("expire --jobs 2 (whole process)", median(times["two"]), raw_median, 1.3))
        out.append((f"expire peak memory MB: {max(peaks)}", float(max(peaks)), 150.0, 1.0))
        for name in [*copies.values(), "tasks_base"]:
            psql(base_url, f"DROP DATABASE IF EXISTS {name}")
    finally:
        if server is not None:
            server.stop()
    return out


# -- DynamoDB Local ----------------------------------------------------------------------------
DYNAMO_EXPIRE = r"""
import sys, time, boto3
from datetime import datetime
endpoint, table, now_ms = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = boto3.client("dynamodb", endpoint_url=endpoint)
def ms(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
kw = {"TableName": table, "FilterExpression": "attribute_exists(#t)",
      "ExpressionAttributeNames": {"#t": "ttl"}}
gone = 0
while True:
    page = c.scan(**kw)
    for item in page["Items"]:
        if ms(item["createdAt"]["S"]) + int(item["ttl"]["N"]) < now_ms:
            try:
                c.delete_item(TableName=table, Key={"taskId": item["taskId"]},
                    ConditionExpression="#s = :s AND lastUpdatedAt = :u",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":s": item["status"], ":u": item["lastUpdatedAt"]})
                gone += 1
            except c.exceptions.ConditionalCheckFailedException:
                pass
    if "LastEvaluatedKey" not in page:
        break
    kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
print(gone)
"""

DYNAMO_RECOVER = r"""
import sys, boto3
from datetime import datetime, timezone
endpoint, table, cutoff_ms = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = boto3.client("dynamodb", endpoint_url=endpoint)
def ms(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
now = datetime.now(timezone.utc).isoformat()
done = 0
for status in ("working", "input_required"):
    kw = {"TableName": table, "IndexName": "StatusIndex",
          "KeyConditionExpression": "#s = :s", "ExpressionAttributeNames": {"#s": "status"},
          "ExpressionAttributeValues": {":s": {"S": status}}}
    while True:
        page = c.query(**kw)
        for item in page["Items"]:
            if ms(item["lastUpdatedAt"]["S"]) < cutoff_ms:
                try:
                    c.update_item(TableName=table, Key={"taskId": item["taskId"]},
                        UpdateExpression="SET #s = :f, statusMessage = :m, lastUpdatedAt = :n",
                        ConditionExpression="#s = :old",
                        ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={":f": {"S": "failed"},
                            ":m": {"S": "Server restarted \u2014 task interrupted"},
                            ":n": {"S": now}, ":old": {"S": status}})
                    done += 1
                except c.exceptions.ConditionalCheckFailedException:
                    pass
        if "LastEvaluatedKey" not in page:
            break
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
print(done)
"""


def dynamo_items(n: int, now_ns: int):  # type: ignore[no-untyped-def]
    """Items as the server writes them (camelCase): half with a 60 s ttl long past, the rest
    without a ttl; of those, half working and not updated for 20 minutes."""
    for i in range(n):
        created = now_ns - (40 * 60_000 - (i % 30 * 60_000) // 30) * MS - i * MS
        item: dict[str, Any] = {
            "taskId": {"S": f"{i:032x}"},
            "sessionId": {"S": f"{(i % 8):032x}"},
            "createdAt": {"S": format_chrono(created)},
            "originalMethod": {"S": "tools/call"},
            "originalParams": {"S": '{"name":"run_query"}'},
            "pollInterval": {"N": "1000"},
        }
        if i % 2 == 0:
            item["ttl"] = {"N": "60000"}
            item["status"] = {"S": "completed"}
            item["lastUpdatedAt"] = {"S": format_chrono(created + 1000 * MS)}
            item["ttlEpoch"] = {"N": str(created // 1_000_000_000 + 60)}
        else:
            working = i % 4 == 1
            item["status"] = {"S": "working" if working else "completed"}
            updated = now_ns - 20 * 60_000 * MS if working else created + 1000 * MS
            item["lastUpdatedAt"] = {"S": format_chrono(updated)}
            item["ttlEpoch"] = {"N": str(created // 1_000_000_000 + 3600)}
        yield item


def dynamo_fill(endpoint: str, tables: list[str], n: int, now_ns: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tests.dynamodb_fixtures import client

    items = list(dynamo_items(n, now_ns))
    chunks = [items[i : i + 25] for i in range(0, len(items), 25)]

    def put(args: tuple[str, list[dict[str, Any]]]) -> None:
        table, chunk = args
        c = client(endpoint)
        request = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
        while request:
            request = c.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, [(t, ch) for t in tables for ch in chunks]))


def bench_dynamodb(args: argparse.Namespace) -> list[tuple[str, float, float, float]]:
    from bench_expire import _dynamo_local

    from mcpstore_cli.model.tasks import TaskFilter
    from mcpstore_cli.store.registry import open_store
    from mcpstore_cli.store.urls import parse_store_url
    from tests.dynamodb_fixtures import DYNAMO_ENV, client

    server = _dynamo_local()
    out: list[tuple[str, float, float, float]] = []
    try:
        endpoint = server.endpoint
        env = {**USER_ENV, **DYNAMO_ENV, "AWS_DEFAULT_REGION": DYNAMO_ENV["AWS_REGION"]}
        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS")})
        tables = ["bench-tasks-ours", "bench-tasks-raw"]
        urls = {}
        c = client(endpoint)
        for t in tables:
            urls[t] = f"dynamodb://{t}?region={DYNAMO_ENV['AWS_REGION']}&endpoint={endpoint}"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "mcpstore_cli",
                    "setup",
                    "--layout",
                    "tasks",
                    "-q",
                    "--url",
                    urls[t],
                ],
                env=env,
                check=True,
            )
            # DynamoDB Local removes expired items within seconds (the service takes up to
            # 48 h): time to live off, so that both sides find the same items.
            c.update_time_to_live(
                TableName=t,
                TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttlEpoch"},
            )
        now_ns = time.time_ns()
        t0 = time.perf_counter()
        dynamo_fill(endpoint, tables, args.tasks, now_ns)
        print(
            f"built 2 x {args.tasks:,} tasks in {time.perf_counter() - t0:.1f} s", file=sys.stderr
        )

        async def listing() -> tuple[int, dict[str, int]]:
            store: Any = open_store(parse_store_url(urls[tables[0]]), layout="tasks")
            ops: dict[str, int] = {}

            def record(model: Any, **_: Any) -> None:
                ops[model.name] = ops.get(model.name, 0) + 1

            async with store:
                await store.ensure_readable()
                store.client.meta.events.register("provide-client-params.dynamodb", record)
                flt = TaskFilter(now_ns=time.time_ns(), statuses=("working",))
                n = len([t async for t in store.iter_tasks(flt, limit=None)])
            return n, ops

        listed, ops = asyncio.run(listing())
        print(f"tasks list --status working: {listed:,} tasks, requests {ops}", file=sys.stderr)
        out.append(
            (
                f"list --status working: Scan requests (Query {ops.get('Query', 0)})",
                float(ops.get("Scan", 0)),
                0.0,
                0.0,
            )
        )
        now_ms = time.time_ns() // MS
        ours_s, _ours_mb, _ = timed(
            [
                sys.executable,
                "-m",
                "mcpstore_cli",
                "tasks",
                "expire",
                "--url",
                urls[tables[0]],
                "-f",
                "json",
            ],
            env=env,
        )
        raw_s, _mb, raw_out = timed(
            [sys.executable, "-c", DYNAMO_EXPIRE, endpoint, tables[1], str(now_ms)], env=env
        )
        out.append(("expire: sequential boto3 script / mcpstore", raw_s, ours_s, 0.0))
        cutoff = time.time_ns() // MS - 10 * 60_000
        ours_r, _mb, _ = timed(
            [
                sys.executable,
                "-m",
                "mcpstore_cli",
                "tasks",
                "recover",
                "--stuck-for",
                "10m",
                "--url",
                urls[tables[0]],
                "-f",
                "json",
            ],
            env=env,
        )
        raw_r, _mb, raw_rec = timed(
            [sys.executable, "-c", DYNAMO_RECOVER, endpoint, tables[1], str(cutoff)], env=env
        )
        out.append(("recover: sequential boto3 script / mcpstore", raw_r, ours_r, 0.0))
        counts = []
        for t in tables:
            kw: dict[str, Any] = {"TableName": t, "Select": "COUNT"}
            total = 0
            while True:
                page = c.scan(**kw)
                total += page["Count"]
                if "LastEvaluatedKey" not in page:
                    break
                kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            counts.append(total)
        print(
            f"items left: mcpstore {counts[0]:,}, script {counts[1]:,}; script expired "
            f"{raw_out.strip()}, recovered {raw_rec.strip()}",
            file=sys.stderr,
        )
        assert counts[0] == counts[1], counts
    finally:
        server.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("backend", choices=["sqlite", "postgres", "dynamodb"])
    ap.add_argument(
        "--tasks", type=int, help="tasks to build (default: the issue's 1,000,000; DynamoDB 50,000)"
    )
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--url", help="postgres: a superuser URL instead of a throwaway server")
    ap.add_argument(
        "--expire-repeat", type=int, default=3, help="expire runs on fresh copies (median)"
    )
    args = ap.parse_args()
    if args.tasks is None:
        args.tasks = 50_000 if args.backend == "dynamodb" else 1_000_000
    import compileall

    compileall.compile_dir(str(HERE.parent / "mcpstore_cli"), quiet=1)  # as pip install does
    print(f"load average {load()} on {os.cpu_count()} CPUs", file=sys.stderr)
    results = {"sqlite": bench_sqlite, "postgres": bench_postgres, "dynamodb": bench_dynamodb}[
        args.backend
    ](args)
    print(f"\n{args.backend}, {args.tasks:,} tasks; load average {load()}")
    print(f"{'figure':42} {'mcpstore':>10} {'baseline':>10} {'ratio':>7}  target")
    for name, ours, base, target in results:
        if name.startswith(("expire: sequential", "recover: sequential")):
            speedup = ours / base
            verdict = "ok" if speedup >= 2 else "MISSED"
            print(f"{name:42} {ours:10.2f} {base:10.2f} {speedup:6.2f}x  >= 2x faster  {verdict}")
            continue
        if name.startswith("list --status"):
            print(f"{name:42} {ours:10.0f}  (target: 0 scans)  {'ok' if ours == 0 else 'MISSED'}")
            continue
        ratio = ours / base if base else float("inf")
        verdict = "" if not target else ("ok" if ratio <= target else "MISSED")
        shown = f"<= {target:g}x  {verdict}" if target else "(shown apart)"
        print(f"{name:42} {ours:10.4f} {base:10.4f} {ratio:6.2f}x  {shown}")


if __name__ == "__main__":
    main()
