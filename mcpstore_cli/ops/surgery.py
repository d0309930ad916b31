"""The commands that act on single sessions (``terminate``, ``delete``, ``state``, ``touch``):
each typed id resolved by the id rule of :mod:`mcpstore_cli.ops.ids`, then changed by the
store, one outcome per session, reported as it happens.

An id that names no session (or several) is that session's failed outcome, not the end of
the run: the other ids are still changed, and the command exits 1 at the end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from mcpstore_cli.errors import SessionIdError, UsageError
from mcpstore_cli.model.surgery import SessionChange

if TYPE_CHECKING:
    from mcpstore_cli.model.ids import Note
    from mcpstore_cli.store.base import Store

Report = Callable[[SessionChange], None]

_BARE = re.compile(r"[^\s\"'{}\[\],:]+")


def parse_json_value(text: str) -> Any:
    """The VALUE of ``state ID set KEY VALUE``: JSON; a bare word is a usage error that
    shows how to quote it (the shell ate the quotes of ``"word"``)."""
    try:
        return json.loads(text)
    except ValueError as exc:
        if _BARE.fullmatch(text):
            raise UsageError(
                f"VALUE must be JSON, and {text} is not: for the string, quote it for the "
                f"shell too: '\"{text}\"'."
            ) from None
        raise UsageError(f"VALUE is not valid JSON ({exc.args[0]}).") from None


def check_key(key: str) -> str:
    if not key:
        raise UsageError("KEY must not be empty.")
    return key


async def resolve_each(
    store: Store, typed: Sequence[str], action: str, *, note: Note | None
) -> tuple[list[str], list[SessionChange]]:
    """The stored ids the typed ones name (in order, once each), and a failed outcome for
    each typed id that names none or several."""
    from mcpstore_cli.ops.ids import resolve_session_id

    found: list[str] = []
    failed: list[SessionChange] = []
    for one in typed:
        try:
            sid = await resolve_session_id(store, one, note=note)
        except SessionIdError as exc:
            failed.append(SessionChange(one, action, False, "not found", str(exc).rstrip(".")))
            continue
        if sid not in found:
            found.append(sid)
    return found, failed


async def change_each(
    store: Store,
    typed: Sequence[str],
    action: str,
    change: Callable[[str], Awaitable[SessionChange]],
    *,
    report: Report,
    note: Note | None = None,
) -> list[SessionChange]:
    """Resolve every id, then change each session, reporting each outcome."""
    ids, failed = await resolve_each(store, typed, action, note=note)
    out: list[SessionChange] = []
    for change_of in failed:
        report(change_of)
        out.append(change_of)
    for sid in ids:
        done = await change(sid)
        report(done)
        out.append(done)
    return out


def failures(changes: Sequence[SessionChange]) -> list[SessionChange]:
    return [c for c in changes if not c.ok]
