"""Render :class:`~mmlongbench_write.schema.Message` objects into the chat formats local backends take.

Shared by the ``hf`` adapter (a processor's chat template plus a list of PIL images), the ``vllm`` and
``openai`` adapters (OpenAI-style chat messages with ``image_url`` parts). Both keep the image parts exactly where
they are in the message, so interleaved text and images reach the model in the order the task wrote them.
Pure functions, no heavy imports: unit-testable without torch or vLLM.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

from mmlongbench_write.schema import GenerationConfig, ImagePart, ImageRef, Message, Request


def render_messages(messages: Sequence[Message],
                    image_part: Callable[[ImageRef], dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages with each image part rendered by ``image_part``, text and images in their order.

    Text-only messages become plain strings (templates of text-only models such as GLM-4 expect that,
    and every chat API accepts it); messages with images become part lists.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        if not message.images:
            out.append({"role": message.role, "content": message.text})
            continue
        parts = [image_part(p.image) if isinstance(p, ImagePart) else {"type": "text", "text": p.text}
                 for p in message.content]
        out.append({"role": message.role, "content": parts})
    return out


def hf_chat_messages(messages: Sequence[Message]) -> tuple[list[dict[str, Any]], list[ImageRef]]:
    """Messages for ``processor.apply_chat_template`` and the images in the order their parts appear.

    Image parts become ``{"type": "image"}`` placeholders, which the Qwen2-VL family's template renders as
    ``<|vision_start|><|image_pad|><|vision_end|>``; the processor gets the images in the same order.
    """
    images: list[ImageRef] = []

    def placeholder(image: ImageRef) -> dict[str, Any]:
        images.append(image)
        return {"type": "image"}

    return render_messages(messages, placeholder), images


def image_data_url(image: ImageRef) -> str:
    """The image as a base64 ``data:`` URL with its media type."""
    encoded = base64.b64encode(image.read_bytes()).decode("ascii")
    return f"data:{image.media_type};base64,{encoded}"


def openai_style_messages(messages: Sequence[Message], image_detail: str | None = None) -> list[dict[str, Any]]:
    """OpenAI chat-completions messages (``image_url`` parts with data URLs): the OpenAI adapter's request
    and the input of ``vllm.LLM.chat``. ``image_detail`` sets OpenAI's ``detail`` (low/high/auto)."""

    def image_url(image: ImageRef) -> dict[str, Any]:
        url: dict[str, Any] = {"url": image_data_url(image)}
        if image_detail:
            url["detail"] = image_detail
        return {"type": "image_url", "image_url": url}

    return render_messages(messages, image_url)


def config_key(config: GenerationConfig) -> str:
    """A key that groups requests whose generation settings are identical (one ``generate`` call each)."""
    from mmlongbench_write.kvstore import stable_hash

    return stable_hash(config.to_dict())


def group_by_config(requests: Sequence[Request]) -> list[list[Request]]:
    """Requests grouped by identical :class:`GenerationConfig`, groups in order of first appearance."""
    groups: dict[str, list[Request]] = {}
    for request in requests:
        groups.setdefault(config_key(request.config), []).append(request)
    return list(groups.values())


def chunked(items: Sequence[Any], size: int) -> list[list[Any]]:
    """``items`` cut into lists of at most ``size`` (at least 1)."""
    size = max(1, int(size))
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
