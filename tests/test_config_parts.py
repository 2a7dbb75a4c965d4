"""EvalConfig's typed parts: every field belongs to a concern, the flat API still works, parts round-trip."""

from __future__ import annotations

from dataclasses import fields

import pytest

from mmlongbench_write.config import (
    JUDGE_FIELDS,
    RUNTIME_FIELDS,
    EvalConfig,
    JudgingConfig,
    OutputsConfig,
    RuntimeConfig,
)
from mmlongbench_write.errors import ConfigError


def names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def test_every_field_belongs_to_a_part_and_only_shared_ones_to_two() -> None:
    flat = names(EvalConfig)
    outputs, judging, runtime = names(OutputsConfig), names(JudgingConfig), names(RuntimeConfig)
    assert flat == outputs | judging | runtime
    assert outputs & judging == {"protocol", "prompts_from", "seed"}  # they shape generations and verdicts
    assert not (runtime & (outputs | judging))
    assert RUNTIME_FIELDS == runtime and JUDGE_FIELDS == judging - outputs


def test_flat_keywords_and_parts_agree() -> None:
    config = EvalConfig(model="scripted", data="mini", tasks="ppt_script", output="somewhere", judges=["length"],
                        judge_model="gpt-4o-2024-08-06", concurrency=3, cache="off", max_cost=2.5)
    assert config.outputs.tasks == "ppt_script" and config.outputs.model == "scripted"
    assert config.judging.judges == ["length"] and config.judging.judge_model == "gpt-4o-2024-08-06"
    assert config.runtime.output == "somewhere" and config.runtime.concurrency == 3
    assert config.runtime.adapter_options().concurrency == 3
    again = EvalConfig.compose(config.outputs, config.judging, config.runtime)
    assert again == config and again.default_run_id() == config.default_run_id()


def test_runtime_and_judging_never_change_the_fingerprint() -> None:
    base = EvalConfig(model="scripted", data="mini")
    other = EvalConfig.compose(base.outputs, JudgingConfig(judge_model="x", judge_samples=3),
                               RuntimeConfig(output="elsewhere", concurrency=1, cache="off", max_cost=1.0))
    assert other.generation_fingerprint() == base.generation_fingerprint()
    changed = EvalConfig(model="scripted", data="mini", gen_kwargs={"temperature": 0.1})
    assert changed.generation_fingerprint() != base.generation_fingerprint()


def test_parts_validate_on_their_own() -> None:
    with pytest.raises(ConfigError, match="--cache must be one of"):
        RuntimeConfig(cache="sometimes")
    with pytest.raises(ConfigError, match="--judge-samples"):
        JudgingConfig(judge_samples=0)
    assert JudgingConfig.from_fields({"judges": ["quality"], "concurrency": 4}).judges == ["quality"]
