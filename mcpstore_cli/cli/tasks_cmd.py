"""``mcpstore tasks``: turul's task stores (layouts ``tasks`` and ``ext-tasks``).

``list``, ``show`` and ``stats`` read; ``expire`` (the cron job), ``recover`` and ``cancel``
change tasks exactly as the server's own maintenance does, each change conditional on what
was read, so a task the server moved on meanwhile is left alone and counted.
"""

from __future__ import annotations

import contextlib
import time
from typing import Annotated, Any

import typer

from mcpstore_cli.cli.common import Command
from mcpstore_cli.cli.manpage import ManCommand, ManGroup
from mcpstore_cli.cli.options import ALL_FORMATS, store_command
from mcpstore_cli.errors import UsageError
from mcpstore_cli.exitcodes import ExitStatus
from mcpstore_cli.util.durations import format_duration, parse_duration

tasks_app = typer.Typer(
    cls=ManGroup,
    help="turul's task stores: list, show, stats, expire, recover, cancel.",
    rich_markup_mode=None,
    no_args_is_help=False,
)

STATUS_NAMES = ("working", "input_required", "completed", "failed", "cancelled")


def register(app: typer.Typer, panel: str) -> None:
    tasks_app.callback(invoke_without_command=True)(tasks_group)
    for name, fn in (
        ("list", tasks_list),
        ("show", tasks_show),
        ("stats", tasks_stats),
        ("expire", tasks_expire),
        ("recover", tasks_recover),
        ("cancel", tasks_cancel),
    ):
        tasks_app.command(name, cls=ManCommand)(fn)
    app.add_typer(tasks_app, name="tasks", rich_help_panel=panel)


@store_command(formats=ALL_FORMATS)
def tasks_group(cmd: Command) -> None:
    """turul's task stores (the 2025-11-25 lane's tasks, the 2026-07-28 lane's ext-tasks).

    The store: --url, else --backend with SQLITE_TASK_PATH (default mcp_tasks.db),
    DATABASE_URL or MCP_TASK_TABLE (default mcp-tasks), else MCPSTORE_URL, else
    sqlite:///mcp_tasks.db here.
    """
    assert cmd.ctx is not None
    cmd.env.stdout.write(cmd.ctx.get_help() + "\n")


def _now_ns() -> int:
    return time.time_ns()


def _duration(text: str | None, option: str) -> int | None:
    return None if text is None else parse_duration(text, option=option)


@store_command()
def tasks_list(
    cmd: Command,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="Only tasks in this status (repeatable): " + ", ".join(STATUS_NAMES) + ".",
            show_default=False,
        ),
    ] = None,
    session: Annotated[
        str | None,
        typer.Option(
            "--session",
            metavar="SESSION_ID",
            help="Only tasks of this session.",
            show_default=False,
        ),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            metavar="METHOD",
            help="Only tasks of this method (tools/call, ...).",
            show_default=False,
        ),
    ] = None,
    stuck_for: Annotated[
        str | None,
        typer.Option(
            "--stuck-for",
            metavar="DURATION",
            help="Only live tasks (working, input_required) not updated for this long.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option("--limit", "-n", metavar="N", help="Tasks per page; 0 lists all (streamed)."),
    ] = 50,
    cursor: Annotated[
        str | None,
        typer.Option(
            "--cursor",
            metavar="CURSOR",
            help="Continue after this position (printed by the last page).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """List tasks in the server's order (created, then id), a page at a time."""
    from mcpstore_cli.model.records import CorruptRow
    from mcpstore_cli.model.tasks import TaskCursor, TaskFilter

    now = _now_ns()
    statuses = tuple(dict.fromkeys(status or ()))
    for one in statuses:
        if one not in STATUS_NAMES:
            raise UsageError(
                f"--status {one!r} is not a task status; use {', '.join(STATUS_NAMES)}."
            )
    if limit < 0:
        raise UsageError(f"--limit must be 0 (all) or more, not {limit}.")
    flt = TaskFilter(
        now_ns=now,
        statuses=statuses,
        session_id=session,
        method=method,
        stuck_for_ms=_duration(stuck_for, "--stuck-for"),
    )
    position = TaskCursor.decode(cursor) if cursor is not None else None
    chosen = cmd.open_task_store(read_only=True)
    from mcpstore_cli.render.tasks import task_json, task_writer

    writer = task_writer(cmd.env, cmd.fmt)
    printed = [0]
    cmd.interrupt_note = lambda: f"printed {printed[0]:,} tasks; nothing was changed."

    async def work() -> tuple[int, Any, bool, int]:
        shown = skipped = 0
        last: Any = None
        more = False
        page = limit or None
        async with chosen as store:
            rows = store.iter_tasks(flt, limit=None if page is None else page + 1, cursor=position)
            async with contextlib.aclosing(rows):
                async for item in rows:
                    if page is not None and shown + skipped >= page:
                        more = True
                        break
                    if isinstance(item, CorruptRow):
                        skipped += 1
                        cmd.warn(f"skipped task {item.key}: {item.problem}.")
                        last = item.cursor or last
                        continue
                    writer.write(task_json(item, now_ns=now))
                    last = TaskCursor.after(item)
                    shown += 1
                    printed[0] = shown
        writer.close()
        return shown, last, more, skipped

    shown, last, more, skipped = cmd.run(work)
    if more and last is not None:
        cmd.info(f"more tasks: mcpstore tasks list --cursor {last.encode()}  (same filters)")
    elif cmd.fmt == "table" and shown == 0:
        cmd.info("no tasks match.")
    if skipped:
        cmd.warn(f"{skipped} unreadable task{'s' if skipped != 1 else ''} skipped.")


@store_command()
def tasks_show(
    cmd: Command,
    task_id: Annotated[
        str, typer.Argument(metavar="TASK_ID", help="Task id, or a unique prefix of one.")
    ],
) -> None:
    """One task: its status, params, result or error, meta (the ext-tasks document too)."""
    from mcpstore_cli.errors import SessionNotFoundError
    from mcpstore_cli.model.records import CorruptRow
    from mcpstore_cli.ops.ids import typed_session_id

    typed_session_id(task_id, option="task id")
    now = _now_ns()
    chosen = cmd.open_task_store(read_only=True)

    async def work() -> Any:
        async with chosen as store:
            from mcpstore_cli.ops.ids import resolve_task_id

            wanted = await resolve_task_id(store, task_id, note=cmd.info)
            found = await store.get_task(wanted)
            if found is None:
                raise SessionNotFoundError(f"Task {wanted} is no longer in {store.url.masked()}.")
            if isinstance(found, CorruptRow):
                raise SessionNotFoundError(f"Task {found.key} cannot be read: {found.problem}.")
            return found

    task = cmd.run(work)
    from mcpstore_cli.render.output import write_object
    from mcpstore_cli.render.tasks import draw_task, task_json

    obj = task_json(task, now_ns=now, with_cursor=False)
    write_object(cmd.env, cmd.fmt, obj, lambda: draw_task(cmd.env, obj))


@store_command()
def tasks_stats(
    cmd: Command,
    stuck_for: Annotated[
        str,
        typer.Option(
            "--stuck-for",
            metavar="DURATION",
            help="A live task not updated for this long counts as stuck.",
        ),
    ] = "1h",
) -> None:
    """Counts by status and method, stuck and past-ttl tasks, ages, the oldest live task."""
    stuck_ms = parse_duration(stuck_for, option="--stuck-for")
    chosen = cmd.open_task_store(read_only=True)

    async def work() -> Any:
        async with chosen as store:
            return await store.task_stats(now_ns=_now_ns(), stuck_after_ms=stuck_ms)

    result = cmd.run(work)
    from mcpstore_cli.render.output import write_object
    from mcpstore_cli.render.tasks import draw_task_stats, task_stats_json

    obj = task_stats_json(result)
    write_object(cmd.env, cmd.fmt, obj, lambda: draw_task_stats(cmd.env, obj))


def _positive(value: float | None, option: str) -> None:
    if value is not None and value <= 0:
        raise UsageError(f"{option} must be more than 0, not {value:g}.")


@store_command(formats=ALL_FORMATS, format_help="Print the summary as json (or jsonl, csv).")
def tasks_expire(
    cmd: Command,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Count what would go and show a sample; change nothing."),
    ] = False,
    orphan_after: Annotated[
        str | None,
        typer.Option(
            "--orphan-after",
            metavar="DURATION",
            help="ext-tasks: live tasks without an update for this long fail as abandoned.",
            show_default=False,
        ),
    ] = None,
    honour_ttl: Annotated[
        bool,
        typer.Option("--honour-ttl", help="ext-tasks: live tasks past their ttlMs fail."),
    ] = False,
    delete_terminal_after: Annotated[
        str | None,
        typer.Option(
            "--delete-terminal-after",
            metavar="DURATION",
            help="ext-tasks: delete finished tasks this long after their last update.",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            metavar="N",
            help="Tasks read and changed at a time [default: 500; 20,000 on the tasks layout on "
            "PostgreSQL, where a batch is one DELETE over a range of pages; 500 with --rate].",
            show_default=False,
        ),
    ] = None,
    time_budget: Annotated[
        str | None,
        typer.Option(
            "--time-budget",
            metavar="DURATION",
            help="Stop after this long (exit 5 when more was left to do).",
            show_default=False,
        ),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate", metavar="N", help="At most N deletes per second.", show_default=False
        ),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            metavar="N",
            help="Delete on N connections at once (tasks layout on PostgreSQL): faster, and "
            "N times the load on the database.",
        ),
    ] = 1,
) -> None:
    """Delete expired tasks as the server's rules say (the cron job; it asks nothing).

    tasks layout: tasks with a ttl whose created_at + ttl has passed (never a task without
    one). ext-tasks: the retention the server does not do by default, by the flags.
    """
    from mcpstore_cli.model.tasks import TaskExpireOptions

    if batch_size is not None and batch_size < 1:
        raise UsageError(f"--batch-size must be 1 or more, not {batch_size}.")
    if not 1 <= jobs <= 16:
        raise UsageError(f"--jobs must be from 1 to 16, not {jobs}.")
    _positive(rate, "--rate")
    budget_ms = _duration(time_budget, "--time-budget")
    opts = TaskExpireOptions(
        now_ns=_now_ns(),
        dry_run=dry_run,
        batch_size=batch_size or 500,
        time_budget_s=None if budget_ms is None else budget_ms / 1000,
        rate=rate,
        jobs=jobs,
        orphan_after_ms=_duration(orphan_after, "--orphan-after"),
        honour_ttl=honour_ttl,
        delete_terminal_after_ms=_duration(delete_terminal_after, "--delete-terminal-after"),
    )
    chosen = cmd.open_task_store(read_only=dry_run)
    given = [
        name
        for name, value in (
            ("--orphan-after", orphan_after),
            ("--honour-ttl", honour_ttl or None),
            ("--delete-terminal-after", delete_terminal_after),
        )
        if value is not None
    ]
    examined = [0]
    cmd.interrupt_note = lambda: (
        f"stopped after {examined[0]:,} tasks were examined; "
        "the ones deleted before the stop stay deleted, the rest is untouched."
    )

    async def work() -> Any:
        async with chosen as store:
            if jobs > 1 and not store.parallel_expire:
                raise UsageError(
                    f"--jobs applies to the tasks layout on PostgreSQL; {store.url.masked()} "
                    f"is a {store.backend} store of the {store.layout} layout."
                )
            refused = [g for g in given if g not in store.retention_options]
            if refused:
                raise UsageError(
                    f"{refused[0]} is a retention rule of the ext-tasks layout; "
                    f"{store.url.masked()} is in the {store.layout} layout, which expires "
                    "tasks by their ttl alone."
                )
            if batch_size is None:
                opts.batch_size = store.expire_batch(rate)
            with cmd.progress("examining", None, unit="tasks") as bar:

                def advance(n: int) -> None:
                    examined[0] += n
                    if bar is not None:
                        bar(n)

                return await store.expire_tasks(opts, progress=advance)

    result = cmd.run(work)
    from mcpstore_cli.render.tasks import expire_json

    if cmd.fmt_option:
        from mcpstore_cli.render.output import write_plain_object

        write_plain_object(cmd.env, cmd.fmt, expire_json(result, chosen.url.masked()))
    verb = "would delete" if dry_run else "deleted"
    parts = [f"{verb} {result.deleted:,} task{'s' if result.deleted != 1 else ''}"]
    if result.failed:
        parts.append(f"{'would fail' if dry_run else 'failed'} {result.failed:,} live")
    line = (
        f"tasks expire: {', '.join(parts)} of {result.examined:,} examined in "
        f"{chosen.url.masked()} ({result.elapsed_s:.2f} s)"
    )
    if result.skipped_changed:
        line += f"; {result.skipped_changed:,} changed by the server meanwhile, left alone"
    if result.corrupt:
        line += f"; {result.corrupt:,} unreadable, left alone"
    cmd.info(line + ".")
    if dry_run and result.sample:
        cmd.info("sample: " + ", ".join(result.sample))
    if result.partial:
        cmd.warn(
            f"the time budget ({format_duration(budget_ms or 0)}) ran out with more to do; "
            "run again to go on."
        )
        raise typer.Exit(int(ExitStatus.PARTIAL))


@store_command(formats=ALL_FORMATS, format_help="Print the summary as json (or jsonl, csv).")
def tasks_recover(
    cmd: Command,
    stuck_for: Annotated[
        str,
        typer.Option(
            "--stuck-for",
            metavar="DURATION",
            help="Live tasks not updated for this long become failed (required).",
            show_default=False,
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count and show a sample; change nothing.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", metavar="N", help="Tasks read and changed at a time.")
    ] = 500,
) -> None:
    """Fail stuck live tasks as the server's recovery does on restart.

    Each becomes failed with "Server restarted — task interrupted" and its last update now.
    """
    if batch_size < 1:
        raise UsageError(f"--batch-size must be 1 or more, not {batch_size}.")
    stuck_ms = parse_duration(stuck_for, option="--stuck-for")
    chosen = cmd.open_task_store(read_only=dry_run)
    cmd.interrupt_note = lambda: "stopped; tasks recovered before the stop stay failed."

    async def work() -> Any:
        async with chosen as store:
            with cmd.progress("examining", None, unit="tasks") as bar:
                return await store.recover_tasks(
                    stuck_for_ms=stuck_ms,
                    now_ns=_now_ns(),
                    dry_run=dry_run,
                    batch_size=batch_size,
                    progress=bar,
                )

    result = cmd.run(work)
    from mcpstore_cli.render.tasks import recover_json

    if cmd.fmt_option:
        from mcpstore_cli.render.output import write_plain_object

        write_plain_object(cmd.env, cmd.fmt, recover_json(result, chosen.url.masked()))
    verb = "would fail" if dry_run else "failed"
    line = (
        f"tasks recover: {verb} {result.recovered:,} task{'s' if result.recovered != 1 else ''} "
        f"stuck for over {format_duration(stuck_ms)} of {result.examined:,} live ones in "
        f"{chosen.url.masked()} ({result.elapsed_s:.2f} s)"
    )
    if result.skipped_changed:
        line += f"; {result.skipped_changed:,} changed by the server meanwhile, left alone"
    cmd.info(line + ".")
    if dry_run and result.sample:
        cmd.info("sample: " + ", ".join(result.sample))


@store_command(formats=ALL_FORMATS, format_help="Print the outcome as json (or jsonl, csv).")
def tasks_cancel(
    cmd: Command,
    task_id: Annotated[
        str, typer.Argument(metavar="TASK_ID", help="Task id, or a unique prefix of one.")
    ],
    any_owner: Annotated[
        bool,
        typer.Option("--any-owner", help="ext-tasks: also a task of another owner."),
    ] = False,
) -> None:
    """Cancel a live task as the server would (a finished task is refused, exit 1)."""
    from mcpstore_cli.errors import McpStoreError
    from mcpstore_cli.ops.ids import typed_session_id

    typed_session_id(task_id, option="task id")
    chosen = cmd.open_task_store()

    async def work() -> Any:
        async with chosen as store:
            from mcpstore_cli.ops.ids import resolve_task_id

            wanted = await resolve_task_id(store, task_id, note=cmd.info)
            return await store.cancel_task(wanted, now_ns=_now_ns(), any_owner=any_owner)

    change = cmd.run(work)
    if cmd.fmt_option:
        from mcpstore_cli.render.output import write_plain_object

        write_plain_object(
            cmd.env,
            cmd.fmt,
            {
                "task_id": change.task_id,
                "cancelled": change.done,
                "status": change.status,
                "reason": change.reason,
            },
        )
    if not change.done:
        raise McpStoreError(f"Task {change.task_id} was not cancelled: {change.reason}.")
    cmd.info(f"cancelled task {change.task_id}.")
