"""turul's server-global entity state (``turul-mcp-server-state-storage``, more-layouts.md
§3): which tools, resources and prompts each entity type has, active or not, with metadata,
and one fingerprint per entity type. Two tables on SQLite and PostgreSQL; one DynamoDB table
(default ``mcp-server-state``) where the fingerprint is an item with entityId ``#fingerprint``.

This package imports nothing above the layouts; SQLAlchemy loads only with :mod:`.schema`.
"""

NAME = "server-state"
