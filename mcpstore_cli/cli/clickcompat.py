"""The click layer Typer runs on: Typer 0.29 vendors it as ``typer._click``.

Everything in mcpstore that needs its classes (exceptions, the command tree) imports them from
here, so a Typer upgrade is one place to adjust.
"""

from __future__ import annotations

from typer import Abort, Exit
from typer._click.core import Command, Context
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer._click.globals import get_current_context

__all__ = [
    "Abort",
    "ClickException",
    "Command",
    "Context",
    "Exit",
    "NoArgsIsHelpError",
    "UsageError",
    "get_current_context",
]
