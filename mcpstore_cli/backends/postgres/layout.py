"""turul's session layout as PostgreSQL holds it, generated from the layout's tables
(:mod:`mcpstore_cli.layouts.turul_sessions.schema`): the DDL, the indexes, the columns and
keys ``setup --check`` expects the catalog to show, the COPY column lists and what a column
cannot hold."""

from __future__ import annotations

import functools
import re

from mcpstore_cli.backends.sql import ddl
from mcpstore_cli.layouts.turul_sessions import schema
from mcpstore_cli.model.backup import RestoreLimits

DIALECT = "postgresql"

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {t.name: ddl.primary_key(t) for t in schema.TABLES}

# The columns that identify the layout; a table without one of them is in another layout.
# (SQLite asks for every column of its tables: the two backends differed so before this
# declaration, and still do.)
REQUIRED: dict[str, set[str]] = {
    t.name: {c.name for c in ddl.columns(t, DIALECT) if c.info.get("identifies")}
    for t in schema.TABLES
}


RESTORE_LIMITS = RestoreLimits(
    store="PostgreSQL",
    session_id=ddl.length(schema.sessions.c.session_id, DIALECT),
    event_type=ddl.length(schema.events.c.event_type, DIALECT),
    nul_in_json=False,  # jsonb cannot hold \u0000
)


@functools.cache
def table_ddl() -> tuple[str, ...]:
    return tuple(ddl.create_table(t, DIALECT) for t in schema.TABLES)


@functools.cache
def expected_indexes() -> dict[str, tuple[str, tuple[str, ...], str | None]]:
    """name: (table, columns, partial-index predicate), in the order setup creates them."""
    specs = ddl.index_specs(schema.indexes(), DIALECT)
    return {i.name: (i.table, i.columns, i.where) for i in specs}


@functools.cache
def index_ddl(name: str) -> str:
    index = next(i for i in schema.indexes() if i.name == name)
    return ddl.create_index(index, DIALECT)


@functools.cache
def copy_columns(table: str) -> tuple[str, ...]:
    """The columns COPY fills, in table order: all but a serial key, whose values come from
    its sequence, as the server's do."""
    specs = ddl.column_specs(schema.metadata.tables[table], DIALECT)
    return tuple(spec.name for spec in specs if not spec.serial)


def ddl_statements() -> list[str]:
    return [*table_ddl(), *(index_ddl(name) for name in expected_indexes())]


# What format_type() prints for the types the DDL writes, where it differs from lower case.
_CATALOG_TYPES = {
    "varchar": "character varying",
    "serial": "integer",
    "bigserial": "bigint",
    "smallserial": "smallint",
    "timestamptz": "timestamp with time zone",
}


def _catalog_type(declared: str) -> str:
    name, _, size = declared.lower().partition("(")
    name = _CATALOG_TYPES.get(name, name)
    return f"{name}({size}" if size else name


def _catalog_default(spec: ddl.ColumnSpec, catalog_type: str) -> str | None:
    """The default as pg_get_expr() prints it; "nextval(" stands for any sequence."""
    if spec.serial:
        return "nextval("
    if spec.default is None:
        return None
    if re.fullmatch(r"'.*'", spec.default, re.DOTALL):
        return f"{spec.default}::{catalog_type}"  # a string constant is shown with its cast
    return spec.default.lower()  # keywords (FALSE) in lower case, numbers as they are


@functools.cache
def expected_columns() -> dict[str, list[tuple[str, str, bool, str | None]]]:
    """(name, type as format_type() prints it, NOT NULL, default as pg_get_expr() prints it)
    per table (a primary key column is NOT NULL)."""
    out: dict[str, list[tuple[str, str, bool, str | None]]] = {}
    for table in schema.TABLES:
        rows = []
        for spec in ddl.column_specs(table, DIALECT):
            catalog_type = _catalog_type(spec.type)
            rows.append(
                (
                    spec.name,
                    catalog_type,
                    spec.not_null or spec.primary_key,
                    _catalog_default(spec, catalog_type),
                )
            )
        out[table.name] = rows
    return out
