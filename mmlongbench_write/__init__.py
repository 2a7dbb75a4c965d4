"""mmlw: the MMLongBench-Write evaluation harness.

The public API, for scripts and notebooks::

    from mmlongbench_write import EvalConfig, evaluate
    outcome = evaluate(EvalConfig(model="tiny-random-qwen2.5-vl", data="mini"))

Names are imported on first use (PEP 562), so ``import mmlongbench_write`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "evaluate": "mmlongbench_write.runner",
    "RunOutcome": "mmlongbench_write.runner",
    "score": "mmlongbench_write.scoring",
    "EvalConfig": "mmlongbench_write.config",
    "load_samples": "mmlongbench_write.data",
    "load_run": "mmlongbench_write.runstore",
    "Sample": "mmlongbench_write.schema",
    "ImageRef": "mmlongbench_write.schema",
    "Message": "mmlongbench_write.schema",
    "Request": "mmlongbench_write.schema",
    "GenerationConfig": "mmlongbench_write.schema",
    "Generation": "mmlongbench_write.schema",
    "Judgement": "mmlongbench_write.schema",
    "JudgeInput": "mmlongbench_write.schema",
    "ModelAdapter": "mmlongbench_write.model_adapters.base",
    "Preset": "mmlongbench_write.model_adapters.base",
    "Judge": "mmlongbench_write.judges.base",
    "MetricSpec": "mmlongbench_write.metrics",
    "Task": "mmlongbench_write.tasks.base",
    "register_task": "mmlongbench_write.registry",
    "register_model": "mmlongbench_write.registry",
    "register_judge": "mmlongbench_write.registry",
    "word_count": "mmlongbench_write.textstats",
    "length_score": "mmlongbench_write.judges.length",
    "MMLWError": "mmlongbench_write.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mmlongbench_write' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
