"""The caption+LLM setting: a vision model describes each image, a text-only LLM writes from the descriptions.

This is how the paper evaluates text-only LLMs (GLM-4-9B, Mistral-Large, DeepSeek-R1) on an image
benchmark (docs/benchmark.md): every distinct image is captioned once (by content hash; across requests and
calls, and across runs too when the captioner sits behind the response cache), then the writer gets the
original messages with each image replaced, in place, by its numbered description. Any adapter can be
either side.

Both prompts can be the user's (``--caption-prompt``, ``--writer-prompt``, or ``--prompts-from`` a
checkout of the authors' repository). A writer template gets ``$QUESTION$`` (the request's text) and
``$CAPTIONS$`` (the descriptions of the request's images, in order: numbered ``[Image k]`` blocks, or
under ``--protocol authors`` the printed Python list, as the authors' script inserts them), substituted
verbatim, and is sent as the whole user message. Under ``--protocol authors`` the caption prompt also
comes before the image in the captioner request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from mmlongbench_write.kvstore import stable_hash
from mmlongbench_write.protocol import DEFAULT_PROTOCOL, TEXT_FIRST, caption_part_order, format_captions
from mmlongbench_write.schema import Generation, GenerationConfig, ImagePart, ImageRef, Message, Request, TextPart
from mmlongbench_write.templates import fill_template
from mmlongbench_write.textstats import strip_think

from .base import ModelAdapter, RuntimeOptions

if TYPE_CHECKING:
    from mmlongbench_write.progress_events import PhaseTracker

CAPTION_PROMPT = """\
Describe this image in enough detail that someone who cannot see it could write about it as if they had.
Cover, in plain prose:
1. Visual elements: the objects, people, animals, places and scenery, their colours, positions, actions \
and expressions, and the overall composition, lighting and style.
2. Text: transcribe every piece of visible text exactly (titles, headings, labels, captions, signs, \
numbers, small print), saying where each appears.
3. Structure: how the image is organised (a slide, page, chart, table, diagram, comic panels, a photo \
collage) and how its parts relate to one another.
4. Technical elements: the data in charts and tables, formulas, code, measurements, scales and axes, and \
any medical, scientific or engineering detail, with the values shown.
5. Purpose: what the image seems to be for, and the message, mood or story it conveys.
Describe only what is visible; do not guess beyond it."""

#: captioner settings: greedy (so captions are cacheable) and at most 1024 tokens, as in the paper
CAPTION_CONFIG = GenerationConfig(temperature=0.0, max_new_tokens=1024)


class CaptionLLMAdapter(ModelAdapter):
    """Caption with ``captioner``, then write with ``writer`` from text only.

    Args:
        captioner: any adapter that takes images (may be wrapped in the response cache).
        writer: any adapter; it receives text-only requests.
        runtime: run options (default: the writer's).
        caption_prompt: replaces :data:`CAPTION_PROMPT`.
        caption_config: replaces :data:`CAPTION_CONFIG`.
        writer_template: a template with ``$QUESTION$`` and ``$CAPTIONS$``; None keeps the in-place layout.
        protocol: ``mmlw`` or ``authors`` (caption part order, how captions fill ``$CAPTIONS$``).
    """

    adapter_name = "caption-llm"

    def __init__(
        self,
        captioner: ModelAdapter,
        writer: ModelAdapter,
        runtime: RuntimeOptions | None = None,
        caption_prompt: str | None = None,
        caption_config: GenerationConfig | None = None,
        writer_template: str | None = None,
        protocol: str = DEFAULT_PROTOCOL,
    ) -> None:
        super().__init__(runtime or writer.runtime)
        self.captioner = captioner
        self.writer = writer
        self.caption_prompt = caption_prompt or CAPTION_PROMPT
        self.caption_config = caption_config or CAPTION_CONFIG
        self.writer_template = writer_template
        self.protocol = protocol
        self.caption_order = caption_part_order(protocol)
        self._captions: dict[str, str] = {}
        #: makes the progress tracker of one captioning pass from its number of images (set by the runner)
        self.caption_progress: Callable[[int], PhaseTracker] | None = None

    @property
    def model_name(self) -> str:
        return self.writer.model_name

    def identity(self) -> dict[str, Any]:
        return {
            "adapter": self.adapter_name,
            "model": self.writer.model_name,
            "args": {
                "captioner": self.captioner.identity(),
                "writer": self.writer.identity(),
                "caption_prompt_sha256": stable_hash(self.caption_prompt),
                "caption_config": self.caption_config.to_dict(),
                **({"writer_template_sha256": stable_hash(self.writer_template)} if self.writer_template else {}),
                **({"protocol": self.protocol} if self.protocol != DEFAULT_PROTOCOL else {}),
            },
        }

    def __repr__(self) -> str:
        return f"CaptionLLMAdapter(captioner={self.captioner!r}, writer={self.writer!r})"

    def caption_request(self, image: ImageRef) -> Request:
        """The request that describes one image (its id is derived from the image hash)."""
        parts = ((self.caption_prompt, ImagePart(image)) if self.caption_order == TEXT_FIRST
                 else (ImagePart(image), self.caption_prompt))
        return Request(f"caption-{image.sha256}", (Message.user(*parts),), self.caption_config)

    def caption_all(self, requests: Sequence[Request]) -> dict[str, str]:
        """Caption every image not yet described; returns ``{sha256: error}`` for the ones that failed."""
        todo: dict[str, ImageRef] = {}
        for request in requests:
            for image in request.images:
                if image.sha256 not in self._captions:
                    todo.setdefault(image.sha256, image)
        errors: dict[str, str] = {}
        if not todo:
            return errors
        tracker = self.caption_progress(len(todo)) if self.caption_progress is not None else None
        if tracker is not None:
            tracker.start()
        for gen in self.captioner.generate([self.caption_request(img) for img in todo.values()]):
            sha = gen.request_id.removeprefix("caption-")
            text = strip_think(gen.text).strip() if gen.ok else ""
            if text:
                self._captions[sha] = text
            else:
                errors[sha] = gen.error or "the captioner returned an empty description"
            if tracker is not None:
                tracker.advance(ok=bool(text), usage=gen.usage, model=self.captioner.model_name, cached=gen.cached)
        if tracker is not None:
            tracker.finish()
        for sha in todo:  # a captioner that silently dropped a request
            if sha not in self._captions and sha not in errors:
                errors[sha] = "the captioner returned no result"
        return errors

    def text_request(self, request: Request) -> Request:
        """``request`` as text only: the writer template filled, or each image replaced by its description."""
        if self.writer_template is not None:
            return self.templated_request(request)
        number = 0
        messages: list[Message] = []
        for message in request.messages:
            if not message.images:
                messages.append(message)
                continue
            chunks: list[str] = []
            for part in message.content:
                if isinstance(part, ImagePart):
                    if number == 0:
                        chunks.append("The images are given as detailed descriptions.\n\n")
                    number += 1
                    chunks.append(f"[Image {number}]\n{self._captions[part.image.sha256]}\n\n")
                else:
                    chunks.append(part.text)
            messages.append(Message(message.role, (TextPart("".join(chunks).strip()),)))
        return Request(request.id, tuple(messages), request.config)

    def templated_request(self, request: Request) -> Request:
        """System messages as they are, then one user message: the writer template with the request's
        text as ``$QUESTION$`` and its images' descriptions, in order, as ``$CAPTIONS$``."""
        assert self.writer_template is not None
        system = tuple(m for m in request.messages if m.role == "system")
        others = [m for m in request.messages if m.role != "system"]
        question = "\n\n".join(m.text for m in others if m.text)
        captions = [self._captions[img.sha256] for m in others for img in m.images]
        text = fill_template(self.writer_template, {"$QUESTION$": question,
                                                    "$CAPTIONS$": format_captions(self.protocol, captions)})
        return Request(request.id, (*system, Message.user(text)), request.config)

    def generate(self, requests: Sequence[Request]) -> Iterator[Generation]:
        errors = self.caption_all(requests)
        ready: list[Request] = []
        for request in requests:
            failed = next((img for img in request.images if img.sha256 in errors), None)
            if failed is not None:
                reason = f"captioning image {failed.sha256[:12]} ({failed.source}) failed: {errors[failed.sha256]}"
                yield Generation.failure(request.id, reason)
            else:
                ready.append(self.text_request(request))
        if ready:
            yield from self.writer.generate(ready)

    def close(self) -> None:
        self.captioner.close()
        self.writer.close()
