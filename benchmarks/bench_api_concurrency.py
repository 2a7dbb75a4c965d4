"""How close the API engine gets to ideal concurrency against a server with a fixed latency.

Sends N requests (the bundled mini samples, cycled, with their images) through the ``openai`` adapter to
a loopback chat-completions server that answers each after ``--delay`` seconds, once with
``--concurrency`` requests in flight and once one at a time, and prints the wall times next to the
ideal ``ceil(N / concurrency) x delay``. Not a test: timings depend on the machine.

    .venv/bin/python benchmarks/bench_api_concurrency.py --requests 120 --delay 0.2 --concurrency 32
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers import FakeAPIServer  # noqa: E402

from mmlongbench_write.model_adapters.base import RuntimeOptions  # noqa: E402
from mmlongbench_write.model_adapters.openai import OpenAIAdapter  # noqa: E402
from mmlongbench_write.schema import GenerationConfig, ImagePart, Message, Request  # noqa: E402


def build_requests(n: int) -> list[Request]:
    """``n`` requests from the mini samples (images included), or synthetic text ones if unavailable."""
    try:
        from mmlongbench_write.data import load_samples

        samples = list(load_samples("mini").samples)
    except Exception as exc:  # noqa: BLE001 - the benchmark still runs on synthetic prompts
        print(f"(mini samples unavailable: {exc}; using synthetic requests)")
        samples = []
    config = GenerationConfig(temperature=0.6, top_p=0.95, max_new_tokens=8192)
    requests = []
    for i in range(n):
        if samples:
            s = samples[i % len(samples)]
            message = Message.user(*(ImagePart(img) for img in s.images), s.instruction)
        else:
            message = Message.user(f"Write a 1500-word essay, number {i}.")
        requests.append(Request(f"req-{i}", (message,), config))
    return requests


def _serve(delay: float, conn: Any) -> None:
    """Child process: run the fake server and report its URL, until told to stop."""
    with FakeAPIServer(delay=delay) as server:
        conn.send(server.openai_url)
        while conn.recv() == "cpu":
            conn.send(time.process_time())
        conn.send(server.max_in_flight)


def timed_run(url: str, requests: list[Request], concurrency: int) -> float:
    """Wall time of one ``generate`` over ``requests`` by an adapter warmed up with two requests first."""
    runtime = RuntimeOptions(concurrency=concurrency, max_retries=2, timeout_s=60)
    with OpenAIAdapter(runtime, model="bench-model", base_url=url) as adapter:
        list(adapter.generate(requests[:2]))  # warm up: SDK import, HTTP client, first connection
        start = time.perf_counter()
        gens = list(adapter.generate(requests))
        elapsed = time.perf_counter() - start
    failed = [g for g in gens if not g.ok]
    if len(gens) != len(requests) or failed:
        raise SystemExit(f"benchmark run broken: {len(gens)} results, {len(failed)} failed")
    return elapsed


def eval_dataset(directory: Path, n: int) -> Path:
    """A local data set of ``n`` samples: the mini set exported and repeated under fresh ids."""
    import json

    from mmlongbench_write.data import export_mini

    export_mini(directory)
    rows = [json.loads(line) for line in (directory / "data.jsonl").read_text(encoding="utf-8").splitlines()]
    with open(directory / "bench.jsonl", "w", encoding="utf-8") as out:
        for i in range(n):
            out.write(json.dumps({**rows[i % len(rows)], "id": f"bench-{i}"}, ensure_ascii=False) + "\n")
    return directory / "bench.jsonl"


def timed_eval(url: str, n: int, concurrency: int) -> tuple[float, dict[str, float]]:
    """Wall time of a whole ``mmlw eval`` (data loading, journal fsync per record, judging, final files)
    and the runner's own per-stage timings."""
    import tempfile

    from mmlongbench_write.config import EvalConfig
    from mmlongbench_write.runner import evaluate

    with tempfile.TemporaryDirectory() as tmp:
        data = eval_dataset(Path(tmp) / "data", n)
        config = EvalConfig(model="openai", model_args={"model": "bench-model", "base_url": url}, data=str(data),
                            tasks="all", output=str(Path(tmp) / "runs"), cache="off",
                            concurrency=concurrency, max_retries=2, timeout_s=60)
        start = time.perf_counter()
        outcome = evaluate(config, progress=None)
        elapsed = time.perf_counter() - start
    if outcome.generated != n:
        raise SystemExit(f"benchmark eval broken: {outcome.generated} of {n} generated")
    return elapsed, outcome.timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--delay", type=float, default=0.2, help="server latency per request, seconds")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--skip-baseline", action="store_true", help="skip the one-at-a-time run")
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-fake")

    requests = build_requests(args.requests)
    # the server runs in its own process, as a real one would: it must not share the client's GIL
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(args.delay, child), daemon=True)
    proc.start()
    try:
        url = parent.recv()
        wall = timed_run(url, requests, args.concurrency)
        ideal = math.ceil(args.requests / args.concurrency) * args.delay
        ratio = wall / ideal
        print(f"requests={args.requests} delay={args.delay}s concurrency={args.concurrency}")
        print(f"  wall {wall:.2f}s   ideal {ideal:.2f}s   ratio to ideal {ratio:.2f}x")
        print("  OK (within 1.3x of ideal)" if ratio <= 1.3 else "  SLOWER THAN 1.3x IDEAL")
        full, stages = timed_eval(url, args.requests, args.concurrency)
        gen = stages["generate_s"]
        print(f"whole `mmlw eval` of {args.requests} samples (concurrency {args.concurrency}): wall {full:.2f}s; "
              f"generation stage {gen:.2f}s = {gen / ideal:.2f}x ideal (SDK start-up, requests, journal fsync "
              f"per record); loading the data {stages['load_s']:.2f}s, judging {stages.get('judge_s', 0):.2f}s")
        if not args.skip_baseline:
            base = timed_run(url, requests, 1)
            base_ideal = args.requests * args.delay
            print(f"concurrency=1 baseline: wall {base:.2f}s (ideal {base_ideal:.2f}s, ratio {base / base_ideal:.2f}x)")
            print(f"  speed-up of concurrency {args.concurrency} over one at a time: {base / wall:.1f}x")
        parent.send("stop")
        print(f"  most requests in flight at the server: {parent.recv()}")
    finally:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.terminate()
    if ratio > 1.3:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
