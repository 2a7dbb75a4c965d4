"""Price lookup, cost estimates and the stop-before-exceeding budget rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlongbench_write.errors import BudgetExceeded, ConfigError
from mmlongbench_write.pricing import (
    Budget,
    Price,
    estimate_cost,
    find_price,
    load_price_table,
    request_cost_bound,
)
from mmlongbench_write.schema import Usage


def test_paper_model_prices() -> None:
    assert estimate_cost("gpt-4o-2024-08-06", Usage(1_000_000, 1_000_000)) == pytest.approx(12.5)
    assert estimate_cost("claude-3-opus-20240229", Usage(2000, 1000)) == pytest.approx(0.03 + 0.075)
    assert estimate_cost("deepseek-reasoner", Usage(0, 1_000_000)) == pytest.approx(2.19)
    assert find_price("gemini-1.5-pro-002") == Price(1.25, 5.00)


def test_prefix_and_provider_matching() -> None:
    assert find_price("openai/gpt-4o-mini-2024-07-18") == Price(0.15, 0.60)  # longest prefix, not gpt-4o
    assert find_price("gpt-4o-2024-11-20") == Price(2.50, 10.00)


def test_unknown_model_has_no_cost() -> None:
    assert estimate_cost("THU-KEG/LongWriter-V-7B", Usage(10, 10)) is None
    assert request_cost_bound("local-model", 100, 1024) is None


def test_user_price_file_overrides(tmp_path: Path) -> None:
    json_file = tmp_path / "prices.json"
    json_file.write_text(json.dumps({"gpt-4o-2024-08-06": {"input": 1, "output": 2}, "my-model": {"input": 3,
                                                                                                  "output": 4}}))
    table = load_price_table(json_file)
    assert estimate_cost("gpt-4o-2024-08-06", Usage(1_000_000, 1_000_000), table) == pytest.approx(3.0)
    assert table["my-model"] == Price(3, 4) and "claude-3-opus-20240229" in table
    yaml_file = tmp_path / "prices.yaml"
    yaml_file.write_text("my-model:\n  input: 0.5\n  output: 1.5\n")
    assert load_price_table(yaml_file)["my-model"] == Price(0.5, 1.5)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"x": {"input": "cheap"}}))
    with pytest.raises(ConfigError, match="'x'"):
        load_price_table(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_price_table(tmp_path / "missing.json")


def test_budget_charges_and_stops_before_exceeding() -> None:
    budget = Budget(max_cost=0.10)
    # one gpt-4o request: 4000 in, 1000 out = 0.01 + 0.01 = 0.02 USD
    assert budget.charge("gpt-4o-2024-08-06", Usage(4000, 1000)) == pytest.approx(0.02)
    assert budget.remaining == pytest.approx(0.08)
    assert budget.estimate_next(4) == pytest.approx(0.08)
    budget.check_next(4)  # 0.02 + 0.08 = 0.10: exactly at the limit is allowed
    with pytest.raises(BudgetExceeded, match="re-run to resume"):
        budget.check_next(5)
    for _ in range(4):
        budget.charge("gpt-4o-2024-08-06", Usage(4000, 1000))
    assert budget.spent <= budget.max_cost  # type: ignore[operator]
    assert budget.would_exceed(0.001)


def test_budget_uses_a_per_request_bound_before_anything_is_seen() -> None:
    budget = Budget(max_cost=0.05)
    bound = request_cost_bound("gpt-4o-2024-08-06", 4000, 8192)  # 0.01 + 0.08192
    assert not budget.would_exceed(budget.estimate_next(1))  # nothing seen, no bound: first chunk goes
    with pytest.raises(BudgetExceeded):
        budget.check_next(1, bound)


def test_budget_unpriced_and_unlimited() -> None:
    budget = Budget(max_cost=None)
    assert budget.charge("local/qwen", Usage(5, 7)) is None and budget.remaining is None
    budget.check_next(10_000)
    assert budget.summary()["unpriced_usage"] == {"local/qwen": {"input_tokens": 5, "output_tokens": 7}}
    with pytest.raises(ConfigError):
        Budget(max_cost=-1)
