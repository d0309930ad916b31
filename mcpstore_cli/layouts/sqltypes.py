"""Column types the SQL layouts share (SQLAlchemy): PostgreSQL's ``jsonb`` and ``timestamptz``
as turul's servers write them. Each layout's ``schema.py`` declares its tables with these;
no layout imports another.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


class JSONB(sa.types.TypeDecorator[Any]):
    """PostgreSQL's jsonb, None stored as NULL (not JSON null): SQLAlchemy's own JSONB, looked
    up only when a statement is compiled for PostgreSQL, so that a SQLite store does not load
    SQLAlchemy's PostgreSQL dialect (50-120 ms here) to declare its tables."""

    impl = sa.JSON
    cache_ok = True
    # asyncpg's statements cast each parameter ($1::JSONB), as they did with JSONB itself.
    render_bind_cast = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        from sqlalchemy.dialects.postgresql import JSONB

        return dialect.type_descriptor(JSONB(none_as_null=True))


class TIMESTAMPTZ(sa.types.UserDefinedType[Any]):
    """PostgreSQL's ``timestamptz``, named in the DDL as the server writes it."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "TIMESTAMPTZ"
