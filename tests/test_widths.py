"""Tables at any width: on a terminal every session stays on one line with its (shortened) id,
STATUS and LAST ACTIVITY, histogram bars shrink, ``show`` folds instead of cutting; in a file
or a pipe nothing is wrapped, cut or padded.

Checked in-process (``run_cli(tty=True, width=W)``) and through a real terminal (tmux) and a
real pipe, against a SQLite store filled by ``demo``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mcpstore_cli.render.output import RecordWriter
from tests.helpers import run_cli
from tests.server_writers import SqliteServerWriter

REPO = Path(__file__).resolve().parents[1]
WIDTHS = [60, 80, 200]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# The order in which `list` gives way on a narrow terminal (see output.session_writer).
DROP_ORDER = ["PROTOCOL", "CREATED (UTC)", "CLIENT", "EVENTS"]
ALL_HEADERS = [
    "SESSION",
    "STATUS",
    "CLIENT",
    "PROTOCOL",
    "EVENTS",
    "CREATED (UTC)",
    "LAST ACTIVITY",
]
# Two ids that agree on their first 14 characters: on a page with both, 8 are not enough.
TWIN_A = "feedc0de0badf00d" + "1" * 16
TWIN_B = "feedc0de0badf0aa" + "2" * 16
# A client name that makes a row longer than 120 columns (and still fits in 200).
LONG_CLIENT = "a-client-with-a-long-name-" * 2 + "that-goes-on"
LONG_TYPE = "notifications/resources/updated/with/a/rather/long/type"


@dataclass
class Filled:
    path: Path
    url: str
    ids: list[str]
    sessions: int


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    path = tmp_path_factory.mktemp("widths") / "sessions.db"
    url = f"sqlite:///{path}"
    made = run_cli(["demo", "--url", url, "--sessions", "30", "--seed", "15", "--quiet"])
    assert made.exit_code == 0, made
    now = int(time.time() * 1000)
    writer = SqliteServerWriter(str(path))
    try:
        for n, sid in enumerate((TWIN_A, TWIN_B)):
            writer.session(
                sid,
                created_at=now - 3_600_000,
                last_activity=now - 1000 * n,
                server_capabilities={"tools": {}},
                state={"client_info": {"name": LONG_CLIENT, "version": "9.9.9"}},
            )
        writer.event(TWIN_A, timestamp=now, event_type=LONG_TYPE, data={"uri": "x" * 120})
        writer.event(TWIN_A, timestamp=now, event_type="notifications/message", data={}, retry=3)
    finally:
        writer.close()
    listed = run_cli(["list", "--url", url, "--limit", "0", "--format", "jsonl"]).jsonl()
    return Filled(path, url, [r["session_id"] for r in listed], len(listed))


def _plain(text: str) -> list[str]:
    return ANSI.sub("", text).splitlines()


def _table_rows(lines: list[str]) -> tuple[str, list[str]]:
    """The header line and the session rows of a `list` screen."""
    start = next(i for i, line in enumerate(lines) if line.startswith("SESSION"))
    rows = [line for line in lines[start + 1 :] if line.strip()]
    return lines[start], rows


def _headers(header: str) -> list[str]:
    return [h for h in ALL_HEADERS if h in header]


def _check_list_screen(lines: list[str], width: int, filled: Filled) -> list[str]:
    """Every session on one line no wider than the terminal, with a unique id prefix;
    returns the ids as shown."""
    assert all(len(line) <= width for line in lines), [ln for ln in lines if len(ln) > width]
    header, rows = _table_rows(lines)
    assert "STATUS" in header and "LAST ACTIVITY" in header
    assert len(rows) == filled.sessions, "one line per session, none wrapped"
    shown = [row.split()[0] for row in rows]
    for text in shown:
        prefix = text.removesuffix("…")
        if text.endswith("…"):
            assert len(prefix) >= 8
        matches = [sid for sid in filled.ids if sid.lower().startswith(prefix.lower())]
        assert len(matches) == 1, (text, matches)
    assert len(set(shown)) == len(shown)
    # Columns that give way do so in the documented order, and only those.
    gone = {h for h in ALL_HEADERS if h not in _headers(header)}
    assert gone == set(DROP_ORDER[: len(gone)]), gone
    return shown


# -- in process ---------------------------------------------------------------------------
@pytest.mark.parametrize("width", WIDTHS)
def test_list_fits_the_terminal(filled: Filled, width: int) -> None:
    result = run_cli(["list", "--url", filled.url, "--limit", "0"], tty=True, width=width)
    assert result.exit_code == 0, result
    shown = _check_list_screen(_plain(result.stdout), width, filled)
    if width == 200:
        assert sorted(shown) == sorted(filled.ids), "full ids when the table fits"
        header, _ = _table_rows(_plain(result.stdout))
        assert _headers(header) == ALL_HEADERS
    else:
        assert all(s.endswith("…") for s in shown)
        twins = [s for s in shown if s.startswith("feedc0de")]
        assert sorted(twins) == ["feedc0de0badf00…", "feedc0de0badf0a…"]


@pytest.mark.parametrize("width", [60, 80])
def test_show_takes_the_ids_list_prints(filled: Filled, width: int) -> None:
    result = run_cli(["list", "--url", filled.url, "--limit", "0"], tty=True, width=width)
    _, rows = _table_rows(_plain(result.stdout))
    for row in rows:
        printed = row.split()[0]  # pasted back as printed, ellipsis and all
        shown = run_cli(["show", printed, "--url", filled.url, "--format", "json", "-e", "0"])
        assert shown.exit_code == 0, shown
        assert shown.json()["session_id"].startswith(printed.removesuffix("…"))


def test_list_gives_way_in_order_at_every_width(filled: Filled) -> None:
    """From 200 columns down to 50, columns go only in the documented order, STATUS and
    LAST ACTIVITY never, and no session ever takes two lines."""
    seen = set()
    for width in range(200, 49, -6):
        result = run_cli(["list", "--url", filled.url, "--limit", "0"], tty=True, width=width)
        lines = _plain(result.stdout)
        _check_list_screen(lines, width, filled)
        seen.add(tuple(_headers(_table_rows(lines)[0])))
    assert len(seen) >= 4, seen


@pytest.fixture(scope="module")
def narrowing(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    """Nine sessions whose clients get shorter down the list (newest activity first)."""
    path = tmp_path_factory.mktemp("narrowing") / "sessions.db"
    url = f"sqlite:///{path}"
    assert run_cli(["setup", "--url", url, "--quiet"]).exit_code == 0
    now = int(time.time() * 1000)
    clients = ["Claude Desktop", "mcp-inspector", "windsurf-client", "goose", "Zed", "x"]
    writer = SqliteServerWriter(str(path))
    ids = []
    try:
        for n in range(9):
            sid = uuid.uuid4().hex
            name = clients[min(n, len(clients) - 1)]
            writer.session(
                sid,
                created_at=now - 3_600_000,
                last_activity=now - 60_000 * (n + 1),
                server_capabilities={},
                state={"client_info": {"name": name, "version": "1.0.211"}},
            )
            ids.append(sid)
    finally:
        writer.close()
    return Filled(path, url, ids, len(ids))


@pytest.mark.parametrize("width", WIDTHS)
def test_blocks_of_rows_line_up(
    narrowing: Filled, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`list --limit 0` draws a block of rows at a time; a later block with narrower values
    keeps every column under its header, and no block is wider than the terminal."""
    monkeypatch.setattr(RecordWriter, "CHUNK", 3)
    result = run_cli(["list", "--url", narrowing.url, "--limit", "0"], tty=True, width=width)
    lines = _plain(result.stdout)
    assert sum(line.startswith("SESSION") for line in lines) == 1
    header, rows = _table_rows(lines)
    assert len(rows) == narrowing.sessions
    assert all(len(line) <= width for line in lines), [ln for ln in lines if len(ln) > width]
    for row, sid in zip(rows, narrowing.ids, strict=True):
        shown = row.split()[0]
        assert sid.startswith(shown.removesuffix("…")) and len(shown) >= 9
        for name in _headers(header)[1:]:
            start = header.index(name)
            if name == "EVENTS":  # numbers are right-aligned under the header's end
                end = start + len(name)
                assert row[end - 1] != " " and row[end : end + 1] in ("", " "), (name, row)
            else:
                assert row[start - 1] == " " and row[start] != " ", (name, row)


@pytest.mark.parametrize("width", WIDTHS)
def test_stats_bars_shrink_to_the_terminal(filled: Filled, width: int) -> None:
    result = run_cli(["stats", "--url", filled.url], tty=True, width=width)
    assert result.exit_code == 0, result
    lines = _plain(result.stdout)
    assert all(len(line) <= width for line in lines), [ln for ln in lines if len(ln) > width]
    bars = [line for line in lines if re.search(r"\d+\.\d%$", line)]
    assert len(bars) == 16, "two histograms of eight buckets, one line each"
    longest = max(line.count("█") for line in bars)
    # "  " + label (6) + " " + bar + " " + count (10) + " " + share (6): the bar takes the rest.
    assert longest == min(40, width - 27)


@pytest.mark.parametrize("width", WIDTHS)
def test_show_folds_instead_of_cutting(filled: Filled, width: int) -> None:
    result = run_cli(["show", TWIN_A, "--url", filled.url], tty=True, width=width)
    assert result.exit_code == 0, result
    lines = _plain(result.stdout)
    assert all(len(line) <= width for line in lines), [ln for ln in lines if len(ln) > width]
    text = "\n".join(lines)
    assert "notifications/message" in text and "retry" in text.lower()
    # Event types, the data preview (89 characters and "…") and the client are all there,
    # folded over lines where need be.
    squeezed = re.sub(r"\s+", "", text)
    assert LONG_TYPE in squeezed
    assert '{"uri":"' + "x" * 80 in squeezed
    # The client name is folded, not cut.
    assert LONG_CLIENT.replace(" ", "") in squeezed


def test_json_and_csv_do_not_depend_on_the_width(filled: Filled) -> None:
    for fmt in ("json", "jsonl", "csv"):
        args = ["list", "--url", filled.url, "--limit", "0", "--format", fmt]
        narrow = run_cli(args, tty=True, width=60).stdout
        wide = run_cli(args, tty=False, width=200).stdout
        assert narrow == wide and filled.ids[0] in narrow


def _check_unwrapped_list(text: str, filled: Filled) -> None:
    lines = text.splitlines()
    assert _headers(lines[0]) == ALL_HEADERS
    assert len(lines) == filled.sessions + 1, "one line per session"
    assert [line.split()[0] for line in lines[1:]] == filled.ids, "full ids, in order"
    assert not [line for line in lines if line != line.rstrip()], "no trailing spaces"
    assert any(LONG_CLIENT.strip() in line for line in lines)
    assert "…" not in text


def test_tables_off_a_terminal_are_not_wrapped_or_padded(filled: Filled) -> None:
    environ = {"COLUMNS": "60"}
    result = run_cli(
        ["list", "--url", filled.url, "--limit", "0", "-f", "table"], environ=environ, width=60
    )
    assert result.exit_code == 0, result
    _check_unwrapped_list(result.stdout, filled)
    shown = run_cli(["show", TWIN_A, "--url", filled.url, "-f", "table"], environ=environ)
    lines = shown.stdout.splitlines()
    assert not [line for line in lines if line != line.rstrip()]
    assert any(LONG_TYPE in line and '{"uri":"' + "x" * 80 in line for line in lines)
    stats = run_cli(["stats", "--url", filled.url, "-f", "table"], environ=environ, width=60)
    bars = [line for line in stats.stdout.splitlines() if re.search(r"\d+\.\d%$", line)]
    assert len(bars) == 16 and max(line.count("█") for line in bars) == 40


# -- a real terminal and a real pipe ------------------------------------------------------
def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    )
    return env


class Tmux:
    """A tmux server of our own (its own socket), killed at the end."""

    def __init__(self) -> None:
        self.socket = f"mcpstore-widths-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # A session that outlives the others, so that the server does not exit (and race
        # the next new-session) each time a command's session is killed.
        kept = self.tmux("new-session", "-d", "-s", "keep", "sleep 600")
        assert kept.returncode == 0, kept.stderr

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=30,
            env=_child_env(),
        )

    def screen(self, width: int, args: list[str], height: int = 120) -> tuple[list[str], int]:
        """Run mcpstore ARGS in a WIDTH-column terminal; its screen (wrapped lines joined
        back, so a wrapped row shows up longer than the terminal) and its exit status."""
        name = f"w{width}-{uuid.uuid4().hex[:6]}"
        env = _child_env()
        command = " ".join(
            [
                "env -u COLUMNS -u LINES",
                f"PYTHONPATH={shlex.quote(env['PYTHONPATH'])}",
                shlex.quote(sys.executable),
                "-m mcpstore_cli",
                *map(shlex.quote, args),
                "; echo __EXIT=$?; sleep 120",
            ]
        )
        started = self.tmux(
            "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), command
        )
        assert started.returncode == 0, started.stderr
        deadline = time.monotonic() + 60
        while True:
            shot = self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", name).stdout
            found = re.search(r"__EXIT=(\d+)", shot)
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.tmux("kill-session", "-t", name)
        assert found, shot
        lines = shot[: found.start()].rstrip("\n").splitlines()
        return [line.rstrip() for line in lines], int(found.group(1))

    def close(self) -> None:
        self.tmux("kill-server")
        # tmux leaves its socket file behind; it is ours alone, so remove it.
        folder = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        (folder / self.socket).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is needed for the real-terminal tests")
        pytest.skip("tmux is not installed")
    server = Tmux()
    yield server
    server.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_list_in_a_real_terminal(filled: Filled, tmux: Tmux, width: int) -> None:
    lines, status = tmux.screen(width, ["list", "--url", filled.url, "--limit", "0"])
    assert status == 0, lines
    shown = _check_list_screen(lines, width, filled)
    for text in shown[:3]:
        found = run_cli(["show", text.removesuffix("…"), "--url", filled.url, "-f", "json"])
        assert found.exit_code == 0, found


@pytest.mark.parametrize("width", WIDTHS)
def test_stats_and_show_in_a_real_terminal(filled: Filled, tmux: Tmux, width: int) -> None:
    lines, status = tmux.screen(width, ["stats", "--url", filled.url])
    assert status == 0, lines
    assert all(len(line) <= width for line in lines), [ln for ln in lines if len(ln) > width]
    assert len([line for line in lines if re.search(r"\d+\.\d%$", line)]) == 16
    lines, status = tmux.screen(width, ["show", TWIN_A, "--url", filled.url], height=200)
    assert status == 0, lines
    assert all(len(line) <= width for line in lines), [ln for ln in lines if len(ln) > width]
    assert LONG_TYPE in re.sub(r"\s+", "", "".join(lines))


def test_list_into_a_file_and_a_pipe(filled: Filled, tmp_path: Path) -> None:
    env = {**_child_env(), "COLUMNS": "60", "LINES": "20"}
    args = [sys.executable, "-m", "mcpstore_cli", "list", "--url", filled.url, "--limit", "0"]
    out = tmp_path / "sessions.txt"
    with out.open("w") as handle:
        done = subprocess.run([*args, "-f", "table"], stdout=handle, env=env, timeout=60)
    assert done.returncode == 0
    _check_unwrapped_list(out.read_text(), filled)
    piped = subprocess.run(
        f"{shlex.join(args)} -f table | cat", shell=True, capture_output=True, text=True, env=env
    )
    assert piped.returncode == 0, piped.stderr
    _check_unwrapped_list(piped.stdout, filled)
