"""Golden snapshots of the exact judge requests: text, image order and settings.

A change to a prompt or to how a request is built shows up as a diff of ``tests/golden/*.json``.
Regenerate deliberately with ``MMLW_UPDATE_GOLDEN=1 pytest tests/test_judge_golden.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fake_models import FakeJudgeModel

from mmlongbench_write.judges.quality import QualityJudge
from mmlongbench_write.schema import ImageRef, JudgeInput, Sample

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, actual: dict[str, Any]) -> None:
    path = GOLDEN / name
    text = json.dumps(actual, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("MMLW_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
        pytest.skip(f"updated {path.name}")
    assert path.exists(), f"missing golden file {path}; run with MMLW_UPDATE_GOLDEN=1 to create it"
    assert json.loads(text) == json.loads(path.read_text(encoding="utf-8")), (
        f"judge request drifted from {path.name}; if intended, regenerate with MMLW_UPDATE_GOLDEN=1"
    )


def golden_item() -> JudgeInput:
    images = tuple(ImageRef.from_bytes(f"panel-{i}".encode(), f"panel{i}.png") for i in (1, 2, 3))
    sample = Sample(id="story_en_01", instruction="Write a 1,200-word story based on these three comic panels.",
                    images=images, required_length=1200, task="story_generation")
    return JudgeInput(sample=sample, response="Once upon a time, a cat found a map.\n\nThe end.")


def test_quality_request_golden() -> None:
    judge = QualityJudge(FakeJudgeModel(), cache_mode="off")
    check_golden("quality_request.json", judge.request_for(golden_item()).to_dict())


def test_quality_request_with_seed_and_samples_golden() -> None:
    from mmlongbench_write.schema import GenerationConfig

    judge = QualityJudge(FakeJudgeModel(), cache_mode="off", samples=2,
                         config=GenerationConfig(temperature=0.5, max_new_tokens=1024, seed=1234))
    requests = [judge.request_for(golden_item(), k, attempt).to_dict() for k in (0, 1) for attempt in (1, 2)]
    check_golden("quality_request_samples.json", {"requests": [
        {"id": r["id"], "config": r["config"], "parts": [p["type"] for p in r["messages"][0]["content"]]}
        for r in requests]})


def test_quality_request_custom_template_golden(tmp_path: Path) -> None:
    template = tmp_path / "custom.txt"
    template.write_text("Instruction:\n$INST$\n\nResponse:\n$RESPONSE$\n\nScore it as JSON.", encoding="utf-8")
    judge = QualityJudge(FakeJudgeModel(), cache_mode="off", prompt_file=str(template))
    check_golden("quality_request_custom.json", judge.request_for(golden_item()).to_dict())


def test_pairwise_request_golden() -> None:
    from mmlongbench_write.judges.pairwise import PairInput, PairwiseJudge

    judge = PairwiseJudge(FakeJudgeModel(), cache_mode="off")
    item = golden_item()
    pair = PairInput(sample=item.sample, response_a="Response of run A.", response_b="Response of run B.")
    check_golden("pairwise_request.json", {"order_ab": judge.request_for(pair, "ab").to_dict(),
                                           "order_ba": judge.request_for(pair, "ba").to_dict()})


def test_quality_request_authors_protocol_golden() -> None:
    """``--protocol authors``: the same prompt, the text before the images."""
    judge = QualityJudge(FakeJudgeModel(), cache_mode="off", protocol="authors")
    check_golden("quality_request_authors_protocol.json", judge.request_for(golden_item()).to_dict())
