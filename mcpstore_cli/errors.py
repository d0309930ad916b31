"""Errors the library raises. Each carries the exit status the CLI ends with.

Messages are one sentence that names the problem and, where there is one, what to do.
They never contain a password: build them from :meth:`StoreURL.masked`.
"""

from __future__ import annotations

from mcpstore_cli.exitcodes import ExitStatus


class McpStoreError(Exception):
    """Base class: a problem that ends a command with a clear message."""

    exit_status: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(McpStoreError):
    """Bad input on the command line or in the environment (exit 2)."""

    exit_status = ExitStatus.USAGE


class StoreMissingError(McpStoreError):
    """The store, or one of its tables, does not exist (exit 3)."""

    exit_status = ExitStatus.CHECK_FAILED


class LayoutError(McpStoreError):
    """The store exists but is not in the layout MCP servers write (exit 3)."""

    exit_status = ExitStatus.CHECK_FAILED


class StoreConnectionError(McpStoreError):
    """The store cannot be reached or opened (exit 1)."""


class LockTimeoutError(McpStoreError):
    """A lock wait outlasted --lock-timeout; the transaction was rolled back (exit 1)."""


class NotSupportedError(McpStoreError):
    """The backend does not have this operation (yet)."""


class SessionNotFoundError(McpStoreError):
    """No session with that id (exit 1)."""


class SessionIdError(SessionNotFoundError):
    """A typed session id names no session, or several (exit 1); see mcpstore_cli.ops.ids."""


class ConfirmationError(McpStoreError):
    """A destructive step needs confirmation that was not given (exit 4)."""

    exit_status = ExitStatus.CONFIRMATION


class PartialError(McpStoreError):
    """Work stopped before it was complete, by design (time budget) (exit 5)."""

    exit_status = ExitStatus.PARTIAL


def not_supported(operation: str, backend: str) -> NotSupportedError:
    return NotSupportedError(f"{operation} is not supported by the {backend} backend yet.")


class Interrupted(BaseException):
    """Ctrl-C stopped work part-way; ``message`` says what was done and what was kept (empty:
    the command's own note applies).

    Not an ``Exception``, so that nothing that catches those swallows or rewraps it, and not a
    ``KeyboardInterrupt``, which asyncio lets escape its event loop mid-cleanup: it ends a task
    like any error. The CLI prints ``mcpstore: interrupted; <message>`` and exits 130.
    """

    exit_status = ExitStatus.INTERRUPTED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ExpireBusyError(PartialError):
    """Another expire holds the store's lock: this run does nothing (exit 5)."""
