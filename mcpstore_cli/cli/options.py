"""The store options, declared once.

Every command that works on a store takes the same options (``--url``, ``--backend``,
``--connect-timeout``, ``--lock-timeout``, ``--segments``, ``--format``, ``--quiet``,
``--debug``), and takes them on either side of its name: ``mcpstore --url X list`` is
``mcpstore list --url X``. They are declared here, once, in :data:`STORE_OPTIONS`; the
:func:`store_command` decorator adds them to a command's parameters (like sqlite-utils' shared
option decorators), gathers them into one :class:`StoreArgs`, merges them with those given
before the command name (the root and the ``backup`` group take them too) and hands the
command a ready :class:`~mcpstore_cli.cli.common.Command`.

Given on both sides, the value nearest the command wins (``mcpstore --url A list --url B``
lists B), so an alias such as ``alias mcp='mcpstore --url X'`` can still be pointed elsewhere;
``--quiet`` and ``--debug`` are on when given anywhere. An option given before a command that
does not take it is refused (exit 2).

Only Typer's public API is used: ``typer.Option`` / ``typer.Context`` and the signature Typer
reads (``__signature__``). Choices are checked here, not by Typer, so that every position gives
the same one-sentence error, and no choice Enum is needed: ``--backend`` lists
:data:`mcpstore_cli.urls.BACKENDS`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mcpstore_cli.env import Environment
from mcpstore_cli.errors import Interrupted, UsageError
from mcpstore_cli.urls import BACKENDS

if TYPE_CHECKING:
    from mcpstore_cli.cli.common import Command

STORE_PANEL = "Store options"
RECORD_FORMATS = ("table", "json", "jsonl", "csv")
TAIL_FORMATS = ("pretty", "sse", "jsonl")
ALL_FORMATS = tuple(dict.fromkeys(RECORD_FORMATS + TAIL_FORMATS))
DEFAULT_CONNECT_TIMEOUT = 10.0  # seconds; StoreOptions' default (PostgreSQL reads it so)
_NAMES = {
    "url": "--url",
    "backend": "--backend",
    "connect_timeout": "--connect-timeout",
    "lock_timeout": "--lock-timeout",
    "segments": "--segments",
    "format": "--format",
    "quiet": "--quiet",
    "debug": "--debug",
}


@dataclass(frozen=True)
class StoreArgs:
    """The store options of one command line, as typed (None / False: not given)."""

    url: str | None = None
    backend: str | None = None
    connect_timeout: str | None = None
    lock_timeout: str | None = None
    segments: int | None = None
    format: str | None = None
    quiet: bool = False
    debug: bool = False

    def then(self, later: StoreArgs) -> StoreArgs:
        """These options overridden by ``later`` ones (given nearer the command): a value
        given in both places is the later one; a flag given in either is on."""
        merged: dict[str, Any] = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(later, f.name)
            if isinstance(mine, bool):
                merged[f.name] = mine or theirs
            else:
                merged[f.name] = theirs if theirs is not None else mine
        return StoreArgs(**merged)

    def given(self) -> list[str]:
        """The option names given (``--url`` ...), in declaration order."""
        return [_NAMES[f.name] for f in fields(self) if getattr(self, f.name) not in (None, False)]

    def checked(self, formats: tuple[str, ...] | None) -> StoreArgs:
        """Validated and normalised (choices lower-cased); a UsageError names the option."""
        backend = _choice("--backend", self.backend, BACKENDS)
        fmt = _choice("--format", self.format, formats or ())
        if self.segments is not None and not 1 <= self.segments <= 1000:
            raise UsageError(f"--segments must be between 1 and 1000, not {self.segments}.")
        checked = replace(self, backend=backend, format=fmt)
        checked.connect_seconds()
        checked.lock_timeout_ms()
        return checked

    def connect_seconds(self) -> float:
        """``--connect-timeout`` in seconds: a duration (``10s``, ``500ms``, ``1m``) or a plain
        number of seconds; at least 0.1 s."""
        text = self.connect_timeout
        if text is None:
            return DEFAULT_CONNECT_TIMEOUT
        try:
            seconds = float(text)
        except ValueError:
            from mcpstore_cli.durations import parse_duration

            seconds = parse_duration(text, option="--connect-timeout") / 1000
        if not seconds >= 0.1:  # also NaN
            raise UsageError(f"--connect-timeout must be at least 0.1s (100ms), not {text!r}.")
        return seconds

    def lock_timeout_ms(self) -> int | None:
        if self.lock_timeout is None:
            return None
        from mcpstore_cli.durations import parse_duration

        return parse_duration(self.lock_timeout, option="--lock-timeout")


def _choice(option: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    low = value.strip().lower()
    if low not in choices:
        listed = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices
        raise UsageError(f"{option} {value!r} is not one of the choices; choose {listed}.")
    return low


# -- the declarations ---------------------------------------------------------------------
def _opt(*names: str, metavar: str | None = None, help: str) -> Any:
    return typer.Option(
        *names, metavar=metavar, help=help, rich_help_panel=STORE_PANEL, show_default=False
    )


STORE_OPTIONS: dict[str, Any] = {
    "url": Annotated[
        str | None,
        _opt(
            "--url",
            metavar="URL",
            help="The store: a SQLite file (./mcp_sessions.db), sqlite:///rel.db, "
            "sqlite:////abs.db, postgresql://USER:PASSWORD@HOST:5432/DB or "
            "dynamodb://TABLE?region=R&endpoint=URL [default: --backend, else MCPSTORE_URL, "
            "else sqlite:///mcp_sessions.db].",
        ),
    ],
    "backend": Annotated[
        str | None,
        _opt(
            "--backend",
            metavar="|".join(BACKENDS),
            help="Use this backend's usual variables (SQLITE_PATH; DATABASE_URL; "
            "MCP_SESSION_TABLE, AWS_REGION, AWS_ENDPOINT_URL).",
        ),
    ],
    "connect_timeout": Annotated[
        str | None,
        _opt(
            "--connect-timeout",
            metavar="DURATION",
            help="How long to wait for the store to answer (10s, 500ms; a plain number is "
            "seconds) [default: 10s].",
        ),
    ],
    "lock_timeout": Annotated[
        str | None,
        _opt(
            "--lock-timeout",
            metavar="DURATION",
            help="PostgreSQL: give up when another client holds a lock longer than this (5s, "
            "1m); the open transaction is rolled back. SQLite and DynamoDB ignore it "
            "[default: wait, as psql does].",
        ),
    ],
    "segments": Annotated[
        int | None,
        _opt(
            "--segments",
            metavar="N",
            help="DynamoDB: parallel scan segments, 1 to 1000 [default: chosen from the "
            "table size].",
        ),
    ],
    "format": None,  # per command: see _format_option
    "quiet": Annotated[bool, _opt("--quiet", "-q", help="Print nothing but data and errors.")],
    "debug": Annotated[
        bool, _opt("--debug", help="Show tracebacks of errors (also: MCPSTORE_DEBUG=1).")
    ],
}
assert list(STORE_OPTIONS) == [f.name for f in fields(StoreArgs)]

FORMAT_HELP = "Output format [default: table on a terminal, jsonl otherwise]."


def _format_option(formats: tuple[str, ...], help: str) -> Any:
    return Annotated[str | None, _opt("--format", "-f", metavar="|".join(formats), help=help)]


def store_parameters(
    formats: tuple[str, ...] | None, format_help: str = FORMAT_HELP
) -> list[inspect.Parameter]:
    """The store options as keyword parameters Typer reads (``formats=None``: no --format)."""
    out = []
    for name, annotation in STORE_OPTIONS.items():
        default: Any = False if name in ("quiet", "debug") else None
        if name == "format":
            if formats is None:
                continue
            annotation = _format_option(formats, format_help)
        out.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
            )
        )
    return out


# -- one run ------------------------------------------------------------------------------
@dataclass
class Invocation:
    """One run of mcpstore (Click's ``ctx.obj``): the environment, the store options given
    before the command name, and the command at work (for the failure mapping of
    :func:`mcpstore_cli.cli.app.main`)."""

    env: Environment
    before: StoreArgs = field(default_factory=StoreArgs)
    command: Command | None = None


def invocation(ctx: typer.Context) -> Invocation:
    root = ctx.find_root()
    if not isinstance(root.obj, Invocation):
        root.obj = Invocation(root.obj if isinstance(root.obj, Environment) else Environment())
    return root.obj


def store_command(
    *, formats: tuple[str, ...] | None = RECORD_FORMATS, format_help: str = FORMAT_HELP
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the store options.

    The decorated function takes ``cmd: Command`` first, then its own options; Typer sees
    ``ctx``, its own options and the store options. On a group (the root, ``backup``) with a
    subcommand to run, the options are kept for the subcommand instead.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn, eval_str=True)
        first, *own = signature.parameters.values()
        store = store_parameters(formats, format_help)
        clash = {p.name for p in own} & {p.name for p in store}
        assert first.name == "cmd" and not clash, f"{fn.__name__}: {first.name}, {clash}"
        ctx_param = inspect.Parameter(
            "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
        )

        @functools.wraps(fn)
        def run(ctx: typer.Context, **kwargs: Any) -> Any:
            from mcpstore_cli.cli.common import Command

            state = invocation(ctx)
            given = StoreArgs(**{p.name: kwargs.pop(p.name) for p in store})
            if ctx.invoked_subcommand is not None:
                _pass_on(ctx, state, given, kwargs)
                return None
            args = state.before.then(given)
            cmd = Command(env=state.env, args=args, ctx=ctx)
            state.command = cmd  # before checking: the failure mapping scrubs through it
            cmd.args = args.checked(formats)
            try:
                return fn(cmd, **kwargs)
            except KeyboardInterrupt:
                cmd.interrupted()  # Interrupted, with what this command keeps
            except Interrupted as exc:
                if exc.message:
                    raise
                cmd.interrupted()

        params = [ctx_param, *own, *store]
        run.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run

    return decorate


def _pass_on(
    ctx: typer.Context,
    state: Invocation,
    given: StoreArgs,
    kwargs: dict[str, Any],
) -> None:
    """A group's options before its subcommand: store options go on to the subcommand (if
    it takes them); its own options belong to the group alone."""
    sub = ctx.command.get_command(ctx, ctx.invoked_subcommand)  # type: ignore[attr-defined]
    where = f"{ctx.command_path} {ctx.invoked_subcommand}"
    taken = {p.name for p in getattr(sub, "params", [])}
    for f in fields(given):
        if getattr(given, f.name) not in (None, False) and f.name not in taken:
            raise UsageError(f"{_NAMES[f.name]} does not apply to {where}.")
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name) if param.name in kwargs else None
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            raise UsageError(
                f"{'/'.join(param.opts)} applies to {ctx.command_path} itself, not to {where}."
            )
    state.before = state.before.then(given)
