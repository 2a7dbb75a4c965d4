"""The length judge: S_l, the piecewise length score of the paper (Eq. 6), and its released-script twin.

With l_v the output's word count and l_r the required length, both floored at 2:

* ``paper`` (default): over-length loses 1/3 per unit of relative excess, under-length 1/2 per unit
  of relative shortfall: ``100*max(0, 1-(l_v/l_r-1)/3)`` if ``l_v > l_r`` else
  ``100*max(0, 1-(l_r/l_v-1)/2)``.
* ``released``: the authors' evaluation script swaps the 3 and the 2 (over-length punished harder).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

from mmlongbench_write.metrics import S_L
from mmlongbench_write.registry import register_judge
from mmlongbench_write.schema import JudgeInput, Judgement
from mmlongbench_write.textstats import word_count

from .base import Judge

LengthFormula = Literal["paper", "released"]

#: (over-length divisor, under-length divisor) per formula
_DIVISORS: dict[str, tuple[float, float]] = {"paper": (3.0, 2.0), "released": (2.0, 3.0)}


def length_score(output_words: int, required_words: int, formula: LengthFormula = "paper") -> float:
    """S_l in 0..100 for an output of ``output_words`` against ``required_words``."""
    try:
        over, under = _DIVISORS[formula]
    except KeyError:
        raise ValueError(f"unknown length formula {formula!r}; use one of {sorted(_DIVISORS)}") from None
    l_v = max(2, output_words)
    l_r = max(2, required_words)
    if l_v > l_r:
        return 100.0 * max(0.0, 1.0 - (l_v / l_r - 1.0) / over)
    return 100.0 * max(0.0, 1.0 - (l_r / l_v - 1.0) / under)


@register_judge("length", "S_l with the paper's formula (Eq. 6): over-length /3, under-length /2")
class LengthJudge(Judge):
    """Scores how close the response's word count is to the required length."""

    name = "length"
    metrics = (S_L,)
    formula: LengthFormula = "paper"

    def identity(self) -> dict[str, Any]:
        return {"judge": self.name, "formula": self.formula}

    def judge(self, items: Sequence[JudgeInput]) -> Iterator[Judgement]:
        for item in items:
            count = word_count(item.response)
            yield Judgement(
                sample_id=item.sample.id,
                judge=self.name,
                score=length_score(count, item.sample.required_length, self.formula),
                identity=self.identity(),
                details={"word_count": count, "required_length": item.sample.required_length,
                         "formula": self.formula},
            )


@register_judge("length-released", "S_l with the authors' released script: over-length /2, under-length /3")
class ReleasedLengthJudge(LengthJudge):
    """The released-script variant, stored under the ``length`` slot with ``formula: released``."""

    formula = "released"
