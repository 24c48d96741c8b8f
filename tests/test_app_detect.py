"""AppTest of pages/detect.py: good and bad uploads in one batch, the table and its CSV, the
honest note, the "try it" button, no traceback when something breaks, and the choice between
the forensic detector and the discriminator with how well each measured."""
from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from PIL import Image

from app_support import detection
from tests.app_fixtures import (app_env, download, encode, face_png, huge_png,  # noqa: F401
                                image_urls, landscape_jpeg, media, models_dir, new_app,
                                no_exceptions)

PAGE = "pages/detect.py"


def upload(at, files):
    at.file_uploader(key="uploads").set_value(files).run()
    no_exceptions(at)
    return at


def csv_rows(at, media):
    return list(csv.DictReader(io.StringIO(download(at, "csv", media).decode())))


def test_uploader_takes_any_file_and_the_page_says_what_it_scores(app_env):
    at = new_app(PAGE)
    no_exceptions(at)
    assert not at.file_uploader(key="uploads").allowed_type    # checked per file, not per batch
    assert at.file_uploader(key="uploads").accept_multiple_files
    caption = "\n".join(c.value for c in at.caption)
    assert f"Up to {detection.MAX_FILES} photos per batch" in caption
    assert f"at most {detection.MAX_CONCURRENT_DECODES} photos at a time" in caption
    assert "JPEG, PNG, WebP or BMP" in at.file_uploader(key="uploads").label
    note = at.expander[0]
    text = "\n".join(m.value for m in note.markdown)
    assert "uncalibrated" in text and "0.50" in text and "cannot tell" in text


def test_other_file_types_get_a_note_and_the_rest_of_the_batch_is_scored(app_env, media):
    """A client that ignores the browser's file filter used to replace the page with an error."""
    face = Image.fromarray(np.asarray(Image.open(io.BytesIO(face_png()))))
    files = [("anim.gif", encode(face, "GIF"), "image/gif"),
             ("scan.tiff", encode(face, "TIFF"), "image/tiff"),
             ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
             ("phone.heic", b"\0\0\0\x18ftypheic" + b"\0" * 64, "image/heic"),
             ("me.jpg", encode(face, "JPEG"), "image/jpeg")]
    at = upload(new_app(PAGE), files)
    assert [r["status"] for r in csv_rows(at, media)] == [
        "unsupported format", "unsupported format", "not an image", "not an image", "scored"]
    warnings = [w.value for w in at.warning if "not been trained" not in w.value]
    assert sum("format is not supported" in w and "(GIF)" in w for w in warnings) == 1
    assert sum("format is not supported" in w and "(TIFF)" in w for w in warnings) == 1
    assert sum("is not an image" in w for w in warnings) == 2


def test_a_batch_is_capped_and_the_files_past_the_cap_are_listed(app_env, media):
    n = detection.MAX_FILES + 2
    at = upload(new_app(PAGE), [(f"{i:02d}.png", face_png(100 + i), "image/png")
                                for i in range(n)])
    rows = csv_rows(at, media)
    assert [r["file"] for r in rows] == [f"{i:02d}.png" for i in range(n)]
    assert [r["status"] for r in rows] == ["scored"] * detection.MAX_FILES + ["too many files"] * 2
    assert sum(f"only the first {detection.MAX_FILES} files" in w.value for w in at.warning) == 2


@pytest.mark.slow
def test_decodes_are_capped_across_sessions(app_env, monkeypatch, models_dir):
    """Visitors uploading at once wait for a decode slot instead of decoding all together."""
    import threading
    import time

    from gan.bundle import load_bundle
    from gan.data import preprocess

    running, peak, lock = [0], [0], threading.Lock()
    real = preprocess.prepare_image

    def slow_prepare(*a, **kw):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.05)
            return real(*a, **kw)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(preprocess, "prepare_image", slow_prepare)
    bundle = load_bundle(models_dir / "default")
    det = detection.detectors_for(bundle)[0]
    sessions = [threading.Thread(target=detection.score_uploads,
                                 args=([(f"{i}.png", face_png())] * 3, bundle, det))
                for i in range(2 * detection.MAX_CONCURRENT_DECODES + 2)]
    for t in sessions:
        t.start()
    for t in sessions:
        t.join(120)
    assert peak[0] == detection.MAX_CONCURRENT_DECODES


def test_a_batch_with_bad_files_scores_the_good_ones(app_env, media):
    face = face_png()
    jpg = encode(np.asarray(Image.open(io.BytesIO(face))), "JPEG")
    at = upload(new_app(PAGE), [
        ("me.jpg", jpg, "image/jpeg"),
        ("notes.png", b"%PDF-1.4 definitely not a picture", "image/png"),
        ("half.jpg", jpg[: len(jpg) // 2], "image/jpeg"),
        ("bomb.png", huge_png(), "image/png"),
        ("empty.webp", b"", "image/webp"),
        ("beach.jpg", landscape_jpeg(), "image/jpeg"),
        ("me.webp", encode(np.asarray(Image.open(io.BytesIO(face))), "WEBP"), "image/webp"),
    ])
    body = "\n".join(m.value for m in at.markdown)
    assert body.count("P(generated) = ") == 2
    warnings = [w.value for w in at.warning if "not been trained" not in w.value]
    assert len(warnings) == 5
    for want in ("not an image", "cut short", "megapixels", "empty", "No face found"):
        assert any(want in w for w in warnings), want
    assert [im.captions[0] for im in at.get("image")].count("the crop that was scored") == 2
    rows = list(csv.DictReader(io.StringIO(download(at, "csv", media).decode())))
    assert [r["file"] for r in rows] == ["me.jpg", "notes.png", "half.jpg", "bomb.png",
                                         "empty.webp", "beach.jpg", "me.webp"]
    assert [r["status"] for r in rows] == ["scored", "not an image", "truncated image",
                                           "decompression bomb", "empty file", "no face", "scored"]
    p = float(rows[0]["p_generated"])
    assert 0 <= p <= 1 and rows[0]["verdict"] == ("generated" if p >= 0.5 else "real")
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 7


def test_scores_match_the_library(app_env, media, models_dir):
    from gan.bundle import load_bundle

    bundle = load_bundle(models_dir / "default")
    want = detection.score_uploads([("f.png", face_png(160))], bundle,
                                   detection.detectors_for(bundle)[0])[0].p_generated
    name = "[me](http://example.com).png"      # a visitor's file name is shown literally
    at = upload(new_app(PAGE), [(name, face_png(160), "image/png")])
    rows = list(csv.DictReader(io.StringIO(download(at, "csv", media).decode())))
    assert abs(float(rows[0]["p_generated"]) - want) < 1e-4 and rows[0]["file"] == name
    assert r"**\[me\]\(http\://example\.com\)\.png**" in [m.value for m in at.markdown]


def test_names_cannot_run_in_a_spreadsheet_or_break_the_page(app_env, media):
    formulas = ['=HYPERLINK("http://x","y").jpg', "+cmd|' /C calc'!A0.jpg", "@SUM(1+1).jpg",
                "-2+3.jpg", "\tTab.jpg"]
    hidden = ["line\nbreak.jpg", "carriage\rreturn.jpg", "photo\u202egpj.png"]
    at = upload(new_app(PAGE), [(n, face_png(), "image/png") for n in formulas + hidden])
    rows = csv_rows(at, media)
    # OWASP: a cell that starts like a formula gets a leading quote, so it is shown as text.
    assert [r["file"] for r in rows] == ["'" + n for n in formulas] + hidden
    starts = ("=", "+", "-", "@", "\t", "\r")
    assert not [v for r in rows for v in r.values() if v.startswith(starts)]
    # On the page, invisible characters are spelt out: no line break, no reversed text.
    body = [m.value for m in at.markdown]
    for title in (r"**line\\nbreak\.jpg**", r"**carriage\\rreturn\.jpg**",
                  r"**photo\\u202egpj\.png**"):
        assert title in body
    assert not [m for m in body if "\u202e" in m or "line\nbreak" in m or "carriage\r" in m]
    assert list(at.dataframe[0].value["file"][-3:]) == [
        r"line\nbreak.jpg", r"carriage\rreturn.jpg", r"photo\u202egpj.png"]


def test_try_it_shows_both_sides(app_env):
    at = new_app(PAGE)
    at.button(key="try_it").click().run()
    no_exceptions(at)
    assert any("both sides" in h.value for h in at.subheader)
    captions = [c.value for c in at.caption]
    assert sum("It is generated" in c for c in captions) == 4
    assert sum("It is real" in c for c in captions) == 2        # the two bundled examples
    assert len(at.dataframe[0].value) == 6
    at.button(key="hide_try").click().run()
    assert not any("both sides" in h.value for h in at.subheader)


@pytest.mark.slow
def test_try_it_without_bundled_examples_says_so(app_env):
    at = new_app()
    at.sidebar.selectbox(key="model").set_value("cond").run()
    at.switch_page(PAGE).run()
    at.button(key="try_it").click().run()
    no_exceptions(at)
    assert any("ships no real example photos" in i.value for i in at.info)


def test_an_unexpected_failure_shows_a_message_not_a_traceback(app_env, monkeypatch):
    def boom(*a, **kw):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(detection, "score_uploads", boom)
    at = upload(new_app(PAGE), [("x.png", face_png(), "image/png")])
    assert not at.exception
    assert "something went wrong while scoring images" in at.error[0].value
    assert "simulated failure" not in at.error[0].value


# --------------------------------------------------------------------------- detector choice


@pytest.fixture(scope="module")
def fitted_models(tmp_path_factory):
    """models/ with `default` (fitted and measured detectors) and `damaged` (the same with its
    forensic detector file damaged)."""
    import shutil

    from tests.detector_fixtures import fitted_bundle

    root = tmp_path_factory.mktemp("fitted_models")
    fitted_bundle(root / "default", robustness=True)
    shutil.copytree(root / "default", root / "damaged")
    (root / "damaged" / "detection" / "forensic.npz").write_bytes(b"damaged")
    return root


@pytest.mark.slow
def test_the_visitor_chooses_the_detector_and_the_page_says_which_and_how_well(
        fitted_models, monkeypatch, media):
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(fitted_models))
    at = new_app(PAGE)
    no_exceptions(at)
    radio = at.radio(key="detector")
    assert radio.options[0] == "Forensic detector (trained on several generators)"
    assert radio.options[1].startswith("The GAN's own discriminator") and len(radio.options) == 2
    assert radio.value == "forensic"                      # the best measured one by default
    body = "\n".join(m.value for m in at.markdown)
    assert "**In use: Forensic detector" in body and "AUC" in body
    assert any(h.value == "How well does it work?" for h in at.header)
    fpr_table = at.dataframe[0].value                     # false alarms, per real source
    assert len(fpr_table) == 3 and "flagged as generated" in fpr_table.columns
    note = "\n".join(m.value for m in at.expander[0].markdown)
    assert "calibrated" in note and "cannot tell" in note and "at most 5%" in note
    assert len(image_urls(at)) == 4                       # the report's four figures

    at = upload(at, [("me.png", face_png(160), "image/png")])
    forensic = csv_rows(at, media)
    assert forensic[0]["detector"] == "forensic" and forensic[0]["status"] == "scored"

    at.radio(key="detector").set_value("discriminator").run()
    no_exceptions(at)
    body = "\n".join(m.value for m in at.markdown)
    assert "**In use: The GAN's own discriminator" in body
    disc = csv_rows(at, media)
    assert disc[0]["detector"] == "discriminator"
    assert disc[0]["threshold"] != forensic[0]["threshold"]


@pytest.mark.slow
def test_a_damaged_forensic_detector_is_not_offered_and_the_page_says_why(fitted_models,
                                                                          monkeypatch):
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(fitted_models))
    at = new_app()
    at.sidebar.selectbox(key="model").set_value("damaged").run()
    at.switch_page(PAGE).run()
    no_exceptions(at)
    assert not at.radio                                   # one detector left: no choice
    warnings = [w.value for w in at.warning]
    assert any("forensic detector stored with this model cannot be used" in w
               and "gan.detector fit" in w for w in warnings)
    assert "**In use: The GAN's own discriminator" in "\n".join(m.value for m in at.markdown)


def test_an_unmeasured_model_says_how_to_measure_it(app_env):
    at = new_app(PAGE)
    no_exceptions(at)
    assert any("have not been measured" in i.value for i in at.info)
    assert any("python -m gan.detector fit --model models/default" in c.value for c in at.code)
