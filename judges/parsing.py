"""Reading a judge model's reply: find the JSON, validate the six rubric scores, detect refusals.

Judges wrap their JSON in code fences, put prose before and after it, spell dimension names in their
own way ("Breadth and Depth", "breadth_and_depth", "BreadthAndDepth"), and sometimes answer 4.5 or 6.
Everything that is not an unambiguous integer 1..5 for every dimension is rejected *with a reason*, so
the caller can retry and, in the end, record a judge failure instead of inventing a score.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

#: The rubric of DESIGN.md §1: (canonical key, display name), in the order the prompt lists them.
DIMENSIONS: tuple[tuple[str, str], ...] = (
    ("relevance", "Relevance"),
    ("accuracy", "Accuracy"),
    ("coherence", "Coherence"),
    ("clarity", "Clarity"),
    ("breadth_and_depth", "Breadth and Depth"),
    ("reading_experience", "Reading Experience"),
)
DIMENSION_KEYS: tuple[str, ...] = tuple(key for key, _ in DIMENSIONS)

_REFUSAL = re.compile(
    r"(I['’]m sorry|I am sorry|I apologi[sz]e|I cannot|I can['’]t|I can not|I am unable|I['’]m unable|"
    r"unable to (?:evaluate|assess|assist|help|comply|provide)|I won['’]t|I will not|"
    r"against (?:my|the) (?:policy|policies|guidelines)|抱歉|无法(?:评估|评价|协助|提供|完成))",
    re.IGNORECASE,
)
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


class JudgeReplyError(ValueError):
    """A reply that cannot be used; ``refusal`` marks a refusal (not worth retrying)."""

    def __init__(self, reason: str, refusal: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refusal = refusal


@dataclass(frozen=True)
class ParsedScores:
    """A validated reply: one integer 1..5 per dimension (canonical keys) and the judge's analysis."""

    scores: dict[str, int]
    analysis: str | None


def normalize_key(key: str) -> str:
    """``"Breadth and Depth"``, ``"breadth_and_depth"``, ``"Breadth & Depth"`` -> ``"breadthanddepth"``."""
    return re.sub(r"[^a-z0-9]", "", key.lower().replace("&", "and"))


_NORMALIZED = {normalize_key(key): key for key in DIMENSION_KEYS}


def quality_score(scores: dict[str, float] | list[float] | tuple[float, ...]) -> float:
    """S_q = (sum of the six scores - 6) * 25 / 6, on 0..100 (all 1 -> 0, all 3 -> 50, all 5 -> 100)."""
    values = list(scores.values()) if isinstance(scores, dict) else list(scores)
    if len(values) != len(DIMENSIONS):
        raise ValueError(f"S_q needs {len(DIMENSIONS)} scores, got {len(values)}")
    return (sum(values) - len(DIMENSIONS)) * 25.0 / 6.0


def find_json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object in ``text``: fenced blocks first, then each ``{`` that starts a decodable object."""
    found: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    for block in _FENCE.findall(text):
        try:
            obj = json.loads(block.strip())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            found.append(obj)
    for match in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            found.append(obj)
    return found


def _dimension_map(obj: dict[str, Any]) -> dict[str, Any]:
    """The values under dimension-like keys, looking one level down (``{"scores": {...}}``) too."""
    direct = {_NORMALIZED[normalize_key(k)]: v for k, v in obj.items() if normalize_key(k) in _NORMALIZED}
    if direct:
        return direct
    for value in obj.values():
        if isinstance(value, dict):
            nested = _dimension_map(value)
            if nested:
                return nested
    return {}


def _analysis(obj: dict[str, Any]) -> str | None:
    for key, value in obj.items():
        if normalize_key(key) in {"analysis", "explanation", "reasoning", "rationale"} and isinstance(value, str):
            return value.strip()
    return None


def as_score(value: Any) -> int:
    """An integer 1..5 from ``value`` (``4``, ``4.0``, ``"4"``); anything else raises with a reason."""
    if isinstance(value, bool):
        raise JudgeReplyError(f"score {value!r} is not an integer")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise JudgeReplyError(f"score {value!r} is not an integer")
        number: Any = int(text)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise JudgeReplyError(f"score {value!r} is not an integer")
        number = int(value)
    else:
        raise JudgeReplyError(f"score {value!r} is not an integer")
    if not 1 <= number <= 5:
        raise JudgeReplyError(f"score {number} is outside 1..5")
    return int(number)


def looks_like_refusal(text: str) -> bool:
    """True for a reply with no JSON object that reads like a refusal ("I'm sorry, I can't ...")."""
    return not find_json_objects(text) and bool(_REFUSAL.search(text[:600]))


def reply_objects(text: str) -> list[dict[str, Any]]:
    """The JSON objects of a judge reply; an empty reply, a refusal or a reply without JSON raises."""
    if not text or not text.strip():
        raise JudgeReplyError("empty reply")
    objects = find_json_objects(text)
    if not objects:
        if looks_like_refusal(text):
            raise JudgeReplyError(f"judge refused: {text.strip()[:200]!r}", refusal=True)
        raise JudgeReplyError("no JSON object in the reply")
    return objects


def parse_quality_reply(text: str) -> ParsedScores:
    """Validate a quality-judge reply; raise :class:`JudgeReplyError` with the reason when unusable.

    The first JSON object that carries any rubric dimension is the answer; it must carry all six, each an
    integer 1..5. A reply without JSON that reads like a refusal is reported as a refusal.
    """
    objects = reply_objects(text)
    candidates = [(obj, _dimension_map(obj)) for obj in objects]
    with_dims = [(obj, dims) for obj, dims in candidates if dims]
    if not with_dims:
        raise JudgeReplyError("the JSON has none of the rubric dimensions")
    obj, dims = max(with_dims, key=lambda pair: len(pair[1]))
    missing = [name for key, name in DIMENSIONS if key not in dims]
    if missing:
        raise JudgeReplyError(f"missing dimension(s): {', '.join(missing)}")
    scores: dict[str, int] = {}
    for key, name in DIMENSIONS:
        try:
            scores[key] = as_score(dims[key])
        except JudgeReplyError as exc:
            raise JudgeReplyError(f"{name}: {exc.reason}") from None
    return ParsedScores(scores=scores, analysis=_analysis(obj))


#: Pairwise verdict spellings -> ``A`` / ``B`` / ``tie``.
_VERDICTS = {
    "a": "A", "responsea": "A", "1": "A", "first": "A", "assistanta": "A",
    "b": "B", "responseb": "B", "2": "B", "second": "B", "assistantb": "B",
    "tie": "tie", "draw": "tie", "equal": "tie", "same": "tie", "neither": "tie", "both": "tie",
}


def parse_pairwise_reply(text: str) -> tuple[str, str | None]:
    """``("A"|"B"|"tie", analysis)`` from a pairwise reply ``{"analysis": ..., "winner": "A"}``."""
    objects = reply_objects(text)
    for obj in objects:
        for key, value in obj.items():
            if normalize_key(key) in {"winner", "verdict", "better", "preferred", "choice"}:
                verdict = _VERDICTS.get(normalize_key(str(value)))
                if verdict is None:
                    raise JudgeReplyError(f"verdict {value!r} is not A, B or tie")
                return verdict, _analysis(obj)
    raise JudgeReplyError("the JSON has no 'winner' field")
