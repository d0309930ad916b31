"""What the DynamoDB modules share: the layout's attribute names in a table's convention,
attribute decoding, item pages."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from mcpstore_cli.layouts.dynamodecl import Key, Table
from mcpstore_cli.layouts.turul_sessions.dynamodb import CAMEL, TTL

BATCH_WRITE_MAX = 25


class Names:
    """Attribute names of one table in its convention (camelCase or snake_case), by their
    snake_case names in the layout (:mod:`mcpstore_cli.layouts.turul_sessions.dynamodb`)."""

    def __init__(self, snake: bool) -> None:
        self.snake = snake
        for logical, camel in CAMEL.items():
            setattr(self, logical, logical if snake else camel)

    session_id: str
    client_capabilities: str
    server_capabilities: str
    state: str
    created_at: str
    last_activity: str
    is_initialized: str
    metadata: str
    ttl: str
    event_id: str
    timestamp: str
    event_type: str
    data: str
    retry: str

    @property
    def convention(self) -> str:
        return "snake_case" if self.snake else "camelCase"


def _key_schema(keys: tuple[Key, ...], names: Names) -> list[dict[str, str]]:
    return [{"AttributeName": getattr(names, k.attribute), "KeyType": k.key_type} for k in keys]


def _attribute_definitions(
    table: Table, names: Names, *, indexes_only: bool = False
) -> list[dict[str, str]]:
    """The definitions of the attributes the table's keys and indexes use (``indexes_only``:
    those of its indexes, for adding an index to an existing table)."""
    keys = [] if indexes_only else list(table.keys)
    keys += [k for index in table.indexes for k in index.keys]
    used = dict.fromkeys(k.attribute for k in keys)
    return [
        {"AttributeName": getattr(names, a), "AttributeType": table.attributes[a]} for a in used
    ]


@dataclass
class TableInfo:
    name: str
    description: dict[str, Any] | None  # DescribeTable's Table, None when missing
    names: Names = field(default_factory=lambda: Names(False))

    @property
    def exists(self) -> bool:
        return self.description is not None

    @property
    def size_bytes(self) -> int:
        return int((self.description or {}).get("TableSizeBytes") or 0)

    @property
    def item_count(self) -> int:
        return int((self.description or {}).get("ItemCount") or 0)


# -- raw attribute values (DynamoDB JSON wire form) -------------------------------------
def _s(av: Any) -> str | None:
    return av.get("S") if isinstance(av, dict) else None


def _n(av: Any) -> int | None:
    if not isinstance(av, dict):
        return None
    text = av.get("N")
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return int(Decimal(text))
        except (InvalidOperation, ValueError, OverflowError):
            return None


def _bool(av: Any) -> bool:
    if not isinstance(av, dict):
        return False
    if "BOOL" in av:
        return bool(av["BOOL"])
    if "N" in av:
        return _n(av) not in (None, 0)
    return False


def _terminated(state_text: str | None) -> bool:
    """state.terminated is JSON true (False for unreadable state), parsing only if it can be."""
    if not state_text or "terminated" not in state_text:
        return False
    try:
        value = json.loads(state_text)
    except ValueError:
        return False
    return isinstance(value, dict) and value.get("terminated") is True


def _expired(ttl: int | None, now_s: int) -> bool:
    return ttl is not None and ttl <= now_s


def _ttl_extras(av: Any) -> dict[str, Any] | None:
    """An item's ``ttl`` as the extras of its record (None when it has none)."""
    ttl = _n(av)
    return None if ttl is None else {TTL: ttl}


def _kept_ttl(extras: dict[str, Any] | None, fresh: int) -> Any:
    """The ``ttl`` a record brings (a restore with --keep-ttl), else ``fresh``."""
    ttl = None if extras is None else extras.get(TTL)
    return fresh if ttl is None else ttl


def _take_raw_items(
    response_dict: dict[str, Any], customized_response_dict: dict, **_: Any
) -> None:
    """before-parse hook: keep Scan/Query items as raw JSON, out of botocore's parser."""
    if int(response_dict.get("status_code") or 500) >= 300:
        return
    body = response_dict.get("body")
    if not body:
        return
    try:
        doc = json.loads(body)
    except ValueError:
        return
    items = doc.pop("Items", None) if isinstance(doc, dict) else None
    if items is None:
        return
    customized_response_dict["RawItems"] = items
    response_dict["body"] = json.dumps(doc).encode()


def _items(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = response.get("RawItems")
    return raw if raw is not None else list(response.get("Items") or [])
