#!/usr/bin/env python3
"""``mcpstore metrics`` and ``mcpstore top`` on 1,000,000 sessions and 5,000,000 events, on
SQLite and PostgreSQL, against the baselines of issue 19, measured in the same run:

(a) ``mcpstore metrics`` (the whole command, a new process, as cron runs it) against the same
    aggregate queries run by ``psql -c`` / the ``sqlite3`` shell (also a new process each):
    at most 2x; mcpstore's peak memory under 100 MB. The query work alone (mcpstore's own
    ``mcpstore_figures_duration_seconds`` against psql's ``\\timing`` / the shell's
    ``.timer``) is printed too;
(b) one ``top`` refresh: the time its reading spends in the store (``TopSnapshot.store_ms``),
    over 12 refreshes: at most 200 ms each.

The stores are loaded with ``mcpstore demo`` (SQLite: reused from ``.bench-data`` when it
was built with the same size). Run by hand: ``python3 bench/bench_metrics_top.py``
(``--backend sqlite|postgres``, ``--sessions``/``--events-per-session`` to scale down).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_postgres import (  # noqa: E402
    BENCH_SERVER_SETTINGS,
    compile_sql,
    mcpstore_cmd,
    psql_bin,
    psql_times,
)
from bench_sqlite import DATA, SHELL, build, literal_sql, shell_times  # noqa: E402

from mcpstore_cli.store import open_store  # noqa: E402
from mcpstore_cli.store.base import StoreOptions  # noqa: E402
from mcpstore_cli.store.urls import parse_store_url  # noqa: E402
from tests.pg_fixtures import PgServer  # noqa: E402

TIMEOUT_MS = 30 * 60_000
RUNS = 7


def peak_rss(argv: list[str]) -> int:
    """Peak RSS (KiB) of one run of ``argv``, read from its own rusage."""
    pid = os.fork()
    if pid == 0:  # child
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execvp(argv[0], argv)
    _pid, status, usage = os.wait4(pid, 0)
    if status != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed ({status})")
    return int(usage.ru_maxrss)


def walls(argv: list[str], runs: int) -> tuple[list[float], str]:
    out, times = "", []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"bench: {' '.join(argv)} failed:\n{done.stderr}")
        out = done.stdout
    return times, out


def figures_seconds(text: str) -> float:
    match = re.search(r"^mcpstore_figures_duration_seconds\{[^}]*\} ([\d.e+-]+)$", text, re.M)
    assert match, text[-500:]
    return float(match.group(1))


async def top_store_ms(url: str, refreshes: int, layout: str | None) -> list[float]:
    store = open_store(parse_store_url(url), StoreOptions(read_only=True), layout=layout)
    out = []
    async with store:
        for i in range(refreshes + 1):
            snap = await store.top_snapshot(now_ms=int(time.time() * 1000), timeout_ms=TIMEOUT_MS)
            if i:  # the first opens the connection
                out.append(snap.store_ms)
            if i == refreshes:
                print(
                    f"  last reading: {snap.total:,} sessions {snap.statuses}, estimates: "
                    f"{sorted(snap.estimates)}",
                    flush=True,
                )
            await asyncio.sleep(0.2)
    return out


def statements(url: str) -> list[Any]:
    store = open_store(parse_store_url(url), StoreOptions(read_only=True), layout="sessions")
    now = int(time.time() * 1000)
    full = store.full() if hasattr(store, "full") and url.startswith("sqlite") else store
    return list(full.metrics_statements(now, TIMEOUT_MS))


def report(rows: list[tuple[str, float, float | None, str, float | None]]) -> bool:
    head = f"{'measure':<46} {'mcpstore':>10} {'baseline':>10} {'ratio':>7}  {'target':<16} met"
    print(head)
    print("-" * len(head))
    good = True
    for name, mine, base, target, limit in rows:
        ratio = mine / base if base else None
        if limit is None:
            met = ""
        elif ratio is not None:
            met = "yes" if ratio <= limit else "NO"
        else:
            met = "yes" if mine <= float(target.split()[1]) else "NO"
        good = good and met != "NO"
        print(
            f"{name:<46} {mine:>10.3f} {'' if base is None else f'{base:>10.3f}':>10} "
            f"{'' if ratio is None else f'{ratio:.2f}x':>7}  {target:<16} {met}"
        )
    return good


def bench_sqlite(args: argparse.Namespace) -> bool:
    assert SHELL is not None, "sqlite3 shell not found"
    db = DATA / f"metrics-{args.sessions}-{args.events_per_session}.db"
    meta = build(db, args.sessions, args.events_per_session, rebuild=False)
    print(
        f"SQLite store {db} ({meta['sessions']:,} sessions, {meta['events']:,} events, "
        f"{'reused' if meta.get('reused') else 'built'})",
        flush=True,
    )
    url = f"sqlite:///{db}"
    stmts = [literal_sql(s) for s in statements(url)]
    stmts += ["PRAGMA page_count", "PRAGMA page_size"]
    base_argv = [SHELL, "-readonly", str(db), "; ".join(stmts) + ";"]
    mine_argv = mcpstore_cmd("metrics", "--url", url)
    mine_w: list[float] = []
    base_w: list[float] = []
    work: list[float] = []
    for _ in range(RUNS):  # alternate, so that the machine's load hits both alike
        w, out = walls(mine_argv, 1)
        mine_w += w
        work.append(figures_seconds(out))
        base_w += walls(base_argv, 1)[0]
    shell = shell_times(db, stmts[:2], 3)
    shell_work = statistics.median([a + b for a, b in zip(*shell, strict=True)])
    rss = peak_rss(mine_argv) / 1024
    tops = asyncio.run(top_store_ms(url, 12, None))
    med = statistics.median
    print()
    return (
        report(
            [
                ("metrics, whole command vs sqlite3 shell", med(mine_w), med(base_w), "<= 2x", 2.0),
                ("  query work (figures) vs shell .timer", med(work), shell_work, "(info)", None),
                ("metrics peak memory (MB)", rss, None, "< 100 MB", None),
                ("top refresh, store ms (median)", med(tops), None, "<= 200 ms", None),
                ("top refresh, store ms (max)", max(tops), None, "<= 200 ms", None),
            ]
        )
        and rss < 100
        and max(tops) <= 200
    )


def bench_postgres(args: argparse.Namespace) -> bool:
    if args.pg_url:  # a database loaded already
        print(f"PostgreSQL database {args.pg_url.rsplit('/', 1)[-1]} (given, not loaded)")
        return measure_postgres(args.pg_url)
    server = PgServer()
    server.start(settings=BENCH_SERVER_SETTINGS)
    db = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        server.execute(f'CREATE DATABASE "{db}"')
        url = server.url(db)
        print(
            f"loading {args.sessions:,} sessions + {args.sessions * args.events_per_session:,}"
            " events into PostgreSQL with mcpstore demo ...",
            flush=True,
        )
        demo = subprocess.run(
            mcpstore_cmd(
                "demo",
                "--url",
                url,
                "--sessions",
                str(args.sessions),
                "--events-per-session",
                str(args.events_per_session),
                "--seed",
                "7",
            ),
            capture_output=True,
            text=True,
        )
        if demo.returncode != 0:
            raise SystemExit(demo.stderr)
        print(demo.stderr.strip().splitlines()[-1], flush=True)
        server.execute("VACUUM ANALYZE sessions", "VACUUM ANALYZE events", database=db)
        return measure_postgres(url)
    finally:
        server.stop()


def measure_postgres(url: str) -> bool:
    if True:
        stmts = [compile_sql(s) for s in statements(url)]
        size_sql = "SELECT pg_total_relation_size('sessions') + pg_total_relation_size('events')"
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
            fh.write(";\n".join([*stmts, size_sql]) + ";\n")
            script = fh.name
        base_argv = [psql_bin(), "-X", "-q", "-A", "-t", "-f", script, url]
        mine_argv = mcpstore_cmd("metrics", "--url", url)
        mine_w: list[float] = []
        base_w: list[float] = []
        work: list[float] = []
        for _ in range(RUNS):
            w, out = walls(mine_argv, 1)
            mine_w += w
            work.append(figures_seconds(out))
            base_w += walls(base_argv, 1)[0]
        timing = psql_times(url, [*stmts, size_sql], 3)
        psql_work = statistics.median(timing)  # one round: the three statements
        rss = peak_rss(mine_argv) / 1024
        tops = asyncio.run(top_store_ms(url, 12, None))
        med = statistics.median
        print()
        return (
            report(
                [
                    ("metrics, whole command vs psql -f", med(mine_w), med(base_w), "<= 2x", 2.0),
                    (
                        "  query work (figures) vs psql \\timing",
                        med(work),
                        psql_work,
                        "(info)",
                        None,
                    ),
                    ("metrics peak memory (MB)", rss, None, "< 100 MB", None),
                    ("top refresh, store ms (median)", med(tops), None, "<= 200 ms", None),
                    ("top refresh, store ms (max)", max(tops), None, "<= 200 ms", None),
                ]
            )
            and rss < 100
            and max(tops) <= 200
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--sessions", type=int, default=1_000_000)
    ap.add_argument("--events-per-session", type=int, default=5)
    ap.add_argument("--pg-url", help="measure this loaded PostgreSQL database (no load)")
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
    good = True
    if args.backend in ("sqlite", "both"):
        good = bench_sqlite(args) and good
        print()
    if args.backend in ("postgres", "both"):
        good = bench_postgres(args) and good
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
