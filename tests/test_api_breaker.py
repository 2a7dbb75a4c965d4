"""The circuit breaker: a server failing everything stops the run within seconds, resumably."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from servers import FakeAPIServer, Fault

from mmlongbench_write.data import export_mini
from mmlongbench_write.errors import EXIT_OK, EXIT_STOPPED, ServerFailing
from mmlongbench_write.model_adapters.base import RuntimeOptions
from mmlongbench_write.model_adapters.openai import OpenAIAdapter
from mmlongbench_write.schema import Message, Request

pytestmark = pytest.mark.api

KEY = "sk-breaker-test-key-99887766"


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def adapter(url: str, concurrency: int = 8, max_retries: int = 6, **args: Any) -> OpenAIAdapter:
    runtime = RuntimeOptions(concurrency=concurrency, max_retries=max_retries, timeout_s=10)
    return OpenAIAdapter(runtime, model="gpt-test", base_url=url, **args)


def reqs(n: int) -> list[Request]:
    return [Request(f"r{i}", (Message.user("write 4 words"),)) for i in range(n)]


def test_a_server_answering_500_to_everything_stops_the_run_in_seconds() -> None:
    with FakeAPIServer(fail_status=500) as server:
        started = time.monotonic()
        with pytest.raises(ServerFailing, match="failing") as info, adapter(server.openai_url) as a:
            list(a.generate(reqs(120)))
        assert time.monotonic() - started < 10
        assert server.count < 40  # not 120 x 7 attempts
    message = str(info.value)
    assert "\n" not in message and "500" in message and KEY not in message and "again" in message


def test_finished_generations_come_out_before_the_stop() -> None:
    # one at a time: the 10 failed attempts in a row are r5's 7, its failure, then 3 of r6's
    with FakeAPIServer(fail_status=503, fail_after=5) as server, \
            adapter(server.openai_url, concurrency=1, retry_base_s=0.01) as a:
        got = []
        with pytest.raises(ServerFailing):
            for gen in a.generate(reqs(50)):
                got.append(gen)
    assert [g.ok for g in got] == [True] * 5 + [False] and server.count == 15


def test_refused_connections_trip_the_breaker() -> None:
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(ServerFailing, match="connection"), adapter(f"http://127.0.0.1:{port}/v1") as a:
        list(a.generate(reqs(30)))
    assert time.monotonic() - started < 10


def test_rate_limits_and_rejected_requests_do_not_trip_it() -> None:
    with FakeAPIServer() as server:
        server.add_faults(*[Fault.status_code(400)] * 15, *[Fault.status_code(429, retry_after="0")] * 15)
        with adapter(server.openai_url, concurrency=1, max_retries=20) as a:
            gens = list(a.generate(reqs(20)))
    assert len(gens) == 20 and sum(not g.ok for g in gens) == 15


def test_a_success_in_between_resets_the_count_and_zero_turns_it_off() -> None:
    with FakeAPIServer() as server:
        # 9 failures, a normal reply (a "slow" one of 0 s), 9 failures: never 10 in a row
        server.add_faults(*[Fault.status_code(500)] * 9, Fault.slow(0.0), *[Fault.status_code(500)] * 9)
        with adapter(server.openai_url, concurrency=1, max_retries=9, retry_base_s=0.001) as a:
            gens = list(a.generate(reqs(2)))
        assert all(g.ok for g in gens)
        server.fail_status = 500
        with adapter(server.openai_url, concurrency=4, max_retries=3, retry_base_s=0.001, circuit_breaker=0) as a:
            gens = list(a.generate(reqs(8)))
        assert len(gens) == 8 and not any(g.ok for g in gens)  # each request's failure, no stop


def dataset(directory: Path, n: int) -> Path:
    export_mini(directory)
    rows = [json.loads(line) for line in (directory / "data.jsonl").read_text(encoding="utf-8").splitlines()]
    with open(directory / "many.jsonl", "w", encoding="utf-8") as out:
        for i in range(n):
            out.write(json.dumps({**rows[i % len(rows)], "id": f"s-{i:03d}"}, ensure_ascii=False) + "\n")
    return directory / "many.jsonl"


@pytest.mark.slow
def test_eval_stops_with_exit_3_and_the_same_command_resumes(tmp_path: Path) -> None:
    data = dataset(tmp_path / "data", 120)
    env = {**os.environ, "OPENAI_API_KEY": KEY, "MMLW_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1",
           "COLUMNS": "400"}  # one line, however long
    with FakeAPIServer(fail_status=500, fail_after=20) as server:
        command = [sys.executable, "-m", "mmlongbench_write", "eval", "--model", "openai",
                   "--model-args", f"model=gpt-test,base_url={server.openai_url}", "--data", str(data),
                   "--output", str(tmp_path / "runs"), "--run-id", "down", "--concurrency", "4",
                   "--max-retries", "6", "--cache", "off"]
        started = time.monotonic()
        first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        elapsed = time.monotonic() - started
        assert first.returncode == EXIT_STOPPED, first.stderr
        assert elapsed < 40
        stopped = [line for line in first.stderr.splitlines() if "failing" in line]
        assert len(stopped) == 1 and stopped[0].startswith("stopped:"), first.stderr
        assert "Traceback" not in first.stderr and KEY not in first.stderr
        journal = (tmp_path / "runs" / "down" / "journal.jsonl").read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in journal]
        done = {r["sample_id"] for r in records if r.get("type") == "generation" and not r["generation"].get("error")}
        assert len(done) == 20
        sent_before = server.count
        server.fail_status = None
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == EXIT_OK, second.stderr
        assert server.count - sent_before == 100  # only what was missing
    rows = (tmp_path / "runs" / "down" / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 120
