"""Paired comparison of two runs, used as a regression gate (``mmlw compare BASE NEW``).

Over the sample ids both runs share, each metric's difference ``new - base`` gets a paired bootstrap
CI at level ``1 - alpha`` (the same samples are resampled in both runs), overall, per task and per
length bin.

**Gate rule.** A row is a *regression* when its CI of ``new - base`` lies entirely below 0 (upper
bound < 0) **and** the mean drop ``base - new`` is greater than ``max_drop`` points. By default only
the overall rows gate (per-task / per-bin groups are small and shown for diagnosis); with
``gate_groups=True`` every row gates. A metric with no paired data (e.g. S_q when neither run had a
quality judge) is ``n/a`` and never fails. Exit code: 0 pass, 1 regression, 2 unusable input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmlongbench_write.errors import MMLWError
from mmlongbench_write.runstore import StoredRun

from .aggregate import row_length_bin, sample_metrics
from .board import dataset_fingerprint, judge_key, length_formula, quality_judge_identity
from .stats import paired_diff_ci

METRICS = ("S", "S_l", "S_q")


class CompareInputError(MMLWError):
    """The two runs cannot be compared (exit code 2)."""


def _check_comparable(base: StoredRun, new: StoredRun, allow_mixed_judges: bool) -> None:
    fb, fn = dataset_fingerprint(base), dataset_fingerprint(new)
    if fb and fn and fb != fn:
        raise CompareInputError(
            f"different benchmark data: {base.run_id} has dataset fingerprint {fb}, {new.run_id} has {fn}"
        )
    lb, ln = length_formula(base), length_formula(new)
    if lb and ln and lb != ln:
        raise CompareInputError(f"different length formulas: base uses {lb!r}, new uses {ln!r}")
    jb, jn = judge_key(quality_judge_identity(base)), judge_key(quality_judge_identity(new))
    if jb and jn and jb != jn and not allow_mixed_judges:
        raise CompareInputError(
            f"different quality judges: base {jb}, new {jn} (pass --allow-mixed-judges to compare anyway)"
        )


def compare_runs(
    base: StoredRun,
    new: StoredRun,
    *,
    metrics: Sequence[str] = METRICS,
    max_drop: float = 0.0,
    alpha: float = 0.05,
    allow_mixed_judges: bool = False,
    gate_groups: bool = False,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare ``new`` against ``base``; the result's ``exit_code`` is 0 (pass) or 1 (regression)."""
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        raise CompareInputError(f"unknown metric {bad[0]!r}; choose from {', '.join(METRICS)}")
    _check_comparable(base, new, allow_mixed_judges)
    b_rows = {r["id"]: r for r in base.samples if "id" in r}
    n_rows = {r["id"]: r for r in new.samples if "id" in r}
    shared = [sid for sid in b_rows if sid in n_rows]
    if not shared:
        raise CompareInputError(
            f"no shared samples: base {base.run_id} ({len(b_rows)} samples) and new {new.run_id} "
            f"({len(n_rows)} samples) have no sample id in common"
        )
    groups: list[tuple[str, str, list[str]]] = [("overall", "all", shared)]
    for group, key_of in (("task", lambda r: r.get("task")), ("length_bin", row_length_bin)):
        keys: dict[str, list[str]] = {}
        for sid in shared:
            k = key_of(b_rows[sid])
            if k:
                keys.setdefault(str(k), []).append(sid)
        groups += [(group, k, ids) for k, ids in sorted(keys.items())]
    b_metrics = {sid: sample_metrics(b_rows[sid]) for sid in shared}
    n_metrics = {sid: sample_metrics(n_rows[sid]) for sid in shared}

    rows: list[dict[str, Any]] = []
    for group, key, ids in groups:
        for metric in metrics:
            pairs: list[tuple[float, float]] = []
            for s in ids:
                b_val, n_val = b_metrics[s][metric], n_metrics[s][metric]
                if b_val is not None and n_val is not None:
                    pairs.append((b_val, n_val))
            d = paired_diff_ci(
                [p[0] for p in pairs],
                [p[1] for p in pairs],
                n_boot=n_boot,
                seed=seed,
                alpha=alpha,
                key=f"{group}/{key}/{metric}",
            )
            gating = group == "overall" or gate_groups
            if d["n"] == 0:
                status = "n/a"
            elif d["ci"][1] < 0 and -d["diff"] > max_drop:
                status = "regression" if gating else "drop"
            elif d["ci"][1] < 0:
                status = "drop (within max-drop)" if gating else "drop"
            elif d["ci"][0] > 0:
                status = "improved"
            else:
                status = "ok"
            rows.append({"group": group, "key": key, "metric": metric, "gating": gating, "status": status, **d})
    failed = [r for r in rows if r["status"] == "regression"]
    return {
        "base": {"run_id": base.run_id, "label": base.label, "path": str(base.path), "n_samples": len(b_rows)},
        "new": {"run_id": new.run_id, "label": new.label, "path": str(new.path), "n_samples": len(n_rows)},
        "n_shared": len(shared),
        "alpha": alpha,
        "max_drop": max_drop,
        "gate_groups": gate_groups,
        "rule": (
            f"regression = the {100 * (1 - alpha):g}% paired-bootstrap CI of new-base lies entirely below 0 "
            f"and the mean drop exceeds {max_drop:g} points"
            + ("" if gate_groups else " (overall rows gate; task/bin rows are informational)")
        ),
        "rows": rows,
        "failed": failed,
        "exit_code": 1 if failed else 0,
    }


def _f(x: float | None, sign: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.1f}" if sign else f"{x:.1f}"


def verdict(result: dict[str, Any]) -> str:
    if not result["failed"]:
        return (
            f"PASS: no metric dropped by more than {result['max_drop']:g} points with significance "
            f"({result['n_shared']} shared samples)"
        )
    parts = []
    for r in result["failed"]:
        where = "" if r["group"] == "overall" else f" [{r['group']} {r['key']}]"
        parts.append(
            f"{r['metric']}{where} dropped by {-r['diff']:.1f} points "
            f"(CI of new-base [{r['ci'][0]:+.1f}, {r['ci'][1]:+.1f}])"
        )
    return f"FAIL: {'; '.join(parts)} > max-drop {result['max_drop']:g}"


def to_markdown(result: dict[str, Any]) -> str:
    b, n = result["base"], result["new"]
    lines = [
        f"Comparing new {n['label']} ({n['run_id']}) against base {b['label']} ({b['run_id']}): "
        f"{result['n_shared']} shared samples (base {b['n_samples']}, new {n['n_samples']})",
        "",
        "| group | metric | n | base | new | new-base | CI | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        where = "overall" if r["group"] == "overall" else f"{r['group']}: {r['key']}"
        ci = "n/a" if r["ci"] is None else f"[{r['ci'][0]:+.1f}, {r['ci'][1]:+.1f}]"
        status = f"**{r['status'].upper()}**" if r["status"] == "regression" else r["status"]
        lines.append(
            f"| {where} | {r['metric']} | {r['n']} | {_f(r['base'])} | {_f(r['new'])} | "
            f"{_f(r['diff'], True)} | {ci} | {status} |"
        )
    lines += ["", f"Rule: {result['rule']}.", verdict(result)]
    return "\n".join(lines) + "\n"
