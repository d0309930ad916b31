"""py-key-value's PostgreSQL table, declared once (more-layouts.md §4, "PostgreSQL"). The table
name is the operator's (``--table``, default ``kv_store``); the index is named after it."""

from __future__ import annotations

import re

from mcpstore_cli.layouts.fastmcp import DEFAULT_TABLE

# column -> (type as pg_catalog.format_type shows it, NOT NULL)
COLUMNS: dict[str, tuple[str, bool]] = {
    "collection": ("text", True),
    "key": ("text", True),
    "value": ("jsonb", True),
    "ttl": ("double precision", False),
    "created_at": ("timestamp with time zone", False),
    "expires_at": ("timestamp with time zone", False),
}
PRIMARY_KEY = ("collection", "key")
# What a table must have to be read as this layout.
REQUIRED = frozenset({"collection", "key", "value", "expires_at"})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def valid_table(name: str) -> bool:
    """py-key-value accepts plain identifiers only (letters, digits, underscores)."""
    return bool(_NAME.match(name))


def index_name(table: str = DEFAULT_TABLE) -> str:
    return f"idx_{table}_expires_at"


def table_ddl(table: str = DEFAULT_TABLE) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (collection TEXT NOT NULL, key TEXT NOT NULL, "
        "value JSONB NOT NULL, ttl DOUBLE PRECISION, created_at TIMESTAMPTZ, expires_at "
        "TIMESTAMPTZ, PRIMARY KEY (collection, key))"
    )


def index_ddl(table: str = DEFAULT_TABLE) -> str:
    return (
        f"CREATE INDEX IF NOT EXISTS {index_name(table)} ON {table}(expires_at) "
        "WHERE expires_at IS NOT NULL"
    )
