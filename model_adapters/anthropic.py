"""The ``anthropic`` adapter: the official SDK's Messages API.

Images go as base64 blocks with their media type (the API takes JPEG, PNG, GIF and WebP; anything else is
re-encoded as PNG). ``max_tokens`` is required by the API, so it is always sent (4096 when unset, the
paper's setting for Claude 3 Opus). System messages become the ``system`` parameter.

Model args:
    model: the model name (required), e.g. ``claude-3-opus-20240229``.
    base_url: server address *without* ``/v1`` (the SDK appends ``/v1/messages``).
    api_key_env: environment variable with the key (default ``ANTHROPIC_API_KEY``).
"""

from __future__ import annotations

import base64
import io
from typing import Any

from mmlongbench_write.registry import register_model
from mmlongbench_write.schema import FinishReason, Generation, ImagePart, ImageRef, Message, Request, Usage

from .api_base import APIAdapter, MalformedResponse, b64

DEFAULT_MAX_TOKENS = 4096
_ACCEPTED = {"image/jpeg", "image/png", "image/gif", "image/webp"}


def finish_reason(raw: str | None) -> FinishReason:
    mapping: dict[str, FinishReason] = {"max_tokens": "length", "end_turn": "stop", "stop_sequence": "stop"}
    return mapping.get(raw or "", "unknown")


def image_block(image: ImageRef) -> dict[str, Any]:
    """A base64 image block; media types the API does not take are converted to PNG (Pillow, lazily)."""
    if image.media_type in _ACCEPTED:
        media_type, data = image.media_type, b64(image)
    else:
        buffer = io.BytesIO()
        image.open().save(buffer, format="PNG")
        media_type, data = "image/png", base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def to_anthropic(messages: tuple[Message, ...]) -> tuple[str | None, list[dict[str, Any]]]:
    """``(system, messages)``: system text joined; content parts in their original order."""
    system = "\n\n".join(m.text for m in messages if m.role == "system") or None
    result: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        parts: list[dict[str, Any]] = []
        for part in message.content:
            if isinstance(part, ImagePart):
                parts.append(image_block(part.image))
            elif part.text:
                parts.append({"type": "text", "text": part.text})
        result.append({"role": message.role, "content": parts})
    return system, result


@register_model("anthropic", "Anthropic Messages API via the official SDK")
class AnthropicAdapter(APIAdapter):
    """Claude models through the Messages API; see the module docstring for model args."""

    adapter_name = "anthropic"
    default_key_env = "ANTHROPIC_API_KEY"

    def build_params(self, request: Request) -> dict[str, Any]:
        """The keyword arguments of ``messages.create`` for one request."""
        cfg = request.config
        system, messages = to_anthropic(request.messages)
        params: dict[str, Any] = {
            "model": self.model_name,
            "messages": messages,
            "max_tokens": cfg.max_new_tokens or DEFAULT_MAX_TOKENS,
        }
        if system:
            params["system"] = system
        # sampling keys travel in the body: newer SDKs dropped them from the typed signature, the API keeps them
        sampling = {"temperature": cfg.temperature, "top_p": cfg.top_p, "top_k": cfg.top_k}
        body = {k: v for k, v in sampling.items() if v is not None} | dict(cfg.extra)
        if body:
            params["extra_body"] = body
        return params

    def _make_client(self, api_key: str) -> Any:
        import anthropic

        return anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=self.model_args.get("base_url") or None,
            max_retries=0,
            timeout=self.runtime.timeout_s,
        )

    async def _call(self, client: Any, request: Request) -> Generation:
        response = await client.messages.create(**self.build_params(request))
        blocks = getattr(response, "content", None)
        if blocks is None:
            raise MalformedResponse("reply has no content")
        thinking = "".join(getattr(b, "thinking", "") or "" for b in blocks if getattr(b, "type", "") == "thinking")
        text = "".join(getattr(b, "text", "") or "" for b in blocks if getattr(b, "type", "") == "text")
        if thinking:
            text = f"<think>{thinking}</think>\n{text}"
        usage = getattr(response, "usage", None)
        return Generation(
            request_id=request.id,
            text=text,
            finish_reason=finish_reason(getattr(response, "stop_reason", None)),
            usage=Usage(int(getattr(usage, "input_tokens", 0) or 0), int(getattr(usage, "output_tokens", 0) or 0)),
            model=getattr(response, "model", None) or self.model_name,
        )
