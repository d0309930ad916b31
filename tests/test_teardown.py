"""clear and teardown on every backend: the preview, every prompt path (typed through
prompt_toolkit pipe input), the flags, refusal without a terminal, and what is left after."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mcpstore_cli.util.timeutil import now_ms
from tests.conftest import StoreHandle

CTRL_C = "\x03"
UP = "\x1b[A"
DOWN = "\x1b[B"
HAS_BACKUP = importlib.util.find_spec("mcpstore_cli.ops.backup") is not None
needs_backup = pytest.mark.skipif(
    not HAS_BACKUP, reason="mcpstore_cli.ops.backup (write_backup) is not on this branch yet"
)


def _fill(store: StoreHandle, sessions: int = 12, events: int = 3) -> None:
    store.setup()
    result = store.run(
        "demo", "--sessions", str(sessions), "--events-per-session", str(events), "--quiet"
    )
    assert result.exit_code == 0, result


def _counts(store: StoreHandle) -> tuple[int, int]:
    result = store.run("clear", "--dry-run", "--format", "json")
    assert result.exit_code == 0, result
    tables = result.json()["tables"]
    assert all(t["rows_exact"] for t in tables), tables
    return tables[0]["rows"], tables[1]["rows"]


def _typed_name(store: StoreHandle) -> str:
    return Path(store.name).name if store.backend == "sqlite" else store.name


def _intact(store: StoreHandle, sessions: int = 12, events: int = 3) -> None:
    assert _counts(store) == (sessions, sessions * events)
    assert store.run("setup", "--check").exit_code == 0


def _gone(store: StoreHandle) -> None:
    check = store.run("setup", "--check")
    assert check.exit_code == 3, check


def _empty(store: StoreHandle) -> None:
    assert store.run("setup", "--check").exit_code == 0, "the tables are still there"
    assert _counts(store) == (0, 0)
    listed = store.run("list", "--limit", "0", "--format", "jsonl")
    assert listed.exit_code == 0 and listed.stdout == "", listed


# -- the preview -------------------------------------------------------------------------
def test_preview_names_the_store_tables_and_counts(store: StoreHandle) -> None:
    _fill(store)
    result = store.run("clear", "--dry-run", "--format", "json")
    assert result.exit_code == 0, result
    obj = result.json()
    assert obj["backend"] == store.backend and obj["exists"] is True
    assert obj["name"] == _typed_name(store)
    assert [t["rows"] for t in obj["tables"]] == [12, 36]
    if store.backend == "sqlite":
        assert any(f["path"] == store.name for f in obj["files"])
    if store.backend == "postgres":
        assert all(t["bytes"] > 0 for t in obj["tables"])
        assert obj["facts"]["database"] == store.name
    if store.backend == "dynamodb":
        streams = {s["table"]: s for s in obj["streams"]}
        assert streams[f"{store.name}-events"]["enabled"] is True
        assert streams[f"{store.name}-events"]["arn"]
        # DynamoDB Local has no backup API: said, not failed.
        assert obj["backups"]["status"] == "unknown"
    table = store.run("teardown", "--dry-run", "--delete", tty=True)
    assert table.exit_code == 0, table
    assert "12 rows" in table.stdout or "12 items" in table.stdout
    assert "delete tables" in table.stdout
    _intact(store)


def test_a_missing_store_is_reported_not_created(store: StoreHandle) -> None:
    for args in (["clear", "--yes"], ["teardown", "--delete", "--yes"]):
        result = store.run(*args)
        assert result.exit_code == 3, result
        assert result.stderr.count("\n") == 1, result
    _gone(store)


# -- refusal and cancelling ----------------------------------------------------------------
def test_without_a_terminal_and_without_yes_nothing_changes(store: StoreHandle) -> None:
    _fill(store)
    for args in (
        ["clear"],
        ["teardown"],
        ["teardown", "--delete"],
        ["teardown", "--clear-data"],
    ):
        result = store.run(*args)
        assert result.exit_code == 4, result
        assert "--yes" in result.stderr
    _intact(store)


@pytest.mark.parametrize(
    ("args", "keys", "code"),
    [
        (["clear"], CTRL_C, 130),
        (["clear"], "n", 4),
        (["clear"], "\r", 4),  # the default is No
        (["clear"], "", 4),  # end of input is No
        (["teardown"], CTRL_C, 130),  # at the checklist
        (["teardown"], "\r", 4),  # nothing ticked
        (["teardown"], " \r" + CTRL_C, 130),  # at the confirmation
        (["teardown"], " \rn", 4),
        (["teardown"], f"{UP} \ry" + CTRL_C, 130),  # at the typed name
        (["teardown"], f"{UP} \rywrong-name\r", 4),
        (["teardown", "--delete"], "n", 4),
        (["teardown", "--delete"], "y\r", 4),  # nothing typed
    ],
)
def test_cancelling_at_any_prompt_changes_nothing(
    store: StoreHandle, args: list[str], keys: str, code: int
) -> None:
    _fill(store)
    result = store.run(*args, keys=keys)
    assert result.exit_code == code, result
    assert "nothing was changed" in result.stderr
    _intact(store)


# -- each action alone, and all of them ------------------------------------------------------
def test_clear_confirmed_empties_the_tables_and_keeps_them(store: StoreHandle) -> None:
    _fill(store)
    result = store.run("clear", keys="y")
    assert result.exit_code == 0, result
    assert "deleted 12 sessions and 36 events" in result.stderr
    _empty(store)


def test_clear_with_yes_reports_json(store: StoreHandle) -> None:
    _fill(store)
    result = store.run("clear", "--yes", "--format", "json")
    assert result.exit_code == 0, result
    obj = result.json()
    assert (obj["sessions"], obj["events"], obj["exact"]) == (12, 36, True)
    _empty(store)
    again = store.run("clear", "--yes", "--quiet")
    assert again.exit_code == 0 and again.stderr == "", again


def test_clear_keeps_the_event_id_counter(store: StoreHandle) -> None:
    if store.backend == "dynamodb":
        pytest.skip("DynamoDB event ids are per session (1, 2, 3, ...), there is no counter")
    store.setup()
    writer = store.writer()
    t = now_ms()
    writer.session("a" * 32, created_at=t, last_activity=t)
    last = max(writer.event("a" * 32, timestamp=t, event_type="m", data={}) for _ in range(3))
    assert store.run("clear", "--yes").exit_code == 0
    writer.session("b" * 32, created_at=t, last_activity=t)
    assert writer.event("b" * 32, timestamp=t, event_type="m", data={}) > last
    writer.close()


def test_interactive_clear_data_only(store: StoreHandle) -> None:
    _fill(store)
    result = store.run("teardown", keys=" \ry")
    assert result.exit_code == 0, result
    assert "1. clear data" in result.stderr
    _empty(store)


def test_interactive_delete_only_needs_the_name(store: StoreHandle) -> None:
    _fill(store)
    result = store.run("teardown", keys=f"{UP} \ry{_typed_name(store)}\r")
    assert result.exit_code == 0, result
    _gone(store)
    if store.backend == "sqlite":
        stem = Path(store.name)
        assert not stem.exists()
        assert not Path(f"{stem}-wal").exists() and not Path(f"{stem}-shm").exists()


def test_clear_and_delete_together_skip_the_pointless_clear(store: StoreHandle) -> None:
    _fill(store)
    result = store.run("teardown", keys=f" {UP} \ry{_typed_name(store)}\r")
    assert result.exit_code == 0, result
    assert "1. delete tables" in result.stderr and "  2. " not in result.stderr
    assert "clear data is left out" in result.stderr
    _gone(store)


def test_flags_with_yes(store: StoreHandle) -> None:
    _fill(store)
    cleared = store.run("teardown", "--clear-data", "--yes")
    assert cleared.exit_code == 0, cleared
    _empty(store)
    deleted = store.run("teardown", "--delete", "--yes", "--format", "json")
    assert deleted.exit_code == 0, deleted
    steps = deleted.json()["steps"]
    assert [s["step"] for s in steps] == ["delete"]
    _gone(store)
    # Set up again from nothing: teardown left no half-deleted store behind.
    store.setup()
    assert _counts(store) == (0, 0)


def test_flags_on_a_terminal_still_ask(store: StoreHandle) -> None:
    _fill(store)
    result = store.run("teardown", "--delete", keys=f"y{_typed_name(store)}\r")
    assert result.exit_code == 0, result
    _gone(store)


def test_yes_needs_named_steps_and_streams_are_dynamodb_only(store: StoreHandle) -> None:
    _fill(store)
    assert store.run("teardown", "--yes").exit_code == 2
    if store.backend != "dynamodb":
        result = store.run("teardown", "--disable-streams", "--yes")
        assert result.exit_code == 2, result
        assert "applies to dynamodb stores" in result.stderr
        recreate = store.run("clear", "--recreate", "--yes")
        assert recreate.exit_code == 2, recreate
    _intact(store)


@needs_backup
def test_interactive_backup_only(store: StoreHandle, in_tmp: Path) -> None:
    _fill(store)
    before = set(in_tmp.iterdir())
    result = store.run("teardown", keys=f"{DOWN} \ry")
    assert result.exit_code == 0, result
    assert "backed up 12 sessions and 36 events" in result.stderr
    written = [p for p in set(in_tmp.iterdir()) - before if not p.name.endswith(("-wal", "-shm"))]
    assert len(written) == 1 and written[0].stat().st_size > 0, written
    _intact(store)


@needs_backup
def test_all_backs_up_first_then_deletes(store: StoreHandle, tmp_path: Path) -> None:
    _fill(store)
    target = tmp_path / "before-teardown.backup"
    result = store.run(
        "teardown", "--all", "--yes", "--backup-file", str(target), "--format", "json"
    )
    assert result.exit_code == 0, result
    steps = [s["step"] for s in result.json()["steps"]]
    assert steps[0] == "backup" and steps[-1] == "delete" and "clear" not in steps
    assert target.exists() and target.stat().st_size > 0
    _gone(store)


@needs_backup
def test_interactive_all(store: StoreHandle, in_tmp: Path) -> None:
    _fill(store)
    streams = DOWN + " " if store.backend == "dynamodb" else ""
    keys = f" {DOWN} {streams}{DOWN} \ry{_typed_name(store)}\r"
    result = store.run("teardown", keys=keys)
    assert result.exit_code == 0, result
    _gone(store)


def _foreign_tables(store: StoreHandle) -> None:
    """Tables named like the layout's that belong to something else."""
    if store.backend == "sqlite":
        import sqlite3

        with sqlite3.connect(store.name) as conn:
            conn.execute("CREATE TABLE sessions (id INTEGER PRIMARY KEY, owner TEXT)")
            conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT)")
            conn.execute("INSERT INTO sessions (owner) VALUES ('someone else')")
        conn.close()
    elif store.backend == "postgres":
        import asyncio

        import asyncpg

        async def make() -> None:
            conn = await asyncpg.connect(store.url)
            await conn.execute("CREATE TABLE sessions (id int PRIMARY KEY, owner text)")
            await conn.execute("CREATE TABLE events (id int PRIMARY KEY, what text)")
            await conn.execute("INSERT INTO sessions VALUES (1, 'someone else')")
            await conn.close()

        asyncio.run(make())
    else:
        from tests.dynamodb_fixtures import client

        endpoint = store.url.split("endpoint=")[1]
        c = client(endpoint)
        for name in (store.name, f"{store.name}-events"):
            c.create_table(
                TableName=name,
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        c.put_item(TableName=store.name, Item={"pk": {"S": "someone else"}})


def test_tables_of_another_layout_are_left_alone(store: StoreHandle) -> None:
    _foreign_tables(store)
    for args in (["clear", "--yes"], ["teardown", "--delete", "--yes"]):
        result = store.run(*args)
        assert result.exit_code == 3, result
        assert "another layout" in result.stderr or "not in the session layout" in result.stderr
    preview = store.run("clear", "--dry-run", "--format", "json")
    assert preview.exit_code == 0, preview
    assert preview.json()["tables"][0]["rows"] == 1


@needs_backup
def test_a_failed_backup_stops_teardown_before_anything_is_destroyed(
    store: StoreHandle, tmp_path: Path
) -> None:
    _fill(store)
    target = tmp_path / "no-such-directory" / "x.backup"
    result = store.run("teardown", "--all", "--yes", "--backup-file", str(target))
    assert result.exit_code != 0, result
    assert not target.exists()
    _intact(store)
