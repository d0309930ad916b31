"""turul's session layout as SQLite holds it, generated from the layout's tables
(:mod:`mcpstore_cli.layouts.turul_sessions.schema`): the DDL, the indexes, and the columns
``setup --check`` expects ``PRAGMA table_info`` to report."""

from __future__ import annotations

import functools

from mcpstore_cli.backends.sql import ddl
from mcpstore_cli.layouts.turul_sessions import schema

DIALECT = "sqlite"

# Columns a reader needs; a table without them is in another layout.
REQUIRED: dict[str, set[str]] = {
    t.name: {c.name for c in ddl.columns(t, DIALECT)} for t in schema.TABLES
}


@functools.cache
def expected_indexes() -> dict[str, tuple[str, tuple[str, ...]]]:
    """name: (table, columns), in the order setup creates them."""
    return {i.name: (i.table, i.columns) for i in ddl.index_specs(schema.indexes(), DIALECT)}


@functools.cache
def ddl_statements() -> tuple[str, ...]:
    return tuple(ddl.create_statements(schema.TABLES, schema.indexes(), DIALECT))


@functools.cache
def expected_columns() -> dict[str, list[tuple[str, str, bool, str | None, bool]]]:
    """(name, declared type, not null, default as SQLite reports it, primary key) per table:
    ``PRAGMA table_info`` reports the DDL's own words."""
    return {
        t.name: [
            (c.name, c.type, c.not_null, c.default, c.primary_key)
            for c in ddl.column_specs(t, DIALECT)
        ]
        for t in schema.TABLES
    }
