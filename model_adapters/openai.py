"""The ``openai`` adapter: the official SDK's chat completions, for OpenAI and any compatible server.

``base_url`` points it at vLLM (``vllm serve``), SGLang, LM Studio, Gemini's OpenAI-compatible endpoint
or DeepSeek; ``api_key_env`` names the variable holding that server's key. Images go as base64 data URLs
in the order the message has them.

Model args:
    model: the model name (required).
    base_url: server address, e.g. ``http://127.0.0.1:8000/v1``.
    api_key_env: environment variable with the key (default ``OPENAI_API_KEY``).
    max_tokens_param: ``max_tokens`` or ``max_completion_tokens``; by default the latter for the o1/o3/o4/
        gpt-5 families, which reject ``max_tokens``.
    image_detail: ``low``/``high``/``auto``, sent as the image part's ``detail`` when given.
"""

from __future__ import annotations

import re
from typing import Any

from mmlongbench_write.errors import AdapterError
from mmlongbench_write.registry import register_model
from mmlongbench_write.schema import FinishReason, Generation, Request, Usage

from .api_base import APIAdapter
from .chat_format import openai_style_messages
from .wire import MalformedResponse, count, error_in_body, items, obj, opt_obj, opt_str

_NEW_TOKEN_PARAM = re.compile(r"^(?:.*/)?(o\d|gpt-5)", re.IGNORECASE)


def finish_reason(raw: str | None) -> FinishReason:
    return {"stop": "stop", "length": "length"}.get(raw or "", "unknown")  # type: ignore[return-value]


@register_model("openai", "OpenAI chat completions via the official SDK (any OpenAI-compatible server via base_url)")
class OpenAIAdapter(APIAdapter):
    """OpenAI (or compatible) chat completions; see the module docstring for model args."""

    adapter_name = "openai"
    default_key_env = "OPENAI_API_KEY"

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

    def _make_client(self, api_key: str) -> Any:
        import openai

        return openai.AsyncOpenAI(
            api_key=api_key,
            base_url=self.model_args.get("base_url") or None,
            max_retries=0,
            timeout=self.runtime.timeout_s,
        )

    async def _call(self, client: Any, request: Request) -> Generation:
        # The SDK's low-level post: the same client, auth, errors and timeouts as ``chat.completions.create``
        # without its per-call walk over the image-heavy params and its model construction, which cost
        # milliseconds of CPU per request and so cap concurrency. The reply is read as plain JSON.
        reply = await client.post("/chat/completions", cast_to=dict[str, Any], body=self.build_params(request))
        return parse_reply(request.id, reply, self.model_name)


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
