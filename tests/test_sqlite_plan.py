"""List pages on SQLite are keyset pages served by idx_sessions_last_activity.

A correctness check of the query plan (not a timing test): the first page and every page
reached with --cursor walk the last_activity index from the cursor's position, with no full
scan of sessions and no OFFSET, whatever the filters.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.dialects import sqlite as sqlite_dialect

from mcpstore_cli.backends.sqlite import prepared
from mcpstore_cli.model.records import Cursor, SessionFilter
from mcpstore_cli.store import open_store
from mcpstore_cli.store.base import StoreOptions
from mcpstore_cli.store.urls import parse_store_url
from tests.helpers import run_cli

NOW = 1_800_000_000_000
HOUR = 3_600_000


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plan") / "plan.db"
    result = run_cli(
        [
            "demo",
            "--url",
            f"sqlite:///{path}",
            "--sessions",
            "3000",
            "--events-per-session",
            "3",
            "--seed",
            "5",
            "--quiet",
        ]
    )
    assert result.exit_code == 0, result
    return path


def _sql(stmt: Any) -> str:
    compiled = stmt.compile(
        dialect=sqlite_dialect.dialect(), compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


def _plan(path: Path, sql: str, args: list[Any] | None = None) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args or [])]
    finally:
        conn.close()


FILTERS = {
    "no filter": SessionFilter(now_ms=NOW),
    "active": SessionFilter(now_ms=NOW, active=True),
    "idle over 2h": SessionFilter(now_ms=NOW, idle_over_ms=2 * HOUR),
    "terminated": SessionFilter(now_ms=NOW, terminated=True),
    "created after": SessionFilter(now_ms=NOW, created_after=NOW - 12 * HOUR),
}
CURSORS = {
    "first page": None,
    "--cursor page": Cursor(NOW - 5 * HOUR, "0" * 8 + "7" + "f" * 23),
}


@pytest.mark.parametrize("cursor_name", list(CURSORS))
@pytest.mark.parametrize("filter_name", list(FILTERS))
def test_list_page_uses_the_last_activity_index(
    store_path: Path, filter_name: str, cursor_name: str
) -> None:
    store = open_store(parse_store_url(f"sqlite:///{store_path}"), StoreOptions(read_only=True))
    # The CLI asks for one row more than a page, to know whether there is a next page.
    stmt = store.list_statement(FILTERS[filter_name], limit=51, cursor=CURSORS[cursor_name])
    sql = _sql(stmt)
    plan = _plan(store_path, sql)
    on_sessions = [step for step in plan if re.search(r"\bsessions\b", step)]
    assert on_sessions, plan
    assert all("USING INDEX idx_sessions_last_activity" in step for step in on_sessions), plan
    if CURSORS[cursor_name] is not None:
        # A range seek from the cursor's position, not a walk from the newest session.
        assert any(
            step.startswith("SEARCH sessions USING INDEX idx_sessions_last_activity")
            for step in on_sessions
        ), plan
    offset = re.search(r"\bOFFSET\s+(\d+)", sql)
    assert offset is None or offset.group(1) == "0", sql
    assert re.search(r"\bLIMIT\s+51\b", sql), sql
    # What list runs: the same statement prepared as text, its values bound.
    text, args = prepared.page_query(FILTERS[filter_name], 51, CURSORS[cursor_name])
    assert _plan(store_path, text, args) == plan


def test_the_check_would_notice_a_full_scan(store_path: Path) -> None:
    """An ORDER BY the index cannot serve does show up as a plain scan of sessions."""
    plan = _plan(store_path, "SELECT session_id FROM sessions ORDER BY created_at DESC LIMIT 51")
    assert "SCAN sessions" in plan
    assert not any("idx_sessions_last_activity" in step for step in plan)
