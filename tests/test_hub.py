"""Hub availability is decided in seconds: offline env vars, or one refused connection."""

from __future__ import annotations

import socket

import pytest

from mmlongbench_write import hub


@pytest.fixture(autouse=True)
def _online_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(key, raising=False)


def test_offline_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not hub.offline_mode_set()
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    assert hub.offline_mode_set() and hub.hub_unavailable()


def test_reachability_follows_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        assert hub.hub_reachable() and not hub.hub_unavailable()
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused at once
        assert not hub.hub_reachable() and hub.hub_unavailable()
    finally:
        listener.close()
