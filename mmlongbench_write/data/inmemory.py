"""Data handed over as Python objects: a ``datasets.Dataset`` (or ``DatasetDict``), a pandas ``DataFrame``,
or a list of dicts — the Python API's equivalent of ``--data PATH``.

The rows go through the same checks as a file's. An object has no directory, so its image paths must
be absolute (or the images embedded as bytes / PIL images). An object has no name either: a run records
:func:`describe` (``<datasets.Dataset 120 rows>``) where a path would stand, and fingerprints the
object's *content* (:func:`identity`), so the same rows find the same run directory and different rows
never share one. Nothing heavy is imported: objects are recognised by their type's module and name.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from mmlongbench_write.errors import DataError
from mmlongbench_write.kvstore import stable_hash

from .readers import RawData, dataset_rows, pick_split

#: What a description of an in-memory source looks like (so a run.json holding one is recognised).
_DESCRIPTION = re.compile(r"^<(?:datasets\.Dataset|datasets\.DatasetDict|pandas\.DataFrame|list of) .*>$")
SUPPORTED = "a path, a hub id, 'mini', a datasets.Dataset, a pandas DataFrame or a list of dicts"


def _type_name(obj: Any) -> str:
    return f"{type(obj).__module__.split('.')[0]}.{type(obj).__name__}"


def is_in_memory(obj: Any) -> bool:
    """Whether ``obj`` is an in-memory data set this module reads (anything but a string)."""
    return not isinstance(obj, str)


def is_description(source: str) -> bool:
    """Whether ``source`` is what :func:`describe` wrote for an in-memory data set (not a path or hub id)."""
    return bool(_DESCRIPTION.match(source))


def describe(obj: Any) -> str:
    """A short text standing for the object in ``run.json``: ``<datasets.Dataset 120 rows>``."""
    if isinstance(obj, str):
        return obj
    kind = _type_name(obj)
    if kind in ("datasets.Dataset", "pandas.DataFrame"):
        return f"<{kind} {len(obj)} rows>"
    if kind == "datasets.DatasetDict":
        return f"<datasets.DatasetDict {', '.join(f'{k}={len(v)}' for k, v in obj.items())}>"
    if isinstance(obj, (list, tuple)):
        return f"<list of {len(obj)} dicts>"
    return f"<unsupported {type(obj).__name__}>"


def read_object(obj: Any, split: str = "train") -> RawData:
    """The rows of an in-memory data set; anything else is a one-line DataError saying what is accepted."""
    kind = _type_name(obj)
    if kind in ("datasets.Dataset", "datasets.DatasetDict"):
        rows = dataset_rows(pick_split(obj, split, describe(obj)))
    elif kind == "pandas.DataFrame":
        rows = obj.to_dict(orient="records")
    elif kind == "datasets.IterableDataset":
        raise DataError("a streaming datasets.IterableDataset cannot be evaluated as it is (it is read more than "
                        "once); turn it into a Dataset first, e.g. Dataset.from_list(list(ds))")
    elif isinstance(obj, (list, tuple)):
        for index, row in enumerate(obj):
            if not isinstance(row, dict):
                raise DataError(f"data: item {index} of the list is {type(row).__name__}, not a dict of fields")
        rows = [dict(row) for row in obj]
    else:
        raise DataError(f"data must be {SUPPORTED}, not {type(obj).__name__}")
    return RawData(rows=rows, name=describe(obj).strip("<>").split(" ")[0])


def _canonical(value: Any) -> Any:
    """A JSON-able stand-in for a row value whose hash changes exactly when the value does."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytes-sha256": hashlib.sha256(bytes(value)).hexdigest()}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if hasattr(value, "tobytes") and hasattr(value, "mode") and hasattr(value, "size"):  # a PIL image
        return {"pixels-sha256": hashlib.sha256(value.tobytes()).hexdigest(), "mode": value.mode,
                "size": list(value.size)}
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _canonical(value.tolist())
    return f"{type(value).__name__}:{value}"


def identity(obj: Any, split: str = "train") -> str:
    """What stands for the data in a run's fingerprint: the source string, or the object's content hash."""
    if isinstance(obj, str):
        return obj
    try:
        rows = read_object(obj, split).rows
    except DataError:
        return describe(obj)  # loading reports the problem; the fingerprint only needs to be stable
    return f"{describe(obj)} sha256:{stable_hash([_canonical(row) for row in rows])}"
