"""``mmlw annotate init|add-user|serve|export``: the human-revision studio for IterDPO (docs/annotate.md)."""

from __future__ import annotations

from pathlib import Path

import typer


def _app() -> typer.Typer:
    app = typer.Typer(help="Studio where people revise a model's lecture scripts page by page, for IterDPO.",
                      no_args_is_help=True)

    @app.command("init")
    def init_cmd(
        root: Path = typer.Argument(..., help="annotation root to create or add to"),
        from_run: Path = typer.Option(None, "--from-run", help="mmlw run whose slide-based (ppt_script) outputs "
                                      "mark their slides ('Slide 1', '## Slide 1', '第1页', ...)"),
        major: str = typer.Option(None, "--major", help="folder the run's courses go in (default: the run's "
                                  "directory name)"),
        images: Path = typer.Option(None, "--images", help="folder holding the run's images (searched by "
                                    "sha256) when their recorded paths are not readable from here"),
    ) -> None:
        """Create an annotation tree, or add one course per slide-based sample of a run."""
        from mmlongbench_write.annotate.from_run import init_from_run
        from mmlongbench_write.annotate.tree import STATE_DIR, Tree

        root.mkdir(parents=True, exist_ok=True)
        (root / STATE_DIR).mkdir(exist_ok=True)
        if from_run is not None:
            report = init_from_run(root, from_run, major=major, image_root=images)
            for sample_id, why in report.skipped:
                typer.echo(f"skipped {sample_id}: {why}")
            for course in report.kept:
                typer.echo(f"kept {course}: already there (never overwritten)")
            typer.echo(f"{report.summary()} -> {root}")
        courses = Tree(root).courses()
        typer.echo(f"{root}: {len(courses)} courses; next: `mmlw annotate add-user {root} NAME`")

    @app.command("add-user")
    def add_user_cmd(
        root: Path = typer.Argument(..., help="annotation root"),
        name: str = typer.Argument(..., help="annotator name (any script)"),
        rotate: bool = typer.Option(False, "--rotate", help="give an existing annotator a new token"),
    ) -> None:
        """Add an annotator; prints their access token once, as the last line (only its hash is kept)."""
        from mmlongbench_write.annotate.tree import Tree
        from mmlongbench_write.annotate.users import add_user

        tree = Tree(root)
        token = add_user(tree.root, name, rotate=rotate)
        typer.echo(f"{'new token for' if rotate else 'added'} annotator {name.strip()!r}; the token below is shown "
                   "this once (only its hash is stored):")
        typer.echo(token)

    @app.command("serve")
    def serve_cmd(
        root: Path = typer.Argument(..., help="annotation root"),
        host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (default: loopback only)"),
        port: int = typer.Option(8765, "--port", help="port (0: any free port)"),
    ) -> None:
        """Serve the studio (course list with progress, page editor with diff and autosave, JSON API)."""
        from mmlongbench_write.annotate.server import serve

        serve(root, host=host, port=port, announce=lambda line: typer.echo(line, err=False))

    @app.command("export")
    def export_cmd(
        root: Path = typer.Argument(..., help="annotation root"),
        output: Path = typer.Option(..., "--output", help="IterDPO pairs jsonl for `mmlw train dpo --iterdpo`"),
        keep_identical: bool = typer.Option(False, "--keep-identical", help="keep pairs whose two sides are "
                                            "equal (pages before the first revision); they teach nothing"),
        instruction: str = typer.Option(None, "--instruction", help="prompt of every pair (default: each course's "
                                        "instruction.txt, else a lecture-script instruction)"),
    ) -> None:
        """IterDPO pairs from the tree's revisions (what `mmlw data iterdpo-pairs --revisions ROOT` does)."""
        from mmlongbench_write.annotate.export import export_pairs

        report = export_pairs(root, output, skip_identical=not keep_identical, instruction=instruction)
        typer.echo(f"{report.summary()} -> {output}")

    return app


def register(app: typer.Typer) -> None:
    """Add ``mmlw annotate ...``."""
    app.add_typer(_app(), name="annotate")
