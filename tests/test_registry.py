"""Registries: decorators, entry points loaded lazily, did-you-mean, presets vs adapters."""

from __future__ import annotations

from importlib import metadata

import pytest

import mmlongbench_write
from mmlongbench_write.errors import ConfigError, PluginNotFound
from mmlongbench_write.model_adapters.base import ModelAdapter, Preset, resolve_model_spec
from mmlongbench_write.registry import Registry


def test_did_you_mean() -> None:
    reg: Registry[object] = Registry("widgets")
    reg.register("alpha", object())
    reg.register("alpine", object())
    with pytest.raises(PluginNotFound, match="did you mean 'alpha'"):
        reg.get("alpah")
    with pytest.raises(PluginNotFound, match="`mmlw widgets` lists them"):
        reg.get("zzz")


def test_entry_points_are_listed_without_import_and_loaded_on_use(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = metadata.EntryPoint(name="third-party", value="collections:OrderedDict", group="mmlw.widgets")

    def fake_entry_points(group: str) -> list[metadata.EntryPoint]:
        return [ep] if group == "mmlw.widgets" else []

    monkeypatch.setattr(metadata, "entry_points", fake_entry_points)
    reg: Registry[object] = Registry("widgets")
    assert reg.names() == ["third-party"]
    entry = reg.entry("third-party")
    assert isinstance(entry.target, str)  # not imported yet
    import collections

    assert reg.get("third-party") is collections.OrderedDict


def test_decorator_registers_with_first_docstring_line() -> None:
    reg: Registry[object] = Registry("things")

    @reg.decorator("thing")
    class Thing:
        """Does a thing.

        More text."""

    assert reg.get("thing") is Thing
    assert reg.entry("thing").description == "Does a thing."


def test_presets_resolve_with_user_overrides() -> None:
    spec = resolve_model_spec("tiny-random-qwen2.5-vl", {"dtype": "float32"})
    assert spec.adapter == "hf" and spec.preset == "tiny-random-qwen2.5-vl"
    assert spec.model_args["dtype"] == "float32"
    plain = resolve_model_spec("scripted", {"words": 3})
    assert plain.adapter == "scripted" and plain.preset is None and plain.model_args == {"words": 3}


def test_a_non_model_entry_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from mmlongbench_write.registry import models

    models.register("not-a-model", 42)
    try:
        with pytest.raises(ConfigError, match="not an adapter or a preset"):
            resolve_model_spec("not-a-model")
    finally:
        models._entries.pop("not-a-model")


def test_public_api_is_lazy_and_complete() -> None:
    for name in mmlongbench_write.__all__:
        assert getattr(mmlongbench_write, name) is not None
    assert issubclass(mmlongbench_write.ModelAdapter, object)
    assert isinstance(mmlongbench_write.Preset, type) and Preset is mmlongbench_write.Preset
    assert mmlongbench_write.ModelAdapter is ModelAdapter
    with pytest.raises(AttributeError):
        mmlongbench_write.nope  # noqa: B018
