"""The registry: which package implements each backend, and the one way to open a store.

A backend is named here as a string and imported only when a store of that kind is opened,
so the command line starts without any driver, SQLAlchemy or boto3 loaded. Adding a backend
is one package under ``mcpstore_cli/backends/`` and one line in ``BACKENDS``; adding a layout is
one package under ``mcpstore_cli/layouts/``, one line in ``LAYOUTS`` and, where the layout has a
store class of its own on a backend, one line in ``LAYOUT_STORES``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mcpstore_cli.errors import UsageError, not_supported
from mcpstore_cli.store.urls import StoreURL

if TYPE_CHECKING:
    # Only for annotations: the command line reads LAYOUTS and BACKENDS before it knows whether
    # a store will be opened (``--help`` never opens one).
    from mcpstore_cli.store.base import Store, StoreOptions

DEFAULT_LAYOUT = "sessions"

# --backend name -> "module:class" of its Store (in the default layout, turul's sessions)
BACKENDS: dict[str, str] = {
    "sqlite": "mcpstore_cli.backends.sqlite.store:SqliteStore",
    "postgres": "mcpstore_cli.backends.postgres.store:PostgresStore",
    "dynamodb": "mcpstore_cli.backends.dynamodb.store:DynamoDBStore",
    "redis": "mcpstore_cli.backends.redis.store:RedisStore",
}

# Backends whose class in BACKENDS holds a layout other than turul's sessions: that layout is
# theirs when no --layout is given, and turul's sessions are refused on them.
HOME_LAYOUTS: dict[str, str] = {
    "redis": "fastmcp",
}

# Read-only opens of these backends get a reader: a light object that serves the reading
# commands itself (list, show, stats: no SQLAlchemy) and hands the rest to the Store class.
READERS: dict[str, str] = {
    "sqlite": "mcpstore_cli.backends.sqlite.reader:SqliteReader",
}

# Light stores for the commands that read only figures (metrics, top): they start without
# SQLAlchemy and hand any layout they do not read to the full store (see open_figures).
FIGURE_READERS: dict[str, str] = {
    "postgres": "mcpstore_cli.backends.postgres.figures:PostgresFigures",
}

# layout name -> its package
LAYOUTS: dict[str, str] = {
    "sessions": "mcpstore_cli.layouts.turul_sessions",
    "graphflow": "mcpstore_cli.layouts.graphflow",
    "tasks": "mcpstore_cli.layouts.turul_tasks",
    "ext-tasks": "mcpstore_cli.layouts.turul_ext_tasks",
    "server-state": "mcpstore_cli.layouts.turul_server_state",
    "fastmcp": "mcpstore_cli.layouts.fastmcp",
}

# Layouts never detected from a store's catalog: --layout names them (a key-value table has
# no columns that say whose it is), except on a backend whose home layout they are.
EXPLICIT_LAYOUTS = frozenset({"fastmcp"})

# What each layout holds: sessions (the session commands) or tasks (``mcpstore tasks``).
LAYOUT_KINDS: dict[str, str] = {
    "sessions": "sessions",
    "graphflow": "sessions",
    "tasks": "tasks",
    "ext-tasks": "tasks",
    "server-state": "state",
    "fastmcp": "sessions",
}

# (backend, layout) -> "module:class" of the Store of a layout other than the default
LAYOUT_STORES: dict[tuple[str, str], str] = {
    ("postgres", "graphflow"): "mcpstore_cli.backends.postgres.graphflow:GraphflowStore",
    ("sqlite", "tasks"): "mcpstore_cli.backends.sqlite.tasks:SqliteTaskStore",
    ("postgres", "tasks"): "mcpstore_cli.backends.postgres.tasks:PostgresTaskStore",
    ("dynamodb", "tasks"): "mcpstore_cli.backends.dynamodb.tasks:DynamoDBTaskStore",
    ("sqlite", "ext-tasks"): "mcpstore_cli.backends.sqlite.tasks:SqliteExtTaskStore",
    ("postgres", "ext-tasks"): "mcpstore_cli.backends.postgres.tasks:PostgresExtTaskStore",
    ("dynamodb", "ext-tasks"): "mcpstore_cli.backends.dynamodb.ext_tasks:DynamoDBExtTaskStore",
    ("sqlite", "server-state"): "mcpstore_cli.backends.sqlite.server_state:SqliteServerStateStore",
    ("postgres", "server-state"): "mcpstore_cli.backends.postgres.tasks:PostgresServerStateStore",
    ("dynamodb", "server-state"): (
        "mcpstore_cli.backends.dynamodb.server_state:DynamoDBServerStateStore"
    ),
    ("postgres", "fastmcp"): "mcpstore_cli.backends.postgres.fastmcp:PostgresFastmcpStore",
    ("dynamodb", "fastmcp"): "mcpstore_cli.backends.dynamodb.fastmcp:DynamoDBFastmcpStore",
    ("redis", "fastmcp"): "mcpstore_cli.backends.redis.store:RedisStore",
}


def layouts_of(backend: str, kind: str = "sessions", *, detected: bool = False) -> list[str]:
    """The layouts of sessions (or of ``kind``) a backend can hold, its default first;
    ``detected``: only those a command without --layout may be in."""
    home = HOME_LAYOUTS.get(backend)
    every = [home or DEFAULT_LAYOUT] + [
        lay for (b, lay) in LAYOUT_STORES if b == backend and lay != home
    ]
    if detected:
        every = [lay for lay in every if lay == home or lay not in EXPLICIT_LAYOUTS]
    return [lay for lay in every if LAYOUT_KINDS[lay] == kind]


def default_layout(backend: str) -> str:
    """The layout a backend's store is in when no --layout is given."""
    return HOME_LAYOUTS.get(backend, DEFAULT_LAYOUT)


def backends_of(layout: str) -> list[str]:
    """The backends that can hold ``layout``."""
    if layout == DEFAULT_LAYOUT:
        return [b for b in BACKENDS if b not in HOME_LAYOUTS]
    return [b for (b, lay) in LAYOUT_STORES if lay == layout]


def check_layout(backend: str, layout: str) -> None:
    """A usage error unless ``backend`` holds ``layout``."""
    if layout not in LAYOUTS:
        raise UsageError(f"--layout {layout!r} is not a layout; choose {', '.join(LAYOUTS)}.")
    where = backends_of(layout)
    if backend not in where:
        raise UsageError(
            f"Layout {layout} is kept only on {' and '.join(where)}, not on {backend}; give "
            f"a {' or '.join(where)} store with --url."
        )


def store_class(backend: str, layout: str = DEFAULT_LAYOUT) -> type[Store]:
    """The Store class of a backend for a layout, imported now."""
    if layout != default_layout(backend):
        check_layout(backend, layout)
    spec = (
        BACKENDS[backend] if layout == default_layout(backend) else LAYOUT_STORES[(backend, layout)]
    )
    return _load(spec, backend)


def _load(spec: str, backend: str) -> type[Store]:
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise not_supported("this store", backend) from None
        raise
    cls: type[Store] = getattr(module, class_name)
    return cls


def open_store(
    url: StoreURL,
    options: StoreOptions | None = None,
    *,
    layout: str | None = "",
) -> Store:
    """The store object for a URL in ``layout``; nothing is connected until the first
    operation. ``layout=None``: the layout the store holds, found by its first operation
    where the backend holds several (see :mod:`mcpstore_cli.store.detect`); ``""`` (the
    default): the backend's default layout (turul's sessions; Redis: FastMCP's)."""
    if layout == "":
        layout = default_layout(url.backend)
    if layout is None:
        if len(layouts_of(url.backend, detected=True)) > 1:
            from mcpstore_cli.store.detect import DetectingStore

            backend = url.backend
            return DetectingStore(
                url,
                options,
                layouts=layouts_of(backend, detected=True),
                classes=lambda layout: store_class(backend, layout),
            )
        layout = default_layout(url.backend)
    if (
        layout == DEFAULT_LAYOUT
        and options is not None
        and options.read_only
        and url.backend in READERS
    ):
        return _load(READERS[url.backend], url.backend)(url, options)
    return store_class(url.backend, layout)(url, options)


def layout_part(layout: str, part: str) -> ModuleType:
    """A module of a layout's package (``demo``: its demo data), imported now."""
    return importlib.import_module(f"{LAYOUTS[layout]}.{part}")


def open_figures(url: StoreURL, options: StoreOptions, *, layout: str | None) -> Any:
    """The store for ``metrics`` and ``top``: a backend's light figures reader where it has
    one, else :func:`open_store`."""
    if url.backend in FIGURE_READERS and layout in (None, "sessions"):
        module_name, _, class_name = FIGURE_READERS[url.backend].partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        backend = url.backend
        return cls(url, options, layout=layout, classes=lambda name: store_class(backend, name))
    return open_store(url, options, layout=layout)
