"""BatchWriteItem on a lean path: bulk writes without botocore's per-call machinery.

Clear, expire, restore and demo send DynamoDB thousands of BatchWriteItem calls. Through the
boto3 client each costs about 2 ms of client CPU (serialising through the service model,
event hooks, the user agent, the retry handler, parsing), which on a small host is taken from
the service itself when that runs beside mcpstore (DynamoDB Local). This path sends the same
JSON document over one persistent HTTP connection per thread, signed (AWS Signature Version 4)
with the credentials of the store's botocore session, refreshed as botocore refreshes them:
about 0.5 ms per call. A test holds the signature equal to botocore's own signer's.

It is used only where it behaves like the client would: an http or https endpoint (the one
botocore resolved) at the root path, no proxy configured, and the CA bundle botocore would
use. Everything else (every other call, and bulk writes behind a proxy) goes through the
boto3 client.
Errors come back as botocore's ClientError, so the store translates them as it does the
client's; throttling and server errors are retried with backoff (10 attempts, as the client's
standard mode), and so are dropped connections, because a batch of whole-item puts or deletes
can be sent again safely.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import threading
import time
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

RETRY_ERRORS = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
}
MAX_ATTEMPTS = 10
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
TARGET = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
DEFAULT_PORTS = {"http": 80, "https": 443}


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret_key: str, day: str, region: str) -> bytes:
    """SigV4's derived key for one day, region and the dynamodb service."""
    key = _hmac(("AWS4" + secret_key).encode(), day)
    return _hmac(_hmac(_hmac(key, region), "dynamodb"), "aws4_request")


def signed_headers(
    credentials: Any,
    region: str,
    host: str,
    operation: str,
    body: bytes,
    amz_date: str,
    key: bytes | None = None,
) -> dict[str, str]:
    """The headers of one signed POST to ``/`` (``credentials``: frozen, ``amz_date``:
    YYYYMMDDTHHMMSSZ in UTC; ``key``: signing_key() for that day, if already derived)."""
    headers = {
        "content-type": CONTENT_TYPE,
        "host": host,
        "x-amz-date": amz_date,
        "x-amz-target": TARGET + operation,
    }
    if credentials.token:
        headers["x-amz-security-token"] = credentials.token
    names = sorted(headers)
    signed = ";".join(names)
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            "".join(f"{name}:{headers[name]}\n" for name in names),
            signed,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    day = amz_date[:8]
    scope = f"{day}/{region}/dynamodb/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = key or signing_key(credentials.secret_key, day, region)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return headers


def proxy_configured(*environs: Mapping[str, str] | None) -> bool:
    """Whether any of these environments names a proxy (any letter case)."""
    for environ in environs:
        for key, value in (environ or {}).items():
            if key.lower() in PROXY_VARIABLES and value:
                return True
    return False


class Wire:
    """Signed JSON calls to one DynamoDB endpoint, one keep-alive connection per thread."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        credentials: Any,
        *,
        timeout: float,
        ca_bundle: str | None = None,
        user_agent: str = "mcpstore",
    ) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint_url!r}")
        if parts.path not in ("", "/") or parts.query or parts.username:
            raise ValueError(f"not an endpoint at the root path: {endpoint_url!r}")
        self.endpoint_url = endpoint_url
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        netloc = parts.netloc.lower()
        if parts.port == DEFAULT_PORTS[parts.scheme]:
            netloc = netloc.rsplit(":", 1)[0]
        self.host_header = netloc
        self.region = region
        self.credentials = credentials
        self.timeout = timeout
        self.ca_bundle = ca_bundle
        self.user_agent = user_agent
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        self._ssl: Any = None
        self._key: tuple[str, str, bytes] = ("", "", b"")  # (secret, day, derived key)

    # -- connections --------------------------------------------------------------------------
    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        import http.client

        if self.https:
            import ssl

            with self._lock:
                if self._ssl is None:
                    self._ssl = ssl.create_default_context(cafile=self.ca_bundle)
            conn = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self._ssl
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()

    # -- one call ----------------------------------------------------------------------------
    def _headers(self, operation: str, body: bytes) -> dict[str, str]:
        frozen = self.credentials.get_frozen_credentials()
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        secret, day, key = self._key
        if secret != frozen.secret_key or day != amz_date[:8]:
            key = signing_key(frozen.secret_key, amz_date[:8], self.region)
            self._key = (frozen.secret_key, amz_date[:8], key)
        headers = signed_headers(
            frozen, self.region, self.host_header, operation, body, amz_date, key
        )
        headers["user-agent"] = self.user_agent
        return headers

    def _send(self, operation: str, body: bytes) -> tuple[int, bytes, str | None]:
        conn = self._connection()
        conn.request("POST", "/", body, self._headers(operation, body))
        response = conn.getresponse()
        data = response.read()
        if response.getheader("Connection", "").lower() == "close":
            self._drop_connection()
        return response.status, data, response.getheader("x-amz-crc32")

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One DynamoDB operation; retries what the client's standard mode retries."""
        import http.client

        import orjson
        from botocore.exceptions import ClientError, EndpointConnectionError

        body = orjson.dumps(params)
        delay = 0.05
        for attempt in range(1, MAX_ATTEMPTS + 1):
            last = attempt == MAX_ATTEMPTS
            try:
                status, data, crc = self._send(operation, body)
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                if last:
                    raise EndpointConnectionError(endpoint_url=self.endpoint_url) from exc
                time.sleep(random.uniform(0, delay))
                delay = min(delay * 2, 20.0)
                continue
            if crc is not None and crc.isdigit() and zlib.crc32(data) != int(crc):
                if last:
                    raise ClientError(
                        {"Error": {"Code": "CRC32CheckFailed", "Message": "response damaged"}},
                        operation,
                    )
                continue
            if status == 200:
                doc: dict[str, Any] = orjson.loads(data)
                return doc
            error = _error(status, data)
            if last or (error["Code"] not in RETRY_ERRORS and status < 500):
                raise ClientError(
                    {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
                )
            time.sleep(random.uniform(0, delay))
            delay = min(delay * 2, 20.0)
        raise AssertionError("unreachable")  # pragma: no cover


def _error(status: int, data: bytes) -> dict[str, str]:
    """The error code and message of a failed call's JSON body."""
    import orjson

    code, message = "", ""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict):
        code = str(doc.get("__type") or doc.get("code") or "").rsplit("#", 1)[-1]
        message = str(doc.get("message") or doc.get("Message") or "")
    if not code:
        code = "InternalServerError" if status >= 500 else f"HTTP{status}"
    return {"Code": code, "Message": message}
