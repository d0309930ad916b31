"""turul's task store of the 2025-11-25 lane (``turul-mcp-task-storage`` 0.4): one table
``tasks`` on SQLite, PostgreSQL and DynamoDB (more-layouts.md §1).

A task's times are RFC 3339 text, its ``ttl`` milliseconds from creation; the server lists by
``(created_at, task_id)``, expires a task when ``created_at + ttl`` has passed and turns tasks
stuck in a live status into failed ones on restart. PostgreSQL adds a row ``version`` (an
optimistic lock); DynamoDB's status updates are conditional on the old status.

This package imports nothing above the layouts; SQLAlchemy loads only with :mod:`.schema`.
"""

NAME = "tasks"

# Without SQLAlchemy (the schema is in .schema; tests hold these to it): the tables, the
# main one first, and the columns of the main table that identify the layout.
TABLE_NAMES = ("tasks",)
REQUIRED = frozenset({"task_id", "status", "created_at", "last_updated_at", "original_method"})
