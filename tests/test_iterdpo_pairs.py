"""IterDPO pair building: N pairs per N-page script, right images, numeric order, fallbacks, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_helpers import make_png, revision_dir

from mmlongbench_write.cli import main
from mmlongbench_write.errors import DataError
from mmlongbench_write.training.iterdpo import IterDPOReport, iterdpo_pairs, read_revisions


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_fixture_pairs_images_and_fallback(tmp_path: Path) -> None:
    root = revision_dir(tmp_path)
    report = IterDPOReport()
    pairs = list(iterdpo_pairs(read_revisions(root), joiner="\n\n", report=report))
    assert report.courses == 2 and report.pages == 7 and report.revised_pages == 5
    assert len(pairs) == 7  # N pairs for N pages
    assert {p["course"] for p in pairs} == {"cs/algorithms", "bio/cells"}
    algo = [p for p in pairs if p["course"] == "cs/algorithms"]
    assert [p["page"] for p in algo] == [1, 2, 3, 4]
    for p in algo:
        assert p["images"] == [str(root / "cs/algorithms/pngs" / f"{i}.png") for i in range(1, p["page"] + 1)]
        assert len(p["chosen"].split("\n\n")) == p["page"] == len(p["rejected"].split("\n\n"))
        assert set(p) == {"images", "prompt", "chosen", "rejected", "course", "page"}
    # page 3 of cs/algorithms is unrevised: the chosen side falls back to the original page
    original_3 = (root / "cs/algorithms/scripts/3.txt").read_text().strip()
    assert algo[2]["chosen"].split("\n\n")[2] == original_3
    assert algo[3]["chosen"].split("\n\n")[3].startswith("Slide 4 explains")
    # bio/cells page 1 is unrevised, so its first pair is identical (kept by default, reported)
    cells = [p for p in pairs if p["course"] == "bio/cells"]
    assert cells[0]["chosen"] == cells[0]["rejected"]
    assert report.identical == 1 and report.skipped_identical == 0


def test_skip_identical_and_joiner(tmp_path: Path) -> None:
    root = revision_dir(tmp_path)
    report = IterDPOReport()
    pairs = list(iterdpo_pairs(read_revisions(root), joiner=" || ", skip_identical=True, report=report))
    assert len(pairs) == 6 and report.skipped_identical == 1
    assert "identical pairs skipped" in report.summary()
    assert all(p["chosen"] != p["rejected"] for p in pairs)
    four = next(p for p in pairs if p["course"] == "cs/algorithms" and p["page"] == 4)
    assert four["chosen"].count(" || ") == 3


def test_numeric_page_order(tmp_path: Path) -> None:
    course = tmp_path / "rev" / "math" / "calculus"
    for i in range(1, 12):
        (course / "scripts").mkdir(parents=True, exist_ok=True)
        (course / "scripts" / f"{i}.txt").write_text(f"original {i}")
        make_png(course / "pngs" / f"{i}.png", i)
    (course / "annotated_scripts").mkdir()
    (course / "annotated_scripts" / "10.txt").write_text("revised ten")
    pairs = list(iterdpo_pairs(read_revisions(tmp_path / "rev")))
    assert len(pairs) == 11
    last = pairs[-1]
    assert [Path(p).stem for p in last["images"]] == [str(i) for i in range(1, 12)]
    assert last["rejected"].split("\n\n") == [f"original {i}" for i in range(1, 12)]
    assert last["chosen"].split("\n\n")[9] == "revised ten"  # page 10 comes after page 9
    assert pairs[9]["page"] == 10 and pairs[9]["images"][-1].endswith("10.png")


def test_jsonl_input_matches_directory(tmp_path: Path) -> None:
    root = revision_dir(tmp_path)
    lines = []
    for course in ("cs/algorithms", "bio/cells"):
        d = root / course
        pages = []
        for txt in sorted((d / "scripts").glob("*.txt"), key=lambda p: int(p.stem)):
            rev = d / "annotated_scripts" / txt.name
            pages.append({"image": str(d / "pngs" / f"{txt.stem}.png"), "original": txt.read_text(),
                          "revised": rev.read_text() if rev.exists() else None})
        lines.append(json.dumps({"course": course, "pages": pages}))
    src = tmp_path / "revisions.jsonl"
    src.write_text("\n".join(lines) + "\n")
    from_dir = sorted(iterdpo_pairs(read_revisions(root)), key=lambda p: (p["course"], p["page"]))
    from_jsonl = sorted(iterdpo_pairs(read_revisions(src)), key=lambda p: (p["course"], p["page"]))
    assert from_dir == from_jsonl


def test_missing_image_is_a_data_error(tmp_path: Path) -> None:
    root = revision_dir(tmp_path)
    (root / "bio/cells/pngs/2.png").unlink()
    with pytest.raises(DataError, match="no image for page 2"):
        read_revisions(root)


def test_cli_writes_pairs_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = revision_dir(tmp_path)
    out = tmp_path / "pairs.jsonl"
    main(["data", "iterdpo-pairs", "--revisions", str(root), "--output", str(out), "--skip-identical",
          "--instruction", "Write the lecture script."])
    rows = _rows(out)
    assert len(rows) == 6 and all(r["prompt"] == "Write the lecture script." for r in rows)
    assert "6 pairs from 2 scripts" in capsys.readouterr().out
    share = tmp_path / "pairs-sharegpt.jsonl"
    main(["data", "iterdpo-pairs", "--revisions", str(root), "--output", str(share), "--sharegpt"])
    first = _rows(share)[0]
    assert first["conversations"][0]["value"].count("<image>") == len(first["images"])


def test_documented_flow_keeps_every_pair_wherever_the_file_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmlongbench_write.training.formats import load_training_rows

    revision_dir(tmp_path)  # tmp_path/revisions
    monkeypatch.chdir(tmp_path)
    for output in ("iterdpo.jsonl", "data/pairs/iterdpo.jsonl"):
        for sharegpt in ([], ["--sharegpt"]):
            main(["data", "iterdpo-pairs", "--revisions", "revisions", "--output", output, *sharegpt])
            assert all(Path(image).is_absolute() for row in _rows(Path(output)) for image in row["images"])
            _, report = load_training_rows([output], "dpo")
            assert (report.read, report.kept, dict(report.rejected)) == (7, 7, {})
    monkeypatch.chdir(tmp_path / "revisions")  # the trainer runs from another folder
    _, report = load_training_rows([tmp_path / "data/pairs/iterdpo.jsonl"], "dpo")
    assert report.kept == 7


def test_a_revision_without_an_original_names_the_page(tmp_path: Path) -> None:
    root = revision_dir(tmp_path)
    (root / "bio/cells/scripts/2.txt").unlink()
    (root / "bio/cells/annotated_scripts").mkdir(exist_ok=True)
    (root / "bio/cells/annotated_scripts/2.txt").write_text("a revised page two")
    with pytest.raises(DataError, match=r"page 2 of course 'bio/cells' has a revision but no original"):
        read_revisions(root)


def test_hidden_folders_are_not_courses(tmp_path: Path) -> None:
    import shutil

    root = revision_dir(tmp_path)
    shutil.copytree(root / "cs/algorithms", root / ".history/cs/algorithms")
    shutil.copytree(root / "bio/cells", root / ".mmlw/snapshots/bio/cells")
    shutil.copytree(root / "bio/cells", root / "bio/.cells-backup")
    courses = [script.course for script in read_revisions(root)]
    assert courses == ["bio/cells", "cs/algorithms"]
