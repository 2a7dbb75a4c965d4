"""The task protocol: which samples a task covers and how a sample becomes a request.

Tasks put the images before the instruction; :func:`with_part_order` moves the text first where
``--protocol authors`` asks for it (``mmlongbench_write.protocol.generation_part_order``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from mmlongbench_write.protocol import TEXT_FIRST
from mmlongbench_write.schema import GenerationConfig, ImagePart, Message, Request, Sample, TextPart


def with_part_order(request: Request, order: str) -> Request:
    """``request`` with each message's text parts before its images when ``order`` is text-first.

    Relative order within the texts and within the images is kept; any other order leaves the request
    as the task built it.
    """
    if order != TEXT_FIRST:
        return request
    messages = tuple(
        Message(m.role, tuple(p for p in m.content if isinstance(p, TextPart))
                + tuple(p for p in m.content if isinstance(p, ImagePart)))
        for m in request.messages
    )
    return Request(id=request.id, messages=messages, config=request.config)


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
