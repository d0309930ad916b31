"""The environment a command runs in: streams, terminals, variables, the clock.

Tests build their own (see ``tests/helpers.py``) instead of patching globals.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class Environment:
    stdin: IO[str] = field(default_factory=lambda: sys.stdin)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    stdin_isatty: bool | None = None
    stdout_isatty: bool | None = None
    stderr_isatty: bool | None = None
    width: int | None = None  # terminal width override (tests)
    prompter: Any = None  # set by tests to drive questionary prompts
    _consoles: dict[str, Console] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.stdin_isatty is None:
            self.stdin_isatty = _isatty(self.stdin)
        if self.stdout_isatty is None:
            self.stdout_isatty = _isatty(self.stdout)
        if self.stderr_isatty is None:
            self.stderr_isatty = _isatty(self.stderr)

    @property
    def interactive(self) -> bool:
        """Whether a person can answer prompts."""
        return bool(self.stdin_isatty and self.stderr_isatty)

    @property
    def no_color(self) -> bool:
        return "NO_COLOR" in self.environ

    def console(self, which: str = "stdout") -> Console:
        """A rich console on stdout or stderr, made on first use (rich loads lazily).

        On a terminal it is as wide as the terminal. Anywhere else (a file, a pipe) nothing
        is wrapped, whatever ``COLUMNS`` says, and no line ends in padding spaces.
        """
        if which not in self._consoles:
            from rich.console import Console

            stream = self.stdout if which == "stdout" else self.stderr
            tty = self.stdout_isatty if which == "stdout" else self.stderr_isatty
            self._consoles[which] = Console(
                # TrimmedLines stands in for the stream (it forwards what it does not define).
                file=stream if tty else cast("IO[str]", TrimmedLines(stream)),
                force_terminal=bool(tty),
                no_color=self.no_color or not tty,
                width=(self.width or None) if tty else UNWRAPPED_WIDTH,
                highlight=False,
                soft_wrap=False,
            )
        return self._consoles[which]


# Console width off a terminal: wide enough that rich never wraps a line.
UNWRAPPED_WIDTH = 1_000_000


class TrimmedLines:
    """A text stream that drops the spaces at the end of every line written through it.

    Rich pads table cells to their column width; in a file or pipe that padding is noise.
    Trailing spaces are held back until the rest of the line shows whether they end it.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._spaces = ""

    def write(self, text: str) -> int:
        out = []
        parts = text.split("\n")
        for i, part in enumerate(parts):
            kept = part.rstrip(" ")
            if kept:
                out.append(self._spaces + kept)
                self._spaces = ""
            if i < len(parts) - 1:
                out.append("\n")
                self._spaces = ""
            else:
                self._spaces += part[len(kept) :]
        self.stream.write("".join(out))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
