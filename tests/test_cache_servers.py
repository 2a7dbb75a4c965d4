"""The response cache and the verdict cache know which server answered, distrust what they read, and an
unusable cache file (corrupt, locked by another process, in a read-only folder) is one line, not a crash."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cli_helpers import run_cli, summary
from servers import FakeAPIServer

from mmlongbench_write.config import EvalConfig
from mmlongbench_write.kvstore import KVStore
from mmlongbench_write.model_adapters.cache import CACHE_FILE, cache_key
from mmlongbench_write.model_adapters.endpoint import normalise_base_url, server_identity
from mmlongbench_write.model_adapters.openai import OpenAIAdapter
from mmlongbench_write.runner import evaluate
from mmlongbench_write.runstore import load_run

pytestmark = pytest.mark.api

SCORES = {"Relevance": 5, "Accuracy": 4, "Coherence": 4, "Clarity": 3, "Breadth and Depth": 5,
          "Reading Experience": 4}


def verdict(relevance: int) -> str:
    return "```json\n" + json.dumps({"analysis": "ok", **SCORES, "Relevance": relevance}) + "\n```"


def config(url: str, out: Path, cache: Path, **kw: object) -> EvalConfig:
    return EvalConfig.from_dict({"model": "openai", "model_args": {"model": "default", "base_url": url},
                                 "data": "mini", "limit": 3, "output": str(out), "cache_dir": str(cache), **kw})


def test_two_servers_with_the_same_model_name_do_not_share_answers(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-0000")
    cache = tmp_path / "cache"
    with FakeAPIServer(reply_text="answer from server A") as a, FakeAPIServer(reply_text="answer from B") as b:
        first = evaluate(config(a.openai_url, tmp_path / "a", cache), progress=None)
        second = evaluate(config(b.openai_url, tmp_path / "b", cache), progress=None)
        spelled = f"HTTP://127.0.0.1:{b.port}/v1/"  # the same server spelled differently: a hit
        again = evaluate(config(spelled, tmp_path / "c", cache), progress=None)
        assert (a.count, b.count) == (3, 3)
        b_url = b.openai_url
    assert {r["prediction"] for r in load_run(first.run_dir).samples} == {"answer from server A"}
    assert {r["prediction"] for r in load_run(second.run_dir).samples} == {"answer from B"}
    assert second.from_cache == 0 and again.from_cache == 3
    assert load_run(second.run_dir).run["model"]["server"] == normalise_base_url(b_url)


def test_two_judge_servers_with_the_same_model_name_do_not_share_verdicts(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-0000")
    cache = tmp_path / "cache"

    def run(url: str, out: str) -> list[float]:
        cfg = EvalConfig.from_dict({"model": "scripted", "limit": 2, "output": str(tmp_path / out),
                                    "cache_dir": str(cache), "judge_model": "openai",
                                    "judge_model_args": {"model": "default", "base_url": url}})
        return [r["quality_score"] for r in load_run(evaluate(cfg, progress=None).run_dir).samples]

    with FakeAPIServer(reply_text=verdict(5)) as a, FakeAPIServer(reply_text=verdict(1)) as b:
        scores_a, scores_b = run(a.openai_url, "a"), run(b.openai_url, "b")
        assert (a.count, b.count) == (2, 2)
    assert scores_a != scores_b  # B's verdicts, not A's from the cache


def test_a_stored_answer_of_the_wrong_shape_is_a_miss_and_is_replaced(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-0000")
    cache = tmp_path / "cache"
    with FakeAPIServer(reply_text="a real answer") as server:
        evaluate(config(server.openai_url, tmp_path / "a", cache), progress=None)
        store = KVStore(cache / CACHE_FILE, namespace="responses")
        keys = [row[0] for row in store._conn().execute("SELECT key FROM kv")]
        bad = [{"text": 42}, {"text": "x", "usage": {"input_tokens": -5}}, ["not", "an", "object"]]
        for key, value in zip(keys, bad, strict=True):
            store.put(key, value)
        store.close()
        outcome = evaluate(config(server.openai_url, tmp_path / "b", cache), progress=None)
        assert server.count == 6 and outcome.from_cache == 0
    assert {r["prediction"] for r in load_run(outcome.run_dir).samples} == {"a real answer"}
    store = KVStore(cache / CACHE_FILE, namespace="responses")
    assert all(store.get(k)["text"] == "a real answer" for k in keys)  # overwritten by the fresh answers
    store.close()


def test_the_summary_counts_cached_answers_apart_from_generated_ones(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-0000")
    with FakeAPIServer() as server:
        base = ["eval", "--model", "openai", "--model-args", f"model=default,base_url={server.openai_url}",
                "--limit", "3", "--cache-dir", str(tmp_path / "cache")]
        code, out, _ = run_cli([*base, "--output", str(tmp_path / "a")], capsys)
        assert code == 0 and summary(out)["generated now"] == "3" and summary(out)["from cache"] == "0"
        code, out, _ = run_cli([*base, "--output", str(tmp_path / "b")], capsys)
        assert code == 0 and summary(out)["generated now"] == "0" and summary(out)["from cache"] == "3"
        assert server.count == 3
    results = json.loads(next((tmp_path / "b").iterdir()).joinpath("results.json").read_text("utf-8"))
    assert results["n_cached"] == 3


def test_server_identity_is_normalised_and_defaults_to_the_sdk_address(monkeypatch: pytest.MonkeyPatch) -> None:
    assert normalise_base_url("HTTP://LocalHost:80/v1/") == "http://localhost/v1"
    assert normalise_base_url("https://h:443/v1") == normalise_base_url("https://h/v1") == "https://h/v1"
    assert normalise_base_url("http://h:8001/v1") != normalise_base_url("http://h:8002/v1")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert server_identity("openai", None) == "https://api.openai.com/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://10.0.0.5:8000/v1/")
    assert server_identity("openai", None) == "http://10.0.0.5:8000/v1"
    a = OpenAIAdapter(model="default", base_url="http://127.0.0.1:8001/v1").identity()
    b = OpenAIAdapter(model="default", base_url="http://127.0.0.1:8002/v1").identity()
    from mmlongbench_write.schema import Message, Request

    request = Request("x", (Message.user("hi"),))
    assert cache_key(a, request) != cache_key(b, request)


# -- an unusable cache file: one line, and the run completes ----------------------------------------------
def _hold_lock(path: Path) -> subprocess.Popen[str]:
    """A real process holding an exclusive lock on the SQLite file ``path`` until it is killed."""
    code = ("import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE'); c.execute('CREATE TABLE IF NOT EXISTS held (x)')\n"
            "print('locked', flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def _unprivileged() -> list[str]:
    """A command prefix that drops root (who may write anywhere) to nobody, so a read-only folder is one."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "running as root needs setpriv (util-linux) to test a read-only cache folder"
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.slow
@pytest.mark.parametrize("trouble", ["corrupt", "locked", "read-only"])
def test_an_unusable_cache_is_one_line_and_the_run_completes(trouble: str) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:  # not under pytest's 0700 folder: nobody must enter
        root = Path(tmp)
        root.chmod(0o777)
        cache, out = root / "cache", root / "runs"
        cache.mkdir(mode=0o777)
        cache.chmod(0o777)
        holder = None
        prefix: list[str] = []
        if trouble == "corrupt":
            (cache / CACHE_FILE).write_bytes(b"this is not a database\x00" * 200)
        elif trouble == "locked":
            holder = _hold_lock(cache / CACHE_FILE)
        else:
            cache.chmod(0o555)
            prefix = _unprivileged()
        env = {**os.environ, "OPENAI_API_KEY": "sk-loopback-0000", "MMLW_CACHE_DIR": str(cache),
               "HOME": str(root), "XDG_CACHE_HOME": str(root / "xdg")}
        try:
            with FakeAPIServer() as server:
                command = [*prefix, sys.executable, "-m", "mmlongbench_write", "eval", "--model", "openai",
                           "--model-args", f"model=default,base_url={server.openai_url}", "--limit", "3",
                           "--output", str(out)]
                result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=root)
                sent = server.count
        finally:
            if holder is not None:
                holder.kill()
                holder.wait()
        assert result.returncode == 0, result.stderr
        assert sent == 3 and "Traceback" not in result.stderr
        lines = [line for line in result.stderr.splitlines() if "cache" in line.lower() and "unusable" in line]
        assert len(lines) == 1 and str(cache / CACHE_FILE) in lines[0], result.stderr
        assert "the run goes on without it" in lines[0]
        run_dir = next(out.iterdir())
        assert len(load_run(run_dir).samples) == 3
        if trouble == "corrupt":  # the broken file is left as it was, for the user to look at
            with pytest.raises(sqlite3.DatabaseError):
                sqlite3.connect(cache / CACHE_FILE).execute("SELECT * FROM kv").fetchall()
