"""The training engine's choices that must be right at scale: precision, sharding, resume, LoRA merge.

* Precision. ``bf16`` means mixed precision: the trainable parameters stay fp32 (the master copy the
  optimizer updates) and the forward/backward run under bf16 autocast; frozen parameters are stored in
  bf16. Updated in bf16 directly, an Adam step of 1e-5 on a weight of 0.02 (bf16 spacing ~1e-4) rounds
  away. ``pure_bf16`` asks for that anyway (half the memory). Under DeepSpeed the model is loaded in bf16
  and DeepSpeed keeps the fp32 master partitions itself; under FSDP everything is loaded in fp32 and FSDP
  casts to bf16 for compute.
* Sharding. Under ZeRO-3 the trainer config (which registers the DeepSpeed config with transformers) is
  built before ``from_pretrained``, so every parameter is partitioned as it loads; what each rank holds
  is measured and written to ``DIR/engine_report.json``.
* Resume. ``--resume`` continues from the newest ``DIR/checkpoint-N`` (weights, optimizer, scheduler,
  RNG, data position, all restored by the trainer); a run over existing checkpoints without it is refused.
* LoRA. The adapter is saved (gathered under ZeRO-3), then rank 0 merges it into a fresh, unsharded copy
  of the base model: merging partitioned weights in place is not possible.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Literal

from mmlongbench_write.errors import ConfigError

from .presets import TrainSettings

Backend = Literal["deepspeed", "fsdp", "ddp", "single"]
Precision = Literal["fp32", "bf16-mixed", "bf16-pure"]
REPORT_FILE = "engine_report.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def backend() -> Backend:
    """The distributed backend this process runs under (accelerate's launcher sets these variables)."""
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
        return "deepspeed"
    if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true":
        return "fsdp"
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return "ddp"
    return "single"


def use_bf16(settings: TrainSettings) -> bool:
    if settings.bf16 is not None:
        return bool(settings.bf16)
    if settings.pure_bf16:
        return True
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def precision(settings: TrainSettings) -> Precision:
    if not use_bf16(settings):
        return "fp32"
    return "bf16-pure" if settings.pure_bf16 else "bf16-mixed"


def load_dtype(settings: TrainSettings) -> Any:
    """The dtype ``from_pretrained`` loads in (see the module docstring for why it depends on the backend)."""
    import torch

    mode = precision(settings)
    if mode == "bf16-pure" or (mode == "bf16-mixed" and backend() == "deepspeed"):
        return torch.bfloat16
    return torch.float32


def settle_precision(model: Any, settings: TrainSettings) -> None:
    """Mixed precision without DeepSpeed/FSDP: frozen parameters to bf16, trainable ones stay fp32 (with
    LoRA the whole base is frozen; PEFT creates its adapters in fp32)."""
    import torch

    if precision(settings) != "bf16-mixed" or backend() in ("deepspeed", "fsdp"):
        return
    for param in model.parameters():
        if settings.lora or not param.requires_grad:
            param.data = param.data.to(torch.bfloat16)


def trainer_precision_args(settings: TrainSettings) -> dict[str, Any]:
    """``bf16`` of the trainer config: autocast for mixed precision; pure bf16 weights need none."""
    mode = precision(settings)
    if mode == "bf16-pure" and backend() != "deepspeed":
        return {"bf16": False}
    return {"bf16": mode != "fp32"}


def check_backend_supported(settings: TrainSettings, on_cpu: bool) -> None:
    """Refuse what cannot shard as asked, before any weight is loaded."""
    if backend() == "fsdp" and on_cpu:
        raise ConfigError("FSDP shards over NCCL on CUDA GPUs; on CPU use --accelerate-config zero3 (DeepSpeed, "
                          "DS_ACCELERATOR=cpu) or --nproc N (DDP, unsharded)")
    if settings.pure_bf16 and backend() in ("deepspeed", "fsdp"):
        raise ConfigError("--pure-bf16 is for single-process/DDP runs; DeepSpeed and FSDP keep fp32 master "
                          "weights themselves")


# ---------------------------------------------------------------- sharding report


def held_parameters(model: Any) -> tuple[int, int]:
    """(elements this rank stores, elements of the whole model): ZeRO-3 partitions and FSDP shards count
    only their local part."""
    held = total = 0
    for param in model.parameters():
        if hasattr(param, "ds_numel"):  # DeepSpeed ZeRO-3: param.data is empty, the partition is ds_tensor
            total += int(param.ds_numel)
            held += int(param.ds_tensor.numel())
        elif hasattr(param, "to_local"):  # FSDP2 DTensor
            total += int(param.numel())
            held += int(param.to_local().numel())
        else:
            total += int(param.numel())
            held += int(param.numel())
    return held, total


def _gather(value: Any) -> list[Any]:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [value]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def record_sharding(model: Any, settings: TrainSettings, stage: str) -> None:
    """Measure what every rank holds at ``stage`` ("load" or "train"), print it, merge into the report."""
    held, total = held_parameters(model)
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    print(f"mmlw train: rank {rank}/{world} holds {held:,} of {total:,} parameter elements at {stage} "
          f"({backend()}, {precision(settings)})", file=sys.stderr, flush=True)
    per_rank = _gather(held)
    if rank != 0:
        return
    path = Path(settings.output) / REPORT_FILE
    report = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    # "parameters" is the loaded model's size; later stages may count more (LoRA adds its adapters)
    report.update({"backend": backend(), "world_size": world, "precision": precision(settings),
                   f"parameters_at_{stage}": total, f"held_at_{stage}": per_rank})
    if stage == "load" or "parameters" not in report:
        report["parameters"] = total
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def sharding_callback(settings: TrainSettings) -> Any:
    """Records what each rank holds once the trainer has wrapped the model (FSDP shards only then)."""
    from transformers import TrainerCallback

    class ShardingCallback(TrainerCallback):  # type: ignore[misc]
        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            if model is not None:
                record_sharding(model, settings, "train")

    return ShardingCallback()


# ---------------------------------------------------------------- resume


def checkpoints(output: str | Path) -> list[tuple[int, Path]]:
    """``(step, dir)`` of the complete ``checkpoint-N`` folders (with a trainer state), oldest first."""
    out = Path(output)
    found = []
    if out.is_dir():
        for child in out.iterdir():
            match = _CHECKPOINT.match(child.name)
            if match and (child / "trainer_state.json").is_file():
                found.append((int(match.group(1)), child))
    return sorted(found)


def resume_point(settings: TrainSettings) -> tuple[str | None, int]:
    """The checkpoint to resume from and its step; refuses to silently restart over existing checkpoints."""
    found = checkpoints(settings.output)
    if not settings.resume:
        if found:
            raise ConfigError(f"{settings.output} already has {found[-1][1].name}: pass --resume to continue "
                              "from it, or choose another --output")
        return None, 0
    if not found:
        print(f"mmlw train: --resume: no checkpoint in {settings.output} yet, starting at step 0",
              file=sys.stderr, flush=True)
        return None, 0
    step, path = found[-1]
    return str(path), step


# ---------------------------------------------------------------- LoRA merge


def _unset_zero3_load() -> None:
    try:
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config

        unset_hf_deepspeed_config()
    except ImportError:
        pass


def rewrite_in_hub_layout(out: Path, source: str) -> None:
    """Give a checkpoint saved from a ZeRO-3 engine (its names come out as ``model.model.*``) the weight
    names of ``source`` again, renaming inside the files (rank 0 only; one shard in memory at a time)."""
    from .hub_names import rename_to_source_layout

    renamed = rename_to_source_layout(out, source)
    if renamed:
        print(f"mmlw train: renamed {renamed} saved weights to the names of {source}", file=sys.stderr, flush=True)


def merge_lora(source_path: str, adapter_dir: Path, out: Path, settings: TrainSettings) -> None:
    """Merge a saved adapter into a fresh, unsharded load of the base model and save it to ``out``.

    Called on rank 0 only, so ZeRO-3's load-time partitioning is switched off first (it is collective).
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    _unset_zero3_load()
    dtype = torch.bfloat16 if use_bf16(settings) else torch.float32
    base = AutoModelForImageTextToText.from_pretrained(source_path, dtype=dtype)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(str(out))
