"""``mmlw annotate export``: the tree's revisions as IterDPO pairs, through ``training.iterdpo``.

The courses are the ones the studio shows (``<major>/<course>``, hidden folders skipped, nothing leading
out of ROOT), each read by ``iterdpo.read_course_dir`` as ``mmlw data iterdpo-pairs`` reads it. Image paths
in the pairs are absolute (``iterdpo.write_pairs``, as ``mmlw data iterdpo-pairs`` writes them), so
``mmlw train dpo`` finds them from any folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mmlongbench_write.errors import MMLWError

from .tree import Tree

if TYPE_CHECKING:
    from mmlongbench_write.training.iterdpo import IterDPOReport


def export_pairs(root: str | Path, output: Path, *, skip_identical: bool = True,
                 instruction: str | None = None) -> IterDPOReport:
    """Write the pairs to ``output`` and return what went in.

    Refuses (one line) a tree with no revised page, rather than writing pairs that teach nothing.
    """
    from mmlongbench_write.training.iterdpo import IterDPOReport, iterdpo_pairs, read_course_dir, write_pairs

    tree = Tree(root)
    courses = tree.courses()
    if not courses:
        raise MMLWError(f"{root}: no courses (expected <major>/<course>/scripts/<i>.txt)")
    scripts = [read_course_dir(tree.course_dir(m, c), f"{m}/{c}") for m, c in courses]
    report = IterDPOReport()
    pairs = list(iterdpo_pairs(scripts, instruction=instruction, skip_identical=skip_identical, report=report))
    if report.revised_pages == 0:
        raise MMLWError(f"{root}: no page is revised yet, so there is nothing to learn from; nothing written")
    write_pairs(output, pairs)
    return report
