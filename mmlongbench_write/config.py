"""One object describes a run: :class:`EvalConfig`, built from the CLI, a YAML file or Python keywords.

Its fields split by concern, each a typed sub-config that the code consuming it takes:

- :class:`OutputsConfig` — *what* is evaluated (model, data, tasks, generation settings, seed, shard,
  mode, protocol, generation-side templates): it determines the outputs, is fingerprinted and names the
  run directory, so the same command finds the same directory and resumes.
- :class:`JudgingConfig` — *how verdicts are made* (judges, judge model and its settings, judge template):
  changing it re-judges the same run; it is recorded as the judges' identities, never in the fingerprint.
  ``mmlw score``, ``pairwise`` and ``judge-agreement`` take the same object.
- :class:`RuntimeConfig` — *how it runs* (output folder, concurrency, caches, budget, retries): it never
  changes an output and is never fingerprinted.

``EvalConfig`` keeps the flat keywords of the public API (``EvalConfig(model=..., data=..., tasks=...,
output=...)``); ``config.outputs``, ``config.judging`` and ``config.runtime`` are its typed parts.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from .arg_checks import check_gen_kwargs
from .errors import ConfigError
from .kvstore import stable_hash

#: Generation settings of the paper's VLM setting (docs/benchmark.md); presets and --gen-kwargs override them.
PAPER_GEN_DEFAULTS: dict[str, Any] = {"temperature": 0.6, "top_p": 0.95, "max_new_tokens": 8192}

#: Template paths (judge templates aside): hashed by *content* in the fingerprint, never by path (see
#: :meth:`EvalConfig.prompt_fingerprint`), so moving a file changes nothing and editing one does.
TEMPLATE_PATH_FIELDS = frozenset({"prompts_from", "caption_prompt", "writer_prompt"})

_Part = TypeVar("_Part", bound="ConfigPart")


class ConfigPart:
    """What the three parts share: building one from config-field values (others ignored), as the commands
    that only judge build them."""

    @classmethod
    def from_fields(cls: type[_Part], values: dict[str, Any]) -> _Part:
        names = _names(cls)  # type: ignore[arg-type]
        return cls(**{k: v for k, v in values.items() if k in names})


@dataclass(kw_only=True)
class RuntimeConfig(ConfigPart):
    """How a run runs: never changes an output, never fingerprinted."""

    output: str = "runs"
    run_id: str | None = None
    label: str | None = None
    stage: str = "all"
    concurrency: int = 8
    batch_size: int = 8
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_retries: int = 6
    timeout_s: float = 600.0
    cache: str = "readwrite"
    cache_dir: str | None = None
    max_cost: float | None = None
    prices: str | None = None
    rescored_from: str | None = None  # set by `mmlw score`: the run this one re-judges
    # --batch (docs/batch.md): OpenAI/Anthropic requests through the providers' batch APIs, at batch prices
    batch: bool = False
    batch_fallback: str = "batch"  # failed/expired items: retried in a later batch, or "live"
    batch_poll_s: float = 30.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.cache not in CACHE_MODES:
            raise ConfigError(f"--cache must be one of {', '.join(CACHE_MODES)}, not {self.cache!r}")
        if self.stage not in STAGES:
            raise ConfigError(f"--stage must be one of {', '.join(STAGES)}, not {self.stage!r}")
        if self.concurrency < 1 or self.batch_size < 1:
            raise ConfigError("--concurrency and --batch-size must be at least 1")
        if self.batch_fallback not in BATCH_FALLBACKS:
            raise ConfigError(f"--batch-fallback must be one of {', '.join(BATCH_FALLBACKS)}, "
                              f"not {self.batch_fallback!r}")
        if not self.batch_poll_s >= 0:
            raise ConfigError(f"--batch-poll-s must be >= 0, not {self.batch_poll_s}")

    def adapter_options(self) -> Any:
        """The :class:`~mmlongbench_write.model_adapters.base.RuntimeOptions` every adapter is built with."""
        from .model_adapters.base import RuntimeOptions

        return RuntimeOptions(concurrency=self.concurrency, batch_size=self.batch_size,
                              requests_per_minute=self.requests_per_minute, tokens_per_minute=self.tokens_per_minute,
                              max_retries=self.max_retries, timeout_s=self.timeout_s)


@dataclass(kw_only=True)
class JudgingConfig(ConfigPart):
    """How verdicts are made. ``protocol``, ``prompts_from`` and ``seed`` are shared with the outputs (they
    shape generations too); the other fields change only the verdicts."""

    judges: list[str] | None = None  # None: length, plus quality when a judge model is given
    judge_model: str | None = None
    judge_model_args: dict[str, Any] = field(default_factory=dict)
    judge_prompt: str | None = None
    judge_samples: int = 1
    judge_gen_kwargs: dict[str, Any] = field(default_factory=dict)
    judge_max_attempts: int | None = None  # None: 3, or 5 under --protocol authors
    protocol: str = "mmlw"  # mmlw | authors (mmlongbench_write.protocol)
    prompts_from: str | None = None  # a checkout of THU-KEG/LongWriter-V: templates from their places there
    seed: int | None = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        from .protocol import check_protocol

        check_protocol(self.protocol)
        if self.judge_samples < 1:
            raise ConfigError("--judge-samples must be at least 1")
        if self.judge_max_attempts is not None and self.judge_max_attempts < 1:
            raise ConfigError("--judge-max-attempts must be at least 1")
        self.judge_gen_kwargs = check_gen_kwargs("--judge-gen-kwargs", self.judge_gen_kwargs)

    @property
    def judge_names(self) -> list[str]:
        if self.judges is not None:
            return list(self.judges)
        return ["length", "quality"] if self.judge_model else ["length"]

    def judge_template_path(self) -> str | None:
        """The judge template: ``--judge-prompt``, else the authors' from ``--prompts-from``, else built-in."""
        from .templates import authors_prompt_paths

        if self.judge_prompt is not None or self.prompts_from is None:
            return self.judge_prompt
        return str(authors_prompt_paths(self.prompts_from, ["judge"])["judge"])

    def judge_options(self, runtime: RuntimeConfig, *, model: str | None = None,
                      model_args: dict[str, Any] | None = None, prompt_file: str | None = None) -> Any:
        """The :class:`~mmlongbench_write.judges.base.JudgeOptions` for a judge under this config (``model``,
        ``model_args`` and ``prompt_file`` override the configured ones, as judge-agreement's two judges do)."""
        from .judges.base import JudgeOptions
        from .model_adapters.base import resolve_model_spec

        name = model if model is not None else self.judge_model
        args = model_args if model_args is not None else self.judge_model_args
        return JudgeOptions(
            model=resolve_model_spec(name, args) if name else None,
            prompt_file=prompt_file if prompt_file is not None else self.judge_template_path(),
            samples=self.judge_samples,
            seed=self.seed,
            runtime=runtime.adapter_options(),
            cache_mode=runtime.cache,
            cache_dir=runtime.cache_dir,
            protocol=self.protocol,
            extra={"judge_gen_kwargs": dict(self.judge_gen_kwargs), "max_attempts": self.judge_max_attempts},
        )


@dataclass(kw_only=True)
class OutputsConfig(ConfigPart):
    """What is evaluated: everything that determines the generations (fingerprinted).

    ``protocol`` changes generations (part order; captions in the writer template) and judging (part
    order, attempts) and names the aggregation rule: fingerprinted. ``caption_prompt`` / ``writer_prompt``
    change the caption+LLM generations: fingerprinted by content. ``prompts_from`` supplies the judge
    template (judging only) and, in caption-llm mode, the caption and writer templates (by content).
    """

    model: str
    model_args: dict[str, Any] = field(default_factory=dict)
    gen_kwargs: dict[str, Any] = field(default_factory=dict)
    tasks: str | None = None  # None: every sample of the data, as it is (tasks label, never filter)
    data: Any = "mini"  # a path, hub id or "mini"; in the Python API also a Dataset, DataFrame or list of dicts
    data_columns: dict[str, str] = field(default_factory=dict)
    split: str = "train"
    limit: int | None = None
    skip_invalid: bool = False
    seed: int | None = 0
    shard: str | None = None
    mode: str = "vlm"
    captioner: str | None = None
    captioner_args: dict[str, Any] = field(default_factory=dict)
    protocol: str = "mmlw"
    prompts_from: str | None = None
    caption_prompt: str | None = None  # caption-llm: the captioner's prompt file (no placeholders)
    writer_prompt: str | None = None  # caption-llm: the writer's template file ($QUESTION$, $CAPTIONS$)


def _names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


#: Fields that do not change any output: excluded from the fingerprint and the run id.
RUNTIME_FIELDS = _names(RuntimeConfig)
#: Fields that only change the verdicts, not the generations: a new judge re-judges the same run.
JUDGE_FIELDS = _names(JudgingConfig) - _names(OutputsConfig)

CACHE_MODES = ("off", "read", "write", "readwrite")
STAGES = ("all", "generate", "judge")
MODES = ("vlm", "caption-llm")
BATCH_FALLBACKS = ("batch", "live")


@dataclass(kw_only=True)
class EvalConfig(OutputsConfig, JudgingConfig, RuntimeConfig):
    """The full description of an evaluation run (recorded in ``run.json``): the fields of its three parts,
    as flat keywords (``EvalConfig(model=..., data=..., tasks=..., output=...)``)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        self._check_secrets()
        RuntimeConfig.validate(self)
        JudgingConfig.validate(self)
        self.gen_kwargs = check_gen_kwargs("--gen-kwargs", self.gen_kwargs)
        if self.mode not in MODES:
            raise ConfigError(f"--mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.mode == "caption-llm" and not self.captioner:
            raise ConfigError("--mode caption-llm needs --captioner SPEC (e.g. gpt-4o-2024-08-06)")
        if self.limit is not None and self.limit <= 0:
            raise ConfigError(f"--limit must be positive, not {self.limit}")
        if self.shard is not None:
            parse_shard(self.shard)
        self._validate_templates()

    def _check_secrets(self) -> None:
        """Refuse any key given as an argument (it would be recorded in run.json): one line, no value shown."""
        from .secrets import check_args

        for flag, args in (("--model-args", self.model_args), ("--gen-kwargs", self.gen_kwargs),
                           ("--judge-model-args", self.judge_model_args),
                           ("--judge-gen-kwargs", self.judge_gen_kwargs),
                           ("--captioner-args", self.captioner_args), ("--data-columns", self.data_columns)):
            check_args(flag, args)
        for flag, value in (("--data", self.data), ("--label", self.label), ("--run-id", self.run_id)):
            if isinstance(value, str):  # recorded, and the label and run id name the run folder
                check_args(flag, {flag.lstrip("-").replace("-", "_"): value})

    # --- templates and protocol ------------------------------------------------------------------------
    def _validate_templates(self) -> None:
        for flag, value in (("--caption-prompt", self.caption_prompt), ("--writer-prompt", self.writer_prompt)):
            if value is not None and self.mode != "caption-llm":
                raise ConfigError(f"{flag} applies to --mode caption-llm only (this run is --mode {self.mode})")
        if self.protocol == "authors" and self.mode == "caption-llm" and not (self.writer_prompt or self.prompts_from):
            raise ConfigError("--protocol authors --mode caption-llm writes the captions into a writer template: "
                              "give --writer-prompt FILE (with $QUESTION$ and $CAPTIONS$) or --prompts-from DIR")

    def template_path(self, kind: str) -> str | None:
        """The template file of ``kind`` (judge, caption, writer): its own flag, else ``--prompts-from``'s."""
        from .templates import authors_prompt_paths

        if kind == "judge":
            return self.judge_template_path()
        explicit = {"caption": self.caption_prompt, "writer": self.writer_prompt}[kind]
        if explicit is not None or self.prompts_from is None:
            return explicit
        return str(authors_prompt_paths(self.prompts_from, [kind])[kind])

    def load_template(self, kind: str) -> Any:
        """The :class:`~mmlongbench_write.templates.PromptTemplate` of ``kind``, or None for the built-in."""
        from .templates import PLACEHOLDERS, read_template

        path = self.template_path(kind)
        if path is None:
            return None
        flag = {"judge": "--judge-prompt", "caption": "--caption-prompt", "writer": "--writer-prompt"}[kind]
        return read_template(path, PLACEHOLDERS[kind], flag=flag if self.prompts_from is None else
                             f"{flag} (from --prompts-from {self.prompts_from})")

    def prompt_fingerprint(self) -> dict[str, Any]:
        """The generation-side part of the template/protocol block, empty at the defaults (old run ids hold)."""
        d: dict[str, Any] = {}
        if self.protocol != "mmlw":
            d["protocol"] = self.protocol
        if self.mode == "caption-llm":
            hashes = {kind: template.sha256 for kind in ("caption", "writer")
                      if (template := self.load_template(kind)) is not None}
            if hashes:
                d["templates"] = hashes
        return d

    # --- the typed parts -------------------------------------------------------------------------------
    def _part(self, cls: type[Any]) -> Any:
        return cls(**{name: getattr(self, name) for name in _names(cls)})

    @property
    def outputs(self) -> OutputsConfig:
        return self._part(OutputsConfig)  # type: ignore[no-any-return]

    @property
    def judging(self) -> JudgingConfig:
        return self._part(JudgingConfig)  # type: ignore[no-any-return]

    @property
    def runtime(self) -> RuntimeConfig:
        return self._part(RuntimeConfig)  # type: ignore[no-any-return]

    @classmethod
    def compose(cls, outputs: OutputsConfig, judging: JudgingConfig | None = None,
                runtime: RuntimeConfig | None = None) -> EvalConfig:
        """An EvalConfig from its parts (where parts share a field, ``outputs`` wins)."""
        values: dict[str, Any] = {}
        for part in (runtime or RuntimeConfig(), judging or JudgingConfig(), outputs):
            values.update({f.name: getattr(part, f.name) for f in fields(part)})
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The config as JSON; in-memory data stands as its description (``<datasets.Dataset 120 rows>``)."""
        from .data.inmemory import describe

        return {**asdict(replace(self, data="")), "data": describe(self.data)}

    def generation_fingerprint(self) -> str:
        """Hash of everything that determines the generations (not the judges, not the runtime).

        In-memory data counts by its content (:func:`mmlongbench_write.data.inmemory.identity`).
        """
        from .data.inmemory import identity

        skip = RUNTIME_FIELDS | JUDGE_FIELDS | TEMPLATE_PATH_FIELDS | {"protocol"}
        d = {k: v for k, v in self.to_dict().items() if k not in skip}
        d["data"] = identity(self.data, self.split)
        return stable_hash({**d, **self.prompt_fingerprint()})

    def default_run_id(self) -> str:
        label = self.label or self.model
        for key in ("pretrained", "model"):
            if key in self.model_args:
                label = f"{label}-{Path(str(self.model_args[key])).name}"
                break
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-").lower()[:60] or "run"
        return f"{slug}-{self.generation_fingerprint()[:10]}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> EvalConfig:
        """Load a YAML file with the same field names; ``overrides`` (non-None) win over the file."""
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path}: expected a mapping of field: value")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(data)


def parse_shard(shard: str) -> tuple[int, int]:
    """``"i/n"`` -> (i, n) with 0 <= i < n."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", shard)
    if not match:
        raise ConfigError(f"--shard must look like i/n (e.g. 0/4), not {shard!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"--shard {shard}: need 0 <= i < n")
    return index, count
