"""SQLite clear and teardown: one write transaction deletes the events, then the sessions."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mcpstore_cli.backends.sql.teardown import LAYOUT_TABLES
from mcpstore_cli.errors import (
    LayoutError,
    StoreConnectionError,
)
from mcpstore_cli.model.teardown import ClearResult, Inventory, TableFacts
from mcpstore_cli.store.base import ProgressCallback

if TYPE_CHECKING:
    from mcpstore_cli.backends.sqlite.store import SqliteStore


# -- SQLite ------------------------------------------------------------------------------


def _own_tables(objects: dict[str, str]) -> list[str]:
    """Tables in the file that are not the layout's (nor SQLite's own)."""
    return sorted(
        name
        for name, kind in objects.items()
        if kind == "table" and name not in LAYOUT_TABLES and not name.startswith("sqlite_")
    )


def sqlite_companions(path: Path) -> list[Path]:
    """The files that belong to a SQLite database (and mcpstore's own lock file)."""
    return [
        path,
        Path(f"{path}-wal"),
        Path(f"{path}-shm"),
        Path(f"{path}-journal"),
        Path(f"{path}.mcpstore-expire.lock"),
    ]


def _sqlite_objects(store: SqliteStore) -> dict[str, str]:
    return {r["name"]: r["type"] for r in store._read("SELECT name, type FROM sqlite_master")}


async def sqlite_inventory(store: SqliteStore) -> Inventory:
    started = time.monotonic()
    store._require_file()
    path = store.path
    inv = Inventory(
        backend="sqlite",
        store=store.url.masked(),
        name=path.name,
        exists=True,
    )
    objects = _sqlite_objects(store)
    for table in LAYOUT_TABLES:
        if objects.get(table) != "table":
            inv.tables.append(TableFacts(table, exists=False))
            continue
        rows = store._read(f"SELECT count(*) AS n FROM {table}")[0]["n"]
        inv.tables.append(TableFacts(table, rows=int(rows)))
    for companion in sqlite_companions(path):
        with contextlib.suppress(OSError):
            inv.files.append((str(companion), os.stat(companion).st_size))
    if objects.get("sqlite_sequence") == "table" and objects.get("events") == "table":
        seq = store._read("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
        inv.facts["events_id_counter"] = int(seq[0]["seq"]) if seq else 0
    others = _own_tables(objects)
    if others:
        inv.facts["other_tables"] = others
        inv.notes.append(
            f"{path.name} also holds other tables ({', '.join(others)}): deleting drops only "
            "the sessions and events tables and keeps the file."
        )
    inv.seconds = time.monotonic() - started
    return inv


async def sqlite_clear(store: SqliteStore, progress: ProgressCallback | None) -> ClearResult:
    started = time.monotonic()
    await store.ensure_readable()
    async with store.connect(write=True) as conn:
        # Events first: the sessions DELETE then has no cascade left to do.
        events = (await conn.exec_driver_sql("DELETE FROM events")).rowcount
        sessions = (await conn.exec_driver_sql("DELETE FROM sessions")).rowcount
    if progress is not None:
        progress(int(sessions) + int(events))
    return ClearResult(int(sessions), int(events), seconds=time.monotonic() - started)


def _sqlite_require_layout(store: SqliteStore, objects: dict[str, str]) -> None:
    from mcpstore_cli.backends.sqlite.layout import REQUIRED

    for table in LAYOUT_TABLES:
        if objects.get(table) != "table":
            continue
        have = {r["name"] for r in store._read(f"PRAGMA table_info({table})")}
        missing = sorted(REQUIRED[table] - have)
        if missing:
            raise LayoutError(
                f"{store.path} is in another layout (table {table} has no column "
                f"{missing[0]}), so it is left alone; see mcpstore setup --check."
            )


async def sqlite_drop(store: SqliteStore) -> list[str]:
    store._require_file()
    path = store.path
    objects = _sqlite_objects(store)
    _sqlite_require_layout(store, objects)
    others = _own_tables(objects)
    if others:
        async with store.connect(write=True) as conn:
            present = await conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
                "('sessions', 'events')"
            )
            names = {row[0] for row in present}
            gone = []
            for table in ("events", "sessions"):
                if table in names:
                    await conn.exec_driver_sql(f"DROP TABLE {table}")
                    gone.append(f"table {table}")
            has_sequence = await conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
            )
            if has_sequence.first() is not None:
                await conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = 'events'")
        await store.close()
        return gone
    await store.close()
    # Nobody may be writing while the file goes: take the write lock once (a server in a
    # write transaction makes this wait, then fail, before anything is deleted).
    try:
        probe = sqlite3.connect(str(path), timeout=store.options.connect_timeout)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        finally:
            probe.close()
    except sqlite3.Error as exc:
        raise store._translate_error(exc) or StoreConnectionError(str(exc)) from exc
    gone = []
    for companion in sqlite_companions(path):
        try:
            companion.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreConnectionError(
                f"Cannot delete {companion}: {exc.strerror or exc}"
                + (f"; already deleted: {', '.join(gone)}." if gone else "; nothing was deleted.")
            ) from exc
        gone.append(str(companion))
    return gone
