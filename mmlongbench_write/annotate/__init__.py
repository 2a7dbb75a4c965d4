"""The annotation studio: people revise a model's lecture scripts page by page, for IterDPO.

The tree on disk is the layout ``mmlw data iterdpo-pairs`` reads (and the LongWriter-V authors' platform
writes): ``ROOT/<major>/<course>/pngs/<i>.png`` (slide), ``scripts/<i>.txt`` (the model's page) and
``annotated_scripts/<i>.txt`` (the revision). The studio adds ``<course>/history/<i>.jsonl`` (every save:
who, when, the text it replaced) and ``ROOT/.mmlw-annotate/users.json`` (annotators and token hashes).

Modules: :mod:`.tree` (names, confinement to ROOT, courses and pages), :mod:`.storage` (atomic saves,
history, stale-base refusal), :mod:`.users` (tokens), :mod:`.from_run` (a tree from an mmlw run),
:mod:`.server` (the Starlette app and its JSON API; needs the ``annotate`` extra). See docs/annotate.md.
"""

from __future__ import annotations
