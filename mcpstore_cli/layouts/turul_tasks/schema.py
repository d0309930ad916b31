"""The ``tasks`` table of turul's 2025 task store on SQL stores, declared once (more-layouts.md
§1): SQLite keeps JSON as text, PostgreSQL as JSONB, with a row ``version`` and a partial
index of live tasks on top. DDL, ``setup --check`` expectations and the statements the SQL
backends run are generated from this (see ``backends/sql/ddl.py``); the golden test
(tests/test_tasks.py) holds the generated DDL to the spec's text.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from mcpstore_cli.layouts.sqltypes import JSONB

_JSON = sa.Text().with_variant(JSONB(), "postgresql")
_MILLIS = sa.Integer().with_variant(sa.BigInteger(), "postgresql")
_PG_ONLY: dict[str, Any] = {"only": "postgresql"}
_IDENTIFIES: dict[str, Any] = {"identifies": True}

metadata = sa.MetaData()

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("task_id", sa.Text, primary_key=True, info=_IDENTIFIES),
    sa.Column("session_id", sa.Text().with_variant(sa.String(36), "postgresql"), nullable=True),
    sa.Column(
        "status", sa.Text, nullable=False, server_default=sa.text("'working'"), info=_IDENTIFIES
    ),
    sa.Column("status_message", sa.Text, nullable=True),
    sa.Column("created_at", sa.Text, nullable=False, info=_IDENTIFIES),
    sa.Column("last_updated_at", sa.Text, nullable=False, info=_IDENTIFIES),
    sa.Column("ttl", _MILLIS, nullable=True),
    sa.Column("poll_interval", _MILLIS, nullable=True),
    sa.Column("original_method", sa.Text, nullable=False, info=_IDENTIFIES),
    sa.Column("original_params", _JSON, nullable=True),
    sa.Column("result", _JSON, nullable=True),
    sa.Column("meta", _JSON, nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1"), info=_PG_ONLY),
)

TABLES = (tasks,)


@functools.cache
def indexes() -> tuple[sa.Index, ...]:
    """The indexes in the order the server creates them (a function: see the sessions layout's
    ``indexes`` for why)."""
    return (
        sa.Index("idx_tasks_list", tasks.c.created_at, tasks.c.task_id),
        sa.Index("idx_tasks_session", tasks.c.session_id, tasks.c.created_at, tasks.c.task_id),
        sa.Index("idx_tasks_status", tasks.c.status),
        sa.Index(
            "idx_tasks_active",
            tasks.c.last_updated_at,
            info=_PG_ONLY,
            postgresql_where=sa.text("status IN ('working', 'input_required')"),
        ),
    )
