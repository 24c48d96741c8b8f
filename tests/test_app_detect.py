"""AppTest of pages/detect.py: good and bad uploads in one batch, the answers in words first
("Looks generated", "Looks real", "Unsure — because ...") with the table (every row) and its
CSV, scores never rounded up to 1, the "try it" button, no traceback when something breaks, the
choice between the detectors, what the answers are worth in plain words and the left-out figures
(worst real source first) of a fitted bundle one click away; an old-format bundle still works."""
from __future__ import annotations

import csv
import io
import re

import numpy as np
import pytest
from PIL import Image

from app_support import detection
from gan.detector import explain
from gan.detector.verdict import REASONS, VERDICTS
from tests.app_fixtures import (app_env, download, encode, face_png, huge_png,  # noqa: F401
                                image_urls, landscape_jpeg, main_path, media, models_dir, new_app,
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
    # the tiny bundle's discriminator: uncalibrated, one stored threshold, no unsure band
    assert "not been calibrated" in text and "at least **0.500**" in text
    assert "cannot tell" in text and "unsure" in text and REASONS["re-encode"] in text


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
    assert [r["status"] for r in rows] == ["too many files"] * 2 + ["scored"] * detection.MAX_FILES
    assert sum(f"only the newest {detection.MAX_FILES} photos" in w.value for w in at.warning) == 2


@pytest.mark.slow
def test_decodes_are_capped_across_sessions(app_env, monkeypatch, models_dir):
    """Visitors uploading at once wait for a decode slot instead of decoding all together."""
    import threading
    import time

    from gan.bundle import load_bundle
    from gan.data import preprocess

    running, peak, lock = [0], [0], threading.Lock()
    real = preprocess.open_image

    def slow_open(*a, **kw):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.05)
            return real(*a, **kw)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(preprocess, "open_image", slow_open)
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
    assert len(scores_shown(at)) == 2
    warnings = [w.value for w in at.warning if "not been trained" not in w.value]
    assert len(warnings) == 5
    for want in ("not an image", "cut short", "megapixels", "empty", "No face found"):
        assert any(want in w for w in warnings), want
    assert [im.captions[0] for im in at.get("image")].count("the face judged") == 2
    rows = list(csv.DictReader(io.StringIO(download(at, "csv", media).decode())))
    assert [r["file"] for r in rows] == ["me.jpg", "notes.png", "half.jpg", "bomb.png",
                                         "empty.webp", "beach.jpg", "me.webp"]
    assert [r["status"] for r in rows] == ["scored", "not an image", "truncated image",
                                           "decompression bomb", "empty file", "no face", "scored"]
    for row in (rows[0], rows[6]):
        p = float(row["p_generated"])
        assert 0 <= p <= 1 and row["verdict"] in VERDICTS
        if row["verdict"] == "unsure":           # only a re-save can make it unsure here
            assert row["reason"] == REASONS["re-encode"]
        else:
            assert row["reason"] == "" and row["verdict"] == ("generated" if p >= 0.5 else "real")
    assert all(r["verdict"] == r["reason"] == "" for r in rows[1:6])
    assert len(at.table) == 1 and len(at.table[0].value) == 7


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
    assert list(at.table[0].value["Photo"][-3:]) == [
        r"line\nbreak.jpg", r"carriage\rreturn.jpg", r"photo\u202egpj.png"]


def test_try_it_shows_both_sides(app_env):
    at = new_app(PAGE)
    at.button(key="try_it").click().run()
    no_exceptions(at)
    assert any("both sides" in h.value for h in at.subheader)
    captions = [c.value for c in at.caption]
    assert sum("It is generated" in c for c in captions) == 4
    assert sum("It is real" in c for c in captions) == 2        # the two bundled examples
    assert len(at.table[0].value) == 6
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


JUDGED = {"fake.png": (0.998, "generated", ""), "me.png": (0.0123, "real", ""),
          "odd.png": (0.4567, "unsure", "unfamiliar"), "band.png": (0.6, "unsure", "band"),
          "resaved.png": (0.99962, "unsure", "re-encode")}


def judged(files, bundle, det, source="upload"):
    """detection.score_uploads as if the detector had given JUDGED's scores and verdicts."""
    return [detection.Result(name, source, "scored", crop=np.zeros((32, 32, 3), np.uint8),
                             p_generated=JUDGED[name][0], verdict=JUDGED[name][1],
                             reason=JUDGED[name][2], face_found=True) for name, _ in files]


def upload_judged(monkeypatch):
    monkeypatch.setattr(detection, "score_uploads", judged)
    return upload(new_app(PAGE), [(n, face_png(150 + 10 * i), "image/png")   # distinct bytes
                                  for i, n in enumerate(JUDGED)])


def page_text(at) -> str:
    """Every text the page shows: headings, markdown, captions, alerts and table cells."""
    parts = [e.value for kind in ("title", "header", "subheader", "markdown", "caption",
                                  "warning", "info", "error") for e in getattr(at, kind)]
    parts += [str(v) for t in at.table for v in t.value.to_numpy().ravel()]
    return "\n".join(parts)


def scores_shown(at) -> list[str]:
    return [c.value for c in at.caption if c.value.startswith("Score **")]


# A photo's answer line: the answer in bold colour with its icon, then why when unsure.
ANSWER_LINE = re.compile(r"\*\*:(red|green|orange)\[:material/\w+: ([^\]]+)\]\*\*"
                         r"(?: — because (.+))?")


def verdicts_shown(at) -> list[tuple[str, str]]:
    """(verdict, reason key or "") of each photo's answer line on the page: it says the answer
    in words ("Looks generated"); an unsure one is followed by " — because " and why."""
    verdict_of = {words: v for v, words in explain.ANSWERS.items()}
    reason_of = {words: k for k, words in explain.BECAUSE.items()}
    return [(verdict_of[m[2]], reason_of[m[3]] if m[3] else "")
            for m in (ANSWER_LINE.fullmatch(e.value) for e in at.markdown) if m]


def reasons_of(rows) -> list[tuple[str, str]]:
    """(verdict, reason key or "") of CSV rows (the CSV has the library's REASONS sentences)."""
    key_of = {text: k for k, text in REASONS.items()}
    return [(r["verdict"], key_of[r["reason"]] if r["reason"] else "") for r in rows]


def test_each_photo_gets_its_answer_in_words_with_the_reason_and_three_digits(app_env, media,
                                                                              monkeypatch):
    """Three answers as a visitor reads them: "Looks generated", "Looks real", "Unsure — because
    ..." in everyday words; the score with 3 significant digits, never rounded up to 1, and where
    it falls; the table says the same; the CSV keeps the library's reason sentences."""
    at = upload_judged(monkeypatch)
    scores = scores_shown(at)
    assert [c.partition(":")[0] for c in scores] == [
        "Score **0.998**", "Score **0.0123**", "Score **0.457**", "Score **0.600**",
        "Score **0.9996**"]
    assert scores[0].endswith("the generated side (from 0.500)")      # the tiny bundle's rule
    assert scores[1].endswith("the real side (below 0.500)")
    assert "1.00" not in page_text(at)
    assert verdicts_shown(at) == [(v, why) for _, v, why in JUDGED.values()]
    assert ("**:orange[:material/help: Unsure]** — because saving the photo again (as a JPEG, "
            "or at half size) would change the answer") in [m.value for m in at.markdown]
    assert "**5 photos judged:** 1 looks generated, 1 looks real, 3 unsure." in [
        m.value for m in at.markdown]
    rows = csv_rows(at, media)
    assert reasons_of(rows) == [(v, why) for _, v, why in JUDGED.values()]
    assert rows[2]["reason"] == REASONS["unfamiliar"] and float(rows[0]["p_generated"]) == 0.998
    table = at.table[0].value
    assert list(table["Score (0 real, 1 generated)"]) == ["0.998", "0.0123", "0.457", "0.600",
                                                          "0.9996"]
    assert list(table["Answer"]) == [explain.answer_text(v, why) for _, v, why in JUDGED.values()]
    assert table["Answer"][2] == "Unsure — because " + explain.BECAUSE["unfamiliar"]


def test_the_answer_comes_first_in_words_and_the_detail_is_one_click_away(app_env, monkeypatch):
    """What a visitor sees without a click, top to bottom: the uploader, each photo's answer in
    words (before its score), the table of every file, then what the answers are worth; no
    measurement jargon, raw figures or JSON on that path."""
    at = upload_judged(monkeypatch)
    seen = main_path(at.main)
    kinds = [e.type for e in seen]
    texts = [str(e.value) if e.type in ("subheader", "markdown", "caption") else ""
             for e in seen]
    answers = [i for i, t in enumerate(texts) if ANSWER_LINE.fullmatch(t)]
    scores = [i for i, t in enumerate(texts) if t.startswith("Score **")]
    assert kinds.index("file_uploader") < texts.index("Your photos") < answers[0] < scores[0]
    assert len(answers) == len(scores) == len(JUDGED)
    assert all(a < s for a, s in zip(answers, scores))
    assert answers[-1] < kinds.index("table") < texts.index("How far can you trust the answer?")
    assert not {"dataframe", "json", "code"} & set(kinds)     # no grid, JSON or command
    shown = "\n".join(texts)
    for jargon in ("AUC", "Platt", "binomial", "8×8", "left-out", "left out", "P(generated)",
                   "p_generated", "calibrat", "fitting", "{"):
        assert jargon not in shown, jargon
    assert len(at.table) == 1 and len(at.table[0].value) == len(JUDGED)   # every row
    # one click away: what the answers and the score mean, with the rule and its thresholds
    assert at.expander[0].label.startswith("What the answers and the score mean")
    assert "at least **0.500**" in "\n".join(m.value for m in at.expander[0].markdown)


def test_every_file_of_a_full_batch_and_the_examples_are_in_one_table(app_env, media):
    n = detection.MAX_FILES + 1
    at = upload(new_app(PAGE), [(f"{i:02d}.png", face_png(100 + i), "image/png")
                                for i in range(n)])
    at.button(key="try_it").click().run()
    no_exceptions(at)
    table = at.table[0].value                     # st.table: every row, no inner scroll box
    assert not at.dataframe
    assert list(table["Photo"]) == [r["file"] for r in csv_rows(at, media)]
    assert len(table) == n + 4 + 2                # the generator's 4 and the 2 bundled photos
    assert list(table["From"]) == (["your upload"] * n + ["the generator just now"] * 4
                                   + ["a real photo shipped with the model"] * 2)
    assert table["Answer"][0] == "Not judged — " + detection.TOO_MANY
    tally = next(m.value for m in at.markdown if "judged:**" in m.value)
    assert tally.startswith(f"**{detection.MAX_FILES} photos judged:**")
    assert tally.endswith("; 1 file could not be judged (the reason is shown with it).")


def test_the_figures_in_words_come_from_the_left_out_table():
    """The worst real source first (its share, not the best case), every catch rate with its
    family, the plain sentence about unseen generators, and the thumbnail control's warning."""
    def row(source, kind, scored, generated, unsure, **kw):
        return {"source": source, "kind": kind, "photos": scored + 1, "no_face": 1,
                "scored": scored, "generated": generated, "unsure": unsure,
                "real": scored - generated - unsure, "unsure_reasons": {"band": unsure}, **kw}

    measured = {"rows": [
        row("tidy", "real", 400, 2, 40, false_alarm_upper95=0.015, thumbnail_generated_share=0.0),
        row("messy", "real", 200, 9, 60, false_alarm_upper95=0.078, thumbnail_generated_share=0.1),
        row("ownface", "generated", 300, 291, 6, family_seen=True, auc_vs_real=0.99,
            thumbnail_auc_vs_real=0.6),
        row("newgen", "generated", 100, 12, 30, family_seen=False, auc_vs_real=0.7,
            thumbnail_auc_vs_real=0.95)],
        "worst_real_source": "messy", "worst_real_upper95": 0.078,
        "worst_nested_source": "messy", "worst_nested_generated_share": 0.06}
    text = explain.headline(measured, 0.05, "m")
    assert text.startswith("On photo collections it never saw, the detector called at most "
                           "**4.5%** of real photos generated (worst: **messy**, 9 of 200 photos)")
    assert "**7.8%** (95% upper bound" in text and "messy: **6.0%**" in text
    plain = explain.summary(measured)       # what each answer is worth, for a visitor
    assert plain.startswith("- **Looks generated** is a hint, not proof: for real photos from "
                            "collections it had never seen, it said so at most **4.5%** of the "
                            "time (the worst collection: 9 of 200 photos). But the rule was "
                            "chosen knowing those collections: chosen without a collection's own "
                            "photos, it called **6.0%** of messy's real photos generated")
    # A nested figure no worse than the stated one adds nothing to the promise.
    kept = dict(measured, worst_nested_generated_share=0.045)
    assert "chosen knowing" not in explain.summary(kept).split("\n")[0]
    assert "- **Looks real** is not proof either" in plain and "between **12.0%** and **97.0%**" \
        in plain
    measured_low = {"rows": [r for r in measured["rows"] if r["source"] != "ownface"]}
    assert "- **Looks real** proves little" in explain.summary(measured_low)
    assert explain.summary(None).startswith("Nobody has measured")
    catch = explain.catch_text(measured)
    assert "**ownface** 97.0% (unsure 2.0%; its generator family was seen in fitting)" in catch
    assert "**newgen** 12.0% (unsure 30.0%; a generator family not seen in fitting)" in catch
    assert "It does not catch generators it was not fitted on:** newgen (12.0% caught)" in catch
    assert "passes the test on newgen** (AUC 0.950)" in explain.thumbnail_text(measured)
    rows = explain.left_out_rows(measured)
    assert [r["source"] for r in rows] == ["messy", "tidy", "newgen", "ownface"]
    assert rows[0]["called generated"] == "4.5%" and rows[0]["95% upper bound"] == "7.8%"
    assert rows[2]["family seen in fitting"] == "no" and rows[2]["95% upper bound"] == ""
    assert explain.headline(None, 0.05, "m").startswith("It has not been measured")
    for p, shown in ((0.998, "0.998"), (0.99962, "0.9996"), (0.5, "0.500"), (0.0123, "0.0123")):
        assert explain.p_text(p) == shown


def test_a_score_is_placed_in_words_against_the_rule():
    """Every score a visitor sees says which side of the rule it falls on, with the thresholds;
    the scale above the photos says what the score is and is not."""
    from gan.detector.verdict import Rule

    rule = Rule(generated_at=0.87, real_below=0.35)
    assert explain.score_side(0.998, rule) == "the generated side (from 0.870)"
    assert explain.score_side(0.87, rule) == "the generated side (from 0.870)"
    assert explain.score_side(0.6, rule) == "in between (0.350 to 0.870)"
    assert explain.score_side(0.0123, rule) == "the real side (below 0.350)"
    never = Rule(generated_at=1.5, real_below=0.2)
    assert explain.score_side(0.99962, never) == "the unsure side (from 0.200)"
    scale = explain.score_scale(rule)
    assert "From **0.870** up it answers *looks generated*, below **0.350** *looks real*, and in " \
           "between *unsure*." in scale and "not the chance that it is" in scale
    assert "never answers *looks generated*" in explain.score_scale(never)
    assert "0.8 does not mean an 80% chance" in explain.score_scale(rule, calibrated=False)
    assert explain.answer_text("unsure", "band") == "Unsure — because " + explain.BECAUSE["band"]
    assert explain.answer_text("generated") == "Looks generated"


def test_the_page_looks_for_the_report_where_the_fit_writes_it():
    """The app does not import the fitting code, so it keeps its own copy of these names."""
    from gan import reports
    from gan.detector import report

    assert explain.REPORT_DIR == report.REPORT_DIR and explain.FIGURES == report.FIGURES
    assert reports.DETECTION_FORMAT == report.REPORT_FORMAT


# --------------------------------------------------------------------------- fitted detectors


def edit_card(path, fn) -> None:
    import json

    card = json.loads((path / "model.json").read_text())
    fn(card["detector"])
    (path / "model.json").write_text(json.dumps(card, indent=2))


@pytest.fixture(scope="module")
def fitted_models(tmp_path_factory):
    """models/ with `default` (detectors fitted and measured leave-one-source-out on the tiny
    sources of tests/detector_fixtures.py), `damaged` (its fitted detectors' files damaged),
    `old` (its card and report as an older version wrote them: no verdict rule, no left-out
    table, report format 1), `wide` (every photo in the default detector's unsure band) and
    `partial` (its report measured no default detector, as between a refit and its report)."""
    import json
    import shutil

    from tests.detector_fixtures import fitted_bundle

    root = tmp_path_factory.mktemp("fitted_models")
    fitted_bundle(root / "default", robustness=True)
    shutil.copytree(root / "default", root / "damaged")
    for name in ("forensic.npz", "dfeatures.npz"):
        (root / "damaged" / "detection" / name).write_bytes(b"damaged")

    shutil.copytree(root / "default", root / "old")

    def older(d):
        d.pop("dfeatures")                    # an older version fitted no such detector
        d["default"] = "forensic"
        for key in ("forensic", "discriminator"):
            d[key].pop("rule")
            d[key].pop("left_out")
    edit_card(root / "old", older)
    (root / "old" / "detection" / "report" / "report.json").write_text(json.dumps(
        {"format": "facegan-detection/1", "date": "2026-12-01", "target_fpr": 0.05,
         "detectors": {}}))

    shutil.copytree(root / "default", root / "wide")
    edit_card(root / "wide", lambda d: d["dfeatures"].update(
        rule={"generated_at": 1.0, "real_below": 0.0}))

    shutil.copytree(root / "default", root / "partial")       # refitted, report not yet redone
    path = root / "partial" / "detection" / "report" / "report.json"
    report = json.loads(path.read_text())
    report["detectors"].pop("dfeatures")
    path.write_text(json.dumps(report))
    return root


def card_of(path) -> dict:
    import json

    return json.loads((path / "model.json").read_text())["detector"]


@pytest.mark.slow
def test_the_visitor_chooses_the_detector_and_the_page_says_which_and_how_well(
        fitted_models, monkeypatch, media):
    from gan.detector.stored import TITLES
    from tests.detector_fixtures import png, source_photo

    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(fitted_models))
    at = new_app(PAGE)
    no_exceptions(at)
    radio = at.radio(key="detector")
    assert radio.options[:2] == [TITLES["dfeatures"], TITLES["forensic"]]
    assert radio.options[2].startswith(TITLES["discriminator"]) and len(radio.options) == 3
    assert radio.value == "dfeatures"                     # the card's default
    body = "\n".join(m.value for m in at.markdown)

    # the worst left-out real source, first, in words, with the figure from the card's table
    card = card_of(fitted_models / "default")
    reals = [r for r in card["dfeatures"]["left_out"]["rows"] if r["kind"] == "real"]
    worst = max(reals, key=lambda r: (r["generated"] / r["scored"], r["false_alarm_upper95"]))
    first = (f"**In use: {TITLES['dfeatures']}.** What its answers are worth, measured on photo "
             "collections it never saw:\n\n- **Looks generated** is a hint, not proof: for real "
             "photos from collections it had never seen, it said so at most "
             f"**{explain.pct(worst['generated'] / worst['scored'])}** of the time")
    assert first in body
    assert "0.0-0.6%" not in body and "Platt" not in body and "AUC 0.9" not in body
    assert any(h.value == "How far can you trust the answer?" for h in at.subheader)
    # the measurement detail is one click away: every grid, figure and the report in expanders
    seen = main_path(at.main)
    assert not {"dataframe", "json", "image", "code"} & {e.type for e in seen}
    assert at.expander and len(at.dataframe) >= 3 and at.json

    # the left-out tables: real collections, then generated sources, one row per source
    tables = [df.value for df in at.dataframe if "called generated" in df.value.columns]
    real_table, gen_table = tables
    assert list(real_table["source"]) == sorted(r["source"] for r in reals)
    assert list(gen_table["source"]) == sorted(
        r["source"] for r in card["dfeatures"]["left_out"]["rows"] if r["kind"] == "generated")
    assert {"called generated", "unsure", "called real", "no face", "95% upper bound",
            "8×8 control"} <= set(real_table.columns)
    assert {"called generated", "unsure", "called real", "no face", "family seen in fitting",
            "AUC vs real", "8×8 control"} <= set(gen_table.columns)
    assert all(v.endswith("%") for v in real_table["95% upper bound"])
    catch = next(m.value for m in at.markdown if m.value.startswith("Generated faces it called"))
    for r in card["dfeatures"]["left_out"]["rows"]:
        if r["kind"] == "generated":
            assert f"**{r['source']}** {explain.pct(r['generated'] / r['scored'])}" in catch
            if r["family_seen"] is False and r["generated"] / r["scored"] < explain.MOSTLY_MISSED:
                assert "does not catch generators it was not fitted on" in catch
    assert any("8×8 thumbnail control" in m.value for m in at.markdown)
    assert any(m.value.startswith("After a change") or m.value.startswith("No change turned")
               for m in at.markdown)                  # the robustness curves, in words
    assert len(image_urls(at)) >= 2                   # left-out and robustness figures

    # a photo of each kind: a verdict in words, a reason when unsure, the same in the CSV
    at = upload(at, [("real.jpg", png(source_photo("real_studio", 0)), "image/jpeg"),
                     ("made.png", png(source_photo("gen_nearest", 0)), "image/png")])
    forensic = csv_rows(at, media)
    for row in forensic:
        assert row["detector"] == "dfeatures" and row["status"] == "scored"
        assert row["verdict"] in VERDICTS
        assert (row["reason"] in REASONS.values()) == (row["verdict"] == "unsure")
    assert verdicts_shown(at) == reasons_of(forensic)

    at.radio(key="detector").set_value("discriminator").run()
    no_exceptions(at)
    body = "\n".join(m.value for m in at.markdown)
    assert f"**In use: {TITLES['discriminator']}" in body
    assert "On photo collections it never saw, the detector called at most" in body
    disc = csv_rows(at, media)
    assert [r["detector"] for r in disc] == ["discriminator"] * 2
    assert disc[0]["threshold"] != forensic[0]["threshold"]


@pytest.mark.slow
def test_photos_in_the_unsure_band_say_so_with_the_reason(fitted_models, monkeypatch, media):
    from tests.detector_fixtures import png, source_photo

    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(fitted_models))
    at = new_app()
    at.sidebar.selectbox(key="model").set_value("wide").run()
    at.switch_page(PAGE).run()
    at = upload(at, [(f"{i}.jpg", png(source_photo("real_street", i)), "image/jpeg")
                     for i in range(2)])
    rows = csv_rows(at, media)
    assert [r["verdict"] for r in rows] == ["unsure", "unsure"]
    assert all(r["reason"] in (REASONS["band"], REASONS["unfamiliar"]) for r in rows)
    assert verdicts_shown(at) == reasons_of(rows)


@pytest.mark.slow
def test_a_report_without_the_detector_in_use_shows_none_of_its_figures(fitted_models,
                                                                          monkeypatch):
    """Between a refit and its report, the report's figures (other detectors') are not shown
    under the detector in use; the page says what was not measured."""
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(fitted_models))
    at = new_app()
    at.sidebar.selectbox(key="model").set_value("partial").run()
    at.switch_page(PAGE).run()
    no_exceptions(at)
    assert at.radio(key="detector").value == "dfeatures"
    assert not image_urls(at) and not at.json
    assert not [e for e in at.expander if "robustness" in e.label or "per group" in e.label]
    assert any("have not been measured for this detector yet" in c.value for c in at.caption)
    assert any(t.startswith("Generated faces it called") for t in (m.value for m in at.markdown))


@pytest.mark.slow
def test_damaged_fitted_detectors_are_not_offered_and_the_page_says_why(fitted_models,
                                                                        monkeypatch):
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(fitted_models))
    at = new_app()
    at.sidebar.selectbox(key="model").set_value("damaged").run()
    at.switch_page(PAGE).run()
    no_exceptions(at)
    assert not at.radio                                   # one detector left: no choice
    warnings = [w.value for w in at.warning]
    for key in ("forensic", "dfeatures"):
        assert any(f"{key} detector stored with this model cannot be used" in w
                   and "gan.detector fit" in w for w in warnings)
    assert "**In use: The GAN's own discriminator" in "\n".join(m.value for m in at.markdown)


@pytest.mark.slow
def test_an_old_format_bundle_still_works_and_says_what_to_refit(fitted_models, monkeypatch,
                                                                  media):
    """A card fitted before the leave-one-source-out rule (models/default until it is refitted):
    the forensic detector is reported as needing a refit, the discriminator keeps its one
    threshold, the old report's figures are not shown, and uploads are still judged."""
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(fitted_models))
    at = new_app()
    at.sidebar.selectbox(key="model").set_value("old").run()
    at.switch_page(PAGE).run()
    no_exceptions(at)
    assert not at.radio
    warnings = [w.value for w in at.warning]
    assert any("forensic detector stored with this model cannot be used" in w
               and "older version" in w and "--sources" in w for w in warnings)
    assert any("`detection/report/report.json` was written by an older version" in w
               for w in warnings)
    assert not [w for w in warnings if "is damaged" in w]
    body = "\n".join(m.value for m in at.markdown)
    assert "**In use: The GAN's own discriminator" in body
    assert "not been measured on photo sources left out of its fitting" in body
    threshold = card_of(fitted_models / "old")["discriminator"]["threshold"]
    assert f"at least **{explain.p_text(threshold)}**: one threshold stored" in body
    at = upload(at, [("me.png", face_png(160), "image/png")])
    row = csv_rows(at, media)[0]
    assert row["status"] == "scored" and row["verdict"] in VERDICTS
    assert float(row["threshold"]) == pytest.approx(threshold, abs=1e-6)


def test_an_unmeasured_model_says_so_and_how_to_measure_it(app_env):
    at = new_app(PAGE)
    no_exceptions(at)
    assert any("Nobody has measured how often this detector is right" in m.value
               for m in main_path(at.main) if m.type == "markdown")
    how = next(e for e in at.expander if e.label == "How to measure it")
    assert any("python -m gan.detector fit --model models/default --sources SOURCES.json"
               in c.value for c in how.code)
    assert not [w.value for w in at.warning if "is damaged" in w.value]


def test_the_tally_reads_as_one_sentence_when_no_photo_is_judged(app_env):
    """Nothing judged: one sentence, no stray full stop before the semicolon."""
    at = upload(new_app(PAGE), [("notes.png", b"not an image at all", "image/png")])
    no_exceptions(at)
    tally = next(m.value for m in at.markdown if "judged" in m.value and m.value.startswith("**"))
    assert tally == ("**No photo judged**; 1 file could not be judged (the reason is shown "
                     "with it).")


def group_photo(n: int = 4) -> bytes:
    """`n` drawn faces side by side in one PNG, as a visitor pastes photos together."""
    from tests.factories import draw_face

    canvas = Image.new("RGB", (180 * n, 220), (120, 120, 120))
    for i in range(n):
        canvas.paste(draw_face(176 - 8 * i, 176 - 8 * i, seed=i + 1), (180 * i, 20))
    return encode(canvas, "PNG")


def test_the_page_promises_an_answer_for_each_photos_largest_face_only(app_env):
    """The page judges one face a photo (the largest): the intro says so and promises no answer
    "for each face"; a photo of four faces gets one answer."""
    at = upload(new_app(PAGE), [("group.png", group_photo(4), "image/png")])
    no_exceptions(at)
    intro = at.markdown[0].value
    assert "For each face" not in intro and "largest face" in intro
    assert sum(answer in m.value for m in at.markdown for answer in
               ("Looks real", "Looks generated", "Unsure")) == 1


def test_the_last_batch_is_still_there_after_a_visit_to_another_page(app_env, media):
    """Streamlit empties the uploader when the visitor leaves the page (here for Generate); the last
    batch's answers are still shown when they come back, and a button starts over."""
    at = upload(new_app(PAGE), [("me.png", face_png(), "image/png"),
                                ("beach.jpg", landscape_jpeg(), "image/jpeg")])
    before = csv_rows(at, media)
    at.switch_page("pages/generate.py").run()
    at.switch_page(PAGE).run()
    no_exceptions(at)
    assert "Your photos" in [h.value for h in at.subheader]
    assert csv_rows(at, media) == before
    assert any("kept from your last visit" in c.value for c in at.caption)
    at.run()                                      # a rerun on the page keeps them too
    assert csv_rows(at, media) == before
    at.button(key="start_over").click().run()
    no_exceptions(at)
    assert "Your photos" not in [h.value for h in at.subheader]
    assert not [b for b in at.get("download_button") if b.key == "csv"]


def test_removing_every_file_from_the_uploader_clears_the_answers(app_env):
    at = upload(new_app(PAGE), [("me.png", face_png(), "image/png")])
    upload(at, [])
    assert "Your photos" not in [h.value for h in at.subheader]


def test_a_second_batch_judges_the_newest_files_and_unreadable_ones_do_not_count(app_env, media):
    """The uploader adds a new batch to the old one: the newest readable files are judged, the
    older ones are listed as left out with what to do, and a file that could not be read takes
    no place among them."""
    n = detection.MAX_FILES
    first = [(f"old{i:02d}.png", face_png(100 + i), "image/png") for i in range(n)]
    at = upload(new_app(PAGE), first)
    assert [r["status"] for r in csv_rows(at, media)] == ["scored"] * n
    new = [(f"new{i:02d}.png", face_png(140 + i), "image/png") for i in range(n)]
    bad = [("empty.jpg", b"", "image/jpeg"),
           ("anim.gif", encode(Image.open(io.BytesIO(face_png())), "GIF"), "image/gif")]
    upload(at, first + new[:5] + bad + new[5:])
    rows = csv_rows(at, media)
    assert [r["file"] for r in rows if r["status"] == "scored"] == [f for f, _, _ in new]
    assert [r["status"] for r in rows[:n]] == ["too many files"] * n
    assert {r["file"]: r["status"] for r in rows}["empty.jpg"] == "empty file"
    assert {r["file"]: r["status"] for r in rows}["anim.gif"] == "unsupported format"
    left_out = [w.value for w in at.warning if w.value == detection.TOO_MANY]
    assert len(left_out) == n and "newest" in left_out[0] and "Start over" in left_out[0]


def test_the_size_limit_is_said_under_the_uploader_and_where_nothing_was_judged(app_env):
    """A file over the limit is refused by the uploader itself and never reaches the page, so
    the page says the limit next to the uploader, and the empty page does not read as if the
    visitor had uploaded nothing while a refused file is listed."""
    import streamlit

    at = new_app(PAGE)
    limit = min(detection.MAX_UPLOAD_MB, streamlit.get_option("server.maxUploadSize"))
    seen = main_path(at.main)
    below = seen[[e.type for e in seen].index("file_uploader") + 1]
    assert below.type == "caption" and below.value.startswith(f"Each file up to {limit} MB")
    assert "refuses" in below.value
    assert sum(f"{limit} MB" in c.value for c in at.caption) == 1
    assert any(f"over {limit} MB" in i.value for i in at.info)


def test_the_count_line_agrees_with_each_number(app_env, monkeypatch):
    """"3 look real", not "3 looks real": every answer agrees with its count."""
    verdicts = {"a.png": "generated", "b.png": "generated", "c.png": "real", "d.png": "real",
                "e.png": "real", "f.png": "unsure", "g.png": "unsure"}

    def fake(files, bundle, det, source="upload"):
        return [detection.Result(name, source, "scored", p_generated=0.5, face_found=True,
                                 verdict=verdicts[name], reason="band" * (name > "e"))
                for name, _ in files]

    monkeypatch.setattr(detection, "score_uploads", fake)
    at = upload(new_app(PAGE), [(n, face_png(150 + 10 * i), "image/png")
                                for i, n in enumerate(verdicts)])
    assert "**7 photos judged:** 2 look generated, 3 look real, 2 unsure." in [
        m.value for m in at.markdown]
    assert explain.answer_count(1, "real") == "1 looks real"
    assert explain.answer_count(1, "generated") == "1 looks generated"
    assert explain.answer_count(1, "unsure") == "1 unsure"


def test_a_bomb_beyond_pillows_limit_says_its_size_and_our_limit_only(app_env):
    from tests.bad_inputs import png_header_only

    at = upload(new_app(PAGE), [("bomb.png", png_header_only(100_000, 100_000), "image/png")])
    said = [w.value for w in at.warning if "pixels" in w.value]
    assert said == [f"The image has too many pixels: 10,000 megapixels, and the limit is "
                    f"{detection.MAX_PIXELS // 1_000_000} megapixels. Resize it and try again."]
