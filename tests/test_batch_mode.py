"""`--batch`: `mmlw eval` / `mmlw score` through the OpenAI and Anthropic batch APIs of a loopback server.

Every test goes through the real CLI (in process, or as a subprocess for the kill) against
:class:`batch_servers.FakeBatchServer`, which speaks both batch wire protocols and counts live requests.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from batch_servers import FakeBatchServer
from cli_helpers import run_cli

from mmlongbench_write.config import EvalConfig
from mmlongbench_write.model_adapters.base import BatchOptions, RuntimeOptions, create_model, resolve_model_spec
from mmlongbench_write.runstore import read_jsonl
from mmlongbench_write.schema import GenerationConfig, Message, Request

pytestmark = pytest.mark.api

KEY = "sk-batch-FAKE-0123456789abcdef"
PROVIDERS = ("openai", "anthropic")


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


def png(color: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), color).save(buffer, format="PNG")
    return buffer.getvalue()


def write_data(folder: Path, n: int) -> Path:
    """``n`` samples with one image each and non-ASCII instructions, as a user's jsonl."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        (folder / "images" / f"bild-{i}.png").write_bytes(png((i * 5 % 256, 40, 90)))
        rows.append({"id": f"s{i:02d}", "question": f"Write a {30 + i}-word note about this picture (Straße {i}).",
                     "images": [f"images/bild-{i}.png"], "L": 30 + i})
    path = folder / "data.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def model_args(provider: str, server: FakeBatchServer, model: str = "gpt-batch") -> str:
    url = server.openai_url if provider == "openai" else server.anthropic_url
    return f"model={model},base_url={url}"


def eval_args(provider: str, server: FakeBatchServer, data: Path, out: Path, *extra: str,
              model: str = "gpt-batch") -> list[str]:
    return ["eval", "--model", provider, "--model-args", model_args(provider, server, model), "--data", str(data),
            "--output", str(out), "--run-id", "b", "--batch", "--batch-poll-s", "0.01", "--max-retries", "1",
            "--gen-kwargs", "max_new_tokens=200", *extra]


def rows(run: Path) -> list[dict[str, Any]]:
    return read_jsonl(run / "samples.jsonl")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_forty_samples_make_one_batch_and_no_live_request(
        provider: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_data(tmp_path / "data", 40)
    with FakeBatchServer(key=KEY) as server:
        code, _out, err = run_cli(eval_args(provider, server, data, tmp_path / "runs", "--cache", "off"), capsys)
    assert code == 0, err
    assert server.live == [], "batch mode sent a live request"
    [batch] = server.created()
    assert batch.provider == provider and len(batch.items) == 40
    run = tmp_path / "runs" / "b"
    samples = rows(run)
    assert len(samples) == 40 and all(r["error"] is None for r in samples)
    by_id = {r["id"]: r for r in samples}
    assert by_id["s07"]["word_count"] == 37, "each reply reached its own sample"
    body = batch.items[0]["body"]  # the adapter's own build_params: the model, the image, the token limit
    assert body["model"] == "gpt-batch" and body["max_tokens"] == 200
    assert "Straße 0" in json.dumps(body, ensure_ascii=False) and "base64" in json.dumps(body)
    meta = json.loads((run / "run.json").read_text())
    assert meta["config"]["batch"] is True
    assert [b["status"] for b in meta["batch"]["batches"]] == ["completed" if provider == "openai" else "ended"]
    results = json.loads((run / "results.json").read_text())
    assert results["batch"]["used"] is True and results["cost"]["note"].startswith("batch prices")
    assert f"batch {batch.id} ({provider}): submitted 40 request(s)" in err
    assert KEY not in (run / "batches.jsonl").read_text() + err


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", ["server_error", "expired"])
def test_errored_or_expired_item_is_retried_in_a_later_batch(
        provider: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_data(tmp_path / "data", 6)
    with FakeBatchServer(key=KEY) as server:
        server.fail_items(kind, 1)
        code, _out, err = run_cli(eval_args(provider, server, data, tmp_path / "runs", "--cache", "off"), capsys)
    assert code == 0, err
    first, second = server.created()
    assert len(first.items) == 6 and len(second.items) == 1, "only the failed item goes into the second batch"
    assert second.items[0]["custom_id"] == first.items[0]["custom_id"]
    assert all(r["error"] is None for r in rows(tmp_path / "runs" / "b"))
    assert "1 request(s) to retry in a new batch" in err and server.live == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_create_call_dropped_after_the_batch_exists_is_not_submitted_twice(
        provider: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The provider made the batch but the reply was lost: the retry finds it instead of making another."""
    data = write_data(tmp_path / "data", 5)
    with FakeBatchServer(key=KEY) as server:
        server.drop_creates = 1
        code, _out, err = run_cli(eval_args(provider, server, data, tmp_path / "runs", "--cache", "off"), capsys)
    assert code == 0, err
    assert len(server.created()) == 1, "the create call was retried blindly"
    assert all(r["error"] is None for r in rows(tmp_path / "runs" / "b"))
    journal = read_jsonl(tmp_path / "runs" / "b" / "batches.jsonl")
    assert [r["event"] for r in journal] == ["staged", "created", "closed"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_rejected_item_is_a_recorded_failure_retried_on_resume(
        provider: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_data(tmp_path / "data", 5)
    out = tmp_path / "runs"
    with FakeBatchServer(key=KEY) as server:
        server.fail_items("invalid", 1)
        code, _out, err = run_cli(eval_args(provider, server, data, out, "--cache", "off"), capsys)
        assert code == 4, err  # incomplete: one sample without a generation
        assert len(server.created()) == 1, "a rejected request is not retried within the session"
        failed = [r for r in rows(out / "b") if r["error"]]
        assert len(failed) == 1 and "scripted invalid" in failed[0]["error"]
        assert "invalid_request_error" in failed[0]["error"] or "HTTP 400" in failed[0]["error"]
        code, _out, err = run_cli(eval_args(provider, server, data, out, "--cache", "off"), capsys)
        assert code == 0, err
        assert [len(b.items) for b in server.created()] == [5, 1], "the resume sends the failed sample alone"
    assert all(r["error"] is None for r in rows(out / "b"))


def test_batch_fallback_live_sends_the_expired_item_live(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_data(tmp_path / "data", 4)
    with FakeBatchServer(key=KEY) as server:
        server.fail_items("expired", 1)
        code, _out, err = run_cli(eval_args("openai", server, data, tmp_path / "runs", "--cache", "off",
                                            "--batch-fallback", "live"), capsys)
    assert code == 0, err
    assert len(server.created()) == 1 and len(server.live) == 1
    assert "Straße 0" in json.dumps(server.live[0], ensure_ascii=False), "the expired item is the one sent live"
    assert all(r["error"] is None for r in rows(tmp_path / "runs" / "b"))


def test_response_cache_answers_before_anything_is_submitted(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    data = write_data(tmp_path / "data", 6)
    with FakeBatchServer(key=KEY) as server:
        args = eval_args("anthropic", server, data, tmp_path / "runs", "--gen-kwargs",
                         "max_new_tokens=200,temperature=0")
        code, _out, err = run_cli(args, capsys)
        assert code == 0, err
        again = [a if a != "b" else "second" for a in args]  # another run, same requests: the cache answers
        code, _out, err = run_cli(again, capsys)
        assert code == 0, err
    assert len(server.created()) == 1 and server.live == []
    results = json.loads((tmp_path / "runs" / "second" / "results.json").read_text())
    assert results["n_cached"] == 6 and results["n_samples"] == 6


@pytest.mark.slow
@pytest.mark.parametrize("forgotten", [False, True], ids=["pending", "gone-at-provider"])
def test_sigkill_with_a_batch_pending_then_rerun_reattaches(tmp_path: Path, forgotten: bool) -> None:
    """kill -9 while the batch is in_progress; the same command collects it and submits nothing again.
    If the provider no longer knows the batch (404), its requests are submitted once more instead."""
    data = write_data(tmp_path / "data", 12)
    out = tmp_path / "runs"
    env = {**os.environ, "OPENAI_API_KEY": KEY, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "MMLW_CACHE_DIR": str(tmp_path / "cache")}
    with FakeBatchServer(key=KEY) as server:
        server.hold.clear()  # the batch stays in_progress until released
        command = [sys.executable, "-m", "mmlongbench_write",
                   *eval_args("openai", server, data, out, "--cache", "off")]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        journal = out / "b" / "batches.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if journal.exists() and server.created() and server.created()[0].polls >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"eval ended early: {proc.communicate()[0].decode()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        [pending] = server.created()
        assert pending.status == "in_progress" and pending.id in journal.read_text()
        if forgotten:
            server.batches.clear()
        server.hold.set()
        resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert server.live == []
    assert f"batch {pending.id} (openai): re-attaching" in resumed.stderr
    if forgotten:
        [again] = server.created()
        assert len(again.items) == 12 and f"batch {pending.id}: gone" in resumed.stderr
    else:
        assert server.created() == [pending], "the re-run submitted the requests again"
    samples = rows(out / "b")
    assert len(samples) == 12 and all(r["error"] is None for r in samples)
    generations = [r for r in read_jsonl(out / "b" / "journal.jsonl") if r["type"] == "generation"]
    assert sorted(r["sample_id"] for r in generations) == sorted(f"s{i:02d}" for i in range(12)), \
        "each sample journalled exactly once"


@pytest.mark.slow
def test_sigkill_inside_the_create_call_then_rerun_finds_the_batch(tmp_path: Path) -> None:
    """Killed after the provider made the batch but before its id came back: only ``staged`` is journalled,
    and the re-run finds the batch at the provider instead of submitting again."""
    data = write_data(tmp_path / "data", 6)
    out = tmp_path / "runs"
    env = {**os.environ, "ANTHROPIC_API_KEY": KEY, "HF_HUB_OFFLINE": "1", "MMLW_CACHE_DIR": str(tmp_path / "c")}
    with FakeBatchServer(key=KEY) as server:
        server.stall_creates.set()
        command = [sys.executable, "-m", "mmlongbench_write",
                   *eval_args("anthropic", server, data, out, "--cache", "off")]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not server.created():
            time.sleep(0.05)
        time.sleep(0.2)
        assert proc.poll() is None, f"eval ended early: {proc.communicate()[0].decode()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        server.stall_creates.clear()
        assert [r["event"] for r in read_jsonl(out / "b" / "batches.jsonl")] == ["staged"]
        resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len(server.created()) == 1 and server.live == []
    assert "re-attaching" in resumed.stderr
    assert all(r["error"] is None for r in rows(out / "b"))


@pytest.mark.parametrize("flag", ["--batch", None, "--no-batch"])
def test_score_batch_judges_through_one_batch(flag: str | None, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`mmlw score RUN --batch` judges in one batch; a run made with --batch keeps it unless --no-batch."""
    data = write_data(tmp_path / "data", 8)
    out = tmp_path / "runs"
    with FakeBatchServer(key=KEY, reply=quality_reply) as server:
        code, _o, err = run_cli(eval_args("openai", server, data, out, "--cache", "off"), capsys)
        assert code == 0, err
        code, _o, err = run_cli(["score", str(out / "b"), "--judge", "length,quality", "--judge-model", "anthropic",
                                 "--judge-model-args", model_args("anthropic", server, "claude-judge"),
                                 *([flag] if flag else []), "--cache", "off"], capsys)
    assert code == 0, err
    if flag == "--no-batch":
        assert [b.provider for b in server.created()] == ["openai"] and len(server.live) == 8
    else:
        assert [b.provider for b in server.created()] == ["openai", "anthropic"], "generation, then one judge batch"
        assert len(server.created("anthropic")[0].items) == 8 and server.live == []
    [rescored] = [p for p in out.iterdir() if p.name.startswith("b-rescored")]
    assert all(r["scores"]["quality"]["value"] is not None for r in rows(rescored))


def quality_reply(body: dict[str, Any]) -> str | None:
    """A judge verdict when the request is a quality-judge prompt, else None (the usual filler)."""
    text = json.dumps(body)
    if "Relevance" not in text:
        return None
    return QUALITY_VERDICT


QUALITY_VERDICT = json.dumps({"analysis": "Clear and on topic.", "Relevance": 4, "Accuracy": 4, "Coherence": 5,
                              "Clarity": 4, "Breadth and Depth": 3, "Reading Experience": 4})


def test_batch_prices_drive_max_cost(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """12 requests of at most 1000 output tokens of gpt-4o: $0.12 at list price, $0.06 in batch."""
    data = write_data(tmp_path / "data", 12)
    with FakeBatchServer(key=KEY) as server:
        live_args = ["eval", "--model", "openai", "--model-args", model_args("openai", server, "gpt-4o"),
                     "--data", str(data), "--output", str(tmp_path / "live"), "--gen-kwargs", "max_new_tokens=1000",
                     "--max-cost", "0.07", "--cache", "off"]
        code, _o, err = run_cli(live_args, capsys)
        assert code == 3 and "cost limit $0.07" in err, err  # live: 8 requests x $0.01 bound is over $0.07
        code, _o, err = run_cli([*eval_args("openai", server, data, tmp_path / "runs", "--max-cost", "0.07",
                                            "--cache", "off", model="gpt-4o"), "--gen-kwargs", "max_new_tokens=1000"],
                                capsys)
        assert code == 0, err
        code, _o, err = run_cli([*eval_args("openai", server, data, tmp_path / "runs2", "--max-cost", "0.05",
                                            "--cache", "off", model="gpt-4o"), "--gen-kwargs", "max_new_tokens=1000"],
                                capsys)
        assert code == 3 and "cost limit $0.05" in err, err  # the whole batch's bound ($0.06) is over the limit
    assert len(server.created()) == 1, "the batch over the limit was never submitted"
    meta = json.loads((tmp_path / "runs" / "b" / "run.json").read_text())
    assert meta["budget"]["spent_usd"] == pytest.approx(
        sum(r["usage"]["input_tokens"] * 1.25 + r["usage"]["output_tokens"] * 5.0
            for r in rows(tmp_path / "runs" / "b")) / 1e6, abs=1e-6)


def test_server_without_batch_endpoints_stops_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from servers import FakeAPIServer

    data = write_data(tmp_path / "data", 3)
    with FakeAPIServer() as server:  # live chat completions only: /v1/files is a 404
        code, _out, err = run_cli(["eval", "--model", "openai", "--model-args",
                                   f"model=m,base_url={server.openai_url}", "--data", str(data), "--output",
                                   str(tmp_path / "runs"), "--batch", "--cache", "off"], capsys)
    assert code != 0 and "answered 404 (not found)" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 3, err
    assert all(not r.path.endswith("/chat/completions") for r in server.requests), "nothing was sent live"


def test_batch_failing_validation_fails_its_requests_with_the_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_data(tmp_path / "data", 3)
    with FakeBatchServer(key=KEY) as server:
        server.fail_validation = "Enqueued token limit reached for gpt-batch"
        code, _out, err = run_cli(eval_args("openai", server, data, tmp_path / "runs", "--cache", "off"), capsys)
    assert code == 4, err
    assert len(server.created()) == 1 and server.live == []
    errors = [r["error"] for r in rows(tmp_path / "runs" / "b")]
    assert all(e and "failed" in e and "Enqueued token limit reached" in e for e in errors), errors


def test_results_url_on_another_origin_gets_no_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_data(tmp_path / "data", 3)
    with FakeBatchServer(key=KEY) as server:
        server.results_origin = f"http://localhost:{server.port}"  # same server, another origin
        code, _out, err = run_cli(eval_args("anthropic", server, data, tmp_path / "runs", "--cache", "off"), capsys)
    assert code == 0, err
    assert not [entry for entry in server.log if entry[2].startswith("localhost") and entry[3]], \
        "the key went to another origin"
    assert any(path.endswith("/results") for _m, path, _h, _k in server.log)


def test_batch_options_stay_out_of_the_run_identity() -> None:
    plain = EvalConfig(model="openai", model_args={"model": "m"})
    batched = EvalConfig(model="openai", model_args={"model": "m"}, batch=True, batch_fallback="live", batch_poll_s=5)
    assert plain.default_run_id() == batched.default_run_id()


def test_bad_batch_fallback_is_one_line_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(["eval", "--model", "openai", "--model-args", "model=m", "--batch",
                               "--batch-fallback", "sometimes", "--output", str(tmp_path)], capsys)
    assert code == 2 and "--batch-fallback must be one of batch, live, not 'sometimes'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("provider", PROVIDERS)
def test_large_jobs_split_by_request_count_and_bytes(provider: str, tmp_path: Path) -> None:
    requests = [Request(f"r{i}", (Message.user(f"Write a {10 + i}-word note. " + "x" * (2000 if i == 3 else 10)),),
                        GenerationConfig(max_new_tokens=64)) for i in range(10)]
    with FakeBatchServer(key=KEY) as server:
        url = server.openai_url if provider == "openai" else server.anthropic_url
        options = BatchOptions(journal_dir=str(tmp_path), poll_s=0.01, max_requests=4, max_bytes=1500)
        adapter = create_model(resolve_model_spec(provider, {"model": "m", "base_url": url}),
                               RuntimeOptions(batch=options, max_retries=1))
        with adapter:
            generations = {g.request_id: g for g in adapter.generate(requests)}
    sizes = [len(b.items) for b in server.created()]
    assert sum(sizes) == 9 and max(sizes) <= 4 and len(sizes) >= 3
    assert "over the" in (generations["r3"].error or ""), "a request larger than a batch is its own failure"
    assert all(g.ok for rid, g in generations.items() if rid != "r3") and len(generations) == 10


def rephrased(body: dict[str, Any]) -> str | None:
    """A rephrased instruction that states the asked length (what `mmlw data backtranslate` checks for)."""
    import re

    match = re.search(r"response of (\d+)", json.dumps(body))
    return f"Describe the scene in {match.group(1)} words." if match else None


def test_data_backtranslate_batch_and_rerun_reuses_the_read_batch(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`mmlw data backtranslate --batch`: one batch, nothing live; a re-run (e.g. after a kill once the batch
    was read but before the file was written) takes the answers from that batch instead of paying again."""
    source = tmp_path / "sft.jsonl"
    source.write_text("".join(json.dumps({"id": f"r{i}", "instruction": f"Describe picture {i} (Ünïcode).",
                                          "output": " ".join(["word"] * (20 + i))}, ensure_ascii=False) + "\n"
                              for i in range(7)), encoding="utf-8")
    out = tmp_path / "out" / "bt.jsonl"
    with FakeBatchServer(key=KEY, reply=rephrased) as server:
        args = ["data", "backtranslate", "--input", str(source), "--output", str(out), "--model", "anthropic",
                "--model-args", model_args("anthropic", server, "claude-x"), "--batch", "--batch-poll-s", "0.01"]
        code, _o, err = run_cli(args, capsys)
        assert code == 0, err
        first = out.read_text(encoding="utf-8")
        out.unlink()
        code, _o, err = run_cli(args, capsys)
        assert code == 0, err
    [batch] = server.created()
    assert len(batch.items) == 7 and server.live == []
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert written[3]["instruction"] == "Describe the scene in 23 words."
    assert out.read_text(encoding="utf-8") == first
    assert "7 answer(s) reused" in err
    assert (tmp_path / "out" / "bt.jsonl.batches.jsonl").is_file()


def test_stopped_while_reading_results_then_rerun_takes_the_rest_from_the_same_batch(tmp_path: Path) -> None:
    """The consumer goes away after 3 of 8 results (as a kill between journal writes would): the batch stays
    open in batches.jsonl, and asking again for the 5 not received reads them from that batch."""
    requests = [Request(f"r{i}", (Message.user(f"Write a {10 + i}-word note."),), GenerationConfig(max_new_tokens=64))
                for i in range(8)]
    options = BatchOptions(journal_dir=str(tmp_path), poll_s=0.01)
    with FakeBatchServer(key=KEY) as server:
        spec = resolve_model_spec("openai", {"model": "m", "base_url": server.openai_url})
        with create_model(spec, RuntimeOptions(batch=options, max_retries=1)) as adapter:
            stream = adapter.generate(requests)
            received = [next(stream) for _ in range(3)]
            stream.close()
        assert [r["event"] for r in read_jsonl(tmp_path / "batches.jsonl")] == ["staged", "created"]
        done = {g.request_id for g in received}
        with create_model(spec, RuntimeOptions(batch=options, max_retries=1)) as adapter:
            rest = list(adapter.generate([r for r in requests if r.id not in done]))
    assert len(server.created()) == 1, "the rest came from the same batch"
    assert sorted(g.request_id for g in rest) == sorted(r.id for r in requests if r.id not in done)
    assert all(g.ok for g in rest)
    assert [r["event"] for r in read_jsonl(tmp_path / "batches.jsonl")][-1] == "closed"


def test_only_request_too_large_for_a_batch_fails_alone_without_waiting(tmp_path: Path) -> None:
    request = Request("big", (Message.user("Write a 10-word note. " + "x" * 5000),), GenerationConfig(max_new_tokens=8))
    with FakeBatchServer(key=KEY) as server:
        spec = resolve_model_spec("anthropic", {"model": "m", "base_url": server.anthropic_url})
        options = BatchOptions(journal_dir=str(tmp_path), poll_s=0.01, max_bytes=2000)
        with create_model(spec, RuntimeOptions(batch=options)) as adapter:
            [generation] = list(adapter.generate([request]))
    assert generation.error is not None and "over the anthropic batch limit" in generation.error
    assert server.created() == [] and server.live == []


def test_batch_states_go_through_evaluates_progress(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Library use: batch lines reach ``progress`` (the CLI's stderr, a UI's callback) and nothing else."""
    from mmlongbench_write.runner import evaluate

    data = write_data(tmp_path / "data", 3)
    lines: list[str] = []
    with FakeBatchServer(key=KEY) as server:
        config = EvalConfig(model="openai", model_args={"model": "m", "base_url": server.openai_url}, data=str(data),
                            output=str(tmp_path / "runs"), cache="off", batch=True, batch_poll_s=0.01)
        outcome = evaluate(config, progress=lines.append)
        assert outcome.status == "complete"
        silent = evaluate(EvalConfig(**{**config.to_dict(), "data": str(data), "run_id": "quiet"}), progress=None)
        assert silent.status == "complete"
    assert any("submitted 3 request(s)" in line for line in lines)
    assert any(": completed" in line for line in lines)
    assert "batch" not in capfd.readouterr().err, "a silent evaluate printed batch states"


def test_batch_with_a_local_model_says_so_and_runs_live(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(["eval", "--model", "scripted", "--data", "mini", "--limit", "2", "--output",
                               str(tmp_path), "--batch", "--cache", "off"], capsys)
    assert code == 0, err
    assert "--batch: scripted" in err and "has no batch API; its requests go live" in err
    assert not list(tmp_path.glob("*/batches.jsonl"))


def test_batch_prices_are_half_unless_the_price_file_names_them(tmp_path: Path) -> None:
    from mmlongbench_write.errors import ConfigError
    from mmlongbench_write.pricing import Price, estimate_cost, load_price_table
    from mmlongbench_write.schema import Usage

    prices = tmp_path / "prices.json"
    house = {"input": 4.0, "output": 8.0, "batch_input": 3.0, "batch_output": 5.0}
    prices.write_text(json.dumps({"house-model": house}))
    live, batch = load_price_table(str(prices)), load_price_table(str(prices), batch=True)
    assert batch["house-model"] == Price(3.0, 5.0) and live["house-model"].input == 4.0
    assert batch["gpt-4o"] == Price(1.25, 5.0), "built-in entries at half the list price"
    usage = Usage(1_000_000, 1_000_000)
    assert estimate_cost("claude-3-opus-20240229", usage, batch) == pytest.approx(45.0)
    prices.write_text(json.dumps({"m": {"input": 1, "output": 2, "batch_input": "cheap"}}))
    with pytest.raises(ConfigError, match="batch_input"):
        load_price_table(str(prices))
