"""Splitting a lecture script into its slides' pages by the slide markers the model wrote.

A page starts at a line that is a slide marker (docs/annotate.md lists them):

* ``Slide N`` or ``Page N`` (any case; ``Slide No. N`` and ``Slide #N`` too);
* ``第N页`` / ``第N张`` (optionally followed by 幻灯片 or PPT; N in digits or Chinese numerals up to 99),
  ``幻灯片N`` / ``PPT N``;

optionally behind a Markdown heading (``## Slide 3``), in bold (``**Slide 3**``) or in brackets
(``[Slide 3]``, ``【第3页】``). A plain marker must end its line or be followed by a separator and a title
(``Slide 3: Runoff``, ``第3页：径流``), so a sentence such as "Page 3 shows ..." is not a marker; behind a
heading or bold, any title may follow. The markers must number the slides 1, 2, ..., N in order, N being
the number of slide images. Text before the first marker (a greeting) belongs to page 1; each page keeps
its marker line, so the pages joined again give back the script.
"""

from __future__ import annotations

import re

from mmlongbench_write.errors import MMLWError

_ZH_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_EN = r"(?:slide|page)[ \t]*(?:no\.?[ \t]*|\#[ \t]*)?(?P<en>\d{1,3})"
_ZH = r"第[ \t]*(?P<zh>\d{1,3}|[零一二两三四五六七八九十]{1,3})[ \t]*[页頁张張](?:[ \t]*(?:幻灯片|幻燈片|PPT))?"
_ZH_PREFIX = r"(?:幻灯片|幻燈片|PPT)[ \t]*(?P<zh2>\d{1,3})"
MARKER = re.compile(
    rf"^[ \t]*(?P<heading>\#{{1,6}}[ \t]*)?(?P<bold>\*\*|__)?[ \t]*[\[【(（]?[ \t]*"
    rf"(?:{_EN}|{_ZH}|{_ZH_PREFIX})[ \t]*[\]】)）]?(?P<rest>.*)$",
    re.IGNORECASE,
)
_SEPARATORS = tuple(":：.．、-–—|)）/")


class NoSlideMarkers(MMLWError):
    """A script whose slide markers are missing or do not number its slides 1..N."""


def chinese_number(text: str) -> int | None:
    """``"3"`` / ``"三"`` / ``"十二"`` / ``"二十"`` / ``"九十九"`` -> int; None for anything else."""
    if text.isdigit():
        return int(text)
    if "十" not in text:
        return _ZH_DIGITS.get(text) if len(text) == 1 else None
    tens, _, units = text.partition("十")
    if "十" in units:
        return None
    high = 1 if not tens else _ZH_DIGITS.get(tens)
    low = 0 if not units else _ZH_DIGITS.get(units)
    if high is None or low is None or len(tens) > 1 or len(units) > 1:
        return None
    return high * 10 + low


def marker_number(line: str) -> int | None:
    """The slide number when ``line`` is a slide marker (see the module docstring), else None."""
    match = MARKER.match(line)
    if not match:
        return None
    rest = match.group("rest").strip()
    if rest.startswith(("**", "__")):
        rest = rest[2:].strip()
    if not (match.group("heading") or match.group("bold") or not rest or rest.startswith(_SEPARATORS)):
        return None
    raw = match.group("en") or match.group("zh") or match.group("zh2")
    return chinese_number(raw) if raw else None


def split_pages(text: str, slides: int) -> list[str]:
    """The script's ``slides`` pages; :class:`NoSlideMarkers` (saying what is wrong) when it cannot."""
    lines = text.splitlines(keepends=True)
    starts = [(i, n) for i, line in enumerate(lines) if (n := marker_number(line)) is not None]
    if not starts:
        raise NoSlideMarkers("no slide markers (a line like 'Slide 1', '## Slide 1' or '第1页')")
    numbers = [n for _, n in starts]
    if numbers != list(range(1, len(numbers) + 1)):
        shown = ", ".join(map(str, numbers[:12])) + (", ..." if len(numbers) > 12 else "")
        raise NoSlideMarkers(f"slide markers number {shown}, not 1, 2, 3, ... in order")
    if len(numbers) != slides:
        raise NoSlideMarkers(f"{len(numbers)} slide markers for {slides} slide images")
    bounds = [i for i, _ in starts] + [len(lines)]
    pages = ["".join(lines[bounds[k]:bounds[k + 1]]).strip() for k in range(len(starts))]
    preamble = "".join(lines[:bounds[0]]).strip()
    if preamble:
        pages[0] = f"{preamble}\n\n{pages[0]}"
    return pages
