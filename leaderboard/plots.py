"""The report's figures (matplotlib, Agg backend, imported lazily): one function per kind.

Each ``plot_*`` takes stored runs (and pairwise results for the win-rate matrix) and returns a
matplotlib ``Figure``, or ``None`` when the runs hold no data for it (e.g. no ruler samples). The HTML
report embeds them as PNG; ``mmlw plot`` saves the very same figures as PNG or SVG.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmlongbench_write.errors import MMLWError
from mmlongbench_write.fields import finite_number
from mmlongbench_write.runstore import StoredRun

if TYPE_CHECKING:
    from matplotlib.figure import Figure

KINDS = ("length-scatter", "ruler", "tasks", "dimensions")
#: Raster resolution of saved figures (``mmlw plot --dpi``); 150 dpi reads well on slides and in papers.
DEFAULT_DPI = 150
#: Size in inches of the one-panel figures: 1200x900 pixels at the default dpi.
FIGSIZE = (8.0, 6.0)


def _mpl() -> Any:
    from mmlongbench_write.extras import require

    matplotlib = require("matplotlib", "plots (`mmlw plot`, `leaderboard --format html`)")

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _colors(n: int) -> list[Any]:
    plt = _mpl()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _labels(runs: Sequence[StoredRun]) -> list[str]:
    """Run labels, disambiguated with the run id when two runs share a label."""
    labels = [r.label for r in runs]
    return [f"{lab} ({r.run_id[-8:]})" if labels.count(lab) > 1 else lab for lab, r in zip(labels, runs, strict=False)]


def plot_length_scatter(runs: Sequence[StoredRun]) -> Figure | None:
    """Output length vs required length, log-log, y = x, one colour per run (paper Fig. 1 style)."""
    plt = _mpl()
    fig, ax = plt.subplots(figsize=FIGSIZE)
    lo, hi, any_point = float("inf"), 0.0, False
    for run, label, color in zip(runs, _labels(runs), _colors(len(runs)), strict=False):
        pts = [(r.required_length, max(1, r.word_count or 0)) for r in run.rows
               if r.required_length > 0 and r.generated]
        if not pts:
            continue
        any_point = True
        xs, ys = zip(*pts, strict=False)
        lo, hi = min(lo, *xs, *ys), max(hi, *xs, *ys)
        ax.scatter(xs, ys, s=14, alpha=0.7, color=color, label=label, edgecolors="none")
    if not any_point:
        plt.close(fig)
        return None
    ax.plot([lo, hi], [lo, hi], "k--", linewidth=1, label="y = x")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for axis in (ax.xaxis, ax.yaxis):  # 2000 rather than 2x10^3
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(v)[0] in "25" else ""))
    ax.set_xlabel("required length (words)")
    ax.set_ylabel("output length (words)")
    ax.set_title("Output length vs required length")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout(pad=0.6)
    return fig


def plot_ruler(runs: Sequence[StoredRun]) -> Figure | None:
    """LongWrite-V-Ruler: mean output length vs required L, a curve per run with ruler samples."""
    plt = _mpl()
    curves = []
    for run, label in zip(runs, _labels(runs), strict=False):
        by_l: dict[int, list[int]] = {}
        for r in run.rows:
            if r.task == "ruler" and r.generated:
                by_l.setdefault(r.required_length, []).append(r.word_count or 0)
        if by_l:
            xs = sorted(by_l)
            curves.append((label, xs, [sum(by_l[x]) / len(by_l[x]) for x in xs]))
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=FIGSIZE)
    top = 0.0
    for (label, xs, ys), color in zip(curves, _colors(len(curves)), strict=False):
        ax.plot(xs, ys, marker="o", color=color, label=label)
        top = max(top, *xs, *ys)
    ax.plot([0, top], [0, top], "k--", linewidth=1, label="y = x")
    ax.set_xlabel("required length L (words)")
    ax.set_ylabel("mean output length (words)")
    ax.set_title("LongWrite-V-Ruler")
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout(pad=0.6)
    return fig


def _grouped_bars(
    ax: Any, categories: list[str], series: list[tuple[str, list[float | None]]], colors: list[Any]
) -> None:
    width = 0.8 / max(1, len(series))
    for i, ((label, values), color) in enumerate(zip(series, colors, strict=False)):
        xs = [c + (i - (len(series) - 1) / 2) * width for c in range(len(categories))]
        ax.bar(xs, [v if v is not None else 0 for v in values], width=width, color=color, label=label)
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels(categories, rotation=25, ha="right", fontsize=8)


def plot_tasks(runs: Sequence[StoredRun]) -> Figure | None:
    """Mean S_l and S_q per task, one bar per run."""
    plt = _mpl()
    tasks = sorted({r.task for run in runs for r in run.rows if r.task})
    if not tasks:
        return None
    metric_series: dict[str, list[tuple[str, list[float | None]]]] = {"S_l": [], "S_q": []}
    for run, label in zip(runs, _labels(runs), strict=False):
        per: dict[str, dict[str, list[float]]] = {t: {"S_l": [], "S_q": []} for t in tasks}
        for r in run.rows:
            m = r.metric_values() if r.generated else {}
            for metric in ("S_l", "S_q"):
                value = m.get(metric)
                if r.task in per and value is not None:
                    per[str(r.task)][metric].append(value)
        for metric in ("S_l", "S_q"):
            vals = [sum(per[t][metric]) / len(per[t][metric]) if per[t][metric] else None for t in tasks]
            metric_series[metric].append((label, vals))
    has_q = any(v is not None for _, vals in metric_series["S_q"] for v in vals)
    panels = ["S_l", "S_q"] if has_q else ["S_l"]
    fig, axes = plt.subplots(1, len(panels), figsize=(7.0 * len(panels), 5.2), squeeze=False)
    colors = _colors(len(runs))
    for ax, metric in zip(axes[0], panels, strict=False):
        _grouped_bars(ax, tasks, metric_series[metric], colors)
        ax.set_ylim(0, 100)
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} per task")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout(pad=0.6)
    return fig


def plot_dimensions(runs: Sequence[StoredRun]) -> Figure | None:
    """Mean 1..5 score of each of the six rubric dimensions (the quality judge's ``dimensions``), a bar per run."""
    from mmlongbench_write.judges.parsing import DIMENSIONS

    plt = _mpl()
    series = []
    for run, label in zip(runs, _labels(runs), strict=False):
        sums: dict[str, list[float]] = {}
        for r in run.rows:
            verdict = r.scores.get("quality")
            dims = verdict.details.get("dimensions") if verdict is not None and verdict.ok else None
            if isinstance(dims, dict):
                for key, _ in DIMENSIONS:
                    value = dims.get(key)
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        sums.setdefault(key, []).append(float(value))
        if sums:
            series.append((label, sums))
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(9.0, 5.5))
    data = [(label, [sum(s[key]) / len(s[key]) if s.get(key) else None for key, _ in DIMENSIONS])
            for label, s in series]
    _grouped_bars(ax, [name for _, name in DIMENSIONS], data, _colors(len(series)))
    ax.set_ylim(1, 5)
    ax.set_ylabel("mean score (1-5)")
    ax.set_title("Quality per dimension")
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout(pad=0.6)
    return fig


def plot_winrate(pairwise: Sequence[dict[str, Any]]) -> Figure | None:
    """Win-rate matrix from pairwise results: cell (row, col) = how often row beat col."""
    if not pairwise:
        return None
    plt = _mpl()
    names: list[str] = []
    for p in pairwise:
        for side in ("a", "b"):
            name = str(p[side].get("label") or p[side].get("run_id"))
            if name not in names:
                names.append(name)
    idx = {n: i for i, n in enumerate(names)}
    matrix = [[float("nan")] * len(names) for _ in names]
    for p in pairwise:
        a = idx[str(p["a"].get("label") or p["a"].get("run_id"))]
        b = idx[str(p["b"].get("label") or p["b"].get("run_id"))]
        for row, col, key in ((a, b, "a_win_rate"), (b, a, "b_win_rate")):
            rate = finite_number(p.get(key))
            if rate is not None:
                matrix[row][col] = rate
    size = 1.2 + 0.9 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    im = ax.imshow(matrix, vmin=0, vmax=1, cmap="RdYlGn")
    for i in range(len(names)):
        for j in range(len(names)):
            if matrix[i][j] == matrix[i][j]:  # not NaN
                ax.text(j, i, f"{matrix[i][j]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(names)))
    ax.set_yticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("opponent")
    ax.set_title("Pairwise win rate (row beats column)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout(pad=0.6)
    return fig


PLOTTERS = {
    "length-scatter": plot_length_scatter,
    "ruler": plot_ruler,
    "tasks": plot_tasks,
    "dimensions": plot_dimensions,
}


def figure_bytes(fig: Figure, fmt: str = "png", dpi: int = DEFAULT_DPI) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    _mpl().close(fig)
    return buf.getvalue()


def save_plot(runs: Sequence[StoredRun], kind: str, output: str | Path, dpi: int = DEFAULT_DPI) -> Path:
    """Draw ``kind`` for ``runs`` and save it; the format follows the file suffix (.png or .svg)."""
    if not 10 <= dpi <= 1200:
        raise MMLWError(f"--dpi {dpi}: choose between 10 and 1200")
    if kind not in PLOTTERS:
        raise MMLWError(f"unknown plot kind {kind!r}; choose from {', '.join(KINDS)}")
    out = Path(output)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg", "pdf"):
        raise MMLWError(f"--output {out}: use a .png, .svg or .pdf file name")
    fig = PLOTTERS[kind](runs)
    if fig is None:
        raise MMLWError(
            f"no data for a {kind!r} plot in the given runs"
            + (" (no samples with task 'ruler')" if kind == "ruler" else "")
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(figure_bytes(fig, fmt, dpi))
    return out
