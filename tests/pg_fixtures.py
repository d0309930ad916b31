"""A throwaway PostgreSQL server for the tests (and the benchmark), and its server writer.

The server is started once per test session: as root through ``runuser -u postgres`` (initdb
refuses to run as root), in a ``tempfile.mkdtemp()`` directory owned by that user, listening on
a free loopback port only, with ``fsync=off``. It is stopped by its pid at the end. With
``MCPSTORE_TEST_POSTGRES_URL`` set (a superuser URL), that server is used instead.

Every test gets a database of its own (``CREATE DATABASE`` with a unique name).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from tests.conftest import StoreHandle, unavailable
from tests.server_writers import compact

PASSWORD_USER = "mcp_pw"
PASSWORD = "pw-Zq7-s3cret"


def _bindir() -> str | None:
    explicit = os.environ.get("MCPSTORE_PG_BINDIR")
    if explicit:
        return explicit
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    preferred = [c for c in candidates if "/15/" in c] + candidates
    for directory in preferred:
        if os.path.exists(os.path.join(directory, "initdb")):
            return directory
    found = shutil.which("initdb")
    return os.path.dirname(found) if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_database(
    url: str, database: str, *, user: str | None = None, password: str | None = None
) -> str:
    """The same server URL naming another database (and optionally another user)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if user is not None:
        hostport = netloc.rpartition("@")[2]
        cred = quote(user, safe="")
        if password is not None:
            cred += ":" + quote(password, safe="")
        netloc = f"{cred}@{hostport}"
    return urlunsplit((parts.scheme, netloc, "/" + quote(database, safe=""), parts.query, ""))


async def _execute(url: str, *statements: str) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        out = []
        for statement in statements:
            out.append(await conn.fetch(statement))
        return out
    finally:
        await conn.close()


class PgServer:
    """A PostgreSQL server the tests may create and drop databases on."""

    def __init__(self) -> None:
        self.base: str | None = None
        self.pid: int | None = None
        self.port: int | None = None
        self.admin_url = ""
        self.password_user: str | None = None  # a user that must give PASSWORD
        self.host = "127.0.0.1"

    # -- a server of our own -------------------------------------------------------------
    def start(self, settings: dict[str, str] | None = None) -> None:
        """initdb and start; ``settings`` are extra ``-c name=value`` server settings."""
        bindir = _bindir()
        if bindir is None:
            raise RuntimeError(
                "no PostgreSQL server binaries (initdb); run scripts/install-test-deps.sh"
            )
        as_root = os.geteuid() == 0
        prefix: list[str] = []
        owner = None
        if as_root:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root but there is no postgres user") from None
            prefix = ["runuser", "-u", "postgres", "--"]
        self.base = tempfile.mkdtemp(prefix="mcpstore-pg-")
        if owner is not None:
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
        data = os.path.join(self.base, "data")
        log = os.path.join(self.base, "server.log")
        self.port = _free_port()
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        subprocess.run(
            [
                *prefix,
                os.path.join(bindir, "initdb"),
                "-D",
                data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
            cwd=self.base,
        )
        hba = os.path.join(data, "pg_hba.conf")
        with open(hba, "w") as fh:
            fh.write(
                "local all all trust\n"
                f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"
                "host all all 127.0.0.1/32 trust\n"
            )
        if owner is not None:
            os.chown(hba, owner.pw_uid, owner.pw_gid)
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.base} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200 -c shared_buffers=128MB"
        )
        for name, value in (settings or {}).items():
            options += f" -c {name}={value}"
        self._start_cmd = [
            *prefix,
            os.path.join(bindir, "pg_ctl"),
            "-D",
            data,
            "-l",
            log,
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        ]
        self._env = env
        self._data = data
        self._launch()
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.execute(
            f"CREATE ROLE {PASSWORD_USER} LOGIN CREATEDB PASSWORD '{PASSWORD}'",
        )
        self.password_user = PASSWORD_USER

    def _launch(self) -> None:
        assert self.base is not None
        subprocess.run(
            self._start_cmd,
            check=True,
            capture_output=True,
            env=self._env,
            timeout=90,
            cwd=self.base,
        )
        with open(os.path.join(self._data, "postmaster.pid")) as fh:
            self.pid = int(fh.readline().strip())

    def _shutdown(self) -> None:
        """Fast shutdown of the server process (SIGINT), SIGKILL after 30 s."""
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.pid = None

    def restart(self, down_for: float = 0.0) -> None:
        """Stop the server (fast shutdown: clients are disconnected), stay down ``down_for``
        seconds, and start it again on the same port with the same data."""
        if self.base is None:
            raise RuntimeError("only a server these tests started can be restarted")
        self._shutdown()
        time.sleep(down_for)
        self._launch()

    def stop(self) -> None:
        self._shutdown()
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    # -- a server given by URL -----------------------------------------------------------
    def use(self, url: str) -> None:
        self.admin_url = url.replace("postgres://", "postgresql://", 1)
        parts = urlsplit(self.admin_url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 5432
        self.execute("SELECT 1")

    # -- helpers -------------------------------------------------------------------------
    def url(self, database: str, *, user: str | None = None, password: str | None = None) -> str:
        return with_database(self.admin_url, database, user=user, password=password)

    def execute(self, *statements: str, database: str = "postgres") -> list[Any]:
        return asyncio.run(_execute(self.url(database), *statements))

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class PgServerWriter:
    """The statements of turul's PostgresSessionStorage, through a plain asyncpg connection."""

    def __init__(self, url: str) -> None:
        import asyncpg

        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(asyncpg.connect(url, timeout=10))

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def session(
        self,
        session_id: str,
        *,
        created_at: int,
        last_activity: int,
        is_initialized: bool = True,
        client_capabilities: Any = None,
        server_capabilities: Any = None,
        state: dict | None = None,
        metadata: dict | None = None,
        raw_server_capabilities: str | None = None,
    ) -> None:
        if raw_server_capabilities is not None:
            # JSONB cannot hold SQLite's "" (no server capabilities): the server writes null.
            server_caps = raw_server_capabilities or "null"
        else:
            server_caps = compact(server_capabilities)
        self._run(
            self.conn.execute(
                "INSERT INTO sessions (session_id, client_capabilities, server_capabilities, "
                "state, created_at, last_activity, is_initialized, metadata, version) "
                "VALUES ($1, $2::jsonb, $3::jsonb, $4::jsonb, $5, $6, $7, $8::jsonb, 1) "
                "ON CONFLICT (session_id) DO UPDATE SET "
                "client_capabilities = EXCLUDED.client_capabilities, "
                "server_capabilities = EXCLUDED.server_capabilities, state = EXCLUDED.state, "
                "last_activity = EXCLUDED.last_activity, "
                "is_initialized = EXCLUDED.is_initialized, metadata = EXCLUDED.metadata, "
                "version = sessions.version + 1",
                session_id,
                None if client_capabilities is None else compact(client_capabilities),
                server_caps,
                compact(state or {}),
                created_at,
                last_activity,
                is_initialized,
                compact(metadata or {}),
            )
        )

    def event(
        self,
        session_id: str,
        *,
        timestamp: int,
        event_type: str,
        data: Any,
        retry: int | None = None,
    ) -> int:
        new_id = self._run(
            self.conn.fetchval(
                "INSERT INTO events (session_id, timestamp, event_type, data, retry) "
                "VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING id",
                session_id,
                timestamp,
                event_type,
                compact(data),
                retry,
            )
        )
        return int(new_id)

    def delete_session_raw(self, session_id: str) -> None:
        async def work() -> None:
            async with self.conn.transaction():
                # Skips the foreign key's cascade, leaving the events behind (needs superuser).
                await self.conn.execute("SET LOCAL session_replication_role = replica")
                await self.conn.execute("DELETE FROM sessions WHERE session_id = $1", session_id)

        self._run(work())

    def touch(self, session_id: str, last_activity: int) -> bool:
        status = self._run(
            self.conn.execute(
                "UPDATE sessions SET last_activity = $1, version = version + 1 "
                "WHERE session_id = $2",
                last_activity,
                session_id,
            )
        )
        return str(status) == "UPDATE 1"

    def corrupt_session(self, session_id: str, *, created_at: int, last_activity: int) -> bool:
        return False  # JSONB only holds valid JSON

    def close(self) -> None:
        try:
            self._run(self.conn.close())
        finally:
            self.loop.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer()
    given = os.environ.get("MCPSTORE_TEST_POSTGRES_URL")
    try:
        if given:
            server.use(given)
        else:
            server.start()
    except Exception as exc:
        detail = exc
        if isinstance(exc, subprocess.CalledProcessError):
            detail = (exc.stderr or b"").decode(errors="replace").strip() or exc
        server.stop()
        unavailable(f"cannot start PostgreSQL: {detail}")
    try:
        yield server
    finally:
        if not given:
            server.stop()


@pytest.fixture
def postgres_store(pg_server: PgServer) -> Iterator[StoreHandle]:
    name = pg_server.create_database()
    url = pg_server.url(name)
    writers: list[PgServerWriter] = []

    def make_writer() -> PgServerWriter:
        writer = PgServerWriter(url)
        writers.append(writer)
        return writer

    yield StoreHandle(backend="postgres", url=url, writer_factory=make_writer, name=name)
    for writer in writers:
        if not writer.loop.is_closed():
            with contextlib.suppress(Exception):
                writer.close()
    pg_server.drop_database(name)
