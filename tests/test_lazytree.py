"""The command tree built on demand (cli/lazytree.py) is the tree Typer builds whole.

A run builds the root and the command it names; the root's help lists every command from its
registration. Both must say exactly what the whole tree says.
"""

from __future__ import annotations

from typing import Any

import pytest
import typer

from mcpstore_cli.cli.app import app, get_command
from mcpstore_cli.cli.lazytree import LazyCommands

WHOLE = typer.main.get_command(app)  # as Typer builds it, every command at once


def _help(command: Any, *path: str) -> str:
    ctx = command.context_class(command, info_name="mcpstore", **command.context_settings)
    for name in path:
        command = ctx.command.get_command(ctx, name)
        ctx = command.context_class(command, parent=ctx, info_name=name)
    return str(command.get_help(ctx))


def _paths(command: Any, ctx: Any = None, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    ctx = ctx or command.context_class(command, info_name="mcpstore")
    out = []
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        out.append((*path, name))
        if hasattr(sub, "commands"):
            sub_ctx = sub.context_class(sub, parent=ctx, info_name=name)
            out += _paths(sub, sub_ctx, (*path, name))
    return out


def test_the_root_help_is_the_whole_trees() -> None:
    root = get_command()
    assert _help(root) == _help(WHOLE)
    assert root.commands._built == {}, "listing the commands built none of them"


@pytest.mark.parametrize("path", _paths(WHOLE), ids=" ".join)
def test_every_command_is_the_whole_trees(path: tuple[str, ...]) -> None:
    root = get_command()
    assert _help(root, *path) == _help(WHOLE, *path)
    assert list(root.commands._built) == [path[0]], "only the command named was built"


def test_the_commands_are_named_in_the_same_order() -> None:
    root = get_command()
    assert isinstance(root.commands, LazyCommands)
    ctx = root.context_class(root, info_name="mcpstore")
    assert root.list_commands(ctx) == WHOLE.list_commands(ctx)
    assert sorted(root.commands.keys()) == sorted(WHOLE.commands)


def test_listed_commands_say_what_built_ones_do() -> None:
    root = get_command()
    for name in root.commands:
        listed, built = root.commands.listing(name), WHOLE.commands[name]
        assert (listed.name, listed.hidden, listed.deprecated) == (
            built.name,
            built.hidden,
            built.deprecated,
        )
        for limit in (10, 30, 45, 60, 94, 200):
            assert listed.get_short_help_str(limit) == built.get_short_help_str(limit)


@pytest.mark.parametrize("typed", ["stat", "lst", "backups", "nothing-like-it", "--no-such-option"])
def test_an_unknown_command_gets_the_same_message(typed: str) -> None:
    def message(root: Any) -> str:
        with pytest.raises(Exception) as caught:
            root.main([typed, "x"], prog_name="mcpstore", standalone_mode=False)
        return f"{type(caught.value).__name__}: {caught.value}"

    assert message(get_command()) == message(WHOLE)
