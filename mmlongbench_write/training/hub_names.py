"""Put a checkpoint saved from a ZeRO-3 engine back under the weight names of the checkpoint it came from.

DeepSpeed gathers the 16-bit weights under the engine's module names, and transformers 5 then reverts
its load-time renaming on top of them, so a Qwen2.5-VL trained from the hub layout (``model.layers.*``,
``visual.*``) comes out as ``model.model.layers.*``: a checkpoint that no other tool loads. Reloading it
with transformers does not help (the same renaming is applied and reverted again), so the tensors are
renamed in the files themselves: each saved name is matched to the source name sharing its longest dotted
suffix, and anything not matched one-to-one with the same shape is refused rather than guessed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from mmlongbench_write.errors import OutputError

INDEX = "model.safetensors.index.json"


def hub_key_map(saved: Iterable[str], hub: Iterable[str]) -> dict[str, str]:
    """``{saved name: hub name}``, matching each saved name to the hub name with the longest common
    dotted suffix. Raises :class:`OutputError` when a name matches none or several, or two names meet."""
    hub_names = set(hub)
    by_suffix: dict[str, list[str]] = {}
    for name in hub_names:
        parts = name.split(".")
        for n in range(1, len(parts) + 1):
            by_suffix.setdefault(".".join(parts[-n:]), []).append(name)
    mapping: dict[str, str] = {}
    for name in saved:
        if name in hub_names:
            mapping[name] = name
            continue
        parts = name.split(".")
        for n in range(len(parts), 0, -1):
            found = by_suffix.get(".".join(parts[-n:]))
            if found:
                if len(found) > 1:
                    some = ", ".join(sorted(found)[:3])
                    raise OutputError(f"saved weight {name!r} matches several source weights ({some})")
                mapping[name] = found[0]
                break
        else:
            raise OutputError(f"saved weight {name!r} matches no weight of the source checkpoint")
    targets: dict[str, str] = {}
    for name, target in mapping.items():
        if target in targets:
            raise OutputError(f"saved weights {targets[target]!r} and {name!r} both match source weight {target!r}")
        targets[target] = name
    missing = hub_names - set(targets)
    if missing:
        raise OutputError(f"the saved checkpoint lacks {len(missing)} source weight(s), e.g. {sorted(missing)[0]!r}")
    return mapping


def checkpoint_shapes(directory: Path) -> dict[str, tuple[int, ...]]:
    """Weight name -> shape of every ``*.safetensors`` file in ``directory`` (headers only, no data read)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for path in sorted(directory.glob("*.safetensors")):
        shapes.update(_file_shapes(path))
    return shapes


def _file_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}  # noqa: SIM118


def source_shapes(source: str) -> dict[str, tuple[int, ...]]:
    """The source checkpoint's weight shapes: a local folder, or the files of a hub id in the local cache."""
    local = Path(source)
    if local.is_dir():
        found = checkpoint_shapes(local)
        if found:
            return found
    from transformers.utils import cached_file

    index = cached_file(source, INDEX, _raise_exceptions_for_missing_entries=False)
    files = sorted(set(json.loads(Path(index).read_text("utf-8"))["weight_map"].values())) if index else []
    shapes: dict[str, tuple[int, ...]] = {}
    for name in files or ["model.safetensors"]:
        path = cached_file(source, name, _raise_exceptions_for_missing_entries=False)
        if path is None:
            raise OutputError(f"cannot read the weight names of {source!r} (no {name} in it or the cache)")
        shapes.update(_file_shapes(Path(path)))
    return shapes


def rename_to_source_layout(out: Path, source: str) -> int:
    """Rename the weights saved in ``out`` to the names ``source`` uses; return how many were renamed.

    Rank 0 only. Shards are rewritten one at a time (one shard in memory, never the whole model).
    """
    from safetensors.torch import load_file, save_file

    saved, hub = checkpoint_shapes(out), source_shapes(source)
    mapping = hub_key_map(saved, hub)
    for name, target in mapping.items():
        if saved[name] != hub[target]:
            raise OutputError(f"saved weight {name!r} has shape {saved[name]}, source weight {target!r} "
                              f"has {hub[target]}")
    renamed = sum(1 for name, target in mapping.items() if name != target)
    if not renamed:
        return 0
    for path in sorted(out.glob("*.safetensors")):
        tensors = load_file(str(path))
        fresh = path.with_name(path.name + ".renaming")
        save_file({mapping[k]: v.contiguous() for k, v in tensors.items()}, str(fresh), metadata={"format": "pt"})
        fresh.replace(path)
    index = out / INDEX
    if index.is_file():
        data = json.loads(index.read_text("utf-8"))
        data["weight_map"] = {mapping[k]: v for k, v in data["weight_map"].items()}
        index.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return renamed
