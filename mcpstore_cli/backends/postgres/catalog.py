"""Reading PostgreSQL's catalog: the columns of the layout's tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


_COLUMNS_SQL = """
SELECT c.relname, c.relkind::text, a.attname, format_type(a.atttypid, a.atttypmod),
       a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
FROM pg_class c
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.oid IN (to_regclass('sessions'), to_regclass('events'))
ORDER BY c.relname, a.attnum
"""


def _columns_from_rows(
    rows: Any,
) -> tuple[dict[str, str], dict[str, list[tuple[str, str, bool, str | None]]]]:
    kinds: dict[str, str] = {}
    columns: dict[str, list[tuple[str, str, bool, str | None]]] = {}
    for relname, relkind, attname, typ, notnull, default in rows:
        kinds[relname] = relkind
        if attname is not None:
            columns.setdefault(relname, []).append((attname, typ, bool(notnull), default))
    return kinds, columns
