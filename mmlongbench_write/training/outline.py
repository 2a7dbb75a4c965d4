"""Reading an AgentWrite outline: its numbered sections, each with all its lines, and their word targets.

Planners write outlines in two shapes, and both are read:

* numbered blocks — a header line ``Section N`` / ``Paragraph N`` / ``Part N`` (``段落N``, ``第N段``,
  ``第N部分``; markdown ``#``, ``*``, ``-`` or bold around it is fine) followed by any number of detail
  lines, up to the next header. The block is the section: the writer is given all of it.
* a top-level numbered list (``1. The harbour - 300 words`` and the indented lines under it), when
  there are no such headers and every item states a word target;
* else one line per section: every line that states a word target is a section.

A word target is a number or a range (``[200-1000 words]``, ``500至800字``), read after a ``Word Count`` /
``字数`` label when there is one, else from the first ``N words`` / ``N字`` in the section; a section
without one has no target (``None``), never a guessed one. Text before the first header (a title, "Here
is the outline:") belongs to no section. An outline with no sections at all raises :class:`PlanError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mmlongbench_write.textstats import strip_think

_CN_DIGITS = "零一二三四五六七八九"
_NUMBER = r"(?:\d+|[零一二三四五六七八九十百两]+)"
_END = r"(?=[\s:：\-–—.、)）*_]|$)"  # the number ends the label ("部分一些" is not a header)
# a header: optional markdown decoration, a section label and its number (not "Section 1.2", a sub-item)
_HEADER = re.compile(
    r"^[\s#>*_•+\-]*(?:"
    r"(?:section|paragraph|part)\s*(?P<en>\d+)(?![\d.]*\d)" + _END +
    r"|(?:段落|部分|章节)\s*(?P<cn>" + _NUMBER + r")" + _END +
    r"|第\s*(?P<ord>" + _NUMBER + r")\s*(?:段|部分|节|章)"
    r")",
    re.IGNORECASE,
)
# an item of a top-level numbered list ("1. The harbour", "## 2) The market", "**3.** ..."): not indented
_LIST_HEADER = re.compile(r"^(?:#{1,6}\s*)?(?:\*\*)?(?P<en>\d+)(?:\*\*)?[.)、](?!\d)")
_INT = r"\d{1,3}(?:,\d{3})+(?!\d)|\d+"
_AMOUNT = rf"(?P<low>{_INT})(?:\s*(?:-|–|—|~|～|to|至|到)\s*(?P<high>{_INT}))?"
# a label, then at most a short gap ("Word Count: [", "字数要求：约") before the amount
_LABELLED = re.compile(rf"(?:\bword\s*count|\bword\s*target|\btarget\s*length|\bwords?\s*[:：]|字数(?:要求)?|篇幅)"
                       rf"[^\d\n]{{0,24}}?{_AMOUNT}", re.IGNORECASE)
_UNLABELLED = re.compile(rf"{_AMOUNT}\s*(?:words?\b|字)", re.IGNORECASE)


class PlanError(ValueError):
    """The planner's reply names no section this module can read."""


@dataclass(frozen=True)
class WordTarget:
    """A section's planned length: ``low == high`` for a single number, else the range as written."""

    low: int
    high: int

    def to_dict(self) -> dict[str, int]:
        return {"low": self.low, "high": self.high}

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


@dataclass(frozen=True)
class Section:
    """One planned section: its whole text as the planner wrote it, its number and its word target."""

    outline: str
    number: int | None
    target: WordTarget | None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "outline": self.outline,
                "target": self.target.to_dict() if self.target else None}


def _to_int(text: str) -> int:
    return int(text.replace(",", ""))


def chinese_number(text: str) -> int | None:
    """``"3"`` -> 3, ``"十二"`` -> 12, ``"二十"`` -> 20 (outline numbers reach the tens at most)."""
    if text.isdigit():
        return int(text)
    text = text.replace("两", "二")
    if "百" in text:
        return None
    if "十" in text:
        tens, _, units = text.partition("十")
        if len(tens) > 1 or len(units) > 1:
            return None
        return (_CN_DIGITS.index(tens) if tens else 1) * 10 + (_CN_DIGITS.index(units) if units else 0)
    return _CN_DIGITS.index(text) if len(text) == 1 else None


def word_target(text: str) -> WordTarget | None:
    """The word target stated in ``text``: after a word-count label if any, else the first ``N words``."""
    match = _LABELLED.search(text) or _UNLABELLED.search(text)
    if match is None:
        return None
    low = _to_int(match.group("low"))
    high = _to_int(match.group("high")) if match.group("high") else low
    return WordTarget(min(low, high), max(low, high))


def _header_number(match: re.Match[str]) -> int | None:
    if match.group("en"):
        return int(match.group("en"))
    groups = match.groupdict()
    return chinese_number(groups.get("cn") or groups.get("ord") or "")


def _blocks(lines: list[str], header: re.Pattern[str]) -> list[tuple[int | None, str, int]]:
    """(number, block text, where the header's label ends) for every header and the lines under it."""
    blocks: list[tuple[int | None, list[str], int]] = []
    for line in lines:
        match = header.match(line)
        if match:
            blocks.append((_header_number(match), [line], match.end()))
        elif blocks:
            blocks[-1][1].append(line)
    out = []
    for number, body, label_end in blocks:
        text = "\n".join(body).rstrip()
        out.append((number, text.lstrip(), label_end - (len(text) - len(text.lstrip()))))
    return out


def _sections(blocks: list[tuple[int | None, str, int]]) -> list[Section]:
    # the target is read after the label, so "Section 1 - 400 words" is not the range 1-400
    return [Section(text, number, word_target(text[label_end:])) for number, text, label_end in blocks]


def parse_plan(plan: str) -> list[Section]:
    """The sections of an outline, in order (see the module docstring); :class:`PlanError` if none."""
    lines = strip_think(plan).splitlines()
    labelled = _sections(_blocks(lines, _HEADER))
    if labelled:
        return labelled
    # a bare numbered list is weaker evidence of an outline (a refusal can be one): every item needs a target
    listed = _sections(_blocks(lines, _LIST_HEADER))
    if listed and all(s.target for s in listed):
        return listed
    sections = [Section(line.strip(), int(m.group("en")) if (m := _LIST_HEADER.match(line.lstrip())) else None,
                        target)
                for line in lines if line.strip() and (target := word_target(line)) is not None]
    if not sections:
        raise PlanError("the plan has no numbered sections (Section N / Paragraph N / 段落N) and no line "
                        "with a word target")
    return sections
