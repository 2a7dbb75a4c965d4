"""Training workers release their gloo process group before exit, so no rank aborts while finalizing.

A two-node job once trained and saved, then its rank-1 worker died with SIGABRT ("terminate called without
an active exception"): it exited with a live gloo group (see ``launch.process_group_released``). Here two real
torchrun workers run a collective inside the release and report what is left afterwards.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

WORKER = """
import os
import sys
import torch
import torch.distributed as dist
from mmlongbench_write.errors import MMLWError
from mmlongbench_write.training.launch import process_group_released

failing_rank, report_dir = int(sys.argv[1]), sys.argv[2]
rank = int(os.environ["RANK"])  # set by torchrun
try:
    with process_group_released():
        dist.init_process_group("gloo")
        total = torch.ones(1)
        dist.all_reduce(total)
        if rank == failing_rank:
            raise ValueError("this rank's job failed")
    outcome = "ok"
except MMLWError as exc:
    outcome = "mmlw-error: " + str(exc)
except ValueError:
    outcome = "own-error"
# one file per rank: the workers share torchrun's stdout, where their lines can run together
with open(f"{report_dir}/rank{rank}.txt", "w", encoding="utf-8") as report:
    report.write(f"worker sum={int(total.item())} outcome={outcome} group-left={dist.is_initialized()}")
"""


def _run_workers(tmp_path: Path, failing_rank: int) -> list[str]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    reports = tmp_path / "reports"
    reports.mkdir()
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    str(script), str(failing_rank), str(reports)], capture_output=True, text=True, timeout=180)
    assert sorted(path.name for path in reports.iterdir()) == ["rank0.txt", "rank1.txt"]
    return [(reports / f"rank{rank}.txt").read_text(encoding="utf-8") for rank in (0, 1)]


@pytest.mark.slow
def test_every_worker_leaves_without_a_process_group(tmp_path: Path) -> None:
    assert _run_workers(tmp_path, failing_rank=-1) == ["worker sum=2 outcome=ok group-left=False"] * 2


@pytest.mark.slow
def test_a_failed_peer_is_one_error_line_not_a_hang(tmp_path: Path) -> None:
    rank0, rank1 = _run_workers(tmp_path, failing_rank=1)
    assert rank1 == "worker sum=2 outcome=own-error group-left=False"  # its own failure propagates unchanged
    assert rank0.startswith("worker sum=2 outcome=mmlw-error: rank 0: another rank left before the job ended (")
    assert rank0.endswith(") group-left=False")
