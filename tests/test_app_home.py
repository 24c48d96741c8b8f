"""AppTest of the home page (app.py): card in words, sample grid, model picker, and what a
visitor sees when the models folder is empty or a bundle is damaged, on every page."""
from __future__ import annotations

import pytest

from tests.app_fixtures import (app_env, image_urls, media, media_bytes, models_dir,  # noqa: F401
                                new_app, no_exceptions)

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
    assert "none measured for this model yet" in body          # no metrics: said plainly
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
    assert "`male`, `smiling`" in text(at) and "`cond`" in at.subheader[0].value


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
