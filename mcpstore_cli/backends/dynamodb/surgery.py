"""terminate, delete, state and touch on turul's DynamoDB tables.

Every update is an ``UpdateItem`` conditional on what was read: the ``state`` string for
changes of state (read again and retried when the server wrote it meanwhile), and always on
the item still being there and unexpired (an item past its ``ttl`` counts as gone and is
never brought back). As the server writes:

- terminate is its HTTP DELETE: ``state`` with ``terminated``/``terminated_at``,
  ``lastActivity`` now, and ``ttl`` now plus the session TTL (its ``update_session`` puts the
  whole item with a fresh ``ttl``);
- ``state set``/``unset``: ``state`` and ``lastActivity`` (its ``set_session_state`` leaves
  ``ttl`` alone);
- touch: ``lastActivity`` now and ``ttl`` now plus the session TTL.

delete removes the session item and then every item of its events (the server's own delete
leaves them behind until their ttl), querying again until none is left, so that an event the
server appended meanwhile goes too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mcpstore_cli.backends.dynamodb.common import _expired, _items, _n, _s
from mcpstore_cli.model.surgery import SessionChange, contended, gone, removed_text

if TYPE_CHECKING:
    from mcpstore_cli.backends.dynamodb.store import DynamoDBStore

TRIES = 5
EVENT_PASSES = 3

StateEdit = Callable[[dict[str, Any]], tuple[dict[str, Any] | None, SessionChange]]


def _code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _read(store: DynamoDBStore, session_id: str) -> dict[str, Any] | None:
    store._ensure_readable_sync()
    assert store._sessions is not None
    n = store._sessions.names
    raw = store._call(
        "get_item",
        TableName=store.table,
        Key={n.session_id: {"S": session_id}},
        ConsistentRead=True,
    ).get("Item")
    if not raw or _expired(_n(raw.get(n.ttl)), int(time.time())):
        return None
    return dict(raw)


def _live(store: DynamoDBStore) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The condition every update carries: the item is there and its ttl has not passed."""
    assert store._sessions is not None
    n = store._sessions.names
    return (
        "attribute_exists(#sid) AND (attribute_not_exists(#ttl) OR #ttl > :now_s)",
        {"#sid": n.session_id, "#ttl": n.ttl},
        {":now_s": {"N": str(int(time.time()))}},
    )


def _update(
    store: DynamoDBStore,
    session_id: str,
    sets: dict[str, Any],
    *,
    condition: str = "",
    names: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> bool:
    """SET the ``sets`` attributes (name -> AttributeValue) if the item is live and
    ``condition`` holds; False when it does not."""
    from botocore.exceptions import ClientError

    assert store._sessions is not None
    n = store._sessions.names
    live, live_names, live_values = _live(store)
    all_names = {**live_names, **(names or {})}
    all_values = {**live_values, **(values or {})}
    parts = []
    for i, (attr, value) in enumerate(sets.items()):
        all_names[f"#a{i}"] = attr
        all_values[f":a{i}"] = value
        parts.append(f"#a{i} = :a{i}")
    try:
        store.client.update_item(
            TableName=store.table,
            Key={n.session_id: {"S": session_id}},
            UpdateExpression="SET " + ", ".join(parts),
            ConditionExpression=live + (f" AND {condition}" if condition else ""),
            ExpressionAttributeNames=all_names,
            ExpressionAttributeValues=all_values,
        )
    except ClientError as exc:
        if _code(exc) == "ConditionalCheckFailedException":
            return False
        raise store._translate(exc, store.table) or exc from exc
    except Exception as exc:
        raise store._translate(exc, store.table) or exc from exc
    return True


def edit_state(
    store: DynamoDBStore,
    session_id: str,
    action: str,
    edit: StateEdit,
    *,
    now_ms: int,
    ttl_s: int | None,
) -> SessionChange:
    """Read the state string, edit it, write it back only where it still holds what was
    read; read again on a conflict (up to :data:`TRIES` times)."""
    from mcpstore_cli.layouts.turul_sessions.changes import decode_state
    from mcpstore_cli.util.jsoncodec import dumps

    store._ensure_readable_sync()
    assert store._sessions is not None
    n = store._sessions.names
    for _try in range(TRIES):
        raw = _read(store, session_id)
        if raw is None:
            return gone(session_id, action, store.url.masked())
        text = _s(raw.get(n.state))
        state = decode_state(text if text is not None else "{}", session_id)
        if isinstance(state, str):
            return SessionChange(session_id, action, False, "not changed", state)
        new, change = edit(state)
        if new is None:
            return change
        sets: dict[str, Any] = {
            n.state: {"S": dumps(new)},
            n.last_activity: {"N": str(now_ms)},
        }
        if ttl_s is not None:
            sets[n.ttl] = {"N": str(now_ms // 1000 + ttl_s)}
        if text is None:
            condition, names, values = "attribute_not_exists(#st)", {"#st": n.state}, {}
        else:
            condition, names, values = "#st = :old", {"#st": n.state}, {":old": {"S": text}}
        if _update(store, session_id, sets, condition=condition, names=names, values=values):
            return change
    return contended(session_id, action, TRIES)


def touch(store: DynamoDBStore, session_id: str, *, now_ms: int, ttl_s: int) -> SessionChange:
    store._ensure_readable_sync()
    assert store._sessions is not None
    n = store._sessions.names
    ttl = now_ms // 1000 + ttl_s
    sets = {n.last_activity: {"N": str(now_ms)}, n.ttl: {"N": str(ttl)}}
    if not _update(store, session_id, sets):
        return gone(session_id, "touch", store.url.masked())
    return SessionChange(
        session_id, "touch", True, "touched", f"last_activity {now_ms}, ttl {ttl}", changed=True
    )


def read_state(store: DynamoDBStore, session_id: str) -> dict[str, Any] | None:
    from mcpstore_cli.errors import McpStoreError

    raw = _read(store, session_id)
    if raw is None:
        return None
    assert store._sessions is not None
    text = _s(raw.get(store._sessions.names.state))
    try:
        state = json.loads(text) if text is not None else {}
    except ValueError:
        raise McpStoreError(f"Session {session_id}: its state is not JSON.") from None
    if not isinstance(state, dict):
        raise McpStoreError(f"Session {session_id}: its state is not a JSON object.")
    return state


def _event_keys(store: DynamoDBStore, session_id: str) -> tuple[list[dict[str, Any]], int]:
    """Every event item's key of the session, and how many of them are live (unexpired)."""
    assert store._events is not None
    n = store._events.names
    now_s = int(time.time())
    keys: list[dict[str, Any]] = []
    live = 0
    start: dict[str, Any] | None = None
    while True:
        params: dict[str, Any] = {
            "TableName": store.events_table,
            "KeyConditionExpression": "#sid = :sid",
            "ExpressionAttributeNames": {"#sid": n.session_id, "#eid": n.event_id, "#ttl": n.ttl},
            "ExpressionAttributeValues": {":sid": {"S": session_id}},
            "ProjectionExpression": "#sid, #eid, #ttl",
            "ConsistentRead": True,
        }
        if start:
            params["ExclusiveStartKey"] = start
        page = store._call("query", **params)
        for item in _items(page):
            keys.append({n.session_id: item[n.session_id], n.event_id: item[n.event_id]})
            if not _expired(_n(item.get(n.ttl)), now_s):
                live += 1
        start = page.get("LastEvaluatedKey")
        if not start:
            return keys, live


def preview(store: DynamoDBStore, session_id: str) -> dict[str, int] | None:
    if _read(store, session_id) is None:
        return None
    _keys, live = _event_keys(store, session_id)
    return {"sessions": 1, "events": live}


def delete(store: DynamoDBStore, session_id: str) -> SessionChange:
    from botocore.exceptions import ClientError

    store._ensure_readable_sync()
    assert store._sessions is not None
    n = store._sessions.names
    live, names, values = _live(store)
    try:
        store.client.delete_item(
            TableName=store.table,
            Key={n.session_id: {"S": session_id}},
            ConditionExpression=live,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if _code(exc) != "ConditionalCheckFailedException":
            raise store._translate(exc, store.table) or exc from exc
        return gone(session_id, "delete", store.url.masked())
    except Exception as exc:
        raise store._translate(exc, store.table) or exc from exc
    events = 0
    for _pass in range(EVENT_PASSES):
        keys, live_events = _event_keys(store, session_id)
        if not keys:
            break
        events += live_events
        for start in range(0, len(keys), 25):
            store.batch_write(
                [(store.events_table, key) for key in keys[start : start + 25]], delete=True
            )
    removed = {"sessions": 1, "events": events}
    return SessionChange(
        session_id, "delete", True, "deleted", removed_text(removed), changed=True, removed=removed
    )
