"""The task protocol: which samples a task covers and how a sample becomes a request."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from mmlongbench_write.schema import GenerationConfig, Request, Sample


class Task(ABC):
    """A family of samples scored the same way.

    ``gen_overrides`` are generation settings the task itself prescribes (the ruler samples at
    temperature 0.9); they override the model preset's defaults but not the user's ``--gen-kwargs``.
    """

    name: str = "task"
    category: str = "custom"
    description: str = ""
    gen_overrides: dict[str, object] = {}

    @abstractmethod
    def select(self, samples: Sequence[Sample]) -> list[Sample]:
        """The samples of this task, possibly derived (the ruler expands each base sample)."""

    @abstractmethod
    def build_request(self, sample: Sample, config: GenerationConfig) -> Request:
        """The request a model answers for ``sample``."""
