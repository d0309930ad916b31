"""The server-state tables on SQL stores, declared once (more-layouts.md §3)."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from mcpstore_cli.layouts.sqltypes import JSONB, TIMESTAMPTZ

_IDENTIFIES: dict[str, Any] = {"identifies": True}
_PG_ONLY: dict[str, Any] = {"only": "postgresql"}
_TIME = sa.Text().with_variant(TIMESTAMPTZ(), "postgresql")
_NOW: dict[str, Any] = {"identifies": True, "defaults": {"postgresql": "NOW()"}}

metadata = sa.MetaData()

entity_state = sa.Table(
    "server_entity_state",
    metadata,
    sa.Column("entity_type", sa.Text, primary_key=True, nullable=False, info=_IDENTIFIES),
    sa.Column("entity_id", sa.Text, primary_key=True, nullable=False, info=_IDENTIFIES),
    sa.Column(
        "active",
        sa.Integer().with_variant(sa.Boolean(create_constraint=False), "postgresql"),
        nullable=False,
        server_default=sa.text("1"),
        info={"identifies": True, "defaults": {"postgresql": "true"}},
    ),
    sa.Column("metadata", sa.Text().with_variant(JSONB(), "postgresql"), nullable=True),
    sa.Column("updated_at", _TIME, nullable=False, info=_NOW),
)

fingerprints = sa.Table(
    "server_fingerprints",
    metadata,
    sa.Column(
        "entity_type",
        sa.Text,
        primary_key=True,
        nullable=False,
        info={"identifies": True, "not_null_key": True},
    ),
    sa.Column("fingerprint", sa.Text, nullable=False, info=_IDENTIFIES),
    sa.Column("updated_at", _TIME, nullable=False, info=_NOW),
)

TABLES = (entity_state, fingerprints)


@functools.cache
def indexes() -> tuple[sa.Index, ...]:
    return (
        sa.Index(
            "idx_server_entity_state_type_active",
            entity_state.c.entity_type,
            info=_PG_ONLY,
            postgresql_where=sa.text("active = true"),
            postgresql_concurrently=True,
        ),
    )
