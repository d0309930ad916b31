"""What the commands that act on one session (``terminate``, ``delete``, ``state``, ``touch``)
report for each session: backend-neutral, one record per session."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Any

# The changes a layout's sessions may take (Store.session_changes).
TERMINATE = "terminate"
DELETE = "delete"
STATE = "state"
TOUCH = "touch"
ALL_CHANGES = frozenset({TERMINATE, DELETE, STATE, TOUCH})


@dataclass(slots=True)
class SessionChange:
    """The outcome of one change to one session.

    ``ok`` is False when the change could not be made (the session is gone, or a live server
    kept changing it); an outcome that needs nothing done (already terminated, a key that was
    not set) is ``ok`` with ``changed`` False.
    """

    session_id: str
    action: str  # terminate, delete, set, unset, touch
    ok: bool
    outcome: str  # a few words: "terminated", "already terminated", "deleted", "not found"
    detail: str = ""  # the rest of the line: what was written or removed
    _: KW_ONLY
    changed: bool = False
    removed: dict[str, int] = field(default_factory=dict)  # delete: records by kind

    def line(self) -> str:
        """The line printed for this session."""
        text = f"{self.session_id}: {self.outcome}"
        return f"{text} ({self.detail})" if self.detail else text

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "session_id": self.session_id,
            "action": self.action,
            "ok": self.ok,
            "changed": self.changed,
            "outcome": self.outcome,
            "detail": self.detail or None,
        }
        if self.removed:
            out["removed"] = dict(self.removed)
        return out


def gone(session_id: str, action: str, where: str) -> SessionChange:
    """The session went away between finding its id and changing it."""
    return SessionChange(session_id, action, False, "not found", f"no longer in {where}")


def contended(session_id: str, action: str, tries: int) -> SessionChange:
    """A live server changed the session every time it was about to be written."""
    return SessionChange(
        session_id,
        action,
        False,
        "not changed",
        f"the server changed it each of {tries} times it was read; try again",
    )


def removed_text(removed: dict[str, int]) -> str:
    """``1 session, 12 events`` from counts by kind (plural nouns as keys)."""
    parts = []
    for noun, n in removed.items():
        word = noun[:-1] if n == 1 and noun.endswith("s") else noun
        parts.append(f"{n:,} {word}")
    return ", ".join(parts) if parts else "nothing"


def clip(text: str, width: int = 60) -> str:
    """A value shortened for one line."""
    return text if len(text) <= width else text[: width - 1] + "\u2026"
