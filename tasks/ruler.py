"""LongWrite-V-Ruler: does the model follow the requested length? (docs/benchmark.md)

From any base set, each base sample's images are asked for an article of each length in
{500, 1000, 2000, 4000} ("Write a 2000-word article for these pictures." / "请根据这些图片写一篇2000字的
文章。"), sampled at temperature 0.9. As in the paper, the base is 4 English + 4 Chinese samples
(8 x 4 = 32 prompts): the first four of each language in data-set order. ``ruler:all`` takes every
base sample, ``ruler:N`` the first N per language. Derived ids are ``<base-id>@L<L>``.

**The ruler data set itself is evaluated row by row, as it is** (each row's own question, ``L`` and
images; nothing rebuilt). Plain ``ruler`` takes a data set's rows as they are when

1. its samples carry task ``ruler`` (a task column, or the ruler's hub id ``THU-KEG/LongWrite-V-Ruler``,
   which implies it for every row — see :mod:`mmlongbench_write.data.sources`), or
2. the data is *ruler-shaped* (:func:`is_ruler_shaped`): every sample has images and shares its image
   set with samples of other lengths — a local copy of the ruler (8 image sets x 4 lengths) is.

Only a base set (anything else: the benchmark, the mini set) is expanded into the 4 lengths.
``ruler:rows`` forces row-by-row use; ``ruler:all`` and ``ruler:N`` force expansion of a base set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from mmlongbench_write.errors import ConfigError
from mmlongbench_write.registry import register_task
from mmlongbench_write.schema import GenerationConfig, Request, Sample

from .base import Task
from .mmlongbench import sample_request

RULER_LENGTHS: tuple[int, ...] = (500, 1000, 2000, 4000)
PROMPTS: dict[str, str] = {
    "en": "Write a {L}-word article for these pictures.",
    "zh": "请根据这些图片写一篇{L}字的文章。",
}


def ruler_prompt(length: int, language: str) -> str:
    return PROMPTS.get(language, PROMPTS["en"]).format(L=length)


def is_ruler_shaped(samples: Sequence[Sample]) -> bool:
    """Whether ``samples`` already are ruler prompts: each image set asked at several lengths.

    True when every sample has images and every distinct image set (the tuple of image hashes) belongs
    to at least two samples with at least two different ``L``. A base set (one image set per sample,
    as in the benchmark) is not; the ruler data set (8 image sets x 4 lengths) is.
    """
    if not samples or any(not s.images for s in samples):
        return False
    lengths: dict[tuple[str, ...], set[int]] = {}
    for sample in samples:
        lengths.setdefault(tuple(i.sha256 for i in sample.images), set()).add(sample.required_length)
    return all(len(found) >= 2 for found in lengths.values())


def as_ruler_row(sample: Sample) -> Sample:
    """``sample`` as a ruler row, as it is: own id, question, ``L`` and images; task ``ruler``."""
    if sample.task == "ruler":
        return sample
    metadata = {**sample.metadata, "base_task": sample.task, "task_source": "tasks", "ruler_row": True}
    return replace(sample, task="ruler", metadata=metadata)


@register_task(
    "ruler",
    "LongWrite-V-Ruler at temperature 0.9: the ruler data set row by row; a base set as 4 EN + 4 ZH x "
    "L in 500..4000 (ruler:all: every base sample; ruler:rows: rows as they are).",
)
class RulerTask(Task):
    """Length-following stress test.

    ``mode``: ``"auto"`` (rows as they are for ruler data, else expand), ``"rows"`` or ``"expand"``;
    ``per_language=None`` expands every base sample.
    """

    name = "ruler"
    category = "ruler"
    description = "write an L-word article for the pictures, L in 500/1000/2000/4000"
    gen_overrides: dict[str, object] = {"temperature": 0.9}

    def __init__(self, per_language: int | None = 4, lengths: Sequence[int] = RULER_LENGTHS,
                 mode: str = "auto") -> None:
        if per_language is not None and per_language < 1:
            raise ConfigError(f"ruler: samples per language must be at least 1, got {per_language}")
        if mode not in ("auto", "rows", "expand"):
            raise ConfigError(f"ruler: mode must be auto, rows or expand, not {mode!r}")
        self.per_language = per_language
        self.lengths = tuple(lengths)
        self.mode = mode

    @classmethod
    def from_arg(cls, arg: str) -> RulerTask:
        """``ruler:all`` -> every base sample; ``ruler:N`` -> the first N per language; ``ruler:rows``."""
        value = arg.strip().lower()
        if value == "all":
            return cls(per_language=None, mode="expand")
        if value == "rows":
            return cls(mode="rows")
        try:
            return cls(per_language=int(arg), mode="expand")
        except ValueError:
            raise ConfigError(
                f"--tasks ruler:{arg}: expected ruler:all, ruler:N (samples per language) or ruler:rows"
            ) from None

    def uses_rows(self, samples: Sequence[Sample]) -> bool:
        """Whether :meth:`select` takes ``samples`` row by row (rather than expanding base samples)."""
        if any(s.task == "ruler" for s in samples):
            return True
        return self.mode == "rows" or (self.mode == "auto" and is_ruler_shaped(samples))

    def base_samples(self, samples: Sequence[Sample]) -> list[Sample]:
        """The base samples in data-set order: the first ``per_language`` of each language."""
        taken: dict[str, int] = {}
        base = []
        for sample in samples:
            if self.per_language is not None and taken.get(sample.language, 0) >= self.per_language:
                continue
            taken[sample.language] = taken.get(sample.language, 0) + 1
            base.append(sample)
        return base

    def select(self, samples: Sequence[Sample]) -> list[Sample]:
        declared = [s for s in samples if s.task == "ruler"]
        if declared:
            return declared  # already ruler prompts: never expanded again
        if self.uses_rows(samples):
            return [as_ruler_row(s) for s in samples]
        out = []
        for base in self.base_samples(samples):
            for length in self.lengths:
                out.append(
                    replace(
                        base,
                        id=f"{base.id}@L{length}",
                        instruction=ruler_prompt(length, base.language),
                        required_length=length,
                        task="ruler",
                        metadata={**base.metadata, "base_id": base.id, "base_task": base.task},
                    )
                )
        return out

    def build_request(self, sample: Sample, config: GenerationConfig) -> Request:
        return sample_request(sample, config)
