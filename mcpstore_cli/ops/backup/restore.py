"""Loading a verified backup file into a store: the checks every target shares."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from mcpstore_cli.errors import Interrupted, LayoutError, StoreMissingError
from mcpstore_cli.model.backup import RestoreSummary, fits
from mcpstore_cli.store.base import ProgressCallback
from mcpstore_cli.util.backupfile import BackupFileError, BackupInfo

if TYPE_CHECKING:
    from mcpstore_cli.store.base import Store


async def restore_verified(
    store: Store,
    info: BackupInfo,
    *,
    mode: str,
    keep_ttl: bool,
    progress: ProgressCallback | None,
) -> RestoreSummary:
    summary = RestoreSummary(
        path=str(info.path), mode=mode, source_backend=info.source_backend, layout=info.layout
    )
    problem = fits(info, store.restore_limits()) if info.verified else None
    if problem is not None:
        raise BackupFileError(
            f"{info.path} cannot be restored into this {store.backend} store: {problem}; "
            "nothing was changed."
        )
    try:
        await store.ensure_readable()
    except StoreMissingError:
        if info.layout != store.layout:
            raise LayoutError(
                f"{info.path} holds records of the {info.layout} layout and "
                f"{store.url.masked()} has no tables yet; give --layout {info.layout} to create "
                "them; nothing was changed."
            ) from None
        # Like pg_restore: a store without tables gets the layout first (an existing store
        # in another layout is refused by ensure_readable/setup, before anything is written).
        await store.setup()
        summary.created_layout = True
        await store.ensure_readable()
    if info.layout != store.layout:
        raise LayoutError(
            f"{info.path} holds records of the {info.layout} layout and {store.url.masked()} "
            f"is in the {store.layout} layout; give --layout {info.layout}; nothing was "
            "changed."
        )
    try:
        await store.restore_records(info, summary, mode=mode, keep_ttl=keep_ttl, progress=progress)
    except (KeyboardInterrupt, Interrupted, asyncio.CancelledError):
        raise restore_interrupted(store, summary) from None
    if not store.item_ttl:
        summary.ttl = ""
    return summary


def restore_interrupted(store: Store, summary: RestoreSummary) -> Interrupted:
    """Ctrl-C in a restore: a store that loads in one transaction rolled it back; any other
    (DynamoDB) says what was written."""
    if store.restores_in_one_transaction:
        if summary.created_layout:
            return Interrupted(
                "the restore was one transaction and was rolled back: nothing was loaded; "
                "the tables it created stay, empty."
            )
        return Interrupted(
            "the restore was one transaction and was rolled back: the store is as it was."
        )
    made = " (the tables it created stay)" if summary.created_layout else ""
    done = []
    if summary.replaced_sessions or summary.replaced_events:
        done.append(
            f"deleted {summary.replaced_sessions:,} sessions and {summary.replaced_events:,} "
            "events (replace)"
        )
    done.append(f"wrote {summary.counted()}")
    return Interrupted(
        f"the restore had {' and '.join(done)} of {summary.path}; they stay, the rest of the "
        f"file was not loaded{made}."
    )
