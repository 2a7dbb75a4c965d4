"""``mmlw leaderboard``, ``mmlw compare`` and ``mmlw plot``: read stored runs, never generate.

Only typer is imported at module level; numpy/matplotlib/rich load inside the commands, so
``mmlw --help`` and ``mmlw leaderboard`` stay fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mmlongbench_write.errors import MMLWError

FORMATS = ("md", "csv", "json", "latex", "html")
DEFAULT_RUNS = "runs"


def _resolve_runs(runs: list[str] | None, *, allow_empty: bool = False) -> list[str]:
    if runs:
        return runs
    if not Path(DEFAULT_RUNS).exists():
        if allow_empty:
            return []
        raise MMLWError(
            f"no runs given and no ./{DEFAULT_RUNS}/ directory (run `mmlw eval ... --output "
            f"{DEFAULT_RUNS}/` first, or name run directories)"
        )
    return [DEFAULT_RUNS]


def _compact(headers: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """Terminal form of the main table: each bin's S_l and S_q in one column, the CI on its own line."""
    out_h: list[str] = []
    keep: list[tuple[int, int | None]] = []
    i = 0
    while i < len(headers):
        h = headers[i]
        if h.startswith("S_l [") and i + 1 < len(headers) and headers[i + 1].startswith("S_q ["):
            out_h.append("S_l/S_q " + h[4:])
            keep.append((i, i + 1))
            i += 2
        else:
            out_h.append(h)
            keep.append((i, None))
            i += 1
    out_rows = []
    for row in rows:
        cells = [row[a] if b is None else f"{row[a]}/{row[b]}" for a, b in keep]
        out_rows.append([c.replace(" [", "\n[") for c in cells])
    return out_h, out_rows


def _print_rich(board: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from mmlongbench_write.leaderboard.tables import table_sections

    console = Console()
    for sec_number, sec in ((n, s) for t in board.tables for n, s in enumerate(table_sections(t))):
        headers, rows = _compact(sec.headers, sec.rows) if sec_number == 0 else (sec.headers, sec.rows)
        table = Table(title=sec.title, title_justify="left", caption=sec.note or None, caption_justify="left")
        for h in headers:
            table.add_column(h, no_wrap=h in ("model", "#"))
        label_col = headers.index("model")
        for row in rows:
            table.add_row(*row, style="dim italic" if "reported)" in row[label_col] else None)
        console.print(table)


def leaderboard(
    runs: Annotated[
        list[str] | None, typer.Argument(help="Run directories or folders of runs (default: runs/).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="md | csv | json | latex | html")] = "md",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
    reported: Annotated[
        bool, typer.Option("--reported", help="Add the paper's Table 1 rows, marked 'reported'.")
    ] = False,
    allow_mixed_judges: Annotated[
        bool,
        typer.Option("--allow-mixed-judges", help="Rank runs that differ only in their quality judge in one table "
                     "(marked)."),
    ] = False,
    pairwise: Annotated[
        list[Path] | None, typer.Option("--pairwise", help="Pairwise judge result JSON files (win-rate matrix, html).")
    ] = None,
    recompute: Annotated[
        bool, typer.Option("--recompute", help="Re-aggregate samples.jsonl instead of reading results.json.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed (with --recompute).")] = 0,
    wandb: Annotated[
        str | None, typer.Option("--wandb", help="Also log the board as a W&B table: project=NAME[,entity=,name=,"
                                 "mode=offline] (the wandb extra).")
    ] = None,
) -> None:
    """Rank stored runs by S (then S_l) with 95% bootstrap CIs: overall, per length bin, task, category, language."""
    if fmt not in FORMATS:
        raise MMLWError(f"--format {fmt!r}: choose from {', '.join(FORMATS)}")
    from mmlongbench_write.tracking import parse_wandb

    tracking = parse_wandb(wandb)
    from mmlongbench_write.leaderboard.board import build_board, load_pairwise

    paths = _resolve_runs(runs, allow_empty=reported)
    board = build_board(paths, reported=reported, allow_mixed_judges=allow_mixed_judges, seed=seed,
                        recompute=recompute, with_samples=fmt == "html")
    for path, reason in board.skipped:
        print(f"note: left out {path}: {reason}", file=sys.stderr)
    measured = [t for t in board.tables if t.setting is not None]
    if not measured and not reported:
        what = "finished runs" if board.skipped else "run directories"
        raise MMLWError(f"no {what} found under {', '.join(paths)}")
    if len(measured) > 1:
        print(f"note: the runs span {len(measured)} settings that are not comparable; each is ranked in its own "
              "table", file=sys.stderr)
    if tracking is not None:
        from mmlongbench_write.tracking import log_board, say_logged

        say_logged(log_board(board, tracking))
    if fmt == "latex" and len(measured) > 1:
        raise MMLWError(f"--format latex draws one table, but the runs span {len(measured)} settings: pass the runs "
                        "of one setting (see `mmlw leaderboard --format md`)")
    if fmt == "html":
        from mmlongbench_write.leaderboard.html_report import build_html

        html = build_html(board, pairwise=load_pairwise(pairwise or []))
        target = output or Path("report.html")
        target.write_text(html, encoding="utf-8")
        typer.echo(f"wrote {target} ({len(html.encode('utf-8')) / 1e6:.2f} MB, {len(board.entries)} rows)")
        return
    from mmlongbench_write.leaderboard import tables

    if fmt == "md" and output is None and sys.stdout.isatty():
        _print_rich(board)
        return
    text = {"md": tables.to_markdown, "csv": tables.to_csv, "json": tables.to_json, "latex": tables.to_latex}[fmt](
        board
    )
    if output is not None:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")
    else:
        sys.stdout.write(text)


def compare(
    base_run: Annotated[Path, typer.Argument(help="Baseline run directory.")],
    new_run: Annotated[Path, typer.Argument(help="New run directory (a folder holding exactly one run also works).")],
    metric: Annotated[
        str | None, typer.Option("--metric", help="Comma-separated metrics to gate on (default: every metric both "
                                 "runs declare).")
    ] = None,
    max_drop: Annotated[float, typer.Option("--max-drop", help="Largest tolerated significant drop, in points.")] = 0.0,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level of the paired bootstrap CI.")] = 0.05,
    fmt: Annotated[str, typer.Option("--format", "-f", help="md | json")] = "md",
    allow_mixed_judges: Annotated[
        bool, typer.Option("--allow-mixed-judges", help="Compare across quality judges.")
    ] = False,
    gate_groups: Annotated[
        bool, typer.Option("--gate-groups", help="Also fail on per-task / per-bin regressions.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
) -> None:
    """Paired regression gate: exit 0 pass, 1 a metric dropped significantly by more than --max-drop, 2 unusable."""
    import json

    from mmlongbench_write.leaderboard.compare import compare_runs, to_markdown
    from mmlongbench_write.runstore import find_runs, load_run

    if fmt not in ("md", "json"):
        raise MMLWError(f"--format {fmt!r}: choose md or json")
    if not 0 < alpha < 1:
        raise MMLWError(f"--alpha {alpha}: must be between 0 and 1")
    loaded = []
    for name, path in (("BASE_RUN", base_run), ("NEW_RUN", new_run)):
        found = find_runs([path])
        if len(found) != 1:
            raise MMLWError(f"{name} {path}: expected one run directory, found {len(found)}")
        loaded.append(load_run(found[0]))
    metrics = [m.strip() for m in metric.split(",") if m.strip()] if metric else None
    result = compare_runs(
        loaded[0],
        loaded[1],
        metrics=metrics,
        max_drop=max_drop,
        alpha=alpha,
        allow_mixed_judges=allow_mixed_judges,
        gate_groups=gate_groups,
        seed=seed,
    )
    sys.stdout.write(json.dumps(result, indent=2) + "\n" if fmt == "json" else to_markdown(result))
    sys.exit(result["exit_code"])  # typer.Exit would be swallowed by main()'s standalone_mode=False


def plot(
    runs: Annotated[list[str], typer.Argument(help="Run directories or folders of runs.")],
    kind: Annotated[str, typer.Option("--kind", help="length-scatter | ruler | tasks | dimensions")],
    output: Annotated[Path, typer.Option("--output", "-o", help="FILE.png or FILE.svg")],
    dpi: Annotated[int, typer.Option("--dpi", help="resolution of a .png (default 150: 1200x900 pixels)")] = 150,
) -> None:
    """Draw one of the report's figures for papers and slides (matplotlib)."""
    from mmlongbench_write.leaderboard.plots import save_plot
    from mmlongbench_write.runstore import find_runs, load_run

    found = find_runs(runs)
    if not found:
        raise MMLWError(f"no run directories found under {', '.join(runs)}")
    out = save_plot([load_run(p) for p in found], kind, output, dpi=dpi)
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add ``leaderboard``, ``compare`` and ``plot`` to ``app``."""
    app.command("leaderboard")(leaderboard)
    app.command("compare")(compare)
    app.command("plot")(plot)
