"""A deterministic, dependency-free adapter for tests, demos and dry runs of a pipeline.

It writes filler text of a chosen length instead of calling a model, so a whole eval (data, tasks,
runner, judges, leaderboard) can be exercised offline in milliseconds. Not a model: its outputs say so.

Model args (all optional):
    reply: a fixed reply for every request.
    words: the number of words to write.
    length_ratio: write ``ratio * N`` words, N being the length the prompt asks for ("2,000-word",
        "1600字"), read as the data loader reads L (``data.inference.parse_length``); default 1.0 when
        neither ``reply`` nor ``words`` is given.
    language: ``en`` (default) or ``zh`` filler; ``auto`` follows the prompt's language.
    fail_every: make every n-th request (by order) a failed generation, to exercise error paths.
    delay_s: sleep this long per request, to exercise interruption and progress.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from mmlongbench_write.registry import register_model
from mmlongbench_write.schema import Generation, Request, Usage
from mmlongbench_write.textstats import detect_language

from .base import ModelAdapter

_EN_FILLER = "the picture shows a scene worth describing in careful detail".split()
_ZH_FILLER = "画面展示了一个值得仔细描述的场景"


def filler_text(n_words: int, language: str) -> str:
    """``n_words`` words of filler (CJK characters count one word each), in paragraphs of 100."""
    if language == "zh":
        chars = (_ZH_FILLER * (n_words // len(_ZH_FILLER) + 1))[:n_words]
        return "\n\n".join(chars[i : i + 100] for i in range(0, len(chars), 100))
    words = [_EN_FILLER[i % len(_EN_FILLER)] for i in range(n_words)]
    return "\n\n".join(" ".join(words[i : i + 100]) for i in range(0, len(words), 100))


@register_model("scripted", "deterministic filler text of a chosen length (tests, demos, dry runs)")
class ScriptedAdapter(ModelAdapter):
    """Answers each request with filler text; see the module docstring for its args."""

    adapter_name = "scripted"
    cacheable = False

    def __init__(self, runtime: Any = None, **model_args: Any) -> None:
        super().__init__(runtime, **model_args)
        self.calls: list[Request] = []

    @property
    def model_name(self) -> str:
        return str(self.model_args.get("model", "scripted"))

    def reply_for(self, request: Request) -> str:
        args = self.model_args
        if "reply" in args:
            return str(args["reply"])
        prompt = "".join(m.text for m in request.messages)
        language = str(args.get("language", "en"))
        if language == "auto":
            language = detect_language(prompt)
        if "words" in args:
            n = int(args["words"])
        else:
            from mmlongbench_write.data.inference import parse_length  # the benchmark's own L parser

            n = round(float(args.get("length_ratio", 1.0)) * (parse_length(prompt) or 100))
        return filler_text(n, language)

    def generate(self, requests: Sequence[Request]) -> Iterator[Generation]:
        fail_every = int(self.model_args.get("fail_every", 0) or 0)
        delay_s = float(self.model_args.get("delay_s", 0) or 0)
        for index, request in enumerate(requests, start=1):
            self.calls.append(request)
            start = time.perf_counter()
            if delay_s:
                time.sleep(delay_s)
            if fail_every and index % fail_every == 0:
                yield Generation.failure(request.id, "scripted failure", time.perf_counter() - start)
                continue
            text = self.reply_for(request)
            yield Generation(
                request_id=request.id,
                text=text,
                finish_reason="stop",
                usage=Usage(sum(len(m.text) // 4 for m in request.messages), len(text) // 4),
                latency_s=time.perf_counter() - start,
                model=self.model_name,
            )
