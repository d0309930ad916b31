"""turul's 2025 task table on DynamoDB, declared once (more-layouts.md §1, "DynamoDB").

One table (default ``mcp-tasks``, env ``MCP_TASK_TABLE``), attributes named here by their
snake_case names (older tables); current servers write the camelCase form (:func:`camel`).
``ttl`` is the task's lifetime in ms, not DynamoDB's time to live, which is ``ttlEpoch``.
"""

from __future__ import annotations

from mcpstore_cli.layouts.dynamodecl import BILLING_MODE, Index, Key, Table, camel

__all__ = ["BILLING_MODE", "DEFAULT_TABLE", "NO_TTL_EPOCH_S", "TASKS", "TTL_EPOCH", "camel"]

DEFAULT_TABLE = "mcp-tasks"
TTL_EPOCH = "ttl_epoch"  # DynamoDB's time to live: epoch seconds
NO_TTL_EPOCH_S = 60 * 60  # a task without ttl: created + 60 min

TASKS = Table(
    keys=(Key("task_id", "HASH"),),
    attributes={
        "task_id": "S",
        "session_id": "S",  # absent when none
        "status": "S",
        "status_message": "S",  # absent when none
        "created_at": "S",  # RFC 3339
        "last_updated_at": "S",
        "ttl": "N",  # ms from creation
        "poll_interval": "N",  # ms
        "original_method": "S",
        "original_params": "S",  # JSON text
        "result": "S",  # JSON text
        "meta": "S",  # JSON text
        TTL_EPOCH: "N",
    },
    indexes=(
        Index("SessionIndex", (Key("session_id", "HASH"), Key("created_at", "RANGE")), "ALL"),
        Index("StatusIndex", (Key("status", "HASH"), Key("created_at", "RANGE")), "ALL"),
    ),
    ttl=TTL_EPOCH,
)
