"""Reading raw rows from a local file or directory, or from the Hugging Face hub.

Files: ``.jsonl`` (one object per line, blank lines skipped), ``.json`` (a list of objects, or an object
whose ``data``/``samples``/``rows``/``train`` key holds that list), ``.parquet`` (as ``datasets`` writes it),
``.csv`` (a header row; an ``images`` cell holds one path or a JSON list of paths, relative to the csv).

A **directory** is searched in this order, first hit wins:
0. a ``datasets`` ``save_to_disk`` folder (``state.json`` + ``dataset_info.json``, or ``dataset_dict.json``
   with one folder per split) is read with ``datasets.load_from_disk``;
1. ``data.<ext>``, then ``<split>.<ext>``, for ext in jsonl, json, parquet, csv;
2. the only data file at the top level;
3. parquet shards: ``<split>-*.parquet`` at the top level or in ``data/`` (as a hub snapshot lays them
   out), else a top level holding only ``*.parquet`` files, else every ``data/*.parquet`` when the top
   level has no data file; read in sorted order.
More than one candidate at a step is an error that lists them. Relative image paths start at the data
file's directory and must stay inside the directory given (or the file's directory, for a file).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import DataError, first_line

from .sources import hub_id, implied_task

SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


@dataclass
class RawData:
    """Rows as read, before any checking, plus where relative image paths start."""

    rows: list[dict[str, Any]]
    name: str
    base_dir: Path | None = None
    root: Path | None = None
    files: list[Path] = field(default_factory=list)
    implied_task: str | None = None  # the task a known source implies for rows without one (the ruler)

    @property
    def columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for row in self.rows:
            for key in row:
                seen.setdefault(str(key), None)
        return list(seen)


def _unusable_path(source: str) -> str | None:
    """Why ``source`` cannot be a path on this system (a NUL byte, a name too long), or ``None``."""
    if "\x00" in source:
        return "contains a NUL byte"
    try:
        Path(source).expanduser().exists()
    except OSError as exc:
        return f"cannot be used as a path ({exc.strerror or type(exc).__name__})"
    return None


def _shown(source: str) -> str:
    return repr(source if len(source) <= 80 else f"{source[:60]}...{source[-17:]}")


def looks_local(source: str) -> bool:
    """Whether ``source`` is meant as a local path (exists, or has a path-like shape) rather than a hub id."""
    problem = _unusable_path(source)
    if problem is not None:
        raise DataError(f"data path {_shown(source)} {problem}")
    if Path(source).expanduser().exists() or Path(source).expanduser().is_symlink():
        return True
    return source.startswith((".", "/", "~")) or source.lower().endswith(SUFFIXES)


def _read_csv(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    csv.field_size_limit(2**31 - 1)  # an images cell may hold a long base64 image
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            for row in reader:
                if None in row:
                    raise DataError(f"{path}: line {reader.line_num} has more cells than the header")
                if any(value not in (None, "") for value in row.values()):
                    rows.append(dict(row))
        except csv.Error as exc:
            raise DataError(f"{path}: line {reader.line_num} is not valid csv ({exc})") from None
    return rows


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
        if suffix == ".csv":
            return _read_csv(path)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    raise DataError(f"{path}: unsupported file type {suffix!r} (use .jsonl, .json, .parquet or .csv)")


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
    if top and all(p.suffix.lower() == ".parquet" for p in top):
        return top  # a folder of parquet shards (part-0.parquet, part-1.parquet, ...)
    nested = sorted((directory / "data").glob("*.parquet")) if (directory / "data").is_dir() else []
    if not top and nested:
        return nested
    if top:
        raise DataError(
            f"{directory}: several data files ({', '.join(p.name for p in top)}); name one with "
            f"--data {directory / top[0].name} or call it data.jsonl"
        )
    raise DataError(f"{directory}: no data file (.jsonl, .json, .parquet or .csv, or a save_to_disk folder) found")


def is_saved_dataset(directory: Path) -> bool:
    """Whether ``directory`` is a ``datasets`` ``save_to_disk`` folder (a Dataset or a DatasetDict)."""
    return ((directory / "state.json").is_file() and (directory / "dataset_info.json").is_file()) or (
        directory / "dataset_dict.json"
    ).is_file()


def _datasets_module(why: str) -> Any:
    try:
        import datasets  # type: ignore[import-untyped]
    except ImportError:
        raise DataError(f"{why} needs the `datasets` package: pip install datasets") from None
    return datasets


def pick_split(dataset: Any, split: str, where: str) -> Any:
    """The ``split`` of a DatasetDict (its only split when it has one); a Dataset is returned as it is."""
    if not isinstance(dataset, dict):  # a DatasetDict is a dict of split -> Dataset
        return dataset
    splits = list(dataset.keys())
    if split in splits:
        return dataset[split]
    if len(splits) == 1:
        return dataset[splits[0]]
    raise DataError(f"{where} has splits {', '.join(splits)} but no {split!r}; set `split: NAME` in --config")


def dataset_rows(ds: Any) -> list[dict[str, Any]]:
    """The rows of a ``datasets.Dataset`` as plain dicts, images undecoded (``{"bytes", "path"}``).

    Read through Arrow, so no image is decoded to PIL and no cast (with its progress bar) is needed.
    """
    table = ds.with_format("arrow")[0 : len(ds)]
    return list(table.to_pylist())


def _read_saved(path: Path, split: str) -> list[dict[str, Any]]:
    datasets = _datasets_module(f"the save_to_disk folder {path}")
    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001 - datasets raises many types for a damaged folder
        reason = first_line(exc)[:200]
        raise DataError(f"{path}: cannot read the save_to_disk folder ({type(exc).__name__}: {reason})") from None
    return dataset_rows(pick_split(loaded, split, f"save_to_disk folder {path}"))


def read_local(source: str, split: str = "train") -> RawData:
    path = Path(source).expanduser()
    if not path.exists():
        if path.is_symlink():
            raise DataError(f"data path {_shown(source)} is a broken symlink or a symlink loop")
        raise DataError(f"data path {_shown(source)} does not exist")
    if path.is_dir() and is_saved_dataset(path):
        root = path.resolve()
        return RawData(rows=_read_saved(path, split), name=root.name, base_dir=root, root=root, files=[path],
                       implied_task=implied_task(source, root))
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
    return RawData(rows=rows, name=name, base_dir=files[0].resolve().parent, root=root, files=files,
                   implied_task=implied_task(source, path.resolve()))


def read_hub(dataset_id: str, split: str = "train") -> RawData:
    """Rows of a Hugging Face dataset; offline or missing, fails at once with one line that names ``--data``.

    Image columns are read undecoded (``{"bytes", "path"}``) so bytes are hashed as stored.
    """
    from mmlongbench_write.hub import hub_unavailable

    dataset_id = hub_id(dataset_id) or dataset_id
    if hub_unavailable() and not _in_local_cache(dataset_id):
        raise _hub_error(dataset_id, "offline: no network or HF_HUB_OFFLINE set, and not in the local cache")
    try:
        import datasets
    except ImportError:
        raise _hub_error(dataset_id, "the `datasets` package is not installed") from None
    try:
        rows = dataset_rows(datasets.load_dataset(dataset_id, split=split))
    except DataError:
        raise
    except Exception as exc:  # connection errors, DatasetNotFoundError, offline-mode errors, bad splits
        reason = f"{type(exc).__name__}: {first_line(exc)}"[:300]
        raise _hub_error(dataset_id, reason) from None
    return RawData(rows=rows, name=dataset_id.rsplit("/", 1)[-1], implied_task=implied_task(dataset_id))


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
