"""ZeRO-3 checkpoints come back under the source checkpoint's weight names (renamed in the files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from mmlongbench_write.errors import OutputError
from mmlongbench_write.training.hub_names import hub_key_map, rename_to_source_layout

HUB = ["lm_head.weight", "model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight", "model.norm.weight",
       "visual.blocks.0.norm1.weight", "visual.blocks.0.mlp.up_proj.weight", "visual.merger.ln_q.weight"]


@pytest.mark.parametrize("prefix_lm,prefix_vis", [("model.model.", "visual."),
                                                  ("model.language_model.", "model.visual.")])
def test_engine_names_map_back_to_the_hub_names(prefix_lm: str, prefix_vis: str) -> None:
    saved = ["lm_head.weight"] + [prefix_lm + k[len("model."):] for k in HUB if k.startswith("model.")] + \
            [prefix_vis + k[len("visual."):] for k in HUB if k.startswith("visual.")]
    mapping = hub_key_map(saved, HUB)
    assert sorted(mapping.values()) == sorted(HUB)
    assert mapping[prefix_lm + "layers.0.mlp.up_proj.weight"] == "model.layers.0.mlp.up_proj.weight"
    assert mapping[prefix_vis + "blocks.0.mlp.up_proj.weight"] == "visual.blocks.0.mlp.up_proj.weight"


def test_unmatched_ambiguous_or_missing_names_are_refused() -> None:
    with pytest.raises(OutputError, match="matches no weight"):
        hub_key_map([*HUB, "model.extra.bias"], HUB)
    with pytest.raises(OutputError, match="several source weights"):
        hub_key_map(["x.up_proj.weight"], ["a.up_proj.weight", "b.up_proj.weight"])
    with pytest.raises(OutputError, match="lacks 1 source weight"):
        hub_key_map(HUB[1:], HUB)
    with pytest.raises(OutputError, match="both match"):
        hub_key_map(["model.model.norm.weight", "model.language_model.norm.weight"], ["model.norm.weight"])


def _write(folder: Path, tensors: dict[str, torch.Tensor], shards: int) -> None:
    folder.mkdir()
    names = sorted(tensors)
    weight_map = {}
    for i in range(shards):
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors" if shards > 1 else "model.safetensors"
        part = {k: tensors[k] for k in names[i::shards]}
        save_file(part, str(folder / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, file))
    if shards > 1:
        (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


def test_a_sharded_checkpoint_is_renamed_in_place_with_its_index(tmp_path: Path) -> None:
    source = {k: torch.randn(2, i + 1) for i, k in enumerate(HUB)}
    _write(tmp_path / "src", source, shards=1)
    engine = {("model." + k if k.startswith("model.") else k): v for k, v in source.items()}
    _write(tmp_path / "out", engine, shards=2)
    assert rename_to_source_layout(tmp_path / "out", str(tmp_path / "src")) == 3
    after: dict[str, torch.Tensor] = {}
    for f in (tmp_path / "out").glob("*.safetensors"):
        after.update(load_file(str(f)))
    assert after.keys() == source.keys() and all(torch.equal(after[k], source[k]) for k in source)
    index = json.loads((tmp_path / "out" / "model.safetensors.index.json").read_text())
    assert sorted(index["weight_map"]) == sorted(HUB)
    assert not list((tmp_path / "out").glob("*.renaming"))
    assert rename_to_source_layout(tmp_path / "out", str(tmp_path / "src")) == 0  # already in the hub layout


def test_a_shape_mismatch_is_refused_before_any_file_changes(tmp_path: Path) -> None:
    source = {k: torch.zeros(2, 2) for k in HUB}
    _write(tmp_path / "src", source, shards=1)
    engine = {("model." + k if k.startswith("model.") else k): v for k, v in source.items()}
    engine["model.model.norm.weight"] = torch.zeros(3)
    _write(tmp_path / "out", engine, shards=1)
    before = (tmp_path / "out" / "model.safetensors").read_bytes()
    with pytest.raises(OutputError, match="has shape"):
        rename_to_source_layout(tmp_path / "out", str(tmp_path / "src"))
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == before
