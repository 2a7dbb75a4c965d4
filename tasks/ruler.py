"""LongWrite-V-Ruler: does the model follow the requested length? (DESIGN.md §1)

From any base set, each base sample's images are asked for an article of each length in
{500, 1000, 2000, 4000} ("Write a 2000-word article for these pictures." / "请根据这些图片写一篇2000字的
文章。"), sampled at temperature 0.9. As in the paper, the base is 4 English + 4 Chinese samples
(8 x 4 = 32 prompts): the first four of each language in data-set order. ``ruler:all`` takes every
base sample, ``ruler:N`` the first N per language. Derived ids are ``<base-id>@L<L>``.

A data set that is already expanded (its samples carry task ``ruler``) is used as it is.
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


@register_task(
    "ruler",
    "LongWrite-V-Ruler: 4 EN + 4 ZH samples x L in 500..4000, temperature 0.9 (ruler:all: every sample).",
)
class RulerTask(Task):
    """Length-following stress test; ``per_language=None`` expands every base sample."""

    name = "ruler"
    category = "ruler"
    description = "write an L-word article for the pictures, L in 500/1000/2000/4000"
    gen_overrides: dict[str, object] = {"temperature": 0.9}

    def __init__(self, per_language: int | None = 4, lengths: Sequence[int] = RULER_LENGTHS) -> None:
        if per_language is not None and per_language < 1:
            raise ConfigError(f"ruler: samples per language must be at least 1, got {per_language}")
        self.per_language = per_language
        self.lengths = tuple(lengths)

    @classmethod
    def from_arg(cls, arg: str) -> RulerTask:
        """``ruler:all`` -> every base sample; ``ruler:N`` -> the first N per language."""
        if arg.strip().lower() == "all":
            return cls(per_language=None)
        try:
            return cls(per_language=int(arg))
        except ValueError:
            raise ConfigError(f"--tasks ruler:{arg}: expected ruler:all or ruler:N (samples per language)") from None

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
        expanded = [s for s in samples if s.task == "ruler"]
        if expanded:
            return expanded
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
