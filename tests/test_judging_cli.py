"""``mmlw pairwise`` and ``mmlw judge-agreement`` on stored runs, with registered fake judge models."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import runfactory
import typer
from fake_models import register_fake_judge
from runfactory import Synthetic
from typer.testing import CliRunner

from mmlongbench_write.cli import judging
from mmlongbench_write.judges.parsing import DIMENSIONS
from mmlongbench_write.schema import Request


def app() -> typer.Typer:
    application = typer.Typer()
    judging.register(application)
    return application


def make_run(root: Path, run_id: str, responses: dict[str, str], stored: int | None = None) -> Path:
    """A finished run on the bundled mini data: images are found again by re-loading ``mini``."""
    from mmlongbench_write.data import load_samples

    samples = [Synthetic(sample, responses.get(sample.id, "plain text"),
                         dims={key: stored for key, _ in DIMENSIONS} if stored is not None else None)
               for sample in load_samples("mini").samples]
    return runfactory.make_run(root, label=run_id.upper(), run_id=run_id, samples=samples, judged=stored is not None,
                               dataset_source="mini", config={"data": "mini"})


def scores_from_response(offset: int):  # noqa: ANN201 - test helper
    """A quality judge scoring every dimension with the digit in the response, plus ``offset``."""

    def reply(request: Request) -> str:
        n = int(re.search(r"quality (\d)", request.messages[0].text).group(1)) + offset  # type: ignore[union-attr]
        return json.dumps({"analysis": "ok", **{name: n for _, name in DIMENSIONS}})

    return reply


def test_pairwise_cli_first_position_bias_is_a_tie(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    requests = register_fake_judge(monkeypatch, "biased-judge", '{"analysis": "first", "winner": "A"}')
    run_a, run_b = make_run(tmp_path, "run-a", {}), make_run(tmp_path, "run-b", {})
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(app(), ["pairwise", str(run_a), str(run_b), "--judge-model", "biased-judge",
                                        "--output", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "pairwise-run-a-vs-run-b.json").read_text())
    assert data["type"] == "pairwise" and data["n"] == 12 and data["ties"] == 12 and data["a_wins"] == 0
    assert data["a"] == {"run_id": "run-a", "label": "RUN-A"} and data["judge"]["model"] == "biased-judge"
    assert len(requests) == 24 and all(len(r.images) >= 1 for r in requests)  # the images reached the judge
    assert all(r.images[0].data for r in requests)
    assert "ties" in result.output


def test_pairwise_cli_budget_stops_cleanly_and_the_same_command_resumes(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    requests = register_fake_judge(monkeypatch, "gpt-4o-2024-08-06-fake", '{"winner": "B"}')
    run_a, run_b = make_run(tmp_path, "a", {}), make_run(tmp_path, "b", {})
    out = tmp_path / "pw.json"
    # fake usage 100 in / 20 out per request at gpt-4o prices = 0.00045 USD; 2 requests per pair; a chunk of 2
    # pairs may cost at most 4 x 1024 output tokens = $0.041, so the chunk that could pass $0.045 is not sent
    args = ["pairwise", str(run_a), str(run_b), "--judge-model", "gpt-4o-2024-08-06-fake", "--concurrency", "2",
            "--cache", "off", "--output", str(out)]
    result = CliRunner().invoke(app(), [*args, "--max-cost", "0.045"])
    assert result.exit_code == 3, result.output
    data = json.loads(out.read_text())
    assert 0 < data["n"] < 12 and "stopped" in data and data["cost"]["spent_usd"] <= 0.045
    first_session = len(requests)
    assert first_session == 2 * data["n"]
    again = CliRunner().invoke(app(), [*args, "--max-cost", "1"])
    assert again.exit_code == 0, again.output
    data = json.loads(out.read_text())
    assert data["n"] == 12 and "stopped" not in data
    assert len(requests) - first_session == 2 * (12 - first_session // 2)  # journalled verdicts are not asked again
    assert (tmp_path / "pw.json.journal.jsonl").is_file()


def test_judge_agreement_cli_reports_shift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_fake_judge(monkeypatch, "judge-a", scores_from_response(0))
    register_fake_judge(monkeypatch, "judge-b", scores_from_response(1))
    from mmlongbench_write.data import load_samples

    ids = [s.id for s in load_samples("mini").samples]
    run = make_run(tmp_path, "r", {sid: f"quality {1 + i % 4}" for i, sid in enumerate(ids)})
    out = tmp_path / "agreement.json"
    result = CliRunner().invoke(app(), ["judge-agreement", str(run), "--judges", "judge-a,judge-b", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["n"] == 12 and data["failures"] == {"a": 0, "b": 0}
    for dim in data["dimensions"].values():
        assert dim["spearman"] == pytest.approx(1.0) and dim["shift"] == pytest.approx(1.0)
    assert "Reading Experience" in result.output and data["judges"]["b"]["model"] == "judge-b"


def test_judge_agreement_resumes_from_its_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second identical call asks neither judge again: every verdict comes from the journal beside the result."""
    requests_a = register_fake_judge(monkeypatch, "judge-a", scores_from_response(0))
    requests_b = register_fake_judge(monkeypatch, "judge-b", scores_from_response(1))
    from mmlongbench_write.comparisons import JudgeChoice, judge_agreement
    from mmlongbench_write.config import JudgingConfig, RuntimeConfig
    from mmlongbench_write.data import load_samples

    ids = [s.id for s in load_samples("mini").samples]
    run = make_run(tmp_path, "r", {sid: f"quality {1 + i % 4}" for i, sid in enumerate(ids)})
    choices = (JudgeChoice("judge-a"), JudgeChoice("judge-b"))
    runtime = RuntimeConfig(cache="off")
    first = judge_agreement(run, choices, JudgingConfig(), runtime, output=tmp_path / "agree")
    asked = (len(requests_a), len(requests_b))
    assert asked == (12, 12) and first.reused == 0 and first.path == tmp_path / "agree" / "judge-agreement-r.json"
    second = judge_agreement(run, choices, JudgingConfig(), runtime, output=tmp_path / "agree")
    assert (len(requests_a), len(requests_b)) == asked and second.reused == 24
    assert second.result["dimensions"] == first.result["dimensions"]


def test_judge_agreement_against_stored_scores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_fake_judge(monkeypatch, "judge-a", scores_from_response(0))
    from mmlongbench_write.data import load_samples

    run = make_run(tmp_path, "r", {s.id: "quality 4" for s in load_samples("mini").samples}, stored=4)
    result = CliRunner().invoke(app(), ["judge-agreement", str(run), "--judges", "stored,judge-a", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "judge agreement on 12 responses" in result.output and "+0.00" in result.output


def test_judge_agreement_needs_two_judges(tmp_path: Path) -> None:
    run = make_run(tmp_path, "r", {})
    result = CliRunner().invoke(app(), ["judge-agreement", str(run), "--judges", "only-one"])
    assert result.exit_code != 0 and "expected two judges" in str(result.exception)


@pytest.mark.api
def test_a_failing_judge_server_stops_pairwise_and_agreement_resumably(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A judge server answering 500 to everything trips the circuit breaker: exit 3 with the partial result
    written and marked stopped, not a traceback; the same command against a healthy server finishes."""
    from servers import FakeAPIServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-judge-breaker-0042")
    run_a, run_b = make_run(tmp_path, "a", {}), make_run(tmp_path, "b", {})
    with FakeAPIServer(fail_status=500, fail_after=4, reply_text='{"winner": "B"}') as server:
        judge = ["--judge-model", "openai", "--judge-model-args",
                 f"model=judge,base_url={server.openai_url},circuit_breaker=3,retry_base_s=0.01",
                 "--cache", "off", "--concurrency", "1", "--max-retries", "1"]
        out = tmp_path / "pw.json"
        result = CliRunner().invoke(app(), ["pairwise", str(run_a), str(run_b), *judge, "--output", str(out)])
        assert result.exit_code == 3, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        data = json.loads(out.read_text())
        assert "failing" in data["stopped"] and data["n"] + data["failed"] < 12
        agreement_out = tmp_path / "ag.json"
        result = CliRunner().invoke(app(), ["judge-agreement", str(run_a), "--judges", "openai,openai",
                                            "--judge-a-args", f"model=judge,base_url={server.openai_url},"
                                            "circuit_breaker=3,retry_base_s=0.01", "--judge-b-args",
                                            f"model=judge,base_url={server.openai_url},circuit_breaker=3",
                                            "--cache", "off", "--max-retries", "1", "-o", str(agreement_out)])
        assert result.exit_code == 3, result.output
        assert "failing" in json.loads(agreement_out.read_text())["stopped"]
