"""What a backup or restore asks for and reports, shared by the operations and the backends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from mcpstore_cli.util.backupfile import BackupInfo

if TYPE_CHECKING:
    pass

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


@dataclass(slots=True)
class BackupSpec:
    """What goes into a backup: every session, or only some (with all their events)."""

    session_ids: Sequence[str] | None = None
    since_ms: int | None = None  # sessions active at or after this time

    def as_json(self) -> dict[str, Any]:
        return {
            "sessions": list(self.session_ids) if self.session_ids is not None else None,
            "since": self.since_ms,
        }


@dataclass(slots=True)
class BackupSummary:
    path: str
    sessions: int
    events: int
    bytes: int
    seconds: float
    backend: str = ""
    consistency: str = ""
    skipped: int = 0  # rows left out because they could not be read
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class RestoreSummary:
    path: str
    mode: str
    sessions: int = 0  # sessions written
    events: int = 0  # events written
    skipped_sessions: int = 0  # merge: already in the target (left as they were)
    skipped_events: int = 0  # their events in the file
    replaced_sessions: int = 0  # replace: sessions deleted first
    replaced_events: int = 0
    event_ids: str = "kept"  # kept | renumbered by the target | renumbered per session
    ttl: str = ""  # DynamoDB: recomputed | kept
    created_layout: bool = False
    seconds: float = 0.0
    verify_seconds: float = 0.0
    source_backend: str = ""
    notes: list[str] = field(default_factory=list)


def timestamp_label(now: float | None = None) -> str:
    return datetime.fromtimestamp(now or time.time(), UTC).strftime("%Y%m%dT%H%M%SZ")


def fits(info: BackupInfo, limits: Mapping[str, int], title: str) -> str | None:
    """Why the file's content cannot go into a store whose columns hold at most ``limits``
    characters (``session_id``, ``event_type``); ``title`` names the backend. None: it can."""
    for column, longest in (
        ("session_id", info.max_session_id_len),
        ("event_type", info.max_event_type_len),
    ):
        most = limits.get(column)
        if most is not None and longest > most:
            what = "session ids" if column == "session_id" else "event types"
            return (
                f"it has {what} of {longest} characters and {title}'s "
                f"{column} column holds at most {most}"
            )
    return None
