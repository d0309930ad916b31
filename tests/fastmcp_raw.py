"""Raw writes into FastMCP's stores, exactly as py-key-value-aio 0.5 writes an entry, for the
tests of tests/test_fastmcp_layout.py and tests/test_redis_backend.py: plain asyncpg SQL,
redis-py and boto3 calls, never mcpstore's code and never py-key-value itself.

- PostgreSQL: ``INSERT … ON CONFLICT (collection, key) DO UPDATE SET value, ttl, expires_at``
  (an upsert keeps the first ``created_at``); ``value`` is ``json.dumps(value,
  sort_keys=True)``; ``ttl`` the seconds the entry had left when it was written.
- Redis: the document ``{"collection", "key", "value", "created_at", "expires_at",
  "version": 1}`` (``json.dumps(sort_keys=True)``, times in ``isoformat()``, a missing expiry
  left out) under ``<collection>::<key>``, ``SET … EX <whole seconds left, at least 1>``.
- DynamoDB: the same document in ``value`` (S), ``ttl`` (N) the whole epoch seconds of
  ``expires_at``, absent when the entry never expires.

Times are ``datetime`` in UTC. ``created``: when the server wrote the entry (now unless told:
an entry written a while ago by a server carries that time); ``ttl``: the entry's time to live
at that write (None: never expires).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fastmcp_server import FastMCPStore, RawEntry, parse_time


def now() -> datetime:
    return datetime.now(UTC)


def new_event_id() -> str:
    return str(uuid.uuid4())


def document(
    collection: str, key: str, value: Any, created: datetime, expires: datetime | None
) -> str:
    doc: dict[str, Any] = {
        "collection": collection,
        "key": key,
        "value": value,
        "created_at": created.isoformat(),
        "version": 1,
    }
    if expires is not None:
        doc["expires_at"] = expires.isoformat()
    return json.dumps(doc, sort_keys=True)


@dataclass
class RawKV:
    """Raw puts and deletes on one FastMCP store (a FastMCPStore of the harness)."""

    store: FastMCPStore
    table: str = "kv_store"  # PostgreSQL

    @property
    def backend(self) -> str:
        return self.store.backend

    # -- writes ---------------------------------------------------------------------------
    def put(
        self,
        collection: str,
        key: str,
        value: Any,
        *,
        ttl: float | None,
        created: datetime | None = None,
    ) -> None:
        created = created or now()
        expires = None if ttl is None else created + timedelta(seconds=ttl)
        if self.backend == "postgres":
            self._pg(
                f"INSERT INTO {self._table()} (collection, key, value, ttl, created_at, "
                "expires_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (collection, key) "
                "DO UPDATE SET value = EXCLUDED.value, ttl = EXCLUDED.ttl, "
                "expires_at = EXCLUDED.expires_at",
                collection,
                key,
                json.dumps(value, sort_keys=True),
                None if expires is None else (expires - created).total_seconds(),
                created,
                expires,
            )
        elif self.backend == "redis":
            client = self.redis()
            try:
                text = document(collection, key, value, created, expires)
                if expires is None:
                    client.set(f"{collection}::{key}", text)
                else:
                    left = (expires - now()).total_seconds()
                    client.set(f"{collection}::{key}", text, ex=max(int(left), 1))
            finally:
                client.close()
        else:
            item: dict[str, Any] = {
                "collection": {"S": collection},
                "key": {"S": key},
                "value": {"S": document(collection, key, value, created, expires)},
            }
            if expires is not None:
                item["ttl"] = {"N": str(int(expires.timestamp()))}
            client = self.dynamodb()
            try:
                client.put_item(TableName=self.store.name, Item=item)
            finally:
                client.close()

    def delete(self, collection: str, key: str) -> None:
        if self.backend == "postgres":
            self._pg(
                f"DELETE FROM {self._table()} WHERE collection = $1 AND key = $2", collection, key
            )
        elif self.backend == "redis":
            client = self.redis()
            try:
                client.delete(f"{collection}::{key}")
            finally:
                client.close()
        else:
            client = self.dynamodb()
            try:
                client.delete_item(
                    TableName=self.store.name,
                    Key={"collection": {"S": collection}, "key": {"S": key}},
                )
            finally:
                client.close()

    # -- clients --------------------------------------------------------------------------
    def _table(self) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.table):
            raise ValueError(self.table)
        return self.table

    def _pg(self, sql: str, *args: Any) -> Any:
        async def run() -> Any:
            import asyncpg

            conn = await asyncpg.connect(self.store.url, timeout=10)
            try:
                return await conn.fetch(sql, *args)
            finally:
                await conn.close()

        return asyncio.run(run())

    def redis(self) -> Any:
        import redis

        return redis.Redis.from_url(self.store.url, decode_responses=True, socket_timeout=10)

    def dynamodb(self) -> Any:
        from tests.dynamodb_fixtures import client

        return client(self.store.server_kwargs["endpoint"])


# -- reading raw entries --------------------------------------------------------------------


def expiry(entry: RawEntry) -> float | None:
    """When the entry expires, epoch seconds (None: never). DynamoDB: the earlier of the
    document's ``expires_at`` and the item's ``ttl`` (an item past its ttl is gone)."""
    raw = entry.raw
    if "read_at" in raw:  # PostgreSQL
        return None if raw["expires_at"] is None else float(raw["expires_at"].timestamp())
    doc = raw.get("doc") or {}
    at = doc.get("expires_at")
    out = None if at is None else parse_time(at).timestamp()
    ttl = (raw.get("item") or {}).get("ttl")
    if ttl is not None:
        out = float(ttl["N"]) if out is None else min(out, float(ttl["N"]))
    return out


def live(entries: list[RawEntry], at: datetime | None = None) -> list[RawEntry]:
    """The entries that have not expired (what the server's reads still return)."""
    moment = (at or now()).timestamp()
    return [e for e in entries if (x := expiry(e)) is None or x > moment]


def key_set(entries: list[RawEntry]) -> set[tuple[str, str]]:
    return {(e.collection, e.key) for e in entries}
