"""``mmlw pairwise RUN_A RUN_B`` and ``mmlw judge-agreement RUN --judges A,B``: judging stored runs again.

The work is done by :mod:`mmlongbench_write.comparisons` (journalled and resumable, like evaluation);
this module only parses options (declared once in :mod:`.options`) and prints. Heavy modules are imported
inside the commands.
"""

from __future__ import annotations

from typing import Any

import typer

from mmlongbench_write.errors import EXIT_STOPPED, ConfigError

from . import options as opt


def _say(msg: str) -> None:
    typer.echo(msg, err=True)


def _configs(judging: dict[str, Any], runtime: dict[str, Any]) -> tuple[Any, Any]:
    from mmlongbench_write.config import JudgingConfig, RuntimeConfig

    return JudgingConfig.from_fields(judging), RuntimeConfig.from_fields(runtime)


def register(app: typer.Typer) -> None:
    """Add ``pairwise`` and ``judge-agreement`` to ``app``."""

    @app.command("pairwise")
    def pairwise(
        run_a: str = typer.Argument(..., help="run directory A"),
        run_b: str = typer.Argument(..., help="run directory B"),
        judge_model: opt.JudgeModel = None,
        judge_model_args: opt.JudgeModelArgs = None,
        judge_prompt: opt.JudgePrompt = None,
        judge_gen_kwargs: opt.JudgeGenKwargs = None,
        judge_max_attempts: opt.JudgeMaxAttempts = None,
        protocol: opt.Protocol = None,
        seed: opt.Seed = None,
        data: str = typer.Option(None, "--data", help="data set to find images in (default: the run's)"),
        limit: int = typer.Option(None, "--limit", help="compare the first N common samples"),
        concurrency: opt.Concurrency = None,
        max_retries: opt.MaxRetries = None,
        timeout: opt.Timeout = None,
        cache: opt.Cache = None,
        cache_dir: opt.CacheDir = None,
        max_cost: opt.MaxCost = None,
        prices: opt.Prices = None,
        output: str = typer.Option(None, "--output", "-o", help="result folder (or a .json file path); default: "
                                   "./pairwise-<runA>-vs-<runB>.json, journalled beside it so a re-run resumes"),
    ) -> None:
        """Which run writes better? A judge compares both runs' responses per sample, in both orders."""
        from mmlongbench_write.comparisons import pairwise as run_pairwise

        judging, runtime = _configs(
            opt.judging_fields(judge_model=judge_model, judge_model_args=judge_model_args, judge_prompt=judge_prompt,
                               judge_gen_kwargs=judge_gen_kwargs, judge_max_attempts=judge_max_attempts,
                               protocol=protocol, seed=seed),
            opt.runtime_fields(concurrency=concurrency, max_retries=max_retries, timeout=timeout, cache=cache,
                               cache_dir=cache_dir, max_cost=max_cost, prices=prices))
        outcome = run_pairwise(run_a, run_b, judging, runtime, data=data, limit=limit, output=output, say=_say)
        result = outcome.result
        ci = result["ci95"]
        typer.echo(f"{result['a']['label']} vs {result['b']['label']}: n={result['n']} (failed {result['failed']})")
        rows = (("a_win_rate", f"{result['a']['label']} wins"), ("b_win_rate", f"{result['b']['label']} wins"),
                ("tie_rate", "ties"))
        for key, name in rows:
            typer.echo(f"  {name:<30} {result[key]:6.1%}  95% CI [{ci[key][0]:.1%}, {ci[key][1]:.1%}]")
        _say(f"wrote {outcome.path}")
        if outcome.stopped:
            _say(f"stopped early: {outcome.stopped}")
            raise typer.Exit(EXIT_STOPPED)

    @app.command("judge-agreement")
    def judge_agreement(
        run: str = typer.Argument(..., help="a finished run directory"),
        judges: str = typer.Option(..., "--judges", help="two judge models A,B (names or presets); 'stored' "
                                   "means the quality scores already in the run"),
        judge_a_args: str = typer.Option(None, "--judge-a-args", help="k=v,... model args of judge A"),
        judge_b_args: str = typer.Option(None, "--judge-b-args", help="k=v,... model args of judge B"),
        judge_prompt: opt.JudgePrompt = None,
        judge_gen_kwargs: opt.JudgeGenKwargs = None,
        judge_samples: opt.JudgeSamples = None,
        judge_max_attempts: opt.JudgeMaxAttempts = None,
        protocol: opt.Protocol = None,
        prompts_from: opt.PromptsFrom = None,
        seed: opt.Seed = None,
        data: str = typer.Option(None, "--data", help="data set to find images in (default: the run's)"),
        limit: int = typer.Option(None, "--limit"),
        concurrency: opt.Concurrency = None,
        max_retries: opt.MaxRetries = None,
        timeout: opt.Timeout = None,
        cache: opt.Cache = None,
        cache_dir: opt.CacheDir = None,
        max_cost: opt.MaxCost = None,
        prices: opt.Prices = None,
        output: str = typer.Option(None, "--output", "-o", help="result folder (or a .json file path); default: "
                                   "./judge-agreement-<run>.json, journalled beside it so a re-run resumes"),
    ) -> None:
        """How much do two judges agree? Spearman, weighted kappa and mean shift per rubric dimension."""
        from mmlongbench_write.comparisons import JudgeChoice
        from mmlongbench_write.comparisons import judge_agreement as run_agreement
        from mmlongbench_write.judges.agreement import format_agreement
        from mmlongbench_write.specs import parse_kv

        names = [n.strip() for n in judges.split(",") if n.strip()]
        if len(names) != 2:
            raise ConfigError(f"--judges: expected two judges A,B, got {judges!r}")
        choices = (JudgeChoice(names[0], parse_kv(judge_a_args, flag="--judge-a-args")),
                   JudgeChoice(names[1], parse_kv(judge_b_args, flag="--judge-b-args")))
        judging, runtime = _configs(
            opt.judging_fields(judge_prompt=judge_prompt, judge_gen_kwargs=judge_gen_kwargs,
                               judge_samples=judge_samples, judge_max_attempts=judge_max_attempts,
                               protocol=protocol, prompts_from=prompts_from, seed=seed),
            opt.runtime_fields(concurrency=concurrency, max_retries=max_retries, timeout=timeout, cache=cache,
                               cache_dir=cache_dir, max_cost=max_cost, prices=prices))
        outcome = run_agreement(run, choices, judging, runtime, data=data, limit=limit, output=output, say=_say)
        typer.echo(format_agreement(outcome.result, names[0], names[1]))
        typer.echo(f"judge failures: A={outcome.failures[0]} B={outcome.failures[1]} "
                   f"(of {outcome.n_responses} responses)")
        _say(f"wrote {outcome.path}")
        if outcome.stopped:
            _say(f"stopped early: {outcome.stopped}")
            raise typer.Exit(EXIT_STOPPED)
