"""A throwaway Redis server for the tests.

``redis-server`` (Debian package ``redis-server``, installed by scripts/install-test-deps.sh) is
started once per test session on a free loopback port, without persistence (``--save ""
--appendonly no``), in the foreground, and stopped by its pid at the end. Every test that asks
for ``redis_db`` gets a logical database of its own (1..15 in turn, flushed before the test).
With ``CI`` set, a redis-server that is missing or cannot start fails the run.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import unavailable

HOST = "127.0.0.1"  # the only address these tests connect to
DATABASES = 16  # redis-server's default `databases`


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str | None:
    return os.environ.get("MCPSTORE_REDIS_SERVER") or shutil.which("redis-server")


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.base: str | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def url(self) -> str:
        """The URL of logical database 0."""
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def command(self) -> list[str]:
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]

    def start(self, timeout: float = 15.0) -> None:
        # Its working directory: a dump would land here (none is written: no save points).
        self.base = tempfile.mkdtemp(prefix="mcpstore-redis-")
        self.proc = subprocess.Popen(
            self.command(),
            cwd=self.base,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                out = (self.proc.stdout.read() if self.proc.stdout else b"").decode(
                    errors="replace"
                )
                self.stop()
                raise RuntimeError(f"redis-server exited: {out.strip()[-500:]}")
            try:
                with self.client() as probe:
                    if probe.ping():
                        break
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"redis-server did not answer within {timeout:g} s"
                    ) from None
                time.sleep(0.05)
        # Its log is not needed once it answers; stop reading it so the pipe never fills.
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=10)
            if self.proc.stdout is not None and not self.proc.stdout.closed:
                self.proc.stdout.close()
            self.proc = None
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    # -- helpers -------------------------------------------------------------------------
    def client(self, db: int = 0, **kwargs: Any) -> Any:
        """A redis-py client (``decode_responses=True`` unless told otherwise)."""
        import redis

        kwargs.setdefault("decode_responses", True)
        kwargs.setdefault("socket_timeout", 10)
        return redis.Redis(host=HOST, port=self.port, db=db, **kwargs)

    def enable_keyspace_notifications(self, flags: str = "KEA") -> None:
        """``CONFIG SET notify-keyspace-events <flags>`` (server-wide; "" turns them off)."""
        with self.client() as c:
            c.config_set("notify-keyspace-events", flags)

    def disable_keyspace_notifications(self) -> None:
        self.enable_keyspace_notifications("")

    def keyspace_notifications(self) -> str:
        with self.client() as c:
            return str(c.config_get("notify-keyspace-events").get("notify-keyspace-events", ""))

    def flushdb(self, db: int) -> None:
        with self.client(db) as c:
            c.flushdb()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = redis_server_binary()
    if binary is None:
        unavailable("redis-server is not installed (run scripts/install-test-deps.sh)")
        return
    server = RedisServer(binary)
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        unavailable(f"redis-server cannot start: {exc}")
        return
    try:
        yield server
    finally:
        server.stop()


@dataclass
class RedisDB:
    """One logical database of the session's redis-server, empty when the test starts."""

    server: RedisServer
    db: int

    @property
    def url(self) -> str:
        return self.server.url_for(self.db)

    def client(self, **kwargs: Any) -> Any:
        return self.server.client(self.db, **kwargs)


_next_db = itertools.cycle(range(1, DATABASES))


@pytest.fixture
def redis_db(redis_server: RedisServer) -> Iterator[RedisDB]:
    """A fresh, empty logical database (1..15 in turn; 0 is left to tests that ask for it)."""
    handle = RedisDB(redis_server, next(_next_db))
    redis_server.flushdb(handle.db)
    try:
        yield handle
    finally:
        with contextlib.suppress(Exception):
            redis_server.flushdb(handle.db)
        with contextlib.suppress(Exception):
            redis_server.disable_keyspace_notifications()
