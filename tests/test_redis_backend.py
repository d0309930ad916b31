"""The Redis backend against the real thing: a FastMCP 4.2.3 server writing through
py-key-value's RedisStore into the test redis-server, and mcpstore reading it: URLs with a
user and password (an ACL user of its own, deleted afterwards), ``REDIS_URL``, the layout
options, and the commands mcpstore sends (watched with ``MONITOR``): SCAN, MGET, UNLINK and
scripts, never KEYS or FLUSHDB.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fastmcp_raw import RawKV, new_event_id, now
from tests.fastmcp_server import (
    EVENTS,
    STATE,
    STREAMS,
    FastMCPServer,
    FastMCPStore,
    by_collection,
    drive_legacy,
)
from tests.helpers import Result, run_cli
from tests.test_fastmcp_layout import (
    check_listed,
    ok,
    put_secret,
    read_backup,
    scope_of,
    secret_free,
    start,
    tools_call,
)

ACL_USER = "mcpstore_acl_test"


@pytest.fixture
def acl_user(redis_server: Any) -> Iterator[tuple[str, str]]:
    """An ACL user with a password on the test redis-server (``ACL SETUSER``), deleted at the
    end; the default user is left as it was."""
    password = f"pw-{uuid.uuid4().hex}"
    admin = redis_server.client()
    try:
        admin.execute_command(
            "ACL", "SETUSER", ACL_USER, "reset", "on", f">{password}", "~*", "&*", "+@all"
        )
        yield ACL_USER, password
    finally:
        with contextlib.suppress(Exception):
            admin.execute_command("ACL", "DELUSER", ACL_USER)
        admin.close()


def with_credentials(url: str, user: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{user}:{password}@{rest}"


def never_shows(password: str, *results: Result) -> None:
    for result in results:
        assert password not in result.stdout and password not in result.stderr, result


def test_user_and_password_in_the_url(
    fastmcp_redis_store: FastMCPStore,
    fastmcp_servers: Any,
    acl_user: tuple[str, str],
    tmp_path: Path,
) -> None:
    """``redis://USER:PASSWORD@…``: the server writes and mcpstore reads through an ACL user;
    the password appears in no output (``***`` where the URL is shown), not in a backup file,
    not in an error; a wrong password is one sentence and exit 1; ``REDIS_URL`` with
    ``--backend redis`` reads the same store; ``--layout sessions`` is refused (2)."""
    user, password = acl_user
    plain = fastmcp_redis_store
    url = with_credentials(plain.url, user, password)
    masked = with_credentials(plain.url, user, "***")
    server = fastmcp_servers("redis", url=url, events_ttl=300, state_ttl=300)
    seen = drive_legacy(server.url, announce=False, interrupt=False)
    server.stop()
    entries = plain.entries()
    assert {e.collection for e in entries} == {EVENTS, STREAMS, STATE}
    scope = scope_of(next(e.key for e in entries if e.collection == STREAMS))

    def run(*args: str, **kwargs: Any) -> Result:
        return run_cli([*args, "--url", url], **kwargs)

    results = [
        run("list", "-f", "json"),
        run("list", "-f", "table", width=200),
        run("show", scope[:8], "-f", "json"),
        run("show", str(seen.session_id), "-f", "table", width=200),
        run("stats", "-f", "json"),
        run("tail-events", "--no-follow", "-f", "jsonl"),
        run("expire", "--dry-run", "-f", "json"),
        run("setup"),
        run("setup", "--check"),
        run("clear", "--dry-run", "-f", "json"),
        run("backup", "-o", str(tmp_path / "auth.mcpbackup.zst")),
    ]
    for result in results:
        ok(result)
    never_shows(password, *results)
    check_listed(results[0], entries)
    assert results[4].json()["store"] == masked
    assert results[4].json()["entries"][EVENTS] == sum(e.collection == EVENTS for e in entries)
    assert "nothing to create" in results[7].stdout + results[7].stderr
    header, records, text = read_backup(tmp_path / "auth.mcpbackup.zst")
    assert password not in text and header["source"]["store"] == masked
    assert len(records) == len(entries)

    # REDIS_URL with --backend redis: the same store, the same sessions.
    from_env = run_cli(["list", "-f", "json", "--backend", "redis"], environ={"REDIS_URL": url})
    assert ok(from_env).json() == results[0].json()
    never_shows(password, from_env)
    # The layout of a Redis store is FastMCP's: --layout fastmcp is accepted, others refused.
    ok(run("list", "-f", "json", "--layout", "fastmcp"))
    refused = run("list", "--layout", "sessions")
    assert refused.exit_code == 2 and refused.stdout == "", refused
    never_shows(password, refused)

    # A wrong password: one sentence naming the store (password masked), exit 1.
    wrong = f"wrong-{uuid.uuid4().hex}"
    bad_url = with_credentials(plain.url, user, wrong)
    for args in (["list"], ["stats", "-f", "json"], ["list", "--debug"]):
        bad = run_cli([*args, "--url", bad_url])
        assert bad.exit_code == 1, bad
        assert bad.stdout == ""
        never_shows(wrong, bad)
        never_shows(password, bad)
        if "--debug" not in args:
            lines = bad.stderr.strip().splitlines()
            assert len(lines) == 1, bad
            assert with_credentials(plain.url, user, "***") in lines[0]
            assert "password" in lines[0]
    # Nothing listening: the same, and the password still masked.
    closed = re.sub(r":\d+/", ":1/", url)
    unreachable = run_cli(["list", "--url", closed, "--connect-timeout", "2"])
    assert unreachable.exit_code == 1 and unreachable.stdout == "", unreachable
    assert len(unreachable.stderr.strip().splitlines()) == 1, unreachable
    never_shows(password, unreachable)
    assert "***" in unreachable.stderr


# -- what mcpstore sends ------------------------------------------------------------------------


class Monitor:
    """``MONITOR`` on a raw redis-py connection, in a thread: (db, client, command, args) of
    every command the server runs until :meth:`stop`."""

    LINE = re.compile(r'^\S+ \[(\d+) ([^\]]*)\] "([^"]*)"(.*)$', re.S)

    def __init__(self, redis_server: Any) -> None:
        self.server = redis_server
        self.client = redis_server.client(socket_timeout=1)
        self.sentinel = f"mcpstore-monitor-{uuid.uuid4().hex}"
        self.seen: list[tuple[int, str, str, str]] = []
        self.conn = self.client.connection_pool.get_connection()
        self.conn.send_command("MONITOR")
        assert self.conn.read_response() in (b"OK", "OK")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import redis

        while True:
            try:
                line = self.conn.read_response()
            except redis.TimeoutError:
                continue
            except Exception:
                return
            text = line.decode(errors="replace") if isinstance(line, bytes) else str(line)
            match = self.LINE.match(text)
            if match is None:
                continue
            db, who, command, rest = match.groups()
            if command.upper() == "ECHO" and self.sentinel in rest:
                return
            self.seen.append((int(db), who, command.upper(), rest))

    def stop(self) -> list[tuple[int, str, str, str]]:
        with self.server.client() as other:
            other.echo(self.sentinel)
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()
        self.conn.disconnect()
        self.client.close()
        return self.seen


def test_commands_sent_never_keys_nor_flushdb(
    fastmcp_redis_store: FastMCPStore,
    fastmcp_servers: Any,
    redis_server: Any,
    redis_db: Any,
    tmp_path: Path,
) -> None:
    """Every command mcpstore sends while it lists, shows, counts, tails, expires (a stream
    naming a missing event, an old event no stream lists), backs up, restores and clears,
    seen by ``MONITOR``: SCAN with MATCH and COUNT, MGET, scripts that compare before they
    change, UNLINK; never KEYS, FLUSHDB, FLUSHALL nor DEL."""
    store = fastmcp_redis_store
    raw = RawKV(store)
    server: FastMCPServer = start(fastmcp_servers, store, events_ttl=300, state_ttl=300)
    seen = drive_legacy(server.url, announce=False, interrupt=False)
    server.stop()
    coll = by_collection(store.entries())
    scope = scope_of(next(iter(coll[STREAMS])))
    progress_key = f"32:{scope}:{tools_call(seen)}"
    ids = coll[STREAMS][progress_key].value["event_ids"]
    raw.delete(EVENTS, ids[2])
    stray = new_event_id()
    raw.put(
        EVENTS,
        stray,
        {"event_id": stray, "stream_id": progress_key, "message": None},
        ttl=3600,
        created=now() - timedelta(minutes=5),
    )
    secret = "tok_" + uuid.uuid4().hex
    put_secret(raw, secret)
    backup = tmp_path / "redis.mcpbackup.zst"

    monitor = Monitor(redis_server)
    try:
        results = [
            store.run("list", "-f", "json"),
            store.run("show", scope, "-f", "json"),
            store.run("stats", "-f", "json"),
            store.run("tail-events", "--no-follow", "-f", "jsonl"),
            store.run("expire", "--dry-run", "-f", "json"),
            store.run("expire", "-f", "json"),
            store.run("backup", "--include-secrets", "-o", str(backup)),
            store.run("clear", "--yes"),
            store.run("restore", str(backup), "-f", "json"),
            store.run("clear", "--yes", "--all-collections"),
        ]
        time.sleep(0.2)
    finally:
        commands = monitor.stop()
    for result in results:
        ok(result)
    expired = results[5].json()
    assert (expired["trimmed"], expired["orphans"]) == (1, 1)
    # Restored: the server's entries less the event deleted by hand (the orphan is gone);
    # the token entry, which clear left, is left as it is (a merge writes with NX).
    restored = results[8].json()
    want = len(coll[EVENTS]) - 1 + len(coll[STREAMS]) + len(coll[STATE])
    assert (restored["sessions"], restored["skipped_sessions"]) == (want, 1)
    assert store.entries() == []

    mine = [c for c in commands if c[0] == redis_db.db]
    names = {c[2] for c in mine}
    assert not names & {"KEYS", "FLUSHDB", "FLUSHALL", "DEL"}, sorted(names)
    assert {"SCAN", "MGET", "UNLINK", "EVAL"} <= names, sorted(names)
    for _, _, command, rest in mine:
        if command == "SCAN":
            assert '"MATCH"' in rest.upper() and '"COUNT"' in rest.upper(), rest
    # The scripts' own writes: the orphan event unlinked and the stream list replaced.
    scripted = [(c[2], c[3]) for c in mine if c[1] == "lua"]
    assert any(cmd == "UNLINK" and stray in rest for cmd, rest in scripted), scripted
    assert any(cmd == "SET" and progress_key in rest for cmd, rest in scripted), scripted
    secret_free(secret, *results)
