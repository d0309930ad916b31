"""The portable backup file (see docs/backup-format.md): writing and verifying it.

A file is one compressed stream (zstd; gzip is read too) of UTF-8 lines: a header object,
session records, event records and a trailer with the counts and the SHA-256 of every byte
before the trailer line. Writers go to a temporary file in the target directory that is
fsynced and renamed into place only when complete, so a killed backup never leaves a file
under the final name (and a leftover temporary file has no trailer, which restore refuses).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import queue
import threading
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mcpstore_cli.errors import McpStoreError, UsageError
from mcpstore_cli.exitcodes import ExitStatus
from mcpstore_cli.util.interrupt import check as check_interrupt

FORMAT_NAME = "mcpstore-backup"
FORMAT_VERSION = 1
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
SQLITE_MAGIC = b"SQLite format 3\x00"
SESSION_FIELDS = 11  # "s", id, created_at, last_activity, is_initialized, client_caps,
# server_caps, state, metadata, version, ttl
EVENT_FIELDS = 8  # "e", session_id, id, timestamp, event_type, data, retry, ttl
# GraphFlow's layout ("layout": "graphflow" in the header): one record kind, "g", in the
# sessions section, no events.
GRAPHFLOW_LAYOUT = "graphflow"
GRAPHFLOW_FIELDS = 8
# turul's task and server-state layouts: one section of records of their own kinds, no events
# (docs/backup-format.md): "t" a 2025 task row, "x" an ext-tasks document, "v" an entity's
# state and "f" an entity type's fingerprint.
TASK_FIELDS = 14
EXT_TASK_FIELDS = 7
ENTITY_FIELDS = 6
FINGERPRINT_FIELDS = 4
# FastMCP's layout: "k", one key-value entry: ["k", collection, key, value, created_at_ms,
# expires_at_ms, written_at_ms] (times in Unix ms or null; expires_at null: never expires;
# written_at: the last write, which PostgreSQL keeps as expires_at - ttl).
FASTMCP_LAYOUT = "fastmcp"
KV_FIELDS = 7
# The record kinds of each layout's (first) section.
LAYOUT_RECORDS: dict[str, bytes] = {
    "sessions": b"s",
    GRAPHFLOW_LAYOUT: b"g",
    "tasks": b"t",
    "ext-tasks": b"x",
    "server-state": b"vf",
    FASTMCP_LAYOUT: b"k",
}
RECORD_KINDS = b"sgtxvfk"
READ_BLOCK = 1024 * 1024
DEFAULT_LEVEL = 1
BUFFER = 1024 * 1024
SUFFIX = ".mcpbackup.zst"


class BackupFileError(McpStoreError):
    """A backup file that cannot be used: damaged, truncated, or not a backup (exit 1)."""

    exit_status = ExitStatus.ERROR


def _zstd() -> Any:
    import zstandard

    return zstandard


# -- writing -------------------------------------------------------------------------------
class BackupFileWriter:
    """Streams records into ``path`` through a temporary file; :meth:`finish` makes it final.

    Records arrive as blocks of whole lines (``b"...\\n"``), sessions before events. Nothing is
    held but the block being compressed.
    """

    def __init__(
        self,
        path: Path,
        *,
        level: int = DEFAULT_LEVEL,
        threads: int = 0,
        force: bool = False,
        protect: Iterable[str | os.PathLike[str]] = (),
    ) -> None:
        """Refuses (:class:`~mcpstore_cli.util.outfile.OutputRefusedError`) what
        :func:`~mcpstore_cli.util.outfile.check_output` refuses: an existing file without
        ``force``, and never a SQLite database or one of the ``protect`` files."""
        from mcpstore_cli.util.outfile import OutputFile

        self.out = OutputFile(path, force=force, protect=protect)
        self.path = self.out.path
        self.tmp = self.out.tmp
        self.raw: IO[bytes] = os.fdopen(self.out.take_fd(), "wb", buffering=1024 * 1024)
        zstd = _zstd()
        params = zstd.ZstdCompressionParameters.from_level(
            level, threads=threads, write_checksum=True
        )
        self._cctx = zstd.ZstdCompressor(compression_params=params)
        self._z = self._cctx.stream_writer(self.raw, closefd=False, write_size=1024 * 1024)
        self._hash = hashlib.sha256()
        self.sessions = 0
        self.events = 0
        self.bytes_in = 0
        self._phase = "header"
        self._done = False
        # Hashing and compressing run in a worker thread (both release the GIL), fed ~1 MiB
        # buffers through a bounded queue: reading the store overlaps them, memory stays flat.
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._worker = threading.Thread(target=self._drain, name="mcpstore-backup", daemon=True)
        self._worker.start()

    def _drain(self) -> None:
        while True:
            data = self._queue.get()
            if data is None:
                return
            if self._error is not None:
                continue
            try:
                self._hash.update(data)
                self._z.write(data)
            except BaseException as exc:
                self._error = exc

    def _put(self, data: bytes) -> None:
        self.bytes_in += len(data)
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= BUFFER:
            self._send()

    def _send(self) -> None:
        check_interrupt()  # Ctrl-C: a backup thread stops here (the file is then aborted)
        if self._error is not None:
            raise self._error
        if self._pending:
            data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending, self._pending_size = [], 0
            self._queue.put(data)
        if self._error is not None:
            raise self._error

    def _stop_worker(self) -> None:
        if self._worker.is_alive():
            self._queue.put(None)
            self._worker.join()

    def header(self, obj: dict[str, Any]) -> None:
        assert self._phase == "header"
        self._put(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
        self._phase = "s"

    def sessions_block(self, block: bytes) -> None:
        """Session record lines, each ending in a newline."""
        assert self._phase == "s", "sessions come before events"
        if block:
            self.sessions += block.count(b"\n")
            self._put(block)

    def events_block(self, block: bytes) -> None:
        """Event record lines, each ending in a newline (after every session)."""
        assert self._phase in ("s", "e")
        self._phase = "e"
        if block:
            self.events += block.count(b"\n")
            self._put(block)

    def finish(self) -> int:
        """Write the trailer, flush, fsync and rename into place; returns the file size."""
        self._send()
        self._stop_worker()
        if self._error is not None:
            raise self._error
        trailer = {
            "end": FORMAT_NAME,
            "sessions": self.sessions,
            "events": self.events,
            "sha256": self._hash.hexdigest(),
        }
        self._z.write(json.dumps(trailer, separators=(",", ":")).encode() + b"\n")
        self._z.flush(_zstd().FLUSH_FRAME)
        self._z.close()
        self.raw.flush()
        os.fsync(self.raw.fileno())
        self.raw.close()
        size = self.out.commit()
        self._done = True
        return size

    def abort(self) -> None:
        if self._done:
            return
        self._error = self._error or RuntimeError("aborted")
        self._pending = []
        with contextlib.suppress(BaseException):
            self._stop_worker()
        with contextlib.suppress(Exception):
            self._z.close()
        with contextlib.suppress(Exception):
            self.raw.close()
        self.out.abort()


# -- reading -------------------------------------------------------------------------------
class _ZstdFrames(io.RawIOBase):
    """zstd frames one after another; a frame cut short (even only its checksum) is an
    error, not an early end."""

    def __init__(self, fh: IO[bytes], path: Path) -> None:
        self.fh = fh
        self.path = path
        self.dctx = _zstd().ZstdDecompressor()
        self.dobj = self.dctx.decompressobj()
        self.pending = b""
        self.pos = 0
        self.in_frame = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            # Small reads: one read's output (about 10x its size) is held at a time.
            raw = self.fh.read(128 * 1024)
            if not raw:
                if self.in_frame:
                    raise BackupFileError(
                        f"{self.path} failed verification: the file is truncated (its last "
                        "zstd frame is incomplete); nothing was changed."
                    )
                return 0
            while raw:
                self.in_frame = True
                try:
                    self.pending += self.dobj.decompress(raw)
                except _zstd().ZstdError as exc:
                    raise BackupFileError(
                        f"{self.path} is damaged (cannot be decompressed: {exc}); nothing was "
                        "changed."
                    ) from None
                if self.dobj.eof:
                    self.in_frame = False
                    raw = self.dobj.unused_data
                    self.dobj = self.dctx.decompressobj()
                else:
                    raw = b""
        n = min(len(buffer), len(self.pending) - self.pos)
        buffer[:n] = memoryview(self.pending)[self.pos : self.pos + n]
        self.pos += n
        if self.pos == len(self.pending):
            self.pending, self.pos = b"", 0
        return n

    def close(self) -> None:
        self.fh.close()
        super().close()


def open_stream(path: Path) -> IO[bytes]:
    """The decompressed content of a backup file (zstd or gzip)."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except FileNotFoundError:
        raise UsageError(f"No backup file {path}.") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a backup file.") from None
    except PermissionError:
        raise UsageError(f"Cannot read {path}: permission denied.") from None
    magic = fh.read(16)
    fh.seek(0)
    if magic.startswith(ZSTD_MAGIC):
        return io.BufferedReader(_ZstdFrames(fh, path), buffer_size=READ_BLOCK)
    if magic.startswith(GZIP_MAGIC):
        import gzip

        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    fh.close()
    if magic.startswith(SQLITE_MAGIC):
        raise BackupFileError(
            f"{path} is a SQLite database (a native backup?), not a portable backup file; "
            "use it directly with --url sqlite:///PATH."
        )
    if not magic:
        raise BackupFileError(f"{path} is empty; it is not a backup (nothing was changed).")
    raise BackupFileError(
        f"{path} is not an mcpstore backup file (neither zstd nor gzip); nothing was changed."
    )


def iter_blocks(path: Path, block_size: int = READ_BLOCK) -> Iterator[bytes]:
    """Blocks of whole lines (each ending in a newline) of the decompressed file; a last
    piece without a newline comes alone. Decompression errors become BackupFileError."""
    stream = open_stream(path)
    rest = b""
    try:
        while True:
            try:
                chunk = stream.read(block_size)
            except (OSError, EOFError, Exception) as exc:
                if isinstance(exc, McpStoreError):
                    raise
                raise BackupFileError(
                    f"{path} is damaged (cannot be decompressed: {exc}); nothing was changed."
                ) from None
            if not chunk:
                break
            check_interrupt()
            data = rest + chunk if rest else chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            rest = data[cut + 1 :]
            yield data[: cut + 1]
        if rest:
            yield rest
    finally:
        stream.close()


@dataclass
class BackupInfo:
    """What a full verification learned about a file."""

    path: Path
    header: dict[str, Any]
    sessions: int = 0
    events: int = 0
    min_event_id: int | None = None
    max_event_id: int | None = None
    max_session_id_len: int = 0
    max_event_type_len: int = 0
    has_nul: bool = False  # "\u0000" somewhere (PostgreSQL's jsonb cannot store it)
    bytes_in: int = 0
    trailer: dict[str, Any] = field(default_factory=dict)
    # False: only the path is known yet; a loader that checks as it loads (inside a
    # transaction that commits at the end) reads the rest.
    verified: bool = True

    @property
    def source_backend(self) -> str:
        return str(self.header.get("source", {}).get("backend", "?"))

    @property
    def layout(self) -> str:
        """The layout whose records the file holds (files without the key: ``sessions``)."""
        return str(self.header.get("layout") or "sessions")

    @property
    def event_ids(self) -> str:
        """``table`` (one counter for the table) or ``session`` (per-session counters)."""
        return str(self.header.get("source", {}).get("event_ids", "session"))


def _is_int(value: Any) -> bool:
    return type(value) is int


def _loads_block(lines: list[bytes]) -> list[Any] | None:
    """Decode many lines at once; None when one of them does not decode."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency
        orjson = None  # type: ignore[assignment]
    joined = b"[" + b",".join(lines) + b"]"
    try:
        if orjson is not None:
            return orjson.loads(joined)  # type: ignore[no-any-return]
        return json.loads(joined)  # type: ignore[no-any-return]
    except ValueError:
        return None


def _check_session(rec: Any) -> str | None:
    if type(rec) is not list or len(rec) != SESSION_FIELDS:
        return "a session record does not have 11 fields"
    sid = rec[1]
    if type(sid) is not str or not sid or len(sid) > 255:
        return "a session id is not a string of 1 to 255 characters"
    if not (_is_int(rec[2]) and _is_int(rec[3])):
        return f"session {sid}: created_at/last_activity are not integers"
    if type(rec[4]) is not bool:
        return f"session {sid}: is_initialized is not true or false"
    if type(rec[7]) is not dict or type(rec[8]) is not dict:
        return f"session {sid}: state and metadata must be JSON objects"
    if rec[9] is not None and not _is_int(rec[9]):
        return f"session {sid}: version is not an integer"
    if rec[10] is not None and not _is_int(rec[10]):
        return f"session {sid}: ttl is not an integer"
    return None


def _check_graphflow(rec: Any) -> str | None:
    """["g", id, graph_id, current_task_id, status_message, context, created_at_us,
    updated_at_us]: a GraphFlow session (times in Unix microseconds, as PostgreSQL keeps
    them)."""
    if type(rec) is not list or len(rec) != GRAPHFLOW_FIELDS:
        return "a GraphFlow session record does not have 8 fields"
    sid = rec[1]
    if type(sid) is not str or len(sid) != 36:
        return "a GraphFlow session id is not a UUID string"
    if type(rec[2]) is not str or type(rec[3]) is not str:
        return f"session {sid}: graph_id and current_task_id must be strings"
    if rec[4] is not None and type(rec[4]) is not str:
        return f"session {sid}: status_message is not a string or null"
    if type(rec[5]) is not dict:
        return f"session {sid}: context is not a JSON object"
    if rec[6] is not None and not _is_int(rec[6]):
        return f"session {sid}: created_at is not an integer or null"
    if rec[7] is not None and not _is_int(rec[7]):
        return f"session {sid}: updated_at is not an integer or null"
    return None


def _check_kv(rec: Any) -> str | None:
    """["k", collection, key, value, created_at_ms, expires_at_ms, written_at_ms]: one
    key-value entry."""
    if type(rec) is not list or len(rec) != KV_FIELDS:
        return "a key-value entry record does not have 7 fields"
    if type(rec[1]) is not str or type(rec[2]) is not str:
        return "a key-value entry's collection and key must be strings"
    if rec[4] is not None and not _is_int(rec[4]):
        return f"entry {rec[1]}::{rec[2]}: created_at is not an integer or null"
    if rec[5] is not None and not _is_int(rec[5]):
        return f"entry {rec[1]}::{rec[2]}: expires_at is not an integer or null"
    if rec[6] is not None and not _is_int(rec[6]):
        return f"entry {rec[1]}::{rec[2]}: written_at is not an integer or null"
    return None


def _str_or_null(value: Any) -> bool:
    return value is None or type(value) is str


def _int_or_null(value: Any) -> bool:
    return value is None or _is_int(value)


def _check_task(rec: Any) -> str | None:
    """["t", task_id, session_id, status, status_message, created_at, last_updated_at, ttl,
    poll_interval, original_method, original_params, result, meta, version]"""
    if type(rec) is not list or len(rec) != TASK_FIELDS:
        return f"a task record does not have {TASK_FIELDS} fields"
    tid = rec[1]
    if type(tid) is not str or not tid:
        return "a task id is not a non-empty string"
    if not (_str_or_null(rec[2]) and type(rec[3]) is str and _str_or_null(rec[4])):
        return f"task {tid}: session_id, status or status_message is not a string"
    if type(rec[5]) is not str or type(rec[6]) is not str:
        return f"task {tid}: created_at/last_updated_at are not strings"
    if not (_int_or_null(rec[7]) and _int_or_null(rec[8]) and _int_or_null(rec[13])):
        return f"task {tid}: ttl, poll_interval or version is not an integer"
    if type(rec[9]) is not str:
        return f"task {tid}: original_method is not a string"
    return None


def _check_ext_task(rec: Any) -> str | None:
    """["x", task_id, status, last_updated_at, state, rev, ttl_epoch]"""
    if type(rec) is not list or len(rec) != EXT_TASK_FIELDS:
        return f"an ext-task record does not have {EXT_TASK_FIELDS} fields"
    tid = rec[1]
    if type(tid) is not str or not tid:
        return "a task id is not a non-empty string"
    if type(rec[2]) is not str or type(rec[3]) is not str:
        return f"task {tid}: status/last_updated_at are not strings"
    if type(rec[4]) is not dict:
        return f"task {tid}: state is not a JSON object"
    if not (_int_or_null(rec[5]) and _int_or_null(rec[6])):
        return f"task {tid}: rev or ttl_epoch is not an integer"
    return None


def _check_entity(rec: Any) -> str | None:
    """["v", entity_type, entity_id, active, metadata, updated_at]"""
    if type(rec) is not list or len(rec) != ENTITY_FIELDS:
        return f"an entity record does not have {ENTITY_FIELDS} fields"
    if type(rec[1]) is not str or type(rec[2]) is not str:
        return "an entity's type or id is not a string"
    if type(rec[3]) is not bool:
        return f"entity {rec[1]}/{rec[2]}: active is not true or false"
    if type(rec[5]) is not str:
        return f"entity {rec[1]}/{rec[2]}: updated_at is not a string"
    return None


def _check_fingerprint(rec: Any) -> str | None:
    """["f", entity_type, fingerprint, updated_at]"""
    if type(rec) is not list or len(rec) != FINGERPRINT_FIELDS:
        return f"a fingerprint record does not have {FINGERPRINT_FIELDS} fields"
    if not all(type(v) is str for v in rec[1:]):
        return "a fingerprint record holds a value that is not a string"
    return None


_CHECKS: dict[bytes, Callable[[Any], str | None]] = {
    b"s": _check_session,
    b"g": _check_graphflow,
    b"t": _check_task,
    b"x": _check_ext_task,
    b"v": _check_entity,
    b"f": _check_fingerprint,
    b"k": _check_kv,
}


def _check_event(rec: Any) -> str | None:
    if type(rec) is not list or len(rec) != EVENT_FIELDS:
        return "an event record does not have 8 fields"
    if type(rec[1]) is not str or not rec[1]:
        return "an event's session id is not a string"
    if not (_is_int(rec[2]) and rec[2] > 0):
        return f"an event of session {rec[1]} has an id that is not a positive integer"
    if not _is_int(rec[3]):
        return f"event {rec[2]} of session {rec[1]}: timestamp is not an integer"
    if type(rec[4]) is not str:
        return f"event {rec[2]} of session {rec[1]}: event_type is not a string"
    if rec[6] is not None and not _is_int(rec[6]):
        return f"event {rec[2]} of session {rec[1]}: retry is not an integer"
    if rec[7] is not None and not _is_int(rec[7]):
        return f"event {rec[2]} of session {rec[1]}: ttl is not an integer"
    return None


def _exact(line: bytes) -> Any:
    """stdlib json (exact big integers): orjson turns integers above 64 bits into floats."""
    return json.loads(line)


def verify_file(path: Path, *, progress: Callable[[int], None] | None = None) -> BackupInfo:
    """Read the whole file: header, every record, counts and checksum. Raises
    :class:`BackupFileError` naming the first problem; returns what it learned."""

    def bad(problem: str) -> BackupFileError:
        return BackupFileError(f"{path} failed verification: {problem}; nothing was changed.")

    digest = hashlib.sha256()
    info: BackupInfo | None = None
    trailer: dict[str, Any] | None = None
    phase = "s"
    session_kind: bytes = b"s"
    session_hashes = array("q")
    sorted_hashes: array[int] | None = None
    line_no = 0
    for block in iter_blocks(path):
        if trailer is not None:
            raise bad("there is data after the trailer")
        lines = block.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        else:
            # The stream ended without a newline: the file was cut short.
            raise bad("the file is truncated (its last line is incomplete)")
        skip = 0
        if info is None:
            if not lines:
                raise bad("the file holds no complete header line")
            first = lines.pop(0)
            skip = len(first) + 1
            line_no += 1
            try:
                header = json.loads(first)
            except ValueError:
                raise bad("the header line is not JSON (not an mcpstore backup?)") from None
            if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
                raise bad("the first line is not an mcpstore backup header")
            version = header.get("version")
            if version != FORMAT_VERSION:
                raise BackupFileError(
                    f"{path} is in backup format version {version}; this mcpstore reads "
                    f"version {FORMAT_VERSION} (upgrade mcpstore); nothing was changed."
                )
            digest.update(first + b"\n")
            info = BackupInfo(path=path, header=header)
            kinds = LAYOUT_RECORDS.get(info.layout)
            if kinds is None:
                raise BackupFileError(
                    f"{path} holds records of the {info.layout!r} layout, which this mcpstore "
                    "does not know (upgrade mcpstore); nothing was changed."
                )
            session_kind = kinds
        if lines and lines[-1][:1] == b"{":
            last = lines.pop()
            try:
                trailer = json.loads(last)
            except ValueError:
                raise bad("the trailer line is not JSON") from None
            if not isinstance(trailer, dict) or trailer.get("end") != FORMAT_NAME:
                raise bad("a line that is neither a record nor the trailer")
            body = block[skip : len(block) - len(last) - 1]
        else:
            body = block[skip:] if skip else block
        digest.update(body)
        info.bytes_in += len(body)
        if not lines:
            continue
        if b"\\u0000" in body:
            info.has_nul = True
        records = _loads_block(lines)
        if records is None:
            for offset, line in enumerate(lines):
                try:
                    json.loads(line)
                except ValueError:
                    raise bad(f"line {line_no + offset + 1} is not valid JSON") from None
            raise bad("a record is not valid JSON")  # pragma: no cover
        for offset, (line, rec) in enumerate(zip(lines, records, strict=True)):
            kind = line[2:3]
            if line[:2] != b'["' or line[3:4] != b'"':
                raise bad(f"line {line_no + offset + 1} is not a record")
            if kind and kind in RECORD_KINDS:
                if phase != "s":
                    raise bad(f"line {line_no + offset + 1}: a session after the events")
                if kind not in session_kind:
                    raise bad(
                        f"line {line_no + offset + 1}: a record of another layout than the "
                        f"header's ({info.layout})"
                    )
                check = _CHECKS[kind]
                problem = check(rec)
                if problem is not None and check(_exact(line)) is None:
                    problem = None  # only orjson's view of a big integer differed
                if problem:
                    raise bad(f"line {line_no + offset + 1}: {problem}")
                sid = rec[1]
                session_hashes.append(hash(sid))
                if len(sid) > info.max_session_id_len:
                    info.max_session_id_len = len(sid)
                info.sessions += 1
            elif kind == b"e":
                if phase == "s":
                    phase = "e"
                    sorted_hashes = array("q", sorted(session_hashes))
                    del session_hashes[:]
                problem = _check_event(rec)
                if problem is not None and _check_event(_exact(line)) is None:
                    rec = _exact(line)
                    problem = None
                if problem:
                    raise bad(f"line {line_no + offset + 1}: {problem}")
                assert sorted_hashes is not None
                h = hash(rec[1])
                i = bisect_left(sorted_hashes, h)
                if i == len(sorted_hashes) or sorted_hashes[i] != h:
                    raise bad(
                        f"line {line_no + offset + 1}: an event of session {rec[1]}, "
                        "which is not in the file"
                    )
                eid = rec[2]
                if info.min_event_id is None or eid < info.min_event_id:
                    info.min_event_id = eid
                if info.max_event_id is None or eid > info.max_event_id:
                    info.max_event_id = eid
                if len(rec[4]) > info.max_event_type_len:
                    info.max_event_type_len = len(rec[4])
                info.events += 1
            else:
                raise bad(f"line {line_no + offset + 1} is not a record")
        line_no += len(lines)
        if progress is not None:
            progress(len(lines))
    if info is None:
        raise bad("the file is empty or truncated before its first line ended")
    if trailer is None:
        raise bad("the file is truncated (no trailer: the backup did not finish)")
    if trailer.get("sessions") != info.sessions or trailer.get("events") != info.events:
        raise bad(
            f"the trailer counts {trailer.get('sessions')} sessions and {trailer.get('events')} "
            f"events, the file holds {info.sessions} and {info.events}"
        )
    if trailer.get("sha256") != digest.hexdigest():
        raise bad("the checksum does not match (the file was changed or damaged)")
    info.trailer = trailer
    return info


def iter_record_blocks(path: Path) -> Iterator[tuple[str, list[bytes]]]:
    """After :func:`verify_file`: ("s" | "g" | "e", record lines) in file order, header and trailer
    left out. Blocks never mix sessions and events."""
    first = True
    for block in iter_blocks(path):
        lines = block.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if first:
            lines.pop(0)
            first = False
        if lines and lines[-1][:1] == b"{":
            lines.pop()
        if not lines:
            continue
        if lines[0][2:3] == lines[-1][2:3] and lines[0][2:3] != b"v":
            yield lines[0][2:3].decode(), lines
            continue
        # Runs of one kind, in order (sessions then events; entities and fingerprints).
        start = 0
        for i in range(1, len(lines) + 1):
            if i == len(lines) or lines[i][2:3] != lines[start][2:3]:
                yield lines[start][2:3].decode(), lines[start:i]
                start = i


def read_header(path: Path) -> dict[str, Any]:
    """Only the header (for listings); raises BackupFileError when there is none."""
    stream = open_stream(path)
    try:
        first = stream.readline(1024 * 1024)
    except Exception as exc:
        raise BackupFileError(f"{path} cannot be decompressed ({exc}).") from None
    finally:
        stream.close()
    try:
        header = json.loads(first)
    except ValueError:
        raise BackupFileError(f"{path} has no mcpstore backup header.") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise BackupFileError(f"{path} has no mcpstore backup header.")
    return header


def iter_checked_blocks(path: Path, header_out: dict[str, Any]) -> Iterator[tuple[str, bytes, int]]:
    """One pass that checks the file as it goes, for loads inside a transaction that commits
    only at the end: ("s" | "e", whole record lines as one bytes block, how many), while the
    header, the order of sections, the trailer, the counts and the checksum are checked.
    Raises :class:`BackupFileError` at the first problem (the last ones only once the whole
    file was read): the caller rolls back. The records' content is the loader's to check,
    and so is the kind of the lines inside a block (its first and last line are checked
    here)."""

    def bad(problem: str) -> BackupFileError:
        return BackupFileError(f"{path} failed verification: {problem}; nothing was changed.")

    digest = hashlib.sha256()
    trailer: dict[str, Any] | None = None
    seen_header = False
    phase = "s"
    sessions = events = 0
    for block in iter_blocks(path):
        if trailer is not None:
            raise bad("there is data after the trailer")
        if not block.endswith(b"\n"):
            raise bad("the file is truncated (its last line is incomplete)")
        start, end = 0, len(block)
        if not seen_header:
            start = block.index(b"\n") + 1
            first = block[: start - 1]
            try:
                header = json.loads(first)
            except ValueError:
                raise bad("the header line is not JSON (not an mcpstore backup?)") from None
            if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
                raise bad("the first line is not an mcpstore backup header")
            if header.get("version") != FORMAT_VERSION:
                raise BackupFileError(
                    f"{path} is in backup format version {header.get('version')}; this "
                    f"mcpstore reads version {FORMAT_VERSION} (upgrade mcpstore); nothing was "
                    "changed."
                )
            header_out.update(header)
            digest.update(block[:start])
            seen_header = True
        if end > start:
            last_start = block.rfind(b"\n", start, end - 1) + 1 or start
            if block[last_start : last_start + 1] == b"{":
                try:
                    trailer = json.loads(block[last_start : end - 1])
                except ValueError:
                    raise bad("the trailer line is not JSON") from None
                if not isinstance(trailer, dict) or trailer.get("end") != FORMAT_NAME:
                    raise bad("a line that is neither a record nor the trailer")
                end = last_start
        if end <= start:
            continue
        records = block[start:end] if start or end < len(block) else block
        digest.update(records)
        last_start = records.rfind(b"\n", 0, len(records) - 1) + 1
        first_kind, last_kind = records[:4], records[last_start : last_start + 4]
        if first_kind == last_kind and first_kind in (b'["s"', b'["e"'):
            parts = [(first_kind, records)]
        else:
            lines = records.split(b"\n")
            lines.pop()
            kinds = [line[:4] for line in lines]
            cut = kinds.index(b'["e"') if b'["e"' in kinds else len(lines)
            if any(k != b'["s"' for k in kinds[:cut]) or any(k != b'["e"' for k in kinds[cut:]):
                raise bad("a line that is not a record, or a session after the events")
            parts = [
                (b'["s"', b"".join(line + b"\n" for line in lines[:cut])),
                (b'["e"', b"".join(line + b"\n" for line in lines[cut:])),
            ]
        for kind, part in parts:
            if not part:
                continue
            count = part.count(b"\n")
            if kind == b'["s"':
                if phase != "s":
                    raise bad("a session after the events")
                sessions += count
                yield "s", part, count
            else:
                phase = "e"
                events += count
                yield "e", part, count
    if not seen_header:
        raise bad("the file is empty or truncated before its first line ended")
    if trailer is None:
        raise bad("the file is truncated (no trailer: the backup did not finish)")
    if trailer.get("sessions") != sessions or trailer.get("events") != events:
        raise bad(
            f"the trailer counts {trailer.get('sessions')} sessions and {trailer.get('events')} "
            f"events, the file holds {sessions} and {events}"
        )
    if trailer.get("sha256") != digest.hexdigest():
        raise bad("the checksum does not match (the file was changed or damaged)")
