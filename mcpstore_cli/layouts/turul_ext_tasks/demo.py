"""Realistic ext-tasks documents for ``demo --layout ext-tasks``: a day of a 2026-07-28 lane
server without a retention policy. Every status; live tasks waiting for input with their
outstanding requests; some abandoned (no update for hours), some past their ``ttlMs``, most
with ``ttlMs`` null (unlimited); some bound to an owner. Ids are UUID v4 in simple form, times
milliseconds with ``Z``, exactly as the server writes them."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from mcpstore_cli.model.demo import DemoPlan
from mcpstore_cli.util.rfc3339 import format_millis_z

_MS = 1_000_000
OWNERS = ["alice@example.com", "svc-reporting", "bob@example.com"]


def document(
    task_id: str,
    *,
    status: str,
    created_ns: int,
    updated_ns: int,
    ttl_ms: float | None,
    poll_ms: float | None,
    message: str | None,
    owner: str | None,
    result: Any = None,
    error: Any = None,
    input_requests: Any = None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {"taskId": task_id}
    if message is not None:
        fields["statusMessage"] = message
    fields["createdAt"] = format_millis_z(created_ns)
    fields["lastUpdatedAt"] = format_millis_z(updated_ns)
    fields["ttlMs"] = ttl_ms
    if poll_ms is not None:
        fields["pollIntervalMs"] = poll_ms
    return {
        "fields": fields,
        "status": status,
        "owner": owner,
        "input_requests": input_requests,
        "collected_responses": {},
        "request_state": None,
        "result": result,
        "error": error,
    }


def documents(count: int, *, now_ns: int, seed: int | None = None) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed if seed is not None else os.getpid() ^ now_ns)
    day_ms = 24 * 3600 * 1000
    for back in sorted((rng.randrange(day_ms) for _ in range(count)), reverse=True):
        created = now_ns - back * _MS
        task_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        ttl = rng.choice([None, None, None, 60_000.0, 3_600_000.0])
        poll = rng.choice([None, 500.0, 1000.0])
        owner = rng.choice([None, None, *OWNERS])
        roll = rng.random()
        kw: dict[str, Any] = {}
        if roll < 0.5:
            status, message = "completed", None
            kw["result"] = {"content": [{"type": "text", "text": "done"}], "isError": False}
            updated = created + rng.randrange(100, 90_000) * _MS
        elif roll < 0.62:
            status, message = "failed", "tool failed"
            kw["error"] = {"code": -32603, "message": "upstream returned 502"}
            updated = created + rng.randrange(100, 60_000) * _MS
        elif roll < 0.7:
            status, message = "cancelled", None
            updated = created + rng.randrange(100, 30_000) * _MS
        elif roll < 0.88:
            status, message = "working", "executing tool"
            fresh = rng.random() < 0.5
            updated = now_ns - rng.randrange(500, 20_000) * _MS if fresh else created + 2000 * _MS
        else:
            status, message = "input_required", "waiting for confirmation"
            updated = created + rng.randrange(1000, 120_000) * _MS
            kw["input_requests"] = {
                "confirm": {
                    "method": "elicitation/create",
                    "params": {
                        "message": "Delete 14 files?",
                        "requestedSchema": {
                            "type": "object",
                            "properties": {"ok": {"type": "boolean"}},
                        },
                    },
                }
            }
        updated = max(min(updated, now_ns), created)
        yield document(
            task_id,
            status=status,
            created_ns=created,
            updated_ns=updated,
            ttl_ms=ttl,
            poll_ms=poll,
            message=message,
            owner=owner,
            **kw,
        )


class DemoBatches:
    """What the ext-tasks stores' ``write_demo`` takes: ``(documents, [])`` batches."""

    def __init__(self, plan: DemoPlan, now_ms: int) -> None:
        self.plan = plan
        self.now_ms = now_ms

    def __aiter__(self) -> AsyncIterator[tuple[list[dict[str, Any]], list[object]]]:
        return self._run()

    async def _run(self) -> AsyncIterator[tuple[list[dict[str, Any]], list[object]]]:
        batch: list[dict[str, Any]] = []
        for doc in documents(self.plan.sessions, now_ns=self.now_ms * _MS, seed=self.plan.seed):
            batch.append(doc)
            if len(batch) >= self.plan.batch_rows:
                yield batch, []
                batch = []
        if batch:
            yield batch, []
