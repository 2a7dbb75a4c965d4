"""No silent subsets: a user's data is evaluated whole by default, guessed tasks only label, and every
sample left out by --tasks, --limit, --shard or --skip-invalid is announced with its count and reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run_cli
from PIL import Image

from mmlongbench_write.config import EvalConfig
from mmlongbench_write.data import load_samples
from mmlongbench_write.data.inference import guess_task
from mmlongbench_write.errors import ConfigError
from mmlongbench_write.planning import build_plan
from mmlongbench_write.runner import evaluate
from mmlongbench_write.runstore import load_run
from mmlongbench_write.schema import GenerationConfig

TOPICS = ["climate", "the ocean", "a city at night", "an old bridge", "winter", "bees", "trains", "rivers",
          "a market", "the moon", "a library", "music", "gardens", "mountains", "bread", "rain", "lighthouses",
          "chess", "clocks", "maps"]
#: Six instruction shapes x 20 topics = 120 prompts. Two name a benchmark genre outright, two only weak
#: words ("report", "guide") and two nothing: a keyword filter keeps some, the default must keep all.
SHAPES = [
    "Write a report about {t}, about {n} words.",
    "Write a short story about {t} in {n} words.",
    "Write an essay on {t} of {n} words.",
    "Write a guide to {t}, {n} words long.",
    "Write a film review of a movie about {t}, {n} words.",
    "Describe {t} in {n} words.",
]


def prompts_file(path: Path) -> Path:
    rows = [{"key": f"p{i:03d}", "prompt": shape.format(t=topic, n=100 + 10 * i), "length": 100 + 10 * i}
            for i, (shape, topic) in enumerate((s, t) for s in SHAPES for t in TOPICS)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_custom_120_row_jsonl_without_task_column_is_evaluated_whole_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = prompts_file(tmp_path / "prompts.jsonl")
    code, out, err = run_cli(["eval", "--model", "scripted", "--data", str(data), "--data-columns",
                              "id=key,question=prompt,L=length", "--output", str(tmp_path / "runs"),
                              "--cache", "off"], capsys)
    assert code == 0, err
    run = load_run(next((tmp_path / "runs").iterdir()))
    assert len(run.samples) == 120 and run.results is not None and run.results["n_samples"] == 120
    assert run.run["dataset"]["n_selected"] == 120 and run.run["dataset"]["excluded"] == {}
    assert "left out" not in err
    # reliable guesses label rows for the per-task tables; weak words ("report", "guide") and no keyword do not
    by_id = {r["id"]: r for r in run.samples}
    assert by_id["p020"]["task"] == "story_generation" and by_id["p080"]["task"] == "movie_review"
    assert {by_id[f"p{i:03d}"]["task"] for i in (0, 40, 60, 100)} == {None}
    assert run.run["dataset"]["task_guessed"] == 40 and run.run["dataset"]["task_guess_unreliable"] == 40
    assert run.run["dataset"]["unclassified"] == 80


def test_naming_tasks_never_selects_by_a_guess(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = prompts_file(tmp_path / "prompts.jsonl")
    code, _, err = run_cli(["eval", "--model", "scripted", "--data", str(data), "--data-columns",
                            "id=key,question=prompt,L=length", "--tasks", "all", "--output",
                            str(tmp_path / "runs"), "--cache", "off"], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: no samples to evaluate"), err
    assert "left out 120 samples by --tasks all" in lines[0] and "a guessed task never selects" in lines[0]
    assert "leave out --tasks" in lines[0]


def declared_rows(tmp_path: Path) -> Path:
    Image.new("RGB", (8, 8), "blue").save(tmp_path / "x.png")
    rows: list[dict[str, Any]] = [
        {"id": f"b{i}", "question": f"Write {200 + i} words.", "images": ["x.png"], "L": 200 + i,
         "task": task} for i, task in enumerate(["ppt_script", "movie_review", "my_task", "my_task", None])
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_tasks_filter_is_announced_with_count_reason_and_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = declared_rows(tmp_path)
    code, _, err = run_cli(["eval", "--model", "scripted", "--data", str(data), "--tasks", "professional",
                            "--output", str(tmp_path / "runs"), "--cache", "off"], capsys)
    assert code == 0, err
    assert ("left out 4 samples by --tasks professional: 1 of task 'movie_review', "
            "2 of task 'my_task', 1 without a task in the data") in err
    run = load_run(next((tmp_path / "runs").iterdir()))
    assert [r["id"] for r in run.samples] == ["b0"]
    excluded = run.run["dataset"]["excluded"]["tasks"]
    assert excluded["count"] == 4 and excluded["ids"] == ["b1", "b2", "b3", "b4"]
    assert excluded["flag"] == "--tasks professional"


def test_default_keeps_every_row_including_unknown_declared_tasks(tmp_path: Path) -> None:
    outcome = evaluate(EvalConfig(model="scripted", data=str(declared_rows(tmp_path)), output=str(tmp_path / "r"),
                                  cache="off"), progress=None)
    rows = load_run(outcome.run_dir).samples
    assert [(r["id"], r["task"], r["category"]) for r in rows] == [
        ("b0", "ppt_script", "professional"), ("b1", "movie_review", "creative"), ("b2", "my_task", "custom"),
        ("b3", "my_task", "custom"), ("b4", None, "custom")]


def test_limit_and_shard_are_announced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["eval", "--model", "scripted", "--shard", "1/3", "--limit", "2", "--output",
                            str(tmp_path / "runs"), "--cache", "off"], capsys)
    assert code == 0, err
    assert "left out 8 samples by --shard 1/3: 8 evaluated by the other shards" in err
    assert "left out 2 samples by --limit 2" in err
    dataset = load_run(next((tmp_path / "runs").iterdir())).run["dataset"]
    assert {k: v["count"] for k, v in dataset["excluded"].items()} == {"shard": 8, "limit": 2}
    assert dataset["excluded"]["limit"]["ids"] == ["mini-story_generation-zh", "mini-movie_review-en"]


def test_skip_invalid_prints_the_count_and_each_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"id": "ok", "question": "Write 100 words.", "L": 100},
            {"id": "neg", "question": "Write 100 words.", "L": -1},
            {"id": "huge", "question": "Write 100 words.", "L": "1e400"}]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    code, _, err = run_cli(["eval", "--model", "scripted", "--data", str(data), "--skip-invalid", "--output",
                            str(tmp_path / "runs"), "--cache", "off"], capsys)
    assert code == 0, err
    (line,) = [line for line in err.splitlines() if line.startswith("left out")]
    assert line.startswith("left out 2 invalid samples (--skip-invalid): sample 'neg', field 'L'")
    assert "sample 'huge', field 'L'" in line
    excluded = load_run(next((tmp_path / "runs").iterdir())).run["dataset"]["excluded"]["invalid"]
    assert excluded["count"] == 2 and set(excluded["details"]) == {"neg", "huge"}


def test_ruler_bases_not_taken_are_announced() -> None:
    plan = build_plan(EvalConfig(model="scripted", tasks="ruler"), GenerationConfig())
    assert len(plan.items) == 32
    assert plan.exclusions.counts() == {"tasks": 4}
    assert "not taken as a ruler base sample" in plan.exclusions.lines()[0]


def test_explicit_benchmark_tasks_still_select_declared_rows() -> None:
    plan = build_plan(EvalConfig(model="scripted", tasks="creative"), GenerationConfig())
    assert {item.sample.category for item in plan.items} == {"creative"} and len(plan.items) == 6
    with pytest.raises(ConfigError, match="no samples to evaluate"):
        build_plan(EvalConfig(model="scripted", tasks="creative", shard="5/6", limit=1,
                              data=[{"question": "Write a 100-word story."}]), GenerationConfig())


@pytest.mark.parametrize(
    ("instruction", "task", "reliable"),
    [
        ("Write a 2000-word lecture script for these slides.", "ppt_script", True),
        ("Write a travel guide based on these scenery photos.", "travel_guide", True),  # tier 1 beats tier 2
        ("Describe the findings of this MRI in detail.", "medical_report", True),  # tier 2 alone
        ("Write a report on these pictures.", "medical_report", False),  # weak word only
        ("写一份报告", "medical_report", False),
        ("Write a guide.", "travel_guide", False),
        ("Write social media copy telling the story of this sunset.", "scenery_copywriting", False),  # two genres
        ("Write an essay about autumn.", None, False),
    ],
)
def test_reliable_guess(instruction: str, task: str | None, reliable: bool) -> None:
    guess = guess_task(instruction)
    assert (guess.task, guess.reliable) == (task, reliable)
    assert bool(guess.doubt) is not reliable


def test_unreliable_guess_is_recorded_but_not_a_label(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"id": "r", "question": "Write a report, 300 words."}) + "\n", encoding="utf-8")
    sample = load_samples(str(path)).samples[0]
    assert sample.task is None and sample.category == "custom"
    assert sample.metadata["task_guess"] == "medical_report"
    assert sample.metadata["task_doubt"] == "only a weak keyword for medical_report"
