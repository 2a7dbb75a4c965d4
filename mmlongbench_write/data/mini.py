"""The bundled ``mini`` data set: 12 samples, 2 per task (en + zh), lengths in all four bins.

Instructions live in ``resources/mini.json`` (written for this project, not copied from the benchmark);
images are drawn in memory by :mod:`.mini_images` on first use and kept for the process, so nothing
is written to disk and every build gives byte-identical PNGs. ``export_mini(DIR)`` writes the set as a
plain local data set (``data.jsonl`` + ``images/``) — handy as a template for one's own data.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from .mini_images import draw_png
from .readers import RawData

#: Shipped as package data (``resources/*`` in pyproject), next to this sub-package.
RESOURCE = Path(__file__).resolve().parent.parent / "resources" / "mini.json"


@lru_cache(maxsize=1)
def mini_spec() -> dict[str, Any]:
    """The parsed ``resources/mini.json``: instructions, L, task, language and image specs."""
    return json.loads(RESOURCE.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _images() -> dict[str, tuple[bytes, ...]]:
    return {s["id"]: tuple(draw_png(spec) for spec in s["images"]) for s in mini_spec()["samples"]}


def mini_raw_data() -> RawData:
    """The mini set as raw rows with embedded PNG bytes, ready for the common checks of ``load_samples``."""
    images = _images()
    rows = [
        {
            "id": s["id"],
            "question": s["question"],
            "images": list(images[s["id"]]),
            "L": s["L"],
            "task": s["task"],
            "language": s["language"],
        }
        for s in mini_spec()["samples"]
    ]
    return RawData(rows=rows, name="mini")


def export_mini(directory: str | Path) -> Path:
    """Write the mini set to ``directory`` as ``data.jsonl`` plus ``images/<id>-<n>.png``; returns the jsonl path."""
    out = Path(directory)
    (out / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for row in mini_raw_data().rows:
        paths = []
        for n, data in enumerate(row["images"]):
            rel = f"images/{row['id']}-{n}.png"
            (out / rel).write_bytes(data)
            paths.append(rel)
        lines.append(json.dumps({**row, "images": paths}, ensure_ascii=False))
    target = out / "data.jsonl"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target
