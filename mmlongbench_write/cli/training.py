"""``mmlw data ...`` (training data builders) and ``mmlw train sft|dpo`` (LongWriter-V recipe on TRL).

Heavy libraries (torch, transformers, trl, datasets) are imported inside the commands only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

_MODEL_HELP = "writer/sampler model: adapter or preset (scripted, hf, openai, longwriter-v-7b, ...)"


_BATCH_HELP = ("OpenAI/Anthropic requests through the providers' batch APIs at batch prices; batches are "
               "recorded in OUTPUT.batches.jsonl so a re-run collects them (docs/batch.md)")


def _runtime(batch: bool | None, poll_s: float | None, output: Path) -> Any:
    """``--batch``: runtime options whose batch journal lives beside the output file."""
    from mmlongbench_write.model_adapters.base import BatchOptions, RuntimeOptions

    if not batch:
        return None
    options = BatchOptions(journal_dir=str(output.parent), journal_name=f"{output.name}.batches.jsonl",
                           poll_s=30.0 if poll_s is None else poll_s, reuse_closed=True)
    return RuntimeOptions(batch=options)


def _adapter(model: str, model_args: str | None, runtime: Any = None) -> Any:
    from mmlongbench_write.model_adapters.base import create_model, resolve_model_spec
    from mmlongbench_write.specs import parse_kv

    return create_model(resolve_model_spec(model, parse_kv(model_args)), runtime)


def _gen_config(model: str, model_args: str | None, gen_kwargs: str | None) -> Any:
    from mmlongbench_write.model_adapters.base import resolve_model_spec
    from mmlongbench_write.specs import parse_kv

    spec = resolve_model_spec(model, parse_kv(model_args))
    return spec.gen_defaults.merged(**parse_kv(gen_kwargs, flag="--gen-kwargs"))


def _data_app() -> typer.Typer:
    data = typer.Typer(help="Build training data: plan-and-write SFT data, length backtranslation, DPO pairs.",
                       no_args_is_help=True)

    @data.command("iterdpo-pairs")
    def iterdpo_pairs_cmd(
        revisions: Path = typer.Option(..., "--revisions", help="annotation dir ({major}/{course}/pngs, scripts, "
                                       "annotated_scripts) or a jsonl of courses with per-page texts"),
        output: Path = typer.Option(..., "--output", help="pairs jsonl to write"),
        instruction: str = typer.Option(None, "--instruction", help="prompt of every pair (default: each course's "
                                        "instruction.txt, else a lecture-script instruction)"),
        joiner: str = typer.Option("\n\n", "--joiner", help="text put between pages"),
        skip_identical: bool = typer.Option(False, "--skip-identical", help="drop pairs whose two sides are equal"),
        sharegpt: bool = typer.Option(False, "--sharegpt", help="write LLaMA-Factory sharegpt rows instead"),
    ) -> None:
        """IterDPO pairs: page i prefers the revised pages 1..i over the original pages 1..i."""
        from mmlongbench_write.runstore import write_jsonl
        from mmlongbench_write.training.formats import to_sharegpt
        from mmlongbench_write.training.iterdpo import IterDPOReport, iterdpo_pairs, read_revisions

        report = IterDPOReport()
        pairs = list(iterdpo_pairs(read_revisions(revisions), instruction=instruction,
                                   joiner=joiner.replace("\\n", "\n").replace("\\t", "\t"),
                                   skip_identical=skip_identical, report=report))
        output.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(output, [to_sharegpt(p) for p in pairs] if sharegpt else pairs)
        typer.echo(f"{report.summary()} -> {output}")

    @data.command("agentwrite")
    def agentwrite_cmd(
        input: Path = typer.Option(..., "--input", help="jsonl of {id?, instruction, images}"),
        output: Path = typer.Option(..., "--output", help="jsonl to write (re-run to resume)"),
        model: str = typer.Option(..., "--model", help=_MODEL_HELP),
        model_args: str = typer.Option(None, "--model-args", help="k=v,..."),
        gen_kwargs: str = typer.Option(None, "--gen-kwargs", help="k=v,... e.g. temperature=0.7,max_new_tokens=4096"),
        max_sections: int = typer.Option(30, "--max-sections", help="write at most N planned sections"),
        limit: int = typer.Option(None, "--limit", help="first N rows only"),
        batch: bool = typer.Option(None, "--batch/--no-batch", help=_BATCH_HELP + "; one batch per planning "
                                   "or section round"),
        batch_poll_s: float = typer.Option(None, "--batch-poll-s", help="seconds between batch polls"),
    ) -> None:
        """Plan-then-write long outputs: an outline with word targets, then each section given the text so far."""
        from mmlongbench_write.training.agentwrite import agentwrite

        with _adapter(model, model_args, _runtime(batch, batch_poll_s, output)) as writer:
            report = agentwrite(input, output, writer, config=_gen_config(model, model_args, gen_kwargs),
                                max_sections=max_sections, limit=limit, progress=typer.echo)
        typer.echo(f"{report.summary()} -> {output}")

    @data.command("backtranslate")
    def backtranslate_cmd(
        input: Path = typer.Option(..., "--input", help="jsonl of {instruction, output, images?}"),
        output: Path = typer.Option(..., "--output", help="jsonl to write (all rows)"),
        fraction: float = typer.Option(1.0, "--fraction", help="share of rows given a length requirement"),
        seed: int = typer.Option(0, "--seed", help="sampling seed"),
        model: str = typer.Option(None, "--model", help="rephrase the requirement into the instruction with this "
                                  "model (default: append a template sentence)"),
        model_args: str = typer.Option(None, "--model-args", help="k=v,..."),
        gen_kwargs: str = typer.Option(None, "--gen-kwargs", help="k=v,..."),
        batch: bool = typer.Option(None, "--batch/--no-batch", help=_BATCH_HELP),
        batch_poll_s: float = typer.Option(None, "--batch-poll-s", help="seconds between batch polls"),
    ) -> None:
        """Append "write L words" (L = the output's real word count) to a sample of instructions."""
        from mmlongbench_write.training.backtranslate import backtranslate

        if model:
            with _adapter(model, model_args, _runtime(batch, batch_poll_s, output)) as rephraser:
                report = backtranslate(input, output, fraction=fraction, seed=seed, rephraser=rephraser,
                                       config=_gen_config(model, model_args, gen_kwargs))
        else:
            report = backtranslate(input, output, fraction=fraction, seed=seed)
        typer.echo(f"{report.summary()} -> {output}")

    @data.command("ai-feedback-pairs")
    def ai_feedback_cmd(
        input: Path = typer.Option(..., "--input", help="jsonl of {id?, instruction, images, required_length?}"),
        output: Path = typer.Option(..., "--output", help="pairs jsonl to write"),
        model: str = typer.Option(..., "--model", help="model whose responses are sampled"),
        model_args: str = typer.Option(None, "--model-args", help="k=v,..."),
        gen_kwargs: str = typer.Option(None, "--gen-kwargs", help="k=v,... (default temperature=0.8)"),
        k: int = typer.Option(4, "--k", help="responses sampled per instruction"),
        min_margin: float = typer.Option(10.0, "--min-margin", help="keep a pair when best - worst >= this (0..100)"),
        length_weight: float = typer.Option(0.5, "--length-weight", help="score = w*S_l + (1-w)*S_q"),
        judge_model: str = typer.Option(None, "--judge-model", help="quality judge model (omit: length only)"),
        judge_model_args: str = typer.Option(None, "--judge-model-args", help="k=v,..."),
        seed: int = typer.Option(0, "--seed", help="seed of the first sample (sample j uses seed+j)"),
        limit: int = typer.Option(None, "--limit", help="first N rows only"),
        batch: bool = typer.Option(None, "--batch/--no-batch", help=_BATCH_HELP + " (sampling and judging)"),
        batch_poll_s: float = typer.Option(None, "--batch-poll-s", help="seconds between batch polls"),
    ) -> None:
        """Sample k responses, score with the length and quality judges, keep best vs worst above a margin."""
        from mmlongbench_write.judges.base import JudgeOptions
        from mmlongbench_write.model_adapters.base import resolve_model_spec
        from mmlongbench_write.registry import judges
        from mmlongbench_write.runstore import write_jsonl
        from mmlongbench_write.specs import parse_kv
        from mmlongbench_write.training.ai_feedback import AIFeedbackReport, ai_feedback_pairs

        judge = None
        runtime = _runtime(batch, batch_poll_s, output)
        if judge_model:
            spec = resolve_model_spec(judge_model, parse_kv(judge_model_args, flag="--judge-model-args"))
            options = JudgeOptions(model=spec, seed=seed) if runtime is None else \
                JudgeOptions(model=spec, seed=seed, runtime=runtime)
            judge = judges.get("quality").from_options(options)
        report = AIFeedbackReport()
        try:
            with _adapter(model, model_args, runtime) as sampler:
                pairs = ai_feedback_pairs(input, sampler, judge, k=k, min_margin=min_margin,
                                          length_weight=length_weight,
                                          config=_gen_config(model, model_args, gen_kwargs), seed=seed,
                                          limit=limit, report=report)
        finally:
            if judge is not None:
                judge.close()
        output.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(output, pairs)
        typer.echo(f"{report.summary()} -> {output}")

    return data


def _train_command(app: typer.Typer, kind: str) -> None:
    doc = ("Supervised fine-tuning on long multi-image outputs (TRL SFTTrainer)." if kind == "sft"
           else "DPO on preference pairs, e.g. IterDPO + AI feedback (TRL DPOTrainer).")

    @app.command(kind, help=doc)
    def train_cmd(
        model: str = typer.Option(..., "--model", help="checkpoint dir, hub id, or a training preset "
                                  "(longwriter-v-7b, longwriter-v-72b, tiny-random-qwen2.5-vl)"),
        data: list[Path] = typer.Option(None, "--data", help="training jsonl/json (project or sharegpt rows); "
                                        "repeatable"),
        output: Path = typer.Option(..., "--output", help="checkpoint dir (also gets metrics.jsonl)"),
        preset: str = typer.Option(None, "--preset", help="longwriter-v-7b | longwriter-v-72b: the paper's "
                                   "hyper-parameters; every value below overrides it"),
        iterdpo: Path = typer.Option(None, "--iterdpo", help="IterDPO pairs jsonl (dpo)"),
        mix: list[Path] = typer.Option(None, "--mix", help="more pair files to mix in, e.g. AI-feedback pairs"),
        learning_rate: float = typer.Option(None, "--learning-rate", "--lr"),
        epochs: float = typer.Option(None, "--epochs"),
        max_steps: int = typer.Option(None, "--max-steps", help="stop after N optimizer steps (overrides epochs)"),
        batch_size: int = typer.Option(None, "--batch-size", help="per device"),
        grad_accum: int = typer.Option(None, "--grad-accum"),
        lr_scheduler: str = typer.Option(None, "--lr-scheduler"),
        warmup_ratio: float = typer.Option(None, "--warmup-ratio"),
        bf16: bool = typer.Option(None, "--bf16/--no-bf16"),
        max_length: int = typer.Option(None, "--max-length", help="rows longer than this (tokens) are rejected"),
        max_images: int = typer.Option(None, "--max-images", help="rows with more images are rejected"),
        image_pixels: int = typer.Option(None, "--image-pixels", help="resize images to at most N pixels"),
        image_root: str = typer.Option(None, "--image-root", help="base of relative image paths "
                                       "(default: the data file's folder)"),
        freeze_vision: bool = typer.Option(None, "--freeze-vision/--train-vision"),
        gradient_checkpointing: bool = typer.Option(None, "--gradient-checkpointing/--no-gradient-checkpointing"),
        lora: bool = typer.Option(None, "--lora", help="train LoRA adapters (PEFT); the saved model is merged"),
        lora_r: int = typer.Option(None, "--lora-r"),
        lora_alpha: int = typer.Option(None, "--lora-alpha"),
        beta: float = typer.Option(None, "--beta", help="DPO beta"),
        seed: int = typer.Option(None, "--seed"),
        logging_steps: int = typer.Option(None, "--logging-steps"),
        save_steps: int = typer.Option(None, "--save-steps"),
        cpu: bool = typer.Option(None, "--cpu", help="train on CPU even when a GPU is present"),
        nproc: int = typer.Option(None, "--nproc", help="processes (torchrun, or accelerate's num_processes)"),
        accelerate_config: str = typer.Option(None, "--accelerate-config", help="zero2 | zero3 | zero3-offload | "
                                              "fsdp: launch through accelerate with the shipped config"),
    ) -> None:
        from mmlongbench_write.errors import ConfigError
        from mmlongbench_write.training.launch import launch, needs_launch, run_local
        from mmlongbench_write.training.presets import resolve_settings

        files = [str(p) for p in (data or [])]
        if iterdpo or mix:
            if kind != "dpo":
                raise ConfigError("--iterdpo / --mix are preference pairs: use them with `mmlw train dpo`")
            files += [str(iterdpo)] if iterdpo else []
            files += [str(p) for p in (mix or [])]
        overrides = {
            "learning_rate": learning_rate, "epochs": epochs, "max_steps": max_steps, "batch_size": batch_size,
            "grad_accum": grad_accum, "lr_scheduler": lr_scheduler, "warmup_ratio": warmup_ratio, "bf16": bf16,
            "max_length": max_length, "max_images": max_images, "image_pixels": image_pixels,
            "image_root": image_root, "freeze_vision": freeze_vision,
            "gradient_checkpointing": gradient_checkpointing, "lora": lora, "lora_r": lora_r,
            "lora_alpha": lora_alpha, "beta": beta, "seed": seed, "logging_steps": logging_steps,
            "save_steps": save_steps, "use_cpu": True if cpu else None,
        }
        settings = resolve_settings(kind, model, files, str(output), preset=preset,  # type: ignore[arg-type]
                                    overrides=overrides)
        if needs_launch(nproc, accelerate_config):
            launch(settings, nproc=nproc, accelerate_config=accelerate_config)
            typer.echo(f"trained: {output}")
            return
        result = run_local(settings)
        typer.echo(f"trained: {result['output']} ({result['data']}); metrics: {result['metrics']}")


def register(app: typer.Typer) -> None:
    """Add ``mmlw data ...`` and ``mmlw train sft|dpo``."""
    train = typer.Typer(help="Fine-tune vision-language models for long writing (SFT, DPO) on TRL.",
                        no_args_is_help=True)
    _train_command(train, "sft")
    _train_command(train, "dpo")
    app.add_typer(train, name="train")
    app.add_typer(_data_app(), name="data")
