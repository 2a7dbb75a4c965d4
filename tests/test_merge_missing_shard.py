"""Merging 3 of 4 shards names the missing shard on screen (issue 12, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import run_cli

from mmlongbench_write.config import EvalConfig
from mmlongbench_write.errors import EXIT_INCOMPLETE
from mmlongbench_write.merging import missing_shards
from mmlongbench_write.runner import evaluate


def test_three_of_four_shards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = []
    for i in (0, 1, 3):
        cfg = EvalConfig.from_dict({"model": "scripted", "output": str(tmp_path / "shards"), "cache": "off",
                                    "shard": f"{i}/4"})
        runs.append(str(evaluate(cfg, progress=None).run_dir))
    capsys.readouterr()
    code, out, err = run_cli(["merge", *runs, "--output", str(tmp_path / "merged")], capsys)
    assert code == EXIT_INCOMPLETE
    assert "shard 2/4 missing" in err, err
    assert "Traceback" not in out + err


def test_missing_shards_of_a_full_set_is_empty() -> None:
    assert missing_shards(["0/3", "2/3", "1/3"]) == []
    assert missing_shards(["0/4", "3/4"]) == ["1/4", "2/4"]
