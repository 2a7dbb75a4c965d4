"""Supervised fine-tuning on (images, instruction, long output) rows with TRL's ``SFTTrainer``.

The processor is the ``processing_class`` (that selects TRL's vision collator); rows are
prompt/completion conversations, so the loss covers the answer only.
"""

from __future__ import annotations

from typing import Any

from .presets import TrainSettings
from .trainer import common_args, peft_config


def build_sft_trainer(settings: TrainSettings, model: Any, processor: Any, dataset: Any, callbacks: list[Any]) -> Any:
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(**common_args(settings))
    return SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=processor,
                      callbacks=callbacks, peft_config=peft_config(settings))
