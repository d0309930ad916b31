"""turul's ``tasks`` table on SQL stores: what SQLite and PostgreSQL share.

Lists are keyset pages in the server's order, ``(created_at, task_id)`` ascending, served by
``idx_tasks_list`` (``idx_tasks_session`` with ``--session``). Times are RFC 3339 text in any
of its forms, so whatever compares times (expiry, stuck tasks, ages) parses them here rather
than trusting the text order; a row the server could not have written is reported and left
alone.

Every change is conditional on what was read: the row's status and ``last_updated_at``, and
on PostgreSQL its ``version`` (which the change increments, as the server's writes do). A task
the server moved on after it was read is left alone and counted (``skipped_changed``).
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from mcpstore_cli.layouts.turul_tasks import records
from mcpstore_cli.model.ids import COUNT_CAP, IdMatches
from mcpstore_cli.model.records import AGE_BUCKETS, CorruptRow
from mcpstore_cli.model.tasks import (
    CANCELLED_MESSAGE,
    LIVE,
    RECOVERED_MESSAGE,
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
from mcpstore_cli.util.rfc3339 import BadTimestamp, format_chrono, parse_ns

if TYPE_CHECKING:
    from mcpstore_cli.model.ids import Note

PAGE = 1000  # rows a streamed list reads at a time
_MS = 1_000_000


def _unchanged(task: Task) -> tuple[str, str, str, int | None]:
    return (task.task_id, task.status, task.last_updated_at, task.revision)


class SqlTaskStore(TaskStore):
    """The shared logic; a backend supplies the connection hooks below."""

    versioned: ClassVar[bool] = False  # PostgreSQL: the row version

    # -- hooks ------------------------------------------------------------------------------
    @abc.abstractmethod
    async def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read (``?`` placeholders), as dicts."""

    @abc.abstractmethod
    async def _delete_unchanged(self, rows: Sequence[tuple[str, str, str, int | None]]) -> int:
        """Delete the tasks still as read, in one transaction; how many were deleted."""

    @abc.abstractmethod
    async def _update_unchanged(
        self,
        rows: Sequence[tuple[str, str, str, int | None]],
        *,
        status: str,
        message: str,
        now_text: str,
    ) -> list[str]:
        """Set status, message and last update on the tasks still as read (version + 1 where
        versioned), in one transaction; the ids changed."""

    def _ms(self, column: str) -> str | None:
        """SQL for a time column as Unix ms (NULL where it is not a time), or None when the
        backend cannot say it in SQL."""
        return None

    def stats_statements(self, now_ns: int, stuck_after_ms: int) -> list[tuple[str, list[Any]]]:
        """The statements of ``task_stats`` (``?`` placeholders and their values): counts by
        status and by method, one aggregate of the time figures, the oldest live task. Empty
        when the backend cannot read the times in SQL."""
        created, updated = self._ms("created_at"), self._ms("last_updated_at")
        if created is None or updated is None:
            return []
        now_ms = now_ns // _MS
        # Each row's times are read once, in the inner query (LIMIT keeps SQLite from folding
        # it into the outer one, which would read them again for every figure).
        bucket = ["CASE WHEN cr IS NULL THEN NULL"]
        args_inner: list[Any] = []
        for i, (_label, high) in enumerate(AGE_BUCKETS):
            if high is None:
                bucket.append(f"ELSE {i}")
            else:
                bucket.append(f"WHEN ? - cr < ? THEN {i}")
                args_inner += [now_ms, high]
        bucket.append("END")
        parts = [
            "count(*) AS n",
            "sum(CASE WHEN cr IS NULL OR up IS NULL THEN 1 ELSE 0 END) AS bad",
            "sum(CASE WHEN status IN ('working', 'input_required') AND up < ? THEN 1 ELSE 0 END)"
            " AS stuck",
            "sum(CASE WHEN ttl IS NOT NULL AND cr + ttl < ? THEN 1 ELSE 0 END) AS past",
            "min(cr) AS oldest",
            "max(cr) AS newest",
            *(
                f"sum(CASE WHEN bucket = {i} THEN 1 ELSE 0 END) AS b{i}"
                for i in range(len(AGE_BUCKETS))
            ),
        ]
        inner = (
            f"SELECT status, ttl, cr, up, {' '.join(bucket)} AS bucket FROM (SELECT status, "
            f"ttl, {created} AS cr, {updated} AS up FROM tasks{self._no_fold()}) AS r"
        )
        aggregate = f"SELECT {', '.join(parts)} FROM ({inner}) AS t"
        return [
            ("SELECT status, count(*) AS n FROM tasks GROUP BY status", []),
            (
                "SELECT original_method, count(*) AS n FROM tasks GROUP BY original_method "
                "ORDER BY count(*) DESC, original_method",
                [],
            ),
            (aggregate, [now_ms - stuck_after_ms, now_ms, *args_inner]),
            (
                "SELECT task_id FROM tasks WHERE status IN ('working', 'input_required') "
                "ORDER BY created_at, task_id LIMIT 1",
                [],
            ),
        ]

    def _no_fold(self) -> str:
        """What keeps the database from folding a subquery into its outer query."""
        return " LIMIT -1"

    async def _stats_in_sql(self, out: TaskStats, *, now_ns: int, stuck_after_ms: int) -> bool:
        """The time figures of ``task_stats`` in SQL (:meth:`stats_statements`); False: not
        possible here (the caller reads every row instead)."""
        statements = self.stats_statements(now_ns, stuck_after_ms)
        if not statements:
            return False
        sql, args = statements[2]
        try:
            row = (await self._fetch(sql, args))[0]
        except Exception as exc:
            if self._unreadable_time(exc):
                return False
            raise
        out.corrupt = int(row["bad"] or 0)
        out.stuck = int(row["stuck"] or 0)
        out.past_ttl = int(row["past"] or 0)
        if row["oldest"] is not None:
            out.oldest_created_ns = int(float(row["oldest"])) * _MS
            out.newest_created_ns = int(float(row["newest"])) * _MS
        out.age_histogram = [
            (label, int(row[f"b{i}"] or 0)) for i, (label, _) in enumerate(AGE_BUCKETS)
        ]
        oldest = await self._fetch(statements[3][0])
        if oldest:
            found = await self.get_task(str(oldest[0]["task_id"]))
            out.oldest_live = found if isinstance(found, Task) else None
        return True

    def _unreadable_time(self, exc: BaseException) -> bool:
        """Whether a failed statement failed on a time it could not read (then the caller
        judges row by row)."""
        return False

    async def _expire_in_sql(
        self, opts: TaskExpireOptions, progress: ProgressCallback | None
    ) -> TaskExpireResult | None:
        """The expiry as set-based statements, where the backend can judge ``created_at +
        ttl`` in SQL; None: read the candidates and judge them here."""
        return None

    def _columns(self) -> str:
        """The select list: every column, JSON as text."""
        cols = ", ".join(records.COLUMNS)
        return cols + (", version" if self.versioned else "")

    def _starts_with(self, column: str) -> str:
        """A predicate on ``column`` starting with the parameter."""
        return f"substr({column}, 1, length(?)) = ?"

    # -- decoding ---------------------------------------------------------------------------
    def _decode(self, row: dict[str, Any]) -> Task | CorruptRow:
        try:
            return records.task_from_row(row)
        except records.BadTask as exc:
            key = str(row.get("task_id"))
            created = row.get("created_at")
            cursor = TaskCursor(created, key) if isinstance(created, str) else None
            return CorruptRow("tasks", key, str(exc), cursor)

    # -- reading ----------------------------------------------------------------------------
    def _where(self, flt: TaskFilter, cursor: TaskCursor | None) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        if flt.session_id is not None:
            where.append("session_id = ?")
            args.append(flt.session_id)
        statuses = flt.statuses
        if flt.stuck_for_ms is not None:
            statuses = tuple(s for s in (statuses or LIVE) if s in LIVE) or ("-",)
        if statuses:
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            args += list(statuses)
        if flt.method is not None:
            where.append("original_method = ?")
            args.append(flt.method)
        if cursor is not None:
            where.append("(created_at, task_id) > (?, ?)")
            args += [cursor.created_at, cursor.task_id]
        return where, args

    @staticmethod
    def page_size(flt: TaskFilter, limit: int | None, given: int = 0) -> int:
        """Rows one list query reads: what the page still needs when SQL says the whole
        filter, twice that when rows are judged here too (``--stuck-for``'s time)."""
        if limit is None:
            return PAGE
        wanted = max(limit - given, 1)
        return min(PAGE, wanted * 2 if flt.stuck_for_ms is not None else wanted)

    async def iter_tasks(
        self, flt: TaskFilter, *, limit: int | None, cursor: TaskCursor | None = None
    ) -> AsyncIterator[Task | CorruptRow]:
        await self.ensure_readable()
        given = 0
        position = cursor
        while True:
            where, args = self._where(flt, position)
            sql = f"SELECT {self._columns()} FROM tasks"
            if where:
                sql += " WHERE " + " AND ".join(where)
            page = self.page_size(flt, limit, given)
            sql += f" ORDER BY created_at, task_id LIMIT {page}"
            rows = await self._fetch(sql, args)
            for row in rows:
                item = self._decode(row)
                position = TaskCursor(str(row["created_at"]), str(row["task_id"]))
                if isinstance(item, Task) and not flt.matches(item):
                    continue
                yield item
                given += 1
                if limit is not None and given >= limit:
                    return
            if len(rows) < page:
                return

    async def get_task(self, task_id: str) -> Task | CorruptRow | None:
        await self.ensure_readable()
        rows = await self._fetch(
            f"SELECT {self._columns()} FROM tasks WHERE task_id = ?", [task_id]
        )
        return self._decode(rows[0]) if rows else None

    async def existing_task_ids(self, ids: Sequence[str]) -> list[str]:
        if not ids:
            return []
        await self.ensure_readable()
        marks = ", ".join("?" for _ in ids)
        rows = await self._fetch(f"SELECT task_id FROM tasks WHERE task_id IN ({marks})", list(ids))
        return [str(r["task_id"]) for r in rows]

    async def match_task_ids(
        self, prefixes: Sequence[str], *, limit: int, note: Note | None = None
    ) -> IdMatches:
        await self.ensure_readable()
        found = IdMatches()
        ids: set[str] = set()
        for prefix in prefixes:
            cond = self._starts_with("task_id")
            rows = await self._fetch(
                f"SELECT task_id FROM tasks WHERE {cond} ORDER BY task_id LIMIT {limit}",
                [prefix, prefix],
            )
            ids.update(str(r["task_id"]) for r in rows)
            count = await self._fetch(
                f"SELECT count(*) AS n FROM (SELECT 1 FROM tasks WHERE {cond} "
                f"LIMIT {COUNT_CAP + 1}) AS m",
                [prefix, prefix],
            )
            n = int(count[0]["n"])
            found.total += min(n, COUNT_CAP)
            found.capped = found.capped or n > COUNT_CAP
        found.ids = sorted(ids)[:limit]
        return found

    async def task_stats(self, *, now_ns: int, stuck_after_ms: int) -> TaskStats:
        await self.ensure_readable()
        out = TaskStats(
            store=self.url.masked(),
            layout=self.layout,
            now_ns=now_ns,
            stuck_after_ms=stuck_after_ms,
        )
        for row in await self._fetch("SELECT status, count(*) AS n FROM tasks GROUP BY status"):
            out.by_status[str(row["status"])] = int(row["n"])
            out.tasks += int(row["n"])
        for row in await self._fetch(
            "SELECT original_method, count(*) AS n FROM tasks GROUP BY original_method "
            "ORDER BY count(*) DESC, original_method"
        ):
            out.by_method[str(row["original_method"])] = int(row["n"])
        if await self._stats_in_sql(out, now_ns=now_ns, stuck_after_ms=stuck_after_ms):
            return out
        buckets = dict.fromkeys((label for label, _ in AGE_BUCKETS), 0)
        stuck_before = now_ns - stuck_after_ms * _MS
        oldest_live: tuple[int, str] | None = None
        # Times are text in any RFC 3339 form: parsed here, a page at a time.
        position: TaskCursor | None = None
        while True:
            where, args = self._where(TaskFilter(now_ns=now_ns), position)
            sql = "SELECT task_id, status, created_at, last_updated_at, ttl FROM tasks"
            if where:
                sql += " WHERE " + " AND ".join(where)
            rows = await self._fetch(sql + f" ORDER BY created_at, task_id LIMIT {PAGE * 5}", args)
            for row in rows:
                position = TaskCursor(str(row["created_at"]), str(row["task_id"]))
                try:
                    created = parse_ns(row["created_at"])
                    updated = parse_ns(row["last_updated_at"])
                except BadTimestamp:
                    out.corrupt += 1
                    continue
                ttl = row["ttl"]
                if isinstance(ttl, int) and ttl >= 0 and created + ttl * _MS < now_ns:
                    out.past_ttl += 1
                if row["status"] in LIVE:
                    if updated < stuck_before:
                        out.stuck += 1
                    if oldest_live is None or (created, row["task_id"]) < oldest_live:
                        oldest_live = (created, str(row["task_id"]))
                out.oldest_created_ns = min(out.oldest_created_ns or created, created)
                out.newest_created_ns = max(out.newest_created_ns or created, created)
                age_ms = (now_ns - created) // _MS
                for label, bound in AGE_BUCKETS:
                    if bound is None or age_ms < bound:
                        buckets[label] += 1
                        break
            if len(rows) < PAGE * 5:
                break
        out.age_histogram = list(buckets.items())
        if oldest_live is not None:
            found = await self.get_task(oldest_live[1])
            out.oldest_live = found if isinstance(found, Task) else None
        return out

    # -- the server's maintenance -----------------------------------------------------------
    async def _candidates(
        self, where: str, args: Sequence[Any], position: TaskCursor | None, size: int
    ) -> list[dict[str, Any]]:
        conds = [where]
        params = list(args)
        if position is not None:
            conds.append("(created_at, task_id) > (?, ?)")
            params += [position.created_at, position.task_id]
        sql = (
            f"SELECT {self._columns()} FROM tasks WHERE {' AND '.join(conds)} "
            f"ORDER BY created_at, task_id LIMIT {size}"
        )
        return await self._fetch(sql, params)

    async def expire_tasks(
        self, opts: TaskExpireOptions, progress: ProgressCallback | None = None
    ) -> TaskExpireResult:
        """Delete tasks with a ttl whose ``created_at + ttl`` has passed (the server's rule;
        tasks without a ttl never expire)."""
        await self.ensure_readable()
        fast = await self._expire_in_sql(opts, progress)
        if fast is not None:
            return fast
        return await self._expire_rowwise(opts, progress)

    async def _expire_rowwise(
        self,
        opts: TaskExpireOptions,
        progress: ProgressCallback | None = None,
        *,
        condition: str = "ttl IS NOT NULL",
    ) -> TaskExpireResult:
        """The expiry judged here, row by row: reads the tasks with a ttl in list order and
        deletes the due ones that are still as read (unreadable rows are counted, left)."""
        started = time.monotonic()
        result = TaskExpireResult(dry_run=opts.dry_run)
        position: TaskCursor | None = None
        while True:
            if opts.time_budget_s is not None and time.monotonic() - started >= opts.time_budget_s:
                result.partial = True
                break
            rows = await self._candidates(condition, [], position, opts.batch_size)
            if not rows:
                break
            position = TaskCursor(str(rows[-1]["created_at"]), str(rows[-1]["task_id"]))
            due: list[Task] = []
            for row in rows:
                result.examined += 1
                item = self._decode(row)
                if isinstance(item, CorruptRow):
                    result.corrupt += 1
                elif item.past_ttl(opts.now_ns):
                    due.append(item)
            for task in due[: max(opts.sample - len(result.sample), 0)]:
                result.sample.append(task.task_id)
            if opts.dry_run:
                result.deleted += len(due)
            elif due:
                deleted = await self._delete_unchanged([_unchanged(t) for t in due])
                result.deleted += deleted
                result.skipped_changed += len(due) - deleted
            if progress is not None:
                progress(len(rows))
            await self._pace(opts.rate, result.deleted, started)
            if len(rows) < opts.batch_size:
                break
        result.elapsed_s = time.monotonic() - started
        return result

    @staticmethod
    async def _pace(rate: float | None, done: int, started: float) -> None:
        if rate:
            ahead = done / rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)

    async def recover_tasks(
        self,
        *,
        stuck_for_ms: int,
        now_ns: int,
        dry_run: bool = False,
        batch_size: int = 500,
        progress: ProgressCallback | None = None,
    ) -> RecoverResult:
        await self.ensure_readable()
        started = time.monotonic()
        result = RecoverResult(dry_run=dry_run)
        before = now_ns - stuck_for_ms * _MS
        now_text = format_chrono(now_ns)
        position: TaskCursor | None = None
        while True:
            rows = await self._candidates(
                "status IN ('working', 'input_required')", [], position, batch_size
            )
            if not rows:
                break
            position = TaskCursor(str(rows[-1]["created_at"]), str(rows[-1]["task_id"]))
            stuck = []
            for row in rows:
                result.examined += 1
                item = self._decode(row)
                if isinstance(item, Task) and item.live and item.updated_ns < before:
                    stuck.append(item)
            for task in stuck[: max(10 - len(result.sample), 0)]:
                result.sample.append(task.task_id)
            if dry_run:
                result.recovered += len(stuck)
            elif stuck:
                changed = await self._update_unchanged(
                    [_unchanged(t) for t in stuck],
                    status="failed",
                    message=RECOVERED_MESSAGE,
                    now_text=now_text,
                )
                result.recovered += len(changed)
                result.skipped_changed += len(stuck) - len(changed)
            if progress is not None:
                progress(len(rows))
            if len(rows) < batch_size:
                break
        result.elapsed_s = time.monotonic() - started
        return result

    async def cancel_task(
        self, task_id: str, *, now_ns: int, any_owner: bool = False
    ) -> TaskChange:
        found = await self.get_task(task_id)
        if found is None:
            return TaskChange(task_id, False, reason="not found")
        if isinstance(found, CorruptRow):
            return TaskChange(task_id, False, reason=f"cannot be read: {found.problem}")
        if not found.live:
            return TaskChange(task_id, False, found.status, reason=f"already {found.status}")
        changed = await self._update_unchanged(
            [_unchanged(found)],
            status="cancelled",
            message=CANCELLED_MESSAGE,
            now_text=format_chrono(now_ns),
        )
        if not changed:
            return TaskChange(
                task_id, False, found.status, reason="changed by the server while cancelling"
            )
        return TaskChange(task_id, True, "cancelled")

    # -- demo -------------------------------------------------------------------------------
    @staticmethod
    def demo_row(task: Task) -> tuple[Any, ...]:
        row = records.task_to_row(task)
        return tuple(row[c] for c in records.COLUMNS)
