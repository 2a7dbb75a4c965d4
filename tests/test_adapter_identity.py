"""Adapter identity: what keys the response cache and is recorded in run.json."""

from __future__ import annotations

import os
from pathlib import Path

from mmlongbench_write.model_adapters.base import local_checkpoint_fingerprint
from mmlongbench_write.model_adapters.scripted import ScriptedAdapter


def test_identity_leaves_out_runtime_args() -> None:
    adapter = ScriptedAdapter(words=5, base_url="http://127.0.0.1:1", device="cpu")
    assert adapter.identity() == {"adapter": "scripted", "model": "scripted", "args": {"words": 5}}


def test_a_local_checkpoint_retrained_in_place_changes_identity(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    weights = ckpt / "model.safetensors"
    weights.write_bytes(b"v1")
    first = ScriptedAdapter(pretrained=str(ckpt)).identity()
    assert first["checkpoint"] == local_checkpoint_fingerprint(str(ckpt))
    weights.write_bytes(b"version 2")
    os.utime(weights, ns=(1, 1))
    assert ScriptedAdapter(pretrained=str(ckpt)).identity() != first


def test_hub_ids_and_aliases_have_no_checkpoint_fingerprint() -> None:
    assert local_checkpoint_fingerprint("THU-KEG/LongWriter-V-7B") is None
    assert local_checkpoint_fingerprint("mmlw:tiny-random-qwen2.5-vl") is None
    assert local_checkpoint_fingerprint(None) is None
