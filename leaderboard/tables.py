"""Leaderboard tables as plain data (sections of string cells), GitHub markdown, CSV, JSON and LaTeX.

The same sections feed the terminal (rich), markdown and HTML, so every format shows the same numbers.
Reported (paper) rows appear where the paper has numbers (overall and per bin) and are marked.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mmlongbench_write.schema import LENGTH_BIN_NAMES

from .board import Entry

METRICS = ("S", "S_l", "S_q")
BIN_TITLES = {"0-1500": "[0,1500)", "1500-2000": "[1500,2000)", "2000-3000": "[2000,3000)", "3000+": "[3000,∞)"}
MIXED_MARK = "†"


@dataclass
class Section:
    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fmt_metric(m: dict[str, Any] | None, *, ci: bool = True) -> str:
    """``81.8 [79.0, 84.5]``; a reported value keeps its exact original text."""
    if not m or m.get("mean") is None:
        return "–"
    if m.get("text"):
        return str(m["text"])
    text = fmt(m["mean"])
    if ci and m.get("ci95"):
        lo, hi = m["ci95"]
        text += f" [{fmt(lo)}, {fmt(hi)}]"
    return text


def display_label(e: Entry) -> str:
    label = e.label + (f" ({e.setting}, reported)" if e.reported else "")
    return label + (MIXED_MARK if e.mixed_judge else "")


def _count(e: Entry, field: str) -> str:
    v = (e.results.get("overall") or {}).get(field)
    return "–" if v is None else str(v)


def _group_keys(entries: Sequence[Entry], group: str) -> list[str]:
    keys: set[str] = set()
    for e in entries:
        keys.update((e.results.get(group) or {}).keys())
    return sorted(keys)


def sections(entries: Sequence[Entry]) -> list[Section]:
    """All leaderboard sections; the first is the paper's Table 1 layout."""
    measured = [e for e in entries if not e.reported]
    headers = ["#", "model", "S", "S_l", "S_q"]
    for b in LENGTH_BIN_NAMES:
        headers += [f"S_l {BIN_TITLES[b]}", f"S_q {BIN_TITLES[b]}"]
    headers += ["n", "judge fail", "truncated"]
    main_rows = []
    for rank, e in enumerate(entries, start=1):
        row = [str(rank), display_label(e)] + [fmt_metric(e.metric(m)) for m in METRICS]
        for b in LENGTH_BIN_NAMES:
            row += [fmt_metric(e.metric(m, "by_length_bin", b), ci=False) for m in ("S_l", "S_q")]
        row += [_count(e, "n_samples"), _count(e, "n_judge_failures"), _count(e, "n_truncated")]
        main_rows.append(row)
    note = "mean [95% bootstrap CI]; S and S_q exclude judge failures; S_l is over all samples"
    if any(e.reported for e in entries):
        note += "; 'reported' rows are the paper's numbers, not measured here"
    if any(e.mixed_judge for e in entries):
        note += f"; {MIXED_MARK} scored by a different quality judge than the other runs"
    out = [Section("Overall and by required length (paper Table 1 layout)", headers, main_rows, note)]
    for title, group in (
        ("By task (S_l / S_q)", "by_task"),
        ("By category (S_l / S_q)", "by_category"),
        ("By language (S_l / S_q)", "by_language"),
    ):
        keys = _group_keys(measured, group)
        if not keys:
            continue
        rows = []
        for e in measured:
            cells = []
            for k in keys:
                cells.append(f"{fmt(e.mean('S_l', group, k))} / {fmt(e.mean('S_q', group, k))}")
            rows.append([display_label(e)] + cells)
        out.append(Section(title, ["model"] + keys, rows))
    details = [
        [
            display_label(e),
            e.run_id,
            _count(e, "n_samples"),
            _count(e, "n_judge_failures"),
            _count(e, "n_generation_errors"),
            _count(e, "n_truncated"),
            e.length_formula or "–",
            e.judge or "none (length only)",
        ]
        for e in measured
    ]
    if details:
        out.append(
            Section(
                "Runs",
                [
                    "model",
                    "run id",
                    "samples",
                    "judge failures",
                    "generation errors",
                    "truncated",
                    "length formula",
                    "quality judge",
                ],
                details,
            )
        )
    return out


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(entries: Sequence[Entry]) -> str:
    parts = []
    for sec in sections(entries):
        parts.append(f"### {sec.title}\n")
        parts.append("| " + " | ".join(_md_cell(h) for h in sec.headers) + " |")
        parts.append("|" + "|".join("---" for _ in sec.headers) + "|")
        parts.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in sec.rows)
        if sec.note:
            parts.append(f"\n_{sec.note}_")
        parts.append("")
    return "\n".join(parts)


def flat_row(e: Entry) -> dict[str, Any]:
    """One CSV row: every metric mean and CI bound as its own column."""
    row: dict[str, Any] = {"label": e.label, "kind": e.kind, "setting": e.setting or "", "run_id": e.run_id}

    def put(prefix: str, m: dict[str, Any] | None) -> None:
        ci = (m or {}).get("ci95") or [None, None]
        row[prefix] = (m or {}).get("mean")
        row[f"{prefix}_lo"], row[f"{prefix}_hi"] = ci

    for metric in METRICS:
        put(metric, e.metric(metric))
    for b in LENGTH_BIN_NAMES:
        for metric in METRICS:
            put(f"{metric}@{b}", e.metric(metric, "by_length_bin", b))
    for group in ("by_task", "by_category", "by_language"):
        for key in sorted((e.results.get(group) or {}).keys()):
            for metric in METRICS:
                put(f"{metric}@{key}", e.metric(metric, group, key))
    overall = e.results.get("overall") or {}
    for field in ("n_samples", "n_judge_failures", "n_generation_errors", "n_truncated"):
        row[field] = overall.get(field)
    row.update(length_formula=e.length_formula or "", judge=e.judge or "", mixed_judge=e.mixed_judge)
    return row


def to_csv(entries: Sequence[Entry]) -> str:
    rows = [flat_row(e) for e in entries]
    columns: list[str] = []
    for r in rows:
        columns += [c for c in r if c not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def to_json(entries: Sequence[Entry]) -> str:
    return json.dumps({"entries": [e.to_json() for e in entries]}, indent=2, ensure_ascii=False) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def _latex_value(m: dict[str, Any] | None) -> str:
    if not m or m.get("mean") is None:
        return "--"
    return str(m["text"]) if m.get("text") else f"{m['mean']:.1f}"


def to_latex(entries: Sequence[Entry], *, caption: str | None = None) -> str:
    """The paper's Table 1: S, S_l, S_q overall and S_l/S_q per required-length bin (booktabs)."""
    ncols = 4 + 2 * len(LENGTH_BIN_NAMES)
    bins = [r"$[0,1500)$", r"$[1500,2000)$", r"$[2000,3000)$", r"$[3000,\infty)$"]
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        r"\begin{tabular}{l" + "ccc" + "cc" * len(LENGTH_BIN_NAMES) + "}",
        r"\toprule",
        r" & \multicolumn{3}{c}{Overall} & " + " & ".join(rf"\multicolumn{{2}}{{c}}{{{b}}}" for b in bins) + r" \\",
        r"\cmidrule(lr){2-4}"
        + "".join(rf"\cmidrule(lr){{{5 + 2 * i}-{6 + 2 * i}}}" for i in range(len(LENGTH_BIN_NAMES))),
        r"Model & $\bar{S}$ & $\bar{S_l}$ & $\bar{S_q}$"
        + r" & $\bar{S_l}$ & $\bar{S_q}$" * len(LENGTH_BIN_NAMES)
        + r" \\",
    ]
    groups: list[tuple[str, list[Entry]]] = []
    for setting, title in (("caption+llm", "Reported (paper): caption + LLM"), ("vlm", "Reported (paper): VLM")):
        rows = [e for e in entries if e.reported and e.setting == setting]
        if rows:
            groups.append((title, rows))
    other = [e for e in entries if e.reported and e.setting not in ("caption+llm", "vlm")]
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
            cells += [_latex_value(e.metric(m)) for m in METRICS]
            for b in LENGTH_BIN_NAMES:
                cells += [_latex_value(e.metric(m, "by_length_bin", b)) for m in ("S_l", "S_q")]
            lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    cap = caption or (
        "Scores on MMLongBench-Write: $\\bar{S} = (\\bar{S_l} + \\bar{S_q})/2$ overall and "
        "$\\bar{S_l}$/$\\bar{S_q}$ per required-length bin."
    )
    if any(e.mixed_judge for e in entries):
        cap += r" $^\dagger$scored by a different quality judge."
    lines += [rf"\caption{{{cap}}}", r"\label{tab:mmlongbench-write}", r"\end{table}"]
    return "\n".join(lines) + "\n"
