"""Key canaries: an API key reaches no file, cache, log or message of a run with a judge, however it is given.

The right way (the key in the environment) is run through the real CLI in a subprocess against loopback
servers that echo the key back — in a 400 error body and in every 200 answer, writer's and judge's — and
then every file under the run folder and the cache folder, and both runs' stdout and stderr, are searched
for the key. Each wrong way (the key as a model arg, a generation kwarg, a judge arg, in a URL, or as
``api_key_env``) is refused in one line that does not show it, before anything is written.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run_cli
from servers import FakeAPIServer, Fault

from mmlongbench_write import secrets
from mmlongbench_write.errors import EXIT_INCOMPLETE, EXIT_USAGE, ConfigError
from mmlongbench_write.kvstore import KVStore
from mmlongbench_write.model_adapters.openai import OpenAIAdapter
from mmlongbench_write.runstore import atomic_write_json

WRITER_KEY = "sk-canary-WRITER-7f3a9c2e41b8d05566"
JUDGE_KEY = "sk-canary-JUDGE-0d4be19a7c33f2a881"
CANARIES = (WRITER_KEY, JUDGE_KEY)
SCORES = {"Relevance": 5, "Accuracy": 4, "Coherence": 4, "Clarity": 3, "Breadth and Depth": 5,
          "Reading Experience": 4}
VERDICT = "```json\n" + json.dumps({"analysis": "Fine.", **SCORES}) + "\n```"


@pytest.fixture(autouse=True)
def _clean_registry() -> None:
    secrets.clear()


def leaks(root: Path, *texts: str) -> list[str]:
    """Where any canary occurs: files under ``root`` (bytes, any encoding JSON may use) and ``texts``."""
    found = []
    forms = [form for key in CANARIES for form in (key.encode(), json.dumps(key).encode())]
    for path in sorted(root.rglob("*")):
        if path.is_file() and any(form in path.read_bytes() for form in forms):
            found.append(str(path))
    found += [f"output #{i}" for i, text in enumerate(texts) if any(key in text for key in CANARIES)]
    return found


@pytest.mark.api
@pytest.mark.slow
def test_no_key_anywhere_when_both_servers_echo_it(tmp_path: Path) -> None:
    cache, out = tmp_path / "cache", tmp_path / "runs"
    env = {**os.environ, "WRITER_KEY": WRITER_KEY, "OPENAI_API_KEY": JUDGE_KEY, "MMLW_CACHE_DIR": str(cache)}
    with FakeAPIServer(echo_key=True, words=60) as writer, \
            FakeAPIServer(echo_key=True, reply_text=VERDICT, require_key=JUDGE_KEY) as judge:
        writer.add_faults(Fault.status_code(400, body=json.dumps({"error": {"message": f"bad key {WRITER_KEY}"}})))
        command = [sys.executable, "-m", "mmlongbench_write", "eval", "--model", "openai",
                   "--model-args", f"model=default,base_url={writer.openai_url},api_key_env=WRITER_KEY",
                   "--judge-model", "openai", "--judge-model-args", f"model=judge,base_url={judge.openai_url}",
                   "--data", "mini", "--limit", "4", "--concurrency", "1", "--max-retries", "0",
                   "--output", str(out), "--run-id", "canary"]
        first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert first.returncode == EXIT_INCOMPLETE, first.stderr  # the 400 is that sample's failure
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr
        # the key was really in use, and the servers really echoed it
        assert writer.count == 5 and all(r.header("authorization") == f"Bearer {WRITER_KEY}" for r in writer.requests)
        assert judge.count == 4
        judge_prompts = judge.prompts()
    rows = [json.loads(line) for line in (out / "canary" / "samples.jsonl").read_text("utf-8").splitlines()]
    assert len(rows) == 4 and all("(request authorised with ***)" in row["prediction"] for row in rows)
    assert all(row["quality_score"] is not None for row in rows)
    assert all(WRITER_KEY not in prompt and "***" in prompt for prompt in judge_prompts)  # not forwarded
    assert (cache / "responses.sqlite").exists() and (cache / "judgements.sqlite").exists()
    assert "generation failed: HTTP 400" in first.stderr and "bad key ***" in first.stderr
    assert leaks(tmp_path, first.stdout, first.stderr, second.stdout, second.stderr) == []


WRONG_WAYS = {
    "model arg key=": ["--model-args", "model=default,base_url=URL,key=KEY"],
    "model arg authorization=": ["--model-args", "model=default,base_url=URL,authorization=Bearer KEY"],
    "model arg api_key=": ["--model-args", "model=default,base_url=URL,api_key=KEY"],
    "api_key_env=<the key>": ["--model-args", "model=default,base_url=URL,api_key_env=KEY"],
    "base_url with user:key@": ["--model-args", "model=default,base_url=http://user:KEY@HOSTPORT/v1"],
    "base_url with ?key=": ["--model-args", "model=default,base_url=URL?key=KEY"],
    "key under an innocent name": ["--model-args", "model=default,base_url=URL,extra=KEY"],
    "gen kwarg api_key=": ["--gen-kwargs", "api_key=KEY"],
    "judge arg key=": ["--judge-model", "openai", "--judge-model-args", "model=judge,base_url=URL,key=KEY"],
    "judge arg api_key_env=<the key>": ["--judge-model", "openai", "--judge-model-args",
                                        "model=judge,base_url=URL,api_key_env=KEY"],
    "judge gen kwarg token=": ["--judge-model", "openai", "--judge-model-args", "model=judge,base_url=URL",
                               "--judge-gen-kwargs", "token=KEY"],
    "captioner arg access_token=": ["--mode", "caption-llm", "--captioner", "openai", "--captioner-args",
                                    "model=cap,base_url=URL,access_token=KEY"],
}


@pytest.mark.api
@pytest.mark.parametrize("way", sorted(WRONG_WAYS))
def test_a_key_given_the_wrong_way_is_refused_without_showing_it(way: str, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", WRITER_KEY)
    with FakeAPIServer(echo_key=True) as server:
        args = [a.replace("URL", server.openai_url).replace("HOSTPORT", f"127.0.0.1:{server.port}")
                .replace("KEY", WRITER_KEY) for a in WRONG_WAYS[way]]
        if "--model-args" not in args:
            args = ["--model-args", f"model=default,base_url={server.openai_url}", *args]
        code, out, err = run_cli(["eval", "--model", "openai", *args, "--limit", "2", "--output", str(tmp_path)],
                                 capsys)
        assert server.count == 0  # refused before any request
    assert code == EXIT_USAGE, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert "secret" in lines[0] or "credentials" in lines[0] or "looks like a key" in lines[0]
    assert leaks(tmp_path, out, err) == [] and list(tmp_path.iterdir()) == []


def test_api_key_env_that_is_a_key_is_refused_by_the_adapter_too() -> None:
    for value in (WRITER_KEY, "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv", "abcDEF123ghiJKL456mnoP"):
        with pytest.raises(ConfigError) as info:
            OpenAIAdapter(model="m", api_key_env=value)
        assert value not in str(info.value)
    assert OpenAIAdapter(model="m", api_key_env="MY_SERVER_KEY").key_env == "MY_SERVER_KEY"


def test_argument_names_that_are_not_secrets_pass() -> None:
    secrets.check_args("--gen-kwargs", {"max_tokens": 5, "max_new_tokens": 9, "top_k": 3, "eos_token": "</s>",
                                        "max_tokens_param": "max_tokens", "tokenizer": "x", "author": "me",
                                        "prompt_cache_key": "run-1", "skip_special_tokens": True})
    for name in ("key", "api_key", "x-api-key", "authorization", "auth", "password", "hf_token", "token",
                 "access_token", "secret", "client_secret", "credentials", "private_key"):
        assert secrets.is_secret_name(name), name


def test_every_writer_scrubs_a_registered_key(tmp_path: Path) -> None:
    secrets.register(WRITER_KEY)
    secrets.register("short")  # too short to be a secret: never masked
    atomic_write_json(tmp_path / "run.json", {"note": f"echo {WRITER_KEY}", WRITER_KEY: "as a key", "x": "short"})
    store = KVStore(tmp_path / "c.sqlite", namespace="t")
    store.put("k", {"text": f"said {WRITER_KEY}"})
    assert store.get("k") == {"text": "said ***"}
    store.close()
    data = json.loads((tmp_path / "run.json").read_text("utf-8"))
    assert data == {"note": "echo ***", "***": "as a key", "x": "short"}
    assert leaks(tmp_path) == []


def test_secrets_are_refused_on_every_path_not_only_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The judging commands, training data commands and the Python API build models and settings too."""
    from mmlongbench_write.judges.base import JudgeOptions
    from mmlongbench_write.judges.model_judge import judge_gen_config
    from mmlongbench_write.model_adapters.base import resolve_model_spec
    from mmlongbench_write.schema import GenerationConfig

    attempts = [
        lambda: resolve_model_spec("openai", {"model": "m", "authorization": f"Bearer {WRITER_KEY}"}),
        lambda: resolve_model_spec("gpt-4o-2024-08-06", {"base_url": f"https://u:{WRITER_KEY}@example.test/v1"}),
        lambda: GenerationConfig().merged(api_key=WRITER_KEY),
        lambda: judge_gen_config(JudgeOptions(extra={"judge_gen_kwargs": {"hf_token": WRITER_KEY}})),
    ]
    for attempt in attempts:
        with pytest.raises(ConfigError) as info:
            attempt()
        assert WRITER_KEY not in str(info.value)
    from mmlongbench_write.config import EvalConfig
    from mmlongbench_write.runner import evaluate

    run_dir = evaluate(EvalConfig(model="scripted", limit=1, output=str(tmp_path)), progress=None).run_dir
    monkeypatch.setenv("OPENAI_API_KEY", WRITER_KEY)
    code, out, err = run_cli(["score", str(run_dir), "--judge-model", "openai", "--judge-model-args",
                              f"model=j,password={WRITER_KEY}"], capsys)
    assert code == EXIT_USAGE and "looks like a secret" in err and leaks(tmp_path, out, err) == []


def test_a_key_pasted_as_a_bare_item_is_not_echoed(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a key the environment does not know of
    code, out, err = run_cli(["eval", "--model", "openai", "--model-args", f"model=m,{WRITER_KEY}",
                              "--output", str(tmp_path)], capsys)
    assert code == EXIT_USAGE and "looks like a key (not shown)" in err and leaks(tmp_path, out, err) == []


def test_a_key_in_the_label_or_run_id_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Both name the run folder, where no scrubbing reaches (and the run id slug is lower-cased)."""
    monkeypatch.setenv("SOME_SERVICE_TOKEN", JUDGE_KEY)
    for flag in ("--label", "--run-id"):
        code, out, err = run_cli(["eval", "--model", "scripted", "--limit", "1", "--output", str(tmp_path),
                                  flag, f"mine-{JUDGE_KEY}"], capsys)
        assert code == EXIT_USAGE and "is a secret" in err and leaks(tmp_path, out, err) == []
        assert list(tmp_path.iterdir()) == []


def test_the_cli_masks_secret_environment_values_before_any_adapter_reads_them(
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_SERVICE_TOKEN", JUDGE_KEY)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false-but-longer")  # not a secret name: never masked
    secrets.install_console_scrubber()
    print(f"echo {JUDGE_KEY} false-but-longer")
    logging.getLogger("mmlw-test").error("logged %s", JUDGE_KEY)
    out, err = capsys.readouterr()
    assert out == "echo *** false-but-longer\n" and JUDGE_KEY not in err
    assert [r.getMessage() for r in caplog.records if r.name == "mmlw-test"] == ["logged ***"]
