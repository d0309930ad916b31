"""FastMCP's stores (the ``fastmcp`` package through ``py-key-value-aio``), more-layouts.md §4.

Every entry is (collection, key) -> a JSON object with an optional expiry. FastMCP writes three
collections: ``fastmcp_events`` (one SSE event each), ``fastmcp_streams`` (each stream's event
ids, oldest first) and ``fastmcp_state`` (per-session state). Other collections in the same
store (the OAuth proxy's clients and tokens, caches) hold secrets: they are counted by name,
never printed, and backed up only when the operator asks.

The same entries live on three backends: a PostgreSQL table (:mod:`.schema`), one Redis string
key per entry and a DynamoDB table (:mod:`.dynamodb`); :mod:`.records` reads and writes the
entry documents, :mod:`.sessions` turns entries into the two kinds of session an operator sees.
This package imports nothing above the layouts.
"""

NAME = "fastmcp"
EVENTS = "fastmcp_events"
STREAMS = "fastmcp_streams"
STATE = "fastmcp_state"
COLLECTIONS = (EVENTS, STREAMS, STATE)
DEFAULT_TABLE = "kv_store"  # py-key-value's PostgreSQL table name
# FastMCP's default TTLs (seconds): events and streams, session state.
EVENTS_TTL = 3600
STATE_TTL = 86400
MAX_EVENTS_PER_STREAM = 100
