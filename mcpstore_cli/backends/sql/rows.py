"""Rows of the SQL stores read as records, without SQLAlchemy: sessions, events, and the
``stats`` figures from the rows of its two aggregate queries.

:class:`~mcpstore_cli.backends.sql.base.SqlStore` decodes what its engine returns with these,
and SQLite's reading path (:mod:`mcpstore_cli.backends.sqlite.reading`) what the standard
library's ``sqlite3`` returns, so both read every row, corrupt ones too, alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from mcpstore_cli.model.records import (
    AGE_BUCKETS,
    CorruptRow,
    Cursor,
    Event,
    Session,
    Stats,
    percentiles_from_distribution,
)
from mcpstore_cli.util.jsoncodec import (
    BadJSON,
    loads_any,
    loads_object,
    loads_optional,
    shared_object,
)


def decode_session(m: Mapping[str, Any]) -> Session | CorruptRow:
    """A session from a row mapping (SQLAlchemy's, a driver record or a dict, by column)."""
    try:
        return _decode_plain_session(m)
    except Exception:
        # Anything unusual (NULLs, "", JSON null, bad JSON, wrong types): the careful path.
        return _decode_session_carefully(m)


def _decode_session_carefully(m: Mapping[str, Any]) -> Session | CorruptRow:
    sid = str(m["session_id"])
    try:
        created = m["created_at"]
        activity = m["last_activity"]
        if not isinstance(created, int) or not isinstance(activity, int):
            raise BadJSON("created_at/last_activity is not an integer")
        return Session(
            session_id=sid,
            created_at=created,
            last_activity=activity,
            is_initialized=bool(m["is_initialized"]),
            client_capabilities=loads_optional(
                m["client_capabilities"], "client_capabilities", shared=True
            ),
            server_capabilities=loads_optional(
                m["server_capabilities"], "server_capabilities", shared=True
            ),
            state=loads_object(m["state"], "state"),
            metadata=loads_object(m["metadata"], "metadata", shared=True),
            extras=_version_extras(m),
            event_count=m.get("event_count"),
        )
    except BadJSON as exc:
        activity = m["last_activity"]
        place = Cursor(activity, sid) if isinstance(activity, int) else None
        return CorruptRow("sessions", sid, str(exc), place)


def decode_event(m: Mapping[str, Any]) -> Event | CorruptRow:
    """An event from a row mapping, by column name."""
    try:
        return Event(
            session_id=str(m["session_id"]),
            id=int(m["id"]),
            timestamp=int(m["timestamp"]),
            event_type=str(m["event_type"]),
            data=loads_any(m["data"], "data"),
            retry=None if m["retry"] is None else int(m["retry"]),
        )
    except (BadJSON, TypeError, ValueError) as exc:
        return CorruptRow("events", f"{m['session_id']}#{m['id']}", str(exc))


def _decode_plain_session(m: Mapping[str, Any]) -> Session:
    """The common case in one pass: every JSON column holds a JSON object. Raises on anything
    else, for the careful decoder to judge."""
    created = m["created_at"]
    activity = m["last_activity"]
    if type(created) is not int or type(activity) is not int:
        raise ValueError("times")
    state = json.loads(m["state"])
    client = m["client_capabilities"]
    server = m["server_capabilities"]
    metadata = m["metadata"]
    client = None if client is None else shared_object(client)
    server = shared_object(server)
    metadata = shared_object(metadata)
    if type(state) is not dict or type(metadata) is not dict:
        raise ValueError("not objects")
    return Session(
        session_id=m["session_id"],
        created_at=created,
        last_activity=activity,
        is_initialized=bool(m["is_initialized"]),
        client_capabilities=client,
        server_capabilities=server,
        state=state,
        metadata=metadata,
        extras=_version_extras(m),
        event_count=m.get("event_count"),
    )


def _version_extras(m: Mapping[str, Any]) -> dict[str, Any] | None:
    """PostgreSQL's row ``version``, kept beside the session (SQLite rows have none)."""
    version = m.get("version")
    return None if version is None else {"version": version}


def stats_from_rows(
    *,
    backend: str,
    store: str,
    now_ms: int,
    timeout_ms: int,
    agg: Mapping[str, Any],
    dist_rows: Iterable[Any],
    facts: tuple[dict[str, int], dict[str, Any]],
) -> Stats:
    """``stats`` from the row of the sessions aggregate, the rows (n, groups, orphan_groups)
    of the events-per-session distribution and the backend's (storage, facts)."""
    stats = Stats(
        backend=backend,
        store=store,
        now_ms=now_ms,
        timeout_ms=timeout_ms,
        sessions=int(agg["sessions"]),
        initialized=int(agg["initialized"]),
        terminated=int(agg["terminated"]),
        idle=int(agg["idle"]),
        oldest_created_at=agg["oldest_created"],
        newest_created_at=agg["newest_created"],
        oldest_activity=agg["oldest_activity"],
        newest_activity=agg["newest_activity"],
    )
    distribution: dict[int, int] = {}
    events = orphans = with_events = 0
    for n, groups, orphan_groups in dist_rows:
        n, groups, orphan_groups = int(n), int(groups), int(orphan_groups)
        events += n * groups
        orphans += n * orphan_groups
        live = groups - orphan_groups
        if live:
            distribution[n] = distribution.get(n, 0) + live
            with_events += live
    if stats.sessions > with_events:
        distribution[0] = stats.sessions - with_events
    stats.events = events
    stats.orphaned_events = orphans
    stats.events_per_session = percentiles_from_distribution(distribution)
    stats.age_histogram = _histogram(agg, "age", stats.sessions)
    stats.activity_histogram = _histogram(agg, "act", stats.sessions)
    stats.storage, stats.backend_facts = facts
    stats.storage_bytes = stats.storage.get("total")
    return stats


def _histogram(agg: Mapping[str, Any], prefix: str, total: int) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    below = 0
    for i, (label, bound) in enumerate(AGE_BUCKETS):
        cumulative = total if bound is None else int(agg[f"{prefix}_{i}"])
        out.append((label, max(cumulative - below, 0)))
        below = cumulative
    return out
