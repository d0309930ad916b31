"""Clearing and tearing down a store, whatever its backend: the records a preview shows, the
steps teardown can take, and the one safe order it takes them in.

Backends provide the primitives (:meth:`Store.inventory`, :meth:`Store.clear`,
:meth:`Store.disable_streams`, :meth:`Store.drop`); :func:`run_teardown` runs the chosen ones
backup first, then streams, then data, then tables, and stops at the first failure so that
nothing destructive runs after a backup that did not complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from mcpstore_cli.errors import Interrupted, UsageError
from mcpstore_cli.model.teardown import (
    BACKUP,
    CLEAR,
    DELETE,
    DISABLE_STREAMS,
    STEP_ORDER,
    STEP_TITLES,
    StepResult,
    TeardownResult,
)

if TYPE_CHECKING:
    from mcpstore_cli.store.base import ProgressCallback, Store


def order_steps(chosen: Sequence[str]) -> list[str]:
    """The chosen steps in their safe order; clearing is dropped when the tables go anyway."""
    unknown = sorted(set(chosen) - set(STEP_ORDER))
    if unknown:
        raise UsageError(f"Unknown teardown step {unknown[0]!r}.")
    steps = [s for s in STEP_ORDER if s in chosen]
    if DELETE in steps and CLEAR in steps:
        steps.remove(CLEAR)
    return steps


async def run_backup(store: Store, path: str | None, *, force: bool = False) -> StepResult:
    """Teardown's "back up first": the backup library API (loaded only when chosen)."""
    started = time.monotonic()
    try:
        from mcpstore_cli.ops.backup import write_backup  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise UsageError(
            f"Backing up is not available in this installation ({exc}); nothing was changed. "
            "Leave out --backup, or back up with your own tools first."
        ) from None
    summary = await write_backup(store, path, force=force)
    seconds = time.monotonic() - started
    return StepResult(
        BACKUP,
        f"backed up {summary.counted()} to {summary.path} ({summary.bytes:,} bytes)",
        seconds,
        {
            "path": str(summary.path),
            "sessions": summary.sessions,
            "events": summary.events,
            "bytes": summary.bytes,
        },
    )


async def run_teardown(
    store: Store,
    steps: Sequence[str],
    *,
    backup_path: str | None = None,
    backup_force: bool = False,
    progress: ProgressCallback | None = None,
    on_step: Callable[[str], None] | None = None,
) -> TeardownResult:
    """Run ``steps`` (see :data:`STEP_ORDER`) on ``store`` in their safe order.

    An exception stops the run where it happened: everything before it is done, nothing
    after it has started (a failed backup leaves the store untouched). The backup replaces
    an existing file only with ``backup_force``, and never the store's own files.
    """
    import asyncio

    result = TeardownResult()
    try:
        return await _run_steps(store, steps, result, backup_path, backup_force, progress, on_step)
    except (KeyboardInterrupt, Interrupted, asyncio.CancelledError) as exc:
        raise teardown_interrupted(store, result, exc) from None


def teardown_interrupted(store: Store, result: TeardownResult, exc: BaseException) -> Interrupted:
    """Ctrl-C in teardown: the steps done stay done; the one under way says what it left."""
    done = "; ".join(s.done for s in result.steps) if result.steps else ""
    head = f"teardown finished these steps: {done}" if done else "teardown finished no step"
    step = result.current
    if step is None:
        return Interrupted(f"{head}; nothing more was changed.")
    inner = getattr(exc, "message", "")
    if step == BACKUP:
        now = inner or "the backup was not written"
    elif step == CLEAR and store.clears_in_one_transaction:
        now = "clearing data was one transaction and was rolled back"
    elif step == CLEAR:
        now = "clearing data was stopped part-way: some items are deleted, the rest stay"
    else:
        now = f"{STEP_TITLES[step]} was stopped part-way"
    return Interrupted(f"{head}; then {now.rstrip('.')}; no later step ran.")


async def _run_steps(
    store: Store,
    steps: Sequence[str],
    result: TeardownResult,
    backup_path: str | None,
    backup_force: bool,
    progress: ProgressCallback | None,
    on_step: Callable[[str], None] | None,
) -> TeardownResult:
    started = time.monotonic()
    for step in order_steps(steps):
        if on_step is not None:
            on_step(step)
        result.current = step
        t0 = time.monotonic()
        if step == BACKUP:
            result.steps.append(await run_backup(store, backup_path, force=backup_force))
            continue
        if step == DISABLE_STREAMS:
            changed = await store.disable_streams()
            text = (
                f"disabled the streams of {', '.join(changed)}"
                if changed
                else "no stream was enabled"
            )
            result.steps.append(StepResult(step, text, time.monotonic() - t0, {"tables": changed}))
        elif step == CLEAR:
            cleared = await store.clear(progress=progress)
            result.steps.append(
                StepResult(
                    step,
                    f"deleted {cleared.deleted_words()}",
                    time.monotonic() - t0,
                    {
                        **(
                            cleared.records
                            if cleared.records is not None
                            else {"sessions": cleared.sessions, "events": cleared.events}
                        ),
                        "exact": cleared.exact,
                    },
                )
            )
        elif step == DELETE:
            gone = await store.drop()
            result.steps.append(
                StepResult(
                    step, f"deleted {', '.join(gone)}", time.monotonic() - t0, {"deleted": gone}
                )
            )
    result.current = None
    result.seconds = time.monotonic() - started
    return result
