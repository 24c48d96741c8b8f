"""End to end: the real `streamlit run app.py` server driven by headless Chromium (Debian's
/usr/bin/chromium via Playwright's Python package; no browser download). Two visits:

- on the tests' tiny bundles, a visitor opens a deep link, generates faces and downloads the
  ZIP (the library's faces), uploads a face and a file that is not an image, and presses "try it";
- on the shipped model (models/ as a fresh clone has it), the newcomer's walk of issue 22: the
  home page's faces, 64 faces and their ZIP, three photos on the Detect page (two faces from
  that ZIP, one drawn portrait) and their answers, then every other page.

Full-page screenshots (and each page's height, in heights.json) and the server logs go to the
test's temporary folder (printed); set FACEGAN_TEST_ARTIFACTS=DIR to keep them in DIR/<test>
for a person to look at."""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app_support.serve import CHROMIUM, CHROMIUM_ARGS, running_app
from tests.app_fixtures import REPO, drawn_face, encode, face_png, models_dir  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"Debian's chromium is not installed at {CHROMIUM} (.ci/run installs it: "
           "apt-get install chromium chromium-driver)")]

TIMEOUT_MS = 60_000
MAIN = '[data-testid="stMain"]'
ANSWER_WORDS = ("Looks generated", "Looks real", "Unsure")


def settle(page) -> None:
    """Wait until the app has finished its rerun (the "running" indicator is gone), every table
    in view has drawn and every image has loaded, so a screenshot shows the page as a visitor sees it."""
    from playwright.sync_api import expect

    page.wait_for_timeout(300)
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0)
    for table in page.locator('[data-testid="stDataFrame"]').all():
        if table.is_visible():                          # not inside a closed expander
            expect(table.locator("canvas").first).to_be_visible()
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    page.wait_for_timeout(500)


def page_height(page) -> int:
    """The page's full height in CSS pixels: Streamlit scrolls inside its own container."""
    return int(page.evaluate(f"() => document.querySelector('{MAIN}').scrollHeight"))


def full_page(page, path) -> int:
    """A screenshot of the whole page, top to bottom (the window grown to the page's height,
    then put back); returns that height."""
    settle(page)
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": max(page_height(page),
                                                                  size["height"])})
    settle(page)
    height = page_height(page)
    page.screenshot(path=path)
    page.set_viewport_size(size)
    return height


def scores(page):
    """Each judged photo's score line ("Score 0.998: the generated side ...")."""
    return page.locator(f'{MAIN} [data-testid="stCaptionContainer"]').filter(
        has_text=re.compile(r"^Score \d"))


@contextlib.contextmanager
def app_page(models: Path, log: Path):
    """(url, page): a fresh server on `models` and a browser page on it. At the end, no page
    showed a traceback and the server logged none."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with running_app(models, log_path=log) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900},
                                    accept_downloads=True)
            page.set_default_timeout(TIMEOUT_MS)
            yield url, page
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()
    assert "Traceback" not in log.read_text(errors="replace")


def test_a_visitor_generates_faces_and_scores_an_upload(models_dir, artifacts):
    from playwright.sync_api import expect

    from gan import sampling
    from gan.bundle import load_bundle

    with app_page(models_dir, artifacts / "e2e-server.log") as (url, page):
        images = page.locator(f'{MAIN} [data-testid="stImage"] img')

        # A first visitor of a fresh server opens a deep link: the page must come with the
        # app's menu and model picker (Streamlit's folder mode would give neither).
        page.goto(f"{url}/detect")
        expect(page.get_by_role("heading", name="Is this face generated?")).to_be_visible()
        expect(page.get_by_role("link", name="Detect generated faces")).to_be_visible()
        expect(page.get_by_role("combobox", name="Model")).to_be_visible()

        # Home: what the app does, the model's card, 16 sample faces.
        page.goto(url)
        expect(page.get_by_role("heading", name="FaceGAN Studio")).to_be_visible()
        expect(page.get_by_text("Sample faces")).to_be_visible()
        expect(images).to_have_count(16)
        full_page(page, artifacts / "home.png")

        # Generate: seed 7, slider moved up by 4, the ZIP holds those faces.
        page.get_by_role("link", name="Generate faces").first.click()
        expect(page.get_by_text("Download all 16 as ZIP")).to_be_visible()
        seed = page.get_by_label("Seed")
        seed.fill("7")
        seed.press("Enter")
        expect(page.get_by_text("Download all 16 as ZIP")).to_be_visible()
        page.get_by_role("slider").first.focus()
        for _ in range(4):
            page.keyboard.press("ArrowRight")
        expect(page.get_by_text("Download all 20 as ZIP")).to_be_visible()
        expect(images).to_have_count(20)
        with page.expect_download() as dl:
            page.get_by_text("Download all 20 as ZIP").click()
        with zipfile.ZipFile(dl.value.path()) as z:
            names = sorted(n for n in z.namelist() if n.endswith(".png"))
            got = np.stack([np.asarray(Image.open(io.BytesIO(z.read(n)))) for n in names])
        assert names == [f"default_seed7_{i:02d}.png" for i in range(1, 21)]
        want = sampling.generate(load_bundle(models_dir / "default"), 20, seed=7)
        assert np.abs(got.astype(int) - want).max() <= 1
        full_page(page, artifacts / "generate.png")

        # Detect: a face and a file that is not an image, then "try it".
        page.get_by_role("link", name="Detect generated faces").first.click()
        expect(page.get_by_role("heading", name="Is this face generated?")).to_be_visible()
        page.locator('input[type="file"]').set_input_files([
            {"name": "portrait.png", "mimeType": "image/png", "buffer": face_png(200)},
            {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"just some text"}])
        expect(scores(page)).to_have_count(1)
        # The reason beside the file (the results table repeats it in a cell).
        expect(page.get_by_role("paragraph").filter(has_text="This file is not an image")
               .first).to_be_visible()
        # Over the upload limit (.streamlit/config.toml): refused in the uploader itself.
        page.locator('input[type="file"]').set_input_files([
            {"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": b"\0" * (21 << 20)}])
        expect(page.get_by_text("File must be 20.0MB or smaller")).to_be_visible()
        expect(scores(page)).to_have_count(1)
        expect(page.get_by_text("Download the table (CSV)")).to_be_visible()
        full_page(page, artifacts / "detect.png")
        page.get_by_role("button", name="Try it").click()
        expect(page.get_by_text("Try it: both sides")).to_be_visible()
        expect(scores(page)).to_have_count(1 + 4 + 2)
        full_page(page, artifacts / "detect-try-it.png")


# --------------------------------------------------------------------------- the newcomer's walk


@pytest.fixture(scope="module")
def shipped_models(tmp_path_factory) -> Path:
    """models/ as a fresh clone has it, copied, so the walk reads one version of each bundle."""
    root = tmp_path_factory.mktemp("shipped") / "models"
    shutil.copytree(REPO / "models", root)
    return root


def unzip_modes(path: Path, into: Path) -> dict[str, int]:
    """{name: permission bits} of the files `unzip` makes of a ZIP (as a visitor would unpack
    it); from the members' recorded Unix modes where there is no `unzip`."""
    with zipfile.ZipFile(path) as z:
        recorded = {i.filename: stat.S_IMODE(i.external_attr >> 16) for i in z.infolist()}
    if shutil.which("unzip") is None:
        return recorded
    subprocess.run(["unzip", "-q", str(path), "-d", str(into)], check=True)
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in into.iterdir()}


def no_hidden_part(box) -> list[str]:
    """What of the element `box` (a locator) is cut off: it or an element inside it scrolls
    or clips its content ('class WxH < scroll WxH' each; text for screen readers only, 1x1
    px, is meant to be clipped)."""
    return box.evaluate("""(box) => {
        const out = [];
        for (const el of [box, ...box.querySelectorAll('*')]) {
            const cs = getComputedStyle(el);
            if (!['auto', 'scroll', 'hidden'].includes(cs.overflowY) &&
                !['auto', 'scroll', 'hidden'].includes(cs.overflowX)) continue;
            if (el.clientWidth <= 1 && el.clientHeight <= 1) continue;  // screen-reader text
            if (el.scrollHeight > el.clientHeight + 2 || el.scrollWidth > el.clientWidth + 2)
                out.push(`${el.className}: ${el.clientWidth}x${el.clientHeight} < ` +
                         `${el.scrollWidth}x${el.scrollHeight}`);
        }
        return out;
    }""")


def test_a_newcomers_walk(shipped_models, artifacts, tmp_path):
    """Issue 22's path, as a newcomer takes it on a fresh clone: see faces, make 64, download
    them, ask whether three photos are generated, read the answers, look at every page."""
    from playwright.sync_api import expect

    heights: dict[str, int] = {}
    read: list[dict[str, str]] = []
    with app_page(shipped_models, artifacts / "walk-server.log") as (url, page):
        faces = page.locator(f'{MAIN} [data-testid="stImage"] img')

        # Home: faces at once.
        page.goto(url)
        expect(page.get_by_role("heading", name="FaceGAN Studio")).to_be_visible()
        expect(faces).to_have_count(16)
        heights["home"] = full_page(page, artifacts / "1-home.png")

        # Generate 64 and download them: one ZIP of 64 PNG files, readable by everyone.
        page.get_by_role("link", name="Generate faces").first.click()
        expect(page.get_by_text("Download all 16 as ZIP")).to_be_visible()
        page.get_by_role("slider", name="How many faces").focus()
        page.keyboard.press("End")
        expect(page.get_by_text("Download all 64 as ZIP")).to_be_visible()
        expect(faces).to_have_count(64)
        with page.expect_download() as dl:
            page.get_by_text("Download all 64 as ZIP").click()
        modes = unzip_modes(Path(dl.value.path()), tmp_path / "unzipped")
        pngs = sorted(n for n in modes if n.endswith(".png"))
        assert len(pngs) == 64 and {modes[n] for n in pngs} == {0o644}, modes
        with zipfile.ZipFile(dl.value.path()) as z:
            made = [z.read(n) for n in pngs[:2]]
        heights["generate, 64 faces"] = full_page(page, artifacts / "2-generate-64.png")

        # Detect: three photos (two faces the generator just made, one drawn portrait).
        page.get_by_role("link", name="Detect generated faces").first.click()
        expect(page.get_by_role("heading", name="Is this face generated?")).to_be_visible()
        heights["detect, nothing uploaded"] = full_page(page, artifacts / "3-detect.png")
        page.locator('input[type="file"]').set_input_files(
            [{"name": n, "mimeType": "image/png", "buffer": b} for n, b in zip(pngs, made)]
            + [{"name": "portrait.jpg", "mimeType": "image/jpeg",
                "buffer": encode(drawn_face(256), "JPEG", quality=90)}])
        table = page.locator(f'{MAIN} [data-testid="stTable"]').first   # the others: detail
        rows = table.locator("tbody tr")
        expect(rows).to_have_count(3)                    # every file in the table
        for row in rows.all():
            photo, answer, score = (c.inner_text().strip() for c in row.locator("td").all())
            read.append({"photo": photo, "answer": answer, "score": score})
            if answer.startswith("Not judged"):          # a broken face may hold no findable face
                assert "No face found" in answer and score == "" and photo != "portrait.jpg", answer
            else:
                assert answer.startswith(ANSWER_WORDS), answer
                assert 0 <= float(score) <= 1 and score != "1.00", score
        assert [r["photo"] for r in read] == [*pngs[:2], "portrait.jpg"]
        expect(scores(page)).to_have_count(sum(r["score"] != "" for r in read))  # one per judged
        # the answer in words comes before the score, on each photo's card
        first_answer = page.locator(f'{MAIN} [data-testid="stMarkdownContainer"]').filter(
            has_text=re.compile("|".join(ANSWER_WORDS))).first
        assert first_answer.locator('[data-testid="stMarkdownBadge"], span').count()
        assert first_answer.bounding_box()["y"] < scores(page).first.bounding_box()["y"]
        assert not page.get_by_text("P(generated)").filter(visible=True).count()   # no jargon
        assert no_hidden_part(page.get_by_test_id("stFileChips")) == []    # every file listed
        assert no_hidden_part(table) == []
        heights["detect, three answers"] = full_page(page, artifacts / "4-detect-answers.png")

        # The detail, one click away: open every section; every grid shows all its rows.
        for summary in page.locator(f'{MAIN} [data-testid="stExpander"] summary').all():
            summary.click()
        settle(page)
        for grid in page.locator(f'{MAIN} [data-testid="stDataFrame"]').all():
            box = grid.locator(".dvn-scroller").first
            assert box.evaluate("e => e.scrollHeight <= e.clientHeight + 2"), "inner scroll"
        heights["detect, every section open"] = full_page(page, artifacts / "5-detect-open.png")

        # The other pages, as they first look.
        page.get_by_role("link", name="Your face").first.click()
        expect(page.get_by_role("heading", name="Your face")).to_be_visible()
        heights["your face"] = full_page(page, artifacts / "6-your-face.png")
        page.get_by_role("link", name="Model quality").first.click()
        expect(page.get_by_role("heading", name="Model quality")).to_be_visible()
        heights["model quality"] = full_page(page, artifacts / "7-model-quality.png")

    (artifacts / "heights.json").write_text(json.dumps(heights, indent=2) + "\n")
    (artifacts / "answers.json").write_text(json.dumps(read, indent=2) + "\n")
    print("page heights (px):", heights)
    print("the answers read:", read)


def test_the_groups_model_draws_the_group_asked_for_and_shows_every_groups_figures(
        shipped_models, artifacts):
    """Issue 19 in the browser, on the shipped groups model: the generate page offers one
    choice per label with the group names, a chosen group draws new faces, and Model quality
    shows every group's row, with its blind audit, and the weakest beside the best."""
    from playwright.sync_api import expect

    if not (shipped_models / "groups").is_dir():
        pytest.fail("models/groups is not in the repository")
    with app_page(shipped_models, artifacts / "groups-server.log") as (url, page):
        faces = page.locator(f'{MAIN} [data-testid="stImage"] img')
        page.goto(f"{url}/generate?model=groups")
        expect(page.get_by_text("Download all 16 as ZIP")).to_be_visible()
        settle(page)
        before = faces.first.get_attribute("src")
        for label, group in (("Ethnicity", "black"), ("Age group", "50+")):
            box = page.get_by_test_id("stSelectbox").filter(has_text=label)
            box.click()
            options = page.get_by_role("option")
            names = [o.inner_text().strip() for o in options.all()]
            assert names[0] == "any" and group in names, names
            options.filter(has_text=group).first.click()
            settle(page)
        expect(faces).to_have_count(16)
        assert faces.first.get_attribute("src") != before          # drawn again, as asked
        full_page(page, artifacts / "groups-1-generate-black-50plus.png")

        page.get_by_role("link", name="Model quality").first.click()
        expect(page.get_by_role("heading", name="Model quality")).to_be_visible()
        expect(page.get_by_text("Every group:")).to_be_visible()
        tables = page.locator(f'{MAIN} [data-testid="stTable"]')
        expect(tables.filter(has_text="broken faces, blind audit")).to_have_count(1)
        page.locator(f'{MAIN} [data-testid="stExpander"] summary').filter(
            has_text="Every group's figures").click()
        every = tables.filter(has_text="ethnicity = black").filter(has_text="broken (blind audit)")
        expect(every).to_have_count(1)
        assert every.locator("tbody tr").count() == 11
        full_page(page, artifacts / "groups-2-model-quality.png")
