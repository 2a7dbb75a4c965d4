"""Replays predictions made elsewhere (another harness, an earlier tool) as if a model had written them.

``mmlw score preds.jsonl`` uses it so other tools' outputs go through the very same judges, run store and
leaderboard as models evaluated here. Model args: ``file`` (jsonl/json with ``id`` and ``prediction``),
``id_column`` and ``prediction_column`` to rename those.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mmlongbench_write.errors import ConfigError, DataError
from mmlongbench_write.registry import register_model
from mmlongbench_write.schema import Generation, Request

from .base import ModelAdapter


def read_predictions(path: Path, id_column: str = "id", prediction_column: str = "prediction") -> dict[str, str]:
    """``id -> prediction`` from a jsonl (or a json list) file."""
    from mmlongbench_write.data.readers import read_file

    if not path.is_file():
        raise ConfigError(f"predictions file {path} does not exist")
    rows = read_file(path)
    predictions: dict[str, str] = {}
    for index, row in enumerate(rows):
        if id_column not in row:
            raise DataError(f"{path}: row {index + 1} has no {id_column!r} column", field=id_column)
        sample_id = str(row[id_column])
        value = row.get(prediction_column)
        if not isinstance(value, str):
            raise DataError(f"{path}: missing or non-text prediction", sample_id=sample_id, field=prediction_column)
        predictions[sample_id] = value
    return predictions


@register_model("predictions", "replay predictions from a jsonl file (id, prediction) — used by `mmlw score`")
class PredictionsAdapter(ModelAdapter):
    """Answers each request with the prediction stored under its sample id."""

    adapter_name = "predictions"
    cacheable = False

    def __init__(self, runtime: Any = None, **model_args: Any) -> None:
        super().__init__(runtime, **model_args)
        if "file" not in model_args:
            raise ConfigError("the predictions adapter needs --model-args file=PREDICTIONS.jsonl")
        self.predictions = read_predictions(
            Path(str(model_args["file"])),
            str(model_args.get("id_column", "id")),
            str(model_args.get("prediction_column", "prediction")),
        )

    @property
    def model_name(self) -> str:
        return f"predictions:{Path(str(self.model_args['file'])).name}"

    def generate(self, requests: Sequence[Request]) -> Iterator[Generation]:
        for request in requests:
            text = self.predictions.get(request.id)
            if text is None:
                yield Generation.failure(request.id, "no prediction for this id in the predictions file")
            else:
                yield Generation(request_id=request.id, text=text, finish_reason="unknown", model=self.model_name)
