"""The store interface and the registry that opens stores.

``from mcpstore_cli.store import open_store`` is the library's entry point (see the README).
"""

from mcpstore_cli.store.base import ProgressCallback, Store, StoreOptions
from mcpstore_cli.store.registry import open_store, store_class

__all__ = ["ProgressCallback", "Store", "StoreOptions", "open_store", "store_class"]
