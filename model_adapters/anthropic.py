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

from .api_base import APIAdapter, b64
from .wire import MalformedResponse, count, error_in_body, items, obj, opt_obj, opt_str

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
        """The JSON body of one Messages API call (``GenerationConfig.extra`` keys pass through)."""
        cfg = request.config
        system, messages = to_anthropic(request.messages)
        params: dict[str, Any] = {
            "model": self.model_name,
            "messages": messages,
            "max_tokens": cfg.max_new_tokens or DEFAULT_MAX_TOKENS,
        }
        if system:
            params["system"] = system
        # newer SDKs dropped the sampling keys from the typed signature; the API still takes them
        sampling = {"temperature": cfg.temperature, "top_p": cfg.top_p, "top_k": cfg.top_k}
        params.update({k: v for k, v in sampling.items() if v is not None})
        params.update({k: v for k, v in cfg.extra.items() if k not in ("model", "messages")})
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
        # the SDK's low-level post, read as plain JSON (see the openai adapter for why)
        reply = await client.post("/v1/messages", cast_to=dict[str, Any], body=self.build_params(request))
        return parse_reply(request.id, reply, self.model_name)


def parse_reply(request_id: str, body: Any, model_name: str) -> Generation:
    """A Messages API JSON body (non-streaming shape) as a Generation.

    Every field is type-checked: a body not of the documented shape raises :class:`MalformedResponse`
    (retried, then the request's failure), never a crash. Block types other than ``text`` and
    ``thinking`` (tool use, redacted thinking) are skipped.
    """
    body = obj(body, "reply")
    if body.get("type") == "error" or "error" in body:
        raise MalformedResponse(f"reply carries an error: {error_in_body(body)}")
    blocks = items(body.get("content"), "reply.content")
    texts: list[str] = []
    thoughts: list[str] = []
    for i, block in enumerate(blocks):
        block = obj(block, f"reply.content[{i}]")
        kind = opt_str(block, "type", f"reply.content[{i}]")
        if kind == "text":
            texts.append(opt_str(block, "text", f"reply.content[{i}]") or "")
        elif kind == "thinking":
            thoughts.append(opt_str(block, "thinking", f"reply.content[{i}]") or "")
    text, thinking = "".join(texts), "".join(thoughts)
    if thinking:  # extended thinking: kept, marked to be stripped before counting
        text = f"<think>{thinking}</think>\n{text}"
    usage = opt_obj(body, "usage", "reply")
    return Generation(
        request_id=request_id,
        text=text,
        finish_reason=finish_reason(opt_str(body, "stop_reason", "reply")),
        usage=Usage(count(usage, "input_tokens", "reply.usage"), count(usage, "output_tokens", "reply.usage")),
        model=opt_str(body, "model", "reply") or model_name,
    )
