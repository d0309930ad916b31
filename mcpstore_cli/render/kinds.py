"""Sessions that come in kinds (FastMCP's event-store sessions and state sessions): the list
table and the ``show`` view. The store hands over plain JSON; nothing here knows a backend."""

from __future__ import annotations

import json
from typing import Any

from mcpstore_cli.env import Environment
from mcpstore_cli.model.records import Cursor, Session
from mcpstore_cli.render.output import Column, RecordWriter, _escape
from mcpstore_cli.util.timeutil import ago, short_time

KIND_TITLES = {"events": "event store", "state": "state"}


def kinds_json(session: Session, *, now_ms: int, timeout_ms: int) -> dict[str, Any]:
    """A session of a layout with kinds as ``list`` prints it (JSON, JSONL, CSV)."""
    out: dict[str, Any] = {
        "session_id": session.session_id,
        "kind": session.extra("kind"),
        "status": "idle" if now_ms - session.last_activity > timeout_ms else "active",
        "created_at": session.created_at,
        "last_activity": session.last_activity,
        "expires_at": session.extra("expires_at"),
    }
    if session.extra("kind") == "events":
        out["streams"] = session.extra("streams")
        out["event_count"] = session.event_count
    else:
        out["keys"] = session.extra("keys")
        out["key_names"] = session.extra("key_names")
    out["cursor"] = Cursor.after(session).encode()
    return out


def kinds_writer(env: Environment, fmt: str, *, now_ms: int) -> RecordWriter:
    def parts(obj: dict[str, Any]) -> str:
        if obj.get("kind") == "events":
            n = obj.get("streams") or 0
            return f"{n} stream{'s' if n != 1 else ''}"
        n = obj.get("keys") or 0
        names = ", ".join(obj.get("key_names") or [])
        return f"{n} key{'s' if n != 1 else ''}" + (f": {names}" if names else "")

    def expires(obj: dict[str, Any]) -> str:
        at = obj.get("expires_at")
        return "never" if at is None else ago(at, now_ms)

    columns = [
        Column("SESSION", "session_id", "cyan", no_wrap=True, drop=2, id_prefix=True),
        Column("KIND", lambda o: KIND_TITLES.get(o.get("kind") or "", o.get("kind"))),
        Column("HOLDS", parts, drop=4, shrink_to=10),
        Column("EVENTS", "event_count", justify="right", drop=5),
        Column("FIRST (UTC)", lambda o: short_time(o["created_at"]), no_wrap=True, drop=3),
        Column("LAST ACTIVITY", lambda o: ago(o["last_activity"], now_ms), no_wrap=True),
        Column("EXPIRES", expires, no_wrap=True, drop=1),
    ]
    fields = [
        "session_id",
        "kind",
        "status",
        "created_at",
        "last_activity",
        "expires_at",
        "streams",
        "keys",
        "key_names",
        "event_count",
        "cursor",
    ]
    return RecordWriter(env, fmt, columns, fields, one_line=True)


def _event_line(event: dict[str, Any]) -> tuple[str, str]:
    if event.get("missing"):
        return "missing", "(the stream names it; the event is gone)"
    kind = event.get("kind")
    if event.get("priming"):
        return "priming", "(priming event: no message)"
    method = event.get("method")
    if method == "notifications/progress":
        total = event.get("total")
        text = f"progress {event.get('progress')}" + (f"/{total}" if total is not None else "")
        if event.get("message"):
            text += f"  {event['message'] if isinstance(event['message'], str) else ''}"
        return "progress", text.rstrip()
    if method == "notifications/message":
        return f"log {event.get('level')}", str(event.get("text"))
    if method:
        return str(kind), str(method)
    if kind == "result":
        return "result", json.dumps(event.get("result"), separators=(",", ":"))[:200]
    if kind == "error":
        return "error", json.dumps(event.get("error"), separators=(",", ":"))[:200]
    return str(kind), ""


def draw_kinds_session(env: Environment, obj: dict[str, Any], *, now_ms: int) -> None:
    from rich.json import JSON
    from rich.table import Table

    console = env.console()
    for part in obj["kinds"]:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        title = KIND_TITLES.get(part["kind"], part["kind"])
        grid.add_row("session", f"[cyan]{_escape(obj['session_id'])}[/] ({title} session)")
        grid.add_row("first", f"{short_time(part['first'])} UTC ({ago(part['first'], now_ms)})")
        grid.add_row(
            "last activity",
            f"{short_time(part['last_activity'])} UTC ({ago(part['last_activity'], now_ms)})",
        )
        at = part.get("expires_at")
        grid.add_row("expires", "never" if at is None else f"{short_time(at)} UTC")
        console.print(grid)
        if part["kind"] == "events":
            for stream in part["streams"]:
                console.print(
                    f"\n[bold]stream[/] {_escape(stream['stream_id'])}  request "
                    f"{_escape(str(stream['request']))}, {stream['event_ids']} event ids"
                )
                table = Table(box=None, header_style="bold", pad_edge=False)
                table.add_column("EVENT ID", style="cyan", no_wrap=True)
                table.add_column("TIME (UTC)", no_wrap=True)
                table.add_column("TYPE", style="magenta", no_wrap=True)
                table.add_column("WHAT", overflow="fold")
                for event in stream["events"]:
                    kind, text = _event_line(event)
                    table.add_row(
                        event["event_id"], short_time(event.get("time")), kind, _escape(text)
                    )
                console.print(table)
        else:
            console.print("\n[bold]state[/]")
            for row in part["keys"]:
                console.print(f"[bold]{_escape(row['key'])}[/]")
                console.print(JSON(json.dumps(row["value"])))
        console.print()
