"""What a backup or restore asks for and reports, shared by the operations and the backends."""

from __future__ import annotations

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
    # Key-value layouts: also the collections FastMCP does not write (OAuth tokens, caches),
    # whose values are secrets.
    include_secrets: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "sessions": list(self.session_ids) if self.session_ids is not None else None,
            "since": self.since_ms,
            **({"include_secrets": True} if self.include_secrets else {}),
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
    # A layout without sessions (tasks, ext-tasks, server-state): ``sessions`` counts its
    # records and there are no events.
    layout: str = "sessions"

    def counted(self) -> str:
        return counted(self.sessions, self.events, self.layout)


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
    # True: checked in the same pass as the load, which commits only if all of it passed
    verified_while_loading: bool = False
    source_backend: str = ""
    notes: list[str] = field(default_factory=list)
    layout: str = "sessions"  # as BackupSummary.layout

    def counted(self) -> str:
        return counted(self.sessions, self.events, self.layout)


SESSION_LAYOUTS = ("sessions", "graphflow")


def counted(records: int, events: int, layout: str) -> str:
    """``"12 sessions and 340 events"``, or for a layout without sessions ``"300 records of
    the tasks layout"``."""
    if layout in SESSION_LAYOUTS:
        return f"{records:,} sessions and {events:,} events"
    return f"{records:,} record{'s' if records != 1 else ''} of the {layout} layout"


def timestamp_label(now: float | None = None) -> str:
    return datetime.fromtimestamp(now or time.time(), UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True, slots=True)
class RestoreLimits:
    """What a store's columns cannot hold, as its layout declares them (None: no limit)."""

    store: str  # named in the sentence, e.g. "PostgreSQL"
    session_id: int | None = None  # most characters of a session id
    event_type: int | None = None  # most characters of an event type
    nul_in_json: bool = True  # whether JSON values may hold \u0000


def fits(info: BackupInfo, limits: RestoreLimits | None) -> str | None:
    """Why the file's content cannot go into a store with these limits (None: it can)."""
    if limits is None:
        return None
    if limits.session_id is not None and info.max_session_id_len > limits.session_id:
        return (
            f"it has session ids of {info.max_session_id_len} characters and {limits.store}'s "
            f"session_id column holds at most {limits.session_id}"
        )
    if limits.event_type is not None and info.max_event_type_len > limits.event_type:
        return (
            f"it has event types of {info.max_event_type_len} characters and {limits.store}'s "
            f"event_type column holds at most {limits.event_type}"
        )
    if not limits.nul_in_json and info.has_nul:
        return f"its JSON holds the character \\u0000, which {limits.store}'s jsonb cannot store"
    return None
