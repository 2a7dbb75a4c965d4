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
        from mmlongbench_write.training.iterdpo import IterDPOReport, iterdpo_pairs, read_revisions, write_pairs

        report = IterDPOReport()
        pairs = list(iterdpo_pairs(read_revisions(revisions), instruction=instruction,
                                   joiner=joiner.replace("\\n", "\n").replace("\\t", "\t"),
                                   skip_identical=skip_identical, report=report))
        write_pairs(output, pairs, sharegpt=sharegpt)
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
        plan_prompt: Path = typer.Option(None, "--plan-prompt", help="planner template file with $INST$"),
        write_prompt: Path = typer.Option(None, "--write-prompt", help="writer template file with $INST$, $PLAN$, "
                                          "$TEXT$ and $STEP$"),
        prompts_from: Path = typer.Option(None, "--prompts-from", help="a checkout of THU-KEG/LongWriter-V: both "
                                          "templates from agentwrite/prompts/ there (--plan-prompt/--write-prompt "
                                          "win)"),
        protocol: str = typer.Option("mmlw", "--protocol", help="mmlw (images first) | authors (text first)"),
        batch: bool = typer.Option(None, "--batch/--no-batch", help=_BATCH_HELP + "; one batch per planning "
                                   "or section round"),
        batch_poll_s: float = typer.Option(None, "--batch-poll-s", help="seconds between batch polls"),
    ) -> None:
        """Plan-then-write long outputs: an outline with word targets, then each section given the text so far."""
        from mmlongbench_write.training.agentwrite import AgentWritePrompts, agentwrite

        prompts = AgentWritePrompts.resolve(plan_prompt=plan_prompt, write_prompt=write_prompt,
                                            prompts_from=prompts_from, protocol=protocol)
        with _adapter(model, model_args, _runtime(batch, batch_poll_s, output)) as writer:
            report = agentwrite(input, output, writer, config=_gen_config(model, model_args, gen_kwargs),
                                prompts=prompts, max_sections=max_sections, limit=limit, progress=typer.echo)
        typer.echo(f"{report.summary()} -> {output}")
        if report.failed:  # rows left to do: a script must not go on as if the data were complete
            from mmlongbench_write.errors import EXIT_INCOMPLETE

            raise typer.Exit(EXIT_INCOMPLETE)

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
        data: list[Path] = typer.Option(None, "--data", help="training data: jsonl/json/parquet/csv, a folder of "
                                        "parquet shards or a save_to_disk folder (project, LongWriter-V-22K, "
                                        "sharegpt or TRL rows); repeatable"),
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
        bf16: bool = typer.Option(None, "--bf16/--no-bf16", help="bf16 mixed precision: fp32 master weights, "
                                  "bf16 autocast (default when a CUDA GPU supports it)"),
        pure_bf16: bool = typer.Option(None, "--pure-bf16", help="weights stored and updated in bf16 (no fp32 "
                                       "master copy): half the memory, updates below bf16's spacing are lost"),
        max_length: int = typer.Option(None, "--max-length", help="rows longer than this (tokens) are rejected"),
        max_images: int = typer.Option(None, "--max-images", help="rows with more images are rejected"),
        image_pixels: int = typer.Option(None, "--image-pixels", help="resize images to at most N pixels "
                                         "(applied when the processor is loaded; 78400 = 280x280)"),
        image_min_pixels: int = typer.Option(None, "--image-min-pixels", help="resize images to at least N pixels"),
        max_samples: int = typer.Option(None, "--max-samples", help="train on a random N of the usable rows "
                                        "(the same N for the same data and --sample-seed)"),
        sample_seed: int = typer.Option(None, "--sample-seed", help="seed of the --max-samples subset (default 0)"),
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
        save_steps: int = typer.Option(None, "--save-steps", help="write DIR/checkpoint-N every N steps"),
        save_total_limit: int = typer.Option(None, "--save-total-limit", help="keep at most N checkpoints "
                                             "(with an eval set the best one is always kept)"),
        resume: bool = typer.Option(None, "--resume", help="continue from the newest DIR/checkpoint-N (weights, "
                                    "optimizer, scheduler, data position); metrics.jsonl continues"),
        eval_split: float = typer.Option(None, "--eval-split", help="hold out this share of the rows (e.g. 0.05) "
                                         "and evaluate at every save; the best checkpoint is loaded at the end"),
        eval_data: list[Path] = typer.Option(None, "--eval-data", help="evaluate on this file instead; repeatable"),
        eval_steps: int = typer.Option(None, "--eval-steps", help="evaluate every N steps (default: --save-steps)"),
        report_to: str = typer.Option(None, "--report-to", help="comma-separated trackers: tensorboard (event files "
                                      "in DIR/runs), wandb"),
        cpu: bool = typer.Option(None, "--cpu", help="train on CPU even when a GPU is present"),
        nproc: int = typer.Option(None, "--nproc", help="processes per machine (torchrun / accelerate)"),
        accelerate_config: str = typer.Option(None, "--accelerate-config", help="zero2 | zero3 | zero3-offload | "
                                              "fsdp (shipped configs) or the path of any accelerate config file"),
        num_machines: int = typer.Option(None, "--num-machines", help="nodes of a multi-node run (each runs this "
                                         "command with its own --machine-rank)"),
        machine_rank: int = typer.Option(None, "--machine-rank", help="this node's rank, 0..num-machines-1"),
        main_process_ip: str = typer.Option(None, "--main-process-ip", help="address of the rank-0 node"),
        main_process_port: int = typer.Option(None, "--main-process-port", help="rendezvous port on the rank-0 "
                                              "node (default 29500)"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print the launch command(s) for every node and "
                                     "stop"),
    ) -> None:
        from mmlongbench_write.errors import ConfigError
        from mmlongbench_write.training.launch import Nodes, launch, needs_launch, run_local
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
            "image_min_pixels": image_min_pixels, "max_samples": max_samples, "sample_seed": sample_seed,
            "image_root": image_root, "freeze_vision": freeze_vision,
            "gradient_checkpointing": gradient_checkpointing, "lora": lora, "lora_r": lora_r,
            "lora_alpha": lora_alpha, "beta": beta, "seed": seed, "logging_steps": logging_steps,
            "save_steps": save_steps, "use_cpu": True if cpu else None, "pure_bf16": pure_bf16,
            "save_total_limit": save_total_limit, "resume": resume, "eval_split": eval_split,
            "eval_data": [str(p) for p in eval_data] if eval_data else None, "eval_steps": eval_steps,
            "report_to": [r.strip() for r in report_to.split(",") if r.strip()] if report_to else None,
        }
        settings = resolve_settings(kind, model, files, str(output), preset=preset,  # type: ignore[arg-type]
                                    overrides=overrides)
        nodes = Nodes.from_flags(num_machines, machine_rank, main_process_ip, main_process_port)
        if dry_run or needs_launch(nproc, accelerate_config, nodes):
            launch(settings, nproc=nproc, accelerate_config=accelerate_config, nodes=nodes, dry_run=dry_run,
                   echo=typer.echo)
            if not dry_run:
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
