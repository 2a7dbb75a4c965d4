"""Typos and bad values in generation settings and model args are one line and exit 2, never a silent run."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import run_cli
from servers import FakeAPIServer

from mmlongbench_write.arg_checks import check_gen_kwargs
from mmlongbench_write.config import EvalConfig
from mmlongbench_write.errors import ConfigError

BASE = ["eval", "--model", "scripted", "--limit", "1"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ("temprature=0.3", "unknown generation setting 'temprature' (did you mean 'temperature'?)"),
    ("max_tokens=100", "did you mean 'max_new_tokens'?"),
    ("top_pp=0.9", "did you mean 'top_p'?"),
    ("temperature=hot", "temperature must be a number, got 'hot'"),
    ("temperature=true", "temperature must be a number, got True"),
    ("max_new_tokens=12.5", "max_new_tokens must be an integer, got 12.5"),
    ("top_p=2", "top_p must be between 0 and 1, got 2"),
    ("temperature=-1", "temperature must be at least 0, got -1"),
    ("extra.=1", "names no setting"),
])
def test_bad_generation_settings_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         kwargs: str, message: str) -> None:
    code, out, err = run_cli([*BASE, "--output", str(tmp_path), "--gen-kwargs", kwargs], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and not any(tmp_path.iterdir())  # refused before a run folder exists


def test_the_judges_settings_are_checked_the_same_way(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli([*BASE, "--output", str(tmp_path), "--judge-gen-kwargs", "temprature=0"], capsys)
    assert code == 2 and err.startswith("error: --judge-gen-kwargs: unknown generation setting 'temprature'")


def test_known_values_get_their_type_and_backend_keys_pass() -> None:
    checked = check_gen_kwargs("--gen-kwargs", {"max_new_tokens": 4096.0, "temperature": 1, "min_p": 0.05,
                                                "repetition_penalty": 1.05, "extra.top_a": 0.2})
    assert checked["max_new_tokens"] == 4096 and isinstance(checked["max_new_tokens"], int)
    assert checked["temperature"] == 1.0 and isinstance(checked["temperature"], float)
    assert checked["min_p"] == 0.05 and checked["extra.top_a"] == 0.2
    with pytest.raises(ConfigError, match="top_a"):  # close to top_k / top_p: only on purpose, as extra.
        EvalConfig(model="scripted", gen_kwargs={"top_a": 0.2})


@pytest.mark.api
def test_extra_settings_reach_the_server_under_their_own_name(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-gen-settings-test-1234")
    with FakeAPIServer() as server:
        code, _, err = run_cli(["eval", "--model", "openai", "--model-args", f"model=m,base_url={server.openai_url}",
                                "--limit", "1", "--cache", "off", "--output", str(tmp_path),
                                "--gen-kwargs", "temperature=0.3,extra.top_a=0.2,repetition_penalty=1.05"], capsys)
        assert code == 0, err
        [body] = [r.body for r in server.requests]
    assert body["temperature"] == 0.3 and body["top_a"] == 0.2 and body["repetition_penalty"] == 1.05
    assert not any(key.startswith("extra.") for key in body)


@pytest.mark.parametrize(("model", "args", "hint"), [
    ("openai", "model=m,base_urll=http://127.0.0.1:9/v1", "unknown model arg 'base_urll' (did you mean 'base_url'?)"),
    ("openai", "model=m,imagedetail=low", "did you mean 'image_detail'?"),
    ("anthropic", "model=m,strem=false", "did you mean 'stream'?"),
    ("anthropic", "model=m,image_detail=low", "unknown model arg 'image_detail'"),
    ("hf", "pretrained=x,dtyp=bfloat16", "unknown model arg 'dtyp' (did you mean 'dtype'?)"),
])
def test_model_arg_typos_are_refused_with_a_did_you_mean(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch, model: str, args: str,
                                                         hint: str) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x-0000")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x-0000")
    code, _, err = run_cli(["eval", "--model", model, "--model-args", args, "--limit", "1", "--output",
                            str(tmp_path)], capsys)
    assert code == 2 and hint in err and "it accepts" in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # refused before the run folder is made
