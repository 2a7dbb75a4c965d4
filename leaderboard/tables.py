"""Leaderboard tables as plain data (sections of string cells), GitHub markdown, CSV, JSON and LaTeX.

The same sections feed the terminal (rich), markdown and HTML, so every format shows the same numbers.
Columns follow the metrics the runs' judges declare; each comparable setting is its own table.
Reported (paper) rows appear where the paper has numbers (overall and per bin) and are marked.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

from mmlongbench_write.metrics import MetricSpec
from mmlongbench_write.schema import LENGTH_BIN_NAMES

from .board import Board, BoardTable, Entry

BIN_TITLES = {"0-1500": "[0,1500)", "1500-2000": "[1500,2000)", "2000-3000": "[2000,3000)", "3000+": "[3000,∞)"}
MIXED_MARK = "†"
GROUP_SECTIONS = (("By task", "by_task"), ("By category", "by_category"), ("By language", "by_language"))


@dataclass
class Section:
    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fmt_metric(m: dict[str, object] | None, *, ci: bool = True) -> str:
    """``81.8 [79.0, 84.5]``; a reported value keeps its exact original text."""
    if not m or not isinstance(m.get("mean"), (int, float)):
        return "–"
    if m.get("text"):
        return str(m["text"])
    text = fmt(float(m["mean"]))  # type: ignore[arg-type]
    bounds = m.get("ci95")
    if ci and isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, (int, float)) for b in bounds):
        text += f" [{fmt(float(bounds[0]))}, {fmt(float(bounds[1]))}]"
    return text


def display_label(e: Entry) -> str:
    label = e.label + (f" ({e.paper_setting}, reported)" if e.reported else "")
    return label + (MIXED_MARK if e.mixed_judge else "")


def _count(e: Entry, name: str) -> str:
    value = e.count(name)
    return "–" if value is None else str(value)


def per_sample_metrics(table: BoardTable) -> list[MetricSpec]:
    """The metrics shown per bin and group: all but the combined S (the paper's layout: S_l and S_q)."""
    return [m for m in table.metrics if m.judge != "*"]


def _group_keys(entries: Sequence[Entry], group: str) -> list[str]:
    keys: set[str] = set()
    for e in entries:
        block = e.scores.get(group)
        if isinstance(block, dict):
            keys.update(str(k) for k in block)
    return sorted(keys)


def table_sections(table: BoardTable) -> list[Section]:
    """The sections of one comparable table; the first is the paper's Table 1 layout."""
    metrics = table.metrics
    binned = per_sample_metrics(table)
    headers = ["#", "model"] + [m.name for m in metrics]
    for b in LENGTH_BIN_NAMES:
        headers += [f"{m.name} {BIN_TITLES[b]}" for m in binned]
    headers += ["n", "judge fail", "truncated"]
    rows = []
    for rank, e in enumerate(table.entries, start=1):
        row = [str(rank), display_label(e)] + [fmt_metric(e.metric(m.name)) for m in metrics]
        for b in LENGTH_BIN_NAMES:
            row += [fmt_metric(e.metric(m.name, "by_length_bin", b), ci=False) for m in binned]
        row += [_count(e, "n_samples"), _count(e, "n_judge_failures"), _count(e, "n_truncated")]
        rows.append(row)
    note = "mean [95% bootstrap CI]"
    if any(m.name == "S" for m in metrics):
        note += "; S = (S_l + S_q) / 2 of the two means shown"
    if any(not e.reported and e.scores.get("rule") for e in table.entries):
        rule = next(e.scores["rule"] for e in table.entries if not e.reported and e.scores.get("rule"))
        if isinstance(rule, dict) and rule.get("text"):
            note += f"; rule: {rule['text']}"
    if any(e.reported for e in table.entries):
        note += "; 'reported' rows are the paper's numbers, not measured here"
    if any(e.mixed_judge for e in table.entries):
        note += f"; {MIXED_MARK} scored by a different quality judge than the other runs"
    title = "Overall and by required length" + (f" — {table.setting.title()}" if table.setting else
                                                 " — reported in the paper, not measured here")
    out = [Section(title, headers, rows, note)]
    measured = table.measured
    names = " / ".join(m.name for m in binned)
    for title_part, group in GROUP_SECTIONS:
        keys = _group_keys(measured, group)
        if not keys or not binned:
            continue
        group_rows = [[display_label(e)] + [" / ".join(fmt(e.mean(m.name, group, k)) for m in binned) for k in keys]
                      for e in measured]
        out.append(Section(f"{title_part} ({names})", ["model"] + keys, group_rows))
    details = [
        [display_label(e), e.run_id, _count(e, "n_samples"), _count(e, "n_judge_failures"),
         _count(e, "n_generation_errors"), _count(e, "n_truncated"), e.length_formula or "–",
         e.judge or "none (length only)"]
        for e in measured
    ]
    if details:
        out.append(Section("Runs", ["model", "run id", "samples", "judge failures", "generation errors", "truncated",
                                    "length formula", "quality judge"], details))
    return out


def sections(board: Board) -> list[Section]:
    return [sec for table in board.tables for sec in table_sections(table)]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(board: Board) -> str:
    parts = []
    for sec in sections(board):
        parts.append(f"### {_md_cell(sec.title)}\n")
        parts.append("| " + " | ".join(_md_cell(h) for h in sec.headers) + " |")
        parts.append("|" + "|".join("---" for _ in sec.headers) + "|")
        parts.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in sec.rows)
        if sec.note:
            parts.append(f"\n_{_md_cell(sec.note)}_")
        parts.append("")
    return "\n".join(parts)


def flat_row(e: Entry, table: BoardTable) -> dict[str, object]:
    """One CSV row: every metric mean and CI bound as its own column, with the row's setting."""
    row: dict[str, object] = {"label": e.label, "kind": e.kind, "paper_setting": e.paper_setting or "",
                              "run_id": e.run_id, "setting": table.setting.title() if table.setting else "reported",
                              "dataset_fingerprint": table.setting.dataset_fingerprint if table.setting else ""}

    def put(prefix: str, m: dict[str, object] | None) -> None:
        ci = (m or {}).get("ci95")
        lo, hi = ci if isinstance(ci, list) and len(ci) == 2 else (None, None)
        row[prefix] = (m or {}).get("mean")
        row[f"{prefix}_lo"], row[f"{prefix}_hi"] = lo, hi

    for metric in table.metrics:
        put(metric.name, e.metric(metric.name))
    for b in LENGTH_BIN_NAMES:
        for metric in table.metrics:
            put(f"{metric.name}@{b}", e.metric(metric.name, "by_length_bin", b))
    for _, group in GROUP_SECTIONS:
        for key in _group_keys([e], group):
            for metric in table.metrics:
                put(f"{metric.name}@{key}", e.metric(metric.name, group, key))
    for name in ("n_samples", "n_judge_failures", "n_generation_errors", "n_truncated"):
        row[name] = e.count(name)
    row.update(length_formula=e.length_formula or "", judge=e.judge or "", mixed_judge=e.mixed_judge)
    return row


def flat_rows(board: Board) -> tuple[list[str], list[dict[str, object]]]:
    """Every row of the board flat (:func:`flat_row`) and the union of their columns, in first-seen order:
    the shape of ``--format csv`` and of the board logged to W&B."""
    rows = [flat_row(e, t) for t in board.tables for e in t.entries]
    columns: list[str] = []
    for r in rows:
        columns += [c for c in r if c not in columns]
    return columns, rows


def to_csv(board: Board) -> str:
    columns, rows = flat_rows(board)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def to_json(board: Board) -> str:
    return json.dumps(board.to_json(), indent=2, ensure_ascii=False) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def _latex_value(m: dict[str, object] | None) -> str:
    if not m or not isinstance(m.get("mean"), (int, float)):
        return "--"
    return str(m["text"]) if m.get("text") else f"{float(m['mean']):.1f}"  # type: ignore[arg-type]


def to_latex(board: Board, *, caption: str | None = None) -> str:
    """The paper's Table 1 for the board's first table: S, S_l, S_q overall and S_l/S_q per bin (booktabs).

    With reported rows standing in a table of their own, they are set above the measured runs, in the
    paper's groups; a measured table of another setting than the full benchmark says so in the caption.
    """
    tables = board.tables
    measured_table = next((t for t in tables if t.setting is not None), None)
    entries = list(measured_table.entries) if measured_table else []
    entries += [e for t in tables if t.setting is None for e in t.entries]
    ncols = 4 + 2 * len(LENGTH_BIN_NAMES)
    bins = [r"$[0,1500)$", r"$[1500,2000)$", r"$[2000,3000)$", r"$[3000,\infty)$"]
    lines = [
        r"\begin{table}[t]", r"\centering", r"\small",
        r"\begin{tabular}{l" + "ccc" + "cc" * len(LENGTH_BIN_NAMES) + "}", r"\toprule",
        r" & \multicolumn{3}{c}{Overall} & " + " & ".join(rf"\multicolumn{{2}}{{c}}{{{b}}}" for b in bins) + r" \\",
        r"\cmidrule(lr){2-4}"
        + "".join(rf"\cmidrule(lr){{{5 + 2 * i}-{6 + 2 * i}}}" for i in range(len(LENGTH_BIN_NAMES))),
        r"Model & $\bar{S}$ & $\bar{S_l}$ & $\bar{S_q}$" + r" & $\bar{S_l}$ & $\bar{S_q}$" * len(LENGTH_BIN_NAMES)
        + r" \\",
    ]
    groups: list[tuple[str, list[Entry]]] = []
    for setting, title in (("caption+llm", "Reported (paper): caption + LLM"), ("vlm", "Reported (paper): VLM")):
        rows = [e for e in entries if e.reported and e.paper_setting == setting]
        if rows:
            groups.append((title, rows))
    other = [e for e in entries if e.reported and e.paper_setting not in ("caption+llm", "vlm")]
    if other:
        groups.append(("Reported (paper)", other))
    measured = [e for e in entries if not e.reported]
    if measured:
        groups.append(("Measured with mmlw", measured))
    for title, rows in groups:
        lines.append(r"\midrule")
        lines.append(rf"\multicolumn{{{ncols}}}{{l}}{{\textit{{{latex_escape(title)}}}}} \\")
        for e in rows:
            cells = [latex_escape(e.label) + (r"$^\dagger$" if e.mixed_judge else "")]
            cells += [_latex_value(e.metric(m)) for m in ("S", "S_l", "S_q")]
            for b in LENGTH_BIN_NAMES:
                cells += [_latex_value(e.metric(m, "by_length_bin", b)) for m in ("S_l", "S_q")]
            lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    cap = caption or (
        "Scores on MMLongBench-Write: $\\bar{S} = (\\bar{S_l} + \\bar{S_q})/2$ overall and "
        "$\\bar{S_l}$/$\\bar{S_q}$ per required-length bin."
    )
    if measured_table is not None and measured_table.setting and not measured_table.setting.is_full_benchmark:
        cap += f" Measured rows: {latex_escape(measured_table.setting.title())}."
    if any(e.mixed_judge for e in entries):
        cap += r" $^\dagger$scored by a different quality judge."
    lines += [rf"\caption{{{cap}}}", r"\label{tab:mmlongbench-write}", r"\end{table}"]
    return "\n".join(lines) + "\n"
