"""ext-tasks documents: read into :class:`~mcpstore_cli.model.tasks.Task`, and the server's
own transitions on them (its retention sweep and its cancel), as pure functions.

A document (``state``) as the server writes it::

    {"fields": {"taskId": "…", "statusMessage": "…", "createdAt": "2026-08-15T00:00:00.000Z",
                "lastUpdatedAt": "…", "ttlMs": null, "pollIntervalMs": 500.0},
     "status": "working", "owner": null, "input_requests": null, "collected_responses": {},
     "request_state": null, "result": null, "error": null}

Retention, as the server's policy decides it (boundaries inclusive: an age equal to the limit
counts): a terminal task whose last update is at least ``delete_terminal_after`` old is
deleted (and a terminal task is never failed again); a live task at least its ``ttlMs`` old
fails with "task exceeded its ttlMs" (``--honour-ttl``; never when ``ttlMs`` is null); else a
live task without an update for ``orphan_after`` fails as abandoned. A failed task gets the
error object, loses its outstanding input requests, and its last update becomes now (ms, Z).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mcpstore_cli.model.tasks import LIVE, STATUSES, TERMINAL, Task
from mcpstore_cli.util.rfc3339 import BadTimestamp, format_millis_z, parse_ns

ERROR_CODE = -32603
ORPHANED = "task was abandoned: no progress within the orphan threshold"
TTL_EXCEEDED = "task exceeded its ttlMs"
MAX_MILLIS = 100 * 365 * 24 * 3600 * 1000
_MS = 1_000_000


class BadDocument(ValueError):
    """A stored ext-task the layout cannot hold; ``str()`` is the phrase for messages."""


def _number(fields: dict[str, Any], name: str, *, required: bool) -> float | None:
    if name not in fields:
        if required:
            raise BadDocument(f"fields.{name} is missing")
        return None
    value = fields[name]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadDocument(f"fields.{name} is not a number")
    if value < 0:
        raise BadDocument(f"fields.{name} is negative ({value})")
    if value > MAX_MILLIS:
        raise BadDocument(f"fields.{name} is absurd ({value:,.0f} ms is over 100 years)")
    return float(value)


def parse_document(text: str | bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        doc = json.loads(text)
    except ValueError:
        raise BadDocument("state is not JSON") from None
    if not isinstance(doc, dict):
        raise BadDocument("state is not a JSON object")
    return doc


def task_from_document(
    doc: dict[str, Any], *, task_id: str | None = None, status: str | None = None
) -> Task:
    """The task a document holds; ``task_id``/``status``: the row's columns, which must agree
    with it. BadDocument when the server could not have written it."""
    fields = doc.get("fields")
    if not isinstance(fields, dict):
        raise BadDocument("state has no fields object")
    doc_id = fields.get("taskId")
    if not isinstance(doc_id, str) or not doc_id:
        raise BadDocument("fields.taskId is missing")
    if task_id is not None and doc_id != task_id:
        raise BadDocument(f"fields.taskId {doc_id!r} differs from the row's task_id")
    doc_status = doc.get("status")
    if doc_status not in STATUSES:
        raise BadDocument(f"status {doc_status!r} is not one of {', '.join(STATUSES)}")
    if status is not None and status != doc_status:
        raise BadDocument(f"the status column says {status!r}, the document {doc_status!r}")
    times = {}
    for name in ("createdAt", "lastUpdatedAt"):
        value = fields.get(name)
        try:
            times[name] = parse_ns(value)  # type: ignore[arg-type]
        except BadTimestamp:
            raise BadDocument(f"fields.{name} {value!r} is not an RFC 3339 timestamp") from None
    if "ttlMs" not in fields:
        raise BadDocument("fields.ttlMs is missing")
    owner = doc.get("owner")
    if owner is not None and not isinstance(owner, str):
        raise BadDocument("owner is neither null nor a string")
    message = fields.get("statusMessage")
    return Task(
        task_id=doc_id,
        status=doc_status,
        created_at=fields["createdAt"],
        last_updated_at=fields["lastUpdatedAt"],
        created_ns=times["createdAt"],
        updated_ns=times["lastUpdatedAt"],
        status_message=message if isinstance(message, str) else None,
        ttl_ms=_number(fields, "ttlMs", required=True),
        poll_interval_ms=_number(fields, "pollIntervalMs", required=False),
        result=doc.get("result"),
        error=doc.get("error"),
        owner=owner,
        document=doc,
    )


def dump(doc: dict[str, Any]) -> str:
    """The document's text as the server writes it (serde_json: compact, in field order)."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Retention:
    orphan_after_ms: int | None = None
    delete_terminal_after_ms: int | None = None
    honour_ttl: bool = False

    @property
    def any(self) -> bool:
        return (
            self.orphan_after_ms is not None
            or self.delete_terminal_after_ms is not None
            or self.honour_ttl
        )


def sweep_action(task: Task, now_ns: int, policy: Retention) -> str | None:
    """``"delete"``, the reason to fail it with, or None (keep)."""
    if task.status in TERMINAL:
        limit = policy.delete_terminal_after_ms
        if limit is not None and (now_ns - task.updated_ns) // _MS >= limit:
            return "delete"
        return None
    if (
        policy.honour_ttl
        and task.ttl_ms is not None
        and (now_ns - task.created_ns) // _MS >= task.ttl_ms
    ):
        return TTL_EXCEEDED
    limit = policy.orphan_after_ms
    if limit is not None and (now_ns - task.updated_ns) // _MS >= limit:
        return ORPHANED
    return None


def _touched(doc: dict[str, Any], now_ns: int) -> dict[str, Any]:
    new = json.loads(json.dumps(doc))
    new["fields"]["lastUpdatedAt"] = format_millis_z(now_ns)
    new["input_requests"] = None
    return new


def failed_document(doc: dict[str, Any], reason: str, now_ns: int) -> dict[str, Any]:
    """The server's sweep failing a live task."""
    new = _touched(doc, now_ns)
    new["status"] = "failed"
    new["error"] = {"code": ERROR_CODE, "message": reason}
    return new


def cancelled_document(doc: dict[str, Any], now_ns: int) -> dict[str, Any]:
    """The server's cancel of a live task."""
    new = _touched(doc, now_ns)
    new["status"] = "cancelled"
    return new


def is_live(doc: dict[str, Any]) -> bool:
    return doc.get("status") in LIVE


# -- the portable backup file (docs/backup-format.md, record kind "x") -----------------------
def backup_record(
    task_id: str,
    status: str,
    last_updated_at: str,
    state: dict[str, Any],
    rev: int | None = None,
    ttl_epoch: int | None = None,
) -> list[Any]:
    return ["x", task_id, status, last_updated_at, state, rev, ttl_epoch]
