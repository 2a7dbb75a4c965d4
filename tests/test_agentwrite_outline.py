"""Reading AgentWrite outlines: numbered multi-line blocks, one line per section, Chinese, word ranges."""

from __future__ import annotations

import pytest

from mmlongbench_write.training.outline import PlanError, WordTarget, chinese_number, parse_plan, word_target

# the shape the authors' planner template asks for, with detail lines under each header
MULTILINE = """Here is the outline for the essay.

Section 1 - Main Point: The harbour at dawn - Word Count: [200-1000 words]
- Describe the fishing boats in the first picture and the low light on the water
- Mention the crane on the left

Section 2 - Main Point: The market street
  Details: the stalls, the crowd, the sign that reads "Fresh fish"
  Word Count: 600 words

**Section 3 - Main Point: What the day means to the town**
* Tie the scenes together; see Section 1.2 of the notes for the names
* Word Count: about 1,200 words
"""


def test_numbered_blocks_keep_all_their_detail_lines() -> None:
    sections = parse_plan(MULTILINE)
    assert [s.number for s in sections] == [1, 2, 3]
    assert sections[0].outline == (
        "Section 1 - Main Point: The harbour at dawn - Word Count: [200-1000 words]\n"
        "- Describe the fishing boats in the first picture and the low light on the water\n"
        "- Mention the crane on the left")
    assert sections[1].outline == ("Section 2 - Main Point: The market street\n"
                                   '  Details: the stalls, the crowd, the sign that reads "Fresh fish"\n'
                                   "  Word Count: 600 words")
    # "Section 1.2" inside a detail line is not a header; the preamble belongs to no section
    assert sections[2].outline.endswith("* Word Count: about 1,200 words") and "Section 1.2" in sections[2].outline
    assert all("Here is the outline" not in s.outline for s in sections)
    assert [s.target for s in sections] == [WordTarget(200, 1000), WordTarget(600, 600), WordTarget(1200, 1200)]


def test_one_line_per_paragraph() -> None:
    plan = ("Paragraph 1 - Main Point: the scene and its colours - Word Count: 300 words\n\n"
            "Paragraph 2 - Main Point: the people in it - Word Count: 1,200 words\n"
            "Paragraph 3 - Main Point: what it means - Word Count: 500 words")
    sections = parse_plan(plan)
    assert [s.outline for s in sections] == plan.replace("\n\n", "\n").split("\n")
    assert [s.target.low if s.target else None for s in sections] == [300, 1200, 500]


def test_a_numbered_list_with_targets() -> None:
    plan = ("Outline:\n## 1. The harbour - 300 words\n   - the boats\n   1. the crane\n"
            "**2.** The market (400-600 words)\n   - the stalls\n")
    sections = parse_plan(plan)
    assert [(s.number, s.outline, s.target) for s in sections] == [
        (1, "## 1. The harbour - 300 words\n   - the boats\n   1. the crane", WordTarget(300, 300)),
        (2, "**2.** The market (400-600 words)\n   - the stalls", WordTarget(400, 600)),
    ]


def test_lines_with_word_targets_when_nothing_is_numbered() -> None:
    sections = parse_plan("Outline:\n* The harbour - 300 words\n  (boats, light)\n* The market, 400-600 words\nEnd")
    assert [(s.number, s.outline, s.target) for s in sections] == [
        (None, "* The harbour - 300 words", WordTarget(300, 300)),
        (None, "* The market, 400-600 words", WordTarget(400, 600)),
    ]
    # a numbered list whose items are not all sized is no outline: only the sized lines are read
    assert [s.outline for s in parse_plan("1. Intro\n   about 300 words\n2. End")] == ["about 300 words"]


def test_chinese_plans() -> None:
    plan = ("段落1 - 主要内容：港口的清晨，渔船和灯光 - 字数要求：500至800字\n"
            "段落2 - 主要内容：市场 - 字数：1,200字\n")
    sections = parse_plan(plan)
    assert [s.outline for s in sections] == plan.strip().split("\n")
    assert [s.target for s in sections] == [WordTarget(500, 800), WordTarget(1200, 1200)]
    ordinal = parse_plan("第一段：港口\n描写渔船\n约300字\n第十二部分：总结\n部分一些细节也要写\n")
    assert [(s.number, s.outline) for s in ordinal] == [
        (1, "第一段：港口\n描写渔船\n约300字"), (12, "第十二部分：总结\n部分一些细节也要写")]
    assert ordinal[0].target == WordTarget(300, 300) and ordinal[1].target is None


@pytest.mark.parametrize(("text", "expected"), [
    ("Word Count: [200-1000 words]", WordTarget(200, 1000)),
    ("Word Count: 1,200 words", WordTarget(1200, 1200)),
    ("word count - approximately 450", WordTarget(450, 450)),
    ("(300–500 words)", WordTarget(300, 500)),
    ("200 to 400 words", WordTarget(200, 400)),
    ("Word Count: 1,000-1,500 words", WordTarget(1000, 1500)),
    ("Word count: [1000-200 words]", WordTarget(200, 1000)),  # reversed range, kept as a range
    ("字数要求：500~800字", WordTarget(500, 800)),
    ("约600字", WordTarget(600, 600)),
    ("describe the 3 boats and 2 cranes", None),  # numbers that are no word count
    ("a lengthy description of 3 ships", None),
])
def test_word_targets(text: str, expected: WordTarget | None) -> None:
    assert word_target(text) == expected


def test_a_header_number_is_not_part_of_the_target() -> None:
    [section] = parse_plan("Section 1 - 400 words on the harbour")
    assert section.target == WordTarget(400, 400)  # not the range 1-400
    [untargeted] = parse_plan("Section 7: the ending, no length given")
    assert untargeted.number == 7 and untargeted.target is None
    assert untargeted.to_dict() == {"number": 7, "outline": "Section 7: the ending, no length given",
                                    "target": None}


def test_reasoning_is_dropped_before_reading() -> None:
    sections = parse_plan("<think>Section 9 - a draft idea - 50 words</think>\nSection 1 - Main Point: x - 300 words")
    assert [s.number for s in sections] == [1]


@pytest.mark.parametrize("reply", ["", "I cannot help with that.",
                                   "The pictures show a harbour at dawn.\n\nIt is calm.",
                                   "I cannot outline this, because:\n1. the images are blurry\n2. it is unclear"])
def test_an_outline_without_sections_is_an_error(reply: str) -> None:
    with pytest.raises(PlanError, match="no numbered sections"):
        parse_plan(reply)


@pytest.mark.parametrize(("text", "value"), [("3", 3), ("一", 1), ("十", 10), ("十二", 12), ("二十", 20),
                                              ("两", 2), ("三十四", 34), ("百", None)])
def test_chinese_numbers(text: str, value: int | None) -> None:
    assert chinese_number(text) == value
