"""Durations as operators write them: ``90s``, ``30m``, ``12h``, ``7d``, ``1h30m``, ``2w``."""

from __future__ import annotations

import re

from mcpstore_cli.errors import UsageError

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_ORDER = ["w", "d", "h", "m", "s", "ms"]
HINT = "write it like 90s, 30m, 12h, 7d or 1h30m"


def parse_duration(text: str, *, option: str = "duration", allow_zero: bool = False) -> int:
    """Parse a duration into milliseconds.

    Raises :class:`UsageError` naming ``option`` for anything that is not a duration, for a
    negative one, and for zero unless ``allow_zero``.
    """
    raw = text.strip().lower()
    if raw.startswith("-"):
        raise UsageError(f"{option} must be positive, not {text!r}; {HINT}.")
    if not raw:
        raise UsageError(f"{option} is empty; {HINT}.")
    if raw.isdigit() and int(raw) == 0 and not allow_zero:
        raise UsageError(f"{option} must be longer than zero, not {text!r}.")
    if raw.isdigit():
        raise UsageError(f"{option} {text!r} has no unit; {HINT}.")
    pos = 0
    total = 0
    seen: list[str] = []
    for match in _PART.finditer(raw):
        if match.start() != pos:
            break
        unit = match.group(2)
        if unit in seen or (seen and _ORDER.index(unit) <= _ORDER.index(seen[-1])):
            raise UsageError(f"{option} {text!r} repeats or misorders its units; {HINT}.")
        seen.append(unit)
        total += int(match.group(1)) * _UNIT_MS[unit]
        pos = match.end()
    if pos != len(raw) or not seen:
        raise UsageError(f"{option} {text!r} is not a duration; {HINT}.")
    if total == 0 and not allow_zero:
        raise UsageError(f"{option} must be longer than zero, not {text!r}.")
    return total


def format_duration(ms: int | float) -> str:
    """Render milliseconds compactly: ``1h30m``, ``45s``, ``2d3h``; two units at most."""
    ms = int(ms)
    if ms < 0:
        return "-" + format_duration(-ms)
    if ms < 1000:
        return f"{ms}ms"
    parts: list[str] = []
    remaining = ms
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_MS[unit]
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
        if len(parts) == 2:
            break
        if parts and remaining == 0:
            break
    return "".join(parts)
