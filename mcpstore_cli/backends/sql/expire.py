"""``expire`` for the SQL backends, written once for SQLite and PostgreSQL.

Every batch is one short transaction: select up to ``batch_size`` expired sessions (locking
them on PostgreSQL; SQLite's write transactions hold the write lock from their start), count
their events, and delete the sessions with the cutoff checked again in the DELETE itself, so a
session the server touched after it was selected stays. Events go with their session through
the foreign key's ON DELETE CASCADE.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from mcpstore_cli.model.expire import expire_interrupted
from mcpstore_cli.model.records import ExpireOptions, ExpireResult
from mcpstore_cli.store.base import ProgressCallback
from mcpstore_cli.store.pacing import Pacer
from mcpstore_cli.util.interrupt import finish

if TYPE_CHECKING:
    from mcpstore_cli.backends.sql.base import SqlStore


def expired_clause(store: SqlStore, opts: ExpireOptions, *, idle: bool, ended: bool) -> Any:
    """The expiry predicate: idle sessions, and/or ended ones past the grace period."""
    s = store.sessions.c
    parts = []
    if idle:
        parts.append(s.last_activity < opts.idle_cutoff)
    if ended and opts.terminated:
        ended_at = sa.func.coalesce(store._terminated_at_expr(), s.last_activity)
        parts.append(sa.and_(store.terminated_clause(), ended_at < opts.terminated_cutoff))
    return sa.or_(*parts) if len(parts) > 1 else parts[0]


async def idle_batch(
    store: SqlStore, opts: ExpireOptions, limit: int, position: Any
) -> tuple[bool, int, int, int, Any]:
    """The shared idle batch: (more to do, sessions, events, skipped, position)."""
    selected, gone, events, skipped, position = await _session_batch(
        store, opts, limit, idle=True, ended=False, after=position
    )
    return selected >= limit, gone, events, skipped, position


async def _session_batch(
    store: SqlStore,
    opts: ExpireOptions,
    limit: int,
    *,
    idle: bool,
    ended: bool,
    after: int | None = None,
) -> tuple[int, int, int, int, int | None]:
    """One transaction: (selected, sessions deleted, events deleted, skipped, position).

    With a physical scan key (SQLite's rowid) idle sessions are taken in table order, one
    pass with ``after`` as the keyset position: each batch is then a contiguous slice of both
    tables, as a single DELETE's scan would be. Otherwise oldest activity first.
    """
    s, e = store.sessions.c, store.events.c
    where = expired_clause(store, opts, idle=idle, ended=ended)
    scan_key = store._physical_order() if idle else None
    if not idle:
        # Ended sessions that are not idle are recent: the index range keeps this cheap.
        where = sa.and_(s.last_activity >= opts.idle_cutoff, where)
    if scan_key is not None:
        if after is not None:
            where = sa.and_(scan_key > after, where)
        pick = sa.select(s.session_id, scan_key).where(where).order_by(scan_key).limit(limit)
    else:
        pick = (
            sa.select(s.session_id, sa.null())
            .where(where)
            .order_by(s.last_activity)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    async with store.connect(write=True) as conn:
        rows = (await conn.execute(pick)).all()
        if not rows:
            return 0, 0, 0, 0, after
        ids = [row[0] for row in rows]
        position = rows[-1][1]
        per_session: dict[str, int] = dict(
            (
                await conn.execute(
                    sa.select(e.session_id, sa.func.count())
                    .where(e.session_id.in_(ids))
                    .group_by(e.session_id)
                )
            ).all()
        )
        deleted = await conn.execute(
            sa.delete(store.sessions)
            .where(s.session_id.in_(ids), expired_clause(store, opts, idle=idle, ended=ended))
            .returning(s.session_id)
        )
        gone = [row[0] for row in deleted]
        events = sum(int(per_session.get(sid, 0)) for sid in gone)
        return len(ids), len(gone), events, len(ids) - len(gone), position


async def _trim_batch(store: SqlStore, keep: int, after: str, limit: int) -> tuple[int, str | None]:
    """Trim sessions (in id order after ``after``) to their newest ``keep`` events."""
    e = store.events.c
    over = (
        sa.select(e.session_id)
        .where(e.session_id > after)
        .group_by(e.session_id)
        .having(sa.func.count() > keep)
        .order_by(e.session_id)
        .limit(limit)
    )
    async with store.connect() as conn:
        ids = [row[0] for row in await conn.execute(over)]
    if not ids:
        return 0, None
    inner = store.events.alias("newer")
    boundary = (
        sa.select(inner.c.id)
        .where(inner.c.session_id == e.session_id)
        .order_by(inner.c.id.desc())
        .limit(1)
        .offset(keep)
        .scalar_subquery()
    )
    async with store.connect(write=True) as conn:
        result = await conn.execute(
            sa.delete(store.events).where(e.session_id.in_(ids), e.id <= boundary)
        )
    return int(result.rowcount or 0), ids[-1]


async def _orphan_batch(store: SqlStore, after: str, limit: int) -> tuple[int, str | None]:
    """Delete events whose session is gone, for the next ``limit`` orphaned session ids."""
    s, e = store.sessions.c, store.events.c
    missing = ~sa.exists().where(s.session_id == e.session_id)
    pick = (
        sa.select(e.session_id)
        .where(e.session_id > after, missing)
        .group_by(e.session_id)
        .order_by(e.session_id)
        .limit(limit)
    )
    async with store.connect() as conn:
        ids = [row[0] for row in await conn.execute(pick)]
    if not ids:
        return 0, None
    async with store.connect(write=True) as conn:
        result = await conn.execute(sa.delete(store.events).where(e.session_id.in_(ids), missing))
    return int(result.rowcount or 0), ids[-1]


async def preview(store: SqlStore, opts: ExpireOptions) -> ExpireResult:
    """--dry-run: what a run now would remove, and a sample of the sessions."""
    s, e = store.sessions.c, store.events.c
    result = ExpireResult(dry_run=True)
    both = expired_clause(store, opts, idle=True, ended=True)
    async with store.connect() as conn:
        doomed = sa.select(s.session_id).where(both).subquery()
        result.sessions = (
            await conn.execute(sa.select(sa.func.count()).select_from(doomed))
        ).scalar_one()
        result.events = (
            await conn.execute(
                sa.select(sa.func.count()).where(e.session_id.in_(sa.select(doomed.c.session_id)))
            )
        ).scalar_one()
        result.sample = [
            row[0]
            for row in await conn.execute(
                sa.select(s.session_id)
                .where(both)
                .order_by(s.last_activity)
                .limit(opts.sample_size)
            )
        ]
        if opts.orphans:
            result.orphans = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(store.events)
                    .where(~sa.exists().where(s.session_id == e.session_id))
                )
            ).scalar_one()
        if opts.max_events_per_session is not None:
            keep = opts.max_events_per_session
            counts = (
                sa.select(sa.func.count().label("n"))
                .where(~e.session_id.in_(sa.select(doomed.c.session_id)))
                .group_by(e.session_id)
                .having(sa.func.count() > keep)
                .subquery()
            )
            result.trimmed = int(
                (
                    await conn.execute(
                        sa.select(sa.func.coalesce(sa.func.sum(counts.c.n - keep), 0))
                    )
                ).scalar_one()
            )
    return result


async def expire(
    store: SqlStore, opts: ExpireOptions, progress: ProgressCallback | None = None
) -> ExpireResult:
    await store.ensure_readable()
    started = time.perf_counter()
    if opts.dry_run:
        # A preview changes nothing: it takes no lock (and leaves no lock file), so it
        # neither waits for a running expire nor keeps the cron job from running.
        result = await preview(store, opts)
        result.duration_s = time.perf_counter() - started
        return result
    async with store.expire_lock():
        result = ExpireResult()
        pacer = Pacer(opts)
        limit = pacer.batch_limit(opts.batch_size)
        batches = 0

        def tick(rows: int) -> None:
            if progress is not None:
                progress(rows)

        async def one(batch: Any) -> Any:
            # Each batch is one transaction: Ctrl-C lets the one under way finish, counts it
            # and stops, so the line it prints is exactly what was removed.
            nonlocal batches
            value, stop = await finish(batch)
            batches += 1
            return value, stop

        try:
            for idle in [True] + ([False] if opts.terminated else []):
                position: Any = None
                more = True
                while more and not pacer.out_of_time():
                    if idle:
                        (more, gone, events, skipped, position), stop = await one(
                            store.expire_idle_batch(opts, limit, position)
                        )
                    else:
                        (selected, gone, events, skipped, position), stop = await one(
                            _session_batch(
                                store, opts, limit, idle=False, ended=True, after=position
                            )
                        )
                        more = selected >= limit
                    result.sessions += gone
                    result.events += events
                    result.skipped += skipped
                    if stop:
                        raise expire_interrupted(result, batches)
                    tick(gone + events)
                    await pacer.done(gone + events)
            if opts.max_events_per_session is not None:
                after: str | None = ""
                while after is not None and not pacer.out_of_time():
                    (trimmed, after), stop = await one(
                        _trim_batch(store, opts.max_events_per_session, after, limit)
                    )
                    result.trimmed += trimmed
                    if stop:
                        raise expire_interrupted(result, batches)
                    tick(trimmed)
                    await pacer.done(trimmed)
            if opts.orphans:
                after = ""
                while after is not None and not pacer.out_of_time():
                    (orphans, after), stop = await one(_orphan_batch(store, after, limit))
                    result.orphans += orphans
                    if stop:
                        raise expire_interrupted(result, batches)
                    tick(orphans)
                    await pacer.done(orphans)
        except asyncio.CancelledError:
            # Ctrl-C between two batches (pacing, progress): nothing is under way.
            raise expire_interrupted(result, batches) from None
        if pacer.out_of_time():
            left = await preview(store, opts)
            result.remaining = {
                "sessions": left.sessions,
                "events": left.events,
                "orphans": left.orphans,
                "trimmed": left.trimmed,
            }
            result.partial = any(result.remaining.values())
        result.duration_s = time.perf_counter() - started
        return result
