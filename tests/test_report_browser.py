"""The HTML report: self-contained, size-bounded, and working in a real headless Chromium.

The browser test drives Debian's Chromium (/usr/bin/chromium) through Python Playwright. It is skipped
only when the browser is missing and MMLW_REQUIRE_BROWSER is not set (CI sets it, so a missing
browser fails there). The screenshot goes to test-artifacts/report.png.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from runfactory import make_run

from mmlongbench_write.cli import main

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
N_REPORTED = 13
N_MEASURED = 6


def _images(tmp_path: Path) -> list[str]:
    from PIL import Image, ImageDraw

    paths = []
    for i, color in enumerate(["#3366aa", "#aa6633", "#33aa66"]):
        im = Image.new("RGB", (320, 240), color)
        ImageDraw.Draw(im).rectangle([40, 40, 200, 160], fill="white")
        p = tmp_path / f"img{i}.png"
        im.save(p)
        paths.append(str(p))
    return paths


@pytest.fixture()
def report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    runs = tmp_path / "runs"
    sources = _images(tmp_path)
    folder = str(tmp_path)  # the runs' data folder: thumbnails are read from inside it only
    make_run(runs, label="good", per_task=2, image_sources=sources, truncate_every=5, dataset_source=folder)
    make_run(runs, label="short", per_task=2, length_ratio=0.5, seed=1, judge_failures=1, image_sources=sources,
             dataset_source=folder)
    make_run(runs, label="long", per_task=2, length_ratio=1.7, seed=2, image_sources=sources, dataset_source=folder)
    make_run(runs, label="good-ruler", ruler=True, seed=3)
    # two real runs of the bundled mini set (scripted model, length judge): thumbnails of the mini images
    for ratio in ("1.0", "0.5"):
        main(["eval", "--model", "scripted", "--model-args", f"length_ratio={ratio}", "--data", "mini",
              "--output", str(runs), "--label", f"scripted-mini-x{ratio}"])
    pair = {
        "type": "pairwise",
        "a": {"run_id": "x", "label": "good"},
        "b": {"run_id": "y", "label": "short"},
        "judge": {"model": "gpt-4o"},
        "n": 12,
        "a_wins": 8,
        "b_wins": 3,
        "ties": 1,
        "a_win_rate": 0.667,
        "b_win_rate": 0.25,
        "tie_rate": 0.083,
        "ci95": {},
        "items": [],
    }
    (tmp_path / "pair.json").write_text(json.dumps(pair))
    out = tmp_path / "report.html"
    main(
        [
            "leaderboard",
            str(runs),
            "--reported",
            "--format",
            "html",
            "--output",
            str(out),
            "--pairwise",
            str(tmp_path / "pair.json"),
        ]
    )
    assert "wrote" in capsys.readouterr().out
    return out


def test_report_is_self_contained(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "no external resources"
    assert "<script src" not in text and "<link" not in text
    assert text.count('<tr class="measured"') >= N_MEASURED and text.count('<tr class="reported"') == N_REPORTED
    # three settings (synthetic runs, the ruler run, the mini runs) and the paper's rows: four ranked tables
    assert text.count('class="sortable leaderboard"') == 4
    assert text.count('class="plot"') == 5  # scatter, ruler, tasks, dimensions, win rate
    assert "data:image/jpeg;base64," in text  # thumbnails of readable source images
    assert '<details class="sample">' in text and "truncated</span>" in text and "judge failed" in text
    assert len(text.encode()) < 5_000_000


def _require_browser() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("MMLW_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing but MMLW_REQUIRE_BROWSER is set")
        pytest.skip(f"{CHROMIUM} not installed")


@pytest.mark.browser
def test_report_in_chromium(report: Path) -> None:
    _require_browser()
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri())
            page.wait_for_load_state("load")

            rows = page.locator("table.leaderboard tbody tr")
            assert rows.count() == N_MEASURED + N_REPORTED
            assert page.locator("table.leaderboard tbody tr.reported").count() == N_REPORTED
            assert "reported" in page.locator("table.leaderboard tbody tr.reported").first.inner_text()
            first = "#leaderboard-0"  # the three synthetic runs of one setting

            def column(name: str) -> list[float | None]:
                idx = page.locator(f"{first} thead th").all_inner_texts().index(name)
                vals = page.eval_on_selector_all(
                    f"{first} tbody tr", f"rs => rs.map(r => r.cells[{idx}].getAttribute('data-sort'))"
                )
                return [float(v) if v else None for v in vals]

            page.click(f"{first} thead th:has-text('S_l') >> nth=0")
            s_l = [v for v in column("S_l") if v is not None]
            assert s_l == sorted(s_l, reverse=True) and len(s_l) == 3
            page.click(f"{first} thead th:has-text('S_l') >> nth=0")
            s_l_up = [v for v in column("S_l") if v is not None]
            assert s_l_up == sorted(s_l) and s_l_up != s_l
            assert page.locator(f"{first} thead th[aria-sort='ascending']").count() == 1

            page.uncheck("#toggle-reported")
            assert page.locator("table.leaderboard tbody tr.reported").first.is_hidden()
            page.check("#toggle-reported")

            plots = page.locator("img.plot")
            assert plots.count() == 5
            widths = page.eval_on_selector_all("img.plot", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            assert all(w > 0 for w in widths), widths

            mini = page.locator("details.run", has_text="scripted-mini-x1.0")
            mini.evaluate("d => d.open = true")
            mini.locator("details.sample").first.evaluate("d => d.open = true")
            page.wait_for_function(
                "() => [...document.querySelectorAll('details.sample[open] img[data-sha]')]"
                ".some(i => i.complete && i.naturalWidth > 0)"
            )

            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
            assert not [u for u in requests if not u.startswith(("file:", "data:"))], requests
        finally:
            browser.close()
    assert not errors, errors
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def _tamper(run: Path, outside: Path) -> None:
    """What a hostile sharer of a run folder can do to its files."""
    results = json.loads((run / "results.json").read_text())
    results["scores"]["by_task"]["<img src=x onerror=window.PWNED='task'>"] = {"S_l": {"mean": 1, "ci95": None}}
    (run / "results.json").write_text(json.dumps(results))
    meta = json.loads((run / "run.json").read_text())
    meta["label"] = "<script>window.PWNED='label'</script>"
    (run / "run.json").write_text(json.dumps(meta))
    lines = (run / "samples.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    rows[0]["images"][0]["sha256"] = "</script><script>window.PWNED='sha'</script>"
    import hashlib

    # a real image outside the data folder, named with its true hash: still never read
    rows[1]["images"][0] = {"sha256": hashlib.sha256(outside.read_bytes()).hexdigest(), "source": str(outside),
                            "media_type": "image/png"}
    rows[0]["response"] = "<script>window.PWNED='response'</script>"
    rows[0]["task"] = "<img src=x onerror=window.PWNED='row'>"
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # results.json names the samples.jsonl it summarises; a tamperer who wants the run shown updates that too
    results["summary_of"]["samples_sha256"] = hashlib.sha256((run / "samples.jsonl").read_bytes()).hexdigest()
    (run / "results.json").write_text(json.dumps(results))


@pytest.mark.browser
def test_a_tampered_run_runs_no_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _require_browser()
    from playwright.sync_api import sync_playwright

    runs = tmp_path / "runs"
    data = tmp_path / "data"
    data.mkdir()
    sources = _images(data)
    from PIL import Image

    secret = tmp_path / "secret.png"
    Image.new("RGB", (64, 64), "#ff0000").save(secret)  # a valid image, but outside the data folder
    tampered = make_run(runs, label="victim", per_task=1, image_sources=sources, dataset_source=str(data))
    make_run(runs, label="fine", per_task=1, seed=1, image_sources=sources, dataset_source=str(data))
    _tamper(tampered, secret)
    refused = make_run(runs, label="refused", per_task=1, seed=2, image_sources=sources, dataset_source=str(data))
    results = json.loads((refused / "results.json").read_text())
    results["n_samples"] = "<img src=x onerror=\"window.PWNED='n_samples'\">"  # a count that is not a number
    (refused / "results.json").write_text(json.dumps(results))
    out = tmp_path / "report.html"
    main(["leaderboard", str(runs), "--format", "html", "--output", str(out)])
    capsys.readouterr()
    text = out.read_text(encoding="utf-8")
    import hashlib

    assert "<script>window.PWNED" not in text and "<img src=x" not in text
    assert hashlib.sha256(secret.read_bytes()).hexdigest() not in text.split("window.MMLW_THUMBS")[1]
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu",
                                    "--disable-background-networking", "--disable-component-update",
                                    "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(out.as_uri())
            page.wait_for_load_state("load")
            page.eval_on_selector_all("details", "ds => ds.forEach(d => d.open = true)")
            page.wait_for_timeout(200)
            assert page.evaluate("() => window.PWNED === undefined")
            body = page.inner_text("body")  # the hostile strings are shown as text, never run
            assert "<script>window.PWNED='label'</script>" in body and "<script>window.PWNED='response'" in body
            assert "refused" in body and "n_samples" in body  # left out, with the reason, as text
            assert page.locator("img[data-sha]").count() >= 1  # the untampered images still get thumbnails
        finally:
            browser.close()
    assert not errors, errors
