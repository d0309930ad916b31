"""The portable backup file for the SQL layouts without sessions (tasks, ext-tasks, server
state): what a row becomes in the file and a record in a row, per record kind. The backends
read in one snapshot and load in one transaction; this module holds no connection."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from mcpstore_cli.errors import UsageError
from mcpstore_cli.layouts.turul_ext_tasks import records as ext_records
from mcpstore_cli.layouts.turul_tasks import records as task_records

Row = Mapping[str, Any]
ToRecord = Callable[[Row], list[Any] | None]


def refuse_session_filters(spec: Any, layout: str) -> None:
    if (
        getattr(spec, "session_ids", None) is not None
        or getattr(spec, "since_ms", None) is not None
    ):
        raise UsageError(
            f"--session and --since choose sessions; the {layout} layout holds none (a backup "
            "of it takes every record)."
        )


def _json_value(value: Any) -> Any:
    if value is None or not isinstance(value, (str, bytes)):
        return value
    return json.loads(value)


def task_record(row: Row) -> list[Any] | None:
    return task_records.backup_record(row)


def ext_record(row: Row) -> list[Any] | None:
    try:
        state = ext_records.parse_document(row["state"])
    except ext_records.BadDocument:
        return None
    return ext_records.backup_record(
        str(row["task_id"]), str(row["status"]), str(row["last_updated_at"]), state
    )


def entity_record(row: Row) -> list[Any] | None:
    try:
        metadata = _json_value(row["metadata"])
    except ValueError:
        return None
    return [
        "v",
        row["entity_type"],
        row["entity_id"],
        bool(row["active"]),
        metadata,
        str(row["updated_at"]),
    ]


def fingerprint_record(row: Row) -> list[Any] | None:
    return ["f", row["entity_type"], row["fingerprint"], str(row["updated_at"])]


def line(record: list[Any]) -> bytes:
    import orjson

    return orjson.dumps(record) + b"\n"


def dump(value: Any) -> str | None:
    """A JSON value as the column's text (None stays NULL)."""
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def consistency(where: str) -> dict[str, Any]:
    return {"consistency": where, "skipped": 0, "notes": []}
