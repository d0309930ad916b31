"""Benchmark: ``mcpstore expire`` against one raw DELETE by the database's own shell.

Run by hand (not by pytest)::

    python bench/bench_expire.py sqlite [--idle 1000000 --live 100000 --events 5]
    python bench/bench_expire.py postgres [--url postgresql://...]   # else a throwaway server

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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcpstore_cli.backends.sqlite import ddl_statements  # noqa: E402

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
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _hwm_kib(proc.pid))
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
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
    from mcpstore_cli.backends.postgres import ddl_statements as pg_ddl

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("backend", choices=["sqlite", "postgres"])
    parser.add_argument("--url", help="postgres: a server URL (superuser) instead of a throwaway")
    parser.add_argument("--idle", type=int, default=1_000_000)
    parser.add_argument("--live", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=5)
    args = parser.parse_args()
    rows = bench_sqlite(args) if args.backend == "sqlite" else bench_postgres(args)
    print(f"\n{'measure':40} {'mcpstore':>10} {'baseline':>10} {'ratio':>7}  notes")
    for name, ours, base, note in rows:
        print(f"{name:40} {ours:9.2f}s {base:9.2f}s {ours / base:6.2f}x  {note}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
