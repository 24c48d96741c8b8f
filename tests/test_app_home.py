"""AppTest of the home page (app.py): card in words, sample grid, model picker, and what a
visitor sees when the models folder is empty or a bundle is damaged, on every page."""
from __future__ import annotations

import pytest

import io

from tests.app_fixtures import (REPO, app_env, download, groups_env, image_urls,  # noqa: F401
                                main_path, media, media_bytes, models_dir, new_app,
                                no_exceptions)

PAGES = [None, "pages/generate.py", "pages/detect.py"]
TITLES = {None: "FaceGAN Studio", "pages/generate.py": "Generate faces",
          "pages/detect.py": "Is this face generated?"}


def text(at) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n".join(e.value for e in at.error)


def test_home_explains_the_app_and_the_model(app_env):
    at = new_app()
    no_exceptions(at)
    assert at.title[0].value == "FaceGAN Studio"
    body = text(at)
    assert "generator" in body and "discriminator" in body
    assert "32×32" in body and "none yet (0 steps)" in body
    assert "Nothing has been measured for this model yet" in body   # no metrics: said plainly
    assert any("not been trained" in w.value for w in at.warning)
    assert len(image_urls(at)) == 16
    picker = at.sidebar.selectbox(key="model")
    assert picker.options == ["default · 32px · untrained", "cond · 32px · untrained",
                              "zz_broken · 32px · untrained"]
    assert picker.value == "default"


def test_picking_another_model_changes_the_card(app_env):
    at = new_app()
    at.sidebar.selectbox(key="model").set_value("cond").run()
    no_exceptions(at)
    assert "female or male; not smiling or smiling" in text(at)
    assert any("`cond`" in h.value for h in at.subheader)


def test_model_from_the_query_string(app_env):
    from streamlit.testing.v1 import AppTest

    from tests.app_fixtures import APP

    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["model"] = "cond"
    at.run()
    assert at.sidebar.selectbox(key="model").value == "cond"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_inside_the_app_with_its_model_picker(app_env, page):
    # Streamlit starts in its folder-based multipage mode (pages/ exists); a page opened
    # directly must still run through app.py: navigation, then the sidebar's model picker.
    at = new_app()
    at.sidebar.selectbox(key="model").set_value("cond").run()
    if page:
        at.switch_page(page).run()
    no_exceptions(at)
    assert at.sidebar.selectbox(key="model").value == "cond"
    assert at.title[0].value == TITLES[page]


@pytest.mark.parametrize("page", PAGES)
def test_a_damaged_bundle_says_what_is_wrong_and_how_to_fix_it(app_env, page):
    at = new_app()
    at.sidebar.selectbox(key="model").set_value("zz_broken").run()
    if page:
        at.switch_page(page).run()
    no_exceptions(at)
    errors = " ".join(e.value for e in at.error)
    assert "`zz_broken` cannot be used" in errors and "generator.keras" in errors
    assert "git checkout -- models/" in text(at)


@pytest.mark.parametrize("page", PAGES)
def test_no_models_folder_is_explained_on_every_page(tmp_path, monkeypatch, page):
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(tmp_path / "nothing-here"))
    at = new_app(page)
    no_exceptions(at)
    assert "No model is installed" in at.error[0].value
    assert "git checkout -- models/" in text(at) and "FACEGAN_MODELS_DIR" in text(at)


def test_reruns_keep_the_shared_models_and_streamlits_clean_up_is_cheap(app_env, media):
    # Streamlit calls keras.backend.clear_session() (a full GC) after every run. The shared
    # models must survive it, and it must not walk TensorFlow's and the models' objects on
    # every click: the app moves them out of the GC's way (gc.freeze) once a bundle is loaded.
    import gc
    import time

    import keras
    import streamlit as st

    st.cache_resource.clear()             # the bundle loads (and is frozen) in this test
    at = new_app()
    no_exceptions(at)
    first = [media_bytes(media, u) for u in image_urls(at)]
    assert gc.get_freeze_count() > 100_000 and len(gc.get_objects()) < gc.get_freeze_count() / 5
    at.run()
    no_exceptions(at)
    assert [media_bytes(media, u) for u in image_urls(at)] == first
    start = time.process_time()
    keras.backend.clear_session()
    assert time.process_time() - start < 0.25


# --- A trained, evaluated model: what a newcomer sees first -----------------------------------

DEFAULT_CARD = REPO / "models" / "default" / "model.json"


@pytest.fixture(scope="module")
def trained_models(tmp_path_factory):
    """models/ with `trained`: a tiny conditional bundle, evaluated (so it stores sample faces),
    whose card carries the bundled model's training history, slider and copying figures (a
    fine-tune: its `steps` are the last stage's, `total_steps` all of them)."""
    import json

    from gan.bundle import read_card, update_card
    from gan.metrics.evaluate import evaluate_bundle
    from tests.factories import make_tiny_bundle, write_photo_folder

    real = json.loads(DEFAULT_CARD.read_text())
    root = tmp_path_factory.mktemp("models")
    photos = write_photo_folder(tmp_path_factory.mktemp("photos"), n=24, size=80)
    path = make_tiny_bundle(root / "trained", label_names=["male", "smiling"])
    evaluate_bundle(path, photos, n=20, n_pairs=20)
    metrics = {**read_card(path)["metrics"], "attributes": real["metrics"]["attributes"],
               "memorisation": real["metrics"]["memorisation"]}   # needs the training photos
    update_card(path, training=real["training"], metrics=metrics, notes=real["notes"])
    return root


@pytest.fixture
def trained_env(trained_models, monkeypatch):
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(trained_models))
    return trained_models


def visible_text(at) -> str:
    parts = []
    for e in main_path(at.main) + main_path(at.sidebar):
        if e.type == "table":
            parts.append(e.value.to_string())
        elif e.type in ("markdown", "caption", "title", "subheader", "header", "warning", "info",
                        "error", "json", "selectbox"):
            parts.append(str(getattr(e, "value", "")))
            if e.type == "selectbox":
                parts += [str(o) for o in e.options]
    return "\n".join(parts)


def test_first_faces_come_from_the_bundle_without_the_generator(trained_env, media, monkeypatch):
    # A newcomer's first faces must not wait for TensorFlow and the model: an evaluated bundle
    # stores faces its generator made, and the home page shows those (the model loads behind).
    import threading

    import numpy as np
    from PIL import Image

    from gan import sampling
    from gan.bundle import load_bundle
    from gan.metrics.evaluate import generate_faces

    calls = []
    real = sampling.generate_from_latents
    monkeypatch.setattr(sampling, "generate_from_latents", lambda *a, **kw: (
        calls.append(threading.current_thread().name) or real(*a, **kw)))
    at = new_app()
    no_exceptions(at)
    assert not [c for c in calls if not c.startswith("facegan-load")]   # none in the page run
    shown = np.stack([np.asarray(Image.open(io.BytesIO(media_bytes(media, u)))).copy()
                      for u in image_urls(at)])
    assert shown.shape == (16, 32, 32, 3)
    want = generate_faces(load_bundle(trained_env / "trained"), 20, seed=0)[:16]
    assert np.abs(shown.astype(int) - want).max() <= 1       # this generator's faces, in order
    assert "seed 0" in " ".join(c.value for c in at.caption)


def test_home_page_speaks_words_not_card_keys(trained_env):
    at = new_app()
    no_exceptions(at)
    seen = visible_text(at)
    for raw in ("swd_x1e3", "ms_ssim.", "memorisation.", "mode_collapse", "--label-loss",
                "--mode-seeking", "init_from", "{"):
        assert raw not in seen, raw
    table = next(e for e in main_path(at.main) if e.type == "table").value
    answers = dict(zip(table["Question"], table["Answer"]))
    assert answers["Does it keep making the same few faces?"] in ("Yes", "No")
    assert answers["Does it copy its training photos?"] == "No"
    assert "real photos" in " ".join(table["What it means"])
    assert not at.dataframe                                    # no fixed-height scroll boxes
    # The reference material is one click away, with the meanings right.
    ref = next(e for e in at.main.get("table") if "figure (key in model.json)" in e.value.columns)
    meaning = dict(zip(ref.value["figure (key in model.json)"], ref.value["meaning"]))
    assert meaning["ms_ssim.real"].startswith("MS-SSIM between pairs of real photos")
    assert meaning["ms_ssim.mode_collapse"].startswith("yes/no")
    assert all(meaning[k] for k in meaning if k.startswith("memorisation."))


def test_sidebar_steps_agree_with_the_cards_total(trained_env):
    import json

    from app_support import card_text

    card = json.loads((trained_env / "trained" / "model.json").read_text())
    total = card["training"]["total_steps"]
    assert total != card["training"]["steps"]                 # a fine-tuned model
    at = new_app()
    no_exceptions(at)
    picker = at.sidebar.selectbox(key="model")
    assert picker.options == [f"trained · 32px · {total:,} steps"]
    said = [c.value for c in at.sidebar.caption]
    assert f"Trained for {total:,} steps in all (the last {card['training']['steps']:,} a " \
           "fine-tune)." in said
    assert card_text.total_steps(card) == total
    body = text(at)
    assert f"{total:,} steps in all" in body
    assert f"the last {card['training']['steps']:,} steps fine-tuned" in body


def test_the_full_model_card_is_readable_and_downloadable(trained_env, media):
    import json

    at = new_app()
    no_exceptions(at)
    card = (trained_env / "trained" / "model.json").read_bytes()
    assert download(at, "card_json", media) == card
    shown = at.get("json")[0]
    assert json.loads(shown.proto.body) == json.loads(card)
    assert shown.proto.max_expand_depth == 1                  # opens to its sections, not {...}


def generate_card(at) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Up to 64 faces"))


def test_the_generate_card_names_the_chosen_models_own_choices(groups_env, monkeypatch):
    """The Generate card promises only what the chosen model lets a visitor choose."""
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(groups_env))
    at = new_app()
    assert "smiling" not in generate_card(at) and "male" not in generate_card(at)  # no labels
    at.sidebar.selectbox(key="model").set_value("cond").run()
    assert "female or male" in generate_card(at) and "smiling" in generate_card(at)
    at.sidebar.selectbox(key="model").set_value("groups").run()
    no_exceptions(at)
    card = generate_card(at)
    assert "smiling" not in card
    assert "ethnicity (asian, black)" in card and "gender (female, male)" in card
