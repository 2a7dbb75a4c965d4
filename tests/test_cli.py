"""The `mmlw` command line: lazy imports, one-line errors, custom data end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

MMLW = [sys.executable, "-m", "mmlongbench_write"]
HEAVY = ("torch", "transformers", "vllm", "openai", "anthropic", "pandas", "datasets", "matplotlib")


def mmlw(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(MMLW + list(args), capture_output=True, text=True, timeout=300, cwd=cwd)


def imported_modules(argv: list[str]) -> set[str]:
    code = (
        "import sys\nfrom mmlongbench_write.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print('MODULES', ' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    line = next(line for line in out.splitlines() if line.startswith("MODULES"))
    return set(line.split()[1:])


@pytest.mark.parametrize("argv", [["--help"], ["models"], ["tasks"], ["judges"], ["eval", "--help"]])
def test_listing_and_help_import_no_heavy_library(argv: list[str]) -> None:
    loaded = imported_modules(argv)
    assert not loaded & set(HEAVY), f"{argv} imported {sorted(loaded & set(HEAVY))}"


def test_leaderboard_imports_no_heavy_library(tmp_path: Path) -> None:
    assert mmlw("eval", "--model", "scripted", "--output", str(tmp_path), "--cache", "off").returncode == 0
    loaded = imported_modules(["leaderboard", str(tmp_path)])
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_lists_show_builtins() -> None:
    assert "tiny-random-qwen2.5-vl" in mmlw("models").stdout
    assert "ppt_script" in mmlw("tasks").stdout
    out = mmlw("judges").stdout
    assert "length" in out and "quality" in out


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    (d / "img").mkdir(parents=True)
    Image.new("RGB", (32, 32), "red").save(d / "img" / "ok.png")
    (d / "img" / "broken.png").write_bytes(b"not a png at all")
    return d


GOOD = {"id": "good", "question": "Write a 300-word travel guide for this city.", "images": ["img/ok.png"], "L": 300}


@pytest.mark.parametrize(
    ("bad", "needles"),
    [
        ({"id": "s1", "question": "Write 200 words.", "images": ["img/missing.png"], "L": 200}, ["s1", "images"]),
        ({"id": "s2", "question": "Write 200 words.", "images": ["img/broken.png"], "L": 200}, ["s2", "images"]),
        ({"id": "s3", "question": "", "images": [], "L": 200}, ["s3", "question"]),
        ({"id": "s4", "question": "Write something.", "images": [], "L": -5}, ["s4", "L"]),
        ({"id": "s5", "question": "Write.", "images": ["../../etc/passwd"], "L": 100}, ["s5", "images"]),
    ],
)
def test_bad_samples_give_one_clear_line(data_dir: Path, tmp_path: Path, bad: dict, needles: list[str]) -> None:
    data = write_jsonl(data_dir / "data.jsonl", [GOOD, bad])
    line = one_line_error(mmlw("eval", "--model", "scripted", "--data", str(data), "--tasks", "custom",
                               "--output", str(tmp_path / "runs"), "--cache", "off"))
    for needle in needles:
        assert needle in line
    # --skip-invalid carries on with the good sample and says what it skipped
    ok = mmlw("eval", "--model", "scripted", "--data", str(data), "--tasks", "custom", "--skip-invalid",
              "--output", str(tmp_path / "runs"), "--cache", "off")
    assert ok.returncode == 0, ok.stderr
    run_json = json.loads(next((tmp_path / "runs").glob("*/run.json")).read_text())
    assert [s["id"] for s in run_json["dataset"]["skipped"]] == [bad["id"]]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["eval", "--model", "scriptd"], "did you mean 'scripted'"),
        (["eval", "--model", "scripted", "--tasks", "ppt_scrip"], "ppt_script"),
        (["eval", "--model", "scripted", "--model-args", "oops"], "--model-args"),
        (["eval", "--model", "openai", "--model-args", "api_key=sk-secret-value"], "environment"),
        (["eval", "--model", "scripted", "--data", "THU-KEG/MMLongBench-Write"], "--data"),
        (["eval", "--model", "scripted", "--shard", "3/2"], "--shard"),
        (["score", "/nonexistent/preds.jsonl"], "neither a run directory"),
    ],
)
def test_bad_flags_give_one_clear_line(args: list[str], needle: str, tmp_path: Path) -> None:
    line = one_line_error(mmlw(*args, "--output", str(tmp_path)) if args[0] == "eval" else mmlw(*args))
    assert needle in line
    assert "sk-secret-value" not in line


def test_custom_jsonl_with_other_columns_and_no_images(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "mine.jsonl", [
        {"uid": "x1", "prompt": "Write a short poem about rain.", "length": 120},
        {"uid": "x2", "prompt": "写一段关于春天的文字。", "length": 80},
    ])
    result = mmlw("eval", "--model", "scripted", "--model-args", "words=120", "--data", str(data),
                  "--data-columns", "id=uid,question=prompt,L=length", "--tasks", "custom",
                  "--output", str(tmp_path / "runs"), "--cache", "off")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in next((tmp_path / "runs").glob("*/samples.jsonl")).read_text().splitlines()]
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {"x1", "x2"}
    assert by_id["x1"]["length_score"] == pytest.approx(100.0)
    assert by_id["x2"]["language"] == "zh" and by_id["x2"]["images"] == []
    board = mmlw("leaderboard", str(tmp_path / "runs"))
    assert board.returncode == 0 and "scripted" in board.stdout


def test_python_dash_m_is_the_same_cli() -> None:
    assert "Usage" in mmlw("--help").stdout


def test_a_run_stopped_by_its_budget_exits_3_and_resumes(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"scripted": {"input": 0, "output": 1000}}))
    args = ["eval", "--model", "scripted", "--output", str(tmp_path / "runs"), "--cache", "off", "--prices",
            str(prices), "--concurrency", "1", "--gen-kwargs", "max_new_tokens=2500"]
    stopped = mmlw(*args, "--max-cost", "5")
    assert stopped.returncode == 3, stopped.stderr
    assert "re-run" in stopped.stderr and "Traceback" not in stopped.stderr
    resumed = mmlw(*args, "--max-cost", "100")
    assert resumed.returncode == 0, resumed.stderr


def test_yaml_config_with_flags_winning(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(
        "model: scripted\nmodel_args: {length_ratio: 0.5}\ntasks: creative\nlimit: 2\ncache: 'off'\n"
        f"output: {tmp_path / 'runs'}\n",
        encoding="utf-8",
    )
    result = mmlw("eval", "--config", str(config), "--limit", "3")
    assert result.returncode == 0, result.stderr
    run = json.loads(next((tmp_path / "runs").glob("*/run.json")).read_text())
    assert run["config"]["limit"] == 3 and run["config"]["tasks"] == "creative"
    assert run["config"]["model_args"] == {"length_ratio": 0.5}
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: scripted\nmodle_args: {}\n", encoding="utf-8")
    assert "modle_args" in one_line_error(mmlw("eval", "--config", str(bad)))
