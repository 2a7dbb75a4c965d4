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
import sys
import torch
import torch.distributed as dist
from mmlongbench_write.errors import MMLWError
from mmlongbench_write.training.launch import process_group_released

failing_rank = int(sys.argv[1])
try:
    with process_group_released():
        dist.init_process_group("gloo")
        total = torch.ones(1)
        dist.all_reduce(total)
        if dist.get_rank() == failing_rank:
            raise ValueError("this rank's job failed")
    outcome = "ok"
except MMLWError as exc:
    outcome = "mmlw-error: " + str(exc)
except ValueError:
    outcome = "own-error"
print(f"worker sum={int(total.item())} outcome={outcome} group-left={dist.is_initialized()}", flush=True)
"""


def _run_workers(tmp_path: Path, failing_rank: int) -> list[str]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             str(script), str(failing_rank)], capture_output=True, text=True, timeout=180)
    return sorted(line for line in result.stdout.splitlines() if line.startswith("worker "))


@pytest.mark.slow
def test_every_worker_leaves_without_a_process_group(tmp_path: Path) -> None:
    assert _run_workers(tmp_path, failing_rank=-1) == ["worker sum=2 outcome=ok group-left=False"] * 2


@pytest.mark.slow
def test_a_failed_peer_is_one_error_line_not_a_hang(tmp_path: Path) -> None:
    lines = _run_workers(tmp_path, failing_rank=1)
    assert len(lines) == 2 and all(line.startswith("worker sum=2") and line.endswith("group-left=False")
                                   for line in lines)
    outcomes = [line.split("outcome=")[1].rsplit(" group-left", 1)[0] for line in lines]
    assert "own-error" in outcomes  # rank 1's own failure propagates unchanged
    assert any(o.startswith("mmlw-error: rank 0: another rank left before the job ended") for o in outcomes)
