"""Paired comparison of two runs, used as a regression gate (``mmlw compare BASE NEW``).

Over the sample ids both runs share, each metric's difference ``new - base`` gets a paired bootstrap
CI at level ``1 - alpha`` (the same samples are resampled in both runs), overall, per task and per
length bin.

**Gate rule.** A row is a *regression* when its CI of ``new - base`` lies entirely below 0 (upper
bound < 0) **and** the mean drop ``base - new`` is greater than ``max_drop`` points. By default only
the overall rows gate (per-task / per-bin groups are small and shown for diagnosis); with
``gate_groups=True`` every row gates. A metric with no paired data (e.g. S_q when neither run had a
quality judge) is ``n/a`` and never fails. A gate whose every gated row has a baseline too close to
the metric's floor for any drop to exceed ``max_drop`` (a random model's S_l of 0) cannot fail and is
refused as unusable input. Exit code: 0 pass, 1 regression, 2 unusable input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mmlongbench_write.errors import MMLWError
from mmlongbench_write.runformat import SampleRow
from mmlongbench_write.runstore import StoredRun

from .aggregate import metric_columns, rule_for_protocol
from .board import entry_from_run
from .stats import paired_diff_ci


class CompareInputError(MMLWError):
    """The two runs cannot be compared (exit code 2)."""


def _check_comparable(base: StoredRun, new: StoredRun, allow_mixed_judges: bool) -> None:
    """Refuse two runs whose numbers mean different things (the leaderboard's setting, samples aside)."""
    for run in (base, new):
        if run.problem is not None:
            raise CompareInputError(f"run {run.run_id} is not finished: {run.problem}")
    sb, sn = entry_from_run(base).setting, entry_from_run(new).setting
    assert sb is not None and sn is not None
    if sb.dataset_fingerprint and sn.dataset_fingerprint and sb.dataset_fingerprint != sn.dataset_fingerprint:
        raise CompareInputError(
            f"different benchmark data: {base.run_id} has dataset fingerprint {sb.dataset_fingerprint}, "
            f"{new.run_id} has {sn.dataset_fingerprint}"
        )
    if sb.length_formula and sn.length_formula and sb.length_formula != sn.length_formula:
        raise CompareInputError(f"different length formulas: base uses {sb.length_formula!r}, new uses "
                                f"{sn.length_formula!r}")
    if sb.protocol != sn.protocol:
        raise CompareInputError(f"different protocols: base {sb.protocol!r}, new {sn.protocol!r}")
    jb, jn = dict(sb.judges), dict(sn.judges)
    for slot in sorted(set(jb) & set(jn)):
        if jb[slot] != jn[slot] and not (allow_mixed_judges and slot == "quality"):
            hint = " (pass --allow-mixed-judges to compare anyway)" if slot == "quality" else ""
            raise CompareInputError(f"different {slot} judges: base {jb[slot]}, new {jn[slot]}{hint}")


def _columns(run: StoredRun, rows: list[SampleRow]) -> dict[str, list[float]]:
    specs = list(run.summary.metrics) if run.summary is not None else run.meta.metrics
    return metric_columns(rows, specs, rule_for_protocol(run.meta.config.get("protocol")))


def compare_runs(
    base: StoredRun,
    new: StoredRun,
    *,
    metrics: Sequence[str] | None = None,
    max_drop: float = 0.0,
    alpha: float = 0.05,
    allow_mixed_judges: bool = False,
    gate_groups: bool = False,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare ``new`` against ``base``; the result's ``exit_code`` is 0 (pass) or 1 (regression).

    ``metrics`` defaults to every metric both runs declare (S, S_l, S_q for the benchmark's judges).
    """
    _check_comparable(base, new, allow_mixed_judges)
    declared = {m.name: m for m in (base.summary.metrics if base.summary else ())}
    shared_names = [m.name for m in (new.summary.metrics if new.summary else ()) if m.name in declared]
    chosen = list(metrics) if metrics else shared_names
    bad = [m for m in chosen if m not in shared_names]
    if bad:
        raise CompareInputError(f"metric {bad[0]!r} is not declared by both runs; choose from "
                                f"{', '.join(shared_names) or 'none'}")
    b_rows = {r.id: r for r in base.rows}
    n_rows = {r.id: r for r in new.rows}
    shared = [sid for sid in b_rows if sid in n_rows]
    if not shared:
        raise CompareInputError(
            f"no shared samples: base {base.run_id} ({len(b_rows)} samples) and new {new.run_id} "
            f"({len(n_rows)} samples) have no sample id in common"
        )
    groups: list[tuple[str, str, list[str]]] = [("overall", "all", shared)]
    for group, key_of in (("task", lambda r: r.task), ("length_bin", lambda r: r.length_bin)):
        keys: dict[str, list[str]] = {}
        for sid in shared:
            k = key_of(b_rows[sid])
            if k:
                keys.setdefault(str(k), []).append(sid)
        groups += [(group, k, ids) for k, ids in sorted(keys.items())]
    b_cols = _columns(base, [b_rows[s] for s in shared])
    n_cols = _columns(new, [n_rows[s] for s in shared])
    position = {sid: i for i, sid in enumerate(shared)}

    def value(cols: dict[str, list[float]], metric: str, sid: str) -> float | None:
        if metric == "S":  # per sample, S needs both parts
            parts = [cols[p][position[sid]] for p in ("S_l", "S_q")]
            return None if any(math.isnan(p) for p in parts) else sum(parts) / 2
        v = cols[metric][position[sid]]
        return None if math.isnan(v) else v

    rows: list[dict[str, Any]] = []
    for group, key, ids in groups:
        for metric in chosen:
            pairs: list[tuple[float, float]] = []
            higher_better = declared[metric].higher_is_better
            for s in ids:
                b_val, n_val = value(b_cols, metric, s), value(n_cols, metric, s)
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
            else:  # "worse" is a drop for higher-is-better metrics, a rise for the others
                sign = 1.0 if higher_better else -1.0
                worse, better = (d["ci"][1] < 0, d["ci"][0] > 0) if higher_better else (d["ci"][0] > 0, d["ci"][1] < 0)
                if worse and -sign * d["diff"] > max_drop:
                    status = "regression" if gating else "drop"
                elif worse:
                    status = "drop (within max-drop)" if gating else "drop"
                elif better:
                    status = "improved"
                else:
                    status = "ok"
            rows.append({"group": group, "key": key, "metric": metric, "gating": gating, "status": status, **d})
    live = [r for r in rows if r["gating"] and r["status"] != "n/a"]
    cannot_fail = _rows_that_cannot_fail(live, declared, max_drop)
    if live and len(cannot_fail) == len(live):
        shown = ", ".join(f"{r['metric']} {r['base']:.1f}" for r in cannot_fail if r["group"] == "overall")
        raise CompareInputError(
            f"this gate cannot fail: the baseline scores ({shown or 'every gated row'}) leave no drop larger "
            f"than --max-drop {max_drop:g} possible; gate on a model and data whose baseline has room to drop "
            "(examples/ci/README.md)"
        )
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
            f"and the mean drop exceeds {max_drop:g} points (above 0 and a rise, for metrics where lower is "
            "better)"
            + ("" if gate_groups else " (overall rows gate; task/bin rows are informational)")
        ),
        "rows": rows,
        "cannot_fail": [f"{r['group']}/{r['key']}/{r['metric']}" for r in cannot_fail],
        "failed": failed,
        "exit_code": 1 if failed else 0,
    }


def _rows_that_cannot_fail(rows: list[dict[str, Any]], declared: dict[str, Any],
                           max_drop: float) -> list[dict[str, Any]]:
    """The gating rows (``rows``, with data) whose baseline sits so near the metric's floor (its ceiling, where
    lower is better) that no new value could drop by more than ``max_drop``: a gate made only of those passes
    whatever happens."""
    stuck = []
    for r in rows:
        spec = declared.get(r["metric"])
        if spec is None or r["base"] is None:
            continue
        room = (r["base"] - spec.lower if spec.lower is not None else None) if spec.higher_is_better else \
            (spec.upper - r["base"] if spec.upper is not None else None)
        if room is not None and room <= max_drop:
            stuck.append(r)
    return stuck


def _f(x: float | None, sign: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.1f}" if sign else f"{x:.1f}"


def verdict(result: dict[str, Any]) -> str:
    if not result["failed"]:
        stuck = result.get("cannot_fail") or []
        note = f"; these rows could not have failed: {', '.join(stuck)}" if stuck else ""
        return (
            f"PASS: no metric dropped by more than {result['max_drop']:g} points with significance "
            f"({result['n_shared']} shared samples){note}"
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
