"""Training settings and the paper's presets (LongWriter-V, docs/benchmark.md "Training recipe").

Resolution order, last wins: :class:`TrainSettings` defaults < preset < explicit flags. A preset
names the base model too, so ``--model longwriter-v-7b`` trains Qwen2.5-VL-7B-Instruct with the 7B
recipe, and ``--model ./my-sft --preset longwriter-v-7b`` applies the recipe to another checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from mmlongbench_write.errors import ConfigError

TrainKind = Literal["sft", "dpo"]

#: the paper's recipe, shared by both sizes: 3 epochs, cosine, warmup 0.1, bf16, 32k context,
#: up to 30 images resized to about 280x280 pixels, vision tower + projector frozen
_PAPER_COMMON: dict[str, Any] = {
    "epochs": 3.0, "lr_scheduler": "cosine", "warmup_ratio": 0.1, "bf16": True, "max_length": 32768,
    "max_images": 30, "image_pixels": 280 * 280, "freeze_vision": True, "gradient_checkpointing": True,
}

TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "longwriter-v-7b": {"base_model": "Qwen/Qwen2.5-VL-7B-Instruct", "learning_rate": 1e-5, **_PAPER_COMMON},
    "longwriter-v-72b": {"base_model": "Qwen/Qwen2.5-VL-72B-Instruct", "learning_rate": 7e-6, **_PAPER_COMMON},
}

#: DPO's own defaults, applied over the preset (whose rate and epochs are the SFT recipe's) unless a flag
#: sets them: TRL's DPOConfig rate (1e-6; the LongWriter-V paper gives none) and one pass over the pairs
DPO_DEFAULTS: dict[str, Any] = {"learning_rate": 1e-6, "epochs": 1.0}

#: experiment trackers `--report-to` accepts (transformers' integrations)
REPORTERS = ("tensorboard", "wandb")

#: names that resolve to the tiny random test model (built offline on first use)
TINY_NAMES = ("tiny-random-qwen2.5-vl", "mmlw:tiny-random-qwen2.5-vl")


@dataclass
class TrainSettings:
    """Everything a training run is built from; saved as ``DIR/train_settings.json``."""

    kind: TrainKind
    model: str
    data: list[str]
    output: str
    preset: str | None = None
    learning_rate: float = 1e-5
    epochs: float = 3.0
    max_steps: int = -1
    batch_size: int = 1
    grad_accum: int = 1
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.1
    bf16: bool | None = None  # None: bf16 when a CUDA GPU supports it
    pure_bf16: bool = False  # bf16 weights updated in bf16 (no fp32 master copy): half the memory, small updates lost
    max_length: int = 32768
    max_images: int | None = 30
    image_pixels: int | None = None  # None: keep the processor's own max_pixels
    image_min_pixels: int | None = None  # None: keep the processor's own min_pixels
    max_samples: int | None = None  # train on a seeded random N of the kept rows (the paper: 10k of 22k)
    sample_seed: int = 0  # the seed of that subset: the same N rows every time
    image_root: str | None = None
    freeze_vision: bool = True
    gradient_checkpointing: bool = False
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    beta: float = 0.1  # DPO
    seed: int = 42
    logging_steps: int = 1
    save_steps: int | None = None  # None: save only at the end
    save_total_limit: int | None = None  # keep at most N checkpoint-* folders (the best one is never deleted)
    eval_split: float | None = None  # hold out this share of the rows for evaluation
    eval_data: list[str] = field(default_factory=list)  # or evaluate on these files
    eval_steps: int | None = None  # None: with --save-steps, evaluate at every save (best checkpoint kept)
    report_to: list[str] = field(default_factory=list)  # tensorboard, wandb
    resume: bool = False  # continue from the newest DIR/checkpoint-N
    use_cpu: bool | None = None  # None: CPU when there is no CUDA GPU
    extra: dict[str, Any] = field(default_factory=dict)  # passed to the TRL config as is

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> TrainSettings:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(**{k: v for k, v in data.items() if k in {f.name for f in fields(cls)}})


def resolve_settings(kind: TrainKind, model: str, data: list[str], output: str, *, preset: str | None = None,
                     overrides: dict[str, Any] | None = None) -> TrainSettings:
    """Defaults < preset (named by ``preset`` or by ``model``) < ``overrides`` (``None`` values ignored)."""
    values: dict[str, Any] = {}
    if preset is None and model in TRAIN_PRESETS:
        preset = model
    if preset is not None:
        if preset not in TRAIN_PRESETS:
            raise ConfigError(f"unknown training preset {preset!r}; choose one of {', '.join(TRAIN_PRESETS)}")
        values = dict(TRAIN_PRESETS[preset])
        base = values.pop("base_model")
        if model == preset:
            model = base
    if kind == "dpo":
        values.update(DPO_DEFAULTS)
    known = {f.name for f in fields(TrainSettings)}
    for key, value in (overrides or {}).items():
        if key not in known:
            raise ConfigError(f"unknown training setting {key!r}")
        if value is not None:
            values[key] = value
    if not data:
        raise ConfigError("no training data: pass --data FILE (or --iterdpo / --mix)")
    unknown = [r for r in values.get("report_to", []) if r not in REPORTERS]
    if unknown:
        raise ConfigError(f"--report-to: unknown tracker {unknown[0]!r}; choose from {', '.join(REPORTERS)}")
    split = values.get("eval_split")
    if split is not None and not 0 < split < 1:
        raise ConfigError(f"--eval-split must be a share between 0 and 1, got {split}")
    if split is not None and values.get("eval_data"):
        raise ConfigError("--eval-split and --eval-data both choose the evaluation rows: pass one of them")
    if values.get("pure_bf16") and values.get("bf16") is False:
        raise ConfigError("--pure-bf16 trains in bf16: it cannot be combined with --no-bf16")
    return TrainSettings(kind=kind, model=model, data=list(data), output=output, preset=preset, **values)


def resolve_model_path(model: str) -> str:
    """A local dir or hub id as given; the tiny test model's names become its built directory."""
    if model in TINY_NAMES:
        from mmlongbench_write.model_adapters.tiny import ensure_tiny_model

        return str(ensure_tiny_model())
    return model
