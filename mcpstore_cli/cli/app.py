"""The ``mcpstore`` command: a thin Typer layer over the library.

Start-up imports only Typer and this package's light modules: database drivers, SQLAlchemy,
boto3, questionary and rich load inside the commands that use them.
"""

from __future__ import annotations

import errno
import functools
import os
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import typer

from mcpstore_cli import __version__
from mcpstore_cli.cli import (
    backup_cmd,
    completion,
    demo_cmd,
    expire_cmd,
    inspect_cmds,
    setup_cmd,
    tail_cmd,
    teardown_cmds,
)
from mcpstore_cli.cli import clickcompat as click_exc
from mcpstore_cli.cli.common import add_layout_option
from mcpstore_cli.env import Environment
from mcpstore_cli.errors import Interrupted
from mcpstore_cli.exitcodes import ExitStatus

HELP = """Provision, inspect and maintain the session stores of MCP servers.

Works on SQLite files, PostgreSQL databases and DynamoDB tables in the layouts turul MCP
servers write. The store comes from --url, else --backend with its usual variables, else
MCPSTORE_URL, else sqlite:///mcp_sessions.db in the current directory.

Exit status: 0 ok, 1 error, 2 usage, 3 check failed (store missing or layout drift),
4 confirmation refused or needed, 5 partial, 130 interrupted.
"""

app = typer.Typer(
    name="mcpstore",
    help=HELP,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mcpstore {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """Provision, inspect and maintain the session stores of MCP servers."""


setup_cmd.register(app)
inspect_cmds.register(app)
demo_cmd.register(app)
expire_cmd.register(app)
tail_cmd.register(app)
teardown_cmds.register(app)
backup_cmd.register(app)
completion.register(app)


def get_command() -> click_exc.Command:
    command = typer.main.get_command(app)
    add_layout_option(command)
    _interruptible(command)
    return command


def _interruptible(command: click_exc.Command) -> None:
    """Ctrl-C anywhere in a command (a prompt, option checks; its async work says more
    itself, see Command.run) exits 130 with one line, not silently as Typer would."""
    if command.callback is not None:
        command.callback = _on_interrupt(command.callback)
    for sub in getattr(command, "commands", {}).values():
        _interruptible(sub)


def _on_interrupt(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (KeyboardInterrupt, Interrupted) as exc:
            ctx = click_exc.get_current_context(silent=True)
            env = ctx.obj if ctx is not None and isinstance(ctx.obj, Environment) else None
            _say_interrupted(env or Environment(), getattr(exc, "message", None))
            raise click_exc.Exit(int(ExitStatus.INTERRUPTED)) from None

    return run


_said: list[bool] = []  # not empty once this run printed its interrupt line


def _say_interrupted(env: Environment, kept: str | None) -> None:
    # Outside the commands' async work: nothing has been written yet, unless the interrupt
    # says otherwise.
    lead = "\n" if env.stderr_isatty else ""
    _said.append(True)
    env.stderr.write(f"{lead}mcpstore: interrupted; {kept or 'nothing was changed.'}\n")
    env.stderr.flush()


def main(args: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """Run mcpstore and return its exit status (the test helper calls this)."""
    env = env or Environment()
    _said.clear()
    argv = list(sys.argv[1:] if args is None else args)
    with redirect_stdout(env.stdout), redirect_stderr(env.stderr):
        try:
            command = get_command()
            result = command.main(args=argv, prog_name="mcpstore", standalone_mode=False, obj=env)
        except click_exc.Exit as exc:
            result = int(exc.exit_code)
        except click_exc.NoArgsIsHelpError as exc:
            env.stdout.write(exc.format_message() + "\n")
            return int(ExitStatus.OK)
        except click_exc.UsageError as exc:
            hint = ""
            if exc.ctx is not None:
                hint = f" (see {exc.ctx.command_path} --help)"
            env.stderr.write(f"mcpstore: {exc.format_message()}{hint}\n")
            return int(ExitStatus.USAGE)
        except (click_exc.Abort, KeyboardInterrupt, Interrupted) as exc:
            _say_interrupted(env, getattr(exc, "message", None))
            return int(ExitStatus.INTERRUPTED)
        except click_exc.ClickException as exc:
            env.stderr.write(f"mcpstore: {exc.format_message()}\n")
            return int(exc.exit_code)
        except BrokenPipeError:
            return _reader_went_away(env)
        except SystemExit as exc:
            # Typer turns EPIPE into sys.exit(1); a reader that went away (| head) is not a
            # failure of ours: stop quietly with status 0, as Unix tools do.
            if _is_broken_pipe(exc.__context__):
                return _reader_went_away(env)
            raise
    status = int(result) if isinstance(result, int) else 0
    if status == ExitStatus.INTERRUPTED and not _said:
        # Click turns a Ctrl-C outside the command's own code (while it parses the options)
        # into a silent status 130, returned rather than raised: nothing has started.
        _say_interrupted(env, None)
    return status


def _is_broken_pipe(exc: BaseException | None) -> bool:
    return isinstance(exc, OSError) and exc.errno == errno.EPIPE


def _reader_went_away(env: Environment) -> int:
    """Point the real stdout at /dev/null so that later flushes cannot fail again."""
    if env.stdout is sys.__stdout__:
        try:
            fd = env.stdout.fileno()
        except (AttributeError, OSError, ValueError):
            return int(ExitStatus.OK)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    return int(ExitStatus.OK)


def run() -> None:
    """Console-script entry point."""
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = 0
    except KeyboardInterrupt:
        # Past main's own handling (flushing the last output): its work is over.
        sys.stderr.write("\nmcpstore: interrupted while exiting; the work above was done.\n")
        status = int(ExitStatus.INTERRUPTED)
    # The status is decided and the line said: a further Ctrl-C while the interpreter winds
    # down must not turn it into death by signal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(status)
