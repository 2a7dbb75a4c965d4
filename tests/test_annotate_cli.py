"""`mmlw annotate init | add-user | export` on real runs of the scripted model (local data and the mini set)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from annotate_helpers import EN_COURSE, EN_MAJOR, make_tree
from training_helpers import make_png

from mmlongbench_write.cli import main

SLIDES_3 = ("Hello, everyone.\n\n## Slide 1: 光\nLight travels in straight lines.\n\n## Slide 2: Lenses\n"
            "Lenses bend light.\n\n## Slide 3: Summary\nThat is all.\n")


def _local_data(folder: Path) -> Path:
    """Three samples with their own images: two lecture decks of 3 slides and one travel guide."""
    rows = []
    for k, (sample_id, task) in enumerate([("deck/光学-1", "ppt_script"), ("deck-2", "ppt_script"),
                                           ("trip", "travel_guide")]):
        images = [make_png(folder / "images" / f"{k}-{i}.png", 10 * k + i).relative_to(folder).as_posix()
                  for i in range(3)]
        rows.append({"id": sample_id, "question": f"Write a 300-word text for these images ({k}).",
                     "images": images, "L": 300, "task": task, "language": "en"})
    path = folder / "data.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _scripted_run(tmp_path: Path, reply: str, data: str, label: str) -> Path:
    config = tmp_path / f"{label}.yaml"
    config.write_text(yaml.safe_dump({"model": "scripted", "model_args": {"reply": reply}, "data": data,
                                      "output": str(tmp_path / "runs"), "label": label}), encoding="utf-8")
    main(["eval", "--config", str(config), "--judge", "length"])
    (run,) = [p.parent for p in (tmp_path / "runs").glob("*/run.json") if p.parent.name.startswith(label)]
    return run


def test_init_from_a_run_with_local_images(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    data = _local_data(tmp_path / "data")
    run = _scripted_run(tmp_path, SLIDES_3, str(data), "slides")
    monkeypatch.chdir(tmp_path)  # the run recorded paths relative to the data file, not readable from here
    capsys.readouterr()
    root = tmp_path / "root"
    with pytest.raises(SystemExit) as exit_info:
        main(["annotate", "init", str(root), "--from-run", str(run)])
    assert exit_info.value.code == 2 and "not found; pass --images DIR" in capsys.readouterr().err
    main(["annotate", "init", str(root), "--from-run", str(run), "--major", "光学课", "--images", str(data.parent)])
    out = capsys.readouterr().out
    assert "2 courses created" in out and "1 samples of other tasks ignored" in out
    course = root / "光学课" / "deck_光学-1"  # '/' in a sample id becomes '_'
    assert sorted(p.name for p in (course / "scripts").iterdir()) == ["1.txt", "2.txt", "3.txt"]
    assert (course / "scripts" / "1.txt").read_text(encoding="utf-8") == (
        "Hello, everyone.\n\n## Slide 1: 光\nLight travels in straight lines.\n")
    for i in range(3):  # the exact bytes the model saw
        assert (course / "pngs" / f"{i + 1}.png").read_bytes() == (data.parent / "images" / f"0-{i}.png").read_bytes()
    assert "300-word" in (course / "instruction.txt").read_text()
    assert json.loads((course / "source.json").read_text())["sample_id"] == "deck/光学-1"

    # a second init keeps what is there (revisions are people's work)
    (course / "annotated_scripts").mkdir()
    (course / "annotated_scripts" / "2.txt").write_text("Lenses bend light by refraction.", encoding="utf-8")
    main(["annotate", "init", str(root), "--from-run", str(run), "--major", "光学课", "--images", str(data.parent)])
    assert "kept 光学课/deck_光学-1" in capsys.readouterr().out
    assert (course / "annotated_scripts" / "2.txt").read_text() == "Lenses bend light by refraction."


def test_init_refuses_changed_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _local_data(tmp_path / "data")
    run = _scripted_run(tmp_path, SLIDES_3, str(data), "slides")
    make_png(data.parent / "images" / "0-1.png", 99)  # not what the model saw any more
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["annotate", "init", str(tmp_path / "root"), "--from-run", str(run), "--images", str(data.parent)])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "changed since the run" in err and "deck/光学-1" in err


def test_init_refuses_a_run_without_slide_markers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _scripted_run(tmp_path, "One long lecture with no headings at all.", "mini", "plain")
    capsys.readouterr()
    root = tmp_path / "root"
    with pytest.raises(SystemExit) as exit_info:
        main(["annotate", "init", str(root), "--from-run", str(run)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and err.startswith("error: ")
    assert "no output marks its slides" in err and "no slide markers" in err and "docs/annotate.md" in err
    assert not [p for p in root.iterdir() if not p.name.startswith(".")]


def test_init_from_the_mini_set_regenerates_its_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mmlongbench_write.data.mini import mini_raw_data

    reply = "\n".join(f"## Slide {i}\nPart {i} of the rainwater lecture." for i in range(1, 5))
    run = _scripted_run(tmp_path, reply, "mini", "mini4")
    root = tmp_path / "root"
    main(["annotate", "init", str(root), "--from-run", str(run), "--major", "rain"])
    out = capsys.readouterr().out
    assert "skipped mini-ppt_script-zh: 4 slide markers for 5 slide images" in out
    row = next(r for r in mini_raw_data().rows if r["id"] == "mini-ppt_script-en")
    pngs = root / "rain" / "mini-ppt_script-en" / "pngs"
    assert [hashlib.sha256((pngs / f"{i}.png").read_bytes()).hexdigest() for i in range(1, 5)] == [
        hashlib.sha256(b).hexdigest() for b in row["images"]]


def test_add_user_prints_the_token_once_as_the_last_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_tree(tmp_path / "root")
    main(["annotate", "add-user", str(root), "王芳"])
    lines = capsys.readouterr().out.splitlines()
    token = lines[-1]
    assert len(token) >= 40 and " " not in token and token not in "\n".join(lines[:-1])
    users = json.loads((root / ".mmlw-annotate" / "users.json").read_text(encoding="utf-8"))["users"]
    assert users["王芳"]["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (root / ".mmlw-annotate" / "users.json").read_text(encoding="utf-8")
    with pytest.raises(SystemExit):
        main(["annotate", "add-user", str(root), "王芳"])
    assert "already exists" in capsys.readouterr().err
    main(["annotate", "add-user", str(root), "王芳", "--rotate"])
    assert capsys.readouterr().out.splitlines()[-1] != token
    with pytest.raises(SystemExit):
        main(["annotate", "add-user", str(tmp_path / "missing"), "x"])
    assert "not a directory" in capsys.readouterr().err


def test_export_refuses_an_unrevised_tree_then_writes_pairs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_tree(tmp_path / "root")
    out = tmp_path / "pairs.jsonl"
    with pytest.raises(SystemExit):
        main(["annotate", "export", str(root), "--output", str(out)])
    assert "no page is revised yet" in capsys.readouterr().err and not out.exists()
    course = root / EN_MAJOR / EN_COURSE
    (course / "annotated_scripts").mkdir()
    (course / "annotated_scripts" / "2.txt").write_text("Slide 2: Lenses bend light by refraction.")
    (root / EN_MAJOR / ".half-built.init-x" / "scripts").mkdir(parents=True)  # hidden: never a course
    main(["annotate", "export", str(root), "--output", str(out)])
    assert "1 pairs from 2 scripts (5 pages, 1 revised), 4 identical pairs skipped" in capsys.readouterr().out
    (pair,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert pair["course"] == f"{EN_MAJOR}/{EN_COURSE}" and pair["page"] == 2
    assert pair["chosen"].endswith("by refraction.") and pair["rejected"].endswith("Lenses bend light.")
    assert pair["images"] == [str((course / "pngs" / f"{i}.png").resolve()) for i in (1, 2)]
    assert pair["prompt"] == "Write the lecture script, one part per slide."
    main(["annotate", "export", str(root), "--output", str(out), "--keep-identical"])
    assert len(out.read_text().splitlines()) == 5
