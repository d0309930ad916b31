"""Files mcpstore writes where the user says (backups, native copies): the one place that
decides whether a path may be written, and the one way every such file is written.

- Nothing ever writes over the store's own files (its SQLite database, ``-wal``, ``-shm``,
  ``-journal``), compared by resolved path and by inode, so symlinks, hard links and
  ``./relative`` spellings are caught; nor over any SQLite database, WAL or rollback journal
  (by their headers), nor over the companion file of one: ``--force`` or not.
- An existing file is replaced only with ``force``.
- The data goes to a temporary file in the target's directory; :meth:`OutputFile.commit`
  renames it into place once complete (without ``force`` by a hard link, which never replaces
  a file that appeared meanwhile). On failure or interrupt :meth:`OutputFile.abort` removes it
  and the old file stays as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from mcpstore_cli.errors import UsageError

SQLITE_MAGIC = b"SQLite format 3\x00"
WAL_MAGICS = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")
JOURNAL_MAGIC = b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7"
COMPANIONS = ("-wal", "-shm", "-journal")
PARTIAL_SUFFIX = ".partial"


class OutputRefusedError(UsageError):
    """A file mcpstore will not write (exit 2): nothing was written."""


def store_files(database: str | os.PathLike[str]) -> list[Path]:
    """A SQLite database's own files, as named and as resolved: the database itself and its
    ``-wal``, ``-shm`` and ``-journal`` (whether they exist now or not)."""
    named = Path(database).expanduser()
    out: list[Path] = []
    for base in (named, named.resolve()):
        for suffix in ("", *COMPANIONS):
            path = base.with_name(base.name + suffix)
            if path not in out:
                out.append(path)
    return out


def _same(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(16)
    except OSError:
        return b""


def database_kind(path: Path) -> str | None:
    """What SQLite file ``path`` is, by its header ("a SQLite database", "a SQLite WAL
    file", "a SQLite rollback journal"), or by being the ``-wal``/``-shm``/``-journal``
    beside a SQLite database; None for anything else."""
    head = _head(path)
    if head.startswith(SQLITE_MAGIC):
        return "a SQLite database"
    if head[:4] in WAL_MAGICS:
        return "a SQLite WAL file"
    if head.startswith(JOURNAL_MAGIC):
        return "a SQLite rollback journal"
    for suffix in COMPANIONS:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            owner = path.with_name(path.name[: -len(suffix)])
            if _head(owner).startswith(SQLITE_MAGIC):
                return f"the {suffix} file of the SQLite database {owner}"
    return None


def check_output(
    path: str | os.PathLike[str],
    *,
    force: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
    shown: str | None = None,
) -> Path:
    """Raise :class:`OutputRefusedError` unless ``path`` may be written; returns it as a Path.

    ``protect`` names files that are never written, ``force`` or not (the store's own files:
    see :func:`store_files`). SQLite databases, their WAL files and journals are never written
    either; any other existing file only with ``force``. Messages name the file as ``shown``
    (what the user typed), else as ``path``.
    """
    target = Path(path).expanduser()
    name = shown if shown is not None else os.fspath(path)
    for own in map(Path, protect):
        if _same(target, own):
            role = next((s for s in COMPANIONS if own.name.endswith(s)), "database")
            raise OutputRefusedError(
                f"{name} is the store's own {role} file; mcpstore never writes over it, "
                "even with --force: name another file."
            )
    if target.is_dir():
        raise OutputRefusedError(f"{name} is a directory; name a file.")
    kind = database_kind(target)
    if kind is not None:
        raise OutputRefusedError(
            f"{name} is {kind}; mcpstore never writes over SQLite files, even with "
            "--force: name another file."
        )
    if os.path.lexists(target) and not force:
        raise OutputRefusedError(
            f"{name} exists already; add --force to replace it, or name another file."
        )
    return target


def partial_name(path: Path) -> Path:
    """The temporary file a write to ``path`` goes to (``backup list`` shows leftovers)."""
    return path.with_name(f".{path.name}.{os.getpid()}{PARTIAL_SUFFIX}")


class OutputFile:
    """A file being written to ``path`` through a temporary file beside it.

    Checked on creation and again just before it is renamed into place (a file that appeared
    meanwhile is not replaced without ``force``). Use :meth:`commit` once the temporary file
    is complete and fsynced, :meth:`abort` otherwise (both are idempotent).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        force: bool = False,
        protect: Iterable[str | os.PathLike[str]] = (),
    ) -> None:
        self.force = force
        self.protect = [Path(p) for p in protect]
        self.path = check_output(path, force=force, protect=self.protect)
        self.tmp = partial_name(self.path)
        self.done = False
        try:
            self.fd: int | None = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileNotFoundError:
            raise UsageError(
                f"The directory {self.path.parent} does not exist; create it first."
            ) from None
        except PermissionError:
            raise UsageError(f"Cannot write in {self.path.parent}: permission denied.") from None
        except FileExistsError:
            raise UsageError(
                f"{self.tmp} exists (another mcpstore writing {self.path}?); remove it if not."
            ) from None
        os.fchmod(self.fd, 0o600)

    def take_fd(self) -> int:
        """The temporary file's descriptor, for the caller to own (and close)."""
        assert self.fd is not None
        fd, self.fd = self.fd, None
        return fd

    def commit(self) -> int:
        """Put the complete temporary file in place; returns its size."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        try:
            check_output(self.path, force=self.force, protect=self.protect)
            size = os.stat(self.tmp).st_size
            if self.force:
                os.replace(self.tmp, self.path)
            else:
                _link_new(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self.done = True
        _fsync_dir(self.path.parent)
        return size

    def abort(self) -> None:
        """Remove the temporary file (and any SQLite journal beside it); idempotent."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        if self.done:
            return
        for suffix in ("", *COMPANIONS):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.tmp}{suffix}")


def _link_new(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` unless ``path`` exists (atomically where the file
    system has hard links), then drop the temporary name."""
    try:
        os.link(tmp, path, follow_symlinks=False)
    except FileExistsError:
        raise OutputRefusedError(
            f"{path} appeared while it was being written; add --force to replace it, or "
            "name another file."
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV):
            raise
        if os.path.lexists(path):
            raise OutputRefusedError(
                f"{path} appeared while it was being written; add --force to replace it, or "
                "name another file."
            ) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def output_file(
    path: str | os.PathLike[str],
    *,
    force: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[OutputFile]:
    """``with output_file(p) as out:`` write ``out.tmp``; committed when the block ends
    without an exception (unless it committed itself), removed otherwise."""
    out = OutputFile(path, force=force, protect=protect)
    try:
        yield out
        if not out.done:
            out.commit()
    finally:
        out.abort()
