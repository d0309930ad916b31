"""The prompts module and the confirmation rules, driven through prompt_toolkit pipe input."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from mcpstore_cli.cli.common import Command
from mcpstore_cli.cli.confirm import confirm_destructive
from mcpstore_cli.cli.prompts import Choice, Prompter
from mcpstore_cli.env import Environment
from mcpstore_cli.errors import ConfirmationError
from mcpstore_cli.exitcodes import ExitStatus

T = TypeVar("T")
CTRL_C = "\x03"
DOWN = "\x1b[B"


@contextmanager
def typed(keys: str) -> Iterator[Prompter]:
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        pipe.close()
        yield Prompter(input=pipe, output=DummyOutput())


def answer(keys: str, ask: Callable[[Prompter], T]) -> T:
    with typed(keys) as prompter:
        return ask(prompter)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [("y", True), ("Y", True), ("n", False), ("\r", False), ("", False)],
)
def test_confirm_defaults_to_no(keys: str, expected: bool) -> None:
    assert answer(keys, lambda p: p.confirm("Delete?")) is expected


def test_confirm_default_yes_is_possible() -> None:
    assert answer("\r", lambda p: p.confirm("Go on?", default=True)) is True


def test_ctrl_c_interrupts_every_kind_of_prompt() -> None:
    choices = [Choice("a", "A")]
    for ask in (
        lambda p: p.confirm("x?"),
        lambda p: p.text("x?"),
        lambda p: p.checkbox("x?", choices),
    ):
        with pytest.raises(KeyboardInterrupt):
            answer(CTRL_C, ask)


def test_text_and_end_of_input() -> None:
    assert answer("mcp_sessions\r", lambda p: p.text("Name?")) == "mcp_sessions"
    assert answer("half typed", lambda p: p.text("Name?")) == ""


def test_checkbox_returns_ticked_values_in_given_order() -> None:
    choices = [Choice("clear", "Clear"), Choice("backup", "Back up"), Choice("delete", "Delete")]
    keys = f"{DOWN}{DOWN} {DOWN} \r"  # tick delete, wrap around to clear, tick it
    assert answer(keys, lambda p: p.checkbox("Steps?", choices)) == ["clear", "delete"]
    assert answer("\r", lambda p: p.checkbox("Steps?", choices)) == []
    preticked = [Choice("a", "A", checked=True), Choice("b", "B")]
    assert answer("\r", lambda p: p.checkbox("Steps?", preticked)) == ["a"]


def command(keys: str | None, *, tty: bool) -> tuple[Command, io.StringIO, Any]:
    err = io.StringIO()
    pipe_cm = create_pipe_input() if keys is not None else None
    pipe = pipe_cm.__enter__() if pipe_cm is not None else None
    if pipe is not None:
        pipe.send_text(keys or "")
        pipe.close()
    env = Environment(
        stdin=io.StringIO(),
        stdout=io.StringIO(),
        stderr=err,
        environ={},
        stdin_isatty=tty,
        stdout_isatty=tty,
        stderr_isatty=tty,
        prompter=Prompter(input=pipe, output=DummyOutput()) if pipe is not None else None,
    )
    return Command(env=env), err, pipe_cm


PREVIEW = ["Store: postgresql://mcp:***@127.0.0.1/db", "sessions: 12 rows"]


def confirm(keys: str | None, *, tty: bool = True, yes: bool = False, name: str | None = None):
    cmd, err, pipe_cm = command(keys, tty=tty)
    try:
        confirm_destructive(
            cmd, action="clear", preview=PREVIEW, yes=yes, question="Clear?", typed_name=name
        )
    finally:
        if pipe_cm is not None:
            pipe_cm.__exit__(None, None, None)
    return err.getvalue()


def test_yes_skips_questions_but_still_shows_what_goes() -> None:
    shown = confirm(None, tty=False, yes=True)
    assert "sessions: 12 rows" in shown


def test_no_terminal_and_no_yes_refuses_with_exit_4() -> None:
    with pytest.raises(ConfirmationError) as info:
        confirm(None, tty=False)
    assert info.value.exit_status == ExitStatus.CONFIRMATION
    assert "--yes" in info.value.message


def test_answering_no_or_enter_refuses() -> None:
    for keys in ("n", "\r", ""):
        with pytest.raises(ConfirmationError):
            confirm(keys)


def test_yes_then_the_right_name_confirms() -> None:
    shown = confirm("ymcp_sessions\r", name="mcp_sessions")
    assert "Store: postgresql://mcp:***@127.0.0.1/db" in shown


def test_wrong_name_refuses() -> None:
    with pytest.raises(ConfirmationError) as info:
        confirm("ymcp_session\r", name="mcp_sessions")
    assert "mcp_session," in info.value.message


def test_ctrl_c_at_confirmation_propagates_as_interrupt() -> None:
    with pytest.raises(KeyboardInterrupt):
        confirm(CTRL_C)
    with pytest.raises(KeyboardInterrupt):
        confirm("y" + CTRL_C, name="mcp_sessions")
