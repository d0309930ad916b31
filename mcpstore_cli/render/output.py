"""The one place that renders records: sessions, events, stats, setup steps and findings,
in every format (``table``, ``json``, ``jsonl``, ``csv``).

Each record type has one JSON form (documented in the README); tables and CSV are drawn from
it, so the formats cannot disagree. Rich is imported only when a table is drawn.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mcpstore_cli.env import Environment
from mcpstore_cli.model.records import Cursor, Event, Finding, Session, SetupStep, Stats
from mcpstore_cli.util.durations import format_duration
from mcpstore_cli.util.timeutil import ago, short_time

FORMATS = ("table", "json", "jsonl", "csv")
TAIL_FORMATS = ("pretty", "sse", "jsonl")
# Event types the SSE wire form writes as a comment line instead of an event.
KEEPALIVE_TYPES = frozenset({"ping", "keepalive"})


def choose_format(requested: str | None, env: Environment) -> str:
    """Table on a terminal, JSON Lines when stdout is not a terminal."""
    if requested:
        return requested
    return "table" if env.stdout_isatty else "jsonl"


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# -- JSON forms ------------------------------------------------------------------------
def session_json(
    session: Session, *, now_ms: int, timeout_ms: int, with_cursor: bool = True
) -> dict[str, Any]:
    info = session.state.get("client_info")
    out: dict[str, Any] = {
        "session_id": session.session_id,
        "status": session.status(now_ms, timeout_ms),
        "created_at": session.created_at,
        "last_activity": session.last_activity,
        "is_initialized": session.is_initialized,
        "terminated": session.terminated,
        "terminated_at": session.terminated_at,
        "client_info": info if isinstance(info, dict) else None,
        "protocol_version": session.protocol_version,
        "event_count": session.event_count,
        "client_capabilities": session.client_capabilities,
        "server_capabilities": session.server_capabilities,
        "state": session.state,
        "metadata": session.metadata,
    }
    if session.extras:
        out.update(session.extras)  # PostgreSQL's "version", DynamoDB's "ttl"
    if with_cursor:
        out["cursor"] = Cursor.after(session).encode()
    return out


def event_json(event: Event) -> dict[str, Any]:
    if event.extra("event_id") is not None:  # a key-value layout's event (FastMCP)
        return {
            "session_id": event.session_id,
            "event_id": event.extra("event_id"),
            "stream_id": event.extra("stream_id"),
            "timestamp": event.timestamp,
            "event_type": event.event_type,
            "data": event.data,
        }
    return {
        "session_id": event.session_id,
        "id": event.id,
        "timestamp": event.timestamp,
        "event_type": event.event_type,
        "data": event.data,
        "retry": event.retry,
    }


def stats_json(stats: Stats) -> dict[str, Any]:
    return {
        "backend": stats.backend,
        "store": stats.store,
        "generated_at": stats.now_ms,
        "timeout_ms": stats.timeout_ms,
        "approximate": stats.approximate,
        "sessions": {
            "total": stats.sessions,
            "initialized": stats.initialized,
            "active": stats.active,
            "idle": stats.idle,
            "terminated": stats.terminated,
        },
        "events": {
            "total": stats.events,
            "orphaned": stats.orphaned_events,
            "per_session": stats.events_per_session,
        },
        "created_at": {"oldest": stats.oldest_created_at, "newest": stats.newest_created_at},
        "last_activity": {"oldest": stats.oldest_activity, "newest": stats.newest_activity},
        "storage_bytes": stats.storage_bytes,
        "storage": stats.storage,
        "backend_facts": stats.backend_facts,
        "age_histogram": [{"bucket": b, "sessions": n} for b, n in stats.age_histogram],
        "activity_histogram": [{"bucket": b, "sessions": n} for b, n in stats.activity_histogram],
    }


def finding_json(finding: Finding) -> dict[str, Any]:
    return {"object": finding.object, "problem": finding.problem, "severity": finding.severity}


def step_json(step: SetupStep) -> dict[str, Any]:
    return {"object": step.object, "action": step.action, "kind": step.detail}


# -- streaming record writer -----------------------------------------------------------
# Spaces between two columns of a table drawn without a box (padding 1 on each side).
COLUMN_GAP = 2
# The shortest id prefix a narrow table shows (``show`` takes prefixes of 4 and more).
MIN_ID_PREFIX = 8


@dataclass
class Column:
    header: str
    key: str | Callable[[dict[str, Any]], Any]
    style: str | None = None
    justify: str = "left"
    no_wrap: bool = False
    # On a terminal too narrow for the table (writers with ``one_line``), columns with a
    # ``drop`` rank give way, lowest rank first: a column with ``shrink_to`` is first cut
    # (with an ellipsis) down to no less than that width, and dropped only if even that does
    # not fit; an ``id_prefix`` column (session ids) is never dropped, its ids are shortened
    # to the shortest prefix unique on the page (at least 8 characters) followed by "…".
    drop: int | None = None
    shrink_to: int | None = None
    id_prefix: bool = False

    def value(self, obj: dict[str, Any]) -> Any:
        return self.key(obj) if callable(self.key) else obj.get(self.key)


@dataclass
class _Fit:
    """How a chunk of rows is laid out on a narrow terminal."""

    shown: list[int]  # indexes of the columns drawn
    prefix: int | None = None  # characters of the id shown, when shortened
    limits: dict[int, int] = field(default_factory=dict)  # column index -> width cut to


def unique_prefix_length(ids: Iterable[str], minimum: int = MIN_ID_PREFIX) -> int:
    """The shortest length (at least ``minimum``) at which no two ``ids`` share a prefix,
    compared case-insensitively (``show`` resolves prefixes regardless of case)."""
    keys = sorted({i.lower() for i in ids})
    need = minimum
    for a, b in itertools.pairwise(keys):
        common = 0
        for x, y in zip(a, b, strict=False):
            if x != y:
                break
            common += 1
        need = max(need, common + 1)
    return need


class RecordWriter:
    """Writes a stream of records (JSON forms) in one format, holding at most a chunk.

    ``one_line``: on a terminal every record stays on one line: when the table is wider than
    the terminal, ids are shortened and columns cut or dropped (see :class:`Column`). Off a
    terminal a table is never wrapped or cut, whatever the terminal's width.
    """

    CHUNK = 500

    def __init__(
        self,
        env: Environment,
        fmt: str,
        columns: list[Column],
        csv_fields: list[str],
        *,
        title: str | None = None,
        one_line: bool = False,
    ) -> None:
        self.env = env
        self.fmt = fmt
        self.columns = columns
        self.csv_fields = csv_fields
        self.title = title
        self.one_line = one_line
        self.count = 0
        self._rows: list[dict[str, Any]] = []
        self._csv: Any = None
        self._tables = 0
        self._fit: _Fit | None = None
        self._widths: list[int] = []

    def write(self, obj: dict[str, Any]) -> None:
        out = self.env.stdout
        if self.fmt == "jsonl":
            out.write(compact(obj) + "\n")
        elif self.fmt == "json":
            out.write(("[\n  " if self.count == 0 else ",\n  ") + compact(obj))
        elif self.fmt == "csv":
            if self._csv is None:
                self._csv = csv.writer(out, lineterminator="\n")
                self._csv.writerow(self.csv_fields)
            self._csv.writerow([_csv_cell(obj.get(f)) for f in self.csv_fields])
        else:
            self._rows.append(obj)
            if len(self._rows) >= self.CHUNK:
                self._flush_table()
        self.count += 1

    def _flush_table(self) -> None:
        from rich.cells import cell_len
        from rich.table import Table
        from rich.text import Text

        texts = [[_cell_text(col.value(obj)) for col in self.columns] for obj in self._rows]
        # Each column at least as wide as in the blocks of rows before, so that they line up.
        widths = [
            max([cell_len(col.header), *(cell_len(row[i]) for row in texts)])
            for i, col in enumerate(self.columns)
        ]
        if self._widths:
            widths = [max(w, before) for w, before in zip(widths, self._widths, strict=True)]
        fitted = self.one_line and bool(self.env.stdout_isatty)
        every = list(range(len(self.columns)))
        fit = self._fit_terminal(texts, widths) if fitted else _Fit(every)
        self._widths = widths
        table = Table(
            title=self.title if self._tables == 0 else None,
            show_header=self._tables == 0,
            header_style="bold",
            box=None,
            pad_edge=False,
        )
        for i in fit.shown:
            col = self.columns[i]
            table.add_column(
                col.header,
                justify=col.justify,  # type: ignore[arg-type]
                no_wrap=col.no_wrap or fitted,
                overflow="ellipsis" if fitted else "fold",
                min_width=widths[i] if self._tables else None,
                max_width=fit.limits.get(i),
            )
        for row in texts:
            cells = []
            for i in fit.shown:
                col = self.columns[i]
                text = row[i]
                if col.id_prefix and fit.prefix is not None and fit.prefix < len(text):
                    text = text[: fit.prefix] + "…"
                cells.append(Text(text, style=col.style or ""))
            table.add_row(*cells)
        self.env.console().print(table)
        self._rows = []
        self._tables += 1

    def _fit_terminal(self, texts: list[list[str]], widths: list[int]) -> _Fit:
        """Shorten ids, cut or drop columns, in their ``drop`` order, until the table fits
        the terminal; ``widths`` (of every column) are updated to what is drawn.

        Which columns are drawn is settled by the first chunk: later chunks have no header,
        so a column they cannot fit is cut, not dropped. Ids are worked out for every chunk,
        never shorter than in the chunk before."""
        from rich.cells import cell_len

        avail = self.env.console().width
        before = self._fit
        shown = list(range(len(self.columns))) if before is None else list(before.shown)
        fit = _Fit(shown)

        def total() -> int:
            return sum(widths[i] for i in shown) + COLUMN_GAP * (len(shown) - 1)

        def shorten(i: int) -> None:
            earlier = before.prefix if before is not None and before.prefix else 0
            fit.prefix = max(earlier, unique_prefix_length(row[i] for row in texts))
            longest = max((len(row[i]) for row in texts), default=0)
            widths[i] = max(cell_len(self.columns[i].header), min(longest, fit.prefix + 1))

        ranked = [i for i in shown if self.columns[i].drop is not None]
        for i in sorted(ranked, key=lambda i: self.columns[i].drop or 0):
            col = self.columns[i]
            if col.id_prefix:
                # Once a chunk has shortened ids, every later chunk does too.
                if total() > avail or (before is not None and before.prefix is not None):
                    shorten(i)
                continue
            if total() <= avail:
                break
            room = avail - (total() - widths[i])
            if col.shrink_to is not None and room >= min(col.shrink_to, widths[i]):
                widths[i] = fit.limits[i] = room
            elif before is None:
                shown.remove(i)
            else:
                widths[i] = fit.limits[i] = max(1, room)
        self._fit = _Fit(shown, fit.prefix)
        return fit

    def close(self) -> None:
        if self.fmt == "json":
            self.env.stdout.write("\n]\n" if self.count else "[]\n")
        elif self.fmt == "csv" and self._csv is None:
            csv.writer(self.env.stdout, lineterminator="\n").writerow(self.csv_fields)
        elif self.fmt == "table" and self._rows:
            self._flush_table()
        self.env.stdout.flush()


def _cell_text(value: Any) -> str:
    return "-" if value is None else str(value)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return compact(value)
    return value


STATUS_STYLE = {"active": "green", "idle": "yellow", "terminated": "red"}


def session_writer(env: Environment, fmt: str, *, now_ms: int) -> RecordWriter:
    def client(obj: dict[str, Any]) -> str | None:
        info = obj.get("client_info")
        if not isinstance(info, dict):
            return None
        return " ".join(str(v) for v in (info.get("name"), info.get("version")) if v)

    def status(obj: dict[str, Any]) -> str:
        st = obj["status"]
        return f"{st}" if obj.get("is_initialized") else f"{st} (uninit.)"

    # On a terminal narrower than the table, STATUS and LAST ACTIVITY always stay and the
    # rest gives way in this order: the protocol version goes, then ids are shortened to
    # unique prefixes (still accepted by every command), then the creation time goes (LAST
    # ACTIVITY says more), then the client (cut to fit first), and the event count last.
    columns = [
        Column("SESSION", "session_id", "cyan", no_wrap=True, drop=2, id_prefix=True),
        Column("STATUS", status),
        Column("CLIENT", client, drop=4, shrink_to=12),
        Column("PROTOCOL", "protocol_version", drop=1),
        Column("EVENTS", "event_count", justify="right", drop=5),
        Column("CREATED (UTC)", lambda o: short_time(o["created_at"]), no_wrap=True, drop=3),
        Column("LAST ACTIVITY", lambda o: ago(o["last_activity"], now_ms), no_wrap=True),
    ]
    fields = [
        "session_id",
        "status",
        "created_at",
        "last_activity",
        "is_initialized",
        "terminated",
        "terminated_at",
        "client_info",
        "protocol_version",
        "event_count",
        "client_capabilities",
        "server_capabilities",
        "state",
        "metadata",
        "cursor",
    ]
    return RecordWriter(env, fmt, columns, fields, one_line=True)


def event_writer(env: Environment, fmt: str, *, title: str | None = None) -> RecordWriter:
    columns = [
        Column("ID", "id", justify="right"),
        Column("TIME (UTC)", lambda o: short_time(o["timestamp"]), no_wrap=True),
        Column("TYPE", "event_type", "magenta"),
        Column("RETRY", "retry", justify="right"),
        Column("DATA", lambda o: _clip(compact(o["data"]), 90)),
    ]
    fields = ["session_id", "id", "timestamp", "event_type", "data", "retry"]
    return RecordWriter(env, fmt, columns, fields, title=title)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def write_records(
    env: Environment, fmt: str, records: Iterable[dict[str, Any]], columns: list[Column]
) -> None:
    writer = RecordWriter(env, fmt, columns, [str(c.key) for c in columns])
    for obj in records:
        writer.write(obj)
    writer.close()


def write_steps(env: Environment, fmt: str, steps: list[SetupStep]) -> None:
    write_records(
        env,
        fmt,
        (step_json(s) for s in steps),
        [Column("object", "object", "cyan"), Column("kind", "kind"), Column("action", "action")],
    )


def write_findings(env: Environment, fmt: str, findings: list[Finding]) -> None:
    write_records(
        env,
        fmt,
        (finding_json(f) for f in findings),
        [
            Column("severity", "severity"),
            Column("object", "object", "cyan"),
            Column("problem", "problem"),
        ],
    )


# -- single objects ----------------------------------------------------------------------
def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, dict) and value and prefix.count(".") < 1:
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out.append((prefix, value))


def write_object(
    env: Environment, fmt: str, obj: dict[str, Any], draw_table: Callable[[], None]
) -> None:
    """One record: pretty JSON, one JSON line, ``field,value`` CSV rows, or a drawn view."""
    if fmt == "json":
        env.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    elif fmt == "jsonl":
        env.stdout.write(compact(obj) + "\n")
    elif fmt == "csv":
        rows: list[tuple[str, Any]] = []
        _flatten("", obj, rows)
        writer = csv.writer(env.stdout, lineterminator="\n")
        writer.writerow(["field", "value"])
        for key, value in rows:
            writer.writerow([key, _csv_cell(value)])
    else:
        draw_table()
    env.stdout.flush()


def draw_session(
    env: Environment, obj: dict[str, Any], events: list[dict[str, Any]], *, now_ms: int
) -> None:
    from rich.json import JSON
    from rich.table import Table

    console = env.console()
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    status = obj["status"]
    info = obj.get("client_info") or {}
    rows = [
        ("session", f"[cyan]{_escape(obj['session_id'])}[/]"),
        ("status", f"[{STATUS_STYLE.get(status, '')}]{status}[/]"),
        ("initialized", "yes" if obj["is_initialized"] else "no"),
        ("client", _escape(" ".join(str(v) for v in info.values() if v)) if info else "-"),
        ("protocol", _escape(obj.get("protocol_version") or "-")),
        ("created", f"{short_time(obj['created_at'])} UTC ({ago(obj['created_at'], now_ms)})"),
        (
            "last activity",
            f"{short_time(obj['last_activity'])} UTC ({ago(obj['last_activity'], now_ms)})",
        ),
    ]
    if obj.get("terminated_at"):
        rows.append(("terminated", f"{short_time(obj['terminated_at'])} UTC"))
    if "version" in obj:
        rows.append(("row version", str(obj["version"])))
    if "ttl" in obj:
        rows.append(("ttl", f"{short_time(obj['ttl'] * 1000)} UTC"))
    rows.append(("events", str(obj.get("event_count"))))
    for key, value in rows:
        grid.add_row(key, value)
    console.print(grid)
    for key in ("client_capabilities", "server_capabilities", "state", "metadata"):
        console.print(f"\n[bold]{key}[/]")
        data = obj.get(key)
        console.print(JSON(json.dumps(data)) if data is not None else "-")
    console.print()
    title = None
    if events:
        title = "the last event" if len(events) == 1 else f"the last {len(events)} events"
    if events:
        draw_events(env, events, title=title)
    else:
        console.print("no events")


# The narrowest DATA column worth drawing beside the others; below it, data goes under TYPE.
MIN_DATA_WIDTH = 40


def draw_events(env: Environment, events: list[dict[str, Any]], *, title: str | None) -> None:
    """Events as a table (``show``). Nothing is cut: long values fold onto following lines.
    On a terminal too narrow to give DATA its own column of :data:`MIN_DATA_WIDTH`, type
    (and retry) and data share one column, the data on the lines under the type."""
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    writer = event_writer(env, "table", title=title)
    texts = [[_cell_text(col.value(e)) for col in writer.columns] for e in events]
    widths = [
        max([cell_len(col.header), *(cell_len(row[i]) for row in texts)])
        for i, col in enumerate(writer.columns)
    ]
    avail = env.console().width
    beside = sum(widths[:-1]) + COLUMN_GAP * (len(widths) - 1)
    if not env.stdout_isatty or beside + widths[-1] <= avail or avail - beside >= MIN_DATA_WIDTH:
        for event in events:
            writer.write(event)
        writer.close()
        return
    table = Table(title=title, header_style="bold", box=None, pad_edge=False)
    table.add_column("ID", justify="right", no_wrap=True)
    table.add_column("TIME (UTC)", no_wrap=True)
    table.add_column("TYPE, DATA", overflow="fold")
    for event, row in zip(events, texts, strict=True):
        cell = Text(row[2], style="magenta")
        if event.get("retry") is not None:
            cell.append(f"  retry {event['retry']} ms", style="yellow")
        cell.append("\n" + row[4])
        table.add_row(row[0], row[1], cell)
    env.console().print(table)


def draw_stats(env: Environment, obj: dict[str, Any]) -> None:
    from rich.table import Table

    console = env.console()
    s = obj["sessions"]
    e = obj["events"]
    per = e["per_session"]
    now = obj["generated_at"]
    timeout = format_duration(obj["timeout_ms"])
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(justify="right")
    grid.add_column()
    approx = " (approximate)" if obj.get("approximate") else ""
    grid.add_row("store", "", f"{_escape(obj['store'])}{approx}")
    grid.add_row("sessions", f"{s['total']:,}", "")
    grid.add_row("  initialized", f"{s['initialized']:,}", "")
    grid.add_row("  active", f"[green]{s['active']:,}[/]", f"activity within {timeout}")
    grid.add_row("  idle", f"[yellow]{s['idle']:,}[/]", f"no activity for over {timeout}")
    grid.add_row("  terminated", f"[red]{s['terminated']:,}[/]", "ended by the client")
    grid.add_row("events", f"{e['total']:,}", "")
    if e.get("orphaned") is not None:
        grid.add_row("  orphaned", f"{e['orphaned']:,}", "their session is gone")
    if per:
        grid.add_row(
            "  per session",
            "",
            f"mean {per['mean']}  p50 {per['p50']}  p95 {per['p95']}  max {per['max']}",
        )
    for label, key in (("created", "created_at"), ("last activity", "last_activity")):
        span = obj[key]
        if span["oldest"] is not None:
            grid.add_row(
                label,
                "",
                f"oldest {ago(span['oldest'], now)}, newest {ago(span['newest'], now)}",
            )
    if obj.get("storage_bytes") is not None:
        detail = ", ".join(
            f"{k} {human_bytes(v)}" for k, v in obj["storage"].items() if k != "total"
        )
        grid.add_row("storage", human_bytes(obj["storage_bytes"]), detail)
    for key, value in obj.get("backend_facts", {}).items():
        grid.add_row(f"{key.replace('_', ' ')}", "", _escape(str(value)))
    console.print(grid)
    for title, key in (
        ("sessions by age (since created)", "age_histogram"),
        ("sessions by time since last activity", "activity_histogram"),
    ):
        console.print(f"\n[bold]{title}[/]")
        draw_histogram(env, [(b["bucket"], b["sessions"]) for b in obj[key]])


def draw_figures(env: Environment, obj: dict[str, Any]) -> None:
    """A layout's own figures (``stats`` of a store without sessions): one line per figure,
    nested objects indented under their name."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()

    def add(name: str, value: Any, depth: int) -> None:
        label = "  " * depth + name.replace("_", " ")
        if isinstance(value, dict) and value:
            grid.add_row(label, "")
            for key, inner in value.items():
                add(str(key), inner, depth + 1)
        elif isinstance(value, list):
            grid.add_row(label, _escape(", ".join(str(v) for v in value)) or "-")
        else:
            grid.add_row(label, _escape("-" if value is None else str(value)))

    for key, value in obj.items():
        add(key, value, 0)
    env.console().print(grid)


# Histogram bars: this wide at most, and never narrower than the minimum (on a terminal too
# narrow even for that, the line wraps rather than lose its count).
BAR_WIDTH = 40
MIN_BAR_WIDTH = 5


def draw_histogram(
    env: Environment, buckets: list[tuple[str, int]], width: int = BAR_WIDTH
) -> None:
    """``  label ████▍   count  share`` per bucket; the bar gets what the terminal leaves."""
    console = env.console()
    peak = max((n for _, n in buckets), default=0)
    total = sum(n for _, n in buckets) or 1
    label_width = max((len(b) for b, _ in buckets), default=0)
    # "  " label " " bar " " count (10) " " share (6)
    fixed = 2 + label_width + 1 + 1 + 10 + 1 + 6
    width = max(MIN_BAR_WIDTH, min(width, console.width - fixed))
    for label, n in buckets:
        cells = 0.0 if peak == 0 else n / peak * width
        full = int(cells)
        part = " ▏▎▍▌▋▊▉"[int((cells - full) * 8)] if full < width else ""
        bar = "█" * full + (part.strip() if n else "")
        console.print(
            f"  {label:>{label_width}} [blue]{bar:<{width}}[/] {n:>10,} {n / total:6.1%}",
            highlight=False,
        )


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def draw_expire(env: Environment, obj: dict[str, Any]) -> None:
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(justify="right")
    title = "would remove" if obj["dry_run"] else "removed"
    grid.add_row(title, "")
    if "entries" in obj or obj.get("by_entry"):
        grid.add_row("  expired entries", f"{obj.get('expired_entries', 0):,}")
        for collection, n in sorted((obj.get("entries") or {}).items()):
            grid.add_row(f"    in {collection}", f"{n:,}")
        grid.add_row("  events of no stream", f"{obj['orphans']:,}")
        grid.add_row("  missing ids in stream lists", f"{obj['trimmed']:,}")
        if obj.get("skipped_active"):
            grid.add_row("left (written again)", f"{obj['skipped_active']:,}")
    else:
        grid.add_row("  sessions", f"{obj['sessions']:,}")
        grid.add_row("  their events", f"{obj['events']:,}")
        grid.add_row("  orphaned events", f"{obj['orphans']:,}")
        grid.add_row("  trimmed events", f"{obj['trimmed']:,}")
        if obj.get("skipped_active"):
            grid.add_row("left (active again)", f"{obj['skipped_active']:,}")
    if obj["partial"]:
        grid.add_row("partial", "yes: time budget reached")
        for key, value in obj["remaining"].items():
            grid.add_row(f"  {key} left", f"{value:,}")
    env.console().print(grid)
    if obj["sample"]:
        env.console().print("[bold]sample[/]  " + "  ".join(obj["sample"]))


# -- tail-events ---------------------------------------------------------------------------
def choose_tail_format(requested: str | None, env: Environment) -> str:
    """Pretty lines on a terminal, JSON Lines when stdout is not a terminal."""
    if requested:
        return requested
    return "pretty" if env.stdout_isatty else "jsonl"


def event_sse(event: Event) -> str:
    """The SSE wire form of a stored event, byte for byte as the server sends it."""
    if event.event_type in KEEPALIVE_TYPES:
        return ": keepalive\n\n"
    ident = event.extra("event_id") or event.id
    data = "" if event.data is None and event.extra("event_id") else compact(event.data)
    text = f"id: {ident}\nevent: message\ndata: {data}\n"
    if event.retry is not None:
        text += f"retry: {event.retry}\n"
    return text + "\n"


def _tail_time(ms: int, today: str) -> str:
    from datetime import UTC, datetime

    try:
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return str(ms)
    clock = moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    day = moment.strftime("%Y-%m-%d")
    return clock if day == today else f"{day} {clock}"


class EventTailWriter:
    """Followed events in one of :data:`TAIL_FORMATS`; :meth:`flush` after each batch."""

    def __init__(self, env: Environment, fmt: str) -> None:
        self.env = env
        self.fmt = fmt
        self.count = 0
        self._today = ""
        self._highlighter: Any = None

    def write(self, event: Event) -> None:
        if self.fmt == "jsonl":
            self.env.stdout.write(compact(event_json(event)) + "\n")
        elif self.fmt == "sse":
            self.env.stdout.write(event_sse(event))
        else:
            self._pretty(event)
        self.count += 1

    def _pretty(self, event: Event) -> None:
        """``14:02:03.123  019a3f2e  #42  notifications/progress  {"compact":"json"}`` (UTC)."""
        from datetime import UTC, datetime

        from rich.highlighter import JSONHighlighter
        from rich.text import Text

        if self._highlighter is None:
            self._highlighter = JSONHighlighter()
            self._today = datetime.now(tz=UTC).strftime("%Y-%m-%d")
        line = Text()
        line.append(_tail_time(event.timestamp, self._today), style="dim")
        line.append("  ")
        line.append(event.session_id[:8], style="cyan")
        ident = event.extra("event_id")
        line.append(f"  #{ident[:8] if ident else event.id}  ", style="dim")
        line.append(event.event_type, style="magenta")
        if event.retry is not None:
            line.append(f"  retry {event.retry} ms", style="yellow")
        line.append("  ")
        line.append_text(self._highlighter(Text(compact(event.data))))
        self.env.console().print(line, soft_wrap=True, highlight=False)

    def flush(self) -> None:
        self.env.stdout.flush()


# -- clear and teardown ------------------------------------------------------------------
def inventory_json(inv: Any) -> dict[str, Any]:
    """The preview of clear/teardown (:class:`mcpstore_cli.ops.teardown.Inventory`) as JSON."""
    return {
        "backend": inv.backend,
        "unit": inv.unit,
        "store": inv.store,
        "name": inv.name,
        "exists": inv.exists,
        "tables": [
            {
                "name": t.name,
                "exists": t.exists,
                "rows": t.rows,
                "rows_exact": t.rows_exact,
                "bytes": t.bytes,
                **({"facts": t.facts} if t.facts else {}),
            }
            for t in inv.tables
        ],
        "files": [{"path": path, "bytes": size} for path, size in inv.files],
        "installed": list(inv.installed),
        "streams": list(inv.streams),
        "backups": dict(inv.backups),
        "facts": dict(inv.facts),
        "notes": list(inv.notes),
    }


def _rows_text(table: dict[str, Any]) -> str:
    if not table["exists"]:
        return "missing"
    rows = table["rows"]
    if rows is None:
        return "? rows"
    unit = "row" if rows == 1 else "rows"
    return f"{rows:,} {unit}" if table["rows_exact"] else f"about {rows:,} {unit} (estimate)"


def inventory_lines(obj: dict[str, Any]) -> list[str]:
    """The preview as plain lines (stderr, before any question)."""
    lines = [f"Store: {obj['store']}"]
    label = obj.get("unit", "row")
    for t in obj["tables"]:
        text = _rows_text(t).replace("row", label)
        size = f", {human_bytes(t['bytes'])}" if t.get("bytes") is not None and t["exists"] else ""
        lines.append(f"  table {t['name']}: {text}{size}")
    for f in obj["files"]:
        lines.append(f"  file {f['path']}: {human_bytes(f['bytes'])}")
    for item in obj["installed"]:
        lines.append(f"  installed by mcpstore: {item}")
    for s in obj["streams"]:
        if s["enabled"]:
            lines.append(f"  stream on {s['table']}: enabled ({s['view_type']}), {s['arn']}")
        else:
            lines.append(f"  stream on {s['table']}: disabled")
    for t in obj["tables"]:
        pitr = (t.get("facts") or {}).get("point_in_time_recovery")
        if pitr is not None:
            lines.append(f"  point-in-time recovery on {t['name']}: {pitr}")
    backups = obj["backups"]
    if backups:
        if backups.get("status") == "listed":
            latest = backups.get("latest")
            tail = (
                f", latest {latest['name']} of {latest['table']} ({latest['created']})"
                if latest
                else ""
            )
            lines.append(f"  on-demand backups: {backups['count']}{tail}")
        else:
            lines.append(f"  on-demand backups: unknown ({backups.get('reason')})")
    for note in obj["notes"]:
        lines.append(f"  note: {note}")
    return lines


def draw_inventory(env: Environment, obj: dict[str, Any]) -> None:
    console = env.console()
    for line in inventory_lines(obj):
        console.print(_escape(line), highlight=False)


def clear_json(result: Any, store: str) -> dict[str, Any]:
    seconds = round(result.seconds, 3)
    rows = result.sessions + result.events
    return {
        "store": store,
        "sessions": result.sessions,
        "events": result.events,
        "exact": result.exact,
        "recreated": result.recreated,
        "duration_s": seconds,
        "rate": round(rows / result.seconds, 1) if result.seconds > 0 and rows else None,
        "stream_arn_before": result.stream_arn_before,
        "stream_arn_after": result.stream_arn_after,
        "notes": list(result.notes),
    }


def teardown_json(result: Any, store: str) -> dict[str, Any]:
    return {
        "store": store,
        "steps": [
            {"step": s.step, "done": s.done, "duration_s": round(s.seconds, 3), **s.details}
            for s in result.steps
        ],
        "duration_s": round(result.seconds, 3),
    }


def draw_steps_done(env: Environment, obj: dict[str, Any]) -> None:
    console = env.console()
    for step in obj["steps"]:
        console.print(
            f"[bold]{_escape(step['step'])}[/]  {_escape(step['done'])} "
            f"({step['duration_s']:.2f} s)",
            highlight=False,
        )


# -- backups -----------------------------------------------------------------------------
def backup_summary_json(summary: Any, store: str) -> dict[str, Any]:
    """``backup --format json``: what was written where."""
    return {
        "store": store,
        "backend": summary.backend,
        "path": summary.path,
        "sessions": summary.sessions,
        "events": summary.events,
        "bytes": summary.bytes,
        "duration_s": round(summary.seconds, 3),
        "consistency": summary.consistency,
        "skipped": summary.skipped,
        "notes": summary.notes,
    }


def restore_summary_json(summary: Any, store: str) -> dict[str, Any]:
    """``restore --format json``: what was written, skipped and replaced, and what happened
    to event ids (``kept``, ``renumbered by the target``, ``renumbered per session ...``)."""
    return {
        "store": store,
        "path": summary.path,
        "mode": summary.mode,
        "source_backend": summary.source_backend,
        "sessions": summary.sessions,
        "events": summary.events,
        "skipped_sessions": summary.skipped_sessions,
        "skipped_events": summary.skipped_events,
        "replaced_sessions": summary.replaced_sessions,
        "replaced_events": summary.replaced_events,
        "event_ids": summary.event_ids,
        "ttl": summary.ttl or None,
        "created_layout": summary.created_layout,
        "verify_s": round(summary.verify_seconds, 3),
        "verified_while_loading": summary.verified_while_loading,
        "notes": list(summary.notes),
        "duration_s": round(summary.seconds, 3),
    }


def write_plain_object(env: Environment, fmt: str, obj: dict[str, Any]) -> None:
    """A summary object; as a table, ``field value`` rows."""

    def draw() -> None:
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        for key, value in obj.items():
            grid.add_row(key, _escape("-" if value is None else str(value)))
        env.console().print(grid)

    write_object(env, fmt, obj, draw)


BACKUP_LIST_FIELDS = ["kind", "name", "backend", "created_at", "bytes", "status", "path", "store"]


def write_backup_list(env: Environment, fmt: str, rows: Iterable[dict[str, Any]]) -> None:
    """``backup list``: kind (file, sqlite, dynamodb), name, backend, created_at (ms), bytes,
    status, path (files) or table/arn (DynamoDB), store."""
    columns = [
        Column("KIND", "kind"),
        Column("NAME", "name", "cyan", no_wrap=True),
        Column(
            "BACKEND",
            lambda o: o.get("backend"),
        ),
        Column("CREATED (UTC)", lambda o: short_time(o.get("created_at")), no_wrap=True),
        Column("SIZE", lambda o: human_bytes(o.get("bytes")), justify="right"),
        Column("STATUS", "status"),
    ]
    writer = RecordWriter(env, fmt, columns, [*BACKUP_LIST_FIELDS, "table", "arn"])
    for row in rows:
        writer.write(row)
    writer.close()
