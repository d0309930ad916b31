"""Backend-neutral records: what every store reads and writes, whatever its layout.

Times are Unix milliseconds, as the stores keep them. JSON fields hold decoded values;
``None`` means absent (NULL, a missing attribute, JSON ``null`` or SQLite's ``""``).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcpstore_cli.errors import UsageError

if TYPE_CHECKING:
    from mcpstore_cli.model.tasks import TaskCursor

JSON = Any
SESSION_ID_MAX = 255


def validate_session_id(value: str, *, option: str = "session id") -> str:
    """Session ids are visible ASCII (0x21-0x7E); raise :class:`UsageError` otherwise."""
    if not value:
        raise UsageError(f"The {option} is empty.")
    if len(value) > SESSION_ID_MAX:
        raise UsageError(f"The {option} is {len(value)} characters long; ids are at most 255.")
    bad = next((ch for ch in value if not 0x21 <= ord(ch) <= 0x7E), None)
    if bad is not None:
        raise UsageError(
            f"The {option} {value!r} contains {bad!r}; session ids are visible ASCII characters."
        )
    return value


@dataclass(slots=True)
class Session:
    """One session. Decoded JSON values may be shared between sessions read from a store
    (identical capabilities are decoded once): treat them as read-only."""

    session_id: str
    created_at: int
    last_activity: int
    is_initialized: bool = False
    client_capabilities: JSON | None = None
    server_capabilities: JSON | None = None
    state: dict[str, JSON] = field(default_factory=dict)
    metadata: dict[str, JSON] = field(default_factory=dict)
    # What one backend keeps beside the layout's fields, by name, shown as it is and carried
    # in backups (PostgreSQL's row "version", DynamoDB's "ttl" in epoch seconds).
    extras: dict[str, Any] | None = None
    event_count: int | None = None

    def extra(self, name: str) -> Any:
        """A backend's extra value (None when this record has none)."""
        return None if self.extras is None else self.extras.get(name)

    @property
    def terminated(self) -> bool:
        return self.state.get("terminated") is True

    @property
    def terminated_at(self) -> int | None:
        value = self.state.get("terminated_at")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def client_name(self) -> str | None:
        info = self.state.get("client_info")
        if isinstance(info, dict):
            name = info.get("name")
            version = info.get("version")
            if isinstance(name, str):
                return f"{name} {version}" if isinstance(version, str) and version else name
        return None

    @property
    def protocol_version(self) -> str | None:
        for key in ("negotiated_version", "mcp_version"):
            value = self.state.get(key)
            if isinstance(value, str):
                return value
        return None

    def status(self, now_ms: int, timeout_ms: int) -> str:
        """``terminated``, ``idle`` (past the timeout) or ``active``."""
        if self.terminated:
            return "terminated"
        if now_ms - self.last_activity > timeout_ms:
            return "idle"
        return "active"


@dataclass(slots=True)
class Event:
    session_id: str
    id: int  # turul's sequence; key-value layouts (FastMCP) keep the server's id in extras
    timestamp: int
    event_type: str
    data: JSON
    retry: int | None = None
    extras: dict[str, Any] | None = None  # as Session.extras (DynamoDB's "ttl")

    def extra(self, name: str) -> Any:
        return None if self.extras is None else self.extras.get(name)


@dataclass(slots=True)
class CorruptRow:
    """A row that cannot be read as the layout says; reported and skipped."""

    table: str
    key: str
    problem: str
    # Its place in list order, so paging can step past it (a TaskCursor for tasks).
    cursor: Cursor | TaskCursor | None = None


@dataclass(slots=True)
class SessionFilter:
    now_ms: int
    timeout_ms: int = 30 * 60 * 1000
    idle_over_ms: int | None = None
    active: bool = False
    terminated: bool | None = None
    initialized: bool | None = None
    created_after: int | None = None
    created_before: int | None = None
    graph_id: str | None = None  # layouts with graphs (graphflow): sessions of this graph

    def matches(self, session: Session) -> bool:
        """The same predicate the SQL backends push down, for stores that filter in Python."""
        if self.graph_id is not None and session.state.get("graph_id") != self.graph_id:
            return False
        if self.idle_over_ms is not None and not (
            session.last_activity < self.now_ms - self.idle_over_ms
        ):
            return False
        if self.active and (
            session.terminated or session.last_activity < self.now_ms - self.timeout_ms
        ):
            return False
        if self.terminated is not None and session.terminated != self.terminated:
            return False
        if self.initialized is not None and session.is_initialized != self.initialized:
            return False
        if self.created_after is not None and not session.created_at > self.created_after:
            return False
        return not (
            self.created_before is not None and not session.created_at < self.created_before
        )


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """A keyset position in the newest-activity-first order: list rows strictly after it."""

    last_activity: int
    session_id: str

    def encode(self) -> str:
        body = json.dumps([self.last_activity, self.session_id], separators=(",", ":"))
        return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        problem = f"--cursor {text!r} is not a cursor printed by mcpstore list."
        try:
            padded = text.strip() + "=" * (-len(text.strip()) % 4)
            value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        except (ValueError, binascii.Error, UnicodeError):
            raise UsageError(problem) from None
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not isinstance(value[0], int)
            or not isinstance(value[1], str)
        ):
            raise UsageError(problem)
        return cls(value[0], value[1])

    @classmethod
    def after(cls, session: Session) -> Cursor:
        return cls(session.last_activity, session.session_id)


@dataclass(slots=True)
class Stats:
    backend: str
    store: str
    now_ms: int
    timeout_ms: int
    sessions: int = 0
    initialized: int = 0
    terminated: int = 0
    idle: int = 0  # past the timeout (and not terminated)
    expired: int | None = None  # past the timeout, terminated or not (None: not counted)
    events: int = 0
    orphaned_events: int | None = None  # None: not counted by this backend
    events_per_session: dict[str, float | int] = field(default_factory=dict)
    oldest_created_at: int | None = None
    newest_created_at: int | None = None
    oldest_activity: int | None = None
    newest_activity: int | None = None
    storage_bytes: int | None = None
    storage: dict[str, int] = field(default_factory=dict)
    backend_facts: dict[str, JSON] = field(default_factory=dict)
    age_histogram: list[tuple[str, int]] = field(default_factory=list)
    activity_histogram: list[tuple[str, int]] = field(default_factory=list)
    approximate: bool = False

    @property
    def active(self) -> int:
        return max(self.sessions - self.terminated - self.idle, 0)


@dataclass(slots=True)
class Finding:
    """One difference between a live store and the layout (``setup --check``)."""

    object: str
    problem: str
    severity: str = "error"  # error: drift that breaks a server; note: harmless extra


@dataclass(slots=True)
class SetupStep:
    """One thing ``setup`` did or would do."""

    object: str
    action: str  # created, exists, updated, would create, ...
    detail: str = ""


# Age buckets for histograms: (label, upper bound in ms; None = no bound).
AGE_BUCKETS: list[tuple[str, int | None]] = [
    ("< 1m", 60_000),
    ("1m-5m", 300_000),
    ("5m-30m", 1_800_000),
    ("30m-1h", 3_600_000),
    ("1h-6h", 21_600_000),
    ("6h-1d", 86_400_000),
    ("1d-7d", 604_800_000),
    (">= 7d", None),
]


def percentiles_from_distribution(counts: dict[int, int]) -> dict[str, float | int]:
    """mean, p50, p95 and max from a {value: how many} distribution (nearest rank)."""
    total = sum(counts.values())
    if total == 0:
        return {"mean": 0, "p50": 0, "p95": 0, "max": 0}
    mean = sum(value * n for value, n in counts.items()) / total
    out: dict[str, float | int] = {"mean": round(mean, 2)}
    for name, q in (("p50", 0.50), ("p95", 0.95)):
        rank = max(1, -(-int(q * total * 1000) // 1000))  # ceil(q * total)
        seen = 0
        for value in sorted(counts):
            seen += counts[value]
            if seen >= rank:
                out[name] = value
                break
    out["max"] = max(counts)
    return out


@dataclass(slots=True)
class ExpireOptions:
    """What ``expire`` removes and how gently (see ``mcpstore expire --help``)."""

    now_ms: int
    idle_ms: int = 30 * 60 * 1000
    terminated: bool = False
    terminated_grace_ms: int = 0
    max_events_per_session: int | None = None
    orphans: bool = True
    batch_size: int = 5000
    rate: float | None = None  # rows deleted per second, at most
    time_budget_ms: int | None = None
    dry_run: bool = False
    segment: tuple[int, int] | None = None  # (index, total), 0-based index: DynamoDB only
    sample_size: int = 5
    jobs: int = 1  # connections deleting at once, where the store can (parallel_expire)
    # Key-value layouts (fastmcp): also trim stream lists naming missing events and remove
    # events no stream lists (--orphans).
    kv_orphans: bool = False

    @property
    def idle_cutoff(self) -> int:
        """Sessions whose last activity is before this are idle-expired."""
        return self.now_ms - self.idle_ms

    @property
    def terminated_cutoff(self) -> int:
        """Ended sessions whose end (or last activity) is before this go with --terminated."""
        return self.now_ms - self.terminated_grace_ms

    def session_expired(self, session: Session) -> bool:
        """The predicate every backend applies, in Python form (and re-checks on delete)."""
        if session.last_activity < self.idle_cutoff:
            return True
        if self.terminated and session.terminated:
            ended = session.terminated_at or session.last_activity
            return ended < self.terminated_cutoff
        return False


@dataclass(slots=True)
class ExpireResult:
    dry_run: bool = False
    sessions: int = 0  # sessions removed (or that would be)
    events: int = 0  # events removed with those sessions
    orphans: int = 0  # events whose session was already gone
    trimmed: int = 0  # events over --max-events-per-session
    skipped: int = 0  # selected, but active again when deleted (left alone)
    partial: bool = False  # stopped by --time-budget with work left
    remaining: dict[str, int] = field(default_factory=dict)
    sample: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    # Key-value layouts: entries past their expiry removed, and per collection where the
    # backend counts them so (PostgreSQL does in --dry-run only: a DELETE that returns its
    # rows costs twice as much).
    expired_entries: int = 0
    entries: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.sessions + self.events + self.orphans + self.trimmed + self.expired_entries
