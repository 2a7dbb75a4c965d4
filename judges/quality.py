"""The LLM quality judge: S_q from a six-dimension rubric, scored by a judge model that sees the images.

The request (one user message): every input image of the sample, in sample order, then the prompt text
(the text first under ``--protocol authors``) — the built-in template (``prompts/quality.txt``) or the
user's ``--judge-prompt FILE`` — with the placeholders substituted verbatim, in one pass:

* ``$INST$`` -> the instruction the model was given,
* ``$RESPONSE$`` -> the response being judged (``<think>`` blocks already stripped),
* ``$BOUNDARY$`` -> the fence code of the built-in template (``model_judge.fence_code``); a user
  template gets it only if it uses it.

This is the convention of the authors' released template, so it can be used unchanged. Generation:
temperature 0.5, at most 1024 new tokens (the paper's settings), overridable with
``extra["judge_gen_kwargs"]``.

The verdict is the judge's own last complete score object (``parsing.parse_quality_reply``; a quote
of the response is never taken for it). Unusable or ambiguous replies are retried (``extra["max_attempts"]``,
default 3, 5 under ``--protocol authors``); a refusal or repeated failure ends as a judgement with
``score=None`` and ``error`` set. Successful verdicts are cached in
``<cache_dir>/judgements.sqlite`` by (judge identity, prompt hash, instruction, response, image hashes,
judge-sample index), so scoring the same response twice sends one request.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import ConfigError
from mmlongbench_write.kvstore import stable_hash
from mmlongbench_write.metrics import S_Q
from mmlongbench_write.model_adapters.base import ModelAdapter, create_model
from mmlongbench_write.protocol import IMAGES_FIRST
from mmlongbench_write.registry import register_judge
from mmlongbench_write.schema import GenerationConfig, JudgeInput, Judgement, Message, Request, Usage
from mmlongbench_write.templates import fill_template

from .base import Judge, JudgeOptions
from .model_judge import (
    BOUNDARY,
    DEFAULT_MAX_ATTEMPTS,
    ModelJudgeBase,
    default_judge_spec,
    fence_code,
    judge_gen_config,
    judge_parts,
    max_attempts_from,
    model_identity,
)
from .parsing import DIMENSION_KEYS, ParsedScores, as_score, parse_quality_reply, quality_score
from .rounds import Outcome, ask_in_rounds, image_problem, retry_seed


def build_quality_request(template: str, instruction: str, response: str, images: Sequence[Any],
                          config: GenerationConfig, request_id: str, part_order: str = IMAGES_FIRST) -> Request:
    """One user message: the images in sample order and the filled template, in ``part_order``."""
    text = fill_template(template, {"$INST$": instruction, "$RESPONSE$": response,
                                    BOUNDARY: fence_code(instruction, response)})
    return Request(id=request_id, messages=(Message("user", judge_parts(images, text, part_order)),), config=config)


def stored_verdict_problem(value: Any) -> str | None:
    """Why a cached quality verdict cannot be used (None when it can): six integer scores 1..5 and sane fields."""
    if not isinstance(value, dict):
        return f"a {type(value).__name__}, not an object"
    scores = value.get("scores")
    if not isinstance(scores, dict) or set(scores) != set(DIMENSION_KEYS):
        return f"scores {scores!r} are not the six rubric dimensions"
    for key in DIMENSION_KEYS:
        score = scores[key]
        if not isinstance(score, int) or isinstance(score, bool):
            return f"{key} = {score!r} is not an integer"
        try:
            as_score(score)
        except ValueError as exc:
            return f"{key}: {exc}"
    if value.get("error") is not None:
        return "it records an error"
    attempts = value.get("attempts")
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        return f"attempts {attempts!r} is not a positive integer"
    for name in ("analysis", "snapshot"):
        if value.get(name) is not None and not isinstance(value[name], str):
            return f"{name} is not text"
    return None


@register_judge("quality", "S_q: an LLM judge scores six rubric dimensions 1..5 from instruction, images, response")
class QualityJudge(ModelJudgeBase, Judge):
    """Scores response quality with a judge model; see the module docstring for the request and caching."""

    name = "quality"
    metrics = (S_Q,)

    def __init__(self, adapter: ModelAdapter, *, prompt_file: str | None = None,
                 config: GenerationConfig | None = None, samples: int = 1, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 cache_mode: str = "readwrite", cache_dir: str | Path | None = None,
                 owns_adapter: bool = False, protocol: str = "mmlw") -> None:
        if samples < 1:
            raise ConfigError(f"--judge-samples must be >= 1, got {samples}")
        super().__init__(adapter, prompt_file=prompt_file, config=config, max_attempts=max_attempts,
                         cache_mode=cache_mode, cache_dir=cache_dir, owns_adapter=owns_adapter, protocol=protocol)
        self.samples = samples

    @classmethod
    def from_options(cls, options: JudgeOptions) -> QualityJudge:
        spec = options.model or default_judge_spec()
        adapter = create_model(spec, options.runtime)
        return cls(adapter, prompt_file=options.prompt_file, config=judge_gen_config(options), samples=options.samples,
                   max_attempts=max_attempts_from(options), cache_mode=options.cache_mode,
                   cache_dir=options.cache_dir, owns_adapter=True, protocol=options.protocol)

    # -- provenance -----------------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """Judge model, prompt hash and sampling settings: what the verdicts depend on (for run.json)."""
        extra = {k: v for k, v in self.config.extra.items()}
        ident: dict[str, Any] = {
            "judge": self.name,
            **model_identity(self.adapter),
            "prompt": self.prompt_name,
            "prompt_hash": self.prompt_hash,
            "temperature": self.config.temperature,
            "top_p": self.config.top_p,
            "max_new_tokens": self.config.max_new_tokens,
            "seed": self.config.seed,
            "samples": self.samples,
            **self.setting_identity(),
        }
        if extra:
            ident["gen_extra"] = extra
        return ident

    # -- cache -----------------------------------------------------------------------------------------
    def cache_key(self, item: JudgeInput, k: int) -> str:
        return stable_hash({
            "identity": self.identity(),
            "instruction": item.sample.instruction,
            "response": item.response,
            "images": [img.sha256 for img in item.sample.images],
            "k": k,
        })

    # -- judging ---------------------------------------------------------------------------------------
    def _seed(self, k: int) -> int | None:
        if self.samples == 1:
            return self.config.seed
        return (self.config.seed or 0) + k  # distinct seeds so k samples are k draws, even through a cache

    def request_for(self, item: JudgeInput, k: int = 0, attempt: int = 1) -> Request:
        """The exact request for judge sample ``k``, attempt ``attempt`` (1-based) of ``item``."""
        config = self.config.merged(seed=retry_seed(self._seed(k), attempt))
        rid = f"{item.sample.id}#judge{k}#try{attempt}"
        return build_quality_request(self.template, item.sample.instruction, item.response, item.sample.images,
                                     config, rid, self.part_order)

    def judge(self, items: Sequence[JudgeInput]) -> Iterator[Judgement]:
        results: dict[int, dict[int, dict[str, Any]]] = {i: {} for i in range(len(items))}
        keys: dict[tuple[int, int], str] = {}
        todo: list[tuple[int, int]] = []
        for i, item in enumerate(items):
            problem = image_problem(item.sample.images)
            if problem is not None:
                yield self._failure(item, problem, 0, Usage(), None)
                results.pop(i)
                continue
            for k in range(self.samples):
                keys[(i, k)] = key = self.cache_key(item, k)
                hit = self.cached(key, stored_verdict_problem)
                if hit is not None:
                    results[i][k] = {**hit, "cached": True, "usage": {}}
                else:
                    todo.append((i, k))
            if len(results[i]) == self.samples:
                yield self._compose(item, results.pop(i))

        def build(handle: tuple[int, int], attempt: int) -> Request:
            return self.request_for(items[handle[0]], handle[1], attempt)

        def parse(handle: tuple[int, int], text: str) -> ParsedScores:
            item = items[handle[0]]
            return parse_quality_reply(text, judged=(item.sample.instruction, item.response))

        outcome: Outcome[tuple[int, int]]
        for outcome in ask_in_rounds(self.adapter, todo, build, parse, self.max_attempts):
            i, k = outcome.handle
            record = self._record(outcome)
            if outcome.ok:
                self.remember(keys[(i, k)], {key: v for key, v in record.items() if key != "cached"})
            results[i][k] = record
            if len(results[i]) == self.samples:
                yield self._compose(items[i], results.pop(i))

    @staticmethod
    def _record(outcome: Outcome[tuple[int, int]]) -> dict[str, Any]:
        parsed: ParsedScores | None = outcome.value
        return {
            "scores": parsed.scores if parsed else None,
            "analysis": parsed.analysis if parsed else None,
            "error": outcome.error,
            "attempts": outcome.attempts,
            "usage": outcome.usage.to_dict(),
            "snapshot": outcome.snapshot,
            "cached": False,
            "refused": outcome.refused,
        }

    def _failure(self, item: JudgeInput, error: str, attempts: int, usage: Usage, snapshot: str | None,
                 details: dict[str, Any] | None = None) -> Judgement:
        return Judgement(sample_id=item.sample.id, judge=self.name, score=None, error=error, attempts=attempts,
                         identity={**self.identity(), "snapshot": snapshot}, usage=usage, details=details or {})

    def _compose(self, item: JudgeInput, records: dict[int, dict[str, Any]]) -> Judgement:
        ordered = [records[k] for k in sorted(records)]
        usage = Usage()
        for rec in ordered:
            usage = usage + Usage(**(rec.get("usage") or {}))
        attempts = sum(int(rec["attempts"]) for rec in ordered)
        snapshot = next((rec["snapshot"] for rec in ordered if rec.get("snapshot")), None)
        cached = all(rec.get("cached") for rec in ordered)
        ok = [rec for rec in ordered if rec["scores"] is not None]
        errors = [rec["error"] for rec in ordered if rec["scores"] is None]
        if not ok:
            error = errors[0] if len(errors) == 1 else f"all {len(errors)} judge samples failed; first: {errors[0]}"
            # a refusal is the judge's final word (not retried on resume, and the run is still complete)
            refused = {"refused": True} if all(rec.get("refused") for rec in ordered) else None
            return self._failure(item, error, attempts, usage, snapshot, refused)
        identity = {**self.identity(), "snapshot": snapshot}
        details: dict[str, Any] = {"cached": cached}
        if self.samples == 1:
            scores: dict[str, Any] = dict(ok[0]["scores"])
        else:
            scores, spread = _mean_and_spread([rec["scores"] for rec in ok])
            per_sample = [quality_score(rec["scores"]) for rec in ok]
            details["judge_samples"] = {
                "k": self.samples, "ok": len(ok), "errors": errors, "spread": spread,
                "sample_scores": [rec["scores"] for rec in ok], "sample_quality_scores": per_sample,
                "quality_score_std": _std(per_sample),
            }
        return Judgement(sample_id=item.sample.id, judge=self.name, score=quality_score(scores), error=None,
                         dimension_scores=scores, analysis=ok[0]["analysis"], attempts=attempts, identity=identity,
                         usage=usage, details=details)


def _std(values: Sequence[float]) -> float:
    """Population standard deviation (0 for one value)."""
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def _mean_and_spread(samples: Sequence[dict[str, int]]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Per-dimension mean over judge samples, and each dimension's std/min/max."""
    means: dict[str, float] = {}
    spread: dict[str, dict[str, float]] = {}
    for key in DIMENSION_KEYS:
        values = [float(s[key]) for s in samples]
        means[key] = sum(values) / len(values)
        spread[key] = {"mean": means[key], "std": _std(values), "min": min(values), "max": max(values)}
    return means, spread
