#!/usr/bin/env python3
"""mcpstore on PostgreSQL against ``psql`` on the same server, in the same run.

Loads 1,000,000 sessions and 5,000,000 events with ``mcpstore demo`` itself, then measures:

(a) the query work of the first ``list`` page and of a later page reached with a cursor, timed
    inside the process: the page's statement as ``list`` runs it (``page_query`` on the
    store's reading connection), executed and its rows fetched, against ``psql``
    (``\\timing``) running the exact keyset statement (``list_statement`` compiled with
    literal values); target at most 1.5x. psql's timer does not include decoding JSON, so
    ``iter_sessions`` (rows decoded into sessions) is shown on a line of its own;
(b) the whole ``mcpstore list`` command (a new process, as an operator runs it): under 0.5 s;
(c) ``stats`` against ``psql`` running the same aggregate queries: at most 2x;
(d) ``demo``: at least 100,000 rows per second.

Run by hand (not by pytest): ``python3 bench/bench_postgres.py`` starts a throwaway server the
way the tests do (root: through runuser) and stops it at the end; ``--url`` uses a server you
give (a user that may create databases). ``--sessions``/``--events-per-session`` scale it down.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mcpstore_cli.model.records import Cursor, SessionFilter  # noqa: E402
from mcpstore_cli.store import open_store  # noqa: E402
from mcpstore_cli.store.urls import parse_store_url  # noqa: E402
from tests.pg_fixtures import PgServer  # noqa: E402

BENCH_SERVER_SETTINGS = {
    # A server sized for a bulk load; both sides of every comparison run on it.
    "shared_buffers": "1GB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
}
PAGE = 50


def psql_bin() -> str:
    found = shutil.which("psql")
    if found:
        return found
    for candidate in sorted(os.listdir("/usr/lib/postgresql"), reverse=True):
        path = f"/usr/lib/postgresql/{candidate}/bin/psql"
        if os.path.exists(path):
            return path
    raise SystemExit("bench: psql not found")


def psql_times(url: str, statements: list[str], repeat: int) -> list[float]:
    """Seconds per round of ``statements`` as psql's \\timing reports them (first round is
    a warm-up and not counted)."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write("\\timing on\n")
        for _ in range(repeat + 1):
            for statement in statements:
                fh.write(statement.rstrip().rstrip(";") + ";\n")
        path = fh.name
    try:
        out = subprocess.run(
            [
                psql_bin(),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                url,
                "-o",
                "/dev/null",
                "-f",
                path,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(path)
    ms = [float(m) for m in re.findall(r"^Time: ([0-9.]+) ms", out, re.MULTILINE)]
    per = len(statements)
    if len(ms) != per * (repeat + 1):
        raise SystemExit(f"bench: unexpected psql output:\n{out}")
    rounds = [sum(ms[i : i + per]) / 1000 for i in range(0, len(ms), per)]
    return rounds[1:]


def compile_sql(stmt: Any) -> str:
    from sqlalchemy.dialects import postgresql

    return str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def mcpstore_cmd(*args: str) -> list[str]:
    exe = shutil.which("mcpstore")
    return [exe, *args] if exe else [sys.executable, "-m", "mcpstore_cli", *args]


def run_wall(args: list[str], repeat: int) -> tuple[list[float], str]:
    times = []
    out = ""
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"bench: {' '.join(args)} failed:\n{done.stderr}")
        out = done.stdout
    return times, out


async def in_process(
    url: str, cursor: Cursor, now: int, repeat: int, *, with_stats: bool
) -> dict[str, Any]:
    store: Any = open_store(parse_store_url(url))
    flt = SessionFilter(now_ms=now)
    out: dict[str, Any] = {}
    async with store:
        await store.ensure_readable()
        for name, position in (("first", None), ("later", cursor)):
            rows = [x async for x in store.iter_sessions(flt, limit=PAGE + 1, cursor=position)]
            assert len(rows) == PAGE + 1, len(rows)
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                rows = [x async for x in store.iter_sessions(flt, limit=PAGE + 1, cursor=position)]
                times.append(time.perf_counter() - started)
            out[name] = times
            # The page's SQL alone, as list runs it (compiled statement through asyncpg on
            # the store's reading connection): rows fetched, not decoded into sessions.
            sql, args = store.page_query(flt, PAGE + 1, position)
            sql_times = []
            for _ in range(repeat):
                started = time.perf_counter()
                fetched = await store._fetch_page(sql, args)
                sql_times.append(time.perf_counter() - started)
            assert len(fetched) == PAGE + 1
            out[f"{name}_fetch"] = sql_times
            out[f"{name}_sql"] = compile_sql(
                store.list_statement(flt, limit=PAGE + 1, cursor=position)
            )
        if not with_stats:
            return out
        stats_times = []
        timeout_ms = 30 * 60 * 1000
        stats = await store.stats(now_ms=now, timeout_ms=timeout_ms)  # warm-up
        for _ in range(max(repeat // 5, 3)):
            started = time.perf_counter()
            stats = await store.stats(now_ms=now, timeout_ms=timeout_ms)
            stats_times.append(time.perf_counter() - started)
        out["stats"] = stats_times
        out["stats_result"] = stats
        out["stats_sql"] = [compile_sql(s) for s in store.stats_statements(now, timeout_ms)] + [
            "SELECT pg_total_relation_size('sessions'), pg_total_relation_size('events'), "
            "current_setting('server_version'), current_database(), current_user"
        ]
    return out


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="superuser-ish URL of a server to use instead of a throwaway one")
    ap.add_argument("--sessions", type=int, default=1_000_000)
    ap.add_argument("--events-per-session", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--keep", action="store_true", help="keep the bench database")
    ap.add_argument(
        "--database", help="with --url: measure this already loaded database (no demo load)"
    )
    args = ap.parse_args()

    server = PgServer()
    own = args.url is None
    if own:
        server.start(settings=BENCH_SERVER_SETTINGS)
    else:
        server.use(args.url)
    reuse = args.database is not None
    if reuse and own:
        raise SystemExit("bench: --database goes with --url")
    db = args.database or f"bench_{uuid.uuid4().hex[:8]}"
    try:
        if not reuse:
            server.execute(f'CREATE DATABASE "{db}"')
        url = server.url(db)
        version = server.execute("SHOW server_version")[0][0][0]
        print(
            f"PostgreSQL {version} at {server.host}:{server.port}, {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.2f} at start",
            flush=True,
        )

        demo_rate: float | None = None
        demo_wall = 0.0
        if not reuse:
            # (d) demo, through the command itself.
            total_rows = args.sessions * (1 + args.events_per_session)
            print(
                f"loading {args.sessions:,} sessions + "
                f"{args.sessions * args.events_per_session:,} events with mcpstore demo ...",
                flush=True,
            )
            started = time.perf_counter()
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
            demo_wall = time.perf_counter() - started
            if demo.returncode != 0:
                raise SystemExit(f"bench: demo failed:\n{demo.stderr}")
            print(demo.stderr.strip(), flush=True)
            match = re.search(r"\(([0-9,]+) rows/s\)", demo.stderr)
            demo_rate = float(match.group(1).replace(",", "")) if match else total_rows / demo_wall
            # Planner statistics, as autovacuum would gather them; both sides profit alike.
            server.execute("VACUUM ANALYZE sessions", "VACUUM ANALYZE events", database=db)
        sessions_total = server.execute("SELECT count(*) FROM sessions", database=db)[0][0][0]
        now = int(time.time() * 1000)
        deep = server.execute(
            "SELECT last_activity, session_id FROM sessions "
            'ORDER BY last_activity DESC, session_id COLLATE "C" DESC '
            f"OFFSET {sessions_total // 2} LIMIT 1",
            database=db,
        )[0][0]
        cursor = Cursor(int(deep[0]), str(deep[1]))

        # Alternate mcpstore and psql rounds, so that a change in the machine's load hits
        # both sides alike.
        rounds = 3
        each = max(args.repeat // rounds, 3)
        inproc: dict[str, Any] = {}
        psql_first: list[float] = []
        psql_later: list[float] = []
        psql_stats: list[float] = []
        for i in range(rounds):
            got = asyncio.run(in_process(url, cursor, now, each, with_stats=i < 2))
            for key, value in got.items():
                if isinstance(value, list) and key != "stats_sql":
                    inproc.setdefault(key, []).extend(value)
                else:
                    inproc[key] = value
            psql_first += psql_times(url, [inproc["first_sql"]], each)
            psql_later += psql_times(url, [inproc["later_sql"]], each)
            if i < 2:
                psql_stats += psql_times(url, inproc["stats_sql"], 2)

        # (b) the whole command, as a new process.
        wall_first, out = run_wall(mcpstore_cmd("list", "--url", url), 5)
        assert len(out.splitlines()) == PAGE, len(out.splitlines())
        wall_later, out = run_wall(
            mcpstore_cmd("list", "--url", url, "--cursor", cursor.encode()), 5
        )
        assert len(out.splitlines()) == PAGE
        wall_stats, _ = run_wall(mcpstore_cmd("stats", "--url", url, "--format", "json"), 3)
        # What any Python command pays before it does anything, on this machine now.
        wall_python, _ = run_wall([sys.executable, "-c", "pass"], 5)
        wall_imports, _ = run_wall(
            [
                sys.executable,
                "-c",
                "import mcpstore_cli.cli.app, mcpstore_cli.backends.postgres.store",
            ],
            5,
        )

        med = statistics.median
        rows = [
            (
                "list page 1, query work",
                med(inproc["first_fetch"]),
                med(psql_first),
                "<= 1.5x psql",
                1.5,
            ),
            (
                "  same, decoded into sessions",
                med(inproc["first"]),
                med(psql_first),
                "(info)",
                None,
            ),
            (
                "list later page (--cursor), query work",
                med(inproc["later_fetch"]),
                med(psql_later),
                "<= 1.5x psql",
                1.5,
            ),
            (
                "  same, decoded into sessions",
                med(inproc["later"]),
                med(psql_later),
                "(info)",
                None,
            ),
            ("stats, query work", med(inproc["stats"]), med(psql_stats), "<= 2x psql", 2.0),
        ]
        print()
        header = f"{'measure':<42} {'mcpstore':>12} {'psql':>12} {'ratio':>7}  {'target':<14} met"
        print(header)
        print("-" * len(header))
        for name, mine, base, target, limit in rows:
            ratio = mine / base
            met = "" if limit is None else ("yes" if ratio <= limit else "NO")
            print(
                f"{name:<42} {fmt_s(mine):>12} {fmt_s(base):>12} {ratio:>6.2f}x  {target:<14} {met}"
            )
        for name, value in (
            ("`mcpstore list` whole command", med(wall_first)),
            ("`mcpstore list --cursor` whole command", med(wall_later)),
        ):
            print(
                f"{name:<42} {fmt_s(value):>12} {'':>12} {'':>7}  {'< 0.5 s':<14} "
                f"{'yes' if value < 0.5 else 'NO'}"
            )
        for name, value in (
            ("  (python3 -c pass)", med(wall_python)),
            ("  (python3 importing mcpstore + postgres)", med(wall_imports)),
        ):
            print(f"{name:<42} {fmt_s(value):>12} {'':>12} {'':>7}  {'(info)':<14}")
        print(
            f"{'`mcpstore stats` whole command':<42} {fmt_s(med(wall_stats)):>12} "
            f"{'':>12} {'':>7}  {'(info)':<14}"
        )
        if demo_rate is not None:
            print(
                f"{'demo load (rows/s)':<42} {demo_rate:>12,.0f} {'':>12} {'':>7}  "
                f"{'>= 100,000':<14} {'yes' if demo_rate >= 100_000 else 'NO'}"
            )
        stats = inproc["stats_result"]
        print(
            f"\n{stats.sessions:,} sessions, {stats.events:,} events, storage "
            f"{stats.storage_bytes / 1e9:.2f} GB; demo wall {demo_wall:.1f} s; load average "
            f"{os.getloadavg()[0]:.2f} at end; medians of {args.repeat} (list) and "
            f"{max(args.repeat // 5, 3)} (stats) runs after a warm-up."
        )
    finally:
        if not args.keep and not reuse:
            try:
                server.drop_database(db)
            except Exception as exc:
                print(f"bench: could not drop {db}: {exc}", file=sys.stderr)
        if own:
            server.stop()


if __name__ == "__main__":
    main()
