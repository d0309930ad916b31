"""One module per store kind, each implementing :class:`mcpstore_cli.store.base.Store`."""
