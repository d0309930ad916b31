"""The one place that defines mcpstore's exit statuses (documented in the README)."""

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    CHECK_FAILED = 3
    CONFIRMATION = 4
    PARTIAL = 5
    INTERRUPTED = 130
