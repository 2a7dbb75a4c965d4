"""``--protocol``: how mmlw does what the prompt templates leave open — its own way, or the authors'.

A template fixes the words sent to a model; it does not fix where the images go, how captions are
written into a writer prompt, or how often an unusable judge reply is asked again. Two protocols answer
those questions:

``mmlw`` (default)
    Images first, then the text, in every generation, judge and caption request (the layout of the
    Qwen2.5-VL chat examples); captions in a writer template as numbered ``[Image k]`` blocks; 3 judge
    attempts.
``authors``
    What the authors' released scripts (THU-KEG/LongWriter-V, ``eval/``) do: the text before the images
    in judge and caption requests, and in generation requests for every provider except those their
    script sends images-first (Anthropic's Claude and MiniCPM-V); captions written into the writer
    template as the printed Python list of strings; 5 judge attempts; and the authors' aggregation rule.

The protocol shapes generation requests, so it is part of a run's fingerprint and setting.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import ConfigError

PROTOCOLS: tuple[str, ...] = ("mmlw", "authors")
DEFAULT_PROTOCOL = "mmlw"
IMAGES_FIRST = "images-first"
TEXT_FIRST = "text-first"
_JUDGE_ATTEMPTS = {"mmlw": 3, "authors": 5}


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ConfigError(f"--protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    return protocol


def default_judge_attempts(protocol: str) -> int:
    """Judge requests per verdict at most when ``--judge-max-attempts`` is not given."""
    return _JUDGE_ATTEMPTS[check_protocol(protocol)]


def judge_part_order(protocol: str) -> str:
    """Where the prompt text goes relative to the images in a judge request."""
    return TEXT_FIRST if check_protocol(protocol) == "authors" else IMAGES_FIRST


def caption_part_order(protocol: str) -> str:
    """Where the caption prompt goes relative to the image in a captioner request."""
    return TEXT_FIRST if check_protocol(protocol) == "authors" else IMAGES_FIRST


def generation_part_order(protocol: str, adapter: str, model: str | None = None) -> str:
    """Where the instruction goes relative to the images in a generation request.

    Under ``authors`` it depends on the provider, as in their script: Anthropic models and MiniCPM-V get
    the images first, every other provider (OpenAI-compatible APIs, Gemini, vLLM/transformers
    checkpoints) the text first.
    """
    if check_protocol(protocol) != "authors":
        return IMAGES_FIRST
    if adapter == "anthropic" or "minicpm" in (model or "").lower():
        return IMAGES_FIRST
    return TEXT_FIRST


def agentwrite_part_order(protocol: str) -> str:
    """Where the prompt goes relative to the images in ``mmlw data agentwrite`` planner and writer requests.

    ``authors``: the text first, as their AgentWrite script (``agentwrite/outline_vlm.py``) sends both.
    """
    return TEXT_FIRST if check_protocol(protocol) == "authors" else IMAGES_FIRST


def format_captions(protocol: str, captions: Sequence[str]) -> str:
    """The text that replaces ``$CAPTIONS$`` in a writer template.

    ``authors``: the printed Python list of the caption strings (``str(list)``, as their script inserts
    it); ``mmlw``: numbered ``[Image k]`` blocks separated by blank lines.
    """
    if check_protocol(protocol) == "authors":
        return str(list(captions))
    return "\n\n".join(f"[Image {k}]\n{caption}" for k, caption in enumerate(captions, start=1))
