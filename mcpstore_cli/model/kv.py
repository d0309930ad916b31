"""Entries of key-value stores (FastMCP's layout): backend-neutral, times in Unix ms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Entry:
    """One (collection, key) entry as the store holds it."""

    collection: str
    key: str
    value: Any = None  # the stored JSON object, decoded; None when it was not read
    created_at: int | None = None  # Unix ms
    expires_at: int | None = None  # Unix ms; None: never expires
    ttl: float | None = None  # PostgreSQL's ttl column: seconds left when written
    # What a conditional write compares with the store (the backend's own: PostgreSQL's
    # expires_at, the Redis string, DynamoDB's value attribute); None: not read.
    token: Any = None

    def expired(self, now_ms: int) -> bool:
        return self.expires_at is not None and self.expires_at <= now_ms

    @property
    def written_at(self) -> int | None:
        """When the entry was last put: PostgreSQL keeps the first ``created_at`` on an
        upsert, but ``expires_at - ttl`` is the last write; the documents carry it."""
        if self.ttl is not None and self.expires_at is not None:
            return self.expires_at - round(self.ttl * 1000)
        return self.created_at
