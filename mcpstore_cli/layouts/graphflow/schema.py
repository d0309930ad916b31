"""GraphFlow's ``sessions`` table, declared once as SQLAlchemy MetaData.

Everything else is derived from :data:`SESSIONS`: the DDL ``setup`` runs (:data:`SESSIONS_DDL`,
rendered by :func:`create_table_sql` in the form ``graph-flow`` itself runs), the columns
``setup --check`` expects (:data:`EXPECTED_COLUMNS`, as PostgreSQL's catalog prints them) and
the primary key.

Why a renderer of our own: SQLAlchemy's ``CreateTable`` prints ``TIMESTAMP WITH TIME ZONE``
and a table-level ``PRIMARY KEY (id)`` with ``id UUID NOT NULL``. That builds the same catalog
(a test compares both on a real server), but not the text GraphFlow runs, which ``setup
--dry-run`` must print. :func:`create_table_sql` renders the columns of the MetaData in
GraphFlow's spelling instead; the golden test holds it to the spec's text.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

metadata = sa.MetaData()

SESSIONS = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("graph_id", sa.Text, nullable=False),
    sa.Column("current_task_id", sa.Text, nullable=False),
    sa.Column("status_message", sa.Text, nullable=True),
    sa.Column("context", pg.JSONB, nullable=False),
    sa.Column("created_at", pg.TIMESTAMP(timezone=True), server_default=sa.text("NOW()")),
    sa.Column("updated_at", pg.TIMESTAMP(timezone=True), server_default=sa.text("NOW()")),
)

# The type names GraphFlow writes where PostgreSQL's compiler spells them out.
_SHORT_TYPES = {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ"}


def _type_sql(column: sa.Column[object]) -> str:
    text = column.type.compile(dialect=pg.dialect())
    return _SHORT_TYPES.get(text, text)


def create_table_sql(table: sa.Table) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for ``table``, one column a line, as GraphFlow writes
    it: an inline ``PRIMARY KEY`` on a one-column key, ``NOT NULL`` only where the key does
    not imply it, server defaults as declared."""
    keys = [c.name for c in table.primary_key.columns]
    lines = []
    for column in table.columns:
        parts = [column.name, _type_sql(column)]
        if keys == [column.name]:
            parts.append("PRIMARY KEY")
        elif not column.nullable:
            parts.append("NOT NULL")
        default = column.server_default
        if default is not None:
            arg = default.arg  # type: ignore[attr-defined]
            parts.append(f"DEFAULT {arg.text if hasattr(arg, 'text') else arg}")
        lines.append("    " + " ".join(parts))
    if len(keys) > 1:
        lines.append(f"    PRIMARY KEY ({', '.join(keys)})")
    return f"CREATE TABLE IF NOT EXISTS {table.name} (\n" + ",\n".join(lines) + "\n)"


SESSIONS_DDL = create_table_sql(SESSIONS)

# The catalog's spelling of each declared type (format_type()) and default (pg_get_expr()).
_CATALOG_TYPES = {
    "UUID": "uuid",
    "TEXT": "text",
    "JSONB": "jsonb",
    "TIMESTAMPTZ": "timestamp with time zone",
}
_CATALOG_DEFAULTS = {"NOW()": "now()"}


def _expected(table: sa.Table) -> list[tuple[str, str, bool, str | None]]:
    out = []
    for column in table.columns:
        default = column.server_default
        text = None
        if default is not None:
            arg = default.arg  # type: ignore[attr-defined]
            raw = arg.text if hasattr(arg, "text") else str(arg)
            text = _CATALOG_DEFAULTS.get(raw, raw)
        out.append(
            (
                column.name,
                _CATALOG_TYPES[_type_sql(column)],
                not column.nullable or column.primary_key,
                text,
            )
        )
    return out


# (name, type as format_type() prints it, NOT NULL, default as pg_get_expr() prints it)
EXPECTED_COLUMNS: dict[str, list[tuple[str, str, bool, str | None]]] = {
    "sessions": _expected(SESSIONS)
}
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "sessions": tuple(c.name for c in SESSIONS.primary_key.columns)
}

# GraphFlow's own write (PostgresSessionStorage::save): an upsert that keeps the newer row.
UPSERT_SQL = """INSERT INTO sessions
    (id, graph_id, current_task_id, status_message, context, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (id) DO UPDATE SET
    graph_id = EXCLUDED.graph_id,
    current_task_id = EXCLUDED.current_task_id,
    status_message = EXCLUDED.status_message,
    context = EXCLUDED.context,
    updated_at = EXCLUDED.updated_at
WHERE sessions.updated_at <= EXCLUDED.updated_at"""
