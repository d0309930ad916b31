"""The ``mcpstore`` command: a thin Typer layer over the library.

Start-up imports only Typer and this package's light modules: database drivers, SQLAlchemy,
boto3, questionary and rich load inside the commands that use them.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from typing import Annotated, Any, Protocol, runtime_checkable

import typer

from mcpstore_cli import __version__
from mcpstore_cli.cli import (
    backup_cmd,
    completion,
    demo_cmd,
    expire_cmd,
    inspect_cmds,
    lazytree,
    metrics_cmd,
    session_cmds,
    setup_cmd,
    tail_cmd,
    tasks_cmd,
    teardown_cmds,
    top_cmd,
)
from mcpstore_cli.cli.common import Command
from mcpstore_cli.cli.lazytree import RootGroup
from mcpstore_cli.cli.options import ALL_FORMATS, Invocation, store_command
from mcpstore_cli.env import Environment
from mcpstore_cli.errors import Interrupted, McpStoreError
from mcpstore_cli.exitcodes import ExitStatus

HELP = """Provision, inspect and maintain the session stores of MCP servers.

Works on SQLite files, PostgreSQL databases and DynamoDB tables in the layouts turul MCP
servers write. The store comes from --url, else --backend with its usual variables, else
MCPSTORE_URL, else sqlite:///mcp_sessions.db in the current directory.

The store options go before or after the command name: mcpstore --url X list is mcpstore list
--url X. Given in both places, the one after the command name wins.

Exit status: 0 ok, 1 error, 2 usage, 3 check failed (store missing or layout drift),
4 confirmation refused or needed, 5 partial, 130 interrupted.
"""

app = typer.Typer(
    name="mcpstore",
    cls=RootGroup,  # ManGroup's help; subcommands built when first needed (get_command)
    help=HELP,
    add_completion=False,
    invoke_without_command=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mcpstore {__version__}")
        raise typer.Exit()


@app.callback()
@store_command(formats=ALL_FORMATS)
def _root(
    cmd: Command,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Provision, inspect and maintain the session stores of MCP servers."""
    # Reached with no command (a command gets the options instead): the help.
    assert cmd.ctx is not None
    cmd.env.stdout.write(cmd.ctx.get_help() + "\n")


# The command list of --help, in groups, in this order.
inspect_cmds.register(app, "Inspect")
tail_cmd.register(app, "Inspect")
metrics_cmd.register(app, "Inspect")
top_cmd.register(app, "Inspect")
tasks_cmd.register(app, "Tasks")
expire_cmd.register(app, "Maintain")
teardown_cmds.register(app, "Maintain")
session_cmds.register(app, "Act on sessions")
setup_cmd.register(app, "Provision")
demo_cmd.register(app, "Provision")
backup_cmd.register(app, "Backup")
completion.register(app, "Other")


def get_command() -> Any:
    """The Click command tree Typer builds from the app (Typer's public typer.main), each
    subcommand built when first looked up (``mcpstore list`` builds only ``list``, see
    :mod:`mcpstore_cli.cli.lazytree`)."""
    return lazytree.build(app)


def _say_interrupted(env: Environment, kept: str | None) -> None:
    # Outside the commands' async work: nothing has been written yet, unless the interrupt
    # says otherwise.
    lead = "\n" if env.stderr_isatty else ""
    env.stderr.write(f"{lead}mcpstore: interrupted; {kept or 'nothing was changed.'}\n")
    env.stderr.flush()


def main(args: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """Run mcpstore and return its exit status (the test helper calls this)."""
    state = Invocation(env or Environment())
    argv = list(sys.argv[1:] if args is None else args)
    with redirect_stdout(state.env.stdout), redirect_stderr(state.env.stderr):
        try:
            result = get_command().main(
                args=argv, prog_name="mcpstore", standalone_mode=False, obj=state
            )
        except BaseException as exc:  # every failure ends in exit_status()
            return exit_status(exc, state)
    status = int(result) if isinstance(result, int) else 0
    if status == ExitStatus.INTERRUPTED:
        # Typer turns a Ctrl-C outside the command's own code (while it parses the options)
        # into a silent status 130, returned rather than raised: nothing has started.
        _say_interrupted(state.env, None)
    return status


def exit_status(exc: BaseException, state: Invocation) -> int:
    """The one place that maps a failure to what is said on stderr and the exit status:
    library errors, usage errors, Ctrl-C, a reader that went away, anything unexpected."""
    env = state.env
    cmd = state.command or Command(env=env)
    if isinstance(exc, typer.Exit):
        return int(exc.exit_code)
    if isinstance(exc, (Interrupted, KeyboardInterrupt, typer.Abort)):
        _say_interrupted(env, cmd.scrub(exc.message) if isinstance(exc, Interrupted) else None)
        return int(ExitStatus.INTERRUPTED)
    if isinstance(exc, McpStoreError):
        cmd.error(exc.message)
        if cmd.debug:
            _traceback(cmd)
        return int(exc.exit_status)
    if isinstance(exc, BrokenPipeError) or (
        isinstance(exc, SystemExit) and _is_broken_pipe(exc.__context__)
    ):
        # Typer turns EPIPE into sys.exit(1); a reader that went away (| head) is not a
        # failure of ours: stop quietly with status 0, as Unix tools do.
        return _reader_went_away(env)
    if isinstance(exc, ParserError):
        # Click's own usage errors (no such option, missing argument, ...).
        hint = ""
        where = getattr(exc, "ctx", None)
        if where is not None and int(exc.exit_code) == ExitStatus.USAGE:
            hint = f" (see {where.command_path} --help)"
        cmd.error(f"{exc.format_message()}{hint}")
        return int(exc.exit_code)
    if isinstance(exc, Exception):
        cmd.error(
            f"unexpected error: {type(exc).__name__}: {exc}"
            + ("" if cmd.debug else " (run again with --debug for details)")
        )
        if cmd.debug:
            _traceback(cmd)
        return int(ExitStatus.ERROR)
    raise exc  # SystemExit and the like: not a failure of the command


@runtime_checkable
class ParserError(Protocol):
    """What Click's and Typer's exceptions (UsageError, BadParameter, ...) all have."""

    exit_code: int

    def format_message(self) -> str: ...


def _traceback(cmd: Command) -> None:
    import traceback

    cmd.env.stderr.write(cmd.scrub(traceback.format_exc()))


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
    # Nothing is left to collect that matters: the collector need not walk every object the
    # imports made once more while the interpreter winds down (measured: 35-45 ms of exit
    # down to about 10).
    import gc

    gc.freeze()
    sys.exit(status)
