"""``tail-events`` on DynamoDB: the events table's stream when it has one, else polling.

Event ids are per-session counters there (1, 2, 3, ... in every session, each written only
after the one before exists), so a follower's position is the highest id delivered per
session; anything at or below it is a duplicate and dropped. That makes joining history
(queries and scans) to the live stream safe: the stream is positioned first, history read,
and stream records already covered by history are dropped.

With a stream (``setup`` enables a NEW_IMAGE one), every open shard is read with GetRecords,
quickly while events flow and more slowly (down to once a second) when idle; closed shards'
children are picked up from DescribeStream. Without one, a followed session is polled with
a Query on its key, and all sessions with a Scan filtered on the event timestamp.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from mcpstore_cli.backends.dynamodb.common import _expired, _items, _n, _s
from mcpstore_cli.model.records import CorruptRow, Event
from mcpstore_cli.store.follow import PAGE, Reconnector, TailRequest, Warn

if TYPE_CHECKING:
    from mcpstore_cli.backends.dynamodb.store import DynamoDBStore

FAST_POLL = 0.1  # seconds between GetRecords rounds while records arrive
IDLE_POLL = 1.0  # ... growing to this when the stream is quiet
QUERY_POLL = 0.5  # seconds between Query polls of one session (no stream)
SCAN_POLL_MIN = 2.0  # seconds between Scan polls of all sessions (no stream), at least
SCAN_MARGIN_MS = 10_000  # a scan poll re-reads events this much older than the last scan
DISCOVER_EVERY = 10.0  # seconds between DescribeStream calls looking for new shards

TRANSIENT_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
}

Batch = list[Event | CorruptRow]


class DynamoFollower:
    def __init__(self, store: DynamoDBStore, request: TailRequest, warn: Warn | None) -> None:
        self.store = store
        self.request = request
        self.warn = warn
        self.seen: dict[str, int] = {}  # session id -> highest event id delivered
        self.delivered_last: tuple[str, int] | None = None
        self.reconnector = Reconnector(
            f"DynamoDB {store._where()}",
            warn,
            self.is_transient,
            translate=lambda exc: store._translate(exc, store.events_table),
            first=0.2,
            cap=5.0,
        )
        self._streams: Any = None

    # -- errors ---------------------------------------------------------------------------
    @staticmethod
    def is_transient(exc: BaseException) -> bool:
        from botocore import exceptions as bx

        if isinstance(
            exc,
            bx.EndpointConnectionError
            | bx.ConnectTimeoutError
            | bx.ReadTimeoutError
            | bx.ConnectionClosedError
            | ConnectionError
            | TimeoutError,
        ):
            return True
        if isinstance(exc, bx.ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            return code in TRANSIENT_CODES
        from mcpstore_cli.errors import StoreConnectionError

        return isinstance(exc, StoreConnectionError) and (
            "Cannot reach" in exc.message or "throttling" in exc.message
        )

    def position(self) -> str:
        if self.delivered_last is None:
            return "the start position"
        sid, eid = self.delivered_last
        return f"event {eid} of session {sid}"

    async def _call(self, fn: Callable[[], Any]) -> Any:
        while True:
            try:
                return await asyncio.to_thread(fn)
            except Exception as exc:
                await self.reconnector.recover(exc, self._probe, self.position)

    async def _probe(self) -> None:
        """Whether DynamoDB answers again (one quick call; botocore reconnects by itself)."""
        store = self.store
        await asyncio.to_thread(
            lambda: store.probe_client.describe_table(TableName=store.events_table)
        )

    # -- decoding -------------------------------------------------------------------------
    def _accept(
        self, raw: dict[str, Any], now_s: int, batch: Batch, *, history: bool = False
    ) -> None:
        """Deliver one stored item unless it is expired, of another session or a duplicate.

        History (one query or scan, each item once) is delivered whatever its order; live
        items at or below the session's highest delivered id are duplicates."""
        store = self.store
        assert store._events is not None
        n = store._events.names
        sid = _s(raw.get(n.session_id))
        eid = _n(raw.get(n.event_id))
        if sid is None or eid is None or not self.request.wants(sid):
            return
        seen = self.seen.get(sid, 0)
        if eid <= seen and not history:
            return
        if _expired(_n(raw.get(n.ttl)), now_s):
            return
        self.seen[sid] = max(eid, seen)
        self.delivered_last = (sid, eid)
        batch.append(store._decode_event(raw))

    # -- history --------------------------------------------------------------------------
    def _query_kw(self, session_id: str, after: int | None) -> dict[str, Any]:
        store = self.store
        assert store._events is not None
        n = store._events.names
        names = {"#sid": n.session_id}
        values: dict[str, Any] = {":sid": {"S": session_id}}
        key = "#sid = :sid"
        if after is not None:
            names["#eid"] = n.event_id
            values[":after"] = {"N": str(after)}
            key += " AND #eid > :after"
        kw: dict[str, Any] = {
            "TableName": store.events_table,
            "KeyConditionExpression": key,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "Limit": PAGE,
        }
        if self.request.since_ms is not None:
            names["#ts"] = n.timestamp
            values[":since"] = {"N": str(self.request.since_ms)}
            kw["FilterExpression"] = "#ts >= :since"
        return kw

    def _scan_kw(self, since_ms: int | None) -> dict[str, Any]:
        store = self.store
        assert store._events is not None
        n = store._events.names
        kw: dict[str, Any] = {"TableName": store.events_table, "Limit": PAGE}
        if since_ms is not None:
            kw["FilterExpression"] = "#ts >= :since"
            kw["ExpressionAttributeNames"] = {"#ts": n.timestamp}
            kw["ExpressionAttributeValues"] = {":since": {"N": str(since_ms)}}
        return kw

    async def _pages(self, op: str, kw: dict[str, Any]) -> AsyncIterator[list[dict[str, Any]]]:
        client = self.store.client
        while True:
            response = await self._call(lambda: getattr(client, op)(**kw))
            yield _items(response)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kw["ExclusiveStartKey"] = last

    async def _history(self) -> AsyncIterator[Batch]:
        """Stored events the request starts with (session by session, each in id order)."""
        request = self.request
        if request.from_end:
            return
        if request.session_id is not None:
            pages = self._pages("query", self._query_kw(request.session_id, request.after_id))
        else:
            pages = self._pages("scan", self._scan_kw(request.since_ms))
        async for page in pages:
            batch: Batch = []
            now_s = int(time.time())
            for raw in page:
                self._accept(raw, now_s, batch, history=True)
            if batch:
                yield batch

    async def _latest_id(self, session_id: str) -> int:
        store = self.store
        assert store._events is not None
        n = store._events.names
        response = await self._call(
            lambda: store.client.query(
                TableName=store.events_table,
                KeyConditionExpression="#sid = :sid",
                ExpressionAttributeNames={"#sid": n.session_id, "#eid": n.event_id},
                ExpressionAttributeValues={":sid": {"S": session_id}},
                ScanIndexForward=False,
                Limit=1,
                ProjectionExpression="#sid, #eid",
            )
        )
        items = _items(response)
        return (_n(items[0].get(n.event_id)) or 0) if items else 0

    # -- the run --------------------------------------------------------------------------
    async def run(self) -> AsyncIterator[Batch]:
        store = self.store
        await store.ensure_readable()
        assert store._events is not None
        request = self.request
        if request.after_id is not None and request.session_id is not None:
            self.seen[request.session_id] = request.after_id
        stream_arn = None
        if request.follow:
            desc = await asyncio.to_thread(store._describe, store.events_table) or {}
            spec = desc.get("StreamSpecification") or {}
            if spec.get("StreamEnabled") and spec.get("StreamViewType") in (
                "NEW_IMAGE",
                "NEW_AND_OLD_IMAGES",
            ):
                stream_arn = desc.get("LatestStreamArn")
        if stream_arn is not None:
            stream = _Stream(self, stream_arn)
            await stream.position_at_latest()
            async for batch in self._history():
                yield batch
            async for batch in stream.follow():
                yield batch
            return
        # No stream: history, then polling.
        started_ms = int(time.time() * 1000)
        async for batch in self._history():
            yield batch
        if not request.follow:
            return
        if request.session_id is not None:
            if request.from_end:
                self.seen[request.session_id] = await self._latest_id(request.session_id)
            async for batch in self._poll_session(request.session_id):
                yield batch
            return
        if self.warn is not None:
            self.warn(
                f"{store.events_table} has no stream: polling it with a Scan every "
                f"{SCAN_POLL_MIN:g} s or more, which reads the whole table each time (mcpstore "
                "setup enables a NEW_IMAGE stream)."
            )
        async for batch in self._poll_scan(started_ms):
            yield batch

    async def _poll_session(self, session_id: str) -> AsyncIterator[Batch]:
        while True:
            batch: Batch = []
            kw = self._query_kw(session_id, self.seen.get(session_id, 0))
            async for page in self._pages("query", kw):
                now_s = int(time.time())
                for raw in page:
                    self._accept(raw, now_s, batch)
            if batch:
                yield batch
            await asyncio.sleep(QUERY_POLL)

    async def _poll_scan(self, started_ms: int) -> AsyncIterator[Batch]:
        request = self.request
        assert self.store._events is not None
        n = self.store._events.names
        if request.from_end:
            # What is stored already is not printed: note each session's position first.
            async for page in self._pages("scan", self._scan_kw(started_ms - SCAN_MARGIN_MS)):
                for raw in page:
                    sid = _s(raw.get(n.session_id))
                    eid = _n(raw.get(n.event_id))
                    if sid is not None and eid is not None and eid > self.seen.get(sid, 0):
                        self.seen[sid] = eid
        last_scan_ms = started_ms
        while True:
            began = time.monotonic()
            scan_ms = int(time.time() * 1000)
            batch: Batch = []
            async for page in self._pages("scan", self._scan_kw(last_scan_ms - SCAN_MARGIN_MS)):
                now_s = int(time.time())
                for raw in page:
                    self._accept(raw, now_s, batch)
            last_scan_ms = scan_ms
            if batch:
                batch.sort(key=_event_order)
                yield batch
            took = time.monotonic() - began
            await asyncio.sleep(max(SCAN_POLL_MIN, 5 * took))


def _event_order(item: Event | CorruptRow) -> tuple[int, str, int]:
    if isinstance(item, Event):
        return item.timestamp, item.session_id, item.id
    return 0, "", 0


class _Stream:
    """The events table's stream: one iterator per shard being read."""

    def __init__(self, follower: DynamoFollower, arn: str) -> None:
        self.follower = follower
        self.arn = arn
        self.iterators: dict[str, str | None] = {}  # shard id -> iterator (None: finished)
        self.last_seq: dict[str, str] = {}
        self.known: set[str] = set()
        self.client = self._client()

    def _client(self) -> Any:
        from botocore.config import Config

        store = self.follower.store
        store.client  # noqa: B018 - makes the shared boto3 session
        config = Config(
            connect_timeout=store.options.connect_timeout,
            read_timeout=max(10.0, store.options.connect_timeout),
            retries={"mode": "standard", "total_max_attempts": 2},
            user_agent_extra="mcpstore",
        )
        return store._session.client(
            "dynamodbstreams",
            region_name=store.region,
            endpoint_url=store.endpoint,
            config=config,
        )

    def _shards(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        kw: dict[str, Any] = {"StreamArn": self.arn}
        while True:
            desc = self.client.describe_stream(**kw)["StreamDescription"]
            shards += desc.get("Shards", [])
            last = desc.get("LastEvaluatedShardId")
            if not last:
                return shards
            kw["ExclusiveStartShardId"] = last

    def _iterator(self, shard_id: str, kind: str, seq: str | None = None) -> str | None:
        kw: dict[str, Any] = {"StreamArn": self.arn, "ShardId": shard_id, "ShardIteratorType": kind}
        if seq is not None:
            kw["SequenceNumber"] = seq
        return self.client.get_shard_iterator(**kw).get("ShardIterator")

    async def position_at_latest(self) -> None:
        shards = await self.follower._call(self._shards)
        for shard in shards:
            sid = shard["ShardId"]
            self.known.add(sid)
            if "EndingSequenceNumber" in shard.get("SequenceNumberRange", {}):
                continue  # closed: its records are older than now
            self.iterators[sid] = await self.follower._call(
                functools.partial(self._iterator, sid, "LATEST")
            )

    async def _discover(self) -> None:
        """Start reading shards that appeared since (children of closed ones, from their start)."""
        shards = await self.follower._call(self._shards)
        for shard in shards:
            sid = shard["ShardId"]
            if sid in self.known:
                continue
            self.known.add(sid)
            self.iterators[sid] = await self.follower._call(
                functools.partial(self._iterator, sid, "TRIM_HORIZON")
            )

    def _get(self, shard_id: str) -> tuple[list[dict[str, Any]], str | None]:
        from botocore.exceptions import ClientError

        iterator = self.iterators.get(shard_id)
        try:
            response = self.client.get_records(ShardIterator=iterator, Limit=1000)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code not in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                raise
            # An iterator older than 15 minutes, or (DynamoDB Local) a LATEST iterator taken
            # on a shard that was empty then: go on after the last record read, or from the
            # shard's start (everything in it is newer than the position).
            seq = self.last_seq.get(shard_id)
            iterator = (
                self._iterator(shard_id, "AFTER_SEQUENCE_NUMBER", seq)
                if seq
                else self._iterator(shard_id, "TRIM_HORIZON")
            )
            response = self.client.get_records(ShardIterator=iterator, Limit=1000)
        return response.get("Records", []), response.get("NextShardIterator")

    async def follow(self) -> AsyncIterator[Batch]:
        follower = self.follower
        delay = FAST_POLL
        next_discovery = time.monotonic() + DISCOVER_EVERY
        while True:
            got = 0
            batch: Batch = []
            now_s = int(time.time())
            for shard_id in [s for s, it in self.iterators.items() if it is not None]:
                records, following = await follower._call(functools.partial(self._get, shard_id))
                got += len(records)
                for record in records:
                    body = record.get("dynamodb", {})
                    seq = body.get("SequenceNumber")
                    if seq:
                        self.last_seq[shard_id] = seq
                    if record.get("eventName") == "REMOVE":
                        continue
                    image = body.get("NewImage")
                    if image:
                        follower._accept(image, now_s, batch)
                self.iterators[shard_id] = following
                if following is None:
                    next_discovery = 0.0  # a closed shard: its children are next
            if batch:
                yield batch
            reading = any(it is not None for it in self.iterators.values())
            if time.monotonic() >= next_discovery or not reading:
                await self._discover()
                next_discovery = time.monotonic() + DISCOVER_EVERY
            delay = FAST_POLL if got else min(IDLE_POLL, delay * 1.5)
            await asyncio.sleep(delay)
