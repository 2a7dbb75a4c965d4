"""The evaluation runner: plan -> generate -> judge -> final files, resumable at every record.

Generation and judging are separate stages over one journal (:mod:`mmlongbench_write.journal`). Each
finished generation or verdict is journalled (fsynced) as it arrives, with the hash of what it was made
from. Re-running the same command replays the journal and does only what is missing or stale: a sample
whose request changed (an edited row) is generated and judged again, a verdict whose input changed is
judged again, failed generations are retried, and everything else is reused. One process holds a run at
a time (:class:`~mmlongbench_write.runstore.RunLock`).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import EvalConfig
from .errors import BudgetExceeded, ConfigError, ServerFailing
from .journal import GenerationRecord, Journal, JournalState, JudgementRecord, judge_input_hash, request_hash
from .judges.base import Judge
from .metrics import MetricSpec, run_metrics
from .model_adapters.base import (
    BatchOptions,
    ModelAdapter,
    ModelSpec,
    RuntimeOptions,
    check_spec_args,
    create_model,
    resolve_model_spec,
)
from .model_adapters.caption import CaptionLLMAdapter
from .output_folder import prepare_run_folder
from .planning import Plan, build_plan
from .progress_events import EventSink, PhaseTracker
from .provenance import git_revision, package_versions
from .registry import judges as judge_registry
from .results import write_final
from .runformat import FORMAT_VERSION, Results
from .runstore import JOURNAL, RUN_JSON, RunLock, atomic_write_json, is_run_dir, now, read_meta
from .schema import Generation, JudgeInput, Request
from .secrets import contains_secret, scrub
from .textstats import strip_think

if TYPE_CHECKING:
    from .pricing import Budget


Progress = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class RunOutcome:
    """What ``evaluate`` did: where the run is, its results, and how much work this call performed.

    ``status`` is the run's status after this session (``complete``, ``incomplete`` or ``stopped``);
    ``from_cache`` counts the generations of this session answered by the response cache.
    """

    run_dir: Path
    results: dict[str, Any]
    generated: int
    judged: int
    reused: int
    stopped_reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds spent loading, generating, judging
    status: str = "complete"
    from_cache: int = 0
    changed: int = 0
    incomplete_reasons: list[str] = field(default_factory=list)


@contextmanager
def _timed(timings: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = round(timings.get(key, 0.0) + time.perf_counter() - start, 4)


def _scrubbed(progress: Progress | None) -> Progress:
    """``progress`` with secrets masked in every line (a server may echo a key into an error message)."""
    if progress is None:
        return lambda _msg: None
    return lambda msg: progress(scrub(msg))


def scrub_generation(generation: Generation) -> Generation:
    """``generation`` with registered secrets masked in its text, error and model name, before it is
    journalled, cached by the run or shown to a judge (a server that echoes the key must not spread it)."""
    error, model = generation.error, generation.model
    if not any(v is not None and contains_secret(v) for v in (generation.text, error, model)):
        return generation
    return replace(generation, text=scrub(generation.text), error=None if error is None else scrub(error),
                   model=None if model is None else scrub(model))


def runtime_options(config: EvalConfig, progress: Progress | None = None) -> RuntimeOptions:
    return replace(config.runtime.adapter_options(), batch=batch_options(config, progress))


# --- --batch (docs/batch.md) -----------------------------------------------------------------------------
def batch_options(config: EvalConfig, progress: Progress | None = None) -> BatchOptions | None:
    """``--batch``: the provider batch APIs, journalled in the run folder (``batches.jsonl``); batch states
    are reported through ``progress`` (stderr when None)."""
    if not config.batch:
        return None
    folder = Path(config.output) / (config.run_id or config.default_run_id())
    return BatchOptions(journal_dir=str(folder), fallback=config.batch_fallback, poll_s=config.batch_poll_s,
                        progress=progress)


def chunk_size(runtime: RuntimeOptions, size: int) -> int:
    """Requests per budget check: ``--concurrency`` live; in batch mode everything at once (one batch)."""
    return size if runtime.batch is not None else runtime.concurrency


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
    assert config.captioner is not None  # validated by EvalConfig
    captioner = cached(create_model(resolve_model_spec(config.captioner, config.captioner_args), runtime))
    caption_template, writer_template = config.load_template("caption"), config.load_template("writer")
    return CaptionLLMAdapter(captioner=captioner, writer=writer, runtime=runtime,
                             caption_prompt=caption_template.text if caption_template else None,
                             writer_template=writer_template.text if writer_template else None,
                             protocol=config.protocol)


def build_judges(config: EvalConfig, runtime: RuntimeOptions) -> list[Judge]:
    options = replace(config.judging.judge_options(config.runtime), runtime=runtime)
    return [judge_registry.get(name).from_options(options) for name in config.judge_names]


class RunDirectory:
    """``OUTPUT/<run-id>``: created or reopened under its lock, with ``run.json`` kept up to date."""

    def __init__(self, config: EvalConfig) -> None:
        self.config = config
        self.path = Path(config.output) / (config.run_id or config.default_run_id())
        self.fingerprint = config.generation_fingerprint()
        self.lock = RunLock(self.path)
        self.previous: dict[str, Any] = {}

    def open(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Create the folder, take the lock, check it holds this configuration, mark the run ``running``."""
        prepare_run_folder(self.path)  # one line (not an OSError) for a file, read-only or full folder
        self.lock.acquire()
        try:
            return self._open(meta)
        except BaseException:
            self.lock.release()
            raise

    def _open(self, meta: dict[str, Any]) -> dict[str, Any]:
        if is_run_dir(self.path):
            previous = read_meta(self.path)
            if previous.get("fingerprint") != self.fingerprint:
                raise ConfigError(
                    f"{self.path} holds a run with a different configuration; choose another --output or --run-id"
                )
            self.previous = previous.data
            meta = {**meta, "created_at": previous.get("created_at", meta["created_at"])}
            if "args" in (previous.get("model") or {}):  # the adapter's own identity, from the first session
                meta["model"] = previous.get("model")
        meta = {**meta, "status": "running"}
        atomic_write_json(self.path / RUN_JSON, meta)
        return meta

    def close(self) -> None:
        self.lock.release()


def reconcile(state: JournalState, plan: Plan) -> int:
    """Forget every sample whose request changed since it was generated; return how many changed."""
    changed = 0
    for item in plan.items:
        sid = item.sample.id
        record = state.generations.get(sid) or state.failed_generations.get(sid)
        if record is not None and record.request_hash != request_hash(item.request):
            state.forget(sid)
            changed += 1
    return changed


def evaluate(config: EvalConfig, progress: Progress | None = _stderr, events: EventSink | None = None) -> RunOutcome:
    """Run (or resume) an evaluation and return its outcome. The public entry point of the library.

    ``progress`` gets the run's text lines; ``events`` (optional) gets a typed snapshot of each phase
    after every item (:mod:`mmlongbench_write.progress_events`) and replaces the periodic ``N/M done`` lines.
    """
    say = _scrubbed(progress)
    timings: dict[str, float] = {}
    runtime = runtime_options(config, say)
    spec = resolve_model_spec(config.model, config.model_args)
    check_spec_args(spec)  # a misspelt model arg stops the run before its folder is made
    with _timed(timings, "load_s"):
        plan = build_plan(config, spec.gen_defaults)
    for line in plan.exclusions.lines():  # nothing is left out silently (--skip-invalid, --tasks, --shard, --limit)
        say(line)
    run = RunDirectory(config)
    judges = build_judges(config, runtime) if config.stage != "generate" else []
    try:
        meta = run.open(run_metadata(config, spec, plan, judges, run))
        return _evaluate_open(config, spec, runtime, plan, run, judges, meta, say, timings, events)
    finally:
        for judge in judges:
            judge.close()
        run.close()


def _evaluate_open(config: EvalConfig, spec: ModelSpec, runtime: RuntimeOptions, plan: Plan, run: RunDirectory,
                   judges: list[Judge], meta: dict[str, Any], say: Progress, timings: dict[str, float],
                   events: EventSink | None = None) -> RunOutcome:
    state = Journal.replay(run.path / JOURNAL)
    changed = reconcile(state, plan)
    if changed:
        say(f"{changed} sample(s) changed since they were generated (instruction, images or settings): "
            "generating and judging them again")
    budget = make_budget(config, state, str(meta["model"].get("model") or spec.adapter))
    table = price_table(config, budget) if events is not None else None
    generated_before = sum(1 for i in plan.items if i.sample.id in state.generations)
    stopped: str | None = None
    from_cache = 0
    with Journal(run.path / JOURNAL) as journal:
        try:
            if config.stage != "judge":
                todo = [item.request for item in plan.items if item.sample.id not in state.generations]
                say(f"run {run.path}: {len(plan.items)} samples, {len(plan.items) - len(todo)} already generated")
                if todo:
                    with build_adapter(config, spec, runtime) as adapter, _timed(timings, "generate_s"):
                        meta["model"] = {**adapter.identity(), "preset": spec.preset}
                        if events is not None and isinstance(adapter, CaptionLLMAdapter):
                            adapter.caption_progress = partial(PhaseTracker, events, "caption", table=table)
                        from_cache = generate_all(adapter, todo, journal, state, say, budget=budget,
                                                  tracker=PhaseTracker(events, "generate", len(todo), table)
                                                  if events is not None else None)
            with _timed(timings, "judge_s"):
                for judge in judges:
                    judge_all(judge, plan, state, journal, say, budget=budget,
                              chunk_size=chunk_size(runtime, len(plan.items)), events=events, table=table)
        except (BudgetExceeded, ServerFailing) as exc:  # both resumable: finalize as stopped
            stopped = str(exc)
    if budget is not None:
        meta["budget"] = budget.summary()
    if config.batch:  # --batch: recorded in run.json and results.json with the batches it created
        from .model_adapters.batch import batch_summary

        meta["batch"] = batch_summary(run.path, config.batch_fallback)
    meta["timings"] = timings  # of this session only; a resumed run records its last session
    results, status, reasons = finalize(run.path, plan, state, meta, judges, run.previous, stopped)
    generated_now = sum(1 for i in plan.items if i.sample.id in state.generations) - generated_before
    return RunOutcome(run.path, results.to_json(), max(0, generated_now), journal.written["judgement"],
                      generated_before, stopped, timings, status=status, from_cache=from_cache, changed=changed,
                      incomplete_reasons=reasons)


def session_judges(state_slots: set[str], judges: Sequence[Judge],
                   previous: dict[str, Any]) -> tuple[dict[str, Any], list[MetricSpec]]:
    """Identities and metrics of every judge whose verdicts the run holds: this session's judges, plus
    earlier sessions' judges for slots this session did not judge (their verdicts stay in the rows)."""
    identities: dict[str, Any] = {}
    specs: list[MetricSpec] = []
    current = {j.name: j for j in judges}
    found = previous.get("judges")
    old_identities: dict[str, Any] = found if isinstance(found, dict) else {}
    old_specs = [MetricSpec.from_dict(m) for m in previous.get("metrics") or [] if isinstance(m, dict)]
    for slot in [*current, *sorted(state_slots - set(current))]:
        if slot in current:
            identities[slot] = current[slot].identity()
            specs.extend(current[slot].declared_metrics())
        elif slot in old_identities:
            identities[slot] = old_identities[slot]
            specs.extend(s for s in old_specs if s.judge == slot)
    return identities, run_metrics(specs)


def run_status(plan: Plan, state: JournalState, judges: Sequence[Judge], stopped: str | None) -> tuple[str, list[str]]:
    """``stopped`` (budget or a failing server), ``incomplete`` (something left to retry) or ``complete``."""
    reasons: list[str] = []
    missing = sum(1 for s in plan.samples if s.id not in state.generations)
    if missing:
        reasons.append(f"{missing} sample(s) without a generation")
    for judge in judges:
        verdicts = [state.judgements.get(s.id, {}).get(judge.name) for s in plan.samples if s.id in state.generations]
        unjudged = sum(1 for v in verdicts if v is None)
        failed = sum(1 for v in verdicts if v is not None and not v.judgement.ok
                     and not v.judgement.details.get("refused"))
        if unjudged:
            reasons.append(f"{unjudged} sample(s) not judged by {judge.name}")
        if failed:
            reasons.append(f"{failed} {judge.name} judge failure(s)")
    if stopped:
        return "stopped", reasons
    return ("incomplete" if reasons else "complete"), reasons


def finalize(run_dir: Path, plan: Plan, state: JournalState, meta: dict[str, Any], judges: Sequence[Judge],
             previous: dict[str, Any], stopped: str | None) -> tuple[Results, str, list[str]]:
    """Write the final files — ``samples.jsonl``, ``results.json``, then ``run.json`` — and return them."""
    status, reasons = run_status(plan, state, judges, stopped)
    slots = {slot for s in plan.samples for slot in state.judgements.get(s.id, {})}
    identities, specs = session_judges(slots, judges, previous)
    meta = {**meta, "status": status, "finished_at": now(), "judges": identities,
            "metrics": [s.to_dict() for s in specs],
            "length_formula": (identities.get("length") or {}).get("formula")}
    if reasons:
        meta["incomplete"] = reasons
    if stopped:
        meta["stopped"] = stopped
    results = write_final(run_dir, plan.samples, state, meta, specs)
    atomic_write_json(run_dir / RUN_JSON, meta)
    return results, status, reasons


def make_budget(config: EvalConfig, state: JournalState, model_name: str) -> Budget | None:
    """A spending tracker when ``--max-cost`` is set, charged first with what earlier sessions spent
    (every journalled record, so the limit holds across sessions, not per session)."""
    if config.max_cost is None:
        return None
    from .pricing import Budget, load_price_table

    budget = Budget(config.max_cost, load_price_table(config.prices, batch=config.batch))
    for model, _kind, usage in state.spend:
        budget.charge(model or model_name, usage)
    return budget


def price_table(config: EvalConfig, budget: Budget | None) -> dict[str, Any]:
    """The prices the progress display estimates cost with (the budget's when ``--max-cost`` is set)."""
    from .pricing import load_price_table

    return dict(budget.table) if budget is not None else load_price_table(config.prices, batch=config.batch)


def generate_all(adapter: ModelAdapter, requests: Sequence[Request], journal: Journal, state: JournalState,
                 say: Progress, budget: Budget | None = None, tracker: PhaseTracker | None = None) -> int:
    """Generate ``requests``, journalling each result as it arrives. Returns how many the cache answered.

    With a budget, requests go out in chunks of ``--concurrency`` and the budget is consulted before each
    chunk (the dearest request so far, or the price of ``max_new_tokens`` of output, times the chunk), so
    the run stops before it exceeds the limit rather than after.
    """
    from .pricing import budgeted_chunks, request_cost_bound

    done = failed = cached = 0
    started = time.perf_counter()
    model_name = adapter.model_name
    hashes = {r.id: request_hash(r) for r in requests}
    if tracker is not None:
        tracker.start()

    def bound(part: Sequence[Request]) -> float:
        assert budget is not None
        return max((request_cost_bound(model_name, 0, r.config.max_new_tokens or 0, budget.table) or 0.0)
                   for r in part)

    for part in budgeted_chunks(requests, budget, chunk_size(adapter.runtime, len(requests)), bound):
        for generation in adapter.generate(part):
            generation = scrub_generation(generation)
            record = GenerationRecord(generation, hashes[generation.request_id])
            journal.add(record)
            state.record_generation(record)
            if budget is not None and not generation.cached:
                budget.charge(generation.model or model_name, generation.usage)
            cached += generation.cached
            if generation.ok:
                done += 1
            else:
                failed += 1
                say(f"  {generation.request_id}: generation failed: {generation.error}")
            if tracker is not None:
                tracker.advance(ok=generation.ok, usage=generation.usage, cached=generation.cached,
                                model=generation.model or model_name)
            else:
                _report_progress(say, done + failed, len(requests), started)
    if tracker is not None:
        tracker.finish()
    say(f"generated {done} of {len(requests)}" + (f" ({cached} from the response cache)" if cached else "")
        + (f", {failed} failed (retried on resume)" if failed else ""))
    return cached


def _report_progress(say: Progress, finished: int, total: int, started: float) -> None:
    """A line at every tenth of the work, with the time so far and a naive estimate of the time left."""
    step = max(1, -(-total // 10))
    if finished == total or finished % step == 0:
        elapsed = time.perf_counter() - started
        left = elapsed / finished * (total - finished)
        say(f"  {finished}/{total} done ({elapsed:.1f}s" + (f", ~{left:.0f}s left)" if finished < total else ")"))


def judge_all(judge: Judge, plan: Plan, state: JournalState, journal: Journal, say: Progress,
              budget: Budget | None = None, chunk_size: int = 8, events: EventSink | None = None,
              table: dict[str, Any] | None = None) -> int:
    """Judge every generated sample whose verdict in this judge's slot is missing, failed, or was made
    from another input (another judge, response, instruction, images or L).

    With a budget, items go to the judge in chunks and the budget is consulted before each chunk.
    """
    from .pricing import budgeted_chunks, request_cost_bound

    identity = judge.identity()
    items: list[JudgeInput] = []
    hashes: dict[str, str] = {}
    for item in plan.items:
        generation = state.generation(item.sample.id)
        if generation is None:
            continue
        judge_input = JudgeInput(item.sample, strip_think(generation.text), generation)
        digest = judge_input_hash(identity, judge_input)
        previous = state.judgements.get(item.sample.id, {}).get(judge.name)
        if previous is not None and previous.input_hash == digest and (
                previous.judgement.ok or previous.judgement.details.get("refused")):
            continue
        items.append(judge_input)
        hashes[item.sample.id] = digest
    if not items:
        return 0
    say(f"judging {len(items)} samples with {judge.name}")
    count = failures = 0
    judge_model = str(identity.get("model") or judge.name)
    tracker = PhaseTracker(events, f"judge:{judge.name}", len(items), table)
    tracker.start()

    def bound(_part: Sequence[JudgeInput]) -> float | None:
        assert budget is not None
        return request_cost_bound(judge_model, 0, int(identity.get("max_new_tokens") or 0), budget.table)

    for part in budgeted_chunks(items, budget, chunk_size, bound):
        for verdict in judge.judge(part):
            record = JudgementRecord(verdict, judge.name, hashes[verdict.sample_id], judge.metric_values(verdict))
            journal.add(record)
            state.record_judgement(record)
            if budget is not None and (verdict.usage.input_tokens or verdict.usage.output_tokens):
                budget.charge(judge_model, verdict.usage)
            count += 1
            failures += not verdict.ok
            tracker.advance(ok=verdict.ok, usage=verdict.usage, model=judge_model)
    tracker.finish()
    if failures:
        say(f"  {failures} judge failures ({judge.name}); they are excluded from {judge.name}'s metrics and counted")
    return count


def run_metadata(config: EvalConfig, spec: ModelSpec, plan: Plan, judges: Sequence[Judge],
                 run: RunDirectory) -> dict[str, Any]:
    judge_ids = {j.name: j.identity() for j in judges}
    model_name = spec.model_args.get("pretrained") or spec.model_args.get("model") or spec.adapter
    return {
        "format_version": FORMAT_VERSION,
        "run_id": run.path.name,
        "session_id": uuid.uuid4().hex,
        "label": config.label or spec.preset or str(model_name),
        "created_at": now(),
        "fingerprint": run.fingerprint,
        "benchmark": "mmlongbench-write",
        "config": config.to_dict(),
        "model": {"adapter": spec.adapter, "model": model_name, "preset": spec.preset},
        "generation_defaults": spec.gen_defaults.to_dict(),
        "judges": judge_ids,
        "metrics": [m.to_dict() for m in run_metrics(s for j in judges for s in j.declared_metrics())],
        "length_formula": (judge_ids.get("length") or {}).get("formula"),
        "protocol": config.protocol,
        "dataset": plan.dataset,
        "versions": package_versions(),
        "git": git_revision(),
        **({"rescored_from": config.rescored_from} if config.rescored_from else {}),
    }
