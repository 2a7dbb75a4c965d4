"""``mmlw pairwise RUN_A RUN_B`` and ``mmlw judge-agreement RUN --judges A,B``: judging stored runs again.

Both read finished runs (``samples.jsonl``). A run stores image hashes and sources, not bytes, so the images
the judge must see are found again: from the recorded source path when it is a readable file with the same
hash, else by re-loading the run's data set (``run.json`` config ``data``, or ``--data``) and matching
hashes. Heavy modules are imported inside the commands.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from mmlongbench_write.errors import ConfigError, MMLWError

if TYPE_CHECKING:
    from mmlongbench_write.judges.base import JudgeOptions
    from mmlongbench_write.runstore import StoredRun
    from mmlongbench_write.schema import ImageRef, Sample

T = TypeVar("T")
_JUDGE = "Judge model"


def resolve_images(rows: Sequence[dict[str, Any]], run: StoredRun, data: str | None) -> dict[str, ImageRef]:
    """sha256 -> ImageRef with bytes available, for every image the rows name (see the module docstring)."""
    from mmlongbench_write.schema import ImageRef

    needed = {img["sha256"]: img for row in rows for img in row.get("images") or []}
    found: dict[str, ImageRef] = {}
    for sha, meta in needed.items():
        source = meta.get("source")
        if source and Path(source).is_file():
            ref = ImageRef.from_path(source, meta.get("media_type"))
            if ref.sha256 == sha:
                found[sha] = ref
    missing = set(needed) - set(found)
    if not missing:
        return found
    config = run.run.get("config") or {}
    source = data or config.get("data") or (run.run.get("dataset") or {}).get("source")
    if not source:
        raise MMLWError(f"run {run.run_id}: {len(missing)} image(s) not on disk and no data source recorded; "
                        "pass --data SOURCE")
    from mmlongbench_write.data import load_samples

    loaded = load_samples(str(source), columns=config.get("data_columns") or None, skip_invalid=True,
                          split=config.get("split") or "train")
    for sample in loaded.samples:
        for img in sample.images:
            if img.sha256 in missing:
                found[img.sha256] = img
    still = set(needed) - set(found)
    if still:
        raise MMLWError(f"run {run.run_id}: {len(still)} input image(s) not found in data {source!r} "
                        "(hash mismatch); pass the run's data set with --data")
    return found


def judged_rows(run: StoredRun, limit: int | None = None) -> list[dict[str, Any]]:
    """The rows of a run that have a response to judge (generation errors are skipped)."""
    if not run.samples:
        raise MMLWError(f"run {run.path} has no samples.jsonl rows (is it finished?)")
    rows = [r for r in run.samples if not r.get("error") and r.get("response") is not None]
    return rows[:limit] if limit is not None else rows


def row_sample(row: dict[str, Any], images: dict[str, ImageRef]) -> Sample:
    from mmlongbench_write.schema import Sample

    return Sample(id=str(row["id"]), instruction=str(row["instruction"]),
                  images=tuple(images[img["sha256"]] for img in row.get("images") or []),
                  required_length=int(row.get("required_length") or 0), task=row.get("task"),
                  language=row.get("language") or "en")


def judge_options(model: str | None, model_args: str | None, prompt: str | None, gen_kwargs: str | None,
                  seed: int | None, max_attempts: int, concurrency: int, cache: str, samples: int = 1) -> JudgeOptions:
    from mmlongbench_write.judges.base import JudgeOptions
    from mmlongbench_write.model_adapters.base import RuntimeOptions, resolve_model_spec
    from mmlongbench_write.specs import parse_kv

    spec = resolve_model_spec(model, parse_kv(model_args, flag="--judge-model-args")) if model else None
    return JudgeOptions(model=spec, prompt_file=prompt, samples=samples, seed=seed,
                        runtime=RuntimeOptions(concurrency=concurrency), cache_mode=cache,
                        extra={"judge_gen_kwargs": parse_kv(gen_kwargs, flag="--judge-gen-kwargs"),
                               "max_attempts": max_attempts})


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + max(1, size)]


def budget_for(max_cost: float | None, prices: str | None) -> Any:
    from mmlongbench_write.pricing import Budget, load_price_table

    return Budget(max_cost=max_cost, table=load_price_table(prices))


def write_json(path: Path, obj: Any) -> None:
    from mmlongbench_write.runstore import atomic_write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, obj)


def _say(msg: str) -> None:
    typer.echo(msg, err=True)


def run_pairwise(run_a: str, run_b: str, options: JudgeOptions, *, data: str | None, limit: int | None,
                 output: str | None, budget: Any) -> tuple[dict[str, Any], Path]:
    """Judge the common samples of two runs in both orders; write and return the result file."""
    from mmlongbench_write.judges.pairwise import PairInput, PairVerdict, PairwiseJudge, summarize
    from mmlongbench_write.runstore import load_run

    a, b = load_run(run_a), load_run(run_b)
    rows_a = {r["id"]: r for r in judged_rows(a)}
    rows_b = {r["id"]: r for r in judged_rows(b)}
    common = [sid for sid in rows_a if sid in rows_b]
    common = common[:limit] if limit is not None else common
    if not common:
        raise MMLWError(f"runs {a.run_id} and {b.run_id} share no sample with a response")
    for sid in common:
        same_images = [i["sha256"] for i in rows_a[sid].get("images") or []] == [
            i["sha256"] for i in rows_b[sid].get("images") or []]
        if rows_a[sid]["instruction"] != rows_b[sid]["instruction"] or not same_images:
            raise MMLWError(f"sample {sid!r} differs between {a.run_id} and {b.run_id} (instruction or images)")
    images = resolve_images([rows_a[s] for s in common], a, data)
    pairs = []
    for sid in common:
        pairs.append(PairInput(sample=row_sample(rows_a[sid], images), response_a=str(rows_a[sid]["response"]),
                               response_b=str(rows_b[sid]["response"])))
    judge = PairwiseJudge.from_options(options)
    verdicts: list[PairVerdict] = []
    stopped = None
    try:
        for chunk in chunks(pairs, options.runtime.concurrency):
            try:
                budget.check_next(2 * len(chunk))
            except MMLWError as exc:
                stopped = str(exc)
                break
            for verdict in judge.compare(chunk):
                budget.charge(judge.adapter.model_name, verdict.usage)
                verdicts.append(verdict)
        result = summarize(verdicts, {"run_id": a.run_id, "label": a.label}, {"run_id": b.run_id, "label": b.label},
                           judge.identity())
    finally:
        judge.close()
    result["cost"] = budget.summary()
    if stopped:
        result["stopped"] = stopped
    path = Path(output) if output else Path.cwd()
    if output is None or path.is_dir():
        path = path / f"pairwise-{a.run_id}-vs-{b.run_id}.json"
    write_json(path, result)
    return result, path


def stored_scores(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    return {str(r["id"]): r["quality_scores"] for r in rows if r.get("quality_scores")}


def register(app: typer.Typer) -> None:
    """Add ``pairwise`` and ``judge-agreement`` to ``app``."""

    @app.command("pairwise")
    def pairwise(
        run_a: str = typer.Argument(..., help="run directory A"),
        run_b: str = typer.Argument(..., help="run directory B"),
        judge_model: str = typer.Option(None, "--judge-model", help="model name or preset (default: gpt-4o-2024-08-06)",
                                        rich_help_panel=_JUDGE),
        judge_model_args: str = typer.Option(None, "--judge-model-args", help="k=v,... for the judge model",
                                             rich_help_panel=_JUDGE),
        judge_prompt: str = typer.Option(None, "--judge-prompt", help="template with $INST$, $RESPONSE_A$, "
                                         "$RESPONSE_B$", rich_help_panel=_JUDGE),
        judge_gen_kwargs: str = typer.Option(None, "--judge-gen-kwargs", help="override temperature=0.5,"
                                             "max_new_tokens=1024", rich_help_panel=_JUDGE),
        max_attempts: int = typer.Option(3, "--max-attempts", help="judge requests per verdict at most"),
        seed: int = typer.Option(None, "--seed"),
        data: str = typer.Option(None, "--data", help="data set to find images in (default: the run's)"),
        limit: int = typer.Option(None, "--limit", help="compare the first N common samples"),
        concurrency: int = typer.Option(8, "--concurrency"),
        cache: str = typer.Option("readwrite", "--cache", help="judge cache: off|read|write|readwrite"),
        max_cost: float = typer.Option(None, "--max-cost", help="stop before the judge spends more (USD)"),
        prices: str = typer.Option(None, "--prices", help="JSON/YAML price table overriding the built-in one"),
        output: str = typer.Option(None, "--output", "-o", help="result file or directory "
                                   "(default: ./pairwise-<runA>-vs-<runB>.json)"),
    ) -> None:
        """Which run writes better? A judge compares both runs' responses per sample, in both orders."""
        options = judge_options(judge_model, judge_model_args, judge_prompt, judge_gen_kwargs, seed, max_attempts,
                                concurrency, cache)
        result, path = run_pairwise(run_a, run_b, options, data=data, limit=limit, output=output,
                                    budget=budget_for(max_cost, prices))
        ci = result["ci95"]
        typer.echo(f"{result['a']['label']} vs {result['b']['label']}: n={result['n']} (failed {result['failed']})")
        rows = (("a_win_rate", f"{result['a']['label']} wins"), ("b_win_rate", f"{result['b']['label']} wins"),
                ("tie_rate", "ties"))
        for key, name in rows:
            typer.echo(f"  {name:<30} {result[key]:6.1%}  95% CI [{ci[key][0]:.1%}, {ci[key][1]:.1%}]")
        if result.get("stopped"):
            _say(f"stopped early: {result['stopped']}")
        _say(f"wrote {path}")

    @app.command("judge-agreement")
    def judge_agreement(
        run: str = typer.Argument(..., help="a finished run directory"),
        judges: str = typer.Option(..., "--judges", help="two judge models A,B (names or presets); 'stored' "
                                   "means the quality scores already in the run"),
        judge_a_args: str = typer.Option(None, "--judge-a-args", help="k=v,... model args of judge A"),
        judge_b_args: str = typer.Option(None, "--judge-b-args", help="k=v,... model args of judge B"),
        judge_prompt: str = typer.Option(None, "--judge-prompt", help="template with $INST$ and $RESPONSE$"),
        judge_gen_kwargs: str = typer.Option(None, "--judge-gen-kwargs"),
        judge_samples: int = typer.Option(1, "--judge-samples", help="judge each response k times per judge"),
        max_attempts: int = typer.Option(3, "--max-attempts"),
        seed: int = typer.Option(None, "--seed"),
        data: str = typer.Option(None, "--data", help="data set to find images in (default: the run's)"),
        limit: int = typer.Option(None, "--limit"),
        concurrency: int = typer.Option(8, "--concurrency"),
        cache: str = typer.Option("readwrite", "--cache", help="judge cache: off|read|write|readwrite"),
        output: str = typer.Option(None, "--output", "-o", help="also write the statistics as JSON here"),
    ) -> None:
        """How much do two judges agree? Spearman, weighted kappa and mean shift per rubric dimension."""
        from mmlongbench_write.judges.agreement import agreement, format_agreement
        from mmlongbench_write.judges.quality import QualityJudge
        from mmlongbench_write.runstore import load_run
        from mmlongbench_write.schema import JudgeInput

        names = [n.strip() for n in judges.split(",") if n.strip()]
        if len(names) != 2:
            raise ConfigError(f"--judges: expected two judges A,B, got {judges!r}")
        stored = load_run(run)
        rows = judged_rows(stored, limit)
        scores: list[dict[str, dict[str, float]]] = []
        identities: list[dict[str, Any]] = []
        failures: list[int] = []
        items: list[JudgeInput] | None = None
        for name, args in zip(names, (judge_a_args, judge_b_args), strict=True):
            if name == "stored":
                scores.append(stored_scores(rows))
                identities.append(next((r["quality_judge"] for r in rows if r.get("quality_judge")),
                                       {"judge": "stored"}))
                failures.append(sum(1 for r in rows if not r.get("quality_scores")))
                continue
            if items is None:
                images = resolve_images(rows, stored, data)
                items = [JudgeInput(sample=row_sample(r, images), response=str(r["response"])) for r in rows]
            judge = QualityJudge.from_options(judge_options(name, args, judge_prompt, judge_gen_kwargs, seed,
                                                            max_attempts, concurrency, cache, judge_samples))
            try:
                verdicts = list(judge.judge(items))
                identities.append(judge.identity())
            finally:
                judge.close()
            scores.append({v.sample_id: dict(v.dimension_scores or {}) for v in verdicts if v.ok})
            failures.append(sum(1 for v in verdicts if not v.ok))
        result = agreement(scores[0], scores[1])
        typer.echo(format_agreement(result, names[0], names[1]))
        typer.echo(f"judge failures: A={failures[0]} B={failures[1]} (of {len(rows)} responses)")
        if output:
            write_json(Path(output), {"type": "judge-agreement", "run_id": stored.run_id,
                                      "judges": {"a": identities[0], "b": identities[1]},
                                      "failures": {"a": failures[0], "b": failures[1]}, **result})
            _say(f"wrote {output}")
