"""The screen of ``mcpstore top`` (rich renderables): sessions by status, arrivals and
expiries per minute as sparklines, the event rate and its history, the top clients and
protocol versions, the newest events, and a footer with the keys. Figures that are
estimates carry ``≈`` and are explained under the panels."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from mcpstore_cli.model.top import SORTS, WINDOW_MIN, TopSnapshot

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    if not values:
        return ""
    top = max(values)
    if top <= 0:
        return BARS[0] * len(values)
    return "".join(BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1) + 0.5))] for v in values)


def _mark(snap: TopSnapshot, figure: str) -> str:
    return "≈" if figure in snap.estimates or "every figure" in snap.estimates else ""


def _clock(ms: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ms / 1000))


def screen(
    snap: TopSnapshot | None,
    *,
    store: str,
    layout: str,
    interval_s: float,
    paused: bool,
    sort: str,
    rate_history: Sequence[float],
    problem: str | None,
) -> Any:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    head = Text()
    head.append("mcpstore top ", style="bold")
    head.append(f"{store} ({layout})")  # Text.append: plain text, never markup
    if snap is not None:
        every = f", every {interval_s:g} s" if interval_s else ""
        head.append(f"  at {_clock(snap.at_ms)}{every}, read in {snap.store_ms:.0f} ms")
    if paused:
        head.append("  PAUSED", style="bold yellow")
    parts: list[Any] = [head]
    if problem:
        parts.append(Text(f"! {problem}", style="bold red"))
    if snap is None:
        parts.append(Text("reading the store…"))
        return Group(*parts)

    status = Table(title=f"sessions {_mark(snap, 'sessions')}{snap.total:,}", expand=False)
    status.add_column("status")
    status.add_column("sessions", justify="right")
    for name, n in snap.statuses.items():
        status.add_row(Text(name), f"{_mark(snap, name)}{n:,}")

    flows = Table(title=f"last {WINDOW_MIN} minutes, per minute", expand=False)
    flows.add_column("")
    flows.add_column("sparkline")
    flows.add_column("now", justify="right")
    if snap.arrivals is not None:
        flows.add_row(
            f"arrivals {_mark(snap, 'arrivals')}", sparkline(snap.arrivals), str(snap.arrivals[-1])
        )
    if snap.expiries is not None:
        flows.add_row(
            f"expiries {_mark(snap, 'expiries')}", sparkline(snap.expiries), str(snap.expiries[-1])
        )
    rate = "-" if snap.events_per_s is None else f"{snap.events_per_s:,.1f}/s"
    flows.add_row(f"events {_mark(snap, 'event rate')}", sparkline(rate_history), rate)
    if snap.events_total is not None:
        flows.add_row(f"stored {_mark(snap, 'events')}", "", f"{snap.events_total:,}")

    def ranked(title: str, rows: list[tuple[str, int]]) -> Any:
        table = Table(title=title, expand=False)
        table.add_column("name")
        table.add_column("sessions", justify="right")
        ordered = sorted(rows, key=lambda r: (r[0].lower(), -r[1])) if sort == "name" else rows
        for name, n in ordered:
            table.add_row(Text(name[:32]), f"{n:,}")  # Text: a store's values are no markup
        return table

    upper = Table.grid(padding=(0, 2))
    upper.add_row(status, flows)
    parts.append(upper)
    if snap.sampled:
        lower = Table.grid(padding=(0, 2))
        lower.add_row(
            ranked(f"clients (of {snap.sampled:,} most recent)", snap.clients),
            ranked("protocol versions", snap.protocols),
        )
        parts.append(lower)
    if snap.newest:
        events = Table(title="newest events", expand=False)
        for col in ("id", "time", "session", "type"):
            events.add_column(col, justify="right" if col == "id" else "left")
        for ev in snap.newest:
            at = ev.get("time")
            events.add_row(
                str(ev.get("id")),
                _clock(at) if isinstance(at, int) else "-",
                Text(str(ev.get("session_id"))[:12]),
                Text(str(ev.get("type"))[:40]),
            )
        parts.append(events)
    if snap.estimates:
        notes = Text("≈ estimates: ", style="dim")
        notes.append("; ".join(f"{k}: {v}" for k, v in snap.estimates.items()), style="dim")
        parts.append(notes)
    parts.append(Text(f"q quit   p pause   s sort by {_next(sort)}", style="reverse"))
    return Panel(Group(*parts), border_style="blue", expand=False)


def _next(sort: str) -> str:
    return SORTS[(SORTS.index(sort) + 1) % len(SORTS)]
