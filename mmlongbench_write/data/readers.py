"""Reading raw rows from a local file or directory, or from the Hugging Face hub.

Files: ``.jsonl`` (one object per line, blank lines skipped), ``.json`` (a list of objects, or an object
whose ``data``/``samples``/``rows``/``train`` key holds that list), ``.parquet`` (as ``datasets`` writes it).

A **directory** is searched in this order, first hit wins:
1. ``data.jsonl``, ``data.json``, ``data.parquet``, ``<split>.jsonl``, ``<split>.json``, ``<split>.parquet``;
2. the only ``*.jsonl``/``*.json``/``*.parquet`` file at the top level;
3. parquet shards named ``<split>-*.parquet`` at the top level or in ``data/`` (as a hub snapshot lays
   them out), else every ``data/*.parquet`` when the top level has no data file; read in sorted order.
More than one candidate at a step is an error that lists them. Relative image paths start at the data
file's directory and must stay inside the directory given (or the file's directory, for a file).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import DataError

SUFFIXES = (".jsonl", ".json", ".parquet")


@dataclass
class RawData:
    """Rows as read, before any checking, plus where relative image paths start."""

    rows: list[dict[str, Any]]
    name: str
    base_dir: Path | None = None
    root: Path | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for row in self.rows:
            for key in row:
                seen.setdefault(str(key), None)
        return list(seen)


def looks_local(source: str) -> bool:
    """Whether ``source`` is meant as a local path (exists, or has a path-like shape) rather than a hub id."""
    if Path(source).expanduser().exists():
        return True
    return source.startswith((".", "/", "~")) or source.endswith(SUFFIXES)


def read_file(path: Path) -> list[dict[str, Any]]:
    """Rows of one data file; a malformed file raises a DataError naming it (and the line, for jsonl)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            rows = []
            with path.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise DataError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
                    if not isinstance(row, dict):
                        raise DataError(f"{path}: line {number} is not a JSON object")
                    rows.append(row)
            return rows
        if suffix == ".json":
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
            if isinstance(doc, dict):
                doc = next((doc[k] for k in ("data", "samples", "rows", "train") if isinstance(doc.get(k), list)), None)
            if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
                raise DataError(f'{path}: expected a JSON list of objects (or {{"data": [...]}})')
            return doc
        if suffix == ".parquet":
            import pandas as pd  # type: ignore[import-untyped]

            try:
                frame = pd.read_parquet(path)
            except Exception as exc:  # pyarrow raises several unrelated types for a bad file
                raise DataError(f"{path}: cannot read parquet ({type(exc).__name__}: {exc})") from None
            return frame.to_dict(orient="records")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    raise DataError(f"{path}: unsupported file type {suffix!r} (use .jsonl, .json or .parquet)")


def find_data_files(directory: Path, split: str = "train") -> list[Path]:
    """The data file(s) of a directory, by the rule in the module docstring."""
    for name in ("data", split):
        for suffix in SUFFIXES:
            candidate = directory / f"{name}{suffix}"
            if candidate.is_file():
                return [candidate]
    top = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if len(top) == 1:
        return top
    for folder in (directory, directory / "data"):
        shards = sorted(folder.glob(f"{split}-*.parquet")) if folder.is_dir() else []
        if shards:
            return shards
    nested = sorted((directory / "data").glob("*.parquet")) if (directory / "data").is_dir() else []
    if not top and nested:
        return nested
    if top:
        raise DataError(
            f"{directory}: several data files ({', '.join(p.name for p in top)}); name one with "
            f"--data {directory / top[0].name} or call it data.jsonl"
        )
    raise DataError(f"{directory}: no data file (.jsonl, .json or .parquet) found")


def read_local(source: str, split: str = "train") -> RawData:
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"data path {source!r} does not exist")
    if path.is_dir():
        files = find_data_files(path, split)
        root = path.resolve()
    else:
        files = [path]
        root = path.resolve().parent
    rows: list[dict[str, Any]] = []
    for file in files:
        rows.extend(read_file(file))
    generic = {"data", "train", "test", "validation", split}
    if path.is_dir() or path.stem in generic:
        name = root.name  # "mybench/" and "mybench/data.jsonl" are both called "mybench"
    else:
        name = path.stem
    return RawData(rows=rows, name=name, base_dir=files[0].resolve().parent, root=root, files=files)


def read_hub(dataset_id: str, split: str = "train") -> RawData:
    """Rows of a Hugging Face dataset; offline or missing, fails at once with one line that names ``--data``.

    Image columns are read undecoded (``{"bytes", "path"}``) so bytes are hashed as stored.
    """
    from mmlongbench_write.hub import hub_unavailable

    if hub_unavailable() and not _in_local_cache(dataset_id):
        raise _hub_error(dataset_id, "offline: no network or HF_HUB_OFFLINE set, and not in the local cache")
    try:
        import datasets  # type: ignore[import-untyped]
    except ImportError:
        raise _hub_error(dataset_id, "the `datasets` package is not installed") from None
    try:
        ds = undecoded_images(datasets.load_dataset(dataset_id, split=split))
        rows = [dict(r) for r in ds]
    except DataError:
        raise
    except Exception as exc:  # connection errors, DatasetNotFoundError, offline-mode errors, bad splits
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        raise _hub_error(dataset_id, reason) from None
    return RawData(rows=rows, name=dataset_id.rsplit("/", 1)[-1])


def _hub_error(dataset_id: str, reason: str) -> DataError:
    return DataError(
        f"no local path {dataset_id!r} and cannot load it as a Hugging Face dataset ({reason}); download it "
        f"(e.g. `huggingface-cli download --repo-type dataset {dataset_id} --local-dir DIR`) and pass --data PATH "
        "(that directory or a .parquet/.jsonl/.json file), or use --data mini"
    )


def undecoded_images(ds: Any) -> Any:
    """``ds`` with every image column (``Image`` or a list of them) cast to ``decode=False``: raw bytes, no PIL."""
    import datasets  # type: ignore[import-untyped]

    for column, feature in ds.features.items():
        if isinstance(feature, datasets.Image):
            ds = ds.cast_column(column, datasets.Image(decode=False))
            continue
        inner = feature[0] if isinstance(feature, list) and feature else getattr(feature, "feature", None)
        if isinstance(inner, datasets.Image):
            new = (
                [datasets.Image(decode=False)]
                if isinstance(feature, list)
                else type(feature)(datasets.Image(decode=False))
            )
            ds = ds.cast_column(column, new)
    return ds


def _in_local_cache(dataset_id: str) -> bool:
    """Whether ``datasets``/the hub cache holds a copy of ``dataset_id`` (then offline loading can work)."""
    try:
        import huggingface_hub.constants as hub_constants

        hub_cache = Path(hub_constants.HF_HUB_CACHE)
    except Exception:  # noqa: BLE001
        hub_cache = Path.home() / ".cache" / "huggingface" / "hub"
    folder = "datasets--" + dataset_id.replace("/", "--")
    datasets_cache = Path(os.environ.get("HF_DATASETS_CACHE", Path.home() / ".cache" / "huggingface" / "datasets"))
    return (hub_cache / folder).exists() or (datasets_cache / dataset_id.replace("/", "___")).exists()
