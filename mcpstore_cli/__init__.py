"""mcpstore: an operator's tool for the session stores of MCP servers.

The package is a library first (records, store URLs, the async store interface and one backend
module per store) with a thin command-line layer in :mod:`mcpstore_cli.cli`.
"""

__version__ = "0.1.0"
