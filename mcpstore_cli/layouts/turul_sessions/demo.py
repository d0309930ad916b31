"""Realistic, server-shaped demo data: what a turul MCP server stores after real traffic.

Sessions carry the capabilities and ``client_info`` an MCP ``initialize`` produces; events are
the notifications servers stream (progress, log messages, list changes). A share of sessions is
idle past the timeout and a share was ended by the client (``state.terminated``).
"""

from __future__ import annotations

import heapq
import json
import os
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

from mcpstore_cli.errors import Interrupted
from mcpstore_cli.model.demo import DemoPlan
from mcpstore_cli.model.records import Event, Session

CLIENTS = [
    ("claude-ai", "0.1.0"),
    ("Claude Desktop", "1.0.211"),
    ("cursor-vscode", "1.0.0"),
    ("Visual Studio Code", "1.104.0"),
    ("mcp-inspector", "0.17.2"),
    ("goose", "1.9.1"),
    ("Zed", "0.205.3"),
    ("windsurf-client", "1.12.9"),
]
PROTOCOLS = ["2025-06-18", "2025-06-18", "2025-06-18", "2025-03-26", "2024-11-05"]
CLIENT_CAPS = [
    {"roots": {"listChanged": True}, "sampling": {}, "elicitation": {}},
    {"roots": {"listChanged": True}, "sampling": {}},
    {},
    {"roots": {"listChanged": False}},
]
SERVER_CAPS = {
    "logging": {},
    "prompts": {"listChanged": False},
    "resources": {"subscribe": True, "listChanged": True},
    "tools": {"listChanged": True},
}
TOOLS = ["search_docs", "run_query", "fetch_page", "summarize", "create_ticket", "list_files"]
LOG_LEVELS = ["debug", "info", "info", "info", "notice", "warning", "error"]

DEFAULT_TIMEOUT_MS = 30 * 60 * 1000


# Records that also carry their JSON columns already rendered, compact as the server writes
# them (byte for byte what ``jsoncodec.dumps`` gives for the decoded values next to them). A
# backend that stores JSON text can skip encoding; every other backend uses the values.
class DemoSession(Session):
    """A session with its JSON columns rendered too (positional, for speed)."""

    __slots__ = (
        "client_capabilities_json",
        "metadata_json",
        "server_capabilities_json",
        "state_json",
    )

    def __init__(
        self,
        session_id: str,
        created_at: int,
        last_activity: int,
        is_initialized: bool,
        client_capabilities: Any,
        server_capabilities: Any,
        state: dict[str, Any],
        metadata: dict[str, Any],
        client_capabilities_json: str | None,
        server_capabilities_json: str,
        state_json: str,
        metadata_json: str,
    ) -> None:
        self.session_id = session_id
        self.created_at = created_at
        self.last_activity = last_activity
        self.is_initialized = is_initialized
        self.client_capabilities = client_capabilities
        self.server_capabilities = server_capabilities
        self.state = state
        self.metadata = metadata
        self.extras = None
        self.event_count = None
        self.client_capabilities_json = client_capabilities_json
        self.server_capabilities_json = server_capabilities_json
        self.state_json = state_json
        self.metadata_json = metadata_json


_EVENT_DATA = Event.__dict__["data"]  # the slot that holds decoded data


class DemoEvent(Event):
    """An event made from its JSON text; ``data`` is decoded only if a backend asks for it."""

    __slots__ = ("data_json",)

    def __init__(
        self, session_id: str, timestamp: int, event_type: str, data_json: str, retry: int | None
    ) -> None:
        self.session_id = session_id
        self.id = 0
        self.timestamp = timestamp
        self.event_type = event_type
        self.retry = retry
        self.extras = None
        self.data_json = data_json

    @property  # type: ignore[override]
    def data(self) -> Any:
        try:
            return _EVENT_DATA.__get__(self)
        except AttributeError:  # not decoded yet
            value = json.loads(self.data_json)
            _EVENT_DATA.__set__(self, value)
            return value

    @data.setter
    def data(self, value: Any) -> None:
        _EVENT_DATA.__set__(self, value)


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


SERVER_CAPS_JSON = _dumps(SERVER_CAPS)
CLIENT_CAPS_JSON = [_dumps(c) for c in CLIENT_CAPS]
# The fixed head of each client's state object, ready to splice.
_STATE_HEADS = [
    [
        (
            {"name": name, "version": version},
            caps,
            caps_json,
            '{"client_info":'
            + _dumps({"name": name, "version": version})
            + ',"client_capabilities":'
            + caps_json,
        )
        for caps, caps_json in zip(CLIENT_CAPS, CLIENT_CAPS_JSON, strict=True)
    ]
    for name, version in CLIENTS
]
_USER_AGENTS = [
    ({"__meta__:user_agent": f"{n}/{v}"}, _dumps({"__meta__:user_agent": f"{n}/{v}"}))
    for n, v in CLIENTS
]


def uuid7_simple(ms: int, rng: random.Random) -> str:
    """A UUIDv7 in its "simple" form (32 lowercase hex digits), like ``Uuid::now_v7()``."""
    # 48 bits of milliseconds, version 7, 12 random bits, variant 0b10, 62 random bits.
    rand_a = rng.getrandbits(12)
    rand_b = rng.getrandbits(62)
    return f"{ms & 0xFFFFFFFFFFFF:012x}7{rand_a:03x}{0x8000000000000000 | rand_b:016x}"


PROGRESS_HEAD = '{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"tok-'
MESSAGE_HEAD = '{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"'
UPDATED_HEAD = (
    '{"jsonrpc":"2.0","method":"notifications/resources/updated","params":'
    '{"uri":"file:///workspace/notes/'
)
LIST_CHANGED = '{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}'


def _event_text(rng: random.Random, kind: int, step: int, total: int) -> tuple[str, str]:
    """One notification a server streams, as (method, compact JSON of the message).

    ``kind`` (0-99) picks it: 55% progress, 35% log messages, 6% resource updates, 4% tool
    list changes.
    """
    if kind < 55:
        progress = min(total, step * max(total // 10, 1))
        return "notifications/progress", (
            f'{PROGRESS_HEAD}{rng.getrandbits(32):08x}","progress":{progress},'
            f'"total":{total},"message":"{TOOLS[int(rng.random() * 6)]}: step {step}"}}}}'
        )
    if kind < 90:
        level = LOG_LEVELS[int(rng.random() * 7)]
        return "notifications/message", (
            f'{MESSAGE_HEAD}{level}","logger":"{TOOLS[int(rng.random() * 6)]}","data":'
            f'{{"message":"{level} from request {rng.getrandbits(24):06x}"}}}}}}'
        )
    if kind < 96:
        return "notifications/resources/updated", f'{UPDATED_HEAD}{rng.getrandbits(16):04x}.md"}}}}'
    return "notifications/tools/list_changed", LIST_CHANGED


def _last_activity(rng: random.Random, now: int, created: int, kind: str) -> int:
    """When a session created at ``created`` was last active, given what it is by ``now``."""
    timeout = DEFAULT_TIMEOUT_MS
    if kind == "uninitialized":
        return created
    if kind == "active" or (kind == "terminated" and rng.random() < 0.5):
        # Active within the timeout (a minute of margin), never before it was created; half
        # of the ended sessions ended that recently too (so --terminated has work of its own).
        low = max(created, now - timeout + 60_000)
        return low + int(rng.random() * (now - low))
    # Idle or ended: busy for up to six hours, last seen over the timeout (plus a minute) ago.
    high = now - timeout - 60_000
    return created + int(rng.random() * min(6 * 3_600_000, max(high - created, 0)))


def make_session(rng: random.Random, now: int, plan: DemoPlan, kind: str) -> DemoSession:
    """One session; ``kind`` is active, idle, terminated or uninitialized."""
    timeout = DEFAULT_TIMEOUT_MS
    if kind == "active":
        created = now - int(rng.random() * min(6 * 3_600_000, plan.span_ms))
    else:
        created = now - timeout - 60_000 - int(rng.random() * max(plan.span_ms - timeout, 60_000))
    return _session(rng, now, created, kind)


def _session(rng: random.Random, now: int, created: int, kind: str) -> DemoSession:
    sid = uuid7_simple(created, rng)
    if kind == "uninitialized":
        return DemoSession(
            sid,
            created,
            created,
            False,
            None,
            SERVER_CAPS,
            {},
            {},
            None,
            SERVER_CAPS_JSON,
            "{}",
            "{}",
        )
    last = _last_activity(rng, now, created, kind)
    client = int(rng.random() * len(CLIENTS))
    info, caps, caps_json, head = _STATE_HEADS[client][int(rng.random() * len(CLIENT_CAPS))]
    protocol = PROTOCOLS[int(rng.random() * len(PROTOCOLS))]
    fingerprint = f"{rng.getrandbits(64):016x}"
    state: dict = {
        "client_info": info,
        "client_capabilities": caps,
        "negotiated_version": protocol,
        "mcp_version": protocol,
        "mcp:tool_fingerprint": fingerprint,
    }
    text = (
        f'{head},"negotiated_version":"{protocol}","mcp_version":"{protocol}",'
        f'"mcp:tool_fingerprint":"{fingerprint}"'
    )
    if rng.random() < 0.4:
        counter = 1 + int(rng.random() * 49)
        state["counter"] = counter
        text += f',"counter":{counter}'
    if kind == "terminated":
        state["terminated"] = True
        state["terminated_at"] = last
        text += f',"terminated":true,"terminated_at":{last}'
    metadata: dict[str, Any] = {}
    metadata_json = "{}"
    if rng.random() < 0.5:
        metadata, metadata_json = _USER_AGENTS[client]
        metadata = dict(metadata)
    return DemoSession(
        sid,
        created,
        last,
        True,
        caps,
        SERVER_CAPS,
        state,
        metadata,
        caps_json,
        SERVER_CAPS_JSON,
        text + "}",
        metadata_json,
    )


def make_events(rng: random.Random, session: Session, count: int) -> list[Event]:
    """``count`` events of one session, in time order between its creation and last activity."""
    if count <= 0:
        return []
    span = max(session.last_activity - session.created_at, count) + 1
    created = session.created_at
    rand = rng.random
    bits = rng.getrandbits
    stamps = sorted([created + int(rand() * span) for _ in range(count)])
    sid = session.session_id
    out: list[Event] = []
    append = out.append
    for step, ts in enumerate(stamps, 1):
        kind = rand() * 100
        # _event_text, inlined with the fixed parts pre-rendered: this loop makes most rows.
        if kind < 55:
            key = step * 6 + int(rand() * 6)
            tail = _PROGRESS_TAILS.get(key)
            if tail is None:
                tail = _PROGRESS_TAILS[key] = _progress_tail(step, TOOLS[key % 6])
            etype = "notifications/progress"
            text = f"{PROGRESS_HEAD}{bits(32):08x}{tail}"
        elif kind < 90:
            etype = "notifications/message"
            text = f'{_MESSAGE_MIDS[int(rand() * 42)]}{bits(24):06x}"}}}}}}'
        elif kind < 96:
            etype = "notifications/resources/updated"
            text = f'{UPDATED_HEAD}{bits(16):04x}.md"}}}}'
        else:
            etype = "notifications/tools/list_changed"
            text = LIST_CHANGED
        append(DemoEvent(sid, ts, etype, text, 3000 if rand() < 0.1 else None))
    return out


def _progress_tail(step: int, tool: str) -> str:
    progress = step * 10 if step < 10 else 100
    return f'","progress":{progress},"total":100,"message":"{tool}: step {step}"}}}}'


# Progress tails by step * 6 + tool (filled as steps occur); message heads by level and logger.
_PROGRESS_TAILS: dict[int, str] = {}
_MESSAGE_MIDS = [
    f'{MESSAGE_HEAD}{level}","logger":"{logger}","data":{{"message":"{level} from request '
    for level in LOG_LEVELS
    for logger in TOOLS
]


def _ascending(rng: random.Random, n: int, low: int, high: int) -> Iterator[int]:
    """``n`` uniform random times in [low, high], in ascending order, in constant memory.

    The minimum of k uniforms on [x, 1] is x + (1 - x)(1 - U^(1/k)); the others are
    uniform above it, so the sorted sample unrolls one order statistic at a time.
    """
    x = 0.0
    width = high - low
    rand = rng.random
    for k in range(n, 0, -1):
        x += (1.0 - x) * (1.0 - rand() ** (1.0 / k))
        yield low + int(x * width)


def _counts(plan: DemoPlan) -> dict[str, int]:
    n = plan.sessions
    idle = round(n * plan.idle_share)
    terminated = round(n * plan.terminated_share)
    uninit = round(n * plan.uninitialized_share)
    active = max(n - idle - terminated - uninit, 0)
    counts = {"idle": idle, "terminated": terminated, "uninitialized": uninit, "active": active}
    # Never more than n in all (shares that round up together).
    over = sum(counts.values()) - n
    for kind in ("uninitialized", "terminated", "idle"):
        cut = min(over, counts[kind])
        counts[kind] -= cut
        over -= cut
    return counts


def generate(plan: DemoPlan, now: int) -> Iterator[tuple[list[Session], list[Event]]]:
    """Batches of (sessions, their events), about ``plan.batch_rows`` rows each.

    Sessions come in the order a server creates them (ascending ``created_at``, so ascending
    UUIDv7 ids), each followed by its events in time order, as with real traffic; memory
    stays flat whatever the size. Exactly ``sessions * events_per_session`` events in all,
    spread unevenly over the initialized sessions, as real traffic is.
    """
    rng = random.Random(plan.seed if plan.seed is not None else int.from_bytes(os.urandom(8)))
    counts = _counts(plan)
    timeout = DEFAULT_TIMEOUT_MS
    # Active sessions began within the last six hours; the others at least the timeout (and a
    # minute) ago, anywhere in the span.
    active_from = now - min(6 * 3_600_000, plan.span_ms)
    active = ((t, True) for t in _ascending(rng, counts["active"], active_from, now))
    others_to = now - timeout - 60_000
    others_from = min(now - plan.span_ms, others_to)
    n_others = plan.sessions - counts["active"]
    others = ((t, False) for t in _ascending(rng, n_others, others_from, others_to))
    # Which of the others is idle, ended or never initialized: drawn without replacement, so
    # the counts come out exact.
    idle_left, terminated_left = counts["idle"], counts["terminated"]
    remaining_others = n_others
    remaining = plan.sessions * plan.events_per_session
    initialized = plan.sessions - counts["uninitialized"]
    sessions: list[Session] = []
    events: list[Event] = []
    rand = rng.random
    for created, is_active in heapq.merge(active, others):
        if is_active:
            kind = "active"
        else:
            pick = rand() * remaining_others
            remaining_others -= 1
            if pick < idle_left:
                kind = "idle"
                idle_left -= 1
            elif pick < idle_left + terminated_left:
                kind = "terminated"
                terminated_left -= 1
            else:
                kind = "uninitialized"
        session = _session(rng, now, created, kind)
        count = 0
        if kind != "uninitialized" and remaining > 0:
            initialized -= 1
            if initialized == 0:
                count = remaining
            else:
                # Exponential counts around the running mean, so the total comes out exact.
                mean = remaining / (initialized + 1)
                count = min(remaining, int(rng.expovariate(1 / mean)) if mean else 0)
        remaining -= count
        sessions.append(session)
        if count:
            events.extend(make_events(rng, session, count))
        if len(sessions) + len(events) >= plan.batch_rows:
            yield sessions, events
            sessions, events = [], []
    if sessions or events:
        yield sessions, events


class DemoBatches:
    """``generate(plan, now)`` as an async iterable of batches, keeping its recipe: a backend
    that can generate the same rows elsewhere (in a child process) reads ``plan`` and ``now``;
    every other backend just iterates."""

    def __init__(self, plan: DemoPlan, now: int) -> None:
        self.plan = plan
        self.now = now

    def __aiter__(self) -> AsyncIterator[tuple[list[Session], list[Event]]]:
        return self._batches()

    async def _batches(self) -> AsyncIterator[tuple[list[Session], list[Event]]]:
        import asyncio  # loaded when a demo runs, not at start-up

        for batch in generate(self.plan, self.now):
            yield batch
            await asyncio.sleep(0)


def live_event(rng: random.Random, session_id: str, now: int, step: int) -> Event:
    etype, text = _event_text(rng, int(rng.random() * 100), step % 10 + 1, 100)
    return DemoEvent(session_id, now, etype, text, 3000 if rng.random() < 0.1 else None)


def demo_kept(sessions: int, events: int, batches: int) -> Interrupted:
    """Ctrl-C in a demo into a store that had rows: what the committed batches left."""
    if not batches:
        return Interrupted("the demo had committed no batch yet: nothing was written.")
    return Interrupted(
        f"the demo had committed {sessions:,} sessions and {events:,} events in "
        f"{batches:,} batch{'es' if batches != 1 else ''}; they stay in the store, the rest "
        "was not written."
    )


def demo_rolled_back() -> Interrupted:
    """Ctrl-C in a demo into an empty store: all or nothing, and it was nothing."""
    return Interrupted(
        "the demo into the empty store was rolled back: nothing was written, its tables "
        "are empty as before."
    )
