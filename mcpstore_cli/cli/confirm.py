"""The confirmation rules of destructive work (clear, teardown, restore --mode replace).

1. Show exactly what will be destroyed (store, tables, counts) on stderr.
2. ``--yes`` skips the questions; without it and without a terminal, refuse (exit 4).
3. Ask with default No; deleting tables also needs the table or database name typed.
4. Ctrl-C at a prompt exits 130; any refusal exits 4. In every case nothing has changed yet.
"""

from __future__ import annotations

from collections.abc import Sequence

from mcpstore_cli.cli.common import Command
from mcpstore_cli.errors import ConfirmationError


def show_preview(cmd: Command, lines: Sequence[str], *, force: bool = False) -> None:
    """Print the preview on stderr (``force`` ignores --quiet: a person is about to answer)."""
    if cmd.quiet and not force:
        return
    for line in lines:
        cmd.env.stderr.write(cmd._scrub(line) + "\n")
    cmd.env.stderr.flush()


def needs_terminal(cmd: Command, action: str) -> None:
    """Refuse (exit 4) when nobody can answer."""
    if not cmd.env.interactive:
        raise ConfirmationError(
            f"{action} needs confirmation: run it on a terminal, or pass --yes to confirm "
            "non-interactively; nothing was changed."
        )


def confirm_destructive(
    cmd: Command,
    *,
    action: str,
    preview: Sequence[str],
    yes: bool,
    question: str | None = None,
    typed_name: str | None = None,
) -> None:
    """Return when the destructive ``action`` may go ahead; raise ConfirmationError otherwise.

    ``typed_name``: the table or database name the person must type (deleting tables).
    """
    if yes:
        show_preview(cmd, preview)
        return
    needs_terminal(cmd, action)
    show_preview(cmd, preview, force=True)
    ask(cmd, question or f"{action}?")
    if typed_name is not None:
        require_typed(cmd, typed_name)


def ask(cmd: Command, question: str) -> None:
    """A yes/no question with default No; "no" raises ConfirmationError."""
    from mcpstore_cli.cli.prompts import prompter_for

    if not prompter_for(cmd.env).confirm(question, default=False):
        raise ConfirmationError("Not confirmed; nothing was changed.")


def require_typed(cmd: Command, name: str) -> None:
    """The person must type ``name`` exactly."""
    from mcpstore_cli.cli.prompts import prompter_for

    typed = prompter_for(cmd.env).text(f"Type {name} to confirm:")
    if typed.strip() != name:
        shown = typed.strip() or "nothing"
        raise ConfirmationError(f"You typed {shown}, not {name}; nothing was changed.")
