"""``mcpstore backup`` (portable file or --native), ``backup list`` and ``mcpstore restore``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from mcpstore_cli.cli.common import Command, ForceOpt
from mcpstore_cli.cli.manpage import ManCommand, ManGroup
from mcpstore_cli.cli.options import store_command
from mcpstore_cli.errors import UsageError

backup_app = typer.Typer(
    cls=ManGroup,
    help="Write a consistent, verified backup (portable file, or --native); see backup list.",
    rich_markup_mode=None,
    no_args_is_help=False,
)


class Mode(StrEnum):
    merge = "merge"
    replace_ = "replace"  # a member named replace would hide str.replace on every Mode


def register(app: typer.Typer, panel: str) -> None:
    backup_app.callback(invoke_without_command=True)(backup)
    backup_app.command("list", cls=ManCommand)(backup_list)
    app.add_typer(backup_app, name="backup", rich_help_panel=panel)
    app.command("restore", cls=ManCommand, rich_help_panel=panel)(restore)


async def _with_bar(cmd: Command, label: str, work: Any, total: int | None = None) -> Any:
    """Run ``work(progress)``; a progress bar on a terminal, silence otherwise."""
    with cmd.progress(label, total, unit="records") as bar:
        return await work(bar)


@store_command()
def backup(
    cmd: Command,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="The backup file (a directory: a default name in it) [default: "
            "<store>-<UTC time>.mcpbackup.zst here; --native on SQLite: "
            "<store>-<UTC time>.backup.db].",
            show_default=False,
        ),
    ] = None,
    session: Annotated[
        list[str] | None,
        typer.Option(
            "--session",
            metavar="SESSION_ID",
            help="Only this session: its id, or a unique prefix of 4 or more characters "
            "(repeat for more).",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="Only sessions active since then (a duration ago like 2h, a date, an ISO time "
            "or Unix ms).",
            show_default=False,
        ),
    ] = None,
    native: Annotated[
        bool,
        typer.Option(
            "--native",
            help="A backend-native backup instead: SQLite's online backup API (a copy of the "
            "database), DynamoDB on-demand backups of both tables.",
        ),
    ] = False,
    level: Annotated[
        int,
        typer.Option(
            "--level", metavar="N", help="zstd compression level (1 fastest .. 19 smallest)."
        ),
    ] = 1,
    include_secrets: Annotated[
        bool,
        typer.Option(
            "--include-secrets",
            help="fastmcp layout: also the other collections (the OAuth proxy's clients and "
            "tokens, caches), whose values are secrets; the file's header says so.",
        ),
    ] = False,
    force: ForceOpt = False,
) -> None:
    """Write a consistent, verified backup of sessions and events.

    The portable file (zstd; format in docs/backup-format.md) restores into any backend. It
    is written to a temporary file, fsynced and renamed into place when complete (mode 0600).
    An existing file is replaced only with --force; the store's own files and SQLite
    databases never are.
    """
    from mcpstore_cli.ops.ids import typed_session_id
    from mcpstore_cli.util.timeutil import now_ms, parse_point_in_time

    def options() -> tuple[list[str] | None, int | None]:
        if not 1 <= level <= 19:
            raise UsageError(f"--level must be between 1 and 19, not {level}.")
        ids = [typed_session_id(s, option="--session") for s in session] if session else None
        since_ms = parse_point_in_time(since, option="--since", now=now_ms()) if since else None
        if native and (ids is not None or since_ms is not None):
            raise UsageError("--session and --since apply to portable backups, not --native.")
        return ids, since_ms

    ids, since_ms = options()
    store_url = cmd.url
    if include_secrets and not cmd.store_class.session_kinds:
        raise UsageError(
            "--include-secrets is for the fastmcp layout, whose store may hold other "
            "collections; this backup holds everything of its layout already."
        )
    if native:
        _native_backup(cmd, output, force)
        return
    from mcpstore_cli.ops.backup import check_backup_target

    # Refused before connecting: nothing is read, nothing written.
    check_backup_target(cmd.open_store(), output, force=force)

    async def work() -> Any:
        from mcpstore_cli.ops.backup import write_backup

        async with cmd.open_store(read_only=True) as store:
            wanted = ids
            if ids is not None:
                from mcpstore_cli.ops.ids import resolve_session_ids

                wanted = await resolve_session_ids(store, ids, option="--session", note=cmd.info)
            return await _with_bar(
                cmd,
                "backing up",
                lambda progress: write_backup(
                    store,
                    output,
                    session_ids=wanted,
                    since_ms=since_ms,
                    progress=progress,
                    level=level,
                    force=force,
                    include_secrets=include_secrets,
                ),
            )

    summary = cmd.run(work)
    from mcpstore_cli.render.output import backup_summary_json, write_plain_object

    obj = backup_summary_json(summary, store_url.masked())
    if cmd.fmt_option:
        write_plain_object(cmd.env, cmd.fmt, obj)
    rate = (summary.sessions + summary.events) / summary.seconds if summary.seconds else 0
    cmd.info(
        f"backup: wrote {summary.counted()} to "
        f"{summary.path} ({_size(summary.bytes)}) in {summary.seconds:.2f} s "
        f"({rate:,.0f} records/s)."
    )
    for note in summary.notes:
        cmd.warn(note)


def _size(n: int | None) -> str:
    from mcpstore_cli.render.output import human_bytes

    return human_bytes(n)


def _native_backup(cmd: Command, output: str | None, force: bool) -> None:
    import time

    kind = cmd.store_class
    if kind.native_backups_in_service and output is not None:
        raise UsageError(
            f"--output does not apply to native backups of {cmd.url.backend} stores: the "
            "service keeps them, named after the table and the time."
        )
    if kind.native_backup_is_file:
        cmd.interrupt_note = "native copy not written (no file was left); nothing was changed."
    elif kind.native_backups_in_service:
        cmd.interrupt_note = (
            "a native backup already requested goes on in the service; mcpstore backup list "
            "shows it."
        )

    async def work() -> Any:
        started = time.perf_counter()
        async with cmd.open_store(read_only=not kind.native_backups_in_service) as store:
            rows = await store.native_backup(output, force=force)
        return rows, time.perf_counter() - started

    rows, seconds = cmd.run(work)
    from mcpstore_cli.render.output import write_backup_list

    if cmd.fmt_option:
        write_backup_list(cmd.env, cmd.fmt, rows)
    for row in rows:
        if row.get("path"):  # a file
            cmd.info(
                f"backup: native {row['kind']} copy {row['path']} ({_size(row['bytes'])}) in "
                f"{seconds:.2f} s."
            )
        else:
            cmd.info(
                f"backup: native {row['kind']} backup {row['name']} of {row['table']} "
                f"({row['status'] or 'requested'})."
            )


@store_command()
def backup_list(
    cmd: Command,
    directory: Annotated[
        str, typer.Option("--dir", metavar="DIR", help="Where to look for backup files.")
    ] = ".",
) -> None:
    """List backup files in --dir (portable files, SQLite native copies, interrupted
    leftovers) and the store's native backups (DynamoDB on-demand backups)."""
    folder = Path(directory).expanduser()
    if not folder.is_dir():
        raise UsageError(f"--dir {directory}: no such directory.")
    in_service = cmd.store_class.native_backups_in_service

    async def work() -> list[dict[str, Any]]:
        from mcpstore_cli.ops.backup.listing import list_files

        rows = list_files(folder)
        if in_service:
            async with cmd.open_store(read_only=True) as store:
                rows += await store.list_native_backups(str(folder))
        return rows

    rows = cmd.run(work)
    from mcpstore_cli.render.output import write_backup_list

    write_backup_list(cmd.env, cmd.fmt, rows)


@store_command()
def restore(
    cmd: Command,
    file: Annotated[
        str | None,
        typer.Argument(metavar="FILE", help="The backup file (zstd or gzip).", show_default=False),
    ] = None,
    mode: Annotated[
        Mode,
        typer.Option(
            "--mode",
            metavar="merge|replace",
            help="merge: add the sessions the store lacks, leave the others (running it twice "
            "changes nothing); replace: delete every session and event first (asks).",
            case_sensitive=False,
        ),
    ] = Mode.merge,
    keep_ttl: Annotated[
        bool,
        typer.Option(
            "--keep-ttl", help="DynamoDB: keep the backup's ttl instead of recomputing it from now."
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (replace).")] = False,
    native: Annotated[
        str | None,
        typer.Option(
            "--native",
            metavar="NAME",
            help="DynamoDB: restore this on-demand backup (see backup list) into new tables.",
            show_default=False,
        ),
    ] = None,
    to_table: Annotated[
        str | None,
        typer.Option(
            "--to-table",
            metavar="TABLE",
            help="With --native: the new sessions table (events go to NEW-events).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Load a backup file into any store (same or another backend).

    The whole file is read and verified first (checksum, counts, every record); a file that
    fails is refused and the store is untouched. Each session's event order is kept; event
    ids are kept where the target allows and renumbered otherwise (the summary says which).
    """
    mode_value = mode.value if isinstance(mode, Mode) else str(mode)

    def check_args() -> None:
        if native is not None:
            if file is not None:
                raise UsageError("Give a backup FILE or --native NAME, not both.")
            if to_table is None:
                raise UsageError("--native needs --to-table NEW (a table that does not exist).")
        elif file is None:
            raise UsageError("Name the backup FILE to restore (or --native NAME on DynamoDB).")
        elif to_table is not None:
            raise UsageError("--to-table goes with --native.")

    check_args()
    if native is not None:
        _restore_native(cmd, native, to_table or "")
        return
    assert file is not None
    path = Path(file).expanduser()
    if not path.is_file():
        raise UsageError(
            f"{path} is a directory, not a backup file."
            if path.is_dir()
            else f"No backup file {path}."
        )
    if cmd.args.layout is None:
        # Without --layout the file says which layout it restores (and so, without --url,
        # which store: a tasks backup goes to mcp_tasks.db).
        import dataclasses

        from mcpstore_cli.util.backupfile import read_header

        file_layout = str(read_header(path).get("layout") or "sessions")
        if file_layout != "sessions":
            cmd.args = dataclasses.replace(cmd.args, layout=file_layout)
    store_url = cmd.url
    if keep_ttl and not cmd.store_class.item_ttl:
        cmd.warn(f"--keep-ttl: {store_url.backend} stores keep no ttl; ignored.")

    # 1. replace: verify the whole file first, to show what it holds (nothing is touched
    # yet); otherwise restore_backup verifies (PostgreSQL: as it loads, in one transaction).
    async def verify() -> Any:
        from mcpstore_cli.ops.backup import verify_file
        from mcpstore_cli.util.interrupt import to_thread

        async def run(progress: Any) -> Any:
            return await to_thread(verify_file, path, progress=progress)

        return await _with_bar(cmd, "verifying", run)

    import time

    started = time.perf_counter()
    info = cmd.run(verify) if mode_value == "replace" else None
    verify_seconds = time.perf_counter() - started

    # 2. replace: show what will be destroyed, and ask.
    if mode_value == "replace":

        async def counts() -> tuple[int, int] | None:
            from mcpstore_cli.errors import StoreMissingError

            async with cmd.open_store(read_only=True) as store:
                try:
                    return await store.row_counts()  # type: ignore[no-any-return]
                except StoreMissingError:
                    return None

        existing = cmd.run(counts)
        if existing is not None and (existing[0] or existing[1]):
            from mcpstore_cli.cli.confirm import confirm_destructive

            assert info is not None  # replace verified the file in step 1
            from mcpstore_cli.model.backup import SESSION_LAYOUTS, counted

            if info.layout in SESSION_LAYOUTS:
                preview = [
                    f"restore --mode replace deletes every session and event of "
                    f"{store_url.masked()} ({store_url.backend}):",
                    f"  sessions: {existing[0]:,}",
                    f"  events:   {existing[1]:,}",
                ]
            else:
                preview = [
                    f"restore --mode replace deletes every record of the {info.layout} layout "
                    f"in {store_url.masked()} ({store_url.backend}): {existing[0]:,}",
                ]
            preview.append(
                f"then loads {path} ({counted(info.sessions, info.events, info.layout)}, "
                f"from {info.source_backend})."
            )
            confirm_destructive(
                cmd,
                action="restore --mode replace",
                preview=preview,
                yes=yes,
                question=f"Replace {counted(existing[0], existing[1], info.layout)} "
                "with the backup?",
            )

    # 3. Load.
    async def load() -> Any:
        from mcpstore_cli.ops.backup import restore_backup

        async with cmd.open_store() as store:
            return await _with_bar(
                cmd,
                "restoring",
                lambda progress: restore_backup(
                    store,
                    path,
                    mode=mode_value,
                    keep_ttl=keep_ttl,
                    progress=progress,
                    verified=info,
                ),
                total=info.sessions + info.events if info is not None else None,
            )

    summary = cmd.run(load)
    if info is not None:
        summary.verify_seconds += verify_seconds
        summary.seconds += verify_seconds
    from mcpstore_cli.render.output import restore_summary_json, write_plain_object

    obj = restore_summary_json(summary, store_url.masked())
    if cmd.fmt_option:
        write_plain_object(cmd.env, cmd.fmt, obj)
    for line in restore_summary_lines(summary, store_url.masked()):
        cmd.info(line)


def restore_summary_lines(summary: Any, store: str) -> list[str]:
    from mcpstore_cli.model.backup import SESSION_LAYOUTS

    rate = (summary.sessions + summary.events) / summary.seconds if summary.seconds else 0
    verified = (
        "verified as it loaded, committed once all of it passed"
        if summary.verified_while_loading
        else f"verified in {summary.verify_seconds:.2f} s first"
    )
    lines = [
        f"restore: wrote {summary.counted()} from "
        f"{summary.path} into {store} in {summary.seconds:.2f} s ({verified}; "
        f"{rate:,.0f} records/s)."
    ]
    details = []
    if summary.events:
        details.append(f"event ids {summary.event_ids}")
    if summary.ttl and summary.sessions:
        details.append(f"ttl {summary.ttl}")
    sessions = summary.layout in SESSION_LAYOUTS
    if summary.skipped_sessions and sessions:
        details.append(
            f"left {summary.skipped_sessions:,} sessions the store already had (and their "
            f"{summary.skipped_events:,} events in the file) as they were"
        )
    elif summary.skipped_sessions:
        details.append(f"left {summary.skipped_sessions:,} records the store already had")
    if summary.mode == "replace":
        details.append(
            f"replaced {summary.replaced_sessions:,} sessions and "
            f"{summary.replaced_events:,} events"
            if sessions
            else f"replaced {summary.replaced_sessions:,} records"
        )
    if summary.created_layout:
        details.append("created the store's tables first")
    if details:
        lines.append("restore: " + "; ".join(details) + ".")
    lines += [f"restore: {note}." for note in summary.notes]
    return lines


def _restore_native(cmd: Command, name: str, to_table: str) -> None:
    kind = cmd.store_class
    if not kind.native_backups_in_service:
        why = ""
        if kind.native_backup_is_file:
            why = "its native backup is a database file: use it with --url"
        cmd.require(lambda kind: kind.native_backups_in_service, "restore --native", why)

    cmd.interrupt_note = (
        f"a restore into {to_table} already requested goes on in the service; the source "
        "tables are unchanged."
    )

    async def work() -> Any:
        async with cmd.open_store() as store:
            return await store.restore_native(name, to_table)

    rows = cmd.run(work)
    for row in rows:
        cmd.info(f"restore: {row['backup']} restored into new table {row['table']}.")
