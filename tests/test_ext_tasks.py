"""turul's 2026 ext-tasks store (layout ``ext-tasks``) on SQLite and PostgreSQL: documents
written by the server's own upsert (tests/task_writers.py), read and swept by mcpstore."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcpstore_cli.util.rfc3339 import format_millis_z, parse_ns
from tests.helpers import Result, run_cli
from tests.pg_fixtures import PgServer
from tests.task_writers import (
    EXT_POSTGRES_DDL,
    EXT_SQLITE_DDL,
    PgExtWriter,
    SqliteExtWriter,
    ext_document,
)

NS = 1_000_000_000
ORPHANED = {
    "code": -32603,
    "message": "task was abandoned: no progress within the orphan threshold",
}
TTL_EXCEEDED = {"code": -32603, "message": "task exceeded its ttlMs"}


class ExtHandle:
    def __init__(self, backend: str, url: str, writer: Any) -> None:
        self.backend = backend
        self.url = url
        self.w = writer

    def run(self, *args: str, **kwargs: Any) -> Result:
        return run_cli([*args, "--url", self.url, "--layout", "ext-tasks"], **kwargs)


@pytest.fixture(params=["sqlite", "postgres"])
def ext(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ExtHandle]:
    if request.param == "sqlite":
        path = tmp_path / "ext.db"
        writer = SqliteExtWriter(str(path))
        writer.create_tables()
        yield ExtHandle("sqlite", f"sqlite:///{path}", writer)
        writer.close()
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = server.create_database()
    url = server.url(name)
    pg = PgExtWriter(url)
    pg.create_tables()
    yield ExtHandle("postgres", url, pg)
    pg.close()
    server.drop_database(name)


def tid(n: int) -> str:
    """A UUID v4 in simple form, as the server makes them (the same one for the same n)."""
    return uuid.UUID(int=random.Random(n).getrandbits(128), version=4).hex


def at(seconds_ago: float) -> str:
    return format_millis_z(time.time_ns() - int(seconds_ago * NS))


def _norm(text: str) -> str:
    return " ".join(text.replace("(", " (").split())


def test_generated_ddl_is_the_servers() -> None:
    from mcpstore_cli.backends.postgres.tasks import PostgresExtTaskStore
    from mcpstore_cli.backends.sqlite.tasks import SqliteExtTaskStore
    from mcpstore_cli.store.urls import parse_store_url

    sq = SqliteExtTaskStore(parse_store_url("sqlite:///x.db")).setup_plan()
    pg = PostgresExtTaskStore(parse_store_url("postgresql://u@127.0.0.1/db")).setup_plan()
    assert [_norm(s) for s in sq] == [_norm(s) for s in EXT_SQLITE_DDL]
    assert [_norm(s) for s in pg] == [_norm(s) for s in EXT_POSTGRES_DDL]


def test_the_servers_table_passes_check(ext: ExtHandle) -> None:
    check = ext.run("setup", "--check")
    assert check.exit_code == 0, check
    again = ext.run("setup", "-f", "jsonl")
    assert again.exit_code == 0 and all(s["action"] == "exists" for s in again.jsonl()), again


def test_list_show_and_detection(ext: ExtHandle) -> None:
    requests = {"confirm": {"method": "elicitation/create", "params": {"message": "Go?"}}}
    ext.w.put(ext_document(tid(1), created_at=at(300), owner="alice@example.com"))
    ext.w.put(
        ext_document(
            tid(2),
            created_at=at(200),
            status="input_required",
            message=None,
            poll_ms=None,
            input_requests=requests,
        )
    )
    ext.w.put(
        ext_document(
            tid(3), created_at=at(100), status="failed", error={"code": -32603, "message": "x"}
        )
    )
    listed = ext.run("tasks", "list", "-f", "jsonl")
    assert listed.exit_code == 0, listed
    assert [t["task_id"] for t in listed.jsonl()] == [tid(1), tid(2), tid(3)]
    assert listed.jsonl()[0]["owner"] == "alice@example.com"
    # Without --layout: the store holds ext_tasks only, so that is the layout.
    plain = run_cli(["tasks", "list", "--url", ext.url, "-f", "jsonl", "--status", "failed"])
    assert plain.exit_code == 0 and [t["task_id"] for t in plain.jsonl()] == [tid(3)], plain
    shown = ext.run("tasks", "show", tid(2)[:10], "-f", "json")
    assert shown.exit_code == 0, shown
    assert shown.json()["document"]["input_requests"] == requests
    table = ext.run("tasks", "show", tid(2), "-f", "table")
    assert "elicitation/create" in table.stdout and "document" in table.stdout, table
    refused = ext.run("tasks", "list", "--session", "s")
    assert refused.exit_code == 2 and "does not apply to ext-tasks" in refused.stderr, refused


def test_a_store_holding_both_task_layouts_asks_which(ext: ExtHandle) -> None:
    assert run_cli(["setup", "--layout", "tasks", "--url", ext.url, "-q"]).exit_code == 0
    both = run_cli(["tasks", "list", "--url", ext.url])
    assert both.exit_code == 2 and "choose one with --layout" in both.stderr, both


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ("{not json", "state is not JSON"),
        ('{"fields": {"taskId": "X"}, "status": "working"}', "differs from the row's task_id"),
        ("[1]", "not a JSON object"),
    ],
)
def test_malformed_documents_are_skipped(ext: ExtHandle, state: str, problem: str) -> None:
    if ext.backend == "postgres" and state.startswith("{not"):
        # JSONB refuses text that is not JSON: no server can leave such a row there.
        import asyncpg

        with pytest.raises(asyncpg.exceptions.InvalidTextRepresentationError):
            ext.w.put_raw(tid(2), "working", at(40), state)
        return
    ext.w.put(ext_document(tid(1), created_at=at(50)))
    ext.w.put_raw(tid(2), "working", at(40), state)
    r = ext.run("tasks", "list", "-f", "jsonl")
    assert r.exit_code == 0, r
    assert [t["task_id"] for t in r.jsonl()] == [tid(1)]
    assert f"skipped task {tid(2)}" in r.stderr and problem in r.stderr, r
    one = ext.run("tasks", "show", tid(2))
    assert one.exit_code == 1 and problem in one.stderr, one


def test_expire_needs_a_rule(ext: ExtHandle) -> None:
    r = ext.run("tasks", "expire")
    assert r.exit_code == 2 and "--orphan-after" in r.stderr, r


def test_retention_as_the_server_applies_it(ext: ExtHandle) -> None:
    w = ext.w
    requests = {"k": {"method": "elicitation/create", "params": {}}}
    w.put(ext_document(tid(1), created_at=at(7200), last_updated_at=at(7200)))  # orphan
    w.put(
        ext_document(
            tid(2),
            created_at=at(7200),
            last_updated_at=at(10),
            status="input_required",
            input_requests=requests,
            ttl_ms=60_000.0,
        )
    )  # past ttl
    w.put(ext_document(tid(3), created_at=at(7200), last_updated_at=at(10), ttl_ms=None))  # keep
    w.put(
        ext_document(
            tid(4),
            created_at=at(90_000),
            last_updated_at=at(90_000),
            status="completed",
            ttl_ms=1000.0,
            result={"ok": 1},
        )
    )  # old terminal: delete, never re-failed
    w.put(ext_document(tid(5), created_at=at(60), status="cancelled"))  # young terminal: keep
    dry = ext.run(
        "tasks",
        "expire",
        "--orphan-after",
        "1h",
        "--honour-ttl",
        "--delete-terminal-after",
        "1d",
        "--dry-run",
    )
    assert dry.exit_code == 0 and "would delete 1 task, would fail 2 live" in dry.stderr, dry
    assert w.count() == 5 and w.doc(tid(1))[0] == "working"  # type: ignore[index]
    before = time.time_ns()
    r = ext.run(
        "tasks",
        "expire",
        "--orphan-after",
        "1h",
        "--honour-ttl",
        "--delete-terminal-after",
        "1d",
        "-f",
        "json",
    )
    assert r.exit_code == 0, r
    assert (r.json()["deleted"], r.json()["failed"]) == (1, 2), r
    assert w.doc(tid(4)) is None
    status, column_time, doc = w.doc(tid(1))  # type: ignore[misc]
    assert status == "failed" and doc["status"] == "failed" and doc["error"] == ORPHANED
    assert (
        doc["fields"]["lastUpdatedAt"].endswith("Z") and len(doc["fields"]["lastUpdatedAt"]) == 24
    )
    assert parse_ns(doc["fields"]["lastUpdatedAt"]) >= before - 1_000_000
    if ext.backend == "sqlite":
        assert column_time == doc["fields"]["lastUpdatedAt"]
    status2, _t, doc2 = w.doc(tid(2))  # type: ignore[misc]
    assert doc2["error"] == TTL_EXCEEDED and doc2["input_requests"] is None and status2 == "failed"
    assert w.doc(tid(3))[0] == "working"  # type: ignore[index]
    assert w.doc(tid(5))[0] == "cancelled"  # type: ignore[index]


def test_a_stale_document_is_never_written_over(ext: ExtHandle) -> None:
    from mcpstore_cli.backends.sql.ext_tasks import Change
    from mcpstore_cli.store.registry import open_store
    from mcpstore_cli.store.urls import parse_store_url

    ext.w.put(ext_document(tid(1), created_at=at(7200)))

    async def scenario() -> list[bool]:
        store: Any = open_store(parse_store_url(ext.url), layout="ext-tasks")
        async with store:
            rows = await store._fetch(store._select() + " WHERE task_id = ?", [tid(1)])
            old = rows[0]["state"]
            assert await asyncio.to_thread(ext.w.complete, tid(1), at(0))
            return await store._apply(
                [Change(tid(1), old, False, "failed", at(0), '{"status":"failed"}')]
            )

    assert asyncio.run(scenario()) == [False]
    assert ext.w.doc(tid(1))[0] == "completed"  # type: ignore[index]


def test_sweep_against_a_live_server_loses_no_completion(ext: ExtHandle) -> None:
    n = 300
    for i in range(n):
        ext.w.put(ext_document(tid(i), created_at=at(7200), last_updated_at=at(7200)))
    other = SqliteExtWriter(ext.w.path) if ext.backend == "sqlite" else PgExtWriter(ext.url)
    completed: list[str] = []
    stop = threading.Event()

    def server() -> None:
        for i in range(n - 1, -1, -2):
            if stop.is_set():
                return
            if other.complete(tid(i), at(0)):
                completed.append(tid(i))

    thread = threading.Thread(target=server)
    thread.start()
    try:
        r = ext.run("tasks", "expire", "--orphan-after", "1h", "--batch-size", "10", "-f", "json")
    finally:
        stop.set()
        thread.join()
        other.close()
    assert r.exit_code == 0, r
    assert completed
    for task_id in completed:
        assert ext.w.doc(task_id)[0] == "completed", task_id  # type: ignore[index]
    failed = sum(1 for i in range(n) if ext.w.doc(tid(i))[0] == "failed")  # type: ignore[index]
    assert failed == r.json()["failed"] and failed + len(completed) == n


def test_cancel_respects_owners_and_terminal_states(ext: ExtHandle) -> None:
    ext.w.put(ext_document(tid(1), created_at=at(60), owner="alice@example.com"))
    ext.w.put(ext_document(tid(2), created_at=at(60), status="completed", result={}))
    ext.w.put(ext_document(tid(3), created_at=at(60)))
    theirs = ext.run("tasks", "cancel", tid(1))
    assert theirs.exit_code == 1 and "belongs to 'alice@example.com'" in theirs.stderr, theirs
    assert ext.w.doc(tid(1))[0] == "working"  # type: ignore[index]
    forced = ext.run("tasks", "cancel", tid(1), "--any-owner")
    assert forced.exit_code == 0, forced
    assert ext.w.doc(tid(1))[2]["status"] == "cancelled"  # type: ignore[index]
    done = ext.run("tasks", "cancel", tid(2))
    assert done.exit_code == 1 and "already completed" in done.stderr, done
    mine = ext.run("tasks", "cancel", tid(3))
    assert mine.exit_code == 0 and ext.w.doc(tid(3))[0] == "cancelled", mine


def test_demo_stats_and_clear(ext: ExtHandle) -> None:
    r = ext.run("demo", "-s", "300", "--seed", "5")
    assert r.exit_code == 0 and "wrote 300 tasks" in r.stderr, r
    s = ext.run("tasks", "stats", "-f", "json").json()
    assert s["tasks"] == 300 and s["corrupt"] == 0
    assert set(s["by_status"]) == {"working", "input_required", "completed", "failed", "cancelled"}
    assert s["stuck"] > 0 and s["past_ttl"] > 0
    cleared = ext.run("clear", "--yes")
    assert cleared.exit_code == 0 and "deleted 300 tasks" in cleared.stderr, cleared
