"""JSON as the server writes it (compact, like serde_json) and lenient reading of stored JSON."""

from __future__ import annotations

import json
from typing import Any


class BadJSON(ValueError):
    """A stored JSON field that cannot be decoded."""


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads_optional(text: Any, field: str) -> Any:
    """Decode an optional JSON field: NULL, ``""`` and JSON ``null`` all mean absent."""
    if text is None:
        return None
    if not isinstance(text, str):
        return text  # already decoded by the driver
    if text == "":
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise BadJSON(f"{field} is not valid JSON ({exc.msg} at character {exc.pos})") from None


def loads_object(text: Any, field: str) -> dict[str, Any]:
    """Decode a JSON object field (state, metadata); a missing value is ``{}``."""
    value = loads_optional(text, field)
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
    except ValueError as exc:
        raise BadJSON(f"{field} is not valid JSON ({exc.msg} at character {exc.pos})") from None
