"""The ``openai`` adapter: chat completions over our own HTTP transport, for OpenAI and any compatible server.

``base_url`` points it at vLLM (``vllm serve``), SGLang, LM Studio, Gemini's OpenAI-compatible endpoint
or DeepSeek; ``api_key_env`` names the variable holding that server's key. Images go as base64 data URLs
in the order the message has them. Replies stream (``stream: true`` with ``stream_options.include_usage``)
unless ``stream=false``; the chunks are accumulated into the non-streaming body and read by
:func:`parse_reply`, so both paths share one validation.

Model args:
    model: the model name (required).
    base_url: server address, e.g. ``http://127.0.0.1:8000/v1`` (else ``OPENAI_BASE_URL``, else OpenAI's).
    api_key_env: environment variable with the key (default ``OPENAI_API_KEY``).
    max_tokens_param: ``max_tokens`` or ``max_completion_tokens``; by default the latter for the o1/o3/o4/
        gpt-5 families, which reject ``max_tokens``.
    image_detail: ``low``/``high``/``auto``, sent as the image part's ``detail`` when given.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mmlongbench_write.errors import AdapterError
from mmlongbench_write.registry import register_model
from mmlongbench_write.schema import FinishReason, Generation, Request, Usage

from .api_base import APIAdapter, StreamReader
from .chat_format import openai_style_messages
from .wire import MalformedResponse, StreamError, count, error_in_body, items, obj, opt_obj, opt_str

_NEW_TOKEN_PARAM = re.compile(r"^(?:.*/)?(o\d|gpt-5)", re.IGNORECASE)


def finish_reason(raw: str | None) -> FinishReason:
    return {"stop": "stop", "length": "length"}.get(raw or "", "unknown")  # type: ignore[return-value]


@register_model("openai", "OpenAI chat completions, streamed (any OpenAI-compatible server via base_url)")
class OpenAIAdapter(APIAdapter):
    """OpenAI (or compatible) chat completions; see the module docstring for model args."""

    adapter_name = "openai"
    default_key_env = "OPENAI_API_KEY"
    default_base_url = "https://api.openai.com/v1"
    base_url_env = "OPENAI_BASE_URL"
    accepted_args = APIAdapter.accepted_args | {"max_tokens_param", "image_detail"}  # type: ignore[operator]

    def token_param(self) -> str:
        forced = self.model_args.get("max_tokens_param")
        if forced:
            if forced not in {"max_tokens", "max_completion_tokens"}:
                raise AdapterError(
                    f"openai: max_tokens_param must be max_tokens or max_completion_tokens, not {forced!r}"
                )
            return str(forced)
        return "max_completion_tokens" if _NEW_TOKEN_PARAM.match(self.model_name) else "max_tokens"

    def build_params(self, request: Request) -> dict[str, Any]:
        """The JSON body of one chat-completions call (``GenerationConfig.extra`` keys pass through)."""
        cfg = request.config
        params: dict[str, Any] = {
            "model": self.model_name,
            "messages": openai_style_messages(request.messages, self.model_args.get("image_detail")),
        }
        if cfg.max_new_tokens is not None:
            params[self.token_param()] = cfg.max_new_tokens
        if cfg.temperature is not None:
            params["temperature"] = cfg.temperature
        if cfg.top_p is not None:
            params["top_p"] = cfg.top_p
        if cfg.seed is not None:
            params["seed"] = cfg.seed
        if cfg.top_k is not None:  # not an OpenAI parameter; vLLM/SGLang servers accept it
            params["top_k"] = cfg.top_k
        if cfg.min_new_tokens is not None:
            params["min_tokens"] = cfg.min_new_tokens
        params.update({k: v for k, v in cfg.extra.items() if k not in ("model", "messages")})
        return params

    def endpoint(self) -> str:
        return "/chat/completions"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    def stream_params(self) -> dict[str, Any]:
        return {"stream": True, "stream_options": {"include_usage": True}}

    def parse_body(self, request_id: str, body: Any) -> Generation:
        return parse_reply(request_id, body, self.model_name)

    def read_stream(self, request_id: str) -> OpenAIStream:
        return OpenAIStream(request_id, self.model_name)


class OpenAIStream(StreamReader):
    """Chat-completion chunks (``data: {...}`` ... ``data: [DONE]``) accumulated into one reply body."""

    def __init__(self, request_id: str, model_name: str) -> None:
        self.request_id, self.model_name = request_id, model_name
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.finish: str | None = None
        self.usage: dict[str, Any] | None = None
        self.model: str | None = None
        self.choices_seen = False
        self.done = False

    def feed(self, event: str, data: str) -> bool:
        if data.strip() == "[DONE]":
            self.done = True
            return True
        try:
            chunk = obj(json.loads(data), "chunk")
        except ValueError:
            raise MalformedResponse(f"stream chunk is not JSON: {data[:60]!r}") from None
        if (error := error_in_body(chunk)) is not None:
            raise StreamError(error)
        self.model = opt_str(chunk, "model", "chunk") or self.model
        if chunk.get("usage") is not None:
            self.usage = obj(chunk["usage"], "chunk.usage")
        for i, choice in enumerate(items(chunk.get("choices") or [], "chunk.choices")):
            choice = obj(choice, f"chunk.choices[{i}]")
            if choice.get("index", 0) != 0:  # n > 1: only the first choice is read
                continue
            self.choices_seen = True
            delta = opt_obj(choice, "delta", f"chunk.choices[{i}]")
            where = f"chunk.choices[{i}].delta"
            if (text := content_text(delta.get("content"), f"{where}.content")) is not None:
                self.content.append(text)
            for key, sink in (("reasoning_content", self.reasoning), ("reasoning", self.reasoning),
                              ("refusal", self.refusal)):
                if (value := opt_str(delta, key, where)) is not None:
                    sink.append(value)
            self.finish = opt_str(choice, "finish_reason", f"chunk.choices[{i}]") or self.finish
        return False

    def result(self) -> Generation:
        if not self.done and self.finish is None:
            raise MalformedResponse("the event stream ended before its finish_reason and [DONE]")
        if not self.choices_seen:
            raise MalformedResponse("the event stream carried no choices")
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content)}
        if self.refusal and not self.content:
            message["content"], message["refusal"] = None, "".join(self.refusal)
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        body = {"model": self.model, "choices": [{"message": message, "finish_reason": self.finish}],
                "usage": self.usage}
        return parse_reply(self.request_id, body, self.model_name)


def parse_reply(request_id: str, body: Any, model_name: str) -> Generation:
    """A chat-completions JSON body (non-streaming shape) as a Generation.

    Every field is type-checked: a body not of the documented shape raises :class:`MalformedResponse`
    (retried, then the request's failure), never a crash. ``usage`` may be absent (counted as 0).
    """
    body = obj(body, "reply")
    if (error := error_in_body(body)) is not None:
        raise MalformedResponse(f"reply carries an error: {error}")
    choices = items(body.get("choices"), "reply.choices")
    if not choices:
        raise MalformedResponse("reply.choices is empty")
    choice = obj(choices[0], "reply.choices[0]")
    message = obj(choice.get("message"), "reply.choices[0].message")
    text = content_text(message.get("content"), "reply.choices[0].message.content")
    if text is None:
        text = opt_str(message, "refusal", "reply.choices[0].message")
    if text is None:
        raise MalformedResponse("reply has no message content")
    reasoning = opt_str(message, "reasoning_content", "reply.choices[0].message") or opt_str(
        message, "reasoning", "reply.choices[0].message"
    )
    if reasoning:  # DeepSeek-R1 style: kept, marked to be stripped before counting
        text = f"<think>{reasoning}</think>\n{text}"
    usage = opt_obj(body, "usage", "reply")
    return Generation(
        request_id=request_id,
        text=text,
        finish_reason=finish_reason(opt_str(choice, "finish_reason", "reply.choices[0]")),
        usage=Usage(count(usage, "prompt_tokens", "reply.usage"), count(usage, "completion_tokens", "reply.usage")),
        model=opt_str(body, "model", "reply") or model_name,
    )


def content_text(content: Any, where: str) -> str | None:
    """Message content as text: a string, or a list of ``{"type": "text", "text": ...}`` parts; None if null."""
    if content is None or isinstance(content, str):
        return content
    parts = items(content, where)
    texts = []
    for i, part in enumerate(parts):
        part = obj(part, f"{where}[{i}]")
        if part.get("type") == "text":
            texts.append(opt_str(part, "text", f"{where}[{i}]") or "")
    return "".join(texts)
