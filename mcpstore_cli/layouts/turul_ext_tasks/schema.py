"""The ``ext_tasks`` table on SQL stores, declared once (more-layouts.md §2): SQLite keeps the
last update as text and the document as JSON text, PostgreSQL as TIMESTAMPTZ and JSONB."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from mcpstore_cli.layouts.sqltypes import JSONB, TIMESTAMPTZ

_IDENTIFIES: dict[str, Any] = {"identifies": True}


metadata = sa.MetaData()

ext_tasks = sa.Table(
    "ext_tasks",
    metadata,
    sa.Column("task_id", sa.Text, primary_key=True, info=_IDENTIFIES),
    sa.Column("status", sa.Text, nullable=False, info=_IDENTIFIES),
    sa.Column(
        "last_updated_at",
        sa.Text().with_variant(TIMESTAMPTZ(), "postgresql"),
        nullable=False,
        info=_IDENTIFIES,
    ),
    sa.Column(
        "state", sa.Text().with_variant(JSONB(), "postgresql"), nullable=False, info=_IDENTIFIES
    ),
)

TABLES = (ext_tasks,)


@functools.cache
def indexes() -> tuple[sa.Index, ...]:
    return (sa.Index("idx_ext_tasks_sweep", ext_tasks.c.status, ext_tasks.c.last_updated_at),)
