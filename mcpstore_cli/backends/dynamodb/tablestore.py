"""One DynamoDB table of a layout without sessions (ext-tasks, server state): what its stores
share. The table's keys, attributes and time to live come from the layout's declaration
(:class:`~mcpstore_cli.layouts.turul_sessions.dynamodb.Table`); provisioning, checking, clear,
teardown and counting are done here. Talking to DynamoDB (client, credentials, error
translation, scans, waits, batch writes) is borrowed from the sessions store, held as
``self.ddb`` without using its tables, as :mod:`.tasks` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar

from mcpstore_cli.backends.dynamodb.common import TableInfo, _items
from mcpstore_cli.backends.dynamodb.store import DynamoDBStore
from mcpstore_cli.errors import (
    Interrupted,
    LayoutError,
    StoreConnectionError,
    StoreMissingError,
    not_supported,
)
from mcpstore_cli.model.records import Finding, SetupStep
from mcpstore_cli.store.base import ProgressCallback, StoreOptions
from mcpstore_cli.store.nonsession import NonSessionStore
from mcpstore_cli.store.urls import StoreURL

if TYPE_CHECKING:
    from mcpstore_cli.layouts.dynamodecl import Table
    from mcpstore_cli.model.teardown import ClearResult, Inventory

BATCH_GET_MAX = 100
WRITE_WORKERS = 8
CONDITION_FAILED = "ConditionalCheckFailedException"


def code_of(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


class DynamoDBTableStore(NonSessionStore):
    """A layout kept in one DynamoDB table. Subclasses set ``layout``, ``DECLARED`` (the
    layout's table), ``DEFAULT_TABLE`` and ``RECORDS`` (what clear reports deleting)."""

    backend: ClassVar[str] = "dynamodb"
    title: ClassVar[str] = "DynamoDB"
    row_word: ClassVar[str] = "item"
    setup_options: ClassVar[frozenset[str]] = frozenset({"tags", "pitr"})
    recreates_tables: ClassVar[bool] = True
    DECLARED: ClassVar[Table]
    DEFAULT_TABLE: ClassVar[str | None] = None
    RECORDS: ClassVar[str] = "items"

    def __init__(self, url: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(url, options)
        self.ddb = DynamoDBStore(url, self.options)
        self.table = url.table or self.DEFAULT_TABLE or ""
        self._info: TableInfo | None = None

    @property
    def client(self) -> Any:
        return self.ddb.client

    async def close(self) -> None:
        await self.ddb.close()

    def label(self) -> str:
        return self.table

    def tables(self) -> list[str]:
        return [self.table]

    # -- the table --------------------------------------------------------------------------
    def _discover(self) -> TableInfo:
        return TableInfo(self.table, self.ddb._describe(self.table))

    def _key_problems(self, info: TableInfo) -> list[str]:
        desc = info.description or {}
        keys = {k["KeyType"]: k["AttributeName"] for k in desc.get("KeySchema", [])}
        types = {
            a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])
        }
        problems = []
        want = {k.key_type: k.attribute for k in self.DECLARED.keys}
        for kind, name in want.items():
            typ = self.DECLARED.attributes[name]
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

    def _foreign(self, info: TableInfo) -> str | None:
        """Why a table with the right keys still belongs to another layout (None: it does
        not)."""
        return None

    def _missing(self) -> StoreMissingError:
        return StoreMissingError(
            f"DynamoDB table {self.table} does not exist {self.ddb._where()}; run mcpstore "
            f"setup --layout {self.layout} --url {self.url.masked()}."
        )

    def _ensure_readable_sync(self) -> TableInfo:
        if self._info is not None:
            return self._info
        info = self._discover()
        if not info.exists:
            raise self._missing()
        problems = self._key_problems(info)
        foreign = self._foreign(info)
        if problems or foreign:
            why = f"it {problems[0]}" if problems else foreign
            raise LayoutError(
                f"DynamoDB table {self.table} is not in the {self.layout} layout: {why}; see "
                f"mcpstore setup --layout {self.layout} --check."
            )
        self._info = info
        return info

    async def ensure_readable(self) -> None:
        await asyncio.to_thread(self._ensure_readable_sync)

    def _forget(self) -> None:
        self._info = None

    # -- provisioning -----------------------------------------------------------------------
    def _create_request(self, tags: Mapping[str, str]) -> dict[str, Any]:
        declared = self.DECLARED
        request: dict[str, Any] = {
            "TableName": self.table,
            "AttributeDefinitions": [
                {"AttributeName": k.attribute, "AttributeType": declared.attributes[k.attribute]}
                for k in declared.keys
            ],
            "KeySchema": [
                {"AttributeName": k.attribute, "KeyType": k.key_type} for k in declared.keys
            ],
            "BillingMode": declared_billing(),
        }
        if tags:
            request["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        return request

    def setup_plan(self, **options: Any) -> list[str]:
        import json
        import shlex

        tags: Mapping[str, str] = options.get("tags") or {}
        base = ["aws", "dynamodb"]
        where = ["--region", self.ddb.region]
        if self.ddb.endpoint:
            where += ["--endpoint-url", self.ddb.endpoint]

        def cli(op: str, payload: dict[str, Any]) -> str:
            body = json.dumps(payload, separators=(",", ":"))
            return shlex.join([*base, op, *where, "--cli-input-json", body])

        ttl = self.DECLARED.ttl
        plan = [
            f"# {self.layout} table {self.table}: {declared_billing()}, no index"
            + (f", time to live on {ttl}" if ttl else ""),
            cli("create-table", self._create_request(tags)),
            shlex.join([*base, "wait", "table-exists", *where, "--table-name", self.table]),
        ]
        if ttl:
            plan.append(
                cli(
                    "update-time-to-live",
                    {
                        "TableName": self.table,
                        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": ttl},
                    },
                )
            )
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
        info = self._discover()
        kind = f"table {self.table}"
        name = self.layout
        if info.exists:
            problems = self._key_problems(info)
            foreign = self._foreign(info)
            if problems or foreign:
                why = f"it {problems[0]}" if problems else foreign
                raise LayoutError(
                    f"DynamoDB table {self.table} exists but is not in the {self.layout} layout "
                    f"({why}), so setup leaves it alone."
                )
            steps.append(SetupStep(name, "exists", kind))
            desc = self.ddb._wait_active(self.table)
            billing = (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
            if billing != declared_billing():
                self.ddb._call("update_table", TableName=self.table, BillingMode=declared_billing())
                desc = self.ddb._wait_active(self.table)
                steps.append(SetupStep(f"{name} billing", "updated", declared_billing()))
            for gsi in desc.get("GlobalSecondaryIndexes", []):
                steps.append(
                    SetupStep(
                        f"{name}.{gsi['IndexName']}", "left as is", "an index the layout lacks"
                    )
                )
        else:
            self.ddb._call("create_table", **self._create_request(tags))
            desc = self.ddb._wait_active(self.table)
            steps.append(SetupStep(name, "created", kind))
        ttl = self.DECLARED.ttl
        if ttl:
            status, attr = self.ddb._ttl_status(self.table)
            if status in ("ENABLED", "ENABLING") and attr == ttl:
                steps.append(SetupStep(f"{name} ttl", "exists", f"time to live on {attr}"))
            elif status in ("ENABLED", "ENABLING"):
                steps.append(
                    SetupStep(
                        f"{name} ttl",
                        f"left on {attr}",
                        f"time to live is on {attr}, the layout says {ttl}",
                    )
                )
            else:
                self.ddb._call(
                    "update_time_to_live",
                    TableName=self.table,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl},
                )
                steps.append(SetupStep(f"{name} ttl", "created", f"time to live on {ttl}"))
        if tags and info.exists:
            self.ddb._call(
                "tag_resource",
                ResourceArn=desc["TableArn"],
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
            steps.append(SetupStep(f"{name} tags", "updated", ", ".join(sorted(tags))))
        elif tags:
            steps.append(SetupStep(f"{name} tags", "created", ", ".join(sorted(tags))))
        if pitr:
            self.ddb._call(
                "update_continuous_backups",
                TableName=self.table,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
            steps.append(SetupStep(f"{name} pitr", "updated", "point-in-time recovery"))
        self._forget()
        return steps

    async def setup(self, **options: Any) -> list[SetupStep]:
        tags: Mapping[str, str] = options.get("tags") or {}
        return await asyncio.to_thread(self._setup_sync, tags, bool(options.get("pitr", False)))

    def _check_sync(self) -> list[Finding]:
        info = self._discover()
        if not info.exists:
            raise StoreMissingError(
                f"No DynamoDB table {self.table} {self.ddb._where()}; run mcpstore setup "
                f"--layout {self.layout} --url {self.url.masked()}."
            )
        obj = f"table {self.table}"
        findings = [Finding(f"{obj} key schema", p) for p in self._key_problems(info)]
        desc = info.description or {}
        billing = (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        if billing != declared_billing():
            findings.append(
                Finding(f"{obj} billing mode", f"{billing}, expected {declared_billing()}")
            )
        if desc.get("TableStatus") not in ("ACTIVE", None):
            findings.append(Finding(obj, f"status {desc.get('TableStatus')}", "note"))
        for gsi in desc.get("GlobalSecondaryIndexes", []):
            findings.append(
                Finding(f"{obj} index {gsi['IndexName']}", "present, the layout has no index")
            )
        ttl = self.DECLARED.ttl
        if ttl:
            status, attr = self.ddb._ttl_status(self.table)
            if status not in ("ENABLED", "ENABLING"):
                findings.append(
                    Finding(f"{obj} time to live", f"{status.lower()}, expected on {ttl}")
                )
            elif attr != ttl:
                findings.append(Finding(f"{obj} time to live", f"on {attr}, expected on {ttl}"))
        return findings

    async def check(self) -> list[Finding]:
        return await asyncio.to_thread(self._check_sync)

    def _facts(self, info: TableInfo) -> dict[str, Any]:
        desc = info.description or {}
        billing = (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        facts: dict[str, Any] = {
            "region": self.ddb.region,
            "endpoint": self.ddb.endpoint or "AWS",
            "table": self.table,
            "billing_mode": billing,
            "item_count_estimate": info.item_count,
            "size_bytes_estimate": info.size_bytes,
        }
        if self.DECLARED.ttl:
            status, attr = self.ddb._ttl_status(self.table)
            facts["ttl"] = f"{status.lower()} on {attr}" if attr else status.lower()
        return facts

    # -- reading ----------------------------------------------------------------------------
    def _scan(self, params: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Every page of a (parallel) scan of the table, strongly consistent per page."""
        info = self._ensure_readable_sync()
        kw = {"ConsistentRead": True, **(params or {})}
        return self.ddb._scan_pages(info, kw, self.ddb._segments_for(info))

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        self._ensure_readable_sync()
        item = self.ddb._call("get_item", TableName=self.table, Key=key, ConsistentRead=True).get(
            "Item"
        )
        return item or None

    def _batch_get(
        self, keys: Sequence[dict[str, Any]], projection: Sequence[str]
    ) -> list[dict[str, Any]]:
        """The items of ``keys`` that exist (``projection``: the attributes read)."""
        self._ensure_readable_sync()
        names = {f"#p{i}": p for i, p in enumerate(projection)}
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET_MAX):
            pending: dict[str, Any] = {
                self.table: {
                    "Keys": list(keys[start : start + BATCH_GET_MAX]),
                    "ConsistentRead": True,
                    "ProjectionExpression": ", ".join(names),
                    "ExpressionAttributeNames": names,
                }
            }
            delay, attempts = 0.05, 0
            while pending:
                response = self.ddb._call("batch_get_item", table=self.table, RequestItems=pending)
                found += (response.get("Responses") or {}).get(self.table, [])
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
        return found

    def _count_items(self, params: Mapping[str, Any] | None = None) -> int:
        info = self._ensure_readable_sync()
        kw: dict[str, Any] = {"TableName": self.table, "Select": "COUNT", **(params or {})}
        kw["Limit"] = self.ddb._page_limit(info)
        total = 0
        while True:
            response = self.ddb._call("scan", **kw)
            total += int(response.get("Count") or 0)
            last = response.get("LastEvaluatedKey")
            if not last:
                return total
            kw["ExclusiveStartKey"] = last

    # -- conditional writes -----------------------------------------------------------------
    def _conditional(self, method: str, **kw: Any) -> bool:
        """One conditional write; False when its condition failed."""
        try:
            getattr(self.ddb.client, method)(TableName=self.table, **kw)
        except Exception as exc:
            if code_of(exc) == CONDITION_FAILED:
                return False
            raise (self.ddb._translate(exc, self.table) or exc) from exc
        return True

    def _put_new(self, item: dict[str, Any]) -> bool:
        """Put an item only where its key holds none (a restore's merge)."""
        hash_key = self.DECLARED.keys[0].attribute
        return self._conditional(
            "put_item",
            Item=item,
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": hash_key},
        )

    def _restore_items(
        self,
        items: Iterator[dict[str, Any]],
        *,
        merge: bool,
        progress: ProgressCallback | None,
        stop: threading.Event,
    ) -> tuple[int, int]:
        """Write the items (merge: only those whose key is free, conditionally; replace: the
        table was emptied, so plain batch writes); (written, skipped)."""
        written = skipped = 0
        batch: list[dict[str, Any]] = []

        def flush(pool: ThreadPoolExecutor) -> None:
            nonlocal written, skipped, batch
            todo, batch = batch, []
            if not todo:
                return
            if merge:
                outcomes = list(pool.map(self._put_new, todo))
            else:
                chunks = [todo[i : i + 25] for i in range(0, len(todo), 25)]
                list(pool.map(lambda c: self.ddb.batch_write([(self.table, i) for i in c]), chunks))
                outcomes = [True] * len(todo)
            done = sum(outcomes)
            written += done
            skipped += len(todo) - done
            if progress is not None:
                progress(len(todo))

        with ThreadPoolExecutor(WRITE_WORKERS, thread_name_prefix="mcpstore-ddb") as pool:
            for item in items:
                if stop.is_set():
                    break
                batch.append(item)
                if len(batch) >= 200:
                    flush(pool)
            if not stop.is_set():
                flush(pool)
        return written, skipped

    # -- clear and teardown -----------------------------------------------------------------
    def _inventory_sync(self) -> Inventory:
        from mcpstore_cli.backends.dynamodb import teardown as td
        from mcpstore_cli.model.teardown import Inventory, TableFacts

        started = time.monotonic()
        info = self._discover()
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

    def _cleared(self, deleted: int, counts: dict[str, int] | None, **kw: Any) -> ClearResult:
        """What clear reports: ``counts`` (items by kind, read before) or ``deleted`` items of
        the layout's one kind."""
        from mcpstore_cli.model.teardown import ClearResult

        records = counts if counts is not None else {self.RECORDS: deleted}
        main = next(iter(records.values()))
        return ClearResult(main, 0, records=records, **kw)

    def _empty(self, progress: ProgressCallback | None, stop: threading.Event) -> int:
        """Delete every item (keys-only parallel scans feeding pooled batch deletes)."""
        from mcpstore_cli.backends.dynamodb import teardown as td

        info = self._ensure_readable_sync()
        lock = threading.Lock()

        def tick(n: int) -> None:
            if progress is not None:
                with lock:
                    progress(n)

        with ThreadPoolExecutor(td.DELETE_THREADS, thread_name_prefix="clear-delete") as pool:
            return td._clear_table(self.ddb, info, pool, stop, tick)

    def _clear_sync(self, progress: ProgressCallback | None, stop: threading.Event) -> ClearResult:
        started = time.monotonic()
        counts = self._kind_counts()
        deleted = self._empty(progress, stop)
        return self._cleared(deleted, counts, seconds=time.monotonic() - started)

    def _kind_counts(self) -> dict[str, int] | None:
        """Items by kind before a clear (None: one kind only)."""
        return None

    def _recreate_sync(self, progress: ProgressCallback | None) -> ClearResult:
        from mcpstore_cli.backends.dynamodb import teardown as td

        started = time.monotonic()
        self._ensure_readable_sync()  # in the layout, or refused
        info = self._discover()
        td._refuse_protected(self.ddb, [info], "clear --recreate")
        notes: list[str] = []
        request = td._create_request(self.ddb, self.table, info.description or {}, notes)
        ttl = self.ddb._call("describe_time_to_live", TableName=self.table)["TimeToLiveDescription"]
        pitr = td._pitr(self.ddb, self.table)
        if pitr.startswith("unknown"):
            notes.append(f"point-in-time recovery of {self.table} is {pitr}; not set again")
        counts = self._kind_counts()
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
        return self._cleared(
            count,
            counts,
            exact=exact,
            seconds=time.monotonic() - started,
            recreated=True,
            notes=notes,
        )

    async def clear(
        self, *, recreate: bool = False, progress: ProgressCallback | None = None
    ) -> ClearResult:
        """Every item deleted, the table kept; ``recreate``: the table deleted and created
        again with its settings."""
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

        info = self._discover()
        if not info.exists:
            raise StoreMissingError(
                f"No DynamoDB table {self.table} {self.ddb._where()}; there is nothing to delete."
            )
        problems = self._key_problems(info)
        foreign = self._foreign(info)
        if problems or foreign:
            why = f"it {problems[0]}" if problems else foreign
            raise LayoutError(
                f"DynamoDB table {self.table} is not in the {self.layout} layout ({why}), so it "
                "is left alone; see mcpstore setup --check."
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
        raise not_supported(f"backup --native of the {self.layout} layout", self.backend)

    # -- the portable backup file -----------------------------------------------------------
    def _replace_first(self, summary: Any, stop: threading.Event) -> None:
        """replace: count what the store holds, then empty it."""
        summary.replaced_sessions = self._count_records()
        self._empty(None, stop)

    def _count_records(self) -> int:
        return self._count_items()

    async def row_counts(self) -> tuple[int, int]:
        await self.ensure_readable()
        return await asyncio.to_thread(self._count_records), 0

    async def _in_thread(
        self, work: Callable[[threading.Event], Any], stopped: Callable[[], str]
    ) -> Any:
        """``work(stop)`` on a thread; Ctrl-C sets ``stop``, waits for the calls under way and
        ends in Interrupted saying what was done (``stopped()``)."""
        stop = threading.Event()
        job = asyncio.ensure_future(asyncio.to_thread(work, stop))
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            stop.set()
            with contextlib.suppress(Exception, Interrupted):
                await job
            raise Interrupted(stopped()) from None


# -- the portable backup file (the same records as mcpstore_cli.backends.sql.nonsession_backup,
# which belongs to the SQL backends) ---------------------------------------------------------
def refuse_session_filters(spec: Any, layout: str) -> None:
    from mcpstore_cli.errors import UsageError

    if (
        getattr(spec, "session_ids", None) is not None
        or getattr(spec, "since_ms", None) is not None
    ):
        raise UsageError(
            f"--session and --since choose sessions; the {layout} layout holds none (a backup "
            "of it takes every record)."
        )


def record_line(record: list[Any]) -> bytes:
    import orjson

    return orjson.dumps(record) + b"\n"


def json_text(value: Any) -> str | None:
    """A JSON value as the server's compact text (None stays absent)."""
    import json

    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def declared_billing() -> str:
    from mcpstore_cli.layouts.dynamodecl import BILLING_MODE

    return BILLING_MODE


def raw_items(pages: Iterator[list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    for page in pages:
        yield from page


__all__ = [
    "DynamoDBTableStore",
    "_items",
    "code_of",
    "json_text",
    "raw_items",
    "record_line",
    "refuse_session_filters",
]


def scanned_tasks_summary(table: str, skipped: int, gone: int, ttl_attr: str) -> dict[str, Any]:
    """What a backup of a task table made by one scan says of itself."""
    notes = []
    if skipped:
        notes.append(f"{skipped:,} items whose task cannot be read were left out")
    if gone:
        notes.append(f"{gone:,} items past their {ttl_attr} (gone) were left out")
    return {
        "consistency": f"one scan of table {table}, strongly consistent page by page; a scan is "
        "not a snapshot: a task the server changed during the backup is in it as it was when its "
        "page was read",
        "skipped": skipped,
        "notes": notes,
    }
