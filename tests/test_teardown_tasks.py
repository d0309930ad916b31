"""The interactive teardown of turul's task store (``--layout tasks``), ext-tasks store
(``ext-tasks``) and server-state store (``server-state``) on SQLite, PostgreSQL and DynamoDB
Local, as test_teardown.py and test_teardown_terminal.py drive it for session stores.

Rows and items are written the way the servers write them (tests/task_writers.py, the
server-state writes of tests/test_server_state.py, the boto3 puts of the DynamoDB test
modules), never by mcpstore. Stores live beside others: a PostgreSQL database that also holds
turul's sessions and events and the other two layouts, a SQLite file that holds them all, and
on DynamoDB a table per layout next to a session store. The checklist is driven through
prompt_toolkit pipe input (its screen recorded to check what it shows) and, for each layout,
through a real pseudo-terminal (pexpect). Every test checks the exit code and what is left.
No task or state table has a stream, so "disable streams" is never offered for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mcpstore_cli.util.rfc3339 import format_chrono, format_millis_z
from tests.helpers import Result
from tests.pg_fixtures import PgServer, PgServerWriter
from tests.server_writers import SqliteServerWriter
from tests.task_writers import (
    PgExtWriter,
    PgTaskWriter,
    SqliteExtWriter,
    SqliteTaskWriter,
    ext_document,
    task_row,
)
from tests.test_server_state import StateHandle

CTRL_C = "\x03"
UP = "\x1b[A"
DOWN = "\x1b[B"
NS = 1_000_000_000
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# What each layout's server writes below: its tables and their rows.
ROWS = {
    "tasks": {"tasks": 5},
    "ext-tasks": {"ext_tasks": 3},
    "server-state": {"server_entity_state": 3, "server_fingerprints": 2},
}
# What a confirmed "clear data" reports, in the layout's own words.
CLEARED = {
    "tasks": "deleted 5 tasks",
    "ext-tasks": "deleted 3 tasks",
    "server-state": "deleted 3 entities and 2 fingerprints",
}
# SQLite's own files, named as the servers name them.
SQLITE_FILE = {
    "tasks": "mcp_tasks.db",
    "ext-tasks": "ext_tasks.db",
    "server-state": "server_state.db",
}
SESSIONS = 2
EVENTS = 3
LAYOUTS = list(ROWS)


# -- the servers' writes -----------------------------------------------------------------------
def _task_id(n: int) -> str:
    return f"019{n:05d}" + uuid.UUID(int=n * 7919).hex[8:]


def _ext_id(n: int) -> str:
    return uuid.UUID(int=(n + 1) * 104729, version=4).hex


def _fill_tasks(w: Any) -> None:
    """Five tasks as turul's task store writes them; one finished by its status update."""
    w.create_tables()
    now = time.time_ns()
    statuses = ["working", "working", "input_required", "failed", "cancelled"]
    for n, status in enumerate(statuses):
        w.insert(
            task_row(
                _task_id(n),
                created_at=format_chrono(now - (60 - n) * NS),
                status=status,
                session_id="a" * 32 if n % 2 else None,
                ttl=3_600_000,
            )
        )
    assert w.update_status(_task_id(0), "completed", format_chrono(now), {"content": []})


def _fill_ext(w: Any) -> None:
    """Three ext-tasks documents as the server's write_state puts them; one completed."""
    if hasattr(w, "create_tables"):
        w.create_tables()
    now = time.time_ns()
    for n in range(3):
        w.put(ext_document(_ext_id(n), created_at=format_millis_z(now - (30 - n) * NS)))
    assert w.complete(_ext_id(0), format_millis_z(now))


def _fill_state(entity: Callable[..., None], fingerprint: Callable[[str, str], None]) -> None:
    """Three entities and two fingerprints, as turul's server-state storage upserts them."""
    entity("tools", "add", True, {"version": "1.0"})
    entity("tools", "multiply", True)
    entity("resources", "file", True)
    entity("tools", "multiply", False)  # a later write replaces the row
    fingerprint("tools", "abc123")
    fingerprint("resources", "def456")


def _sqlite_exec(path: Path) -> Callable[..., None]:
    def run(sql: str, *args: Any) -> None:
        conn = sqlite3.connect(path)
        try:
            conn.execute(sql, args)
            conn.commit()
        finally:
            conn.close()

    return run


def _pg_exec(url: str) -> Callable[..., None]:
    def run(sql: str, *args: Any) -> None:
        import asyncpg

        async def go() -> None:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(sql, *args)
            finally:
                await conn.close()

        asyncio.run(go())

    return run


def _fill_sql(layout: str, backend: str, path: Path | None, url: str) -> None:
    """One layout's rows by the server's SQL (``backend``: sqlite or postgres)."""
    if layout == "tasks":
        w: Any = SqliteTaskWriter(str(path)) if backend == "sqlite" else PgTaskWriter(url)
        _fill_tasks(w)
        w.close()
    elif layout == "ext-tasks":
        w = SqliteExtWriter(str(path)) if backend == "sqlite" else PgExtWriter(url)
        _fill_ext(w)
        w.close()
    else:
        execute = _sqlite_exec(path) if path is not None else _pg_exec(url)
        state = StateHandle(backend, url, execute)
        state.server_setup()
        _fill_state(state.entity, state.fingerprint)


def _sessions(run: Callable[..., Result], writer: Any) -> None:
    """turul's sessions and events beside the layout (tables by setup, rows by the server)."""
    made = run("setup", "--quiet", layout=None)
    assert made.exit_code == 0, made
    t = int(time.time() * 1000)
    for n in range(SESSIONS):
        sid = f"{n:032x}"
        writer.session(sid, created_at=t, last_activity=t)
        for _ in range(EVENTS):
            writer.event(sid, timestamp=t, event_type="message", data={"n": n})
    writer.close()


# -- the stores --------------------------------------------------------------------------------
@dataclass
class LayoutStore:
    """One layout's store with its neighbours: what to run, what to type, what is there."""

    backend: str  # sqlite (its own file), sqlite-shared, postgres, dynamodb
    layout: str
    url: str
    name: str  # what teardown asks to be typed
    tables: tuple[str, ...]  # the layout's tables (DynamoDB: its one table)
    count: Callable[[], dict[str, int]]  # every table there and its rows (items)
    environ: dict[str, str] = field(default_factory=dict)
    path: Path | None = None  # SQLite

    def run(self, *args: str, keys: str | None = None, layout: str | None = "") -> Result:
        from tests.helpers import run_cli

        tail = ["--layout", self.layout if layout == "" else layout] if layout is not None else []
        return run_cli([*args, "--url", self.url, *tail], keys=keys, environ=self.environ)

    @property
    def rows(self) -> dict[str, int]:
        """The layout's tables as the server filled them."""
        if self.backend == "dynamodb":
            return {self.tables[0]: sum(ROWS[self.layout].values())}
        return dict(ROWS[self.layout])

    @property
    def unit(self) -> str:
        return "items" if self.backend == "dynamodb" else "rows"


def _sqlite_counts(path: Path) -> Callable[[], dict[str, int]]:
    def count() -> dict[str, int]:
        if not path.exists():
            return {}
        conn = sqlite3.connect(path)
        try:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                )
            ]
            return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
        finally:
            conn.close()

    return count


def _pg_counts(server: PgServer, database: str) -> Callable[[], dict[str, int]]:
    def count() -> dict[str, int]:
        names = server.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'", database=database
        )[0]
        tables = [r[0] for r in names]
        if not tables:
            return {}
        counted = server.execute(
            *(f'SELECT count(*) FROM "{t}"' for t in tables), database=database
        )
        return {t: c[0][0] for t, c in zip(tables, counted, strict=True)}

    return count


def _sqlite_store(layout: str, tmp_path: Path) -> LayoutStore:
    path = tmp_path / SQLITE_FILE[layout]
    _fill_sql(layout, "sqlite", path, f"sqlite:///{path}")
    return LayoutStore(
        "sqlite", layout, f"sqlite:///{path}", path.name, tuple(ROWS[layout]),
        _sqlite_counts(path), path=path,
    )  # fmt: skip


def _sqlite_shared_store(layout: str, tmp_path: Path) -> LayoutStore:
    path = tmp_path / "shared.db"
    url = f"sqlite:///{path}"
    store = LayoutStore(
        "sqlite-shared", layout, url, path.name, tuple(ROWS[layout]), _sqlite_counts(path),
        path=path,
    )  # fmt: skip
    _sessions(store.run, SqliteServerWriter(str(path)))
    for each in LAYOUTS:
        _fill_sql(each, "sqlite", path, url)
    return store


def _postgres_store(layout: str, server: PgServer, database: str) -> LayoutStore:
    url = server.url(database)
    store = LayoutStore(
        "postgres", layout, url, database, tuple(ROWS[layout]), _pg_counts(server, database)
    )
    _sessions(store.run, PgServerWriter(url))
    for each in LAYOUTS:
        _fill_sql(each, "postgres", None, url)
    return store


def _dynamodb_store(layout: str, endpoint: str, made: list[str]) -> LayoutStore:
    """A table per layout, as each server's provisioning makes it, and a session store."""
    from tests.dynamodb_fixtures import DYNAMO_ENV, DynamoServerWriter, client, dynamodb_url
    from tests.dynamodb_fixtures import unique_table as unique
    from tests.test_ext_tasks_dynamodb import Server, create_ext_table
    from tests.test_server_state_dynamodb import StateServer, create_state_table
    from tests.test_tasks_dynamodb import create_table, put_task

    c = client(endpoint)
    names = {each: unique(f"mcpstore-td-{each}") for each in LAYOUTS}
    sessions = unique("mcpstore-td-sessions")
    made.extend([*names.values(), sessions, f"{sessions}-events"])
    create_table(c, names["tasks"])
    now = time.time_ns()
    for n, status in enumerate(["working", "working", "input_required", "failed", "cancelled"]):
        put_task(c, names["tasks"], _task_id(n), created_ns=now - (60 - n) * NS, status=status)
    create_ext_table(c, names["ext-tasks"])
    _fill_ext(Server(c, names["ext-tasks"]))
    create_state_table(c, names["server-state"])
    state = StateServer(c, names["server-state"])
    _fill_state(state.entity, state.fingerprint)
    neighbour = LayoutStore(
        "dynamodb", "sessions", dynamodb_url(endpoint, sessions), sessions, (), dict,
        dict(DYNAMO_ENV),
    )  # fmt: skip
    _sessions(neighbour.run, DynamoServerWriter(endpoint, sessions))

    def count() -> dict[str, int]:
        listed = set(c.list_tables(Limit=100)["TableNames"])
        out = {}
        for table in made:
            if table in listed:
                out[table] = c.scan(TableName=table, Select="COUNT", ConsistentRead=True)["Count"]
        return out

    table = names[layout]
    return LayoutStore(
        "dynamodb", layout, dynamodb_url(endpoint, table), table, (table,), count,
        dict(DYNAMO_ENV),
    )  # fmt: skip


BACKENDS = ["sqlite", "sqlite-shared", "postgres", "dynamodb"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=LAYOUTS)
def store(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[LayoutStore]:
    layout = str(request.param)
    if backend == "sqlite":
        yield _sqlite_store(layout, tmp_path)
    elif backend == "sqlite-shared":
        yield _sqlite_shared_store(layout, tmp_path)
    elif backend == "postgres":
        server: PgServer = request.getfixturevalue("pg_server")
        database = server.create_database()
        try:
            yield _postgres_store(layout, server, database)
        finally:
            server.drop_database(database)
    else:
        from tests.dynamodb_fixtures import client

        endpoint = request.getfixturevalue("dynamodb_local").endpoint
        made: list[str] = []
        try:
            yield _dynamodb_store(layout, endpoint, made)
        finally:
            c = client(endpoint)
            for table in made:
                with contextlib.suppress(c.exceptions.ResourceNotFoundException):
                    c.delete_table(TableName=table)


# -- driving the checklist ---------------------------------------------------------------------
def drive(store: LayoutStore, keys: str, *args: str) -> tuple[Result, str]:
    """``teardown`` on a pretend terminal with ``keys`` typed; also what its prompts drew."""
    from prompt_toolkit.data_structures import Size
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output.vt100 import Vt100_Output

    from mcpstore_cli.cli.app import main
    from mcpstore_cli.cli.prompts import Prompter
    from mcpstore_cli.env import Environment

    argv = ["teardown", *args, "--url", store.url, "--layout", store.layout]
    out, err, screen = io.StringIO(), io.StringIO(), io.StringIO()
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        pipe.close()
        drawn = Vt100_Output(
            screen, lambda: Size(rows=40, columns=160), term="xterm", enable_cpr=False
        )
        env = Environment(
            stdin=io.StringIO(""),
            stdout=out,
            stderr=err,
            environ=dict(store.environ),
            stdin_isatty=True,
            stdout_isatty=True,
            stderr_isatty=True,
            width=160,
            prompter=Prompter(input=pipe, output=drawn),
        )
        code = main(argv, env=env)
    return Result(out.getvalue(), err.getvalue(), code, argv), ANSI.sub("", screen.getvalue())


def _delete_title(store: LayoutStore) -> str:
    if store.backend == "sqlite":
        return f"delete the file {store.name} (with its -wal and -shm)"
    return f"delete the tables {', '.join(store.tables)}"


def _clear_title(store: LayoutStore) -> str:
    return "clear data (" + ", ".join(f"{n} in {t}" for t, n in store.rows.items()) + ")"


def _assert_preview(store: LayoutStore, stderr: str) -> None:
    """The inventory names the layout's tables with their counts, and no other table."""
    assert f"Store: {store.url}" in stderr, stderr
    for table, n in store.rows.items():
        assert re.search(rf"table {re.escape(table)}: {n} {store.unit}\b", stderr), stderr
    shown = set(re.findall(r"^  table (\S+):", stderr, flags=re.M))
    assert shown == set(store.tables), stderr


def _others(store: LayoutStore, before: dict[str, int]) -> dict[str, int]:
    return {t: n for t, n in before.items() if t not in store.tables}


# -- the checklist and every way of declining --------------------------------------------------
def test_the_checklist_shows_the_layouts_tables_and_counts(store: LayoutStore) -> None:
    before = store.count()
    assert {t: before[t] for t in store.tables} == store.rows
    result, screen = drive(store, "\r")  # nothing ticked
    assert result.exit_code == 4, result
    assert "Nothing chosen; nothing was changed" in result.stderr
    _assert_preview(store, result.stderr)
    assert "What should teardown do?" in screen
    assert _clear_title(store) in screen, screen
    assert _delete_title(store) in screen, screen
    assert "back up first" in screen
    # No task or state table has a stream, on DynamoDB either: offered as not applicable.
    kind = store.backend.split("-")[0]
    streams = f"- disable streams ({kind} stores of the {store.layout} layout have none)"
    assert streams in screen, screen
    for other in set(before) - set(store.tables):
        named = re.search(rf"(?<![\w-]){re.escape(other)}(?![\w-])", screen)
        assert named is None, f"the checklist names {other}: {screen}"
    assert store.count() == before


# Every way of saying no: (what is typed, the exit code).
DECLINED = {
    "Ctrl-C at the checklist": (CTRL_C, 130),
    "end of input at the checklist": ("", 4),
    "clear data, then n": (" \rn", 4),
    "clear data, then Enter (the default is No)": (" \r\r", 4),
    "clear data, then Ctrl-C at the confirmation": (" \r" + CTRL_C, 130),
    "delete, y, then Ctrl-C at the typed name": (f"{UP} \ry" + CTRL_C, 130),
    "delete, y, then the wrong name": (f"{UP} \rywrong-name\r", 4),
    "delete, y, then nothing typed": (f"{UP} \ry\r", 4),
}


def test_declining_at_any_prompt_keeps_everything(store: LayoutStore) -> None:
    before = store.count()
    for how, (keys, code) in DECLINED.items():
        result, _ = drive(store, keys)
        assert result.exit_code == code, (how, result)
        assert "nothing was changed" in result.stderr, (how, result)
        _assert_preview(store, result.stderr)
        assert store.count() == before, how
        if store.path is not None:
            assert store.path.exists(), how


def test_without_a_terminal_it_refuses_and_keeps_everything(store: LayoutStore) -> None:
    before = store.count()
    for args in ([], ["--delete"], ["--clear-data"]):
        result = store.run("teardown", *args)
        assert result.exit_code == 4, result
        assert "--yes" in result.stderr and "nothing was changed" in result.stderr
    assert store.count() == before


# -- confirming ----------------------------------------------------------------------------------
def test_confirmed_clear_empties_only_the_layouts_tables(store: LayoutStore) -> None:
    before = store.count()
    result, _ = drive(store, " \ry")
    assert result.exit_code == 0, result
    assert "Steps, in this order:\n  1. clear data\n" in result.stderr, result
    assert CLEARED[store.layout] in result.stderr, result
    after = store.count()
    assert {t: after[t] for t in store.tables} == {t: 0 for t in store.tables}
    assert _others(store, after) == _others(store, before)
    check = store.run("setup", "--check")
    assert check.exit_code == 0, check


def test_the_clear_command_speaks_of_the_layouts_records(store: LayoutStore) -> None:
    """``clear`` itself (not through teardown): its dry run, its question and its summary
    name the layout's records, never sessions and events."""
    before = store.count()
    dry = store.run("clear", "--dry-run", "-f", "json")
    assert dry.exit_code == 0, dry
    assert dry.json()["would"] == f"delete every record of the {store.layout} layout", dry
    declined = store.run("clear", keys="n\r")
    assert declined.exit_code == 4, declined
    preview = f"clear deletes every record of the {store.layout} layout; the tables stay."
    assert preview in declined.stderr, declined
    assert "session and event" not in declined.stderr, declined
    assert store.count() == before
    done = store.run("clear", "--yes")
    assert done.exit_code == 0, done
    assert CLEARED[store.layout] in done.stderr and "sessions and" not in done.stderr, done
    after = store.count()
    assert {t: after[t] for t in store.tables} == {t: 0 for t in store.tables}
    assert _others(store, after) == _others(store, before)


def test_confirmed_delete_drops_exactly_the_layouts_tables(store: LayoutStore) -> None:
    before = store.count()
    result, screen = drive(store, f"{UP} \ry{store.name}\r")
    assert result.exit_code == 0, result
    assert f"Type {store.name} to confirm" in screen, screen
    assert "Steps, in this order:\n  1. delete tables\n" in result.stderr, result
    assert "teardown: 1 step(s) done" in result.stderr
    after = store.count()
    assert after == _others(store, before), after
    if store.backend == "sqlite":
        assert store.path is not None
        assert not store.path.exists()
        assert not Path(f"{store.path}-wal").exists() and not Path(f"{store.path}-shm").exists()
    elif store.backend in ("sqlite-shared", "postgres"):
        # The sessions and events and the other layouts' tables stay, rows and all.
        assert after["sessions"] == SESSIONS and after["events"] == SESSIONS * EVENTS
        assert set(after) == {"sessions", "events"} | {
            t for each in LAYOUTS if each != store.layout for t in ROWS[each]
        }
        sessions = store.run("setup", "--check", layout=None)
        assert sessions.exit_code == 0, sessions
    assert store.run("setup", "--check").exit_code == 3


def test_clear_and_delete_together_skip_the_clear(store: LayoutStore) -> None:
    before = store.count()
    result, _ = drive(store, f" {UP} \ry{store.name}\r")
    assert result.exit_code == 0, result
    assert "1. delete tables" in result.stderr and "  2. " not in result.stderr
    assert "clear data is left out" in result.stderr
    assert store.count() == _others(store, before)


def test_back_up_first_counts_the_layouts_records(store: LayoutStore, in_tmp: Path) -> None:
    before = store.count()
    files = set(in_tmp.iterdir())
    result, _ = drive(store, f"{DOWN} \ry")
    assert result.exit_code == 0, result
    records = sum(store.rows.values())
    assert f"backed up {records} records of the {store.layout} layout to " in result.stderr, result
    assert "sessions" not in result.stderr.split("Steps, in this order:")[1]
    written = [p for p in set(in_tmp.iterdir()) - files if p.name.endswith(".mcpbackup.zst")]
    assert len(written) == 1 and written[0].stat().st_size > 0, written
    assert store.count() == before


# -- a real terminal ---------------------------------------------------------------------------
REPO = Path(__file__).resolve().parent.parent


def _spawn(store: LayoutStore, cwd: Path) -> Any:
    pexpect = pytest.importorskip("pexpect")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    )
    env.update(store.environ)
    env.update({"TERM": "xterm-256color", "COLUMNS": "140", "LINES": "40", "NO_COLOR": "1"})
    args = ["-m", "mcpstore_cli", "teardown", "--url", store.url, "--layout", store.layout]
    return pexpect.spawn(
        sys.executable, args, cwd=str(cwd), env=env, encoding="utf-8", timeout=30,
        dimensions=(40, 140),
    )  # fmt: skip


def _expect_preview(child: Any, store: LayoutStore) -> None:
    for table, n in store.rows.items():
        child.expect_exact(f"table {table}: {n} {store.unit}")
    child.expect_exact("What should teardown do?")
    child.expect_exact(_clear_title(store))
    child.expect_exact(_delete_title(store))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_delete_in_a_real_terminal(store: LayoutStore, tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    before = store.count()
    child = _spawn(store, tmp_path)
    _expect_preview(child, store)
    child.send(UP)  # the list wraps around to its last line: delete
    child.send(" ")
    child.send("\r")
    child.expect_exact("1. delete tables")
    child.expect(r"Run 1 step\(s\)")
    child.send("y")
    child.expect_exact(f"Type {store.name} to confirm")
    child.send(f"{store.name}\r")
    child.expect(r"teardown: 1 step\(s\) done")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert store.count() == _others(store, before)
    assert store.run("setup", "--check").exit_code == 3


@pytest.mark.parametrize("backend", ["sqlite-shared"], indirect=True)
def test_declining_in_a_real_terminal(store: LayoutStore, tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    before = store.count()
    child = _spawn(store, tmp_path)
    _expect_preview(child, store)
    child.send(" ")
    child.send("\r")
    child.expect_exact("1. clear data")
    child.expect(r"Run 1 step\(s\)")
    child.send("n")
    child.expect_exact("Not confirmed; nothing was changed.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 4, child.before
    assert store.count() == before


@pytest.mark.parametrize("store", ["tasks"], indirect=True)
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_ctrl_c_in_a_real_terminal(store: LayoutStore, tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    before = store.count()
    child = _spawn(store, tmp_path)
    _expect_preview(child, store)
    child.send(UP)
    child.send(" ")
    child.send("\r")
    child.expect(r"Run 1 step\(s\)")
    child.send("y")
    child.expect_exact(f"Type {store.name} to confirm")
    child.sendintr()
    child.expect_exact("nothing was changed")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130, child.before
    assert store.count() == before
