"""Backtranslation: the appended length is the output's real word count; sampling is seeded."""

from __future__ import annotations

import json
from pathlib import Path

from fake_models import FakeJudgeModel

from mmlongbench_write.cli import main
from mmlongbench_write.data.inference import parse_length
from mmlongbench_write.schema import Request
from mmlongbench_write.textstats import word_count
from mmlongbench_write.training.backtranslate import BacktranslateReport, backtranslate_rows

EN = {"id": "en", "instruction": "Describe the photo.", "output": "A calm lake under grey clouds, " * 7}
ZH = {"id": "zh", "instruction": "描述这张照片。", "output": "湖面平静，远处是群山。" * 5}


def test_appends_real_word_count_en_and_zh() -> None:
    rows = backtranslate_rows([EN, ZH], fraction=1.0, seed=0)
    en, zh = rows
    assert en["required_length"] == word_count(EN["output"]) == 42
    assert en["instruction"].startswith("Describe the photo. ") and parse_length(en["instruction"]) == 42
    assert zh["required_length"] == word_count(ZH["output"])
    assert f"{zh['required_length']}字" in zh["instruction"] and zh["instruction"].startswith("描述这张照片。")
    assert en["original_instruction"] == "Describe the photo." and en["backtranslated"] is True


def test_fraction_and_seed_choose_a_reproducible_sample() -> None:
    rows = [{**EN, "id": str(i), "output": "word " * (i + 1)} for i in range(10)]
    a = backtranslate_rows(rows, fraction=0.3, seed=7)
    b = backtranslate_rows(rows, fraction=0.3, seed=7)
    picked = [r["id"] for r in a if r.get("backtranslated")]
    assert len(picked) == 3 and picked == [r["id"] for r in b if r.get("backtranslated")]
    for r in a:
        if r.get("backtranslated"):
            assert r["required_length"] == int(r["id"]) + 1
        else:
            assert r["instruction"] == "Describe the photo."
    assert len(a) == 10


def test_rephrasing_keeps_the_number_or_falls_back() -> None:
    def rephrase(request: Request) -> str:
        n = parse_length(request.messages[0].text) or 0
        return f"Please describe the photo in about {n} words."

    model = FakeJudgeModel(default=rephrase)
    report = BacktranslateReport()
    rows = backtranslate_rows([EN], rephraser=model, report=report)
    assert rows[0]["instruction"] == "Please describe the photo in about 42 words."
    assert report.rephrased == 1 and report.rephrase_fallbacks == 0
    bad = FakeJudgeModel(default="Describe the photo, at length.")
    report = BacktranslateReport()
    rows = backtranslate_rows([EN], rephraser=bad, report=report)
    assert parse_length(rows[0]["instruction"]) == 42 and report.rephrase_fallbacks == 1


def test_cli(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({**EN, "images": ["a.png"]}) + "\n")
    out = tmp_path / "sub" / "out.jsonl"
    main(["data", "backtranslate", "--input", str(src), "--output", str(out), "--fraction", "1", "--seed", "1"])
    row = json.loads(out.read_text())
    assert row["required_length"] == 42 and row["images"] == [str(tmp_path / "a.png")]
