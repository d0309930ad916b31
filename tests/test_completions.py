"""The committed completion scripts match the CLI, parse in their shells, and complete."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer

from mcpstore_cli.cli.completion import FILES, REGENERATE, describe_cli
from mcpstore_cli.cli.completion import render as render_tree
from mcpstore_cli.cli.completion_files import current_tree, render
from mcpstore_cli.cli.options import ALL_FORMATS, STORE_OPTIONS, TAIL_FORMATS
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent
COMPLETIONS = ROOT / "completions"


@pytest.mark.parametrize("shell", sorted(FILES))
def test_committed_script_matches_the_cli(shell: str) -> None:
    committed = COMPLETIONS / FILES[shell]
    assert committed.is_file(), f"{committed} is missing; regenerate with: {REGENERATE}"
    fresh = render(shell)
    if committed.read_bytes() != fresh.encode("utf-8"):
        pytest.fail(
            f"{committed.relative_to(ROOT)} is out of date with the CLI; regenerate all "
            f"scripts with: {REGENERATE}",
            pytrace=False,
        )


@pytest.mark.parametrize("shell", sorted(FILES))
def test_completion_command_prints_the_script(shell: str) -> None:
    result = run_cli(["completion", shell])
    assert result.exit_code == 0, result
    assert result.stdout == (COMPLETIONS / FILES[shell]).read_text(encoding="utf-8")
    assert result.stderr == ""


def test_completion_command_rejects_unknown_shell() -> None:
    result = run_cli(["completion", "tcsh"])
    assert result.exit_code == 2, result
    assert result.stdout == ""
    assert "tcsh" in result.stderr


def test_model_covers_every_command_and_option() -> None:
    """The model the scripts come from sees the whole tree, choices and flags included."""
    root = current_tree()
    names = {cmd.key for cmd in root.walk()}
    assert {"setup", "list", "show", "stats", "demo", "completion"} <= names
    listing = next(cmd for cmd in root.walk() if cmd.key == "list")
    by_name = {name: opt for opt in listing.options for name in opt.names}
    assert by_name["--format"].choices == ["table", "json", "jsonl", "csv"]
    assert by_name["-f"] is by_name["--format"]
    assert by_name["--backend"].choices == ["sqlite", "postgres", "dynamodb", "redis"]
    assert by_name["--active"].takes_value is False
    assert by_name["--limit"].takes_value is True
    assert by_name["--terminated"].negations == ["--not-terminated"]


def test_model_has_the_store_options_before_and_after_every_command() -> None:
    """The store options, declared once, complete at the root and on every store command."""
    root = current_tree()
    store = [f"--{name.replace('_', '-')}" for name in STORE_OPTIONS]
    for cmd in root.walk():
        names = {name for opt in cmd.options for name in opt.names}
        expected = [] if cmd.key == "completion" else store
        # demo prints no records; metrics prints Prometheus' text format only.
        expected = [n for n in expected if not (cmd.key in ("demo", "metrics") and n == "--format")]
        assert set(expected) <= names, (cmd.key, set(expected) - names)
    by_name = {name: opt for opt in root.options for name in opt.names}
    assert by_name["--format"].choices == list(ALL_FORMATS)
    assert by_name["--connect-timeout"].takes_value and by_name["--connect-timeout"].value == "none"
    assert by_name["--quiet"].takes_value is False
    tail = next(cmd for cmd in root.walk() if cmd.key == "tail-events")
    assert next(o for o in tail.options if "--format" in o.names).choices == list(TAIL_FORMATS)
    backup = next(cmd for cmd in root.walk() if cmd.key == "backup")
    assert next(o for o in backup.options if "--output" in o.names).value == "file"


@pytest.mark.parametrize(
    ("shell", "argv"),
    [
        ("bash", ["bash", "-n"]),
        ("zsh", ["zsh", "-n"]),
        ("fish", ["fish", "--no-execute"]),
    ],
)
def test_script_is_valid_syntax(shell: str, argv: list[str]) -> None:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed")
    proc = subprocess.run(
        [*argv, str(COMPLETIONS / FILES[shell])], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr


def _bash_complete(*words: str, script: Path | None = None, cwd: Path | None = None) -> list[str]:
    """Source the bash script and run its completion function on COMP_WORDS."""
    script = script or COMPLETIONS / FILES["bash"]
    quoted = " ".join(shlex.quote(w) for w in words)
    program = (
        f"source {shlex.quote(str(script))}\n"
        f"COMP_WORDS=({quoted})\n"
        "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
        'COMP_LINE="${COMP_WORDS[*]}"\n'
        "COMP_POINT=${#COMP_LINE}\n"
        "_mcpstore\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run(
        ["bash", "-c", program], capture_output=True, text=True, timeout=30, cwd=cwd
    )
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["mcpstore", "li"], ["list"]),
        (["mcpstore", "list", "--for"], ["--format"]),
        (["mcpstore", "list", "--format", "j"], ["json", "jsonl"]),
        (["mcpstore", "list", "-f", ""], ["table", "json", "jsonl", "csv"]),
        # --format=j: bash splits the word at "=".
        (["mcpstore", "list", "--format", "=", "j"], ["json", "jsonl"]),
        (["mcpstore", "stats", "--url", "x", "--backend", "p"], ["postgres"]),
        (["mcpstore", "completion", ""], ["bash", "zsh", "fish"]),
        (["mcpstore", "show", "abc", "--ev"], ["--events"]),
        (["mcpstore", "setup", "--no"], ["--notify", "--no-stream"]),
        # A value-taking option's value is not mistaken for a subcommand or an option.
        (["mcpstore", "list", "--limit", ""], []),
        (["mcpstore", "list", "--limit", "5", "--act"], ["--active"]),
        # The store options before the command name complete too, and are skipped over.
        (["mcpstore", "--backend", "p"], ["postgres"]),
        (["mcpstore", "--con"], ["--connect-timeout"]),
        (["mcpstore", "--url", "x", "li"], ["list"]),
        (["mcpstore", "-q", "--format", "=", "c"], ["csv"]),
        (["mcpstore", "--url", "x", "stats", "--seg"], ["--segments"]),
        (["mcpstore", "--url", "x", "backup", "--url", "y", "l"], ["list"]),
        (["mcpstore", "tail-events", "-f", ""], ["pretty", "sse", "jsonl"]),
        (["mcpstore", "restore", "--mode", ""], ["merge", "replace"]),
    ],
)
def test_bash_completes(words: list[str], expected: list[str]) -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    assert _bash_complete(*words) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("mcpstore li", ["list"]),
        ("mcpstore list --for", ["--format"]),
        ("mcpstore list --format j", ["json", "jsonl"]),
        ("mcpstore list --url x --backend d", ["dynamodb"]),
        ("mcpstore --url x --backend d", ["dynamodb"]),
        ("mcpstore --url x li", ["list"]),
    ],
)
def test_fish_completes(line: str, expected: list[str]) -> None:
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed")
    script = COMPLETIONS / FILES["fish"]
    program = f"source {shlex.quote(str(script))}; complete -C {shlex.quote(line)}"
    proc = subprocess.run(
        ["fish", "--no-config", "-c", program], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    got = sorted(row.split("\t")[0] for row in proc.stdout.splitlines() if row)
    assert got == sorted(expected)


class Fmt(StrEnum):
    table = "table"
    json = "json"


def _toy_cli() -> Any:
    """A CLI shaped like the commands still to come: a group with options, paths. A value
    completes as its metavar says (FILE, DIR, a|b); an Enum without one by its choices."""
    app = typer.Typer()
    backup = typer.Typer()

    @backup.callback(invoke_without_command=True)
    def backup_main(
        out: Annotated[
            Path | None, typer.Option("--out", "-o", metavar="FILE", help="Backup file.")
        ] = None,
        native: Annotated[bool, typer.Option("--native", help="Backend-native.")] = False,
    ) -> None:
        """Write a backup."""

    @backup.command("list")
    def backup_list(fmt: Annotated[Fmt | None, typer.Option("--format")] = None) -> None:
        """List backups."""

    @app.command("restore")
    def restore(
        file: Annotated[Path, typer.Argument(metavar="FILE", help="Backup file.")],
        workdir: Annotated[
            Path | None,
            typer.Option("--workdir", metavar="DIR", file_okay=False, help="Scratch directory."),
        ] = None,
    ) -> None:
        """Load a backup."""

    app.add_typer(backup, name="backup", help="Back up a store.")
    return typer.main.get_command(app)


def test_groups_and_paths_complete_in_bash(tmp_path: Path) -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    root = describe_cli(_toy_cli())
    script = tmp_path / "toy.bash"
    script.write_text(render_tree("bash", root))
    work = tmp_path / "work"
    (work / "backups").mkdir(parents=True)
    (work / "backup-1.json").write_text("{}")
    (work / "notes.txt").write_text("")

    def complete(*words: str) -> list[str]:
        return sorted(_bash_complete("mcpstore", *words, script=script, cwd=work))

    assert complete("") == ["backup", "restore"]
    assert complete("backup", "") == ["list"]
    assert complete("backup", "--na") == ["--native"]
    assert complete("backup", "--out", "back") == ["backup-1.json", "backups"]
    assert complete("backup", "-o", "n") == ["notes.txt"]
    assert complete("backup", "--out", "x.json", "l") == ["list"]
    assert complete("backup", "list", "--format", "") == ["json", "table"]
    assert complete("restore", "no") == ["notes.txt"]
    assert complete("restore", "--workdir", "") == ["backups"]
    for shell in ("zsh", "fish"):
        checker = {"zsh": ["zsh", "-n"], "fish": ["fish", "--no-execute"]}[shell]
        if shutil.which(checker[0]) is None:
            continue
        target = tmp_path / f"toy.{shell}"
        target.write_text(render_tree(shell, root))
        proc = subprocess.run([*checker, str(target)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
