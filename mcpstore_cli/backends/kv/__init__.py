"""What the stores of key-value layouts share, whatever their backend (FastMCP's layout on
PostgreSQL, Redis and DynamoDB). Imports no backend package: each backend's store mixes
:class:`~.fastmcp.FastmcpSessions` in and supplies the few key-value primitives it names."""
