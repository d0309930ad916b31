"""delete, state and touch on GraphFlow's ``sessions`` table (its state is ``context.data``).

Each change is one statement: ``jsonb`` operators on ``context`` and ``updated_at = now()``,
as GraphFlow's own save stamps a session. GraphFlow keeps no termination mark, so
``terminate`` does not apply. A server that later saves the context it holds in memory writes
its own copy over the change (its upsert keeps the newer ``updated_at``): change the state of
sessions that are not running.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mcpstore_cli.model.surgery import SessionChange, gone, removed_text

if TYPE_CHECKING:
    from mcpstore_cli.backends.postgres.graphflow import GraphflowStore

_DATA_IS_OBJECT = "jsonb_typeof(coalesce(context -> 'data', '{}'::jsonb)) = 'object'"


async def _one(store: GraphflowStore, sql: str, *args: Any) -> Any:
    async with store._writer() as conn:
        return await conn.fetchrow(sql, *args)


def _key(session_id: str) -> Any:
    import uuid

    return uuid.UUID(session_id)


async def read_state(store: GraphflowStore, session_id: str) -> dict[str, Any] | None:
    from mcpstore_cli.errors import McpStoreError

    await store.ensure_readable()
    rows = await store._fetch(
        "SELECT coalesce(context -> 'data', '{}'::jsonb)::text FROM sessions WHERE id = $1",
        _key(session_id),
    )
    if not rows:
        return None
    data = json.loads(rows[0][0])
    if not isinstance(data, dict):
        raise McpStoreError(f"Session {session_id}: its context.data is not a JSON object.")
    return data


async def _why_not(store: GraphflowStore, session_id: str, action: str) -> SessionChange | None:
    row = await _one(
        store, f"SELECT {_DATA_IS_OBJECT} FROM sessions WHERE id = $1", _key(session_id)
    )
    if row is None:
        return gone(session_id, action, store.url.masked())
    if not row[0]:
        return SessionChange(
            session_id, action, False, "not changed", "its context.data is not a JSON object"
        )
    return None


async def change_state(
    store: GraphflowStore, session_id: str, key: str, value: Any, *, unset: bool
) -> SessionChange:
    from mcpstore_cli.model.surgery import clip

    await store.ensure_readable()
    sid = _key(session_id)
    if unset:
        row = await _one(
            store,
            "UPDATE sessions SET context = context #- ARRAY['data', $2::text], "
            f"updated_at = now() WHERE id = $1 AND {_DATA_IS_OBJECT} "
            "AND context -> 'data' ? $2 RETURNING 1",
            sid,
            key,
        )
        if row is not None:
            return SessionChange(session_id, "unset", True, f"unset {key}", changed=True)
        problem = await _why_not(store, session_id, "unset")
        return problem or SessionChange(session_id, "unset", True, f"{key} was not set")
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    row = await _one(
        store,
        "UPDATE sessions SET context = jsonb_set(context, '{data}', "
        "coalesce(context -> 'data', '{}'::jsonb) || jsonb_build_object($2::text, $3::jsonb)), "
        f"updated_at = now() WHERE id = $1 AND {_DATA_IS_OBJECT} "
        "AND jsonb_typeof(context) = 'object' RETURNING 1",
        sid,
        key,
        text,
    )
    if row is not None:
        return SessionChange(session_id, "set", True, f"set {key}", f"= {clip(text)}", changed=True)
    return await _why_not(store, session_id, "set") or SessionChange(
        session_id, "set", False, "not changed", "its context is not a JSON object"
    )


async def touch(store: GraphflowStore, session_id: str) -> SessionChange:
    await store.ensure_readable()
    row = await _one(
        store,
        "UPDATE sessions SET updated_at = now() WHERE id = $1 "
        "RETURNING (extract(epoch FROM updated_at) * 1000)::bigint",
        _key(session_id),
    )
    if row is None:
        return gone(session_id, "touch", store.url.masked())
    return SessionChange(session_id, "touch", True, "touched", f"updated_at {row[0]}", changed=True)


async def preview(store: GraphflowStore, session_id: str) -> dict[str, int] | None:
    await store.ensure_readable()
    rows = await store._fetch(
        "SELECT CASE WHEN jsonb_typeof(context #> '{chat_history,messages}') = 'array' "
        "THEN jsonb_array_length(context #> '{chat_history,messages}') ELSE 0 END "
        "FROM sessions WHERE id = $1",
        _key(session_id),
    )
    if not rows:
        return None
    return {"sessions": 1, "messages": int(rows[0][0])}


async def delete(store: GraphflowStore, session_id: str) -> SessionChange:
    await store.ensure_readable()
    row = await _one(
        store,
        "DELETE FROM sessions WHERE id = $1 RETURNING CASE WHEN "
        "jsonb_typeof(context #> '{chat_history,messages}') = 'array' "
        "THEN jsonb_array_length(context #> '{chat_history,messages}') ELSE 0 END",
        _key(session_id),
    )
    if row is None:
        return gone(session_id, "delete", store.url.masked())
    removed = {"sessions": 1, "messages": int(row[0])}
    return SessionChange(
        session_id, "delete", True, "deleted", removed_text(removed), changed=True, removed=removed
    )
