"""Write or print mcpstore's committed completion scripts from the current command tree::

python -m mcpstore_cli.cli.completion_files --write completions/
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from mcpstore_cli.cli.app import get_command
from mcpstore_cli.cli.completion import FILES, CommandSpec, describe_cli
from mcpstore_cli.cli.completion import render as render_for
from mcpstore_cli.cli.completion import write_all as write_all_for


def current_tree() -> CommandSpec:
    """The completion model of ``mcpstore`` as it is now."""
    return describe_cli(get_command())


def render(shell: str) -> str:
    return render_for(shell, current_tree())


def write_all(directory: Path) -> list[Path]:
    return write_all_for(directory, current_tree())


def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m mcpstore_cli.cli.completion_files",
        description="Print or write mcpstore's static completion scripts.",
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="DIR", help="write all scripts into DIR")
    group.add_argument("--print", choices=sorted(FILES), help="print one shell's script")
    ns = parser.parse_args(argv)
    if ns.write:
        for path in write_all(Path(ns.write)):
            print(f"wrote {path}")
    else:
        sys.stdout.write(render(ns.print))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
