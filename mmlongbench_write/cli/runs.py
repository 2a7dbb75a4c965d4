"""``mmlw merge``: join shard runs."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("merge")
    def merge_command(
        runs: list[Path] = typer.Argument(..., help="shard run directories (mmlw eval --shard i/n)"),
        output: str = typer.Option("runs", "--output", help="runs folder for the merged run"),
        run_id: str = typer.Option(None, "--run-id", help="name of the merged run (default: model + config hash)"),
    ) -> None:
        """Merge the shard runs of one evaluation into a single run, refusing runs whose configs differ."""
        from mmlongbench_write.cli.evaluate import print_outcome
        from mmlongbench_write.merging import merge_runs

        print_outcome(merge_runs(runs, output, run_id))
