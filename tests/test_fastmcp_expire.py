"""``expire`` of FastMCP's PostgreSQL table at some size, with rows inserted by raw SQL exactly
as py-key-value's PostgreSQLStore writes them: batches and ``--jobs`` remove exactly the
expired entries, an entry the server re-puts while expire runs stays, ``--time-budget``
stops with exit 5 and says what is left, and Ctrl-C (SIGINT to the real process) exits 130
saying what the committed batches removed."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import run_cli
from tests.pg_fixtures import PgServer
from tests.test_interrupt import Proc, number, the_line, wait_until

ENTRIES = 30_000
EXPIRED = 18_000


def _fill(url: str) -> None:
    """py-key-value's table, then entries as its upsert writes them: events with their
    message, half an hour to two hours old, FastMCP's one-hour TTL (``ttl`` the seconds left
    at write time), the oldest 18,000 past their expiry."""
    from mcpstore_cli.layouts.fastmcp.schema import index_ddl, table_ddl

    step = 7_200_000 // ENTRIES  # ms between writes over the last two hours
    statements = [
        table_ddl(),
        index_ddl(),
        "INSERT INTO kv_store (collection, key, value, ttl, created_at, expires_at) "
        "SELECT 'fastmcp_events', k, jsonb_build_object('event_id', k, 'stream_id', "
        "'32:' || md5((i / 50)::text) || ':1', 'message', jsonb_build_object('jsonrpc', '2.0', "
        "'method', 'notifications/progress', 'params', jsonb_build_object('progressToken', 1, "
        "'progress', i % 50, 'total', 50))), 3599.9998, t, t + interval '3600 seconds' "
        f"FROM generate_series(1, {ENTRIES}) i, LATERAL (SELECT md5('e' || i)::uuid::text AS k, "
        f"now() - interval '{EXPIRED * step} milliseconds' - interval '3600 seconds' "
        f"+ (i * interval '{step} milliseconds') AS t) x",
        "ANALYZE kv_store",
    ]
    asyncio.run(_run(url, statements))


async def _run(url: str, statements: list[str]) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        out = []
        for s in statements:
            out.append(await conn.fetch(s))
        return out
    finally:
        await conn.close()


def _count(url: str, where: str = "true") -> int:
    rows = asyncio.run(_run(url, [f"SELECT count(*) FROM kv_store WHERE {where}"]))
    return int(rows[0][0][0])


@pytest.fixture
def filled(pg_server: PgServer) -> Iterator[str]:
    name = pg_server.create_database()
    url = pg_server.url(name)
    _fill(url)
    yield url
    pg_server.drop_database(name)


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_expire_removes_exactly_the_expired_entries(filled: str, jobs: str) -> None:
    expired = _count(filled, "expires_at < now()")
    assert EXPIRED - 50 <= expired <= EXPIRED + 50
    dry = run_cli(["expire", "--layout", "fastmcp", "--url", filled, "--dry-run", "-f", "json"])
    assert dry.exit_code == 0, dry
    assert dry.json()["entries"]["fastmcp_events"] >= expired
    assert _count(filled) == ENTRIES  # a dry run changes nothing
    started = time.time()
    done = run_cli(
        [
            "expire",
            "--layout",
            "fastmcp",
            "--url",
            filled,
            "--batch-size",
            "1000",
            "--jobs",
            jobs,
            "-f",
            "json",
        ]
    )
    assert done.exit_code == 0, done
    removed = done.json()["expired_entries"]
    # Exactly those that had expired by the end of the run: none older is left, and every
    # entry that is gone was past its expiry (the rest are all still there).
    assert _count(filled, f"expires_at < to_timestamp({started})") == 0
    assert _count(filled, "expires_at < now()") <= 3  # a few may expire since
    assert _count(filled) == ENTRIES - removed
    # Both counts at one now(): an entry may expire between two statements.
    rows = asyncio.run(
        _run(
            filled,
            [
                "SELECT count(*) FILTER (WHERE expires_at >= now()), "
                "count(*) FILTER (WHERE expires_at < now()) FROM kv_store"
            ],
        )
    )
    live, past = (int(v) for v in rows[0][0])
    assert live == ENTRIES - removed - past


def test_an_entry_the_server_puts_again_during_expire_stays(filled: str) -> None:
    """While expire deletes slowly (--rate), a writer re-puts expired entries exactly as
    py-key-value's upsert does (new value, ttl and expires_at): every one of them stays."""
    keys = asyncio.run(
        _run(
            filled,
            [
                "SELECT key FROM kv_store WHERE expires_at < now() ORDER BY expires_at DESC "
                "LIMIT 200"
            ],
        )
    )[0]
    wanted = [r[0] for r in keys]
    proc = Proc(
        [
            "expire",
            "--layout",
            "fastmcp",
            "--url",
            filled,
            "--batch-size",
            "500",
            "--rate",
            "6000",
        ]
    )
    stop = threading.Event()
    put = []

    def writer() -> None:
        upsert = (
            "INSERT INTO kv_store (collection, key, value, ttl, created_at, expires_at) VALUES "
            "('fastmcp_events', $1, $2::jsonb, 3600.0, now(), now() + interval '3600 seconds') "
            "ON CONFLICT (collection, key) DO UPDATE SET value = EXCLUDED.value, ttl = "
            "EXCLUDED.ttl, expires_at = EXCLUDED.expires_at"
        )

        async def go() -> None:
            import asyncpg

            conn = await asyncpg.connect(filled)
            try:
                for key in wanted:
                    if stop.is_set():
                        return
                    value = json.dumps({"event_id": key, "message": None})
                    await conn.execute(upsert, key, value)
                    put.append(key)
                    await asyncio.sleep(0.002)
            finally:
                await conn.close()

        asyncio.run(go())

    try:
        wait_until("expire starts deleting", lambda: _count(filled) < ENTRIES - 500, proc)
        thread = threading.Thread(target=writer)
        thread.start()
        thread.join(60)
        code, err = proc.finish(120)
    finally:
        stop.set()
        proc.kill()
    assert code == 0, err
    assert put, "the writer put nothing"
    quoted = ", ".join(f"'{k}'" for k in put)
    assert _count(filled, f"key IN ({quoted})") == len(put), "an entry put again was deleted"
    assert _count(filled, f"key IN ({quoted}) AND expires_at > now()") == len(put)


def test_time_budget_stops_cleanly_and_says_what_is_left(filled: str) -> None:
    got = run_cli(
        [
            "expire",
            "--layout",
            "fastmcp",
            "--url",
            filled,
            "--batch-size",
            "500",
            "--rate",
            "4000",
            "--time-budget",
            "1s",
            "-f",
            "json",
        ]
    )
    assert got.exit_code == 5, got
    obj = got.json()
    assert obj["partial"] is True
    left = obj["remaining"]["expired entries"]
    assert left > 0 and "time budget" in got.stderr
    assert abs(_count(filled, "expires_at < now()") - left) <= 50


def test_ctrl_c_says_what_the_committed_batches_removed(filled: str) -> None:
    before = _count(filled)
    proc = Proc(
        ["expire", "--layout", "fastmcp", "--url", filled, "--batch-size", "200", "--rate", "4000"]
    )
    try:
        wait_until("entries go", lambda: _count(filled) < before - 1000, proc)
        code, err = proc.interrupt()
    finally:
        proc.kill()
    line = the_line(code, err)
    match = re.search(
        r"expire removed ([\d,]+) expired entries in [\d,]+ committed batch(es)?; "
        r"the rest is untouched\.",
        line,
    )
    assert match, line
    assert _count(filled) == before - number(match.group(1))
