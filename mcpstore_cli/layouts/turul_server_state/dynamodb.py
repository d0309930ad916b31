"""turul's server state on DynamoDB, declared once (more-layouts.md §3, "DynamoDB"): one table
(default ``mcp-server-state``, env ``MCP_SERVER_STATE_TABLE``) keyed by ``entityType`` and
``entityId``; an entity's item holds ``active``, ``updatedAt`` (RFC 3339) and ``metadata``
(JSON text, absent when none); the fingerprint of an entity type is the item whose entityId is
``#fingerprint``, with the attribute ``fingerprint``. No index, no time to live."""

from __future__ import annotations

from mcpstore_cli.layouts.dynamodecl import BILLING_MODE, Key, Table

__all__ = ["BILLING_MODE", "DEFAULT_TABLE", "FINGERPRINT_ID", "STATE"]

DEFAULT_TABLE = "mcp-server-state"
FINGERPRINT_ID = "#fingerprint"

STATE = Table(
    keys=(Key("entityType", "HASH"), Key("entityId", "RANGE")),
    attributes={
        "entityType": "S",
        "entityId": "S",
        "active": "BOOL",
        "updatedAt": "S",
        "metadata": "S",
        "fingerprint": "S",  # the #fingerprint item only
    },
    ttl="",  # none
)
