"""One self-contained HTML report: sortable leaderboard, plots, per-run drill-down.

Everything is inline (CSS and JS from ``assets/``, plots as base64 PNG, image thumbnails as base64
JPEG), so the file opens offline with no network request. Size is kept in check for large boards
(10 runs x 120 samples stays well under 5 MB): responses are cut to a per-sample byte budget (the full
text stays in ``samples.jsonl``) and thumbnails are deduplicated by hash and capped in total.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import json
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from mmlongbench_write.fields import finite_number
from mmlongbench_write.runformat import ImageInfo, SampleRow
from mmlongbench_write.runstore import StoredRun
from mmlongbench_write.schema import LENGTH_BIN_NAMES

from .board import Board, BoardTable, Entry
from .tables import BIN_TITLES, display_label, fmt, per_sample_metrics

RESPONSE_BUDGET_BYTES = 2_000_000  # shared by all responses in the report
THUMB_BUDGET_BYTES = 1_000_000
THUMB_SIZE = (128, 96)
GROUPS = (("by_task", "task"), ("by_category", "category"), ("by_language", "language"))
SHA256 = re.compile(r"[0-9a-f]{64}")


def _e(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _asset(name: str) -> str:
    return resources.files("mmlongbench_write.leaderboard").joinpath("assets", name).read_text("utf-8")


def _num_attr(value: Any) -> str:
    """A ``data-sort`` value: a finite number's repr, or empty (never text from a run file)."""
    number = finite_number(value)
    return "" if number is None else repr(number)


def _metric_td(m: dict[str, Any] | None, *, ci: bool = True) -> str:
    mean = finite_number((m or {}).get("mean"))
    if m is None or mean is None:
        return '<td data-sort="">–</td>'
    text = str(m["text"]) if m.get("text") else fmt(mean)
    extra = ""
    bounds = m.get("ci95")
    if ci and isinstance(bounds, list) and len(bounds) == 2:
        lo, hi = finite_number(bounds[0]), finite_number(bounds[1])
        if lo is not None and hi is not None:
            extra = f' <span class="ci">[{fmt(lo)}, {fmt(hi)}]</span>'
    return f'<td data-sort="{_num_attr(mean)}">{_e(text)}{extra}</td>'


def _count_td(e: Entry, name: str) -> str:
    v = e.count(name)
    return '<td data-sort="">–</td>' if v is None else f'<td data-sort="{v}">{v}</td>'


def _label_td(e: Entry) -> str:
    badges = ""
    if e.reported:
        badges += (f'<span class="badge reported" title="from the paper, not measured here">reported · '
                   f"{_e(e.paper_setting)}</span>")
    if e.mixed_judge:
        badges += '<span class="badge mixed" title="scored by a different quality judge">other judge</span>'
    return f'<td class="text" data-sort="{_e(e.label.lower())}">{_e(e.label)}{badges}</td>'


def _th(text: str, kind: str = "num", title: str = "") -> str:
    cls = ' class="text"' if kind == "text" else ""
    tip = f' title="{_e(title)}"' if title else ""
    return f'<th data-type="{kind}"{cls}{tip}>{_e(text)}</th>'


def main_table(table: BoardTable, index: int) -> str:
    metrics = table.metrics
    binned = per_sample_metrics(table)
    heads = [_th("#"), _th("model", "text")] + [_th(m.name, title=m.description) for m in metrics]
    for b in LENGTH_BIN_NAMES:
        heads += [_th(f"{m.name} {BIN_TITLES[b]}") for m in binned]
    heads += [_th("n"), _th("judge fail"), _th("truncated"), _th("length formula", "text"),
              _th("quality judge", "text"), _th("run id", "text")]
    rows = []
    for rank, e in enumerate(table.entries, start=1):
        cells = [f'<td data-sort="{rank}">{rank}</td>', _label_td(e)]
        cells += [_metric_td(e.metric(m.name)) for m in metrics]
        for b in LENGTH_BIN_NAMES:
            cells += [_metric_td(e.metric(m.name, "by_length_bin", b), ci=False) for m in binned]
        cells += [_count_td(e, "n_samples"), _count_td(e, "n_judge_failures"), _count_td(e, "n_truncated")]
        cells += [
            f'<td class="text">{_e(e.length_formula or "–")}</td>',
            f'<td class="text">{_e(e.judge or "none (length only)")}</td>',
            f'<td class="text">{_e(e.run_id)}</td>',
        ]
        cls = "reported" if e.reported else "measured"
        rows.append(f'<tr class="{cls}" data-label="{_e(e.label)}">{"".join(cells)}</tr>')
    setting = table.setting.title() if table.setting else "reported in the paper, not measured here"
    return (
        f'<h3 class="setting">{_e(setting)}</h3>'
        f'<div class="scroll"><table id="leaderboard-{index}" class="sortable leaderboard"><thead><tr>'
        f'{"".join(heads)}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
    )


def groups_table(table: BoardTable, index: int) -> str:
    measured = table.measured
    binned = per_sample_metrics(table)
    cols: list[tuple[str, str]] = []
    for group, _ in GROUPS:
        keys = sorted({str(k) for e in measured for k in (e.scores.get(group) or {})})
        cols += [(group, k) for k in keys]
    if not measured or not cols or not binned:
        return ""
    heads = [_th("model", "text")] + [
        _th(f"{k} {m.name}", title=f"{g[3:]} {k}: {m.name}") for g, k in cols for m in binned
    ]
    rows = []
    for e in measured:
        cells = [_label_td(e)] + [_metric_td(e.metric(m.name, g, k), ci=False) for g, k in cols for m in binned]
        rows.append(f'<tr class="measured">{"".join(cells)}</tr>')
    return (
        f'<div class="scroll"><table id="groups-{index}" class="sortable"><thead><tr>{"".join(heads)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _plots(runs: Sequence[StoredRun], pairwise: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """``(kind, caption, data URI)`` for every figure that has data."""
    from . import plots

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


def data_folder(run: StoredRun) -> Path | None:
    """The local folder a run's data came from (images are only read from inside it), or None."""
    source = run.meta.dataset.get("source")
    if not isinstance(source, str) or not source or source == "mini":
        return None
    path = Path(source).expanduser()
    if not path.is_absolute():
        return None  # a relative source names no folder we can trust from here
    folder = path if path.is_dir() else path.parent
    return folder.resolve() if folder.is_dir() else None


class _Thumbs:
    """Small JPEG thumbnails of the runs' input images, deduplicated by hash, within a byte budget.

    Run files are untrusted: an image is read only when its file lies inside the run's data folder and
    its bytes hash to the sha256 the run records (or it is a bundled mini image, regenerated by hash).
    """

    def __init__(self, budget: int = THUMB_BUDGET_BYTES, known: dict[str, bytes] | None = None) -> None:
        self.budget = budget
        self.known = known or {}  # sha256 -> image bytes we can regenerate (the bundled mini set)
        self.uris: dict[str, str] = {}
        self.failed: set[str] = set()

    def get(self, ref: ImageInfo, folder: Path | None) -> str | None:
        sha = ref.sha256.lower()
        if sha in self.uris:
            return sha
        if not SHA256.fullmatch(sha) or sha in self.failed or self.budget <= 0:
            return None
        data = self.known.get(sha) or self._read(ref.source, folder, sha)
        uri = self._encode(data) if data is not None else None
        if uri is None:
            self.failed.add(sha)
            return None
        self.budget -= len(uri)
        self.uris[sha] = uri
        return sha

    @staticmethod
    def _read(source: str, folder: Path | None, sha: str) -> bytes | None:
        if folder is None or not source:
            return None
        try:
            path = (folder / source).resolve() if not Path(source).is_absolute() else Path(source).resolve()
            if not path.is_relative_to(folder) or not path.is_file() or path.stat().st_size > 50_000_000:
                return None
            data = path.read_bytes()
        except (OSError, ValueError):
            return None
        return data if hashlib.sha256(data).hexdigest() == sha else None

    @staticmethod
    def _encode(data: bytes) -> str | None:
        try:
            import io

            from PIL import Image

            with Image.open(io.BytesIO(data)) as opened:
                im = opened.convert("RGB")
                im.thumbnail(THUMB_SIZE)
                buf = io.BytesIO()
                im.save(buf, format="JPEG", quality=70)
        except Exception:  # unreadable or not an image: show the hash instead
            return None
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _mini_images(runs: Sequence[StoredRun]) -> dict[str, bytes]:
    """Images of the bundled mini set by hash, when a run used it (they are drawn, not stored)."""
    if not any(run.meta.dataset.get("source") == "mini" for run in runs):
        return {}
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


def _sample_html(row: SampleRow, folder: Path | None, thumbs: _Thumbs, max_bytes: int) -> str:
    m = row.metric_values() if row.generated else {}
    flags = ""
    if row.truncated:
        flags += '<span class="badge trunc">truncated</span>'
    if any(not v.ok for v in row.scores.values()):
        flags += '<span class="badge fail">judge failed</span>'
    if not row.generated:
        flags += '<span class="badge fail">generation error</span>'
    shown = " · ".join(f"{_e(name)} {fmt(value)}" for name, value in m.items())
    summary = (f"{_e(row.id)} · {_e(row.task)} · {_e(row.language)} · L={row.required_length} · "
               f"{_e(row.word_count)} words · {shown}{flags}")
    images = []
    for ref in row.images:
        sha = thumbs.get(ref, folder)
        if sha:
            images.append(f'<img data-sha="{_e(sha)}" alt="image {_e(sha[:12])}">')
        else:
            images.append(f'<span class="hash" title="{_e(ref.source)}">{_e(ref.sha256[:12])}</span>')
    clipped, cut = _clip(row.response if row.response is not None else row.prediction or "", max_bytes)
    note = " (cut for the report; full text in samples.jsonl)" if cut else ""
    quality = row.scores.get("quality")
    dims = quality.details.get("dimensions") if quality is not None and quality.ok else None
    dims_html = " · ".join(f"{_e(k)} {_e(v)}" for k, v in dims.items()) if isinstance(dims, dict) else ""
    analysis = quality.details.get("analysis") if quality is not None else None
    failures = "".join(f'<p class="note">{_e(name)} judge error: {_e(v.error)}</p>'
                       for name, v in row.scores.items() if v.error)
    parts = [
        f'<div class="instr">{_e(row.instruction)}</div>',
        f'<div class="thumbs">{"".join(images)}</div>' if images else "",
        f'<div class="dims">{dims_html}</div>' if dims_html else "",
        failures,
        f'<p class="note">generation error: {_e(row.error)}</p>' if row.error else "",
        f"<p><b>Judge analysis:</b> {_e(analysis)}</p>" if analysis else "",
        f"<details><summary>response ({_e(row.word_count)} words, finish: "
        f"{_e(row.finish_reason)}){note}</summary><pre>{_e(clipped)}</pre></details>",
    ]
    return f'<details class="sample"><summary>{summary}</summary>{"".join(parts)}</details>'


def drilldown(entries: Sequence[Entry], thumbs: _Thumbs) -> str:
    measured = [e for e in entries if e.run is not None]
    total = sum(len(e.run.rows) for e in measured if e.run) or 1
    max_bytes = max(300, min(200_000, RESPONSE_BUDGET_BYTES // total))
    out = []
    for i, e in enumerate(measured):
        assert e.run is not None
        folder = data_folder(e.run)
        samples = "".join(_sample_html(r, folder, thumbs, max_bytes) for r in e.run.rows)
        out.append(
            f'<details class="run" id="run-{i}"><summary>{_e(display_label(e))} — {_e(e.run_id)} '
            f'({len(e.run.rows)} samples)</summary><p class="note">{_e(e.run.path)}</p>{samples}</details>'
        )
    return "".join(out)


def script_json(value: Any) -> str:
    """JSON safe to inline in a ``<script>``: ``<``, ``>`` and ``&`` escaped, so no string can close it."""
    text = json.dumps(value, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_html(board: Board, *, pairwise: Sequence[dict[str, Any]] = (),
               title: str = "MMLongBench-Write leaderboard") -> str:
    """The whole report as one HTML string."""
    entries = board.entries
    runs = [e.run for e in entries if e.run is not None]
    thumbs = _Thumbs(known=_mini_images(runs))
    figures = _plots(runs, pairwise)
    runs_html = drilldown(entries, thumbs)
    n_measured = sum(1 for e in entries if not e.reported)
    n_reported = len(entries) - n_measured
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    toggle = (
        '<label><input type="checkbox" id="toggle-reported" checked> show reported rows '
        "(the paper's Table 1, not measured here)</label>"
    ) if n_reported else ""
    plots_html = "".join(
        f'<figure data-kind="{_e(k)}"><img class="plot" alt="{_e(c)}" src="{uri}"><figcaption>{_e(c)}</figcaption>'
        "</figure>"
        for k, c, uri in figures
    )
    notes = (
        "Each table ranks runs of one comparable setting (same samples, tasks, length formula, judges and "
        "protocol). Scores are means with 95% percentile-bootstrap CIs; S = (S_l + S_q) / 2 of the means shown. "
        "Click a column header to sort."
    )
    if any(e.mixed_judge for e in entries):
        notes += " Rows marked 'other judge' were scored by a different quality judge: their S_q and S differ in kind."
    tables = "".join(main_table(t, i) for i, t in enumerate(board.tables))
    groups = "".join(groups_table(t, i) for i, t in enumerate(board.tables) if t.setting is not None)
    skipped = "".join(f"<li>{_e(path)}: {_e(reason)}</li>" for path, reason in board.skipped)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_asset("report.css")}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="meta">{n_measured} measured run(s), {n_reported} reported row(s) · generated {when} by mmlw</p>
<p class="note">{_e(notes)}</p>
{f'<p class="note">Left out:</p><ul class="note">{skipped}</ul>' if skipped else ""}
{toggle}
<h2>Leaderboard</h2>
{tables or '<p class="note">no runs</p>'}
<h2>By task, category and language</h2>
{groups or '<p class="note">no measured runs</p>'}
<h2>Plots</h2>
<div class="plots">{plots_html or '<p class="note">no data to plot</p>'}</div>
<h2>Runs</h2>
{runs_html or '<p class="note">no measured runs</p>'}
<script>window.MMLW_THUMBS = {script_json(thumbs.uris)};</script>
<script>{_asset("report.js")}</script>
</body></html>
"""
