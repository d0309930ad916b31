"""terminate, delete, state and touch on turul's session tables, written once for SQLite and
PostgreSQL (the PostgreSQL store overrides the state changes with single ``jsonb`` statements,
``backends/postgres/surgery.py``).

Each change runs in one write transaction: on SQLite ``BEGIN IMMEDIATE`` takes the write lock
before the row is read, so nothing the server writes can come between the read and the write.
Every update also touches ``last_activity`` and, where the table has one, bumps ``version``,
as the server's own writes do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from mcpstore_cli.layouts.turul_sessions.changes import StateEdit, decode_state
from mcpstore_cli.model.surgery import SessionChange, gone, removed_text

if TYPE_CHECKING:
    from mcpstore_cli.backends.sql.base import SqlStore


async def edit_state(
    store: SqlStore, session_id: str, action: str, edit: StateEdit, *, now_ms: int
) -> SessionChange:
    s = store.sessions
    await store.ensure_readable()
    async with store.connect(write=True) as conn:
        row = (
            await conn.execute(
                sa.select(store._json_read(s.c.state).label("state")).where(
                    s.c.session_id == session_id
                )
            )
        ).first()
        if row is None:
            return gone(session_id, action, store.url.masked())
        state = decode_state(row[0], session_id)
        if isinstance(state, str):
            return SessionChange(session_id, action, False, "not changed", state)
        new, change = edit(state)
        if new is not None:
            values = store.touch_values(now_ms)
            values["state"] = store._json_write(new)
            await conn.execute(sa.update(s).where(s.c.session_id == session_id).values(values))
    return change


async def read_state(store: SqlStore, session_id: str) -> dict[str, Any] | None:
    from mcpstore_cli.errors import McpStoreError

    s = store.sessions
    await store.ensure_readable()
    async with store.connect() as conn:
        row = (
            await conn.execute(
                sa.select(store._json_read(s.c.state)).where(s.c.session_id == session_id)
            )
        ).first()
    if row is None:
        return None
    state = decode_state(row[0], session_id)
    if isinstance(state, str):
        raise McpStoreError(f"Session {session_id}: {state.removesuffix('; not changed')}.")
    return state


async def touch(store: SqlStore, session_id: str, *, now_ms: int) -> SessionChange:
    s = store.sessions
    await store.ensure_readable()
    async with store.connect(write=True) as conn:
        done = await conn.execute(
            sa.update(s).where(s.c.session_id == session_id).values(store.touch_values(now_ms))
        )
    if done.rowcount != 1:
        return gone(session_id, "touch", store.url.masked())
    return SessionChange(
        session_id, "touch", True, "touched", f"last_activity {now_ms}", changed=True
    )


async def preview(store: SqlStore, session_id: str) -> dict[str, int] | None:
    from mcpstore_cli.model.records import Session

    found = await store.get_session(session_id)
    if found is None:
        return None
    events = found.event_count if isinstance(found, Session) else None
    return {"sessions": 1, "events": int(events or 0)}


async def delete(store: SqlStore, session_id: str) -> SessionChange:
    """The session's events, then its row, in one transaction: the events go (and are
    counted) even where the foreign key's cascade is off."""
    s, e = store.sessions, store.events
    await store.ensure_readable()
    async with store.connect(write=True) as conn:
        events = (await conn.execute(sa.delete(e).where(e.c.session_id == session_id))).rowcount
        sessions = (await conn.execute(sa.delete(s).where(s.c.session_id == session_id))).rowcount
        if sessions != 1:
            return gone(session_id, "delete", store.url.masked())
    removed = {"sessions": 1, "events": max(int(events or 0), 0)}
    return SessionChange(
        session_id, "delete", True, "deleted", removed_text(removed), changed=True, removed=removed
    )
