"""``mmlw plot`` writes 1200x900 PNGs by default and honours ``--dpi`` (issue 12, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import run_cli
from PIL import Image

RUN = Path(__file__).resolve().parent / "fixtures" / "run_format_1"


@pytest.mark.parametrize(("extra", "size"), [([], (1200, 900)), (["--dpi", "90"], (720, 540)),
                                             (["--dpi", "300"], (2400, 1800))])
def test_png_size(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], size: tuple[int, int]) -> None:
    out = tmp_path / "scatter.png"
    code, _, err = run_cli(["plot", str(RUN), "--kind", "length-scatter", "--output", str(out), *extra], capsys)
    assert code == 0, err
    with Image.open(out) as image:
        assert image.size == size


def test_unusable_dpi_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["plot", str(RUN), "--kind", "ruler", "--dpi", "0", "--output", str(tmp_path / "x.png")],
                           capsys)
    assert code == 2 and err.strip().splitlines() == ["error: --dpi 0: choose between 10 and 1200"]
