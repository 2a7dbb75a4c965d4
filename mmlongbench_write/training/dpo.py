"""DPO on preference pairs (IterDPO + AI-feedback) with TRL's ``DPOTrainer``: sigmoid loss, ``beta``.

The reference model is TRL's frozen copy of the starting checkpoint (with LoRA: the base model with the
adapter disabled). ``precompute_ref_log_probs`` stays off: TRL does not support it for image data.
"""

from __future__ import annotations

from typing import Any

from .presets import TrainSettings
from .trainer import common_args, peft_config


def build_dpo_trainer(settings: TrainSettings, model: Any, processor: Any, dataset: Any, callbacks: list[Any]) -> Any:
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(**{"beta": settings.beta, "loss_type": ["sigmoid"], **common_args(settings)})
    return DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=processor,
                      callbacks=callbacks, peft_config=peft_config(settings))
