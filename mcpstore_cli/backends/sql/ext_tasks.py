"""turul's ``ext_tasks`` table on SQL stores: what SQLite and PostgreSQL share.

The server keeps one JSON document per task and never lists them; ``mcpstore tasks list``
orders by the document's ``createdAt`` text and the id, as the 2025 store lists. Every change
(the retention sweep's fail or delete, a cancel) is written only where the row still holds
the document that was read, in one transaction per batch: a task the server moved on
meanwhile is left alone and counted (``skipped_changed``).
"""

from __future__ import annotations

import abc
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from mcpstore_cli.errors import UsageError
from mcpstore_cli.layouts.turul_ext_tasks import records
from mcpstore_cli.model.ids import COUNT_CAP, IdMatches
from mcpstore_cli.model.records import AGE_BUCKETS, CorruptRow
from mcpstore_cli.model.tasks import (
    LIVE,
    TERMINAL,
    RecoverResult,
    Task,
    TaskChange,
    TaskCursor,
    TaskExpireOptions,
    TaskExpireResult,
    TaskFilter,
    TaskStats,
)
from mcpstore_cli.store.base import ProgressCallback
from mcpstore_cli.store.tasks import TaskStore
from mcpstore_cli.util.rfc3339 import format_millis_z

if TYPE_CHECKING:
    from mcpstore_cli.model.ids import Note

PAGE = 1000
_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class Change:
    """One conditional write: where ``task_id`` still holds ``old_state`` (as read), delete
    the row or set its columns and document."""

    task_id: str
    old_state: str
    delete: bool = False
    status: str = ""
    last_updated_at: str = ""
    state: str = ""


class SqlExtTaskStore(TaskStore):
    layout: ClassVar[str] = "ext-tasks"
    retention_options: ClassVar[frozenset[str]] = frozenset(
        {"--orphan-after", "--honour-ttl", "--delete-terminal-after"}
    )
    has_owners: ClassVar[bool] = True

    # -- hooks ------------------------------------------------------------------------------
    @abc.abstractmethod
    async def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read (``?`` placeholders) as dicts."""

    @abc.abstractmethod
    async def _apply(self, changes: Sequence[Change]) -> list[bool]:
        """Make the changes in one transaction; for each, whether the row still held the
        document read (and so was changed)."""

    @abc.abstractmethod
    def _created(self) -> str:
        """SQL for the document's ``fields.createdAt`` text."""

    def _state(self) -> str:
        return "state"

    # -- decoding ---------------------------------------------------------------------------
    def _decode(self, row: dict[str, Any]) -> Task | CorruptRow:
        key = str(row.get("task_id"))
        try:
            doc = records.parse_document(row["state"])
            return records.task_from_document(doc, task_id=key, status=row.get("status"))
        except records.BadDocument as exc:
            created = row.get("created")
            cursor = TaskCursor(created, key) if isinstance(created, str) else None
            return CorruptRow("ext_tasks", key, str(exc), cursor)

    def _select(self) -> str:
        return (
            f"SELECT task_id, status, {self._state()}, {self._created()} AS created FROM ext_tasks"
        )

    # -- reading ----------------------------------------------------------------------------
    def _refuse_filters(self, flt: TaskFilter) -> None:
        for value, option in ((flt.session_id, "--session"), (flt.method, "--method")):
            if value is not None:
                raise UsageError(
                    f"{option} does not apply to ext-tasks: the 2026-07-28 lane keeps no "
                    "session or method with a task."
                )

    async def iter_tasks(
        self, flt: TaskFilter, *, limit: int | None, cursor: TaskCursor | None = None
    ) -> AsyncIterator[Task | CorruptRow]:
        self._refuse_filters(flt)
        await self.ensure_readable()
        created = self._created()
        given = 0
        position = cursor
        statuses = flt.statuses
        if flt.stuck_for_ms is not None:
            statuses = tuple(s for s in (statuses or LIVE) if s in LIVE) or ("-",)
        while True:
            where: list[str] = []
            args: list[Any] = []
            if statuses:
                where.append(f"status IN ({', '.join('?' for _ in statuses)})")
                args += list(statuses)
            if position is not None:
                where.append(f"({created} > ? OR ({created} = ? AND task_id > ?))")
                args += [position.created_at, position.created_at, position.task_id]
            sql = self._select()
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += f" ORDER BY {created}, task_id LIMIT {PAGE}"
            rows = await self._fetch(sql, args)
            for row in rows:
                position = TaskCursor(str(row["created"]), str(row["task_id"]))
                item = self._decode(row)
                if isinstance(item, Task) and not flt.matches(item):
                    continue
                yield item
                given += 1
                if limit is not None and given >= limit:
                    return
            if len(rows) < PAGE:
                return

    async def get_task(self, task_id: str) -> Task | CorruptRow | None:
        await self.ensure_readable()
        rows = await self._fetch(self._select() + " WHERE task_id = ?", [task_id])
        return self._decode(rows[0]) if rows else None

    async def existing_task_ids(self, ids: Sequence[str]) -> list[str]:
        if not ids:
            return []
        await self.ensure_readable()
        marks = ", ".join("?" for _ in ids)
        rows = await self._fetch(f"SELECT task_id FROM ext_tasks WHERE task_id IN ({marks})", ids)
        return [str(r["task_id"]) for r in rows]

    async def match_task_ids(
        self, prefixes: Sequence[str], *, limit: int, note: Note | None = None
    ) -> IdMatches:
        await self.ensure_readable()
        found = IdMatches()
        ids: set[str] = set()
        for prefix in prefixes:
            cond = "substr(task_id, 1, ?) = ?"
            args = [len(prefix), prefix]
            rows = await self._fetch(
                f"SELECT task_id FROM ext_tasks WHERE {cond} ORDER BY task_id LIMIT {limit}", args
            )
            ids.update(str(r["task_id"]) for r in rows)
            count = await self._fetch(
                f"SELECT count(*) AS n FROM (SELECT 1 FROM ext_tasks WHERE {cond} "
                f"LIMIT {COUNT_CAP + 1}) AS m",
                args,
            )
            n = int(count[0]["n"])
            found.total += min(n, COUNT_CAP)
            found.capped = found.capped or n > COUNT_CAP
        found.ids = sorted(ids)[:limit]
        return found

    async def _pages(self, statuses: Sequence[str] = ()) -> AsyncIterator[list[dict[str, Any]]]:
        """Every row (of ``statuses``), a page at a time, by id."""
        after: str | None = None
        while True:
            where: list[str] = []
            args: list[Any] = []
            if statuses:
                where.append(f"status IN ({', '.join('?' for _ in statuses)})")
                args += list(statuses)
            if after is not None:
                where.append("task_id > ?")
                args.append(after)
            sql = self._select() + (" WHERE " + " AND ".join(where) if where else "")
            rows = await self._fetch(sql + f" ORDER BY task_id LIMIT {PAGE}", args)
            if rows:
                yield rows
                after = str(rows[-1]["task_id"])
            if len(rows) < PAGE:
                return

    async def task_stats(self, *, now_ns: int, stuck_after_ms: int) -> TaskStats:
        await self.ensure_readable()
        out = TaskStats(
            store=self.url.masked(),
            layout=self.layout,
            now_ns=now_ns,
            stuck_after_ms=stuck_after_ms,
        )
        for row in await self._fetch("SELECT status, count(*) AS n FROM ext_tasks GROUP BY status"):
            out.by_status[str(row["status"])] = int(row["n"])
            out.tasks += int(row["n"])
        buckets = dict.fromkeys((label for label, _ in AGE_BUCKETS), 0)
        owners: dict[str, int] = {}
        oldest_live: Task | None = None
        async for rows in self._pages():
            for row in rows:
                item = self._decode(row)
                if isinstance(item, CorruptRow):
                    out.corrupt += 1
                    continue
                if item.live:
                    if item.updated_ns < now_ns - stuck_after_ms * _MS:
                        out.stuck += 1
                    if item.past_ttl(now_ns):
                        out.past_ttl += 1
                    if oldest_live is None or (item.created_ns, item.task_id) < (
                        oldest_live.created_ns,
                        oldest_live.task_id,
                    ):
                        oldest_live = item
                owner = item.owner or "(none)"
                owners[owner] = owners.get(owner, 0) + 1
                created = item.created_ns
                out.oldest_created_ns = min(out.oldest_created_ns or created, created)
                out.newest_created_ns = max(out.newest_created_ns or created, created)
                age_ms = (now_ns - created) // _MS
                for label, bound in AGE_BUCKETS:
                    if bound is None or age_ms < bound:
                        buckets[label] += 1
                        break
        out.oldest_live = oldest_live
        out.age_histogram = list(buckets.items())
        out.backend_facts["owners"] = dict(sorted(owners.items(), key=lambda kv: -kv[1])[:10])
        out.backend_facts["retention"] = "none unless the server or mcpstore tasks expire sweeps"
        return out

    # -- the retention sweep ----------------------------------------------------------------
    async def _sweep(
        self,
        policy: records.Retention,
        *,
        now_ns: int,
        dry_run: bool,
        batch_size: int,
        time_budget_s: float | None,
        sample: int,
        progress: ProgressCallback | None,
    ) -> TaskExpireResult:
        await self.ensure_readable()
        started = time.monotonic()
        result = TaskExpireResult(dry_run=dry_run)
        statuses: list[str] = []
        if policy.delete_terminal_after_ms is not None:
            statuses += TERMINAL
        if policy.orphan_after_ms is not None or policy.honour_ttl:
            statuses += LIVE
        now_text = format_millis_z(now_ns)
        pending: list[tuple[Change, str]] = []

        async def flush() -> None:
            if not pending:
                return
            if not dry_run:
                done = await self._apply([c for c, _ in pending])
            else:
                done = [True] * len(pending)
            for (_change, kind), ok in zip(pending, done, strict=True):
                if not ok:
                    result.skipped_changed += 1
                elif kind == "delete":
                    result.deleted += 1
                else:
                    result.failed += 1
            pending.clear()

        async for rows in self._pages(statuses):
            if time_budget_s is not None and time.monotonic() - started >= time_budget_s:
                result.partial = True
                break
            for row in rows:
                result.examined += 1
                item = self._decode(row)
                if isinstance(item, CorruptRow):
                    result.corrupt += 1
                    continue
                action = records.sweep_action(item, now_ns, policy)
                if action is None:
                    continue
                assert item.document is not None
                old = row["state"] if isinstance(row["state"], str) else records.dump(row["state"])
                if len(result.sample) < sample:
                    result.sample.append(item.task_id)
                if action == "delete":
                    pending.append((Change(item.task_id, old, delete=True), "delete"))
                else:
                    new = records.failed_document(item.document, action, now_ns)
                    change = Change(item.task_id, old, False, "failed", now_text, records.dump(new))
                    pending.append((change, "fail"))
                if len(pending) >= batch_size:
                    await flush()
            await flush()
            if progress is not None:
                progress(len(rows))
        await flush()
        result.elapsed_s = time.monotonic() - started
        return result

    async def expire_tasks(
        self, opts: TaskExpireOptions, progress: ProgressCallback | None = None
    ) -> TaskExpireResult:
        policy = records.Retention(
            orphan_after_ms=opts.orphan_after_ms,
            delete_terminal_after_ms=opts.delete_terminal_after_ms,
            honour_ttl=opts.honour_ttl,
        )
        if not policy.any:
            raise UsageError(
                "The ext-tasks server keeps every task unless told otherwise; say what to expire: "
                "--orphan-after D, --honour-ttl and/or --delete-terminal-after D."
            )
        return await self._sweep(
            policy,
            now_ns=opts.now_ns,
            dry_run=opts.dry_run,
            batch_size=opts.batch_size,
            time_budget_s=opts.time_budget_s,
            sample=opts.sample,
            progress=progress,
        )

    async def recover_tasks(
        self,
        *,
        stuck_for_ms: int,
        now_ns: int,
        dry_run: bool = False,
        batch_size: int = 500,
        progress: ProgressCallback | None = None,
    ) -> RecoverResult:
        """ext-tasks' recovery is its orphan rule: live tasks without an update for
        ``stuck_for_ms`` fail as abandoned."""
        swept = await self._sweep(
            records.Retention(orphan_after_ms=stuck_for_ms),
            now_ns=now_ns,
            dry_run=dry_run,
            batch_size=batch_size,
            time_budget_s=None,
            sample=10,
            progress=progress,
        )
        return RecoverResult(
            examined=swept.examined,
            recovered=swept.failed,
            skipped_changed=swept.skipped_changed,
            sample=swept.sample,
            dry_run=dry_run,
            elapsed_s=swept.elapsed_s,
        )

    async def cancel_task(
        self, task_id: str, *, now_ns: int, any_owner: bool = False
    ) -> TaskChange:
        await self.ensure_readable()
        rows = await self._fetch(self._select() + " WHERE task_id = ?", [task_id])
        if not rows:
            return TaskChange(task_id, False, reason="not found")
        item = self._decode(rows[0])
        if isinstance(item, CorruptRow):
            return TaskChange(task_id, False, reason=f"cannot be read: {item.problem}")
        if item.owner is not None and not any_owner:
            return TaskChange(
                task_id,
                False,
                item.status,
                reason=f"it belongs to {item.owner!r}; give --any-owner to cancel it anyway",
            )
        if not item.live:
            return TaskChange(task_id, False, item.status, reason=f"already {item.status}")
        assert item.document is not None
        old = rows[0]["state"]
        new = records.cancelled_document(item.document, now_ns)
        done = await self._apply(
            [
                Change(
                    task_id,
                    old if isinstance(old, str) else records.dump(old),
                    False,
                    "cancelled",
                    format_millis_z(now_ns),
                    records.dump(new),
                )
            ]
        )
        if not done[0]:
            return TaskChange(task_id, False, item.status, reason="changed by the server meanwhile")
        return TaskChange(task_id, True, "cancelled")
