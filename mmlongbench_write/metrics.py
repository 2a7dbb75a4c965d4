"""What a run measures: the metrics its judges declare, and the benchmark's combined score S.

A judge declares the metrics it produces (:class:`MetricSpec`); the run records them in ``run.json`` and
``results.json``, and everything downstream — aggregation, leaderboard tables, the HTML report,
``mmlw compare`` — works over whatever metrics a run declares. A plugin judge therefore reaches every
table without any change to mmlw.

The benchmark's own metrics keep their exact definitions (docs/benchmark.md): ``S_l`` from the length
judge, ``S_q`` from the quality judge, and ``S = (S_l + S_q) / 2``, which no single judge produces; it is
declared here as a *combined* metric, present whenever both of its parts are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .errors import MMLWError

Aggregation = Literal["mean"]


@dataclass(frozen=True)
class MetricSpec:
    """One per-sample number a judge produces and how a run's samples combine into one value.

    Attributes:
        name: the metric's name in every table (``S_l``, ``S_q``, ``repetition``).
        judge: the name of the judge whose verdicts carry it (``"*"`` for the combined ``S``).
        description: one line for tables and ``mmlw judges``.
        higher_is_better: the direction of improvement (ranking and ``mmlw compare`` use it).
        lower, upper: the range a valid value lies in; a value outside it is refused when read.
        aggregate: how samples combine; ``mean`` (with a bootstrap CI) is the only rule today.
    """

    name: str
    judge: str
    description: str = ""
    higher_is_better: bool = True
    lower: float | None = 0.0
    upper: float | None = 100.0
    aggregate: Aggregation = "mean"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricSpec:
        try:
            spec = cls(
                name=str(data["name"]),
                judge=str(data["judge"]),
                description=str(data.get("description") or ""),
                higher_is_better=bool(data.get("higher_is_better", True)),
                lower=_opt_float(data.get("lower")),
                upper=_opt_float(data.get("upper")),
                aggregate=str(data.get("aggregate") or "mean"),  # type: ignore[arg-type]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MMLWError(f"metric declaration {dict(data)!r} is malformed ({exc})") from None
        if spec.aggregate != "mean":
            raise MMLWError(f"metric {spec.name!r}: unknown aggregation {spec.aggregate!r}")
        return spec

    def accepts(self, value: float) -> bool:
        """Whether ``value`` lies in the declared range (NaN never does)."""
        if value != value:  # NaN
            return False
        return (self.lower is None or value >= self.lower) and (self.upper is None or value <= self.upper)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


S_L = MetricSpec("S_l", "length", "length score: how close the word count is to the required length L")
S_Q = MetricSpec("S_q", "quality", "quality score: the LLM judge's six rubric dimensions mapped to 0..100")
#: The benchmark's headline score, combined from two judges' metrics (docs/benchmark.md).
S = MetricSpec("S", "*", "S = (S_l + S_q) / 2: the benchmark's overall score")
COMBINED_PARTS: dict[str, tuple[str, str]] = {"S": ("S_l", "S_q")}


def run_metrics(declared: Iterable[MetricSpec]) -> list[MetricSpec]:
    """The metrics of a run in table order: ``S`` first when both its parts are declared, then the rest.

    Two judges declaring the same metric name is refused: their numbers would overwrite each other.
    """
    specs: list[MetricSpec] = []
    seen: dict[str, str] = {}
    for spec in declared:
        if spec.name in seen:
            raise MMLWError(f"metric {spec.name!r} is declared by two judges ({seen[spec.name]}, {spec.judge})")
        seen[spec.name] = spec.judge
        specs.append(spec)
    names = {s.name for s in specs}
    combined = [S] if set(COMBINED_PARTS["S"]) <= names else []
    benchmark_order = {"S_l": 0, "S_q": 1}
    specs.sort(key=lambda s: benchmark_order.get(s.name, 2))  # stable: plugins keep their order
    return combined + specs


def metric_names(specs: Iterable[MetricSpec]) -> list[str]:
    return [s.name for s in specs]
