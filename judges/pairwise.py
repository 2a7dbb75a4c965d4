"""Pairwise judging: which of two responses to the same sample is better — asked in both orders.

The paper's human evaluation compares two models' responses side by side; this automates it with a judge
model. Judges prefer a position (often the first), so every pair is judged twice: run A's response first
(``order_ab``) and run B's first (``order_ba``). The two verdicts, each naming a *position* (``"A"`` =
the response shown first, ``"B"`` = shown second, or ``"tie"``), are mapped back to the runs and combined:
when both name the same run it wins; any disagreement, or a tie in either order, is a tie. A judge that
always picks the first position therefore produces ties, not wins.

Custom templates (``--judge-prompt``) use ``$INST$``, ``$RESPONSE_A$`` (shown first) and ``$RESPONSE_B$``
(and ``$BOUNDARY$``, the fence code, if they like); the images come first, in sample order, as for the
quality judge. The built-in template fences the three texts as the quality judge's does, and the verdict
is the judge's own last one, never a quote of a response (``parsing.parse_pairwise_reply``). Verdicts are
cached in ``judgements.sqlite`` (namespace ``pairwise``) by judge identity, instruction, images and the two
texts in their shown order, so re-running a comparison costs nothing; a stored verdict is checked when read.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mmlongbench_write.kvstore import stable_hash
from mmlongbench_write.model_adapters.base import create_model
from mmlongbench_write.schema import Message, Request, Sample, Usage

from .base import JudgeOptions
from .model_judge import (
    ModelJudgeBase,
    default_judge_spec,
    judge_gen_config,
    judge_parts,
    max_attempts_from,
    model_identity,
)
from .parsing import parse_pairwise_reply
from .rounds import ask_in_rounds, image_problem, retry_seed

Order = Literal["ab", "ba"]
PLACEHOLDERS = ("$INST$", "$RESPONSE_A$", "$RESPONSE_B$")
VERDICTS = ("A", "B", "tie")


def stored_verdict_problem(value: Any) -> str | None:
    """Why a cached pairwise verdict cannot be used (None when it can)."""
    if not isinstance(value, dict):
        return f"a {type(value).__name__}, not an object"
    if value.get("verdict") not in VERDICTS:
        return f"verdict {value.get('verdict')!r} is not A, B or tie"
    if value.get("error") is not None:
        return "it records an error"
    attempts = value.get("attempts")
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        return f"attempts {attempts!r} is not a positive integer"
    for name in ("analysis", "snapshot"):
        if value.get(name) is not None and not isinstance(value[name], str):
            return f"{name} is not text"
    return None


@dataclass(frozen=True)
class PairInput:
    """One sample and the two runs' responses to it."""

    sample: Sample
    response_a: str
    response_b: str


@dataclass
class PairVerdict:
    """Both orders' position verdicts and the combined outcome (``a``, ``b``, ``tie``; ``error`` if failed)."""

    sample_id: str
    order_ab: str | None
    order_ba: str | None
    outcome: str
    error: str | None = None
    attempts: int = 0
    usage: Usage = field(default_factory=Usage)
    analysis: dict[str, str | None] = field(default_factory=dict)
    snapshot: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"sample_id": self.sample_id, "order_ab": self.order_ab, "order_ba": self.order_ba,
                             "outcome": self.outcome, "attempts": self.attempts, "usage": self.usage.to_dict()}
        if self.error:
            d["error"] = self.error
        if self.snapshot:
            d["snapshot"] = self.snapshot
        return d

    @classmethod
    def from_dict(cls, data: Any, where: str) -> PairVerdict:
        """A verdict as :meth:`to_dict` wrote it (a journal line); a wrong shape is a RunFormatError."""
        from mmlongbench_write.fields import Fields, RunFormatError

        f = Fields(data, where)
        outcome = f.str("outcome", required=True)
        if outcome not in ("a", "b", "tie", "error"):
            raise RunFormatError(f"{where}: outcome {outcome!r} is not a, b, tie or error")
        orders = [f.opt_str(name) for name in ("order_ab", "order_ba")]
        if any(v is not None and v not in VERDICTS for v in orders):
            raise RunFormatError(f"{where}: order verdicts must be A, B or tie")
        u = f.sub("usage")
        return cls(f.str("sample_id", required=True), orders[0], orders[1], outcome, error=f.opt_str("error"),
                   attempts=f.int("attempts", 0), usage=Usage(u.int("input_tokens", 0), u.int("output_tokens", 0)),
                   snapshot=f.opt_str("snapshot"))


def combine(order_ab: str, order_ba: str) -> str:
    """Combine position verdicts into a run outcome: agreement wins, anything else is a tie."""
    first = {"A": "a", "B": "b", "tie": "tie"}[order_ab]  # run a shown first
    second = {"A": "b", "B": "a", "tie": "tie"}[order_ba]  # run b shown first
    return first if first == second else "tie"


class PairwiseJudge(ModelJudgeBase):
    """Compares two responses per sample with a judge model, in both orders."""

    name = "pairwise"
    builtin_prompt = "pairwise"
    placeholders = PLACEHOLDERS
    cache_namespace = "pairwise"

    @classmethod
    def from_options(cls, options: JudgeOptions) -> PairwiseJudge:
        adapter = create_model(options.model or default_judge_spec(), options.runtime)
        return cls(adapter, prompt_file=options.prompt_file, config=judge_gen_config(options),
                   max_attempts=max_attempts_from(options), cache_mode=options.cache_mode,
                   cache_dir=options.cache_dir, owns_adapter=True, protocol=options.protocol)

    def identity(self) -> dict[str, Any]:
        return {"judge": self.name, **model_identity(self.adapter), "prompt": self.prompt_name,
                "prompt_hash": self.prompt_hash, "temperature": self.config.temperature,
                "max_new_tokens": self.config.max_new_tokens, "seed": self.config.seed, **self.setting_identity()}

    def request_for(self, pair: PairInput, order: Order, attempt: int = 1) -> Request:
        first, second = (pair.response_a, pair.response_b) if order == "ab" else (pair.response_b, pair.response_a)
        text = self.fill({"$INST$": pair.sample.instruction, "$RESPONSE_A$": first, "$RESPONSE_B$": second})
        parts = judge_parts(pair.sample.images, text, self.part_order)
        config = self.config.merged(seed=retry_seed(self.config.seed, attempt))
        return Request(id=f"{pair.sample.id}#{order}#try{attempt}", messages=(Message("user", parts),), config=config)

    def _key(self, pair: PairInput, order: Order) -> str:
        first, second = (pair.response_a, pair.response_b) if order == "ab" else (pair.response_b, pair.response_a)
        return stable_hash({"identity": self.identity(), "instruction": pair.sample.instruction, "first": first,
                            "second": second, "images": [img.sha256 for img in pair.sample.images]})

    def compare(self, pairs: Sequence[PairInput]) -> Iterator[PairVerdict]:
        """Yield one :class:`PairVerdict` per pair as soon as both orders are judged."""
        done: dict[int, dict[str, dict[str, Any]]] = {}
        todo: list[tuple[int, Order]] = []
        for i, pair in enumerate(pairs):
            problem = image_problem(pair.sample.images)
            if problem is not None:
                yield PairVerdict(pair.sample.id, None, None, "error", error=problem)
                continue
            done[i] = {}
            for order in ("ab", "ba"):
                hit = self.cached(self._key(pair, order), stored_verdict_problem)
                if hit is not None:
                    done[i][order] = {**hit, "usage": {}, "attempts": hit.get("attempts", 1)}
                else:
                    todo.append((i, order))
            if len(done[i]) == 2:
                yield self._verdict(pairs[i], done.pop(i))

        def build(handle: tuple[int, Order], attempt: int) -> Request:
            return self.request_for(pairs[handle[0]], handle[1], attempt)

        def parse(handle: tuple[int, Order], text: str) -> tuple[str, str | None]:
            pair = pairs[handle[0]]
            return parse_pairwise_reply(text, judged=(pair.sample.instruction, pair.response_a, pair.response_b))

        for outcome in ask_in_rounds(self.adapter, todo, build, parse, self.max_attempts):
            i, order = outcome.handle
            verdict, analysis = outcome.value if outcome.ok else (None, None)
            record = {"verdict": verdict, "analysis": analysis, "error": outcome.error, "attempts": outcome.attempts,
                      "usage": outcome.usage.to_dict(), "snapshot": outcome.snapshot}
            if outcome.ok:
                self.remember(self._key(pairs[i], order), record)
            done[i][order] = record
            if len(done[i]) == 2:
                yield self._verdict(pairs[i], done.pop(i))

    def _verdict(self, pair: PairInput, records: dict[str, dict[str, Any]]) -> PairVerdict:
        ab, ba = records["ab"], records["ba"]
        usage = Usage(**(ab.get("usage") or {})) + Usage(**(ba.get("usage") or {}))
        errors = [f"order {o}: {r['error']}" for o, r in (("ab", ab), ("ba", ba)) if r.get("error")]
        outcome = "error" if errors else combine(ab["verdict"], ba["verdict"])
        return PairVerdict(pair.sample.id, ab.get("verdict"), ba.get("verdict"), outcome,
                           error="; ".join(errors) or None, attempts=int(ab["attempts"]) + int(ba["attempts"]),
                           usage=usage, analysis={"ab": ab.get("analysis"), "ba": ba.get("analysis")},
                           snapshot=ab.get("snapshot") or ba.get("snapshot"))


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion (well-behaved at 0, 1 and small n); (0, 1) for n = 0."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return (lo, hi)


def summarize(verdicts: Sequence[PairVerdict], a: dict[str, str], b: dict[str, str],
              judge: dict[str, Any]) -> dict[str, Any]:
    """The pairwise result file: counts, rates over the judged pairs with Wilson 95% CIs, and the items.

    ``n`` counts pairs with a verdict; failed pairs are listed with ``outcome: "error"`` and counted in
    ``failed``, never folded into ties.
    """
    judged = [v for v in verdicts if v.outcome != "error"]
    n = len(judged)
    counts = {side: sum(v.outcome == side for v in judged) for side in ("a", "b", "tie")}
    usage = Usage()
    for v in verdicts:
        usage = usage + v.usage
    snapshot = next((v.snapshot for v in verdicts if v.snapshot), None)

    def rate(k: int) -> float:
        return k / n if n else 0.0

    return {
        "type": "pairwise",
        "a": a,
        "b": b,
        "judge": {**judge, "snapshot": snapshot},
        "n": n,
        "failed": len(verdicts) - n,
        "a_wins": counts["a"],
        "b_wins": counts["b"],
        "ties": counts["tie"],
        "a_win_rate": rate(counts["a"]),
        "b_win_rate": rate(counts["b"]),
        "tie_rate": rate(counts["tie"]),
        "ci95": {f"{name}_rate": list(wilson_interval(counts[side], n))
                 for side, name in (("a", "a_win"), ("b", "b_win"), ("tie", "tie"))},
        "judge_usage": usage.to_dict(),
        "items": [v.to_dict() for v in verdicts],
    }
