"""Help that reads like a man page.

Usage lines name arguments by their metavar (``SESSION_ID``, ``[FILE]``), options show theirs
(``--url URL``, ``--idle-over DURATION``, ``--format table|json|jsonl|csv``) instead of Python
types, the store options have their own section, and the command list is grouped (by each
command's ``rich_help_panel``) and never cut short.

Built on Typer's documented extension point, ``cls=`` with subclasses of ``TyperCommand`` /
``TyperGroup``, and Click's public formatting methods; nothing private.
"""

from __future__ import annotations

from typing import Any

import typer.core

COMMANDS = "Commands"
OPTIONS = "Options"


def argument_name(param: Any) -> str:
    """How an argument is written: its metavar, else its name in capitals."""
    return str(param.metavar or (param.name or "ARG").upper())


def _usage_pieces(command: Any, ctx: Any) -> list[str]:
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if param.param_type_name != "argument":
            continue
        name = argument_name(param)
        if param.nargs != 1:
            name += "..."
        pieces.append(name if param.required else f"[{name}]")
    return pieces


def _format_params(command: Any, ctx: Any, formatter: Any) -> None:
    """Arguments, then options by section (``rich_help_panel``; unset: "Options")."""
    arguments: list[tuple[str, str]] = []
    sections: dict[str, list[tuple[str, str]]] = {OPTIONS: []}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        if param.param_type_name == "argument":
            arguments.append((argument_name(param), record[1]))
        else:
            panel = getattr(param, "rich_help_panel", None) or OPTIONS
            sections.setdefault(panel, []).append(record)
    if arguments:
        with formatter.section("Arguments"):
            formatter.write_dl(arguments)
    for title, rows in sections.items():
        if rows:
            with formatter.section(title):
                formatter.write_dl(rows)


class ManCommand(typer.core.TyperCommand):
    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage_pieces(self, ctx)

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _format_params(self, ctx, formatter)


class ManGroup(typer.core.TyperGroup):
    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*_usage_pieces(self, ctx), self.subcommand_metavar]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        self.format_commands(ctx, formatter)
        _format_params(self, ctx, formatter)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """Every command with its whole first sentence, grouped by ``rich_help_panel`` (the
        groups in the order they first appear, the commands of each in alphabetical order),
        the names of all groups in one column."""
        groups: dict[str, list[tuple[str, str]]] = {}
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            panel = getattr(command, "rich_help_panel", None) or COMMANDS
            groups.setdefault(panel, []).append((name, command.get_short_help_str(limit=500)))
        width = max((len(name) for rows in groups.values() for name, _ in rows), default=0)
        for title, rows in groups.items():
            with formatter.section(title):
                formatter.write_dl([(name.ljust(width), text) for name, text in sorted(rows)])
