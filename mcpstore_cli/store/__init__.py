"""The store interface and the registry that opens stores.

``from mcpstore_cli.store import open_store`` is the library's entry point (see the README).
The names load on first use, so that importing a submodule such as ``store.urls`` (as the
command line does before it knows whether a store will be opened) costs only that submodule.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcpstore_cli.store.base import ProgressCallback, Store, StoreOptions
    from mcpstore_cli.store.registry import open_store, store_class

__all__ = ["ProgressCallback", "Store", "StoreOptions", "open_store", "store_class"]

_HOME = {
    "ProgressCallback": "mcpstore_cli.store.base",
    "Store": "mcpstore_cli.store.base",
    "StoreOptions": "mcpstore_cli.store.base",
    "open_store": "mcpstore_cli.store.registry",
    "store_class": "mcpstore_cli.store.registry",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
