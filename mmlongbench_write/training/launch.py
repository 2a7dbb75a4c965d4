"""Running a training job in one process, or re-launching it on several through torchrun / accelerate.

Why a settings file: the launcher resolves every flag once, saves ``DIR/train_settings.json`` and starts
``python -m mmlongbench_write.training.launch DIR/train_settings.json`` in each worker, so all workers
run exactly the same job and the run directory records what was trained. Workers see
``MMLW_TRAIN_LAUNCHED=1`` and never launch again.

* ``--nproc N`` (no accelerate config): ``torchrun --standalone --nproc_per_node N`` (DDP; gloo on CPU —
  ``accelerate launch --cpu --num_processes 2`` was seen silently running one process).
* ``--accelerate-config zero2|zero3|zero3-offload|fsdp``: ``accelerate launch --config_file`` with the
  config shipped in this package (DeepSpeed configs need ``pip install deepspeed``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

from mmlongbench_write.errors import ConfigError, MMLWError

from .presets import TrainSettings

LAUNCHED_ENV = "MMLW_TRAIN_LAUNCHED"
ACCELERATE_CONFIGS = ("zero2", "zero3", "zero3-offload", "fsdp")
SETTINGS_FILE = "train_settings.json"


def shipped_config(name: str) -> Path:
    """The accelerate config file shipped for ``name``."""
    if name not in ACCELERATE_CONFIGS:
        raise ConfigError(f"unknown --accelerate-config {name!r}; choose one of {', '.join(ACCELERATE_CONFIGS)}")
    return Path(str(resources.files("mmlongbench_write.training") / "accelerate_configs" / f"{name}.yaml"))


def materialize_config(name: str, dest_dir: Path, num_processes: int | None = None) -> Path:
    """A copy of the shipped config with an absolute DeepSpeed JSON path (and the process count, if given)."""
    src = shipped_config(name)
    text = src.read_text(encoding="utf-8")
    text = re.sub(r"(deepspeed_config_file:\s*)(\S+)", lambda m: m.group(1) + str(src.parent / m.group(2)), text)
    if num_processes:
        text = re.sub(r"(?m)^num_processes:.*$", f"num_processes: {num_processes}", text)
    dest = dest_dir / f"accelerate-{name}.yaml"
    dest.write_text(text, encoding="utf-8")
    return dest


def launch_command(settings_path: Path, *, nproc: int | None, accelerate_config: str | None) -> list[str]:
    """The command that runs the saved job on ``nproc`` processes or under an accelerate config."""
    worker = ["-m", "mmlongbench_write.training.launch", str(settings_path)]
    if accelerate_config:
        config = materialize_config(accelerate_config, settings_path.parent, nproc)
        return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config), *worker]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc or 1),
            *worker]


def needs_launch(nproc: int | None, accelerate_config: str | None) -> bool:
    if os.environ.get(LAUNCHED_ENV) == "1":
        return False
    return bool(accelerate_config) or (nproc is not None and nproc > 1)


def launch(settings: TrainSettings, *, nproc: int | None, accelerate_config: str | None) -> None:
    """Save the settings and run the job in worker processes; raise when a worker fails."""
    out = Path(settings.output)
    out.mkdir(parents=True, exist_ok=True)
    settings_path = out / SETTINGS_FILE
    settings.save(settings_path)
    cmd = launch_command(settings_path.resolve(), nproc=nproc, accelerate_config=accelerate_config)
    env = {**os.environ, LAUNCHED_ENV: "1"}
    code = subprocess.run(cmd, env=env, check=False).returncode
    if code != 0:
        raise MMLWError(f"training workers failed (exit code {code}); command: {' '.join(cmd)}")


def run_local(settings: TrainSettings) -> dict[str, object]:
    """Run in this process (a worker, or a single-process job); records the settings next to the output."""
    from .trainer import run_training

    out = Path(settings.output)
    out.mkdir(parents=True, exist_ok=True)
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        print(f"mmlw train: rank {rank}/{world} starting", file=sys.stderr, flush=True)
    if rank == 0:
        settings.save(out / SETTINGS_FILE)
    return run_training(settings)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mmlongbench_write.training.launch DIR/train_settings.json", file=sys.stderr)
        sys.exit(2)
    try:
        result = run_local(TrainSettings.load(args[0]))
    except MMLWError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"trained: {result['output']} ({result['data']})")


if __name__ == "__main__":
    main()
