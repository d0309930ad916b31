"""RFC 3339 timestamps as the task stores keep them: read every valid form, write the server's.

turul's 2025 task store writes chrono's ``to_rfc3339()`` of a UTC time: ``+00:00`` and as
many fraction digits as the value needs (none, 3, 6 or 9: ``2026-11-21T10:00:00.123456789+00:00``).
Its ext-tasks documents carry milliseconds and ``Z`` (``2026-08-15T00:00:00.000Z``). Both must be
read, and so must any other valid RFC 3339 form (another offset, ``z``/``t``/space separators,
1 to 9 fraction digits). Values are kept as integer nanoseconds since the Unix epoch, so that
nothing is lost to floating point.
"""

from __future__ import annotations

import calendar
import re

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_NS = 1_000_000_000


class BadTimestamp(ValueError):
    """Text that is not an RFC 3339 date and time."""


def parse_ns(text: str) -> int:
    """Nanoseconds since the Unix epoch of an RFC 3339 timestamp; BadTimestamp otherwise."""
    m = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise BadTimestamp(f"{text!r} is not an RFC 3339 timestamp")
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    if not (1 <= month <= 12) or not (1 <= day <= calendar.monthrange(year, month)[1]):
        raise BadTimestamp(f"{text!r} is not a valid date")
    # 60: a leap second, which RFC 3339 allows; counted as the next second's start.
    if hour > 23 or minute > 59 or second > 60:
        raise BadTimestamp(f"{text!r} is not a valid time of day")
    frac = m.group(7) or ""
    nanos = int(frac.ljust(9, "0")) if frac else 0
    offset = 0
    if m.group(8) is None:
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            raise BadTimestamp(f"{text!r} has an invalid UTC offset")
        offset = (oh * 3600 + om * 60) * (1 if m.group(9) == "+" else -1)
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    return seconds * _NS + nanos


def parse_ms(text: str) -> int:
    """Milliseconds since the epoch (rounded down)."""
    return parse_ns(text) // 1_000_000


def _civil(ns: int) -> tuple[str, int]:
    import time

    seconds, nanos = divmod(ns, _NS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)), nanos


def format_chrono(ns: int) -> str:
    """As chrono's ``DateTime<Utc>::to_rfc3339()`` writes it: ``+00:00``, and the fraction
    with 0, 3, 6 or 9 digits, the fewest that hold the value."""
    base, nanos = _civil(ns)
    if nanos == 0:
        frac = ""
    elif nanos % 1_000_000 == 0:
        frac = f".{nanos // 1_000_000:03d}"
    elif nanos % 1_000 == 0:
        frac = f".{nanos // 1_000:06d}"
    else:
        frac = f".{nanos:09d}"
    return f"{base}{frac}+00:00"


def sorting_cut(ns: int) -> str | None:
    """The server's spelling of ``ns`` with the fraction's trailing zeros dropped (and its dot
    when nothing is left), or None before 1970 or from the year 10000 on.

    Text in the server's spelling (a ``T``, the seconds, a fraction of any length or none,
    ``+00:00``) sorts before this one, byte by byte, exactly when its time is earlier: the
    fields before the seconds have fixed widths, and after the seconds ``+`` sorts before
    ``.``, which sorts before the digits, so a shorter fraction sorts first unless the longer
    one only adds zeros, which this spelling never leaves at the end."""
    if ns < 0 or ns >= 253402300800 * _NS:
        return None
    base, nanos = _civil(ns)
    frac = f".{nanos:09d}".rstrip("0").rstrip(".")
    return f"{base}{frac}+00:00"


def format_millis_z(ns: int) -> str:
    """Milliseconds and ``Z`` (the ext-tasks documents' form): ``2026-08-15T00:00:00.000Z``."""
    base, nanos = _civil(ns)
    return f"{base}.{nanos // 1_000_000:03d}Z"
