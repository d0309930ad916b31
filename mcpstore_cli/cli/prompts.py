"""Every question mcpstore asks, in one place.

questionary (and prompt_toolkit under it) load only when a question is asked, so start-up stays
light. Prompts are drawn on stderr: stdout carries data only. Tests drive a :class:`Prompter`
through prompt_toolkit's pipe input (see ``tests/helpers.py``); a real terminal drives the same
code.

Ctrl-C at any prompt raises :class:`KeyboardInterrupt` (the CLI exits 130, nothing changed);
end of input (Ctrl-D, a closed pipe) counts as "no".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mcpstore_cli.env import Environment


@dataclass(frozen=True, slots=True)
class Choice:
    """One line of a checklist: ``value`` comes back when ticked."""

    value: str
    title: str
    checked: bool = False
    disabled: str | None = None  # a reason shown instead of a tick box


class Prompter:
    """Asks yes/no, free-text and checklist questions.

    ``input``/``output`` are prompt_toolkit Input/Output objects; None means the process
    terminal (output on stderr).
    """

    def __init__(self, *, input: Any = None, output: Any = None) -> None:
        self._input = input
        self._output = output

    def _io(self) -> dict[str, Any]:
        if self._output is None:
            import sys

            from prompt_toolkit.output import create_output

            self._output = create_output(stdout=sys.stderr)
        kwargs: dict[str, Any] = {"output": self._output}
        if self._input is not None:
            kwargs["input"] = self._input
        return kwargs

    @staticmethod
    def _ask(question: Any) -> Any:
        try:
            return question.unsafe_ask()
        except EOFError:
            return None

    def confirm(self, message: str, *, default: bool = False) -> bool:
        """Yes or no; Enter takes ``default``."""
        import questionary

        answer = self._ask(
            questionary.confirm(message, default=default, auto_enter=True, **self._io())
        )
        return bool(answer)

    def text(self, message: str) -> str:
        """A line of text ("" when input ends)."""
        import questionary

        answer = self._ask(questionary.text(message, **self._io()))
        return answer if isinstance(answer, str) else ""

    def checkbox(self, message: str, choices: Sequence[Choice]) -> list[str]:
        """The values of the ticked choices, in the order given (space ticks, Enter ends)."""
        import questionary

        items = [
            questionary.Choice(title=c.title, value=c.value, checked=c.checked, disabled=c.disabled)
            for c in choices
        ]
        answer = self._ask(
            questionary.checkbox(
                message,
                choices=items,
                instruction="(space ticks, enter accepts)",
                **self._io(),
            )
        )
        ticked = set(answer or [])
        return [c.value for c in choices if c.value in ticked]


def prompter_for(env: Environment) -> Prompter:
    """The environment's prompter (tests inject one), else one on the terminal."""
    if env.prompter is None:
        env.prompter = Prompter()
    prompter: Prompter = env.prompter
    return prompter
