"""``expire``'s summary as a JSON object (the drawn form is in :mod:`render.output`)."""

from __future__ import annotations

from typing import Any

from mcpstore_cli.model.records import ExpireOptions, ExpireResult


def result_json(
    result: ExpireResult, opts: ExpireOptions, store: str, *, by_entry: bool = False
) -> dict[str, Any]:
    duration = round(result.duration_s, 3)
    return {
        "store": store,
        "dry_run": result.dry_run,
        "idle_cutoff": opts.idle_cutoff,
        "terminated": opts.terminated,
        "sessions": result.sessions,
        "events": result.events,
        "orphans": result.orphans,
        "trimmed": result.trimmed,
        "skipped_active": result.skipped,
        "duration_s": duration,
        "rate": round(result.rows / result.duration_s, 1)
        if result.duration_s > 0 and not result.dry_run
        else None,
        "partial": result.partial,
        "remaining": result.remaining,
        "sample": result.sample,
        "notes": result.notes,
        **({"entries": result.entries} if result.entries else {}),
        **({"by_entry": True, "expired_entries": result.expired_entries} if by_entry else {}),
    }
