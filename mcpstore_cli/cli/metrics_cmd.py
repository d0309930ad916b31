"""``mcpstore metrics``: the store's figures in the Prometheus text format, on stdout or
atomically into ``-o FILE`` (for node_exporter's textfile collector)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mcpstore_cli.cli.common import Command, TimeoutOpt
from mcpstore_cli.cli.manpage import ManCommand
from mcpstore_cli.cli.options import store_command
from mcpstore_cli.util.durations import parse_duration
from mcpstore_cli.util.timeutil import now_ms


def register(app: typer.Typer, panel: str) -> None:
    app.command("metrics", cls=ManCommand, rich_help_panel=panel)(metrics)


@store_command(formats=None)
def metrics(
    cmd: Command,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write here atomically (temporary file + rename), e.g. "
            "/var/lib/node_exporter/textfile/mcpstore.prom; a file an earlier run wrote is "
            "replaced, any other only with --force.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace any existing FILE.")] = False,
    timeout: TimeoutOpt = "30m",
    stuck_for: Annotated[
        str,
        typer.Option(
            "--stuck-for",
            metavar="DURATION",
            help="Task layouts: a live task not updated for this long counts as stuck.",
        ),
    ] = "1h",
) -> None:
    """The store's figures in Prometheus' text format; reading never changes anything."""
    timeout_ms = parse_duration(timeout, option="--timeout")
    stuck_ms = parse_duration(stuck_for, option="--stuck-for")
    if output is not None:
        from mcpstore_cli.util.outfile import check_output

        check_output(output, force=True)  # a directory or a SQLite file: refused before reading
    store = cmd.open_figures()

    from mcpstore_cli.render.metrics import exposition, preload

    async def work() -> tuple[Any, float]:
        async with store:
            from mcpstore_cli.ops.metrics import read_figures

            return await read_figures(
                store,
                now_ms=now_ms(),
                timeout_ms=timeout_ms,
                stuck_after_ms=stuck_ms,
                meanwhile=preload,
            )

    figures, took = cmd.run(work, inline=store.inline_reads)
    labels = {"backend": store.backend, "layout": store.layout, "store": store.label()}
    text = exposition(figures, store_labels=labels, duration_s=took)
    if output is None:
        cmd.env.stdout.write(text)
        cmd.env.stdout.flush()
        return
    from mcpstore_cli.ops.metrics import write_atomically

    size = write_atomically(output, text, force=force, protect=store.own_files())
    cmd.info(f"metrics: wrote {output} ({size:,} bytes; figures took {took:.3f} s).")
