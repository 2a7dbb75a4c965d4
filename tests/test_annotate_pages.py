"""Slide markers: which lines start a page, and the refusals when a script does not mark its slides."""

from __future__ import annotations

import pytest

from mmlongbench_write.annotate.pages import NoSlideMarkers, chinese_number, marker_number, split_pages


@pytest.mark.parametrize("line, number", [
    ("Slide 1", 1), ("## Slide 2: Runoff", 2), ("### slide 3 Green roofs", 3), ("**Slide 4**", 4),
    ("**Slide 5:** Summary", 5), ("[Slide 6]", 6), ("Slide 7 — Rain gardens", 7), ("Slide No. 8", 8),
    ("Slide #9 - Pumps", 9), ("Page 10:", 10), ("  PAGE 11.", 11), ("Slide 12/20", 12),
    ("第1页", 1), ("第2页：光伏效应", 2), ("## 第三页 电池结构", 3), ("【第4页】", 4), ("第十二页：总结", 12),
    ("第二十页", 20), ("第5张幻灯片：效率", 5), ("幻灯片6", 6), ("PPT 7：应用", 7), ("**第八页**", 8),
])
def test_markers(line: str, number: int) -> None:
    assert marker_number(line) == number


@pytest.mark.parametrize("line", [
    "Page 3 shows the drains.", "Slides 3 and 4 go together", "As slide 2 showed, water flows.", "Slide",
    "在第3页我们看到", "这一页讲的是", "Slideshow 3", "<b>Slide 1</b>", "第十十页", "- Slide 2 is next",
])
def test_not_markers(line: str) -> None:
    assert marker_number(line) is None


def test_chinese_numbers() -> None:
    assert [chinese_number(t) for t in ["一", "十", "十一", "二十", "二十三", "九十九", "两", "7"]] == [
        1, 10, 11, 20, 23, 99, 2, 7]
    assert chinese_number("一百") is None and chinese_number("十二十") is None


def test_split_keeps_every_line_and_puts_the_greeting_on_page_1() -> None:
    script = ("Good morning, class.\n\n## Slide 1: Rain\nRain falls.\nSlide 2 is about runoff, as page 2 shows:\n"
              "\n## Slide 2: Runoff\nWater runs off.\n\n## Slide 3: Summary\nThanks.\n")
    pages = split_pages(script, 3)
    assert pages == ["Good morning, class.\n\n## Slide 1: Rain\nRain falls.\nSlide 2 is about runoff, as page 2 "
                     "shows:", "## Slide 2: Runoff\nWater runs off.", "## Slide 3: Summary\nThanks."]
    assert "\n\n".join(pages).split() == script.split()  # nothing lost, nothing added


def test_split_chinese() -> None:
    pages = split_pages("同学们好。\n第一页：什么是太阳能电池\n它把光变成电。\n第二页：原理\n光伏效应。", 2)
    assert pages == ["同学们好。\n\n第一页：什么是太阳能电池\n它把光变成电。", "第二页：原理\n光伏效应。"]


@pytest.mark.parametrize("script, slides, reason", [
    ("Just one long lecture without headings.", 3, "no slide markers"),
    ("Slide 1\na\nSlide 3\nb", 2, "number 1, 3"),
    ("Slide 1\na\nSlide 1\nb", 2, "number 1, 1"),
    ("Slide 2\na\nSlide 1\nb", 2, "number 2, 1"),
    ("Slide 1\na\nSlide 2\nb", 3, "2 slide markers for 3 slide images"),
])
def test_refusals_say_what_is_wrong(script: str, slides: int, reason: str) -> None:
    with pytest.raises(NoSlideMarkers, match=reason):
        split_pages(script, slides)
