"""Store URLs and the order in which a command finds its store.

Resolution order (first wins): ``--url``; ``--backend`` with that backend's usual environment
variables; ``MCPSTORE_URL``; the embedded default ``sqlite:///mcp_sessions.db``.
A password never leaves this module unmasked except through :attr:`StoreURL.raw`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from mcpstore_cli.errors import UsageError

BACKENDS = ("sqlite", "postgres", "dynamodb")
DEFAULT_URL = "sqlite:///mcp_sessions.db"
DEFAULT_SQLITE_PATH = "mcp_sessions.db"
DEFAULT_DYNAMODB_TABLE = "mcp-sessions"
DEFAULT_AWS_REGION = "us-east-1"
_DYNAMO_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,248}$")
_SECRET_PARAMS = {"password", "passwd", "pass", "secret", "aws_secret_access_key", "token"}
URL_FORMS = (
    "sqlite:///relative.db, sqlite:////abs/path.db, postgresql://user:pw@host:5432/db or "
    "dynamodb://TABLE?region=us-east-1"
)


@dataclass(frozen=True)
class StoreURL:
    """A parsed store address.

    ``raw`` keeps the text as given (it may hold a password: never print it); everything a
    person sees goes through :meth:`masked`.
    """

    backend: str
    raw: str = field(repr=False)
    path: str | None = None  # sqlite: file path as given (relative to the working directory)
    table: str | None = None  # dynamodb: sessions table name
    region: str | None = None
    endpoint: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    source: str = "--url"

    def masked(self) -> str:
        return mask_url(self.raw)

    def __str__(self) -> str:
        return self.masked()

    def __repr__(self) -> str:
        return f"StoreURL({self.masked()!r}, source={self.source!r})"

    @property
    def password(self) -> str | None:
        if self.backend != "postgres":
            return None
        parts = urlsplit(self.raw)
        if parts.password:
            return unquote(parts.password)
        for key, value in self.params:
            if key.lower() in _SECRET_PARAMS:
                return value
        return None

    @property
    def display_name(self) -> str:
        """The name a person types to confirm destroying it: file, database or table."""
        if self.backend == "sqlite":
            return self.path or DEFAULT_SQLITE_PATH
        if self.backend == "dynamodb":
            return self.table or DEFAULT_DYNAMODB_TABLE
        return (urlsplit(self.raw).path or "/").lstrip("/") or (urlsplit(self.raw).username or "")


def mask_url(text: str) -> str:
    """Replace any password in a URL (userinfo or secret query parameter) by ``***``."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", text)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{hostport}"
    query = parts.query
    if query:
        pairs = []
        for item in query.split("&"):
            key, eq, _value = item.partition("=")
            if eq and unquote(key).lower() in _SECRET_PARAMS:
                pairs.append(f"{key}=***")
            else:
                pairs.append(item)
        query = "&".join(pairs)
    out = f"{parts.scheme}://{netloc}{parts.path}"
    if query:
        out += f"?{query}"
    if parts.fragment:
        out += f"#{parts.fragment}"
    return out


def parse_store_url(text: str, *, source: str = "--url") -> StoreURL:
    """Parse one of the URL forms of the CLI contract; raise :class:`UsageError` otherwise."""
    raw = text.strip()
    if not raw:
        raise UsageError(f"The store URL from {source} is empty; use {URL_FORMS}.")
    scheme, sep, rest = raw.partition("://")
    if not sep:
        raise UsageError(f"{mask_url(raw)!r} from {source} is not a store URL; use {URL_FORMS}.")
    scheme = scheme.lower()
    if scheme in ("sqlite", "sqlite3", "sqlite+aiosqlite"):
        return _parse_sqlite(raw, rest, source)
    if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        return _parse_postgres(raw, source)
    if scheme == "dynamodb":
        return _parse_dynamodb(raw, source)
    raise UsageError(f"Unknown store type {scheme!r} in the URL from {source}; use {URL_FORMS}.")


def _parse_sqlite(raw: str, rest: str, source: str) -> StoreURL:
    path, _, query = rest.partition("?")
    if not path.startswith("/"):
        raise UsageError(
            f"{mask_url(raw)!r} from {source} names a host; SQLite URLs are "
            "sqlite:///relative.db or sqlite:////absolute/path.db."
        )
    path = unquote(path[1:])
    if not path or path.endswith("/"):
        raise UsageError(f"{raw!r} from {source} names no database file.")
    if path == ":memory:":
        raise UsageError("An in-memory SQLite database is gone when mcpstore exits; name a file.")
    if "\x00" in path:
        raise UsageError(f"The SQLite path from {source} contains a NUL byte.")
    params = tuple(parse_qsl(query, keep_blank_values=True))
    return StoreURL(backend="sqlite", raw=raw, path=path, params=params, source=source)


def _parse_postgres(raw: str, source: str) -> StoreURL:
    try:
        parts = urlsplit(raw)
        _ = parts.port  # validates the port
    except ValueError as exc:
        raise UsageError(
            f"{mask_url(raw)!r} from {source} is not a valid PostgreSQL URL: {exc}."
        ) from None
    if parts.path.count("/") > 1:
        raise UsageError(f"{mask_url(raw)!r} from {source} has more than one database name.")
    params = tuple(parse_qsl(parts.query, keep_blank_values=True))
    return StoreURL(backend="postgres", raw=raw, params=params, source=source)


def _parse_dynamodb(raw: str, source: str) -> StoreURL:
    parts = urlsplit(raw)
    table = unquote(parts.netloc + parts.path).strip("/")
    if not table:
        table = DEFAULT_DYNAMODB_TABLE
    if not _DYNAMO_TABLE.match(table):
        raise UsageError(
            f"{table!r} from {source} is not a DynamoDB table name "
            "(3 to 248 characters of letters, digits, '_', '-' and '.')."
        )
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(params) - {"region", "endpoint", "profile"})
    if unknown:
        raise UsageError(
            f"Unknown DynamoDB URL parameter {unknown[0]!r} from {source}; "
            "use region, endpoint or profile."
        )
    endpoint = params.get("endpoint") or None
    if endpoint and not re.match(r"^https?://[^/\s]+", endpoint):
        raise UsageError(f"The DynamoDB endpoint {endpoint!r} from {source} is not an http(s) URL.")
    return StoreURL(
        backend="dynamodb",
        raw=raw,
        table=table,
        region=params.get("region") or None,
        endpoint=endpoint,
        params=tuple(sorted(params.items())),
        source=source,
    )


def resolve_store_url(url: str | None, backend: str | None, environ: Mapping[str, str]) -> StoreURL:
    """Find the store a command works on, in the order of the CLI contract."""
    if backend is not None and backend not in BACKENDS:
        raise UsageError(f"Unknown backend {backend!r}; choose sqlite, postgres or dynamodb.")
    if url is not None:
        parsed = parse_store_url(url, source="--url")
        if backend is not None and backend != parsed.backend:
            raise UsageError(
                f"--url names a {parsed.backend} store but --backend says {backend}; "
                "give one of them."
            )
        return parsed
    if backend == "sqlite":
        path = environ.get("SQLITE_PATH") or DEFAULT_SQLITE_PATH
        src = "SQLITE_PATH" if environ.get("SQLITE_PATH") else "--backend sqlite"
        return parse_store_url(f"sqlite:///{quote(path, safe='/:')}", source=src)
    if backend == "postgres":
        dsn = environ.get("DATABASE_URL")
        if not dsn:
            raise UsageError(
                "--backend postgres needs DATABASE_URL (postgresql://user:pw@host/db) or --url."
            )
        parsed = parse_store_url(dsn, source="DATABASE_URL")
        if parsed.backend != "postgres":
            raise UsageError(f"DATABASE_URL names a {parsed.backend} store, not PostgreSQL.")
        return parsed
    if backend == "dynamodb":
        table = environ.get("MCP_SESSION_TABLE") or DEFAULT_DYNAMODB_TABLE
        if not _DYNAMO_TABLE.match(table):
            raise UsageError(f"MCP_SESSION_TABLE {table!r} is not a DynamoDB table name.")
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        endpoint = environ.get("AWS_ENDPOINT_URL_DYNAMODB") or environ.get("AWS_ENDPOINT_URL")
        query = []
        if region:
            query.append(f"region={quote(region)}")
        if endpoint:
            query.append(f"endpoint={quote(endpoint, safe=':/')}")
        text = f"dynamodb://{table}" + (("?" + "&".join(query)) if query else "")
        return parse_store_url(text, source="--backend dynamodb")
    env_url = environ.get("MCPSTORE_URL")
    if env_url:
        return parse_store_url(env_url, source="MCPSTORE_URL")
    return parse_store_url(DEFAULT_URL, source="the default")
