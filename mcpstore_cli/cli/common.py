"""What every command works with: :class:`Command`, one invocation with its store options
(see :mod:`mcpstore_cli.cli.options`), its messages, the async runner and the progress bar.

Failures are not mapped to exit statuses here: they propagate to the one mapping in
:func:`mcpstore_cli.cli.app.main`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from mcpstore_cli.cli.storeargs import StoreArgs
from mcpstore_cli.env import Environment
from mcpstore_cli.errors import Interrupted, UsageError
from mcpstore_cli.exitcodes import ExitStatus

if TYPE_CHECKING:
    from mcpstore_cli.store.base import Store
    from mcpstore_cli.store.urls import StoreURL

# Start-up stays light: asyncio, rich and the store modules load when a command runs.

T = TypeVar("T")
_URL_IN_TEXT = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"]+", re.IGNORECASE)

# Options more than one command takes (the store options are in cli/options.py).
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace an existing file of that name (never the store's own files or a SQLite "
        "database).",
    ),
]
TimeoutOpt = Annotated[
    str,
    typer.Option(
        "--timeout",
        metavar="DURATION",
        help="Session timeout that separates active from idle (the server's default: 30m).",
    ),
]


@dataclass
class Command:
    """One invocation: the environment plus the store options every command shares."""

    env: Environment
    args: StoreArgs = field(default_factory=StoreArgs)
    ctx: typer.Context | None = None
    # What Ctrl-C leaves, when the work does not say more (commands that write set it).
    interrupt_note: str | Callable[[], str] = "nothing was changed."
    # A task command (``mcpstore tasks ...``): the store's defaults are the task store's.
    tasks: bool = False
    _url: StoreURL | None = None

    @property
    def quiet(self) -> bool:
        return self.args.quiet

    @property
    def debug(self) -> bool:
        return self.args.debug or bool(self.env.environ.get("MCPSTORE_DEBUG"))

    @property
    def fmt_option(self) -> str | None:
        """``--format`` as given (None: the default for where stdout goes)."""
        return self.args.format

    @property
    def url(self) -> StoreURL:
        if self._url is None:
            from mcpstore_cli.store.registry import LAYOUT_KINDS
            from mcpstore_cli.store.urls import resolve_store_url

            kind = "tasks" if self.tasks else LAYOUT_KINDS.get(self.args.layout or "", "sessions")
            self._url = resolve_store_url(
                self.args.url, self.args.backend, self.env.environ, kind=kind
            )
        return self._url

    @property
    def fmt(self) -> str:
        from mcpstore_cli.render.output import choose_format

        return choose_format(self.fmt_option, self.env)

    @property
    def store_class(self) -> type[Store]:
        """The class of the store this command works on: what it can do (its capability
        flags) without connecting."""
        from mcpstore_cli.store.registry import default_layout, store_class

        return store_class(self.url.backend, self.args.layout or default_layout(self.url.backend))

    def _options(self, *, read_only: bool) -> Any:
        """The store options of this invocation; ``--table`` refused where it means nothing."""
        from mcpstore_cli.store.base import StoreOptions

        if self.args.table is not None and not self.store_class.table_option:
            from mcpstore_cli.errors import UsageError

            raise UsageError(
                "--table applies to FastMCP's layout on PostgreSQL (--layout fastmcp), not to "
                f"this {self.url.backend} store of the {self.store_class.layout} layout."
            )
        return StoreOptions(
            connect_timeout=self.args.connect_seconds(),
            read_only=read_only,
            segments=self.args.segments,
            environ=self.env.environ,
            lock_timeout_ms=self.args.lock_timeout_ms(),
            notice=self.warn,
            table=self.args.table,
        )

    def open_store(self, *, read_only: bool = False, creates: bool = False) -> Any:
        """The store in ``--layout``; without it, the default layout for commands that
        create one (``creates``: setup, demo), else the layout the store holds."""
        from mcpstore_cli.store.registry import default_layout, open_store

        return open_store(
            self.url,
            self._options(read_only=read_only),
            layout=self.args.layout or (default_layout(self.url.backend) if creates else None),
        )

    def open_figures(self) -> Any:
        """The store for commands that read only figures (``metrics``, ``top``): read-only,
        light where the backend has a figures reader (see store.registry.open_figures)."""
        from mcpstore_cli.store.registry import open_figures

        return open_figures(self.url, self._options(read_only=True), layout=self.args.layout)

    def open_task_store(self, *, read_only: bool = False) -> Any:
        """The task store of ``mcpstore tasks``, to enter with ``async with``: ``--layout`` if
        given (a task layout), else the one task layout the store holds."""
        if self.args.table is not None:
            from mcpstore_cli.errors import UsageError

            raise UsageError(
                "--table applies to FastMCP's layout on PostgreSQL (--layout fastmcp), not to "
                "task stores."
            )
        from mcpstore_cli.store.base import StoreOptions
        from mcpstore_cli.store.registry import LAYOUT_KINDS, check_layout, layouts_of
        from mcpstore_cli.store.taskchoice import TaskStoreChoice

        self.tasks = True
        layout = self.args.layout
        url = self.url
        if layout is not None:
            if LAYOUT_KINDS.get(layout) != "tasks":
                raise UsageError(
                    f"--layout {layout} holds sessions, not tasks; mcpstore tasks works on "
                    f"{' and '.join(t for t, k in LAYOUT_KINDS.items() if k == 'tasks')}."
                )
            check_layout(url.backend, layout)
            candidates = [layout]
        else:
            candidates = layouts_of(url.backend, "tasks")
            if not candidates:
                raise UsageError(f"{url.masked()} cannot hold turul's tasks.")
        options = StoreOptions(
            connect_timeout=self.args.connect_seconds(),
            read_only=read_only,
            segments=self.args.segments,
            environ=self.env.environ,
            lock_timeout_ms=self.args.lock_timeout_ms(),
            notice=self.warn,
        )
        return TaskStoreChoice(url, options, candidates)

    def require(self, able: Callable[[type[Store]], bool], option: str, why: str = "") -> None:
        """Refuse ``option`` (exit 2, one sentence) unless this kind of store is ``able``;
        the sentence names the kinds that are."""
        if able(self.store_class):
            return
        from mcpstore_cli.errors import NotSupportedError
        from mcpstore_cli.store.registry import default_layout, store_class
        from mcpstore_cli.store.urls import BACKENDS

        kinds = []
        for name in BACKENDS:
            with contextlib.suppress(NotSupportedError):
                if able(store_class(name, default_layout(name))):
                    kinds.append(name)
        where = f"{' and '.join(kinds)} stores" if kinds else "no kind of store yet"
        raise UsageError(
            f"{option} applies to {where}, not {self.url.backend}"
            + (f"; {why}" if why else "")
            + "."
        )

    # -- messages ------------------------------------------------------------------------
    def scrub(self, text: str) -> str:
        """``text`` with this store's password and any URL's secrets masked."""
        secret = self._url.password if self._url is not None else None
        if secret:
            text = text.replace(secret, "***")
        from mcpstore_cli.store.urls import mask_url

        return _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)

    _scrub = scrub

    def error(self, message: str) -> None:
        self.env.stderr.write(f"mcpstore: {self.scrub(message)}\n")
        self.env.stderr.flush()

    def warn(self, message: str) -> None:
        self.env.stderr.write(f"mcpstore: warning: {self.scrub(message)}\n")
        self.env.stderr.flush()

    def info(self, message: str) -> None:
        """A progress or summary line on stderr, unless --quiet."""
        if not self.quiet:
            self.env.stderr.write(f"{self.scrub(message)}\n")
            self.env.stderr.flush()

    # -- running -------------------------------------------------------------------------
    def run(self, work: Callable[[], Awaitable[T]], *, inline: bool = False) -> T:
        """Run async work; Ctrl-C exits 130 with one line saying what was kept (see
        :mod:`mcpstore_cli.util.interrupt`). Errors propagate to the one mapping in app.main.
        ``inline``: start it without an event loop (a store's ``inline_reads``)."""
        from mcpstore_cli.util import interrupt

        try:
            return interrupt.run(work, self._say_now, inline=inline)
        except KeyboardInterrupt:
            self.interrupted()

    def interrupted(self, kept: str | None = None) -> NoReturn:
        """Ctrl-C: exit 130 with one line saying what was done and what was kept (``kept``,
        else this command's note). The line is printed once the command has unwound (its
        progress bar gone), by the failure mapping of cli/app.py."""
        if not kept:
            note = self.interrupt_note
            kept = note if isinstance(note, str) else note()
        raise Interrupted(self.scrub(kept))

    def _say_now(self, message: str) -> None:
        # On a terminal the line starts on its own (after the ^C the terminal echoed).
        lead = "\n" if self.env.stderr_isatty else ""
        self.env.stderr.write(f"{lead}mcpstore: {self.scrub(message)}\n")
        self.env.stderr.flush()

    @contextlib.contextmanager
    def progress(
        self, label: str, total: int | None = None, unit: str = "rows"
    ) -> Iterator[Callable[[int], None] | None]:
        """A transient progress bar on a terminal (unless --quiet), yielding ``advance(n)``;
        None anywhere else."""
        if self.quiet or not self.env.stderr_isatty:
            yield None
            return
        from rich.progress import BarColumn, Progress, SpinnerColumn, TimeElapsedColumn

        with Progress(
            SpinnerColumn(),
            "[progress.description]{task.description}",
            BarColumn() if total else "",
            f"{{task.completed:,}} {unit}",
            TimeElapsedColumn(),
            console=self.env.console("stderr"),
            transient=True,
        ) as bar:
            task = bar.add_task(label, total=total or None)
            yield lambda n: bar.advance(task, n)

    def exit(self, status: ExitStatus) -> None:
        if status != ExitStatus.OK:
            raise typer.Exit(int(status))
