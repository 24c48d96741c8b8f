"""End to end: the real `streamlit run app.py` server driven by headless Chromium (Debian's
/usr/bin/chromium via Playwright's Python package; no browser download). A visitor opens the
home page, generates faces and downloads the ZIP, then uploads photos on the detect page and
presses "try it". Screenshots and the server log go to the test's temporary folder (printed;
set FACEGAN_TEST_ARTIFACTS to keep them for a person to look at)."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app_support.serve import CHROMIUM, CHROMIUM_ARGS, running_app
from tests.app_fixtures import face_png, models_dir  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"Debian's chromium is not installed at {CHROMIUM} (.ci/run installs it: "
           "apt-get install chromium chromium-driver)")]

TIMEOUT_MS = 60_000


def settle(page) -> None:
    """Wait until the app has finished its rerun (the "running" indicator is gone) and every
    table has drawn, so a screenshot shows the page as a visitor sees it."""
    from playwright.sync_api import expect

    page.wait_for_timeout(300)
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0)
    for table in page.locator('[data-testid="stDataFrame"]').all():
        expect(table.locator("canvas").first).to_be_visible()
    page.wait_for_timeout(500)


def tall_screenshot(page, path, height: int = 3000) -> None:
    """Streamlit scrolls inside its own container, so grow the window to show the whole page."""
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": height})
    settle(page)
    page.screenshot(path=path)
    page.set_viewport_size(size)


def test_a_visitor_generates_faces_and_scores_an_upload(models_dir, artifacts):
    from playwright.sync_api import expect, sync_playwright

    from gan import sampling
    from gan.bundle import load_bundle

    expect.set_options(timeout=TIMEOUT_MS)
    log = artifacts / "e2e-server.log"
    with running_app(models_dir, log_path=log) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600}, accept_downloads=True)
            page.set_default_timeout(TIMEOUT_MS)
            images = page.locator('[data-testid="stMain"] [data-testid="stImage"] img')

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
            settle(page)
            page.screenshot(path=artifacts / "home.png")

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
            settle(page)
            page.screenshot(path=artifacts / "generate.png")

            # Detect: a face and a file that is not an image, then "try it".
            page.get_by_role("link", name="Detect generated faces").first.click()
            expect(page.get_by_role("heading", name="Is this face generated?")).to_be_visible()
            page.locator('input[type="file"]').set_input_files([
                {"name": "portrait.png", "mimeType": "image/png", "buffer": face_png(200)},
                {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"just some text"}])
            expect(page.get_by_text("P(generated) =")).to_have_count(1)
            # The reason beside the file (the results table may repeat it in a grid cell).
            expect(page.get_by_role("paragraph").filter(has_text="This file is not an image")).to_be_visible()
            # Over the upload limit (.streamlit/config.toml): refused in the uploader itself.
            page.locator('input[type="file"]').set_input_files([
                {"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": b"\0" * (21 << 20)}])
            expect(page.get_by_text("File must be 20.0MB or smaller")).to_be_visible()
            expect(page.get_by_text("P(generated) =")).to_have_count(1)
            expect(page.get_by_text("Download the table (CSV)")).to_be_visible()
            settle(page)
            page.screenshot(path=artifacts / "detect.png")
            page.get_by_role("button", name="Try it").click()
            expect(page.get_by_text("Try it: both sides")).to_be_visible()
            expect(page.get_by_text("P(generated) =")).to_have_count(1 + 4 + 2)
            tall_screenshot(page, artifacts / "detect-try-it.png")
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            browser.close()
    assert "Traceback" not in log.read_text(errors="replace")
