"""The Redis backend (Valkey the same): FastMCP's entries as py-key-value writes them, one
string key ``<collection>::<key>`` each. Through redis-py's asyncio client, imported only when
a store is opened. It never runs KEYS or FLUSHDB: SCAN with a match pattern and a count,
pipelined reads, UNLINK for deletes, and conditional writes in Lua scripts."""
