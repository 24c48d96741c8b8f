"""AppTest of the Model quality page (pages/evaluate.py): a bundle with an evaluation shows
its figures in plain words, one without says what to run; and the wording helpers."""
from __future__ import annotations

import pytest

from gan.metrics import explain
from tests.app_fixtures import image_urls, main_path, new_app, no_exceptions
from tests.factories import make_tiny_bundle, write_photo_folder

PAGE = "pages/evaluate.py"


@pytest.fixture(scope="module")
def eval_models(tmp_path_factory):
    """models/ with `evaluated` (held-out split in its card, evaluated) and `plain` (never
    evaluated)."""
    from gan.bundle import update_card
    from gan.metrics.evaluate import evaluate_bundle

    root = tmp_path_factory.mktemp("models")
    photos = write_photo_folder(tmp_path_factory.mktemp("photos"), n=24, size=80)
    path = make_tiny_bundle(root / "evaluated", holdout_fraction=0.4)
    update_card(path, data={"source": str(photos), "holdout": {"fraction": 0.4}})
    evaluate_bundle(path, n=16, n_pairs=20)
    make_tiny_bundle(root / "plain", seed=1)
    return root


@pytest.fixture
def env(eval_models, monkeypatch):
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(eval_models))
    return eval_models


def page_text(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for kind in ("info", "warning", "error") for e in at.get(kind)]
    return "\n".join(parts)


def test_an_evaluated_model_shows_its_figures_in_plain_words(env):
    at = new_app(PAGE)
    no_exceptions(at)
    assert at.title[0].value == "Model quality"
    assert at.sidebar.selectbox(key="model").value == "evaluated"
    text = page_text(at)
    assert "Sliced Wasserstein distance" in text and "Lower is better" in text
    assert "measured at 128×128, so compare its SWD" in text        # 32 px model: no references
    assert "Generated pairs:" in text and "real pairs:" in text
    assert "memorisation" in text and "held-out" in text
    assert "not computed (no --inception-weights)" in text
    assert any("not been trained" in w.value for w in at.warning)
    assert "**Small patches**" in text and "**Variety**" in text and "**Copying**" in text
    assert len(image_urls(at)) == 4          # SWD chart, histogram, pairs, samples


def test_the_answer_and_the_faces_come_first_the_measurements_one_click_away(env):
    at = new_app(PAGE)
    no_exceptions(at)
    seen = main_path(at.main)
    said = [e.value for e in seen if e.type == "markdown"]
    answer = next(m for m in said if m.startswith("**In short:**"))
    for jargon in ("SWD", "MS-SSIM", "Wasserstein", "memorisation"):
        assert jargon not in answer, jargon
    tiles = [m for m in said if m.startswith(("**Small patches**", "**Variety**", "**Copying**"))]
    assert len(tiles) == 3 and all(t.split("\n", 1)[1].startswith("**") for t in tiles)  # words first
    assert [e.type for e in seen].count("image") == 1          # the faces that were measured
    order = [e.value if e.type == "markdown" else "image" for e in seen
             if e.type in ("markdown", "image")]
    assert order.index(answer) < order.index("image")        # the answer, then the picture
    assert not any("Sliced Wasserstein distance" in m for m in said)   # the detail: one click away
    assert any("Sliced Wasserstein distance" in m.value for m in at.markdown)
    assert not at.dataframe


def test_a_model_without_evaluation_says_what_to_run(env):
    at = new_app(PAGE)
    at.sidebar.selectbox(key="model").set_value("plain").run()
    no_exceptions(at)
    assert "has not been evaluated yet" in at.info[0].value
    assert at.code[0].value == "python -m gan.evaluate --model models/plain --real PATH/TO/REAL/PHOTOS"
    assert not image_urls(at)


REFS = {"real vs real": 11.0, "blurred": 60.0, "dcgan": 121.0, "noise": 255.0}


@pytest.mark.parametrize("value, words", [
    (12.0, "about as close to real photos as *real vs real*"),
    (80.0, "between *blurred* (~60) and *dcgan* (~121)"),
    (400.0, "worse than *noise*"),
])
def test_swd_is_placed_among_the_reference_points(value, words):
    assert words in explain.swd_position(value, REFS, 128)


@pytest.fixture(scope="module")
def audited_models(eval_models, tmp_path_factory):
    """models/ with `audited`: the evaluated bundle with a kept blind audit (5 of 6 generated
    faces labelled broken, no real photo), and `retrained`: the same audit kept, then the
    generator changed (the audit is of an earlier version)."""
    import json
    import shutil

    from gan.metrics import audit

    root = tmp_path_factory.mktemp("audited")
    path = root / "audited"
    shutil.copytree(eval_models / "evaluated", path)
    folder = tmp_path_factory.mktemp("sheet") / "a"
    key = audit.make_sheet(path, folder, n=6)
    gen = sorted(int(k) for k, v in key["faces"].items() if v["kind"] == "generated")
    (folder / audit.LABELS).write_text("number,label\n" + "".join(
        f"{k},{'broken' if k in gen[:5] else 'intact'}\n" for k in range(1, 13)))
    audit.score(folder)
    audit.record(folder, path)
    shutil.copytree(path, root / "retrained")
    card = json.loads((root / "retrained" / "model.json").read_text())
    card["audit"]["generator_sha256"] = "0" * 64
    (root / "retrained" / "model.json").write_text(json.dumps(card))
    return root


def test_a_kept_blind_audit_leads_the_page_with_its_sheet_one_click_away(audited_models,
                                                                         monkeypatch):
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(audited_models))
    at = new_app(PAGE)
    no_exceptions(at)
    assert at.sidebar.selectbox(key="model").value == "audited"
    seen = main_path(at.main)
    said = [e.value for e in seen if e.type == "markdown"]
    by_eye = next(m for m in said if m.startswith("**By eye:**"))
    assert "5 of 6 faces (83%) were judged broken, and 0 of 6 real photos" in by_eye
    tiles = [m for m in said if m.startswith(("**By eye**", "**Small patches**"))]
    assert tiles[0].startswith("**By eye**") and "Mostly not (5 of 6 broken)" in tiles[0]
    assert [e.type for e in seen].count("image") == 1              # the sheet: one click away
    assert any(e.label.startswith("Do its faces look right?") for e in at.expander)
    assert len(image_urls(at)) == 5                                # 4 figures + the sheet
    assert "earlier version" not in by_eye

    at.sidebar.selectbox(key="model").set_value("retrained").run()
    no_exceptions(at)
    assert any("That audit was of an earlier version of this model" in m.value
               for m in at.markdown)


def test_the_home_pages_table_answers_by_eye_first():
    from app_support.card_text import quality_rows

    card = {"metrics": {"swd_x1e3": {"average": 21.2}},
            "files": {"generator.keras": {"sha256": "a" * 64}},
            "audit": {"generator_sha256": "a" * 64, "scored": "2026-12-02T15:00:04+00:00",
                      "truncation": 1.0, "generated": {"broken": 64, "labelled": 64},
                      "real": {"broken": 0, "labelled": 64}}}
    rows = quality_rows(card)
    assert rows[0]["question"] == "Do its faces look like photos, by eye?"
    assert rows[0]["answer"] == "No: almost all look broken (64 of 64 broken)"
    assert "2026-12-02" in rows[0]["meaning"] and "0 of 64 real photos" in rows[0]["meaning"]
    card["audit"]["seed"] = 89          # a sheet of other faces than the page opens with
    assert "faces at seed 89 (nothing else changed) were shuffled" in quality_rows(card)[0]["meaning"]
    card["audit"]["seed"] = 0
    assert "faces with nothing changed" in quality_rows(card)[0]["meaning"]
    del card["audit"]
    assert all("by eye" not in r["question"] for r in quality_rows(card))


def test_the_swd_summary_says_it_measures_small_patches_not_whole_faces():
    """A model whose patches score like real photos may still draw broken faces (its blind
    audit says so just above): the summary must say what SWD measures and not claim the faces
    look as real as photos."""
    report = {"swd": {"average": 12.0, "references": REFS},
              "ms_ssim": {"mode_collapse": False, "relative": 0.0},
              "memorisation": {"memorisation": False}}
    said = [explain.answer(report)] + [v for _, v in explain.headline(report)]
    for text in said:
        assert "as real as" not in text and "more real" not in text and "less real" not in text
    assert "small patches" in said[0] and "whole face" in said[0]
    assert "small patches" in said[1]
