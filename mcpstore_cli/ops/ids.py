"""The one rule by which every command turns a typed session id into a stored one.

A command that takes a session id (``show``, ``backup --session``, ``tail-events --session``
and every later one) accepts the full id, or a prefix of at least :data:`MIN_PREFIX`
characters that starts exactly one id. Hex ids (turul writes ``Uuid::now_v7()`` as 32
lower-case hex characters) match whatever the case typed: the lower- and upper-case forms
are looked up, so a store keeps whichever case it holds. Any other id is matched exactly as
typed.

Every failure is one sentence and exit status 1 (:class:`~mcpstore_cli.errors.SessionIdError`),
including a prefix that is too short: whether ``abc`` is a full id only the store can say, so
it is not a usage error. A malformed id (empty, not visible ASCII) stays a usage error (2).

The stores do the looking up (:meth:`Store.existing_session_ids` by key,
:meth:`Store.match_session_ids` by prefix); this module holds the rule and the messages.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from mcpstore_cli.errors import SessionIdError
from mcpstore_cli.model.ids import Note
from mcpstore_cli.model.records import validate_session_id

if TYPE_CHECKING:
    from mcpstore_cli.model.ids import IdMatches
    from mcpstore_cli.store.base import Store
    from mcpstore_cli.store.tasks import TaskStore

MIN_PREFIX = 4  # characters a prefix needs (a full id may be shorter)
SHOWN = 5  # candidates named in an error
ELLIPSIS = "\u2026"  # what ends an id a narrow table shortened


_HEX = re.compile(r"[0-9A-Fa-f]+")
_UUID_HYPHENS = (8, 13, 18, 23)  # where the 8-4-4-4-12 form has its hyphens


def typed_session_id(typed: str, *, option: str = "session id") -> str:
    """The id as typed, checked (a usage error when malformed).

    A table on a narrow terminal prints ids as unique prefixes ending in an ellipsis
    (``01a23951…``); pasted back, that is the prefix.
    """
    return validate_session_id(typed.removesuffix(ELLIPSIS), option=option)


def is_hex(value: str) -> bool:
    """Hex digits only (turul's form), or the start of the hyphenated 8-4-4-4-12 UUID form."""
    if _HEX.fullmatch(value):
        return True
    if len(value) > 36 or "-" not in value:
        return False
    hyphens = [i for i, ch in enumerate(value) if ch == "-"]
    return hyphens == [i for i in _UUID_HYPHENS if i < len(value)] and bool(
        _HEX.fullmatch(value.replace("-", ""))
    )


def spellings(typed: str) -> list[str]:
    """The forms to look up: as typed, and for hex also lower and upper case."""
    if not is_hex(typed):
        return [typed]
    return list(dict.fromkeys([typed, typed.lower(), typed.upper()]))


def _listed(ids: Sequence[str], total: int, capped: bool) -> str:
    shown = ", ".join(ids[:SHOWN])
    rest = total - min(len(ids), SHOWN)
    if capped:
        return f"{shown} and more than {rest:,} more"
    return f"{shown} and {rest:,} more" if rest > 0 else shown


async def resolve_session_id(
    store: Store, typed: str, *, option: str | None = None, note: Note | None = None
) -> str:
    """The stored id that ``typed`` names, by the rule above; raise SessionIdError if none.

    ``option`` names where the id came from (``--session``) in messages; ``note`` receives a
    progress line when finding a prefix means a long scan (DynamoDB).
    """
    return await _resolve(
        typed,
        store.existing_session_ids,
        lambda forms: store.match_session_ids(forms, limit=SHOWN + 1, note=note),
        noun="session",
        listing="mcpstore list",
        where=store.url.masked(),
        option=option,
    )


async def resolve_task_id(store: TaskStore, typed: str, *, note: Note | None = None) -> str:
    """The stored task id that ``typed`` names, by the same rule as session ids."""
    return await _resolve(
        typed,
        store.existing_task_ids,
        lambda forms: store.match_task_ids(forms, limit=SHOWN + 1, note=note),
        noun="task",
        listing="mcpstore tasks list",
        where=store.url.masked(),
        option=None,
    )


async def _resolve(
    typed: str,
    existing: Callable[[Sequence[str]], Awaitable[list[str]]],
    matching: Callable[[Sequence[str]], Awaitable[IdMatches]],
    *,
    noun: str,
    listing: str,
    where: str,
    option: str | None,
) -> str:
    given = f" ({option})" if option else ""
    typed = typed_session_id(typed, option=option or f"{noun} id")
    forms = spellings(typed)
    exact = await existing(forms)
    if typed in exact:
        return typed
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        raise SessionIdError(
            f"{typed!r}{given} names several {noun} ids that differ only in case: "
            f"{_listed(sorted(exact), len(exact), False)}; type the one you mean exactly."
        )
    if len(typed) < MIN_PREFIX:
        raise SessionIdError(
            f"No {noun} {typed!r}{given} in {where}, and a prefix needs at least "
            f"{MIN_PREFIX} characters; {listing} shows the ids."
        )
    found = await matching(forms)
    if found.total == 1 and found.ids:
        return found.ids[0]
    if not found.ids:
        raise SessionIdError(
            f"No {noun} {typed!r}{given} in {where}: no id is or starts with it; "
            f"{listing} shows the ids."
        )
    raise SessionIdError(
        f"{typed!r}{given} starts {'over ' if found.capped else ''}{found.total:,} {noun} ids: "
        f"{_listed(found.ids, found.total, found.capped)}; give more of it."
    )


async def resolve_session_ids(
    store: Store, typed: Sequence[str], *, option: str | None = None, note: Note | None = None
) -> list[str]:
    """Each of ``typed`` resolved, in order, without repeats (several ids name one session)."""
    out: list[str] = []
    for one in typed:
        out.append(await resolve_session_id(store, one, option=option, note=note))
    return list(dict.fromkeys(out))
