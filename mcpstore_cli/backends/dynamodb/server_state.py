"""turul's server state on DynamoDB (layout ``server-state``, more-layouts.md §3): one table
(default ``mcp-server-state``) keyed by ``entityType`` and ``entityId``. An entity's item has
``active`` (BOOL), ``updatedAt`` (RFC 3339 text) and ``metadata`` (JSON text, absent when none);
an entity type's fingerprint is the item whose entityId is ``#fingerprint``, with
``fingerprint``. The figures of ``stats`` are those of the SQL stores
(:class:`~mcpstore_cli.backends.sql.server_state.SqlServerStateStore`)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any, ClassVar, NoReturn

from mcpstore_cli.backends.dynamodb.common import _s
from mcpstore_cli.backends.dynamodb.tablestore import (
    DynamoDBTableStore,
    json_text,
    record_line,
    refuse_session_filters,
)
from mcpstore_cli.errors import UsageError
from mcpstore_cli.layouts.turul_server_state import dynamodb as state_layout
from mcpstore_cli.store.base import ProgressCallback

TYPE = "entityType"
ID = "entityId"
FINGERPRINT = state_layout.FINGERPRINT_ID


def entity_item(
    entity_type: str, entity_id: str, active: bool, metadata: Any, updated_at: str
) -> dict[str, Any]:
    """An entity's item as the server puts it (metadata as JSON text, absent when none)."""
    item: dict[str, Any] = {
        TYPE: {"S": entity_type},
        ID: {"S": entity_id},
        "active": {"BOOL": bool(active)},
        "updatedAt": {"S": updated_at},
    }
    text = json_text(metadata)
    if text is not None:
        item["metadata"] = {"S": text}
    return item


def fingerprint_item(entity_type: str, fingerprint: str, updated_at: str) -> dict[str, Any]:
    return {
        TYPE: {"S": entity_type},
        ID: {"S": FINGERPRINT},
        "fingerprint": {"S": fingerprint},
        "updatedAt": {"S": updated_at},
    }


def _active(av: Any) -> bool | None:
    if isinstance(av, dict) and "BOOL" in av:
        return bool(av["BOOL"])
    return None


class DynamoDBServerStateStore(DynamoDBTableStore):
    """turul's server entity state and fingerprints in one DynamoDB table."""

    layout: ClassVar[str] = "server-state"
    contents: ClassVar[str] = "turul's server state"
    reader_command: ClassVar[str] = "mcpstore stats --layout server-state"
    records_noun: ClassVar[str | None] = "entities"
    DECLARED = state_layout.STATE
    DEFAULT_TABLE: ClassVar[str | None] = state_layout.DEFAULT_TABLE
    RECORDS: ClassVar[str] = "entities"

    def _not_sessions(self, command: str) -> NoReturn:
        raise UsageError(
            f"{self.url.masked()} holds turul's server state, not sessions; mcpstore stats "
            "--layout server-state shows it."
        )

    def _items(self) -> Iterator[dict[str, Any]]:
        for page in self._scan():
            yield from page

    # -- figures ----------------------------------------------------------------------------
    def _stats_sync(self) -> dict[str, Any]:
        entities: dict[str, dict[str, Any]] = {}
        prints: dict[str, dict[str, Any]] = {}
        for raw in self._items():
            kind = _s(raw.get(TYPE)) or "?"
            if _s(raw.get(ID)) == FINGERPRINT:
                prints[kind] = {
                    "fingerprint": _s(raw.get("fingerprint")),
                    "fingerprint_updated": _s(raw.get("updatedAt")),
                }
                continue
            entry = entities.setdefault(
                kind, {"entities": 0, "active": 0, "oldest": None, "newest": None}
            )
            entry["entities"] += 1
            entry["active"] += 1 if _active(raw.get("active")) else 0
            updated = _s(raw.get("updatedAt"))
            if updated is not None:
                if entry["oldest"] is None or updated < entry["oldest"]:
                    entry["oldest"] = updated
                if entry["newest"] is None or updated > entry["newest"]:
                    entry["newest"] = updated
        by_type: dict[str, dict[str, Any]] = {}
        for kind in sorted(entities):
            e = entities[kind]
            by_type[kind] = {
                "entities": e["entities"],
                "active": e["active"],
                "inactive": e["entities"] - e["active"],
                "oldest_update": e["oldest"],
                "newest_update": e["newest"],
            }
        for kind in sorted(prints):
            by_type.setdefault(kind, {"entities": 0, "active": 0}).update(prints[kind])
        return {
            "store": self.url.masked(),
            "layout": self.layout,
            "entities": sum(int(v.get("entities", 0)) for v in by_type.values()),
            "active": sum(int(v.get("active", 0)) for v in by_type.values()),
            "entity_types": by_type,
        }

    async def layout_stats(self, *, now_ms: int) -> dict[str, Any] | None:
        await self.ensure_readable()
        return await asyncio.to_thread(self._stats_sync)

    def _kind_counts(self) -> dict[str, int] | None:
        counts = {"entities": 0, "fingerprints": 0}
        for raw in self._items():
            counts["fingerprints" if _s(raw.get(ID)) == FINGERPRINT else "entities"] += 1
        return counts

    def _count_records(self) -> int:
        return self._count_items(
            {
                "FilterExpression": "#i <> :f",
                "ExpressionAttributeNames": {"#i": ID},
                "ExpressionAttributeValues": {":f": {"S": FINGERPRINT}},
            }
        )

    # -- demo -------------------------------------------------------------------------------
    async def write_demo(
        self, batches: Any, progress: ProgressCallback | None = None
    ) -> tuple[int, int]:
        """The server's own writes: a PutItem of each entity and fingerprint (as batches)."""
        await self.ensure_readable()
        written = 0
        async for items, _events in batches:
            requests = []
            for kind, row in items:
                if kind == "entity":
                    requests.append(
                        entity_item(
                            row["entity_type"],
                            row["entity_id"],
                            row["active"],
                            row["metadata"],
                            row["updated_at"],
                        )
                    )
                    written += 1
                else:
                    requests.append(
                        fingerprint_item(row["entity_type"], row["fingerprint"], row["updated_at"])
                    )
            await asyncio.to_thread(self.ddb.batch_write, [(self.table, i) for i in requests])
            if progress is not None:
                progress(len(items))
        return written, 0

    # -- the portable backup file -----------------------------------------------------------
    def _backup_sync(self, out: Any, progress: ProgressCallback | None) -> dict[str, Any]:
        entities: list[list[Any]] = []
        prints: list[list[Any]] = []
        skipped = 0
        for raw in self._items():
            kind, key, updated = _s(raw.get(TYPE)), _s(raw.get(ID)), _s(raw.get("updatedAt"))
            if kind is None or key is None or updated is None:
                skipped += 1
                continue
            if key == FINGERPRINT:
                value = _s(raw.get("fingerprint"))
                if value is None:
                    skipped += 1
                else:
                    prints.append(["f", kind, value, updated])
                continue
            active = _active(raw.get("active"))
            text = _s(raw.get("metadata"))
            try:
                metadata = None if text is None else json.loads(text)
            except ValueError:
                active = None
            if active is None:
                skipped += 1
                continue
            entities.append(["v", kind, key, active, metadata, updated])
        entities.sort(key=lambda r: (r[1], r[2]))
        prints.sort(key=lambda r: r[1])
        for records in (entities, prints):
            if records:
                out.sessions_block(b"".join(record_line(r) for r in records))
        if progress is not None:
            progress(len(entities) + len(prints))
        notes = [f"{skipped:,} items the layout cannot hold were left out"] if skipped else []
        return {
            "consistency": f"one scan of table {self.table}, strongly consistent page by page; "
            "a scan is not a snapshot: an item the server wrote during the backup is in it as "
            "it was when its page was read",
            "skipped": skipped,
            "notes": notes,
        }

    async def backup_records(
        self, spec: Any, out: Any, header: dict[str, Any], progress: ProgressCallback | None = None
    ) -> dict[str, Any]:
        refuse_session_filters(spec, self.layout)
        await self.ensure_readable()
        header["layout"] = self.layout
        header["source"]["event_ids"] = "none"
        out.header(header)
        result: dict[str, Any] = await asyncio.to_thread(self._backup_sync, out, progress)
        return result

    def _restore_sync(
        self,
        info: Any,
        summary: Any,
        mode: str,
        progress: ProgressCallback | None,
        stop: threading.Event,
    ) -> None:
        from mcpstore_cli.util.backupfile import iter_record_blocks

        if mode == "replace":
            self._replace_first(summary, stop)
        counts = {"v": [0, 0], "f": [0, 0]}
        for kind, lines in iter_record_blocks(info.path):
            if stop.is_set():
                break
            records = [json.loads(line) for line in lines]
            if kind == "v":
                items = (entity_item(r[1], r[2], r[3], r[4], r[5]) for r in records)
            else:
                items = (fingerprint_item(r[1], r[2], r[3]) for r in records)
            written, skipped = self._restore_items(
                iter(items), merge=mode == "merge", progress=progress, stop=stop
            )
            counts[kind][0] += written
            counts[kind][1] += skipped
        summary.sessions += counts["v"][0] + counts["f"][0]
        summary.skipped_sessions += counts["v"][1] + counts["f"][1]

    async def restore_records(
        self,
        info: Any,
        summary: Any,
        *,
        mode: str,
        keep_ttl: bool = False,
        progress: ProgressCallback | None = None,
    ) -> None:
        """``merge`` puts each entity and fingerprint whose key is free (conditionally);
        ``replace`` deletes every item first."""
        await self.ensure_readable()
        loop = asyncio.get_running_loop()

        def tick(n: int) -> None:
            if progress is not None:
                loop.call_soon_threadsafe(progress, n)

        await self._in_thread(
            lambda stop: self._restore_sync(info, summary, mode, tick, stop),
            lambda: f"the restore had written {summary.sessions:,} records; they stay.",
        )
