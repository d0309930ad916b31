"""turul's ext-tasks table on DynamoDB, declared once (more-layouts.md §2, "DynamoDB"): key
``taskId`` only, no GSI, the document in ``state``, an optimistic revision ``rev`` that every
write checks and increments, and DynamoDB's time to live on ``ttlEpoch`` (written only when a
retention policy set one). The operator names the table; there is no default."""

from __future__ import annotations

from mcpstore_cli.layouts.dynamodecl import BILLING_MODE, Key, Table

__all__ = ["BILLING_MODE", "EXT_TASKS", "REV", "TTL_EPOCH"]

TTL_EPOCH = "ttlEpoch"
REV = "rev"

# Names as the server writes them (camelCase only: this table is newer than snake_case).
EXT_TASKS = Table(
    keys=(Key("taskId", "HASH"),),
    attributes={"taskId": "S", "state": "S", "status": "S", REV: "N", TTL_EPOCH: "N"},
    ttl=TTL_EPOCH,
)
