"""The bad-input corpus, through the real CLI in a subprocess (``python -m mmlongbench_write eval``).

Every case is one line (``error: ...``) naming what is wrong and where, exit code 2, no traceback. A bad
*sample* is also run again with ``--skip-invalid``: the run completes (exit 0) with the good sample and
the console says how many were left out and why. Bad *files* and output folders cannot be skipped.
"""

from __future__ import annotations

import io
import json
import os
import random
import resource
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

MMLW = [sys.executable, "-m", "mmlongbench_write", "eval", "--model", "scripted", "--cache", "off"]
GOOD = {"id": "good", "question": "Write a 100-word travel guide for this city.", "images": ["img/ok.png"],
        "L": 100}


def run(args: list[str], preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    return run_together([args], preexec)[0]


def run_together(arg_lists: list[list[str]], preexec: Callable[[], None] | None = None
                 ) -> list[subprocess.CompletedProcess[str]]:
    """``mmlw eval`` once per argument list, the processes running at the same time (halves the wall time)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    procs = [(args, subprocess.Popen(MMLW + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env, preexec_fn=preexec)) for args in arg_lists]
    results = []
    for args, proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(MMLW + args, proc.returncode, out, err))
    return results


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, f"exit {result.returncode}: {result.stderr}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A valid 1-bit PNG of width x height black pixels: ~110 KB on disk, 900 million pixels decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def truncated_jpeg() -> bytes:
    rng = random.Random(3)
    img = Image.frombytes("RGB", (64, 64), bytes(rng.randrange(256) for _ in range(64 * 64 * 3)))
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG")
    data = buffer.getvalue()
    return data[: len(data) // 2]  # Pillow's verify() passes this; decoding it fails


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return bomb_png()


@pytest.fixture()
def data_dir(tmp_path: Path, bomb: bytes) -> Path:
    d = tmp_path / "data"
    (d / "img" / "folder.png").mkdir(parents=True)
    Image.new("RGB", (16, 16), "red").save(d / "img" / "ok.png")
    (d / "img" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    (d / "img" / "bomb.png").write_bytes(bomb)
    (d / "img" / "cut.jpg").write_bytes(truncated_jpeg())
    os.symlink("loop.png", d / "img" / "loop.png")  # a symlink to itself
    (tmp_path / "outside.png").write_bytes((d / "img" / "ok.png").read_bytes())
    return d


@dataclass(frozen=True)
class BadSample:
    """A second row that is wrong in one field: ``raw`` is the JSON text of the row (so non-JSON-safe
    numbers like 10**400 or NaN are written exactly as a file would hold them)."""

    name: str
    raw: str
    field: str
    needle: str


def row(**fields: Any) -> str:
    return json.dumps({"id": "bad", **fields}, ensure_ascii=False)


SAMPLES = [
    BadSample("symlink loop", row(question="Write 100 words.", images=["img/loop.png"], L=100), "images",
              "symlink loop"),
    BadSample("NUL byte in path", row(question="Write 100 words.", images=["img/ok\u0000.png"], L=100), "images",
              "NUL byte"),
    BadSample("300-character name", row(question="Write 100 words.", images=["img/" + "n" * 300 + ".png"], L=100),
              "images", "File name too long"),
    BadSample("decompression bomb", row(question="Write 100 words.", images=["img/bomb.png"], L=100), "images",
              "too large"),
    BadSample("truncated JPEG", row(question="Write 100 words.", images=["img/cut.jpg"], L=100), "images",
              "truncated"),
    BadSample("corrupt PNG", row(question="Write 100 words.", images=["img/broken.png"], L=100), "images",
              "corrupt"),
    BadSample("missing image", row(question="Write 100 words.", images=["img/none.png"], L=100), "images",
              "not found"),
    BadSample("image is a folder", row(question="Write 100 words.", images=["img/folder.png"], L=100), "images",
              "directory"),
    BadSample("path escapes the data folder", row(question="Write 100 words.", images=["../outside.png"], L=100),
              "images", "outside the data directory"),
    BadSample("bad base64", row(question="Write 100 words.", images=["data:image/png;base64,@@@"], L=100),
              "images", "base64"),
    BadSample("image of the wrong type", row(question="Write 100 words.", images=[12], L=100), "images",
              "not a path or bytes"),
    BadSample("L inf", row(question="Write 100 words.", L="inf"), "L", "not a finite number"),
    BadSample("L 1e400", '{"id": "bad", "question": "Write 100 words.", "L": 1e400}', "L", "not a finite number"),
    BadSample("L 10**400", '{"id": "bad", "question": "Write 100 words.", "L": 1' + "0" * 400 + "}", "L",
              "above the maximum of 100,000"),
    BadSample("L above the maximum", row(question="Write 100 words.", L=250000), "L", "above the maximum"),
    BadSample("L a boolean", row(question="Write 100 words.", L=True), "L", "not a number"),
    BadSample("L negative", row(question="Write 100 words.", L=-5), "L", "positive whole number"),
    BadSample("L not a number", row(question="Write 100 words.", L="lots"), "L", "not a number"),
    BadSample("L absurd in the instruction", row(question="Write a 900000000-word essay."), "L",
              "above the maximum"),
    BadSample("no L anywhere", row(question="Write an essay."), "L", "states none"),
    BadSample("empty instruction", row(question="   ", L=100), "question", "missing or empty"),
    BadSample("unknown language", row(question="Write 100 words.", L=100, language="fr"), "language", "not en or zh"),
    BadSample("duplicate id", json.dumps({**GOOD, "L": 200}), "id", "duplicate"),
]


@pytest.mark.parametrize("case", SAMPLES, ids=[c.name for c in SAMPLES])
def test_bad_sample_is_one_line_and_skippable(case: BadSample, data_dir: Path, tmp_path: Path) -> None:
    data = data_dir / "data.jsonl"
    data.write_text(json.dumps(GOOD) + "\n" + case.raw + "\n", encoding="utf-8")
    stopped, skipped = run_together([["--data", str(data), "--output", str(tmp_path / "stopped")],
                                     ["--data", str(data), "--output", str(tmp_path / "runs"), "--skip-invalid"]])
    line = one_error_line(stopped)
    sample_id = "good" if case.field == "id" else "bad"
    assert f"sample '{sample_id}', field '{case.field}'" in line and case.needle in line, line
    assert len(line) < 400, line  # a 300-character name is shortened, not pasted whole

    assert skipped.returncode == 0 and "Traceback" not in skipped.stderr, skipped.stderr
    assert f"left out 1 invalid sample (--skip-invalid): sample '{sample_id}', field '{case.field}'" in \
        skipped.stderr, skipped.stderr
    (run_json,) = (tmp_path / "runs").glob("*/run.json")
    assert json.loads(run_json.read_text())["dataset"]["excluded"]["invalid"]["count"] == 1


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` made unwritable for this process: mode 0555, and (as root, who ignores modes) immutable."""
    folder.chmod(0o555)
    immutable = False
    try:
        probe = folder / "probe"
        try:
            probe.write_text("x")
        except OSError:
            pass
        else:  # root: permission bits do not bind
            probe.unlink()
            chattr = shutil.which("chattr")
            made = subprocess.run([chattr, "+i", str(folder)], capture_output=True) if chattr else None
            immutable = made is not None and made.returncode == 0
            if not immutable:
                pytest.skip("cannot make a read-only folder here (root without chattr +i)")
        yield
    finally:
        if immutable:
            subprocess.run([shutil.which("chattr") or "chattr", "-i", str(folder)], capture_output=True)
        folder.chmod(0o755)


def no_bigger_files() -> None:
    """In the child: the kernel refuses to grow any file past 1 KiB (EFBIG, as a full disk refuses with ENOSPC)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))


def good_data(data_dir: Path) -> Path:
    data = data_dir / "data.jsonl"
    data.write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    return data


def test_output_naming_a_file(data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "results.txt"
    target.write_text("not a folder")
    line = one_error_line(run(["--data", str(good_data(data_dir)), "--output", str(target)]))
    assert "is a file, not a folder" in line and str(target) in line


def test_read_only_output_folder(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    with read_only(out):
        line = one_error_line(run(["--data", str(good_data(data_dir)), "--output", str(out)]))
    assert "cannot create the output folder" in line and str(out) in line
    assert "permission denied" in line or "Operation not permitted" in line, line


def test_output_folder_that_takes_no_more_bytes(data_dir: Path, tmp_path: Path) -> None:
    line = one_error_line(run(["--data", str(good_data(data_dir)), "--output", str(tmp_path / "full")],
                              preexec=no_bigger_files))
    assert "cannot write to the output folder" in line and "File too large" in line, line


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("bad.jsonl", b'{"question": "Write 100 words.", "L": 100}\n{not json\n', "line 2 is not valid JSON"),
        ("latin1.jsonl", '{"question": "Écris 100 mots.", "L": 100}\n'.encode("latin-1"), "not UTF-8"),
        ("garbage.parquet", b"PAR1 not really parquet", "cannot read parquet"),
        ("cells.csv", b"question,L\nWrite 100 words.,100,extra\n", "more cells than the header"),
        ("empty.jsonl", b"\n\n", "has no rows"),
    ],
)
def test_bad_data_file_is_one_line(tmp_path: Path, name: str, content: bytes, needle: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    line = one_error_line(run(["--data", str(path), "--output", str(tmp_path / "runs")]))
    assert needle in line and name in line, line


def test_data_path_symlink_loop_and_long_name(tmp_path: Path) -> None:
    os.symlink("loop.jsonl", tmp_path / "loop.jsonl")
    assert "symlink loop" in one_error_line(run(["--data", str(tmp_path / "loop.jsonl"), "--output",
                                                 str(tmp_path / "runs")]))
    long_name = str(tmp_path / ("d" * 300 + ".jsonl"))
    line = one_error_line(run(["--data", long_name, "--output", str(tmp_path / "runs")]))
    assert "File name too long" in line and len(line) < 300, line
