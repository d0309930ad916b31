"""turul's 2025 task table on DynamoDB (layout ``tasks``, more-layouts.md §1, "DynamoDB").

One table (default ``mcp-tasks``) keyed by ``taskId``, with the GSIs ``SessionIndex``
(sessionId, createdAt) and ``StatusIndex`` (status, createdAt), both projecting ALL, and time to
live on ``ttlEpoch``; older servers wrote snake_case names (``task_id``, ``ttl_epoch``), detected
from the key schema as for sessions. Times are RFC 3339 text, ``ttl`` the task's lifetime in
milliseconds from creation (not DynamoDB's time to live), JSON fields are strings.

Everything about talking to DynamoDB (the client and its credentials from the command's
environment, error translation, scans in parallel segments, waiting for a table, batch writes
with their retries) is borrowed from the sessions store, held as ``self.ddb`` without using its
tables. boto3 is imported only inside functions there.

Reading: an item whose ``ttlEpoch`` has passed counts as gone. Listing is in the server's order,
``(createdAt, taskId)`` ascending: with ``--status`` by one StatusIndex Query per status, the
streams merged; with ``--session`` by a SessionIndex Query; otherwise by a Scan, collected and
sorted in memory (DynamoDB has no index over the whole table in that order).

Changing: every write is conditional on what was read, so a task the server moved on meanwhile is
left alone and counted: expiry deletes on ``#status = :read AND #lu = :read``, recovery updates on
the same, cancelling on the old status (as the server's own status updates are). The writes of
expire and recover go 25 to a BatchExecuteStatement call as PartiQL statements, each a
single-item conditional write of its own reporting ConditionalCheckFailed on its own, the calls
concurrent on a pool of threads (about four times the pace of one DeleteItem after another on
DynamoDB Local). With ``--rate``, and on an endpoint without PartiQL, each task goes by its own
DeleteItem/UpdateItem with the same ConditionExpression, paced. A PartiQL DELETE of an item that
is already gone succeeds: a task something else deleted in the same instant is counted as
deleted by this run too. Recover writes as it reads: each 25 stuck tasks go to the pool as
soon as they are read, while the StatusIndex Queries (or the Scan) go on, with at most
``--batch-size`` tasks read and not yet written at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import re
import threading
import time
from collections import Counter, deque
from collections.abc import (
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar, cast

from mcpstore_cli.backends.dynamodb.common import BATCH_WRITE_MAX, TableInfo, _items, _n, _s
from mcpstore_cli.backends.dynamodb.store import DynamoDBStore
from mcpstore_cli.errors import (
    Interrupted,
    LayoutError,
    StoreConnectionError,
    StoreMissingError,
    not_supported,
)
from mcpstore_cli.layouts.dynamodecl import Index, Key, is_snake
from mcpstore_cli.layouts.turul_tasks import dynamodb as layout
from mcpstore_cli.layouts.turul_tasks.records import BadTask, task_from_row, task_to_row
from mcpstore_cli.model.records import AGE_BUCKETS, CorruptRow, Finding, SetupStep
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
from mcpstore_cli.store.base import ProgressCallback, StoreOptions
from mcpstore_cli.store.tasks import TaskStore
from mcpstore_cli.store.urls import StoreURL
from mcpstore_cli.util.rfc3339 import format_chrono

if TYPE_CHECKING:
    from mcpstore_cli.model.ids import IdMatches, Note
    from mcpstore_cli.model.records import Cursor
    from mcpstore_cli.model.teardown import ClearResult, Inventory

T = TypeVar("T")

NS = 1_000_000_000
MS = 1_000_000  # ns
BATCH_GET_MAX = 100
WRITE_WORKERS = 8  # concurrent conditional writes of expire and recover
MAX_WRITE_WORKERS = 32
RATE_PER_WORKER = 200  # with --rate: one writing thread per this many writes a second
CHUNK = 256  # listed records handed from the reading thread at a time
SCAN_NOTE_ITEMS = 100_000  # finding an id prefix says at once that it scans a table this big
SCAN_NOTE_SECONDS = 3.0
CONDITION_FAILED = "ConditionalCheckFailedException"
CANCEL_ATTEMPTS = 5  # a live task that keeps changing status under a cancel: give up after


class TaskNames:
    """Attribute names of one task table in its convention, by their snake_case names in
    :mod:`mcpstore_cli.layouts.turul_tasks.dynamodb`."""

    task_id: str
    session_id: str
    status: str
    status_message: str
    created_at: str
    last_updated_at: str
    ttl: str
    poll_interval: str
    original_method: str
    original_params: str
    result: str
    meta: str
    ttl_epoch: str

    def __init__(self, snake: bool) -> None:
        self.snake = snake
        self.by_logical = {
            logical: logical if snake else layout.camel(logical)
            for logical in layout.TASKS.attributes
        }
        for logical, name in self.by_logical.items():
            setattr(self, logical, name)

    @property
    def convention(self) -> str:
        return "snake_case" if self.snake else "camelCase"

    def of(self, logical: str) -> str:
        return self.by_logical[logical]


# -- requests ---------------------------------------------------------------------------------
def _key_schema(keys: Iterable[Key], names: TaskNames) -> list[dict[str, str]]:
    return [{"AttributeName": names.of(k.attribute), "KeyType": k.key_type} for k in keys]


def _definitions(keys: Iterable[Key], names: TaskNames) -> list[dict[str, str]]:
    used = dict.fromkeys(k.attribute for k in keys)
    return [
        {"AttributeName": names.of(a), "AttributeType": layout.TASKS.attributes[a]} for a in used
    ]


def _gsi(index: Index, names: TaskNames) -> dict[str, Any]:
    return {
        "IndexName": index.name,
        "KeySchema": _key_schema(index.keys, names),
        "Projection": {"ProjectionType": index.projection},
    }


_ALIAS = re.compile(r"[#:][A-Za-z0-9_]+")


def _request(**kw: Any) -> dict[str, Any]:
    """A request with only the expression names and values its expressions use (DynamoDB
    refuses unused ones) and no empty expressions."""
    used: set[str] = set()
    for field in (
        "KeyConditionExpression",
        "FilterExpression",
        "ProjectionExpression",
        "ConditionExpression",
        "UpdateExpression",
    ):
        if not kw.get(field):
            kw.pop(field, None)
            continue
        used.update(_ALIAS.findall(kw[field]))
    for field in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
        kept = {k: v for k, v in (kw.get(field) or {}).items() if k in used}
        if kept:
            kw[field] = kept
        else:
            kw.pop(field, None)
    return kw


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BadTask(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise BadTask(f"{text!r} is not a number")
    return int(value) if value == value.to_integral_value() else float(value)


def _close(iterator: Iterator[Any]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


def _check_stop(stop: threading.Event, note: str) -> None:
    """Interrupted when the run stopped for Ctrl-C (not for its time budget)."""
    from mcpstore_cli.util.interrupt import requested

    if stop.is_set() or requested.is_set():
        raise Interrupted(note)


def _corrupt(table: str, key: str, problem: str, place: TaskCursor | None) -> CorruptRow:
    # CorruptRow's cursor is declared for session cursors; a task store's is a TaskCursor.
    return CorruptRow(table, key, problem, cast("Cursor | None", place))


class _Gate:
    """Admits the writes of one run: paced to ``rate`` writes a second, none after the time
    budget or a stop (Ctrl-C)."""

    def __init__(self, rate: float | None, budget_s: float | None, stop: threading.Event) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.deadline = None if budget_s is None else time.monotonic() + budget_s
        self.stop = stop
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def halted(self) -> bool:
        from mcpstore_cli.util.interrupt import requested

        return self.stop.is_set() or requested.is_set() or self.out_of_time()

    def admit(self) -> bool:
        """Wait for the next write's turn; False when the run must stop instead."""
        if self.halted():
            return False
        if not self.interval:
            return True
        with self.lock:
            now = time.monotonic()
            slot = max(self.next, now)
            self.next = slot + self.interval
        if self.deadline is not None and slot >= self.deadline:
            return False
        while True:
            wait = slot - time.monotonic()
            if wait <= 0:
                return not self.stop.is_set()
            if self.stop.is_set():
                return False
            time.sleep(min(wait, 0.1))


class _Sample:
    """The ``size`` smallest (key, id) pairs seen, kept in a bounded heap."""

    def __init__(self, size: int) -> None:
        self.size = max(0, size)
        self.heap: list[tuple[int, str]] = []  # (-key, id): the largest key on top
        self.lock = threading.Lock()

    def add(self, key: int, task_id: str) -> None:
        if not self.size:
            return
        with self.lock:
            entry = (-key, task_id)
            if len(self.heap) < self.size:
                heapq.heappush(self.heap, entry)
            elif entry > self.heap[0]:
                heapq.heapreplace(self.heap, entry)

    def ids(self) -> list[str]:
        return [tid for _, tid in sorted(self.heap, reverse=True)]


class DynamoDBTaskStore(TaskStore):
    """turul's task table on DynamoDB."""

    backend = "dynamodb"
    title = "DynamoDB"
    layout = "tasks"
    row_word = "item"
    setup_options = frozenset({"tags", "pitr"})
    recreates_tables = True

    def __init__(self, url: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(url, options)
        self.ddb = DynamoDBStore(url, self.options)
        self.table = url.table or layout.DEFAULT_TABLE
        self._info: TableInfo | None = None
        self._names: TaskNames | None = None
        self._partiql = True  # until the endpoint says it cannot run PartiQL

    @property
    def client(self) -> Any:
        """The boto3 client every call of this store goes through."""
        return self.ddb.client

    @property
    def region(self) -> str:
        return self.ddb.region

    @property
    def endpoint(self) -> str | None:
        return self.ddb.endpoint

    async def close(self) -> None:
        await self.ddb.close()

    def label(self) -> str:
        return self.table

    def tables(self) -> list[str]:
        return [self.table]

    # -- the table ------------------------------------------------------------------------------
    def _discover(self) -> tuple[TableInfo, TaskNames]:
        desc = self.ddb._describe(self.table)
        info = TableInfo(self.table, desc)
        keys = [k["AttributeName"] for k in (desc or {}).get("KeySchema", [])]
        return info, TaskNames(is_snake(keys) if desc is not None else False)

    def _key_problems(self, info: TableInfo, names: TaskNames) -> list[str]:
        desc = info.description or {}
        keys = {k["KeyType"]: k["AttributeName"] for k in desc.get("KeySchema", [])}
        types = {
            a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])
        }
        problems = []
        want = {k.key_type: k.attribute for k in layout.TASKS.keys}
        for kind, logical in want.items():
            name, typ = names.of(logical), layout.TASKS.attributes[logical]
            have = keys.get(kind)
            if have is None:
                problems.append(f"has no {kind} key (expected {name})")
            elif have != name:
                problems.append(f"has {kind} key {have}, expected {name}")
            elif types.get(have) != typ:
                problems.append(f"key {have} is of type {types.get(have)}, expected {typ}")
        extra = sorted(set(keys) - set(want))
        if extra:
            problems.append(f"has a {'/'.join(extra)} key {keys[extra[0]]} the layout lacks")
        return problems

    def _ensure_readable_sync(self) -> tuple[TableInfo, TaskNames]:
        if self._info is not None and self._names is not None:
            return self._info, self._names
        info, names = self._discover()
        if not info.exists:
            raise StoreMissingError(
                f"DynamoDB table {self.table} does not exist {self.ddb._where()}; run mcpstore "
                f"setup --layout tasks --url {self.url.masked()}."
            )
        problems = self._key_problems(info, names) or self._foreign(info)
        if problems:
            raise LayoutError(
                f"DynamoDB table {self.table} is not in the tasks layout: it {problems[0]}; "
                "see mcpstore setup --check."
            )
        self._info, self._names = info, names
        return info, names

    @staticmethod
    def _foreign(info: TableInfo) -> list[str]:
        """A table keyed like this layout's that has none of its indexes is an ext-tasks
        table (key taskId only, no index): ``mcpstore tasks`` must not take it for a tasks
        table. A tasks table missing one index is still a tasks table (check names it)."""
        have = {g["IndexName"] for g in (info.description or {}).get("GlobalSecondaryIndexes", [])}
        if have & {index.name for index in layout.TASKS.indexes}:
            return []
        return [
            "has none of the layout's indexes (SessionIndex, StatusIndex), as an ext-tasks "
            "table (give --layout ext-tasks)"
        ]

    async def ensure_readable(self) -> None:
        await asyncio.to_thread(self._ensure_readable_sync)

    def _usable_index(self, name: str) -> bool:
        """Whether the table has GSI ``name`` as the layout declares it, ready to query."""
        info, names = self._ensure_readable_sync()
        index = next(i for i in layout.TASKS.indexes if i.name == name)
        for gsi in (info.description or {}).get("GlobalSecondaryIndexes", []):
            if gsi.get("IndexName") != name:
                continue
            keys = [(k["AttributeName"], k["KeyType"]) for k in gsi.get("KeySchema", [])]
            want = [(names.of(k.attribute), k.key_type) for k in index.keys]
            return (
                keys == want
                and (gsi.get("Projection") or {}).get("ProjectionType") == "ALL"
                and gsi.get("IndexStatus") in (None, "ACTIVE")
            )
        return False

    def _forget(self) -> None:
        self._info = self._names = None

    # -- provisioning ---------------------------------------------------------------------------
    def _create_request(self, names: TaskNames, tags: Mapping[str, str]) -> dict[str, Any]:
        table = layout.TASKS
        keys = list(table.keys) + [k for index in table.indexes for k in index.keys]
        request: dict[str, Any] = {
            "TableName": self.table,
            "AttributeDefinitions": _definitions(keys, names),
            "KeySchema": _key_schema(table.keys, names),
            "BillingMode": layout.BILLING_MODE,
            "GlobalSecondaryIndexes": [_gsi(index, names) for index in table.indexes],
        }
        if tags:
            request["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        return request

    def setup_plan(self, **options: Any) -> list[str]:
        import json
        import shlex

        tags: Mapping[str, str] = options.get("tags") or {}
        names = TaskNames(False)
        request = self._create_request(names, tags)
        base = ["aws", "dynamodb"]
        where = ["--region", self.ddb.region]
        if self.ddb.endpoint:
            where += ["--endpoint-url", self.ddb.endpoint]

        def cli(op: str, payload: dict[str, Any]) -> str:
            body = json.dumps(payload, separators=(",", ":"))
            return shlex.join([*base, op, *where, "--cli-input-json", body])

        indexes = ", ".join(index.name for index in layout.TASKS.indexes)
        plan = [
            f"# tasks table {self.table}: {layout.BILLING_MODE}, GSIs {indexes}, time to live "
            f"on {names.ttl_epoch}",
            cli("create-table", request),
            shlex.join([*base, "wait", "table-exists", *where, "--table-name", self.table]),
            cli(
                "update-time-to-live",
                {
                    "TableName": self.table,
                    "TimeToLiveSpecification": {"Enabled": True, "AttributeName": names.ttl_epoch},
                },
            ),
        ]
        if options.get("pitr"):
            plan.append(
                cli(
                    "update-continuous-backups",
                    {
                        "TableName": self.table,
                        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    },
                )
            )
        return plan

    def _setup_sync(self, tags: Mapping[str, str], pitr: bool) -> list[SetupStep]:
        steps: list[SetupStep] = []
        info, names = self._discover()
        kind = f"table {self.table}"
        if info.exists:
            problems = self._key_problems(info, names) or self._foreign(info)
            if problems:
                raise LayoutError(
                    f"DynamoDB table {self.table} exists but {problems[0]}; it is not in the "
                    "tasks layout, so setup leaves it alone."
                )
            steps.append(SetupStep("tasks", "exists", kind))
            desc = self.ddb._wait_active(self.table)
            steps += self._repair(desc, names)
        else:
            self.ddb._call("create_table", **self._create_request(names, tags))
            desc = self.ddb._wait_active(self.table)
            steps.append(SetupStep("tasks", "created", kind))
            steps += [
                SetupStep(f"tasks.{index.name}", "created", "index")
                for index in layout.TASKS.indexes
            ]
        status, attr = self.ddb._ttl_status(self.table)
        if status in ("ENABLED", "ENABLING") and attr == names.ttl_epoch:
            steps.append(SetupStep("tasks ttl", "exists", f"time to live on {attr}"))
        elif status in ("ENABLED", "ENABLING"):
            steps.append(
                SetupStep(
                    "tasks ttl",
                    f"left on {attr}",
                    f"time to live is on {attr}, the layout says {names.ttl_epoch}",
                )
            )
        else:
            self.ddb._call(
                "update_time_to_live",
                TableName=self.table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": names.ttl_epoch},
            )
            steps.append(SetupStep("tasks ttl", "created", f"time to live on {names.ttl_epoch}"))
        if tags and info.exists:
            self.ddb._call(
                "tag_resource",
                ResourceArn=desc["TableArn"],
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
            steps.append(SetupStep("tasks tags", "updated", ", ".join(sorted(tags))))
        elif tags:
            steps.append(SetupStep("tasks tags", "created", ", ".join(sorted(tags))))
        if pitr:
            self.ddb._call(
                "update_continuous_backups",
                TableName=self.table,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
            steps.append(SetupStep("tasks pitr", "updated", "point-in-time recovery"))
        self._forget()
        return steps

    def _repair(self, desc: dict[str, Any], names: TaskNames) -> list[SetupStep]:
        """Give an existing table what the layout has and it lacks (billing, GSIs)."""
        steps: list[SetupStep] = []
        billing = (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        if billing != layout.BILLING_MODE:
            self.ddb._call("update_table", TableName=self.table, BillingMode=layout.BILLING_MODE)
            desc = self.ddb._wait_active(self.table)
            steps.append(SetupStep("tasks billing", "updated", layout.BILLING_MODE))
        have = {g["IndexName"]: g for g in desc.get("GlobalSecondaryIndexes", [])}
        for index in layout.TASKS.indexes:
            obj = f"tasks.{index.name}"
            if index.name in have:
                problems = self._gsi_problems(have[index.name], index, names)
                if problems:
                    steps.append(SetupStep(obj, "left as is", problems[0]))
                else:
                    steps.append(SetupStep(obj, "exists", "index"))
                continue
            # One new GSI per UpdateTable call: DynamoDB builds them one at a time.
            self.ddb._call(
                "update_table",
                TableName=self.table,
                AttributeDefinitions=_definitions(index.keys, names),
                GlobalSecondaryIndexUpdates=[{"Create": _gsi(index, names)}],
            )
            self.ddb._wait_active(self.table)
            steps.append(SetupStep(obj, "created", "index"))
        return steps

    async def setup(self, **options: Any) -> list[SetupStep]:
        tags: Mapping[str, str] = options.get("tags") or {}
        return await asyncio.to_thread(self._setup_sync, tags, bool(options.get("pitr", False)))

    @staticmethod
    def _gsi_problems(gsi: Mapping[str, Any], index: Index, names: TaskNames) -> list[str]:
        problems = []
        keys = [(k["AttributeName"], k["KeyType"]) for k in gsi.get("KeySchema", [])]
        want = [(names.of(k.attribute), k.key_type) for k in index.keys]
        if keys != want:
            shown = ", ".join(f"{a} {t}" for a, t in keys)
            expected = ", ".join(f"{a} {t}" for a, t in want)
            problems.append(f"keyed on {shown}, expected {expected}")
        projection = (gsi.get("Projection") or {}).get("ProjectionType")
        if projection != index.projection:
            problems.append(f"projection {projection}, expected {index.projection}")
        return problems

    def _check_sync(self) -> list[Finding]:
        info, names = self._discover()
        if not info.exists:
            raise StoreMissingError(
                f"No DynamoDB table {self.table} {self.ddb._where()}; run mcpstore setup "
                f"--layout tasks --url {self.url.masked()}."
            )
        obj = f"table {self.table}"
        findings = [Finding(f"{obj} key schema", p) for p in self._key_problems(info, names)]
        desc = info.description or {}
        billing = (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        if billing != layout.BILLING_MODE:
            findings.append(
                Finding(f"{obj} billing mode", f"{billing}, expected {layout.BILLING_MODE}")
            )
        if desc.get("TableStatus") not in ("ACTIVE", None):
            findings.append(Finding(obj, f"status {desc.get('TableStatus')}", "note"))
        have = {g["IndexName"]: g for g in desc.get("GlobalSecondaryIndexes", [])}
        for index in layout.TASKS.indexes:
            where = f"{obj} index {index.name}"
            if index.name not in have:
                findings.append(Finding(where, "missing"))
                continue
            # Projection matters here: listing reads whole items from the index.
            findings += [
                Finding(where, p) for p in self._gsi_problems(have[index.name], index, names)
            ]
        status, attr = self.ddb._ttl_status(self.table)
        if status not in ("ENABLED", "ENABLING"):
            findings.append(
                Finding(f"{obj} time to live", f"{status.lower()}, expected on {names.ttl_epoch}")
            )
        elif attr != names.ttl_epoch:
            findings.append(
                Finding(f"{obj} time to live", f"on {attr}, expected on {names.ttl_epoch}")
            )
        return findings

    async def check(self) -> list[Finding]:
        return await asyncio.to_thread(self._check_sync)

    # -- decoding -------------------------------------------------------------------------------
    def _row(self, raw: Mapping[str, Any], names: TaskNames) -> dict[str, Any]:
        """The item as a row of snake_case columns; BadTask when an attribute has a type the
        server never writes."""
        row: dict[str, Any] = {}
        for logical, typ in layout.TASKS.attributes.items():
            if logical == layout.TTL_EPOCH:
                continue
            name = names.of(logical)
            av = raw.get(name)
            if av is None:
                continue
            if not isinstance(av, dict) or not av:
                raise BadTask(f"{name} is not a DynamoDB value")
            if "NULL" in av:
                continue
            if typ not in av:
                kind = next(iter(av))
                raise BadTask(f"{name} is of type {kind}, expected {typ}")
            try:
                row[logical] = _number(av["N"]) if typ == "N" else av[typ]
            except BadTask as exc:
                raise BadTask(f"{name} {exc}") from None
        return row

    def _decode(self, raw: Mapping[str, Any], names: TaskNames) -> Task:
        """The task an item holds; BadTask when the server could not have written it."""
        task = task_from_row(self._row(raw, names))
        epoch = _n(raw.get(names.ttl_epoch))
        if epoch is not None:
            task.extras[layout.TTL_EPOCH] = epoch
        return task

    def _read(self, raw: Mapping[str, Any], names: TaskNames) -> Task | CorruptRow:
        try:
            return self._decode(raw, names)
        except BadTask as exc:
            task_id = _s(raw.get(names.task_id)) or "?"
            created = _s(raw.get(names.created_at)) or ""
            return _corrupt(self.table, task_id, str(exc), TaskCursor(created, task_id))

    @staticmethod
    def _gone(raw: Mapping[str, Any], names: TaskNames, now_s: int) -> bool:
        """Whether DynamoDB's time to live has passed for the item (it counts as gone)."""
        epoch = _n(raw.get(names.ttl_epoch))
        return epoch is not None and epoch <= now_s

    @staticmethod
    def _raw_matches(raw: Mapping[str, Any], names: TaskNames, flt: TaskFilter) -> bool:
        """For an item that cannot be read: whether what can be read of it fits the filter
        (so that it is reported where it would be listed)."""
        status = _s(raw.get(names.status))
        if flt.statuses and status not in flt.statuses:
            return False
        if flt.session_id is not None and _s(raw.get(names.session_id)) != flt.session_id:
            return False
        if flt.method is not None and _s(raw.get(names.original_method)) != flt.method:
            return False
        return not (flt.stuck_for_ms is not None and status not in LIVE)

    # -- listing --------------------------------------------------------------------------------
    def _filters(
        self, flt: TaskFilter, names: TaskNames, now_s: int, *, statuses: bool, session: bool
    ) -> tuple[list[str], dict[str, str], dict[str, Any]]:
        """FilterExpression clauses DynamoDB can evaluate (Python re-checks everything)."""
        clauses = ["(attribute_not_exists(#te) OR #te > :now_s)"]
        attr = {
            "#te": names.ttl_epoch,
            "#st": names.status,
            "#sid": names.session_id,
            "#m": names.original_method,
        }
        values: dict[str, Any] = {":now_s": {"N": str(now_s)}}
        if statuses and flt.statuses:
            keys = [f":st{i}" for i in range(len(flt.statuses))]
            clauses.append(f"#st IN ({', '.join(keys)})")
            values.update({k: {"S": s} for k, s in zip(keys, flt.statuses, strict=True)})
        if session and flt.session_id is not None:
            clauses.append("#sid = :sid")
            values[":sid"] = {"S": flt.session_id}
        if flt.method is not None:
            clauses.append("#m = :m")
            values[":m"] = {"S": flt.method}
        return clauses, attr, values

    def _query_stream(
        self,
        index: str,
        hash_name: str,
        hash_value: str,
        flt: TaskFilter,
        cursor: TaskCursor | None,
        now_s: int,
        page: int,
        *,
        statuses: bool,
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """One GSI partition's items as (createdAt, taskId, item), in list order: the index
        sorts by createdAt; items with equal createdAt are put in taskId order here."""
        info, names = self._ensure_readable_sync()
        clauses, attr, values = self._filters(flt, names, now_s, statuses=statuses, session=False)
        key = "#h = :h"
        values[":h"] = {"S": hash_value}
        if cursor is not None:
            key += " AND #ca >= :ca"
            values[":ca"] = {"S": cursor.created_at}
        kw = _request(
            TableName=self.table,
            IndexName=index,
            KeyConditionExpression=key,
            FilterExpression=" AND ".join(clauses),
            ExpressionAttributeNames={**attr, "#h": hash_name, "#ca": names.created_at},
            ExpressionAttributeValues=values,
            Limit=page,
        )
        group: list[tuple[str, str, dict[str, Any]]] = []
        while True:
            response = self.ddb._call("query", **kw)
            for raw in _items(response):
                created = _s(raw.get(names.created_at)) or ""
                if group and created != group[0][0]:
                    yield from sorted(group, key=lambda r: r[1])
                    group = []
                group.append((created, _s(raw.get(names.task_id)) or "", raw))
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            kw["ExclusiveStartKey"] = last
            kw["Limit"] = max(page, self.ddb._page_limit(info))
        yield from sorted(group, key=lambda r: r[1])

    def _listed(
        self,
        row: tuple[str, str, Mapping[str, Any]],
        flt: TaskFilter,
        cursor: TaskCursor | None,
        names: TaskNames,
        now_s: int,
    ) -> Task | CorruptRow | None:
        """What an item (with its list key) is in a listing: a task, a corrupt row, or None
        when it is not listed (before the cursor, gone, not matching the filter)."""
        created, task_id, raw = row
        if cursor is not None and (created, task_id) <= (cursor.created_at, cursor.task_id):
            return None
        if self._gone(raw, names, now_s):
            return None
        item = self._read(raw, names)
        if isinstance(item, Task):
            return item if flt.matches(item) else None
        return item if self._raw_matches(raw, names, flt) else None

    def _scan_rows(
        self, flt: TaskFilter, cursor: TaskCursor | None, now_s: int, limit: int | None
    ) -> list[tuple[str, str, Task | CorruptRow]]:
        """Every listed item of a Scan as (createdAt, taskId, record), sorted; with
        ``limit``, only the first ``limit`` (trimmed as the scan goes)."""
        info, names = self._ensure_readable_sync()
        clauses, attr, values = self._filters(flt, names, now_s, statuses=True, session=True)
        if cursor is not None and cursor.created_at:
            # Items without createdAt sort first, before any such cursor.
            clauses.append("#ca >= :ca")
            values[":ca"] = {"S": cursor.created_at}
        params = _request(
            FilterExpression=" AND ".join(clauses),
            ExpressionAttributeNames={**attr, "#ca": names.created_at},
            ExpressionAttributeValues=values,
        )
        rows: list[tuple[str, str, Task | CorruptRow]] = []
        for page in self.ddb._scan_pages(info, params, self.ddb._segments_for(info)):
            for raw in page:
                created = _s(raw.get(names.created_at)) or ""
                task_id = _s(raw.get(names.task_id)) or ""
                item = self._listed((created, task_id, raw), flt, cursor, names, now_s)
                if item is not None:
                    rows.append((created, task_id, item))
            if limit is not None and len(rows) > 4 * max(limit, 256):
                rows = heapq.nsmallest(limit, rows, key=lambda r: r[:2])
        rows.sort(key=lambda r: r[:2])
        return rows if limit is None else rows[:limit]

    def _list_sync(
        self, flt: TaskFilter, limit: int | None, cursor: TaskCursor | None
    ) -> Generator[list[Task | CorruptRow], None, None]:
        info, names = self._ensure_readable_sync()
        now_s = flt.now_ns // NS
        if limit is not None and limit <= 0:
            return
        page = self.ddb._page_limit(info)
        if limit is not None:
            page = min(page, max(limit + 1, 100))
        found: Iterable[tuple[str, str, dict[str, Any]]] | None = None
        if flt.session_id is not None and self._usable_index("SessionIndex"):
            found = self._query_stream(
                "SessionIndex",
                names.session_id,
                flt.session_id,
                flt,
                cursor,
                now_s,
                page,
                statuses=True,
            )
        elif flt.statuses and self._usable_index("StatusIndex"):
            streams = [
                self._query_stream(
                    "StatusIndex", names.status, status, flt, cursor, now_s, page, statuses=False
                )
                for status in dict.fromkeys(flt.statuses)
            ]
            found = heapq.merge(*streams, key=lambda r: (r[0], r[1]))
        if found is not None:
            listed = (self._listed(row, flt, cursor, names, now_s) for row in found)
            records: Iterable[Task | CorruptRow | None] = listed
        else:
            records = (item for _c, _t, item in self._scan_rows(flt, cursor, now_s, limit))
        chunk: list[Task | CorruptRow] = []
        count = 0
        for item in records:
            if item is None:
                continue
            chunk.append(item)
            count += 1
            if limit is not None and count >= limit:
                break
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def iter_tasks(
        self, flt: TaskFilter, *, limit: int | None, cursor: TaskCursor | None = None
    ) -> AsyncIterator[Task | CorruptRow]:
        """Tasks in ``(createdAt, taskId)`` order strictly after ``cursor``. ``--status``: one
        StatusIndex Query per status, merged; ``--session``: a SessionIndex Query; otherwise
        a Scan of the table, whose matching items are collected in memory and sorted."""
        await self.ensure_readable()
        chunks = self._list_sync(flt, limit, cursor)
        try:
            while True:
                chunk = await asyncio.to_thread(next, chunks, None)
                if chunk is None:
                    return
                for item in chunk:
                    yield item
        finally:
            await asyncio.to_thread(chunks.close)

    # -- single tasks and ids -------------------------------------------------------------------
    def _get_sync(self, task_id: str) -> Task | CorruptRow | None:
        _info, names = self._ensure_readable_sync()
        raw = self.ddb._call(
            "get_item",
            TableName=self.table,
            Key={names.task_id: {"S": task_id}},
            ConsistentRead=True,
        ).get("Item")
        if not raw or self._gone(raw, names, int(time.time())):
            return None
        return self._read(raw, names)

    async def get_task(self, task_id: str) -> Task | CorruptRow | None:
        return await asyncio.to_thread(self._get_sync, task_id)

    def _existing_sync(self, ids: Sequence[str]) -> list[str]:
        _info, names = self._ensure_readable_sync()
        wanted = list(dict.fromkeys(ids))
        now_s = int(time.time())
        found: set[str] = set()
        for start in range(0, len(wanted), BATCH_GET_MAX):
            pending: dict[str, Any] = {
                self.table: {
                    "Keys": [
                        {names.task_id: {"S": t}} for t in wanted[start : start + BATCH_GET_MAX]
                    ],
                    "ConsistentRead": True,
                    "ProjectionExpression": "#k, #te",
                    "ExpressionAttributeNames": {"#k": names.task_id, "#te": names.ttl_epoch},
                }
            }
            delay, attempts = 0.05, 0
            while pending:
                response = self.ddb._call("batch_get_item", table=self.table, RequestItems=pending)
                for raw in (response.get("Responses") or {}).get(self.table, []):
                    task_id = _s(raw.get(names.task_id))
                    if task_id is not None and not self._gone(raw, names, now_s):
                        found.add(task_id)
                pending = {k: v for k, v in (response.get("UnprocessedKeys") or {}).items() if v}
                if pending:
                    attempts += 1
                    if attempts >= 30:
                        raise StoreConnectionError(
                            f"DynamoDB left keys unprocessed 30 times in a row on {self.table}; "
                            "the table is overloaded, try again later."
                        )
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
        return [t for t in wanted if t in found]

    async def existing_task_ids(self, ids: Sequence[str]) -> list[str]:
        return await asyncio.to_thread(self._existing_sync, ids)

    def _match_sync(self, prefixes: Sequence[str], limit: int, note: Note | None) -> IdMatches:
        from mcpstore_cli.model.ids import IdMatches

        info, names = self._ensure_readable_sync()
        now_s = int(time.time())
        starts = [f"begins_with(#k, :p{i})" for i in range(len(prefixes))]
        params = _request(
            ProjectionExpression="#k",
            FilterExpression=f"({' OR '.join(starts)}) AND "
            "(attribute_not_exists(#te) OR #te > :now_s)",
            ExpressionAttributeNames={"#k": names.task_id, "#te": names.ttl_epoch},
            ExpressionAttributeValues={
                ":now_s": {"N": str(now_s)},
                **{f":p{i}": {"S": p} for i, p in enumerate(prefixes)},
            },
        )
        # A prefix has no key to look up: the table is scanned (the key attribute only).
        what = f"task ids starting with {prefixes[0]!r}" if prefixes else "task ids"
        if note is not None and info.item_count > SCAN_NOTE_ITEMS:
            note(
                f"looking for {what}: scanning the {info.item_count:,} items of {info.name} "
                "(the full id is found without a scan)..."
            )
            note = None
        started = time.monotonic()
        smallest: list[str] = []
        total = 0
        for page in self.ddb._scan_pages(info, params, self.ddb._segments_for(info)):
            for raw in page:
                task_id = _s(raw.get(names.task_id))
                if task_id is None:
                    continue
                total += 1
                smallest.append(task_id)
                if len(smallest) > 4 * max(limit, 1):
                    smallest = sorted(smallest)[:limit]
            if note is not None and time.monotonic() - started > SCAN_NOTE_SECONDS:
                note(f"looking for {what}: still scanning {info.name}...")
                note = None
        return IdMatches(sorted(smallest)[:limit], total)

    async def match_task_ids(
        self, prefixes: Sequence[str], *, limit: int, note: Note | None = None
    ) -> IdMatches:
        return await asyncio.to_thread(self._match_sync, prefixes, limit, note)

    # -- stats ----------------------------------------------------------------------------------
    def _stats_sync(self, now_ns: int, stuck_after_ms: int) -> TaskStats:
        info, names = self._ensure_readable_sync()
        stats = TaskStats(
            store=self.url.masked(),
            layout=self.layout,
            now_ns=now_ns,
            stuck_after_ms=stuck_after_ms,
        )
        now_s = now_ns // NS
        stuck_before = now_ns - stuck_after_ms * MS
        by_status: Counter[str] = Counter()
        by_method: Counter[str] = Counter()
        buckets = [0] * len(AGE_BUCKETS)
        awaiting_ttl = 0
        for page in self.ddb._scan_pages(info, {}, self.ddb._segments_for(info)):
            for raw in page:
                if self._gone(raw, names, now_s):
                    awaiting_ttl += 1
                    continue
                try:
                    task = self._decode(raw, names)
                except BadTask:
                    stats.corrupt += 1
                    continue
                stats.tasks += 1
                by_status[task.status] += 1
                by_method[task.method or "?"] += 1
                if task.live and task.updated_ns < stuck_before:
                    stats.stuck += 1
                if task.past_ttl(now_ns):
                    stats.past_ttl += 1
                if task.live and (
                    stats.oldest_live is None
                    or (task.created_ns, task.task_id)
                    < (stats.oldest_live.created_ns, stats.oldest_live.task_id)
                ):
                    stats.oldest_live = task
                if stats.oldest_created_ns is None or task.created_ns < stats.oldest_created_ns:
                    stats.oldest_created_ns = task.created_ns
                if stats.newest_created_ns is None or task.created_ns > stats.newest_created_ns:
                    stats.newest_created_ns = task.created_ns
                age_ms = (now_ns - task.created_ns) // MS
                for i, (_label, bound) in enumerate(AGE_BUCKETS):
                    if bound is None or age_ms < bound:
                        buckets[i] += 1
                        break
        stats.by_status = dict(sorted(by_status.items()))
        stats.by_method = dict(by_method.most_common())
        stats.age_histogram = [(label, buckets[i]) for i, (label, _bound) in enumerate(AGE_BUCKETS)]
        stats.backend_facts = self._facts(info, names)
        stats.backend_facts["items_past_ttl_epoch"] = awaiting_ttl
        return stats

    def _facts(self, info: TableInfo, names: TaskNames) -> dict[str, Any]:
        desc = info.description or {}
        status, attr = self.ddb._ttl_status(self.table)
        billing = (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        indexes = {
            g["IndexName"]: str(g.get("IndexStatus") or "ACTIVE").lower()
            for g in desc.get("GlobalSecondaryIndexes", [])
        }
        return {
            "region": self.ddb.region,
            "endpoint": self.ddb.endpoint or "AWS",
            "table": self.table,
            "attribute_names": names.convention,
            "ttl": f"{status.lower()} on {attr}" if attr else status.lower(),
            "billing_mode": billing,
            "indexes": ", ".join(f"{k} ({v})" for k, v in sorted(indexes.items())) or "none",
            "item_count_estimate": info.item_count,
            "size_bytes_estimate": info.size_bytes,
            "scan_segments": self.ddb._segments_for(info),
        }

    async def task_stats(self, *, now_ns: int, stuck_after_ms: int) -> TaskStats:
        return await asyncio.to_thread(self._stats_sync, now_ns, stuck_after_ms)

    # -- conditional writes ---------------------------------------------------------------------
    def _conditional(self, method: str, **kw: Any) -> bool:
        """One conditional write; False when its condition failed (the item changed or went)."""
        try:
            getattr(self.ddb.client, method)(**_request(TableName=self.table, **kw))
        except Exception as exc:
            if _code(exc) == CONDITION_FAILED:
                return False
            raise (self.ddb._translate(exc, self.table) or exc) from exc
        return True

    def _workers(self, rate: float | None) -> int:
        """Writing threads: with --rate, as few as the rate needs."""
        workers = max(WRITE_WORKERS, min(MAX_WRITE_WORKERS, int(self.options.segments or 0)))
        if rate:
            workers = max(1, min(workers, -(-int(rate) // RATE_PER_WORKER)))
        return workers

    def _statements(
        self, chunk: list[T], statement: Callable[[T], dict[str, Any]], single: Callable[[T], bool]
    ) -> list[bool] | None:
        """Up to 25 conditional writes in one BatchExecuteStatement call, each a single-item
        write of its own (not a transaction: a server write to one of these items never fails
        because of it), each reporting ConditionalCheckFailed on its own. None when the
        endpoint cannot run PartiQL (then the single-item calls do the work)."""
        try:
            response = self.ddb.client.batch_execute_statement(
                Statements=[statement(item) for item in chunk]
            )
        except Exception as exc:
            if _code(exc) in ("ValidationException", "UnknownOperationException"):
                return None
            raise (self.ddb._translate(exc, self.table) or exc) from exc
        outcomes: list[bool] = []
        for item, answer in zip(chunk, response.get("Responses") or [], strict=True):
            error = answer.get("Error")
            if error is None:
                outcomes.append(True)
            elif error.get("Code") == "ConditionalCheckFailed":
                outcomes.append(False)
            else:  # throttled or failed on its own: the single-item call, with its retries
                outcomes.append(single(item))
        return outcomes

    def _write_all(
        self,
        pool: ThreadPoolExecutor,
        gate: _Gate,
        items: list[T],
        single: Callable[[T], bool],
        statement: Callable[[T], dict[str, Any]],
    ) -> list[bool | None]:
        """Write every item concurrently, conditionally: True (done), False (its condition
        failed: the item changed or went) or None (not tried: the run is stopping). 25 to a
        BatchExecuteStatement call; with --rate (``gate`` paces) or where PartiQL is missing,
        one DeleteItem/UpdateItem per item, the smoothest write pattern."""
        if gate.interval or not self._partiql:
            return list(pool.map(lambda item: single(item) if gate.admit() else None, items))

        def chunk_of(chunk: list[T]) -> list[bool | None]:
            return self._write_chunk(gate, chunk, single, statement)

        chunks = [items[i : i + BATCH_WRITE_MAX] for i in range(0, len(items), BATCH_WRITE_MAX)]
        return [outcome for outcomes in pool.map(chunk_of, chunks) for outcome in outcomes]

    def _write_chunk(
        self,
        gate: _Gate,
        chunk: list[T],
        single: Callable[[T], bool],
        statement: Callable[[T], dict[str, Any]],
    ) -> list[bool | None]:
        """One chunk's conditional writes (see _write_all): one BatchExecuteStatement call,
        or with --rate (``gate`` paces) or where PartiQL is missing, one call per item."""
        if gate.interval or not self._partiql:
            return [single(item) if gate.admit() else None for item in chunk]
        if not gate.admit():
            return [None] * len(chunk)
        done = self._statements(chunk, statement, single)
        if done is None:
            self._partiql = False
            return [single(item) for item in chunk]
        return list(done)

    async def _run(self, work: Callable[[threading.Event], T], stopped: Callable[[], str]) -> T:
        """``work(stop)`` on a thread; Ctrl-C sets ``stop``, waits for the writes under way and
        ends in Interrupted saying what was done."""
        stop = threading.Event()
        job = asyncio.ensure_future(asyncio.to_thread(work, stop))
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            stop.set()
            with contextlib.suppress(Exception, Interrupted):
                await job
            raise Interrupted(stopped()) from None

    @staticmethod
    def _ticker(progress: ProgressCallback | None) -> Callable[[int], None]:
        """``progress`` for the writing threads: called on the event loop's thread."""
        loop = asyncio.get_running_loop()

        def tick(n: int) -> None:
            if progress is not None and n:
                loop.call_soon_threadsafe(progress, n)

        return tick

    # -- expire ---------------------------------------------------------------------------------
    def _delete_if_unchanged(self, task: Task) -> bool:
        names = self._names
        assert names is not None
        return self._conditional(
            "delete_item",
            Key={names.task_id: {"S": task.task_id}},
            ConditionExpression="#st = :st AND #lu = :lu",
            ExpressionAttributeNames={"#st": names.status, "#lu": names.last_updated_at},
            ExpressionAttributeValues={
                ":st": {"S": task.status},
                ":lu": {"S": task.last_updated_at},
            },
        )

    def _delete_statement(self, task: Task) -> dict[str, Any]:
        """The PartiQL form of _delete_if_unchanged (the same condition)."""
        names = self._names
        assert names is not None
        return {
            "Statement": f'DELETE FROM "{self.table}" WHERE "{names.task_id}" = ? AND '
            f'"{names.status}" = ? AND "{names.last_updated_at}" = ?',
            "Parameters": [
                {"S": task.task_id},
                {"S": task.status},
                {"S": task.last_updated_at},
            ],
        }

    def _expire_sync(
        self,
        opts: TaskExpireOptions,
        result: TaskExpireResult,
        tick: Callable[[int], None],
        stop: threading.Event,
    ) -> TaskExpireResult:
        """Scan the tasks that have a ttl (every one, whatever its ttlEpoch: DynamoDB's time to
        live deletes late), delete those past ``createdAt + ttl`` in batches of concurrent
        conditional deletes."""
        info, names = self._ensure_readable_sync()
        params = _request(
            FilterExpression="attribute_exists(#ttl)",
            ExpressionAttributeNames={"#ttl": names.ttl},
        )
        gate = _Gate(None if opts.dry_run else opts.rate, opts.time_budget_s, stop)
        sample = _Sample(opts.sample)
        batch: list[Task] = []

        def flush(pool: ThreadPoolExecutor) -> bool:
            """Handle the batch; False when the run stops (time budget, Ctrl-C)."""
            nonlocal batch
            todo, batch = batch, []
            if opts.dry_run:
                result.deleted += len(todo)
                for task in todo:
                    sample.add(task.expires_ns or 0, task.task_id)
                return True
            outcomes = self._write_all(
                pool, gate, todo, self._delete_if_unchanged, self._delete_statement
            )
            went = 0
            for task, outcome in zip(todo, outcomes, strict=True):
                if outcome:
                    went += 1
                    sample.add(task.expires_ns or 0, task.task_id)
                elif outcome is False:
                    result.skipped_changed += 1
            result.deleted += went
            tick(went)
            return all(o is not None for o in outcomes)

        pages = self.ddb._scan_pages(info, params, self.ddb._segments_for(info))
        finished = True  # the scan reached its end and every candidate was handled
        with ThreadPoolExecutor(
            self._workers(opts.rate), thread_name_prefix="mcpstore-ddb"
        ) as pool:
            try:
                for page in pages:
                    for raw in page:
                        result.examined += 1
                        try:
                            task = self._decode(raw, names)
                        except BadTask:
                            result.corrupt += 1  # left alone: tasks list reports it
                            continue
                        if task.past_ttl(opts.now_ns):
                            batch.append(task)
                        if len(batch) >= max(1, opts.batch_size) and not flush(pool):
                            finished = False
                            break
                    if not finished or (not opts.dry_run and gate.halted()):
                        finished = False
                        break
                else:
                    if batch:
                        finished = flush(pool)
            finally:
                _close(pages)
        result.sample = sample.ids()
        if not finished:
            _check_stop(stop, self._expire_note(result))
            result.partial = True
        return result

    @staticmethod
    def _expire_note(result: TaskExpireResult) -> str:
        if not result.deleted:
            return "tasks expire had deleted nothing yet; the store is unchanged."
        return (
            f"tasks expire had deleted {result.deleted:,} tasks (DynamoDB deletes item by "
            "item); the rest is untouched."
        )

    async def expire_tasks(
        self, opts: TaskExpireOptions, progress: ProgressCallback | None = None
    ) -> TaskExpireResult:
        await self.ensure_readable()
        started = time.perf_counter()
        result = TaskExpireResult(dry_run=opts.dry_run)
        tick = self._ticker(progress)
        await self._run(
            lambda stop: self._expire_sync(opts, result, tick, stop),
            lambda: self._expire_note(result),
        )
        result.elapsed_s = time.perf_counter() - started
        return result

    # -- recover --------------------------------------------------------------------------------
    def _live_items(self, now_s: int) -> Iterator[dict[str, Any]]:
        """The live tasks' items (working, input_required), by StatusIndex Queries; by a Scan
        where the table lacks the index."""
        info, names = self._ensure_readable_sync()
        flt = TaskFilter(now_ns=now_s * NS, statuses=LIVE)
        if self._usable_index("StatusIndex"):
            size = self.ddb._page_limit(info)
            for status in LIVE:
                for _c, _t, raw in self._query_stream(
                    "StatusIndex", names.status, status, flt, None, now_s, size, statuses=False
                ):
                    yield raw
            return
        clauses, attr, values = self._filters(flt, names, now_s, statuses=True, session=False)
        params = _request(
            FilterExpression=" AND ".join(clauses),
            ExpressionAttributeNames=attr,
            ExpressionAttributeValues=values,
        )
        for page in self.ddb._scan_pages(info, params, self.ddb._segments_for(info)):
            yield from page

    def _recover_one(self, task: Task, now_text: str) -> bool:
        names = self._names
        assert names is not None
        return self._conditional(
            "update_item",
            Key={names.task_id: {"S": task.task_id}},
            UpdateExpression="SET #st = :failed, #sm = :msg, #lu = :now",
            ConditionExpression="#st = :expected AND #lu = :seen",
            ExpressionAttributeNames={
                "#st": names.status,
                "#sm": names.status_message,
                "#lu": names.last_updated_at,
            },
            ExpressionAttributeValues={
                ":failed": {"S": "failed"},
                ":msg": {"S": RECOVERED_MESSAGE},
                ":now": {"S": now_text},
                ":expected": {"S": task.status},
                ":seen": {"S": task.last_updated_at},
            },
        )

    def _recover_statement(self, task: Task, now_text: str) -> dict[str, Any]:
        """The PartiQL form of _recover_one (the same condition; an UPDATE whose condition
        fails never creates the item)."""
        names = self._names
        assert names is not None
        return {
            "Statement": f'UPDATE "{self.table}" SET "{names.status}" = ? '
            f'SET "{names.status_message}" = ? SET "{names.last_updated_at}" = ? '
            f'WHERE "{names.task_id}" = ? AND "{names.status}" = ? '
            f'AND "{names.last_updated_at}" = ?',
            "Parameters": [
                {"S": "failed"},
                {"S": RECOVERED_MESSAGE},
                {"S": now_text},
                {"S": task.task_id},
                {"S": task.status},
                {"S": task.last_updated_at},
            ],
        }

    def _recover_sync(
        self,
        stuck_for_ms: int,
        now_ns: int,
        dry_run: bool,
        batch_size: int,
        result: RecoverResult,
        tick: Callable[[int], None],
        stop: threading.Event,
    ) -> RecoverResult:
        """Stream the live tasks and fail the stuck ones as they are read: reading goes on
        while the writes of what was read before are under way, at most ``batch_size``
        tasks read and not yet written at a time (memory stays flat)."""
        _info, names = self._ensure_readable_sync()
        cutoff = now_ns - stuck_for_ms * MS
        now_text = format_chrono(now_ns)
        gate = _Gate(None, None, stop)
        sample = _Sample(10)
        size = max(1, batch_size)
        chunk_size = min(BATCH_WRITE_MAX, size)

        def recover(task: Task) -> bool:
            return self._recover_one(task, now_text)

        def statement(task: Task) -> dict[str, Any]:
            return self._recover_statement(task, now_text)

        def stuck_tasks() -> Iterator[Task]:
            for raw in self._live_items(now_ns // NS):
                try:
                    task = self._decode(raw, names)
                except BadTask:
                    continue  # left alone: tasks list reports it
                if not task.live:
                    continue
                result.examined += 1
                if task.updated_ns < cutoff:
                    yield task

        stream = stuck_tasks()
        try:
            if dry_run:
                for task in stream:
                    result.recovered += 1
                    sample.add(task.updated_ns, task.task_id)
                result.sample = sample.ids()
                return result
            finished = self._write_stream(
                stream,
                chunk_size,
                size,
                gate,
                recover,
                statement,
                result,
                sample,
                tick,
            )
        finally:
            _close(stream)
        result.sample = sample.ids()
        if not finished:
            _check_stop(stop, self._recover_note(result))
        return result

    def _write_stream(
        self,
        tasks: Iterator[Task],
        chunk_size: int,
        window: int,
        gate: _Gate,
        single: Callable[[Task], bool],
        statement: Callable[[Task], dict[str, Any]],
        result: RecoverResult,
        sample: _Sample,
        tick: Callable[[int], None],
    ) -> bool:
        """Write ``tasks`` as they come, ``chunk_size`` to a call on the pool, while the
        iterator goes on reading; at most ``window`` tasks taken and not yet settled. Each
        outcome is counted in ``result`` as it settles (done, or skipped: its condition
        failed). False when the run stopped (Ctrl-C) with writes not tried."""
        complete = True
        in_flight: deque[tuple[list[Task], Future[list[bool | None]]]] = deque()
        held = 0

        def chunk_of(chunk: list[Task]) -> list[bool | None]:
            return self._write_chunk(gate, chunk, single, statement)

        def settle() -> None:
            nonlocal held, complete
            chunk, future = in_flight.popleft()
            held -= len(chunk)
            done = 0
            for task, outcome in zip(chunk, future.result(), strict=True):
                if outcome:
                    done += 1
                    sample.add(task.updated_ns, task.task_id)
                elif outcome is False:
                    result.skipped_changed += 1
                else:
                    complete = False
            result.recovered += done
            tick(done)

        with ThreadPoolExecutor(self._workers(None), thread_name_prefix="mcpstore-ddb") as pool:
            try:
                chunk: list[Task] = []
                for task in tasks:
                    chunk.append(task)
                    if len(chunk) < chunk_size:
                        continue
                    while in_flight and held + len(chunk) > window:
                        settle()
                    if not complete or gate.halted():
                        chunk = []
                        complete = False
                        break
                    in_flight.append((chunk, pool.submit(chunk_of, chunk)))
                    held += len(chunk)
                    chunk = []
                if chunk and complete and not gate.halted():
                    in_flight.append((chunk, pool.submit(chunk_of, chunk)))
                    held += len(chunk)
                elif chunk:
                    complete = False
                while in_flight:
                    settle()
            except BaseException:
                for _chunk, future in in_flight:
                    future.cancel()  # not started: never sent
                raise
        return complete

    @staticmethod
    def _recover_note(result: RecoverResult) -> str:
        if not result.recovered:
            return "tasks recover had changed nothing yet; the store is unchanged."
        return (
            f"tasks recover had made {result.recovered:,} stuck tasks failed; the rest is "
            "untouched."
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
        """Live tasks not updated for ``stuck_for_ms`` become failed with the server's
        recovery message; each update is conditional on the status and lastUpdatedAt read."""
        await self.ensure_readable()
        started = time.perf_counter()
        result = RecoverResult(dry_run=dry_run)
        tick = self._ticker(progress)
        await self._run(
            lambda stop: self._recover_sync(
                stuck_for_ms, now_ns, dry_run, batch_size, result, tick, stop
            ),
            lambda: self._recover_note(result),
        )
        result.elapsed_s = time.perf_counter() - started
        return result

    # -- cancel ---------------------------------------------------------------------------------
    def _cancel_sync(self, task_id: str, now_ns: int) -> TaskChange:
        _info, names = self._ensure_readable_sync()
        status: str | None = None
        for _attempt in range(CANCEL_ATTEMPTS):
            raw = self.ddb._call(
                "get_item",
                TableName=self.table,
                Key={names.task_id: {"S": task_id}},
                ConsistentRead=True,
            ).get("Item")
            if not raw or self._gone(raw, names, now_ns // NS):
                return TaskChange(task_id, False, reason="not found")
            try:
                task = self._decode(raw, names)
            except BadTask as exc:
                return TaskChange(
                    task_id,
                    False,
                    status=_s(raw.get(names.status)),
                    reason=f"cannot be read ({exc})",
                )
            status = task.status
            if not task.live:
                return TaskChange(task_id, False, status=task.status, reason=f"already {status}")
            if self._conditional(
                "update_item",
                Key={names.task_id: {"S": task_id}},
                UpdateExpression="SET #st = :cancelled, #sm = :msg, #lu = :now",
                ConditionExpression="#st = :expected",
                ExpressionAttributeNames={
                    "#st": names.status,
                    "#sm": names.status_message,
                    "#lu": names.last_updated_at,
                },
                ExpressionAttributeValues={
                    ":cancelled": {"S": "cancelled"},
                    ":msg": {"S": CANCELLED_MESSAGE},
                    ":now": {"S": format_chrono(now_ns)},
                    ":expected": {"S": task.status},
                },
            ):
                return TaskChange(task_id, True, status="cancelled")
            # The server changed its status meanwhile: read it again and decide anew.
        return TaskChange(
            task_id,
            False,
            status=status,
            reason=f"its status kept changing ({CANCEL_ATTEMPTS} tries); try again",
        )

    async def cancel_task(
        self, task_id: str, *, now_ns: int, any_owner: bool = False
    ) -> TaskChange:
        return await asyncio.to_thread(self._cancel_sync, task_id, now_ns)

    # -- demo -----------------------------------------------------------------------------------
    def _item(self, task: Task, names: TaskNames) -> dict[str, Any]:
        """The item the server puts for a task: attributes absent when None, JSON as text,
        ttlEpoch = created + ttl (+ 60 min without one), in epoch seconds."""
        item: dict[str, Any] = {}
        for logical, value in task_to_row(task).items():
            if value is not None:
                typ = layout.TASKS.attributes[logical]
                item[names.of(logical)] = {typ: str(value)}
        created_s = task.created_ns // NS
        span = layout.NO_TTL_EPOCH_S if task.ttl_ms is None else int(task.ttl_ms) // 1000
        item[names.ttl_epoch] = {"N": str(created_s + span)}
        return item

    async def write_demo(
        self,
        batches: AsyncIterator[tuple[Sequence[Any], Sequence[Any]]] | Any,
        progress: ProgressCallback | None = None,
    ) -> tuple[int, int]:
        """BatchWriteItem, 25 items a call, the calls of a batch on a pool of threads
        (UnprocessedItems retried). Ctrl-C: the batch under way is finished, then the line
        says how many tasks were written (they stay)."""
        from mcpstore_cli.util.interrupt import finish

        await self.ensure_readable()
        _info, names = self._ensure_readable_sync()
        written = 0
        workers = max(4, self.options.segments or 8)

        def write(tasks: Sequence[Task], pool: ThreadPoolExecutor) -> None:
            requests = [(self.table, self._item(t, names)) for t in tasks]
            chunks = [requests[i : i + 25] for i in range(0, len(requests), 25)]
            for future in [pool.submit(self.ddb.batch_write, chunk) for chunk in chunks]:
                future.result()

        with ThreadPoolExecutor(workers, thread_name_prefix="mcpstore-ddb") as pool:
            try:
                async for tasks, _events in batches:
                    _, stop = await finish(asyncio.to_thread(write, tasks, pool))
                    written += len(tasks)
                    if progress is not None:
                        progress(len(tasks))
                    if stop:
                        raise asyncio.CancelledError
            except (KeyboardInterrupt, Interrupted, asyncio.CancelledError):
                raise Interrupted(
                    f"the demo had written {written:,} tasks; they stay in the store, the rest "
                    "was not written."
                ) from None
        return written, 0

    # -- clear and teardown ---------------------------------------------------------------------
    def _inventory_sync(self) -> Inventory:
        from mcpstore_cli.backends.dynamodb import teardown as td
        from mcpstore_cli.model.teardown import Inventory, TableFacts

        started = time.monotonic()
        info, _names = self._discover()
        if not info.exists:
            raise StoreMissingError(
                f"No DynamoDB table {self.table} {self.ddb._where()}; there is nothing to clear "
                "or tear down."
            )
        inv = Inventory(
            unit=self.row_word,
            backend=self.backend,
            store=self.url.masked(),
            name=self.table,
            exists=True,
            facts={"region": self.ddb.region, "endpoint": self.ddb.endpoint or "AWS"},
        )
        with ThreadPoolExecutor(3, thread_name_prefix="preview") as pool:
            counted = pool.submit(td._count, self.ddb, self.table, info.item_count)
            pitr = pool.submit(td._pitr, self.ddb, self.table)
            backups = pool.submit(td._backups, self.ddb, [self.table])
        desc = info.description or {}
        rows, exact = counted.result()
        facts: dict[str, Any] = {
            "status": desc.get("TableStatus"),
            "billing_mode": (desc.get("BillingModeSummary") or {}).get(
                "BillingMode", "PROVISIONED"
            ),
            "item_count_estimate": info.item_count,
            "point_in_time_recovery": pitr.result(),
            "deletion_protection": bool(desc.get("DeletionProtectionEnabled")),
        }
        inv.tables.append(
            TableFacts(self.table, rows=rows, rows_exact=exact, bytes=info.size_bytes, facts=facts)
        )
        inv.streams.append(td._stream(self.table, desc))
        if facts["deletion_protection"]:
            inv.notes.append(
                f"Table {self.table} has deletion protection on: deleting or recreating it is "
                "refused until it is turned off."
            )
        inv.backups = backups.result()
        inv.seconds = time.monotonic() - started
        return inv

    async def inventory(self) -> Inventory:
        return await asyncio.to_thread(self._inventory_sync)

    def _clear_sync(self, progress: ProgressCallback | None, stop: threading.Event) -> ClearResult:
        from mcpstore_cli.backends.dynamodb import teardown as td
        from mcpstore_cli.model.teardown import ClearResult

        started = time.monotonic()
        info, _names = self._ensure_readable_sync()
        lock = threading.Lock()

        def tick(n: int) -> None:
            if progress is not None:
                with lock:
                    progress(n)

        with ThreadPoolExecutor(td.DELETE_THREADS, thread_name_prefix="clear-delete") as pool:
            deleted = td._clear_table(self.ddb, info, pool, stop, tick)
        return ClearResult(
            deleted, 0, seconds=time.monotonic() - started, records={"tasks": deleted}
        )

    def _recreate_sync(self, progress: ProgressCallback | None) -> ClearResult:
        from mcpstore_cli.backends.dynamodb import teardown as td
        from mcpstore_cli.model.teardown import ClearResult

        started = time.monotonic()
        self._ensure_readable_sync()  # in the tasks layout, or refused
        info, _names = self._discover()  # the settings as they are now
        td._refuse_protected(self.ddb, [info], "clear --recreate")
        notes: list[str] = []
        request = td._create_request(self.ddb, self.table, info.description or {}, notes)
        ttl = self.ddb._call("describe_time_to_live", TableName=self.table)["TimeToLiveDescription"]
        pitr = td._pitr(self.ddb, self.table)
        if pitr.startswith("unknown"):
            notes.append(f"point-in-time recovery of {self.table} is {pitr}; not set again")
        count, exact = td._count(self.ddb, self.table, info.item_count)
        self._forget()
        self.ddb._call("delete_table", TableName=self.table)
        td._wait_gone(self.ddb, self.table)
        self.ddb._call("create_table", **request)
        self.ddb._wait_active(self.table)
        if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and ttl.get("AttributeName"):
            self.ddb._call(
                "update_time_to_live",
                TableName=self.table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        if pitr == "enabled":
            self.ddb._call(
                "update_continuous_backups",
                TableName=self.table,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        if progress is not None:
            progress(count)
        return ClearResult(
            count,
            0,
            exact=exact,
            seconds=time.monotonic() - started,
            recreated=True,
            notes=notes,
            records={"tasks": count},
        )

    async def clear(
        self, *, recreate: bool = False, progress: ProgressCallback | None = None
    ) -> ClearResult:
        """Every task deleted, the table kept (keys-only parallel scans feeding pooled batch
        deletes); ``recreate``: the table deleted and created again with its settings."""
        if recreate:  # never stopped half-way: the table comes back even after Ctrl-C
            return await asyncio.to_thread(self._recreate_sync, progress)
        stop = threading.Event()
        try:
            return await asyncio.to_thread(self._clear_sync, progress, stop)
        except BaseException:
            stop.set()  # Ctrl-C: the scan and delete threads stop after their current call
            raise

    def _drop_sync(self) -> list[str]:
        from mcpstore_cli.backends.dynamodb import teardown as td

        info, names = self._discover()
        if not info.exists:
            raise StoreMissingError(
                f"No DynamoDB table {self.table} {self.ddb._where()}; there is nothing to delete."
            )
        problems = self._key_problems(info, names) or self._foreign(info)
        if problems:
            raise LayoutError(
                f"DynamoDB table {self.table} is not in the tasks layout (it {problems[0]}), so "
                "it is left alone; see mcpstore setup --check."
            )
        td._refuse_protected(self.ddb, [info], "deleting it")
        if (info.description or {}).get("TableStatus") in ("CREATING", "UPDATING"):
            self.ddb._wait_active(self.table)
        self.ddb._call("delete_table", TableName=self.table)
        td._wait_gone(self.ddb, self.table)
        self._forget()
        return [f"table {self.table}"]

    async def drop(self) -> list[str]:
        return await asyncio.to_thread(self._drop_sync)

    async def native_backup(
        self, target: str | None = None, *, force: bool = False
    ) -> list[dict[str, Any]]:
        raise not_supported("backup --native of the tasks layout", self.backend)

    # -- the portable backup file (record kind "t", as the SQL stores write it) -------------------
    def _backup_sync(self, out: Any, progress: ProgressCallback | None) -> dict[str, Any]:
        from mcpstore_cli.backends.dynamodb.tablestore import record_line, scanned_tasks_summary
        from mcpstore_cli.layouts.turul_tasks.records import backup_record

        info, names = self._ensure_readable_sync()
        now_s = int(time.time())
        skipped = gone = 0
        params = {"ConsistentRead": True}
        for page in self.ddb._scan_pages(info, params, self.ddb._segments_for(info)):
            lines = []
            for raw in page:
                if self._gone(raw, names, now_s):
                    gone += 1
                    continue
                try:
                    row = self._row(raw, names)
                    task_from_row(row)  # what the server could not have written is left out
                except BadTask:
                    skipped += 1
                    continue
                record = backup_record(row)
                if record is None:
                    skipped += 1
                    continue
                lines.append(record_line(record))
            if lines:
                out.sessions_block(b"".join(lines))
            if progress is not None and page:
                progress(len(page))
        return scanned_tasks_summary(self.table, skipped, gone, names.ttl_epoch)

    async def backup_records(
        self, spec: Any, out: Any, header: dict[str, Any], progress: ProgressCallback | None = None
    ) -> dict[str, Any]:
        """Every task, as the portable file's ``t`` records (the SQL stores' own): DynamoDB
        keeps no ``version``, so the records carry none; ``ttlEpoch`` is not kept either (a
        restore here puts it back from ``createdAt + ttl``, as the server does)."""
        from mcpstore_cli.backends.dynamodb.tablestore import refuse_session_filters

        refuse_session_filters(spec, self.layout)
        await self.ensure_readable()
        header["layout"] = self.layout
        header["source"]["event_ids"] = "none"
        out.header(header)
        result: dict[str, Any] = await asyncio.to_thread(self._backup_sync, out, progress)
        return result

    def _put_new(self, item: dict[str, Any], names: TaskNames, now_s: int) -> bool:
        """Put a task only where its id holds none, or an item past its ttlEpoch that
        DynamoDB has not swept yet (gone, as every read here counts it): a restore's merge
        never writes over a task the server has."""
        return self._conditional(
            "put_item",
            Item=item,
            ConditionExpression="attribute_not_exists(#k) OR #e <= :now",
            ExpressionAttributeNames={"#k": names.task_id, "#e": names.ttl_epoch},
            ExpressionAttributeValues={":now": {"N": str(now_s)}},
        )

    def _restore_sync(
        self,
        info: Any,
        summary: Any,
        mode: str,
        progress: ProgressCallback | None,
        stop: threading.Event,
    ) -> None:
        import json

        from mcpstore_cli.layouts.turul_tasks.records import row_from_record
        from mcpstore_cli.util.backupfile import iter_record_blocks

        _info, names = self._ensure_readable_sync()
        if mode == "replace":
            summary.replaced_sessions = self._clear_sync(None, stop).sessions
        merge = mode == "merge"
        batch: list[dict[str, Any]] = []
        gone = 0

        def flush(pool: ThreadPoolExecutor) -> None:
            nonlocal batch
            todo, batch = batch, []
            if not todo:
                return
            if merge:
                now_s = int(time.time())
                outcomes = list(pool.map(lambda item: self._put_new(item, names, now_s), todo))
            else:
                chunks = [
                    todo[i : i + BATCH_WRITE_MAX] for i in range(0, len(todo), BATCH_WRITE_MAX)
                ]
                list(pool.map(lambda c: self.ddb.batch_write([(self.table, i) for i in c]), chunks))
                outcomes = [True] * len(todo)
            summary.sessions += sum(outcomes)
            summary.skipped_sessions += len(todo) - sum(outcomes)
            if progress is not None:
                progress(len(todo))

        with ThreadPoolExecutor(self._workers(None), thread_name_prefix="mcpstore-ddb") as pool:
            for _kind, lines in iter_record_blocks(info.path):
                for line in lines:
                    if stop.is_set():
                        return
                    task = task_from_row(row_from_record(json.loads(line)))
                    item = self._item(task, names)
                    if int(item[names.ttl_epoch]["N"]) <= time.time():
                        gone += 1  # DynamoDB would delete it at once; reads count it gone
                        continue
                    batch.append(item)
                    if len(batch) >= 200:
                        flush(pool)
            if not stop.is_set():
                flush(pool)
        if gone:
            summary.notes.append(
                f"{gone:,} {'task' if gone == 1 else 'tasks'} already past their "
                f"{names.ttl_epoch} (created_at + ttl) not written: DynamoDB would delete them"
            )

    async def restore_records(
        self,
        info: Any,
        summary: Any,
        *,
        mode: str,
        keep_ttl: bool = False,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Load a verified file of ``t`` records: ``merge`` puts each task whose id is free
        (conditionally), ``replace`` deletes every item first. Each item is written as the
        server writes it, ``ttlEpoch`` from ``createdAt + ttl``; a file's ``version`` has no
        place here."""
        await self.ensure_readable()
        tick = self._ticker(progress)
        await self._run(
            lambda stop: self._restore_sync(info, summary, mode, tick, stop),
            lambda: f"the restore had written {summary.sessions:,} tasks; they stay.",
        )

    async def row_counts(self) -> tuple[int, int]:
        from mcpstore_cli.backends.dynamodb import teardown as td

        await self.ensure_readable()
        info, _names = self._ensure_readable_sync()
        count, _exact = await asyncio.to_thread(td._count, self.ddb, self.table, info.item_count)
        return int(count), 0
