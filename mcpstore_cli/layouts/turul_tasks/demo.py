"""Realistic tasks for ``demo --layout tasks``: what a turul server on the 2025-11-25 lane
leaves in its task store after a day of tool calls.

Every status appears; some live tasks are stuck (not updated for hours, as after a crash),
some tasks are past their ttl (the server's expiry has not run), some have no ttl at all.
Ids are UUID v7 in simple form, times chrono's RFC 3339 (``+00:00``, 9 fraction digits).
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Iterator

from mcpstore_cli.model.demo import DemoPlan
from mcpstore_cli.model.tasks import Task
from mcpstore_cli.util.rfc3339 import format_chrono

_MS = 1_000_000  # ns

TOOLS: list[tuple[str, dict[str, object]]] = [
    ("search_docs", {"query": "rate limits", "limit": 10}),
    ("run_query", {"sql": "SELECT count(*) FROM orders WHERE day = current_date"}),
    ("summarize_file", {"path": "/srv/reports/q3.pdf"}),
    ("fetch_url", {"url": "https://example.com/status"}),
    ("generate_report", {"period": "weekly", "format": "markdown"}),
    ("index_repository", {"repo": "acme/payments", "ref": "main"}),
]
OTHER_METHODS: list[tuple[str, dict[str, object]]] = [
    ("resources/read", {"uri": "file:///srv/data/customers.csv"}),
    ("prompts/get", {"name": "incident-review", "arguments": {"severity": "high"}}),
    ("sampling/createMessage", {"messages": [], "maxTokens": 800}),
]
ERRORS = [
    {"code": -32603, "message": "upstream timed out after 30s"},
    {"code": -32602, "message": "invalid params: 'path' does not exist"},
    {"code": -32000, "message": "tool failed", "data": {"exitCode": 2, "stderr": "disk full"}},
]


def uuid7(ms: int, rng: random.Random) -> str:
    """A UUID v7 (time-ordered) in simple form, as ``Uuid::now_v7().simple()`` writes it."""
    rand_a = rng.getrandbits(12)
    rand_b = rng.getrandbits(62)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return f"{value:032x}"


def _call(rng: random.Random) -> tuple[str, dict[str, object]]:
    if rng.random() < 0.8:
        name, arguments = rng.choice(TOOLS)
        return "tools/call", {"name": name, "arguments": arguments}
    method, params = rng.choice(OTHER_METHODS)
    return method, params


def _success(method: str, rng: random.Random) -> object:
    if method == "tools/call":
        text = rng.choice(["42 rows", "Report written (3 pages).", "OK: 200", "7 matches"])
        return {"content": [{"type": "text", "text": text}], "isError": False}
    if method == "resources/read":
        return {"contents": [{"uri": "file:///srv/data/customers.csv", "text": "id,name\n"}]}
    return {"messages": [{"role": "user", "content": {"type": "text", "text": "Review"}}]}


def tasks(count: int, *, now_ns: int, seed: int | None = None) -> Iterator[Task]:
    """``count`` tasks created over the last day, oldest first."""
    rng = random.Random(seed if seed is not None else os.getpid() ^ now_ns)
    sessions = [uuid7(now_ns // _MS - rng.randrange(86_400_000), rng) for _ in range(8)]
    day_ms = 24 * 3600 * 1000
    starts = sorted(rng.randrange(day_ms) for _ in range(count))
    for back in reversed(starts):
        created_ms = now_ns // _MS - back
        created_ns = created_ms * _MS + rng.randrange(_MS)
        method, params = _call(rng)
        ttl = rng.choice([None, 60_000, 300_000, 3_600_000, 3_600_000, 86_400_000])
        roll = rng.random()
        status_message: str | None = None
        result: object = None
        if roll < 0.55:
            status = "completed"
            result = {"Success": _success(method, rng)}
            updated_ns = created_ns + rng.randrange(200, 120_000) * _MS
        elif roll < 0.68:
            status = "failed"
            error = dict(rng.choice(ERRORS))
            result = {"Error": error}
            status_message = str(error["message"])
            updated_ns = created_ns + rng.randrange(200, 60_000) * _MS
        elif roll < 0.75:
            status = "cancelled"
            status_message = "Cancelled by client"
            updated_ns = created_ns + rng.randrange(200, 30_000) * _MS
        elif roll < 0.9:
            status = "working"
            status_message = rng.choice(["executing tool", "waiting for upstream", None])
            # Most live tasks were updated moments ago; the rest are stuck.
            if rng.random() < 0.6:
                updated_ns = now_ns - rng.randrange(1_000, 30_000) * _MS
            else:
                updated_ns = created_ns + rng.randrange(1_000, 60_000) * _MS
        else:
            status = "input_required"
            status_message = "waiting for the user to confirm"
            updated_ns = created_ns + rng.randrange(1_000, 300_000) * _MS
        updated_ns = max(min(updated_ns, now_ns), created_ns)
        yield Task(
            task_id=uuid7(created_ms, rng),
            status=status,
            created_at=format_chrono(created_ns),
            last_updated_at=format_chrono(updated_ns),
            created_ns=created_ns,
            updated_ns=updated_ns,
            method=method,
            session_id=rng.choice(sessions) if rng.random() < 0.85 else None,
            status_message=status_message,
            ttl_ms=ttl,
            poll_interval_ms=rng.choice([None, 500, 1000, 2000]),
            params=params,
            result=result,
            meta={"progressToken": rng.randrange(1, 10_000)} if rng.random() < 0.3 else None,
        )


class DemoBatches:
    """What ``TaskStore.write_demo`` takes: an async iterator of ``(tasks, [])`` batches
    (``demo``'s ``--sessions N`` is the number of tasks; tasks have no events)."""

    def __init__(self, plan: DemoPlan, now_ms: int) -> None:
        self.plan = plan
        self.now_ms = now_ms

    def __aiter__(self) -> AsyncIterator[tuple[list[Task], list[object]]]:
        return self._run()

    async def _run(self) -> AsyncIterator[tuple[list[Task], list[object]]]:
        batch: list[Task] = []
        now_ns = self.now_ms * _MS
        for task in tasks(self.plan.sessions, now_ns=now_ns, seed=self.plan.seed):
            batch.append(task)
            if len(batch) >= self.plan.batch_rows:
                yield batch, []
                batch = []
        if batch:
            yield batch, []
