"""A Redis (or Valkey) database holding FastMCP's entries (more-layouts.md §4, "Redis").

Redis expires the keys itself (``SET … EX``), so ``expire`` removes only orphans: stream lists
naming events that are gone, and events no stream lists. Every change is a Lua script that
compares the key's value with what was read, so a key the server wrote again meanwhile is
left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from mcpstore_cli.backends.kv.fastmcp import FastmcpSessions
from mcpstore_cli.errors import McpStoreError, StoreConnectionError, UsageError
from mcpstore_cli.layouts.fastmcp import COLLECTIONS
from mcpstore_cli.layouts.fastmcp.records import (
    BadEntry,
    from_document,
    redis_key,
    split_redis_key,
)
from mcpstore_cli.model.kv import Entry
from mcpstore_cli.model.records import Finding, SetupStep
from mcpstore_cli.store.base import ProgressCallback, Store, StoreOptions
from mcpstore_cli.store.urls import StoreURL

if TYPE_CHECKING:
    from mcpstore_cli.model.teardown import ClearResult, Inventory

SCAN_COUNT = 2000
MEMORY_SAMPLE = 200
# Delete each KEYS[i] whose value is still ARGV[i]; the number deleted.
_DELETE_IF_SAME = """
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then
    redis.call('UNLINK', key)
    n = n + 1
  end
end
return n
"""
# Replace KEYS[1]'s value ARGV[1] by ARGV[2], keeping its time to live.
_WRITE_IF_SAME = """
local held = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if held then return 0 end
elseif held ~= ARGV[1] then
  return 0
end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
end
return 1
"""

_REPLACE_IF_SAME = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
"""


def glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class RedisStore(FastmcpSessions, Store):
    """FastMCP's entries in one Redis logical database."""

    backend: ClassVar[str] = "redis"
    title: ClassVar[str] = "Redis"
    row_word: ClassVar[str] = "key"
    expires_entries: ClassVar[bool] = False  # Redis expires its keys itself
    counts_others_in_scan: ClassVar[bool] = True

    def __init__(self, url: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(url, options)
        self._client: Any = None

    # -- connection -----------------------------------------------------------------------
    def _connect_url(self) -> str:
        raw = self.url.raw
        scheme, sep, rest = raw.partition("://")
        scheme = {"valkey": "redis", "valkeys": "rediss"}.get(scheme.lower(), scheme.lower())
        return f"{scheme}{sep}{rest}"

    def _wrap(self, exc: BaseException) -> McpStoreError:
        import redis.exceptions as rex

        where = self.url.masked()
        if isinstance(exc, rex.AuthenticationError | rex.AuthorizationError):
            return StoreConnectionError(f"{where} refused the user name or password given.")
        if isinstance(exc, rex.TimeoutError):
            return StoreConnectionError(
                f"{where} did not answer within {self.options.connect_timeout:g} s."
            )
        if isinstance(exc, rex.ConnectionError):
            text = str(exc).replace(self.url.raw, where)
            if self.url.password:
                text = text.replace(self.url.password, "***")
            return StoreConnectionError(f"Cannot connect to {where}: {text.rstrip('.')}.")
        if isinstance(exc, rex.ResponseError):
            return StoreConnectionError(f"{where} answered with an error: {exc}.")
        return StoreConnectionError(f"{where}: {type(exc).__name__}: {exc}.")

    async def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.from_url(
                self._connect_url(),
                socket_connect_timeout=self.options.connect_timeout,
                socket_timeout=max(self.options.connect_timeout, 30.0),
                decode_responses=False,
            )
        return self._client

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        import redis.exceptions as rex

        client = await self._redis()
        try:
            return await getattr(client, name)(*args, **kwargs)
        except rex.RedisError as exc:
            raise self._wrap(exc) from None
        except OSError as exc:
            raise self._wrap(exc) from None

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):
                await client.aclose()

    def label(self) -> str:
        return self.url.display_name.replace(":", "-").replace("/", "-")

    def tables(self) -> list[str]:
        return [f"{c}::* keys" for c in COLLECTIONS]

    # -- provisioning ---------------------------------------------------------------------
    def setup_plan(self, **options: Any) -> list[str]:
        return ["-- Redis: nothing to create; FastMCP's entries are plain keys that Redis expires"]

    async def setup(self, **options: Any) -> list[SetupStep]:
        if options.get("notify"):
            raise UsageError(
                "setup --notify installs a PostgreSQL trigger; on Redis, tail-events uses "
                "keyspace notifications (CONFIG SET notify-keyspace-events KEA on the server)."
            )
        await self.ensure_readable()
        return [
            SetupStep(
                self.url.display_name,
                "nothing to create",
                "FastMCP's entries are plain keys that Redis expires itself",
            )
        ]

    async def check(self) -> list[Finding]:
        await self.ensure_readable()
        findings: list[Finding] = []
        flags = await self._notify_flags()
        if flags is not None and not ({"K", "A"} <= set(flags) or {"K", "$", "g"} <= set(flags)):
            findings.append(
                Finding(
                    "notify-keyspace-events",
                    f"is {flags or 'empty'!r}: tail-events falls back to SCAN polling",
                    severity="note",
                )
            )
        return findings

    async def _notify_flags(self) -> str | None:
        try:
            got = await self._call("config_get", "notify-keyspace-events")
        except StoreConnectionError:
            return None  # CONFIG may be disabled on managed services
        value = got.get(b"notify-keyspace-events", got.get("notify-keyspace-events"))
        return value.decode() if isinstance(value, bytes) else value

    async def ensure_readable(self) -> None:
        await self._call("ping")

    # -- primitives -----------------------------------------------------------------------
    async def _scan_keys(self, pattern: str) -> AsyncIterator[list[bytes]]:
        cursor = 0
        while True:
            cursor, keys = await self._call("scan", cursor, match=pattern, count=SCAN_COUNT)
            if keys:
                yield keys
            if int(cursor) == 0:
                return

    @staticmethod
    def _pattern(collections: Sequence[str] | None) -> str:
        """One SCAN pattern for these collections: every SCAN walks the whole keyspace, so
        several collections share one pass (their common prefix) and are told apart here."""
        if collections is None:
            return "*::*"
        if len(collections) == 1:
            return glob_escape(collections[0]) + "::*"
        first, last = min(collections), max(collections)
        size = 0
        while size < min(len(first), len(last)) and first[size] == last[size]:
            size += 1
        prefix = first[:size]
        return glob_escape(prefix) + "*"

    async def _read(self, names: list[bytes]) -> list[Entry]:
        return self._decode(names, await self._mget(names))

    async def _mget(self, names: list[bytes]) -> list[Any]:
        """MGET of many keys, the command packed here in one join (redis-py's own packing
        costs more than decoding the replies on big pages)."""
        import redis.exceptions as rex

        packed = b"".join(
            [
                b"*%d\r\n$4\r\nMGET\r\n" % (len(names) + 1),
                *(b"$%d\r\n%s\r\n" % (len(n), n) for n in names),
            ]
        )
        client = await self._redis()
        pool = client.connection_pool
        try:
            conn = await pool.get_connection()
        except (rex.RedisError, OSError) as exc:
            raise self._wrap(exc) from None
        try:
            await conn.send_packed_command(packed, check_health=True)
            reply = await conn.read_response()
        except (rex.RedisError, OSError) as exc:
            await conn.disconnect()
            raise self._wrap(exc) from None
        except BaseException:
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)
        if isinstance(reply, rex.ResponseError):
            raise self._wrap(reply)
        return list(reply)

    @staticmethod
    def _decode(names: list[bytes], values: list[Any]) -> list[Entry]:
        out = []
        for name, raw in zip(names, values, strict=True):
            if raw is None:
                continue  # expired or deleted since the scan
            collection, sep, key = name.decode("utf-8", "replace").partition("::")
            if not sep:
                continue
            try:
                out.append(from_document(raw, collection=collection, key=key))
            except BadEntry:
                out.append(Entry(collection, key, None, token=raw))
        return out

    async def kv_scan(
        self, collections: Sequence[str] | None, *, others: dict[str, int] | None = None
    ) -> AsyncIterator[list[Entry]]:
        """SCAN and MGET one page ahead: the next page is read while this one is decoded."""
        wanted = None if collections is None else {c.encode() for c in collections}
        pattern = "*::*" if others is not None else self._pattern(collections)

        def pick(names: list[bytes]) -> list[bytes]:
            if wanted is None:
                return names
            picked = []
            for name in names:
                collection = name.partition(b"::")[0]
                if collection in wanted:
                    picked.append(name)
                elif others is not None and b"::" in name:
                    key = collection.decode("utf-8", "replace")
                    others[key] = others.get(key, 0) + 1
            return picked

        async def fetch(cursor: int) -> tuple[int, list[bytes], list[Any]]:
            cursor, names = await self._call("scan", cursor, match=pattern, count=SCAN_COUNT)
            names = pick(names)
            values = await self._mget(names) if names else []
            return int(cursor), names, values

        ahead: asyncio.Future[tuple[int, list[bytes], list[Any]]] | None
        ahead = asyncio.ensure_future(fetch(0))
        try:
            while ahead is not None:
                cursor, names, values = await ahead
                ahead = asyncio.ensure_future(fetch(cursor)) if cursor else None
                if names:
                    yield self._decode(names, values)
        finally:
            if ahead is not None and not ahead.done():
                ahead.cancel()
                with contextlib.suppress(BaseException):
                    await ahead

    async def kv_get(self, collection: str, keys: Sequence[str]) -> dict[str, Entry]:
        found: dict[str, Entry] = {}
        keys = list(keys)
        for start in range(0, len(keys), SCAN_COUNT):
            names = [redis_key(collection, k).encode() for k in keys[start : start + SCAN_COUNT]]
            for entry in await self._read(names):
                found[entry.key] = entry
        return found

    async def kv_delete(self, entries: Sequence[Entry]) -> int:
        if not entries:
            return 0
        names = [redis_key(e.collection, e.key) for e in entries]
        tokens = [e.token for e in entries]
        return int(await self._call("eval", _DELETE_IF_SAME, len(names), *names, *tokens))

    async def kv_replace(self, entry: Entry, value: Any) -> bool:
        doc = json.loads(entry.token)
        doc["value"] = value
        new = json.dumps(doc, sort_keys=True)
        name = redis_key(entry.collection, entry.key)
        return bool(await self._call("eval", _REPLACE_IF_SAME, 1, name, entry.token, new))

    async def kv_write(self, entry: Entry, *, expected: Entry | None) -> bool:
        """One script: compare the string read (or its absence), then ``SET`` with the
        absolute expiry (``PXAT``)."""
        from mcpstore_cli.layouts.fastmcp.records import document

        name = redis_key(entry.collection, entry.key)
        token = "" if expected is None else expected.token
        expiry = "" if entry.expires_at is None else str(entry.expires_at)
        return bool(
            await self._call("eval", _WRITE_IF_SAME, 1, name, token, document(entry), expiry)
        )

    backup_consistency: ClassVar[str] = (
        "SCAN of the database (not a snapshot: keys written during the backup may be missing)"
    )

    async def kv_put(self, entries: Sequence[Entry], *, only_missing: bool) -> int:
        """``SET`` each document with its absolute expiry (``PXAT``), as py-key-value's
        relative ``EX`` would have left it; ``NX`` for a merge."""
        from mcpstore_cli.layouts.fastmcp.records import document

        if not entries:
            return 0
        client = await self._redis()
        written = 0
        for start in range(0, len(entries), SCAN_COUNT):
            pipe = client.pipeline(transaction=False)
            for e in entries[start : start + SCAN_COUNT]:
                pipe.set(
                    redis_key(e.collection, e.key),
                    document(e),
                    pxat=e.expires_at,
                    nx=only_missing,
                )
            try:
                outcomes = await pipe.execute()
            except Exception as exc:
                raise self._wrap(exc) from None
            written += sum(1 for o in outcomes if o)
        return written

    async def kv_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        async for names in self._scan_keys("*::*"):
            for name in names:
                parts = split_redis_key(name.decode("utf-8", "replace"))
                if parts is not None:
                    counts[parts[0]] = counts.get(parts[0], 0) + 1
        return counts

    async def kv_storage(self, counts: dict[str, int] | None = None) -> dict[str, Any]:
        counts = counts if counts is not None else await self.kv_counts()
        fastmcp_keys = sum(n for c, n in counts.items() if c in COLLECTIONS)
        sampled: list[int] = []
        async for names in self._scan_keys("fastmcp_*::*"):
            for name in names[: MEMORY_SAMPLE - len(sampled)]:
                usage = await self._call("memory_usage", name)
                if usage is not None:
                    sampled.append(int(usage))
            if len(sampled) >= MEMORY_SAMPLE:
                break
        info = await self._call("info", "memory")
        mean = sum(sampled) / len(sampled) if sampled else 0
        return {
            "bytes": round(mean * fastmcp_keys),
            "measured": f"MEMORY USAGE of {len(sampled)} sampled keys x {fastmcp_keys} keys",
            "database_keys": int(await self._call("dbsize")),
            "used_memory": int(info.get("used_memory", 0)) if isinstance(info, dict) else None,
        }

    # -- tail-events ----------------------------------------------------------------------
    follow_hint = "keyspace notifications are off: CONFIG SET notify-keyspace-events KA"

    def _db(self) -> int:
        from urllib.parse import urlsplit

        path = (urlsplit(self.url.raw).path or "/").strip("/")
        params = dict(self.url.params)
        return int(path or params.get("db") or 0)

    async def kv_follow(self, seen: set[str], warn: Any) -> AsyncIterator[list[Entry]]:
        """Keyspace notifications when the server sends them (``K`` with ``$`` or ``A`` in
        notify-keyspace-events): each SET of an event key is read at once. Otherwise the
        SCAN-polling fallback, whose cost is said."""
        from mcpstore_cli.layouts.fastmcp import EVENTS

        flags = set(await self._notify_flags() or "")
        if not ("K" in flags and ({"$", "A"} & flags)):
            async for entries in super().kv_follow(seen, warn):
                yield entries
            return
        client = await self._redis()
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        prefix = f"__keyspace@{self._db()}__:"
        await pubsub.psubscribe(prefix + glob_escape(EVENTS) + "::*")
        try:
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                names = [message]
                while (more := await pubsub.get_message(timeout=0)) is not None:
                    names.append(more)
                keys = []
                for m in names:
                    if m.get("data") not in (b"set", "set"):
                        continue
                    channel = m["channel"]
                    channel = channel.decode() if isinstance(channel, bytes) else channel
                    keys.append(channel[len(prefix) :].encode())
                entries = [e for e in await self._read(keys) if e.key not in seen] if keys else []
                seen.update(e.key for e in entries)
                if entries:
                    yield entries
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    # -- clear and teardown ---------------------------------------------------------------
    async def inventory(self) -> Inventory:
        from mcpstore_cli.model.teardown import Inventory, TableFacts

        started = time.perf_counter()
        await self.ensure_readable()
        counts = await self.kv_counts()
        tables = [TableFacts(name=f"{c}::*", rows=counts.get(c, 0)) for c in COLLECTIONS]
        others = {c: n for c, n in counts.items() if c not in COLLECTIONS}
        inv = Inventory(
            backend=self.backend,
            store=self.url.masked(),
            name=self.url.display_name,
            exists=True,
            tables=tables,
            unit="key",
            facts={"other_collections": others} if others else {},
        )
        inv.seconds = time.perf_counter() - started
        return inv

    async def clear(
        self,
        *,
        recreate: bool = False,
        progress: ProgressCallback | None = None,
        collections: Sequence[str] | None = COLLECTIONS,
    ) -> ClearResult:

        started = time.perf_counter()
        counts: dict[str, int] = {}
        wanted = None if collections is None else {c.encode() for c in collections}
        async for names in self._scan_keys(self._pattern(collections)):
            if wanted is not None:
                names = [n for n in names if n.partition(b"::")[0] in wanted]
            if not names:
                continue
            gone = int(await self._call("unlink", *names))
            for name in names:
                parts = split_redis_key(name.decode("utf-8", "replace"))
                if parts is not None:
                    counts[parts[0]] = counts.get(parts[0], 0) + 1
            if progress is not None:
                progress(gone)
        return self.cleared(counts, started)

    async def drop(self) -> list[str]:
        result = await self.clear()
        n = sum((result.records or {}).values())
        return [f"{n} FastMCP keys (Redis has no tables to delete)"]
