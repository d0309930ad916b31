"""The command tree, built only as far as a run needs it.

Typer builds a command by reading its function's signature and evaluating every annotation
(each option), about as long for the whole tree as importing Typer itself. ``mcpstore list``
needs the root and ``list``; the root's help needs every command's name and one-line help,
not their options. :func:`build` gives the root group with its subcommands in a
:class:`LazyCommands` mapping: each is built, exactly as Typer builds it in the whole tree,
when first looked up; the root's help lists them from what they were registered with.

Only Typer's public API: ``typer.main`` builds each command from its registration
(``app.registered_commands`` / ``registered_groups``), ``cls=`` takes the root group class.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import typer
import typer.core

from mcpstore_cli.cli.manpage import ManGroup

Command = Any  # a click command as typer.main builds it
Context = Any


class LazyCommands(MutableMapping[str, Command]):
    """Subcommands by name, in registration order, each built on first lookup."""

    def __init__(self, names: list[str], make: Callable[[str], Command]) -> None:
        self._names = names
        self._make = make
        self._built: dict[str, Command] = {}
        self.listing: Callable[[str], Command] = make  # what the help lists (see build)

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            if name not in self._names:
                raise KeyError(name)
            self._built[name] = self._make(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        if name not in self._names:
            self._names.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)


class RootGroup(ManGroup):
    """The root group (``typer.Typer(cls=RootGroup)``): names its subcommands without
    building them, and lists them in its help as registered."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: Context, formatter: Any) -> None:
        commands = self.commands
        if not isinstance(commands, LazyCommands):
            super().format_commands(ctx, formatter)
            return
        self.commands = {name: commands.listing(name) for name in commands}
        try:
            super().format_commands(ctx, formatter)
        finally:
            self.commands = commands


def build(app: typer.Typer) -> Command:
    """The root of ``app`` (its callback and options) with its subcommands in a
    :class:`LazyCommands`."""
    if any(not info.name for info in app.registered_groups):
        # A group added without a name lends its commands to the root: build it all.
        return typer.main.get_command(app)
    root = typer.main.get_command(_with(app, commands=[], groups=[]))
    commands = {_name(info): info for info in app.registered_commands}
    groups = {str(info.name): info for info in app.registered_groups}

    def make(name: str) -> Command:
        # As typer.main.get_group_from_info builds each one in the whole tree.
        built: Command
        if name in commands:
            built = typer.main.get_command_from_info(
                commands[name],
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=app.rich_markup_mode,
            )
        else:
            built = typer.main.get_group_from_info(
                groups[name],
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=app.rich_markup_mode,
                suggest_commands=app.suggest_commands,
            )
        return built

    def listing(name: str) -> Command:
        info = commands.get(name)
        if info is not None:
            return _as_listed(name, info, app)
        # A group as the root's help lists it: its name and help, not its subcommands.
        bare = copy.copy(groups[name])
        if bare.typer_instance is None:
            return make(name)
        bare.typer_instance = _with(bare.typer_instance, commands=[], groups=[])
        return typer.main.get_group_from_info(
            bare,
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
            suggest_commands=app.suggest_commands,
        )

    lazy = LazyCommands([*commands, *groups], make)
    lazy.listing = listing
    root.commands = lazy  # type: ignore[attr-defined]
    return root


def _with(app: typer.Typer, *, commands: list[Any], groups: list[Any]) -> typer.Typer:
    part = copy.copy(app)
    part.registered_commands = commands
    part.registered_groups = groups
    return part


def _name(info: Any) -> str:
    return info.name or typer.main.get_command_name(info.callback.__name__)


def _as_listed(name: str, info: Any, app: typer.Typer) -> Command:
    """A command as the root's help lists it: what ``typer.main.get_command_from_info``
    makes of its registration, without its options (the help uses its name, one-line help
    and whether it is hidden)."""
    use_help = info.help
    use_help = inspect.getdoc(info.callback) if use_help is None else inspect.cleandoc(use_help)
    cls = info.cls or typer.core.TyperCommand
    listed: Command = cls(
        name=name,
        help=use_help,
        epilog=info.epilog,
        short_help=info.short_help,
        options_metavar=info.options_metavar,
        add_help_option=info.add_help_option,
        no_args_is_help=info.no_args_is_help,
        hidden=info.hidden,
        deprecated=info.deprecated,
        rich_markup_mode=app.rich_markup_mode,
        rich_help_panel=info.rich_help_panel,
    )
    return listed
