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
from mmlongbench_write.schema import FinishReason, Generation, ImagePart, Message, Request, Usage

from .api_base import APIAdapter, MalformedResponse, data_url

_NEW_TOKEN_PARAM = re.compile(r"^(?:.*/)?(o\d|gpt-5)", re.IGNORECASE)


def finish_reason(raw: str | None) -> FinishReason:
    return {"stop": "stop", "length": "length"}.get(raw or "", "unknown")  # type: ignore[return-value]


def to_openai_messages(messages: tuple[Message, ...], image_detail: str | None = None) -> list[dict[str, Any]]:
    """Chat-completions messages; user content keeps the order of text and image parts."""
    result: list[dict[str, Any]] = []
    for message in messages:
        if message.role != "user" or not message.images:
            result.append({"role": message.role, "content": message.text})
            continue
        parts: list[dict[str, Any]] = []
        for part in message.content:
            if isinstance(part, ImagePart):
                image_url: dict[str, Any] = {"url": data_url(part.image)}
                if image_detail:
                    image_url["detail"] = image_detail
                parts.append({"type": "image_url", "image_url": image_url})
            else:
                parts.append({"type": "text", "text": part.text})
        result.append({"role": "user", "content": parts})
    return result


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
        """The keyword arguments of ``chat.completions.create`` for one request."""
        cfg = request.config
        params: dict[str, Any] = {
            "model": self.model_name,
            "messages": to_openai_messages(request.messages, self.model_args.get("image_detail")),
        }
        if cfg.max_new_tokens is not None:
            params[self.token_param()] = cfg.max_new_tokens
        if cfg.temperature is not None:
            params["temperature"] = cfg.temperature
        if cfg.top_p is not None:
            params["top_p"] = cfg.top_p
        if cfg.seed is not None:
            params["seed"] = cfg.seed
        extra_body = dict(cfg.extra)
        if cfg.top_k is not None:  # not an OpenAI parameter; vLLM/SGLang servers accept it
            extra_body.setdefault("top_k", cfg.top_k)
        if cfg.min_new_tokens is not None:
            extra_body.setdefault("min_tokens", cfg.min_new_tokens)
        if extra_body:
            params["extra_body"] = extra_body
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
        response = await client.chat.completions.create(**self.build_params(request))
        choices = getattr(response, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise MalformedResponse("reply has no choices[0].message")
        message = choices[0].message
        text = message.content if message.content is not None else getattr(message, "refusal", None)
        if text is None:
            raise MalformedResponse("reply has no message content")
        reasoning = getattr(message, "reasoning_content", None) or (message.model_extra or {}).get("reasoning_content")
        if reasoning:  # DeepSeek-R1 style: keep the thinking, marked so it is stripped before counting
            text = f"<think>{reasoning}</think>\n{text}"
        usage = getattr(response, "usage", None)
        return Generation(
            request_id=request.id,
            text=text,
            finish_reason=finish_reason(choices[0].finish_reason),
            usage=Usage(int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0)),
            model=getattr(response, "model", None) or self.model_name,
        )
