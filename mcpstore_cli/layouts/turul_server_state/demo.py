"""Server state as a turul server leaves it: its tools, resources and prompts registered by
entity type, a few deactivated, metadata on some, and a fingerprint per entity type (its
registry's hash), written at start-up with chrono's ``to_rfc3339()`` times."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

from mcpstore_cli.model.demo import DemoPlan
from mcpstore_cli.util.rfc3339 import format_chrono

NAMES = {
    "tools": [
        "search_docs",
        "run_query",
        "summarize_file",
        "fetch_url",
        "generate_report",
        "index_repository",
        "send_email",
        "create_ticket",
    ],
    "resources": ["file:///srv/data/customers.csv", "db://orders", "s3://reports/q3.pdf"],
    "prompts": ["incident-review", "code-review", "weekly-summary"],
}


def rows(plan: DemoPlan, now_ms: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """("entity", row) and ("fingerprint", row) items; ``plan.sessions`` caps the entities."""
    rng = random.Random(plan.seed)
    made = 0
    for entity_type, names in NAMES.items():
        active_ids = []
        for i, name in enumerate(names):
            if made >= plan.sessions:
                break
            made += 1
            active = rng.random() > 0.2
            meta = {"version": f"1.{i}", "tags": [entity_type[:-1]]} if rng.random() < 0.6 else None
            updated = (now_ms - rng.randrange(3_600_000)) * 1_000_000 + rng.randrange(1_000_000)
            yield (
                "entity",
                {
                    "entity_type": entity_type,
                    "entity_id": name,
                    "active": active,
                    "metadata": meta,
                    "updated_at": format_chrono(updated),
                },
            )
            if active:
                active_ids.append(name)
        digest = hashlib.sha256(",".join(sorted(active_ids)).encode()).hexdigest()[:16]
        yield (
            "fingerprint",
            {
                "entity_type": entity_type,
                "fingerprint": digest,
                "updated_at": format_chrono(now_ms * 1_000_000),
            },
        )


class DemoBatches:
    """``(items, [])`` in one batch: server state is small."""

    def __init__(self, plan: DemoPlan, now_ms: int) -> None:
        self.plan = plan
        self.now_ms = now_ms

    def __aiter__(self) -> AsyncIterator[tuple[list[tuple[str, dict[str, Any]]], list[object]]]:
        return self._run()

    async def _run(self) -> AsyncIterator[tuple[list[tuple[str, dict[str, Any]]], list[object]]]:
        yield list(rows(self.plan, self.now_ms)), []
