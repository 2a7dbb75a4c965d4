"""The six MMLongBench-Write tasks (docs/benchmark.md), one registered class per task id.

Every task sends the sample as one user message: **all images first, in data-set order, then the
instruction text** — the layout of the Qwen2.5-VL / LongWriter-V chat examples, which the authors'
generation code follows. No system prompt is added: the instruction is the whole prompt.
"""

from __future__ import annotations

from collections.abc import Sequence

from mmlongbench_write.data.validation import task_declared
from mmlongbench_write.registry import register_task
from mmlongbench_write.schema import GenerationConfig, ImagePart, Message, Request, Sample

from .base import Task


def sample_request(sample: Sample, config: GenerationConfig, request_id: str | None = None) -> Request:
    """The benchmark's request for ``sample``: images, then the instruction, in one user message."""
    parts = [ImagePart(image) for image in sample.images]
    return Request(id=request_id or sample.id, messages=(Message.user(*parts, sample.instruction),), config=config)


class MMLongBenchTask(Task):
    """A task of MMLongBench-Write: the samples whose *declared* task is this task's id, asked as they are.

    A task guessed from keywords labels a sample for the per-task tables but never selects it: naming a
    task in ``--tasks`` keeps only samples whose data (or source) says they are that task.
    """

    def select(self, samples: Sequence[Sample]) -> list[Sample]:
        return [s for s in samples if s.task == self.name and task_declared(s)]

    def build_request(self, sample: Sample, config: GenerationConfig) -> Request:
        return sample_request(sample, config)


@register_task("ppt_script", "Lecture script read aloud from slide images.")
class PptScript(MMLongBenchTask):
    name = "ppt_script"
    category = "professional"
    description = "a lecture script read aloud from slide images"


@register_task("medical_report", "Diagnostic report from medical images such as x-rays.")
class MedicalReport(MMLongBenchTask):
    name = "medical_report"
    category = "professional"
    description = "a diagnostic report from medical images"


@register_task("travel_guide", "Multi-day travel guide from photos of places.")
class TravelGuide(MMLongBenchTask):
    name = "travel_guide"
    category = "professional"
    description = "a multi-day travel guide from photos of places"


@register_task("story_generation", "Story from a comic strip or image sequence.")
class StoryGeneration(MMLongBenchTask):
    name = "story_generation"
    category = "creative"
    description = "a story from a comic strip or image sequence"


@register_task("scenery_copywriting", "Social-media post / copy from scenery photos.")
class SceneryCopywriting(MMLongBenchTask):
    name = "scenery_copywriting"
    category = "creative"
    description = "a social-media post or copy from scenery photos"


@register_task("movie_review", "Review from classic movie scenes.")
class MovieReview(MMLongBenchTask):
    name = "movie_review"
    category = "creative"
    description = "a review from classic movie scenes"


#: The six task classes in the paper's order.
MMLONGBENCH_TASKS: tuple[type[MMLongBenchTask], ...] = (
    PptScript,
    MedicalReport,
    TravelGuide,
    StoryGeneration,
    SceneryCopywriting,
    MovieReview,
)
