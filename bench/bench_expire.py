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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("backend", choices=["sqlite"])
    parser.add_argument("--idle", type=int, default=1_000_000)
    parser.add_argument("--live", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=5)
    args = parser.parse_args()
    rows = bench_sqlite(args)
    print(f"\n{'measure':40} {'mcpstore':>10} {'baseline':>10} {'ratio':>7}  notes")
    for name, ours, base, note in rows:
        print(f"{name:40} {ours:9.2f}s {base:9.2f}s {ours / base:6.2f}x  {note}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
