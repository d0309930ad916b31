"""Rows of turul's ``tasks`` table to :class:`~mcpstore_cli.model.tasks.Task` and back.

Rows arrive as mappings of the table's snake_case column names (DynamoDB's camelCase items are
renamed by the backend first). JSON columns come as text (SQLite, DynamoDB, PostgreSQL read as
``::text``). Anything the server could not have written is a :class:`BadTask` with one phrase
saying why: listing reports and skips such a row; ``tasks show`` says it in one sentence.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mcpstore_cli.model.tasks import STATUSES, Task
from mcpstore_cli.util.rfc3339 import BadTimestamp, parse_ns

# A ttl or poll interval beyond this (about 100 years, in ms) cannot be meant.
MAX_MILLIS = 100 * 365 * 24 * 3600 * 1000

COLUMNS = (
    "task_id",
    "session_id",
    "status",
    "status_message",
    "created_at",
    "last_updated_at",
    "ttl",
    "poll_interval",
    "original_method",
    "original_params",
    "result",
    "meta",
)
JSON_COLUMNS = ("original_params", "result", "meta")


class BadTask(ValueError):
    """A stored task that the layout cannot hold; ``str()`` is the phrase for messages."""


def _json(row: Mapping[str, Any], column: str) -> Any:
    value = row.get(column)
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", "replace")
    if not isinstance(value, str):
        return value  # already decoded by the driver
    try:
        return json.loads(value)
    except ValueError:
        raise BadTask(f"{column} is not JSON") from None


def _millis(row: Mapping[str, Any], column: str) -> int | None:
    value = row.get(column)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadTask(f"{column} is not a number of milliseconds")
    try:
        number = int(value) if not isinstance(value, float) else value
    except ValueError:
        raise BadTask(f"{column} {value!r} is not a number of milliseconds") from None
    if isinstance(number, float):
        if number != int(number):
            raise BadTask(f"{column} {value!r} is not a whole number of milliseconds")
        number = int(number)
    if number < 0:
        raise BadTask(f"{column} is negative ({number} ms)")
    if number > MAX_MILLIS:
        raise BadTask(f"{column} is absurd ({number:,} ms is over 100 years)")
    return number


def check_result(result: Any) -> None:
    """``{"Success": value}`` or ``{"Error": {"code": int, "message": str, "data"?: ...}}``."""
    if result is None:
        return
    if not isinstance(result, dict) or len(result) != 1:
        raise BadTask('result is neither {"Success": ...} nor {"Error": ...}')
    ((kind, body),) = result.items()
    if kind == "Success":
        return
    if kind != "Error":
        raise BadTask(f"result is {kind!r}, neither Success nor Error")
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("code"), int)
        or isinstance(body.get("code"), bool)
        or not isinstance(body.get("message"), str)
    ):
        raise BadTask("result's Error lacks an integer code or a message")


def task_from_row(row: Mapping[str, Any]) -> Task:
    """The task a row holds; BadTask when the server could not have written it."""
    task_id = row.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise BadTask("task_id is missing")
    status = row.get("status")
    if status not in STATUSES:
        raise BadTask(f"status {status!r} is not one of {', '.join(STATUSES)}")
    created_at, updated_at = row.get("created_at"), row.get("last_updated_at")
    try:
        created_ns = parse_ns(created_at)  # type: ignore[arg-type]
    except BadTimestamp:
        raise BadTask(f"created_at {created_at!r} is not an RFC 3339 timestamp") from None
    try:
        updated_ns = parse_ns(updated_at)  # type: ignore[arg-type]
    except BadTimestamp:
        raise BadTask(f"last_updated_at {updated_at!r} is not an RFC 3339 timestamp") from None
    method = row.get("original_method")
    if not isinstance(method, str) or not method:
        raise BadTask("original_method is missing")
    result = _json(row, "result")
    check_result(result)
    meta = _json(row, "meta")
    if meta is not None and not isinstance(meta, dict):
        raise BadTask("meta is not a JSON object")
    version = row.get("version")
    return Task(
        task_id=task_id,
        status=status,
        created_at=created_at,  # type: ignore[arg-type]
        last_updated_at=updated_at,  # type: ignore[arg-type]
        created_ns=created_ns,
        updated_ns=updated_ns,
        method=method,
        session_id=row.get("session_id"),
        status_message=row.get("status_message"),
        ttl_ms=_millis(row, "ttl"),
        poll_interval_ms=_millis(row, "poll_interval"),
        params=_json(row, "original_params"),
        result=result,
        meta=meta,
        revision=int(version) if isinstance(version, int) else None,
    )


def json_text(value: Any) -> str | None:
    """A JSON column's text as the server writes it (serde_json: compact)."""
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def task_to_row(task: Task) -> dict[str, Any]:
    """The row the server writes for a task (JSON columns as text)."""
    return {
        "task_id": task.task_id,
        "session_id": task.session_id,
        "status": task.status,
        "status_message": task.status_message,
        "created_at": task.created_at,
        "last_updated_at": task.last_updated_at,
        "ttl": None if task.ttl_ms is None else int(task.ttl_ms),
        "poll_interval": None if task.poll_interval_ms is None else int(task.poll_interval_ms),
        "original_method": task.method,
        "original_params": json_text(task.params),
        "result": json_text(task.result),
        "meta": json_text(task.meta),
    }


# -- the portable backup file (docs/backup-format.md, record kind "t") -----------------------
def backup_record(row: Mapping[str, Any]) -> list[Any] | None:
    """A row as its backup record; None when a JSON column does not hold JSON (such a row is
    counted as skipped, never written half)."""
    try:
        params = _json(row, "original_params")
        result = _json(row, "result")
        meta = _json(row, "meta")
    except BadTask:
        return None
    version = row.get("version")
    return [
        "t",
        row["task_id"],
        row.get("session_id"),
        row["status"],
        row.get("status_message"),
        row["created_at"],
        row["last_updated_at"],
        row.get("ttl"),
        row.get("poll_interval"),
        row["original_method"],
        params,
        result,
        meta,
        int(version) if isinstance(version, int) else None,
    ]


def row_from_record(rec: list[Any]) -> dict[str, Any]:
    """The row a ``t`` record restores (JSON columns as text; ``version``: the file's)."""
    (
        _kind,
        task_id,
        session_id,
        status,
        message,
        created_at,
        updated_at,
        ttl,
        poll,
        method,
        params,
        result,
        meta,
        version,
    ) = rec
    return {
        "task_id": task_id,
        "session_id": session_id,
        "status": status,
        "status_message": message,
        "created_at": created_at,
        "last_updated_at": updated_at,
        "ttl": ttl,
        "poll_interval": poll,
        "original_method": method,
        "original_params": json_text(params),
        "result": json_text(result),
        "meta": json_text(meta),
        "version": version,
    }
