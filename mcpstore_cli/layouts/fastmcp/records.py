"""The entries FastMCP writes, read and written as py-key-value 0.5 does.

Redis and DynamoDB hold each entry as one JSON document, ``{"collection", "key", "value",
"created_at", "expires_at", "version": 1}`` (``json.dumps(sort_keys=True)``, times in Python's
``isoformat()``); PostgreSQL holds the value itself in a JSONB column with the times beside it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson

from mcpstore_cli.model.kv import Entry

KEY_SEPARATOR = "::"  # Redis: <collection>::<key>
_loads = orjson.loads


class BadEntry(ValueError):
    """A stored entry that is not a py-key-value document."""


def parse_time(text: Any) -> int | None:
    """An ISO 8601 time (as ``datetime.isoformat()`` writes it) as Unix ms; None for null."""
    if text is None:
        return None
    try:
        moment = _fromiso(text)
    except (ValueError, TypeError):
        raise BadEntry(f"time {text!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


_fromiso = datetime.fromisoformat


def iso(ms: int | None) -> str | None:
    """Unix ms as py-key-value writes a time (``+00:00``, microseconds when not zero)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def document(entry: Entry) -> str:
    """The JSON document Redis and DynamoDB keep for an entry (a time it lacks is left out,
    as py-key-value does). Its ``created_at`` is the entry's last write: those backends
    rewrite the whole document on every put."""
    doc: dict[str, Any] = {
        "collection": entry.collection,
        "key": entry.key,
        "value": entry.value,
        "version": 1,
    }
    if entry.written_at is not None:
        doc["created_at"] = iso(entry.written_at)
    if entry.expires_at is not None:
        doc["expires_at"] = iso(entry.expires_at)
    return json.dumps(doc, sort_keys=True)


def from_document(
    text: str | bytes, *, collection: str | None = None, key: str | None = None
) -> Entry:
    """An entry from its document; ``collection``/``key``: what the store's own key says
    (they win over the document's copy)."""
    try:
        doc = _loads(text)
    except ValueError as exc:
        raise BadEntry(f"not JSON ({exc})") from None
    if type(doc) is not dict or "value" not in doc:
        raise BadEntry("not a py-key-value document (no value)")
    value = doc["value"]
    if type(value) is str:  # value_format "string": the value as JSON text
        try:
            value = _loads(value)
        except ValueError:
            raise BadEntry("value is a string that is not JSON") from None
    created = doc.get("created_at")
    expires = doc.get("expires_at")
    if collection is None:
        collection = str(doc.get("collection", ""))
    if key is None:
        key = str(doc.get("key", ""))
    return Entry(
        collection,
        key,
        value,
        None if created is None else parse_time(created),
        None if expires is None else parse_time(expires),
        None,
        text,  # the stored bytes or text, as conditional writes compare them
    )


def redis_key(collection: str, key: str) -> str:
    return f"{collection}{KEY_SEPARATOR}{key}"


def split_redis_key(name: str) -> tuple[str, str] | None:
    collection, sep, key = name.partition(KEY_SEPARATOR)
    return (collection, key) if sep else None


def parse_stream_id(stream_id: str) -> tuple[str, str] | None:
    """``<len>:<scope>:<n>`` -> (scope, n): the transport's scope and the request id of the
    POST that opened the stream (or ``_GET_stream``). None when not in that form."""
    length, sep, rest = stream_id.partition(":")
    if not sep or not length.isdigit():
        return None
    size = int(length)
    scope, tail = rest[:size], rest[size:]
    if len(scope) != size or not tail.startswith(":"):
        return None
    return scope, tail[1:]


def state_session(key: str) -> tuple[str, str]:
    """A ``fastmcp_state`` key -> (session id, state key). ``<session>:<key>`` is a request
    context's state (``ctx.set_state``; ``<session>:_visibility_rules`` too);
    ``session:<principal>:<id>`` holds the whole state dict of a session the application
    opened (FastMCP's sessions API), under the principal's hash or ``anon``."""
    session, _, name = key.partition(":")
    if session == "session" and name.count(":") == 1:
        principal, _, opened = name.partition(":")
        return opened, f"(session state, principal {principal[:12]})"
    return session, name


def event_stream(entry: Entry) -> str | None:
    """The stream id an event entry names (None: not an event document)."""
    value = entry.value
    if isinstance(value, dict) and isinstance(value.get("stream_id"), str):
        return str(value["stream_id"])
    return None


def event_message(entry: Entry) -> Any:
    value = entry.value
    return value.get("message") if isinstance(value, dict) else None


def stream_event_ids(entry: Entry) -> list[str] | None:
    value = entry.value
    if isinstance(value, dict) and isinstance(value.get("event_ids"), list):
        return [str(x) for x in value["event_ids"]]
    return None


def describe_message(message: Any) -> dict[str, Any]:
    """A JSON-RPC message as an operator reads it: its kind, method, and what matters of it
    (progress, a log line, a result or an error). None: the stream's priming event."""
    if message is None:
        return {"kind": "priming"}
    if not isinstance(message, dict):
        return {"kind": "unknown", "message": message}
    out: dict[str, Any] = {}
    method = message.get("method")
    raw_params = message.get("params")
    params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
    if isinstance(method, str):
        out["kind"] = "request" if "id" in message else "notification"
        out["method"] = method
        if method == "notifications/progress":
            for name in ("progress", "total", "message"):
                if name in params:
                    out[name] = params[name]
        elif method == "notifications/message":
            out["level"] = params.get("level")
            data = params.get("data")
            out["text"] = data if isinstance(data, str) else json.dumps(data)
            if params.get("logger"):
                out["logger"] = params["logger"]
    elif "result" in message:
        out["kind"] = "result"
        out["result"] = message["result"]
    elif "error" in message:
        out["kind"] = "error"
        out["error"] = message["error"]
    else:
        out["kind"] = "unknown"
    if "id" in message:
        out["id"] = message["id"]
    return out


def method_of(message: Any) -> str:
    """What ``stats`` counts an event under: its method, ``result``, ``error`` or
    ``priming``."""
    if message is None:
        return "priming"
    if type(message) is dict:
        method = message.get("method")
        if type(method) is str:
            return method
        if "result" in message:
            return "result"
        if "error" in message:
            return "error"
    return "unknown"
