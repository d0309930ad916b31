"""py-key-value's DynamoDB table, declared once (more-layouts.md §4, "DynamoDB"): key
``collection`` (HASH) and ``key`` (RANGE), on-demand billing, time to live on ``ttl`` (whole
epoch seconds); the entry document, as Redis holds it, in the string attribute ``value``. The
operator names the table; there is no default."""

from __future__ import annotations

from mcpstore_cli.layouts.dynamodecl import BILLING_MODE, Key, Table

__all__ = ["BILLING_MODE", "KV_TABLE", "TTL", "VALUE"]

TTL = "ttl"
VALUE = "value"

KV_TABLE = Table(
    keys=(Key("collection", "HASH"), Key("key", "RANGE")),
    attributes={"collection": "S", "key": "S", VALUE: "S", TTL: "N"},
    ttl=TTL,
)
