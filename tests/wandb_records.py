"""Read back what a W&B offline run recorded: the records of its ``run-*.wandb`` file.

The file is W&B's datastore: a 7-byte header (``:W&B``, magic 0xBEE1, version 0), then 32 KiB blocks of
LevelDB-log records (crc32c 4 bytes, length 2, type 1: full/first/middle/last), each payload a
``wandb_internal_pb2.Record``. The reader is ours, so the test sees what W&B would sync, not what we sent.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

HEADER = 7
BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def _payloads(data: bytes) -> list[bytes]:
    if data[:4] != b":W&B":
        raise ValueError("not a W&B datastore file")
    out: list[bytes] = []
    pos, pending = HEADER, b""
    while pos + 7 <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < 7:  # the block's tail is padding
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        body = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            continue
        if kind == FULL:
            out.append(body)
        elif kind == FIRST:
            pending = body
        elif kind == MIDDLE:
            pending += body
        elif kind == LAST:
            out.append(pending + body)
            pending = b""
    return out


def read_offline_run(run_dir: Path) -> dict[str, Any]:
    """``{"config": {...}, "summary": {...}, "history": [{key: value}, ...]}`` of one offline run folder."""
    from wandb.proto import wandb_internal_pb2 as pb

    [file] = list(run_dir.glob("run-*.wandb"))
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    for payload in _payloads(file.read_bytes()):
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            config.update(_items(record.run.config.update))
        elif kind == "config":
            config.update(_items(record.config.update))
        elif kind == "summary":
            summary.update(_items(record.summary.update))
        elif kind == "history":
            history.append(_items(record.history.item))
    config = {k: (v["value"] if isinstance(v, dict) and set(v) == {"value"} else v) for k, v in config.items()}
    return {"config": config, "summary": summary, "history": history}


def _items(items: Any) -> dict[str, Any]:
    """Record items as ``{dotted.key: value}`` (W&B writes a flat ``key`` or a ``nested_key`` path)."""
    return {(item.key or ".".join(item.nested_key)): json.loads(item.value_json) for item in items}
