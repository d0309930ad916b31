"""turul's session layout on SQL stores, declared once: the tables ``sessions`` and ``events``
of SQLite and PostgreSQL and their indexes (storage-layouts.md, "SQLite" and "PostgreSQL").

Everything else is generated from this declaration: each backend's DDL (``setup``,
``setup --dry-run``) by ``backends/sql/ddl.py`` with SQLAlchemy's DDL compilers; what
``setup --check`` expects of the catalog, the COPY column lists and the longest values a
restore may bring by ``backends/sqlite/layout.py`` and ``backends/postgres/layout.py``; and the
SQL backends build their statements on these tables. The golden tests
(tests/test_layout_schema.py) hold the generated DDL to the spec's text, and the catalog it
makes to the one the spec's DDL makes. The DynamoDB layout is declared beside this, in
``dynamodb.py``.

Where the two backends differ, the type has a PostgreSQL variant; what exists on one backend
only is marked with ``info={"only": <dialect>}`` (PostgreSQL's row ``version`` and four of its
indexes). SQLite's statements never name ``version``: the SQL backends refer to it only when
the store is ``versioned``. This module imports SQLAlchemy (not its PostgreSQL dialect): import
it only where tables are needed (setup, check, the SQL backends), never at start-up.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from mcpstore_cli.layouts.sqltypes import JSONB

# JSON is text on SQLite and JSONB on PostgreSQL.
_JSON = sa.Text().with_variant(JSONB(), "postgresql")
_SESSION_ID = sa.Text().with_variant(sa.String(36), "postgresql")
_MILLIS = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_EMPTY_OBJECT = sa.text("'{}'")

_PG_ONLY: dict[str, Any] = {"only": "postgresql"}
# The columns that tell this layout apart from another one of the same table names (on
# PostgreSQL a store missing any of them is "in another layout"; SQLite asks for every column).
_IDENTIFIES: dict[str, Any] = {"identifies": True}

metadata = sa.MetaData()

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("session_id", _SESSION_ID, primary_key=True, info=_IDENTIFIES),
    sa.Column("client_capabilities", _JSON, nullable=True),
    sa.Column("server_capabilities", _JSON, nullable=False),
    sa.Column("state", _JSON, nullable=False, server_default=_EMPTY_OBJECT, info=_IDENTIFIES),
    sa.Column("created_at", _MILLIS, nullable=False, info=_IDENTIFIES),
    sa.Column("last_activity", _MILLIS, nullable=False, info=_IDENTIFIES),
    sa.Column(
        "is_initialized",
        sa.Boolean(create_constraint=False),
        nullable=False,
        server_default=sa.text("FALSE"),
        info=_IDENTIFIES,
    ),
    sa.Column("metadata", _JSON, nullable=False, server_default=_EMPTY_OBJECT),
    # Incremented by every server write (and every mcpstore update): an optimistic lock.
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1"), info=_PG_ONLY),
)

events = sa.Table(
    "events",
    metadata,
    # One counter for the whole table: SQLite's AUTOINCREMENT, PostgreSQL's BIGSERIAL.
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
        info=_IDENTIFIES,
    ),
    sa.Column(
        "session_id",
        _SESSION_ID,
        sa.ForeignKey("sessions.session_id", ondelete="CASCADE"),
        nullable=False,
        info=_IDENTIFIES,
    ),
    sa.Column("timestamp", _MILLIS, nullable=False, info=_IDENTIFIES),
    sa.Column(
        "event_type",
        sa.Text().with_variant(sa.String(100), "postgresql"),
        nullable=False,
        info=_IDENTIFIES,
    ),
    sa.Column("data", _JSON, nullable=False, info=_IDENTIFIES),
    sa.Column("retry", sa.Integer, nullable=True),
    sqlite_autoincrement=True,
)


@functools.cache
def indexes() -> tuple[sa.Index, ...]:
    """The indexes, in the order setup creates them; PostgreSQL builds them CONCURRENTLY, as
    the server does (a running server is not blocked).

    A function, called where DDL or a check is made: SQLAlchemy loads its PostgreSQL dialect to
    validate ``postgresql_*`` options, which reading a SQLite store never needs. (Each index
    joins its table's ``indexes`` when made, as any SQLAlchemy index does.)"""
    return (
        sa.Index(
            "idx_sessions_last_activity", sessions.c.last_activity, postgresql_concurrently=True
        ),
        sa.Index(
            "idx_sessions_created_at",
            sessions.c.created_at,
            info=_PG_ONLY,
            postgresql_concurrently=True,
        ),
        sa.Index("idx_events_session_id", events.c.session_id, postgresql_concurrently=True),
        sa.Index(
            "idx_events_session_timestamp",
            events.c.session_id,
            events.c.timestamp,
            info=_PG_ONLY,
            postgresql_concurrently=True,
        ),
        sa.Index(
            "idx_events_session_id_id",
            events.c.session_id,
            events.c.id,
            postgresql_concurrently=True,
        ),
        sa.Index(
            "idx_events_timestamp", events.c.timestamp, info=_PG_ONLY, postgresql_concurrently=True
        ),
        sa.Index(
            "idx_sessions_active",
            sessions.c.last_activity,
            postgresql_where=sa.text("is_initialized = TRUE"),
            info=_PG_ONLY,
            postgresql_concurrently=True,
        ),
    )


TABLES: tuple[sa.Table, ...] = (sessions, events)
