"""Which pip extra provides each optional library, and the one-line error when it is missing.

The core install (``pip install mmlongbench-write``) runs ``leaderboard``, ``compare``, ``merge`` and the
data commands; everything else imports its library lazily through :func:`require`, so a missing one is a
single line with the exact install command and exit 2 instead of a ``ModuleNotFoundError`` traceback.
``cli.main`` also maps any stray ``ModuleNotFoundError`` for a module listed here the same way.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mmlongbench_write.errors import AdapterError

#: Top-level import name -> the extra in pyproject.toml that installs it.
EXTRA_OF: dict[str, str] = {
    "torch": "hf",
    "transformers": "hf",
    "accelerate": "hf",
    "aiohttp": "api",
    "vllm": "vllm",
    "trl": "train",
    "peft": "train",
    "tensorboard": "train",
    "deepspeed": "deepspeed",
    "matplotlib": "plots",
    "starlette": "annotate",
    "uvicorn": "annotate",
    "wandb": "wandb",
}


class MissingExtra(AdapterError):
    """An optional library is not installed; the message names the extra that provides it."""

    def __init__(self, module: str, purpose: str, extra: str | None = None) -> None:
        top = module.split(".")[0]
        self.module = top
        self.extra = extra or EXTRA_OF.get(top, "")
        fix = f"pip install 'mmlongbench-write[{self.extra}]'" if self.extra else f"pip install {top}"
        super().__init__(f"{top} is not installed ({purpose} needs it): {fix}")


def require(module: str, purpose: str, extra: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtra` saying what needs it and what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or module
        raise MissingExtra(missing, purpose, extra) from None


def from_import_error(exc: ImportError, purpose: str = "this command") -> MissingExtra | None:
    """The one-line error for a ``ModuleNotFoundError`` of an optional module, None for anything else."""
    name = getattr(exc, "name", None)
    if not isinstance(exc, ModuleNotFoundError) or not name or name.split(".")[0] not in EXTRA_OF:
        return None
    return MissingExtra(name, purpose)
