"""turul's 2025 task store in a SQLite file (``SQLITE_TASK_PATH``, default ``mcp_tasks.db``).

Reads go through a read-only connection (as the session store's reader does); every change
runs in one ``BEGIN IMMEDIATE`` transaction on a writable connection, conditional on the row
as it was read (see :mod:`mcpstore_cli.backends.sql.tasks`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mcpstore_cli.backends.sql import ddl
from mcpstore_cli.backends.sql.tasks import SqlTaskStore
from mcpstore_cli.backends.sqlite.reading import SqliteReading
from mcpstore_cli.backends.sqlite.store import _compare_columns
from mcpstore_cli.errors import Interrupted, LayoutError, StoreMissingError, UsageError
from mcpstore_cli.layouts.turul_tasks import records, schema
from mcpstore_cli.model.records import Finding, SetupStep
from mcpstore_cli.model.teardown import ClearResult, Inventory, TableFacts
from mcpstore_cli.store.base import ProgressCallback, StoreOptions
from mcpstore_cli.store.urls import StoreURL

if TYPE_CHECKING:
    from mcpstore_cli.model.tasks import Task

DIALECT = "sqlite"


class _TaskFile(SqliteReading):
    """The task store's file: its path, read-only connection and error messages."""

    def __init__(self, url: StoreURL, options: StoreOptions) -> None:
        self.url = url
        self.options = options
        self._reader = None
        self._wal_found = None


TABLE = "tasks"


def ddl_statements() -> list[str]:
    return ddl.create_statements(schema.TABLES, schema.indexes(), DIALECT)


class SqliteTaskStore(SqlTaskStore):
    backend: ClassVar[str] = "sqlite"
    title: ClassVar[str] = "SQLite"
    layout: ClassVar[str] = "tasks"
    clears_in_one_transaction: ClassVar[bool] = True
    required_columns: ClassVar[dict[str, set[str]]] = {
        TABLE: {c.name for c in ddl.columns(schema.tasks, DIALECT) if c.info.get("identifies")}
    }

    def __init__(self, url: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(url, options)
        # The file, its read-only connection and error messages: as the session store's.
        self.file = _TaskFile(url, self.options)
        self._readable = False

    @property
    def path(self) -> Path:
        return self.file.path

    def own_files(self) -> list[Path]:
        return self.file.own_files()

    def _require_file(self) -> None:
        self.file._require_file()

    def _translate_error(self, exc: BaseException) -> Exception | None:
        return self.file._translate_error(exc)

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.file._read(sql, args)

    def _close_reader(self) -> None:
        self.file._close_reader()

    def label(self) -> str:
        return Path(self.url.path or "mcp_tasks.db").stem or "sqlite"

    async def close(self) -> None:
        self.file._close_reader()
        self.file._leave_as_found()

    # -- connections ------------------------------------------------------------------------
    async def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._read(sql, args)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before anything is read (BEGIN IMMEDIATE)."""
        self._require_file()
        try:
            conn = sqlite3.connect(
                str(self.path.absolute()),
                timeout=self.options.connect_timeout,
                isolation_level=None,
            )
        except sqlite3.Error as exc:
            raise self._translate_error(exc) or exc from exc
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._translate_error(exc) or exc from exc
        finally:
            conn.close()

    async def _delete_unchanged(self, rows: Sequence[tuple[str, str, str, int | None]]) -> int:
        with self._writing() as conn:
            cur = conn.executemany(
                "DELETE FROM tasks WHERE task_id = ? AND status = ? AND last_updated_at = ?",
                [r[:3] for r in rows],
            )
            return max(cur.rowcount, 0)

    async def _update_unchanged(
        self,
        rows: Sequence[tuple[str, str, str, int | None]],
        *,
        status: str,
        message: str,
        now_text: str,
    ) -> list[str]:
        changed: list[str] = []
        with self._writing() as conn:
            for task_id, old_status, old_updated, _version in rows:
                cur = conn.execute(
                    "UPDATE tasks SET status = ?, status_message = ?, last_updated_at = ? "
                    "WHERE task_id = ? AND status = ? AND last_updated_at = ?",
                    (status, message, now_text, task_id, old_status, old_updated),
                )
                if cur.rowcount == 1:
                    changed.append(task_id)
        return changed

    # -- provisioning -----------------------------------------------------------------------
    def tables(self) -> list[str]:
        return [TABLE]

    def setup_plan(self, **options: Any) -> list[str]:
        return ddl_statements()

    def _objects(self) -> dict[str, str]:
        return {r["name"]: r["type"] for r in self._read("SELECT name, type FROM sqlite_master")}

    async def ensure_readable(self) -> None:
        if self._readable:
            return
        objects = self._objects()
        if objects.get(TABLE) != "table":
            raise StoreMissingError(
                f"{self.path} has no tasks table; run mcpstore setup --layout tasks --url "
                f"{self.url.masked()}."
            )
        have = {r["name"] for r in self._read(f"PRAGMA table_info({TABLE})")}
        missing = sorted(self.required_columns[TABLE] - have)
        if missing:
            raise LayoutError(
                f"{self.path} is in another layout: table tasks has no column {missing[0]}; "
                "see mcpstore setup --layout tasks --check."
            )
        self._readable = True

    async def setup(self, **options: Any) -> list[SetupStep]:
        path = self.path
        if path.is_dir():
            raise UsageError(f"{path} is a directory; name the database file inside it.")
        parent = path.absolute().parent
        if not parent.is_dir():
            raise UsageError(f"The directory {parent} does not exist; create it first.")
        created_file = not path.exists()
        try:
            conn = sqlite3.connect(str(path.absolute()), isolation_level=None)
        except sqlite3.Error as exc:
            raise self._translate_error(exc) or exc from exc
        try:
            conn.execute("BEGIN IMMEDIATE")
            before = {n: k for n, k in conn.execute("SELECT name, type FROM sqlite_master")}
            for statement in ddl_statements():
                conn.execute(statement)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._translate_error(exc) or exc from exc
        finally:
            conn.close()
        steps = [SetupStep(str(path), "created" if created_file else "exists", "file")]
        steps.append(SetupStep(TABLE, "exists" if TABLE in before else "created", "table"))
        for spec in ddl.index_specs(schema.indexes(), DIALECT):
            state = "exists" if spec.name in before else "created"
            steps.append(SetupStep(spec.name, state, "index"))
        if TABLE in before:
            drift = [f for f in await self.check() if f.severity == "error"]
            if drift:
                raise LayoutError(
                    f"{path} has a tasks table that differs from the layout ({drift[0].object}: "
                    f"{drift[0].problem}); see mcpstore setup --layout tasks --check."
                )
        return steps

    async def check(self) -> list[Finding]:
        self._require_file()
        objects = self._objects()
        if objects.get(TABLE) != "table":
            return [Finding(f"table {TABLE}", "missing")]
        expected = [
            (c.name, c.type, c.not_null, c.default, c.primary_key)
            for c in ddl.column_specs(schema.tasks, DIALECT)
        ]
        actual = [tuple(r.values()) for r in self._read(f"PRAGMA table_info({TABLE})")]
        findings = _compare_columns(TABLE, expected, actual)
        for spec in ddl.index_specs(schema.indexes(), DIALECT):
            if objects.get(spec.name) != "index":
                findings.append(Finding(f"index {spec.name}", "missing"))
                continue
            have = tuple(r["name"] for r in self._read(f"PRAGMA index_info({spec.name})"))
            if have != spec.columns:
                findings.append(
                    Finding(
                        f"index {spec.name}",
                        f"on ({', '.join(have)}), expected ({', '.join(spec.columns)})",
                    )
                )
        return findings

    # -- demo -------------------------------------------------------------------------------
    async def write_demo(
        self, batches: Any, progress: ProgressCallback | None = None
    ) -> tuple[int, int]:
        """Insert the demo's tasks, a transaction per batch (committed batches stay)."""
        written = 0
        marks = ", ".join("?" for _ in records.COLUMNS)
        sql = f"INSERT INTO tasks ({', '.join(records.COLUMNS)}) VALUES ({marks})"
        try:
            async for tasks, _events in batches:
                rows = [self.demo_row(t) for t in tasks]
                with self._writing() as conn:
                    conn.executemany(sql, rows)
                written += len(rows)
                if progress is not None:
                    progress(len(rows))
        except (KeyboardInterrupt, Interrupted):
            raise Interrupted(
                f"the demo wrote {written:,} tasks in whole batches; they stay in the store."
            ) from None
        return written, 0

    async def write_tasks(self, tasks: Sequence[Task]) -> None:
        """Insert tasks as the server does (tests and restore use this)."""
        marks = ", ".join("?" for _ in records.COLUMNS)
        with self._writing() as conn:
            conn.executemany(
                f"INSERT INTO tasks ({', '.join(records.COLUMNS)}) VALUES ({marks})",
                [self.demo_row(t) for t in tasks],
            )

    # -- clear and teardown -----------------------------------------------------------------
    async def inventory(self) -> Inventory:
        started = time.monotonic()
        self._require_file()
        inv = Inventory(backend="sqlite", store=self.url.masked(), name=self.path.name, exists=True)
        objects = self._objects()
        if objects.get(TABLE) == "table":
            n = self._read("SELECT count(*) AS n FROM tasks")[0]["n"]
            inv.tables.append(TableFacts(TABLE, rows=int(n)))
        else:
            inv.tables.append(TableFacts(TABLE, exists=False))
        from mcpstore_cli.backends.sqlite.teardown import sqlite_companions

        for companion in sqlite_companions(self.path):
            with contextlib.suppress(OSError):
                inv.files.append((str(companion), os.stat(companion).st_size))
        others = sorted(
            n
            for n, k in objects.items()
            if k == "table" and n != TABLE and not n.startswith("sqlite_")
        )
        if others:
            inv.facts["other_tables"] = others
            inv.notes.append(
                f"{self.path.name} also holds other tables ({', '.join(others)}): deleting "
                "drops only the tasks table and keeps the file."
            )
        inv.seconds = time.monotonic() - started
        return inv

    async def clear(
        self, *, recreate: bool = False, progress: ProgressCallback | None = None
    ) -> ClearResult:
        started = time.monotonic()
        with self._writing() as conn:
            n = conn.execute("DELETE FROM tasks").rowcount
        if progress is not None:
            progress(n)
        return ClearResult(n, 0, seconds=time.monotonic() - started, records={"tasks": n})

    async def drop(self) -> list[str]:
        self._close_reader()
        with self._writing() as conn:
            for spec in ddl.index_specs(schema.indexes(), DIALECT):
                conn.execute(f"DROP INDEX IF EXISTS {spec.name}")
            conn.execute("DROP TABLE IF EXISTS tasks")
            left = [
                n
                for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not n.startswith("sqlite_")
            ]
        if not left:
            from mcpstore_cli.backends.sqlite.teardown import sqlite_companions

            for companion in sqlite_companions(self.path):
                with contextlib.suppress(FileNotFoundError):
                    companion.unlink()
            return [str(self.path)]
        return [TABLE]
