"""Shared fixtures: an isolated cache dir for every test, and one tiny random Qwen2.5-VL per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own response/judge cache and mini-data cache, never ~/.cache/mmlw."""
    cache = tmp_path_factory.mktemp("mmlw-cache")
    monkeypatch.setenv("MMLW_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Qwen2.5-VL saved in the hub checkpoint layout (built once per session)."""
    from mmlongbench_write.model_adapters.tiny import build_tiny_qwen25vl

    out = tmp_path_factory.mktemp("tiny-qwen25vl")
    return Path(build_tiny_qwen25vl(out))
