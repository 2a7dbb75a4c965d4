"""Options shared by several commands, declared once: how judging is done (``eval``, ``score``,
``pairwise``, ``judge-agreement``) and how requests run (caches, budget, concurrency).

Each is an ``Annotated`` type a command's parameter uses (``judge_model: JudgeModel = None``), and
:func:`judging_fields` / :func:`runtime_fields` turn the raw values into :class:`~mmlongbench_write.config.EvalConfig`
field values, so every command parses them the same way.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mmlongbench_write.specs import parse_kv

JUDGE_PANEL = "Judging"
PROMPTS_PANEL = "Templates and protocol"
SPEED_PANEL = "Speed, caching and budget"

Judge = Annotated[str | None, typer.Option(
    "--judge", help="length | quality | length,quality | length-released | none (default: length, plus quality "
    "when --judge-model is set)", rich_help_panel=JUDGE_PANEL)]
JudgeModel = Annotated[str | None, typer.Option(
    "--judge-model", help="any model spec, e.g. gpt-4o-2024-08-06 or openai (default judge: gpt-4o-2024-08-06)",
    rich_help_panel=JUDGE_PANEL)]
JudgeModelArgs = Annotated[str | None, typer.Option(
    "--judge-model-args", help="k=v,... for the judge model, e.g. model=qwen-72b,base_url=http://localhost:8000/v1",
    rich_help_panel=JUDGE_PANEL)]
JudgePrompt = Annotated[str | None, typer.Option(
    "--judge-prompt", help="template file ($INST$, $RESPONSE$; pairwise: $INST$, $RESPONSE_A$, $RESPONSE_B$)",
    rich_help_panel=JUDGE_PANEL)]
JudgeSamples = Annotated[int | None, typer.Option(
    "--judge-samples", help="judge each response k times (default 1)", rich_help_panel=JUDGE_PANEL)]
JudgeGenKwargs = Annotated[str | None, typer.Option(
    "--judge-gen-kwargs", help="judge sampling, default temperature=0.5,max_new_tokens=1024",
    rich_help_panel=JUDGE_PANEL)]
JudgeMaxAttempts = Annotated[int | None, typer.Option(
    "--judge-max-attempts", "--max-attempts", help="tries per invalid judge reply (default 3; 5 under "
    "--protocol authors)", rich_help_panel=JUDGE_PANEL)]
Protocol = Annotated[str | None, typer.Option(
    "--protocol", help="mmlw (default) | authors: part order, captions as a list, 5 judge attempts, aggregation "
    "as the authors' scripts do", rich_help_panel=PROMPTS_PANEL)]
PromptsFrom = Annotated[str | None, typer.Option(
    "--prompts-from", help="a checkout of THU-KEG/LongWriter-V: templates from their places there",
    rich_help_panel=PROMPTS_PANEL)]
Seed = Annotated[int | None, typer.Option("--seed", help="sampling seed (default 0)")]

Concurrency = Annotated[int | None, typer.Option(
    "--concurrency", help="API requests in flight (default 8)", rich_help_panel=SPEED_PANEL)]
MaxRetries = Annotated[int | None, typer.Option(
    "--max-retries", help="retries per failed request (default 6)", rich_help_panel=SPEED_PANEL)]
Timeout = Annotated[float | None, typer.Option(
    "--timeout", help="seconds of silence before an API attempt is cut (default 600; docs/api.md)",
    rich_help_panel=SPEED_PANEL)]
Cache = Annotated[str | None, typer.Option(
    "--cache", help="response and verdict cache: off|read|write|readwrite (default)", rich_help_panel=SPEED_PANEL)]
CacheDir = Annotated[str | None, typer.Option(
    "--cache-dir", help="default $MMLW_CACHE_DIR or ~/.cache/mmlw", rich_help_panel=SPEED_PANEL)]
MaxCost = Annotated[float | None, typer.Option(
    "--max-cost", help="stop cleanly before spending more USD (counts earlier sessions)",
    rich_help_panel=SPEED_PANEL)]
Prices = Annotated[str | None, typer.Option(
    "--prices", help="price table file (JSON/YAML) overriding the built-in one", rich_help_panel=SPEED_PANEL)]
Batch = Annotated[bool | None, typer.Option(
    "--batch/--no-batch", help="OpenAI/Anthropic requests (generation, captions, judging) through the providers' "
    "batch APIs at batch prices: hours, not minutes (docs/batch.md)", rich_help_panel=SPEED_PANEL)]
BatchFallback = Annotated[str | None, typer.Option(
    "--batch-fallback", help="failed or expired batch items: batch (retry in a later batch, default) | live",
    rich_help_panel=SPEED_PANEL)]
BatchPoll = Annotated[float | None, typer.Option(
    "--batch-poll-s", help="seconds between batch status polls (default 30)", rich_help_panel=SPEED_PANEL)]


def judge_list(value: str | None) -> list[str] | None:
    """``--judge a,b`` as a list (``none``: no judge at all; unset: the default judges)."""
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    return [] if names == ["none"] else names


def judging_fields(*, judge: str | None = None, judge_model: str | None = None, judge_model_args: str | None = None,
                   judge_prompt: str | None = None, judge_samples: int | None = None,
                   judge_gen_kwargs: str | None = None, judge_max_attempts: int | None = None,
                   protocol: str | None = None, prompts_from: str | None = None,
                   seed: int | None = None) -> dict[str, Any]:
    """The judging options given on the command line, as config fields (unset ones left out)."""
    fields: dict[str, Any] = {
        "judges": judge_list(judge), "judge_model": judge_model,
        "judge_model_args": parse_kv(judge_model_args, flag="--judge-model-args") or None,
        "judge_prompt": judge_prompt, "judge_samples": judge_samples,
        "judge_gen_kwargs": parse_kv(judge_gen_kwargs, flag="--judge-gen-kwargs") or None,
        "judge_max_attempts": judge_max_attempts, "protocol": protocol, "prompts_from": prompts_from, "seed": seed,
    }
    return {k: v for k, v in fields.items() if v is not None}


def runtime_fields(*, concurrency: int | None = None, max_retries: int | None = None, timeout: float | None = None,
                   cache: str | None = None, cache_dir: str | None = None, max_cost: float | None = None,
                   prices: str | None = None, batch: bool | None = None, batch_fallback: str | None = None,
                   batch_poll_s: float | None = None) -> dict[str, Any]:
    """The runtime options given on the command line, as config fields (unset ones left out)."""
    fields: dict[str, Any] = {"concurrency": concurrency, "max_retries": max_retries, "timeout_s": timeout,
                              "cache": cache, "cache_dir": cache_dir, "max_cost": max_cost, "prices": prices,
                              "batch": batch, "batch_fallback": batch_fallback, "batch_poll_s": batch_poll_s}
    return {k: v for k, v in fields.items() if v is not None}
