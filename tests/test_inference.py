"""Task inference from EN/ZH keywords, L parsing from instructions, task-name normalisation, language."""

from __future__ import annotations

import pytest

from mmlongbench_write.data.inference import chinese_number, infer_task, normalize_task, parse_length
from mmlongbench_write.textstats import detect_language


@pytest.mark.parametrize(
    ("instruction", "task"),
    [
        ("Write a 2000-word lecture script for these slides.", "ppt_script"),
        ("Here is my PPT deck; prepare what I should say for each page.", "ppt_script"),
        ("请根据这些幻灯片写一篇讲稿。", "ppt_script"),
        ("根据课件写一篇演讲稿", "ppt_script"),
        ("Based on the PPT讲稿要求写作", "ppt_script"),
        ("Write a diagnostic report for this chest x-ray.", "medical_report"),
        ("Describe the findings of this MRI in detail.", "medical_report"),
        ("请根据这张CT片子写一份报告。", "medical_report"),
        ("请根据X光片写一份诊断报告。", "medical_report"),
        ("Plan a five-day itinerary from these photos.", "travel_guide"),
        ("写一篇三日旅游攻略。", "travel_guide"),
        ("根据照片安排行程", "travel_guide"),
        ("Write a story based on this comic strip.", "story_generation"),
        ("请观察这组漫画，写一个故事。", "story_generation"),
        ("Write a Xiaohongshu post about this landscape.", "scenery_copywriting"),
        ("Write social media copy for these scenery photos.", "scenery_copywriting"),
        ("为这张风景照写一段朋友圈文案。", "scenery_copywriting"),
        ("Write a film review of these stills.", "movie_review"),
        ("请根据这些剧照写一篇影评。", "movie_review"),
        ("谈谈这部电影", "movie_review"),
        # tricky: the genre asked for beats what the pictures show
        ("Write a travel guide based on these scenery photos.", "travel_guide"),
        ("Write a story about a trip to the mountains.", "story_generation"),
        ("Write a review of the movie shown in the comic-style poster.", "movie_review"),
        ("根据这些风景照写一篇旅游攻略。", "travel_guide"),
        ("用这组漫画写一篇小红书文案。", "scenery_copywriting"),
        ("Write a lecture script explaining these medical x-rays to students.", "ppt_script"),
        ("Write social media copy telling the story of this sunset.", "scenery_copywriting"),
        ("Tell a story about these film stills.", "story_generation"),
        # weak words only
        ("Write a report on these pictures.", "medical_report"),
        ("写一份报告", "medical_report"),
        ("Write a blog post.", "scenery_copywriting"),
        ("Write a guide.", "travel_guide"),
        # word boundaries: no false hits inside other words
        ("Describe the scene in the picture.", None),
        ("Write an essay about autumn.", None),
        ("Write an article about the factory (ACT 2).", None),
        ("写一篇关于秋天的散文。", None),
    ],
)
def test_infer_task(instruction: str, task: str | None) -> None:
    assert infer_task(instruction) == task


@pytest.mark.parametrize(
    ("instruction", "length"),
    [
        ("Write a 2200-word lecture script.", 2200),
        ("Write about 1,500 words.", 1500),
        ("Write 2000 words please", 2000),
        ("Write a 1,800-word essay", 1800),
        ("in no fewer than 3000 English words", 3000),
        ("Write 2k words", 2000),
        ("写一篇1600字的文章", 1600),
        ("写一篇1600 字左右的文章", 1600),
        ("写一篇2000个字的故事", 2000),
        ("写两千字", 2000),
        ("写一篇两千五百字的影评", 2500),
        ("三千个字的攻略", 3000),
        ("Write 1500-2000 words", 1750),
        ("写1500到2000字", 1750),
        ("字数：1200", 1200),
        ("word count: 900", 900),
        ("Write a 3-day guide of 2500 words, each day 800 words", 2500),
        ("Write a long essay.", None),
        ("Write 0 words", None),
        ("The focal length 50mm", None),
        ("Page 3 of 10", None),
    ],
)
def test_parse_length(instruction: str, length: int | None) -> None:
    assert parse_length(instruction) == length


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("两千", 2000),
        ("两千五百", 2500),
        ("三千", 3000),
        ("一千二百", 1200),
        ("八百", 800),
        ("一万", 10000),
        ("十", 10),
        ("二二", None),
    ],
)
def test_chinese_number(text: str, value: int | None) -> None:
    assert chinese_number(text) == value


@pytest.mark.parametrize(
    ("raw", "task"),
    [
        ("ppt_script", "ppt_script"),
        ("Movie Review", "movie_review"),
        ("travel-guide", "travel_guide"),
        ("PPT", "ppt_script"),
        ("story", "story_generation"),
        ("copywriting", "scenery_copywriting"),
        ("ruler", "ruler"),
        ("My Own Task", "my_own_task"),
    ],
)
def test_normalize_task(raw: str, task: str) -> None:
    assert normalize_task(raw) == task


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Write a story.", "en"),
        ("写一个故事。", "zh"),
        ("请根据这些PPT写一篇讲稿", "zh"),
        ("Use the 风景 photos", "en"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language
