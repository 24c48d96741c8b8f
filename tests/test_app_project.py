"""AppTest of pages/project.py ("Your face") on the tiny test bundles: the page opens, a face
upload projects (few steps) and shows the photo beside its projection with MS-SSIM and the
downloads, a non-image gets the detect page's sentence and no traceback, and a rerun reuses the
session's result instead of projecting again."""
from __future__ import annotations

import io

import numpy as np

from app_support import detection
from gan.data.preprocess import ImageError
from gan.projection import Projector
from tests.app_fixtures import (app_env, download, face_png, landscape_jpeg, media,  # noqa: F401
                                models_dir, new_app, no_exceptions)

PAGE = "pages/project.py"
STEPS = 20


def upload(at, name, data, mime="image/png"):
    at.file_uploader(key="photo").set_value([(name, data, mime)]).run()
    no_exceptions(at)
    return at


def project(at):
    at.slider(key="steps").set_value(STEPS).run()
    at.button(key="project").click().run()
    no_exceptions(at)
    return at


def test_the_page_opens(app_env):
    at = new_app(PAGE)
    no_exceptions(at)
    assert at.title[0].value == "Your face"
    assert at.file_uploader(key="photo")
    assert "identity" in "\n".join(c.value for c in at.caption)


def test_a_face_projects_and_shows_the_projection_and_ms_ssim(app_env, media):
    at = project(upload(new_app(PAGE), "me.png", face_png()))
    assert at.subheader[0].value == "Your photo and its projection"
    assert len(at.get("image")) >= 2
    labels = {m.label: m.value for m in at.metric}
    score = float(labels["MS-SSIM (pixels)"])
    assert -1.0 <= score <= 1.0
    assert labels["Time"].endswith(" s")
    z = np.load(io.BytesIO(download(at, "latent", media)))
    assert z.dtype == np.float32 and z.ndim == 1
    side = download(at, "side", media)
    assert side[:8] == b"\x89PNG\r\n\x1a\n"
    assert any("identity" in i.value for i in at.info)
    assert not any("No face was found" in w.value for w in at.warning)


def test_a_non_image_gets_the_sentence_and_no_exception(app_env):
    at = upload(new_app(PAGE), "notes.txt", b"hello, not a photo", "text/plain")
    sentence = detection.explain(ImageError("x", kind="not an image"))
    assert any(w.value == sentence for w in at.warning)
    assert "project" not in [b.key for b in at.button]
    assert not at.metric


def test_a_rerun_reuses_the_result(app_env, monkeypatch):
    calls = []
    original = Projector.project

    def counting(self, *a, **kw):
        calls.append(1)
        return original(self, *a, **kw)

    monkeypatch.setattr(Projector, "project", counting)
    at = project(upload(new_app(PAGE), "me.png", face_png()))
    assert len(calls) == 1
    first = at.metric[0].value
    at.run()                              # a rerun: shown again, not recomputed
    at.button(key="project").click().run()   # clicking again: the same
    no_exceptions(at)
    assert len(calls) == 1
    assert at.metric[0].value == first


def test_no_face_says_the_centre_is_used(app_env):
    at = upload(new_app(PAGE), "view.jpg", landscape_jpeg(), "image/jpeg")
    assert any("No face was found" in w.value and "centre" in w.value for w in at.warning)
    assert "project" in [b.key for b in at.button]


def test_the_projector_is_built_once_per_bundle_and_labels_come_with_a_conditional_one(
        app_env, monkeypatch, media):
    built = []
    original = Projector.__init__

    def counting(self, bundle):
        built.append(bundle.name)
        original(self, bundle)

    monkeypatch.setattr(Projector, "__init__", counting)
    at = new_app(PAGE)
    at.selectbox(key="model").set_value("cond").run()
    project(upload(at, "me.png", face_png()))
    assert built.count("cond") <= 1          # 0 when an earlier test of this process built it
    before = len(built)
    project(upload(at, "other.png", face_png(160)))
    assert len(built) == before              # the second photo reuses the projector
    assert len(at.metric) == 2
    labels = np.load(io.BytesIO(download(at, "labels", media)))
    assert labels.shape == (2,) and ((labels >= 0) & (labels <= 1)).all()
    assert "male" in "\n".join(c.value for c in at.caption)
