"""turul's task store of the 2026-07-28 lane (``turul-mcp-ext-tasks``): one JSON document per
task in ``ext_tasks`` on SQLite and PostgreSQL, and in a DynamoDB table (more-layouts.md §2).

The status and last update are copied out of the document into columns for sweeps. The
server does no cleanup unless it runs with a retention policy, so these tables grow without
bound; ``mcpstore tasks expire`` applies the same retention rules (:mod:`.records`), opt-in
by flag, as a cron job.

This package imports nothing above the layouts; SQLAlchemy loads only with :mod:`.schema`.
"""

NAME = "ext-tasks"

# Without SQLAlchemy (the schema is in .schema; tests hold these to it): the tables, the
# main one first, and the columns of the main table that identify the layout.
TABLE_NAMES = ("ext_tasks",)
REQUIRED = frozenset({"task_id", "status", "last_updated_at", "state"})
