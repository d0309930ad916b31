"""Realistic, server-shaped demo data: what a turul MCP server stores after real traffic.

Sessions carry the capabilities and ``client_info`` an MCP ``initialize`` produces; events are
the notifications servers stream (progress, log messages, list changes). A share of sessions is
idle past the timeout and a share was ended by the client (``state.terminated``).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass

from mcpstore_cli.records import Event, Session

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


@dataclass(slots=True)
class DemoPlan:
    sessions: int = 100
    events_per_session: int = 10
    idle_share: float = 0.3
    terminated_share: float = 0.1
    uninitialized_share: float = 0.05
    span_ms: int = 24 * 3_600_000  # how far back sessions were created
    seed: int | None = None
    batch_rows: int = 20_000


def uuid7_simple(ms: int, rng: random.Random) -> str:
    """A UUIDv7 in its "simple" form (32 lowercase hex digits), like ``Uuid::now_v7()``."""
    rand_a = rng.getrandbits(12)
    rand_b = rng.getrandbits(62)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return f"{value:032x}"


def _event_payload(rng: random.Random, kind: int, step: int, total: int) -> tuple[str, dict]:
    if kind < 55:
        token = f"tok-{rng.getrandbits(32):08x}"
        progress = min(total, step * max(total // 10, 1))
        return "notifications/progress", {
            "jsonrpc": "2.0",
            "method": "notifications/progress",
            "params": {
                "progressToken": token,
                "progress": progress,
                "total": total,
                "message": f"{rng.choice(TOOLS)}: step {step}",
            },
        }
    if kind < 90:
        level = rng.choice(LOG_LEVELS)
        return "notifications/message", {
            "jsonrpc": "2.0",
            "method": "notifications/message",
            "params": {
                "level": level,
                "logger": rng.choice(TOOLS),
                "data": {"message": f"{level} from request {rng.getrandbits(24):06x}"},
            },
        }
    if kind < 96:
        return "notifications/resources/updated", {
            "jsonrpc": "2.0",
            "method": "notifications/resources/updated",
            "params": {"uri": f"file:///workspace/notes/{rng.getrandbits(16):04x}.md"},
        }
    return "notifications/tools/list_changed", {
        "jsonrpc": "2.0",
        "method": "notifications/tools/list_changed",
    }


def make_session(rng: random.Random, now: int, plan: DemoPlan, kind: str) -> Session:
    """One session; ``kind`` is active, idle, terminated or uninitialized."""
    timeout = DEFAULT_TIMEOUT_MS
    if kind == "active":
        last = now - rng.randrange(0, timeout - 60_000)
    else:
        last = now - rng.randrange(timeout + 60_000, max(plan.span_ms, timeout + 120_000))
    created = last - rng.randrange(0, min(6 * 3_600_000, max(plan.span_ms // 4, 1)))
    name, version = rng.choice(CLIENTS)
    protocol = rng.choice(PROTOCOLS)
    sid = uuid7_simple(created, rng)
    if kind == "uninitialized":
        return Session(
            session_id=sid,
            created_at=created,
            last_activity=created,
            is_initialized=False,
            client_capabilities=None,
            server_capabilities=SERVER_CAPS,
            state={},
            metadata={},
        )
    caps = rng.choice(CLIENT_CAPS)
    state: dict = {
        "client_info": {"name": name, "version": version},
        "client_capabilities": caps,
        "negotiated_version": protocol,
        "mcp_version": protocol,
        "mcp:tool_fingerprint": f"{rng.getrandbits(64):016x}",
    }
    if rng.random() < 0.4:
        state["counter"] = rng.randrange(1, 50)
    if kind == "terminated":
        state["terminated"] = True
        state["terminated_at"] = last
    metadata = {}
    if rng.random() < 0.5:
        metadata["__meta__:user_agent"] = f"{name}/{version}"
    return Session(
        session_id=sid,
        created_at=created,
        last_activity=last,
        is_initialized=True,
        client_capabilities=caps,
        server_capabilities=SERVER_CAPS,
        state=state,
        metadata=metadata,
    )


def make_events(rng: random.Random, session: Session, count: int) -> list[Event]:
    if count <= 0:
        return []
    span = max(session.last_activity - session.created_at, count)
    stamps = sorted(session.created_at + rng.randrange(0, span + 1) for _ in range(count))
    out = []
    total = 100
    for step, ts in enumerate(stamps, start=1):
        etype, data = _event_payload(rng, rng.randrange(100), step, total)
        retry = 3000 if rng.random() < 0.1 else None
        out.append(Event(session.session_id, 0, ts, etype, data, retry))
    return out


def _kinds(plan: DemoPlan, rng: random.Random) -> list[str]:
    n = plan.sessions
    idle = round(n * plan.idle_share)
    terminated = round(n * plan.terminated_share)
    uninit = round(n * plan.uninitialized_share)
    active = max(n - idle - terminated - uninit, 0)
    kinds = ["idle"] * idle + ["terminated"] * terminated + ["uninitialized"] * uninit
    kinds += ["active"] * active
    kinds = kinds[:n]
    rng.shuffle(kinds)
    return kinds


def generate(plan: DemoPlan, now: int) -> Iterator[tuple[list[Session], list[Event]]]:
    """Batches of (sessions, their events), about ``plan.batch_rows`` rows each.

    Exactly ``sessions * events_per_session`` events in all, spread unevenly over the
    initialized sessions, as real traffic is.
    """
    rng = random.Random(plan.seed if plan.seed is not None else int.from_bytes(os.urandom(8)))
    kinds = _kinds(plan, rng)
    remaining = plan.sessions * plan.events_per_session
    initialized = sum(1 for k in kinds if k != "uninitialized")
    sessions: list[Session] = []
    events: list[Event] = []
    for kind in kinds:
        session = make_session(rng, now, plan, kind)
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
        events.extend(make_events(rng, session, count))
        if len(sessions) + len(events) >= plan.batch_rows:
            yield sessions, events
            sessions, events = [], []
    if sessions or events:
        yield sessions, events


def live_event(rng: random.Random, session_id: str, now: int, step: int) -> Event:
    etype, data = _event_payload(rng, rng.randrange(100), step % 10 + 1, 100)
    retry = 3000 if rng.random() < 0.1 else None
    return Event(session_id, 0, now, etype, data, retry)
