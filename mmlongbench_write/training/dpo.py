"""DPO on preference pairs (IterDPO + AI-feedback) with TRL's ``DPOTrainer``: sigmoid loss, ``beta``.

The reference model is TRL's frozen copy of the starting checkpoint (with LoRA: the base model with the
adapter disabled). ``precompute_ref_log_probs`` stays off: TRL does not support it for image data.
"""

from __future__ import annotations

from typing import Any

from .presets import TrainSettings
from .trainer import common_args, peft_config


def dpo_config(settings: TrainSettings) -> Any:
    """The trainer config; built before the model loads (it registers a ZeRO-3 config with transformers)."""
    from trl import DPOConfig

    return DPOConfig(**{"beta": settings.beta, "loss_type": ["sigmoid"], **common_args(settings)})


def build_dpo_trainer(settings: TrainSettings, args: Any, model: Any, processor: Any, dataset: Any,
                      callbacks: list[Any], eval_dataset: Any = None) -> Any:
    from trl import DPOTrainer

    return DPOTrainer(model=model, args=args, train_dataset=dataset, eval_dataset=eval_dataset,
                      processing_class=processor, callbacks=callbacks, peft_config=peft_config(settings))
