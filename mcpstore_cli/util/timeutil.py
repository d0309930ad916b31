"""Unix-millisecond time, as the stores keep it, and how operators write points in time."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from mcpstore_cli.errors import UsageError
from mcpstore_cli.util.durations import format_duration, parse_duration


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso(ms: int | None) -> str | None:
    """ISO 8601 in UTC with millisecond precision, or None."""
    if ms is None:
        return None
    try:
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def short_time(ms: int | None) -> str:
    """``2026-11-21 14:02:03`` (UTC) for tables."""
    if ms is None:
        return "-"
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return str(ms)


def ago(ms: int | None, now: int) -> str:
    """``3m ago``, ``just now``, ``in 5s`` (clock skew)."""
    if ms is None:
        return "-"
    delta = now - ms
    if -1000 < delta < 1000:
        return "just now"
    if delta < 0:
        return f"in {format_duration(-delta)}"
    return f"{format_duration(delta)} ago"


def parse_point_in_time(text: str, *, option: str, now: int) -> int:
    """A point in time for filters, in Unix ms.

    Accepts an ISO 8601 date or date-time (UTC unless it names an offset), Unix milliseconds,
    or a duration meaning that long ago (``2h`` = two hours before now).
    """
    raw = text.strip()
    if not raw:
        raise UsageError(f"{option} is empty; give a date (2026-11-21), a time or a duration ago.")
    if raw.isdigit():
        value = int(raw)
        if value < 10_000_000_000:
            raise UsageError(
                f"{option} {text!r} looks like seconds; the stores use Unix milliseconds."
            )
        return value
    try:
        return now - parse_duration(raw, option=option, allow_zero=True)
    except UsageError:
        pass
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is neither a date, a date-time, Unix milliseconds nor a "
            "duration ago (2026-11-21, 2026-11-21T14:00:00Z, 1763733600000 or 2h)."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
