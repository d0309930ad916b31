"""The store options of one command line, as typed, and how two positions combine."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from mcpstore_cli.errors import UsageError
from mcpstore_cli.store.urls import BACKENDS

DEFAULT_CONNECT_TIMEOUT = 10.0  # seconds; StoreOptions' default (PostgreSQL reads it so)


_NAMES = {
    "url": "--url",
    "backend": "--backend",
    "layout": "--layout",
    "connect_timeout": "--connect-timeout",
    "lock_timeout": "--lock-timeout",
    "segments": "--segments",
    "table": "--table",
    "format": "--format",
    "quiet": "--quiet",
    "debug": "--debug",
}


def _choice(option: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    low = value.strip().lower()
    if low not in choices:
        listed = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices
        raise UsageError(f"{option} {value!r} is not one of the choices; choose {listed}.")
    return low


@dataclass(frozen=True)
class StoreArgs:
    """The store options of one command line, as typed (None / False: not given)."""

    url: str | None = None
    backend: str | None = None
    layout: str | None = None
    connect_timeout: str | None = None
    lock_timeout: str | None = None
    segments: int | None = None
    table: str | None = None
    format: str | None = None
    quiet: bool = False
    debug: bool = False

    def then(self, later: StoreArgs) -> StoreArgs:
        """These options overridden by ``later`` ones (given nearer the command): a value
        given in both places is the later one; a flag given in either is on."""
        merged: dict[str, Any] = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(later, f.name)
            if isinstance(mine, bool):
                merged[f.name] = mine or theirs
            else:
                merged[f.name] = theirs if theirs is not None else mine
        return StoreArgs(**merged)

    def given(self) -> list[str]:
        """The option names given (``--url`` ...), in declaration order."""
        return [_NAMES[f.name] for f in fields(self) if getattr(self, f.name) not in (None, False)]

    def checked(self, formats: tuple[str, ...] | None) -> StoreArgs:
        """Validated and normalised (choices lower-cased); a UsageError names the option."""
        backend = _choice("--backend", self.backend, BACKENDS)
        fmt = _choice("--format", self.format, formats or ())
        if self.segments is not None and not 1 <= self.segments <= 1000:
            raise UsageError(f"--segments must be between 1 and 1000, not {self.segments}.")
        checked = replace(self, backend=backend, format=fmt)
        checked.connect_seconds()
        checked.lock_timeout_ms()
        return checked

    def connect_seconds(self) -> float:
        """``--connect-timeout`` in seconds: a duration (``10s``, ``500ms``, ``1m``) or a plain
        number of seconds; at least 0.1 s."""
        text = self.connect_timeout
        if text is None:
            return DEFAULT_CONNECT_TIMEOUT
        try:
            seconds = float(text)
        except ValueError:
            from mcpstore_cli.util.durations import parse_duration

            seconds = parse_duration(text, option="--connect-timeout") / 1000
        if not seconds >= 0.1:  # also NaN
            raise UsageError(f"--connect-timeout must be at least 0.1s (100ms), not {text!r}.")
        return seconds

    def lock_timeout_ms(self) -> int | None:
        if self.lock_timeout is None:
            return None
        from mcpstore_cli.util.durations import parse_duration

        return parse_duration(self.lock_timeout, option="--lock-timeout")
