"""Judging stored runs again, as library entry points beside :func:`mmlongbench_write.evaluate`:
:func:`pairwise` (which of two runs writes better, per sample, in both orders) and
:func:`judge_agreement` (how much two judges agree on one run's responses).

Both journal every verdict the moment it is made, beside their result file (``<result>.journal.jsonl``,
the same append-only, fsynced, torn-tail-tolerant format as a run's journal), each with the hash of what
it was made from (the judge's identity and everything it was shown). Re-running the same call resumes:
verdicts whose hash still matches are reused, anything else is judged again; a verdict that failed is
retried. Spending goes through the same chunk-and-budget loop as evaluation
(:func:`mmlongbench_write.pricing.budgeted_chunks`), charged with what earlier sessions spent, so
``max_cost`` holds across sessions. One process at a time works on a result (a lock beside it).

A run stores image hashes and sources, not bytes, so the images a judge must see are found again: from
the recorded source when it is a readable file with the same hash, else by re-loading the run's data set
(``run.json`` config ``data``, or ``data=``) and matching hashes.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import JudgingConfig, RuntimeConfig
from .errors import BudgetExceeded, MMLWError, ServerFailing
from .fields import Fields, RunFormatError
from .journal import Journal, JudgementRecord, judge_input_hash, read_lines
from .kvstore import stable_hash
from .runformat import SampleRow
from .runstore import RunInUse, StoredRun, atomic_write_json, load_run
from .schema import ImageRef, JudgeInput, Sample, Usage

if TYPE_CHECKING:
    from .judges.pairwise import PairInput, PairVerdict
    from .pricing import Budget

Say = Callable[[str], None]


def _quiet(_msg: str) -> None:
    return None


# --- finding what to judge -------------------------------------------------------------------------------
def judged_rows(run: StoredRun, limit: int | None = None) -> list[SampleRow]:
    """The rows of a finished run that have a response to judge (failed generations are skipped)."""
    if run.problem:
        raise MMLWError(f"run {run.path}: {run.problem}")
    if not run.rows:
        raise MMLWError(f"run {run.path} has no samples.jsonl rows (is it finished?)")
    rows = [r for r in run.rows if r.generated and r.response is not None]
    return rows[:limit] if limit is not None else rows


def resolve_images(rows: Sequence[SampleRow], run: StoredRun, data: str | None) -> dict[str, ImageRef]:
    """sha256 -> ImageRef with bytes available, for every image the rows name (module docstring)."""
    needed = {img.sha256: img for row in rows for img in row.images}
    found: dict[str, ImageRef] = {}
    for sha, info in needed.items():
        if info.source and Path(info.source).is_file():
            ref = ImageRef.from_path(info.source, info.media_type)
            if ref.sha256 == sha:
                found[sha] = ref
    missing = set(needed) - set(found)
    if not missing:
        return found
    config = run.meta.config
    source = data or config.get("data") or run.meta.dataset.get("source")
    if not source or not isinstance(source, str) or source.startswith("<"):
        raise MMLWError(f"run {run.run_id}: {len(missing)} image(s) not on disk and no data source recorded; "
                        "pass --data SOURCE")
    from .data import load_samples

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


def row_sample(row: SampleRow, images: dict[str, ImageRef]) -> Sample:
    language = row.language if row.language in ("en", "zh") else "en"
    return Sample(id=row.id, instruction=row.instruction, images=tuple(images[img.sha256] for img in row.images),
                  required_length=row.required_length, task=row.task, language=language)  # type: ignore[arg-type]


# --- journal, lock, budget -------------------------------------------------------------------------------
def journal_path(result: Path) -> Path:
    return result.with_name(result.name + ".journal.jsonl")


@contextmanager
def _locked(result: Path) -> Iterator[None]:
    """One writer per result: an flock on ``<result>.lock`` (released by the kernel however we exit)."""
    result.parent.mkdir(parents=True, exist_ok=True)
    path = result.with_name(result.name + ".lock")
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise RunInUse(f"{result} is being written by {holder}; wait for it or choose another --output") \
                from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        yield
    finally:
        fh.close()


def _budget(runtime: RuntimeConfig, spent: Sequence[tuple[str | None, Usage]]) -> Budget:
    from .pricing import Budget, load_price_table

    budget = Budget(max_cost=runtime.max_cost, table=load_price_table(runtime.prices))
    for model, usage in spent:
        budget.charge(model or "", usage)
    return budget


def _judge_bound(budget: Budget, identity: dict[str, Any],
                 requests_per_item: int) -> Callable[[Sequence[Any]], float | None]:
    from .pricing import request_cost_bound

    def bound(_part: Sequence[Any]) -> float | None:
        return request_cost_bound(str(identity.get("model") or ""), 0, int(identity.get("max_new_tokens") or 0),
                                  budget.table)

    return bound


# --- pairwise ----------------------------------------------------------------------------------------------
@dataclass
class PairwiseOutcome:
    """The result file's content, where it was written, and what this session did."""

    result: dict[str, Any]
    path: Path
    reused: int = 0
    judged: int = 0
    stopped: str | None = None


def pair_key(identity: dict[str, Any], pair: PairInput) -> str:
    """What a pair verdict is made from: the judge (snapshot aside), instruction, images, both responses."""
    core = {k: v for k, v in identity.items() if k not in {"snapshot", "model_snapshot"}}
    return stable_hash({"judge": core, "instruction": pair.sample.instruction,
                        "images": [img.sha256 for img in pair.sample.images],
                        "a": pair.response_a, "b": pair.response_b})


def _replay_pairs(path: Path) -> tuple[dict[str, PairVerdict], list[tuple[str | None, Usage]]]:
    from .judges.pairwise import PairVerdict

    verdicts: dict[str, PairVerdict] = {}
    spent: list[tuple[str | None, Usage]] = []
    if not path.exists():
        return verdicts, spent
    for number, data in read_lines(path):
        where = f"{path} line {number}"
        f = Fields(data, where)
        kind = f.str("type", required=True)
        if kind == "header":
            continue
        if kind != "pair":
            raise RunFormatError(f"{where}: unknown record type {kind!r}")
        verdict = PairVerdict.from_dict(f.data.get("verdict"), f"{where}, verdict")
        if verdict.usage.input_tokens or verdict.usage.output_tokens:
            spent.append((f.opt_str("model"), verdict.usage))
        verdicts[f.str("key", required=True)] = verdict
    return verdicts, spent


def default_pairwise_path(a: StoredRun, b: StoredRun, output: str | Path | None) -> Path:
    """``output`` if it names a file; inside it (or the working folder) ``pairwise-<a>-vs-<b>.json`` if a folder."""
    name = f"pairwise-{a.run_id}-vs-{b.run_id}.json"
    if output is None:
        return Path.cwd() / name
    path = Path(output)
    if path.is_dir() or str(output).endswith(("/", os.sep)) or path.suffix.lower() != ".json":
        return path / name
    return path


def pairwise(run_a: str | Path, run_b: str | Path, judging: JudgingConfig | None = None,
             runtime: RuntimeConfig | None = None, *, data: str | None = None, limit: int | None = None,
             output: str | Path | None = None, say: Say = _quiet) -> PairwiseOutcome:
    """Judge the common samples of two finished runs in both orders; write and return the result.

    The result file (``type: pairwise``) is what ``mmlw leaderboard --pairwise`` reads.
    """
    from .judges.pairwise import PairInput, PairwiseJudge, summarize

    judging = judging or JudgingConfig()
    runtime = runtime or RuntimeConfig()
    a, b = load_run(run_a), load_run(run_b)
    rows_a = {r.id: r for r in judged_rows(a)}
    rows_b = {r.id: r for r in judged_rows(b)}
    common = [sid for sid in rows_a if sid in rows_b]
    common = common[:limit] if limit is not None else common
    if not common:
        raise MMLWError(f"runs {a.run_id} and {b.run_id} share no sample with a response")
    for sid in common:
        ra, rb = rows_a[sid], rows_b[sid]
        if ra.instruction != rb.instruction or [i.sha256 for i in ra.images] != [i.sha256 for i in rb.images]:
            raise MMLWError(f"sample {sid!r} differs between {a.run_id} and {b.run_id} (instruction or images)")
    images = resolve_images([rows_a[s] for s in common], a, data)
    pairs = [PairInput(sample=row_sample(rows_a[sid], images), response_a=str(rows_a[sid].response),
                       response_b=str(rows_b[sid].response)) for sid in common]
    path = default_pairwise_path(a, b, output)
    with _locked(path):
        journal_file = journal_path(path)
        done, spent = _replay_pairs(journal_file)
        judge = PairwiseJudge.from_options(judging.judge_options(runtime))
        try:
            identity = judge.identity()
            keys = [pair_key(identity, pair) for pair in pairs]
            verdicts: dict[str, PairVerdict] = {}
            todo: list[int] = []
            for i, key in enumerate(keys):
                previous = done.get(key)
                if previous is not None and previous.outcome != "error":
                    verdicts[pairs[i].sample.id] = previous
                else:
                    todo.append(i)
            reused = len(verdicts)
            if reused:
                say(f"pairwise: reusing {reused} verdict(s) from {journal_file.name}; judging {len(todo)}")
            budget = _budget(runtime, spent)
            stopped = None
            from .pricing import budgeted_chunks

            with Journal(journal_file) as journal:
                try:
                    todo_pairs = [pairs[i] for i in todo]
                    index = {pairs[i].sample.id: i for i in todo}
                    chunks = budgeted_chunks(todo_pairs, budget, runtime.concurrency,
                                             _judge_bound(budget, identity, 2), requests_per_item=2)
                    for part in chunks:
                        for verdict in judge.compare(part):
                            journal.append({"type": "pair", "key": keys[index[verdict.sample_id]],
                                            "model": judge.adapter.model_name, "verdict": verdict.to_dict()})
                            budget.charge(judge.adapter.model_name, verdict.usage)
                            verdicts[verdict.sample_id] = verdict
                except (BudgetExceeded, ServerFailing) as exc:  # both resumable: keep what was judged
                    stopped = str(exc)
            ordered = [verdicts[p.sample.id] for p in pairs if p.sample.id in verdicts]
            result = summarize(ordered, {"run_id": a.run_id, "label": a.label}, {"run_id": b.run_id, "label": b.label},
                               identity)
        finally:
            judge.close()
        result["cost"] = budget.summary()
        if stopped:
            result["stopped"] = stopped
        atomic_write_json(path, result)
    return PairwiseOutcome(result, path, reused=reused, judged=len(ordered) - reused, stopped=stopped)


# --- judge agreement ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JudgeChoice:
    """One of judge-agreement's two judges: ``stored`` (the quality verdicts already in the run) or a model."""

    model: str
    model_args: dict[str, Any] = field(default_factory=dict)

    @property
    def stored(self) -> bool:
        return self.model == "stored"


@dataclass
class AgreementOutcome:
    result: dict[str, Any]
    path: Path
    failures: tuple[int, int]
    n_responses: int
    reused: int = 0
    stopped: str | None = None


def default_agreement_path(run: StoredRun, output: str | Path | None) -> Path:
    name = f"judge-agreement-{run.run_id}.json"
    if output is None:
        return Path.cwd() / name
    path = Path(output)
    return path / name if path.is_dir() or path.suffix.lower() != ".json" else path


def judge_agreement(run: str | Path, judges: tuple[JudgeChoice, JudgeChoice], judging: JudgingConfig | None = None,
                    runtime: RuntimeConfig | None = None, *, data: str | None = None, limit: int | None = None,
                    output: str | Path | None = None, say: Say = _quiet) -> AgreementOutcome:
    """Score one run's responses with two judges and compare them per rubric dimension (and S_q)."""
    from .judges.agreement import agreement
    from .judges.quality import QualityJudge

    judging = judging or JudgingConfig()
    runtime = runtime or RuntimeConfig()
    stored = load_run(run)
    rows = judged_rows(stored, limit)
    path = default_agreement_path(stored, output)
    scores: list[dict[str, dict[str, float]]] = []
    identities: list[dict[str, Any]] = []
    failures: list[int] = []
    reused_total = 0
    stopped: str | None = None
    with _locked(path):
        journal_file = journal_path(path)
        state = Journal.replay(journal_file)
        budget = _budget(runtime, [(m, u) for m, _kind, u in state.spend])
        items: list[JudgeInput] | None = None
        for slot, choice in zip(("a", "b"), judges, strict=True):
            if choice.stored:
                quality = [r.scores.get("quality") for r in rows]
                scores.append({r.id: dict(q.details.get("dimensions") or {}) for r, q in zip(rows, quality, strict=True)
                               if q is not None and q.ok and q.details.get("dimensions")})
                identities.append(next((r.quality_judge for r in rows if r.quality_judge), {"judge": "stored"}))
                failures.append(len(rows) - len(scores[-1]))
                continue
            if items is None:
                images = resolve_images(rows, stored, data)
                items = [JudgeInput(sample=row_sample(r, images), response=str(r.response)) for r in rows]
            judge = QualityJudge.from_options(judging.judge_options(runtime, model=choice.model,
                                                                    model_args=choice.model_args))
            try:
                identity = judge.identity()
                hashes = {item.sample.id: judge_input_hash(identity, item) for item in items}
                verdicts = {}
                for item in items:
                    record = state.judgements.get(item.sample.id, {}).get(slot)
                    if record is not None and record.input_hash == hashes[item.sample.id] and record.judgement.ok:
                        verdicts[item.sample.id] = record.judgement
                reused_total += len(verdicts)
                todo = [item for item in items if item.sample.id not in verdicts]
                if verdicts:
                    say(f"judge {slot}: reusing {len(verdicts)} verdict(s) from {journal_file.name}; "
                        f"judging {len(todo)}")
                from .pricing import budgeted_chunks

                with Journal(journal_file) as journal:
                    try:
                        for part in budgeted_chunks(todo if stopped is None else [], budget, runtime.concurrency,
                                                    _judge_bound(budget, identity, 1)):
                            for verdict in judge.judge(part):
                                journal.add(JudgementRecord(verdict, slot, hashes[verdict.sample_id],
                                                            judge.metric_values(verdict)))
                                budget.charge(str(identity.get("model") or ""), verdict.usage)
                                verdicts[verdict.sample_id] = verdict
                    except (BudgetExceeded, ServerFailing) as exc:
                        stopped = str(exc)
                identities.append(identity)
            finally:
                judge.close()
            ok = [v for v in verdicts.values() if v.ok]
            scores.append({v.sample_id: dict(v.dimension_scores or {}) for v in ok})
            failures.append(len(items) - len(ok))
        result = {"type": "judge-agreement", "run_id": stored.run_id,
                  "judges": {"a": identities[0], "b": identities[1]},
                  "failures": {"a": failures[0], "b": failures[1]}, "n_responses": len(rows),
                  "cost": budget.summary(), **agreement(scores[0], scores[1])}
        if stopped:
            result["stopped"] = stopped
        atomic_write_json(path, result)
    return AgreementOutcome(result, path, (failures[0], failures[1]), len(rows), reused_total, stopped)
