"""turul's session layout on DynamoDB, declared once (storage-layouts.md, "DynamoDB"): the two
tables, their keys, the sessions table's GSI, every attribute with its type, and time to live.

Plain values, no boto3: ``backends/dynamodb`` turns them into requests and checks. Attributes
are named here by their snake_case names (the names on tables of older servers); current
servers write the camelCase form of the same names, which :func:`camel` gives.
"""

from __future__ import annotations

from mcpstore_cli.layouts.dynamodecl import BILLING_MODE as BILLING_MODE
from mcpstore_cli.layouts.dynamodecl import TTL, Index, Key, Table, camel
from mcpstore_cli.layouts.dynamodecl import is_snake as is_snake

EVENTS_SUFFIX = "-events"  # the events table is always the sessions table's name plus this
SESSION_TTL_S = 30 * 60  # what a server adds to the write time for ``ttl`` (its default)


SESSIONS = Table(
    keys=(Key("session_id", "HASH"),),
    attributes={
        "session_id": "S",
        "client_capabilities": "S",  # JSON text; absent when none
        "server_capabilities": "S",  # JSON text; absent when none
        "state": "S",  # JSON text, not a map
        "created_at": "N",  # ms
        "last_activity": "N",  # ms
        "is_initialized": "BOOL",
        "metadata": "S",  # JSON text
        TTL: "N",
    },
    # The server creates it but never queries it.
    indexes=(Index("LastActivityIndex", (Key("last_activity", "HASH"),), "KEYS_ONLY"),),
)

EVENTS = Table(
    keys=(Key("session_id", "HASH"), Key("event_id", "RANGE")),
    attributes={
        "session_id": "S",
        "event_id": "N",  # per-session counter from 1
        "timestamp": "N",  # ms
        "event_type": "S",  # missing means "message"
        "data": "S",  # JSON text
        "retry": "N",  # only when set
        TTL: "N",
    },
)

GSI_NAME = SESSIONS.indexes[0].name


# Every attribute of either table: snake_case name -> camelCase name.
CAMEL: dict[str, str] = {
    name: camel(name) for table in (SESSIONS, EVENTS) for name in table.attributes
}
