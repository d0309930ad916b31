"""Run mcpstore in-process like a shell would, and get back what it printed and its status."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mcpstore_cli.cli.app import main
from mcpstore_cli.env import Environment


@dataclass
class Result:
    stdout: str
    stderr: str
    exit_code: int
    args: list[str]

    def json(self) -> Any:
        return json.loads(self.stdout)

    def jsonl(self) -> list[Any]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def __repr__(self) -> str:
        return (
            f"Result(args={self.args!r}, exit_code={self.exit_code},\n"
            f"  stdout={self.stdout[:2000]!r},\n  stderr={self.stderr[:2000]!r})"
        )


def run_cli(
    args: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
    stdin: str = "",
    tty: bool = False,
    width: int = 120,
    keys: str | None = None,
) -> Result:
    """Run ``mcpstore ARGS`` in this process with an injected environment.

    ``environ`` replaces the process environment entirely (so the developer's own variables
    cannot leak in); ``tty`` makes stdout/stderr/stdin look like a terminal. ``keys`` are
    typed into the prompts (prompt_toolkit pipe input) on a pretend terminal.
    """
    if keys is not None:
        return _run_with_keys(args, keys, environ=environ, stdin=stdin, width=width)
    out, err = io.StringIO(), io.StringIO()
    env = Environment(
        stdin=io.StringIO(stdin),
        stdout=out,
        stderr=err,
        environ=dict(environ or {}),
        stdin_isatty=tty,
        stdout_isatty=tty,
        stderr_isatty=tty,
        width=width,
    )
    code = main(list(args), env=env)
    return Result(out.getvalue(), err.getvalue(), code, list(args))


def _run_with_keys(
    args: Sequence[str],
    keys: str,
    *,
    environ: Mapping[str, str] | None,
    stdin: str,
    width: int,
) -> Result:
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from mcpstore_cli.cli.prompts import Prompter

    out, err = io.StringIO(), io.StringIO()
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        pipe.close()
        env = Environment(
            stdin=io.StringIO(stdin),
            stdout=out,
            stderr=err,
            environ=dict(environ or {}),
            stdin_isatty=True,
            stdout_isatty=True,
            stderr_isatty=True,
            width=width,
            prompter=Prompter(input=pipe, output=DummyOutput()),
        )
        code = main(list(args), env=env)
    return Result(out.getvalue(), err.getvalue(), code, list(args))
