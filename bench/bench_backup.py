#!/usr/bin/env python3
"""backup and restore against the native tools, in the same run, on 1,000,000 sessions and
5,000,000 events.

PostgreSQL (a throwaway server, or ``--url`` with ``--database`` for a loaded database):
  (a) ``mcpstore backup`` vs ``pg_dump -Fc -t sessions -t events``: at most 1.0x wall time;
  (b) ``mcpstore restore`` into an empty database vs ``pg_restore`` of that dump into another
      empty database: at most 1.0x; both mcpstore runs under 150 MB peak memory (RSS).
SQLite (the file bench_sqlite.py builds, or ``--sqlite-db``; only read, never changed):
  (c) ``mcpstore backup --native`` vs the sqlite3 shell's ``.backup``: at most 1.2x;
  (d) portable ``mcpstore backup`` vs the same ``.backup``: at most 2x.

Every figure is the median of ``--repeat`` runs of the whole command (a new process, as an
operator runs it), the two sides taking turns at going first, each after a CHECKPOINT and a
sync (PostgreSQL); peak memory is the largest of the runs (from
wait4's rusage). The load average is printed with the table: the machine may be shared.
Run by hand: ``python3 bench/bench_backup.py [--skip-postgres] [--skip-sqlite]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pg_fixtures import PgServer  # noqa: E402

BENCH_SERVER_SETTINGS = {
    "shared_buffers": "1GB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
}
RSS_LIMIT_MB = 150


def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for version in sorted(os.listdir("/usr/lib/postgresql"), reverse=True):
        path = f"/usr/lib/postgresql/{version}/bin/{name}"
        if os.path.exists(path):
            return path
    raise SystemExit(f"bench: {name} not found")


def mcpstore(*args: str) -> list[str]:
    return [sys.executable, "-m", "mcpstore_cli", *args]


def run(cmd: list[str], *, check: bool = True) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stderr) of one command."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if check and proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed ({proc.returncode}):\n{stderr}")
    return wall, usage.ru_maxrss / 1024, stderr


class Row:
    def __init__(
        self,
        label: str,
        ours: list[float],
        base: list[float],
        limit: float,
        rss: float | None = None,
    ) -> None:
        self.label = label
        self.ours = statistics.median(ours)
        self.base = statistics.median(base)
        self.limit = limit
        self.rss = rss

    @property
    def ratio(self) -> float:
        return self.ours / self.base

    def line(self) -> str:
        ok = self.ratio <= self.limit and (self.rss is None or self.rss < RSS_LIMIT_MB)
        rss = f"{self.rss:7.0f} MB" if self.rss is not None else " " * 10
        return (
            f"{self.label:<44} {self.ours:9.2f} s {self.base:9.2f} s {self.ratio:6.2f}x "
            f"{'<= ' + format(self.limit, 'g') + 'x':>8} {rss}  {'yes' if ok else 'NO'}"
        )


def header() -> str:
    return (
        f"{'measure':<44} {'mcpstore':>11} {'baseline':>11} {'ratio':>7} {'target':>8} "
        f"{'peak RSS':>10}  met"
    )


# -- PostgreSQL ------------------------------------------------------------------------------
def settle(server: PgServer) -> None:
    """Before each timed run: the server writes out its dirty buffers and the kernel its
    dirty pages, so that no contender pays for the writes of the one before it."""
    server.execute("CHECKPOINT")
    os.sync()


def bench_postgres(args: argparse.Namespace, work: Path) -> list[Row]:
    server = PgServer()
    own = args.url is None
    if own:
        server.start(settings=BENCH_SERVER_SETTINGS)
    else:
        server.use(args.url)
    created: list[str] = []
    try:
        db = args.database
        if db is None:
            db = f"bench_{uuid.uuid4().hex[:8]}"
            server.execute(f'CREATE DATABASE "{db}"')
            created.append(db)
            print(
                f"loading {args.sessions:,} sessions x {args.events_per_session} events with "
                "mcpstore demo ...",
                flush=True,
            )
            wall, _, err = run(
                mcpstore(
                    "demo",
                    "--url",
                    server.url(db),
                    "--sessions",
                    str(args.sessions),
                    "--events-per-session",
                    str(args.events_per_session),
                    "--seed",
                    "7",
                )
            )
            print(err.strip().splitlines()[-1] if err.strip() else f"demo: {wall:.1f} s")
            server.execute("VACUUM ANALYZE sessions", "VACUUM ANALYZE events", database=db)
        url = server.url(db)
        counts = server.execute(
            "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM events)", database=db
        )[0][0]
        print(
            f"PostgreSQL {server.execute('SHOW server_version')[0][0][0]}: "
            f"{counts[0]:,} sessions, {counts[1]:,} events",
            flush=True,
        )
        dump = work / "bench.dump"
        ours = work / "bench.mcpbackup.zst"
        t_dump: list[float] = []
        t_backup: list[float] = []
        rss_backup = 0.0
        dump_cmd = [pg_bin("pg_dump"), "-Fc", "-t", "sessions", "-t", "events", "-f", str(dump)]
        backup_cmd = mcpstore("backup", "--url", url, "-o", str(ours), "--quiet")
        for i in range(args.repeat):
            for who in ("pg_dump", "mcpstore") if i % 2 == 0 else ("mcpstore", "pg_dump"):
                settle(server)
                if who == "pg_dump":
                    dump.unlink(missing_ok=True)
                    t_dump.append(run([*dump_cmd, url])[0])
                else:
                    ours.unlink(missing_ok=True)
                    wall, rss, _ = run(backup_cmd)
                    t_backup.append(wall)
                    rss_backup = max(rss_backup, rss)
            print(
                f"  round {i + 1} ({'pg_dump' if i % 2 == 0 else 'mcpstore'} first): pg_dump "
                f"{t_dump[-1]:.2f} s, backup {t_backup[-1]:.2f} s ({rss_backup:.0f} MB peak)",
                flush=True,
            )
        print(
            f"  sizes: pg_dump {dump.stat().st_size / 1e6:.1f} MB, mcpstore "
            f"{ours.stat().st_size / 1e6:.1f} MB"
        )
        t_restore: list[float] = []
        t_pg_restore: list[float] = []
        rss_restore = 0.0
        for i in range(args.repeat):
            a, b = f"r_{uuid.uuid4().hex[:8]}", f"r_{uuid.uuid4().hex[:8]}"
            for name in (a, b):
                server.execute(f'CREATE DATABASE "{name}"')
            try:
                last_line = ""
                for who in ("pg_restore", "mcpstore") if i % 2 == 0 else ("mcpstore", "pg_restore"):
                    settle(server)
                    if who == "pg_restore":
                        restore_cmd = [pg_bin("pg_restore"), "-d", server.url(a), str(dump)]
                        t_pg_restore.append(run(restore_cmd)[0])
                    else:
                        wall, rss, err = run(mcpstore("restore", str(ours), "--url", server.url(b)))
                        t_restore.append(wall)
                        rss_restore = max(rss_restore, rss)
                        last_line = err.strip().splitlines()[-1]
                got = server.execute(
                    "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM events)",
                    database=b,
                )[0][0]
                if tuple(got) != tuple(counts):
                    raise SystemExit(f"bench: restore loaded {got}, expected {counts}")
                print(
                    f"  round {i + 1} ({'pg_restore' if i % 2 == 0 else 'mcpstore'} first): "
                    f"pg_restore {t_pg_restore[-1]:.2f} s, restore {t_restore[-1]:.2f} s "
                    f"({rss_restore:.0f} MB peak); {last_line}",
                    flush=True,
                )
            finally:
                for name in (a, b):
                    server.drop_database(name)
        return [
            Row("postgres backup vs pg_dump -Fc", t_backup, t_dump, 1.0, rss_backup),
            Row(
                "postgres restore vs pg_restore (empty db)",
                t_restore,
                t_pg_restore,
                1.0,
                rss_restore,
            ),
        ]
    finally:
        for name in created:
            if not args.keep:
                server.drop_database(name)
        if own:
            server.stop()


# -- SQLite ----------------------------------------------------------------------------------
def bench_sqlite(args: argparse.Namespace, work: Path) -> list[Row]:
    db = Path(args.sqlite_db) if args.sqlite_db else None
    if db is None:
        from bench.bench_sqlite import DATA, build  # builds (or reuses) the cached file

        db = DATA / f"sqlite-{args.sessions}x{args.events_per_session}.db"
        build(db, args.sessions, args.events_per_session, False)
    source = f"file:{db}?mode=ro"  # read only: the file is never changed
    print(f"SQLite {db} ({db.stat().st_size / 1e9:.2f} GB)", flush=True)
    shell_copy = work / "shell.db"
    native = work / "native.backup.db"
    portable = work / "sqlite.mcpbackup.zst"
    t_shell: list[float] = []
    t_native: list[float] = []
    t_portable: list[float] = []
    rss_portable = 0.0
    # Warm the page cache once, so that no side pays for the first read, and leave a copy of
    # each kind on disk: every round frees them all before anyone writes (below).
    run(["sqlite3", source, ".backup " + str(shell_copy)])
    run(mcpstore("backup", "--native", "--url", f"sqlite:///{db}", "-o", str(native), "--quiet"))

    def shell() -> None:
        os.sync()  # nothing left to write back from the run before, on this run's bill
        t_shell.append(run(["sqlite3", source, ".backup " + str(shell_copy)])[0])

    def native_run() -> None:
        os.sync()  # nothing left to write back from the run before, on this run's bill
        url = f"sqlite:///{db}"
        cmd = mcpstore("backup", "--native", "--url", url, "-o", str(native), "--quiet")
        t_native.append(run(cmd)[0])

    def portable_run() -> None:
        nonlocal rss_portable
        os.sync()  # nothing left to write back from the run before, on this run's bill
        wall, rss, _ = run(
            mcpstore("backup", "--url", f"sqlite:///{db}", "-o", str(portable), "--quiet")
        )
        t_portable.append(wall)
        rss_portable = max(rss_portable, rss)

    for i in range(args.repeat):
        # Every round starts by deleting all the copies of the round before, so that each
        # side writes into the same freed space: on a thin-provisioned virtual disk, writing
        # blocks never written before costs far more (measured: 3.8 s against 7.7 s for the
        # same copy), and whoever found no freed space would lose. The first 2 GB writer of a
        # round was still measured up to 2x faster than the second, so the two copies take
        # turns going first; the portable backup (a small file) goes last.
        for path in (shell_copy, native, portable):
            path.unlink(missing_ok=True)
        pair = [shell, native_run] if i % 2 == 0 else [native_run, shell]
        for contender in [*pair, portable_run]:
            contender()
        print(
            f"  round {i + 1}: .backup {t_shell[-1]:.2f} s, --native {t_native[-1]:.2f} s, "
            f"portable {t_portable[-1]:.2f} s",
            flush=True,
        )
    return [
        Row("sqlite backup --native vs .backup", t_native, t_shell, 1.2),
        Row("sqlite portable backup vs .backup", t_portable, t_shell, 2.0, rss_portable),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="a PostgreSQL server to use instead of a throwaway one")
    ap.add_argument("--database", help="with --url: an already loaded database to measure")
    ap.add_argument("--sqlite-db", help="an SQLite store to back up (read only)")
    ap.add_argument("--sessions", type=int, default=1_000_000)
    ap.add_argument("--events-per-session", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the loaded PostgreSQL database")
    ap.add_argument("--skip-postgres", action="store_true")
    ap.add_argument("--skip-sqlite", action="store_true")
    args = ap.parse_args()
    if args.database and not args.url:
        raise SystemExit("bench: --database goes with --url")
    rows: list[Row] = []
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mcpstore-bench-backup-") as tmp:
        work = Path(tmp)
        if not args.skip_postgres:
            rows += bench_postgres(args, work)
        if not args.skip_sqlite:
            rows += bench_sqlite(args, work)
    print()
    print(header())
    for row in rows:
        print(row.line())
    print(
        f"\n{os.cpu_count()} cores; load average {load_start:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at the end; medians of {args.repeat} runs"
    )


if __name__ == "__main__":
    main()
