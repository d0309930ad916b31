"""turul's 2026 ext-tasks table on DynamoDB (layout ``ext-tasks``, more-layouts.md §2).

The operator names the table (``dynamodb://TABLE?...``): key ``taskId`` only, no index,
PAY_PER_REQUEST, time to live on ``ttlEpoch``. An item holds the task's JSON document in
``state``, its status copied out in ``status``, an optimistic revision ``rev`` and, only where
a retention policy set one, ``ttlEpoch``. An item whose ttlEpoch has passed counts as gone.

Reading: there is no index, so listing scans, collects and sorts in memory by the document's
``(fields.createdAt, taskId)``, as the SQL stores order (:mod:`mcpstore_cli.backends.sql.
ext_tasks`); the retention rules are the same pure functions (:mod:`mcpstore_cli.layouts.
turul_ext_tasks.records`).

Changing: every write is a PutItem (a sweep's delete a DeleteItem) conditional on the revision
read, as the server's own writes are (``attribute_not_exists(#r) OR #r = :expected``, setting
rev + 1), and on the item still being there (so that a task deleted meanwhile is never written
back). A condition that fails means the server moved the task on: it is left alone and counted
(``skipped_changed``).
"""

from __future__ import annotations

import asyncio
import heapq
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar, cast

from mcpstore_cli.backends.dynamodb.common import _n, _s
from mcpstore_cli.backends.dynamodb.tablestore import (
    WRITE_WORKERS,
    DynamoDBTableStore,
    record_line,
    refuse_session_filters,
    scanned_tasks_summary,
)
from mcpstore_cli.errors import Interrupted, UsageError
from mcpstore_cli.layouts.turul_ext_tasks import dynamodb as ext_layout
from mcpstore_cli.layouts.turul_ext_tasks import records
from mcpstore_cli.model.records import AGE_BUCKETS, CorruptRow, Finding
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

if TYPE_CHECKING:
    from mcpstore_cli.backends.dynamodb.common import TableInfo
    from mcpstore_cli.model.ids import IdMatches, Note

NS = 1_000_000_000
MS = 1_000_000
KEY = "taskId"
STATE = "state"
STATUS = "status"
REV = ext_layout.REV
TTL_EPOCH = ext_layout.TTL_EPOCH
# The 2025 tasks layout's indexes: a taskId-keyed table that has them is a tasks table.
TASKS_INDEXES = ("SessionIndex", "StatusIndex")
# The server's condition on every write, and the item still there.
REV_CONDITION = "attribute_exists(#k) AND (attribute_not_exists(#r) OR #r = :expected)"


class DynamoDBExtTaskStore(DynamoDBTableStore, TaskStore):
    """turul's ext-tasks documents in a DynamoDB table."""

    layout: ClassVar[str] = "ext-tasks"
    retention_options: ClassVar[frozenset[str]] = frozenset(
        {"--orphan-after", "--honour-ttl", "--delete-terminal-after"}
    )
    has_owners: ClassVar[bool] = True
    DECLARED = ext_layout.EXT_TASKS
    RECORDS: ClassVar[str] = "tasks"

    # -- the table --------------------------------------------------------------------------
    def _foreign(self, info: TableInfo) -> str | None:
        names = [g["IndexName"] for g in (info.description or {}).get("GlobalSecondaryIndexes", [])]
        theirs = [n for n in names if n in TASKS_INDEXES]
        if theirs:
            return (
                f"it has the 2025 tasks layout's index {theirs[0]} (a tasks table: give "
                "--layout tasks)"
            )
        return None

    def _check_sync(self) -> list[Finding]:
        findings = super()._check_sync()
        info = self._discover()
        foreign = self._foreign(info)
        if foreign:
            findings.insert(0, Finding(f"table {self.table}", foreign.removeprefix("it ")))
        return findings

    # -- decoding ---------------------------------------------------------------------------
    @staticmethod
    def _gone(raw: dict[str, Any], now_s: int) -> bool:
        epoch = _n(raw.get(TTL_EPOCH))
        return epoch is not None and epoch <= now_s

    @staticmethod
    def _created_text(raw: dict[str, Any]) -> str:
        """fields.createdAt of a document that may not be readable ("" when none)."""
        try:
            doc = records.parse_document(_s(raw.get(STATE)) or "")
        except records.BadDocument:
            return ""
        fields = doc.get("fields")
        created = fields.get("createdAt") if isinstance(fields, dict) else None
        return created if isinstance(created, str) else ""

    def _decode(self, raw: dict[str, Any]) -> Task:
        key = _s(raw.get(KEY))
        text = _s(raw.get(STATE))
        if text is None:
            raise records.BadDocument("state is missing or not a string")
        status = raw.get(STATUS)
        if status is not None and _s(status) is None:
            raise records.BadDocument("status is not a string")
        doc = records.parse_document(text)
        task = records.task_from_document(doc, task_id=key, status=_s(status))
        rev = raw.get(REV)
        if rev is not None:
            task.revision = _n(rev)
            if task.revision is None:
                raise records.BadDocument("rev is not a number")
        epoch = _n(raw.get(TTL_EPOCH))
        if epoch is not None:
            task.extras[TTL_EPOCH] = epoch
        return task

    def _read(self, raw: dict[str, Any]) -> Task | CorruptRow:
        try:
            return self._decode(raw)
        except records.BadDocument as exc:
            key = _s(raw.get(KEY)) or "?"
            return CorruptRow(self.table, key, str(exc), TaskCursor(self._created_text(raw), key))

    @staticmethod
    def _place(item: Task | CorruptRow) -> tuple[str, str]:
        if isinstance(item, Task):
            return item.created_at, item.task_id
        cursor = item.cursor
        if isinstance(cursor, TaskCursor):
            return cursor.created_at, cursor.task_id
        return "", item.key

    def _live_filter(self, statuses: Sequence[str], now_s: int) -> dict[str, Any]:
        """Scan parameters: items not past their ttlEpoch (of ``statuses``)."""
        clauses = ["(attribute_not_exists(#te) OR #te > :now_s)"]
        names = {"#te": TTL_EPOCH}
        values: dict[str, Any] = {":now_s": {"N": str(now_s)}}
        if statuses:
            keys = [f":st{i}" for i in range(len(statuses))]
            clauses.append(f"#st IN ({', '.join(keys)})")
            names["#st"] = STATUS
            values.update({k: {"S": s} for k, s in zip(keys, statuses, strict=True)})
        return {
            "FilterExpression": " AND ".join(clauses),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    # -- reading ----------------------------------------------------------------------------
    def _refuse_filters(self, flt: TaskFilter) -> None:
        for value, option in ((flt.session_id, "--session"), (flt.method, "--method")):
            if value is not None:
                raise UsageError(
                    f"{option} does not apply to ext-tasks: the 2026-07-28 lane keeps no "
                    "session or method with a task."
                )

    def _list_sync(
        self, flt: TaskFilter, limit: int | None, cursor: TaskCursor | None
    ) -> list[Task | CorruptRow]:
        statuses = flt.statuses
        if flt.stuck_for_ms is not None:
            statuses = tuple(s for s in (statuses or LIVE) if s in LIVE) or ("-",)
        now_s = time.time_ns() // NS
        after = None if cursor is None else (cursor.created_at, cursor.task_id)
        rows: list[tuple[tuple[str, str], Task | CorruptRow]] = []
        for page in self._scan(self._live_filter(statuses, now_s)):
            for raw in page:
                item = self._read(raw)
                place = self._place(item)
                if after is not None and place <= after:
                    continue
                if isinstance(item, Task) and not flt.matches(item):
                    continue
                rows.append((place, item))
            if limit is not None and len(rows) > 4 * max(limit, 256):
                rows = heapq.nsmallest(limit, rows, key=lambda r: r[0])
        rows.sort(key=lambda r: r[0])
        found = [item for _place, item in rows]
        return found if limit is None else found[:limit]

    async def iter_tasks(
        self, flt: TaskFilter, *, limit: int | None, cursor: TaskCursor | None = None
    ) -> AsyncIterator[Task | CorruptRow]:
        """Tasks in ``(createdAt, taskId)`` order strictly after ``cursor``: a Scan of the
        table (there is no index), its matching items collected and sorted in memory."""
        self._refuse_filters(flt)
        await self.ensure_readable()
        if limit is not None and limit <= 0:
            return
        for item in await asyncio.to_thread(self._list_sync, flt, limit, cursor):
            yield item

    def _get_sync(self, task_id: str) -> Task | CorruptRow | None:
        raw = self._get({KEY: {"S": task_id}})
        if raw is None or self._gone(raw, int(time.time())):
            return None
        return self._read(raw)

    async def get_task(self, task_id: str) -> Task | CorruptRow | None:
        await self.ensure_readable()
        return await asyncio.to_thread(self._get_sync, task_id)

    def _existing_sync(self, ids: Sequence[str]) -> list[str]:
        wanted = list(dict.fromkeys(ids))
        now_s = int(time.time())
        found = {
            _s(raw.get(KEY))
            for raw in self._batch_get([{KEY: {"S": t}} for t in wanted], [KEY, TTL_EPOCH])
            if not self._gone(raw, now_s)
        }
        return [t for t in wanted if t in found]

    async def existing_task_ids(self, ids: Sequence[str]) -> list[str]:
        if not ids:
            return []
        await self.ensure_readable()
        return await asyncio.to_thread(self._existing_sync, ids)

    def _match_sync(self, prefixes: Sequence[str], limit: int) -> IdMatches:
        from mcpstore_cli.model.ids import IdMatches

        starts = [f"begins_with(#k, :p{i})" for i in range(len(prefixes))]
        params = {
            "ProjectionExpression": "#k",
            "FilterExpression": f"({' OR '.join(starts)}) AND "
            "(attribute_not_exists(#te) OR #te > :now_s)",
            "ExpressionAttributeNames": {"#k": KEY, "#te": TTL_EPOCH},
            "ExpressionAttributeValues": {
                ":now_s": {"N": str(int(time.time()))},
                **{f":p{i}": {"S": p} for i, p in enumerate(prefixes)},
            },
        }
        smallest: list[str] = []
        total = 0
        for page in self._scan(params):
            for raw in page:
                task_id = _s(raw.get(KEY))
                if task_id is None:
                    continue
                total += 1
                smallest.append(task_id)
                if len(smallest) > 4 * max(limit, 1):
                    smallest = sorted(smallest)[:limit]
        return IdMatches(sorted(smallest)[:limit], total)

    async def match_task_ids(
        self, prefixes: Sequence[str], *, limit: int, note: Note | None = None
    ) -> IdMatches:
        await self.ensure_readable()
        return await asyncio.to_thread(self._match_sync, prefixes, limit)

    def _stats_sync(self, now_ns: int, stuck_after_ms: int) -> TaskStats:
        info = self._ensure_readable_sync()
        out = TaskStats(
            store=self.url.masked(),
            layout=self.layout,
            now_ns=now_ns,
            stuck_after_ms=stuck_after_ms,
        )
        now_s = now_ns // NS
        buckets = dict.fromkeys((label for label, _ in AGE_BUCKETS), 0)
        owners: dict[str, int] = {}
        by_status: dict[str, int] = {}
        awaiting_ttl = 0
        oldest_live: Task | None = None
        for page in self._scan():
            for raw in page:
                if self._gone(raw, now_s):
                    awaiting_ttl += 1
                    continue
                status = _s(raw.get(STATUS)) or "?"
                by_status[status] = by_status.get(status, 0) + 1
                out.tasks += 1
                item = self._read(raw)
                if isinstance(item, CorruptRow):
                    out.corrupt += 1
                    continue
                if item.live:
                    if item.updated_ns < now_ns - stuck_after_ms * MS:
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
                age_ms = (now_ns - created) // MS
                for label, bound in AGE_BUCKETS:
                    if bound is None or age_ms < bound:
                        buckets[label] += 1
                        break
        out.by_status = dict(sorted(by_status.items()))
        out.oldest_live = oldest_live
        out.age_histogram = list(buckets.items())
        out.backend_facts = self._facts(info)
        out.backend_facts["items_past_ttl_epoch"] = awaiting_ttl
        out.backend_facts["owners"] = dict(sorted(owners.items(), key=lambda kv: -kv[1])[:10])
        out.backend_facts["retention"] = "none unless the server or mcpstore tasks expire sweeps"
        return out

    async def task_stats(self, *, now_ns: int, stuck_after_ms: int) -> TaskStats:
        await self.ensure_readable()
        return await asyncio.to_thread(self._stats_sync, now_ns, stuck_after_ms)

    # -- conditional writes -----------------------------------------------------------------
    @staticmethod
    def _expected(raw: dict[str, Any]) -> int:
        """The revision read (an item without one: 0, as the server counts it)."""
        return _n(raw.get(REV)) or 0

    def _condition(self, raw: dict[str, Any]) -> dict[str, Any]:
        return {
            "ConditionExpression": REV_CONDITION,
            "ExpressionAttributeNames": {"#k": KEY, "#r": REV},
            "ExpressionAttributeValues": {":expected": {"N": str(self._expected(raw))}},
        }

    def _put_changed(self, raw: dict[str, Any], doc: dict[str, Any]) -> bool:
        """The item with its new document and status, rev + 1, where the item still has the
        revision read (False: the server wrote it meanwhile, or it went)."""
        item = dict(raw)
        item[STATE] = {"S": records.dump(doc)}
        item[STATUS] = {"S": str(doc["status"])}
        item[REV] = {"N": str(self._expected(raw) + 1)}
        return self._conditional("put_item", Item=item, **self._condition(raw))

    def _delete_unchanged(self, raw: dict[str, Any]) -> bool:
        return self._conditional("delete_item", Key={KEY: raw[KEY]}, **self._condition(raw))

    # -- the retention sweep ----------------------------------------------------------------
    def _sweep_sync(
        self,
        policy: records.Retention,
        now_ns: int,
        dry_run: bool,
        batch_size: int,
        time_budget_s: float | None,
        sample: int,
        tick: Callable[[int], None],
        stop: threading.Event,
        result: TaskExpireResult,
    ) -> TaskExpireResult:
        started = time.monotonic()
        statuses: list[str] = []
        if policy.delete_terminal_after_ms is not None:
            statuses += TERMINAL
        if policy.orphan_after_ms is not None or policy.honour_ttl:
            statuses += LIVE
        pending: list[tuple[dict[str, Any], dict[str, Any] | None]] = []

        def write(change: tuple[dict[str, Any], dict[str, Any] | None]) -> bool:
            raw, doc = change
            return self._delete_unchanged(raw) if doc is None else self._put_changed(raw, doc)

        def flush(pool: ThreadPoolExecutor) -> None:
            if not pending:
                return
            done = [True] * len(pending) if dry_run else list(pool.map(write, pending))
            for (_raw, doc), ok in zip(pending, done, strict=True):
                if not ok:
                    result.skipped_changed += 1
                elif doc is None:
                    result.deleted += 1
                else:
                    result.failed += 1
            pending.clear()

        pages = self._scan(self._live_filter(statuses, now_ns // NS))
        with ThreadPoolExecutor(WRITE_WORKERS, thread_name_prefix="mcpstore-ddb") as pool:
            try:
                for page in pages:
                    if stop.is_set():
                        raise Interrupted(self._sweep_note(result))
                    if time_budget_s is not None and time.monotonic() - started >= time_budget_s:
                        result.partial = True
                        break
                    for raw in page:
                        result.examined += 1
                        item = self._read(raw)
                        if isinstance(item, CorruptRow):
                            result.corrupt += 1
                            continue
                        action = records.sweep_action(item, now_ns, policy)
                        if action is None:
                            continue
                        assert item.document is not None
                        if len(result.sample) < sample:
                            result.sample.append(item.task_id)
                        if action == "delete":
                            pending.append((raw, None))
                        else:
                            pending.append(
                                (raw, records.failed_document(item.document, action, now_ns))
                            )
                        if len(pending) >= max(1, batch_size):
                            flush(pool)
                    flush(pool)
                    tick(len(page))
            finally:
                close = getattr(pages, "close", None)
                if close is not None:
                    close()
        result.elapsed_s = time.monotonic() - started
        return result

    @staticmethod
    def _sweep_note(result: TaskExpireResult) -> str:
        if not (result.deleted or result.failed):
            return "tasks expire had changed nothing yet; the store is unchanged."
        return (
            f"tasks expire had deleted {result.deleted:,} and failed {result.failed:,} tasks "
            "(DynamoDB writes item by item); the rest is untouched."
        )

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
        loop = asyncio.get_running_loop()

        def tick(n: int) -> None:
            if progress is not None and n:
                loop.call_soon_threadsafe(progress, n)

        partial = TaskExpireResult(dry_run=dry_run)
        result: TaskExpireResult = await self._in_thread(
            lambda stop: self._sweep_sync(
                policy, now_ns, dry_run, batch_size, time_budget_s, sample, tick, stop, partial
            ),
            lambda: self._sweep_note(partial),
        )
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

    def _cancel_sync(self, task_id: str, now_ns: int, any_owner: bool) -> TaskChange:
        raw = self._get({KEY: {"S": task_id}})
        if raw is None or self._gone(raw, now_ns // NS):
            return TaskChange(task_id, False, reason="not found")
        item = self._read(raw)
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
        if not self._put_changed(raw, records.cancelled_document(item.document, now_ns)):
            return TaskChange(task_id, False, item.status, reason="changed by the server meanwhile")
        return TaskChange(task_id, True, "cancelled")

    async def cancel_task(
        self, task_id: str, *, now_ns: int, any_owner: bool = False
    ) -> TaskChange:
        await self.ensure_readable()
        return await asyncio.to_thread(self._cancel_sync, task_id, now_ns, any_owner)

    # -- demo -------------------------------------------------------------------------------
    @staticmethod
    def item_of(doc: dict[str, Any], rev: int = 1, ttl_epoch: int | None = None) -> dict[str, Any]:
        """The item the server puts for a document."""
        item: dict[str, Any] = {
            KEY: {"S": str(doc["fields"]["taskId"])},
            STATE: {"S": records.dump(doc)},
            STATUS: {"S": str(doc["status"])},
            REV: {"N": str(rev)},
        }
        if ttl_epoch is not None:
            item[TTL_EPOCH] = {"N": str(ttl_epoch)}
        return item

    async def write_demo(
        self, batches: Any, progress: ProgressCallback | None = None
    ) -> tuple[int, int]:
        """The demo's documents as the server's first write puts them (rev 1, no ttlEpoch:
        the server's default has no retention policy), 25 to a BatchWriteItem call."""
        from mcpstore_cli.util.interrupt import finish

        await self.ensure_readable()
        written = 0

        def write(docs: Sequence[dict[str, Any]], pool: ThreadPoolExecutor) -> None:
            requests = [(self.table, self.item_of(doc)) for doc in docs]
            chunks = [requests[i : i + 25] for i in range(0, len(requests), 25)]
            for future in [pool.submit(self.ddb.batch_write, chunk) for chunk in chunks]:
                future.result()

        with ThreadPoolExecutor(WRITE_WORKERS, thread_name_prefix="mcpstore-ddb") as pool:
            try:
                async for docs, _events in batches:
                    _, stop = await finish(asyncio.to_thread(write, docs, pool))
                    written += len(docs)
                    if progress is not None:
                        progress(len(docs))
                    if stop:
                        raise asyncio.CancelledError
            except (KeyboardInterrupt, Interrupted, asyncio.CancelledError):
                raise Interrupted(
                    f"the demo had written {written:,} tasks; they stay in the store, the rest "
                    "was not written."
                ) from None
        return written, 0

    # -- the portable backup file -----------------------------------------------------------
    def _backup_sync(self, out: Any, progress: ProgressCallback | None) -> dict[str, Any]:
        skipped = gone = 0
        now_s = int(time.time())
        for page in self._scan():
            lines = []
            for raw in page:
                if self._gone(raw, now_s):
                    gone += 1
                    continue
                item = self._read(raw)
                if isinstance(item, CorruptRow):
                    skipped += 1
                    continue
                assert item.document is not None
                record = records.backup_record(
                    item.task_id,
                    item.status,
                    item.last_updated_at,
                    item.document,
                    item.revision,
                    cast("int | None", item.extras.get(TTL_EPOCH)),
                )
                lines.append(record_line(record))
            if lines:
                out.sessions_block(b"".join(lines))
            if progress is not None and page:
                progress(len(page))
        return scanned_tasks_summary(self.table, skipped, gone, TTL_EPOCH)

    async def backup_records(
        self, spec: Any, out: Any, header: dict[str, Any], progress: ProgressCallback | None = None
    ) -> dict[str, Any]:
        refuse_session_filters(spec, self.layout)
        await self.ensure_readable()
        header["layout"] = self.layout
        header["source"]["event_ids"] = "none"
        out.header(header)
        result: dict[str, Any] = await asyncio.to_thread(self._backup_sync, out, progress)
        return result

    def _restore_sync(
        self,
        info: Any,
        summary: Any,
        mode: str,
        progress: ProgressCallback | None,
        stop: threading.Event,
    ) -> None:
        import json

        from mcpstore_cli.util.backupfile import iter_record_blocks

        if mode == "replace":
            self._replace_first(summary, stop)

        def items() -> Any:
            for _kind, lines in iter_record_blocks(info.path):
                for line in lines:
                    record = json.loads(line)
                    _x, _task_id, _status, _updated, state, rev, ttl_epoch = record
                    yield self.item_of(state, rev if rev is not None else 1, ttl_epoch)

        written, skipped = self._restore_items(
            items(), merge=mode == "merge", progress=progress, stop=stop
        )
        summary.sessions += written
        summary.skipped_sessions += skipped

    async def restore_records(
        self,
        info: Any,
        summary: Any,
        *,
        mode: str,
        keep_ttl: bool = False,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Load a verified file: ``merge`` puts each task whose id is free (conditionally, so
        a task the server holds is never written over), ``replace`` deletes every item first.
        A record's rev and ttlEpoch are kept (rev 1 where the file has none)."""
        await self.ensure_readable()
        loop = asyncio.get_running_loop()

        def tick(n: int) -> None:
            if progress is not None:
                loop.call_soon_threadsafe(progress, n)

        await self._in_thread(
            lambda stop: self._restore_sync(info, summary, mode, tick, stop),
            lambda: f"the restore had written {summary.sessions:,} tasks; they stay.",
        )
