"""GraphFlow rows and the backend-neutral :class:`~mcpstore_cli.model.records.Session`.

A GraphFlow session is read into a ``Session`` so that every command and renderer works on it
unchanged:

- ``session_id`` is the UUID in its hyphenated lower-case form;
- ``created_at`` and ``last_activity`` are ``created_at`` and ``updated_at`` in Unix ms
  (``created_at`` is nullable: a NULL reads as ``updated_at``);
- ``state`` holds what the session is at: ``graph_id``, ``current_task_id``,
  ``status_message`` and the context's ``data``;
- ``metadata`` holds the context's ``chat_history`` (``messages`` and ``max_messages``);
- ``event_count`` is the number of chat messages; the messages read as events
  (``event_type`` is the role, ``data`` the content), so ``show`` lists the last ones.

:func:`row_values` turns such a ``Session`` back into GraphFlow's row, losslessly for every
row GraphFlow writes.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import Any

from mcpstore_cli.model.records import CorruptRow, Cursor, Event, Session

TABLE = "sessions"
MAX_MESSAGES = 1000  # GraphFlow's ChatHistory default


def to_ms(value: dt.datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1000)


def from_ms(ms: int | None) -> dt.datetime | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def message_ms(text: Any) -> int:
    """A chat message's timestamp (chrono's RFC 3339 text) in Unix ms; 0 if unreadable."""
    if not isinstance(text, str):
        return 0
    try:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0
    return to_ms(stamp) or 0


def message_time(ms: int) -> str:
    """RFC 3339 with microseconds and ``Z``, as chrono's ``DateTime<Utc>`` serialises."""
    stamp = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def decode(row: Mapping[str, Any] | Any) -> Session | CorruptRow:
    """A row (``id, graph_id, current_task_id, status_message, context, created_at,
    updated_at``; ``context`` as JSON text or decoded) as a Session, or a CorruptRow."""
    key = str(row["id"])
    updated = to_ms(row["updated_at"])
    created = to_ms(row["created_at"])
    place = Cursor(updated, key) if updated is not None else None
    raw = row["context"]
    try:
        context = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except ValueError as exc:
        return CorruptRow(TABLE, key, f"context is not JSON ({exc})", place)
    if not isinstance(context, dict):
        return CorruptRow(TABLE, key, "context is not a JSON object", place)
    if updated is None:
        return CorruptRow(TABLE, key, "updated_at is NULL", None)
    data = context.get("data")
    history = context.get("chat_history")
    messages = history.get("messages") if isinstance(history, dict) else None
    return Session(
        session_id=key,
        created_at=created if created is not None else updated,
        last_activity=updated,
        is_initialized=True,
        state={
            "graph_id": row["graph_id"],
            "current_task_id": row["current_task_id"],
            "status_message": row["status_message"],
            "data": data if data is not None else {},
        },
        metadata={"chat_history": history if history is not None else {}},
        event_count=len(messages) if isinstance(messages, list) else 0,
    )


def context_of(session: Session) -> dict[str, Any]:
    history = session.metadata.get("chat_history")
    if not isinstance(history, dict) or not history:
        history = {"messages": [], "max_messages": MAX_MESSAGES}
    data = session.state.get("data")
    return {"data": data if isinstance(data, dict) else {}, "chat_history": history}


def row_values(session: Session) -> tuple[Any, ...]:
    """GraphFlow's row for a Session read by :func:`decode` (or made by the demo):
    ``(id, graph_id, current_task_id, status_message, context JSON text, created_at,
    updated_at)``, in the order of :data:`~.schema.UPSERT_SQL`'s parameters."""
    state = session.state
    return (
        uuid.UUID(session.session_id),
        str(state.get("graph_id") or ""),
        str(state.get("current_task_id") or ""),
        state.get("status_message"),
        json.dumps(context_of(session), separators=(",", ":"), ensure_ascii=False),
        from_ms(session.created_at),
        from_ms(session.last_activity),
    )


def messages_as_events(session_id: str, context: Any, limit: int) -> list[Event]:
    """The last ``limit`` chat messages, oldest first, as events (id: position from 1)."""
    if isinstance(context, str | bytes):
        context = json.loads(context)
    history = context.get("chat_history") if isinstance(context, dict) else None
    messages = history.get("messages") if isinstance(history, dict) else None
    if not isinstance(messages, list) or limit <= 0:
        return []
    start = max(len(messages) - limit, 0)
    out = []
    for i, message in enumerate(messages[start:], start=start + 1):
        if not isinstance(message, dict):
            out.append(Event(session_id, i, 0, "message", message))
            continue
        out.append(
            Event(
                session_id,
                i,
                message_ms(message.get("timestamp")),
                str(message.get("role") or "message"),
                message.get("content"),
            )
        )
    return out
