"""The judge protocol: scores responses, 0..100, one :class:`Judgement` per sample."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mmlongbench_write.metrics import MetricSpec
from mmlongbench_write.model_adapters.base import ModelSpec, RuntimeOptions
from mmlongbench_write.schema import JudgeInput, Judgement


class Judge(ABC):
    """Scores responses. A judge that needs a model gets a ``ModelAdapter`` — it never builds requests
    for a model behind the adapter's back, so any registered adapter can serve as a judge."""

    #: the name the judgement is stored under (``length``, ``quality``): ``scores.<name>`` in each row
    name: str = "judge"
    #: the metrics this judge's verdicts carry; the default is one metric named like the judge, 0..100,
    #: read from ``Judgement.score``. Override to declare another name, range or direction, or several.
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()

    @classmethod
    def declared_metrics(cls) -> tuple[MetricSpec, ...]:
        """The metrics of this judge (see :attr:`metrics`)."""
        return cls.metrics or (MetricSpec(cls.name, cls.name, (cls.__doc__ or "").strip().split("\n")[0]),)

    def metric_values(self, judgement: Judgement) -> dict[str, float | None]:
        """The values of the declared metrics in one verdict (all ``None`` for a failed verdict).

        The default reads ``Judgement.score`` for a single metric and ``Judgement.details["metrics"]``
        (a name -> number mapping) for judges declaring several.
        """
        specs = self.declared_metrics()
        if not judgement.ok:
            return {m.name: None for m in specs}
        if len(specs) == 1 and "metrics" not in judgement.details:
            return {specs[0].name: judgement.score}
        given = judgement.details.get("metrics") or {}
        return {m.name: given.get(m.name) for m in specs}

    @classmethod
    def from_options(cls, options: JudgeOptions) -> Judge:
        """Build the judge from run options; judges without options just ignore them."""
        return cls()

    def identity(self) -> dict[str, Any]:
        """What determines the verdicts (formula, judge model, prompt hash ...): stored in run.json."""
        return {"judge": self.name}

    @abstractmethod
    def judge(self, items: Sequence[JudgeInput]) -> Iterator[Judgement]:
        """Yield one judgement per item as soon as it is ready (any order)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the judge model, if any."""


@dataclass(frozen=True)
class JudgeOptions:
    """Everything a judge may be built from; judges take what they need (``Judge.from_options``)."""

    model: ModelSpec | None = None  # the judge model, for judges that use one
    prompt_file: str | None = None  # a user template replacing the built-in prompt
    samples: int = 1  # judge each response k times (judge reliability)
    seed: int | None = None
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    cache_mode: str = "readwrite"  # off|read|write|readwrite
    cache_dir: str | None = None  # default: mmlongbench_write.kvstore.default_cache_dir()
    protocol: str = "mmlw"  # mmlw | authors (part order, default attempts; mmlongbench_write.protocol)
    extra: dict[str, Any] = field(default_factory=dict)
