"""FastMCP's layout over any key-value backend: ``list``, ``show``, ``stats`` and the orphan
half of ``expire`` are written here once, over a handful of primitives each backend supplies
(``kv_scan``, ``kv_get``, ``kv_delete``, ``kv_replace``, ``kv_put``, ``kv_counts``,
``kv_storage``, ``kv_expire``).

Race safety: every change is conditional on what was read (``Entry.token``): an entry the
server wrote again after mcpstore read it is left alone and counted as skipped.
"""

from __future__ import annotations

import abc
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from mcpstore_cli.errors import UsageError
from mcpstore_cli.layouts.fastmcp import COLLECTIONS, EVENTS, STATE, STREAMS
from mcpstore_cli.layouts.fastmcp.records import (
    describe_message,
    event_message,
    event_stream,
    parse_stream_id,
    state_session,
    stream_event_ids,
)
from mcpstore_cli.layouts.fastmcp.sessions import (
    EVENT_KIND,
    TTL_BUCKETS,
    Figures,
    SessionIndex,
    Summary,
    orphan_plan,
)
from mcpstore_cli.model.ids import IdMatches
from mcpstore_cli.model.records import (
    CorruptRow,
    Cursor,
    Event,
    ExpireOptions,
    ExpireResult,
    Session,
    SessionFilter,
    Stats,
)
from mcpstore_cli.store.base import ProgressCallback
from mcpstore_cli.store.pacing import Pacer
from mcpstore_cli.util.gcpause import fewer_collections

if TYPE_CHECKING:
    from mcpstore_cli.model.ids import Note
    from mcpstore_cli.model.kv import Entry

# FastMCP stores an event, then adds its id to the stream's list: an event younger than this
# that no stream lists is on its way in, not an orphan.
ORPHAN_GRACE_MS = 60_000


def summary_session(summary: Summary) -> Session:
    return Session(
        session_id=summary.session_id,
        created_at=summary.first or 0,
        last_activity=summary.last or 0,
        is_initialized=True,
        extras=summary.as_json(),
        event_count=summary.events if summary.kind == EVENT_KIND else None,
    )


class FastmcpSessions(abc.ABC):
    """Mixed into a backend's Store for the ``fastmcp`` layout."""

    layout: ClassVar[str] = "fastmcp"
    # list shows the kind of each session, and show describes one with describe_session()
    session_kinds: ClassVar[bool] = True
    # expire removes entries past their expiry (False: the backend does it itself: Redis)
    expires_entries: ClassVar[bool] = True
    records_noun: ClassVar[str | None] = "entries"
    # FastMCP's server writes these entries; demo data would be entries nobody wrote.
    has_demo: ClassVar[bool] = False
    url: Any

    # -- primitives -----------------------------------------------------------------------
    @abc.abstractmethod
    def kv_scan(
        self, collections: Sequence[str] | None, *, others: dict[str, int] | None = None
    ) -> AsyncIterator[list[Entry]]:
        """Every entry of these collections (None: of every collection), values decoded,
        expired ones included, in pages. ``others``: count the entries of every other
        collection there, by name, without reading their values (where the backend can do
        it in the same pass; :attr:`counts_others_in_scan`)."""

    counts_others_in_scan: ClassVar[bool] = False

    @abc.abstractmethod
    async def kv_get(self, collection: str, keys: Sequence[str]) -> dict[str, Entry]:
        """The stored entries of these keys (expired ones included)."""

    @abc.abstractmethod
    async def kv_delete(self, entries: Sequence[Entry]) -> int:
        """Delete each entry unless it changed since it was read; how many went."""

    @abc.abstractmethod
    async def kv_replace(self, entry: Entry, value: Any) -> bool:
        """Write ``value`` over an unchanged entry, keeping its expiry; False if it changed."""

    @abc.abstractmethod
    async def kv_write(self, entry: Entry, *, expected: Entry | None) -> bool:
        """Put ``entry`` (its value, write time and expiry, as a py-key-value put does) if
        the key still holds ``expected`` as it was read (None: only if it holds nothing);
        False when it does not."""

    @abc.abstractmethod
    async def kv_put(self, entries: Sequence[Entry], *, only_missing: bool) -> int:
        """Write entries with their own times and expiry (``only_missing``: only where the key
        holds nothing); how many were written."""

    # How consistent a backup's read is, in one sentence.
    backup_consistency: ClassVar[str] = "one read of every entry"

    @abc.abstractmethod
    async def kv_counts(self) -> dict[str, int]:
        """Entries per collection, expired ones included."""

    @abc.abstractmethod
    async def kv_storage(self, counts: dict[str, int] | None = None) -> dict[str, Any]:
        """Storage facts (``bytes`` and how they were measured)."""

    async def kv_expire(  # noqa: B027 - a backend that expires entries itself has none
        self, opts: ExpireOptions, result: ExpireResult, pacer: Pacer, progress: Any
    ) -> None:
        """Remove the entries past their expiry (fills ``result.entries``)."""

    if TYPE_CHECKING:

        async def ensure_readable(self) -> None: ...

    # -- reading --------------------------------------------------------------------------
    def check_filter(self, flt: SessionFilter) -> None:
        if flt.graph_id is not None:
            raise UsageError(
                f"--graph applies to layouts whose sessions run graphs (graphflow); "
                f"{self.url.masked()} is in the fastmcp layout."
            )
        if flt.terminated is not None or flt.initialized is not None:
            raise UsageError(
                "FastMCP's stores keep no session end nor initialisation; --terminated and "
                "--initialized do not apply to the fastmcp layout."
            )

    async def _index(self, now_ms: int, collections: Sequence[str] = COLLECTIONS) -> SessionIndex:
        await self.ensure_readable()
        index = SessionIndex(now_ms)
        with fewer_collections():
            async for page in self.kv_scan(collections):
                for entry in page:
                    index.add(entry)
        return index

    async def iter_sessions(
        self, flt: SessionFilter, *, limit: int | None, cursor: Cursor | None = None
    ) -> AsyncIterator[Session | CorruptRow]:
        self.check_filter(flt)
        index = await self._index(flt.now_ms)
        sent = 0
        for summary in index.ordered():
            session = summary_session(summary)
            if cursor is not None and not (
                (session.last_activity, session.session_id)
                < (cursor.last_activity, cursor.session_id)
            ):
                continue
            if not flt.matches(session):
                continue
            yield session
            sent += 1
            if limit is not None and sent >= limit:
                return

    async def _summaries(self, session_id: str) -> list[Summary]:
        index = await self._index(int(time.time() * 1000), (STREAMS, STATE, EVENTS))
        return [s for (_kind, sid), s in index.sessions.items() if sid == session_id]

    async def get_session(self, session_id: str) -> Session | CorruptRow | None:
        found = await self._summaries(session_id)
        return summary_session(found[0]) if found else None

    async def _ids(self) -> set[str]:
        index = await self._index(int(time.time() * 1000), (STREAMS, STATE))
        return {sid for (_kind, sid) in index.sessions}

    async def existing_session_ids(self, ids: Sequence[str]) -> list[str]:
        have = await self._ids()
        return sorted(set(ids) & have)

    async def match_session_ids(
        self, prefixes: Sequence[str], *, limit: int, note: Note | None = None
    ) -> IdMatches:
        have = await self._ids()
        lowered = [p.lower() for p in prefixes]
        hits = sorted(s for s in have if any(s.lower().startswith(p) for p in lowered))
        return IdMatches(ids=hits[:limit], total=len(hits))

    async def recent_events(self, session_id: str, limit: int) -> list[Event | CorruptRow]:
        return []  # describe_session() shows FastMCP's streams and their events

    async def describe_session(self, session_id: str, *, events: int) -> dict[str, Any] | None:
        """One session of either kind, whole: an event-store session's streams in order with
        their last ``events`` events (JSON-RPC messages described, priming events marked);
        a state session's keys and values."""
        now = int(time.time() * 1000)
        summaries = await self._summaries(session_id)
        if not summaries:
            return None
        out: dict[str, Any] = {"session_id": session_id, "kinds": []}
        for summary in summaries:
            part = summary.as_json()
            part["first"] = summary.first
            part["last_activity"] = summary.last
            if summary.kind == EVENT_KIND:
                part["streams"] = await self._describe_streams(summary, now, events)
            else:
                part["keys"] = await self._describe_state(session_id, now)
            out["kinds"].append(part)
        return out

    async def _describe_streams(
        self, summary: Summary, now: int, limit: int
    ) -> list[dict[str, Any]]:
        streams = await self.kv_get(STREAMS, sorted(summary.streams))
        wanted: list[str] = []
        order: list[tuple[str, list[str], Entry]] = []
        for key, entry in streams.items():
            if entry.expired(now):
                continue
            ids = stream_event_ids(entry) or []
            shown = ids[-limit:] if limit else []
            wanted.extend(shown)
            wanted.extend(ids[:1])  # when the stream began
            order.append((key, shown, entry))
        events = await self.kv_get(EVENTS, wanted) if wanted else {}

        def began(item: tuple[str, list[str], Entry]) -> tuple[int, str]:
            """A stream began with its first event (its entry's ``created_at`` is the last
            write on Redis and DynamoDB, which rewrite the whole document)."""
            key, _shown, entry = item
            ids = stream_event_ids(entry) or []
            first = events.get(ids[0]) if ids else None
            at = first.created_at if first is not None else None
            return (at if at is not None else entry.created_at or 0, key)

        out = []
        for key, shown, entry in sorted(order, key=began):
            parsed = parse_stream_id(key)
            listed = stream_event_ids(entry) or []
            rows = []
            for event_id in shown:
                ev = events.get(event_id)
                if ev is None or ev.expired(now):
                    rows.append({"event_id": event_id, "missing": True})
                    continue
                message = event_message(ev)
                rows.append(
                    {
                        "event_id": event_id,
                        "time": ev.created_at,
                        "priming": message is None,
                        **describe_message(message),
                        "jsonrpc": message,
                    }
                )
            out.append(
                {
                    "stream_id": key,
                    "request": parsed[1] if parsed else None,
                    "created_at": entry.created_at,
                    "expires_at": entry.expires_at,
                    "event_ids": len(listed),
                    "events": rows,
                }
            )
        return out

    async def _describe_state(self, session_id: str, now: int) -> list[dict[str, Any]]:
        rows = []
        async for page in self.kv_scan((STATE,)):
            for entry in page:
                sid, name = state_session(entry.key)
                if sid != session_id or entry.expired(now):
                    continue
                value = entry.value.get("value") if isinstance(entry.value, dict) else entry.value
                rows.append(
                    {
                        "key": name,
                        "value": value,
                        "written_at": entry.written_at,
                        "expires_at": entry.expires_at,
                    }
                )
        return sorted(rows, key=lambda r: r["key"])

    # -- one session at a time (fastmcp_surgery.py beside this module) -----------------
    session_changes: ClassVar[frozenset[str]] = frozenset({"delete", "state", "touch"})

    async def deletion_preview(self, session_id: str) -> dict[str, int] | None:
        from mcpstore_cli.backends.kv import fastmcp_surgery

        return await fastmcp_surgery.preview(self, session_id)

    async def delete_session(self, session_id: str) -> Any:
        from mcpstore_cli.backends.kv import fastmcp_surgery

        return await fastmcp_surgery.delete(self, session_id)

    async def read_state(self, session_id: str) -> dict[str, Any] | None:
        from mcpstore_cli.backends.kv import fastmcp_surgery

        return await fastmcp_surgery.read_state(self, session_id)

    async def change_state(
        self, session_id: str, key: str, value: Any, *, unset: bool, now_ms: int, ttl_s: int
    ) -> Any:
        from mcpstore_cli.backends.kv import fastmcp_surgery

        return await fastmcp_surgery.change_state(self, session_id, key, value, unset=unset)

    async def touch_session(self, session_id: str, *, now_ms: int, ttl_s: int) -> Any:
        from mcpstore_cli.backends.kv import fastmcp_surgery

        return await fastmcp_surgery.touch(self, session_id)

    async def stats(self, *, now_ms: int, timeout_ms: int, approximate: bool = False) -> Stats:
        raise UsageError("stats of the fastmcp layout are its own figures")  # pragma: no cover

    async def layout_stats(self, *, now_ms: int) -> dict[str, Any] | None:
        await self.ensure_readable()
        figures = Figures(now_ms)
        others: dict[str, int] = {}
        if self.counts_others_in_scan:
            pages = self.kv_scan(COLLECTIONS, others=others)
        else:
            counts = await self.kv_counts()
            others = {c: n for c, n in counts.items() if c not in COLLECTIONS}
            pages = self.kv_scan(COLLECTIONS)
        with fewer_collections():
            async for page in pages:
                for entry in page:
                    figures.add(entry)
        every = {**others, **{c: figures.entries[c] + figures.expired[c] for c in COLLECTIONS}}
        return self.stats_object(
            entries=figures.entries,
            expired=figures.expired,
            index=figures.index,
            methods=figures.methods,
            orphans=figures.orphans(),
            ttl_left=figures.ttl_left,
            others=others,
            storage=await self.kv_storage(every),
        )

    async def metric_figures(
        self, *, now_ms: int, timeout_ms: int, stuck_after_ms: int = 3_600_000
    ) -> Any:
        """Entries by collection (live, and expired but still stored), sessions of each
        kind, other collections counted, storage: from the ``stats`` figures."""
        from mcpstore_cli.model.metrics import MetricSet

        figures = await self.layout_stats(now_ms=now_ms)
        assert figures is not None
        out = MetricSet()
        out.by("fastmcp_entries", figures["entries"], "collection")
        expired = figures["expired_but_present"] or {}
        out.by(
            "fastmcp_entries_expired_present",
            {c: expired.get(c, 0) for c in COLLECTIONS},
            "collection",
        )
        kinds = figures["sessions"]
        out.by("sessions", {"events": kinds["event_store"], "state": kinds["state"]}, "status")
        out.add("events", figures["events"])
        out.by("other_entries", figures["other_collections"], "collection")
        storage = figures["storage"]
        out.add("store_size_bytes", storage.get("bytes"))
        out.estimated = "sampled" in str(storage.get("measured", ""))
        return out

    def stats_object(
        self,
        *,
        entries: Mapping[str, int],
        expired: Mapping[str, int],
        index: SessionIndex,
        methods: Mapping[str, int],
        orphans: dict[str, int],
        ttl_left: Mapping[str, int],
        others: Mapping[str, int],
        storage: dict[str, Any],
    ) -> dict[str, Any]:
        """``stats``' JSON, from figures however the store gathered them."""
        kinds = [s.kind for s in index.sessions.values()]
        return {
            "store": self.url.masked(),
            "layout": "fastmcp",
            "entries": {c: entries.get(c, 0) for c in COLLECTIONS},
            "expired_but_present": {c: expired.get(c, 0) for c in COLLECTIONS if expired.get(c, 0)}
            or 0,
            "sessions": {
                "event_store": kinds.count(EVENT_KIND),
                "state": len(kinds) - kinds.count(EVENT_KIND),
            },
            "streams": entries.get(STREAMS, 0),
            "events": entries.get(EVENTS, 0),
            "events_by_method": dict(sorted(methods.items(), key=lambda kv: (-kv[1], kv[0]))),
            "orphans": orphans,
            "ttl_left": {
                label: ttl_left[label]
                for label in [*(b[0] for b in TTL_BUCKETS), "never"]
                if ttl_left.get(label)
            },
            "other_collections": dict(sorted(others.items())),
            "storage": storage,
        }

    # -- expire ---------------------------------------------------------------------------
    async def expire(
        self, opts: ExpireOptions, progress: ProgressCallback | None = None
    ) -> ExpireResult:
        await self.ensure_readable()
        started = time.perf_counter()
        result = ExpireResult(dry_run=opts.dry_run)
        pacer = Pacer(opts)
        if self.expires_entries:
            await self.kv_expire(opts, result, pacer, progress)
        if (opts.kv_orphans or not self.expires_entries) and not result.partial:
            await self._expire_orphans(opts, result, pacer, progress)
        result.duration_s = time.perf_counter() - started
        return result

    async def _expire_orphans(
        self, opts: ExpireOptions, result: ExpireResult, pacer: Pacer, progress: Any
    ) -> None:
        now = opts.now_ms
        # Streams first, then events, keeping of the events only hashes and those no stream
        # lists: memory stays small however big the values are.
        streams: dict[str, tuple[Entry, list[str]]] = {}
        named: set[int] = set()
        stored: set[int] = set()
        candidates: list[Entry] = []
        with fewer_collections():
            async for page in self.kv_scan((STREAMS,)):
                for entry in page:
                    ids = stream_event_ids(entry)
                    if ids is not None and not entry.expired(now):
                        streams[entry.key] = (entry, ids)
                        named.update(map(hash, ids))
            async for page in self.kv_scan((EVENTS,)):
                for entry in page:
                    if entry.expired(now):
                        continue
                    h = hash(entry.key)
                    if h in named:
                        stored.add(h)
                    else:
                        entry.value = None  # keep the key, times and token only
                        candidates.append(entry)
        del named
        trims, unlisted = orphan_plan(
            streams, stored, candidates, now_ms=now, grace_ms=ORPHAN_GRACE_MS
        )
        result.sample.extend(f"{STREAMS}::{e.key}" for e, _ in trims[: opts.sample_size])
        result.sample.extend(
            f"{EVENTS}::{e.key}" for e in unlisted[: max(0, opts.sample_size - len(trims))]
        )
        if opts.dry_run:
            result.trimmed += sum(len(stream_event_ids(e) or []) - len(k) for e, k in trims)
            result.orphans += len(unlisted)
            return
        for entry, kept in trims:
            if pacer.out_of_time():
                result.partial = True
                break
            value = dict(entry.value) if isinstance(entry.value, dict) else {}
            before = len(value.get("event_ids") or [])
            value["event_ids"] = kept
            if await self.kv_replace(entry, value):
                result.trimmed += before - len(kept)
            else:
                result.skipped += 1
            await pacer.done(1)
        step = max(1, pacer.batch_limit(opts.batch_size))
        for start in range(0, len(unlisted), step):
            if pacer.out_of_time():
                result.partial = True
                break
            chunk = unlisted[start : start + step]
            gone = await self.kv_delete(chunk)
            result.orphans += gone
            result.skipped += len(chunk) - gone
            if progress is not None:
                progress(gone)
            await pacer.done(gone)
        if result.partial:
            result.remaining["orphans"] = len(unlisted) - result.orphans

    # -- backups (the portable file: "k" records, docs/backup-format.md) --------------------
    async def backup_records(
        self,
        spec: Any,
        out: Any,
        header: dict[str, Any],
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Every live entry of FastMCP's collections (with ``spec.include_secrets``: of every
        collection) as a ``k`` record with its absolute expiry; expired entries are left out
        and counted."""
        import json

        from mcpstore_cli.util.backupfile import FASTMCP_LAYOUT

        if spec.session_ids is not None or spec.since_ms is not None:
            raise UsageError(
                "--session and --since do not apply to the fastmcp layout: a backup holds its "
                "collections whole."
            )
        await self.ensure_readable()
        now = int(time.time() * 1000)
        counts = await self.kv_counts()
        others = {c: n for c, n in counts.items() if c not in COLLECTIONS}
        header["layout"] = FASTMCP_LAYOUT
        header["source"]["event_ids"] = "none"
        if spec.include_secrets:
            header["secrets"] = (
                f"included: {sum(others.values())} entries of other collections "
                f"({', '.join(sorted(others)) or 'none'}); their values are secrets"
            )
        else:
            header["secrets"] = "left out: only FastMCP's collections are in this file" + (
                f" ({sum(others.values())} entries of other collections were not)" if others else ""
            )
        out.header(header)
        expired = 0
        unreadable = 0
        async for page in self.kv_scan(None if spec.include_secrets else COLLECTIONS):
            lines = []
            for entry in page:
                if entry.expired(now):
                    expired += 1
                    continue
                if entry.value is None and entry.token is not None:
                    unreadable += 1
                    continue
                record = ["k", entry.collection, entry.key, entry.value]
                record += [entry.created_at, entry.expires_at, entry.written_at]
                lines.append(json.dumps(record, separators=(",", ":")).encode() + b"\n")
            if lines:
                out.sessions_block(b"".join(lines))
                if progress is not None:
                    progress(len(lines))
        notes = []
        if expired:
            notes.append(f"left out {expired:,} entries past their expiry (gone to the server).")
        if unreadable:
            notes.append(f"left out {unreadable:,} entries that are not py-key-value documents.")
        if others and not spec.include_secrets:
            notes.append(
                f"left out {sum(others.values()):,} entries of other collections (secrets); "
                "--include-secrets takes them."
            )
        return {"consistency": self.backup_consistency, "skipped": unreadable, "notes": notes}

    async def restore_records(
        self,
        info: Any,
        summary: Any,
        *,
        mode: str,
        keep_ttl: bool = False,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Load ``k`` records: each entry keeps its absolute expiry; an entry already past it
        is skipped and counted. ``merge`` writes only keys the store lacks; ``replace``
        deletes the collections the file holds first."""
        import json

        from mcpstore_cli.model.kv import Entry
        from mcpstore_cli.util.backupfile import iter_record_blocks, verify_file
        from mcpstore_cli.util.interrupt import to_thread

        if not info.verified:
            started = time.perf_counter()
            info = await to_thread(verify_file, info.path)
            summary.verify_seconds = time.perf_counter() - started
        summary.event_ids = "kept (FastMCP's event ids are the entries' keys)"
        now = int(time.time() * 1000)
        if mode == "replace":
            wanted: set[str] = set(COLLECTIONS)
            blocks = iter_record_blocks(info.path)
            while (block := await to_thread(next, blocks, None)) is not None:
                wanted.update(json.loads(line)[1] for line in block[1])
            cleared = await self.clear(collections=sorted(wanted))  # type: ignore[attr-defined]
            summary.replaced_sessions = sum((cleared.records or {}).values())
        expired = 0
        blocks = iter_record_blocks(info.path)
        while (block := await to_thread(next, blocks, None)) is not None:
            kind, lines = block
            if kind != "k":
                continue
            entries = []
            for line in lines:
                _, collection, key, value, created, expires, written = json.loads(line)
                if expires is not None and expires <= now:
                    expired += 1
                    continue
                ttl = None
                if expires is not None and written is not None:
                    ttl = (expires - written) / 1000  # the TTL it was last written with
                entries.append(Entry(collection, key, value, created, expires, ttl))
            written = await self.kv_put(entries, only_missing=mode == "merge")
            summary.sessions += written
            summary.skipped_sessions += len(entries) - written
            if progress is not None:
                progress(len(lines))
        if expired:
            summary.notes.append(
                f"skipped {expired:,} entries whose expiry passed since the backup"
            )

    @staticmethod
    def cleared(counts: Mapping[str, int], started: float) -> Any:
        """What ``clear`` deleted, per collection (``counts``), since ``started``."""
        from mcpstore_cli.model.teardown import ClearResult

        return ClearResult(
            sessions=sum(counts.values()) - counts.get(EVENTS, 0),
            events=counts.get(EVENTS, 0),
            seconds=time.perf_counter() - started,
            records={f"entries of {c}": n for c, n in sorted(counts.items())},
        )

    async def clear_all_collections(self, *, progress: ProgressCallback | None = None) -> Any:
        return await self.clear(collections=None, progress=progress)  # type: ignore[attr-defined]

    # -- tail-events ----------------------------------------------------------------------
    # How often the fallback follower reads the events collection again.
    poll_seconds: ClassVar[float] = 0.5

    def tail_events(self, request: Any, *, warn: Any = None) -> AsyncIterator[list[Any]]:
        return self._tail(request, warn)

    async def _tail(self, request: Any, warn: Any) -> AsyncIterator[list[Any]]:
        if request.after_id is not None:
            raise UsageError(
                "--after takes turul's numeric event ids; FastMCP's are UUIDs: use --since "
                "with the fastmcp layout."
            )
        await self.ensure_readable()
        seen: set[str] = set()
        history: list[Entry] = []
        async for page in self.kv_scan((EVENTS,)):
            for entry in page:
                seen.add(entry.key)
                if not request.from_end:
                    history.append(entry)
        if history:
            # Oldest first; events stored in the same millisecond in their stream's order.
            position: dict[str, int] = {}
            async for page in self.kv_scan((STREAMS,)):
                for stream in page:
                    for i, event_id in enumerate(stream_event_ids(stream) or []):
                        position[event_id] = i
            history.sort(key=lambda e: (e.created_at or 0, position.get(e.key, 0), e.key))
            picked = [
                ev for ev in map(as_event, history) if ev is not None and _wanted(ev, request)
            ]
            for start in range(0, len(picked), 500):
                yield picked[start : start + 500]
        if not request.follow:
            return
        async for entries in self.kv_follow(seen, warn):
            fresh = []
            # Stable: entries of one millisecond stay in the order they arrived.
            for entry in sorted(entries, key=lambda e: e.created_at or 0):
                ev = as_event(entry)
                if ev is not None and _wanted(ev, request):
                    fresh.append(ev)
            if fresh:
                yield fresh

    async def kv_follow(self, seen: set[str], warn: Any) -> AsyncIterator[list[Entry]]:
        """New event entries as they are stored. This fallback reads the whole events
        collection every ``poll_seconds`` (a backend with pushed changes overrides it)."""
        import asyncio

        if warn is not None:
            warn(
                f"following by reading every stored event every {self.poll_seconds:g} s "
                f"({self.follow_hint})."
            )
        while True:
            await asyncio.sleep(self.poll_seconds)
            now_keys: set[str] = set()
            fresh: list[Entry] = []
            async for page in self.kv_scan((EVENTS,)):
                for entry in page:
                    now_keys.add(entry.key)
                    if entry.key not in seen:
                        fresh.append(entry)
            seen.clear()
            seen.update(now_keys)
            if fresh:
                yield fresh

    follow_hint: ClassVar[str] = "no change feed on this store"

    # -- what the session-shaped writers ask ----------------------------------------------
    async def write_demo(self, batches: Any, progress: ProgressCallback | None = None) -> Any:
        raise UsageError(
            "mcpstore demo does not write FastMCP's layout; run a FastMCP server against the "
            "store (its entries are what mcpstore reads)."
        )

    async def append_event(self, event: Event, *, touch: bool = True) -> Event:
        raise UsageError("the fastmcp layout's events are written by a FastMCP server.")

    async def row_counts(self) -> tuple[int, int]:
        counts = await self.kv_counts()
        return sum(counts.values()), counts.get(EVENTS, 0)


def as_event(entry: Entry) -> Event | None:
    """An event entry as a followed event: its scope as the session, the server's event id
    and stream beside it (the SSE form prints ``id: <event id>``)."""
    if entry.expired(int(time.time() * 1000)):
        return None
    stream = event_stream(entry)
    parsed = parse_stream_id(stream) if stream is not None else None
    message = event_message(entry)
    from mcpstore_cli.layouts.fastmcp.records import method_of

    return Event(
        session_id=parsed[0] if parsed else "",
        id=0,
        timestamp=entry.created_at or 0,
        event_type=method_of(message),
        data=message,
        extras={"event_id": entry.key, "stream_id": stream},
    )


def _wanted(event: Event, request: Any) -> bool:
    if request.session_id is not None and event.session_id != request.session_id:
        return False
    return request.since_ms is None or event.timestamp >= request.since_ms
