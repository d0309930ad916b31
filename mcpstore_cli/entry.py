"""The ``mcpstore`` console script: standard library only, so that a Ctrl-C while the CLI
is still loading (Typer, the commands) ends with status 130 and one line, like any other."""

from __future__ import annotations

import os

INTERRUPTED = 130  # mcpstore_cli.exitcodes.ExitStatus.INTERRUPTED, without importing it


def run() -> None:
    try:
        from mcpstore_cli.cli.app import run as run_cli
    except KeyboardInterrupt:
        # Straight to the descriptor: the half-imported modules may hold sys.stderr's lock.
        os.write(2, b"\nmcpstore: interrupted; nothing was changed.\n")
        os._exit(INTERRUPTED)
    run_cli()
