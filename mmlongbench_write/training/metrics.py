"""``DIR/metrics.jsonl``: one line per logged training step, written as the trainer logs.

Why a file of our own: the trainer's ``trainer_state.json`` is written only at checkpoints and uses
TRL's key names; tests, plots and the lead's dashboards read ``step``, ``loss`` and, for DPO,
``reward_margin`` / ``reward_accuracy`` from here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: TRL log key -> metrics.jsonl key
_RENAMES = {
    "loss": "loss",
    "learning_rate": "learning_rate",
    "grad_norm": "grad_norm",
    "epoch": "epoch",
    "rewards/margins": "reward_margin",
    "rewards/accuracies": "reward_accuracy",
    "rewards/chosen": "reward_chosen",
    "rewards/rejected": "reward_rejected",
    "mean_token_accuracy": "mean_token_accuracy",
    "num_tokens": "num_tokens",
}


def metrics_callback(path: str | Path, resume_step: int = 0) -> Any:
    """A ``transformers.TrainerCallback`` appending each training log with a ``loss`` to ``path``.

    A fresh run empties the file; a run resumed at ``resume_step`` keeps the lines up to that step and
    drops the later ones (logged after the checkpoint by the run that was stopped), so each step appears
    once. Evaluation logs (``eval_loss``) go to their own lines with ``"split": "eval"``.
    """
    from transformers import TrainerCallback

    class MetricsCallback(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.path = Path(path)

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                kept = [r for r in read_metrics(self.path) if r["step"] <= resume_step] if (
                    resume_step and self.path.is_file()) else []
                self.path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:
            if not state.is_world_process_zero or not logs:
                return
            if "eval_loss" in logs:
                self._append({"step": state.global_step, "split": "eval", "loss": float(logs["eval_loss"])})
                return
            if "loss" not in logs:
                return
            record: dict[str, Any] = {"step": state.global_step}
            for key, name in _RENAMES.items():
                if key in logs:
                    record[name] = float(logs[key])
            self._append(record)

        def _append(self, record: dict[str, Any]) -> None:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    return MetricsCallback()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (a run directory or the file itself)."""
    p = Path(path)
    if p.is_dir():
        p = p / "metrics.jsonl"
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
