"""``mmlw eval`` and ``mmlw score``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mmlongbench_write.specs import parse_kv

from . import options as opt

_RUN = "Run"
_PROMPTS = opt.PROMPTS_PANEL


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_command(
        model: str = typer.Option(None, "--model", help="Adapter (hf, vllm, openai, anthropic, ...) or preset "
                                  "(longwriter-v-7b, gpt-4o-2024-08-06, tiny-random-qwen2.5-vl); see `mmlw models`.",
                                  rich_help_panel=_RUN),
        model_args: str = typer.Option(None, "--model-args", "--model_args", help="k=v,... e.g. "
                                       "pretrained=THU-KEG/LongWriter-V-7B,dtype=bfloat16", rich_help_panel=_RUN),
        gen_kwargs: str = typer.Option(None, "--gen-kwargs", "--gen_kwargs", help="k=v,... e.g. "
                                       "temperature=0.6,top_p=0.95,max_new_tokens=8192", rich_help_panel=_RUN),
        tasks: str = typer.Option(None, "--tasks", help="default: every sample of the data; or all | professional "
                                  "| creative | ruler[:all|:N|:rows] | custom | ppt_script,movie_review,...",
                                  rich_help_panel=_RUN),
        data: str = typer.Option(None, "--data", help="mini (bundled), a local file/dir (jsonl/json/parquet/csv, "
                                 "parquet shards, a save_to_disk folder), or a Hugging Face dataset id "
                                 "(THU-KEG/MMLongBench-Write)", rich_help_panel=_RUN),
        data_columns: str = typer.Option(None, "--data-columns", help="benchmark field=your column, e.g. "
                                         "question=prompt,L=length", rich_help_panel=_RUN),
        limit: int = typer.Option(None, "--limit", help="evaluate at most N samples", rich_help_panel=_RUN),
        seed: int = typer.Option(None, "--seed", help="sampling seed (default 0)", rich_help_panel=_RUN),
        shard: str = typer.Option(None, "--shard", help="i/n: this process evaluates every n-th sample from i; "
                                  "join shards with `mmlw merge`", rich_help_panel=_RUN),
        mode: str = typer.Option(None, "--mode", help="vlm (default) or caption-llm", rich_help_panel=_RUN),
        captioner: str = typer.Option(None, "--captioner", help="model that captions images in caption-llm mode",
                                      rich_help_panel=_RUN),
        captioner_args: str = typer.Option(None, "--captioner-args", rich_help_panel=_RUN),
        skip_invalid: bool = typer.Option(None, "--skip-invalid", help="skip bad samples (reported) instead of "
                                          "stopping", rich_help_panel=_RUN),
        output: str = typer.Option(None, "--output", "--output_path", help="runs folder (default runs/)",
                                   rich_help_panel=_RUN),
        run_id: str = typer.Option(None, "--run-id", help="name of the run directory (default: model + config "
                                   "hash, so the same command resumes)", rich_help_panel=_RUN),
        label: str = typer.Option(None, "--label", help="display name on the leaderboard", rich_help_panel=_RUN),
        stage: str = typer.Option(None, "--stage", help="all | generate (stop before judging) | judge",
                                  rich_help_panel=_RUN),
        config_file: Path = typer.Option(None, "--config", help="YAML file with the same fields; flags win",
                                         rich_help_panel=_RUN),
        judge: opt.Judge = None,
        judge_model: opt.JudgeModel = None,
        judge_model_args: opt.JudgeModelArgs = None,
        judge_prompt: opt.JudgePrompt = None,
        judge_samples: opt.JudgeSamples = None,
        judge_gen_kwargs: opt.JudgeGenKwargs = None,
        judge_max_attempts: opt.JudgeMaxAttempts = None,
        protocol: opt.Protocol = None,
        prompts_from: opt.PromptsFrom = None,
        caption_prompt: str = typer.Option(None, "--caption-prompt", help="caption-llm: the captioner's prompt "
                                           "file", rich_help_panel=_PROMPTS),
        writer_prompt: str = typer.Option(None, "--writer-prompt", help="caption-llm: writer template file with "
                                          "$QUESTION$ and $CAPTIONS$", rich_help_panel=_PROMPTS),
        concurrency: opt.Concurrency = None,
        batch_size: int = typer.Option(None, "--batch-size", help="local batch size (default 8)",
                                       rich_help_panel=opt.SPEED_PANEL),
        rpm: float = typer.Option(None, "--rpm", help="requests per minute limit", rich_help_panel=opt.SPEED_PANEL),
        tpm: float = typer.Option(None, "--tpm", help="tokens per minute limit", rich_help_panel=opt.SPEED_PANEL),
        max_retries: opt.MaxRetries = None,
        timeout: opt.Timeout = None,
        cache: opt.Cache = None,
        cache_dir: opt.CacheDir = None,
        max_cost: opt.MaxCost = None,
        prices: opt.Prices = None,
        batch: opt.Batch = None,
        batch_fallback: opt.BatchFallback = None,
        batch_poll_s: opt.BatchPoll = None,
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display (the run's warnings and "
                                   "the summary are still printed)", rich_help_panel=_RUN),
        wandb: str = typer.Option(None, "--wandb", help="log the finished run to Weights & Biases: project=NAME"
                                  "[,entity=,name=,group=,tags=a;b,mode=offline] (the wandb extra)",
                                  rich_help_panel=_RUN),
    ) -> None:
        """Generate with a model, judge the outputs and store a resumable run."""
        from mmlongbench_write.config import EvalConfig
        from mmlongbench_write.errors import ConfigError
        from mmlongbench_write.runner import evaluate
        from mmlongbench_write.tracking import parse_wandb

        tracking = parse_wandb(wandb)  # checked before the run starts, not after an hour of generation
        if tracking is not None:
            from mmlongbench_write.extras import require

            require("wandb", "--wandb", extra="wandb")

        fields: dict[str, Any] = {
            "model": model, "model_args": parse_kv(model_args, flag="--model-args"),
            "gen_kwargs": parse_kv(gen_kwargs, flag="--gen-kwargs"), "tasks": tasks, "data": data,
            "data_columns": parse_kv(data_columns, flag="--data-columns", convert=False), "limit": limit,
            "shard": shard, "mode": mode, "captioner": captioner,
            "captioner_args": parse_kv(captioner_args, flag="--captioner-args"), "skip_invalid": skip_invalid,
            "output": output, "run_id": run_id, "label": label, "stage": stage,
            "caption_prompt": caption_prompt, "writer_prompt": writer_prompt,
            "batch_size": batch_size, "requests_per_minute": rpm, "tokens_per_minute": tpm,
            **opt.judging_fields(judge=judge, judge_model=judge_model, judge_model_args=judge_model_args,
                                 judge_prompt=judge_prompt, judge_samples=judge_samples,
                                 judge_gen_kwargs=judge_gen_kwargs, judge_max_attempts=judge_max_attempts,
                                 protocol=protocol, prompts_from=prompts_from, seed=seed),
            **opt.runtime_fields(concurrency=concurrency, max_retries=max_retries, timeout=timeout, cache=cache,
                                 cache_dir=cache_dir, max_cost=max_cost, prices=prices, batch=batch,
                                 batch_fallback=batch_fallback, batch_poll_s=batch_poll_s),
        }
        given = {k: v for k, v in fields.items() if v is not None and v != {}}
        if config_file is not None:
            config = EvalConfig.from_yaml(config_file, **given)
        else:
            if model is None:
                raise ConfigError("--model is required (or --config FILE); `mmlw models` lists the choices")
            config = EvalConfig.from_dict(given)
        from .progress import RunDisplay

        with RunDisplay.for_stderr(quiet) as display:
            outcome = evaluate(config, progress=display.say, events=display)
        tracking_failed = None
        if tracking is not None:
            tracking_failed = _log_to_wandb(outcome.run_dir, tracking)
        print_outcome(outcome)
        if tracking_failed:
            typer.echo(f"error: {tracking_failed} (the run itself is saved in {outcome.run_dir})", err=True)
            raise typer.Exit(2)

    @app.command("score")
    def score_command(
        target: Path = typer.Argument(..., help="a run directory, or a predictions jsonl with id, question, L "
                                      "and prediction"),
        judge: opt.Judge = None,
        judge_model: opt.JudgeModel = None,
        judge_model_args: opt.JudgeModelArgs = None,
        judge_prompt: opt.JudgePrompt = None,
        judge_samples: opt.JudgeSamples = None,
        judge_gen_kwargs: opt.JudgeGenKwargs = None,
        judge_max_attempts: opt.JudgeMaxAttempts = None,
        protocol: opt.Protocol = None,
        prompts_from: opt.PromptsFrom = None,
        data_columns: str = typer.Option(None, "--data-columns", help="for a predictions file: field=column"),
        output: str = typer.Option(None, "--output", help="runs folder for a predictions file (default runs/)"),
        concurrency: opt.Concurrency = None,
        max_retries: opt.MaxRetries = None,
        timeout: opt.Timeout = None,
        cache: opt.Cache = None,
        cache_dir: opt.CacheDir = None,
        max_cost: opt.MaxCost = None,
        prices: opt.Prices = None,
        data: str = typer.Option(None, "--data", help="for a predictions file: the data set its ids refer to "
                                 "(e.g. the benchmark), so the judge sees the images"),
        in_place: bool = typer.Option(False, "--in-place", help="re-judge the run directory itself (default: write "
                                      "the re-scored run to a new directory beside it)"),
        batch: opt.Batch = None,
        batch_fallback: opt.BatchFallback = None,
        batch_poll_s: opt.BatchPoll = None,
    ) -> None:
        """Judge existing predictions (a run, or another tool's jsonl) without generating anything."""
        from mmlongbench_write.scoring import score
        from mmlongbench_write.templates import authors_prompt_paths

        if prompts_from is not None and judge_prompt is None:  # judging needs only the judge template
            judge_prompt = str(authors_prompt_paths(prompts_from, ["judge"])["judge"])
        overrides = {
            **opt.judging_fields(judge=judge, judge_model=judge_model, judge_model_args=judge_model_args,
                                 judge_prompt=judge_prompt, judge_samples=judge_samples,
                                 judge_gen_kwargs=judge_gen_kwargs, judge_max_attempts=judge_max_attempts,
                                 protocol=protocol),
            **opt.runtime_fields(concurrency=concurrency, max_retries=max_retries, timeout=timeout, cache=cache,
                                 cache_dir=cache_dir, max_cost=max_cost, prices=prices, batch=batch,
                                 batch_fallback=batch_fallback, batch_poll_s=batch_poll_s),
        }
        columns = parse_kv(data_columns, flag="--data-columns", convert=False)
        outcome = score(target, overrides, output=output,
                        columns=columns, data=data, in_place=in_place)
        print_outcome(outcome)


def summary_rows(outcome: Any) -> list[tuple[str, str]]:
    """The facts of the end-of-run summary, in order: headline scores, then what this session did."""
    r = outcome.results
    scores = r.get("scores", {}).get("overall", {})
    metrics = [str(m.get("name")) for m in r.get("metrics") or [] if isinstance(m, dict)]

    def fmt(metric: str) -> str:
        value = (scores.get(metric) or {}).get("mean")
        return "n/a" if value is None else f"{value:.1f}"

    n_samples, n_generated = r.get("n_samples") or 0, r.get("n_generated") or 0
    rows = [("run", str(outcome.run_dir)), *((m, fmt(m)) for m in metrics),
            ("samples", str(r.get("n_samples"))),
            ("generated now", str(outcome.generated - outcome.from_cache)),
            ("from cache", str(outcome.from_cache)), ("reused", str(outcome.reused)),
            ("judged now", str(outcome.judged)),
            ("generation errors", str(r.get("n_generation_errors")))]
    not_generated = n_samples - n_generated - int(r.get("n_generation_errors") or 0)
    if not_generated > 0:
        rows.append(("not generated yet", str(not_generated)))
    rows += [("judge failures", str(r.get("n_judge_failures"))), ("truncated", str(r.get("n_truncated"))),
             ("status", str(outcome.status))]
    return rows


def _log_to_wandb(run_dir: Path, target: Any) -> str | None:
    """Log the run as stored on disk (so W&B shows what results.json says); the error line, or None."""
    from mmlongbench_write.errors import MMLWError
    from mmlongbench_write.runstore import load_run
    from mmlongbench_write.tracking import log_run, say_logged

    try:
        say_logged(log_run(load_run(run_dir), target))
    except MMLWError as exc:
        return str(exc)
    return None


def print_outcome(outcome: Any) -> None:
    """A small table on stdout (plain ``name  value`` lines when stdout is not a terminal): where the run
    is, its headline scores, what this session did; exits with the run's status code (0 complete,
    3 stopped, 4 incomplete; README "Exit codes")."""
    from rich.console import Console
    from rich.table import Table

    from mmlongbench_write.errors import EXIT_INCOMPLETE, EXIT_STOPPED

    # values are never wrapped or cut (overflow="ignore", soft_wrap), so the secret scrubber on
    # stdout/stderr sees every value whole
    console = Console(stderr=False, highlight=False, soft_wrap=True)
    rows = summary_rows(outcome)
    if console.is_terminal:
        table = Table(show_header=False, box=None, padding=(0, 2), title="run summary", title_justify="left")
        table.add_column(style="bold", no_wrap=True)
        table.add_column(no_wrap=True, overflow="ignore")
        for name, value in rows:
            table.add_row(name, value)
        console.print(table)
    else:
        width = max(len(name) for name, _ in rows)
        print("\n".join(f"{name:<{width}}  {value}" for name, value in rows), flush=True)
    errors = Console(stderr=True)
    if outcome.status == "stopped":
        errors.print(f"stopped: {outcome.stopped_reason}", highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(EXIT_STOPPED)
    if outcome.status == "incomplete":
        errors.print(f"incomplete: {'; '.join(outcome.incomplete_reasons)} — re-run the same command to retry",
                     highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(EXIT_INCOMPLETE)
