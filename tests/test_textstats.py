"""Word count and S_l against the reference definitions of docs/benchmark.md."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmlongbench_write.judges.length import length_score
from mmlongbench_write.textstats import detect_language, has_unclosed_think, strip_think, word_count


def reference_count(text: str) -> int:
    """The definition verbatim: CJK chars in U+4E00..U+9FFF plus matches of \\b[a-zA-Z]+\\b."""
    return len(re.findall(r"[\u4e00-\u9fff]", text)) + len(re.findall(r"\b[a-zA-Z]+\b", text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("Hello world", 2),
        ("我爱北京天安门", 7),
        # Python's \b is Unicode-aware: CJK characters are word characters, so a Latin word glued to
        # them has no boundary and is not counted -- exactly what the authors' script does.
        ("我在Paris住了3天。", 5),
        ("我在 Paris 住了3天。", 6),
        ("2024 年 12 月", 2),
        ("1,500 words!!! ... ???", 1),
        ("GPT4o is 100% great", 2),  # GPT4o is one \w run with digits: no [a-zA-Z]+ bounded by \b
        ("Ünïcödé café naïve", 0),
        ("こんにちは 안녕하세요", 0),
        ("   \n\t ", 0),
    ],
)
def test_word_count_examples(text: str, expected: int) -> None:
    assert word_count(text) == reference_count(text) == expected


def test_apostrophes_and_hyphens_split_words() -> None:
    # \b sits between letters and punctuation, so "It's" is two words and "well-known" two.
    assert word_count("It's a well-known fact.") == 6


@given(st.text())
def test_word_count_matches_reference_on_any_text(text: str) -> None:
    assert word_count(text) == reference_count(text)


def test_strip_think_keeps_the_answer() -> None:
    raw = "<think>plan plan plan</think>\nThe answer is here."
    assert strip_think(raw) == "The answer is here."
    assert strip_think("no think block") == "no think block"
    assert word_count(strip_think("<think>a b c d</think>one two")) == 2
    assert not has_unclosed_think(raw)


def test_an_unclosed_think_tag_keeps_the_text_and_is_flagged() -> None:
    # A response that merely mentions the tag must not be scored as empty (it used to lose everything).
    raw = "Models such as R1 wrap reasoning in a <think> tag. " + "This essay explains why. " * 40
    assert strip_think(raw) == raw.strip()
    assert word_count(strip_think(raw)) == word_count(raw) == 169
    assert has_unclosed_think(raw)
    assert has_unclosed_think("<think>a</think> then <think> left open")
    assert strip_think("<think>a</think> then <think> left open") == "then <think> left open"


def test_detect_language() -> None:
    assert detect_language("请写一篇文章") == "zh"
    assert detect_language("Please write an essay") == "en"


@pytest.mark.parametrize(
    ("output", "required", "paper", "released"),
    [
        (1000, 1000, 100.0, 100.0),
        (2000, 1000, 100 * (1 - 1 / 3), 100 * (1 - 1 / 2)),  # twice as long
        (500, 1000, 100 * (1 - 1 / 2), 100 * (1 - 1 / 3)),  # half as long
        (4000, 1000, 0.0, 0.0),
        (250, 1000, 0.0, 0.0),
        (0, 1000, 0.0, 0.0),  # empty output floored at 2: 1000/2 - 1 huge -> 0
        (0, 0, 100.0, 100.0),  # both floored at 2
        (1, 2, 100.0, 100.0),
    ],
)
def test_length_score_formulas(output: int, required: int, paper: float, released: float) -> None:
    assert length_score(output, required) == pytest.approx(paper)
    assert length_score(output, required, "released") == pytest.approx(released)


def test_length_score_unknown_formula() -> None:
    with pytest.raises(ValueError, match="unknown length formula"):
        length_score(1, 1, "other")  # type: ignore[arg-type]


@given(st.integers(0, 100_000), st.integers(1, 100_000), st.sampled_from(["paper", "released"]))
def test_length_score_bounds(output: int, required: int, formula: str) -> None:
    score = length_score(output, required, formula)  # type: ignore[arg-type]
    assert 0.0 <= score <= 100.0
    assert (score == 100.0) == (max(2, output) == max(2, required))


@given(st.integers(2, 50_000), st.integers(0, 20_000), st.sampled_from(["paper", "released"]))
def test_length_score_monotone_away_from_target(required: int, delta: int, formula: str) -> None:
    """Moving further from L, in either direction, never raises the score."""
    f = formula  # type: ignore[assignment]
    over_near, over_far = length_score(required + delta, required, f), length_score(required + delta + 1, required, f)
    assert over_far <= over_near
    if delta + 1 < required:
        under_near = length_score(required - delta, required, f)
        under_far = length_score(required - delta - 1, required, f)
        assert under_far <= under_near


def test_over_length_is_punished_less_in_the_paper_formula() -> None:
    assert length_score(1500, 1000) > length_score(1500, 1000, "released")
    assert length_score(700, 1000) < length_score(700, 1000, "released")
