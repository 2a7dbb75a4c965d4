"""The ``anthropic`` adapter: the Messages API over our own HTTP transport, streamed by default.

Images go as base64 blocks with their media type (the API takes JPEG, PNG, GIF and WebP; anything else is
re-encoded as PNG). ``max_tokens`` is required by the API, so it is always sent (4096 when unset, the
paper's setting for Claude 3 Opus). System messages become the ``system`` parameter. Replies stream
(``message_start`` ... ``message_stop`` events) unless ``stream=false``; streaming is what lets a large
``max_tokens`` run past ten minutes. The events are accumulated into the non-streaming body and read by
:func:`parse_reply`, so both paths share one validation.

Model args:
    model: the model name (required), e.g. ``claude-3-opus-20240229``.
    base_url: server address *without* ``/v1`` (``/v1/messages`` is appended; else ``ANTHROPIC_BASE_URL``).
    api_key_env: environment variable with the key (default ``ANTHROPIC_API_KEY``).
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from mmlongbench_write.registry import register_model
from mmlongbench_write.schema import FinishReason, Generation, ImagePart, ImageRef, Message, Request, Usage

from .api_base import APIAdapter, StreamReader, b64
from .wire import MalformedResponse, StreamError, count, error_in_body, items, obj, opt_obj, opt_str

DEFAULT_MAX_TOKENS = 4096
API_VERSION = "2023-06-01"
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


@register_model("anthropic", "Anthropic Messages API, streamed")
class AnthropicAdapter(APIAdapter):
    """Claude models through the Messages API; see the module docstring for model args."""

    adapter_name = "anthropic"
    default_key_env = "ANTHROPIC_API_KEY"
    default_base_url = "https://api.anthropic.com"
    base_url_env = "ANTHROPIC_BASE_URL"

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

    def endpoint(self) -> str:
        return "/v1/messages"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"x-api-key": api_key, "anthropic-version": API_VERSION}

    def stream_params(self) -> dict[str, Any]:
        return {"stream": True}

    def parse_body(self, request_id: str, body: Any) -> Generation:
        return parse_reply(request_id, body, self.model_name)

    def read_stream(self, request_id: str) -> AnthropicStream:
        return AnthropicStream(request_id, self.model_name)


class AnthropicStream(StreamReader):
    """Messages API events accumulated into one reply body.

    ``message_start`` (model, input usage), ``content_block_start``/``_delta``/``_stop`` (text and thinking
    per block index), ``message_delta`` (stop reason, output usage), ``message_stop``; ``ping`` and event
    types this reader does not know are skipped (the API may add some), ``error`` is a retried failure.
    """

    def __init__(self, request_id: str, model_name: str) -> None:
        self.request_id, self.model_name = request_id, model_name
        self.message: dict[str, Any] | None = None
        self.blocks: dict[int, dict[str, Any]] = {}
        self.usage: dict[str, Any] = {}
        self.stop_reason: str | None = None
        self.done = False

    def feed(self, event: str, data: str) -> bool:
        try:
            payload = obj(json.loads(data), f"{event} event")
        except ValueError:
            raise MalformedResponse(f"{event} event is not JSON: {data[:60]!r}") from None
        kind = opt_str(payload, "type", "event") or event
        where = f"{kind} event"
        if kind == "error":
            raise StreamError(error_in_body(payload) or "error event")
        if kind == "message_start":
            self.message = obj(payload.get("message"), f"{where}.message")
            self.usage.update(opt_obj(self.message, "usage", f"{where}.message"))
        elif kind in {"content_block_start", "content_block_delta"}:
            if self.message is None:
                raise MalformedResponse(f"{kind} before message_start")
            index = payload.get("index")
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                raise MalformedResponse(f"{where}.index is not a block index: {index!r}")
            if kind == "content_block_start":
                block = obj(payload.get("content_block"), f"{where}.content_block")
                self.blocks[index] = {
                    "type": opt_str(block, "type", f"{where}.content_block"),
                    "text": [opt_str(block, "text", f"{where}.content_block") or ""],
                    "thinking": [opt_str(block, "thinking", f"{where}.content_block") or ""],
                }
            else:
                if index not in self.blocks:
                    raise MalformedResponse(f"{where} for block {index}, which never started")
                delta = obj(payload.get("delta"), f"{where}.delta")
                delta_type = opt_str(delta, "type", f"{where}.delta")
                if delta_type == "text_delta":
                    self.blocks[index]["text"].append(opt_str(delta, "text", f"{where}.delta") or "")
                elif delta_type == "thinking_delta":
                    self.blocks[index]["thinking"].append(opt_str(delta, "thinking", f"{where}.delta") or "")
        elif kind == "message_delta":
            delta = opt_obj(payload, "delta", where)
            self.stop_reason = opt_str(delta, "stop_reason", f"{where}.delta") or self.stop_reason
            self.usage.update(opt_obj(payload, "usage", where))
        elif kind == "message_stop":
            self.done = True
            return True
        return False

    def result(self) -> Generation:
        if self.message is None or not self.done:
            raise MalformedResponse("the event stream ended before message_stop")
        content = []
        for index in sorted(self.blocks):
            block = self.blocks[index]
            if block["type"] == "text":
                content.append({"type": "text", "text": "".join(block["text"])})
            elif block["type"] == "thinking":
                content.append({"type": "thinking", "thinking": "".join(block["thinking"])})
        body = {**self.message, "content": content, "stop_reason": self.stop_reason, "usage": self.usage}
        return parse_reply(self.request_id, body, self.model_name)


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
