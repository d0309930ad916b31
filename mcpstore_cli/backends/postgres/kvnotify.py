"""``setup --notify`` for FastMCP's table: a trigger that tells listeners the key of each
event FastMCP stores (``pg_notify``), so that ``tail-events`` is pushed instead of polling.
It only notifies; it never changes a row."""

from __future__ import annotations

from typing import Any

from mcpstore_cli.layouts.fastmcp import EVENTS
from mcpstore_cli.model.records import SetupStep


def function_name(table: str) -> str:
    return f"{table}_mcpstore_notify"[:63]


def channel(table: str) -> str:
    return f"mcpstore_kv_{table}"[:63]


def statements(table: str) -> list[str]:
    fn = function_name(table)
    return [
        f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"PERFORM pg_notify('{channel(table)}', NEW.key); RETURN NULL; END $$",
        f"DROP TRIGGER IF EXISTS {fn} ON {table}",
        f"CREATE TRIGGER {fn} AFTER INSERT OR UPDATE ON {table} FOR EACH ROW "
        f"WHEN (NEW.collection = '{EVENTS}') EXECUTE FUNCTION {fn}()",
    ]


async def install(conn: Any, table: str) -> list[SetupStep]:
    async with conn.transaction():
        for statement in statements(table):
            await conn.execute(statement)
    return [SetupStep(function_name(table), "installed", f"trigger notifying {channel(table)}")]


async def installed(conn: Any, table: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND "
            "tgname = $2 AND tgenabled <> 'D')",
            table,
            function_name(table),
        )
    )
