"""Property: arbitrary JSON in state, metadata and event data survives backup -> restore
(unicode, large integers, deep nesting, empty objects), into SQLite and into PostgreSQL."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcpstore_cli.model.records import Event, Session, SessionFilter
from mcpstore_cli.ops.backup import restore_backup, write_backup
from mcpstore_cli.store import open_store
from mcpstore_cli.store.urls import parse_store_url

# PostgreSQL's jsonb refuses U+0000 and lone surrogates; every store takes the rest.
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(min_value=-1e9, max_value=1e9, allow_nan=False).map(lambda f: round(f, 6))
    | TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=25,
)
OBJECTS = st.dictionaries(TEXT, JSON, max_size=5)


async def _round_trip(
    target_url: str, state: dict[str, Any], metadata: dict[str, Any], data: list[Any]
) -> tuple[Session, list[Event]]:
    with tempfile.TemporaryDirectory() as tmp:
        src_url = parse_store_url(f"sqlite:///{Path(tmp) / 'src.db'}")
        async with open_store(src_url) as src:
            await src.setup()
            session = Session(
                session_id="s" + uuid.uuid4().hex,
                created_at=1,
                last_activity=2,
                state=state,
                metadata=metadata,
                server_capabilities={},
            )
            events = [
                Event(session.session_id, 0, 10 + i, "message", d) for i, d in enumerate(data)
            ]

            async def batches() -> Any:
                yield [session], events

            await src.write_demo(batches())
            summary = await write_backup(src, Path(tmp) / "b.mcpbackup.zst")
        async with open_store(parse_store_url(target_url)) as dst:
            await restore_backup(dst, summary.path, mode="replace")
            got = [s async for s in dst.iter_sessions(SessionFilter(now_ms=3), limit=None)]
            assert len(got) == 1 and isinstance(got[0], Session)
            back = await dst.recent_events(session.session_id, 1000)
        return got[0], back  # type: ignore[return-value]


def _check(url: str, state: dict[str, Any], metadata: dict[str, Any], data: list[Any]) -> None:
    got, back = asyncio.run(_round_trip(url, state, metadata, data))
    assert got.state == state
    assert got.metadata == metadata
    assert [e.data for e in back] == data  # type: ignore[union-attr]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=OBJECTS, metadata=OBJECTS, data=st.lists(JSON, max_size=4))
def test_arbitrary_json_survives_into_sqlite(
    state: dict[str, Any], metadata: dict[str, Any], data: list[Any]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _check(f"sqlite:///{Path(tmp) / 'dst.db'}", state, metadata, data)


@pytest.fixture(scope="module")
def pg_url(pg_server: Any) -> Any:
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(state=OBJECTS, metadata=OBJECTS, data=st.lists(JSON, max_size=4))
def test_arbitrary_json_survives_into_postgres(
    pg_url: str, state: dict[str, Any], metadata: dict[str, Any], data: list[Any]
) -> None:
    _check(pg_url, state, metadata, data)
