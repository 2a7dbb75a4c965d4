"""The run format: typed records for ``run.json``, ``samples.jsonl`` and ``results.json`` (docs/run-format.md).

One writer and one reader per record, here: every record has ``to_json()`` (what is written) and
``from_json(data, where)`` (what is read, validated field by field, one error line naming the file and
field). Everything that writes runs (the runner, ``mmlw score``, ``mmlw merge``, the tests' run builder)
and everything that reads them (leaderboard, report, plots, ``compare``, pairwise, W&B) goes through
these types, so a format drift fails loudly instead of showing a wrong number.

Versions: files carry ``format_version``. Version 1 (no field; mmlw 0.1 before the open score format) is
upgraded when read; a version newer than :data:`FORMAT_VERSION` is refused with one line.

Open scores: each sample row carries every judge's verdict under ``scores.<judge name>`` (value, error,
per-metric values, details). The long-documented flat fields (``length_score``, ``quality_score``,
``judge_error`` ...) are still written, derived from ``scores``, so users' scripts keep working.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .fields import Fields, RunFormatError, finite_number
from .metrics import MetricSpec
from .schema import Usage, length_bin

FORMAT_VERSION = 2
#: Status of a run: ``running`` while a session holds it, then ``complete``, ``incomplete`` or ``stopped``.
STATUSES = ("running", "complete", "incomplete", "stopped")


def check_version(data: Mapping[str, Any], where: str) -> int:
    """The record's format version (1 when absent); a newer version than this mmlw knows is refused."""
    version = data.get("format_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RunFormatError(f"{where}: format_version must be a positive integer, found {version!r}")
    if version > FORMAT_VERSION:
        raise RunFormatError(
            f"{where}: written by a newer mmlw (run format {version}; this mmlw reads up to {FORMAT_VERSION}) "
            "— upgrade mmlongbench-write to read it"
        )
    return version


def _usage(value: Any, where: str) -> Usage:
    f = Fields(value if value is not None else {}, where)
    return Usage(f.int("input_tokens", 0), f.int("output_tokens", 0))


@dataclass(frozen=True)
class ImageInfo:
    """An input image as runs record it: its hash, where it came from, its media type (never bytes)."""

    sha256: str
    source: str
    media_type: str = "image/png"

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "source": self.source, "media_type": self.media_type}

    @classmethod
    def from_json(cls, data: Any, where: str) -> ImageInfo:
        f = Fields(data, where)
        return cls(f.str("sha256", required=True), f.str("source", ""), f.str("media_type", "image/png"))


@dataclass(frozen=True)
class JudgeScore:
    """One judge's verdict on one sample, as a row stores it under ``scores.<judge>``.

    ``value`` is the judge's primary metric (None when it failed; ``error`` says why); ``metrics`` holds
    every declared metric's value; ``details`` whatever the judge reports beside (the quality judge's
    dimension scores and analysis, the length judge's word count and formula).
    """

    value: float | None
    error: str | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None and self.value is not None

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "error": self.error, "metrics": dict(self.metrics), "attempts": self.attempts,
                "details": dict(self.details)}

    @classmethod
    def from_json(cls, data: Any, where: str) -> JudgeScore:
        f = Fields(data, where)
        metrics: dict[str, float | None] = {}
        for name, value in f.dict("metrics").items():
            number = finite_number(value)
            if value is not None and number is None:
                raise RunFormatError(f"{where}: metric {name!r} must be a finite number or null, found {value!r}")
            metrics[str(name)] = number
        return cls(value=f.opt_float("value"), error=f.opt_str("error"), metrics=metrics, details=f.dict("details"),
                   attempts=f.int("attempts", 1))


@dataclass(frozen=True)
class SampleRow:
    """One line of ``samples.jsonl``: the sample, what the model wrote, and every judge's verdict."""

    id: str
    task: str | None
    category: str
    language: str
    required_length: int
    instruction: str
    images: tuple[ImageInfo, ...]
    prediction: str | None
    response: str | None
    word_count: int | None
    scores: dict[str, JudgeScore]
    finish_reason: str | None
    error: str | None
    usage: Usage = field(default_factory=Usage)
    judge_usage: Usage = field(default_factory=Usage)
    latency_s: float | None = None
    model_snapshot: str | None = None
    cached: bool = False
    think_unclosed: bool = False
    quality_judge: dict[str, Any] | None = None

    # -- the documented flat fields, derived from ``scores`` --------------------------------------------
    @property
    def length_bin(self) -> str:
        return length_bin(self.required_length)

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

    @property
    def generated(self) -> bool:
        return self.error is None and self.prediction is not None

    def _score(self, judge: str) -> JudgeScore | None:
        return self.scores.get(judge)

    @property
    def length_score(self) -> float | None:
        s = self._score("length")
        return s.value if s and s.ok else None

    @property
    def quality_score(self) -> float | None:
        s = self._score("quality")
        return s.value if s and s.ok else None

    @property
    def judge_error(self) -> str | None:
        s = self._score("quality")
        return s.error if s and not s.ok else None

    @property
    def score(self) -> float | None:
        """S = (S_l + S_q) / 2 when both exist."""
        s_l, s_q = self.length_score, self.quality_score
        return (s_l + s_q) / 2 if s_l is not None and s_q is not None else None

    def metric_values(self) -> dict[str, float | None]:
        """Every metric this row's verdicts carry (failed verdicts give None), plus the combined ``S``."""
        values: dict[str, float | None] = {}
        for verdict in self.scores.values():
            values.update(verdict.metrics if verdict.ok else {k: None for k in verdict.metrics})
        values["S"] = self.score
        return values

    def to_json(self) -> dict[str, Any]:
        length = self._score("length")
        quality = self._score("quality")
        row: dict[str, Any] = {
            "id": self.id,
            "task": self.task,
            "category": self.category,
            "language": self.language,
            "required_length": self.required_length,
            "length_bin": self.length_bin,
            "instruction": self.instruction,
            "images": [img.to_json() for img in self.images],
            "prediction": self.prediction,
            "response": self.response,
            "word_count": self.word_count,
            "think_unclosed": self.think_unclosed,
            "length_score": self.length_score,
            "length_formula": (length.details.get("formula") if length else None),
            "quality_scores": (quality.details.get("dimensions") if quality and quality.ok else None),
            "quality_score": self.quality_score,
            "judge_error": self.judge_error,
            "quality_judge": self.quality_judge,
            "judge_attempts": quality.attempts if quality else None,
            "judge_analysis": quality.details.get("analysis") if quality else None,
            "score": self.score,
            "scores": {name: verdict.to_json() for name, verdict in self.scores.items()},
            "finish_reason": self.finish_reason,
            "truncated": self.truncated,
            "error": self.error,
            "usage": self.usage.to_dict(),
            "judge_usage": self.judge_usage.to_dict(),
            "latency_s": self.latency_s,
            "model_snapshot": self.model_snapshot,
            "cached": self.cached,
        }
        return row

    @classmethod
    def from_json(cls, data: Any, where: str, version: int = FORMAT_VERSION) -> SampleRow:
        f = Fields(data, where)
        required = f.int("required_length")
        if required < 0:
            raise RunFormatError(f"{where}: field 'required_length' must not be negative, found {required}")
        if version >= 2 or f.has("scores"):
            scores = {str(name): JudgeScore.from_json(value, f"{where}, scores.{name}")
                      for name, value in f.dict("scores").items()}
        else:
            scores = _v1_scores(f)
        images = tuple(ImageInfo.from_json(img, f"{where}, images[{i}]") for i, img in enumerate(f.list("images")))
        return cls(
            id=f.str("id", required=True),
            task=f.opt_str("task"),
            category=f.str("category", "custom"),
            language=f.str("language", "en"),
            required_length=required,
            instruction=f.str("instruction", ""),
            images=images,
            prediction=f.opt_str("prediction"),
            response=f.opt_str("response"),
            word_count=f.opt_int("word_count"),
            scores=scores,
            finish_reason=f.opt_str("finish_reason"),
            error=f.opt_str("error"),
            usage=_usage(data.get("usage"), f"{where}, usage"),
            judge_usage=_usage(data.get("judge_usage"), f"{where}, judge_usage"),
            latency_s=f.opt_float("latency_s"),
            model_snapshot=f.opt_str("model_snapshot"),
            cached=f.bool("cached"),
            think_unclosed=f.bool("think_unclosed"),
            quality_judge=f.opt_dict("quality_judge"),
        )


def _v1_scores(f: Fields) -> dict[str, JudgeScore]:
    """Rows of format 1 had only the flat length/quality fields: rebuild ``scores`` from them."""
    scores: dict[str, JudgeScore] = {}
    s_l = f.opt_float("length_score")
    if s_l is not None or f.has("length_formula"):
        scores["length"] = JudgeScore(value=s_l, metrics={"S_l": s_l},
                                      details={"formula": f.opt_str("length_formula") or "paper"})
    s_q = f.opt_float("quality_score")
    judge_error = f.opt_str("judge_error")
    if s_q is not None or judge_error is not None:
        details: dict[str, Any] = {"dimensions": f.opt_dict("quality_scores"), "analysis": f.opt_str("judge_analysis")}
        scores["quality"] = JudgeScore(value=None if judge_error else s_q, error=judge_error,
                                       metrics={"S_q": None if judge_error else s_q}, details=details,
                                       attempts=f.int("judge_attempts", 1))
    return scores


def check_row_metrics(row: SampleRow, specs: Sequence[MetricSpec], where: str) -> None:
    """Refuse a row whose metric values lie outside their declared ranges (a tampered or corrupt run)."""
    by_name = {s.name: s for s in specs}
    for judge, verdict in row.scores.items():
        for name, value in verdict.metrics.items():
            spec = by_name.get(name)
            if value is not None and spec is not None and not spec.accepts(value):
                raise RunFormatError(
                    f"{where}: scores.{judge} metric {name} = {value} lies outside its range "
                    f"[{spec.lower}, {spec.upper}]"
                )


@dataclass(frozen=True)
class RunMeta:
    """``run.json``: what the run is (config, model, judges, data, versions) and where it stands.

    ``session_id`` changes with every session that writes the run; ``results.json`` names the session and
    the ``samples.jsonl`` it summarises, so a reader can tell a finished run from an interrupted one.
    """

    run_id: str
    status: str
    data: dict[str, Any]  # every other field, as written (config, model, judges, dataset, versions, ...)
    format_version: int = FORMAT_VERSION
    session_id: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def label(self) -> str:
        found = self.data.get("model")
        model: dict[str, Any] = found if isinstance(found, dict) else {}
        return str(self.data.get("label") or model.get("preset") or model.get("model") or self.run_id)

    @property
    def judges(self) -> dict[str, dict[str, Any]]:
        judges = self.data.get("judges")
        return {str(k): v for k, v in judges.items() if isinstance(v, dict)} if isinstance(judges, dict) else {}

    @property
    def metrics(self) -> list[MetricSpec]:
        return [MetricSpec.from_dict(m) for m in self.data.get("metrics") or [] if isinstance(m, dict)]

    @property
    def dataset(self) -> dict[str, Any]:
        value = self.data.get("dataset")
        return value if isinstance(value, dict) else {}

    @property
    def config(self) -> dict[str, Any]:
        value = self.data.get("config")
        return value if isinstance(value, dict) else {}

    def to_json(self) -> dict[str, Any]:
        return {"format_version": self.format_version, "run_id": self.run_id, "status": self.status,
                "session_id": self.session_id, **{k: v for k, v in self.data.items()
                                                  if k not in {"format_version", "run_id", "status", "session_id"}}}

    @classmethod
    def from_json(cls, data: Any, where: str) -> RunMeta:
        f = Fields(data, where)
        version = check_version(f.data, where)
        status = f.str("status", "incomplete" if version == 1 else "running")
        if status not in STATUSES:
            raise RunFormatError(f"{where}: field 'status' must be one of {', '.join(STATUSES)}, found {status!r}")
        for name in ("config", "model", "judges", "dataset"):
            f.dict(name)  # type-checked here so readers never meet a list where an object belongs
        f.list("metrics")
        meta = cls(run_id=f.str("run_id", ""), status=status, data=dict(f.data), format_version=version,
                   session_id=f.opt_str("session_id"))
        meta.metrics  # noqa: B018 - validates each declaration
        return meta


@dataclass(frozen=True)
class SummaryOf:
    """What a ``results.json`` summarises: the session and the exact ``samples.jsonl`` (hash, rows)."""

    session_id: str | None
    samples_sha256: str
    n_rows: int

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "samples_sha256": self.samples_sha256, "n_rows": self.n_rows}

    @classmethod
    def from_json(cls, data: Any, where: str) -> SummaryOf:
        f = Fields(data, where)
        return cls(f.opt_str("session_id"), f.str("samples_sha256", required=True), f.int("n_rows"))


@dataclass(frozen=True)
class Results:
    """``results.json``: the run's aggregate scores over its declared metrics, counts and cost.

    ``scores`` is the aggregate (docs/run-format.md): ``overall`` and ``by_length_bin``/``by_task``/
    ``by_category``/``by_language`` groups, each mapping every metric name to ``{"mean", "ci95", "n"}``
    beside its counts. ``data`` holds the rest as written (run identity, totals, cost).
    """

    scores: dict[str, Any]
    metrics: tuple[MetricSpec, ...]
    summary_of: SummaryOf | None
    data: dict[str, Any]
    format_version: int = FORMAT_VERSION

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def to_json(self) -> dict[str, Any]:
        out = {"format_version": self.format_version, **self.data,
               "metrics": [m.to_dict() for m in self.metrics], "scores": self.scores}
        if self.summary_of is not None:
            out["summary_of"] = self.summary_of.to_json()
        return out

    @classmethod
    def from_json(cls, data: Any, where: str) -> Results:
        f = Fields(data, where)
        version = check_version(f.data, where)
        scores = f.dict("scores")
        overall = Fields(scores.get("overall"), f"{where}, scores.overall")
        for group in ("by_length_bin", "by_task", "by_category", "by_language"):
            for key, block in Fields(scores, f"{where}, scores").dict(group).items():
                Fields(block, f"{where}, scores.{group}.{key}")
        metrics = tuple(MetricSpec.from_dict(Fields(m, f"{where}, metrics[{i}]").data)
                        for i, m in enumerate(f.list("metrics")))
        for name, value in overall.data.items():
            if isinstance(value, dict) and "mean" in value:
                stat = Fields(value, f"{where}, scores.overall.{name}")
                stat.opt_float("mean")
                stat.int("n", 0)
        for name in f.data:
            if name.startswith("n_"):
                f.int(name)  # counts are integers; anything else is a damaged or tampered file
        summary = SummaryOf.from_json(f.data["summary_of"], f"{where}, summary_of") if f.has("summary_of") else None
        rest = {k: v for k, v in f.data.items() if k not in {"format_version", "metrics", "scores", "summary_of"}}
        return cls(scores=scores, metrics=metrics, summary_of=summary, data=rest, format_version=version)


def rows_from_json(lines: Iterable[tuple[int, Any]], where: str, version: int) -> list[SampleRow]:
    """Parse ``(line number, object)`` pairs of a ``samples.jsonl``; duplicate ids are refused."""
    rows: list[SampleRow] = []
    seen: set[str] = set()
    for number, data in lines:
        row = SampleRow.from_json(data, f"{where} line {number}", version)
        if row.id in seen:
            raise RunFormatError(f"{where} line {number}: sample id {row.id!r} appears twice")
        seen.add(row.id)
        rows.append(row)
    return rows
