"""turul's server-global entity state (``turul-mcp-server-state-storage``, more-layouts.md
§3): which tools, resources and prompts each entity type has, active or not, with metadata,
and one fingerprint per entity type. Two tables on SQLite and PostgreSQL; one DynamoDB table
(default ``mcp-server-state``) where the fingerprint is an item with entityId ``#fingerprint``.

This package imports nothing above the layouts; SQLAlchemy loads only with :mod:`.schema`.
"""

NAME = "server-state"

# Backup records (docs/backup-format.md): ["v", entity_type, entity_id, active, metadata,
# updated_at] per entity, then ["f", entity_type, fingerprint, updated_at] per entity type.
ENTITY_RECORD = "v"
FINGERPRINT_RECORD = "f"

# Without SQLAlchemy (the schema is in .schema; tests hold these to it): the tables, the
# main one first, and the columns of the main table that identify the layout.
TABLE_NAMES = ("server_entity_state", "server_fingerprints")
REQUIRED = frozenset({"entity_type", "entity_id", "active", "updated_at"})
