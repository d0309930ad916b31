"""The registry: which package implements each backend, and the one way to open a store.

A backend is named here as a string and imported only when a store of that kind is opened,
so the command line starts without any driver, SQLAlchemy or boto3 loaded. Adding a backend
is one package under ``mcpstore_cli/backends/`` and one line in ``BACKENDS``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mcpstore_cli.errors import not_supported
from mcpstore_cli.store.base import Store, StoreOptions
from mcpstore_cli.store.urls import StoreURL

# --backend name -> "module:class" of its Store
BACKENDS: dict[str, str] = {
    "sqlite": "mcpstore_cli.backends.sqlite.store:SqliteStore",
    "postgres": "mcpstore_cli.backends.postgres.store:PostgresStore",
    "dynamodb": "mcpstore_cli.backends.dynamodb.store:DynamoDBStore",
}

# layout name -> its package
LAYOUTS: dict[str, str] = {
    "sessions": "mcpstore_cli.layouts.turul_sessions",
}


def store_class(backend: str) -> type[Store]:
    """The Store class of a backend, imported now."""
    module_name, _, class_name = BACKENDS[backend].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise not_supported("this store", backend) from None
        raise
    cls: type[Store] = getattr(module, class_name)
    return cls


def open_store(url: StoreURL, options: StoreOptions | None = None) -> Store:
    """The store object for a URL; nothing is connected until the first operation."""
    return store_class(url.backend)(url, options)


def layout_part(layout: str, part: str) -> ModuleType:
    """A module of a layout's package (``demo``: its demo data), imported now."""
    return importlib.import_module(f"{LAYOUTS[layout]}.{part}")
