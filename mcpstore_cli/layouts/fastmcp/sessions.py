"""FastMCP's two kinds of session, built from entries (nothing in the store links them):

- an **event-store session**: the random scope one HTTP transport's streams share
  (``<len>:<scope>:<n>``; not the ``Mcp-Session-Id``), with its streams and events;
- a **state session**: the id before the first ``:`` of ``fastmcp_state`` keys (the
  ``Mcp-Session-Id`` on the 2025-11-25 lane, a fresh UUID per request on 2026-07-28).

An entry past its expiry counts as gone, as the server's reads skip it.
"""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mcpstore_cli.layouts.fastmcp import EVENTS, STATE, STREAMS
from mcpstore_cli.layouts.fastmcp.records import (
    method_of,
    parse_stream_id,
    state_session,
    stream_event_ids,
)
from mcpstore_cli.model.kv import Entry

EVENT_KIND = "events"
STATE_KIND = "state"
# (label, upper bound in seconds) of the time left before entries expire
TTL_BUCKETS: list[tuple[str, int | None]] = [
    ("expired", 0),
    ("< 1m", 60),
    ("1m-10m", 600),
    ("10m-1h", 3600),
    ("1h-6h", 21600),
    ("6h-1d", 86400),
    (">= 1d", None),
]


@dataclass(slots=True)
class Summary:
    """One session of either kind, as ``list`` shows it."""

    kind: str  # EVENT_KIND or STATE_KIND
    session_id: str
    first: int | None = None  # Unix ms of its oldest entry
    last: int | None = None  # of its newest write
    expires_at: int | None = None  # when its last entry expires (None: never)
    never_expires: bool = False
    streams: set[str] = field(default_factory=set)
    events: int = 0
    keys: list[str] = field(default_factory=list)

    def add_time(self, entry: Entry) -> None:
        created = entry.created_at
        written = entry.written_at if entry.ttl is not None else created
        if created is not None:
            if self.first is None or created < self.first:
                self.first = created
            if self.last is None or created > self.last:
                self.last = created
        if written is not None and written != created:
            if self.first is None or written < self.first:
                self.first = written
            if self.last is None or written > self.last:
                self.last = written
        expires = entry.expires_at
        if expires is None:
            self.never_expires = True
        elif self.expires_at is None or expires > self.expires_at:
            self.expires_at = expires

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "expires_at": None if self.never_expires else self.expires_at,
        }
        if self.kind == EVENT_KIND:
            out["streams"] = len(self.streams)
            out["events"] = self.events
        else:
            out["keys"] = len(self.keys)
            out["key_names"] = sorted(self.keys)
        return out


class SessionIndex:
    """Feed it entries (any collection, any order); it keeps one small summary per
    session, never the values."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms
        self.sessions: dict[tuple[str, str], Summary] = {}
        self.unscoped_streams = 0  # stream ids not in FastMCP's scoped form
        self._scopes: dict[str, str] = {}  # stream id -> its scope (parsed once)

    def _get(self, kind: str, session_id: str) -> Summary:
        found = self.sessions.get((kind, session_id))
        if found is None:
            found = self.sessions[(kind, session_id)] = Summary(kind, session_id)
        return found

    def add(self, entry: Entry) -> None:
        expires = entry.expires_at
        if expires is not None and expires <= self.now_ms:
            return
        if entry.collection == STREAMS:
            parsed = parse_stream_id(entry.key)
            if parsed is None:
                self.unscoped_streams += 1
                return
            summary = self._get(EVENT_KIND, parsed[0])
            summary.streams.add(entry.key)
            summary.add_time(entry)
        elif entry.collection == EVENTS:
            value = entry.value
            stream = value.get("stream_id") if type(value) is dict else None
            if type(stream) is not str:
                return
            scope = self._scopes.get(stream)
            if scope is None:
                parsed = parse_stream_id(stream)
                if parsed is None:
                    return
                scope = self._scopes[stream] = parsed[0]
            summary = self._get(EVENT_KIND, scope)
            summary.events += 1
            summary.add_time(entry)
        elif entry.collection == STATE:
            session, name = state_session(entry.key)
            summary = self._get(STATE_KIND, session)
            summary.keys.append(name)
            summary.add_time(entry)

    def add_events(
        self,
        scope: str,
        count: int,
        first: int | None,
        last: int | None,
        expires_at: int | None,
        never_expires: bool,
    ) -> None:
        """The live events of one scope, counted by the store itself (PostgreSQL)."""
        summary = self._get(EVENT_KIND, scope)
        summary.events += count
        for at in (first, last):
            if at is not None:
                summary.first = at if summary.first is None else min(summary.first, at)
                summary.last = at if summary.last is None else max(summary.last, at)
        if never_expires:
            summary.never_expires = True
        if expires_at is not None and (
            summary.expires_at is None or expires_at > summary.expires_at
        ):
            summary.expires_at = expires_at

    def ordered(self) -> list[Summary]:
        """Newest activity first; ties: larger id first (the list order of every layout)."""
        return sorted(
            self.sessions.values(),
            key=lambda s: (s.last or 0, s.session_id, s.kind),
            reverse=True,
        )


class Figures:
    """What ``stats`` says about a FastMCP store, gathered in one pass over its entries.

    Orphans are counted from 8-byte hashes of the event ids (kept in arrays, sorted at the
    end), so memory stays small on big stores."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms
        self.entries: Counter[str] = Counter()  # per collection, live
        self.expired: Counter[str] = Counter()  # past expiry, still stored
        self.methods: Counter[str] = Counter()
        self.ttl_left: Counter[str] = Counter()
        self.index = SessionIndex(now_ms)
        self._events = array("q")  # hashes of live event ids
        self._listed = array("q")  # hashes of the ids live streams list
        self._listed_by = array("l")  # which stream listed each
        self._streams = 0

    def add(self, entry: Entry) -> None:
        collection = entry.collection
        expires = entry.expires_at
        if expires is not None and expires <= self.now_ms:
            self.expired[collection] += 1
            self.ttl_left["expired"] += 1
            return
        self.entries[collection] += 1
        self.ttl_left[ttl_bucket(entry, self.now_ms)] += 1
        if collection == EVENTS:
            self.index.add(entry)
            value = entry.value
            self.methods[method_of(value.get("message") if type(value) is dict else None)] += 1
            self._events.append(hash(entry.key))
            return
        if collection not in (STREAMS, STATE):
            return
        self.index.add(entry)
        if collection == STREAMS:
            ids = stream_event_ids(entry)
            if ids is None:
                return  # not FastMCP's list: it names no event
            self._listed.extend(hash(i) for i in ids)
            self._listed_by.extend([self._streams] * len(ids))
            self._streams += 1

    def orphans(self) -> dict[str, int]:
        """Stream lists naming events that are gone, and events no live stream lists (one
        set of the event hashes at a time)."""
        events = set(self._events)
        missing = {h for h in self._listed if h not in events}
        missing_count = 0
        naming: set[int] = set()
        if missing:
            for h, stream in zip(self._listed, self._listed_by, strict=True):
                if h in missing:
                    missing_count += 1
                    naming.add(stream)
        events.difference_update(self._listed)
        return {
            "streams_naming_missing_events": len(naming),
            "missing_event_ids": missing_count,
            "events_of_no_stream": len(events),
        }


def ttl_bucket(entry: Entry, now_ms: int) -> str:
    if entry.expires_at is None:
        return "never"
    left = (entry.expires_at - now_ms) / 1000
    if left <= 0:
        return "expired"
    for label, high in TTL_BUCKETS[1:]:
        if high is None or left < high:
            return label
    return TTL_BUCKETS[-1][0]


def orphan_plan(
    streams: dict[str, tuple[Entry, list[str]]],
    stored: set[int],
    candidates: list[Entry],
    *,
    now_ms: int,
    grace_ms: int,
) -> tuple[list[tuple[Entry, list[str]]], list[Entry]]:
    """What ``expire --orphans`` changes: each live stream whose list names events that are
    not stored (with the list it gets), and of the live events no stream lists
    (``candidates``) those older than the grace (FastMCP stores an event before it adds it to
    its stream's list). ``stored``: hashes of the live events the streams name. A hash that
    collides can only keep something, never remove it."""
    trims: list[tuple[Entry, list[str]]] = []
    for entry, ids in streams.values():
        if entry.expired(now_ms):
            continue
        kept = [i for i in ids if hash(i) in stored]
        if len(kept) != len(ids):
            trims.append((entry, kept))
    unlisted = [
        e
        for e in candidates
        if not e.expired(now_ms) and (e.created_at is None or e.created_at < now_ms - grace_ms)
    ]
    return trims, unlisted
