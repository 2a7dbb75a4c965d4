"""The studio page in a real headless Chromium (Debian's /usr/bin/chromium through Playwright).

Sign in with a token, edit a page, see autosave, reload and find the revision, keyboard navigation, no
console errors and no request leaving 127.0.0.1; hostile revision text shown as text; a conflicting save
refused with the newer text shown. Skipped only when the browser is missing and MMLW_REQUIRE_BROWSER is
unset (CI sets it). The page-view screenshot goes to test-artifacts/annotate-page.png.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from annotate_helpers import Studio, new_user, page_path

from mmlongbench_write.cli import main

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
LECTURE = """Good morning, everyone. Today we look at how a city deals with heavy rain.

## Slide 1: Urban rainwater
Cities flood when rain cannot soak into the ground. We will see why, and what can be done.

## Slide 2: Hard and soft surfaces
Roofs, roads and car parks are hard: water runs straight off them into the drains.

## Slide 3: Green infrastructure
Green roofs and rain gardens hold water back and let it soak away slowly.

## Slide 4: Summary
Less hard surface and more places for water to go: that is the whole idea.
"""
MAJOR = "urban-water"
COURSE = "mini-ppt_script-en"


def _require_browser() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("MMLW_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing but MMLW_REQUIRE_BROWSER is set")
        pytest.skip(f"{CHROMIUM} not installed")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tree made by `mmlw annotate init --from-run` from a scripted run of the mini set (built once)."""
    tmp = tmp_path_factory.mktemp("annotate-browser")
    config = tmp / "run.yaml"
    config.write_text(yaml.safe_dump({"model": "scripted", "model_args": {"reply": LECTURE}, "data": "mini",
                                      "tasks": "ppt_script", "output": str(tmp / "runs")}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MMLW_CACHE_DIR", str(tmp / "cache"))
        main(["eval", "--config", str(config)])
        (run,) = [p.parent for p in (tmp / "runs").glob("*/run.json")]
        main(["annotate", "init", str(tmp / "root"), "--from-run", str(run), "--major", MAJOR])
    return tmp / "root"


@pytest.fixture()
def studio(template: Path, tmp_path: Path) -> Iterator[Studio]:
    root = tmp_path / "root"
    shutil.copytree(template, root, symlinks=True)
    with Studio(root) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page whose console errors, page errors and requests are recorded."""

    def __init__(self, browser: Any) -> None:
        self.page = browser.new_page(viewport={"width": 1360, "height": 820})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def sign_in(self, studio: Studio, token: str) -> None:
        self.page.goto(studio.url)
        self.page.wait_for_selector("#login:not([hidden])")
        self.page.fill("#token", token)
        self.page.click("#login-form button[type=submit]")
        self.page.wait_for_selector("#courses:not([hidden]) #course-table tbody tr")

    def open_first_course(self) -> None:
        self.page.click("#course-table tbody button")
        self.page.wait_for_selector("#page:not([hidden])")
        self.page.wait_for_function("() => document.getElementById('slide').naturalWidth > 0")


def _revision_file(studio: Studio, number: int) -> Path:
    return studio.root / MAJOR / COURSE / "annotated_scripts" / f"{number}.txt"


def test_sign_in_edit_autosave_reload(studio: Studio, browser: Any) -> None:
    token = new_user(studio.root, "alice")
    w = Watched(browser)
    page = w.page
    w.sign_in(studio, token)
    assert "0 / 4" in page.inner_text("#course-table tbody") and page.inner_text("#whoami") == "signed in as alice"
    w.open_first_course()
    original = (studio.root / MAJOR / COURSE / "scripts" / "1.txt").read_text().strip()
    assert page.inner_text("#original").strip() == original
    assert page.input_value("#revision").strip() == original  # the editor starts from the original
    assert "page 1 (1 of 4)" in page.inner_text("#crumb")

    revised = original.replace("We will see why, and what can be done.",
                               "Think of the last storm you saw: where did all that water go?")
    page.fill("#revision", revised)
    page.wait_for_selector("#status.saved", timeout=10_000)
    assert _revision_file(studio, 1).read_text() == revised  # on disk, autosaved without a click
    history = [json.loads(x) for x in (studio.root / MAJOR / COURSE / "history" / "1.jsonl").read_text().splitlines()]
    assert [(h["user"], h["previous"]) for h in history] == [("alice", None)]
    assert page.locator("#diff ins").count() >= 1 and page.locator("#diff del").count() >= 1
    assert "storm" in page.inner_text("#diff ins >> nth=0") or "storm" in page.inner_text("#diff")
    assert page.locator("#pills .pill.revised").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "annotate-page.png"), full_page=True)

    page.reload()
    page.wait_for_selector("#page:not([hidden])")
    assert page.input_value("#revision") == revised  # signed in still (this tab) and the revision is back
    assert "revised by alice" in page.inner_text("#status")

    page.keyboard.press("Alt+ArrowRight")
    page.wait_for_function("() => location.hash.endsWith('/2')")
    page.wait_for_function("() => document.getElementById('crumb').textContent.includes('page 2')")
    page.locator("#revision").press_sequentially(" Edited.")
    page.keyboard.press("Control+s")
    page.wait_for_selector("#status.saved", timeout=10_000)
    assert _revision_file(studio, 2).read_text().endswith(" Edited.")
    page.keyboard.press("Alt+ArrowLeft")
    page.wait_for_function("() => document.getElementById('crumb').textContent.includes('page 1')")
    page.keyboard.press("Escape")
    page.wait_for_selector("#courses:not([hidden])")
    assert "2 / 4" in page.inner_text("#course-table tbody") and "alice 2" in page.inner_text("#course-table")
    assert not w.errors, w.errors
    assert w.requests and all(u.startswith(("http://127.0.0.1:", "blob:http://127.0.0.1:")) for u in w.requests), \
        w.requests  # works offline: nothing fetched from a CDN


def test_revision_text_is_never_rendered_as_html(studio: Studio, browser: Any) -> None:
    token = new_user(studio.root, "alice")
    hostile = ('<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
               '<b>bold?</b> &amp; </textarea><svg onload="window.__pwned=3">')
    api = studio.client(token)
    assert api.put(page_path(MAJOR, COURSE, 1), hostile)[0] == 200
    assert api.put(page_path(MAJOR, COURSE, 2), hostile)[0] == 200
    w = Watched(browser)
    w.sign_in(studio, token)
    page = w.page
    page.goto(studio.url + f"#/page/{MAJOR}/{COURSE}/1")
    page.wait_for_selector("#page:not([hidden])")
    page.wait_for_function("() => document.getElementById('slide').naturalWidth > 0")
    assert page.input_value("#revision") == hostile
    assert hostile in page.inner_text("#diff")  # shown as the characters it is
    page.click("#history summary")
    page.wait_for_selector("#history-list li")
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("#page img").count() == 1  # the slide only
    assert page.locator("#page script, #page svg, #page b").count() == 0
    assert not w.errors, w.errors


def test_stale_save_in_the_page_shows_the_newer_text(studio: Studio, browser: Any) -> None:
    alice = new_user(studio.root, "alice")
    bob = studio.client(new_user(studio.root, "bob"))
    w = Watched(browser)
    w.sign_in(studio, alice)
    w.open_first_course()
    page = w.page
    _, _, opened = bob.get(page_path(MAJOR, COURSE, 1))
    assert bob.put(page_path(MAJOR, COURSE, 1), "Bob got here first.", base=opened["version"])[0] == 200
    page.locator("#revision").press_sequentially(" Alice adds this.")
    page.wait_for_selector("#conflict:not([hidden])", timeout=10_000)
    assert page.input_value("#revision") == "Bob got here first."  # the newer text is shown
    assert page.input_value("#mine").endswith(" Alice adds this.")  # and hers is kept, not lost
    assert "saved by bob" in page.inner_text("#conflict-message")
    assert _revision_file(studio, 1).read_text() == "Bob got here first."
    page.click("#use-mine")
    page.wait_for_selector("#status.saved", timeout=10_000)
    assert _revision_file(studio, 1).read_text().endswith(" Alice adds this.")
    history = [json.loads(x) for x in (studio.root / MAJOR / COURSE / "history" / "1.jsonl").read_text().splitlines()]
    assert [h["user"] for h in history] == ["bob", "alice"] and history[1]["previous"] == "Bob got here first."
    # the refused PUT is the one error the browser reports (a 409 response); nothing else
    assert len(w.errors) == 1 and "409" in w.errors[0], w.errors
