"""Store URLs and the order in which a command finds its store.

Resolution order (first wins): ``--url``; ``--backend`` with that backend's usual environment
variables; ``MCPSTORE_URL``; the embedded default ``sqlite:///mcp_sessions.db``. ``--url`` and
``MCPSTORE_URL`` also take a plain path, which names a SQLite file.
A password never leaves this module unmasked except through :attr:`StoreURL.raw`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from mcpstore_cli.errors import UsageError

BACKENDS = ("sqlite", "postgres", "dynamodb", "redis")
DEFAULT_URL = "sqlite:///mcp_sessions.db"
DEFAULT_SQLITE_PATH = "mcp_sessions.db"
DEFAULT_DYNAMODB_TABLE = "mcp-sessions"
DEFAULT_AWS_REGION = "us-east-1"
_DYNAMO_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,248}$")
_SECRET_PARAMS = {
    "password",
    "passwd",
    "pass",
    "secret",
    "sslpassword",
    "aws_secret_access_key",
    "token",
}
# A secret ``key=value`` in a URL's query or in a libpq-style "key=value ..." string.
_SECRET_VALUE = re.compile(
    r"((?:^|[\s?&;])(?:" + "|".join(sorted(_SECRET_PARAMS)) + r")\s*=\s*)('[^']*'|[^\s&#;]*)",
    re.IGNORECASE,
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
SQLITE_SCHEMES = ("sqlite", "sqlite3", "sqlite+aiosqlite")
POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+asyncpg")
DYNAMODB_SCHEMES = ("dynamodb",)
REDIS_SCHEMES = ("redis", "rediss", "valkey", "valkeys")
KNOWN_SCHEMES = SQLITE_SCHEMES + POSTGRES_SCHEMES + DYNAMODB_SCHEMES + REDIS_SCHEMES
# Examples in messages: placeholders in capitals, never a password that masking would turn
# into *** (mask_url leaves exactly these alone).
POSTGRES_FORM = "postgresql://USER:PASSWORD@HOST:5432/DB"
DYNAMODB_FORM = "dynamodb://TABLE?region=us-east-1"
REDIS_FORM = "redis://HOST:6379/0"
SQLITE_FORMS = "a path such as ./mcp_sessions.db, sqlite:///relative.db or sqlite:////abs/path.db"
URL_FORMS = f"{SQLITE_FORMS}, {POSTGRES_FORM}, {DYNAMODB_FORM} or {REDIS_FORM}"
EXAMPLES = frozenset({POSTGRES_FORM, DYNAMODB_FORM, REDIS_FORM})
_TRAILING = ".,;:!?)]'\""
# "user:password@host..." with no scheme in front.
_USERINFO = re.compile(r"^[^/:@\s]*:[^@]*@")
# libpq keywords: "host=db dbname=app ..." is a connection string, not a file name.
_CONNINFO = re.compile(r"(?:^|\s)(?:host|hostaddr|port|dbname|user|password|sslmode)\s*=", re.I)


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
        if self.backend not in ("postgres", "redis"):
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
        if self.backend == "redis":
            parts = urlsplit(self.raw)
            where = parts.netloc.rpartition("@")[2] or "localhost"
            return f"{where}/{(parts.path or '/').lstrip('/') or '0'}"
        return (urlsplit(self.raw).path or "/").lstrip("/") or (urlsplit(self.raw).username or "")


def mask_url(text: str) -> str:
    """The text with any password replaced by ``***`` and nothing else changed.

    Masked: the password of a URL's userinfo (everything between the first ``:`` after
    ``://`` and the last ``@``, so that a password holding ``/``, ``?`` or ``@`` is hidden
    whole) and the value of a secret parameter (``password=``, ``token=``, ...) in a query
    or a libpq-style string. The examples this module prints (:data:`EXAMPLES`) hold
    placeholders, not passwords, and are left as they are.
    """
    if text.rstrip(_TRAILING) in EXAMPLES:
        return text
    head, sep, rest = text.partition("://")
    if not sep:
        # No "://": a known scheme written without it, or "user:pw@host" without a scheme.
        scheme = _SCHEME.match(text)
        if scheme is not None and scheme.group(1).lower() in KNOWN_SCHEMES:
            head, sep, rest = "", scheme.group(0), text[scheme.end() :]
        elif _USERINFO.match(text):
            head, sep, rest = "", "", text
    if sep or rest:
        at = rest.rfind("@")
        if at != -1 and ":" in rest[:at]:
            user = rest[:at].split(":", 1)[0]
            rest = f"{user}:***{rest[at:]}"
        text = head + sep + rest
    return _SECRET_VALUE.sub(lambda m: m.group(1) + "***", text)


def quote_input(text: str) -> str:
    """What the user typed, masked and quoted for a message: as typed, unless it holds
    characters that cannot be shown (those come escaped)."""
    masked = mask_url(text)
    if masked.isprintable() and "'" not in masked:
        return f"'{masked}'"
    return repr(masked)


def parse_store_url(text: str, *, source: str = "--url") -> StoreURL:
    """Parse a store URL or a plain path; raise :class:`UsageError` otherwise.

    Anything with ``://``, or starting with a known scheme and ``:``, is a URL; anything else
    is the path of a SQLite file (``./x.db``, ``/abs/x.db``, ``x.db``, ``~/x.db``).
    Every error quotes ``text`` as typed (a password masked) and shows a correct example.
    """
    raw = text.strip()
    if not raw:
        raise UsageError(f"The store URL from {source} is empty; use {URL_FORMS}.")
    scheme_match = _SCHEME.match(raw)
    if "://" not in raw and (
        scheme_match is None or scheme_match.group(1).lower() not in KNOWN_SCHEMES
    ):
        return _parse_path(raw, source)
    quoted = quote_input(raw)
    if scheme_match is None:
        raise UsageError(f"{quoted} from {source} is not a store URL; use {URL_FORMS}.")
    scheme = scheme_match.group(1).lower()
    if scheme not in KNOWN_SCHEMES:
        raise UsageError(
            f"{quoted} from {source} names an unknown store type {scheme!r}; use {URL_FORMS}."
        )
    if not raw[len(scheme) + 1 :].startswith("//"):
        if scheme in SQLITE_SCHEMES:
            form = "sqlite:///relative.db, sqlite:////abs/path.db or just the path"
        elif scheme in POSTGRES_SCHEMES:
            form = POSTGRES_FORM
        elif scheme in REDIS_SCHEMES:
            form = REDIS_FORM
        else:
            form = DYNAMODB_FORM
        raise UsageError(f"{quoted} from {source} lacks the // after {scheme}:; write {form}.")
    rest = raw[len(scheme) + 3 :]
    if scheme in SQLITE_SCHEMES:
        return _parse_sqlite(raw, rest, source)
    if scheme in POSTGRES_SCHEMES:
        return _parse_postgres(raw, source)
    if scheme in REDIS_SCHEMES:
        return _parse_redis(raw, source)
    return _parse_dynamodb(raw, source)


def _parse_path(raw: str, source: str) -> StoreURL:
    """A plain path: a SQLite file (``~`` expanded; relative to the working directory)."""
    quoted = quote_input(raw)
    if _CONNINFO.search(raw):
        raise UsageError(
            f"{quoted} from {source} looks like a libpq connection string; mcpstore takes "
            f"PostgreSQL stores as URLs: {POSTGRES_FORM}."
        )
    if _USERINFO.match(raw):
        raise UsageError(
            f"{quoted} from {source} looks like a URL without its scheme; write "
            f"{POSTGRES_FORM} (a SQLite file with ':' and '@' in its name: start the path "
            "with ./)."
        )
    _check_sqlite_path(raw, raw, source)
    return StoreURL(backend="sqlite", raw=raw, path=os.path.expanduser(raw), source=source)


def _check_sqlite_path(path: str, raw: str, source: str) -> None:
    quoted = quote_input(raw)
    if "\x00" in path:
        raise UsageError(
            f"The SQLite path {quoted} from {source} contains a NUL byte; use {SQLITE_FORMS}."
        )
    if not path or path.endswith("/"):
        raise UsageError(f"{quoted} from {source} names no database file; use {SQLITE_FORMS}.")
    if path == ":memory:":
        raise UsageError(
            f"{quoted} from {source} is an in-memory SQLite database, gone when mcpstore "
            f"exits; name a file: {SQLITE_FORMS}."
        )


def _parse_sqlite(raw: str, rest: str, source: str) -> StoreURL:
    path, _, query = rest.partition("?")
    if not path.startswith("/"):
        raise UsageError(
            f"{quote_input(raw)} from {source} names a host; SQLite URLs are "
            "sqlite:///relative.db or sqlite:////abs/path.db (or just the path)."
        )
    path = unquote(path[1:])
    _check_sqlite_path(path, raw, source)
    params = tuple(parse_qsl(query, keep_blank_values=True))
    return StoreURL(backend="sqlite", raw=raw, path=path, params=params, source=source)


def _parse_postgres(raw: str, source: str) -> StoreURL:
    quoted = quote_input(raw)
    try:
        parts = urlsplit(raw)
    except ValueError:
        raise UsageError(
            f"{quoted} from {source} is not a valid PostgreSQL URL; write {POSTGRES_FORM} "
            "(percent-encode any of : / ? # [ ] @ in the password)."
        ) from None
    try:
        _ = parts.port
    except ValueError:
        # The error text of urllib may repeat part of a password that holds a '/'.
        raise UsageError(
            f"{quoted} from {source} has a port that is not a number from 1 to 65535; write "
            f"{POSTGRES_FORM} (percent-encode any of : / ? # @ in the password)."
        ) from None
    if parts.path.count("/") > 1:
        raise UsageError(
            f"{quoted} from {source} has more than one database name; write {POSTGRES_FORM}."
        )
    params = tuple(parse_qsl(parts.query, keep_blank_values=True))
    return StoreURL(backend="postgres", raw=raw, params=params, source=source)


def _parse_redis(raw: str, source: str) -> StoreURL:
    """``redis://[user:password@]host[:port][/db]`` (``rediss://``: TLS; ``valkey://`` and
    ``valkeys://`` the same for Valkey). The database is a number, 0 by default."""
    quoted = quote_input(raw)
    try:
        parts = urlsplit(raw)
        _ = parts.port
    except ValueError:
        raise UsageError(
            f"{quoted} from {source} has a port that is not a number from 1 to 65535; write "
            f"{REDIS_FORM} (percent-encode any of : / ? # @ in the password)."
        ) from None
    database = (parts.path or "/").strip("/")
    if database and not (database.isdigit() and int(database) < 1 << 16):
        raise UsageError(
            f"{quoted} from {source} names database {database!r}; a Redis database is a number "
            f"(0 to 15 by default): write {REDIS_FORM}."
        )
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    if "db" in params and database:
        raise UsageError(f"{quoted} from {source} names its database twice (path and ?db=).")
    if "db" in params and not params["db"].isdigit():
        raise UsageError(f"{quoted} from {source} has a ?db= that is not a number.")
    return StoreURL(backend="redis", raw=raw, params=tuple(sorted(params.items())), source=source)


def _parse_dynamodb(raw: str, source: str) -> StoreURL:
    parts = urlsplit(raw)
    quoted = quote_input(raw)
    if "@" in parts.netloc:
        # Never quote the part before '@': it may be a key and a secret.
        raise UsageError(
            f"{quoted} from {source} carries credentials before '@'; a DynamoDB URL names only "
            f"the table, credentials come from the AWS chain (AWS_ACCESS_KEY_ID, a profile, a "
            f"role); write {DYNAMODB_FORM}."
        )
    table = unquote(parts.netloc + parts.path).strip("/")
    if not table:
        table = DEFAULT_DYNAMODB_TABLE
    if not _DYNAMO_TABLE.match(table):
        raise UsageError(
            f"{quoted} from {source} does not name a DynamoDB table ({table!r}: a name is 3 to "
            f"248 letters, digits, '_', '-' and '.'); write {DYNAMODB_FORM}."
        )
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(params) - {"region", "endpoint", "profile"})
    if unknown:
        raise UsageError(
            f"{quoted} from {source} has an unknown parameter {mask_url(unknown[0])!r}; use "
            "region, endpoint or profile, as in "
            "dynamodb://TABLE?region=us-east-1&endpoint=http://127.0.0.1:8000."
        )
    endpoint = params.get("endpoint") or None
    if endpoint and not re.match(r"^https?://[^/\s]+", endpoint):
        raise UsageError(
            f"{quoted} from {source} has an endpoint that is not an http(s) URL; write "
            "dynamodb://TABLE?region=us-east-1&endpoint=http://127.0.0.1:8000."
        )
    return StoreURL(
        backend="dynamodb",
        raw=raw,
        table=table,
        region=params.get("region") or None,
        endpoint=endpoint,
        params=tuple(sorted(params.items())),
        source=source,
    )


# The task commands' own defaults (cli.md, "Naming a store"): the server's task stores.
TASK_NAMES = {
    "sqlite_env": "SQLITE_TASK_PATH",
    "sqlite_default": "mcp_tasks.db",
    "table_env": "MCP_TASK_TABLE",
    "table_default": "mcp-tasks",
}
STATE_NAMES = {
    "sqlite_env": "SQLITE_STATE_PATH",
    "sqlite_default": "server_state.db",
    "table_env": "MCP_SERVER_STATE_TABLE",
    "table_default": "mcp-server-state",
}
SESSION_NAMES = {
    "sqlite_env": "SQLITE_PATH",
    "sqlite_default": DEFAULT_SQLITE_PATH,
    "table_env": "MCP_SESSION_TABLE",
    "table_default": DEFAULT_DYNAMODB_TABLE,
}


def resolve_store_url(
    url: str | None,
    backend: str | None,
    environ: Mapping[str, str],
    *,
    tasks: bool = False,
    kind: str = "sessions",
) -> StoreURL:
    """Find the store a command works on, in the order of the CLI contract. ``tasks`` (or
    ``kind="tasks"``): for the task commands, whose SQLite file and DynamoDB table come from
    SQLITE_TASK_PATH and MCP_TASK_TABLE (defaults ``mcp_tasks.db``, ``mcp-tasks``), also as the
    embedded default; ``kind="state"``: turul's server state (``server_state.db``,
    ``mcp-server-state``, the server's own defaults)."""
    if tasks:
        kind = "tasks"
    names = {"tasks": TASK_NAMES, "state": STATE_NAMES}.get(kind, SESSION_NAMES)
    if backend is not None and backend not in BACKENDS:
        raise UsageError(
            f"Unknown backend {backend!r}; choose sqlite, postgres, dynamodb or redis."
        )
    if url is not None:
        parsed = parse_store_url(url, source="--url")
        if backend is not None and backend != parsed.backend:
            raise UsageError(
                f"--url {quote_input(url.strip())} names a {parsed.backend} store but --backend "
                f"says {backend}; give one of them."
            )
        return parsed
    if backend == "sqlite":
        path = environ.get(names["sqlite_env"]) or names["sqlite_default"]
        src = names["sqlite_env"] if environ.get(names["sqlite_env"]) else "--backend sqlite"
        _check_sqlite_path(path, path, src)
        return parse_store_url(f"sqlite:///{quote(path, safe='/:')}", source=src)
    if backend == "postgres":
        dsn = environ.get("DATABASE_URL")
        if not dsn:
            raise UsageError(f"--backend postgres needs DATABASE_URL ({POSTGRES_FORM}) or --url.")
        parsed = parse_store_url(dsn, source="DATABASE_URL")
        if parsed.backend != "postgres":
            raise UsageError(
                f"DATABASE_URL {quote_input(dsn.strip())} names a {parsed.backend} store, not "
                f"PostgreSQL; write {POSTGRES_FORM}."
            )
        return parsed
    if backend == "dynamodb":
        table = environ.get(names["table_env"]) or names["table_default"]
        if not _DYNAMO_TABLE.match(table):
            raise UsageError(
                f"{names['table_env']} {quote_input(table)} is not a DynamoDB table name (3 to 248 "
                "letters, digits, '_', '-' and '.')."
            )
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        endpoint = environ.get("AWS_ENDPOINT_URL_DYNAMODB") or environ.get("AWS_ENDPOINT_URL")
        query = []
        if region:
            query.append(f"region={quote(region)}")
        if endpoint:
            query.append(f"endpoint={quote(endpoint, safe=':/')}")
        text = f"dynamodb://{table}" + (("?" + "&".join(query)) if query else "")
        return parse_store_url(text, source="--backend dynamodb")
    if backend == "redis":
        redis_url = environ.get("REDIS_URL")
        if not redis_url:
            raise UsageError(f"--backend redis needs REDIS_URL ({REDIS_FORM}) or --url.")
        parsed = parse_store_url(redis_url, source="REDIS_URL")
        if parsed.backend != "redis":
            raise UsageError(
                f"REDIS_URL {quote_input(redis_url.strip())} names a {parsed.backend} store, not "
                f"Redis; write {REDIS_FORM}."
            )
        return parsed
    env_url = environ.get("MCPSTORE_URL")
    if env_url:
        return parse_store_url(env_url, source="MCPSTORE_URL")
    if names is not SESSION_NAMES:
        return parse_store_url(f"sqlite:///{names['sqlite_default']}", source="the default")
    return parse_store_url(DEFAULT_URL, source="the default")
