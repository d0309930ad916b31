"""A real FastMCP HTTP server for the tests, run in a subprocess by tests/fastmcp_server.py.

    python3 tests/fastmcp_app.py --port N --backend postgres --url postgresql://...
    python3 tests/fastmcp_app.py --port N --backend redis --url redis://127.0.0.1:P/0
    python3 tests/fastmcp_app.py --port N --backend dynamodb --table T --endpoint http://...

One py-key-value store serves both FastMCP stores: ``FastMCP(session_state_store=store)``
(collection ``fastmcp_state``) and ``http_app(event_store=EventStore(storage=store))``
(collections ``fastmcp_events`` and ``fastmcp_streams``), as FastMCP's documentation shows.

``--events-ttl`` is EventStore's ``ttl`` (FastMCP's default 3600 s; ``none``: no expiry).
``--state-ttl`` overrides ``Context._STATE_TTL_SECONDS`` (FastMCP's default 86400 s): FastMCP
has no public setting for it, every ``ctx.set_state`` writes with that class attribute.

It only listens on 127.0.0.1. Nothing here is imported by the tests themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

# Module level: FastMCP resolves the tools' annotations (``ctx: Context``) in this namespace.
import mcp_types
from fastmcp import Context, FastMCP
from fastmcp.server.event_store import EventStore


def _ttl(text: str) -> int | None:
    return None if text.lower() == "none" else int(text)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--backend", choices=["postgres", "redis", "dynamodb", "memory"], required=True
    )
    parser.add_argument("--url", help="PostgreSQL or Redis URL")
    parser.add_argument("--table", help="PostgreSQL table (default kv_store) or DynamoDB table")
    parser.add_argument("--endpoint", help="DynamoDB (Local) endpoint URL")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--events-ttl", type=_ttl, default=3600)
    parser.add_argument("--state-ttl", type=_ttl, default=None)
    parser.add_argument("--max-events", type=int, default=100)
    parser.add_argument("--retry-interval", type=int, default=None, help="SSE retry, ms")
    parser.add_argument("--log-level", default="warning")
    return parser.parse_args(argv)


def make_store(args: argparse.Namespace) -> Any:
    if args.backend == "postgres":
        from key_value.aio.stores.postgresql import PostgreSQLStore

        return PostgreSQLStore(url=args.url, table_name=args.table or "kv_store")
    if args.backend == "redis":
        from key_value.aio.stores.redis import RedisStore

        return RedisStore(url=args.url)
    if args.backend == "dynamodb":
        from key_value.aio.stores.dynamodb import DynamoDBStore

        return DynamoDBStore(
            table_name=args.table,
            endpoint_url=args.endpoint,
            region_name=args.region,
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
    from key_value.aio.stores.memory import MemoryStore

    return MemoryStore()


def build_app(args: argparse.Namespace) -> Any:
    if args.state_ttl is not None:
        Context._STATE_TTL_SECONDS = args.state_ttl  # type: ignore[misc]

    store = make_store(args)
    mcp = FastMCP("mcpstore-test", session_state_store=store)

    @mcp.tool
    async def progress(ctx: Context, steps: int = 3) -> str:
        """Reports progress ``steps`` times, logs each step, warns at the end."""
        for i in range(1, steps + 1):
            await ctx.report_progress(i, steps, f"step {i}/{steps}")
            await ctx.info(f"step {i} of {steps}")
        await ctx.warning(f"done after {steps} steps")
        return f"done {steps}"

    @mcp.tool
    async def remember(ctx: Context, key: str, value: Any) -> dict[str, Any]:
        """Sets session state ``key`` to ``value`` and reads it back."""
        await ctx.set_state(key, value)
        return {"session_id": ctx.session_id, "key": key, "value": await ctx.get_state(key)}

    @mcp.tool
    async def recall(ctx: Context, key: str) -> dict[str, Any]:
        """Reads session state ``key`` (null when absent or expired)."""
        return {"session_id": ctx.session_id, "key": key, "value": await ctx.get_state(key)}

    @mcp.tool
    async def announce(ctx: Context) -> str:
        """Sends tools/list_changed unrelated to this request: it goes to the session's
        standalone (GET) stream, ``<len>:<scope>:_GET_stream`` in the event store."""
        await ctx.session.send_notification(mcp_types.ToolListChangedNotification())
        return "announced"

    @mcp.tool
    async def interrupted(ctx: Context, steps: int = 4, pause: float = 0.3) -> str:
        """Reports progress, closes its own SSE stream after the first step (the client
        reconnects with Last-Event-ID and the rest is replayed from the event store)."""
        for i in range(1, steps + 1):
            await ctx.report_progress(i, steps, f"step {i}/{steps}")
            if i == 1:
                await ctx.close_sse_stream()
                await asyncio.sleep(pause)
        return f"resumed {steps}"

    event_store = EventStore(
        storage=store, ttl=args.events_ttl, max_events_per_stream=args.max_events
    )
    return mcp.http_app(path="/mcp", event_store=event_store, retry_interval=args.retry_interval)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = build_app(args)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level=args.log_level,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
