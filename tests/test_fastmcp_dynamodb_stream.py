"""``tail-events`` on FastMCP's DynamoDB table when the table has a stream: the events a real
FastMCP server stores arrive through the stream (no polling warning), each once, with the
server's ids, and none stored before the follow began."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.fastmcp_server import EVENTS, FastMCPStore, drive_legacy
from tests.test_fastmcp_layout import Background, key_set, mcpstore_argv, process_env, start


def test_tail_reads_the_tables_stream(
    fastmcp_dynamodb_store: FastMCPStore, fastmcp_servers: Any, dynamodb_local: object
) -> None:
    from tests.dynamodb_fixtures import client

    store = fastmcp_dynamodb_store
    server = start(fastmcp_servers, store, events_ttl=600, state_ttl=600)
    drive_legacy(server.url, announce=False, interrupt=False)  # the server creates the table
    raw = client(dynamodb_local.endpoint)  # type: ignore[attr-defined]
    try:
        raw.update_table(
            TableName=store.name,
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
    finally:
        raw.close()
    before = key_set(store.entries())
    with Background(mcpstore_argv(store, "tail-events", "-f", "jsonl"), process_env(store)) as tail:
        time.sleep(3.0)  # positioned at the stream's end
        drive_legacy(server.url, announce=False, interrupt=False)
        fresh = {
            e.key: e
            for e in store.entries()
            if e.collection == EVENTS and (EVENTS, e.key) not in before
        }
        assert len(fresh) >= 5

        def printed() -> list[dict[str, object]]:
            return [json.loads(line) for line in tail.lines() if line.strip()]

        tail.wait_for(
            lambda: {str(p["event_id"]) for p in printed()} >= set(fresh), 20, "the new events"
        )
        time.sleep(1.5)  # nothing more may come
        got = printed()
        assert "following by reading" not in tail.stderr()  # the stream, not polling
    assert sorted(str(p["event_id"]) for p in got) == sorted(fresh)  # once each, none older
    for p in got:
        value = fresh[str(p["event_id"])].value
        assert (p["stream_id"], p["data"]) == (value["stream_id"], value["message"])
