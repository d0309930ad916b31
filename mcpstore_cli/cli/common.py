"""What every command shares: the store options, the format option, and the runner that
turns library errors into one sentence on stderr and a documented exit status."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from mcpstore_cli.cli import clickcompat as click_exc
from mcpstore_cli.env import Environment
from mcpstore_cli.errors import Interrupted, McpStoreError, UsageError
from mcpstore_cli.exitcodes import ExitStatus

if TYPE_CHECKING:
    from mcpstore_cli.store.urls import StoreURL

# Start-up stays light: asyncio, traceback and the URL parser load when a command runs.

T = TypeVar("T")
_URL_IN_TEXT = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"]+", re.IGNORECASE)


class Backend(StrEnum):
    sqlite = "sqlite"
    postgres = "postgres"
    dynamodb = "dynamodb"


class Format(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


STORE = "Store"
UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Store URL or SQLite file: ./mcp_sessions.db (a plain path), sqlite:///rel.db, "
        "sqlite:////abs.db, postgresql://USER:PASSWORD@HOST:5432/DB, "
        "dynamodb://TABLE?region=R&endpoint=URL.",
        rich_help_panel=STORE,
        show_default=False,
    ),
]
BackendOpt = Annotated[
    Backend | None,
    typer.Option(
        "--backend",
        help="Use this backend's usual variables (SQLITE_PATH; DATABASE_URL; "
        "MCP_SESSION_TABLE, AWS_REGION, AWS_ENDPOINT_URL).",
        rich_help_panel=STORE,
        case_sensitive=False,
        show_default=False,
    ),
]
ConnectTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--connect-timeout",
        help="Seconds to wait for the store to answer.",
        rich_help_panel=STORE,
        min=0.1,
    ),
]
LockTimeoutOpt = Annotated[
    str | None,
    typer.Option(
        "--lock-timeout",
        help="PostgreSQL: give up when a lock is held by another client for longer than this "
        "(e.g. 5s, 1m); the command's open transaction is rolled back. Ignored by SQLite and "
        "DynamoDB. [default: wait, as psql does]",
        rich_help_panel=STORE,
        show_default=False,
    ),
]
FormatOpt = Annotated[
    Format | None,
    typer.Option(
        "--format",
        "-f",
        help="Output format [default: table on a terminal, jsonl otherwise].",
        case_sensitive=False,
        show_default=False,
    ),
]
SegmentsOpt = Annotated[
    int | None,
    typer.Option(
        "--segments",
        help="DynamoDB: parallel scan segments [default: chosen from the table size].",
        rich_help_panel=STORE,
        min=1,
        max=1000,
        show_default=False,
    ),
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace an existing file of that name (never the store's own files or a SQLite "
        "database).",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but data and errors.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]
TimeoutOpt = Annotated[
    str,
    typer.Option(
        "--timeout",
        help="Session timeout that separates active from idle (the server's default: 30m).",
    ),
]


LAYOUT_META = "mcpstore.layout"
LayoutOpt = Annotated[
    str | None,
    typer.Option(
        "--layout",
        help="The layout to use: sessions (turul's; what setup and demo create by default) or "
        "another layout the README lists. Reading commands detect it when omitted.",
        rich_help_panel=STORE,
        show_default=False,
        metavar="NAME",
    ),
]


def _layout_param() -> Any:
    """The click parameter Typer makes of :data:`LayoutOpt`."""
    probe = typer.Typer()

    @probe.command()
    def _probe(layout: LayoutOpt = None) -> None:
        """Only to build the parameter."""

    return typer.main.get_command(probe).params[0]


def add_layout_option(command: click_exc.Command) -> None:
    """``--layout NAME`` (:data:`LayoutOpt`) on every command that takes the store options
    (those with ``--url``). Its value reaches :class:`Command` through the context's
    ``meta``; the registry checks it (an unknown layout, or one the backend does not hold,
    is one sentence and exit 2)."""
    param = _layout_param()

    def add(cmd: click_exc.Command) -> None:
        for sub in getattr(cmd, "commands", {}).values():
            add(sub)
        takes_store = any("--url" in getattr(p, "opts", ()) for p in cmd.params)
        if takes_store and not any(p.name == "layout" for p in cmd.params):
            cmd.params.append(param)
            _pass_layout(cmd)

    add(command)


def _pass_layout(command: click_exc.Command) -> None:
    callback = command.callback
    if callback is None:
        return

    def run(*args: Any, **kwargs: Any) -> Any:
        layout = kwargs.pop("layout", None)
        ctx = click_exc.get_current_context(silent=True)
        if ctx is not None:
            ctx.meta[LAYOUT_META] = layout
        return callback(*args, **kwargs)

    command.callback = run


@dataclass
class Command:
    """One invocation: the environment plus the options every command shares."""

    env: Environment
    url_option: str | None = None
    backend_option: str | None = None
    fmt_option: str | None = None
    quiet: bool = False
    debug: bool = False
    connect_timeout: float = 10.0
    lock_timeout: str | None = None
    segments: int | None = None
    layout_option: str | None = None
    # What Ctrl-C leaves, when the work does not say more (commands that write set it).
    interrupt_note: str | Callable[[], str] = "nothing was changed."
    _url: StoreURL | None = None

    @classmethod
    def from_ctx(cls, ctx: typer.Context, **kwargs: Any) -> Command:
        env = ctx.obj if isinstance(ctx.obj, Environment) else Environment()
        for key in ("backend_option", "fmt_option"):
            value = kwargs.get(key)
            if isinstance(value, Enum):
                kwargs[key] = value.value
        kwargs.setdefault("layout_option", ctx.meta.get(LAYOUT_META))
        cmd = cls(env=env, **kwargs)
        if env.environ.get("MCPSTORE_DEBUG"):
            cmd.debug = True
        return cmd

    @property
    def url(self) -> StoreURL:
        if self._url is None:
            from mcpstore_cli.store.urls import resolve_store_url

            self._url = resolve_store_url(self.url_option, self.backend_option, self.env.environ)
        return self._url

    @property
    def fmt(self) -> str:
        from mcpstore_cli.render.output import choose_format

        return choose_format(self.fmt_option, self.env)

    def open_store(self, *, read_only: bool = False, creates: bool = False) -> Any:
        """The store in ``--layout``; without it, the default layout for commands that
        create one (``creates``: setup, demo), else the layout the store holds."""
        from mcpstore_cli.store import open_store
        from mcpstore_cli.store.base import StoreOptions
        from mcpstore_cli.store.registry import DEFAULT_LAYOUT
        from mcpstore_cli.util.durations import parse_duration

        lock_timeout_ms = None
        if self.lock_timeout is not None:
            lock_timeout_ms = parse_duration(self.lock_timeout, option="--lock-timeout")
        return open_store(
            self.url,
            StoreOptions(
                connect_timeout=self.connect_timeout,
                read_only=read_only,
                segments=self.segments,
                environ=self.env.environ,
                lock_timeout_ms=lock_timeout_ms,
                notice=self.warn,
            ),
            layout=self.layout_option or (DEFAULT_LAYOUT if creates else None),
        )

    # -- messages ------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        secret = self._url.password if self._url is not None else None
        if secret:
            text = text.replace(secret, "***")
        from mcpstore_cli.store.urls import mask_url

        return _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)

    def error(self, message: str) -> None:
        self.env.stderr.write(f"mcpstore: {self._scrub(message)}\n")
        self.env.stderr.flush()

    def warn(self, message: str) -> None:
        self.env.stderr.write(f"mcpstore: warning: {self._scrub(message)}\n")
        self.env.stderr.flush()

    def info(self, message: str) -> None:
        """A progress or summary line on stderr, unless --quiet."""
        if not self.quiet:
            self.env.stderr.write(f"{self._scrub(message)}\n")
            self.env.stderr.flush()

    # -- running -------------------------------------------------------------------------
    def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run async work; library errors become a message and an exit status, Ctrl-C
        exits 130 with one line saying what was kept (see :mod:`mcpstore_cli.util.interrupt`)."""
        from mcpstore_cli.util import interrupt

        try:
            return interrupt.run(work, self._say_now)
        except click_exc.Exit:
            raise  # typer.Exit from inside the work: its status, as it is
        except McpStoreError as exc:
            self.error(exc.message)
            if self.debug:
                self._traceback()
            raise typer.Exit(int(exc.exit_status)) from None
        except (KeyboardInterrupt, Interrupted) as exc:
            self.interrupted(exc.message if isinstance(exc, Interrupted) else None)
        except BrokenPipeError:
            raise
        except Exception as exc:
            self.error(
                f"unexpected error: {type(exc).__name__}: {exc}"
                + ("" if self.debug else " (run again with --debug for details)")
            )
            if self.debug:
                self._traceback()
            raise typer.Exit(int(ExitStatus.ERROR)) from None

    def interrupted(self, kept: str | None = None) -> NoReturn:
        """Ctrl-C: exit 130 with one line saying what was done and what was kept (``kept``,
        else this command's note). The line is printed once the command has unwound (its
        progress bar gone), by the wrapper every command runs in (cli/app.py)."""
        if not kept:
            note = self.interrupt_note
            kept = note if isinstance(note, str) else note()
        raise Interrupted(self._scrub(kept))

    def _say_now(self, message: str) -> None:
        # On a terminal the line starts on its own (after the ^C the terminal echoed).
        lead = "\n" if self.env.stderr_isatty else ""
        self.env.stderr.write(f"{lead}mcpstore: {self._scrub(message)}\n")
        self.env.stderr.flush()

    def check(self, fn: Callable[[], T]) -> T:
        """Validate options synchronously: a UsageError exits 2 with its sentence."""
        try:
            return fn()
        except McpStoreError as exc:
            self.error(exc.message)
            raise typer.Exit(int(exc.exit_status)) from None

    def _traceback(self) -> None:
        import traceback

        self.env.stderr.write(self._scrub(traceback.format_exc()))

    def exit(self, status: ExitStatus) -> None:
        if status != ExitStatus.OK:
            raise typer.Exit(int(status))


def require_positive(value: int, option: str) -> int:
    if value <= 0:
        raise UsageError(f"{option} must be a positive whole number, not {value}.")
    return value
