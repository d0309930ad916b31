"""How the layouts declare a DynamoDB table: keys, indexes, attributes with their types, the
time-to-live attribute; plain values, no boto3 (``backends/dynamodb`` turns them into
requests and checks). Shared by every layout's ``dynamodb.py``; no layout imports another.
"""

from __future__ import annotations

from dataclasses import dataclass

BILLING_MODE = "PAY_PER_REQUEST"
TTL = "ttl"  # turul's session tables' time-to-live attribute (epoch seconds)


@dataclass(frozen=True, slots=True)
class Key:
    attribute: str
    key_type: str  # HASH or RANGE


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    keys: tuple[Key, ...]
    projection: str


@dataclass(frozen=True, slots=True)
class Table:
    keys: tuple[Key, ...]
    attributes: dict[str, str]  # snake_case name -> DynamoDB type (S, N, BOOL)
    indexes: tuple[Index, ...] = ()
    ttl: str = TTL


def camel(name: str) -> str:
    """The camelCase form of a snake_case attribute name (``last_activity``: ``lastActivity``)."""
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def is_snake(key_attributes: list[str]) -> bool:
    """A table of an older server: one of its key attributes has an underscore."""
    return any("_" in name for name in key_attributes)
