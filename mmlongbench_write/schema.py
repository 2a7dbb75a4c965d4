"""The plain data that flows through the harness.

``Task -> Sample -> Request -> ModelAdapter.generate -> Generation -> Judge -> Judgement -> RunStore``.
Everything here is a frozen dataclass with a ``to_dict`` for the journal; nothing here imports a
heavy library. Images travel as :class:`ImageRef` (bytes or a path plus a content hash), so logs and
cache keys carry hashes, never pixels.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from .arg_checks import EXTRA_PREFIX

Language = Literal["en", "zh"]
FinishReason = Literal["stop", "length", "error", "unknown"]

#: The ids of the six MMLongBench-Write tasks, in the paper's order (docs/benchmark.md). Each task's class
#: (tasks/mmlongbench.py) says its category; nothing here does.
BENCHMARK_TASKS: tuple[str, ...] = (
    "ppt_script", "medical_report", "travel_guide", "story_generation", "scenery_copywriting", "movie_review",
)

#: Required-length bins of the paper's Table 1: [0,1500) [1500,2000) [2000,3000) [3000,inf).
LENGTH_BINS: tuple[tuple[int, float], ...] = ((0, 1500), (1500, 2000), (2000, 3000), (3000, float("inf")))


def length_bin(required_length: int) -> str:
    """Name of the paper's length bin that ``required_length`` falls in, e.g. ``"1500-2000"``."""
    for low, high in LENGTH_BINS:
        if low <= required_length < high:
            return f"{low}-{int(high)}" if high != float("inf") else f"{low}+"
    raise ValueError(f"negative required length {required_length}")


LENGTH_BIN_NAMES: tuple[str, ...] = tuple(length_bin(low) for low, _ in LENGTH_BINS)


@dataclass(frozen=True)
class ImageRef:
    """One input image: its bytes (embedded or read from ``path``) and their SHA-256.

    ``data`` is excluded from ``repr`` and equality: two refs are the same image when their hashes are.
    """

    sha256: str
    source: str
    path: str | None = None
    data: bytes | None = field(default=None, repr=False, compare=False)
    media_type: str = "image/png"

    @classmethod
    def from_bytes(cls, data: bytes, source: str, media_type: str = "image/png") -> ImageRef:
        return cls(sha256=hashlib.sha256(data).hexdigest(), source=source, data=data, media_type=media_type)

    @classmethod
    def from_path(cls, path: str | Path, media_type: str | None = None) -> ImageRef:
        p = Path(path)
        data = p.read_bytes()
        return cls(
            sha256=hashlib.sha256(data).hexdigest(),
            source=str(p),
            path=str(p),
            data=data,
            media_type=media_type or guess_media_type(p.name),
        )

    def read_bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.path is None:
            raise ValueError(f"image {self.source} has neither bytes nor a path")
        return Path(self.path).read_bytes()

    def open(self) -> Any:
        """The image as a ``PIL.Image.Image`` in RGB (Pillow imported here, lazily)."""
        import io

        from PIL import Image

        img = Image.open(io.BytesIO(self.read_bytes()))
        return img.convert("RGB")

    def to_dict(self) -> dict[str, Any]:
        """Journal form: the hash and where it came from, never the bytes."""
        return {"sha256": self.sha256, "source": self.source, "media_type": self.media_type}


def guess_media_type(name: str) -> str:
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return {
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "gif": "image/gif",
        "webp": "image/webp",
        "bmp": "image/bmp",
    }.get(suffix, "image/png")


@dataclass(frozen=True)
class Sample:
    """One benchmark item: an instruction, its images and the required length ``L``."""

    id: str
    instruction: str
    images: tuple[ImageRef, ...]
    required_length: int
    task: str | None = None
    language: Language = "en"
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def category(self) -> str:
        """The category its task declares (``"custom"`` for no task or one that is not registered)."""
        from .registry import task_category

        return task_category(self.task)

    @property
    def length_bin(self) -> str:
        return length_bin(self.required_length)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "instruction": self.instruction,
            "images": [img.to_dict() for img in self.images],
            "required_length": self.required_length,
            "task": self.task,
            "category": self.category,
            "language": self.language,
        }


@dataclass(frozen=True)
class TextPart:
    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True)
class ImagePart:
    image: ImageRef
    type: Literal["image"] = "image"


ContentPart = TextPart | ImagePart


@dataclass(frozen=True)
class Message:
    """A chat message; ``content`` keeps the order of text and image parts as the model should see it."""

    role: Literal["system", "user", "assistant"]
    content: tuple[ContentPart, ...]

    @classmethod
    def user(cls, *parts: ContentPart | str) -> Message:
        return cls("user", tuple(TextPart(p) if isinstance(p, str) else p for p in parts))

    @classmethod
    def system(cls, text: str) -> Message:
        return cls("system", (TextPart(text),))

    @property
    def text(self) -> str:
        """All text parts joined (for text-only backends and logs)."""
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def images(self) -> tuple[ImageRef, ...]:
        return tuple(p.image for p in self.content if isinstance(p, ImagePart))

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "content": [
                {"type": "text", "text": p.text} if isinstance(p, TextPart) else {"type": "image", **p.image.to_dict()}
                for p in self.content
            ],
        }


@dataclass(frozen=True)
class GenerationConfig:
    """Sampling settings. ``None`` means "the backend's default"; ``extra`` passes backend-specific keys."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_new_tokens: int | None = None
    min_new_tokens: int | None = None
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def merged(self, **overrides: Any) -> GenerationConfig:
        """A copy with the non-None ``overrides`` applied; unknown keys go to ``extra`` (sent to the backend
        and recorded, so a secret among them is refused: :func:`mmlongbench_write.secrets.check_args`)."""
        from .secrets import check_args

        known = {f.name for f in fields(self)} - {"extra"}
        extra = dict(self.extra)
        direct: dict[str, Any] = {}
        for key, value in overrides.items():
            if value is None:
                continue
            if key.startswith(EXTRA_PREFIX):  # passed to the backend on purpose (mmlongbench_write.arg_checks)
                extra[key[len(EXTRA_PREFIX):]] = value
            elif key in known:
                direct[key] = value
            else:
                extra[key] = value
        check_args("generation settings", {k: v for k, v in extra.items() if k not in self.extra})
        return replace(self, **direct, extra=extra)

    @property
    def is_sampled(self) -> bool:
        return self.temperature is not None and self.temperature > 0

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}


@dataclass(frozen=True)
class Request:
    """What a model adapter is asked: messages plus settings, under the sample's id."""

    id: str
    messages: tuple[Message, ...]
    config: GenerationConfig = field(default_factory=GenerationConfig)

    @property
    def images(self) -> tuple[ImageRef, ...]:
        return tuple(img for m in self.messages for img in m.images)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "messages": [m.to_dict() for m in self.messages], "config": self.config.to_dict()}


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Generation:
    """A model's answer to one request, or the reason there is none (``error`` set, ``text`` empty).

    A failed generation is data, not a placeholder: it is journalled with its error and retried on resume.
    """

    request_id: str
    text: str
    finish_reason: FinishReason = "stop"
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    error: str | None = None
    model: str | None = None  # provider-reported model snapshot, when the backend reports one
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failure(cls, request_id: str, error: str, latency_s: float = 0.0) -> Generation:
        return cls(request_id=request_id, text="", finish_reason="error", latency_s=latency_s, error=error)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["usage"] = self.usage.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Generation:
        d = dict(d)
        d["usage"] = Usage(**(d.get("usage") or {}))
        return cls(**{k: v for k, v in d.items() if k in {f.name for f in fields(cls)}})


@dataclass(frozen=True)
class JudgeInput:
    """What a judge scores: the sample (instruction, images, L) and the response text.

    ``response`` has ``<think>...</think>`` already stripped; ``generation`` keeps the raw output.
    """

    sample: Sample
    response: str
    generation: Generation | None = None


@dataclass(frozen=True)
class Judgement:
    """One judge's verdict on one sample.

    ``score`` is on the 0..100 scale (S_l for the length judge, S_q for the quality judge), or ``None``
    when the judge failed — then ``error`` says why. A failure is never replaced by a default score.
    """

    sample_id: str
    judge: str
    score: float | None
    error: str | None = None
    dimension_scores: dict[str, int] | None = None
    analysis: str | None = None
    attempts: int = 1
    identity: dict[str, Any] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.score is not None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["usage"] = self.usage.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Judgement:
        d = dict(d)
        d["usage"] = Usage(**(d.get("usage") or {}))
        return cls(**{k: v for k, v in d.items() if k in {f.name for f in fields(cls)}})
