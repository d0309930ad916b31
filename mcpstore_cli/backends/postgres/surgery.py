"""terminate and state changes on PostgreSQL: each one ``UPDATE`` with ``jsonb`` operators
(``||``, ``-``), ``last_activity`` and ``version = version + 1``, as the server's writes do;
the row lock PostgreSQL takes for the statement is the whole of the race safety. When the
update matches nothing, one more read tells "already so" from "gone"."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mcpstore_cli.model.surgery import SessionChange, clip, gone

if TYPE_CHECKING:
    from mcpstore_cli.backends.postgres.store import PostgresStore

_OBJECT = "jsonb_typeof(state) = 'object'"


async def _why_not(store: PostgresStore, session_id: str, action: str) -> SessionChange | None:
    """None when the session holds an object state (the update's own condition failed);
    otherwise what is wrong."""
    row = await store._fetch_row(
        f"SELECT {_OBJECT} FROM sessions WHERE session_id = $1", session_id
    )
    if row is None:
        return gone(session_id, action, store.url.masked())
    if not row[0]:
        return SessionChange(
            session_id, action, False, "not changed", "its state is not a JSON object"
        )
    return None


async def terminate(store: PostgresStore, session_id: str, *, now_ms: int) -> SessionChange:
    await store.ensure_readable()
    row = await store._fetch_row(
        "UPDATE sessions SET state = state || jsonb_build_object('terminated', true, "
        "'terminated_at', $2::bigint), last_activity = $2, version = version + 1 "
        f"WHERE session_id = $1 AND {_OBJECT} AND NOT state @> '{{\"terminated\": true}}' "
        "RETURNING version",
        session_id,
        now_ms,
    )
    if row is not None:
        return SessionChange(
            session_id, "terminate", True, "terminated", f"terminated_at {now_ms}", changed=True
        )
    problem = await _why_not(store, session_id, "terminate")
    if problem is not None:
        return problem
    at = await store._fetch_row(
        "SELECT state -> 'terminated_at' FROM sessions WHERE session_id = $1", session_id
    )
    detail = f"at {at[0]}" if at is not None and at[0] is not None else ""
    return SessionChange(session_id, "terminate", True, "already terminated", detail)


async def change_state(
    store: PostgresStore, session_id: str, key: str, value: Any, *, unset: bool, now_ms: int
) -> SessionChange:
    await store.ensure_readable()
    if unset:
        row = await store._fetch_row(
            "UPDATE sessions SET state = state - $2::text, last_activity = $3, "
            f"version = version + 1 WHERE session_id = $1 AND {_OBJECT} AND state ? $2 "
            "RETURNING version",
            session_id,
            key,
            now_ms,
        )
        if row is not None:
            return SessionChange(session_id, "unset", True, f"unset {key}", changed=True)
        problem = await _why_not(store, session_id, "unset")
        return problem or SessionChange(session_id, "unset", True, f"{key} was not set")
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    row = await store._fetch_row(
        "UPDATE sessions SET state = state || jsonb_build_object($2::text, $3::jsonb), "
        f"last_activity = $4, version = version + 1 WHERE session_id = $1 AND {_OBJECT} "
        "RETURNING version",
        session_id,
        key,
        text,
        now_ms,
    )
    if row is not None:
        return SessionChange(session_id, "set", True, f"set {key}", f"= {clip(text)}", changed=True)
    return await _why_not(store, session_id, "set") or gone(session_id, "set", store.url.masked())
