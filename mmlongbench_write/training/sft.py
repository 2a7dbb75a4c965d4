"""Supervised fine-tuning on (images, instruction, long output) rows with TRL's ``SFTTrainer``.

The processor is the ``processing_class`` (that selects TRL's vision collator); rows are
prompt/completion conversations, so the loss covers the answer only.
"""

from __future__ import annotations

from typing import Any

from .presets import TrainSettings
from .trainer import common_args, peft_config


def sft_config(settings: TrainSettings) -> Any:
    """The trainer config; built before the model loads (it registers a ZeRO-3 config with transformers)."""
    from trl import SFTConfig

    return SFTConfig(**common_args(settings))


def build_sft_trainer(settings: TrainSettings, args: Any, model: Any, processor: Any, dataset: Any,
                      callbacks: list[Any], eval_dataset: Any = None) -> Any:
    from trl import SFTTrainer

    return SFTTrainer(model=model, args=args, train_dataset=dataset, eval_dataset=eval_dataset,
                      processing_class=processor, callbacks=callbacks, peft_config=peft_config(settings))
