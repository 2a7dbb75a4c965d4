#!/usr/bin/env python
"""GPU smoke test: run a real checkpoint through the ``hf`` and ``vllm`` adapters on two mini samples.

The CPU test suite covers these adapters with a tiny random model and a fake vLLM engine; this script is
the one command that checks the real GPU paths when a CUDA machine with the weights is at hand::

    python scripts/gpu_smoke.py                        # longwriter-v-7b, hf then vllm, 2 mini samples
    python scripts/gpu_smoke.py --backends vllm --model qwen2.5-vl-7b --limit 4 \\
        --model-args gpu_memory_utilization=0.8

Each backend runs through the real CLI (``mmlw eval ... --data mini --judge length --cache off``) in a
subprocess, into ``OUTPUT/smoke-<model>-<backend>/``; the script then prints, per sample, the required
length, the words written, output tokens, finish reason and S_l. It exits non-zero, with one line saying
why, when there is no CUDA GPU, when a run fails, or when a sample has an error or an empty answer.
Weights come from the Hugging Face cache (set ``HF_HUB_OFFLINE=1`` to make sure nothing downloads), or
pass ``--model-args pretrained=/path/to/LongWriter-V-7B``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cuda_problem() -> str | None:
    """Why the GPU paths cannot run here, or None."""
    try:
        import torch
    except ImportError:
        return "torch is not installed (pip install 'mmlongbench-write[hf,vllm]')"
    if not torch.cuda.is_available():
        return "no CUDA GPU is visible (torch.cuda.is_available() is False); run this on a GPU machine"
    return None


def run_backend(args: argparse.Namespace, backend: str, output: Path) -> tuple[int, Path, float]:
    """One ``mmlw eval`` run; returns its exit code, run directory and wall time."""
    run_id = f"smoke-{args.model}-{backend}"
    model_args = ",".join(a for a in (f"backend={backend}", args.model_args) if a)
    cmd = [
        sys.executable, "-m", "mmlongbench_write", "eval",
        "--model", args.model, "--model-args", model_args,
        "--data", "mini", "--limit", str(args.limit), "--judge", "length", "--cache", "off",
        "--output", str(output), "--run-id", run_id,
    ]  # fmt: skip
    if args.gen_kwargs:
        cmd += ["--gen-kwargs", args.gen_kwargs]
    print(f"\n== {backend}: {' '.join(cmd[1:])}", flush=True)
    start = time.perf_counter()
    rc = subprocess.call(cmd)
    return rc, output / run_id, time.perf_counter() - start


def report(backend: str, run_dir: Path, wall_s: float) -> list[str]:
    """Print one line per sample; return the problems found."""
    path = run_dir / "samples.jsonl"
    if not path.is_file():
        return [f"{backend}: no {path} was written"]
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    print(f"\n{backend} ({wall_s:.0f}s, {run_dir}):")
    print(f"  {'sample':32s} {'L':>6s} {'words':>6s} {'tokens':>7s} {'finish':>7s} {'S_l':>6s}")
    problems = []
    for row in rows:
        tokens = (row.get("usage") or {}).get("output_tokens", 0)
        score = row.get("length_score")
        shown = "-" if score is None else f"{score:.1f}"
        print(
            f"  {row['id']:32s} {row['required_length']:>6d} {row.get('word_count') or 0:>6d} {tokens:>7d} "
            f"{row.get('finish_reason') or '-':>7s} {shown:>6s}"
        )
        if row.get("error"):
            problems.append(f"{backend}: sample {row['id']} failed: {row['error']}")
        elif not (row.get("prediction") or "").strip():
            problems.append(f"{backend}: sample {row['id']} has an empty answer")
    if not rows:
        problems.append(f"{backend}: no samples in {path}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="longwriter-v-7b", help="preset or adapter (default longwriter-v-7b)")
    parser.add_argument("--backends", default="hf,vllm", help="comma-separated: hf, vllm (default both)")
    parser.add_argument("--limit", type=int, default=2, help="mini samples per backend (default 2)")
    parser.add_argument("--model-args", default="", help="extra k=v,... for both backends")
    parser.add_argument("--gen-kwargs", default="", help="k=v,... e.g. max_new_tokens=2048 for a quicker check")
    parser.add_argument("--output", type=Path, default=None, help="runs folder (default: a temporary one)")
    parser.add_argument("--allow-cpu", action="store_true", help="skip the CUDA check (to try the script itself "
                        "on CPU: --model tiny-random-qwen2.5-vl --backends hf --allow-cpu)")  # fmt: skip
    args = parser.parse_args(argv)

    problem = None if args.allow_cpu else cuda_problem()
    if problem:
        print(f"gpu_smoke: {problem}", file=sys.stderr)
        return 2
    output = args.output or Path(tempfile.mkdtemp(prefix="mmlw-gpu-smoke-"))
    problems: list[str] = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        rc, run_dir, wall_s = run_backend(args, backend, output)
        if rc != 0:
            problems.append(f"{backend}: `mmlw eval` exited with {rc}")
        problems += report(backend, run_dir, wall_s)
    print(f"\nruns in {output}")
    for line in problems:
        print(f"gpu_smoke: {line}", file=sys.stderr)
    print("gpu_smoke: FAILED" if problems else "gpu_smoke: OK", file=sys.stderr if problems else sys.stdout)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
