"""Reading a judge model's reply: find the JSON, validate the verdict, detect refusals and quotes.

Judges wrap their JSON in code fences, put prose before and after it, spell dimension names in their
own way ("Breadth and Depth", "breadth_and_depth", "BreadthAndDepth"), and sometimes answer 4.5 or 6.
Everything that is not an unambiguous integer 1..5 for every dimension is rejected *with a reason*, so
the caller can retry and, in the end, record a judge failure instead of inventing a score.

The verdict is the judge's own **final** word: the last complete score object of the reply. Responses
are written by the systems under test and may carry a score block of their own; a judge that quotes
such a block before (or after) its verdict must not be scored by it. So an object that also occurs in
the judged text is a quote, never a verdict, and a reply whose verdict is ambiguous — a partial score
object after the last complete one, one dimension given two different values, or nothing but quotes —
is rejected (and asked again).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: The rubric (docs/judging.md): (canonical key, display name), in the order the prompt lists them.
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
_VERDICT_KEYS = {"winner", "verdict", "better", "preferred", "choice"}


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


class JSONObject(dict):  # type: ignore[type-arg]
    """A decoded JSON object that remembers the keys it gave twice with different values."""

    conflicts: set[str]


@dataclass(frozen=True)
class FoundObject:
    """A top-level JSON object in a text, with where it starts and ends."""

    value: JSONObject
    start: int
    end: int
    conflicts: frozenset[str] = field(default_factory=frozenset)  # keys (anywhere inside) given twice, differing


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


def scan_json_objects(text: str) -> list[FoundObject]:
    """Every top-level JSON object in ``text`` (in code fences or prose), in order of position.

    Objects nested in another one are part of it, not separate finds; a ``{`` that starts nothing
    decodable is skipped.
    """
    conflicts: set[str] = set()

    def pairs_hook(pairs: list[tuple[str, Any]]) -> JSONObject:
        obj = JSONObject()
        for key, value in pairs:
            if key in obj and obj[key] != value:
                conflicts.add(key)
            obj[key] = value
        return obj

    decoder = json.JSONDecoder(object_pairs_hook=pairs_hook)
    found: list[FoundObject] = []
    position = 0
    while True:
        start = text.find("{", position)
        if start < 0:
            return found
        conflicts.clear()
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            position = start + 1
            continue
        found.append(FoundObject(value, start, end, frozenset(conflicts)))
        position = end


def find_json_objects(text: str) -> list[dict[str, Any]]:
    """The top-level JSON objects of ``text`` in order (see :func:`scan_json_objects`)."""
    return [f.value for f in scan_json_objects(text)]


def _dimension_values(obj: dict[str, Any]) -> dict[str, list[Any]]:
    """Every value given for each dimension: at the top level, else one level down (``{"scores": {...}}``)."""
    direct: dict[str, list[Any]] = {}
    for key, value in obj.items():
        canonical = _NORMALIZED.get(normalize_key(key))
        if canonical is not None:
            direct.setdefault(canonical, []).append(value)
    if direct:
        return direct
    for value in obj.values():
        if isinstance(value, dict):
            nested = _dimension_values(value)
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
    return not scan_json_objects(text) and bool(_REFUSAL.search(text[:600]))


def reply_objects(text: str) -> list[FoundObject]:
    """The JSON objects of a judge reply; an empty reply, a refusal or a reply without JSON raises."""
    if not text or not text.strip():
        raise JudgeReplyError("empty reply")
    objects = scan_json_objects(text)
    if not objects:
        if _REFUSAL.search(text[:600]):
            raise JudgeReplyError(f"judge refused: {text.strip()[:200]!r}", refusal=True)
        raise JudgeReplyError("no JSON object in the reply")
    return objects


def _quoted_objects(judged: Sequence[str]) -> list[dict[str, Any]]:
    return [f.value for text in judged for f in scan_json_objects(text)]


def _own_objects(objects: list[FoundObject], judged: Sequence[str], what: str) -> list[FoundObject]:
    """``objects`` less those that copy an object of the judged texts; raises when only copies are left."""
    quoted = _quoted_objects(judged)
    own = [f for f in objects if f.value not in quoted]
    if not own:
        raise JudgeReplyError(f"ambiguous verdict: the only {what} in the reply is copied from the judged "
                              "response, none is the judge's own")
    return own


def parse_quality_reply(text: str, judged: Sequence[str] = ()) -> ParsedScores:
    """Validate a quality-judge reply; raise :class:`JudgeReplyError` with the reason when unusable.

    The verdict is the last object that carries all six dimensions, each an integer 1..5, among the
    objects that are not copies of one in ``judged`` (the texts the judge was shown). See the module
    docstring for what makes a verdict ambiguous. A reply without JSON that reads like a refusal is
    reported as a refusal.
    """
    scored = [(f, dims) for f in reply_objects(text) if (dims := _dimension_values(f.value))]
    if not scored:
        raise JudgeReplyError("the JSON has none of the rubric dimensions")
    own_found = _own_objects([f for f, _ in scored], judged, "score object")
    own = [(f, dims) for f, dims in scored if any(f is o for o in own_found)]
    complete = [i for i, (_, dims) in enumerate(own) if len(dims) == len(DIMENSIONS)]
    if not complete:
        _, dims = own[-1]
        missing = [name for key, name in DIMENSIONS if key not in dims]
        raise JudgeReplyError(f"missing dimension(s): {', '.join(missing)}")
    last = complete[-1]
    if last != len(own) - 1:
        raise JudgeReplyError("ambiguous verdict: a partial score object follows the last complete one")
    found, dims = own[last]
    scores: dict[str, int] = {}
    for key, name in DIMENSIONS:
        values = dims[key]
        conflicting = len({json.dumps(v, sort_keys=True) for v in values}) > 1 or any(
            normalize_key(k) == normalize_key(name) for k in found.conflicts)
        if conflicting:
            raise JudgeReplyError(f"ambiguous verdict: {name} is given two different scores")
        try:
            scores[key] = as_score(values[-1])
        except JudgeReplyError as exc:
            raise JudgeReplyError(f"{name}: {exc.reason}") from None
    return ParsedScores(scores=scores, analysis=_analysis(found.value))


#: Pairwise verdict spellings -> ``A`` / ``B`` / ``tie``.
_VERDICTS = {
    "a": "A", "responsea": "A", "1": "A", "first": "A", "assistanta": "A",
    "b": "B", "responseb": "B", "2": "B", "second": "B", "assistantb": "B",
    "tie": "tie", "draw": "tie", "equal": "tie", "same": "tie", "neither": "tie", "both": "tie",
}


def _verdict_values(obj: dict[str, Any]) -> list[Any]:
    return [value for key, value in obj.items() if normalize_key(key) in _VERDICT_KEYS]


def parse_pairwise_reply(text: str, judged: Sequence[str] = ()) -> tuple[str, str | None]:
    """``("A"|"B"|"tie", analysis)`` from a pairwise reply ``{"analysis": ..., "winner": "A"}``.

    As for the quality judge, the verdict is the last object with a verdict field that is not a copy of
    one in ``judged``; two different verdicts in that object are ambiguous and rejected.
    """
    with_verdict = [f for f in reply_objects(text) if _verdict_values(f.value)]
    if not with_verdict:
        raise JudgeReplyError("the JSON has no 'winner' field")
    found = _own_objects(with_verdict, judged, "verdict object")[-1]
    values = _verdict_values(found.value)
    if any(normalize_key(k) in _VERDICT_KEYS for k in found.conflicts):
        raise JudgeReplyError("ambiguous verdict: the winner is given twice with different values")
    verdicts = set()
    for value in values:
        verdict = _VERDICTS.get(normalize_key(str(value)))
        if verdict is None:
            raise JudgeReplyError(f"verdict {value!r} is not A, B or tie")
        verdicts.add(verdict)
    if len(verdicts) > 1:
        raise JudgeReplyError(f"ambiguous verdict: the reply names {' and '.join(sorted(verdicts))}")
    return verdicts.pop(), _analysis(found.value)
