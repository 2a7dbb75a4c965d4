"""Token prices, cost estimates and the ``--max-cost`` budget.

Prices are USD per million input / output tokens, as published by the providers for the API models the
paper evaluates (list prices, early 2025; cached-input discounts ignored). They change: pass your own table
(JSON or YAML, ``{"model": {"input": 2.5, "output": 10.0}}``), which is merged over the built-in one.

**Batch prices** (``--batch``, docs/batch.md): OpenAI's Batch API and Anthropic's Message Batches charge half
the list price for both input and output; :data:`BATCH_DISCOUNT` applies that to every entry unless the entry
names its own ``batch_input`` / ``batch_output``. ``load_price_table(..., batch=True)`` is the table a batch
run's budget and cost estimate use. Local models have no price: their cost is ``None``, not 0, so a total
never pretends to be complete.

A model name matches a table entry exactly, else after dropping a ``provider/`` prefix, else by the longest
entry it starts with (``gpt-4o-2024-11-20`` -> ``gpt-4o``), so dated snapshots find their family.

**Budget rule** (``Budget``): the runner sends requests in chunks and, before each chunk, asks
``would_exceed(budget.estimate_next(n))``. The estimate for the next ``n`` requests is
``n x`` the most expensive request seen so far (or an explicit per-request upper bound, such as the cost
of ``max_new_tokens`` output tokens, if larger). The run stops cleanly — raising
:class:`~mmlongbench_write.errors.BudgetExceeded` via ``check_next`` — when ``spent + estimate > max_cost``.
It therefore stops *before* exceeding the limit as long as no request costs more than the dearest one seen
(or the bound given); before any request is seen the estimate is the bound alone, so the runner should
make its first chunk small (one request) when no bound is known.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .errors import BudgetExceeded, ConfigError
from .schema import Usage

T = TypeVar("T")


#: share of the list price the providers' batch APIs charge (OpenAI and Anthropic: 50%)
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class Price:
    """USD per one million input and output tokens; ``batch_*`` through the batch API (None: the discount)."""

    input: float
    output: float
    batch_input: float | None = None
    batch_output: float | None = None

    def batched(self) -> Price:
        """The price through the provider's batch API."""
        return Price(self.input * BATCH_DISCOUNT if self.batch_input is None else self.batch_input,
                     self.output * BATCH_DISCOUNT if self.batch_output is None else self.batch_output)


#: Built-in list prices (USD / 1M tokens). Override or extend with a price file.
DEFAULT_PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-4o-2024-08-06": Price(2.50, 10.00),
    "gpt-4o-2024-11-20": Price(2.50, 10.00),
    "gpt-4o-2024-05-13": Price(5.00, 15.00),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "o1": Price(15.00, 60.00),
    "o1-mini": Price(1.10, 4.40),
    "o3-mini": Price(1.10, 4.40),
    # Anthropic
    "claude-3-opus-20240229": Price(15.00, 75.00),
    "claude-3-opus": Price(15.00, 75.00),
    "claude-3-5-sonnet": Price(3.00, 15.00),
    "claude-3-7-sonnet": Price(3.00, 15.00),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-3-haiku": Price(0.25, 1.25),
    "claude-3-sonnet": Price(3.00, 15.00),
    # Google (prompts up to 128k tokens)
    "gemini-1.5-pro": Price(1.25, 5.00),
    "gemini-1.5-flash": Price(0.075, 0.30),
    "gemini-2.0-flash": Price(0.10, 0.40),
    # DeepSeek
    "deepseek-reasoner": Price(0.55, 2.19),
    "deepseek-chat": Price(0.27, 1.10),
}


def load_price_table(path: str | Path | None = None, base: Mapping[str, Price] | None = None,
                     batch: bool = False) -> dict[str, Price]:
    """The built-in table (or ``base``) with the entries of a JSON/YAML price file merged over it; with
    ``batch``, every entry at its batch price (:meth:`Price.batched`).

    File format: ``{"model-name": {"input": USD_per_1M, "output": USD_per_1M}, ...}``, optionally with
    ``batch_input`` / ``batch_output``.
    """
    table = _load_price_table(path, base)
    return {name: price.batched() for name, price in table.items()} if batch else table


def _load_price_table(path: str | Path | None, base: Mapping[str, Price] | None) -> dict[str, Price]:
    table = dict(DEFAULT_PRICES if base is None else base)
    if path is None:
        return table
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"price file {file} does not exist")
    text = file.read_text(encoding="utf-8")
    try:
        if file.suffix.lower() in {".yaml", ".yml"}:
            import yaml

            raw = yaml.safe_load(text)
        else:
            raw = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the user's file
        raise ConfigError(f"price file {file}: cannot parse ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"price file {file}: expected a mapping of model -> {{input, output}}")
    for model, entry in raw.items():
        try:
            batch = {k: float(entry[k]) for k in ("batch_input", "batch_output") if entry.get(k) is not None}
            table[str(model)] = Price(float(entry["input"]), float(entry["output"]), **batch)
        except (TypeError, KeyError, ValueError, AttributeError):
            raise ConfigError(f"price file {file}: entry {model!r} needs numeric 'input' and 'output' (and numeric "
                              "'batch_input'/'batch_output' if given)") from None
    return table


def find_price(model: str, table: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model``: exact name, then without ``provider/``, then the longest matching prefix."""
    table = DEFAULT_PRICES if table is None else table
    for name in (model, model.rsplit("/", 1)[-1]):
        if name in table:
            return table[name]
    bare = model.rsplit("/", 1)[-1]
    prefixes = [k for k in table if bare.startswith(k)]
    return table[max(prefixes, key=len)] if prefixes else None


def estimate_cost(model: str, usage: Usage, table: Mapping[str, Price] | None = None) -> float | None:
    """USD for ``usage`` tokens of ``model``, or ``None`` for an unknown (e.g. local) model."""
    price = find_price(model, table)
    if price is None:
        return None
    return (usage.input_tokens * price.input + usage.output_tokens * price.output) / 1_000_000


def request_cost_bound(model: str, input_tokens: int, max_new_tokens: int,
                       table: Mapping[str, Price] | None = None) -> float | None:
    """The most one request can cost: its input plus ``max_new_tokens`` of output (None if unpriced)."""
    return estimate_cost(model, Usage(input_tokens, max_new_tokens), table)


@dataclass
class Budget:
    """Tracks spending against ``max_cost`` (USD; ``None`` = no limit) so a run can stop before exceeding it.

    ``charge`` every finished generation/judgement; consult ``check_next(n)`` before sending ``n`` more.
    Usage of unpriced models is counted in ``unpriced`` and never blocks (it costs nothing we can know).
    """

    max_cost: float | None = None
    table: Mapping[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    spent: float = 0.0
    max_request_cost: float = 0.0
    unpriced: dict[str, Usage] = field(default_factory=dict)
    by_model: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_cost is not None and self.max_cost < 0:
            raise ConfigError(f"--max-cost must be >= 0, got {self.max_cost}")

    @property
    def remaining(self) -> float | None:
        """USD left under the limit (never negative), or None without a limit."""
        return None if self.max_cost is None else max(0.0, self.max_cost - self.spent)

    def is_priced(self, model: str) -> bool:
        return find_price(model, self.table) is not None

    def charge(self, model: str, usage: Usage) -> float | None:
        """Record one request's usage; returns its cost (None for an unpriced model)."""
        cost = estimate_cost(model, usage, self.table)
        if cost is None:
            self.unpriced[model] = self.unpriced.get(model, Usage()) + usage
            return None
        self.spent += cost
        self.by_model[model] = self.by_model.get(model, 0.0) + cost
        self.max_request_cost = max(self.max_request_cost, cost)
        return cost

    def estimate_next(self, n_requests: int, per_request_bound: float | None = None) -> float:
        """Estimated cost of the next ``n_requests``: n x max(dearest request seen, ``per_request_bound``)."""
        per_request = max(self.max_request_cost, per_request_bound or 0.0)
        return n_requests * per_request

    def would_exceed(self, estimated_next: float) -> bool:
        """True when spending ``estimated_next`` more would pass the limit."""
        return self.max_cost is not None and self.spent + estimated_next > self.max_cost

    def check_next(self, n_requests: int, per_request_bound: float | None = None) -> None:
        """Raise :class:`BudgetExceeded` if the next ``n_requests`` may pass the limit (see the module rule)."""
        if self.max_cost is None:
            return
        estimate = self.estimate_next(n_requests, per_request_bound)
        if self.would_exceed(estimate):
            raise BudgetExceeded(
                f"cost limit ${self.max_cost:.2f} reached: spent ${self.spent:.4f}, the next {n_requests} request(s)"
                f" may cost ~${estimate:.4f}; finished work is saved — raise --max-cost and re-run to resume"
            )

    def summary(self) -> dict[str, Any]:
        """For run.json / results.json: the limit, what was spent (per model) and unpriced usage."""
        return {
            "max_cost": self.max_cost,
            "spent_usd": round(self.spent, 6),
            "by_model_usd": {k: round(v, 6) for k, v in sorted(self.by_model.items())},
            "unpriced_usage": {k: v.to_dict() for k, v in sorted(self.unpriced.items())},
        }


def budgeted_chunks(items: Sequence[T], budget: Budget | None, chunk_size: int,
                    bound: Callable[[Sequence[T]], float | None] = lambda _part: None,
                    requests_per_item: int = 1) -> Iterator[Sequence[T]]:
    """``items`` in chunks, consulting the budget before each (the one loop generation, judging and
    pairwise judging share).

    Without a budget everything is one chunk (the adapter runs it at full concurrency). With one, chunks of
    ``chunk_size`` items go out and :meth:`Budget.check_next` is asked first, with ``bound(part)`` as the
    most one request of that chunk can cost, so the work stops (raising ``BudgetExceeded``) before the
    limit rather than after it.
    """
    size = len(items) if budget is None or budget.max_cost is None else max(1, chunk_size)
    for offset in range(0, len(items), max(1, size)):
        part = items[offset : offset + size]
        if budget is not None:
            budget.check_next(len(part) * requests_per_item, bound(part))
        yield part
