"""JSON as the server writes it (compact, like serde_json) and lenient reading of stored JSON."""

from __future__ import annotations

import json
from typing import Any


class BadJSON(ValueError):
    """A stored JSON field that cannot be decoded."""


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# Capabilities and metadata repeat across a server's sessions (often byte for byte): decode
# each distinct short text once. Values decoded through the cache are shared between records,
# so records' JSON must be treated as read-only.
_SHARED: dict[str, Any] = {}
_SHARED_MAX_TEXT = 512
_SHARED_MAX_ENTRIES = 2048


def _loads(text: str, shared: bool) -> Any:
    if shared and len(text) <= _SHARED_MAX_TEXT:
        try:
            return _SHARED[text]
        except KeyError:
            value = json.loads(text)
            if len(_SHARED) < _SHARED_MAX_ENTRIES:
                _SHARED[text] = value
            return value
    return json.loads(text)


def shared_object(text: str) -> Any:
    """Decode a short, often repeated JSON object through the cache; raises on non-objects."""
    value = _SHARED.get(text)
    if value is None:
        value = _loads(text, True)
        if type(value) is not dict:
            raise ValueError("not an object")
    return value


def loads_optional(text: Any, field: str, *, shared: bool = False) -> Any:
    """Decode an optional JSON field: NULL, ``""`` and JSON ``null`` all mean absent."""
    if text is None:
        return None
    if not isinstance(text, str):
        return text  # already decoded by the driver
    if text == "":
        return None
    try:
        return _loads(text, shared)
    except json.JSONDecodeError as exc:
        raise BadJSON(f"{field} is not valid JSON ({exc.msg} at character {exc.pos})") from None
    except ValueError as exc:  # valid JSON Python refuses (an integer of over 4300 digits)
        raise BadJSON(f"{field} cannot be decoded ({exc})") from None


def loads_object(text: Any, field: str, *, shared: bool = False) -> dict[str, Any]:
    """Decode a JSON object field (state, metadata); a missing value is ``{}``."""
    value = loads_optional(text, field, shared=shared)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadJSON(f"{field} is JSON {type(value).__name__}, not an object")
    return value


def loads_any(text: Any, field: str) -> Any:
    """Decode a required JSON value (event data); JSON ``null`` stays None."""
    if text is None:
        raise BadJSON(f"{field} is NULL")
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadJSON(f"{field} is not valid JSON ({exc.msg} at character {exc.pos})") from None
    except ValueError as exc:  # valid JSON Python refuses (an integer of over 4300 digits)
        raise BadJSON(f"{field} cannot be decoded ({exc})") from None
