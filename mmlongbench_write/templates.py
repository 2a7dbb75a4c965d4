"""Prompt templates a user can point at: loading, checking placeholders, verbatim substitution.

Every prompt mmlw sends on the user's behalf (judge, captioner, caption+LLM writer, agentwrite planner
and writer) can be replaced by a file that uses the authors' ``$NAME$`` placeholder convention. A user
template is substituted verbatim — exact reproduction is its point — so nothing here rewrites its text.

``--prompts-from DIR`` takes a checkout of the authors' repository and picks each template from its place
there (:data:`AUTHORS_PROMPT_FILES`); mmlw never ships their text, users bring it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

#: Where each template lives in a checkout of the authors' repository (THU-KEG/LongWriter-V).
AUTHORS_PROMPT_FILES: dict[str, str] = {
    "judge": "eval/prompts/eval_quality.txt",
    "caption": "eval/prompts/caption.txt",
    "writer": "eval/prompts/llm_generate.txt",
    "plan": "agentwrite/prompts/plan.txt",
    "write": "agentwrite/prompts/write.txt",
}

#: The placeholders each kind of template must contain (the authors' names).
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "judge": ("$INST$", "$RESPONSE$"),
    "caption": (),
    "writer": ("$QUESTION$", "$CAPTIONS$"),
    "plan": ("$INST$",),
    "write": ("$INST$", "$PLAN$", "$TEXT$", "$STEP$"),
}


@dataclass(frozen=True)
class PromptTemplate:
    """A template's text, where it came from (``builtin:<name>`` or a file name) and its SHA-256."""

    text: str
    source: str

    @property
    def sha256(self) -> str:
        return prompt_hash(self.text)

    def fill(self, values: Mapping[str, str]) -> str:
        return fill_template(self.text, values)


def prompt_hash(template: str) -> str:
    return hashlib.sha256(template.encode("utf-8")).hexdigest()


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """Substitute ``$NAME$`` placeholders verbatim in one pass (a value containing ``$INST$`` stays as is)."""
    if not values:
        return template
    pattern = re.compile("|".join(re.escape(k) for k in sorted(values, key=len, reverse=True)))
    return pattern.sub(lambda m: values[m.group(0)], template)


def read_template(path: str | Path, placeholders: Sequence[str], flag: str) -> PromptTemplate:
    """A user's template file, which must exist, be UTF-8 text and hold every placeholder.

    Args:
        path: the file.
        placeholders: what it must contain, e.g. ``("$INST$", "$RESPONSE$")``.
        flag: the option that named it, for the error line (``--judge-prompt``).
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{flag}: no such file {path}")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{flag} {path}: cannot read the template ({exc})") from None
    missing = [p for p in placeholders if p not in text]
    if missing:
        raise ConfigError(f"{flag} {path}: template lacks the placeholder(s) {', '.join(missing)}")
    return PromptTemplate(text=text, source=file.name)


def authors_prompt_paths(checkout: str | Path, kinds: Sequence[str] | None = None) -> dict[str, Path]:
    """The template files of ``kinds`` (default: all) in a checkout of the authors' repository.

    A missing file is one error line naming the file it expected, so a wrong folder is obvious.
    """
    root = Path(checkout)
    if not root.is_dir():
        raise ConfigError(f"--prompts-from: no such directory {checkout}")
    found: dict[str, Path] = {}
    for kind in kinds or AUTHORS_PROMPT_FILES:
        path = root / AUTHORS_PROMPT_FILES[kind]
        if not path.is_file():
            raise ConfigError(
                f"--prompts-from {checkout}: no {AUTHORS_PROMPT_FILES[kind]} there (expected a checkout of "
                "THU-KEG/LongWriter-V)"
            )
        found[kind] = path
    return found


def user_template(kind: str, path: str | Path | None, prompts_from: str | Path | None,
                  flag: str) -> PromptTemplate | None:
    """The template of ``kind`` the user chose: ``flag``'s file, else ``--prompts-from``'s, else None.

    An explicit file wins over the checkout, so one template of the authors' can be swapped alone.
    """
    if path is not None:
        return read_template(path, PLACEHOLDERS[kind], flag=flag)
    if prompts_from is None:
        return None
    found = authors_prompt_paths(prompts_from, [kind])[kind]
    return read_template(found, PLACEHOLDERS[kind], flag=f"{flag} (from --prompts-from {prompts_from})")
