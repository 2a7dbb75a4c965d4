"""Text statistics with the benchmark's reference definitions (docs/benchmark.md).

The word count is the one both LongWriter papers use: CJK unified ideographs (U+4E00..U+9FFF) count one
each, plus every maximal run of ASCII letters bounded by word boundaries. Digits, punctuation and other
scripts do not count. Results are only comparable with the paper's when this is matched exactly.
"""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u4e00-\u9fff]")
_ENGLISH_WORD = re.compile(r"\b[a-zA-Z]+\b")
_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)


def word_count(text: str) -> int:
    """Reference word count: CJK characters plus ``\\b[a-zA-Z]+\\b`` matches."""
    return len(_CJK.findall(text)) + len(_ENGLISH_WORD.findall(text))


def strip_think(text: str) -> str:
    """Remove closed ``<think>...</think>`` reasoning blocks before counting and judging.

    Only closed blocks go: an unclosed ``<think>`` may be a response that merely mentions the tag, and
    deleting everything after it would score a real answer as empty. :func:`has_unclosed_think` lets the
    run flag such outputs instead. The raw text is kept in the run; only what is counted and judged is
    stripped.
    """
    return _THINK_BLOCK.sub("", text).strip()


def has_unclosed_think(text: str) -> bool:
    """True when a ``<think>`` is left open after the closed blocks are removed (flagged in the row)."""
    return "<think>" in _THINK_BLOCK.sub("", text)


def detect_language(text: str) -> str:
    """``"zh"`` when CJK characters outnumber English words, else ``"en"``."""
    return "zh" if len(_CJK.findall(text)) > len(_ENGLISH_WORD.findall(text)) else "en"
