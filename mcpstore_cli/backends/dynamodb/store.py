"""DynamoDB: the two tables turul's DynamoDbSessionStorage writes, through boto3.

Layout (see storage-layouts.md): sessions table ``<T>`` keyed by ``sessionId``, events table
``<T>-events`` keyed by ``sessionId`` + ``eventId`` (dense per-session ids). JSON fields are
strings, times are milliseconds, ``ttl`` is epoch seconds; an item whose ttl has passed counts
as gone. Old tables use snake_case names, detected from each table's key schema.

boto3 is synchronous: every call runs in a worker thread. Scans run in parallel segments,
follow every page and hand pages over through a bounded queue, so memory stays flat. Scan and
Query pages are decoded from the raw response body (a ``before-parse`` hook) instead of through
botocore's shape walker, which is several times slower for large pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import math
import os
import queue
import random
import shlex
import tempfile
import threading
import time
from collections import Counter
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
from typing import TYPE_CHECKING, Any, ClassVar

from mcpstore_cli.backends.dynamodb.common import (
    BATCH_WRITE_MAX,
    Names,
    TableInfo,
    _attribute_definitions,
    _bool,
    _expired,
    _items,
    _kept_ttl,
    _key_schema,
    _n,
    _s,
    _take_raw_items,
    _terminated,
    _ttl_extras,
)
from mcpstore_cli.backends.dynamodb.wire import Wire, proxy_configured
from mcpstore_cli.errors import (
    Interrupted,
    LayoutError,
    McpStoreError,
    StoreConnectionError,
    StoreMissingError,
    UsageError,
)
from mcpstore_cli.layouts.turul_sessions import dynamodb as layout
from mcpstore_cli.layouts.turul_sessions.dynamodb import GSI_NAME, SESSION_TTL_S
from mcpstore_cli.model.records import (
    AGE_BUCKETS,
    CorruptRow,
    Cursor,
    Event,
    ExpireOptions,
    ExpireResult,
    Finding,
    Session,
    SessionFilter,
    SetupStep,
    Stats,
    percentiles_from_distribution,
)
from mcpstore_cli.model.surgery import ALL_CHANGES
from mcpstore_cli.store.base import ProgressCallback, Store, StoreOptions
from mcpstore_cli.store.urls import DEFAULT_AWS_REGION, DEFAULT_DYNAMODB_TABLE, StoreURL
from mcpstore_cli.util.jsoncodec import BadJSON, dumps, loads_object, loads_optional

if TYPE_CHECKING:
    from mcpstore_cli.model.ids import IdMatches, Note
    from mcpstore_cli.model.teardown import ClearResult, Inventory
    from mcpstore_cli.store.follow import TailRequest, Warn

MB = 1024 * 1024
BYTES_PER_SEGMENT = 24 * MB  # default scan parallelism: one segment per this much data
MAX_DEFAULT_SEGMENTS = 16
# Finding a session id prefix scans the sessions table: say so at once on a table this big,
# or once the scan has run this long.
SCAN_NOTE_ITEMS = 100_000
SCAN_NOTE_SECONDS = 3.0
PAGE_LIMIT_MIN, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX = 1_000, 10_000, 100_000
ACTIVE_TIMEOUT_S = 300.0  # setup waits at most this long for a table to become ACTIVE

AUTH_ERRORS = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
    "InvalidClientTokenId",
}
THROTTLE_ERRORS = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
}


# -- credentials from the command's environment ------------------------------------------
def _botocore_session(environ: Mapping[str, str] | None) -> Any:
    """A botocore session whose config and credential chain read ``environ``.

    The CLI runs with an injected environment (tests build their own); boto3 would otherwise
    read ``os.environ`` for credentials, profiles and config files.
    """
    import botocore.session
    from botocore import configprovider, credentials

    session = botocore.session.Session()
    if environ is None or environ is os.environ:
        return session
    env = dict(environ)
    factory = configprovider.ConfigChainFactory(session=session, environ=env)
    mapping = {
        logical: factory.create_config_chain(
            instance_name=logical,
            env_var_names=env_vars,
            config_property_names=config_key,
            default=default,
            conversion_func=typecast,
        )
        for logical, (
            config_key,
            env_vars,
            default,
            typecast,
        ) in configprovider.BOTOCORE_DEFAUT_SESSION_VARIABLES.items()
    }
    session.register_component("config_store", configprovider.ConfigValueStore(mapping=mapping))
    resolver = credentials.create_credential_resolver(session)
    for provider in resolver.providers:
        if isinstance(provider, credentials.EnvProvider):
            provider.environ = env
        elif isinstance(provider, credentials.ContainerProvider):
            provider._environ = env  # type: ignore[attr-defined,unused-ignore]
    session.register_component("credential_provider", resolver)
    return session


# -- list order: newest activity first, spilling to disk beyond a bound -----------------
class _SortedRuns:
    """Rows (last_activity, session_id, raw item) in list order with bounded memory.

    Up to ``limit`` rows stay in memory; beyond that, sorted runs are written to temporary
    files and merged back lazily.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 1)
        self.buffer: list[tuple[int, str, dict[str, Any]]] = []
        self.files: list[Any] = []
        self.count = 0

    def add(self, row: tuple[int, str, dict[str, Any]]) -> None:
        self.buffer.append(row)
        self.count += 1
        if len(self.buffer) >= self.limit:
            self._spill()

    def _spill(self) -> None:
        self.buffer.sort(reverse=True)
        handle = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed in close()
        for row in self.buffer:
            handle.write(json.dumps(row, separators=(",", ":")))
            handle.write("\n")
        handle.seek(0)
        self.files.append(handle)
        self.buffer = []

    def __iter__(self) -> Iterator[tuple[int, str, dict[str, Any]]]:
        self.buffer.sort(reverse=True)
        if not self.files:
            yield from self.buffer
            return

        def read(handle: Any) -> Iterator[tuple[int, str, dict[str, Any]]]:
            for line in handle:
                la, sid, raw = json.loads(line)
                yield la, sid, raw

        runs = [read(h) for h in self.files] + [iter(self.buffer)]
        yield from heapq.merge(*runs, key=lambda row: (row[0], row[1]), reverse=True)

    def close(self) -> None:
        for handle in self.files:
            handle.close()
        self.files = []
        self.buffer = []


class DynamoDBStore(Store):
    backend = "dynamodb"
    title = "DynamoDB"
    row_word = "item"
    setup_options = frozenset({"stream", "tags", "pitr"})
    recreates_tables = True
    has_streams = True
    scan_segments = True
    event_ids_per_session = True
    item_ttl = True
    native_backups_in_service = True
    # list --limit 0 keeps at most this many raw items (about 2.5 KB each) in memory, then
    # sorts them to a temporary file and merges the runs.
    spill_rows = 25_000

    def label(self) -> str:
        return str(self.url.table or "mcp-sessions")

    def __init__(self, url: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(url, options)
        environ = self.options.environ if self.options.environ is not None else os.environ
        self.environ = environ
        self.table = url.table or DEFAULT_DYNAMODB_TABLE
        self.events_table = self.table + layout.EVENTS_SUFFIX
        self.region = (
            url.region
            or environ.get("AWS_REGION")
            or environ.get("AWS_DEFAULT_REGION")
            or DEFAULT_AWS_REGION
        )
        self.endpoint = (
            url.endpoint
            or environ.get("AWS_ENDPOINT_URL_DYNAMODB")
            or environ.get("AWS_ENDPOINT_URL")
            or None
        )
        self._session: Any = None
        self._client: Any = None
        self._probe_client: Any = None
        self._client_lock = threading.Lock()
        self._sessions: TableInfo | None = None
        self._events: TableInfo | None = None
        self._reachable = False
        self._wire: Wire | None = None
        self._wire_decided = False
        self._wire_lock = threading.Lock()

    # -- clients and errors ---------------------------------------------------------------
    def _make_client(self, *, probe: bool) -> Any:
        import boto3
        from botocore.config import Config

        timeout = self.options.connect_timeout
        config = Config(
            connect_timeout=timeout,
            read_timeout=timeout if probe else max(60.0, timeout),
            retries={"mode": "standard", "total_max_attempts": 1 if probe else 10},
            max_pool_connections=64,
            parameter_validation=False,
            user_agent_extra="mcpstore",
        )
        if self._session is None:  # one session: the clients share its loaded models
            self._session = boto3.session.Session(botocore_session=_botocore_session(self.environ))
        session = self._session
        try:
            client = session.client(
                "dynamodb", region_name=self.region, endpoint_url=self.endpoint, config=config
            )
        except ValueError as exc:  # botocore's InvalidRegionError and friends
            raise UsageError(f"Cannot use DynamoDB in region {self.region!r}: {exc}.") from None
        client.meta.events.register("before-parse.dynamodb.Scan", _take_raw_items)
        client.meta.events.register("before-parse.dynamodb.Query", _take_raw_items)
        return client

    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client(probe=False)
            return self._client

    @property
    def probe_client(self) -> Any:
        with self._client_lock:
            if self._probe_client is None:
                self._probe_client = self._make_client(probe=True)
            return self._probe_client

    def _where(self) -> str:
        return f"at {self.endpoint}" if self.endpoint else f"in region {self.region}"

    def _translate(self, exc: BaseException, table: str | None) -> McpStoreError | None:
        from botocore import exceptions as bx

        target = f"DynamoDB table {table}" if table else "DynamoDB"
        if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
            return StoreConnectionError(
                "No AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or "
                "AWS_PROFILE (any values work for DynamoDB Local)."
            )
        if isinstance(exc, bx.ProfileNotFound):
            return UsageError(f"The AWS profile {exc.kwargs.get('profile')!r} does not exist.")
        if isinstance(
            exc,
            bx.EndpointConnectionError
            | bx.ConnectTimeoutError
            | bx.ReadTimeoutError
            | bx.ConnectionClosedError,
        ):
            return StoreConnectionError(
                f"Cannot reach DynamoDB {self._where()} within "
                f"{self.options.connect_timeout:g} s; check the endpoint/region and that the "
                "service is running."
            )
        if isinstance(exc, bx.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            # A signature mismatch may quote the canonical request, session token included:
            # only the first sentence is kept.
            message = str(error.get("Message", "")).split("\n", 1)[0]
            message = message.split("The Canonical String", 1)[0].strip().rstrip(".")
            if code in AUTH_ERRORS:
                return StoreConnectionError(
                    f"Access to {target} {self._where()} was denied ({code}: {message})."
                )
            if code == "ResourceNotFoundException":
                return StoreMissingError(
                    f"{target} does not exist {self._where()}; run mcpstore setup --url "
                    f"{self.url.masked()}."
                )
            if code in THROTTLE_ERRORS:
                return StoreConnectionError(
                    f"{target} kept throttling requests after 10 attempts; try again later or "
                    "with fewer --segments."
                )
            if code == "UnknownOperationException":
                return StoreConnectionError(
                    f"DynamoDB {self._where()} does not support {exc.operation_name} "
                    f"({message or code})."
                )
            return StoreConnectionError(f"DynamoDB error on {target}: {code}: {message}.")
        if isinstance(exc, bx.BotoCoreError):
            return StoreConnectionError(f"DynamoDB {self._where()}: {exc}.")
        return None

    def _call(
        self, method: str, *, table: str | None = None, probe: bool = False, **kw: Any
    ) -> Any:
        client = self.probe_client if probe else self.client
        return self._translating(table or kw.get("TableName"), getattr(client, method), **kw)

    def _translating(self, table: str | None, fn: Callable[..., Any], *a: Any, **kw: Any) -> Any:
        """``fn(*a, **kw)``, its botocore errors raised as mcpstore's (see _translate)."""
        try:
            return fn(*a, **kw)
        except McpStoreError:
            raise
        except Exception as exc:
            translated = self._translate(exc, table)
            if translated is None:
                raise
            raise translated from exc

    def _bulk_wire(self) -> Wire | None:
        """The lean BatchWriteItem path (see dynamodb_wire), or None where the client must
        do the work: a proxy, no credentials, an endpoint that is not plain http(s)."""
        with self._wire_lock:
            if self._wire_decided:
                return self._wire
            self._wire_decided = True
            client = self.client
            endpoint_url = client.meta.endpoint_url
            try:
                credentials = self._session.get_credentials()
            except Exception:  # the client's own call reports it, translated
                return None
            if (
                credentials is None
                or client.meta.config.proxies
                or proxy_configured(endpoint_url, self.environ)
            ):
                return None
            import botocore

            from mcpstore_cli import __version__

            try:
                self._wire = Wire(
                    endpoint_url,
                    client.meta.region_name,
                    credentials,
                    connect_timeout=self.options.connect_timeout,
                    read_timeout=max(60.0, self.options.connect_timeout),
                    ca_bundle=self._session._session.get_config_variable("ca_bundle"),
                    user_agent=f"mcpstore/{__version__} botocore/{botocore.__version__}",
                )
            except ValueError:
                return None
            return self._wire

    def _batch_write_item(self, request_items: dict[str, list[dict[str, Any]]]) -> Any:
        wire = self._bulk_wire()
        if wire is None:
            return self._call("batch_write_item", RequestItems=request_items)
        return self._translating(None, wire.call, "BatchWriteItem", {"RequestItems": request_items})

    async def close(self) -> None:
        for client in (self._client, self._probe_client):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
        self._client = self._probe_client = None
        with self._wire_lock:
            wire, self._wire, self._wire_decided = self._wire, None, False
        if wire is not None:
            wire.close()

    # -- table discovery ------------------------------------------------------------------
    def _describe(self, name: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        probe = not self._reachable
        client = self.probe_client if probe else self.client
        try:
            table = client.describe_table(TableName=name)["Table"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                self._reachable = True
                return None
            translated = self._translate(exc, name)
            raise (translated or exc) from exc
        except Exception as exc:
            translated = self._translate(exc, name)
            if translated is None:
                raise
            raise translated from exc
        self._reachable = True
        return table

    def _table_info(self, name: str, description: dict[str, Any] | None) -> TableInfo:
        info = TableInfo(name, description)
        if description is not None:
            keys = [k["AttributeName"] for k in description.get("KeySchema", [])]
            info.names = Names(layout.is_snake(keys))
        return info

    def _discover(self) -> tuple[TableInfo, TableInfo]:
        sessions = self._table_info(self.table, self._describe(self.table))
        events = self._table_info(self.events_table, self._describe(self.events_table))
        return sessions, events

    def _key_problems(self, info: TableInfo, *, events: bool) -> list[str]:
        desc = info.description or {}
        keys = {k["KeyType"]: k["AttributeName"] for k in desc.get("KeySchema", [])}
        types = {
            a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])
        }
        n = info.names
        table = layout.EVENTS if events else layout.SESSIONS
        want = {
            k.key_type: (getattr(n, k.attribute), table.attributes[k.attribute]) for k in table.keys
        }
        problems = []
        for kind, (name, typ) in want.items():
            have = keys.get(kind)
            if have is None:
                problems.append(f"has no {kind} key (expected {name})")
            elif have != name:
                problems.append(f"has {kind} key {have}, expected {name}")
            elif types.get(have) != typ:
                problems.append(f"key {have} is of type {types.get(have)}, expected {typ}")
        extra = set(keys) - set(want)
        if extra:
            problems.append(
                f"has a {'/'.join(sorted(extra))} key {keys[sorted(extra)[0]]} the layout lacks"
            )
        return problems

    def _ensure_readable_sync(self) -> None:
        if self._sessions is not None and self._events is not None:
            return
        sessions, events = self._discover()
        setup_hint = f"run mcpstore setup --url {self.url.masked()}"
        if not sessions.exists:
            raise StoreMissingError(
                f"DynamoDB table {self.table} does not exist {self._where()}; {setup_hint}."
            )
        keys = [k["AttributeName"] for k in (sessions.description or {}).get("KeySchema", [])]
        if keys == ["collection", "key"]:
            raise LayoutError(
                f"DynamoDB table {self.table} holds key-value entries (collection, key: "
                f"FastMCP's stores through py-key-value); give --layout fastmcp."
            )
        if not events.exists:
            raise StoreMissingError(
                f"DynamoDB table {self.table} has no events table {self.events_table} "
                f"{self._where()}; {setup_hint}."
            )
        for info, is_events in ((sessions, False), (events, True)):
            problems = self._key_problems(info, events=is_events)
            if problems:
                raise LayoutError(
                    f"DynamoDB table {info.name} is not in the session layout: it "
                    f"{problems[0]}; see mcpstore setup --check."
                )
        self._sessions, self._events = sessions, events

    async def ensure_readable(self) -> None:
        await asyncio.to_thread(self._ensure_readable_sync)

    def tables(self) -> list[str]:
        return [self.table, self.events_table]

    # -- provisioning ---------------------------------------------------------------------
    def _create_requests(
        self, *, stream: bool, tags: Mapping[str, str], names: tuple[Names, Names] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        sn, en = names or (Names(False), Names(False))
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        sessions: dict[str, Any] = {
            "TableName": self.table,
            "AttributeDefinitions": _attribute_definitions(layout.SESSIONS, sn),
            "KeySchema": _key_schema(layout.SESSIONS.keys, sn),
            "BillingMode": layout.BILLING_MODE,
            "GlobalSecondaryIndexes": [self._gsi(sn)],
        }
        events: dict[str, Any] = {
            "TableName": self.events_table,
            "AttributeDefinitions": _attribute_definitions(layout.EVENTS, en),
            "KeySchema": _key_schema(layout.EVENTS.keys, en),
            "BillingMode": layout.BILLING_MODE,
        }
        if stream:
            events["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        if tag_list:
            sessions["Tags"] = tag_list
            events["Tags"] = tag_list
        return sessions, events

    @staticmethod
    def _gsi(names: Names) -> dict[str, Any]:
        (index,) = layout.SESSIONS.indexes
        return {
            "IndexName": index.name,
            "KeySchema": _key_schema(index.keys, names),
            "Projection": {"ProjectionType": index.projection},
        }

    def setup_plan(self, **options: Any) -> list[str]:
        stream = bool(options.get("stream", True))
        tags: Mapping[str, str] = options.get("tags") or {}
        pitr = bool(options.get("pitr", False))
        sessions, events = self._create_requests(stream=stream, tags=tags)
        ttl = Names(False).ttl
        base = ["aws", "dynamodb"]
        where = ["--region", self.region]
        if self.endpoint:
            where += ["--endpoint-url", self.endpoint]

        def cli(op: str, payload: dict[str, Any]) -> str:
            body = json.dumps(payload, separators=(",", ":"))
            return shlex.join([*base, op, *where, "--cli-input-json", body])

        plan = []
        for label, request in (("sessions", sessions), ("events", events)):
            extras = (
                f"GSI {GSI_NAME}"
                if label == "sessions"
                else ("NEW_IMAGE stream" if stream else "no stream")
            )
            plan.append(
                f"# {label} table {request['TableName']}: {layout.BILLING_MODE}, {extras}, "
                f"time to live on {ttl}"
            )
            plan.append(cli("create-table", request))
            plan.append(shlex.join([*base, "wait", "table-exists", *where, "--table-name",
                                    request["TableName"]]))  # fmt: skip
            plan.append(
                cli(
                    "update-time-to-live",
                    {
                        "TableName": request["TableName"],
                        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": ttl},
                    },
                )
            )
            if pitr:
                plan.append(
                    cli(
                        "update-continuous-backups",
                        {
                            "TableName": request["TableName"],
                            "PointInTimeRecoverySpecification": {
                                "PointInTimeRecoveryEnabled": True
                            },
                        },
                    )
                )
        return plan

    def _wait_active(self, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + ACTIVE_TIMEOUT_S
        delay = 0.1
        while True:
            desc = self._describe(name)
            if desc is not None:
                busy = [
                    g["IndexName"]
                    for g in desc.get("GlobalSecondaryIndexes", [])
                    if g.get("IndexStatus") not in (None, "ACTIVE")
                ]
                if desc.get("TableStatus") == "ACTIVE" and not busy:
                    return desc
            if time.monotonic() > deadline:
                raise StoreConnectionError(
                    f"DynamoDB table {name} did not become ACTIVE within "
                    f"{ACTIVE_TIMEOUT_S:.0f} s; check it in the AWS console and run setup again."
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def _ttl_status(self, name: str) -> tuple[str, str | None]:
        desc = self._call("describe_time_to_live", TableName=name)["TimeToLiveDescription"]
        return str(desc.get("TimeToLiveStatus", "DISABLED")), desc.get("AttributeName")

    def _setup_sync(self, stream: bool, tags: Mapping[str, str], pitr: bool) -> list[SetupStep]:
        steps: list[SetupStep] = []
        sessions, events = self._discover()
        for info, is_events in ((sessions, False), (events, True)):
            if info.exists:
                problems = self._key_problems(info, events=is_events)
                if problems:
                    raise LayoutError(
                        f"DynamoDB table {info.name} exists but {problems[0]}; it is not in the "
                        "session layout, so setup leaves it alone."
                    )
        # An existing table's convention decides the other's, so a server sees one naming.
        snake = sessions.names.snake if sessions.exists else events.names.snake
        names = (
            sessions.names if sessions.exists else Names(snake),
            events.names if events.exists else Names(snake),
        )
        create_sessions, create_events = self._create_requests(
            stream=stream, tags=tags, names=names
        )
        for label, info, request in (
            ("sessions", sessions, create_sessions),
            ("events", events, create_events),
        ):
            kind = f"table {info.name}"
            if info.exists:
                steps.append(SetupStep(label, "exists", kind))
                desc = self._wait_active(info.name)
                steps += self._repair(label, info, desc, stream=stream)
            else:
                self._call("create_table", **request)
                desc = self._wait_active(info.name)
                steps.append(SetupStep(label, "created", kind))
                if label == "sessions":
                    steps.append(SetupStep(f"{label}.{GSI_NAME}", "created", "index"))
                elif stream:
                    steps.append(SetupStep(f"{label} stream", "created", "NEW_IMAGE"))
            status, attr = self._ttl_status(info.name)
            ttl_name = names[0 if label == "sessions" else 1].ttl
            if status in ("ENABLED", "ENABLING") and attr == ttl_name:
                steps.append(SetupStep(f"{label} ttl", "exists", f"time to live on {attr}"))
            elif status in ("ENABLED", "ENABLING"):
                steps.append(
                    SetupStep(
                        f"{label} ttl",
                        f"left on {attr}",
                        f"time to live is on {attr}, the layout says {ttl_name}",
                    )
                )
            else:
                self._call(
                    "update_time_to_live",
                    TableName=info.name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_name},
                )
                steps.append(SetupStep(f"{label} ttl", "created", f"time to live on {ttl_name}"))
            if tags and info.exists:
                self._call(
                    "tag_resource",
                    ResourceArn=desc["TableArn"],
                    Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
                )
                steps.append(SetupStep(f"{label} tags", "updated", ", ".join(sorted(tags))))
            elif tags:
                steps.append(SetupStep(f"{label} tags", "created", ", ".join(sorted(tags))))
            if pitr:
                self._call(
                    "update_continuous_backups",
                    TableName=info.name,
                    PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
                )
                steps.append(SetupStep(f"{label} pitr", "updated", "point-in-time recovery"))
        self._sessions = self._events = None
        return steps

    def _repair(
        self, label: str, info: TableInfo, desc: dict[str, Any], *, stream: bool
    ) -> list[SetupStep]:
        """Apply to an existing table what the layout has and it lacks."""
        steps: list[SetupStep] = []
        billing = (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        if billing != layout.BILLING_MODE:
            self._call("update_table", TableName=info.name, BillingMode=layout.BILLING_MODE)
            desc = self._wait_active(info.name)
            steps.append(SetupStep(f"{label} billing", "updated", layout.BILLING_MODE))
        if label == "sessions":
            gsis = {g["IndexName"]: g for g in desc.get("GlobalSecondaryIndexes", [])}
            if GSI_NAME in gsis:
                steps.append(SetupStep(f"{label}.{GSI_NAME}", "exists", "index"))
            else:
                self._call(
                    "update_table",
                    TableName=info.name,
                    AttributeDefinitions=_attribute_definitions(
                        layout.SESSIONS, info.names, indexes_only=True
                    ),
                    GlobalSecondaryIndexUpdates=[{"Create": self._gsi(info.names)}],
                )
                self._wait_active(info.name)
                steps.append(SetupStep(f"{label}.{GSI_NAME}", "created", "index"))
        elif stream:
            spec = desc.get("StreamSpecification") or {}
            if spec.get("StreamEnabled"):
                view = spec.get("StreamViewType")
                action = "exists" if view == "NEW_IMAGE" else f"left as {view}"
                steps.append(SetupStep(f"{label} stream", action, str(view)))
            else:
                self._call(
                    "update_table",
                    TableName=info.name,
                    StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
                )
                self._wait_active(info.name)
                steps.append(SetupStep(f"{label} stream", "created", "NEW_IMAGE"))
        return steps

    async def setup(self, **options: Any) -> list[SetupStep]:
        stream = bool(options.get("stream", True))
        tags: Mapping[str, str] = options.get("tags") or {}
        pitr = bool(options.get("pitr", False))
        return await asyncio.to_thread(self._setup_sync, stream, tags, pitr)

    def _check_sync(self) -> list[Finding]:
        sessions, events = self._discover()
        if not sessions.exists and not events.exists:
            raise StoreMissingError(
                f"No DynamoDB tables {self.table} and {self.events_table} {self._where()}; "
                f"run mcpstore setup --url {self.url.masked()}."
            )
        findings: list[Finding] = []
        for info, is_events in ((sessions, False), (events, True)):
            obj = f"table {info.name}"
            if not info.exists:
                findings.append(Finding(obj, "missing"))
                continue
            problems = self._key_problems(info, events=is_events)
            findings += [Finding(f"{obj} key schema", p) for p in problems]
            desc = info.description or {}
            billing = (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
            if billing != layout.BILLING_MODE:
                findings.append(
                    Finding(f"{obj} billing mode", f"{billing}, expected {layout.BILLING_MODE}")
                )
            if desc.get("TableStatus") not in ("ACTIVE", None):
                findings.append(Finding(obj, f"status {desc.get('TableStatus')}", "note"))
            status, attr = self._ttl_status(info.name)
            if status not in ("ENABLED", "ENABLING"):
                findings.append(
                    Finding(
                        f"{obj} time to live", f"{status.lower()}, expected on {info.names.ttl}"
                    )
                )
            elif attr != info.names.ttl:
                findings.append(
                    Finding(f"{obj} time to live", f"on {attr}, expected on {info.names.ttl}")
                )
            if not is_events:
                findings += self._check_gsi(obj, info)
            else:
                spec = desc.get("StreamSpecification") or {}
                if not spec.get("StreamEnabled"):
                    findings.append(
                        Finding(f"{obj} stream", "none (tail-events needs NEW_IMAGE)", "note")
                    )
                elif spec.get("StreamViewType") not in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
                    findings.append(
                        Finding(
                            f"{obj} stream",
                            f"{spec.get('StreamViewType')} (tail-events needs NEW_IMAGE)",
                            "note",
                        )
                    )
        if sessions.exists and events.exists and sessions.names.snake != events.names.snake:
            findings.append(
                Finding(
                    "attribute names",
                    f"{sessions.name} uses {sessions.names.convention}, {events.name} uses "
                    f"{events.names.convention}",
                    "note",
                )
            )
        return findings

    def _check_gsi(self, obj: str, info: TableInfo) -> list[Finding]:
        desc = info.description or {}
        gsis = {g["IndexName"]: g for g in desc.get("GlobalSecondaryIndexes", [])}
        gsi = gsis.get(GSI_NAME)
        where = f"{obj} index {GSI_NAME}"
        if gsi is None:
            return [Finding(where, "missing")]
        (index,) = layout.SESSIONS.indexes
        out = []
        keys = [(k["AttributeName"], k["KeyType"]) for k in gsi.get("KeySchema", [])]
        want = [(getattr(info.names, k.attribute), k.key_type) for k in index.keys]
        if keys != want:
            shown = ", ".join(f"{a} {t}" for a, t in keys)
            expected = ", ".join(f"{a} {t}" for a, t in want)
            out.append(Finding(where, f"keyed on {shown}, expected {expected}"))
        projection = (gsi.get("Projection") or {}).get("ProjectionType")
        if projection != index.projection:
            out.append(
                Finding(where, f"projection {projection}, expected {index.projection}", "note")
            )
        return out

    async def check(self) -> list[Finding]:
        return await asyncio.to_thread(self._check_sync)

    # -- scanning -------------------------------------------------------------------------
    def _segments_for(self, info: TableInfo) -> int:
        if self.options.segments:
            return max(1, int(self.options.segments))
        return max(1, min(MAX_DEFAULT_SEGMENTS, math.ceil(info.size_bytes / BYTES_PER_SEGMENT)))

    @staticmethod
    def _page_limit(info: TableInfo, fill: float = 2.5) -> int:
        """``fill`` times what fits in one 1 MB page, from the table's mean item size.

        DynamoDB ends a page at 1 MB whatever the Limit, so pages stay as full as the page
        size allows. DynamoDB Local, though, reads up to Limit items (without one: the rest
        of the table) for every page before cutting it at 1 MB, which makes an unbounded
        scan quadratic there (measured: 1.2 s instead of 0.07 s per page at 200,000 items).
        """
        if info.item_count <= 0 or info.size_bytes <= 0:
            return PAGE_LIMIT_DEFAULT
        per_page = MB / (info.size_bytes / info.item_count)
        return int(min(PAGE_LIMIT_MAX, max(PAGE_LIMIT_MIN, fill * per_page)))

    def _scan_pages(
        self, info: TableInfo, params: Mapping[str, Any], segments: int
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of a (parallel) scan, as pages arrive; follows LastEvaluatedKey."""
        params = {"Limit": self._page_limit(info), **params}
        if segments <= 1:
            kw = dict(params)
            while True:
                response = self._call("scan", TableName=info.name, **kw)
                yield _items(response)
                last = response.get("LastEvaluatedKey")
                if not last:
                    return
                kw["ExclusiveStartKey"] = last
        done = object()
        pages: queue.Queue[Any] = queue.Queue(maxsize=2 * segments)
        stop = threading.Event()

        def put(value: Any) -> bool:
            while not stop.is_set():
                try:
                    pages.put(value, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def worker(segment: int) -> None:
            try:
                kw = dict(params, Segment=segment, TotalSegments=segments)
                while not stop.is_set():
                    response = self._call("scan", TableName=info.name, **kw)
                    if not put(_items(response)):
                        return
                    last = response.get("LastEvaluatedKey")
                    if not last:
                        break
                    kw["ExclusiveStartKey"] = last
            except BaseException as exc:
                put(exc)
            finally:
                put(done)

        threads = [
            threading.Thread(target=worker, args=(i,), name=f"scan-{info.name}-{i}", daemon=True)
            for i in range(segments)
        ]
        for thread in threads:
            thread.start()
        finished = 0
        try:
            while finished < segments:
                value = pages.get()
                if value is done:
                    finished += 1
                elif isinstance(value, BaseException):
                    raise value
                else:
                    yield value
        finally:
            stop.set()
            for thread in threads:
                thread.join()

    @staticmethod
    def _ttl_filter(names: Names, now_s: int) -> tuple[str, dict[str, str], dict[str, Any]]:
        return (
            "(attribute_not_exists(#ttl) OR #ttl > :now_s)",
            {"#ttl": names.ttl},
            {":now_s": {"N": str(now_s)}},
        )

    def _count_events_by_session(self, now_s: int) -> tuple[Counter[str], int]:
        """Live events per session id, by one parallel scan of the events table."""
        assert self._events is not None
        n = self._events.names
        expr, names, values = self._ttl_filter(n, now_s)
        params = {
            "ProjectionExpression": "#sid",
            "FilterExpression": expr,
            "ExpressionAttributeNames": {**names, "#sid": n.session_id},
            "ExpressionAttributeValues": values,
        }
        counts: Counter[str] = Counter()
        total = 0
        key = n.session_id
        for page in self._scan_pages(self._events, params, self._segments_for(self._events)):
            total += len(page)
            counts.update(item[key]["S"] for item in page)
        return counts, total

    def _count_events(self, session_id: str, now_s: int) -> int:
        assert self._events is not None
        n = self._events.names
        expr, names, values = self._ttl_filter(n, now_s)
        kw: dict[str, Any] = {
            "TableName": self._events.name,
            "Select": "COUNT",
            "KeyConditionExpression": "#sid = :sid",
            "FilterExpression": expr,
            "ExpressionAttributeNames": {**names, "#sid": n.session_id},
            "ExpressionAttributeValues": {**values, ":sid": {"S": session_id}},
        }
        total = 0
        while True:
            response = self._call("query", **kw)
            total += int(response.get("Count", 0))
            last = response.get("LastEvaluatedKey")
            if not last:
                return total
            kw["ExclusiveStartKey"] = last

    def _query_threshold(self) -> int:
        """Up to this many sessions, count events per session; beyond, scan the events table."""
        assert self._events is not None
        pages = max(1, math.ceil(self._events.size_bytes / MB))
        return max(64, 4 * pages)

    # -- decoding -------------------------------------------------------------------------
    def _decode_session(self, raw: Mapping[str, Any]) -> Session | CorruptRow:
        assert self._sessions is not None
        n = self._sessions.names
        sid = _s(raw.get(n.session_id)) or ""
        created = _n(raw.get(n.created_at))
        activity = _n(raw.get(n.last_activity))
        try:
            if created is None or activity is None:
                raise BadJSON(f"{n.created_at}/{n.last_activity} is missing or not a number")
            fields: dict[str, Any] = {}
            for logical in ("client_capabilities", "server_capabilities", "state", "metadata"):
                av = raw.get(getattr(n, logical))
                if av is not None and "S" not in av and "NULL" not in av:
                    kind = next(iter(av), "?")
                    raise BadJSON(f"{getattr(n, logical)} is of type {kind}, not a JSON string")
                fields[logical] = _s(av)
            return Session(
                session_id=sid,
                created_at=created,
                last_activity=activity,
                is_initialized=_bool(raw.get(n.is_initialized)),
                client_capabilities=loads_optional(
                    fields["client_capabilities"], n.client_capabilities
                ),
                server_capabilities=loads_optional(
                    fields["server_capabilities"], n.server_capabilities
                ),
                state=loads_object(fields["state"], n.state),
                metadata=loads_object(fields["metadata"], n.metadata),
                extras=_ttl_extras(raw.get(n.ttl)),
            )
        except BadJSON as exc:
            place = Cursor(activity if activity is not None else -1, sid)
            return CorruptRow(self.table, sid, str(exc), place)

    def _decode_event(self, raw: Mapping[str, Any]) -> Event | CorruptRow:
        assert self._events is not None
        n = self._events.names
        sid = _s(raw.get(n.session_id)) or ""
        eid = _n(raw.get(n.event_id))
        stamp = _n(raw.get(n.timestamp))
        if eid is None or stamp is None:
            return CorruptRow(
                self.events_table, f"{sid}#{eid}", f"{n.event_id}/{n.timestamp} is not a number"
            )
        text = _s(raw.get(n.data))
        try:
            data = None if text is None else json.loads(text)
        except ValueError:
            data = None  # the server reads unparsable data as JSON null
        return Event(
            session_id=sid,
            id=eid,
            timestamp=stamp,
            event_type=_s(raw.get(n.event_type)) or "message",
            data=data,
            retry=_n(raw.get(n.retry)),
            extras=_ttl_extras(raw.get(n.ttl)),
        )

    # -- reading --------------------------------------------------------------------------
    def _session_scan_params(
        self, flt: SessionFilter, cursor: Cursor | None, now_s: int
    ) -> dict[str, Any]:
        """Push what DynamoDB can evaluate into the scan; Python re-checks everything."""
        assert self._sessions is not None
        n = self._sessions.names
        expr, names, values = self._ttl_filter(n, now_s)
        clauses = [expr]
        if flt.idle_over_ms is not None:
            clauses.append("#la < :idle")
            values[":idle"] = {"N": str(flt.now_ms - flt.idle_over_ms)}
        if flt.active:
            clauses.append("#la >= :active")
            values[":active"] = {"N": str(flt.now_ms - flt.timeout_ms)}
        if flt.created_after is not None:
            clauses.append("#ca > :after")
            values[":after"] = {"N": str(flt.created_after)}
        if flt.created_before is not None:
            clauses.append("#ca < :before")
            values[":before"] = {"N": str(flt.created_before)}
        if flt.initialized is not None:
            clauses.append("#init = :init")
            values[":init"] = {"BOOL": flt.initialized}
        if flt.terminated is True:
            clauses.append("contains(#st, :term)")
            values[":term"] = {"S": "terminated"}
        if cursor is not None:
            clauses.append("(#la <= :cursor OR attribute_not_exists(#la))")
            values[":cursor"] = {"N": str(cursor.last_activity)}
        used = " ".join(clauses)
        for alias, attr in (
            ("#la", n.last_activity),
            ("#ca", n.created_at),
            ("#init", n.is_initialized),
            ("#st", n.state),
        ):
            if alias in used:
                names[alias] = attr
        return {
            "FilterExpression": " AND ".join(clauses),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def _list_key(
        self, raw: Mapping[str, Any], flt: SessionFilter, cursor: Cursor | None, now_s: int
    ) -> tuple[int, str] | None:
        """(last_activity, session_id) when the item is listed, else None."""
        assert self._sessions is not None
        n = self._sessions.names
        sid = _s(raw.get(n.session_id))
        if sid is None or _expired(_n(raw.get(n.ttl)), now_s):
            return None
        activity = _n(raw.get(n.last_activity))
        created = _n(raw.get(n.created_at))
        # A (corrupt) item without the times sorts last and never matches a filter on them,
        # as the pushed-down filter expression has it.
        if (activity is None and (flt.active or flt.idle_over_ms is not None)) or (
            created is None and (flt.created_after is not None or flt.created_before is not None)
        ):
            return None
        la = -1 if activity is None else activity
        if cursor is not None and not (
            la < cursor.last_activity or (la == cursor.last_activity and sid < cursor.session_id)
        ):
            return None
        needs_state = flt.active or flt.terminated is not None
        probe = Session(
            session_id=sid,
            created_at=created or 0,
            last_activity=la,
            is_initialized=_bool(raw.get(n.is_initialized)),
            state={"terminated": True} if needs_state and _terminated(_s(raw.get(n.state))) else {},
        )
        return (la, sid) if flt.matches(probe) else None

    def _with_counts(
        self,
        rows: Iterable[tuple[int, str, dict[str, Any]]],
        counts: Counter[str] | None,
        now_s: int,
        pool: ThreadPoolExecutor,
        chunk: int = 256,
    ) -> Iterator[list[Session | CorruptRow]]:
        batch: list[Session | CorruptRow] = []

        def flush() -> list[Session | CorruptRow]:
            if counts is None:
                live = [s for s in batch if isinstance(s, Session)]
                for session, total in zip(
                    live,
                    pool.map(lambda s: self._count_events(s.session_id, now_s), live),
                    strict=True,
                ):
                    session.event_count = total
            return batch

        for _la, _sid, raw in rows:
            item = self._decode_session(raw)
            if isinstance(item, Session) and counts is not None:
                item.event_count = counts.get(item.session_id, 0)
            batch.append(item)
            if len(batch) >= chunk:
                yield flush()
                batch = []
        if batch:
            yield flush()

    def _list_sync(
        self, flt: SessionFilter, limit: int | None, cursor: Cursor | None
    ) -> Generator[list[Session | CorruptRow], None, None]:
        self._ensure_readable_sync()
        assert self._sessions is not None and self._events is not None
        now_s = flt.now_ms // 1000
        params = self._session_scan_params(flt, cursor, now_s)
        segments = self._segments_for(self._sessions)
        threshold = self._query_threshold()
        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="mcpstore-ddb") as pool:
            counting: Future[tuple[Counter[str], int]] | None = None
            unfiltered = flt == SessionFilter(now_ms=flt.now_ms, timeout_ms=flt.timeout_ms)
            expected = self._sessions.item_count if limit is None else limit
            if unfiltered and cursor is None and expected > threshold:
                # Counting by one events scan beats a query per session; run it meanwhile.
                counting = pool.submit(self._count_events_by_session, now_s)
            try:
                if limit is not None:
                    rows: Iterable[tuple[int, str, dict[str, Any]]] = self._top(
                        params, segments, flt, cursor, now_s, limit
                    )
                    total = len(rows)  # type: ignore[arg-type]
                    runs = None
                else:
                    runs = _SortedRuns(self.spill_rows)
                    for page in self._scan_pages(self._sessions, params, segments):
                        for raw in page:
                            key = self._list_key(raw, flt, cursor, now_s)
                            if key is not None:
                                runs.add((key[0], key[1], raw))
                    rows, total = runs, runs.count
                counts: Counter[str] | None = None
                if counting is not None:
                    counts = counting.result()[0]
                elif total > threshold:
                    counts = self._count_events_by_session(now_s)[0]
                yield from self._with_counts(rows, counts, now_s, pool)
                if runs is not None:
                    runs.close()
            finally:
                if counting is not None and not counting.done():
                    counting.cancel()

    def _top(
        self,
        params: Mapping[str, Any],
        segments: int,
        flt: SessionFilter,
        cursor: Cursor | None,
        now_s: int,
        limit: int,
    ) -> list[tuple[int, str, dict[str, Any]]]:
        """The first ``limit`` rows in list order, with a heap of at most ``limit`` entries."""
        assert self._sessions is not None
        heap: list[tuple[int, str, dict[str, Any]]] = []
        if limit <= 0:
            return []
        for page in self._scan_pages(self._sessions, params, segments):
            for raw in page:
                key = self._list_key(raw, flt, cursor, now_s)
                if key is None:
                    continue
                if len(heap) < limit:
                    heapq.heappush(heap, (key[0], key[1], raw))
                elif key > heap[0][:2]:
                    heapq.heapreplace(heap, (key[0], key[1], raw))
        heap.sort(key=lambda row: (row[0], row[1]), reverse=True)
        return heap

    async def iter_sessions(
        self, flt: SessionFilter, *, limit: int | None, cursor: Cursor | None = None
    ) -> AsyncIterator[Session | CorruptRow]:
        self.check_filter(flt)
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

    def _get_sync(self, session_id: str) -> Session | CorruptRow | None:
        self._ensure_readable_sync()
        assert self._sessions is not None
        n = self._sessions.names
        response = self._call(
            "get_item",
            TableName=self.table,
            Key={n.session_id: {"S": session_id}},
            ConsistentRead=True,
        )
        raw = response.get("Item")
        now_s = int(time.time())
        if not raw or _expired(_n(raw.get(n.ttl)), now_s):
            return None
        found = self._decode_session(raw)
        if isinstance(found, Session):
            found.event_count = self._count_events(session_id, now_s)
        return found

    async def get_session(self, session_id: str) -> Session | CorruptRow | None:
        return await asyncio.to_thread(self._get_sync, session_id)

    def _existing_sync(self, ids: Sequence[str]) -> list[str]:
        self._ensure_readable_sync()
        assert self._sessions is not None
        n = self._sessions.names
        now_s = int(time.time())
        found = []
        for sid in ids:  # one GetItem per spelling (at most three), key and TTL only
            raw = self._call(
                "get_item",
                TableName=self.table,
                Key={n.session_id: {"S": sid}},
                ProjectionExpression="#sid, #ttl",
                ExpressionAttributeNames={"#sid": n.session_id, "#ttl": n.ttl},
                ConsistentRead=True,
            ).get("Item")
            if raw and not _expired(_n(raw.get(n.ttl)), now_s):
                found.append(sid)
        return found

    async def existing_session_ids(self, ids: Sequence[str]) -> list[str]:
        return await asyncio.to_thread(self._existing_sync, ids)

    def _match_sync(self, prefixes: Sequence[str], limit: int, note: Note | None) -> IdMatches:
        from mcpstore_cli.model.ids import IdMatches

        self._ensure_readable_sync()
        info = self._sessions
        assert info is not None
        n = info.names
        now_s = int(time.time())
        expr, names, values = self._ttl_filter(n, now_s)
        starts = [f"begins_with(#sid, :p{i})" for i in range(len(prefixes))]
        params = {
            "ProjectionExpression": "#sid",
            "FilterExpression": f"({' OR '.join(starts)}) AND {expr}",
            "ExpressionAttributeNames": {**names, "#sid": n.session_id},
            "ExpressionAttributeValues": {
                **values,
                **{f":p{i}": {"S": p} for i, p in enumerate(prefixes)},
            },
        }
        # A prefix has no key to look up: the whole table is scanned (key attribute only).
        what = f"session ids starting with {prefixes[0]!r}"
        if note is not None and info.item_count > SCAN_NOTE_ITEMS:
            note(
                f"looking for {what}: scanning the {info.item_count:,} items of {info.name} "
                "(the full id is found without a scan)..."
            )
            note = None
        started = time.monotonic()
        smallest: list[str] = []  # trimmed to the ``limit`` smallest ids as it grows
        total = 0
        for page in self._scan_pages(info, params, self._segments_for(info)):
            for raw in page:
                sid = _s(raw.get(n.session_id))
                if sid is None:
                    continue
                total += 1
                smallest.append(sid)
                if len(smallest) > 4 * limit:
                    smallest = sorted(smallest)[:limit]
            if note is not None and time.monotonic() - started > SCAN_NOTE_SECONDS:
                note(f"looking for {what}: still scanning {info.name}...")
                note = None
        return IdMatches(sorted(smallest)[:limit], total)

    async def match_session_ids(
        self, prefixes: Sequence[str], *, limit: int, note: Note | None = None
    ) -> IdMatches:
        return await asyncio.to_thread(self._match_sync, prefixes, limit, note)

    def _recent_sync(self, session_id: str, limit: int) -> list[Event | CorruptRow]:
        self._ensure_readable_sync()
        assert self._events is not None
        if limit <= 0:
            return []
        n = self._events.names
        now_s = int(time.time())
        expr, names, values = self._ttl_filter(n, now_s)
        kw: dict[str, Any] = {
            "TableName": self.events_table,
            "KeyConditionExpression": "#sid = :sid",
            "FilterExpression": expr,
            "ExpressionAttributeNames": {**names, "#sid": n.session_id},
            "ExpressionAttributeValues": {**values, ":sid": {"S": session_id}},
            "ScanIndexForward": False,
            "Limit": max(limit, 10),
        }
        newest_first: list[Event | CorruptRow] = []
        while len(newest_first) < limit:
            response = self._call("query", **kw)
            for raw in _items(response):
                if not _expired(_n(raw.get(n.ttl)), now_s):
                    newest_first.append(self._decode_event(raw))
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            kw["ExclusiveStartKey"] = last
        return list(reversed(newest_first[:limit]))

    async def recent_events(self, session_id: str, limit: int) -> list[Event | CorruptRow]:
        return await asyncio.to_thread(self._recent_sync, session_id, limit)

    # -- stats ----------------------------------------------------------------------------
    def _stats_sync(self, now_ms: int, timeout_ms: int, approximate: bool) -> Stats:
        self._ensure_readable_sync()
        assert self._sessions is not None and self._events is not None
        sessions, events = self._sessions, self._events
        stats = Stats(
            backend=self.backend, store=self.url.masked(), now_ms=now_ms, timeout_ms=timeout_ms
        )
        if approximate:
            # DescribeTable's counts: refreshed about every six hours, expired items included.
            stats.approximate = True
            stats.sessions = sessions.item_count
            stats.events = events.item_count
        else:
            self._exact_counts(stats, now_ms, timeout_ms)
        stats.storage = {
            "sessions": sessions.size_bytes,
            "events": events.size_bytes,
            "total": sessions.size_bytes + events.size_bytes,
        }
        stats.storage_bytes = stats.storage["total"]
        stats.backend_facts = self._facts()
        if approximate:
            stats.backend_facts["counts"] = (
                "DescribeTable item counts (refreshed about every 6 hours, expired items "
                "included); no breakdown without a scan"
            )
        return stats

    def _exact_counts(self, stats: Stats, now_ms: int, timeout_ms: int) -> None:
        assert self._sessions is not None
        n = self._sessions.names
        now_s = now_ms // 1000
        expr, names, values = self._ttl_filter(n, now_s)
        params = {
            "ProjectionExpression": "#sid, #st, #ca, #la, #init, #ttl",
            "FilterExpression": expr,
            "ExpressionAttributeNames": {
                **names,
                "#sid": n.session_id,
                "#st": n.state,
                "#ca": n.created_at,
                "#la": n.last_activity,
                "#init": n.is_initialized,
            },
            "ExpressionAttributeValues": values,
        }
        bounds = [b for _, b in AGE_BUCKETS if b is not None]
        age_cum = [0] * len(bounds)
        act_cum = [0] * len(bounds)
        live: set[str] = set()
        expired = 0
        idle_before = now_ms - timeout_ms
        created: list[int] = []  # oldest, newest
        activity: list[int] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mcpstore-ddb") as pool:
            counting = pool.submit(self._count_events_by_session, now_s)
            segments = self._segments_for(self._sessions)
            for page in self._scan_pages(self._sessions, params, segments):
                for raw in page:
                    sid = _s(raw.get(n.session_id))
                    if sid is None or _expired(_n(raw.get(n.ttl)), now_s):
                        continue
                    live.add(sid)
                    if _bool(raw.get(n.is_initialized)):
                        stats.initialized += 1
                    terminated = _terminated(_s(raw.get(n.state)))
                    if terminated:
                        stats.terminated += 1
                    made = _n(raw.get(n.created_at))
                    last = _n(raw.get(n.last_activity))
                    if last is not None and last < idle_before:
                        expired += 1
                        if not terminated:
                            stats.idle += 1
                    for value, span, cumulative in (
                        (made, created, age_cum),
                        (last, activity, act_cum),
                    ):
                        if value is None:
                            continue
                        if not span:
                            span += [value, value]
                        elif value < span[0]:
                            span[0] = value
                        elif value > span[1]:
                            span[1] = value
                        for i, bound in enumerate(bounds):
                            if value > now_ms - bound:
                                cumulative[i] += 1
            counts, total_events = counting.result()
        stats.sessions = len(live)
        stats.expired = expired
        if created:
            stats.oldest_created_at, stats.newest_created_at = created
        if activity:
            stats.oldest_activity, stats.newest_activity = activity
        distribution: Counter[int] = Counter()
        for sid in live:
            distribution[counts.pop(sid, 0)] += 1
        stats.events = total_events
        stats.orphaned_events = sum(counts.values())
        stats.events_per_session = percentiles_from_distribution(dict(distribution))
        stats.age_histogram = _histogram(age_cum, stats.sessions)
        stats.activity_histogram = _histogram(act_cum, stats.sessions)

    def _facts(self) -> dict[str, Any]:
        assert self._sessions is not None and self._events is not None
        facts: dict[str, Any] = {
            "region": self.region,
            "endpoint": self.endpoint or "AWS",
            "tables": f"{self.table}, {self.events_table}",
            "attribute_names": self._sessions.names.convention,
        }
        for label, info in (("sessions", self._sessions), ("events", self._events)):
            desc = info.description or {}
            status, attr = self._ttl_status(info.name)
            facts[f"{label}_ttl"] = f"{status.lower()} on {attr}" if attr else status.lower()
            billing = (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
            facts[f"{label}_billing_mode"] = billing
            facts[f"{label}_item_count_estimate"] = info.item_count
        spec = (self._events.description or {}).get("StreamSpecification") or {}
        facts["events_stream"] = (
            f"enabled ({spec.get('StreamViewType')})" if spec.get("StreamEnabled") else "disabled"
        )
        facts["scan_segments"] = self._segments_for(self._events)
        return facts

    async def stats(self, *, now_ms: int, timeout_ms: int, approximate: bool = False) -> Stats:
        return await asyncio.to_thread(self._stats_sync, now_ms, timeout_ms, approximate)

    # -- writing --------------------------------------------------------------------------
    def _session_item(self, session: Session, ttl: int) -> dict[str, Any]:
        """The item a server puts; demo records bring their JSON already rendered."""
        assert self._sessions is not None
        n = self._sessions.names
        item: dict[str, Any] = {
            n.session_id: {"S": session.session_id},
            n.state: {"S": getattr(session, "state_json", "") or dumps(session.state)},
            n.created_at: {"N": str(session.created_at)},
            n.last_activity: {"N": str(session.last_activity)},
            n.is_initialized: {"BOOL": bool(session.is_initialized)},
            n.metadata: {"S": getattr(session, "metadata_json", "") or dumps(session.metadata)},
            n.ttl: {"N": str(_kept_ttl(session.extras, ttl))},
        }
        if session.client_capabilities is not None:
            text = getattr(session, "client_capabilities_json", None)
            item[n.client_capabilities] = {"S": text or dumps(session.client_capabilities)}
        if session.server_capabilities is not None:
            text = getattr(session, "server_capabilities_json", None)
            item[n.server_capabilities] = {"S": text or dumps(session.server_capabilities)}
        return item

    def _event_item(self, event: Event, ttl: int) -> dict[str, Any]:
        assert self._events is not None
        n = self._events.names
        item: dict[str, Any] = {
            n.session_id: {"S": event.session_id},
            n.event_id: {"N": str(event.id)},
            n.timestamp: {"N": str(event.timestamp)},
            n.event_type: {"S": event.event_type},
            n.data: {"S": getattr(event, "data_json", None) or dumps(event.data)},
            n.ttl: {"N": str(_kept_ttl(event.extras, ttl))},
        }
        if event.retry is not None:
            item[n.retry] = {"N": str(event.retry)}
        return item

    def batch_write(
        self, requests: Sequence[tuple[str, dict[str, Any]]], *, delete: bool = False
    ) -> None:
        """Put (table, item) pairs with BatchWriteItem (``delete``: delete (table, key) pairs),
        retrying UnprocessedItems until done."""
        for start in range(0, len(requests), BATCH_WRITE_MAX):
            pending: dict[str, list[dict[str, Any]]] = {}
            for table, item in requests[start : start + BATCH_WRITE_MAX]:
                pending.setdefault(table, []).append(
                    {"DeleteRequest": {"Key": item}} if delete else {"PutRequest": {"Item": item}}
                )
            delay = 0.05
            stalled = 0
            left_before = sum(len(v) for v in pending.values())
            while pending:
                response = self._batch_write_item(pending)
                pending = {k: v for k, v in (response.get("UnprocessedItems") or {}).items() if v}
                left = sum(len(v) for v in pending.values())
                if not left:
                    break
                stalled = stalled + 1 if left >= left_before else 0
                if stalled >= 30:
                    raise StoreConnectionError(
                        f"DynamoDB left {left} items unprocessed 30 times in a row on "
                        f"{self.table}; the table is overloaded, try again later."
                    )
                left_before = left
                time.sleep(random.uniform(delay / 2, delay))
                delay = min(delay * 2, 2.0)

    def _max_event_id(self, session_id: str) -> int:
        assert self._events is not None
        n = self._events.names
        response = self._call(
            "query",
            TableName=self.events_table,
            KeyConditionExpression="#sid = :sid",
            ExpressionAttributeNames={"#sid": n.session_id, "#eid": n.event_id},
            ExpressionAttributeValues={":sid": {"S": session_id}},
            ProjectionExpression="#eid",
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = _items(response)
        return (_n(items[0].get(n.event_id)) or 0) if items else 0

    def _write_batch_sync(
        self,
        sessions: Sequence[Session],
        events: Sequence[Event],
        pool: ThreadPoolExecutor,
        workers: int,
        tally: _Tally,
    ) -> None:
        ttl = int(time.time()) + SESSION_TTL_S
        new_ids = {s.session_id for s in sessions}
        next_id: dict[str, int] = {}
        requests: list[tuple[str, dict[str, Any]]] = [
            (self.table, self._session_item(s, ttl)) for s in sessions
        ]
        for event in events:
            sid = event.session_id
            if sid not in next_id:
                next_id[sid] = 1 if sid in new_ids else self._max_event_id(sid) + 1
            event.id = next_id[sid]
            next_id[sid] += 1
            requests.append((self.events_table, self._event_item(event, ttl)))
        size = BATCH_WRITE_MAX * max(1, math.ceil(len(requests) / BATCH_WRITE_MAX / workers))
        chunks = [requests[i : i + size] for i in range(0, len(requests), size)]
        for future in [pool.submit(self._write_counted, chunk, tally) for chunk in chunks]:
            future.result()

    def _write_counted(self, chunk: list[tuple[str, dict[str, Any]]], tally: _Tally) -> None:
        """One thread's share of a demo batch, 25 items to a call, counted as they land;
        after Ctrl-C it stops before its next call."""
        from mcpstore_cli.util.interrupt import requested

        for start in range(0, len(chunk), BATCH_WRITE_MAX):
            if requested.is_set():
                return
            group = chunk[start : start + BATCH_WRITE_MAX]
            self.batch_write(group)
            n_sessions = sum(1 for table, _ in group if table == self.table)
            tally.add(n_sessions, len(group) - n_sessions)

    async def write_demo(
        self,
        batches: AsyncIterator[tuple[Sequence[Session], Sequence[Event]]] | Any,
        progress: ProgressCallback | None = None,
    ) -> tuple[int, int]:
        """Batches of parallel BatchWriteItem calls. DynamoDB has no transaction this size:
        on Ctrl-C the writing threads stop before their next call; then, into tables that
        were empty, every item this run wrote is deleted again (all or nothing), and
        otherwise the line says exactly how many sessions and events were written."""
        from mcpstore_cli.util.interrupt import finish

        await self.ensure_readable()
        workers = max(4, self.options.segments or 8)
        total_sessions = total_events = 0
        empty = await asyncio.to_thread(self._empty_sync)
        written: list[tuple[Sequence[Session], Sequence[Event]]] = []
        tally = _Tally()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mcpstore-ddb") as pool:
            try:
                async for sessions, events in batches:
                    if empty:
                        written.append((sessions, events))  # before: a batch may stop half-way
                    # Ctrl-C: the threads stop before their next call; wait for them.
                    _, stop = await finish(
                        asyncio.to_thread(
                            self._write_batch_sync, sessions, events, pool, workers, tally
                        )
                    )
                    if stop:
                        raise asyncio.CancelledError
                    total_sessions += len(sessions)
                    total_events += len(events)
                    if progress is not None:
                        progress(len(sessions) + len(events))
            except (KeyboardInterrupt, Interrupted, asyncio.CancelledError):
                if not empty:
                    raise Interrupted(
                        f"the demo had written {tally.sessions:,} sessions and "
                        f"{tally.events:,} events (DynamoDB writes item by item); they stay "
                        "in the store, the rest was not written."
                    ) from None
                raise await self._undo_demo(written, pool, workers, tally) from None
        return total_sessions, total_events

    def _empty_sync(self) -> bool:
        for table in (self.table, self.events_table):
            if _items(self._call("scan", TableName=table, Limit=1)):
                return False
        return True

    async def _undo_demo(
        self,
        written: list[tuple[Sequence[Session], Sequence[Event]]],
        pool: ThreadPoolExecutor,
        workers: int,
        tally: _Tally,
    ) -> Interrupted:
        """Delete every item a demo into empty tables wrote; say what was done, or what is
        left if this is cut short (a second Ctrl-C) or fails."""
        from mcpstore_cli.util import interrupt

        assert self._sessions is not None and self._events is not None
        sn, en = self._sessions.names, self._events.names
        # Every item of every batch begun (deleting one that was never written is a no-op).
        keys: list[tuple[str, dict[str, Any]]] = []
        for sessions, events in written:
            for s in sessions:
                keys.append((self.table, {sn.session_id: {"S": s.session_id}}))
            for e in events:
                if e.id:  # ids are given just before the batch's first write
                    keys.append(
                        (
                            self.events_table,
                            {en.session_id: {"S": e.session_id}, en.event_id: {"N": str(e.id)}},
                        )
                    )
        n_sessions, n_events = tally.sessions, tally.events
        if not keys or not n_sessions + n_events:
            return Interrupted("the demo had written nothing yet: the tables are empty as before.")
        left = [len(keys)]

        def note() -> None:
            interrupt.state.note = (
                f"stopped while deleting the demo's items again: of the {n_sessions:,} "
                f"sessions and {n_events:,} events this run wrote, up to "
                f"{min(left[0], n_sessions + n_events):,} items are still in the tables."
            )

        def one(chunk: list[tuple[str, dict[str, Any]]]) -> None:
            self.batch_write(chunk, delete=True)
            with lock:
                left[0] -= len(chunk)
                note()

        lock = threading.Lock()
        note()
        chunks = [keys[i : i + BATCH_WRITE_MAX] for i in range(0, len(keys), BATCH_WRITE_MAX)]

        def undo() -> None:
            for future in [pool.submit(one, chunk) for chunk in chunks]:
                future.result()

        try:
            await asyncio.to_thread(undo)
        except Exception as exc:
            return Interrupted(
                f"deleting the demo's items again failed ({exc}): of the {n_sessions:,} "
                f"sessions and {n_events:,} events this run wrote, up to "
                f"{min(left[0], n_sessions + n_events):,} items are still in the tables."
            )
        return Interrupted(
            f"the demo into the empty tables was undone: the {n_sessions:,} sessions and "
            f"{n_events:,} events it had written were deleted again; the tables are empty as "
            "before."
        )

    def _append_sync(self, event: Event, touch: bool) -> Event:
        self._ensure_readable_sync()
        assert self._events is not None and self._sessions is not None
        from botocore.exceptions import ClientError

        n = self._events.names
        ttl = int(time.time()) + SESSION_TTL_S
        event.id = self._max_event_id(event.session_id) + 1
        for _attempt in range(50):
            try:
                self.client.put_item(
                    TableName=self.events_table,
                    Item=self._event_item(event, ttl),
                    ConditionExpression="attribute_not_exists(#eid)",
                    ExpressionAttributeNames={"#eid": n.event_id},
                )
                break
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise self._translate(exc, self.events_table) or exc from exc
                event.id += 1  # another writer took this id
            except Exception as exc:
                raise self._translate(exc, self.events_table) or exc from exc
        else:
            raise StoreConnectionError(
                f"Could not find a free event id for session {event.session_id} after 50 tries."
            )
        if touch:
            sn = self._sessions.names
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key={sn.session_id: {"S": event.session_id}},
                    UpdateExpression="SET #la = :la, #ttl = :ttl",
                    ConditionExpression="attribute_exists(#sid)",
                    ExpressionAttributeNames={
                        "#la": sn.last_activity,
                        "#ttl": sn.ttl,
                        "#sid": sn.session_id,
                    },
                    ExpressionAttributeValues={
                        ":la": {"N": str(event.timestamp)},
                        ":ttl": {"N": str(ttl)},
                    },
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise self._translate(exc, self.table) or exc from exc
            except Exception as exc:
                raise self._translate(exc, self.table) or exc from exc
        return event

    async def append_event(self, event: Event, *, touch: bool = True) -> Event:
        return await asyncio.to_thread(self._append_sync, event, touch)

    # -- one session at a time (surgery.py beside this module) -------------------------
    session_changes: ClassVar[frozenset[str]] = ALL_CHANGES

    async def terminate_session(self, session_id: str, *, now_ms: int, ttl_s: int) -> Any:
        from mcpstore_cli.backends.dynamodb import surgery
        from mcpstore_cli.layouts.turul_sessions.changes import terminate_edit

        edit = terminate_edit(session_id, now_ms)
        return await asyncio.to_thread(
            surgery.edit_state, self, session_id, "terminate", edit, now_ms=now_ms, ttl_s=ttl_s
        )

    async def deletion_preview(self, session_id: str) -> dict[str, int] | None:
        from mcpstore_cli.backends.dynamodb import surgery

        return await asyncio.to_thread(surgery.preview, self, session_id)

    async def delete_session(self, session_id: str) -> Any:
        from mcpstore_cli.backends.dynamodb import surgery

        return await asyncio.to_thread(surgery.delete, self, session_id)

    async def read_state(self, session_id: str) -> dict[str, Any] | None:
        from mcpstore_cli.backends.dynamodb import surgery

        return await asyncio.to_thread(surgery.read_state, self, session_id)

    async def change_state(
        self, session_id: str, key: str, value: Any, *, unset: bool, now_ms: int, ttl_s: int
    ) -> Any:
        from mcpstore_cli.backends.dynamodb import surgery
        from mcpstore_cli.layouts.turul_sessions.changes import state_edit

        edit = state_edit(session_id, key, value, unset=unset)
        action = "unset" if unset else "set"
        return await asyncio.to_thread(
            surgery.edit_state, self, session_id, action, edit, now_ms=now_ms, ttl_s=None
        )

    async def touch_session(self, session_id: str, *, now_ms: int, ttl_s: int) -> Any:
        from mcpstore_cli.backends.dynamodb import surgery

        return await asyncio.to_thread(surgery.touch, self, session_id, now_ms=now_ms, ttl_s=ttl_s)

    def tail_events(
        self, request: TailRequest, *, warn: Warn | None = None
    ) -> AsyncIterator[list[Event | CorruptRow]]:
        from mcpstore_cli.backends.dynamodb.tail import DynamoFollower

        return DynamoFollower(self, request, warn).run()

    async def expire(
        self, opts: ExpireOptions, progress: ProgressCallback | None = None
    ) -> ExpireResult:
        """Conditional deletes, parallel segment scans, no lock: see dynamodb_expire."""
        from mcpstore_cli.backends.dynamodb.expire import expire

        return await expire(self, opts, progress)

    # -- clear and teardown (teardown.py beside this module) ------------------------------
    async def inventory(self) -> Inventory:
        from mcpstore_cli.backends.dynamodb.teardown import inventory_sync

        return await asyncio.to_thread(inventory_sync, self)

    async def clear(
        self, *, recreate: bool = False, progress: ProgressCallback | None = None
    ) -> ClearResult:
        """Parallel keys-only scans feeding pooled batch deletes; ``recreate``: delete and
        create both tables again with the same settings (the stream ARN changes)."""
        from mcpstore_cli.backends.dynamodb import teardown as td

        if recreate:  # never stopped half-way: the tables come back even after Ctrl-C
            return await asyncio.to_thread(td.recreate_sync, self, progress)
        stop = threading.Event()
        try:
            return await asyncio.to_thread(td.clear_sync, self, progress, stop)
        except BaseException:
            stop.set()  # Ctrl-C: the scan and delete threads stop after their current call
            raise

    async def disable_streams(self) -> list[str]:
        from mcpstore_cli.backends.dynamodb.teardown import disable_streams_sync

        return await asyncio.to_thread(disable_streams_sync, self)

    async def drop(self) -> list[str]:
        from mcpstore_cli.backends.dynamodb.teardown import drop_sync

        return await asyncio.to_thread(drop_sync, self)

    # -- backups: see dynamodb_backup -----------------------------------------------------
    async def backup_records(
        self, spec: Any, out: Any, header: dict[str, Any], progress: Any = None
    ) -> dict[str, Any]:
        from mcpstore_cli.backends.dynamodb import backup as dynamodb_backup
        from mcpstore_cli.util.interrupt import to_thread

        return await to_thread(dynamodb_backup.backup_sync, self, spec, out, header, progress)

    async def restore_records(
        self, info: Any, summary: Any, *, mode: str, keep_ttl: bool = False, progress: Any = None
    ) -> None:
        from mcpstore_cli.backends.dynamodb import backup as dynamodb_backup

        await dynamodb_backup.restore(
            self, info, summary, mode=mode, keep_ttl=keep_ttl, progress=progress
        )

    async def row_counts(self) -> tuple[int, int]:
        from mcpstore_cli.backends.dynamodb import backup as dynamodb_backup

        return await asyncio.to_thread(dynamodb_backup.count_rows_sync, self)

    async def native_backup(
        self, target: str | None = None, *, force: bool = False
    ) -> list[dict[str, Any]]:
        from mcpstore_cli.backends.dynamodb import backup as dynamodb_backup
        from mcpstore_cli.model.backup import timestamp_label

        label = target or timestamp_label()
        return await asyncio.to_thread(dynamodb_backup.native_backup_sync, self, label)

    async def list_native_backups(self, directory: str = ".") -> list[dict[str, Any]]:
        from mcpstore_cli.backends.dynamodb import backup as dynamodb_backup

        return await asyncio.to_thread(dynamodb_backup.list_native_sync, self)

    async def restore_native(self, name: str, to_table: str) -> list[dict[str, Any]]:
        from mcpstore_cli.backends.dynamodb import backup as dynamodb_backup

        return await asyncio.to_thread(dynamodb_backup.restore_native_sync, self, name, to_table)


class _Tally:
    """Demo items written so far, counted by the writing threads."""

    def __init__(self) -> None:
        self.sessions = 0
        self.events = 0
        self._lock = threading.Lock()

    def add(self, sessions: int, events: int) -> None:
        with self._lock:
            self.sessions += sessions
            self.events += events


def _histogram(cumulative: list[int], total: int) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    below = 0
    for i, (label, bound) in enumerate(AGE_BUCKETS):
        value = total if bound is None else cumulative[i]
        out.append((label, max(value - below, 0)))
        below = value
    return out
