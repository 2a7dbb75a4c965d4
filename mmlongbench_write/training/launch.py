"""Running a training job in one process, or re-launching it on several through torchrun / accelerate.

Why a settings file: the launcher resolves every flag once, saves ``DIR/train_settings.json`` and starts
``python -m mmlongbench_write.training.launch DIR/train_settings.json`` in each worker, so all workers
run exactly the same job and the run directory records what was trained. Workers see
``MMLW_TRAIN_LAUNCHED=1`` and never launch again.

* ``--nproc N`` (no accelerate config): ``torchrun --nproc_per_node N`` (DDP; gloo on CPU —
  ``accelerate launch --cpu --num_processes 2`` was seen silently running one process).
* ``--accelerate-config zero2|zero3|zero3-offload|fsdp`` or ``PATH``: ``accelerate launch --config_file``
  with the shipped config or any accelerate config file (its relative ``deepspeed_config_file`` is made
  absolute; DeepSpeed configs need the ``deepspeed`` extra).
* ``--num-machines M --machine-rank R --main-process-ip IP [--main-process-port P]``: every node runs the
  same ``mmlw train`` command with its own rank; the rendezvous command of each node is printed first.
  ``DIR`` must be the same path on every node (a shared filesystem), since rank 0 writes the checkpoint.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from mmlongbench_write.errors import ConfigError, MMLWError, first_line

from .presets import TrainSettings

LAUNCHED_ENV = "MMLW_TRAIN_LAUNCHED"
ACCELERATE_CONFIGS = ("zero2", "zero3", "zero3-offload", "fsdp")
SETTINGS_FILE = "train_settings.json"
DEFAULT_PORT = 29500


@dataclass(frozen=True)
class Nodes:
    """The machines of a run: one (the default) or several meeting at ``main_ip:port``."""

    count: int = 1
    rank: int = 0
    main_ip: str | None = None
    port: int = DEFAULT_PORT

    @classmethod
    def from_flags(cls, count: int | None, rank: int | None, main_ip: str | None, port: int | None) -> Nodes:
        nodes = cls(count or 1, rank or 0, main_ip, port or DEFAULT_PORT)
        if nodes.count < 1:
            raise ConfigError(f"--num-machines must be at least 1, got {nodes.count}")
        if not 0 <= nodes.rank < nodes.count:
            raise ConfigError(f"--machine-rank {nodes.rank} is outside 0..{nodes.count - 1} (--num-machines "
                              f"{nodes.count})")
        if nodes.count > 1 and not nodes.main_ip:
            raise ConfigError("--num-machines > 1 needs --main-process-ip (the address of the rank-0 node)")
        if not 0 < nodes.port < 65536:
            raise ConfigError(f"--main-process-port must be a TCP port (1..65535), got {nodes.port}")
        return nodes

    @property
    def multi(self) -> bool:
        return self.count > 1


def shipped_config(name: str) -> Path:
    """The accelerate config file shipped for ``name``."""
    if name not in ACCELERATE_CONFIGS:
        raise ConfigError(f"unknown --accelerate-config {name!r}; choose one of {', '.join(ACCELERATE_CONFIGS)} "
                          "or give the path of an accelerate config file")
    return Path(str(resources.files("mmlongbench_write.training") / "accelerate_configs" / f"{name}.yaml"))


def config_source(spec: str) -> Path:
    """A shipped config's name, or the path of any accelerate config file (checked here, once)."""
    if spec in ACCELERATE_CONFIGS:
        return shipped_config(spec)
    path = Path(spec).expanduser()
    if path.suffix.lower() not in (".yaml", ".yml", ".json") and not path.exists():
        shipped_config(spec)  # raises with the list of names
    if not path.is_file():
        raise ConfigError(f"--accelerate-config {spec}: no such file")
    return path.resolve()


def materialize_config(spec: str, dest_dir: Path, num_processes: int | None = None) -> Path:
    """A copy of the config with an absolute DeepSpeed JSON path (and the process count, if given)."""
    src = config_source(spec)
    text = src.read_text(encoding="utf-8")

    def absolute(match: re.Match[str]) -> str:
        target = Path(match.group(2).strip("'\""))
        if not target.is_absolute():
            target = src.parent / target
        if not target.is_file():
            raise ConfigError(f"{src}: deepspeed_config_file {match.group(2)} does not exist")
        return match.group(1) + str(target)

    text = re.sub(r"(deepspeed_config_file:\s*)(\S+)", absolute, text)
    if num_processes:
        text = re.sub(r"(?m)^num_processes:.*$", f"num_processes: {num_processes}", text)
    dest = dest_dir / f"accelerate-{src.stem}.yaml"
    dest.write_text(text, encoding="utf-8")
    return dest


def launch_command(settings_path: Path, *, nproc: int | None, accelerate_config: str | None,
                   nodes: Nodes | None = None) -> list[str]:
    """The command that runs the saved job on this node: ``nproc`` processes, under an accelerate config."""
    nodes = nodes or Nodes()
    worker = ["-m", "mmlongbench_write.training.launch", str(settings_path)]
    if accelerate_config:
        total = nproc * nodes.count if nproc else None
        config = materialize_config(accelerate_config, settings_path.parent, total)
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
        if total:
            cmd += ["--num_processes", str(total)]
        if nodes.multi:
            cmd += ["--num_machines", str(nodes.count), "--machine_rank", str(nodes.rank),
                    "--main_process_ip", str(nodes.main_ip), "--main_process_port", str(nodes.port),
                    "--rdzv_backend", "static", "--same_network"]
            if "DEEPSPEED" in config.read_text(encoding="utf-8"):
                # one launcher per node (torchrun), like every other backend, not DeepSpeed's ssh fan-out
                cmd += ["--deepspeed_multinode_launcher", "standard"]
        return [*cmd, *worker]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc or 1)]
    if nodes.multi:
        cmd += ["--nnodes", str(nodes.count), "--node_rank", str(nodes.rank), "--master_addr", str(nodes.main_ip),
                "--master_port", str(nodes.port)]
    else:
        cmd.insert(3, "--standalone")
    return [*cmd, *worker]


def needs_launch(nproc: int | None, accelerate_config: str | None, nodes: Nodes | None = None) -> bool:
    if os.environ.get(LAUNCHED_ENV) == "1":
        return False
    return bool(accelerate_config) or (nproc is not None and nproc > 1) or bool(nodes and nodes.multi)


def node_commands(settings_path: Path, *, nproc: int | None, accelerate_config: str | None,
                  nodes: Nodes) -> list[list[str]]:
    """The launch command of every node (rank 0 first): what each machine must run to join the rendezvous."""
    return [launch_command(settings_path, nproc=nproc, accelerate_config=accelerate_config,
                           nodes=replace(nodes, rank=r)) for r in range(nodes.count)]


def launch(settings: TrainSettings, *, nproc: int | None, accelerate_config: str | None,
           nodes: Nodes | None = None, dry_run: bool = False, echo: Callable[[str], None] = print) -> None:
    """Save the settings and run the job in worker processes; raise when a worker fails.

    With several nodes, first print every node's command; ``dry_run`` prints and stops there.
    """
    nodes = nodes or Nodes()
    out = Path(settings.output)
    out.mkdir(parents=True, exist_ok=True)
    settings_path = out / SETTINGS_FILE
    settings.save(settings_path)
    settings_path = settings_path.resolve()
    if nodes.multi or dry_run:
        for rank, cmd in enumerate(node_commands(settings_path, nproc=nproc, accelerate_config=accelerate_config,
                                                 nodes=nodes)):
            here = "  <- this node" if rank == nodes.rank and not dry_run else ""
            echo(f"node {rank}/{nodes.count}: {shlex.join(cmd)}{here}")
    if dry_run:
        return
    cmd = launch_command(settings_path, nproc=nproc, accelerate_config=accelerate_config, nodes=nodes)
    env = {**os.environ, LAUNCHED_ENV: "1"}
    code = subprocess.run(cmd, env=env, check=False).returncode
    if code != 0:
        raise MMLWError(f"training workers failed (exit code {code}); command: {shlex.join(cmd)}")


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


@contextmanager
def process_group_released() -> Iterator[None]:
    """Leave the worker with its process group destroyed, whichever way the job ends.

    A worker that exits with a live gloo process group can abort (SIGABRT, "terminate called without an
    active exception") while the interpreter finalizes, as gloo's threads release tensors; seen on the
    rank-1 node of a two-node job that had trained and saved. On success every rank first meets at a
    barrier, so none tears its group down while a peer still talks to it; on failure there is no barrier
    (a failed peer would never arrive), only the release.
    """
    import torch.distributed as dist

    succeeded = False
    try:
        yield
        succeeded = True
    finally:
        if dist.is_available() and dist.is_initialized():
            try:
                if succeeded:
                    dist.barrier()
            except RuntimeError as exc:  # a peer left before the end: the job did not end well
                raise MMLWError(f"rank {dist.get_rank()}: another rank left before the job ended "
                                f"({first_line(exc) or type(exc).__name__})") from exc
            finally:
                dist.destroy_process_group()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mmlongbench_write.training.launch DIR/train_settings.json", file=sys.stderr)
        sys.exit(2)
    try:
        with process_group_released():
            result = run_local(TrainSettings.load(args[0]))
    except MMLWError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"trained: {result['output']} ({result['data']})")


if __name__ == "__main__":
    main()
