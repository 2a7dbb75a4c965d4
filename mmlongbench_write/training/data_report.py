"""What the training data turned into: token counts, length filtering and the run's ``data_report``.

Why measured here: a row's length is only known once the processor has expanded its images into visual
tokens, so the same pass that rejects over-long rows records tokens per row and per image. The report
(``read``, ``kept``, ``rejected`` by reason, ``tokens_per_row`` and ``tokens_per_image`` mean/max) is
printed as a table before training starts and saved in ``DIR/train_settings.json`` under ``data_report``
(and in ``DIR/data_report.json``), so a run says what it trained on.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from .formats import LoadReport

SETTINGS_FILE = "train_settings.json"


def _mean_max(values: list[int]) -> dict[str, float | int]:
    if not values:
        return {"mean": 0, "max": 0}
    return {"mean": round(sum(values) / len(values), 1), "max": max(values)}


def open_image(ref: Any) -> Any:
    """A row's image (``{"bytes", "path"}`` or a path) as an RGB PIL image."""
    from PIL import Image

    if isinstance(ref, dict) and ref.get("bytes"):
        source: Any = io.BytesIO(ref["bytes"])
    else:
        source = ref["path"] if isinstance(ref, dict) else ref
    with Image.open(source) as img:
        return img.convert("RGB")


def _render(processor: Any, messages: list[dict[str, Any]]) -> str:
    return str(processor.apply_chat_template(messages, tokenize=False))


def measure_row(processor: Any, row: dict[str, Any], kind: str) -> tuple[int, list[int]]:
    """Tokens of the longest sequence the row trains on (prompt + the longer answer, image tokens
    included) and the visual tokens of each of its images."""
    images = [open_image(ref) for ref in row["images"]]
    answers = [row["completion"]] if kind == "sft" else [row["chosen"], row["rejected"]]
    longest, per_image = 0, []
    merge = int(getattr(getattr(processor, "image_processor", None), "merge_size", 2) or 2)
    for answer in answers:
        enc = processor(text=[_render(processor, row["prompt"] + answer)], images=images or None,
                        return_tensors="np")
        longest = max(longest, int(enc["input_ids"].shape[1]))
        if not per_image and images:
            per_image = [int(g[0]) * int(g[1]) * int(g[2]) // (merge * merge) for g in enc["image_grid_thw"]]
    return longest, per_image


def count_tokens(processor: Any, row: dict[str, Any], kind: str) -> int:
    """Tokens of the longest sequence this row trains on, image tokens included."""
    return measure_row(processor, row, kind)[0]


def filter_by_length(rows: list[dict[str, Any]], processor: Any, max_length: int, kind: str,
                     report: LoadReport) -> list[dict[str, Any]]:
    """Drop (and count) rows longer than ``max_length`` tokens or whose images do not decode; rows are
    never truncated through images. Token counts of the kept rows go to ``report``."""
    kept = []
    for number, row in enumerate(rows, start=1):
        try:
            tokens, per_image = measure_row(processor, row, kind)
        except (OSError, ValueError) as exc:  # PIL: UnidentifiedImageError (an OSError), truncated files
            report.reject("image cannot be decoded", f"kept row {number}: {type(exc).__name__}: {exc}"[:200])
            report.kept -= 1
            continue
        if tokens > max_length:
            report.reject(f"longer than max_length={max_length} tokens", f"kept row {number}: {tokens} tokens")
            report.kept -= 1
            continue
        kept.append(row)
        report.tokens_per_row.append(tokens)
        report.tokens_per_image.extend(per_image)
    return kept


def data_report(report: LoadReport) -> dict[str, Any]:
    """The ``data_report`` record of a run."""
    out: dict[str, Any] = {"read": report.read, "kept": report.kept, "rejected": dict(sorted(report.rejected.items())),
                           "tokens_per_row": _mean_max(report.tokens_per_row),
                           "tokens_per_image": _mean_max(report.tokens_per_image)}
    if report.examples:
        out["first_rejected"] = dict(sorted(report.examples.items()))
    if report.sampled:
        out["sampled"] = report.sampled
    return out


def report_table(record: dict[str, Any]) -> str:
    """The report as a small two-column table (printed before training starts)."""
    lines = [("rows read", str(record["read"])), ("rows kept", str(record["kept"]))]
    if record.get("sampled"):
        s = record["sampled"]
        lines.append(("sampled", f"{s['max_samples']} of {s['from']} (seed {s['seed']})"))
    for reason, n in record["rejected"].items():
        lines.append((f"rejected: {reason}", str(n)))
    for key, label in (("tokens_per_row", "tokens per row"), ("tokens_per_image", "tokens per image")):
        lines.append((label, f"mean {record[key]['mean']}, max {record[key]['max']}"))
    width = max(len(k) for k, _ in lines)
    body = "\n".join(f"  {k.ljust(width)}  {v}" for k, v in lines)
    return f"training data:\n{body}"


def announce_data_report(out_dir: Path, report: LoadReport) -> dict[str, Any]:
    """Print the report table and record it in ``out_dir`` (main process only); return the record."""
    record = data_report(report)
    if is_main_process():
        print(report_table(record), flush=True)
        record_data_report(out_dir, record)
    return record


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def record_data_report(out_dir: Path, record: dict[str, Any]) -> None:
    """Add ``data_report`` to ``DIR/train_settings.json`` (created if absent) and write ``data_report.json``."""
    if not is_main_process():
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    settings_path = out_dir / SETTINGS_FILE
    settings = json.loads(settings_path.read_text(encoding="utf-8")) if settings_path.is_file() else {}
    settings["data_report"] = record
    tmp = settings_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(settings_path)
    (out_dir / "data_report.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n",
                                              encoding="utf-8")
