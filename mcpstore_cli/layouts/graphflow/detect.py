"""How to recognise GraphFlow's layout from a catalog, without SQLAlchemy loaded."""

from __future__ import annotations

# Columns a reader needs, per table; a ``sessions`` table without them is another layout's.
# turul's ``sessions`` has none of ``id``, ``graph_id``, ``context``, ``updated_at``.
REQUIRED: dict[str, frozenset[str]] = {
    "sessions": frozenset({"id", "graph_id", "current_task_id", "context", "updated_at"}),
}
