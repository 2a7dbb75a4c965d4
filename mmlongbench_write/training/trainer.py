"""What SFT and DPO share: model + processor loading, freezing, data filtering, LoRA, saving.

The checkpoint is saved in the hub layout (weights + processor files of the real Qwen2.5-VL repos), so
``mmlw eval --model hf --model-args pretrained=DIR`` loads it without conversion. torch, transformers,
datasets and peft are imported inside the functions.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import ConfigError, DataError

from .data_report import announce_data_report, count_tokens, filter_by_length  # noqa: F401 - count_tokens re-exported
from .engine import trainer_precision_args
from .formats import LoadReport, load_training_rows
from .presets import TrainSettings, resolve_model_path

#: dotted-name components of the vision tower and the vision->language projector ("merger" in Qwen2.5-VL)
VISION_COMPONENTS = frozenset({"visual", "vision_tower", "vision_model", "multi_modal_projector", "mm_projector",
                               "merger", "vision_embed_tokens"})
#: LoRA targets: the language model's linear layers, never the (frozen) vision tower
LORA_TARGETS = (r"^(?!.*(?:visual|vision_tower|vision_model)).*\.(?:q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj"
                r"|down_proj)$")


def is_vision_param(name: str) -> bool:
    return any(part in VISION_COMPONENTS for part in name.split("."))


def freeze_vision(model: Any) -> int:
    """Freeze the vision tower and projector; return how many parameter tensors were frozen."""
    frozen = 0
    for name, param in model.named_parameters():
        if is_vision_param(name):
            param.requires_grad_(False)
            frozen += 1
    return frozen


def load_processor_for(path: str, image_pixels: int | None, min_pixels: int | None = None) -> Any:
    """The processor with the image budget applied at load time (see :mod:`.processor`)."""
    from .processor import load_processor

    return load_processor(path, max_pixels=image_pixels, min_pixels=min_pixels)


def build_dataset(settings: TrainSettings, processor: Any) -> tuple[Any, LoadReport]:
    """The training rows as a ``datasets.Dataset`` whose ``images`` decode lazily (paths or embedded bytes)."""
    from datasets import Dataset, Image, List

    rows, report = load_training_rows(settings.data, settings.kind, image_root=settings.image_root,
                                      max_images=settings.max_images, max_samples=settings.max_samples,
                                      sample_seed=settings.sample_seed)
    rows = filter_by_length(rows, processor, settings.max_length, settings.kind, report)
    if not rows:
        raise DataError(f"no usable training rows in {', '.join(settings.data)}: {report.summary()}")
    dataset = Dataset.from_list(rows).cast_column("images", List(Image()))
    return dataset, report


def load_model(settings: TrainSettings, path: str) -> Any:
    """Load for training; call after the trainer config exists (ZeRO-3 then partitions while loading)."""
    from transformers import AutoModelForImageTextToText

    from .engine import load_dtype, settle_precision

    try:
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=load_dtype(settings))
    except OSError as exc:
        raise ConfigError(f"cannot load model {settings.model!r}: {exc}") from None
    if settings.freeze_vision:
        freeze_vision(model)
    settle_precision(model, settings)
    return model


def use_cpu(settings: TrainSettings) -> bool:
    if settings.use_cpu is not None:
        return bool(settings.use_cpu)
    import torch

    return not torch.cuda.is_available()


def peft_config(settings: TrainSettings) -> Any:
    if not settings.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                      target_modules=LORA_TARGETS, task_type="CAUSAL_LM")


def common_args(settings: TrainSettings) -> dict[str, Any]:
    """Keyword arguments shared by ``SFTConfig`` and ``DPOConfig``."""
    args: dict[str, Any] = {
        "output_dir": settings.output,
        "learning_rate": settings.learning_rate,
        "num_train_epochs": settings.epochs,
        "max_steps": settings.max_steps,
        "per_device_train_batch_size": settings.batch_size,
        "gradient_accumulation_steps": settings.grad_accum,
        "lr_scheduler_type": settings.lr_scheduler,
        "warmup_steps": settings.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of all steps
        **trainer_precision_args(settings),
        "use_cpu": use_cpu(settings),
        "seed": settings.seed,
        "logging_steps": settings.logging_steps,
        "save_strategy": "steps" if settings.save_steps else "no",
        "report_to": list(settings.report_to),
        # frozen vision: every trainable parameter is used, so DDP need not search for unused ones each step
        "ddp_find_unused_parameters": not settings.freeze_vision,
        "gradient_checkpointing": settings.gradient_checkpointing,
        "max_length": None,  # rows were length-filtered: TRL must never truncate through image tokens
        "remove_unused_columns": False,
        "dataloader_num_workers": 0,
    }
    if settings.save_steps:
        args["save_steps"] = settings.save_steps
    if settings.save_total_limit:
        args["save_total_limit"] = settings.save_total_limit
    # TensorBoard: transformers 5 has no ``logging_dir`` any more; its callback writes to
    # DIR/runs/<date>_<host>/ by default (TENSORBOARD_LOGGING_DIR, when set, overrides the folder)
    if settings.eval_split or settings.eval_data:
        args.update(eval_args(settings))
    args.update(settings.extra)
    return args


def eval_args(settings: TrainSettings) -> dict[str, Any]:
    """Evaluate on the held-out rows at every save (or every ``eval_steps``) and keep the best checkpoint."""
    every = settings.eval_steps or settings.save_steps
    if not every:
        return {"eval_strategy": "epoch", "per_device_eval_batch_size": settings.batch_size}
    args: dict[str, Any] = {"eval_strategy": "steps", "eval_steps": every,
                            "per_device_eval_batch_size": settings.batch_size}
    if settings.save_steps and every % settings.save_steps == 0:
        args.update({"load_best_model_at_end": True, "metric_for_best_model": "eval_loss",
                     "greater_is_better": False})
    return args


def save_checkpoint(trainer: Any, processor: Any, settings: TrainSettings, source_path: str,
                    report: LoadReport) -> None:
    """Save model + processor into ``settings.output`` in the hub layout (LoRA: merged, adapter kept aside)."""
    from .engine import backend, merge_lora, rewrite_in_hub_layout

    out = Path(settings.output)
    if settings.lora:
        trainer.save_model(str(out / "lora-adapter"))  # collective: gathers the adapter under ZeRO-3
        trainer.accelerator.wait_for_everyone()
        if trainer.is_world_process_zero():
            merge_lora(source_path, out / "lora-adapter", out, settings)
    else:
        trainer.save_model(str(out))
        if backend() == "deepspeed" and trainer.is_world_process_zero():
            rewrite_in_hub_layout(out, source_path)
    if not trainer.is_world_process_zero():
        return
    processor.save_pretrained(str(out))
    _hub_processor_layout(out, Path(source_path))


def _hub_processor_layout(out: Path, source: Path) -> None:
    """Keep the processor files of the source checkpoint when it is a local dir (they load as they did);
    otherwise rewrite transformers 5's nested ``processor_config.json`` into the hub layout."""
    if source.is_dir() and (source / "preprocessor_config.json").is_file():
        (out / "processor_config.json").unlink(missing_ok=True)
        (out / "chat_template.jinja").unlink(missing_ok=True)
        for name in ("preprocessor_config.json", "chat_template.json", "chat_template.jinja", "tokenizer.json",
                     "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
                     "added_tokens.json", "video_preprocessor_config.json"):
            if (source / name).is_file():
                shutil.copyfile(source / name, out / name)
        return
    if (out / "processor_config.json").is_file():
        from mmlongbench_write.model_adapters.tiny import _to_legacy_layout

        _to_legacy_layout(out)


def run_training(settings: TrainSettings) -> dict[str, Any]:
    """Train (SFT or DPO) as ``settings`` say; return a summary (rows used, metrics path, output dir).

    Order matters: the trainer config is built before the model loads, so a DeepSpeed ZeRO-3 config is in
    force during ``from_pretrained`` and every rank loads only its partition.
    """
    from .engine import check_backend_supported, record_sharding, resume_point, sharding_callback
    from .metrics import metrics_callback

    out = Path(settings.output)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint, resume_step = resume_point(settings)
    check_backend_supported(settings, use_cpu(settings))
    path = resolve_model_path(settings.model)
    processor = load_processor_for(path, settings.image_pixels, settings.image_min_pixels)
    dataset, report = build_dataset(settings, processor)
    announce_data_report(out, report)  # table + DIR/train_settings.json "data_report", before training
    train_set, eval_set = split_eval(settings, dataset, processor)
    if settings.kind == "sft":
        from .sft import build_sft_trainer as build
        from .sft import sft_config as make_config
    elif settings.kind == "dpo":
        from .dpo import build_dpo_trainer as build  # type: ignore[assignment]
        from .dpo import dpo_config as make_config  # type: ignore[assignment]
    else:
        raise ConfigError(f"unknown training kind {settings.kind!r}")
    args = make_config(settings)
    _ = args.world_size  # sets up the process group before loading (ZeRO-3's partitioned load is collective)
    model = load_model(settings, weights_to_resume(settings, checkpoint) or path)
    record_sharding(model, settings, "load")
    callbacks = [metrics_callback(out / "metrics.jsonl", resume_step=resume_step), sharding_callback(settings)]
    trainer = build(settings, args, model, processor, train_set, callbacks, eval_dataset=eval_set)
    trainer.train(resume_from_checkpoint=checkpoint)
    save_checkpoint(trainer, processor, settings, path, report)
    return {"output": str(out), "rows": report.kept, "data": report.summary(),
            "metrics": str(out / "metrics.jsonl"), "resumed_from": checkpoint}


def weights_to_resume(settings: TrainSettings, checkpoint: str | None) -> str | None:
    """Load a resumed full fine-tune from its checkpoint folder: the trainer's own reload matches the hub's weight
    names against the model's renamed ones with ``strict=False`` (transformers 5) and silently loads nothing.
    DeepSpeed restores its engine checkpoint by itself, and LoRA checkpoints hold only the adapter."""
    from .engine import backend

    if checkpoint is None or settings.lora or backend() == "deepspeed":
        return None
    return checkpoint


def split_eval(settings: TrainSettings, dataset: Any, processor: Any) -> tuple[Any, Any]:
    """(train rows, eval rows or None): a seeded share of the rows, or the rows of ``--eval-data``."""
    if settings.eval_data:
        from dataclasses import replace

        eval_set, _ = build_dataset(replace(settings, data=list(settings.eval_data)), processor)
        return dataset, eval_set
    if settings.eval_split:
        if len(dataset) < 2:
            raise DataError(f"--eval-split {settings.eval_split}: {len(dataset)} row cannot be split")
        parts = dataset.train_test_split(test_size=settings.eval_split, seed=settings.seed)
        return parts["train"], parts["test"]
    return dataset, None
