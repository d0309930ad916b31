"""The reading commands' SQL on SQLite, prepared from SQLAlchemy ahead of time.

Each statement here is the text SQLAlchemy compiles (``sqlite`` dialect, ``?`` parameters)
for the statement :class:`~mcpstore_cli.backends.sql.base.SqlStore` builds for the same read,
with its parameters in the same order, kept as plain strings so that ``list``, ``show`` and
``stats`` run on the standard library's ``sqlite3`` without loading SQLAlchemy (about 160 ms
of start-up). ``tests/test_prepared_sql.py`` compiles SqlStore's statements from the tables
SqliteStore builds and fails when either side changes without the other: after changing a
query in ``backends/sql/base.py`` (or the SQLite dialect hooks), copy its new text here.

Every function returns ``(sql, parameters)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcpstore_cli.model import ids as id_rule
from mcpstore_cli.model.records import AGE_BUCKETS, Cursor, SessionFilter

Query = tuple[str, list[Any]]

# SqlStore._session_columns() and _event_count_subquery(): a session row with its events.
SESSION_SELECT = (
    "SELECT sessions.session_id, "
    "sessions.client_capabilities AS client_capabilities, "
    "sessions.server_capabilities AS server_capabilities, "
    "sessions.state AS state, "
    "sessions.created_at, sessions.last_activity, sessions.is_initialized, "
    "sessions.metadata AS metadata, "
    "(SELECT count(*) AS count_1 \nFROM events \n"
    "WHERE events.session_id = sessions.session_id) AS event_count \n"
    "FROM sessions"
)

# SqliteStore.terminated_clause(): state.terminated is JSON true (false for unreadable state).
TERMINATED = (
    "coalesce(CASE WHEN (json_valid(sessions.state) = ?) "
    "THEN json_type(sessions.state, ?) END = ?, 0)"
)
TERMINATED_ARGS = (1, "$.terminated", "true")

PAGE_ORDER = " ORDER BY sessions.last_activity DESC, sessions.session_id DESC\n LIMIT ? OFFSET ?"


def page_query(flt: SessionFilter, limit: int, cursor: Cursor | None) -> Query:
    """SqlStore.list_statement(flt, limit=limit, cursor=cursor): one keyset page."""
    where: list[str] = []
    args: list[Any] = []
    if flt.idle_over_ms is not None:
        where.append("sessions.last_activity < ?")
        args.append(flt.now_ms - flt.idle_over_ms)
    if flt.active:
        where.append("sessions.last_activity >= ?")
        args.append(flt.now_ms - flt.timeout_ms)
        where.append(f"{TERMINATED} = 0")
        args += TERMINATED_ARGS
    if flt.terminated is True:
        where.append(f"{TERMINATED} = 1")
        args += TERMINATED_ARGS
    elif flt.terminated is False:
        where.append(f"{TERMINATED} = 0")
        args += TERMINATED_ARGS
    if flt.initialized is not None:
        where.append(f"sessions.is_initialized = {1 if flt.initialized else 0}")
    if flt.created_after is not None:
        where.append("sessions.created_at > ?")
        args.append(flt.created_after)
    if flt.created_before is not None:
        where.append("sessions.created_at < ?")
        args.append(flt.created_before)
    if cursor is not None:
        where.append("sessions.last_activity <= ?")
        where.append("(sessions.last_activity < ? OR sessions.session_id < ?)")
        args += [cursor.last_activity, cursor.last_activity, cursor.session_id]
    sql = SESSION_SELECT
    if where:
        sql += " \nWHERE " + " AND ".join(where)
    return sql + PAGE_ORDER, [*args, limit, 0]


def session_query(session_id: str) -> Query:
    """SqlStore.get_session: one session by id, with its event count."""
    return SESSION_SELECT + " \nWHERE sessions.session_id = ?", [session_id]


def existing_ids_query(ids: Sequence[str]) -> Query:
    """SqlStore.existing_session_ids: which of ``ids`` are stored (one IN list)."""
    marks = ", ".join(["?"] * len(ids))
    sql = f"SELECT sessions.session_id \nFROM sessions \nWHERE sessions.session_id IN ({marks})"
    return sql, list(ids)


def recent_events_query(session_id: str, limit: int) -> Query:
    """SqlStore.recent_events: a session's last ``limit`` events, newest first."""
    return (
        "SELECT events.id, events.session_id, events.timestamp, events.event_type, "
        "events.data AS data, events.retry \nFROM events \n"
        "WHERE events.session_id = ? ORDER BY events.id DESC\n LIMIT ? OFFSET ?"
    ), [session_id, limit, 0]


# SqlStore._prefix_condition: a range of the primary key, then the exact prefix test.
_PREFIX = (
    "sessions.session_id >= ? AND substr(sessions.session_id, ?, ?) = ? AND sessions.session_id < ?"
)


def prefix_queries(prefix: str, limit: int) -> tuple[Query, Query]:
    """SqlStore.prefix_statements: the first ``limit`` ids starting with ``prefix`` and how
    many do (counting at most COUNT_CAP + 1, read when asked: tests lower it)."""
    bounds = [prefix, 1, len(prefix), prefix, prefix + "\x7f"]
    first = (
        f"SELECT sessions.session_id \nFROM sessions \nWHERE {_PREFIX} "
        "ORDER BY sessions.session_id\n LIMIT ? OFFSET ?"
    )
    counted = (
        "SELECT count(*) AS count_1 \nFROM (SELECT ? AS anon_2 \nFROM sessions \n"
        f"WHERE {_PREFIX}\n LIMIT ? OFFSET ?) AS anon_1"
    )
    return (first, [*bounds, limit, 0]), (counted, [1, *bounds, id_rule.COUNT_CAP + 1, 0])


def _count_if(condition: str, label: str) -> str:
    return f"coalesce(sum(CASE WHEN {condition} THEN ? ELSE ? END), ?) AS {label}"


_COUNT_IF_ARGS = (1, 0, 0)
_BOUNDS = [bound for _, bound in AGE_BUCKETS if bound is not None]


def stats_queries(now_ms: int, timeout_ms: int) -> tuple[Query, Query]:
    """SqlStore.stats_statements: the sessions aggregate, and events per session."""
    columns = [
        "count(*) AS sessions",
        _count_if("(sessions.is_initialized = 1)", "initialized"),
        _count_if(TERMINATED, "terminated"),
        _count_if(f"(sessions.last_activity < ? AND {TERMINATED} = 0)", "idle"),
        "min(sessions.created_at) AS oldest_created",
        "max(sessions.created_at) AS newest_created",
        "min(sessions.last_activity) AS oldest_activity",
        "max(sessions.last_activity) AS newest_activity",
    ]
    args: list[Any] = [
        *_COUNT_IF_ARGS,
        *TERMINATED_ARGS,
        *_COUNT_IF_ARGS,
        now_ms - timeout_ms,
        *TERMINATED_ARGS,
        *_COUNT_IF_ARGS,
    ]
    for column, prefix in (("created_at", "age"), ("last_activity", "act")):
        for i, bound in enumerate(_BOUNDS):
            columns.append(_count_if(f"(sessions.{column} > ?)", f"{prefix}_{i}"))
            args += [now_ms - bound, *_COUNT_IF_ARGS]
    sessions = "SELECT " + ", ".join(columns) + " \nFROM sessions"
    distribution = (
        "SELECT per_session.n, count(*) AS groups, "
        + _count_if("(sessions.session_id IS NULL)", "orphan_groups")
        + " \nFROM (SELECT events.session_id AS sid, count(*) AS n \n"
        "FROM events GROUP BY events.session_id) AS per_session "
        "LEFT OUTER JOIN sessions ON sessions.session_id = per_session.sid "
        "GROUP BY per_session.n"
    )
    return (sessions, args), (distribution, [*_COUNT_IF_ARGS])


def metrics_queries(now_ms: int, timeout_ms: int) -> tuple[Query, Query]:
    """SqlStore.metrics_statements: one pass over the sessions, the events counted."""
    cutoff = now_ms - timeout_ms
    columns = [
        "count(*) AS sessions",
        _count_if(TERMINATED, "terminated"),
        _count_if(f"(sessions.last_activity < ? AND {TERMINATED} = 0)", "idle"),
        _count_if("(sessions.last_activity < ?)", "expired"),
        _count_if("(sessions.is_initialized = 0)", "uninitialized"),
        "min(sessions.last_activity) AS oldest_activity",
    ]
    args: list[Any] = [
        *TERMINATED_ARGS,
        *_COUNT_IF_ARGS,
        cutoff,
        *TERMINATED_ARGS,
        *_COUNT_IF_ARGS,
        cutoff,
        *_COUNT_IF_ARGS,
        *_COUNT_IF_ARGS,
    ]
    sessions = "SELECT " + ", ".join(columns) + " \nFROM sessions"
    return (sessions, args), ("SELECT count(*) AS count_1 \nFROM events", [])
