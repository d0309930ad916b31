"""A real FastMCP server in a subprocess, real ``fastmcp.Client`` drivers, raw SSE resumption,
and raw readers of the stores FastMCP writes through py-key-value (PostgreSQL, Redis, DynamoDB).

    with FastMCPServer("redis", url=redis_db.url, events_ttl=60, state_ttl=30) as srv:
        seen = drive_legacy(srv.url, keep_session=True)   # 2025-11-25: events and state
        replay = resume(srv.url, seen.session_id, seen.stream("tools/call").events[0].id)
        drive_default(srv.url)                            # 2026-07-28: state only
    entries = redis_entries(redis_db.url)

The server script is tests/fastmcp_app.py (one py-key-value store for both the event store and
the session state store). Servers listen on 127.0.0.1 only and are stopped by their pid
(SIGTERM, SIGKILL after a timeout). The fixture ``fastmcp_servers`` starts servers for one test
and stops every one of them at its end.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
APP = Path(__file__).with_name("fastmcp_app.py")
LEGACY_PROTOCOL = "2025-11-25"
MODERN_PROTOCOL = "2026-07-28"
# FastMCP's defaults (EventStore(ttl=3600), Context._STATE_TTL_SECONDS = 86400).
DEFAULT_EVENTS_TTL = 3600
DEFAULT_STATE_TTL = 86400
EVENTS = "fastmcp_events"
STREAMS = "fastmcp_streams"
STATE = "fastmcp_state"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# -- the server ---------------------------------------------------------------------------


class FastMCPServer:
    """tests/fastmcp_app.py under uvicorn in a subprocess on a free loopback port.

    ``backend``: ``postgres`` (``url``; ``table``, default ``kv_store``), ``redis`` (``url``),
    ``dynamodb`` (``table``, ``endpoint``: DynamoDB Local; the store creates the table and
    turns its time to live on) or ``memory``. ``events_ttl`` is EventStore's ``ttl`` (None: no
    expiry), ``state_ttl`` replaces FastMCP's 86400 s for ``ctx.set_state`` (None: keep it),
    ``max_events`` EventStore's ``max_events_per_stream``. ``retry_interval`` (ms) is the SSE
    ``retry`` of the priming events: how soon a client reconnects to a stream the server
    closed (FastMCP sets none by default; 100 here so a resumption takes no time).
    """

    def __init__(
        self,
        backend: str,
        *,
        url: str | None = None,
        table: str | None = None,
        endpoint: str | None = None,
        events_ttl: int | None = DEFAULT_EVENTS_TTL,
        state_ttl: int | None = None,
        max_events: int = 100,
        retry_interval: int | None = 100,
        startup_timeout: float = 30.0,
        log_level: str = "warning",
    ) -> None:
        if backend in ("postgres", "redis") and not url:
            raise ValueError(f"{backend} needs url=")
        if backend == "dynamodb" and not (table and endpoint):
            raise ValueError("dynamodb needs table= and endpoint=")
        # Redis and DynamoDB come from this suite's own fixtures: never anything but loopback
        # (a DynamoDB store without a local endpoint would go to AWS). PostgreSQL may be the
        # server MCPSTORE_TEST_POSTGRES_URL names.
        for given in (url if backend == "redis" else None, endpoint):
            if given and not re.match(r"^[a-z]+://([^@/]*@)?(127\.0\.0\.1|localhost)[:/]", given):
                raise ValueError(f"tests only connect to this machine: {given}")
        self.backend = backend
        self.store_url = url
        self.table = table
        self.endpoint = endpoint
        self.events_ttl = events_ttl
        self.state_ttl = state_ttl
        self.max_events = max_events
        self.retry_interval = retry_interval
        self.startup_timeout = startup_timeout
        self.log_level = log_level
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_path: str | None = None

    @property
    def url(self) -> str:
        """The MCP endpoint, ``http://127.0.0.1:N/mcp``."""
        return f"http://{HOST}:{self.port}/mcp"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            str(APP),
            "--port",
            str(self.port),
            "--backend",
            self.backend,
            "--events-ttl",
            "none" if self.events_ttl is None else str(self.events_ttl),
            "--max-events",
            str(self.max_events),
            "--log-level",
            self.log_level,
        ]
        if self.store_url:
            cmd += ["--url", self.store_url]
        if self.table:
            cmd += ["--table", self.table]
        if self.endpoint:
            cmd += ["--endpoint", self.endpoint]
        if self.state_ttl is not None:
            cmd += ["--state-ttl", str(self.state_ttl)]
        if self.retry_interval is not None:
            cmd += ["--retry-interval", str(self.retry_interval)]
        return cmd

    def _environ(self) -> dict[str, str]:
        env = dict(os.environ)
        # Nothing of the developer's AWS set-up, and no instance metadata lookups.
        env.update(
            {
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "FASTMCP_CHECK_FOR_UPDATES": "off",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            env.pop(proxy, None)
        env["NO_PROXY"] = env["no_proxy"] = HOST
        return env

    def start(self) -> FastMCPServer:
        fd, self._log_path = tempfile.mkstemp(prefix="mcpstore-fastmcp-", suffix=".log")
        with os.fdopen(fd, "wb") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._environ(),
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"FastMCP server exited ({self.proc.returncode}): {self.output()[-2000:]}"
                )
            if _http_answers(self.port):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"FastMCP server did not answer within {self.startup_timeout:g} s: "
                    f"{self.output()[-2000:]}"
                )
            time.sleep(0.05)

    def output(self) -> str:
        """What the server printed so far (uvicorn's log, tracebacks)."""
        if not self._log_path:
            return ""
        try:
            return Path(self._log_path).read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=10)
            self.proc = None
        if self._log_path:
            with contextlib.suppress(OSError):
                os.unlink(self._log_path)
            self._log_path = None

    def __enter__(self) -> FastMCPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _http_answers(port: int) -> bool:
    """Whether uvicorn answers HTTP (a 404 of a path outside the app's routes is enough)."""
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            sock.sendall(
                f"GET /mcpstore-ready HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            return sock.recv(16).startswith(b"HTTP/1.1 ")
    except OSError:
        return False


def _missing_packages() -> list[str]:
    import importlib.util

    missing = []
    for name in ("fastmcp", "key_value.aio", "uvicorn", "httpx2"):
        try:
            found = importlib.util.find_spec(name) is not None
        except ImportError:  # the parent package is missing
            found = False
        if not found:
            missing.append(name)
    return missing


@pytest.fixture
def fastmcp_servers() -> Iterator[Callable[..., FastMCPServer]]:
    """``start(backend, **kwargs)`` starts a FastMCPServer; all are stopped after the test.

    Without fastmcp / py-key-value-aio / uvicorn: skipped locally, a failure under CI."""
    missing = _missing_packages()
    if missing:
        from tests.conftest import unavailable

        unavailable(f"not installed: {', '.join(missing)} (pip install -e '.[test]')")
    started: list[FastMCPServer] = []

    def start(backend: str, **kwargs: Any) -> FastMCPServer:
        server = FastMCPServer(backend, **kwargs)
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            server.stop()


# -- SSE ----------------------------------------------------------------------------------


@dataclass
class SSEEvent:
    """One server-sent event as it came over the wire."""

    id: str | None
    data: str
    event: str | None = None
    retry: int | None = None

    @property
    def message(self) -> Any:
        """The JSON-RPC message, or None for a priming event (empty data)."""
        return json.loads(self.data) if self.data.strip() else None


class SSEParser:
    """Incremental text/event-stream parser (any of CRLF, LF, CR ends a line)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._buf = ""
        self._fields: dict[str, Any] = {}
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buf += self._decoder.decode(chunk)
        out: list[SSEEvent] = []
        while True:
            match = re.search(r"\r\n|\r|\n", self._buf)
            if match is None:
                break
            if match.group() == "\r" and match.end() == len(self._buf):
                break  # maybe the first half of a CRLF
            line, self._buf = self._buf[: match.start()], self._buf[match.end() :]
            if line == "":
                if self._data or self._fields:
                    out.append(
                        SSEEvent(
                            id=self._fields.get("id"),
                            data="\n".join(self._data),
                            event=self._fields.get("event"),
                            retry=self._fields.get("retry"),
                        )
                    )
                self._fields, self._data = {}, []
                continue
            if line.startswith(":"):
                continue  # a comment (keep-alive ping)
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                self._data.append(value)
            elif name in ("id", "event"):
                self._fields[name] = value
            elif name == "retry" and value.isdigit():
                self._fields["retry"] = int(value)
        return out


@dataclass
class WireStream:
    """One request of the client (a POST, or a GET opening or resuming a stream) and the
    SSE events its response carried, in wire order."""

    method: str | None  # the JSON-RPC method of a POST; None for a GET
    request_id: Any  # the JSON-RPC id of a POST
    status: int
    session_id: str | None  # the response's Mcp-Session-Id
    content_type: str
    tool: str | None = None  # the tool of a tools/call
    http_method: str = "POST"
    last_event_id: str | None = None  # a GET's Last-Event-ID
    events: list[SSEEvent] = field(default_factory=list)

    @property
    def event_ids(self) -> list[str]:
        return [e.id for e in self.events if e.id is not None]


# -- drivers (real fastmcp.Client) -----------------------------------------------------------


Progress = tuple[float, float | None, str | None]  # (progress, total, message)


@dataclass
class DriveResult:
    """What a real fastmcp.Client saw while calling the test server's tools, in this order:
    ``progress`` (progress notifications and log messages), ``remember`` (set_state and
    get_state), ``recall`` (get_state in the next request), ``announce`` (a notification not
    related to its request) and ``interrupted`` (closes its SSE stream after one step: the
    client reconnects with Last-Event-ID and gets the rest replayed from the event store)."""

    lane: str  # "legacy" (initialize handshake) or "default" (what Client negotiates)
    protocol_version: str | None
    session_id: str | None  # the Mcp-Session-Id (None on 2026-07-28: no sessions)
    progress: list[Progress]  # the progress tool's notifications, as the client got them
    logs: list[tuple[str, Any]]  # (level, data) of every log message
    result: Any  # the progress tool's result
    state: dict[str, Any]  # the remember tool's result: {session_id, key, value}
    recall: dict[str, Any]  # the recall tool's result: {session_id, key, value}
    announced: Any = None  # the announce tool's result (None: not called)
    resumed: Any = None  # the interrupted tool's result (None: not called)
    resumed_progress: list[Progress] = field(default_factory=list)
    wire: list[WireStream] = field(default_factory=list)  # every POST and GET, in order
    kept_open: bool = False  # the session was not DELETEd at the end

    @property
    def posts(self) -> list[WireStream]:
        return [w for w in self.wire if w.http_method == "POST"]

    @property
    def gets(self) -> list[WireStream]:
        return [w for w in self.wire if w.http_method == "GET"]

    def stream(self, method: str, tool: str | None = None) -> WireStream:
        """The first POST of ``method`` (``tools/call``: the progress tool's unless told)."""
        for w in self.posts:
            if w.method != method:
                continue
            if method == "tools/call" and (tool or "progress") != w.tool:
                continue
            return w
        raise LookupError(f"no {method} {tool or ''} request on the wire")


def _wire_tap_transport(wire: list[WireStream], *, keep_session: bool) -> Any:
    import httpx2

    class TeeStream(httpx2.AsyncByteStream):
        """Passes a response body through while parsing its server-sent events."""

        def __init__(self, inner: Any, record: WireStream) -> None:
            self._inner = inner
            self._record = record
            self._parser = SSEParser()

        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for chunk in self._inner:
                self._record.events.extend(self._parser.feed(chunk))
                yield chunk

        async def aclose(self) -> None:
            await self._inner.aclose()

    class WireTap(httpx2.AsyncBaseTransport):
        def __init__(self) -> None:
            self._inner = httpx2.AsyncHTTPTransport()

        async def handle_async_request(self, request: Any) -> Any:
            if request.method == "DELETE" and keep_session:
                # Keep the session (and its event store scope) alive on the server.
                return httpx2.Response(204, request=request)
            response = await self._inner.handle_async_request(request)
            if request.method not in ("POST", "GET"):
                return response
            body: Any = None
            if request.method == "POST":
                try:
                    body = json.loads(request.content or b"null")
                except (ValueError, httpx2.RequestNotRead):
                    body = None
            body = body if isinstance(body, dict) else {}
            params = body.get("params")
            tool = params.get("name") if isinstance(params, dict) else None
            record = WireStream(
                method=body.get("method"),
                request_id=body.get("id"),
                status=response.status_code,
                session_id=response.headers.get("mcp-session-id"),
                content_type=response.headers.get("content-type", ""),
                tool=tool if isinstance(tool, str) else None,
                http_method=request.method,
                last_event_id=request.headers.get("last-event-id"),
            )
            wire.append(record)
            if not record.content_type.startswith("text/event-stream"):
                return response
            return httpx2.Response(
                response.status_code,
                headers=response.headers,
                stream=TeeStream(response.stream, record),
                extensions=response.extensions,
                request=request,
            )

        async def aclose(self) -> None:
            await self._inner.aclose()

    return WireTap()


async def adrive(
    url: str,
    *,
    mode: str | None,
    steps: int = 3,
    state_key: str = "color",
    state_value: Any = None,
    announce: bool = True,
    interrupt: bool = True,
    keep_session: bool = False,
    timeout: float = 20.0,
) -> DriveResult:
    """The async body of drive_legacy / drive_default (``mode``: Client's ``mode``)."""
    import httpx2
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    wire: list[WireStream] = []
    progress: list[Progress] = []
    resumed_progress: list[Progress] = []
    logs: list[tuple[str, Any]] = []

    def collect(into: list[Progress]) -> Callable[..., Any]:
        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            into.append((value, total, message))

        return on_progress

    async def on_log(message: Any) -> None:
        logs.append((str(message.level), message.data))

    def factory(**kwargs: Any) -> Any:
        kwargs.setdefault("timeout", httpx2.Timeout(30.0, read=300.0))
        return httpx2.AsyncClient(
            transport=_wire_tap_transport(wire, keep_session=keep_session), **kwargs
        )

    transport = StreamableHttpTransport(url, httpx_client_factory=factory)
    kwargs: dict[str, Any] = {"mode": mode} if mode else {}
    client = Client(transport, log_handler=on_log, timeout=timeout, **kwargs)
    value = {"shade": "teal", "n": 7} if state_value is None else state_value
    announced = resumed = None
    async with client:
        done = await client.call_tool(
            "progress", {"steps": steps}, progress_handler=collect(progress)
        )
        stored = await client.call_tool("remember", {"key": state_key, "value": value})
        again = await client.call_tool("recall", {"key": state_key})
        if announce:
            announced = (await client.call_tool("announce", {})).data
        if interrupt:
            resumed = (
                await client.call_tool(
                    "interrupted", {"steps": 4}, progress_handler=collect(resumed_progress)
                )
            ).data
        session_id = transport.get_session_id()
        protocol = _negotiated_version(client)
    return DriveResult(
        lane=mode or "default",
        protocol_version=protocol,
        session_id=session_id,
        progress=progress,
        logs=logs,
        result=done.data,
        state=dict(stored.data),
        recall=dict(again.data),
        announced=announced,
        resumed=resumed,
        resumed_progress=resumed_progress,
        wire=wire,
        kept_open=keep_session and session_id is not None,
    )


def _negotiated_version(client: Any) -> str | None:
    version = getattr(client, "protocol_version", None)
    if version is None:
        with contextlib.suppress(Exception):
            version = client.initialize_result.protocolVersion
    return str(version) if version is not None else None


def drive_legacy(
    url: str,
    *,
    steps: int = 3,
    state_key: str = "color",
    state_value: Any = None,
    announce: bool = True,
    interrupt: bool = True,
    keep_session: bool = False,
    timeout: float = 20.0,
) -> DriveResult:
    """``Client(url, mode="legacy")``: the initialize handshake, protocol 2025-11-25, one
    Mcp-Session-Id, SSE responses whose events FastMCP stores (and the client's standalone
    GET stream). Calls the tools DriveResult lists; ``announce`` / ``interrupt`` False leave
    out ``announce`` (the ``_GET_stream`` entry) / ``interrupted`` (a resumption by the
    client itself). ``keep_session=True`` swallows the client's closing DELETE: the server
    keeps the session, so ``resume()`` can go on with it afterwards."""
    return asyncio.run(
        adrive(
            url,
            mode="legacy",
            steps=steps,
            state_key=state_key,
            state_value=state_value,
            announce=announce,
            interrupt=interrupt,
            keep_session=keep_session,
            timeout=timeout,
        )
    )


def drive_default(
    url: str,
    *,
    steps: int = 3,
    state_key: str = "color",
    state_value: Any = None,
    announce: bool = True,
    interrupt: bool = True,
    timeout: float = 20.0,
) -> DriveResult:
    """``Client(url)`` as it connects by default (``mode="auto"``: 2026-07-28 with this
    server: no session, no event store), calling the same tools as drive_legacy."""
    return asyncio.run(
        adrive(
            url,
            mode=None,
            steps=steps,
            state_key=state_key,
            state_value=state_value,
            announce=announce,
            interrupt=interrupt,
            timeout=timeout,
        )
    )


# -- resumption (raw HTTP) ---------------------------------------------------------------------


@dataclass
class ResumeResult:
    status: int
    headers: dict[str, str]
    events: list[SSEEvent]
    body: str = ""  # the body of a response that is not an event stream

    @property
    def messages(self) -> list[Any]:
        """The JSON-RPC messages replayed (priming events left out)."""
        return [e.message for e in self.events if e.message is not None]


def resume(
    url: str,
    session_id: str,
    last_event_id: str,
    *,
    protocol_version: str = LEGACY_PROTOCOL,
    expect: int | None = None,
    idle: float = 0.5,
    max_time: float = 5.0,
) -> ResumeResult:
    """``GET url`` with ``Mcp-Session-Id`` and ``Last-Event-ID``, as a client resuming a
    stream does, reading the SSE response until ``expect`` messages (events with a JSON-RPC
    message) came, nothing came for ``idle`` seconds, or ``max_time`` passed.

    The server replays the stored events after ``last_event_id`` and then keeps the stream
    open (it primes it again: a new event with no message is stored for that stream and the
    stream's entry is rewritten). With ``expect`` the connection may close before that
    priming event is stored; reading until ``idle`` waits for it."""
    import httpx2

    headers = {
        "Accept": "text/event-stream",
        "Mcp-Session-Id": session_id,
        "Last-Event-ID": last_event_id,
        "MCP-Protocol-Version": protocol_version,
    }
    events: list[SSEEvent] = []
    deadline = time.monotonic() + max_time
    timeout = httpx2.Timeout(5.0, read=idle)
    with (
        httpx2.Client(timeout=timeout, trust_env=False) as client,
        client.stream("GET", url, headers=headers) as response,
    ):
        result = ResumeResult(response.status_code, dict(response.headers), events)
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            result.body = response.read().decode(errors="replace")
            return result
        parser = SSEParser()
        with contextlib.suppress(httpx2.ReadTimeout, httpx2.RemoteProtocolError):
            for chunk in response.iter_raw():
                events.extend(parser.feed(chunk))
                if expect is not None and len(result.messages) >= expect:
                    break
                if time.monotonic() > deadline:
                    break
    return result


def end_session(url: str, session_id: str, protocol_version: str = LEGACY_PROTOCOL) -> int:
    """DELETE the session (what the client does on close); returns the HTTP status."""
    import httpx2

    with httpx2.Client(timeout=10, trust_env=False) as client:
        response = client.delete(
            url, headers={"Mcp-Session-Id": session_id, "MCP-Protocol-Version": protocol_version}
        )
        return response.status_code


# -- raw readers of the stores ------------------------------------------------------------------


@dataclass
class RawEntry:
    """One stored entry as the backend holds it.

    ``value``: the entry's JSON value (what FastMCP stored). ``raw``: the backend's own form
    (PostgreSQL: the row's columns; Redis: the key, its JSON document and its TTL; DynamoDB: the
    item as boto3 returns it)."""

    collection: str
    key: str
    value: Any
    raw: dict[str, Any]


def pg_entries(url: str, table: str = "kv_store") -> list[RawEntry]:
    """``SELECT *`` of the py-key-value table, through a plain asyncpg connection."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", table):
        raise ValueError(table)

    async def fetch() -> list[Any]:
        import asyncpg

        conn = await asyncpg.connect(url, timeout=10)
        try:
            return list(
                await conn.fetch(
                    f"SELECT collection, key, value::text AS value, ttl, created_at, expires_at, "
                    f"now() AS read_at FROM {table} ORDER BY collection, key"
                )
            )
        finally:
            await conn.close()

    out = []
    for row in asyncio.run(fetch()):
        raw = dict(row)
        out.append(RawEntry(row["collection"], row["key"], json.loads(row["value"]), raw))
    return out


def pg_columns(url: str, table: str = "kv_store") -> list[tuple[str, str, str]]:
    """(column, data type, nullable) of the table, in order."""

    async def fetch() -> list[Any]:
        import asyncpg

        conn = await asyncpg.connect(url, timeout=10)
        try:
            return list(
                await conn.fetch(
                    "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                    "WHERE table_name = $1 ORDER BY ordinal_position",
                    table,
                )
            )
        finally:
            await conn.close()

    return [(r[0], r[1], r[2]) for r in asyncio.run(fetch())]


def pg_indexes(url: str, table: str = "kv_store") -> dict[str, str]:
    """index name -> its definition (``pg_indexes.indexdef``)."""

    async def fetch() -> list[Any]:
        import asyncpg

        conn = await asyncpg.connect(url, timeout=10)
        try:
            return list(
                await conn.fetch(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1", table
                )
            )
        finally:
            await conn.close()

    return {r[0]: r[1] for r in asyncio.run(fetch())}


def redis_entries(url: str) -> list[RawEntry]:
    """Every ``<collection>::<key>`` string of the database, with its TTL (``TTL`` / ``PTTL``)."""
    import redis

    out = []
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10)
    try:
        for name in sorted(client.scan_iter(count=1000)):
            kind = client.type(name)
            raw: dict[str, Any] = {"name": name, "type": kind}
            if kind != "string":
                out.append(RawEntry("", name, None, raw))
                continue
            text = client.get(name)
            raw["text"] = text
            raw["ttl"] = client.ttl(name)
            raw["pttl"] = client.pttl(name)
            doc = json.loads(text) if text is not None else None
            raw["doc"] = doc
            collection, _, key = name.partition("::")
            value = doc.get("value") if isinstance(doc, dict) else None
            out.append(RawEntry(collection, key, value, raw))
    finally:
        client.close()
    return out


def dynamodb_entries(endpoint: str, table: str) -> list[RawEntry]:
    """A full ``Scan`` of the table (boto3), ``value`` parsed from the item's JSON document."""
    from tests.dynamodb_fixtures import client as dynamo_client

    c = dynamo_client(endpoint)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = c.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    c.close()
    out = []
    for item in sorted(items, key=lambda i: (i["collection"]["S"], i["key"]["S"])):
        doc = json.loads(item["value"]["S"]) if "S" in item.get("value", {}) else None
        value = doc.get("value") if isinstance(doc, dict) else None
        out.append(
            RawEntry(item["collection"]["S"], item["key"]["S"], value, {"item": item, "doc": doc})
        )
    return out


def by_collection(entries: list[RawEntry]) -> dict[str, dict[str, RawEntry]]:
    out: dict[str, dict[str, RawEntry]] = {}
    for entry in entries:
        out.setdefault(entry.collection, {})[entry.key] = entry
    return out


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- a fresh FastMCP store per test ---------------------------------------------------------------


@dataclass
class FastMCPStore:
    """An empty store for one test on one backend, for FastMCPServer and raw reading.

    ``server_kwargs``: what FastMCPServer needs to reach it (``url=`` or ``table=`` and
    ``endpoint=``). ``url``: the store as mcpstore's ``--url`` names it (PostgreSQL and Redis
    URLs; ``dynamodb://<table>?region=…&endpoint=…``). ``environ``: variables a CLI run needs
    (DynamoDB Local's dummy credentials). ``entries()`` reads every entry raw."""

    backend: str
    url: str
    name: str  # database, Redis URL, or table
    server_kwargs: dict[str, Any]
    read: Callable[[], list[RawEntry]]
    environ: dict[str, str] = field(default_factory=dict)

    def server(self, **kwargs: Any) -> FastMCPServer:
        """A FastMCPServer on this store (not started)."""
        return FastMCPServer(self.backend, **self.server_kwargs, **kwargs)

    def entries(self) -> list[RawEntry]:
        return self.read()

    def run(self, *args: str, **kwargs: Any) -> Any:
        """``mcpstore ARGS --url <this store>`` in this process (tests.helpers.run_cli)."""
        from tests.helpers import run_cli

        if self.environ:
            kwargs["environ"] = {**self.environ, **(kwargs.get("environ") or {})}
        return run_cli([*args, "--url", self.url], **kwargs)


FASTMCP_BACKENDS = ["postgres", "redis", "dynamodb"]


@pytest.fixture
def fastmcp_postgres_store(pg_server: Any) -> Iterator[FastMCPStore]:
    """A database of its own on the session's PostgreSQL (table ``kv_store``, not created)."""
    name = pg_server.create_database()
    url = pg_server.url(name)
    yield FastMCPStore(
        backend="postgres",
        url=url,
        name=name,
        server_kwargs={"url": url},
        read=lambda: pg_entries(url),
    )
    pg_server.drop_database(name)


@pytest.fixture
def fastmcp_redis_store(redis_db: Any) -> FastMCPStore:
    """A flushed logical database of the session's redis-server."""
    url = redis_db.url
    return FastMCPStore(
        backend="redis",
        url=url,
        name=url,
        server_kwargs={"url": url},
        read=lambda: redis_entries(url),
    )


@pytest.fixture
def fastmcp_dynamodb_store(dynamodb_local: Any) -> Iterator[FastMCPStore]:
    """A unique table name on the session's DynamoDB Local; DynamoDBStore creates the table
    (keys collection/key, PAY_PER_REQUEST, time to live on ``ttl``) when it is first used."""
    from tests.dynamodb_fixtures import DYNAMO_ENV, client, dynamodb_url, unique_table

    table = unique_table("fastmcp-test")
    endpoint = dynamodb_local.endpoint
    yield FastMCPStore(
        backend="dynamodb",
        url=dynamodb_url(endpoint, table),
        name=table,
        server_kwargs={"table": table, "endpoint": endpoint},
        read=lambda: dynamodb_entries(endpoint, table),
        environ=dict(DYNAMO_ENV),
    )
    c = client(endpoint)
    with contextlib.suppress(Exception):
        c.delete_table(TableName=table)
    c.close()


@pytest.fixture(params=FASTMCP_BACKENDS)
def fastmcp_store(request: pytest.FixtureRequest) -> FastMCPStore:
    """The same test once per backend FastMCP's py-key-value stores run on here."""
    return request.getfixturevalue(f"fastmcp_{request.param}_store")
