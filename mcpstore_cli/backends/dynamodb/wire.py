"""BatchWriteItem on a lean path: bulk writes without botocore's per-call machinery.

Clear, expire, restore and demo send DynamoDB thousands of BatchWriteItem calls. Through the
boto3 client each costs about 2 ms of client CPU (serialising through the service model,
event hooks, the user agent, the retry handler, parsing), which on a small host is taken from
the service itself when that runs beside mcpstore (DynamoDB Local). This path sends the same
JSON document over one persistent HTTP connection per thread, signed (AWS Signature Version 4)
with the credentials of the store's botocore session, refreshed as botocore refreshes them:
about 0.6 ms per call. A test holds the signature equal to botocore's own signer's.

It is used only where it behaves like the client would: an http or https endpoint (the one
botocore resolved) at the root path, no proxy configured, and the CA bundle botocore would
use. Everything else (every other call, and bulk writes behind a proxy) goes through the
boto3 client. Errors come back as botocore's ClientError, so the store translates them as it
does the client's. What the client's standard mode retries (throttling, transient and server
errors) is retried with backoff, 10 attempts in all, and so are dropped connections and
damaged responses: a batch of whole-item puts or deletes can be sent again safely.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import threading
import time
import weakref
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

# What the client's standard retry mode retries (throttling and transient codes), the error
# BatchWriteItem models as retryable, and DynamoDB's server-side failures.
RETRY_ERRORS = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
    "ReplicatedWriteConflictException",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
}
MAX_ATTEMPTS = 10
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
        headers["x-amz-security-token"] = " ".join(str(credentials.token).split())
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


def proxy_configured(endpoint_url: str, environ: Mapping[str, str] | None) -> bool:
    """Whether the client would go through a proxy to this endpoint (botocore reads the
    process's proxy settings), or ``environ`` (the store's own variables) names one."""
    from botocore.utils import get_environ_proxies

    if get_environ_proxies(endpoint_url):
        return True
    return any(
        key.lower().endswith("_proxy") and key.lower() != "no_proxy" and value
        for key, value in (environ or {}).items()
    )


class Wire:
    """Signed JSON calls to one DynamoDB endpoint, one keep-alive connection per thread."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        credentials: Any,
        *,
        connect_timeout: float,
        read_timeout: float,
        ca_bundle: str | None = None,
        user_agent: str = "mcpstore",
    ) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint_url!r}")
        if parts.path not in ("", "/") or parts.query or "@" in parts.netloc:
            raise ValueError(f"not a plain endpoint at the root path: {endpoint_url!r}")
        self.endpoint_url = endpoint_url
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        if parts.port is not None and parts.port != DEFAULT_PORTS[parts.scheme]:
            host = f"{host}:{parts.port}"
        self.host_header = host
        self.region = region
        self.credentials = credentials
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.ca_bundle = ca_bundle
        self.user_agent = user_agent
        self._local = threading.local()
        # Weak: a finished thread's connection goes (and its socket closes) with the thread.
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._ssl: Any = None
        self._key: tuple[str, str, bytes] = ("", "", b"")  # (secret, day, derived key)

    # -- connections --------------------------------------------------------------------------
    def _ssl_context(self) -> Any:
        """Verification as botocore's: the configured CA bundle (a file or a directory), else
        the bundle botocore ships or certifi's."""
        import ssl

        from botocore.httpsession import get_cert_path

        with self._lock:
            if self._ssl is None:
                path = get_cert_path(self.ca_bundle or True)  # type: ignore[arg-type,unused-ignore]
                if path is not None and os.path.isdir(path):
                    self._ssl = ssl.create_default_context(capath=path)
                else:
                    self._ssl = ssl.create_default_context(cafile=path)
            return self._ssl

    def _connection(self) -> Any:
        """This thread's connection, connected (connect timeout) and set to the read timeout."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            import http.client

            if self.https:
                conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.connect_timeout, context=self._ssl_context()
                )
            else:
                conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.connect_timeout
                )
            self._local.conn = conn
            with self._lock:
                self._connections.add(conn)
        sock = conn.sock  # a name, so conn.sock is not taken for None after connect()
        if sock is None:  # new, or closed by the server after the last response
            conn.connect()
            conn.sock.settimeout(self.read_timeout)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                self._connections.discard(conn)
            conn.close()

    def close(self) -> None:
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
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
        return response.status, data, response.getheader("x-amz-crc32")

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One DynamoDB operation; retries what the client's standard mode retries."""
        import http.client
        import ssl

        import orjson
        from botocore.exceptions import ClientError, EndpointConnectionError, SSLError

        try:
            body = orjson.dumps(params)
        except TypeError:  # e.g. a lone surrogate, which JSON can only carry escaped
            body = json.dumps(params, separators=(",", ":")).encode()
        delay = 0.05
        for attempt in range(1, MAX_ATTEMPTS + 1):
            last = attempt == MAX_ATTEMPTS
            try:
                status, data, crc = self._send(operation, body)
            except (ssl.SSLCertVerificationError, FileNotFoundError) as exc:
                self._drop_connection()
                raise SSLError(endpoint_url=self.endpoint_url, error=exc) from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                if last:
                    raise EndpointConnectionError(endpoint_url=self.endpoint_url) from exc
                time.sleep(random.uniform(0, delay))
                delay = min(delay * 2, 20.0)
                continue
            damaged = crc is not None and crc.isdigit() and zlib.crc32(data) != int(crc)
            if status == 200 and not damaged:
                try:
                    doc = orjson.loads(data)
                except orjson.JSONDecodeError:
                    damaged = True
                else:
                    if isinstance(doc, dict):
                        return doc
                    damaged = True
            if damaged:
                if last:
                    raise ClientError(
                        {"Error": {"Code": "DamagedResponse", "Message": "the response was "
                                   "damaged in transit (checksum or JSON)"}},
                        operation,
                    )  # fmt: skip
                continue
            error = _error(status, data)
            if last or (error["Code"] not in RETRY_ERRORS and status < 500):
                raise ClientError(
                    {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}},  # type: ignore[typeddict-item,unused-ignore]
                    operation,
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
