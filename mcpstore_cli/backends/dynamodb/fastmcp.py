"""FastMCP's entries in py-key-value's DynamoDB table (more-layouts.md §4, "DynamoDB"): key
``collection``/``key``, the entry document in ``value``, time to live on ``ttl``. The table
(its provisioning, check, clear and teardown) is :class:`DynamoDBTableStore`'s; what the layout
means is :class:`~mcpstore_cli.backends.kv.fastmcp.FastmcpSessions`'.

An item whose ``ttl`` passed counts as gone (DynamoDB deletes it within about two days): the
server's reads skip it, and so do mcpstore's. ``expire`` deletes those still present, each on
the condition that its ``value`` is still the one read, so an entry the server put again
meanwhile stays.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from mcpstore_cli.backends.dynamodb.common import _items
from mcpstore_cli.backends.dynamodb.tablestore import WRITE_WORKERS, DynamoDBTableStore
from mcpstore_cli.backends.kv.fastmcp import FastmcpSessions
from mcpstore_cli.errors import Interrupted
from mcpstore_cli.layouts.dynamodecl import Table
from mcpstore_cli.layouts.fastmcp import COLLECTIONS, EVENTS
from mcpstore_cli.layouts.fastmcp.dynamodb import KV_TABLE, TTL, VALUE
from mcpstore_cli.layouts.fastmcp.records import BadEntry, from_document
from mcpstore_cli.model.expire import expire_interrupted
from mcpstore_cli.model.kv import Entry
from mcpstore_cli.model.records import ExpireOptions, ExpireResult
from mcpstore_cli.store.pacing import Pacer

_NAMES = {"#c": "collection", "#k": "key", "#v": VALUE, "#t": TTL}
_PROJECTION = "#c, #k, #v, #t"


def _entry(item: dict[str, Any]) -> Entry:
    collection = item["collection"]["S"]
    key = item["key"]["S"]
    text = (item.get(VALUE) or {}).get("S")
    ttl = (item.get(TTL) or {}).get("N")
    try:
        entry = from_document(text or "", collection=collection, key=key)
    except BadEntry:
        entry = Entry(collection, key, None)
    entry.token = (text, ttl)
    if ttl is not None:
        at = int(float(ttl)) * 1000
        entry.expires_at = at if entry.expires_at is None else min(entry.expires_at, at)
    return entry


class DynamoDBFastmcpStore(FastmcpSessions, DynamoDBTableStore):
    """py-key-value's collection/key table on DynamoDB."""

    layout: ClassVar[str] = "fastmcp"
    DECLARED: ClassVar[Table] = KV_TABLE
    RECORDS: ClassVar[str] = "entries"
    contents: ClassVar[str] = "FastMCP's entries"
    reader_command: ClassVar[str] = "mcpstore"

    # -- reading --------------------------------------------------------------------------
    def _query_pages(self, collection: str) -> Iterator[list[dict[str, Any]]]:
        self._ensure_readable_sync()
        kw: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#c = :c",
            "ExpressionAttributeNames": _NAMES,
            "ExpressionAttributeValues": {":c": {"S": collection}},
            "ProjectionExpression": _PROJECTION,
            "ConsistentRead": True,
        }
        while True:
            response = self.ddb._call("query", **kw)
            yield _items(response)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kw["ExclusiveStartKey"] = last

    async def _pages(self, pages: Iterator[list[dict[str, Any]]]) -> AsyncIterator[list[Entry]]:
        while True:
            page = await asyncio.to_thread(next, pages, None)
            if page is None:
                return
            yield [_entry(item) for item in page]

    async def kv_scan(
        self, collections: Sequence[str] | None, *, others: dict[str, int] | None = None
    ) -> AsyncIterator[list[Entry]]:
        if collections is None:
            pages = self._scan(
                {"ExpressionAttributeNames": _NAMES, "ProjectionExpression": _PROJECTION}
            )
            async for page in self._pages(pages):
                yield page
            return
        for collection in collections:
            async for page in self._pages(self._query_pages(collection)):
                yield page

    async def kv_get(self, collection: str, keys: Sequence[str]) -> dict[str, Entry]:
        wanted = [{"collection": {"S": collection}, "key": {"S": k}} for k in dict.fromkeys(keys)]
        if not wanted:
            return {}
        items = await asyncio.to_thread(self._batch_get, wanted, ["collection", "key", VALUE, TTL])
        return {e.key: e for e in map(_entry, items)}

    def _delete_same(self, entry: Entry) -> bool:
        text, ttl = entry.token
        values: dict[str, Any] = {}
        conditions = []
        if text is None:
            conditions.append("attribute_not_exists(#v)")
        else:
            conditions.append("#v = :v")
            values[":v"] = {"S": text}
        if ttl is None:
            conditions.append("attribute_not_exists(#t)")
        else:
            conditions.append("#t = :t")
            values[":t"] = {"N": ttl}
        kw: dict[str, Any] = {
            "Key": {"collection": {"S": entry.collection}, "key": {"S": entry.key}},
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": {"#v": VALUE, "#t": TTL},
        }
        if values:
            kw["ExpressionAttributeValues"] = values
        return self._conditional("delete_item", **kw)

    def _delete_many(self, entries: Sequence[Entry]) -> int:
        if len(entries) <= 1:
            return sum(map(self._delete_same, entries))
        with ThreadPoolExecutor(WRITE_WORKERS, thread_name_prefix="mcpstore-ddb") as pool:
            return sum(pool.map(self._delete_same, entries))

    async def kv_delete(self, entries: Sequence[Entry]) -> int:
        return await asyncio.to_thread(self._delete_many, list(entries))

    async def kv_replace(self, entry: Entry, value: Any) -> bool:
        import json

        text, ttl = entry.token
        if text is None:
            return False
        doc = json.loads(text)
        doc["value"] = value
        item: dict[str, Any] = {
            "collection": {"S": entry.collection},
            "key": {"S": entry.key},
            VALUE: {"S": json.dumps(doc, sort_keys=True)},
        }
        if ttl is not None:
            item[TTL] = {"N": ttl}
        return await asyncio.to_thread(
            self._conditional,
            "put_item",
            Item=item,
            ConditionExpression="#v = :v",
            ExpressionAttributeNames={"#v": VALUE},
            ExpressionAttributeValues={":v": {"S": text}},
        )

    async def kv_write(self, entry: Entry, *, expected: Entry | None) -> bool:
        """``PutItem`` of the document with ``ttl`` its expiry's whole seconds, conditional
        on the ``value`` attribute read (or on there being none)."""
        from mcpstore_cli.layouts.fastmcp.records import document

        item: dict[str, Any] = {
            "collection": {"S": entry.collection},
            "key": {"S": entry.key},
            VALUE: {"S": document(entry)},
        }
        if entry.expires_at is not None:
            item[TTL] = {"N": str(entry.expires_at // 1000)}
        text = None if expected is None else expected.token[0]
        if text is None:
            condition: dict[str, Any] = {
                "ConditionExpression": "attribute_not_exists(#v)",
                "ExpressionAttributeNames": {"#v": VALUE},
            }
        else:
            condition = {
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": VALUE},
                "ExpressionAttributeValues": {":v": {"S": text}},
            }
        return await asyncio.to_thread(self._conditional, "put_item", Item=item, **condition)

    backup_consistency: ClassVar[str] = (
        "a consistent-read Query of each collection (not a snapshot of the table)"
    )

    async def kv_put(self, entries: Sequence[Entry], *, only_missing: bool) -> int:
        """Put each document with ``ttl`` the whole epoch seconds of its expiry, as
        py-key-value does; a merge only where the key holds nothing."""
        import threading

        from mcpstore_cli.layouts.fastmcp.records import document

        def item(e: Entry) -> dict[str, Any]:
            out: dict[str, Any] = {
                "collection": {"S": e.collection},
                "key": {"S": e.key},
                VALUE: {"S": document(e)},
            }
            if e.expires_at is not None:
                out[TTL] = {"N": str(e.expires_at // 1000)}
            return out

        await self.ensure_readable()
        written, _skipped = await asyncio.to_thread(
            self._restore_items,
            iter([item(e) for e in entries]),
            merge=only_missing,
            progress=None,
            stop=threading.Event(),
        )
        return written

    async def clear(
        self,
        *,
        recreate: bool = False,
        progress: Any = None,
        collections: Sequence[str] | None = COLLECTIONS,
    ) -> Any:
        """Delete the entries of these collections (None: every entry), keep the table."""

        if recreate or collections is None:
            return await super().clear(recreate=recreate, progress=progress)
        await self.ensure_readable()
        started = time.perf_counter()
        counts: dict[str, int] = {}
        for collection in collections:
            async for page in self._pages(self._query_pages(collection)):
                keys = [
                    (self.table, {"collection": {"S": e.collection}, "key": {"S": e.key}})
                    for e in page
                ]
                if keys:
                    await asyncio.to_thread(self.ddb.batch_write, keys, delete=True)
                    counts[collection] = counts.get(collection, 0) + len(keys)
                    if progress is not None:
                        progress(len(keys))
        return self.cleared(counts, started)

    async def kv_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        pages = self._scan(
            {"ExpressionAttributeNames": {"#c": "collection"}, "ProjectionExpression": "#c"}
        )
        while True:
            page = await asyncio.to_thread(next, pages, None)
            if page is None:
                return counts
            for item in page:
                name = item["collection"]["S"]
                counts[name] = counts.get(name, 0) + 1

    async def kv_storage(self, counts: dict[str, int] | None = None) -> dict[str, Any]:
        info = await asyncio.to_thread(self._discover)
        return {
            "bytes": info.size_bytes,
            "measured": "DescribeTable TableSizeBytes (DynamoDB updates it about every 6 hours)",
        }

    # -- tail-events ----------------------------------------------------------------------
    follow_hint = "the table has no stream: UpdateTable with a NEW_IMAGE stream pushes events"

    def _streams_client(self) -> Any:
        from botocore.config import Config

        ddb = self.ddb
        ddb.client  # noqa: B018 - makes the shared boto3 session
        config = Config(
            connect_timeout=ddb.options.connect_timeout,
            read_timeout=max(10.0, ddb.options.connect_timeout),
            retries={"mode": "standard", "total_max_attempts": 3},
            user_agent_extra="mcpstore",
        )
        return ddb._session.client(
            "dynamodbstreams", region_name=ddb.region, endpoint_url=ddb.endpoint, config=config
        )

    async def kv_follow(self, seen: set[str], warn: Any) -> AsyncIterator[list[Entry]]:
        """The table's stream when it has one (records of ``fastmcp_events`` as they are
        written; a KEYS_ONLY stream's keys are read back), else the polling fallback."""
        info = await asyncio.to_thread(self._discover)
        desc = info.description or {}
        arn = desc.get("LatestStreamArn")
        spec = desc.get("StreamSpecification") or {}
        if not arn or not spec.get("StreamEnabled"):
            async for entries in super().kv_follow(seen, warn):
                yield entries
            return
        from botocore.exceptions import ClientError

        client = await asyncio.to_thread(self._streams_client)
        iterators: dict[str, str | None] = {}
        known: set[str] = set()

        def shards() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            kw: dict[str, Any] = {"StreamArn": arn}
            while True:
                got = client.describe_stream(**kw)["StreamDescription"]
                out += got.get("Shards", [])
                if not got.get("LastEvaluatedShardId"):
                    return out
                kw["ExclusiveStartShardId"] = got["LastEvaluatedShardId"]

        def iterator(shard: str, kind: str) -> str | None:
            return client.get_shard_iterator(
                StreamArn=arn, ShardId=shard, ShardIteratorType=kind
            ).get("ShardIterator")

        def read(shard: str) -> tuple[list[dict[str, Any]], str | None]:
            try:
                got = client.get_records(ShardIterator=iterators[shard], Limit=1000)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code not in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                    raise
                # DynamoDB Local: a LATEST iterator of a shard empty then; read it from its
                # start (what history delivered is dropped as seen).
                got = client.get_records(ShardIterator=iterator(shard, "TRIM_HORIZON"), Limit=1000)
            return got.get("Records", []), got.get("NextShardIterator")

        async def discover(kind: str) -> None:
            for shard in await asyncio.to_thread(shards):
                sid = shard["ShardId"]
                if sid in known:
                    continue
                known.add(sid)
                closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
                if kind == "LATEST" and closed:
                    continue
                iterators[sid] = await asyncio.to_thread(iterator, sid, kind)

        await discover("LATEST")
        delay = 0.05
        next_discovery = time.monotonic() + 10
        while True:
            fresh: list[Entry] = []
            missing: list[str] = []
            for sid in [s for s, it in iterators.items() if it is not None]:
                records, following = await asyncio.to_thread(read, sid)
                iterators[sid] = following
                for record in records:
                    if record.get("eventName") == "REMOVE":
                        continue
                    body = record.get("dynamodb", {})
                    image = body.get("NewImage") or body.get("Keys") or {}
                    if (image.get("collection") or {}).get("S") != EVENTS:
                        continue
                    key = image["key"]["S"]
                    if key in seen:
                        continue
                    if VALUE in image:
                        fresh.append(_entry(image))
                    else:
                        missing.append(key)
            if missing:
                fresh += list((await self.kv_get(EVENTS, missing)).values())
            for entry in fresh:
                seen.add(entry.key)
            if fresh:
                yield fresh
                delay = 0.05
            else:
                delay = min(delay * 2, 1.0)
                await asyncio.sleep(delay)
            if time.monotonic() >= next_discovery:
                await discover("TRIM_HORIZON")
                next_discovery = time.monotonic() + 10

    # -- expire ---------------------------------------------------------------------------
    async def kv_expire(
        self, opts: ExpireOptions, result: ExpireResult, pacer: Pacer, progress: Any
    ) -> None:
        now_s = opts.now_ms // 1000
        pages = self._scan(
            {
                "ExpressionAttributeNames": _NAMES,
                "ProjectionExpression": _PROJECTION,
                "FilterExpression": "#t <= :now",
                "ExpressionAttributeValues": {":now": {"N": str(now_s)}},
            }
        )
        deleted = 0
        try:
            async for page in self._pages(pages):
                if opts.dry_run:
                    for entry in page:
                        result.entries[entry.collection] = (
                            result.entries.get(entry.collection, 0) + 1
                        )
                        if len(result.sample) < opts.sample_size:
                            result.sample.append(f"{entry.collection}::{entry.key}")
                    continue
                step = pacer.batch_limit(opts.batch_size)
                for start in range(0, len(page), step):
                    if pacer.out_of_time():
                        result.partial = True
                        result.remaining["expired entries"] = len(page) - start
                        return
                    chunk = page[start : start + step]
                    outcomes = await asyncio.to_thread(self._pool_delete, chunk)
                    for entry, gone in zip(chunk, outcomes, strict=True):
                        if gone:
                            result.entries[entry.collection] = (
                                result.entries.get(entry.collection, 0) + 1
                            )
                            result.expired_entries += 1
                        else:
                            result.skipped += 1
                    n = sum(outcomes)
                    deleted += n
                    if progress is not None:
                        progress(n)
                    await pacer.done(n)
        except (KeyboardInterrupt, Interrupted, asyncio.CancelledError):
            raise expire_interrupted(result, None) from None

    def _pool_delete(self, entries: Sequence[Entry]) -> list[bool]:
        with ThreadPoolExecutor(WRITE_WORKERS, thread_name_prefix="mcpstore-ddb") as pool:
            return list(pool.map(self._delete_same, entries))

    def tables(self) -> list[str]:
        return [self.table]


__all__ = ["COLLECTIONS", "DynamoDBFastmcpStore"]
