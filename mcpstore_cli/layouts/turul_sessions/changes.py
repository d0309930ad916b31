"""What turul's server does to a session's state object when it ends a session (HTTP
DELETE) or sets and removes a key, as pure functions every backend's store applies: each takes
the state read and gives the state to write (None: nothing to write) and the outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcpstore_cli.model.surgery import SessionChange, clip
from mcpstore_cli.util.jsoncodec import BadJSON, dumps, loads_object

# What a state change does to the state object read: (the new object, or None to write
# nothing, and the outcome to report).
StateEdit = Callable[[dict[str, Any]], tuple[dict[str, Any] | None, SessionChange]]


def terminated_state(state: dict[str, Any], now_ms: int) -> dict[str, Any] | None:
    """The server's HTTP DELETE: ``terminated`` true and ``terminated_at`` now (ms); None
    when the session is already terminated."""
    if state.get("terminated") is True:
        return None
    return {**state, "terminated": True, "terminated_at": now_ms}


def terminate_edit(session_id: str, now_ms: int) -> StateEdit:
    def edit(state: dict[str, Any]) -> tuple[dict[str, Any] | None, SessionChange]:
        new = terminated_state(state, now_ms)
        if new is None:
            at = state.get("terminated_at")
            detail = f"at {at}" if isinstance(at, int) else ""
            return None, SessionChange(session_id, "terminate", True, "already terminated", detail)
        return new, SessionChange(
            session_id, "terminate", True, "terminated", f"terminated_at {now_ms}", changed=True
        )

    return edit


def state_edit(session_id: str, key: str, value: Any, *, unset: bool) -> StateEdit:
    def edit(state: dict[str, Any]) -> tuple[dict[str, Any] | None, SessionChange]:
        if unset:
            if key not in state:
                return None, SessionChange(session_id, "unset", True, f"{key} was not set")
            new = {k: v for k, v in state.items() if k != key}
            return new, SessionChange(session_id, "unset", True, f"unset {key}", changed=True)
        new = {**state, key: value}
        return new, SessionChange(
            session_id, "set", True, f"set {key}", f"= {clip(dumps(value))}", changed=True
        )

    return edit


def decode_state(text: Any, session_id: str) -> dict[str, Any] | str:
    """The state object, or a sentence saying why it cannot be changed."""
    try:
        return loads_object(text, "state")
    except BadJSON as exc:
        return f"its state cannot be read ({exc}); not changed"
