"""The ``repetition`` judge: the share of a response's word 4-grams that repeat an earlier one.

A plugin of mmlw, registered through the ``mmlw.judges`` entry point (see pyproject.toml).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from mmlongbench_write import Judge, JudgeInput, Judgement, MetricSpec

N = 4
_WORD = re.compile(r"[\u4e00-\u9fff]|[A-Za-z]+")


def repeated_share(text: str, n: int = N) -> tuple[float, int]:
    """(100 x share of n-grams already seen earlier in ``text``, number of n-grams)."""
    words = [w.lower() for w in _WORD.findall(text)]
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0, 0
    seen: set[tuple[str, ...]] = set()
    repeats = 0
    for gram in grams:
        repeats += gram in seen
        seen.add(gram)
    return 100.0 * repeats / len(grams), len(grams)


class RepetitionJudge(Judge):
    """Repetition: 100 x the share of repeated word 4-grams (lower is better)."""

    name = "repetition"
    metrics = (
        MetricSpec("repetition", "repetition", "share of the response's word 4-grams that repeat an earlier one",
                   higher_is_better=False, lower=0.0, upper=100.0),
    )

    def identity(self) -> dict[str, object]:
        return {"judge": self.name, "n": N, "version": 1}

    def judge(self, items: Sequence[JudgeInput]) -> Iterator[Judgement]:
        for item in items:
            share, grams = repeated_share(item.response)
            yield Judgement(sample_id=item.sample.id, judge=self.name, score=share, identity=self.identity(),
                            details={"ngrams": grams, "n": N})
