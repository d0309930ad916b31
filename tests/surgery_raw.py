"""Read a turul session row back raw (sqlite3, asyncpg, boto3), for the tests of
terminate, delete, state and touch: what the store holds, not what mcpstore says."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from tests.conftest import StoreHandle


@dataclass
class RawRow:
    state: dict[str, Any]
    last_activity: int
    version: int | None = None  # PostgreSQL
    ttl: int | None = None  # DynamoDB (epoch seconds)


def _pg(url: str, sql: str, *args: Any) -> list[Any]:
    import asyncpg

    async def work() -> list[Any]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(work())


def _dynamo(store: StoreHandle) -> Any:
    from tests.dynamodb_fixtures import client

    endpoint = store.url.split("endpoint=", 1)[1].split("&", 1)[0]
    from urllib.parse import unquote

    return client(unquote(endpoint))


def raw_row(store: StoreHandle, session_id: str) -> RawRow | None:
    if store.backend == "sqlite":
        with sqlite3.connect(store.name) as conn:
            row = conn.execute(
                "SELECT state, last_activity FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
        return None if row is None else RawRow(json.loads(row[0]), int(row[1]))
    if store.backend == "postgres":
        rows = _pg(
            store.url,
            "SELECT state::text, last_activity, version FROM sessions WHERE session_id = $1",
            session_id,
        )
        if not rows:
            return None
        return RawRow(json.loads(rows[0][0]), int(rows[0][1]), int(rows[0][2]))
    c = _dynamo(store)
    try:
        item = c.get_item(
            TableName=store.name, Key={"sessionId": {"S": session_id}}, ConsistentRead=True
        ).get("Item")
    finally:
        c.close()
    if item is None:
        return None
    return RawRow(
        json.loads(item["state"]["S"]), int(item["lastActivity"]["N"]), ttl=int(item["ttl"]["N"])
    )


def raw_event_count(store: StoreHandle, session_id: str) -> int:
    if store.backend == "sqlite":
        with sqlite3.connect(store.name) as conn:
            return int(
                conn.execute(
                    "SELECT count(*) FROM events WHERE session_id = ?", (session_id,)
                ).fetchone()[0]
            )
    if store.backend == "postgres":
        rows = _pg(store.url, "SELECT count(*) FROM events WHERE session_id = $1", session_id)
        return int(rows[0][0])
    c = _dynamo(store)
    try:
        return int(
            c.query(
                TableName=f"{store.name}-events",
                KeyConditionExpression="sessionId = :s",
                ExpressionAttributeValues={":s": {"S": session_id}},
                Select="COUNT",
                ConsistentRead=True,
            )["Count"]
        )
    finally:
        c.close()
