"""``mmlw tasks``, ``mmlw models`` and ``mmlw judges``: what is registered, without importing torch."""

from __future__ import annotations

import typer


def _print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False, title_justify="left")
    for index, column in enumerate(columns):
        table.add_column(column, overflow="fold", no_wrap=index == 0)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def register(app: typer.Typer) -> None:
    @app.command("tasks")
    def tasks_command() -> None:
        """List the registered tasks with their category."""
        from mmlongbench_write.registry import tasks

        rows = []
        for entry in tasks.entries():
            obj = entry.load()
            rows.append([entry.name, str(getattr(obj, "category", "")), entry.description, entry.origin])
        _print_table("tasks (--tasks all | professional | creative | NAME,NAME | ruler | custom)",
                     ["name", "category", "description", "from"], rows)

    @app.command("models")
    def models_command() -> None:
        """List model adapters and presets, with what each preset resolves to."""
        from mmlongbench_write.model_adapters.base import Preset
        from mmlongbench_write.registry import models

        rows = []
        for entry in models.entries():
            target = entry.target
            if isinstance(target, Preset):
                args = ",".join(f"{k}={v}" for k, v in target.model_args.items())
                gen = ",".join(f"{k}={v}" for k, v in target.gen_kwargs.items())
                rows.append([entry.name, f"preset -> {target.adapter}", f"{args}\n{gen}".strip(), entry.description])
            else:
                rows.append([entry.name, "adapter", "", entry.description])
        _print_table("models (--model NAME [--model-args k=v,...])", ["name", "kind", "resolves to", "description"],
                     rows)

    @app.command("judges")
    def judges_command() -> None:
        """List the registered judges."""
        from mmlongbench_write.registry import judges

        rows = [[e.name, e.description, e.origin] for e in judges.entries()]
        _print_table("judges (--judge NAME[,NAME])", ["name", "description", "from"], rows)
