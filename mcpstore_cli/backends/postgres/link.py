"""The connection to a PostgreSQL store, without SQLAlchemy: where a URL points, plain asyncpg
connections (libpq URL settings, ``connect_timeout``, read-only sessions, ``--lock-timeout``,
the lock-wait watcher), kept connections for pages and batches, ``--create-database``, the
expire lock, and the one place that turns driver failures into sentences.

:class:`PgLink` is what every PostgreSQL store talks through: the session store
(:class:`~mcpstore_cli.backends.postgres.store.PostgresStore`, which adds SQLAlchemy for its
query building) is one, and the task, ext-task, server-state and GraphFlow stores hold one as
``self.pg``. Loading this module loads asyncpg and nothing heavier.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import asyncpg

from mcpstore_cli.backends.postgres.locks import LockWatch, WatchedConnection
from mcpstore_cli.errors import (
    Interrupted,
    LayoutError,
    LockTimeoutError,
    McpStoreError,
    StoreConnectionError,
    StoreMissingError,
    UsageError,
)
from mcpstore_cli.store.base import StoreOptions
from mcpstore_cli.store.urls import StoreURL

EXPIRE_LOCK_KEY = 7367200202  # "mcpstore expire", per database

# libpq parameters that asyncpg does not take and that have no server-side meaning: accepted
# (so that a DATABASE_URL written for libpq works) and left out of the connection.
_CLIENT_ONLY_PARAMS = {
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "gssencmode",
    "channel_binding",
    "requirepeer",
    "sslcompression",
    "sslsni",
    "require_auth",
    "load_balance_hosts",
    "hostaddr",
}


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Target:
    """Where a PostgreSQL URL points, for connecting and for messages (no password)."""

    def __init__(self, raw: str) -> None:
        parts = urlsplit(raw)
        query = parse_qsl(parts.query, keep_blank_values=True)
        params = {k: v for k, v in query}
        host = parts.hostname or params.get("host") or "localhost"
        self.host = host
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is None:
            given = params.get("port", "")
            port = int(given) if given.isdigit() else 5432
        self.port = port
        self.user = unquote(parts.username) if parts.username else params.get("user")
        path_db = unquote(parts.path.lstrip("/")) if parts.path else ""
        self.database = path_db or params.get("dbname") or params.get("database") or self.user or ""
        self.url_timeout: float | None = None
        server_settings: dict[str, str] = {}
        kept: list[tuple[str, str]] = []
        for key, value in query:
            low = key.lower()
            if low == "connect_timeout":
                try:
                    seconds = float(value)
                except ValueError:
                    raise UsageError(
                        f"connect_timeout={value!r} in the PostgreSQL URL is not a number of "
                        "seconds."
                    ) from None
                self.url_timeout = seconds if seconds > 0 else None
            elif low == "options":
                server_settings.update(_parse_options(value))
            elif low == "fallback_application_name":
                server_settings.setdefault("application_name", value)
            elif low in _CLIENT_ONLY_PARAMS:
                continue
            else:
                kept.append((key, value))
        if not any(k.lower() == "application_name" for k, _ in kept):
            server_settings.setdefault("application_name", "mcpstore")
        # Statements are prepared (asyncpg): plan each execution for its own values, as psql's
        # literal SQL is, rather than a generic plan that cannot see LIMIT 51 or the cursor.
        if not any(k.lower() == "plan_cache_mode" for k, _ in kept):
            server_settings.setdefault("plan_cache_mode", "force_custom_plan")
        self.server_settings = server_settings
        query_text = urlencode(kept)
        self.dsn = f"postgresql://{parts.netloc}{parts.path}" + (f"?{query_text}" if kept else "")

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def _parse_options(value: str) -> dict[str, str]:
    """libpq's ``options`` (``-c name=value`` and ``--name=value``) as server settings."""
    out: dict[str, str] = {}
    try:
        words = shlex.split(value)
    except ValueError:
        raise UsageError(f"options={value!r} in the PostgreSQL URL cannot be parsed.") from None
    it = iter(words)
    for word in it:
        if word == "-c":
            word = next(it, "")
        elif word.startswith("-c") or word.startswith("--"):
            word = word[2:]
        else:
            raise UsageError(
                f"options={value!r} in the PostgreSQL URL: only -c name=value settings are "
                "supported."
            )
        name, eq, setting = word.partition("=")
        if not eq or not name:
            raise UsageError(f"options={value!r} in the PostgreSQL URL: expected name=value.")
        out[name.replace("-", "_")] = setting
    return out


class PgLink:
    """Connections to one PostgreSQL store (see the module's text)."""

    def __init__(self, url: StoreURL, options: StoreOptions | None = None) -> None:
        self.url = url
        self.options = options or StoreOptions()
        self._link_init()

    def _link_init(self) -> None:
        self._target: _Target | None = None
        self._kept_conns: dict[str, asyncpg.Connection] = {}
        self._track_counts = True
        self.lock_watch = LockWatch(self)

    def label(self) -> str:
        return str(self.target.database or "postgres")

    @property
    def target(self) -> _Target:
        if self._target is None:
            self._target = _Target(self.url.raw)
        return self._target

    @property
    def connect_timeout(self) -> float:
        default = type(self.options).__dataclass_fields__["connect_timeout"].default
        url_timeout = self.target.url_timeout
        if url_timeout is not None and self.options.connect_timeout == default:
            return url_timeout
        return self.options.connect_timeout

    # -- connections --------------------------------------------------------------------
    async def raw_connect(
        self, database: str | None = None, *, watched: bool = True
    ) -> asyncpg.Connection:
        """A plain asyncpg connection to the store (or another database on its server).

        ``watched`` connections report their statements to the store's lock watcher (see
        :mod:`mcpstore_cli.backends.postgres.locks`); the watcher's own connection is not."""
        target = self.target
        settings = dict(target.server_settings)
        if self.options.read_only and database is None:
            settings.setdefault("default_transaction_read_only", "on")
        if self.options.lock_timeout_ms is not None:
            settings["lock_timeout"] = f"{self.options.lock_timeout_ms}ms"
        kwargs: dict[str, Any] = {
            "dsn": target.dsn,
            "timeout": self.connect_timeout,
            "server_settings": settings,
        }
        if database is not None:
            kwargs["database"] = database
        if watched:
            kwargs["connection_class"] = WatchedConnection
        try:
            conn = await asyncpg.connect(**kwargs)
        except TimeoutError:
            raise StoreConnectionError(
                f"PostgreSQL at {target.where} did not answer within "
                f"{self.connect_timeout:g} s; check the host and port, or raise "
                "--connect-timeout."
            ) from None
        if watched:
            conn._lock_watch = self.lock_watch
        return conn

    async def _kept(self, role: str) -> asyncpg.Connection:
        """The store's own asyncpg connection for ``role`` ("page": list pages and the
        readiness check; "expire": batch deletes), opened on first use."""
        conn = self._kept_conns.get(role)
        if conn is None or conn.is_closed():
            try:
                conn = await self.raw_connect()
                if role == "expire":
                    # PostgreSQL's default plan caching: the forced custom plans that suit
                    # list pages make the batch DELETE twice as slow (measured).
                    await conn.execute("SET plan_cache_mode = auto")
                    self._track_counts = (await conn.fetchval("SHOW track_counts")) == "on"
            except McpStoreError:
                raise
            except Exception as exc:
                raise self._wrap(exc) from exc
            self._kept_conns[role] = conn
        return conn

    async def _drop_kept(self, role: str) -> None:
        conn = self._kept_conns.pop(role, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)

    async def _fetch_page(self, sql: str, args: list[Any]) -> list[Any]:
        """A page query on the reading connection (reopened once if the server dropped it)."""
        for attempt in (1, 2):
            conn = await self._kept("page")
            try:
                return list(await conn.fetch(sql, *args))
            except (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError, OSError):
                await self._drop_kept("page")
                if attempt == 2:
                    raise
            except Exception as exc:
                raise self._wrap(exc) from exc
        raise AssertionError("unreachable")

    async def _fetch_on(self, role: str, sql: str, args: list[Any]) -> list[Any]:
        """A query on the kept connection of ``role``; a connection the server dropped is
        let go, so that the next call opens a new one (the error still reaches the caller)."""
        conn = await self._kept(role)
        try:
            return list(await conn.fetch(sql, *args))
        except (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError, OSError) as exc:
            await self._drop_kept(role)
            raise self._wrap(exc) from exc
        except Exception as exc:
            if conn.is_closed():
                await self._drop_kept(role)
            raise self._wrap(exc) from exc

    @contextlib.asynccontextmanager
    async def own_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of its own (writes, cursors, transactions), closed at the end; driver
        errors become one sentence, Ctrl-C and mcpstore's own errors pass as they are."""
        try:
            conn = await self.raw_connect()
        except McpStoreError:
            raise
        except Exception as exc:
            raise self._wrap(exc) from exc
        try:
            yield conn
        except (McpStoreError, KeyboardInterrupt, Interrupted, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise self._wrap(exc) from exc
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)

    async def close(self) -> None:
        await self.lock_watch.close()
        for role in list(self._kept_conns):
            await self._drop_kept(role)

    @contextlib.asynccontextmanager
    async def expire_lock(self) -> AsyncIterator[None]:
        """A session-level advisory lock on a connection of its own, held for the whole run
        (the server drops it if this process dies)."""
        from mcpstore_cli.errors import ExpireBusyError

        try:
            conn = await self.raw_connect()
        except McpStoreError:
            raise
        except Exception as exc:
            raise self._wrap(exc) from exc
        try:
            got = await conn.fetchval("SELECT pg_try_advisory_lock($1)", EXPIRE_LOCK_KEY)
            if not got:
                raise ExpireBusyError(
                    f"Another mcpstore expire is running on {self.url.masked()} (advisory lock "
                    f"{EXPIRE_LOCK_KEY}); this run did nothing."
                )
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    await conn.fetchval("SELECT pg_advisory_unlock($1)", EXPIRE_LOCK_KEY)
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)

    async def _create_database(self) -> bool:
        """Create the store's database if missing; True if it was created."""
        name = self.target.database
        if not name:
            raise UsageError(f"{self.url.masked()} names no database to create.")
        # If the database answers, it exists: no need to reach the maintenance database
        # (which a user may not be allowed to connect to).
        try:
            probe = await self.raw_connect()
        except asyncpg.InvalidCatalogNameError:
            pass
        except McpStoreError:
            raise
        except Exception as exc:
            raise self._wrap(exc) from exc
        else:
            await probe.close()
            return False
        conn = None
        last: BaseException | None = None
        for maintenance in ("postgres", "template1"):
            try:
                conn = await self.raw_connect(database=maintenance)
                break
            except asyncpg.InvalidCatalogNameError as exc:
                last = exc
            except McpStoreError:
                raise
            except Exception as exc:
                raise self._wrap(exc) from exc
        if conn is None:
            raise StoreConnectionError(
                f"Cannot create database {name}: the server at {self.target.where} has no "
                f"postgres or template1 database to connect to ({last})."
            )
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if exists:
                return False
            try:
                await conn.execute(f"CREATE DATABASE {quote_ident(name)}")
            except asyncpg.DuplicateDatabaseError:
                return False
            except asyncpg.InsufficientPrivilegeError:
                raise StoreConnectionError(
                    f"User {self.target.user or '(default)'} may not create database {name} "
                    f"on {self.target.where}; ask an administrator to create it, or to grant "
                    "CREATEDB."
                ) from None
            return True
        finally:
            await conn.close()

    def _wrap(self, exc: BaseException) -> McpStoreError:
        translated = self._translate_error(exc)
        if translated is None:
            return StoreConnectionError(f"PostgreSQL error on {self.url.masked()}: {exc}.")
        return translated

    def _translate_error(self, exc: BaseException) -> McpStoreError | None:
        return translate_error(exc, self)


def _walk(exc: BaseException) -> list[BaseException]:
    """The exception, what SQLAlchemy wrapped, and its causes."""
    seen: list[BaseException] = []
    stack: list[BaseException | None] = [exc]
    while stack:
        item = stack.pop(0)
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        stack += [getattr(item, "orig", None), item.__cause__, item.__context__]
    return seen


def translate_error(exc: BaseException, store: PgLink) -> McpStoreError | None:
    """One clear sentence for a driver or connection failure (never with the password)."""
    target = store.target
    where = target.where
    url = store.url.masked()
    chain = _walk(exc)
    for item in chain:
        if isinstance(item, McpStoreError):
            return item
    for item in chain:
        if isinstance(item, asyncpg.LockNotAvailableError):
            return lock_timeout_error(store)
        if isinstance(item, asyncpg.InvalidPasswordError):
            return StoreConnectionError(
                f"PostgreSQL at {where} rejected the password of user "
                f"{target.user or '(default)'}; check the password in the URL."
            )
        if isinstance(item, asyncpg.InvalidCatalogNameError):
            return StoreMissingError(
                f"Database {target.database} does not exist on {where}; run mcpstore setup "
                f"--create-database --url {url}."
            )
        if isinstance(item, asyncpg.InvalidAuthorizationSpecificationError):
            return StoreConnectionError(
                f"PostgreSQL at {where} refused user {target.user or '(default)'}: "
                f"{_server_message(item)}."
            )
        if isinstance(item, asyncpg.UndefinedTableError):
            return StoreMissingError(
                f"{url} lacks a table ({_server_message(item)}); run mcpstore setup."
            )
        if isinstance(item, asyncpg.UndefinedColumnError):
            return LayoutError(
                f"{url} is in another layout ({_server_message(item)}); see mcpstore setup --check."
            )
        if isinstance(item, asyncpg.InsufficientPrivilegeError):
            return StoreConnectionError(
                f"User {target.user or '(default)'} lacks a privilege on {url}: "
                f"{_server_message(item)}."
            )
        if isinstance(item, asyncpg.ReadOnlySQLTransactionError):
            return StoreConnectionError(f"{url} is read-only for this command or user.")
        if isinstance(item, asyncpg.CannotConnectNowError):
            return StoreConnectionError(
                f"PostgreSQL at {where} is not accepting connections yet "
                f"({_server_message(item)}); try again shortly."
            )
        if isinstance(item, asyncpg.TooManyConnectionsError):
            return StoreConnectionError(
                f"PostgreSQL at {where} has no free connection slots; try again later."
            )
        if isinstance(item, asyncpg.StringDataRightTruncationError):
            return UsageError(
                f"A value is too long for its column on {url} ({_server_message(item)})."
            )
        if isinstance(item, asyncpg.ClientConfigurationError):
            return UsageError(f"The PostgreSQL URL {url} has a bad setting: {item}.")
    for item in chain:
        if isinstance(item, TimeoutError | asyncio.TimeoutError):
            return StoreConnectionError(
                f"PostgreSQL at {where} did not answer within {store.connect_timeout:g} s; "
                "check the host and port, or raise --connect-timeout."
            )
        if isinstance(item, socket.gaierror):
            return StoreConnectionError(
                f"Cannot resolve the PostgreSQL host {target.host}; check the URL."
            )
        if isinstance(item, ssl.SSLError):
            return StoreConnectionError(
                f"TLS with PostgreSQL at {where} failed ({item.reason or item}); check sslmode "
                "and the certificates."
            )
        if isinstance(item, ConnectionRefusedError):
            return StoreConnectionError(
                f"Cannot reach PostgreSQL at {where}: connection refused; check the host and "
                "port, and that the server is running."
            )
        if isinstance(item, asyncpg.PostgresConnectionError | asyncpg.InterfaceError):
            return StoreConnectionError(f"The connection to PostgreSQL at {where} failed: {item}.")
        if isinstance(item, ConnectionError | OSError):
            return StoreConnectionError(
                f"Cannot reach PostgreSQL at {where} ({item.strerror or item}); check the host "
                "and port."
            )
    for item in chain:
        if isinstance(item, asyncpg.PostgresError):
            return StoreConnectionError(f"PostgreSQL error on {url}: {_server_message(item)}.")
    return None


def lock_timeout_error(store: PgLink) -> LockTimeoutError:
    """SQLSTATE 55P03: a lock wait outlasted lock_timeout. The server names no lock, so the
    sentence says what the lock watcher saw last."""
    from mcpstore_cli.util.durations import format_duration

    limit = store.options.lock_timeout_ms
    waited = f"waited {format_duration(limit)}" if limit else "waited longer than lock_timeout"
    wait = store.lock_watch.last
    what = f" on {wait.what}{wait.held_by}" if wait is not None else ""
    return LockTimeoutError(
        f"PostgreSQL at {store.target.where}: this command {waited} for a lock{what} and gave "
        "up, rolling back its open transaction; try again later or raise --lock-timeout."
    )


def _server_message(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return str(text).rstrip(".")
