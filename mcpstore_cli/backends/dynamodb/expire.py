"""``expire`` for DynamoDB: conditional deletes, parallel segment scans, no lock needed.

Two passes over the tables, each a parallel segmented scan (one worker thread per segment,
every page followed, pages handled one at a time so memory stays flat):

1. Sessions. The scan's filter picks idle sessions (``lastActivity`` before the cutoff), items
   whose ``ttl`` has passed (gone by definition) and, with ``--terminated``, candidates whose
   ``state`` mentions ``terminated``; Python decides. Each session goes with a conditional
   delete that re-checks why it was picked: ``#la < :cutoff OR #ttl <= :now`` for idle or
   ttl-expired ones, and for ended ones ``#la = :seen_la AND #st = :seen_state`` (the item is
   still exactly the ended session that was judged, end time and all). A session the server
   touched after the scan saw it fails the condition and stays (counted in ``skipped``).
   Rounds of at most ``--batch-size`` sessions per segment run their deletes concurrently on a
   small thread pool. The deletes go 25 to a call as PartiQL statements in one
   BatchExecuteStatement (``DELETE ... WHERE key = ? AND <the same condition>``): each
   statement is a single-item conditional delete of its own, not a transaction (so a server
   write to one of these items never fails because of it), priced like DeleteItem, and it
   reports ConditionalCheckFailed per statement. A statement whose item was already gone
   succeeds too, so a session that another run removed in the same instant is counted by both
   (``RETURNING ALL OLD *`` would tell them apart, but it doubled DynamoDB Local's work per
   delete). With ``--rate``, and on an endpoint without PartiQL,
   each session goes by its own ``DeleteItem`` with that ``ConditionExpression``, on as few
   threads as the rate needs (one per ``RATE_PER_WORKER`` rows a second): the smoothest write
   pattern. A failed conditional delete still costs a write unit, so ``--rate`` counts it.
2. Events. Only after a session's conditional delete succeeded are its events deleted
   (BatchWriteItem, 25 keys per call). Two ways, same result: either right after its round
   (Query by the session's key, keys only, every page), or, when this run scans the whole
   events table anyway for orphans (no ``--segment``, no ``--time-budget``), in that scan:
   the ids deleted in this run are remembered (up to ``DEFERRED_MAX`` of them, then the
   Query way again), which saves one Query per session. The same scan (keys only) finds
   orphans: distinct session ids not deleted by this run are looked up in the sessions table
   (BatchGetItem, 100 keys a call, consistent reads, UnprocessedKeys retried) and the events
   of missing sessions are deleted. A session's events come together within a scan segment
   (one partition key), so ``--max-events-per-session N`` counts each session's run of keys
   and trims sessions over N: ids are dense per-session counters, so it looks up the newest
   id M and deletes ids up to M - N (a Query by key range, keys only).

If the process dies between a session's delete and its events' deletes, those events are
orphans and the next run removes them.

``--segment I/N``: with local parallelism k (``--segments``, default ``SHARE_SEGMENTS`` so
every host agrees on it), each table is scanned with TotalSegments = N*k and this host takes
segments I*k ... I*k+k-1, which together are exactly the I-th of N equal slices of the key
space: N hosts given the same k cover every item exactly once. Each host deletes the events of
the sessions it removed itself (the Query way), so the hosts' counts add up.

No lock: overlapping runs (two cron hosts, or a slow run meeting the next) are harmless.
Every session delete is conditional, so a run can only delete a session that is expired at
that moment, whoever else is running; a session already deleted by the other run fails the
condition (counted as skipped). Event deletes are idempotent, and events are only deleted
when their session is gone. The worst an overlap costs is duplicated reads and writes.

``--rate`` caps rows deleted per second (the write units), ``--time-budget`` stops between
rounds or scan pages, then a preview pass says what is left; ``--dry-run`` is that preview:
counts and a sample, nothing written.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcpstore_cli.backends.dynamodb.common import BATCH_WRITE_MAX, _expired, _n, _s, _terminated
from mcpstore_cli.errors import StoreConnectionError
from mcpstore_cli.model.expire import expire_interrupted
from mcpstore_cli.model.records import ExpireOptions, ExpireResult
from mcpstore_cli.store.base import ProgressCallback
from mcpstore_cli.store.pacing import Pacer

if TYPE_CHECKING:
    from mcpstore_cli.backends.dynamodb.common import Names, TableInfo
    from mcpstore_cli.backends.dynamodb.store import DynamoDBStore

SHARE_SEGMENTS = 4  # local parallelism with --segment, unless --segments says otherwise
DEFERRED_MAX = 200_000  # session ids remembered for the events scan (about 30 MB at most)
BATCH_GET_MAX = 100
STATUS_CACHE_MAX = 50_000
DELETE_WORKERS = 8
RATE_PER_WORKER = 1000  # with --rate: one delete thread per this many rows a second


class _Stopped(Exception):
    """The time budget ran out or the run was cancelled: stop between units of work."""


@dataclass
class _Candidate:
    session_id: str
    last_activity: int | None
    ended: bool  # picked as an ended session (not idle or ttl-expired)
    state: str | None = None


@dataclass
class _Run:
    """What one expire (or preview) run shares between its threads."""

    store: DynamoDBStore
    opts: ExpireOptions
    account: Callable[..., None]
    pacer: Pacer
    pool: ThreadPoolExecutor
    now_s: int
    deferred: bool = False
    batched: bool = True  # PartiQL batches of conditional deletes (else DeleteItem)
    deleted: set[str] = field(default_factory=set)
    result: ExpireResult = field(default_factory=ExpireResult)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    # dry run: the oldest expired sessions, as (-last_activity, id) in a bounded heap
    sample: list[tuple[int, str]] = field(default_factory=list)

    @property
    def limit(self) -> int:
        return self.pacer.batch_limit(self.opts.batch_size)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self.result, name, getattr(self.result, name) + value)

    def check(self) -> None:
        if self.stop.is_set() or self.pacer.out_of_time():
            raise _Stopped


# -- segments -----------------------------------------------------------------------------
def _share(store: DynamoDBStore, info: TableInfo, opts: ExpireOptions) -> tuple[list[int], int]:
    """(segment numbers this host scans, TotalSegments)."""
    if opts.segment is None:
        k = store._segments_for(info)
        return list(range(k)), k
    index, hosts = opts.segment
    k = max(1, int(store.options.segments or SHARE_SEGMENTS))
    return list(range(index * k, index * k + k)), hosts * k


def _segment_pages(
    store: DynamoDBStore, info: TableInfo, params: dict[str, Any], segment: int, total: int
) -> Iterator[list[dict[str, Any]]]:
    """One segment's pages, in order (a one-segment scan carrying Segment/TotalSegments),
    with the next page fetched while this one is worked on (at most two pages ahead)."""
    if total > 1:
        params = {**params, "Segment": segment, "TotalSegments": total}
    pages: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()
    done = object()

    def put(value: Any) -> None:
        while not stop.is_set():
            try:
                pages.put(value, timeout=0.1)
                return
            except queue.Full:
                continue

    def fetch() -> None:
        try:
            for page in store._scan_pages(info, params, 1):
                if stop.is_set():
                    return
                put(page)
        except BaseException as exc:
            put(exc)
        finally:
            put(done)

    thread = threading.Thread(target=fetch, name=f"expire-scan-{segment}", daemon=True)
    thread.start()
    try:
        while True:
            value = pages.get()
            if value is done:
                return
            if isinstance(value, BaseException):
                raise value
            yield value
    finally:
        stop.set()
        thread.join()


def _each_segment(run: _Run, segments: list[int], work: Callable[[int], None]) -> None:
    """Run ``work(segment)`` for every segment on threads of their own; first error wins."""
    if len(segments) == 1:
        work(segments[0])
        return
    with ThreadPoolExecutor(len(segments), thread_name_prefix="mcpstore-expire-scan") as scan:
        futures = [scan.submit(work, segment) for segment in segments]
        try:
            for future in futures:
                future.result()
        except BaseException:
            run.stop.set()
            raise


# -- deletes ------------------------------------------------------------------------------
def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _delete_session(run: _Run, candidate: _Candidate) -> bool:
    """The conditional DeleteItem; False when the item is no longer expired (or gone)."""
    store, opts = run.store, run.opts
    assert store._sessions is not None
    n = store._sessions.names
    if candidate.ended:
        condition = "#la = :la AND #st = :st"
        names = {"#la": n.last_activity, "#st": n.state}
        values = {
            ":la": {"N": str(candidate.last_activity)},
            ":st": {"S": candidate.state or ""},
        }
    else:
        condition = "#la < :cutoff OR #ttl <= :now"
        names = {"#la": n.last_activity, "#ttl": n.ttl}
        values = {":cutoff": {"N": str(opts.idle_cutoff)}, ":now": {"N": str(run.now_s)}}
    try:
        store.client.delete_item(
            TableName=store.table,
            Key={n.session_id: {"S": candidate.session_id}},
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except Exception as exc:
        if _code(exc) == "ConditionalCheckFailedException":
            return False
        raise store._translate(exc, store.table) or exc from exc
    return True


def _statement(run: _Run, candidate: _Candidate) -> dict[str, Any]:
    """The PartiQL form of _delete_session's conditional DeleteItem (same condition)."""
    store = run.store
    assert store._sessions is not None
    n = store._sessions.names
    table, sid = f'"{store.table}"', f'"{n.session_id}"'
    if candidate.ended:
        where = f'"{n.last_activity}" = ? AND "{n.state}" = ?'
        params = [{"N": str(candidate.last_activity)}, {"S": candidate.state or ""}]
    else:
        where = f'("{n.last_activity}" < ? OR "{n.ttl}" <= ?)'
        params = [{"N": str(run.opts.idle_cutoff)}, {"N": str(run.now_s)}]
    return {
        "Statement": f"DELETE FROM {table} WHERE {sid} = ? AND {where}",
        "Parameters": [{"S": candidate.session_id}, *params],
    }


def _delete_statements(run: _Run, chunk: list[_Candidate]) -> list[bool] | None:
    """Up to 25 conditional deletes in one BatchExecuteStatement call, each on its own (not a
    transaction: a server write to one of these items never conflicts with it). Which went;
    None when the endpoint cannot run them (then DeleteItem does)."""
    store = run.store
    try:
        response = store.client.batch_execute_statement(
            Statements=[_statement(run, c) for c in chunk]
        )
    except Exception as exc:
        if _code(exc) in ("ValidationException", "UnknownOperationException"):
            return None
        raise store._translate(exc, store.table) or exc from exc
    outcomes: list[bool] = []
    for candidate, answer in zip(chunk, response.get("Responses") or [], strict=True):
        error = answer.get("Error")
        if error is None:
            outcomes.append(True)
        elif error.get("Code") == "ConditionalCheckFailed":
            outcomes.append(False)
        else:  # throttled or failed on its own: the single-item call, with its retries
            outcomes.append(_delete_session(run, candidate))
    return outcomes


def _delete_many(run: _Run, batch: list[_Candidate]) -> list[bool]:
    """Conditional deletes of a round's sessions, concurrently; which of them went."""
    if run.batched:
        chunks = [batch[i : i + BATCH_WRITE_MAX] for i in range(0, len(batch), BATCH_WRITE_MAX)]
        answers = list(run.pool.map(lambda chunk: _delete_statements(run, chunk), chunks))
        if all(a is not None for a in answers):
            return [ok for answer in answers for ok in answer or []]
        run.batched = False  # not on this endpoint: none of the failed chunks did anything
        done = {
            id(c): ok
            for chunk, a in zip(chunks, answers, strict=True)
            if a is not None
            for c, ok in zip(chunk, a, strict=True)
        }
        return [done[id(c)] if id(c) in done else _delete_session(run, c) for c in batch]
    return list(run.pool.map(lambda c: _delete_session(run, c), batch))


def _events_of(run: _Run, session_id: str) -> list[dict[str, Any]]:
    """After its session went: nothing if the events scan will take its events (the id is
    remembered), else the keys of its events, to be deleted next."""
    if run.deferred:
        with run.lock:
            if len(run.deleted) < DEFERRED_MAX:
                run.deleted.add(session_id)
                return []
    keys: list[dict[str, Any]] = []
    for page in _query_keys(run, session_id):
        keys.extend(page)
    return keys


def _delete_keys(run: _Run, keys: Sequence[dict[str, Any]]) -> None:
    """BatchWriteItem deletes of event keys, 25 a call, the calls spread over the pool."""
    store = run.store
    table = store.events_table
    chunks = [keys[i : i + BATCH_WRITE_MAX] for i in range(0, len(keys), BATCH_WRITE_MAX)]
    if len(chunks) == 1:
        store.batch_write([(table, key) for key in chunks[0]], delete=True)
        return
    futures = [
        run.pool.submit(store.batch_write, [(table, key) for key in chunk], delete=True)
        for chunk in chunks
    ]
    for future in futures:
        future.result()


def _query_keys(
    run: _Run, session_id: str, *, upto: int | None = None
) -> Iterator[list[dict[str, Any]]]:
    """The keys of a session's events (optionally only ids <= upto), page by page."""
    store = run.store
    assert store._events is not None
    n = store._events.names
    condition = "#sid = :sid"
    values: dict[str, Any] = {":sid": {"S": session_id}}
    if upto is not None:
        condition += " AND #eid <= :upto"
        values[":upto"] = {"N": str(upto)}
    kw: dict[str, Any] = {
        "TableName": store.events_table,
        "KeyConditionExpression": condition,
        "ProjectionExpression": "#sid, #eid",
        "ExpressionAttributeNames": {"#sid": n.session_id, "#eid": n.event_id},
        "ExpressionAttributeValues": values,
    }
    while True:
        response = store._call("query", **kw)
        items = response.get("RawItems")
        yield list(items if items is not None else response.get("Items") or [])
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        kw["ExclusiveStartKey"] = last


# -- pass 1: sessions ---------------------------------------------------------------------
def _sessions_params(run: _Run) -> dict[str, Any]:
    store, opts = run.store, run.opts
    assert store._sessions is not None
    n = store._sessions.names
    clauses = ["#la < :cutoff", "#ttl <= :now"]
    names = {"#sid": n.session_id, "#la": n.last_activity, "#ttl": n.ttl}
    values: dict[str, Any] = {
        ":cutoff": {"N": str(opts.idle_cutoff)},
        ":now": {"N": str(run.now_s)},
    }
    projection = "#sid, #la, #ttl"
    if opts.terminated:
        clauses.append("contains(#st, :term)")
        names["#st"] = n.state
        values[":term"] = {"S": "terminated"}
        projection += ", #st"
    return {
        "ProjectionExpression": projection,
        "FilterExpression": " OR ".join(clauses),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def _ended_at(state_text: str | None, last_activity: int) -> int | None:
    """When an ended session ended (terminated_at, else its last activity); None if live."""
    if not _terminated(state_text):
        return None
    assert state_text is not None
    value = json.loads(state_text).get("terminated_at")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return last_activity


def _candidate(run: _Run, raw: dict[str, Any], n: Names) -> _Candidate | None:
    """The session if it is expired now (the predicate of ExpireOptions.session_expired)."""
    opts = run.opts
    sid = _s(raw.get(n.session_id))
    if sid is None:
        return None
    la = _n(raw.get(n.last_activity))
    if (la is not None and la < opts.idle_cutoff) or _expired(_n(raw.get(n.ttl)), run.now_s):
        return _Candidate(sid, la, ended=False)
    if opts.terminated and la is not None:
        state = _s(raw.get(n.state))
        ended = _ended_at(state, la)
        if ended is not None and ended < opts.terminated_cutoff:
            return _Candidate(sid, la, ended=True, state=state)
    return None


def _sessions_pass(run: _Run) -> None:
    store = run.store
    assert store._sessions is not None
    info = store._sessions
    n = info.names
    params = _sessions_params(run)
    segments, total = _share(store, info, run.opts)
    dry = run.opts.dry_run

    def handle(batch: list[_Candidate]) -> None:
        if dry:
            with run.lock:
                run.result.sessions += len(batch)
                for c in batch:
                    entry = (-(c.last_activity or 0), c.session_id)
                    if len(run.sample) < run.opts.sample_size:
                        heapq.heappush(run.sample, entry)
                    elif entry > run.sample[0]:
                        heapq.heapreplace(run.sample, entry)
            return
        went = [c.session_id for c, ok in zip(batch, _delete_many(run, batch), strict=True) if ok]
        gone = len(went)
        keys = [
            key for found in run.pool.map(lambda sid: _events_of(run, sid), went) for key in found
        ]
        run.add(sessions=gone, skipped=len(batch) - gone)
        if keys:
            _delete_keys(run, keys)
            run.add(events=len(keys))
        # A conditional delete that failed still cost a write unit: --rate counts it.
        run.account(gone + len(keys), writes=len(batch) + len(keys))

    def work(segment: int) -> None:
        batch: list[_Candidate] = []
        run.check()
        for page in _segment_pages(store, info, params, segment, total):
            for raw in page:
                candidate = _candidate(run, raw, n)
                if candidate is None:
                    continue
                batch.append(candidate)
                if len(batch) >= run.limit:
                    handle(batch)
                    batch = []
                    run.check()
        if batch:
            handle(batch)

    _each_segment(run, segments, work)


# -- pass 2: events (their sessions' leftovers, orphans, trimming) ------------------------
def _session_status(run: _Run, ids: list[str]) -> dict[str, str]:
    """``missing``, ``expired`` (would go in this run: previews) or ``live`` for each id,
    by consistent BatchGetItem reads of the sessions table."""
    store = run.store
    assert store._sessions is not None
    n = store._sessions.names
    projection = "#sid, #la, #ttl, #st" if run.opts.dry_run else "#sid"
    names = {"#sid": n.session_id}
    if run.opts.dry_run:
        names.update({"#la": n.last_activity, "#ttl": n.ttl, "#st": n.state})
    status = dict.fromkeys(ids, "missing")
    for start in range(0, len(ids), BATCH_GET_MAX):
        pending: dict[str, Any] = {
            store.table: {
                "Keys": [{n.session_id: {"S": sid}} for sid in ids[start : start + BATCH_GET_MAX]],
                "ConsistentRead": True,
                "ProjectionExpression": projection,
                "ExpressionAttributeNames": names,
            }
        }
        delay, attempts = 0.05, 0
        while pending:
            response = store._call("batch_get_item", table=store.table, RequestItems=pending)
            for raw in (response.get("Responses") or {}).get(store.table, []):
                sid = _s(raw.get(n.session_id))
                if sid is None:
                    continue
                expired = run.opts.dry_run and _candidate(run, raw, n) is not None
                status[sid] = "expired" if expired else "live"
            pending = {k: v for k, v in (response.get("UnprocessedKeys") or {}).items() if v}
            if pending:
                attempts += 1
                if attempts >= 30:
                    raise StoreConnectionError(
                        f"DynamoDB left keys unprocessed 30 times in a row on {store.table}; "
                        "the table is overloaded, try again later."
                    )
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
    return status


def _trim(run: _Run, session_id: str) -> int:
    """Delete a session's events but its newest N (ids up to newest - N); rows deleted."""
    store = run.store
    assert store._events is not None and run.opts.max_events_per_session is not None
    newest = store._max_event_id(session_id)
    upto = newest - run.opts.max_events_per_session
    if upto < 1:
        return 0
    deleted = 0
    for keys in _query_keys(run, session_id, upto=upto):
        if keys:
            _delete_keys(run, keys)
            deleted += len(keys)
    return deleted


def _events_pass(run: _Run) -> None:
    store, opts = run.store, run.opts
    assert store._events is not None
    info = store._events
    n = info.names
    keep = opts.max_events_per_session
    params = {
        "ProjectionExpression": "#sid, #eid",
        "ExpressionAttributeNames": {"#sid": n.session_id, "#eid": n.event_id},
    }
    segments, total = _share(store, info, opts)
    cache: dict[str, str] = {}
    cache_lock = threading.Lock()

    def statuses(ids: list[str]) -> dict[str, str]:
        with cache_lock:
            known = {sid: cache[sid] for sid in ids if sid in cache}
        unknown = [sid for sid in ids if sid not in known]
        if unknown:
            found = _session_status(run, unknown)
            known.update(found)
            with cache_lock:
                if len(cache) > STATUS_CACHE_MAX:
                    cache.clear()
                cache.update(found)
        return known

    def finish_run(sid: str | None, count: int) -> None:
        """A live session's events ended in this segment: trim it if over the limit."""
        if sid is None or keep is None or count <= keep:
            return
        if opts.dry_run:
            run.add(trimmed=count - keep)
            return
        run.check()
        trimmed = _trim(run, sid)
        run.add(trimmed=trimmed)
        run.account(trimmed)

    def drop(keys: list[dict[str, Any]], what: str) -> None:
        """Delete keys (events of removed sessions or orphans) in paced chunks."""
        for start in range(0, len(keys), run.limit):
            chunk = keys[start : start + run.limit]
            run.check()
            if not opts.dry_run:
                _delete_keys(run, chunk)
                run.account(len(chunk))
            run.add(**{what: len(chunk)})

    def work(segment: int) -> None:
        current: str | None = None
        count = 0
        run.check()
        for page in _segment_pages(store, info, params, segment, total):
            groups: dict[str, list[dict[str, Any]]] = {}
            for raw in page:
                sid = _s(raw.get(n.session_id))
                if sid is not None:
                    groups.setdefault(sid, []).append(raw)
            if not groups:
                continue
            if opts.orphans or opts.dry_run:
                ask = [sid for sid in groups if sid not in run.deleted]
            else:
                ask = []  # only this run's leftovers (orphans off): never look sessions up
            status = statuses(ask) if ask else {}
            ours: list[dict[str, Any]] = []
            orphans: list[dict[str, Any]] = []
            for sid, keys in groups.items():
                state = "deleted" if sid in run.deleted else status.get(sid, "live")
                if state == "deleted" or state == "expired":
                    ours.extend(keys)
                elif state == "missing":
                    orphans.extend(keys)
                elif sid == current:
                    count += len(keys)
                else:
                    finish_run(current, count)
                    current, count = sid, len(keys)
            drop(ours, "events")
            drop(orphans, "orphans")
        finish_run(current, count)

    _each_segment(run, segments, work)


# -- the run ------------------------------------------------------------------------------
def _run_sync(run: _Run) -> None:
    opts = run.opts
    try:
        _sessions_pass(run)
        if opts.dry_run or opts.orphans or opts.max_events_per_session is not None or run.deferred:
            _events_pass(run)
    except _Stopped:
        pass


def _preview_sync(
    store: DynamoDBStore, opts: ExpireOptions, pool: ThreadPoolExecutor
) -> ExpireResult:
    from dataclasses import replace

    preview = replace(opts, dry_run=True, time_budget_ms=None, rate=None)
    run = _Run(
        store=store,
        opts=preview,
        account=lambda rows, writes=None: None,
        pacer=Pacer(preview),
        pool=pool,
        now_s=opts.now_ms // 1000,
    )
    run.result.dry_run = True
    _run_sync(run)
    run.result.sample = [sid for _, sid in sorted(run.sample, reverse=True)]
    return run.result


async def expire(
    store: DynamoDBStore, opts: ExpireOptions, progress: ProgressCallback | None = None
) -> ExpireResult:
    await store.ensure_readable()
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    pacer = Pacer(opts)

    async def paced(rows: int, writes: int) -> None:
        if progress is not None and rows:
            progress(rows)
        await pacer.done(writes)

    def account(rows: int, writes: int | None = None) -> None:
        """Rows deleted (``writes``: write requests made, if more): progress, then pacing."""
        asyncio.run_coroutine_threadsafe(
            paced(rows, rows if writes is None else writes), loop
        ).result()

    workers = max(DELETE_WORKERS, min(32, int(store.options.segments or 0)))
    if opts.rate:
        # --rate asks for gentleness: as few delete threads as the rate needs (one stream of
        # deletes, a few milliseconds each, up to RATE_PER_WORKER rows a second).
        workers = max(1, min(workers, math.ceil(opts.rate / RATE_PER_WORKER)))
    with ThreadPoolExecutor(workers, thread_name_prefix="mcpstore-expire") as pool:
        if opts.dry_run:
            result = await asyncio.to_thread(_preview_sync, store, opts, pool)
            result.duration_s = time.perf_counter() - started
            return result
        run = _Run(
            store=store,
            opts=opts,
            account=account,
            pacer=pacer,
            pool=pool,
            now_s=opts.now_ms // 1000,
            deferred=opts.orphans and opts.segment is None and opts.time_budget_ms is None,
            # With --rate, one conditional DeleteItem at a time per thread: the smoothest
            # write pattern. Otherwise 25 to a call.
            batched=opts.rate is None,
        )
        job = asyncio.ensure_future(asyncio.to_thread(_run_sync, run))
        try:
            await asyncio.shield(job)
        except asyncio.CancelledError:
            # Ctrl-C: the threads stop after their current call; then say what they removed.
            run.stop.set()
            with contextlib.suppress(Exception):
                await job
            raise expire_interrupted(run.result, None) from None
        result = run.result
        if pacer.out_of_time():
            left = await asyncio.to_thread(_preview_sync, store, opts, pool)
            result.remaining = {
                "sessions": left.sessions,
                "events": left.events,
                "orphans": left.orphans,
                "trimmed": left.trimmed,
            }
            result.partial = any(result.remaining.values())
    result.duration_s = time.perf_counter() - started
    return result
