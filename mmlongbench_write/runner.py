"""The evaluation runner: plan -> generate -> judge -> final files, resumable at every record.

Generation and judging are separate stages over one journal. Each finished generation or judgement is
journalled (fsynced) as it arrives, so a killed run loses at most the work in flight; re-running the
same command replays the journal and does only what is missing: failed generations are retried,
finished ones are never generated again, and verdicts are reused when the judge is the same.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import EvalConfig
from .errors import BudgetExceeded, ConfigError
from .judges.base import Judge, JudgeOptions
from .model_adapters.base import ModelAdapter, ModelSpec, RuntimeOptions, create_model, resolve_model_spec
from .planning import Plan, build_plan
from .provenance import git_revision, package_versions
from .registry import judges as judge_registry
from .results import write_final
from .runstore import JOURNAL, RUN_JSON, Journal, JournalState, atomic_write_json, is_run_dir, read_run_meta
from .schema import JudgeInput, Request
from .textstats import strip_think

if TYPE_CHECKING:
    from .pricing import Budget


Progress = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class RunOutcome:
    """What ``evaluate`` did: where the run is, its results, and how much work this call performed."""

    run_dir: Path
    results: dict[str, Any]
    generated: int
    judged: int
    reused: int
    stopped_reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds spent loading, generating, judging


@contextmanager
def _timed(timings: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = round(timings.get(key, 0.0) + time.perf_counter() - start, 4)


def runtime_options(config: EvalConfig) -> RuntimeOptions:
    return RuntimeOptions(
        concurrency=config.concurrency,
        batch_size=config.batch_size,
        requests_per_minute=config.requests_per_minute,
        tokens_per_minute=config.tokens_per_minute,
        max_retries=config.max_retries,
        timeout_s=config.timeout_s,
    )


def build_adapter(config: EvalConfig, spec: ModelSpec, runtime: RuntimeOptions) -> ModelAdapter:
    """The model, wrapped in the response cache and, for caption+LLM, behind a captioner."""

    def cached(adapter: ModelAdapter) -> ModelAdapter:
        if config.cache == "off" or not adapter.cacheable:
            return adapter
        from .model_adapters.cache import with_response_cache

        return with_response_cache(adapter, config.cache, config.cache_dir)

    writer = cached(create_model(spec, runtime))
    if config.mode != "caption-llm":
        return writer
    from .model_adapters.caption import CaptionLLMAdapter

    assert config.captioner is not None  # validated by EvalConfig
    captioner = cached(create_model(resolve_model_spec(config.captioner, config.captioner_args), runtime))
    caption_template, writer_template = config.load_template("caption"), config.load_template("writer")
    return CaptionLLMAdapter(captioner=captioner, writer=writer, runtime=runtime,
                             caption_prompt=caption_template.text if caption_template else None,
                             writer_template=writer_template.text if writer_template else None,
                             protocol=config.protocol)


def build_judges(config: EvalConfig, runtime: RuntimeOptions) -> list[Judge]:
    options = JudgeOptions(
        model=resolve_model_spec(config.judge_model, config.judge_model_args) if config.judge_model else None,
        prompt_file=config.template_path("judge"),
        samples=config.judge_samples,
        seed=config.seed,
        runtime=runtime,
        cache_mode=config.cache,
        cache_dir=config.cache_dir,
        protocol=config.protocol,
        extra={"judge_gen_kwargs": dict(config.judge_gen_kwargs), "max_attempts": config.judge_max_attempts},
    )
    return [judge_registry.get(name).from_options(options) for name in config.judge_names]


class RunDirectory:
    """Creates or reopens ``OUTPUT/<run-id>`` and keeps its ``run.json`` up to date."""

    def __init__(self, config: EvalConfig) -> None:
        self.config = config
        self.path = Path(config.output) / (config.run_id or config.default_run_id())
        self.fingerprint = config.generation_fingerprint()

    def open(self, meta: dict[str, Any]) -> dict[str, Any]:
        self.path.mkdir(parents=True, exist_ok=True)
        if is_run_dir(self.path):
            previous = read_run_meta(self.path)
            if previous.get("fingerprint") != self.fingerprint:
                raise ConfigError(
                    f"{self.path} holds a run with a different configuration; choose another --output or --run-id"
                )
            meta = {**meta, "created_at": previous.get("created_at", meta["created_at"])}
            if "args" in (previous.get("model") or {}):  # the adapter's own identity, from the first session
                meta["model"] = previous["model"]
        atomic_write_json(self.path / RUN_JSON, meta)
        return meta


def evaluate(config: EvalConfig, progress: Progress | None = _stderr) -> RunOutcome:
    """Run (or resume) an evaluation and return its outcome. The public entry point of the library."""
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    runtime = runtime_options(config)
    spec = resolve_model_spec(config.model, config.model_args)
    with _timed(timings, "load_s"):
        plan = build_plan(config, spec.gen_defaults)
    run = RunDirectory(config)
    judges = build_judges(config, runtime) if config.stage != "generate" else []
    meta = run_metadata(config, spec, plan, judges, run)
    meta = run.open(meta)
    state = Journal.replay(run.path / JOURNAL)
    journal = Journal(run.path / JOURNAL)
    generated_before = len(state.generations)
    stopped: str | None = None
    budget = make_budget(config)
    try:
        if config.stage != "judge":
            todo = [item.request for item in plan.items if item.sample.id not in state.generations]
            say(f"run {run.path}: {len(plan.items)} samples, {len(plan.items) - len(todo)} already generated")
            if todo:
                with build_adapter(config, spec, runtime) as adapter, _timed(timings, "generate_s"):
                    meta["model"] = {**adapter.identity(), "preset": spec.preset}
                    generate_all(adapter, todo, journal, state, say, budget=budget)
        with _timed(timings, "judge_s"):
            for judge in judges:
                judge_all(judge, plan, state, journal, say, budget=budget, chunk_size=config.concurrency)
    except BudgetExceeded as exc:
        stopped = str(exc)
        say(f"stopped: {exc}; re-run the same command (with a higher --max-cost) to resume")
    finally:
        journal.close()
        for judge in judges:
            judge.close()
    if budget is not None:
        meta["budget"] = budget.summary()
    meta["timings"] = timings  # of this session only; a resumed run records its last session
    results = finalize(run.path, plan, state, meta, stopped)
    generated = len(state.generations) - generated_before
    reused = len(state.generations) - generated
    return RunOutcome(run.path, results, generated, journal.written["judgement"], reused, stopped, timings)


def finalize(run_dir: Path, plan: Plan, state: JournalState, meta: dict[str, Any], stopped: str | None) -> dict:
    missing = [s.id for s in plan.samples if s.id not in state.generations]
    meta = {**meta, "status": "stopped" if stopped else ("incomplete" if missing else "complete"),
            "finished_at": _now()}
    atomic_write_json(run_dir / RUN_JSON, meta)
    keys = ("run_id", "label", "model", "judges", "length_formula", "dataset", "status", "config", "budget")
    results_meta = {k: meta[k] for k in keys if k in meta}
    return write_final(run_dir, plan.samples, state, results_meta)


def make_budget(config: EvalConfig) -> Budget | None:
    """A spending tracker when ``--max-cost`` is set (prices from the built-in table or ``--prices``)."""
    if config.max_cost is None:
        return None
    from .pricing import Budget, load_price_table

    return Budget(config.max_cost, load_price_table(config.prices))


def generate_all(adapter: ModelAdapter, requests: Sequence[Request], journal: Journal, state: JournalState,
                 say: Progress, budget: Budget | None = None) -> int:
    """Generate ``requests``, journalling each result as it arrives. Returns how many succeeded.

    With a budget, requests go out in chunks of ``--concurrency`` and the budget is consulted before each
    chunk (the dearest request so far, or the price of ``max_new_tokens`` of output, times the chunk), so
    the run stops before it exceeds the limit rather than after.
    """
    chunk = len(requests) if budget is None else max(1, adapter.runtime.concurrency)
    done = failed = 0
    started = time.perf_counter()
    model_name = adapter.model_name
    for offset in range(0, len(requests), chunk):
        part = requests[offset : offset + chunk]
        if budget is not None:
            from .pricing import request_cost_bound

            bound = max((request_cost_bound(model_name, 0, r.config.max_new_tokens or 0, budget.table) or 0.0)
                        for r in part)
            budget.check_next(len(part), bound)
        for generation in adapter.generate(part):
            journal.add_generation(generation)
            state.record_generation(generation)
            if budget is not None and not generation.cached:
                budget.charge(generation.model or model_name, generation.usage)
            if generation.ok:
                done += 1
            else:
                failed += 1
                say(f"  {generation.request_id}: generation failed: {generation.error}")
            _report_progress(say, done + failed, len(requests), started)
    say(f"generated {done} of {len(requests)}" + (f", {failed} failed (retried on resume)" if failed else ""))
    return done


def _report_progress(say: Progress, finished: int, total: int, started: float) -> None:
    """A line at every tenth of the work, with the time so far and a naive estimate of the time left."""
    step = max(1, -(-total // 10))
    if finished == total or finished % step == 0:
        elapsed = time.perf_counter() - started
        left = elapsed / finished * (total - finished)
        say(f"  {finished}/{total} done ({elapsed:.1f}s" + (f", ~{left:.0f}s left)" if finished < total else ")"))


def judge_all(judge: Judge, plan: Plan, state: JournalState, journal: Journal, say: Progress,
              budget: Budget | None = None, chunk_size: int = 8) -> int:
    """Judge every generated sample whose verdict in this judge's slot is missing or from another judge.

    With a budget, items go to the judge in chunks and the budget is consulted before each chunk.
    """
    identity = judge.identity()
    items: list[JudgeInput] = []
    for item in plan.items:
        generation = state.generations.get(item.sample.id)
        if generation is None:
            continue
        previous = state.judgements.get(item.sample.id, {}).get(judge.name)
        if previous is not None and previous.ok and _same_judge(previous.identity, identity):
            continue
        items.append(JudgeInput(item.sample, strip_think(generation.text), generation))
    if not items:
        return 0
    say(f"judging {len(items)} samples with {judge.name}")
    count = 0
    failures = 0
    judge_model = str(identity.get("model") or judge.name)
    chunk = len(items) if budget is None else max(1, chunk_size)
    for offset in range(0, len(items), chunk):
        if budget is not None:
            from .pricing import request_cost_bound

            bound = request_cost_bound(judge_model, 0, int(identity.get("max_new_tokens") or 0), budget.table)
            budget.check_next(min(chunk, len(items) - offset), bound)
        for verdict in judge.judge(items[offset : offset + chunk]):
            journal.add_judgement(verdict, slot=judge.name)
            state.record_judgement(verdict, judge.name)
            if budget is not None and (verdict.usage.input_tokens or verdict.usage.output_tokens):
                budget.charge(judge_model, verdict.usage)
            count += 1
            if not verdict.ok:
                failures += 1
    if failures:
        say(f"  {failures} judge failures ({judge.name}); they are excluded from S and counted")
    return count


def _same_judge(stored: dict[str, Any], current: dict[str, Any]) -> bool:
    """A stored verdict is reused when the judge that made it is the current one (snapshot aside)."""
    def core(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if k not in {"snapshot", "model_snapshot"}}

    return core(stored) == core(current)


def run_metadata(config: EvalConfig, spec: ModelSpec, plan: Plan, judges: Iterable[Judge],
                 run: RunDirectory) -> dict[str, Any]:
    judge_ids = {j.name: j.identity() for j in judges}
    return {
        "run_id": run.path.name,
        "label": config.label or spec.preset or config.model,
        "created_at": _now(),
        "fingerprint": run.fingerprint,
        "benchmark": "mmlongbench-write",
        "config": config.to_dict(),
        "model": {"adapter": spec.adapter, "model": spec.model_args.get("pretrained") or spec.model_args.get("model")
                  or spec.adapter, "preset": spec.preset},
        "generation_defaults": spec.gen_defaults.to_dict(),
        "judges": judge_ids,
        "length_formula": (judge_ids.get("length") or {}).get("formula"),
        "dataset": plan.dataset,
        "versions": package_versions(),
        "git": git_revision(),
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
