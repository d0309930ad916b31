"""Tasks as mcpstore's task commands see them, whatever layout stores them.

turul keeps tasks in two layouts (``tasks``, the 2025-11-25 lane; ``ext-tasks``, the
2026-07-28 lane); each layout's package turns its rows into :class:`Task` and back. Times are
kept as the store holds them (RFC 3339 text: the server's list order is by that text) and as
integer nanoseconds since the epoch for arithmetic.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from mcpstore_cli.errors import UsageError

STATUSES = ("working", "input_required", "completed", "failed", "cancelled")
LIVE = ("working", "input_required")
TERMINAL = ("completed", "failed", "cancelled")

# What the server's recovery writes into a task it finds stuck (an em dash).
RECOVERED_MESSAGE = "Server restarted \u2014 task interrupted"
CANCELLED_MESSAGE = "Cancelled by operator (mcpstore)"


@dataclass(slots=True)
class Task:
    task_id: str
    status: str
    created_at: str  # RFC 3339, as stored
    last_updated_at: str
    created_ns: int
    updated_ns: int
    method: str | None = None  # original_method (ext-tasks: none kept)
    session_id: str | None = None
    status_message: str | None = None
    ttl_ms: float | None = None  # the task's lifetime from creation; None: unlimited
    poll_interval_ms: float | None = None
    params: Any = None  # original_params
    result: Any = None  # tasks: {"Success": v} | {"Error": {...}}; ext-tasks: the result
    error: Any = None  # ext-tasks: the error object
    meta: Any = None
    owner: str | None = None  # ext-tasks: the principal; None: anyone's
    revision: int | None = None  # PostgreSQL tasks: version; DynamoDB ext-tasks: rev
    document: dict[str, Any] | None = None  # ext-tasks: the whole stored document
    extras: dict[str, Any] = field(default_factory=dict)  # backend facts (ttlEpoch, ...)

    @property
    def live(self) -> bool:
        return self.status in LIVE

    @property
    def expires_ns(self) -> int | None:
        """When the task's ttl runs out (created + ttl); None when it has no ttl."""
        if self.ttl_ms is None:
            return None
        return self.created_ns + int(self.ttl_ms * 1_000_000)

    def past_ttl(self, now_ns: int) -> bool:
        end = self.expires_ns
        return end is not None and end < now_ns


@dataclass(slots=True)
class TaskFilter:
    now_ns: int
    statuses: tuple[str, ...] = ()
    session_id: str | None = None
    method: str | None = None
    stuck_for_ms: int | None = None  # live and not updated for this long

    def matches(self, task: Task) -> bool:
        if self.statuses and task.status not in self.statuses:
            return False
        if self.session_id is not None and task.session_id != self.session_id:
            return False
        if self.method is not None and task.method != self.method:
            return False
        if self.stuck_for_ms is not None:
            if not task.live:
                return False
            if not task.updated_ns < self.now_ns - self.stuck_for_ms * 1_000_000:
                return False
        return True


@dataclass(frozen=True, slots=True)
class TaskCursor:
    """A keyset position in the server's list order, ``(created_at, task_id)`` ascending."""

    created_at: str
    task_id: str

    def encode(self) -> str:
        body = json.dumps(["t", self.created_at, self.task_id], separators=(",", ":"))
        return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> TaskCursor:
        problem = f"--cursor {text!r} is not a cursor printed by mcpstore tasks list."
        try:
            padded = text.strip() + "=" * (-len(text.strip()) % 4)
            value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        except (ValueError, binascii.Error, UnicodeError):
            raise UsageError(problem) from None
        if (
            not isinstance(value, list)
            or len(value) != 3
            or value[0] != "t"
            or not all(isinstance(v, str) for v in value[1:])
        ):
            raise UsageError(problem)
        return cls(value[1], value[2])

    @classmethod
    def after(cls, task: Task) -> TaskCursor:
        return cls(task.created_at, task.task_id)


@dataclass(slots=True)
class TaskStats:
    store: str
    layout: str
    now_ns: int
    stuck_after_ms: int
    tasks: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_method: dict[str, int] = field(default_factory=dict)
    stuck: int = 0  # live, not updated for stuck_after_ms
    past_ttl: int = 0  # created + ttl passed (still stored)
    corrupt: int = 0
    oldest_live: Task | None = None
    oldest_created_ns: int | None = None
    newest_created_ns: int | None = None
    # Age (now - created) of every task, by bucket label, in order.
    age_histogram: list[tuple[str, int]] = field(default_factory=list)
    backend_facts: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TaskExpireOptions:
    now_ns: int
    dry_run: bool = False
    batch_size: int = 500
    time_budget_s: float | None = None
    rate: float | None = None  # deletes per second at most
    sample: int = 10
    jobs: int = 1  # connections deleting at once, where the store can (parallel_expire)
    # ext-tasks retention (opt-in, the server does none by default)
    orphan_after_ms: int | None = None
    honour_ttl: bool = False
    delete_terminal_after_ms: int | None = None


@dataclass(slots=True)
class TaskExpireResult:
    examined: int = 0
    deleted: int = 0  # tasks removed (would be, on a dry run)
    failed: int = 0  # live tasks made failed (ext-tasks retention)
    skipped_changed: int = 0  # the server moved them on after they were read: left alone
    corrupt: int = 0  # rows that cannot be read: left alone, counted
    sample: list[str] = field(default_factory=list)
    partial: bool = False  # the time budget ran out with more to do
    dry_run: bool = False
    elapsed_s: float = 0.0


@dataclass(slots=True)
class TaskChange:
    """One task a command changed (recover, cancel), or left alone and why."""

    task_id: str
    done: bool
    status: str | None = None
    reason: str | None = None


@dataclass(slots=True)
class RecoverResult:
    examined: int = 0
    recovered: int = 0
    skipped_changed: int = 0
    sample: list[str] = field(default_factory=list)
    dry_run: bool = False
    elapsed_s: float = 0.0
