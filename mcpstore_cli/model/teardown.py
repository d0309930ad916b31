"""What clear and teardown find and report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


# Step names, in the only order they ever run.
BACKUP = "backup"


DISABLE_STREAMS = "disable_streams"


CLEAR = "clear"


DELETE = "delete"


STEP_ORDER = (BACKUP, DISABLE_STREAMS, CLEAR, DELETE)


STEP_TITLES = {
    BACKUP: "back up first",
    DISABLE_STREAMS: "disable streams",
    CLEAR: "clear data",
    DELETE: "delete tables",
}


@dataclass(slots=True)
class TableFacts:
    """One table (or the SQLite file's table) as the preview shows it."""

    name: str
    exists: bool = True
    rows: int | None = None
    rows_exact: bool = True  # False: an estimate (planner statistics, DescribeTable)
    bytes: int | None = None
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Inventory:
    """What clear and teardown would destroy: the store, its tables, counts, sizes and what
    else lives with them (SQLite files, a notify trigger, DynamoDB streams and backups)."""

    backend: str
    store: str  # the masked URL
    name: str  # what a person types to confirm deletion
    exists: bool
    tables: list[TableFacts] = field(default_factory=list)
    files: list[tuple[str, int]] = field(default_factory=list)  # SQLite: (path, bytes)
    installed: list[str] = field(default_factory=list)  # objects mcpstore itself installed
    streams: list[dict[str, Any]] = field(default_factory=list)  # DynamoDB: per table
    backups: dict[str, Any] = field(default_factory=dict)  # DynamoDB: ListBackups facts
    facts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    unit: str = "row"  # what one stored record is called (DynamoDB: item)

    def table(self, name: str) -> TableFacts | None:
        return next((t for t in self.tables if t.name == name), None)

    @property
    def has_streams(self) -> bool:
        return any(s.get("enabled") for s in self.streams)

    @property
    def rows(self) -> int:
        return sum(t.rows or 0 for t in self.tables)


@dataclass(slots=True)
class ClearResult:
    sessions: int
    events: int
    exact: bool = True  # False: counts are the estimates taken before a TRUNCATE
    seconds: float = 0.0
    recreated: bool = False
    stream_arn_before: str | None = None
    stream_arn_after: str | None = None
    notes: list[str] = field(default_factory=list)
    # Layouts of other records (tasks): what was deleted, by its plural noun, in place of
    # sessions and events.
    records: dict[str, int] | None = None

    def deleted_words(self) -> str:
        """``"12 sessions and 340 events"`` (or the layout's own records), estimates marked."""
        about = "" if self.exact else "about "
        if self.records is not None:
            return " and ".join(
                f"{about}{n:,} {_one(noun) if n == 1 else noun}" for noun, n in self.records.items()
            )
        return (
            f"{about}{self.sessions:,} {'session' if self.sessions == 1 else 'sessions'} and "
            f"{about}{self.events:,} {'event' if self.events == 1 else 'events'}"
        )


def _one(plural: str) -> str:
    """The singular of a record noun: entities, tasks, rows of server_fingerprints."""
    head, sep, tail = plural.partition(" ")
    if head.endswith("ies"):
        head = head[:-3] + "y"
    elif head.endswith("s"):
        head = head[:-1]
    return head + sep + tail


@dataclass(slots=True)
class StepResult:
    step: str
    done: str  # one sentence: what happened
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TeardownResult:
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0
    current: str | None = None  # the step under way
