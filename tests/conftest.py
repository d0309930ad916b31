"""Fixtures: a fresh store per test on every backend the parity suite runs on.

Backends with a server (PostgreSQL, DynamoDB Local, Redis) start it once per session in their own
fixture module. With ``CI`` set, a backend that cannot start fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import Result, run_cli
from tests.server_writers import ServerWriter, SqliteServerWriter

# Fixture modules of the backends that run a server.
pytest_plugins = [
    "tests.pg_fixtures",
    "tests.dynamodb_fixtures",
    "tests.redis_fixtures",
    "tests.fastmcp_server",
]

# Backends that have joined the parity suite.
PARITY_BACKENDS = ["sqlite", "postgres", "dynamodb"]


def unavailable(reason: str) -> None:
    """Skip locally, fail under CI: a backend that cannot start is a failure there."""
    if os.environ.get("CI"):
        pytest.fail(f"backend unavailable under CI: {reason}")
    pytest.skip(reason)


@dataclass
class StoreHandle:
    """A fresh, not yet set up store for one test."""

    backend: str
    url: str
    writer_factory: Callable[[], ServerWriter]
    name: str  # file, database or table name
    # Variables every run gets (e.g. DynamoDB Local's dummy credentials); a test's own
    # ``environ=`` is laid over them.
    environ: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, **kwargs: object) -> Result:
        if self.environ:
            extra = kwargs.get("environ") or {}
            kwargs["environ"] = {**self.environ, **extra}  # type: ignore[dict-item]
        return run_cli([*args, "--url", self.url], **kwargs)  # type: ignore[arg-type]

    def setup(self) -> None:
        result = self.run("setup", "--quiet")
        assert result.exit_code == 0, result

    def writer(self) -> ServerWriter:
        return self.writer_factory()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> StoreHandle:
    path = tmp_path / f"store-{uuid.uuid4().hex[:8]}.db"
    return StoreHandle(
        backend="sqlite",
        url=f"sqlite:///{path}",
        writer_factory=lambda: SqliteServerWriter(str(path)),
        name=str(path),
    )


@pytest.fixture(params=PARITY_BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[StoreHandle]:
    """The parity fixture: the same test runs once per backend."""
    yield request.getfixturevalue(f"{request.param}_store")


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path
