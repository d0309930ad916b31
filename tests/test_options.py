"""The store options, declared once: the same on either side of the command name, one rule when
given on both, help that reads like a man page, and unsupported pairings refused in one
sentence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mcpstore_cli.cli.app import get_command
from mcpstore_cli.cli.options import STORE_OPTIONS
from tests.conftest import StoreHandle
from tests.helpers import Result, run_cli

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "mcpstore_cli" / "cli"
PG_URL = "postgresql://mcp@127.0.0.1:1/mcp"
DYNAMO_URL = "dynamodb://mcp-sessions?region=us-east-1&endpoint=http://127.0.0.1:1"


@pytest.fixture
def ready(sqlite_store: StoreHandle) -> StoreHandle:
    sqlite_store.setup()
    made = sqlite_store.run("demo", "--sessions", "6", "--events-per-session", "3", "--seed", "7")
    assert made.exit_code == 0, made
    return sqlite_store


def _same(before: Result, after: Result) -> None:
    assert (before.exit_code, before.stdout, before.stderr) == (
        after.exit_code,
        after.stdout,
        after.stderr,
    ), (before, after)


def _session_id(store: StoreHandle) -> str:
    listed = store.run("list", "--format", "jsonl")
    return str(listed.jsonl()[0]["session_id"])


# Commands whose output does not depend on the clock between two runs.
COMMANDS = [
    ["list", "--format", "jsonl"],
    ["stats", "--format", "json"],
    ["setup", "--check"],
    ["setup", "--dry-run"],
    ["tail-events", "--no-follow", "--format", "jsonl"],
    ["expire", "--dry-run", "--idle", "999d", "--format", "json"],
    ["clear", "--dry-run", "--format", "json"],
    ["backup", "list", "--format", "jsonl"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_store_options_before_and_after_the_command_agree(
    ready: StoreHandle, args: list[str], in_tmp: Path
) -> None:
    words = list(args)
    split = 2 if words[:2] == ["backup", "list"] else 1
    before = run_cli(["--url", ready.url, "--connect-timeout", "5s", *words])
    after = run_cli([*words[:split], "--url", ready.url, "--connect-timeout", "5", *words[split:]])
    assert before.exit_code == 0, before
    if args[0] == "stats":  # generated_at and ages move with the clock
        assert before.json()["sessions"] == after.json()["sessions"]
        assert before.exit_code == after.exit_code and before.stderr == after.stderr
    elif args[0] in ("expire", "clear"):  # durations and preview times move
        drop = ("duration_s", "seconds", "preview_s", "rate", "idle_cutoff", "tables")
        slim = [{k: v for k, v in r.json().items() if k not in drop} for r in (before, after)]
        assert slim[0] == slim[1]
    else:
        _same(before, after)


def test_show_takes_the_options_on_either_side(ready: StoreHandle) -> None:
    sid = _session_id(ready)
    before = run_cli(["--url", ready.url, "-f", "json", "show", sid[:8]])
    after = run_cli(["show", sid[:8], "--url", ready.url, "-f", "json"])
    between = run_cli(["show", "--url", ready.url, sid[:8], "--format", "json"])
    assert before.exit_code == 0, before
    for other in (after, between):
        assert before.json()["session_id"] == other.json()["session_id"] == sid


def test_options_split_between_the_two_sides(ready: StoreHandle) -> None:
    split = run_cli(["--format", "csv", "--quiet", "list", "--url", ready.url, "--limit", "2"])
    together = run_cli(["list", "--url", ready.url, "--limit", "2", "--format", "csv", "-q"])
    _same(split, together)
    assert split.stdout.startswith("session_id,") and split.stderr == ""


def test_the_value_after_the_command_wins(ready: StoreHandle, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert run_cli(["setup", "-q", "--url", other]).exit_code == 0
    # The store: the root says the empty store, the command says the one with sessions.
    listed = run_cli(["--url", other, "list", "--url", ready.url, "--format", "jsonl"])
    assert listed.exit_code == 0 and len(listed.jsonl()) == 6, listed
    empty = run_cli(["--url", ready.url, "list", "--url", other, "--format", "jsonl"])
    assert empty.exit_code == 0 and empty.stdout == "", empty
    # The format: csv before, json after.
    fmt = run_cli(["--format", "csv", "stats", "--url", ready.url, "--format", "json"])
    assert fmt.exit_code == 0 and fmt.json()["sessions"]["total"] == 6, fmt
    # A bad value before the command does not matter once the command says otherwise.
    fixed = run_cli(["--backend", "mongodb", "list", "--backend", "sqlite", "--url", ready.url])
    assert fixed.exit_code == 0, fixed


def test_flags_are_on_when_given_on_either_side(ready: StoreHandle, tmp_path: Path) -> None:
    for args in (["-q", "demo", "-s", "1"], ["demo", "-s", "1", "-q"]):
        result = run_cli([*args, "--url", ready.url])
        assert (result.exit_code, result.stdout, result.stderr) == (0, "", ""), result
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"not a database at all" * 100)
    for args in (["--debug", "list"], ["list", "--debug"]):
        result = run_cli([*args, "--url", f"sqlite:///{bad}"])
        assert result.exit_code == 1 and "Traceback" in result.stderr, result


def test_a_group_passes_store_options_to_its_subcommand(ready: StoreHandle, in_tmp: Path) -> None:
    nested = run_cli(["backup", "--url", ready.url, "list", "--format", "jsonl"])
    direct = run_cli(["backup", "list", "--url", ready.url, "--format", "jsonl"])
    _same(nested, direct)
    assert nested.exit_code == 0, nested


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--format", "csv", "demo"], "--format does not apply to mcpstore demo"),
        (["--url", "x.db", "completion", "bash"], "--url does not apply to mcpstore completion"),
        (["backup", "-o", "x.zst", "list"], "applies to mcpstore backup itself"),
        (["backup", "--native", "list"], "applies to mcpstore backup itself"),
    ],
)
def test_an_option_where_it_does_not_apply_is_refused(
    args: list[str], fragment: str, in_tmp: Path
) -> None:
    result = run_cli(args)
    assert result.exit_code == 2, result
    assert fragment in result.stderr and result.stderr.count("\n") == 1, result
    assert result.stdout == "" and list(in_tmp.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        (["--backend", "mongodb"], "--backend 'mongodb' is not one of the choices"),
        (["--format", "xml"], "--format 'xml' is not one of the choices"),
        (["--segments", "0"], "--segments must be between 1 and 1000"),
        (["--connect-timeout", "0"], "--connect-timeout must be at least 0.1s"),
        (["--connect-timeout", "soon"], "--connect-timeout 'soon' is not a duration"),
        (["--lock-timeout", "-5s"], "--lock-timeout must be positive"),
    ],
)
def test_a_bad_store_option_says_the_same_on_either_side(
    option: list[str], fragment: str, in_tmp: Path
) -> None:
    before = run_cli([*option, "list"])
    after = run_cli(["list", *option])
    _same(before, after)
    assert before.exit_code == 2 and fragment in before.stderr, before
    assert before.stderr.startswith("mcpstore: ") and before.stderr.count("\n") == 1
    assert not (in_tmp / "mcp_sessions.db").exists()


def test_choices_are_not_case_sensitive(ready: StoreHandle) -> None:
    result = run_cli(["--format", "JSON", "stats", "--url", ready.url])
    assert result.exit_code == 0 and result.json()["sessions"]["total"] == 6, result
    by_backend = run_cli(["list", "--backend", "SQLite"], environ={"SQLITE_PATH": ready.name})
    assert by_backend.exit_code == 0 and len(by_backend.jsonl()) == 6, by_backend


# -- every command takes the store options ---------------------------------------------
def _walk(command: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    out = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        out += _walk(sub, (*path, name))
    return out


def test_every_store_command_takes_every_store_option() -> None:
    names = {name for name in STORE_OPTIONS}
    checked = 0
    for path, command in _walk(get_command()):
        params = {p.name for p in command.params}  # type: ignore[attr-defined]
        if "url" not in params:
            assert path == ("completion",), path
            continue
        checked += 1
        # demo prints no records; metrics prints Prometheus' text format only.
        missing = names - params - ({"format"} if path in (("demo",), ("metrics",)) else set())
        assert not missing, (path, missing)
    assert checked >= 12


# -- help -------------------------------------------------------------------------------
HELP_PATHS = [list(path) for path, _ in _walk(get_command())]
TYPE_DISPLAY = re.compile(
    r"<(str|int|float|bool|path|file|datetime|list\[[^>]*\]|[a-z]+ range|[a-z]+(\|[a-z]+)+)>"
    r"|x>=|<=x"
)


@pytest.mark.parametrize("path", HELP_PATHS, ids=lambda p: " ".join(p) or "mcpstore")
def test_help_shows_metavars_not_python_types(path: list[str]) -> None:
    result = run_cli([*path, "--help"], width=100)
    assert result.exit_code == 0, result
    assert not TYPE_DISPLAY.search(result.stdout), result.stdout
    assert "{" not in result.stdout.splitlines()[0], result.stdout  # usage: no {session_id}
    if path != ["completion"]:
        assert "Store options:" in result.stdout
        for shown in ("--url URL", "--connect-timeout DURATION", "--segments N"):
            assert shown in result.stdout, (shown, result.stdout)


def test_command_help_names_values_like_a_man_page() -> None:
    listing = run_cli(["list", "--help"]).stdout
    for shown in (
        "--idle-over DURATION",
        "--created-after WHEN",
        "-n, --limit N",
        "--timeout DURATION",
        "-f, --format table|json|jsonl|csv",
        "--backend sqlite|postgres|dynamodb",
    ):
        assert shown in listing, (shown, listing)
    show = run_cli(["show", "--help"]).stdout
    assert show.startswith("Usage: mcpstore show [OPTIONS] SESSION_ID\n"), show
    assert re.search(r"SESSION_ID +Session id.*\[required\]", show), show
    restore = run_cli(["restore", "--help"]).stdout
    assert restore.startswith("Usage: mcpstore restore [OPTIONS] [FILE]\n"), restore
    assert "--mode merge|replace" in restore and "--to-table TABLE" in restore
    assert "--tag KEY=VALUE" in run_cli(["setup", "--help"]).stdout
    assert "--session SESSION_ID" in run_cli(["backup", "--help"]).stdout
    assert "-f, --format pretty|sse|jsonl" in run_cli(["tail-events", "--help"]).stdout


GROUPS = {
    "Inspect": ["list", "metrics", "show", "stats", "tail-events", "top"],
    "Maintain": ["clear", "expire", "teardown"],
    "Act on sessions": ["delete", "state", "terminate", "touch"],
    "Provision": ["demo", "setup"],
    "Backup": ["backup", "restore"],
}


def test_the_command_list_is_grouped_and_whole() -> None:
    top = run_cli(["--help"], width=100).stdout
    sections = re.split(r"\n(?=\S[^\n]*:\n)", top)
    found = {s.split(":\n", 1)[0]: s for s in sections}
    order = [title for title in found if title in GROUPS]
    assert order == list(GROUPS), order
    for title, names in GROUPS.items():
        rows = re.findall(r"^  (\S+)  ", found[title], re.MULTILINE)
        assert rows == names, (title, rows)
    assert "completion" in found["Other"]
    assert "..." not in top.split("Inspect:", 1)[1].split("Options:", 1)[0]
    # The whole first sentence of each command, as its own help starts it.
    first = run_cli(["teardown", "--help"]).stdout.split("\n\n")[1]
    sentence = " ".join(first.split()).split(". ")[0].rstrip(".")
    assert sentence in " ".join(top.split()), sentence
    assert "Store options:" in top and "--url URL" in top


# -- capabilities, not backend names -----------------------------------------------------
PAIRINGS = [
    # (args, store URL, the sentence's start)
    (["setup", "--pitr"], "sqlite", "--pitr applies to dynamodb stores, not sqlite."),
    (["setup", "--tag", "a=b"], "postgres", "--tag applies to dynamodb stores, not postgres."),
    (["setup", "--notify"], "dynamodb", "--notify applies to postgres stores, not dynamodb."),
    (["setup", "--no-stream"], "sqlite", "--no-stream applies to dynamodb stores, not sqlite."),
    (["clear", "--recreate", "--yes"], "sqlite", "--recreate applies to dynamodb stores"),
    (["teardown", "--disable-streams", "--yes"], "postgres", "--disable-streams applies to dyn"),
    (["expire", "--segment", "0/2"], "sqlite", "--segment applies to dynamodb stores"),
    (["restore", "--native", "b", "--to-table", "t"], "sqlite", "restore --native applies to dyn"),
]


@pytest.mark.parametrize(("args", "kind", "sentence"), PAIRINGS, ids=lambda v: str(v)[:30])
def test_an_unsupported_pairing_is_one_sentence_exit_2(
    args: list[str], kind: str, sentence: str, tmp_path: Path
) -> None:
    url = {"sqlite": f"sqlite:///{tmp_path / 'x.db'}", "postgres": PG_URL, "dynamodb": DYNAMO_URL}
    result = run_cli([*args, "--url", url[kind]])
    assert result.exit_code == 2, result
    assert result.stderr.startswith(f"mcpstore: {sentence}"), result
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def _cli_lines_matching(pattern: str) -> list[str]:
    found = re.compile(pattern)
    return [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted(CLI.glob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if found.search(line)
    ]


def test_the_cli_asks_capabilities_instead_of_comparing_backend_names() -> None:
    assert _cli_lines_matching(r"""["'](sqlite|postgres|dynamodb)["']""") == []


def test_the_cli_uses_only_typers_public_api() -> None:
    private = r"typer\._|\._click\b|from typer\.(?!core\b|main\b)\w+ import"
    assert _cli_lines_matching(private) == []


# -- one place maps every failure -------------------------------------------------------
def test_an_unexpected_error_anywhere_in_a_command_is_one_line_exit_1(
    ready: StoreHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mcpstore_cli.render.output

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the renderer broke")

    monkeypatch.setattr(mcpstore_cli.render.output, "stats_json", broken)
    plain = ready.run("stats")
    assert plain.exit_code == 1, plain
    assert plain.stderr == (
        "mcpstore: unexpected error: RuntimeError: the renderer broke (run again with --debug "
        "for details)\n"
    )
    debug = ready.run("stats", "--debug")
    assert debug.exit_code == 1 and "Traceback" in debug.stderr, debug


def test_ctrl_c_anywhere_in_a_command_is_its_line_and_130(
    ready: StoreHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mcpstore_cli.render.output

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(mcpstore_cli.render.output, "stats_json", interrupted)
    result = ready.run("stats")
    assert result.exit_code == 130, result
    assert result.stderr == "mcpstore: interrupted; nothing was changed.\n", result
