"""turul's 2025 task store (layout ``tasks``) on SQLite and PostgreSQL, in the parity style:
rows are written by the server's own statements (tests/task_writers.py), then read and
changed through ``mcpstore tasks``."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcpstore_cli.util.rfc3339 import format_chrono, parse_ns
from tests.helpers import Result, run_cli
from tests.pg_fixtures import PgServer
from tests.task_writers import (
    POSTGRES_DDL,
    SQLITE_DDL,
    PgTaskWriter,
    SqliteTaskWriter,
    task_row,
)

TASK_BACKENDS = ["sqlite", "postgres"]
NS = 1_000_000_000


class TaskHandle:
    def __init__(self, backend: str, url: str, writer: Any) -> None:
        self.backend = backend
        self.url = url
        self.w = writer

    def run(self, *args: str, **kwargs: Any) -> Result:
        return run_cli([*args, "--url", self.url], **kwargs)

    def server_setup(self) -> None:
        self.w.create_tables()


@pytest.fixture(params=TASK_BACKENDS)
def tasks(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TaskHandle]:
    if request.param == "sqlite":
        path = tmp_path / "mcp_tasks.db"
        writer = SqliteTaskWriter(str(path))
        handle = TaskHandle("sqlite", f"sqlite:///{path}", writer)
        yield handle
        writer.close()
        return
    yield from _on_postgres(request.getfixturevalue("pg_server"))


@pytest.fixture
def pg_tasks(pg_server: PgServer) -> Iterator[TaskHandle]:
    """The task store on PostgreSQL alone (for what only PostgreSQL does)."""
    yield from _on_postgres(pg_server)


def _on_postgres(server: PgServer) -> Iterator[TaskHandle]:
    name = server.create_database()
    url = server.url(name)
    writer = PgTaskWriter(url)
    yield TaskHandle("postgres", url, writer)
    writer.close()
    server.drop_database(name)


def tid(n: int) -> str:
    """Task ids in order: UUID v7-like hex, as the server writes them."""
    return f"019{n:05d}" + uuid.UUID(int=n * 7919).hex[8:]


def at(seconds_ago: float, now_ns: int | None = None) -> str:
    now = time.time_ns() if now_ns is None else now_ns
    return format_chrono(now - int(seconds_ago * NS))


# -- the layout -----------------------------------------------------------------------------
def _norm(text: str) -> str:
    return " ".join(text.replace("(", " (").split())


def test_generated_ddl_is_the_servers() -> None:
    from mcpstore_cli.backends.postgres.tasks import ddl_statements as pg_ddl
    from mcpstore_cli.backends.sqlite.tasks import ddl_statements as sqlite_ddl

    assert [_norm(s) for s in sqlite_ddl()] == [_norm(s) for s in SQLITE_DDL]
    assert [_norm(s) for s in pg_ddl()] == [_norm(s) for s in POSTGRES_DDL]


def test_setup_creates_the_layout_idempotently_and_check_passes(tasks: TaskHandle) -> None:
    first = tasks.run("setup", "--layout", "tasks", "-f", "jsonl")
    assert first.exit_code == 0, first
    assert {"object": "tasks", "action": "created", "kind": "table"} in first.jsonl()
    again = tasks.run("setup", "--layout", "tasks", "-f", "jsonl")
    assert again.exit_code == 0, again
    assert all(s["action"] == "exists" for s in again.jsonl() if s["kind"] != "database"), again
    check = tasks.run("setup", "--layout", "tasks", "--check")
    assert check.exit_code == 0, check
    dry = tasks.run("setup", "--layout", "tasks", "--dry-run")
    assert dry.exit_code == 0 and "CREATE TABLE IF NOT EXISTS tasks" in dry.stdout, dry


def test_a_table_the_server_made_passes_check_and_drift_is_named(tasks: TaskHandle) -> None:
    tasks.server_setup()
    check = tasks.run("setup", "--layout", "tasks", "--check")
    assert check.exit_code == 0, check
    tasks.w.execute("DROP INDEX idx_tasks_status")
    drift = tasks.run("setup", "--layout", "tasks", "--check", "-f", "jsonl")
    assert drift.exit_code == 3, drift
    assert any(f["object"] == "index idx_tasks_status" for f in drift.jsonl()), drift


def test_missing_store_and_session_commands_say_so(tasks: TaskHandle) -> None:
    if tasks.backend == "sqlite":
        tasks.w.execute("CREATE TABLE other (x)")
    missing = tasks.run("tasks", "list")
    assert missing.exit_code == 3, missing
    assert "no task table" in missing.stderr and "setup --layout tasks" in missing.stderr
    tasks.server_setup()
    wrong = tasks.run("list", "--layout", "tasks")
    assert wrong.exit_code == 2, wrong
    assert "mcpstore tasks list" in wrong.stderr, wrong


# -- listing --------------------------------------------------------------------------------
def _fill(tasks: TaskHandle, n: int, **kw: Any) -> list[str]:
    ids = []
    for i in range(n):
        row = task_row(tid(i), created_at=at(3600 - i), **kw)
        tasks.w.insert(row)
        ids.append(row["task_id"])
    return ids


def test_list_is_in_the_servers_order_and_pages_by_cursor(tasks: TaskHandle) -> None:
    tasks.server_setup()
    ids = _fill(tasks, 12)
    seen: list[str] = []
    args = ["tasks", "list", "-n", "5", "-f", "jsonl"]
    for _ in range(5):
        page = tasks.run(*args)
        assert page.exit_code == 0, page
        seen += [t["task_id"] for t in page.jsonl()]
        if "--cursor" not in page.stderr:
            break
        cursor = page.stderr.split("--cursor ", 1)[1].split()[0]
        args = ["tasks", "list", "-n", "5", "-f", "jsonl", "--cursor", cursor]
    assert seen == ids


def test_list_filters(tasks: TaskHandle) -> None:
    tasks.server_setup()
    w = tasks.w
    w.insert(task_row(tid(1), created_at=at(500), status="working", session_id="s1"))
    w.insert(task_row(tid(2), created_at=at(400), status="completed", result={"Success": 1}))
    w.insert(task_row(tid(3), created_at=at(300), status="input_required", method="prompts/get"))
    w.insert(task_row(tid(4), created_at=at(7200), last_updated_at=at(7000), status="working"))

    def ids(*args: str) -> list[str]:
        r = tasks.run("tasks", "list", "-f", "jsonl", *args)
        assert r.exit_code == 0, r
        return [t["task_id"] for t in r.jsonl()]

    assert ids("--status", "working") == [tid(4), tid(1)]
    assert ids("--status", "working", "--status", "completed") == [tid(4), tid(1), tid(2)]
    assert ids("--session", "s1") == [tid(1)]
    assert ids("--method", "prompts/get") == [tid(3)]
    assert ids("--stuck-for", "1h") == [tid(4)]
    bad = tasks.run("tasks", "list", "--status", "done")
    assert bad.exit_code == 2 and "not a task status" in bad.stderr, bad


def test_every_rfc3339_form_is_read_and_ordered_by_the_servers_text(tasks: TaskHandle) -> None:
    tasks.server_setup()
    forms = [
        "2026-11-21T10:00:00.123456789+00:00",
        "2026-11-21T10:00:00.123456+00:00",
        "2026-11-21T10:00:00.123Z",
        "2026-11-21T10:00:00Z",
        "2026-11-21T12:00:00.5+02:00",
        "2026-11-21T05:00:00-05:00",
    ]
    for i, form in enumerate(forms):
        tasks.w.insert(task_row(tid(i), created_at=form, ttl=60_000))
    r = tasks.run("tasks", "list", "-f", "jsonl")
    assert r.exit_code == 0 and "skipped" not in r.stderr, r
    got = {t["task_id"]: t for t in r.jsonl()}
    for i, form in enumerate(forms):
        assert got[tid(i)]["created_at"] == form
        assert got[tid(i)]["expires_at_ms"] == parse_ns(form) // 1_000_000 + 60_000
    assert parse_ns(forms[4]) == parse_ns("2026-11-21T10:00:00.500Z")
    assert parse_ns(forms[5]) == parse_ns("2026-11-21T10:00:00Z")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"status": "done"}, "status 'done' is not one of"),
        ({"created_at": "yesterday"}, "created_at 'yesterday' is not an RFC 3339 timestamp"),
        ({"created_at": "2026-02-30T00:00:00Z"}, "not an RFC 3339 timestamp"),
        ({"result": '{"Ok": 1}'}, "neither Success nor Error"),
        ({"result": '{"Error": {"code": "x"}}'}, "lacks an integer code"),
        ({"ttl": -5}, "ttl is negative"),
        ({"ttl": 10**15}, "ttl is absurd"),
    ],
)
def test_unreadable_rows_are_reported_and_skipped(
    tasks: TaskHandle, change: dict[str, Any], problem: str
) -> None:
    tasks.server_setup()
    tasks.w.insert(task_row(tid(1), created_at=at(100)))
    bad = task_row(tid(2), created_at=at(50))
    bad.update(change)
    tasks.w.insert_text(bad)
    tasks.w.insert(task_row(tid(3), created_at=at(10)))
    r = tasks.run("tasks", "list", "-f", "jsonl")
    assert r.exit_code == 0, r
    assert [t["task_id"] for t in r.jsonl()] == [tid(1), tid(3)]
    assert f"skipped task {tid(2)}" in r.stderr and problem in r.stderr, r
    show = tasks.run("tasks", "show", tid(2))
    assert show.exit_code == 1, show
    assert problem in show.stderr and show.stderr.count("\n") == 1, show


def test_show_takes_the_id_rule(tasks: TaskHandle) -> None:
    tasks.server_setup()
    tasks.w.insert(
        task_row(
            "019aaaa1" + "0" * 24,
            created_at=at(60),
            status="failed",
            result={"Error": {"code": -32603, "message": "boom", "data": {"x": 1}}},
            meta={"progressToken": 7},
        )
    )
    tasks.w.insert(task_row("019aaaa2" + "0" * 24, created_at=at(30)))
    one = tasks.run("tasks", "show", "019AAAA1", "-f", "json")
    assert one.exit_code == 0, one
    obj = one.json()
    assert obj["task_id"] == "019aaaa1" + "0" * 24
    assert obj["result"] == {"Error": {"code": -32603, "message": "boom", "data": {"x": 1}}}
    assert obj["meta"] == {"progressToken": 7}
    table = tasks.run("tasks", "show", "019aaaa1", "-f", "table")
    assert "error" in table.stdout and '"boom"' in table.stdout, table
    several = tasks.run("tasks", "show", "019aaaa")
    assert several.exit_code == 1 and "starts 2 task ids" in several.stderr, several
    none = tasks.run("tasks", "show", "ffff")
    assert none.exit_code == 1 and "No task 'ffff'" in none.stderr, none


def test_stats(tasks: TaskHandle) -> None:
    tasks.server_setup()
    w = tasks.w
    w.insert(task_row(tid(1), created_at=at(7200), last_updated_at=at(7100), status="working"))
    w.insert(task_row(tid(2), created_at=at(60), status="working"))
    w.insert(task_row(tid(3), created_at=at(600), status="completed", ttl=60_000))
    w.insert(task_row(tid(4), created_at=at(30), status="failed", method="prompts/get"))
    r = tasks.run("tasks", "stats", "-f", "json")
    assert r.exit_code == 0, r
    s = r.json()
    assert s["tasks"] == 4
    assert s["by_status"] == {"completed": 1, "failed": 1, "working": 2}
    assert s["by_method"] == {"tools/call": 3, "prompts/get": 1}
    assert s["stuck"] == 1 and s["past_ttl"] == 1
    assert s["oldest_live"]["task_id"] == tid(1)
    assert sum(b["tasks"] for b in s["age_histogram"]) == 4
    table = tasks.run("tasks", "stats", "-f", "table")
    assert table.exit_code == 0 and "past ttl" in table.stdout, table


# -- the server's maintenance ---------------------------------------------------------------
def test_expire_deletes_exactly_the_tasks_past_their_ttl(tasks: TaskHandle) -> None:
    tasks.server_setup()
    now = time.time_ns()
    w = tasks.w
    w.insert(task_row(tid(1), created_at=at(120, now), ttl=60_000, status="completed"))  # past
    w.insert(task_row(tid(2), created_at=at(30, now), ttl=60_000))  # not yet
    w.insert(task_row(tid(3), created_at=at(86_400 * 30, now), ttl=None))  # never expires
    # another offset, past by 10 s
    created = format_chrono(now - 70 * NS).replace("+00:00", "Z")
    w.insert(task_row(tid(4), created_at=created, ttl=60_000, status="working"))
    dry = tasks.run("tasks", "expire", "--dry-run")
    assert dry.exit_code == 0, dry
    assert "would delete 2 tasks" in dry.stderr and tid(1) in dry.stderr, dry
    assert w.count() == 4
    real = tasks.run("tasks", "expire", "-f", "json")
    assert real.exit_code == 0, real
    summary = real.json()
    assert summary["deleted"] == 2 and summary["skipped_changed"] == 0, summary
    assert w.get(tid(1)) is None and w.get(tid(4)) is None
    assert w.get(tid(2)) is not None and w.get(tid(3)) is not None
    refused = tasks.run("tasks", "expire", "--honour-ttl")
    assert refused.exit_code == 2 and "ext-tasks" in refused.stderr, refused


def test_expire_leaves_a_time_that_is_no_time(tasks: TaskHandle) -> None:
    """A 30 February (SQLite would normalise it, PostgreSQL refuses to cast it) is left and
    counted; the other due tasks go."""
    tasks.server_setup()
    tasks.w.insert(task_row(tid(1), created_at="2026-02-30T00:00:00Z", ttl=1000))
    tasks.w.insert(task_row(tid(2), created_at=at(600), ttl=1000))
    tasks.w.insert(task_row(tid(3), created_at=at(5), ttl=600_000))
    r = tasks.run("tasks", "expire", "-f", "json")
    assert r.exit_code == 0, r
    assert r.json()["deleted"] == 1, r
    assert tasks.w.get(tid(1)) is not None and tasks.w.get(tid(2)) is None
    assert tasks.w.get(tid(3)) is not None


def test_expire_reads_every_rfc3339_spelling(tasks: TaskHandle) -> None:
    """Lower-case separators and a space are RFC 3339 too: such tasks expire like the rest."""
    tasks.server_setup()
    past = format_chrono(time.time_ns() - 600 * NS)
    tasks.w.insert(
        task_row(tid(1), created_at=past.replace("T", "t").replace("+00:00", "z"), ttl=1000)
    )
    tasks.w.insert(task_row(tid(2), created_at=past.replace("T", " "), ttl=1000))
    tasks.w.insert(task_row(tid(3), created_at=past, ttl=1000))
    tasks.w.insert(task_row(tid(4), created_at="yesterday", ttl=1000))
    r = tasks.run("tasks", "expire", "-f", "json")
    assert r.exit_code == 0, r
    assert (r.json()["deleted"], r.json()["corrupt"]) == (3, 1), r
    assert tasks.w.get(tid(4)) is not None and tasks.w.count() == 1


def test_sorting_cut_sorts_the_servers_spelling_by_time() -> None:
    """Text in the server's spelling, with any fraction length (trailing zeros too), sorts
    before the cut of a time exactly when it is earlier: 20,000 random pairs, many of them a
    nanosecond, a microsecond, a millisecond or a second apart."""
    import random

    from mcpstore_cli.util.rfc3339 import sorting_cut

    def spellings(ns: int) -> set[str]:
        whole = format_chrono(ns - ns % NS)[: -len("+00:00")]
        frac = ns % NS
        out = {format_chrono(ns), f"{whole}.{frac:09d}000+00:00"}
        for digits in range(1, 10):
            if frac % 10 ** (9 - digits) == 0:
                out.add(f"{whole}.{frac // 10 ** (9 - digits):0{digits}d}+00:00")
        return out

    rng = random.Random(7)
    for _ in range(20_000):
        b = rng.randrange(0, 4 * 10**18)
        if rng.random() < 0.5:
            b -= b % 10 ** rng.choice([3, 6, 9])
        a = b + rng.choice([0, 1, -1, 10**3, -(10**3), 10**6, -(10**6), NS, -NS])
        cut = sorting_cut(b)
        assert cut is not None
        for text in spellings(a):
            assert (text < cut) == (a < b), (text, cut)
    assert sorting_cut(-1) is None and sorting_cut(253402300800 * NS) is None
    assert sorting_cut(1_500_000_000 * NS + 100_000_000) == "2017-07-14T02:40:00.1+00:00"


def _expire_at(
    url: str, now_ns: int, batch_size: int = 7, *, dry_run: bool = False
) -> tuple[dict[int, str], Any]:
    """Expire through the library at a given now: (the ttl cuts PostgreSQL's store would
    use, the result)."""
    from mcpstore_cli.model.tasks import TaskExpireOptions
    from mcpstore_cli.store.registry import open_store
    from mcpstore_cli.store.urls import parse_store_url

    async def go() -> tuple[dict[int, str], Any]:
        store: Any = open_store(parse_store_url(url), layout="tasks")
        async with store:
            await store.ensure_readable()
            cuts = await store._cuts(now_ns)
            opts = TaskExpireOptions(now_ns=now_ns, batch_size=batch_size, dry_run=dry_run)
            return cuts, await store.expire_tasks(opts)

    return asyncio.run(go())


def _commonest_ttl(tasks: TaskHandle, ttl: int, created_at: str) -> None:
    """Enough tasks with ``ttl`` (not due) that, once analysed, it is one of the table's
    commonest values."""
    for i in range(200):
        tasks.w.insert(task_row(tid(1000 + i), created_at=created_at, ttl=ttl))
    tasks.w.execute("ANALYZE tasks")


def test_expire_by_text_agrees_with_the_time(pg_tasks: TaskHandle) -> None:
    """PostgreSQL tells most tasks of the server's spelling not due by comparing their text
    with now - ttl written the same way (for the table's commonest ttl values, once
    analysed), without casting it. Around that cut, in every fraction length and with
    trailing zeros, with other spellings and offsets beside, exactly the tasks the time says
    are due go."""
    pg_tasks.server_setup()
    ttl = 60_000
    now_ns = (time.time_ns() // NS) * NS + 500_000_000  # the cut: ...:SS.5+00:00
    cut = now_ns - ttl * 1_000_000
    whole = format_chrono(cut - 500_000_000)[: -len("+00:00")]  # ...:SS
    spellings = [
        f"{whole}+00:00",  # due (no fraction sorts first)
        f"{whole}.4+00:00",
        f"{whole}.499999+00:00",
        f"{whole}.499998999+00:00",  # (PostgreSQL reads times to the microsecond)
        f"{whole}.500000001+00:00",
        f"{whole}.5+00:00",  # the cut itself: not due
        f"{whole}.500+00:00",
        f"{whole}.500000000+00:00",
        f"{whole}.500001+00:00",
        f"{whole}.6+00:00",
        format_chrono(cut - 1_000),
        format_chrono(cut + 1_000),
        format_chrono(cut - 1_000_000),
        format_chrono(cut + 1_000_000),
        format_chrono(cut - NS),
        format_chrono(cut + NS),
        f"{whole}.4Z",
        f"{whole}.6Z",
        f"{whole}.4z".replace("T", "t"),
        f"{whole}.6".replace("T", " ") + "+00:00",
        # Other offsets: the text says nothing by itself.
        format_chrono(cut - 7200 * NS).replace("+00:00", "-01:00"),  # an hour before the cut
        format_chrono(cut + 3600 * NS).replace("+00:00", "+02:00"),  # an hour before the cut
        format_chrono(cut + 7200 * NS).replace("+00:00", "+01:00"),  # an hour after it
    ]
    rows = {tid(i): text for i, text in enumerate(spellings)}
    for task_id, text in rows.items():
        pg_tasks.w.insert(task_row(task_id, created_at=text, ttl=ttl))
    _commonest_ttl(pg_tasks, ttl, format_chrono(now_ns))
    due = {task_id for task_id, text in rows.items() if parse_ns(text) + ttl * 1_000_000 < now_ns}
    assert 0 < len(due) < len(rows)

    cuts, result = _expire_at(pg_tasks.url, now_ns)
    assert cuts.get(ttl) == f"{whole}.5+00:00", cuts
    gone = {task_id for task_id in rows if pg_tasks.w.get(task_id) is None}
    assert gone == due, sorted(rows[t] for t in gone ^ due)
    assert (result.deleted, result.corrupt) == (len(due), 0), result


def test_expire_by_text_leaves_a_time_that_is_no_date(pg_tasks: TaskHandle) -> None:
    """A due time of the server's spelling that is no date (30 February) is left and counted
    when the text comparison is in use; a later one is left."""
    pg_tasks.server_setup()
    now_ns = time.time_ns()
    pg_tasks.w.insert(task_row(tid(1), created_at="2020-02-30T00:00:00+00:00", ttl=60_000))
    pg_tasks.w.insert(task_row(tid(2), created_at="2999-02-30T00:00:00+00:00", ttl=60_000))
    pg_tasks.w.insert(task_row(tid(3), created_at=at(600, now_ns), ttl=60_000))
    _commonest_ttl(pg_tasks, 60_000, format_chrono(now_ns))
    cuts, result = _expire_at(pg_tasks.url, now_ns)
    assert 60_000 in cuts, cuts
    assert pg_tasks.w.get(tid(1)) is not None and pg_tasks.w.get(tid(2)) is not None
    assert pg_tasks.w.get(tid(3)) is None
    # The page holding a due time that is no date is judged row by row, which counts both
    # such times (the later one, in a page of its own, would be left uncounted).
    assert (result.deleted, result.corrupt) == (1, 2), result


def _pages_of(tasks: TaskHandle) -> dict[str, int]:
    """Each task's heap page."""
    w: Any = tasks.w
    rows = w._run(w.conn.fetch("SELECT task_id, (ctid::text::point)[0]::int AS page FROM tasks"))
    return {str(r[0]): int(r[1]) for r in rows}


@pytest.mark.parametrize("batch_size", [7, 5000])
def test_expire_counts_each_time_that_is_not_rfc3339_once(
    pg_tasks: TaskHandle, batch_size: int
) -> None:
    """Text that is not RFC 3339 fails the batch that meets it; its range is judged again.
    Each such task is counted once, even when its page takes several batches (--batch-size
    below what a page holds), and every due task of the range still goes."""
    pg_tasks.server_setup()
    now_ns = time.time_ns()
    pg_tasks.w.insert(task_row(tid(0), created_at="yesterday", ttl=1000))
    for i in range(1, 41):
        pg_tasks.w.insert(task_row(tid(i), created_at=at(600, now_ns), ttl=1000))
    pg_tasks.w.insert(task_row(tid(41), created_at="not a time", ttl=1000))
    pg_tasks.w.insert(task_row(tid(42), created_at="never", ttl=None))  # no ttl: not judged
    pg_tasks.w.insert(task_row(tid(43), created_at=at(5, now_ns), ttl=600_000))
    pages = _pages_of(pg_tasks)
    # The first page holds the first odd text and more due tasks than a batch of 7.
    assert sum(1 for i in range(1, 41) if pages[tid(i)] == pages[tid(0)] == 0) > 7, pages
    _cuts, result = _expire_at(pg_tasks.url, now_ns, batch_size=batch_size)
    assert (result.deleted, result.corrupt, result.skipped_changed) == (40, 2, 0), result
    left = {t for t in [tid(i) for i in range(44)] if pg_tasks.w.get(t) is not None}
    assert left == {tid(0), tid(41), tid(42), tid(43)}, sorted(left)


def test_expire_counts_odd_text_and_a_date_that_is_no_date_in_one_range(
    pg_tasks: TaskHandle,
) -> None:
    """A range holding both text that is not RFC 3339 and a 30 February: both counted once,
    the due tasks deleted, whichever of the two fails the batch first."""
    pg_tasks.server_setup()
    now_ns = time.time_ns()
    pg_tasks.w.insert(task_row(tid(0), created_at="2020-02-30T00:00:00+00:00", ttl=1000))
    pg_tasks.w.insert(task_row(tid(1), created_at="yesterday", ttl=1000))
    for i in range(2, 12):
        pg_tasks.w.insert(task_row(tid(i), created_at=at(600, now_ns), ttl=1000))
    _cuts, result = _expire_at(pg_tasks.url, now_ns, batch_size=5000)
    assert (result.deleted, result.corrupt) == (10, 2), result
    assert pg_tasks.w.count() == 2


def test_expire_dry_run_counts_text_that_is_not_rfc3339(pg_tasks: TaskHandle) -> None:
    """The dry run reports what the run would: the due tasks, and as corrupt the tasks whose
    created_at is not RFC 3339 text; nothing changes."""
    pg_tasks.server_setup()
    pg_tasks.w.insert(task_row(tid(0), created_at="yesterday", ttl=1000))
    for i in range(1, 4):
        pg_tasks.w.insert(task_row(tid(i), created_at=at(600), ttl=1000))
    r = pg_tasks.run("tasks", "expire", "--dry-run", "-f", "json")
    assert r.exit_code == 0, r
    assert (r.json()["deleted"], r.json()["corrupt"]) == (3, 1), r
    assert pg_tasks.w.count() == 4
    done = pg_tasks.run("tasks", "expire", "-f", "json")
    assert (done.json()["deleted"], done.json()["corrupt"]) == (3, 1), done


def test_expire_by_text_leaves_the_servers_spelling_with_a_word_or_space(
    pg_tasks: TaskHandle,
) -> None:
    """When the text comparison decides, a due time of the server's shape with a space in it
    (a word PostgreSQL would read, a space before the offset) is still no RFC 3339 time:
    never expired; the due task of the server's own spelling goes."""
    pg_tasks.server_setup()
    now_ns = time.time_ns()
    past = at(600, now_ns)  # ...+00:00
    spaced = {
        tid(1): past[:19] + " BC+00:00",
        tid(2): past[:19] + " +00:00",
        tid(3): past[:-6] + " +00:00",
    }
    for task_id, created in spaced.items():
        pg_tasks.w.insert(task_row(task_id, created_at=created, ttl=60_000))
    pg_tasks.w.insert(task_row(tid(4), created_at=past, ttl=60_000))
    _commonest_ttl(pg_tasks, 60_000, format_chrono(now_ns))
    cuts, result = _expire_at(pg_tasks.url, now_ns)
    assert 60_000 in cuts, cuts
    assert all(pg_tasks.w.get(t) is not None for t in spaced)
    assert pg_tasks.w.get(tid(4)) is None and result.deleted == 1, result


def test_expire_batch_when_none_is_given(
    pg_tasks: TaskHandle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without --batch-size, PostgreSQL's tasks expire deletes up to 20,000 tasks a batch (one
    DELETE over a range of pages); with --rate, 500, so that the pace stays even; a given
    --batch-size is kept. Other stores keep 500."""
    from mcpstore_cli.backends.postgres.tasks import PostgresTaskStore

    sizes: list[int] = []
    original = PostgresTaskStore._expire_range

    async def seen(self: Any, *args: Any, **kwargs: Any) -> Any:
        sizes.append(args[3].batch_size)  # (conn, page, step, opts, ...)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(PostgresTaskStore, "_expire_range", seen)
    pg_tasks.server_setup()
    for flags, expected in (([], 20_000), (["--rate", "100000"], 500), (["--batch-size", "3"], 3)):
        for i in range(5):
            pg_tasks.w.insert(task_row(tid(i), created_at=at(600), ttl=1000))
        sizes.clear()
        r = pg_tasks.run("tasks", "expire", *flags, "-f", "json")
        assert r.exit_code == 0 and r.json()["deleted"] == 5, r
        assert sizes and set(sizes) == {expected}, (flags, sizes)
    lite = _store(TaskHandle("sqlite", f"sqlite:///{tmp_path / 'mcp_tasks.db'}", None))
    assert (lite.expire_batch(None), lite.expire_batch(10.0)) == (500, 500)


def test_expire_time_budget_is_partial(tasks: TaskHandle) -> None:
    tasks.server_setup()
    for i in range(30):
        tasks.w.insert(task_row(tid(i), created_at=at(600), ttl=1000))
    r = tasks.run("tasks", "expire", "--batch-size", "1", "--rate", "20", "--time-budget", "1s")
    assert r.exit_code == 5, r
    left = tasks.w.count()
    assert 0 < left < 30, left
    again = tasks.run("tasks", "expire")
    assert again.exit_code == 0 and tasks.w.count() == 0, again


def _store(tasks: TaskHandle) -> Any:
    from mcpstore_cli.store.registry import open_store
    from mcpstore_cli.store.urls import parse_store_url

    return open_store(parse_store_url(tasks.url), layout="tasks")


def test_a_change_from_a_stale_read_is_refused(tasks: TaskHandle) -> None:
    """The conditional writes themselves: the server updates a task after mcpstore read it;
    mcpstore's delete and update from that read change nothing."""
    from mcpstore_cli.model.tasks import Task

    tasks.server_setup()
    tasks.w.insert(task_row(tid(1), created_at=at(600), ttl=1000, status="working"))
    tasks.w.insert(task_row(tid(2), created_at=at(600), status="working"))

    async def scenario() -> tuple[int, list[str]]:
        store = _store(tasks)
        async with store:
            first = await store.get_task(tid(1))
            second = await store.get_task(tid(2))
            assert isinstance(first, Task) and isinstance(second, Task)
            # The server's writes, from another thread (the writer has its own event loop).
            assert await asyncio.to_thread(tasks.w.update_status, tid(1), "input_required", at(0))
            assert await asyncio.to_thread(
                tasks.w.update_status, tid(2), "completed", at(0), {"Success": 1}
            )
            stale = [(t.task_id, t.status, t.last_updated_at, t.revision) for t in (first,)]
            deleted = await store._delete_unchanged(stale)
            changed = await store._update_unchanged(
                [(second.task_id, second.status, second.last_updated_at, second.revision)],
                status="failed",
                message="x",
                now_text=at(0),
            )
            return deleted, changed

    deleted, changed = asyncio.run(scenario())
    assert deleted == 0 and changed == []
    assert tasks.w.get(tid(1))["status"] == "input_required"  # type: ignore[index]
    assert tasks.w.get(tid(2))["status"] == "completed"  # type: ignore[index]


class _Holder:
    """Another writer's open transaction that has changed one task (its ttl pushed out, so the
    task is no longer due) and not yet committed: expire's delete of it waits on its lock."""

    def __init__(self, tasks: TaskHandle, task_id: str) -> None:
        self.tasks = tasks
        if tasks.backend == "sqlite":
            import sqlite3

            self.lite = sqlite3.connect(tasks.w.path, timeout=30, isolation_level=None)
            self.lite.execute("BEGIN IMMEDIATE")
            self.lite.execute("UPDATE tasks SET ttl = ? WHERE task_id = ?", (10**12, task_id))
            return
        import asyncpg

        self.loop = asyncio.new_event_loop()
        self.pg = self.loop.run_until_complete(asyncpg.connect(tasks.url))
        self.loop.run_until_complete(self.pg.execute("BEGIN"))
        self.loop.run_until_complete(
            self.pg.execute(
                "UPDATE tasks SET ttl = $1, version = version + 1 WHERE task_id = $2",
                10**12,
                task_id,
            )
        )

    def wait_for_a_waiter(self) -> bool:
        """Until another session waits on this one's lock (PostgreSQL says so; SQLite does
        not, so a while)."""
        if self.tasks.backend == "sqlite":
            time.sleep(1.0)
            return True
        for _ in range(200):
            # (The activity view is read once per transaction unless its snapshot is cleared.)
            self.loop.run_until_complete(self.pg.execute("SELECT pg_stat_clear_snapshot()"))
            waiting = self.loop.run_until_complete(
                self.pg.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
            )
            if waiting:
                return True
            time.sleep(0.05)
        return False

    def commit(self) -> None:
        if self.tasks.backend == "sqlite":
            self.lite.execute("COMMIT")
            self.lite.close()
            return
        self.loop.run_until_complete(self.pg.execute("COMMIT"))
        self.loop.run_until_complete(self.pg.close())
        self.loop.close()


def _expire_while_held(tasks: TaskHandle, task_id: str, *flags: str) -> Result:
    """``tasks expire`` (JSON summary) while another writer holds ``task_id`` changed and
    uncommitted; that writer commits once expire waits on it. The run's result, checked to
    have waited and to have succeeded."""
    holder = _Holder(tasks, task_id)
    out: list[Result] = []
    expire = threading.Thread(
        target=lambda: out.append(tasks.run("tasks", "expire", *flags, "-f", "json"))
    )
    expire.start()
    try:
        waited = holder.wait_for_a_waiter()
    finally:
        holder.commit()
        expire.join()
    r = out[0]
    assert waited, f"expire never waited on the changed task: {r}"
    assert r.exit_code == 0, r
    return r


def test_expire_keeps_a_task_changed_while_it_waited_on_its_lock(tasks: TaskHandle) -> None:
    """Another writer makes a due task live again (its ttl pushed out) and commits while
    expire's delete waits on that task: the task stays, with that writer's change; the other
    due tasks go."""
    tasks.server_setup()
    for i in range(200):
        tasks.w.insert(task_row(tid(i), created_at=at(600 - i / 100), ttl=1000))
    tasks.w.insert(task_row(tid(999), created_at=at(5), ttl=600_000))
    r = _expire_while_held(tasks, tid(50))
    kept = tasks.w.get(tid(50))
    assert kept is not None and kept["ttl"] == 10**12, kept
    assert tasks.w.count() == 2
    assert r.json()["deleted"] == 199, r


def test_expire_counts_what_a_careful_pass_deleted_before_odd_text(pg_tasks: TaskHandle) -> None:
    """The server changes a task while its batch waits on it: the range is done again pass by
    pass, reading versions; when a later pass meets text that is not RFC 3339, the tasks the
    earlier passes deleted are still counted, and the odd task once."""
    pg_tasks.server_setup()
    for i in range(20):
        pg_tasks.w.insert(task_row(tid(i), created_at=at(600 - i / 100), ttl=1000))
    pg_tasks.w.insert(task_row(tid(20), created_at="yesterday", ttl=1000))
    pg_tasks.w.insert(task_row(tid(99), created_at=at(5), ttl=600_000))
    r = _expire_while_held(pg_tasks, tid(5), "--batch-size", "7")
    assert (r.json()["deleted"], r.json()["corrupt"]) == (19, 1), r
    left = {t for t in [*(tid(i) for i in range(21)), tid(99)] if pg_tasks.w.get(t) is not None}
    assert left == {tid(5), tid(20), tid(99)}, sorted(left)


def test_expire_dry_run_keeps_to_the_time_budget_with_odd_text(pg_tasks: TaskHandle) -> None:
    """A dry run whose time budget is spent before it comes to the tasks whose created_at is
    not RFC 3339 text says it is partial (the run would exit 5), rather than leave them out
    of a complete-looking count."""
    from mcpstore_cli.model.tasks import TaskExpireOptions

    pg_tasks.server_setup()
    pg_tasks.w.insert(task_row(tid(0), created_at="yesterday", ttl=1000))
    pg_tasks.w.insert(task_row(tid(1), created_at=at(600), ttl=1000))

    async def go() -> Any:
        store = _store(pg_tasks)
        async with store:
            opts = TaskExpireOptions(now_ns=time.time_ns(), dry_run=True, time_budget_s=1e-9)
            return await store.expire_tasks(opts)

    result = asyncio.run(go())
    assert result.partial and result.deleted == 1 and result.corrupt == 0, result
    assert pg_tasks.w.count() == 2


@pytest.mark.parametrize("dry_run", [False, True])
def test_expire_leaves_a_time_postgresql_reads_later_than_its_text(
    pg_tasks: TaskHandle, dry_run: bool
) -> None:
    """Text of the server's shape that PostgreSQL reads as a later time ("pm") is not
    expired while the time PostgreSQL reads is not due, even where the bytes say it is."""
    pg_tasks.server_setup()
    now_ns = parse_ns("2026-06-01T12:00:00+00:00")  # expired as of this noon
    ttl = 3_600_000
    morning = "2026-06-01T10:00:00+00:00"  # due by its bytes, an hour past its ttl
    pm = "2026-06-01T10:00:00pm+00:00"  # PostgreSQL reads 22:00: not due
    pg_tasks.w.insert(task_row(tid(1), created_at=pm, ttl=ttl))
    pg_tasks.w.insert(task_row(tid(2), created_at=morning, ttl=ttl))
    _commonest_ttl(pg_tasks, ttl, format_chrono(now_ns))
    cuts, result = _expire_at(pg_tasks.url, now_ns, dry_run=dry_run)
    assert ttl in cuts, cuts
    assert pg_tasks.w.get(tid(1)) is not None
    assert result.deleted == 1, result


def test_expire_against_a_live_writer_loses_no_update(tasks: TaskHandle) -> None:
    """A writer keeps making due tasks live again while expire deletes in small batches:
    every change it committed stays (a task it changed is never deleted), and what expire
    deleted and what is left add up."""
    tasks.server_setup()
    n = 600
    for i in range(n):
        tasks.w.insert(task_row(tid(i), created_at=at(900 - i / 100), ttl=1000))
    kept: list[str] = []
    stop = threading.Event()
    first = threading.Event()  # expire starts once the writer has committed a change

    def writer() -> None:
        if tasks.backend == "sqlite":
            import sqlite3

            conn = sqlite3.connect(tasks.w.path, timeout=30, isolation_level=None)

            def extend(task_id: str) -> bool:
                cur = conn.execute(
                    "UPDATE tasks SET ttl = ?, last_updated_at = ? WHERE task_id = ?",
                    (10**12, at(0), task_id),
                )
                return cur.rowcount == 1

            close = conn.close
        else:
            import asyncpg

            loop = asyncio.new_event_loop()
            pg = loop.run_until_complete(asyncpg.connect(tasks.url))

            def extend(task_id: str) -> bool:
                status = loop.run_until_complete(
                    pg.execute(
                        "UPDATE tasks SET ttl = $1, last_updated_at = $2, "
                        "version = version + 1 WHERE task_id = $3",
                        10**12,
                        at(0),
                        task_id,
                    )
                )
                return str(status) == "UPDATE 1"

            def close() -> None:
                loop.run_until_complete(pg.close())
                loop.close()

        try:
            i = n - 1
            while not stop.is_set() and i >= 0:
                if extend(tid(i)):
                    kept.append(tid(i))
                first.set()
                i -= 2
                time.sleep(0.002)
        finally:
            first.set()
            close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert first.wait(30), "the writer never started"
        # --rate spreads the 60 batches over about 0.6 s, so the writer (a change every
        # 2 ms or so, from the newest task down) and expire (oldest up) meet while both run.
        r = tasks.run("tasks", "expire", "--batch-size", "10", "--rate", "1000", "-f", "json")
    finally:
        stop.set()
        thread.join()
    assert r.exit_code == 0, r
    assert kept, "the writer changed nothing"
    assert len(kept) < n // 2, "the writer finished before expire ran"
    for task_id in kept:
        row = tasks.w.get(task_id)
        assert row is not None and row["ttl"] == 10**12, task_id
    assert r.json()["deleted"] + tasks.w.count() == n
    assert tasks.w.count() >= len(kept)


def test_recover_against_a_live_writer_loses_no_completion(tasks: TaskHandle) -> None:
    """The server completes stuck tasks while recover runs: every completion it made stays."""
    tasks.server_setup()
    n = 400
    for i in range(n):
        tasks.w.insert(
            task_row(tid(i), created_at=at(7200 - i), last_updated_at=at(7000), status="working")
        )
    extra = SqliteTaskWriter(tasks.w.path) if tasks.backend == "sqlite" else None
    if tasks.backend == "postgres":
        extra = PgTaskWriter(tasks.url)
    completed: list[str] = []
    stop = threading.Event()

    def server() -> None:
        i = n - 1
        while not stop.is_set() and i >= 0:
            if extra.update_status(tid(i), "completed", at(0), result={"Success": i}):  # type: ignore[union-attr]
                completed.append(tid(i))
            i -= 3

    thread = threading.Thread(target=server)
    thread.start()
    try:
        r = tasks.run("tasks", "recover", "--stuck-for", "1h", "--batch-size", "20", "-f", "json")
    finally:
        stop.set()
        thread.join()
        extra.close()  # type: ignore[union-attr]
    assert r.exit_code == 0, r
    summary = r.json()
    assert completed, "the writer completed nothing"
    for task_id in completed:
        assert tasks.w.get(task_id)["status"] == "completed", task_id  # type: ignore[index]
    failed = [i for i in range(n) if tasks.w.get(tid(i))["status"] == "failed"]  # type: ignore[index]
    assert len(failed) == summary["recovered"]
    assert summary["recovered"] + len(completed) == n


def test_recover_writes_what_the_server_writes(tasks: TaskHandle) -> None:
    tasks.server_setup()
    tasks.w.insert(task_row(tid(1), created_at=at(7200), last_updated_at=at(7000)))
    tasks.w.insert(task_row(tid(2), created_at=at(60), status="input_required"))
    before = time.time_ns()
    r = tasks.run("tasks", "recover", "--stuck-for", "1h")
    assert r.exit_code == 0 and "failed 1 task" in r.stderr, r
    row = tasks.w.get(tid(1))
    assert row is not None
    assert row["status"] == "failed"
    assert row["status_message"] == "Server restarted \u2014 task interrupted"
    assert row["last_updated_at"].endswith("+00:00")
    assert parse_ns(row["last_updated_at"]) >= before
    if tasks.backend == "postgres":
        assert row["version"] == 2
    assert tasks.w.get(tid(2))["status"] == "input_required"  # type: ignore[index]


def test_cancel_live_only(tasks: TaskHandle) -> None:
    tasks.server_setup()
    tasks.w.insert(task_row(tid(1), created_at=at(60)))
    tasks.w.insert(task_row(tid(2), created_at=at(60), status="completed", result={"Success": 1}))
    ok = tasks.run("tasks", "cancel", tid(1))
    assert ok.exit_code == 0 and "cancelled task" in ok.stderr, ok
    assert tasks.w.get(tid(1))["status"] == "cancelled"  # type: ignore[index]
    no = tasks.run("tasks", "cancel", tid(2))
    assert no.exit_code == 1, no
    assert "already completed" in no.stderr and no.stderr.count("\n") == 1, no
    assert tasks.w.get(tid(2))["status"] == "completed"  # type: ignore[index]


# -- provisioning and the rest ---------------------------------------------------------------
def test_demo_fills_every_status_and_clear_empties(tasks: TaskHandle) -> None:
    r = tasks.run("demo", "--layout", "tasks", "-s", "400", "--seed", "7")
    assert r.exit_code == 0 and "wrote 400 tasks" in r.stderr, r
    s = tasks.run("tasks", "stats", "-f", "json").json()
    assert s["tasks"] == 400 and s["corrupt"] == 0
    assert set(s["by_status"]) == {"working", "input_required", "completed", "failed", "cancelled"}
    assert s["stuck"] > 0 and s["past_ttl"] > 0
    cleared = tasks.run("clear", "--layout", "tasks", "--yes")
    assert cleared.exit_code == 0 and "deleted 400 tasks" in cleared.stderr, cleared
    assert tasks.w.count() == 0


def test_teardown_deletes_the_task_table(tasks: TaskHandle) -> None:
    tasks.server_setup()
    tasks.w.insert(task_row(tid(1), created_at=at(60)))
    r = tasks.run("teardown", "--layout", "tasks", "--delete", "--yes")
    assert r.exit_code == 0, r
    gone = tasks.run("tasks", "list")
    assert gone.exit_code == 3, gone


def test_task_commands_name_the_task_store(tmp_path: Path) -> None:
    """--backend sqlite reads SQLITE_TASK_PATH for task commands; the default is mcp_tasks.db."""
    path = tmp_path / "elsewhere.db"
    w = SqliteTaskWriter(str(path))
    w.create_tables()
    w.insert(task_row(tid(1), created_at=at(5)))
    w.close()
    r = run_cli(
        ["tasks", "list", "--backend", "sqlite", "-f", "jsonl"],
        environ={"SQLITE_TASK_PATH": str(path), "SQLITE_PATH": str(tmp_path / "s.db")},
    )
    assert r.exit_code == 0 and r.jsonl()[0]["task_id"] == tid(1), r


def test_postgres_database_with_sessions_and_tasks(pg_server: PgServer) -> None:
    name = pg_server.create_database()
    url = pg_server.url(name)
    try:
        assert run_cli(["setup", "--url", url, "--quiet"]).exit_code == 0
        assert run_cli(["setup", "--layout", "tasks", "--url", url, "--quiet"]).exit_code == 0
        assert run_cli(["demo", "-s", "5", "--url", url, "--quiet"]).exit_code == 0
        r = run_cli(["demo", "--layout", "tasks", "-s", "7", "--url", url, "--quiet"])
        assert r.exit_code == 0, r
        sessions = run_cli(["list", "--url", url, "-f", "jsonl"])
        assert sessions.exit_code == 0 and len(sessions.jsonl()) == 5, sessions
        listed = run_cli(["tasks", "list", "--url", url, "-f", "jsonl"])
        assert listed.exit_code == 0 and len(listed.jsonl()) == 7, listed
        check = run_cli(["setup", "--check", "--url", url])
        assert check.exit_code == 0, check
    finally:
        pg_server.drop_database(name)


def test_expire_on_several_connections(tasks: TaskHandle, busy: dict[str, int]) -> None:
    """--jobs: PostgreSQL deletes on that many connections, exactly what one would; SQLite,
    which has one writer, refuses it in one sentence and changes nothing."""
    tasks.server_setup()
    for i in range(900):
        due = i % 3 != 0
        tasks.w.insert(task_row(tid(i), created_at=at(900 - i / 10), ttl=1000 if due else None))
    tasks.w.insert(task_row(tid(5000), created_at=at(5), ttl=600_000))
    bad = tasks.run("tasks", "expire", "--jobs", "0")
    assert bad.exit_code == 2 and "--jobs must be from 1 to 16" in bad.stderr, bad
    r = tasks.run("tasks", "expire", "--jobs", "3", "--batch-size", "50", "-f", "json")
    if tasks.backend == "sqlite":
        assert r.exit_code == 2 and "--jobs applies to the tasks layout on PostgreSQL" in r.stderr
        assert tasks.w.count() == 901
        return
    assert r.exit_code == 0, r
    assert (r.json()["deleted"], r.json()["examined"]) == (600, 600), r
    assert len(r.json()["sample"]) == 10
    assert tasks.w.count() == 301
    assert all(tasks.w.get(tid(i)) is not None for i in range(0, 900, 3))
    # The batches really ran side by side: more than one at a time.
    assert busy["most"] >= 2, busy


@pytest.fixture
def busy(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many PostgreSQL expire batches ran at once, at most."""
    from mcpstore_cli.backends.postgres.tasks import PostgresTaskStore

    seen = {"now": 0, "most": 0}
    original = PostgresTaskStore._expire_range

    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen["now"] += 1
        seen["most"] = max(seen["most"], seen["now"])
        try:
            await asyncio.sleep(0.01)  # let the other connections take their ranges
            return await original(self, *args, **kwargs)
        finally:
            seen["now"] -= 1

    monkeypatch.setattr(PostgresTaskStore, "_expire_range", counted)
    return seen


def test_expire_leaves_text_that_is_no_rfc3339_time(tasks: TaskHandle) -> None:
    """Words PostgreSQL would read inside a time ("epoch", "BC"), a space before the offset,
    whitespace at the end: no RFC 3339 time, never expired. An offset past 15:59 is RFC 3339
    that PostgreSQL cannot cast: judged here, and expired like the rest."""
    tasks.server_setup()
    past = format_chrono(time.time_ns() - 600 * NS)  # ...+00:00
    words = {
        tid(1): past[:19] + " epoch Z",
        tid(2): past[:19] + " BC Z",
        tid(3): past[:19] + " +05:00",
        tid(7): past + " ",
        tid(8): past + "\n",
    }
    for task_id, created in words.items():
        tasks.w.insert(task_row(task_id, created_at=created, ttl=1000))
    sixteen = format_chrono(time.time_ns() - 600 * NS + 16 * 3600 * NS)[:-6] + "+16:00"
    tasks.w.insert(task_row(tid(4), created_at=sixteen, ttl=1000))
    tasks.w.insert(task_row(tid(5), created_at=past, ttl=1000))
    tasks.w.insert(task_row(tid(6), created_at=at(5), ttl=600_000))
    r = tasks.run("tasks", "expire", "-f", "json")
    assert r.exit_code == 0, r
    assert all(tasks.w.get(t) is not None for t in words), r
    assert tasks.w.get(tid(5)) is None and tasks.w.get(tid(6)) is not None, r
    if tasks.backend == "postgres":
        assert tasks.w.get(tid(4)) is None and r.json()["deleted"] == 2, r
    else:
        # SQLite's julianday() reads offsets up to 14:00 only: the task is left (documented).
        assert tasks.w.get(tid(4)) is not None and r.json()["deleted"] == 1, r
