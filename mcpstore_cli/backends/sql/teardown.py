"""What SQLite and PostgreSQL clear/teardown share."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


LAYOUT_TABLES = ("sessions", "events")
