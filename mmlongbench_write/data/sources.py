"""The published data sets mmlw knows by name, and what a name implies about the rows.

``THU-KEG/LongWrite-V-Ruler`` is the ruler itself: its rows already carry their own question, ``L`` and
images (8 image sets x 4 lengths) but no task column, so every row of it is a ruler row — evaluated as
it is, never re-expanded. That holds for the hub id in any spelling people paste (any case,
``hf://datasets/...``, ``https://huggingface.co/datasets/...``, ``datasets/...``, a trailing slash or
``@revision``), for a local folder at that relative path (``--local-dir THU-KEG/LongWrite-V-Ruler``) and
for a local copy inside the hub cache (``.../datasets--THU-KEG--LongWrite-V-Ruler/...``).
A copy downloaded elsewhere is recognised by its shape instead (see :mod:`mmlongbench_write.tasks.ruler`).
"""

from __future__ import annotations

import re
from pathlib import PurePath

BENCHMARK_HUB_ID = "THU-KEG/MMLongBench-Write"
RULER_HUB_ID = "THU-KEG/LongWrite-V-Ruler"

#: Hub id (lower case) -> the task every row of that data set is, when the rows carry no task value.
IMPLIED_TASKS: dict[str, str] = {RULER_HUB_ID.lower(): "ruler"}

_PREFIXES = re.compile(r"^(?:hf://datasets/|https?://huggingface\.co/datasets/|datasets/)", re.IGNORECASE)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def hub_id(source: str) -> str | None:
    """``source`` as a plain ``owner/name`` hub id (prefixes, ``@revision`` and slashes trimmed), or ``None``."""
    text = _PREFIXES.sub("", source.strip()).strip("/")
    text = text.split("@", 1)[0]
    return text if _HUB_ID.match(text) else None


def _cache_folder_id(path: PurePath) -> str | None:
    """The hub id of a hub-cache folder (``datasets--owner--name``) that ``path`` lies in, if any."""
    for part in path.parts:
        if part.startswith("datasets--"):
            owner, sep, name = part[len("datasets--"):].partition("--")
            if sep and owner and name:
                return f"{owner}/{name}"
    return None


def implied_task(source: str, local_path: PurePath | None = None) -> str | None:
    """The task every row of ``source`` is (``"ruler"`` for the ruler), or ``None`` for other data."""
    known = (_cache_folder_id(local_path) if local_path is not None else None) or hub_id(source)
    return IMPLIED_TASKS.get(known.lower()) if known else None
