"""`mmlw plot` and the figure functions: each kind draws a real image; missing data is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runfactory import make_run

from mmlongbench_write.cli import main
from mmlongbench_write.leaderboard import plots
from mmlongbench_write.runstore import load_run


@pytest.fixture()
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    make_run(root, label="a", per_task=2)
    make_run(root, label="b", per_task=2, length_ratio=0.6, seed=1)
    make_run(root, label="a-ruler", ruler=True)
    return root


@pytest.mark.parametrize("kind", plots.KINDS)
def test_each_kind_png(runs: Path, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"{kind}.png"
    main(["plot", str(runs), "--kind", kind, "--output", str(out)])
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    from PIL import Image

    with Image.open(out) as im:
        assert im.width > 300 and im.height > 200
        assert sum(1 for c in im.convert("L").histogram() if c) > 10  # not a blank canvas


def test_svg_output(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "scatter.svg"
    main(["plot", str(runs), "--kind", "length-scatter", "--output", str(out)])
    text = out.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and "y = x" in text


def test_ruler_without_ruler_samples_is_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_run(tmp_path / "r", label="a")
    with pytest.raises(SystemExit) as exc:
        main(["plot", str(tmp_path / "r"), "--kind", "ruler", "--output", str(tmp_path / "x.png")])
    assert exc.value.code == 2
    assert "no samples with task 'ruler'" in capsys.readouterr().err


def test_bad_kind_and_suffix(runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (
        ["--kind", "pie", "--output", str(tmp_path / "x.png")],
        ["--kind", "tasks", "--output", str(tmp_path / "x.gif")],
    ):
        with pytest.raises(SystemExit) as exc:
            main(["plot", str(runs), *args])
        assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown plot kind 'pie'" in err and ".png, .svg or .pdf" in err


def test_length_only_runs_have_no_dimension_plot(tmp_path: Path) -> None:
    path = make_run(tmp_path, label="len-only", judged=False)
    run = load_run(path)
    assert plots.plot_dimensions([run]) is None
    fig = plots.plot_tasks([run])
    assert fig is not None and len(fig.axes) == 1  # S_l only


def test_winrate_matrix(tmp_path: Path) -> None:
    pair = {
        "type": "pairwise",
        "a": {"run_id": "r1", "label": "A"},
        "b": {"run_id": "r2", "label": "B"},
        "judge": {"model": "gpt-4o"},
        "n": 10,
        "a_wins": 6,
        "b_wins": 3,
        "ties": 1,
        "a_win_rate": 0.6,
        "b_win_rate": 0.3,
        "tie_rate": 0.1,
        "ci95": {},
        "items": [],
    }
    fig = plots.plot_winrate([pair])
    assert fig is not None
    data = plots.figure_bytes(fig, "png")
    assert data[:4] == b"\x89PNG"
    (tmp_path / "p.json").write_text(json.dumps(pair))
    from mmlongbench_write.leaderboard.board import load_pairwise

    assert load_pairwise([tmp_path / "p.json"])[0]["a_win_rate"] == 0.6
