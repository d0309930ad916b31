"""Errors an expire run reports, shared by the operation and the backends."""

from __future__ import annotations

from mcpstore_cli.errors import Interrupted
from mcpstore_cli.model.records import ExpireResult


def expire_interrupted(result: ExpireResult, batches: int | None) -> Interrupted:
    """Ctrl-C in expire: what the committed batches removed (``batches`` None: item by
    item, as on DynamoDB); the rest is untouched."""
    if batches == 0 or not result.rows:
        return Interrupted("expire had removed nothing yet; the store is unchanged.")
    if result.expired_entries:  # a key-value layout (FastMCP's): entries, not sessions
        parts = [f"{result.expired_entries:,} expired entries"]
    else:
        parts = [f"{result.sessions:,} sessions ({result.events:,} events)"]
    if result.trimmed:
        parts.append(f"{result.trimmed:,} trimmed events")
    if result.orphans:
        parts.append(f"{result.orphans:,} orphaned events")
    within = (
        "" if batches is None else f" in {batches:,} committed batch{'es' if batches != 1 else ''}"
    )
    return Interrupted(f"expire removed {' and '.join(parts)}{within}; the rest is untouched.")
