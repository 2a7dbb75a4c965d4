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

from .api_base import APIAdapter, MalformedResponse
from .chat_format import openai_style_messages

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


def parse_reply(request_id: str, reply: Any, model_name: str) -> Generation:
    """A chat-completions JSON reply as a Generation; :class:`MalformedResponse` when it is not one."""
    try:
        choice = reply["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise MalformedResponse("reply has no choices[0].message") from None
    text = message.get("content")
    if text is None:
        text = message.get("refusal")
    if not isinstance(text, str):
        raise MalformedResponse("reply has no message content")
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:  # DeepSeek-R1 style: kept, marked to be stripped before counting
        text = f"<think>{reasoning}</think>\n{text}"
    usage = reply.get("usage") or {}
    return Generation(
        request_id=request_id,
        text=text,
        finish_reason=finish_reason(choice.get("finish_reason")),
        usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
        model=reply.get("model") or model_name,
    )
