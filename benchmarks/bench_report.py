"""Benchmark: the HTML report of 10 synthetic runs x 120 samples, plus `mmlw leaderboard` start-up.

Prints the report generation time (target < 2 s) and size (target < 5 MB), and the wall time of
`mmlw --help` and `mmlw leaderboard` in fresh processes (target < 0.5 s). Exit 1 when a target is missed.

    .venv/bin/python benchmarks/bench_report.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from runfactory import make_run  # noqa: E402

from mmlongbench_write.leaderboard.board import build_board  # noqa: E402
from mmlongbench_write.leaderboard.html_report import build_html  # noqa: E402


def _wall(cmd: list[str], cwd: Path) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, capture_output=True, check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        for i in range(10):  # 6 tasks x 20 = 120 samples per run, realistic output lengths
            make_run(root, label=f"model-{i}", per_task=20, seed=i, length_ratio=0.4 + 0.12 * i,
                     quality=2.5 + 0.2 * i, judge_failures=i % 3, truncate_every=7 if i % 2 else 0)
        t0 = time.perf_counter()
        entries = build_board([root], reported=True, with_samples=True)
        html = build_html(entries)
        out = Path(tmp) / "report.html"
        out.write_text(html, encoding="utf-8")
        gen_s = time.perf_counter() - t0
        size_mb = out.stat().st_size / 1e6
        exe = Path(sys.executable).with_name("mmlw")
        help_s = _wall([str(exe), "--help"], Path(tmp))
        board_s = _wall([str(exe), "leaderboard", str(root), "--format", "md", "--output", str(Path(tmp) / "b.md")],
                        Path(tmp))
    print(f"report: 10 runs x 120 samples -> {gen_s:.2f} s, {size_mb:.2f} MB (targets < 2 s, < 5 MB)")
    print(f"mmlw --help: {help_s:.2f} s; mmlw leaderboard (10 runs): {board_s:.2f} s (target < 0.5 s)")
    ok = gen_s < 2 and size_mb < 5 and help_s < 0.5 and board_s < 0.5
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
