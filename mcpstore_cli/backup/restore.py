"""Loading a verified backup file into a store: the checks every target shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcpstore_cli.backup import ProgressCallback, RestoreSummary
from mcpstore_cli.backup.fileformat import BackupFileError, BackupInfo
from mcpstore_cli.errors import StoreMissingError

if TYPE_CHECKING:
    from mcpstore_cli.store import Store

PG_SESSION_ID_MAX = 36  # VARCHAR(36)
PG_EVENT_TYPE_MAX = 100  # VARCHAR(100)


def fits(info: BackupInfo, backend: str) -> str | None:
    """Why the file's content cannot go into a store of ``backend`` (None: it can)."""
    if backend == "postgres":
        if info.max_session_id_len > PG_SESSION_ID_MAX:
            return (
                f"it has session ids of {info.max_session_id_len} characters and PostgreSQL's "
                f"session_id column holds at most {PG_SESSION_ID_MAX}"
            )
        if info.max_event_type_len > PG_EVENT_TYPE_MAX:
            return (
                f"it has event types of {info.max_event_type_len} characters and PostgreSQL's "
                f"event_type column holds at most {PG_EVENT_TYPE_MAX}"
            )
        if info.has_nul:
            return "its JSON holds the character \\u0000, which PostgreSQL's jsonb cannot store"
    return None


async def restore_verified(
    store: Store,
    info: BackupInfo,
    *,
    mode: str,
    keep_ttl: bool,
    progress: ProgressCallback | None,
) -> RestoreSummary:
    summary = RestoreSummary(path=str(info.path), mode=mode, source_backend=info.source_backend)
    problem = fits(info, store.backend) if info.verified else None
    if problem is not None:
        raise BackupFileError(
            f"{info.path} cannot be restored into this {store.backend} store: {problem}; "
            "nothing was changed."
        )
    try:
        await store.ensure_readable()
    except StoreMissingError:
        # Like pg_restore: a store without tables gets the layout first (an existing store
        # in another layout is refused by ensure_readable/setup, before anything is written).
        await store.setup()
        summary.created_layout = True
        await store.ensure_readable()
    await store.restore_records(info, summary, mode=mode, keep_ttl=keep_ttl, progress=progress)
    if store.backend != "dynamodb":
        summary.ttl = ""
    return summary
