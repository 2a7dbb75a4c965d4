"""Data loading: the bundled ``mini`` set, local files/directories and Hugging Face dataset ids.

``load_samples(source, columns=..., skip_invalid=..., split=...) -> LoadedData`` is the entry point.
Nothing heavy is imported here (pandas and ``datasets`` load only when a parquet file or hub id is read).
"""

from __future__ import annotations

from .inference import infer_task, normalize_task, parse_length
from .loading import LoadedData, fingerprint_samples, load_samples
from .mini import export_mini

__all__ = [
    "LoadedData",
    "export_mini",
    "fingerprint_samples",
    "infer_task",
    "load_samples",
    "normalize_task",
    "parse_length",
]
