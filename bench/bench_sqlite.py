"""SQLite at scale (issue 2): demo load rate, list pages, the list command, stats.

Run by hand: ``python bench/bench_sqlite.py [--rebuild] [--sessions N] [--runs N]``.

Builds (once; reused afterwards) a store of 1,000,000 sessions and 5,000,000 events under
``.bench-data/`` with ``mcpstore demo``, then measures, in the same run:

(a) the query work of ``list``'s first page and of later pages reached by ``--cursor``, in
    the process: the page's statement as ``list`` runs it (``prepared.page_query``, the SQL
    prepared from SQLAlchemy, on the store's reading connection, limit 51 as the CLI asks
    for 50), executed and its rows fetched, against the sqlite3 shell (``.timer on``, "Run
    Time: real") running the same SQL, compiled from ``SqliteStore.list_statement`` with
    literal binds; target <= 1.5x. The shell's timer covers executing and stepping out the
    rows, not decoding JSON, so decoding the rows into sessions (``iter_sessions``) is shown
    on a line of its own;
(b) the whole ``mcpstore list`` command, wall time of a subprocess; target < 0.5 s;
(c) ``stats``: ``SqliteStore.stats`` against the shell running the SQL of
    ``SqliteStore.stats_statements``; target <= 3x;
and prints EXPLAIN QUERY PLAN of the list pages: served by idx_sessions_last_activity, no
full scan, no OFFSET. Target for the load: ``demo`` writes >= 100,000 rows/s.

The shell prints its timer in whole milliseconds, too coarse for one page; so besides the
median of single runs, the shell also runs K copies of the page query as one statement
(``SELECT * FROM (page) UNION ALL ...``) and the table uses that time divided by K.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".bench-data"
SHELL = shutil.which("sqlite3")
UNION_COPIES = 20
TIMEOUT_MS = 30 * 60 * 1000  # the CLI's default --timeout


@dataclass
class Row:
    what: str
    ours: float
    base: float | None
    unit: str
    target: str
    ok: bool | None


def console_script() -> list[str]:
    beside = Path(sys.executable).with_name("mcpstore")
    if beside.exists():
        return [str(beside)]
    return [sys.executable, "-m", "mcpstore_cli"]


# -- the store ------------------------------------------------------------------------------
def build(db: Path, sessions: int, events_per_session: int, rebuild: bool) -> dict[str, Any]:
    """Build the store with ``mcpstore demo`` or reuse it; returns what the build reported."""
    meta_path = db.with_suffix(".build.json")
    if not rebuild and db.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("sessions") == sessions and meta.get("events") == sessions * (
            events_per_session
        ):
            meta["reused"] = True
            return meta
    DATA.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    argv = [
        *console_script(),
        "demo",
        "--url",
        f"sqlite:///{db}",
        "--sessions",
        str(sessions),
        "--events-per-session",
        str(events_per_session),
        "--seed",
        "2026",
    ]
    print(f"building: {' '.join(argv)}", flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"mcpstore demo failed ({proc.returncode}): {proc.stderr}")
    line = proc.stderr.strip().splitlines()[-1]
    match = re.search(r"in ([\d.]+) s \(([\d,]+) rows/s\)", line)
    meta = {
        "sessions": sessions,
        "events": sessions * events_per_session,
        "demo_line": line,
        "demo_seconds": float(match.group(1)) if match else None,
        "demo_rows_per_s": int(match.group(2).replace(",", "")) if match else None,
        "process_wall_s": round(wall, 2),
        "cpu_user_s": round(after.ru_utime - before.ru_utime, 2),
        "cpu_sys_s": round(after.ru_stime - before.ru_stime, 2),
        "load_average": os.getloadavg()[0],
        "built_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "reused": False,
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta


# -- SQL for the shell ------------------------------------------------------------------------
def literal_sql(stmt: Any) -> str:
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    compiled = stmt.compile(
        dialect=sqlite_dialect.dialect(), compile_kwargs={"literal_binds": True}
    )
    return " ".join(str(compiled).split())


def shell_times(db: Path, statements: list[str], repeat: int) -> list[list[float]]:
    """Run each statement ``repeat`` times in one sqlite3 shell; "Run Time: real" of each."""
    assert SHELL is not None
    script = [".output /dev/null", ".timer on"]
    for statement in statements:
        script += [statement + ";"] * repeat
    proc = subprocess.run(
        [SHELL, "-readonly", str(db)],
        input="\n".join(script) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    reals = [float(x) for x in re.findall(r"Run Time: real ([\d.]+)", proc.stdout)]
    assert len(reals) == len(statements) * repeat, proc.stdout + proc.stderr
    return [reals[i * repeat : (i + 1) * repeat] for i in range(len(statements))]


def query_plan(db: Path, sql: str) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
    finally:
        conn.close()


def plan_ok(plan: list[str], sql: str) -> bool:
    uses_index = any("idx_sessions_last_activity" in step for step in plan)
    full_scan = any(re.fullmatch(r"SCAN sessions", step) for step in plan)
    offset = re.search(r"\bOFFSET\s+(\d+)", sql)
    return uses_index and not full_scan and (offset is None or offset.group(1) == "0")


# -- in-process timings ---------------------------------------------------------------------
async def library_times(
    db: Path, runs: int, cursors: list[Any], page_sql: list[str]
) -> dict[str, Any]:
    import sqlite3

    from mcpstore_cli.backends.sqlite import prepared
    from mcpstore_cli.model.records import SessionFilter
    from mcpstore_cli.store import open_store
    from mcpstore_cli.store.base import StoreOptions
    from mcpstore_cli.store.urls import parse_store_url
    from mcpstore_cli.util.timeutil import now_ms

    store = open_store(parse_store_url(f"sqlite:///{db}"), StoreOptions(read_only=True))
    out: dict[str, Any] = {"pages": {}, "driver": {}, "plain": {}}
    async with store:
        flt = SessionFilter(now_ms=now_ms(), timeout_ms=TIMEOUT_MS)

        async def page(cursor: Any) -> list[Any]:
            return [row async for row in store.iter_sessions(flt, limit=51, cursor=cursor)]

        await page(None)  # engine, connection pool and layout check: once per process
        for i, cursor in enumerate(cursors):
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                rows = await page(cursor)
                times.append(time.perf_counter() - started)
            assert len(rows) == 51, len(rows)
            out["pages"][i] = times
            # The query work as list runs it: the page's compiled statement on the store's
            # reading connection, rows fetched (not decoded into sessions); and the same SQL
            # text through a bare sqlite3 connection.
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                sql, args = prepared.page_query(flt, 51, cursor)
                fetched = store._read(sql, args)
                times.append(time.perf_counter() - started)
            assert len(fetched) == 51
            out["driver"][i] = times
            plain = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                fetched = plain.execute(page_sql[i]).fetchall()
                times.append(time.perf_counter() - started)
            plain.close()
            out["plain"][i] = times
        stats_times = []
        for _ in range(max(3, runs // 10)):
            started = time.perf_counter()
            result = await store.stats(now_ms=now_ms(), timeout_ms=TIMEOUT_MS)
            stats_times.append(time.perf_counter() - started)
        out["stats"] = stats_times
        out["stats_counts"] = (result.sessions, result.events)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--events-per-session", type=int, default=5)
    parser.add_argument("--runs", type=int, default=30, help="repetitions of each page query")
    parser.add_argument("--rebuild", action="store_true", help="build the store again")
    args = parser.parse_args()
    if SHELL is None:
        sys.exit("the sqlite3 shell is not installed (apt-get install sqlite3)")
    sys.path.insert(0, str(ROOT))
    import sqlite3

    from mcpstore_cli.model.records import Cursor, SessionFilter
    from mcpstore_cli.store import open_store
    from mcpstore_cli.store.base import StoreOptions
    from mcpstore_cli.store.urls import parse_store_url
    from mcpstore_cli.util.timeutil import now_ms

    db = DATA / f"sqlite-{args.sessions}x{args.events_per_session}.db"
    meta = build(db, args.sessions, args.events_per_session, args.rebuild)

    # Pages: the first, the second (the cursor the first page prints), one in the middle.
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    order = "ORDER BY last_activity DESC, session_id DESC"
    second = conn.execute(
        f"SELECT last_activity, session_id FROM sessions {order} LIMIT 1 OFFSET 49"
    ).fetchone()
    middle = conn.execute(
        f"SELECT last_activity, session_id FROM sessions {order} LIMIT 1 OFFSET ?",
        (args.sessions // 2,),
    ).fetchone()
    conn.close()
    cursors = [None, Cursor(second[0], second[1]), Cursor(middle[0], middle[1])]
    names = ["first page", "2nd page (--cursor)", f"page at row {args.sessions // 2:,} (--cursor)"]

    store = open_store(parse_store_url(f"sqlite:///{db}"), StoreOptions(read_only=True))
    now = now_ms()
    flt = SessionFilter(now_ms=now, timeout_ms=TIMEOUT_MS)
    page_sql = [literal_sql(store.list_statement(flt, limit=51, cursor=c)) for c in cursors]
    stats_sql = [literal_sql(s) for s in store.stats_statements(now, TIMEOUT_MS)]

    # Interleave: shell, library, shell, library... so load from elsewhere hits both.
    rounds = 3
    per_round = max(args.runs // rounds, 5)
    shell_single: list[list[float]] = [[] for _ in cursors]
    shell_union: list[list[float]] = [[] for _ in cursors]
    lib_pages: list[list[float]] = [[] for _ in cursors]
    lib_driver: list[list[float]] = [[] for _ in cursors]
    lib_plain: list[list[float]] = [[] for _ in cursors]
    shell_stats: list[float] = []
    lib_stats: list[float] = []
    unions = [" UNION ALL ".join([f"SELECT * FROM ({sql})"] * UNION_COPIES) for sql in page_sql]
    for _ in range(rounds):
        # First statement of a shell warms its connection: run it once more and drop it.
        warm = shell_times(db, [page_sql[0], *page_sql, *unions], per_round)
        for i in range(len(cursors)):
            shell_single[i] += warm[1 + i]
            shell_union[i] += [t / UNION_COPIES for t in warm[1 + len(cursors) + i]]
        lib = asyncio.run(library_times(db, per_round, cursors, page_sql))
        for i in range(len(cursors)):
            lib_pages[i] += lib["pages"][i]
            lib_driver[i] += lib["driver"][i]
            lib_plain[i] += lib["plain"][i]
        lib_stats += lib["stats"]
        st = shell_times(db, stats_sql, 2)
        shell_stats += [a + b for a, b in zip(st[0], st[1], strict=True)]

    # (b) the whole command, as a user runs it (output to a pipe: JSON Lines).
    cli = console_script()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cursor_arg = cursors[1].encode() if cursors[1] is not None else ""
    commands = {
        "mcpstore list": [*cli, "list", "--url", f"sqlite:///{db}"],
        "mcpstore list --cursor": [
            *cli,
            "list",
            "--url",
            f"sqlite:///{db}",
            "--cursor",
            cursor_arg,
        ],
    }
    # What any such command pays before its own work: the interpreter and the imports.
    commands["floor: python imports only"] = [
        sys.executable,
        "-c",
        # Typer, its parameter conversion where this Typer has one (0.29's pydantic layer),
        # and what list reads with (the standard library's sqlite3).
        "import importlib.util, typer, sqlite3\n"
        "if importlib.util.find_spec('typer._adapters'):\n    import typer._adapters",
    ]
    cli_times: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():
        subprocess.run(argv, capture_output=True, env=env, check=True)  # warm up, writes .pyc
    for _ in range(7):
        for name, argv in commands.items():
            started = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, text=True, env=env)
            cli_times[name].append(time.perf_counter() - started)
            assert proc.returncode == 0, proc.stderr
            if name.startswith("mcpstore"):
                assert len(proc.stdout.splitlines()) == 50, proc.stdout[:500]

    # -- report ---------------------------------------------------------------------------
    med = statistics.median
    rows_per_s = meta.get("demo_rows_per_s")
    print()
    print(f"store: {db} ({args.sessions:,} sessions, {meta['events']:,} events)")
    if meta.get("reused"):
        print(f"build: reused the store built {meta['built_at']} (--rebuild to build again)")
    print(f"build: {meta['demo_line']}")
    print(
        f"       process wall {meta['process_wall_s']} s, CPU user {meta['cpu_user_s']} s + "
        f"sys {meta['cpu_sys_s']} s, load average then {meta['load_average']:.2f}"
    )
    load = os.getloadavg()[0]
    print(f"load average now: {load:.2f} on {os.cpu_count()} CPUs; sqlite {sqlite3.sqlite_version}")
    if load > 1.0:
        print("note: the machine is busy; wall times include waiting for a CPU")
    table: list[Row] = []
    if rows_per_s:
        table.append(Row("demo load", rows_per_s, None, "rows/s", ">= 100,000", rows_per_s >= 1e5))
        cpu = meta["cpu_user_s"] + meta["cpu_sys_s"]
        rows = meta["sessions"] + meta["events"]
        table.append(
            Row("demo load per CPU second (user+sys)", rows / cpu, None, "rows/s", "", None)
        )
    for i, name in enumerate(names):
        ours = med(lib_driver[i])
        base = med(shell_union[i])
        table.append(
            Row(
                f"list {name}: query work",
                ours * 1000,
                base * 1000,
                "ms",
                "<= 1.5x",
                ours <= 1.5 * base,
            )
        )
        decoded = med(lib_pages[i])
        table.append(
            Row("  same, decoded into sessions", decoded * 1000, base * 1000, "ms", "", None)
        )
    for name, values in cli_times.items():
        if name.startswith("floor"):
            table.append(Row(name, med(values), None, "s", "", None))
            continue
        table.append(
            Row(f"{name} (whole command)", med(values), None, "s", "< 0.5 s", med(values) < 0.5)
        )
    table.append(
        Row(
            "stats: query work",
            med(lib_stats),
            med(shell_stats),
            "s",
            "<= 3x",
            med(lib_stats) <= 3 * med(shell_stats),
        )
    )
    print()
    print(f"{'measure':<48} {'mcpstore':>11} {'sqlite3':>11} {'ratio':>7}  target")
    for row in table:
        base = f"{row.base:>11.3f}" if row.base is not None else f"{'':>11}"
        ratio = f"{row.ours / row.base:>6.2f}x" if row.base else f"{'':>7}"
        ours = f"{row.ours:>11,.0f}" if row.unit == "rows/s" else f"{row.ours:>11.3f}"
        verdict = {True: "ok", False: "MISSED", None: ""}[row.ok]
        print(
            f"{row.what + ' (' + row.unit + ')':<48} {ours} {base} {ratio}  {row.target} {verdict}"
        )
    print()
    print("sqlite3 shell, single runs (whole ms only): median real of each page, ms:")
    for i, name in enumerate(names):
        single = shell_single[i]
        print(f"  {name}: {med(single) * 1000:.1f} (mean {statistics.fmean(single) * 1000:.2f})")
    print()
    print("where a page's time goes in the process (median ms):")
    print(f"  {'page':<36} {'iter_sessions':>13} {'query work':>12} {'sqlite3 only':>13}")
    for i, name in enumerate(names):
        print(
            f"  {name:<36} {med(lib_pages[i]) * 1000:>13.3f} {med(lib_driver[i]) * 1000:>12.3f} "
            f"{med(lib_plain[i]) * 1000:>13.3f}"
        )
    print("  (iter_sessions: rows decoded into sessions; query work: the compiled page on the")
    print("   store's reading connection, rows fetched, not decoded; sqlite3 only: the same")
    print("   SQL text through a bare sqlite3 connection)")
    counted = lib["stats_counts"]
    print(f"library stats result: {counted[0]:,} sessions, {counted[1]:,} events")
    print()
    print("EXPLAIN QUERY PLAN of the list pages (must use idx_sessions_last_activity, no OFFSET):")
    all_ok = True
    for name, sql in zip(names, page_sql, strict=True):
        plan = query_plan(db, sql)
        ok = plan_ok(plan, sql)
        all_ok &= ok
        print(f"  {name}: {'ok' if ok else 'NOT SERVED BY THE INDEX'}")
        for step in plan:
            print(f"    {step}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
