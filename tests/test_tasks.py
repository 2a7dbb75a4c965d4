"""--tasks resolution, the six tasks, the ruler expansion, custom, and the request layout."""

from __future__ import annotations

import pytest

from mmlongbench_write import registry
from mmlongbench_write.data import load_samples
from mmlongbench_write.errors import ConfigError, PluginNotFound
from mmlongbench_write.schema import BENCHMARK_TASKS, GenerationConfig, ImagePart, ImageRef, Sample, TextPart
from mmlongbench_write.tasks.custom import CustomTask
from mmlongbench_write.tasks.ruler import RULER_LENGTHS, RulerTask, ruler_prompt
from mmlongbench_write.tasks.selection import resolve_tasks, select_all


@pytest.fixture(scope="module")
def mini_samples() -> list[Sample]:
    return load_samples("mini").samples


def names(spec: str) -> list[str]:
    return [t.name for t in resolve_tasks(spec)]


def test_groups_and_lists() -> None:
    assert names("all") == list(BENCHMARK_TASKS)
    assert names("professional") == ["ppt_script", "medical_report", "travel_guide"]
    assert names("creative") == ["story_generation", "scenery_copywriting", "movie_review"]
    assert names("movie_review, ppt_script") == ["movie_review", "ppt_script"]
    assert names("ppt_script,professional,ruler") == ["ppt_script", "medical_report", "travel_guide", "ruler"]
    assert names("custom") == ["custom"]
    assert names("ALL") == list(BENCHMARK_TASKS)


def test_registry_lists_tasks_with_categories() -> None:
    paper = {"ppt_script": "professional", "medical_report": "professional", "travel_guide": "professional",
             "story_generation": "creative", "scenery_copywriting": "creative", "movie_review": "creative"}
    assert {"ruler", "custom", *paper} <= set(registry.tasks.names())
    for task in resolve_tasks("all"):
        assert task.category == paper[task.name]
        assert registry.tasks.entry(task.name).description


def test_unknown_task_did_you_mean() -> None:
    with pytest.raises(PluginNotFound, match="did you mean 'ppt_script'"):
        resolve_tasks("ppt_scrpt")
    with pytest.raises(ConfigError, match="empty"):
        resolve_tasks(" , ")


def test_task_arguments() -> None:
    (every,) = resolve_tasks("ruler:all")
    assert isinstance(every, RulerTask) and every.per_language is None
    assert resolve_tasks("ruler:2")[0].per_language == 2  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="ruler:all, ruler:N"):
        resolve_tasks("ruler:many")
    with pytest.raises(ConfigError, match="at least 1"):
        resolve_tasks("ruler:0")
    with pytest.raises(ConfigError, match="takes no argument"):
        resolve_tasks("ppt_script:3")


def test_each_task_selects_its_samples(mini_samples: list[Sample]) -> None:
    for task in resolve_tasks("all"):
        selected = task.select(mini_samples)
        assert [s.task for s in selected] == [task.name, task.name]
        assert {s.language for s in selected} == {"en", "zh"}


def test_ruler_expansion(mini_samples: list[Sample]) -> None:
    (ruler,) = resolve_tasks("ruler")
    assert ruler.gen_overrides == {"temperature": 0.9} and ruler.category == "ruler"
    prompts = ruler.select(mini_samples)
    assert len(prompts) == 32
    bases = list(dict.fromkeys(p.metadata["base_id"] for p in prompts))
    en = [s.id for s in mini_samples if s.language == "en"][:4]
    zh = [s.id for s in mini_samples if s.language == "zh"][:4]
    assert sorted(bases) == sorted(en + zh)
    by_id = {s.id: s for s in mini_samples}
    for p in prompts:
        base = by_id[p.metadata["base_id"]]
        assert p.id == f"{base.id}@L{p.required_length}"
        assert p.required_length in RULER_LENGTHS
        assert p.task == "ruler" and p.category == "ruler" and p.language == base.language
        assert p.images == base.images
    assert [p.required_length for p in prompts[:4]] == [500, 1000, 2000, 4000]
    assert len({p.id for p in prompts}) == 32


def test_ruler_prompts_golden() -> None:
    assert ruler_prompt(500, "en") == "Write a 500-word article for these pictures."
    assert ruler_prompt(4000, "zh") == "请根据这些图片写一篇4000字的文章。"


def test_ruler_all_and_already_expanded(mini_samples: list[Sample]) -> None:
    assert len(RulerTask(per_language=None).select(mini_samples)) == 12 * 4
    assert len(RulerTask(per_language=1).select(mini_samples)) == 2 * 4
    expanded = RulerTask().select(mini_samples)
    assert RulerTask().select(expanded) == expanded  # a pre-expanded ruler set is taken as it is


def test_custom_takes_everything(mini_samples: list[Sample]) -> None:
    plain = Sample(id="c1", instruction="Write an essay of 500 words.", images=(), required_length=500)
    assert plain.category == "custom"
    assert CustomTask().select([*mini_samples, plain])[-1] is plain
    assert Sample(id="c2", instruction="x", images=(), required_length=5, task="my_task").category == "custom"


def test_request_layout_images_first_then_instruction(mini_samples: list[Sample]) -> None:
    config = GenerationConfig(temperature=0.6, top_p=0.95, max_new_tokens=64)
    for task in resolve_tasks("all,ruler,custom"):
        for sample in task.select(mini_samples)[:2]:
            request = task.build_request(sample, config)
            assert request.id == sample.id and request.config == config
            (message,) = request.messages
            assert message.role == "user"
            *image_parts, text_part = message.content
            assert all(isinstance(p, ImagePart) for p in image_parts)
            assert isinstance(text_part, TextPart) and text_part.text == sample.instruction
            assert request.images == sample.images


def test_request_without_images() -> None:
    sample = Sample(id="t", instruction="Write 100 words.", images=(), required_length=100)
    request = CustomTask().build_request(sample, GenerationConfig())
    assert request.to_dict()["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Write 100 words."}]}
    ]


def test_request_snapshot_hashes_not_bytes() -> None:
    image = ImageRef.from_bytes(b"\x89PNG fake", "a.png")
    sample = Sample(id="s", instruction="Describe.", images=(image,), required_length=10, task="ppt_script")
    (task,) = resolve_tasks("ppt_script")
    assert task.build_request(sample, GenerationConfig(seed=1)).to_dict() == {
        "id": "s",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "sha256": image.sha256, "source": "a.png", "media_type": "image/png"},
                    {"type": "text", "text": "Describe."},
                ],
            }
        ],
        "config": {"seed": 1},
    }


def test_select_all_pairs_and_dedupes(mini_samples: list[Sample]) -> None:
    pairs = select_all(resolve_tasks("all,custom"), mini_samples)
    assert len(pairs) == 12 and all(task.name == sample.task for task, sample in pairs)
    pairs = select_all(resolve_tasks("professional,ruler"), mini_samples)
    assert len(pairs) == 6 + 32


def test_a_plugin_task_reports_under_the_category_it_declares() -> None:
    """A sample's category comes from its task's class, so a registered plugin task brings its own."""
    from mmlongbench_write.registry import register_task, task_category, tasks

    class PoetryTask(CustomTask):
        name = "poetry_from_paintings"
        category = "creative"

    register_task("poetry_from_paintings", "Poems about paintings.")(PoetryTask)
    try:
        task_category.cache_clear()
        sample = Sample(id="p1", instruction="Write a 300-word poem.", images=(), required_length=300,
                        task="poetry_from_paintings")
        assert sample.category == "creative"
        assert Sample(id="p2", instruction="x", images=(), required_length=3, task="my_label").category == "custom"
    finally:
        tasks._entries.pop("poetry_from_paintings", None)
        task_category.cache_clear()
