"""How the task commands print: a task's JSON form (stable, documented in the README), the
list's columns, ``tasks show``'s view and ``tasks stats``'s figures."""

from __future__ import annotations

import json
from typing import Any

from mcpstore_cli.env import Environment
from mcpstore_cli.model.tasks import RecoverResult, Task, TaskCursor, TaskExpireResult, TaskStats
from mcpstore_cli.render.output import (
    Column,
    RecordWriter,
    _escape,
    compact,
    draw_histogram,
)
from mcpstore_cli.util.durations import format_duration

_MS = 1_000_000


def _ms(ns: int | None) -> int | None:
    return None if ns is None else ns // _MS


def task_json(task: Task, *, now_ns: int, with_cursor: bool = True) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "task_id": task.task_id,
        "status": task.status,
        "status_message": task.status_message,
        "method": task.method,
        "session_id": task.session_id,
        "created_at": task.created_at,
        "last_updated_at": task.last_updated_at,
        "age_ms": (now_ns - task.created_ns) // _MS,
        "idle_ms": (now_ns - task.updated_ns) // _MS,
        "ttl_ms": task.ttl_ms,
        "expires_at_ms": _ms(task.expires_ns),
        "past_ttl": task.past_ttl(now_ns),
        "poll_interval_ms": task.poll_interval_ms,
        "params": task.params,
        "result": task.result,
        "error": task.error,
        "meta": task.meta,
    }
    if task.owner is not None or task.document is not None:
        obj["owner"] = task.owner
    if task.revision is not None:
        obj["revision"] = task.revision
    if task.document is not None:
        obj["document"] = task.document
    if with_cursor:
        obj["cursor"] = TaskCursor.after(task).encode()
    return obj


def _ago(ms: int | None) -> str:
    return "-" if ms is None else f"{format_duration(max(ms, 0))} ago"


def _outcome(obj: dict[str, Any]) -> str:
    result = obj.get("result")
    if isinstance(result, dict) and "Error" in result and isinstance(result["Error"], dict):
        return f"error {result['Error'].get('code')}: {result['Error'].get('message')}"
    if isinstance(obj.get("error"), dict):
        return f"error {obj['error'].get('code')}: {obj['error'].get('message')}"
    return obj.get("status_message") or ""


def task_writer(env: Environment, fmt: str) -> RecordWriter:
    def what(obj: dict[str, Any]) -> str:
        params = obj.get("params")
        if obj.get("method") == "tools/call" and isinstance(params, dict):
            return f"tools/call {params.get('name', '')}".strip()
        return obj.get("method") or "-"

    columns = [
        Column("TASK", "task_id", "cyan", no_wrap=True, drop=3, id_prefix=True),
        Column("STATUS", "status"),
        Column("METHOD", what, drop=4, shrink_to=14),
        Column("CREATED", lambda o: _ago(o["age_ms"]), no_wrap=True, drop=2),
        Column("UPDATED", lambda o: _ago(o["idle_ms"]), no_wrap=True),
        Column(
            "TTL",
            lambda o: (
                "-"
                if o["ttl_ms"] is None
                else format_duration(o["ttl_ms"]) + (" (past)" if o["past_ttl"] else "")
            ),
            no_wrap=True,
            drop=1,
        ),
        Column("MESSAGE", lambda o: _outcome(o)[:60], drop=0, shrink_to=16),
    ]
    fields = [
        "task_id",
        "status",
        "status_message",
        "method",
        "session_id",
        "created_at",
        "last_updated_at",
        "ttl_ms",
        "past_ttl",
        "poll_interval_ms",
        "params",
        "result",
        "error",
        "meta",
        "cursor",
    ]
    return RecordWriter(env, fmt, columns, fields, one_line=True)


def draw_task(env: Environment, obj: dict[str, Any]) -> None:
    from rich.table import Table

    console = env.console()
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("task", f"[cyan]{_escape(obj['task_id'])}[/]")
    grid.add_row("status", _escape(obj["status"]))
    for label, key in (
        ("message", "status_message"),
        ("method", "method"),
        ("session", "session_id"),
        ("owner", "owner"),
    ):
        if obj.get(key) is not None:
            grid.add_row(label, _escape(str(obj[key])))
    grid.add_row("created", f"{obj['created_at']}  ({_ago(obj['age_ms'])})")
    grid.add_row("last update", f"{obj['last_updated_at']}  ({_ago(obj['idle_ms'])})")
    ttl = obj.get("ttl_ms")
    grid.add_row(
        "ttl",
        "none (never expires)"
        if ttl is None
        else format_duration(ttl) + ("  [red]past[/]" if obj["past_ttl"] else ""),
    )
    if obj.get("poll_interval_ms") is not None:
        grid.add_row("poll interval", format_duration(obj["poll_interval_ms"]))
    if obj.get("revision") is not None:
        grid.add_row("revision", str(obj["revision"]))
    console.print(grid)
    sections = [("params", obj.get("params")), ("meta", obj.get("meta"))]
    result = obj.get("result")
    if isinstance(result, dict) and len(result) == 1 and next(iter(result)) in ("Success", "Error"):
        kind, body = next(iter(result.items()))
        sections.append(("result" if kind == "Success" else "error", body))
    else:
        sections.append(("result", result))
    sections.append(("error", obj.get("error")))
    if obj.get("document") is not None:
        sections.append(("document", obj["document"]))
    for title, value in sections:
        if value is None:
            continue
        console.print(f"\n[bold]{title}[/]")
        console.print(_escape(json.dumps(value, indent=2, ensure_ascii=False)), highlight=False)


def task_stats_json(stats: TaskStats) -> dict[str, Any]:
    oldest = stats.oldest_live
    return {
        "store": stats.store,
        "layout": stats.layout,
        "generated_at_ms": stats.now_ns // _MS,
        "tasks": stats.tasks,
        "by_status": stats.by_status,
        "by_method": stats.by_method,
        "stuck": stats.stuck,
        "stuck_after_ms": stats.stuck_after_ms,
        "past_ttl": stats.past_ttl,
        "corrupt": stats.corrupt,
        "oldest_live": None
        if oldest is None
        else {
            "task_id": oldest.task_id,
            "status": oldest.status,
            "created_at": oldest.created_at,
            "age_ms": (stats.now_ns - oldest.created_ns) // _MS,
        },
        "created": {
            "oldest_ms": _ms(stats.oldest_created_ns),
            "newest_ms": _ms(stats.newest_created_ns),
        },
        "age_histogram": [{"bucket": b, "tasks": n} for b, n in stats.age_histogram],
        "backend_facts": stats.backend_facts,
    }


def draw_task_stats(env: Environment, obj: dict[str, Any]) -> None:
    from rich.table import Table

    console = env.console()
    now = obj["generated_at_ms"]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(justify="right")
    grid.add_column()
    grid.add_row("store", "", f"{_escape(obj['store'])} ({obj['layout']} layout)")
    grid.add_row("tasks", f"{obj['tasks']:,}", "")
    for status, n in obj["by_status"].items():
        grid.add_row(f"  {status}", f"{n:,}", "")
    grid.add_row(
        "stuck",
        f"[yellow]{obj['stuck']:,}[/]",
        f"live, no update for over {format_duration(obj['stuck_after_ms'])}",
    )
    grid.add_row("past ttl", f"[red]{obj['past_ttl']:,}[/]", "created + ttl has passed")
    if obj["corrupt"]:
        grid.add_row("unreadable", f"{obj['corrupt']:,}", "rows the layout cannot hold")
    oldest = obj.get("oldest_live")
    if oldest is not None:
        grid.add_row(
            "oldest live",
            "",
            f"{oldest['task_id']} ({oldest['status']}, created {_ago(oldest['age_ms'])})",
        )
    span = obj["created"]
    if span["oldest_ms"] is not None:
        grid.add_row(
            "created",
            "",
            f"oldest {_ago(now - span['oldest_ms'])}, newest {_ago(now - span['newest_ms'])}",
        )
    for key, value in obj.get("backend_facts", {}).items():
        grid.add_row(key.replace("_", " "), "", _escape(str(value)))
    console.print(grid)
    if obj["by_method"]:
        console.print("\n[bold]tasks by method[/]")
        draw_histogram(env, list(obj["by_method"].items())[:10])
    console.print("\n[bold]tasks by age (since created)[/]")
    draw_histogram(env, [(b["bucket"], b["tasks"]) for b in obj["age_histogram"]])


def expire_json(result: TaskExpireResult, store: str) -> dict[str, Any]:
    return {
        "store": store,
        "dry_run": result.dry_run,
        "examined": result.examined,
        "deleted": result.deleted,
        "failed": result.failed,
        "skipped_changed": result.skipped_changed,
        "corrupt": result.corrupt,
        "partial": result.partial,
        "sample": result.sample,
        "elapsed_s": round(result.elapsed_s, 3),
    }


def recover_json(result: RecoverResult, store: str) -> dict[str, Any]:
    return {
        "store": store,
        "dry_run": result.dry_run,
        "examined": result.examined,
        "recovered": result.recovered,
        "skipped_changed": result.skipped_changed,
        "sample": result.sample,
        "elapsed_s": round(result.elapsed_s, 3),
    }


__all__ = ["compact"]
