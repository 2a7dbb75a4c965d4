"""``custom``: a user's own data set, every sample asked as it is (images first, then the instruction).

Use it for data without a task column whose instructions match none of the benchmark's tasks; such
samples are reported under category ``custom``.
"""

from __future__ import annotations

from collections.abc import Sequence

from mmlongbench_write.registry import register_task
from mmlongbench_write.schema import GenerationConfig, Request, Sample

from .base import Task
from .mmlongbench import sample_request


@register_task("custom", "Every sample of a user's data set, as it is (reported as category custom).")
class CustomTask(Task):
    name = "custom"
    category = "custom"
    description = "every sample of the data set, asked as it is"

    def select(self, samples: Sequence[Sample]) -> list[Sample]:
        return list(samples)

    def build_request(self, sample: Sample, config: GenerationConfig) -> Request:
        return sample_request(sample, config)
