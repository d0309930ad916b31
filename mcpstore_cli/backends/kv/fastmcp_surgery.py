"""delete, state and touch on FastMCP's entries, over the key-value primitives (each backend's
``kv_write`` / ``kv_delete`` compare what they change with what was read).

- A **state session**'s state is its ``fastmcp_state`` entries (``<session id>:<key>`` →
  ``{"value": …}``). ``set`` puts one entry as ``ctx.set_state`` does (a fresh expiry of
  FastMCP's 86400 s); ``unset`` deletes it.
- delete removes a state session's entries, or an event-store session's streams and every
  event of them.
- touch pushes the expiry of each of the session's entries as the server's next write of it
  would (state: 86400 s; streams and events: 3600 s), keeping their values.

FastMCP keeps no mark of a session's end in its store (its server forgets a session in
memory on HTTP DELETE), so ``terminate`` does not apply. An event-store session has no state:
nothing in the store links it to a state session (see ``layouts/fastmcp``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcpstore_cli.errors import McpStoreError
from mcpstore_cli.layouts.fastmcp import EVENTS, EVENTS_TTL, STATE, STATE_TTL, STREAMS
from mcpstore_cli.layouts.fastmcp.records import parse_stream_id, state_session
from mcpstore_cli.model.kv import Entry
from mcpstore_cli.model.surgery import SessionChange, contended, gone, removed_text

if TYPE_CHECKING:
    from mcpstore_cli.backends.kv.fastmcp import FastmcpSessions

TRIES = 5
_KINDS = {STATE: "state keys", STREAMS: "streams", EVENTS: "events"}


@dataclass
class Owned:
    """Every entry that belongs to one session id, expired ones included."""

    state: dict[str, Entry] = field(default_factory=dict)  # by state key
    streams: list[Entry] = field(default_factory=list)
    events: list[Entry] = field(default_factory=list)

    def live(self, now_ms: int) -> Owned:
        return Owned(
            {k: e for k, e in self.state.items() if not e.expired(now_ms)},
            [e for e in self.streams if not e.expired(now_ms)],
            [e for e in self.events if not e.expired(now_ms)],
        )

    def counts(self) -> dict[str, int]:
        out = {}
        if self.state:
            out["state keys"] = len(self.state)
        if self.streams or self.events:
            out["streams"] = len(self.streams)
            out["events"] = len(self.events)
        return out

    def all(self) -> list[Entry]:
        return [*self.state.values(), *self.streams, *self.events]


def _scope(stream_id: Any) -> str | None:
    parsed = parse_stream_id(stream_id) if isinstance(stream_id, str) else None
    return parsed[0] if parsed else None


async def owned(store: FastmcpSessions, session_id: str) -> Owned:
    """One pass over FastMCP's three collections."""
    await store.ensure_readable()
    out = Owned()
    async for page in store.kv_scan((STATE, STREAMS, EVENTS)):
        for entry in page:
            if entry.collection == STATE:
                sid, name = state_session(entry.key)
                if sid == session_id:
                    out.state[name] = entry
            elif entry.collection == STREAMS:
                if _scope(entry.key) == session_id:
                    out.streams.append(entry)
            elif isinstance(entry.value, dict) and _scope(entry.value.get("stream_id")) == (
                session_id
            ):
                out.events.append(entry)
    return out


def _now() -> int:
    return int(time.time() * 1000)


def _fresh(entry: Entry, ttl_s: int, now_ms: int, value: Any = None) -> Entry:
    """The entry as a put now would leave it: same value (or ``value``), written now,
    expiring ``ttl_s`` later."""
    return Entry(
        entry.collection,
        entry.key,
        value=entry.value if value is None else value,
        created_at=now_ms,
        expires_at=now_ms + ttl_s * 1000,
        ttl=float(ttl_s),
    )


def _not_state(session_id: str, found: Owned) -> str:
    if found.streams or found.events:
        return (
            f"{session_id} is an event-store session (its streams); FastMCP's state belongs "
            "to state sessions, which nothing in the store links to it"
        )
    return f"{session_id} has no state entries"


async def read_state(store: FastmcpSessions, session_id: str) -> dict[str, Any] | None:
    found = (await owned(store, session_id)).live(_now())
    if not found.state:
        if not found.all():
            return None
        raise McpStoreError(
            _not_state(session_id, found)[0].upper() + _not_state(session_id, found)[1:] + "."
        )
    return {
        name: (e.value.get("value") if isinstance(e.value, dict) else e.value)
        for name, e in sorted(found.state.items())
    }


async def change_state(
    store: FastmcpSessions, session_id: str, key: str, value: Any, *, unset: bool
) -> SessionChange:
    from mcpstore_cli.model.surgery import clip
    from mcpstore_cli.util.jsoncodec import dumps

    action = "unset" if unset else "set"
    now = _now()
    found = (await owned(store, session_id)).live(now)
    if not found.state:
        if not found.all():
            return gone(session_id, action, store.url.masked())
        return SessionChange(
            session_id, action, False, "not changed", _not_state(session_id, found)
        )
    entry_key = f"{session_id}:{key}"
    for _try in range(TRIES):
        held = (await store.kv_get(STATE, [entry_key])).get(entry_key)
        now = _now()
        if unset:
            if held is None or held.expired(now):
                return SessionChange(session_id, "unset", True, f"{key} was not set")
            if await store.kv_delete([held]):
                return SessionChange(session_id, "unset", True, f"unset {key}", changed=True)
            continue
        new = Entry(STATE, entry_key, {"value": value}, created_at=now)
        new = _fresh(new, STATE_TTL, now)
        if await store.kv_write(new, expected=held):
            return SessionChange(
                session_id, "set", True, f"set {key}", f"= {clip(dumps(value))}", changed=True
            )
    return contended(session_id, action, TRIES)


async def touch(store: FastmcpSessions, session_id: str) -> SessionChange:
    now = _now()
    found = (await owned(store, session_id)).live(now)
    if not found.all():
        return gone(session_id, "touch", store.url.masked())
    pushed = renewed = 0
    for entry in found.all():
        ttl = STATE_TTL if entry.collection == STATE else EVENTS_TTL
        if entry.expires_at is None:
            continue  # never expires: nothing to push
        if await store.kv_write(_fresh(entry, ttl, now), expected=entry):
            pushed += 1
        else:
            renewed += 1  # the server wrote it again meanwhile: renewed by its own write
    detail = f"{pushed:,} entr{'y' if pushed == 1 else 'ies'} expire later"
    if renewed:
        detail += f"; {renewed:,} written by the server meanwhile, left as it wrote them"
    return SessionChange(session_id, "touch", True, "touched", detail, changed=pushed > 0)


async def preview(store: FastmcpSessions, session_id: str) -> dict[str, int] | None:
    """Every entry delete removes, expired ones too (they go with the rest)."""
    found = await owned(store, session_id)
    return found.counts() if found.live(_now()).all() else None


async def delete(store: FastmcpSessions, session_id: str) -> SessionChange:
    """Delete every entry of the session; an entry the server wrote again meanwhile is read
    again and deleted on the next pass (up to :data:`TRIES` passes)."""
    removed: dict[str, int] = {}
    found_any = False
    for _pass in range(TRIES + 1):
        entries = (await owned(store, session_id)).all()
        if not entries:
            break
        if _pass == TRIES:  # written again after every pass
            return contended(session_id, "delete", TRIES)
        found_any = True
        for entry in entries:
            if await store.kv_delete([entry]):
                kind = _KINDS[entry.collection]
                removed[kind] = removed.get(kind, 0) + 1
    if not found_any:
        return gone(session_id, "delete", store.url.masked())
    return SessionChange(
        session_id, "delete", True, "deleted", removed_text(removed), changed=True, removed=removed
    )
