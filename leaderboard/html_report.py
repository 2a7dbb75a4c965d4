"""One self-contained HTML report: sortable leaderboard, plots, per-run drill-down.

Everything is inline (CSS and JS from ``assets/``, plots as base64 PNG, image thumbnails as base64
JPEG), so the file opens offline with no network request. Size is kept in check for large boards
(10 runs x 120 samples stays well under 5 MB): responses are cut to a per-sample byte budget (the full
text stays in ``samples.jsonl``) and thumbnails are deduplicated by hash and capped in total.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from mmlongbench_write.schema import LENGTH_BIN_NAMES

from .aggregate import is_truncated, sample_metrics
from .board import Entry
from .tables import BIN_TITLES, display_label, fmt

RESPONSE_BUDGET_BYTES = 2_000_000  # shared by all responses in the report
THUMB_BUDGET_BYTES = 1_000_000
THUMB_SIZE = (128, 96)
GROUPS = (("by_task", "task"), ("by_category", "category"), ("by_language", "language"))


def _e(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _asset(name: str) -> str:
    return resources.files("mmlongbench_write.leaderboard").joinpath("assets", name).read_text("utf-8")


def _metric_td(m: dict[str, Any] | None, *, ci: bool = True) -> str:
    if not m or m.get("mean") is None:
        return '<td data-sort="">–</td>'
    text = str(m["text"]) if m.get("text") else fmt(m["mean"])
    extra = ""
    if ci and m.get("ci95"):
        extra = f' <span class="ci">[{fmt(m["ci95"][0])}, {fmt(m["ci95"][1])}]</span>'
    return f'<td data-sort="{m["mean"]}">{_e(text)}{extra}</td>'


def _count_td(e: Entry, field: str) -> str:
    v = (e.results.get("overall") or {}).get(field)
    return '<td data-sort="">–</td>' if v is None else f'<td data-sort="{v}">{v}</td>'


def _label_td(e: Entry) -> str:
    badges = ""
    if e.reported:
        badges += (
            f'<span class="badge reported" title="from the paper, not measured here">reported · {_e(e.setting)}</span>'
        )
    if e.mixed_judge:
        badges += '<span class="badge mixed" title="scored by a different quality judge">other judge</span>'
    return f'<td class="text" data-sort="{_e(e.label.lower())}">{_e(e.label)}{badges}</td>'


def _th(text: str, kind: str = "num", title: str = "") -> str:
    cls = ' class="text"' if kind == "text" else ""
    tip = f' title="{_e(title)}"' if title else ""
    return f'<th data-type="{kind}"{cls}{tip}>{_e(text)}</th>'


def main_table(entries: Sequence[Entry]) -> str:
    heads = [_th("#"), _th("model", "text"), _th("S"), _th("S_l"), _th("S_q")]
    for b in LENGTH_BIN_NAMES:
        heads += [_th(f"S_l {BIN_TITLES[b]}"), _th(f"S_q {BIN_TITLES[b]}")]
    heads += [
        _th("n"),
        _th("judge fail"),
        _th("truncated"),
        _th("length formula", "text"),
        _th("quality judge", "text"),
        _th("run id", "text"),
    ]
    rows = []
    for rank, e in enumerate(entries, start=1):
        cells = [f'<td data-sort="{rank}">{rank}</td>', _label_td(e)]
        cells += [_metric_td(e.metric(m)) for m in ("S", "S_l", "S_q")]
        for b in LENGTH_BIN_NAMES:
            cells += [_metric_td(e.metric(m, "by_length_bin", b), ci=False) for m in ("S_l", "S_q")]
        cells += [_count_td(e, "n_samples"), _count_td(e, "n_judge_failures"), _count_td(e, "n_truncated")]
        cells += [
            f'<td class="text">{_e(e.length_formula or "–")}</td>',
            f'<td class="text">{_e(e.judge or "none (length only)")}</td>',
            f'<td class="text">{_e(e.run_id)}</td>',
        ]
        cls = "reported" if e.reported else "measured"
        rows.append(f'<tr class="{cls}" data-label="{_e(e.label)}">{"".join(cells)}</tr>')
    return (
        f'<div class="scroll"><table id="leaderboard" class="sortable"><thead><tr>{"".join(heads)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def groups_table(entries: Sequence[Entry]) -> str:
    measured = [e for e in entries if not e.reported]
    cols: list[tuple[str, str]] = []
    for group, _ in GROUPS:
        keys = sorted({k for e in measured for k in (e.results.get(group) or {})})
        cols += [(group, k) for k in keys]
    if not measured or not cols:
        return ""
    heads = [_th("model", "text")] + [
        _th(f"{k} {m}", title=f"{g[3:]} {k}: {m}") for g, k in cols for m in ("S_l", "S_q")
    ]
    rows = []
    for e in measured:
        cells = [_label_td(e)] + [_metric_td(e.metric(m, g, k), ci=False) for g, k in cols for m in ("S_l", "S_q")]
        rows.append(f'<tr class="measured">{"".join(cells)}</tr>')
    return (
        f'<div class="scroll"><table id="groups" class="sortable"><thead><tr>{"".join(heads)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _plots(entries: Sequence[Entry], pairwise: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """``(kind, caption, data URI)`` for every figure that has data."""
    from . import plots

    runs = [e.run for e in entries if e.run is not None]
    figs = [
        ("length-scatter", "Output length vs required length (log-log, y = x)", plots.plot_length_scatter(runs)),
        ("ruler", "LongWrite-V-Ruler: mean output length vs required L", plots.plot_ruler(runs)),
        ("tasks", "S_l and S_q per task", plots.plot_tasks(runs)),
        ("dimensions", "Quality per dimension (1-5)", plots.plot_dimensions(runs)),
        ("winrate", "Pairwise win rate", plots.plot_winrate(pairwise)),
    ]
    out = []
    for kind, caption, fig in figs:
        if fig is not None:
            data = base64.b64encode(plots.figure_bytes(fig, "png")).decode("ascii")
            out.append((kind, caption, f"data:image/png;base64,{data}"))
    return out


class _Thumbs:
    """Small JPEG thumbnails of readable source images, deduplicated by hash, within a byte budget."""

    def __init__(self, budget: int = THUMB_BUDGET_BYTES, known: dict[str, bytes] | None = None) -> None:
        self.budget = budget
        self.known = known or {}  # sha256 -> image bytes we can regenerate (the bundled mini set)
        self.uris: dict[str, str] = {}
        self.failed: set[str] = set()

    def get(self, ref: dict[str, Any], run_dir: Path) -> str | None:
        sha = str(ref.get("sha256") or "")
        if sha in self.uris:
            return sha
        if not sha or sha in self.failed or self.budget <= 0:
            return None
        source: Path | bytes | None = self.known.get(sha)
        if source is None and ref.get("source"):
            src = Path(str(ref["source"]))
            candidates = [src] if src.is_absolute() else [src, run_dir / src]
            source = next((p for p in candidates if p.is_file()), None)
        uri = self._encode(source) if source is not None else None
        if uri is None:
            self.failed.add(sha)
            return None
        self.budget -= len(uri)
        self.uris[sha] = uri
        return sha

    @staticmethod
    def _encode(source: Path | bytes) -> str | None:
        try:
            import io

            from PIL import Image

            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as opened:
                im = opened.convert("RGB")
                im.thumbnail(THUMB_SIZE)
                buf = io.BytesIO()
                im.save(buf, format="JPEG", quality=70)
        except Exception:  # unreadable or not an image: show the hash instead
            return None
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _mini_images(entries: Sequence[Entry]) -> dict[str, bytes]:
    """Images of the bundled mini set by hash, when a run used it (they are drawn, not stored)."""
    if not any(e.run and (e.run.run.get("dataset") or {}).get("source") == "mini" for e in entries):
        return {}
    import hashlib

    try:
        from mmlongbench_write.data.mini import mini_raw_data

        rows = mini_raw_data().rows
    except Exception:  # the report must not fail over thumbnails
        return {}
    return {hashlib.sha256(b).hexdigest(): b for row in rows for b in row["images"] if isinstance(b, bytes)}


def _clip(text: str, max_bytes: int) -> tuple[str, bool]:
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text, False
    return raw[:max_bytes].decode("utf-8", errors="ignore"), True


def _sample_html(row: dict[str, Any], run_dir: Path, thumbs: _Thumbs, max_bytes: int) -> str:
    m = sample_metrics(row)
    flags = ""
    if is_truncated(row):
        flags += '<span class="badge trunc">truncated</span>'
    if row.get("judge_error"):
        flags += '<span class="badge fail">judge failed</span>'
    if row.get("error"):
        flags += '<span class="badge fail">generation error</span>'
    summary = (
        f"{_e(row.get('id'))} · {_e(row.get('task'))} · {_e(row.get('language'))} · "
        f"L={_e(row.get('required_length'))} · {_e(row.get('word_count'))} words · "
        f"S_l {fmt(m['S_l'])} · S_q {fmt(m['S_q'])} · S {fmt(m['S'])}{flags}"
    )
    images = []
    for ref in row.get("images") or []:
        sha = thumbs.get(ref, run_dir) if isinstance(ref, dict) else None
        if sha:
            images.append(f'<img data-sha="{_e(sha)}" alt="image {_e(sha[:12])}">')
        elif isinstance(ref, dict):
            images.append(
                f'<span class="hash" title="{_e(ref.get("source"))}">{_e(str(ref.get("sha256"))[:12])}</span>'
            )
    response = str(row.get("response") if row.get("response") is not None else row.get("prediction") or "")
    clipped, cut = _clip(response, max_bytes)
    note = " (cut for the report; full text in samples.jsonl)" if cut else ""
    dims = row.get("quality_scores") or {}
    dims_html = " · ".join(f"{_e(k)} {_e(v)}" for k, v in dims.items()) if isinstance(dims, dict) else ""
    parts = [
        f'<div class="instr">{_e(row.get("instruction"))}</div>',
        f'<div class="thumbs">{"".join(images)}</div>' if images else "",
        f'<div class="dims">{dims_html}</div>' if dims_html else "",
        f'<p class="note">judge error: {_e(row["judge_error"])}</p>' if row.get("judge_error") else "",
        f'<p class="note">generation error: {_e(row["error"])}</p>' if row.get("error") else "",
        f"<p><b>Judge analysis:</b> {_e(row.get('judge_analysis'))}</p>" if row.get("judge_analysis") else "",
        f"<details><summary>response ({_e(row.get('word_count'))} words, finish: "
        f"{_e(row.get('finish_reason'))}){note}</summary><pre>{_e(clipped)}</pre></details>",
    ]
    return f'<details class="sample"><summary>{summary}</summary>{"".join(parts)}</details>'


def drilldown(entries: Sequence[Entry], thumbs: _Thumbs) -> str:
    measured = [e for e in entries if e.run is not None]
    total = sum(len(e.run.samples) for e in measured if e.run) or 1
    max_bytes = max(300, min(200_000, RESPONSE_BUDGET_BYTES // total))
    out = []
    for i, e in enumerate(measured):
        assert e.run is not None
        samples = "".join(_sample_html(r, e.run.path, thumbs, max_bytes) for r in e.run.samples)
        out.append(
            f'<details class="run" id="run-{i}"><summary>{_e(display_label(e))} — {_e(e.run_id)} '
            f'({len(e.run.samples)} samples)</summary><p class="note">{_e(e.run.path)}</p>{samples}</details>'
        )
    return "".join(out)


def build_html(
    entries: Sequence[Entry], *, pairwise: Sequence[dict[str, Any]] = (), title: str = "MMLongBench-Write leaderboard"
) -> str:
    """The whole report as one HTML string."""
    thumbs = _Thumbs(known=_mini_images(entries))
    figures = _plots(entries, pairwise)
    runs_html = drilldown(entries, thumbs)
    n_measured = sum(1 for e in entries if not e.reported)
    n_reported = len(entries) - n_measured
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    toggle = (
        (
            '<label><input type="checkbox" id="toggle-reported" checked> show reported rows '
            "(the paper's Table 1, not measured here)</label>"
        )
        if n_reported
        else ""
    )
    plots_html = "".join(
        f'<figure data-kind="{k}"><img class="plot" alt="{_e(c)}" src="{uri}"><figcaption>{_e(c)}</figcaption></figure>'
        for k, c, uri in figures
    )
    mixed = any(e.mixed_judge for e in entries)
    notes = (
        "Scores are means with 95% percentile-bootstrap CIs. S and S_q exclude samples whose quality "
        "judge failed (counted under 'judge fail'); S_l is over all samples. Click a column header to sort."
    )
    if mixed:
        notes += (
            " Rows marked 'other judge' were scored by a different quality judge: their S_q and S are not comparable."
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_asset("report.css")}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="meta">{n_measured} measured run(s), {n_reported} reported row(s) · generated {when} by mmlw</p>
<p class="note">{_e(notes)}</p>
{toggle}
<h2>Leaderboard</h2>
{main_table(entries)}
<h2>By task, category and language</h2>
{groups_table(entries) or '<p class="note">no measured runs</p>'}
<h2>Plots</h2>
<div class="plots">{plots_html or '<p class="note">no data to plot</p>'}</div>
<h2>Runs</h2>
{runs_html or '<p class="note">no measured runs</p>'}
<script>window.MMLW_THUMBS = {json.dumps(thumbs.uris)};</script>
<script>{_asset("report.js")}</script>
</body></html>
"""
