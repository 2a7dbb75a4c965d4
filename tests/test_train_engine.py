"""The training engine on the tiny Qwen2.5-VL (one process): fp32 master weights under bf16, --resume,
evaluation with the best checkpoint kept, TensorBoard event files, DPO's own defaults."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from training_helpers import sft_file

from mmlongbench_write.cli import main
from mmlongbench_write.training.metrics import read_metrics
from mmlongbench_write.training.presets import DPO_DEFAULTS, TRAIN_PRESETS, resolve_settings
from mmlongbench_write.training.trainer import is_vision_param

FLAGS = ["--batch-size", "2", "--cpu", "--warmup-ratio", "0", "--lr-scheduler", "constant", "--max-length", "2048"]


def _tensors(directory: Path) -> dict:
    from safetensors.torch import load_file

    tensors: dict = {}
    for f in sorted(directory.glob("model*.safetensors")):
        tensors.update(load_file(str(f)))
    return tensors


def _train(tmp_path: Path, model: Path, out: Path, *extra: str, kind: str = "sft") -> None:
    main(["train", kind, "--model", str(model), "--data", str(sft_file(tmp_path, n=4)), "--output", str(out),
          *FLAGS, *extra])


def _changed_share(before: dict, after: dict) -> float:
    """Share of language-model weight elements that moved, each compared in the dtype it was saved in."""
    changed = total = 0
    for key, old in before.items():
        if is_vision_param(key):
            continue
        new = after[key]
        changed += int((new.float() != old.to(new.dtype).float()).sum())
        total += old.numel()
    return changed / total


@pytest.mark.slow
def test_bf16_keeps_fp32_master_weights_so_small_updates_land(tmp_path: Path, tiny_model_dir: Path) -> None:
    # 4 Adam steps at lr 1e-5 move each weight by ~4e-5: below bf16's spacing for most weights
    small = ["--bf16", "--lr", "1e-5", "--max-steps", "4"]
    _train(tmp_path, tiny_model_dir, tmp_path / "mixed", *small)
    _train(tmp_path, tiny_model_dir, tmp_path / "pure", *small, "--pure-bf16")
    base = _tensors(tiny_model_dir)
    mixed, pure = _tensors(tmp_path / "mixed"), _tensors(tmp_path / "pure")
    lm = [k for k in base if not is_vision_param(k)]
    assert all(mixed[k].dtype.is_floating_point and mixed[k].itemsize == 4 for k in lm)  # fp32 master, saved
    vision = [k for k in base if is_vision_param(k)]
    assert vision and all(pure[k].itemsize == 2 for k in lm)  # pure bf16 stays bf16
    mixed_share, pure_share = _changed_share(base, mixed), _changed_share(base, pure)
    assert mixed_share > 0.8, mixed_share
    assert pure_share < 0.5 * mixed_share, (pure_share, mixed_share)
    report = json.loads((tmp_path / "mixed" / "engine_report.json").read_text())
    assert report["precision"] == "bf16-mixed" and report["backend"] == "single"
    assert json.loads((tmp_path / "pure" / "engine_report.json").read_text())["precision"] == "bf16-pure"


@pytest.mark.slow
def test_resume_continues_where_an_uninterrupted_run_ends(tmp_path: Path, tiny_model_dir: Path) -> None:
    common = ["--no-bf16", "--lr", "1e-3", "--save-steps", "2"]
    _train(tmp_path, tiny_model_dir, tmp_path / "whole", *common, "--max-steps", "4")
    part = tmp_path / "part"
    _train(tmp_path, tiny_model_dir, part, *common, "--max-steps", "2")
    assert (part / "checkpoint-2" / "trainer_state.json").is_file()
    # a stopped run leaves lines logged after its last checkpoint: they must not appear twice
    with open(part / "metrics.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"step": 3, "loss": 99.0}) + "\n")
    with pytest.raises(SystemExit) as refused:  # re-running over checkpoints without --resume
        _train(tmp_path, tiny_model_dir, part, *common, "--max-steps", "4")
    assert refused.value.code == 2
    _train(tmp_path, tiny_model_dir, part, *common, "--max-steps", "4", "--resume")

    whole_metrics, part_metrics = read_metrics(tmp_path / "whole"), read_metrics(part)
    assert [m["step"] for m in part_metrics] == [1, 2, 3, 4]
    for a, b in zip(whole_metrics, part_metrics, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4), (a, b)
    whole, resumed = _tensors(tmp_path / "whole"), _tensors(part)
    base = _tensors(tiny_model_dir)
    assert any(not (whole[k] == base[k]).all() for k in base)
    for key in whole:
        assert resumed[key].shape == whole[key].shape
        assert (resumed[key] - whole[key]).abs().max() <= 1e-5, key


@pytest.mark.slow
def test_eval_split_best_checkpoint_and_tensorboard(tmp_path: Path, tiny_model_dir: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "evaluated"
    _train(tmp_path, tiny_model_dir, out, "--no-bf16", "--lr", "1e-3", "--max-steps", "4", "--save-steps", "1",
           "--save-total-limit", "1", "--eval-split", "0.25", "--report-to", "tensorboard")
    assert json.loads((out / "data_report.json").read_text())["kept"] == 4
    evals = [m for m in read_metrics(out) if m.get("split") == "eval"]
    assert [m["step"] for m in evals] == [1, 2, 3, 4]
    train = [m for m in read_metrics(out) if m.get("split") != "eval"]
    assert [m["step"] for m in train] == [1, 2, 3, 4]
    best_step = min(evals, key=lambda m: m["loss"])["step"]
    kept = sorted(p.name for p in out.glob("checkpoint-*"))
    assert f"checkpoint-{best_step}" in kept and len(kept) <= 2  # the limit, plus the best one
    state = json.loads((out / kept[-1] / "trainer_state.json").read_text())
    assert state["best_model_checkpoint"].endswith(f"checkpoint-{best_step}")

    events = list((out / "runs").rglob("events.out.tfevents.*"))
    assert events
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "train/loss" in tags and "eval/loss" in tags
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4]
    assert acc.Scalars("train/loss")[0].value == pytest.approx(train[0]["loss"], rel=1e-5)


def test_dpo_has_its_own_defaults_and_flags_still_win() -> None:
    dpo = resolve_settings("dpo", "longwriter-v-7b", ["p.jsonl"], "out")
    assert (dpo.learning_rate, dpo.epochs) == (DPO_DEFAULTS["learning_rate"], DPO_DEFAULTS["epochs"]) == (1e-6, 1.0)
    assert dpo.learning_rate < TRAIN_PRESETS["longwriter-v-7b"]["learning_rate"]
    assert dpo.lr_scheduler == "cosine" and dpo.max_length == 32768  # the rest of the recipe still applies
    sft = resolve_settings("sft", "longwriter-v-7b", ["d.jsonl"], "out")
    assert (sft.learning_rate, sft.epochs) == (1e-5, 3.0)
    mine = resolve_settings("dpo", "m", ["p.jsonl"], "out", overrides={"learning_rate": 5e-7, "epochs": 2.0})
    assert (mine.learning_rate, mine.epochs) == (5e-7, 2.0)


@pytest.mark.parametrize(("flags", "message"), [
    (["--report-to", "tensorboard,mlflow"], "--report-to: unknown tracker 'mlflow'"),
    (["--eval-split", "1.5"], "--eval-split must be a share between 0 and 1"),
    (["--pure-bf16", "--no-bf16"], "--pure-bf16 trains in bf16"),
    (["--accelerate-config", "zero4"], "unknown --accelerate-config 'zero4'"),
    (["--accelerate-config", "missing.yaml"], "--accelerate-config missing.yaml: no such file"),
    (["--num-machines", "2", "--machine-rank", "0"], "--num-machines > 1 needs --main-process-ip"),
    (["--num-machines", "2", "--machine-rank", "2", "--main-process-ip", "10.0.0.1"], "--machine-rank 2 is "
     "outside 0..1"),
])
def test_bad_engine_flags_are_one_line_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch, flags: list[str],
                                                    message: str) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "sft", "--model", "m", "--data", "d.jsonl", "--output", str(tmp_path / "o"), "--dry-run",
              *flags])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_resume_without_checkpoints_starts_at_zero(tmp_path: Path) -> None:
    from mmlongbench_write.errors import ConfigError
    from mmlongbench_write.training.engine import resume_point

    settings = resolve_settings("sft", "m", ["d"], str(tmp_path), overrides={"resume": True})
    assert resume_point(settings) == (None, 0)
    (tmp_path / "checkpoint-3").mkdir()  # incomplete: no trainer_state.json, so not a resume point
    assert resume_point(settings) == (None, 0)
    for step in (3, 12):
        (tmp_path / f"checkpoint-{step}").mkdir(exist_ok=True)
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert resume_point(settings) == (str(tmp_path / "checkpoint-12"), 12)  # numeric order, not text order
    settings.resume = False
    with pytest.raises(ConfigError, match="already has checkpoint-12: pass --resume"):
        resume_point(settings)
    shutil.rmtree(tmp_path / "checkpoint-12")
