"""Start-up time of the CLI: `mmlw --help` and `mmlw leaderboard` must stay under 0.5 s (no torch import).

Reported next to a baseline measured in the same process: a bare `python -c pass`, so the ratio shows what
mmlw itself adds. Run: `python benchmarks/bench_startup.py` (after `make venv`).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 7
TARGET_S = 0.5


def wall(cmd: list[str]) -> float:
    """Median wall time of ``cmd`` over REPEATS runs (after one warm-up)."""
    subprocess.run(cmd, capture_output=True, check=True)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        subprocess.run([py, "-m", "mmlongbench_write", "eval", "--model", "scripted", "--output", str(runs),
                        "--cache", "off"], capture_output=True, check=True)
        baseline = wall([py, "-c", "pass"])
        cases = {
            "mmlw --help": [py, "-m", "mmlongbench_write", "--help"],
            "mmlw models": [py, "-m", "mmlongbench_write", "models"],
            "mmlw leaderboard RUNS": [py, "-m", "mmlongbench_write", "leaderboard", str(runs)],
        }
        print(f"baseline `python -c pass`: {baseline * 1000:.0f} ms (median of {REPEATS})")
        for name, cmd in cases.items():
            t = wall(cmd)
            verdict = "ok" if t < TARGET_S else f"OVER the {TARGET_S}s target"
            print(f"{name:24s} {t * 1000:6.0f} ms   {t / baseline:4.1f}x baseline   {verdict}")


if __name__ == "__main__":
    main()
