"""Filling in what a data set leaves out: the task (from keywords) and the required length ``L``.

The public copies of MMLongBench-Write and the ruler need not carry a task column, and a user's data
may state the length only in the instruction. Both are inferred here from English and Chinese text.

**Task rules** (:data:`TASK_RULES`) are tried top to bottom and the first match wins. They come in
three tiers so an instruction is classified by *what it asks to write* before *what the pictures
show*: "a travel guide from these scenery photos" is a travel guide, "a story about a trip" is a story.

1. genre of the output: lecture script / 演讲稿, diagnostic report / 诊断, travel guide / 攻略,
   copywriting / social-media post / 文案 / 小红书, review / 影评, story / 故事;
2. content of the images: slides / PPT / 幻灯片, x-ray / CT / MRI / 医学 / X光, movie / film / 电影,
   comic / 漫画, scenery / landscape / 风景, travel / trip / 旅游;
3. weak words: report / 报告 (medical), post / blog (scenery), guide / 指南 (travel).

A guess only *labels* a sample when it is reliable (see :func:`guess_task`); it never filters one out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mmlongbench_write.schema import BENCHMARK_TASKS

_I = re.IGNORECASE


def _en(*words: str) -> str:
    """An alternation of English words/phrases not glued to other Latin letters (CJK neighbours are fine)."""
    return r"(?<![A-Za-z])(?:" + "|".join(words) + r")(?![A-Za-z])"


#: (tier, task, pattern) in priority order; the first pattern found in the instruction decides the task.
TASK_RULES: tuple[tuple[int, str, re.Pattern[str]], ...] = tuple(
    (tier, task, re.compile(pattern, flags))
    for tier, task, pattern, flags in (
        # Tier 1: the genre asked for.
        (
            1, "ppt_script",
            _en(
                r"lecture scripts?",
                r"speech scripts?",
                r"presentation scripts?",
                r"speaker notes",
                r"lecture",
                r"talk track",
            ),
            _I,
        ),
        (1, "ppt_script", r"演讲稿|讲稿|讲解稿|演讲|宣讲稿|解说稿", 0),
        (
            1, "medical_report",
            _en(r"medical reports?", r"diagnostic reports?", r"radiology reports?", r"diagnos\w*", r"radiolog\w*"),
            _I,
        ),
        (1, "medical_report", r"诊断|医学报告|影像报告|病历", 0),
        (
            1, "travel_guide",
            _en(r"travel guides?", r"travel plans?", r"trip plans?", r"itinerar(?:y|ies)", r"travel blogs?"),
            _I,
        ),
        (1, "travel_guide", r"攻略|行程|旅行指南|旅游指南", 0),
        (
            1, "scenery_copywriting",
            _en(r"copywriting", r"copy", r"social[- ]media", r"xiaohongshu", r"instagram", r"wechat moments"),
            _I,
        ),
        (1, "scenery_copywriting", r"文案|朋友圈|小红书|种草", 0),
        (1, "movie_review", _en(r"movie reviews?", r"film reviews?", r"reviews?", r"critiques?"), _I),
        (1, "movie_review", r"影评|观后感|评论", 0),
        (1, "story_generation", _en(r"stor(?:y|ies)", r"tales?", r"narratives?", r"fairy tales?"), _I),
        (1, "story_generation", r"故事|小说|童话", 0),
        # Tier 2: what the images show.
        (2, "ppt_script", _en(r"slides?", r"ppt", r"powerpoint", r"presentation", r"deck"), _I),
        (2, "ppt_script", r"幻灯片|课件|PPT", _I),
        (2, "medical_report", _en(r"medical", r"x-rays?", r"xrays?", r"radiographs?", r"ultrasound", r"patients?"), _I),
        (2, "medical_report", _en(r"CT", r"MRI"), 0),
        (2, "medical_report", r"医学|医疗|X光|x光|影像|患者|病人|片子", 0),
        (2, "movie_review", _en(r"movies?", r"films?", r"cinema", r"stills?"), _I),
        (2, "movie_review", r"电影|影片|剧照", 0),
        (2, "story_generation", _en(r"comics?", r"manga", r"cartoons?", r"picture books?", r"comic strips?"), _I),
        (2, "story_generation", r"漫画|连环画|绘本", 0),
        (2, "scenery_copywriting", _en(r"scenery", r"landscapes?", r"sunsets?", r"sunrises?"), _I),
        (2, "scenery_copywriting", r"风景|景色|风光|美景", 0),
        (2, "travel_guide", _en(r"travel\w*", r"trips?", r"tours?", r"vacations?", r"holidays?", r"journeys?"), _I),
        (2, "travel_guide", r"旅游|旅行|游玩|出游", 0),
        # Tier 3: weak words.
        (3, "medical_report", _en(r"reports?"), _I),
        (3, "medical_report", r"报告", 0),
        (3, "scenery_copywriting", _en(r"posts?", r"blogs?"), _I),
        (3, "travel_guide", _en(r"guides?"), _I),
        (3, "travel_guide", r"指南", 0),
    )
)

#: Spellings of task names accepted in a data set's task column (after lower-casing, ``-``/space -> ``_``).
TASK_ALIASES: dict[str, str] = {
    "ppt": "ppt_script",
    "ppt_scripts": "ppt_script",
    "lecture_script": "ppt_script",
    "medical": "medical_report",
    "medical_reports": "medical_report",
    "travel": "travel_guide",
    "travel_guides": "travel_guide",
    "story": "story_generation",
    "stories": "story_generation",
    "scenery": "scenery_copywriting",
    "copywriting": "scenery_copywriting",
    "movie": "movie_review",
    "movie_reviews": "movie_review",
    "film_review": "movie_review",
}


@dataclass(frozen=True)
class TaskGuess:
    """What the keyword rules make of an instruction, and whether that is good enough to label a sample.

    ``task`` is the first rule's task (what :func:`infer_task` returns); ``tier`` the tier of that rule;
    ``rivals`` the other tasks matched by rules of the same tier. ``reliable`` is the rule of
    :func:`guess_task`; ``doubt`` says in words why a guess is not reliable (empty when it is).
    """

    task: str | None
    tier: int | None = None
    rivals: tuple[str, ...] = ()

    @property
    def doubt(self) -> str:
        if self.task is None:
            return "no task keyword"
        if self.tier == WEAK_TIER:
            return f"only a weak keyword for {self.task}"
        if self.rivals:
            return f"keywords of several tasks ({', '.join((self.task, *self.rivals))})"
        return ""

    @property
    def reliable(self) -> bool:
        return not self.doubt


#: The tier of the weak words: a match there alone never labels a sample.
WEAK_TIER = 3


def guess_task(instruction: str) -> TaskGuess:
    """Guess the task of an instruction and judge whether the guess is **reliable**.

    A guess is reliable when both hold:

    1. the strongest rule that matches is a genre (tier 1) or image-content (tier 2) rule, not a weak word;
    2. no rule of that same tier matches a *different* task (the guess does not hinge on rule order).

    A reliable guess labels the sample for the per-task tables; an unreliable one leaves it unlabelled
    (category ``custom``). A guess never decides whether a sample is evaluated.
    """
    first: tuple[int, str] | None = None
    rivals: list[str] = []
    for tier, task, pattern in TASK_RULES:
        if first is not None and tier != first[0]:
            break
        if not pattern.search(instruction):
            continue
        if first is None:
            first = (tier, task)
        elif task != first[1] and task not in rivals:
            rivals.append(task)
    if first is None:
        return TaskGuess(None)
    return TaskGuess(first[1], first[0], tuple(rivals))


def infer_task(instruction: str) -> str | None:
    """The MMLongBench-Write task an instruction asks for (first matching rule), or ``None``."""
    return guess_task(instruction).task


def normalize_task(value: str) -> str:
    """Canonical task id for a task column value: ``"Movie Review"`` -> ``"movie_review"``.

    Values that are neither a benchmark task nor an alias are returned normalized but otherwise kept
    (a user's own task name, reported with category ``custom``).
    """
    key = re.sub(r"[\s\-]+", "_", value.strip().lower())
    if key in BENCHMARK_TASKS or key == "ruler":
        return key
    return TASK_ALIASES.get(key, key)


_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_NUM = r"\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?"
_CN_NUM = r"[零〇一二两三四五六七八九十百千万]+"
_WORD = r"(?:english\s+)?words?"
_LENGTH_PATTERNS: tuple[re.Pattern[str], ...] = (
    # ranges: "1,500-2,000 words", "1500到2000字", "1500 to 2000 words" -> midpoint
    re.compile(rf"(?P<a>{_NUM})\s*(?:-|–|~|～|to|到|至)\s*(?P<b>{_NUM})\s*(?:-\s*)?(?:{_WORD}|个?字|个?词)", _I),
    # "2200-word", "1,500 words", "2000 words", "2k words"
    re.compile(rf"(?P<a>{_NUM})\s*(?P<k>k)?\s*(?:-\s*)?{_WORD}(?![A-Za-z])", _I),
    # "1600字", "1600 字", "1600个字", "2000词"
    re.compile(rf"(?P<a>{_NUM})\s*(?:个)?[字词]"),
    # "两千字", "两千五百字", "三千个字"
    re.compile(rf"(?P<cn>{_CN_NUM})\s*(?:个)?字"),
    # "word count: 2000", "字数：2000", "length of 1800"
    re.compile(rf"(?:word\s+count|length|字数)\s*(?:of|is|:|：|为|约|不少于|大约)\s*(?P<a>{_NUM})", _I),
)


def _to_int(text: str) -> int:
    return round(float(text.replace(",", "")))


def chinese_number(text: str) -> int | None:
    """Value of a simple Chinese numeral such as ``两千五百`` (2500) or ``三千`` (3000); ``None`` if malformed."""
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _CN_DIGITS:
            if digit is not None:
                return None  # two digits in a row ("二二") is not a numeral we read
            digit = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            unit = _CN_UNITS[ch]
            if unit == 10000:
                total = (total + section + (digit or 0)) * unit
                section = 0
            else:
                section += (1 if digit is None else digit) * unit
            digit = None
        else:
            return None
    value = total + section + (digit or 0)
    return value or None


def parse_length(instruction: str) -> int | None:
    """The required length stated in an instruction, or ``None``.

    Reads "2200-word", "1,500 words", "2k words", "1600字", "两千字"; a range ("1500-2000 words") gives
    its midpoint. The first statement in the text wins.
    """
    best: tuple[int, int] | None = None  # (position, value)
    for pattern in _LENGTH_PATTERNS:
        match = pattern.search(instruction)
        if match is None:
            continue
        groups = match.groupdict()
        if groups.get("cn"):
            value = chinese_number(groups["cn"])
            if value is None:
                continue
        else:
            value = _to_int(groups["a"])
            if groups.get("b"):
                value = round((value + _to_int(groups["b"])) / 2)
            if groups.get("k"):
                value = round(float(groups["a"].replace(",", "")) * 1000)
        if value <= 0:
            continue
        if best is None or match.start() < best[0]:
            best = (match.start(), value)
    return best[1] if best else None
