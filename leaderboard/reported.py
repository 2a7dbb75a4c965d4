"""The paper's published Table 1 (``reported_table1.csv``), as leaderboard rows marked "reported".

These numbers were not measured by this harness; they are shown for reference, with the paper's
setting (``vlm`` or ``caption+llm``). Values are kept as the exact strings of the CSV so tables can
reproduce them digit for digit.
"""

from __future__ import annotations

import csv
import io
from importlib import resources
from typing import Any

from mmlongbench_write.errors import DataError
from mmlongbench_write.schema import LENGTH_BIN_NAMES

REPORTED_FILE = "reported_table1.csv"
#: CSV column suffix of each length bin, in LENGTH_BIN_NAMES order.
BIN_COLUMNS: tuple[str, ...] = ("0_1500", "1500_2000", "2000_3000", "3000_plus")
SOURCE = "LongWriter-V paper (arXiv 2502.14834), Table 1"


def _metric(text: str) -> dict[str, Any]:
    text = (text or "").strip()
    return {"mean": float(text) if text else None, "ci95": None, "n": None, "text": text or None}


def load_reported(text: str | None = None) -> list[dict[str, Any]]:
    """Rows of the paper's Table 1: ``{"label", "setting", "source", "results"}``.

    ``results`` has the shape of :func:`aggregate_samples` output (``overall`` and ``by_length_bin``
    only, CIs ``None``); each metric keeps its original string under ``"text"``.
    """
    if text is None:
        text = resources.files("mmlongbench_write.leaderboard").joinpath(REPORTED_FILE).read_text("utf-8")
    rows = []
    for number, rec in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            overall = {m: _metric(rec[m]) for m in ("S", "S_l", "S_q")}
            bins = {
                name: {"S_l": _metric(rec[f"S_l_{col}"]), "S_q": _metric(rec[f"S_q_{col}"])}
                for name, col in zip(LENGTH_BIN_NAMES, BIN_COLUMNS, strict=False)
            }
        except (KeyError, ValueError) as exc:
            raise DataError(f"{REPORTED_FILE} line {number}: bad or missing column ({exc})") from None
        rows.append(
            {
                "label": rec["model"],
                "setting": rec["setting"],
                "source": SOURCE,
                "results": {"overall": overall, "by_length_bin": bins},
            }
        )
    return rows
