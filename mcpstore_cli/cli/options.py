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
:data:`mcpstore_cli.store.urls.BACKENDS`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mcpstore_cli.cli.storeargs import _NAMES, StoreArgs
from mcpstore_cli.env import Environment
from mcpstore_cli.errors import Interrupted, UsageError
from mcpstore_cli.store.registry import LAYOUTS
from mcpstore_cli.store.urls import BACKENDS

if TYPE_CHECKING:
    from mcpstore_cli.cli.common import Command

STORE_PANEL = "Store options"
RECORD_FORMATS = ("table", "json", "jsonl", "csv")
TAIL_FORMATS = ("pretty", "sse", "jsonl")
ALL_FORMATS = tuple(dict.fromkeys(RECORD_FORMATS + TAIL_FORMATS))


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
    "layout": Annotated[
        str | None,
        _opt(
            "--layout",
            metavar="|".join(LAYOUTS),
            help="The layout: sessions (turul's sessions and events; what setup and demo "
            "create unless told) or another the README lists [default: the one the store "
            "holds].",
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
    "table": Annotated[
        str | None,
        _opt(
            "--table",
            metavar="NAME",
            help="fastmcp layout on PostgreSQL: the key-value table [default: kv_store].",
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
