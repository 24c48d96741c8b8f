"""AppTest of pages/project.py ("Your face") on the tiny test bundles: the page opens, a face
upload projects (few steps) and shows the photo beside its projection with MS-SSIM and the
downloads, a non-image gets the detect page's sentence and no traceback, and a rerun reuses the
session's result instead of projecting again. From the projection: the variations grid and its
variety slider, the attribute sliders editing the projected face (its z kept, labels moved
from the projection's own), and the morph GIF to a seed's face with its frame count."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from app_support import detection
from gan import sampling
from gan.bundle import load_bundle
from gan.data.preprocess import ImageError
from gan.projection import FeatureProjector, Projector
from tests.app_fixtures import (GROUPS, app_env, download, drawn_face, encode, face_png,  # noqa: F401
                                groups_env, landscape_jpeg, media, media_bytes, models_dir,
                                new_app, no_exceptions)

PAGE = "pages/project.py"
STEPS = 20


def upload(at, name, data, mime="image/png"):
    at.file_uploader(key="photo").set_value([(name, data, mime)]).run()
    no_exceptions(at)
    return at


def project(at, refine: bool = True):
    at.slider(key="steps").set_value(STEPS).run()
    at.toggle(key="refine").set_value(refine).run()
    at.button(key="project").click().run()
    no_exceptions(at)
    return at


def identity_notes(at, refined: bool = False) -> int:
    """How often the page says what a projection keeps (it must say it once)."""
    said = [e.value for kind in ("caption", "info", "markdown") for e in at.get(kind)]
    words = "usually keeps the person's identity" if refined else \
        "does **not** keep the person's identity"
    return sum(words in v for v in said)


def captioned(at, prefix: str) -> list[str]:
    """Media URLs of the images whose caption starts with `prefix` (face_grid's '#1', '1/5')."""
    return [im.url for el in at.get("image") for im in el.proto.imgs
            if im.caption.startswith(prefix)]


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


def projections(monkeypatch) -> list:
    """A list that grows by one each time the page projects a photo."""
    calls = []
    original = Projector.project

    def counting(self, *a, **kw):
        calls.append(1)
        return original(self, *a, **kw)

    monkeypatch.setattr(Projector, "project", counting)
    return calls


def test_a_rerun_reuses_the_result(app_env, monkeypatch):
    calls = projections(monkeypatch)
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


def test_several_faces_say_the_largest_is_projected(app_env):
    from tests.factories import draw_face

    canvas = Image.new("RGB", (480, 280), (120, 120, 120))
    canvas.paste(draw_face(260, 260, seed=1), (0, 10))
    canvas.paste(draw_face(200, 200, seed=2), (270, 40))
    buf = io.BytesIO()
    canvas.save(buf, "PNG")
    at = upload(new_app(PAGE), "group.png", buf.getvalue())
    assert any(i.value.startswith("2 faces were found in this photo: the largest is projected")
               for i in at.info)
    at = upload(new_app(PAGE), "me.png", face_png())
    assert not any("faces were found" in i.value for i in at.info)


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


def test_the_identity_sentence_is_said_once(app_env):
    at = new_app(PAGE)
    assert identity_notes(at, refined=True) == 1 and identity_notes(at) == 0
    at.toggle(key="refine").set_value(False).run()
    assert identity_notes(at) == 1 and identity_notes(at, refined=True) == 0
    project(upload(at, "me.png", face_png()), refine=False)
    assert identity_notes(at) == 1 and any("identity" in i.value for i in at.info)
    project(at, refine=True)
    assert identity_notes(at, refined=True) == 1 and identity_notes(at) == 0


def test_variations_grid_and_variety(app_env, media):
    at = project(upload(new_app(PAGE), "me.png", face_png()))
    assert "Variations" in [h.value for h in at.subheader]
    first = captioned(at, "#")
    assert len(first) == 8
    faces = [media_bytes(media, u) for u in first]
    assert len(set(faces)) > 1                              # not the same face eight times
    with zipfile.ZipFile(io.BytesIO(download(at, "proj_variations_zip", media))) as z:
        pngs = [n for n in z.namelist() if n.endswith(".png")]
        assert len(pngs) == 8 and "faces.json" in z.namelist()
        assert z.read(pngs[0]) == faces[0]
    at.slider(key="proj_variety").set_value(0.9).run()
    no_exceptions(at)
    wider = [media_bytes(media, u) for u in captioned(at, "#")]
    assert len(wider) == 8 and wider != faces
    at.button(key="proj_reroll").click().run()
    no_exceptions(at)
    assert [media_bytes(media, u) for u in captioned(at, "#")] not in (faces, wider)


def test_variations_stay_near_the_projection():
    z = np.random.default_rng(0).standard_normal(64).astype(np.float32)
    near, far = sampling.variations(z, 8, 0.1, seed=1), sampling.variations(z, 8, 1.0, seed=1)
    assert near.shape == (8, 64) and near.dtype == np.float32
    d_near = np.linalg.norm(near - z, axis=1).mean()
    d_far = np.linalg.norm(far - z, axis=1).mean()
    assert d_near < 0.2 * d_far
    assert np.allclose(np.linalg.norm(near, axis=1), np.linalg.norm(z), rtol=0.2)
    assert np.array_equal(near, sampling.variations(z, 8, 0.1, seed=1))


@pytest.fixture
def calls(monkeypatch) -> list:
    """(z, labels) of every generator call the page makes from now on."""
    seen: list = []
    real = sampling.generate_from_latents

    def spy(bundle, z, y=None, *a, **kw):
        seen.append((np.array(z), None if y is None else np.array(y)))
        return real(bundle, z, y, *a, **kw)

    monkeypatch.setattr(sampling, "generate_from_latents", spy)
    return seen


def test_a_slider_edits_the_projected_face(app_env, media, calls):
    at = new_app(PAGE)
    at.selectbox(key="model").set_value("cond").run()
    project(upload(at, "me.png", face_png()), refine=False)
    assert not any(b.key == "delta" for b in at.get("download_button"))
    z = np.load(io.BytesIO(download(at, "latent", media)))
    base = np.load(io.BytesIO(download(at, "labels", media)))
    assert not any(b.key == "proj_edited" for b in at.get("download_button"))   # nothing moved
    projection = media_bytes(media, captioned(at, "the closest face")[0])

    calls.clear()
    at.slider(key="proj_attr_male").set_value(1.0).run()
    no_exceptions(at)
    (z1, y1), *_ = calls
    assert np.array_equal(z1[0], z)                             # the projection's latent kept
    assert y1[0, 0] == pytest.approx(1.0) and y1[0, 1] == pytest.approx(base[1], abs=1e-4)
    edited = download(at, "proj_edited", media)
    assert edited != projection
    a = np.asarray(Image.open(io.BytesIO(edited))).astype(int)
    b = np.asarray(Image.open(io.BytesIO(projection))).astype(int)
    assert np.abs(a - b).max() > 0

    calls.clear()
    at.slider(key="proj_attr_male").set_value(-0.5).run()       # halfway to the other end
    (z2, y2), *_ = calls
    assert y2[0, 0] == pytest.approx(base[0] / 2, abs=1e-3)
    # variations follow the edit: same labels for every one of them
    var = next(y for zz, y in calls if len(zz) == 8)
    assert np.allclose(var, y2[0])
    # the generate page's sliders are not moved by this page's
    assert at.session_state["proj_attr_male"] == -0.5
    assert "attr_male" not in at.session_state


def test_a_refined_projection_keeps_its_residual_in_edits_variations_and_morph(
        app_env, media, monkeypatch):
    made: list = []
    real = FeatureProjector.faces

    def spy(self, z, labels, delta, keep=1.0):
        made.append((np.array(z), None if labels is None else np.array(labels),
                     np.array(delta), np.array(keep, np.float32)))
        return real(self, z, labels, delta, keep)

    monkeypatch.setattr(FeatureProjector, "faces", spy)
    at = new_app(PAGE)
    at.selectbox(key="model").set_value("cond").run()
    project(upload(at, "me.png", face_png()))
    said = "\n".join(c.value for c in at.caption)
    assert "refined in the generator's 16x16 feature map" in said
    assert "under the kept refinement" in said
    delta = np.load(io.BytesIO(download(at, "delta", media)))
    assert delta.dtype == np.float32 and delta.shape[:2] == (16, 16)
    z = np.load(io.BytesIO(download(at, "latent", media)))
    projection = np.asarray(Image.open(io.BytesIO(media_bytes(
        media, captioned(at, "the closest face")[0])))).astype(int)

    # the variations keep the residual times the share of z they keep
    (zv, yv, dv, kv), = [m for m in made if len(m[0]) == 8]
    assert np.array_equal(dv, delta) and np.allclose(kv, np.sqrt(1 - 0.3 ** 2))

    made.clear()
    at.slider(key="proj_attr_male").set_value(1.0).run()
    no_exceptions(at)
    ze, ye, de, _ = made[0]
    assert np.array_equal(ze[0], z) and ye[0, 0] == pytest.approx(1.0)
    assert np.array_equal(de, delta)
    edited = np.asarray(Image.open(io.BytesIO(download(at, "proj_edited", media)))).astype(int)
    assert np.abs(edited - projection).max() > 0

    # the morph: from the refined face, the residual fading to nothing at the generated face
    at.slider(key="proj_attr_male").set_value(0.0).run()
    made.clear()
    at.toggle(key="proj_morph_on").set_value(True).run()
    at.slider(key="proj_morph_frames").set_value(5).run()
    no_exceptions(at)
    (zm, ym, dm, km), = [m for m in made if len(m[0]) == 5]
    assert np.allclose(km, [1.0, 0.75, 0.5, 0.25, 0.0])
    first = np.asarray(Image.open(io.BytesIO(media_bytes(media, captioned(at, "1/5")[0]))))
    assert np.abs(first.astype(int) - projection).max() <= 1


def test_a_model_without_sliders_says_so(app_env):
    at = project(upload(new_app(PAGE), "me.png", face_png()))
    assert any("no attribute sliders" in c.value for c in at.caption)
    assert not [s for s in at.slider if s.key.startswith("proj_attr_")]


def test_the_morph_downloads_a_gif_with_the_frames_asked_for(app_env, media, models_dir):
    at = project(upload(new_app(PAGE), "me.png", face_png()), refine=False)
    assert not any(b.key == "proj_morph_gif" for b in at.get("download_button"))   # off at first
    at.toggle(key="proj_morph_on").set_value(True).run()
    at.number_input(key="proj_morph_seed").set_value(7).run()
    at.number_input(key="proj_morph_face").set_value(3).run()
    at.slider(key="proj_morph_frames").set_value(5).run()
    no_exceptions(at)
    data = download(at, "proj_morph_gif", media)
    gif = Image.open(io.BytesIO(data))
    assert gif.format == "GIF" and gif.n_frames == 5 + 3         # there and back
    frames = []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(np.asarray(gif.convert("RGB")).astype(int))
    bundle = load_bundle(models_dir / "default")
    z = np.load(io.BytesIO(download(at, "latent", media)))
    start = sampling.generate_from_latents(bundle, z[None])[0]
    end = sampling.generate_from_latents(bundle, sampling.latents(7, 3, bundle.latent_dim)[2:3])[0]
    assert np.abs(frames[0] - start).mean() < 12 and np.abs(frames[4] - end).mean() < 12
    assert np.abs(frames[0] - end).mean() > np.abs(frames[0] - start).mean()
    assert len(captioned(at, "1/5")) == 1 and len(captioned(at, "5/5")) == 1
    at.number_input(key="proj_morph_face").set_value(4).run()
    no_exceptions(at)
    assert download(at, "proj_morph_gif", media) != data


def test_bad_input_after_a_projection_gets_a_sentence_not_a_traceback(app_env):
    at = project(upload(new_app(PAGE), "me.png", face_png()))
    assert "Variations" in [h.value for h in at.subheader]
    at = upload(at, "notes.txt", b"hello, not a photo", "text/plain")
    sentence = detection.explain(ImageError("x", kind="not an image"))
    assert any(w.value == sentence for w in at.warning)
    assert "Variations" not in [h.value for h in at.subheader]
    assert identity_notes(at, refined=True) == 1
    small = io.BytesIO()
    Image.new("RGB", (20, 20), (120, 90, 80)).save(small, format="PNG")
    at = upload(at, "tiny.png", small.getvalue())
    assert at.warning and not at.error


def test_the_result_says_which_start_the_projection_used(app_env, tmp_path, monkeypatch):
    at = project(upload(new_app(PAGE), "me.png", face_png()))
    said = "\n".join(c.value for c in at.caption)
    assert "Started from the average face" in said and "`python -m gan.project fit" in said

    from gan import project as cli
    from tests.factories import make_tiny_bundle

    models = tmp_path / "models"
    path = make_tiny_bundle(models / "default", crop="face")
    assert cli.main(["fit", "--model", str(path), "--faces", "256", "--epochs", "1"]) == 0
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(models))
    at = project(upload(new_app(PAGE), "me.png", face_png()))
    assert any("Started from the guess of this model's encoder" in c.value for c in at.caption)


def test_a_grouped_model_has_controls_and_says_which_group_each_label_reads_as(
        groups_env, monkeypatch, media):
    """The dropdowns left on "any" are controls all the same: the page must not say the model
    has none; the label values are read as one group per label, the largest."""
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(groups_env))
    at = new_app(PAGE)
    at.selectbox(key="model").set_value("groups").run()
    project(upload(at, "me.png", face_png()), refine=False)
    assert [s.key for s in at.selectbox if s.key.startswith("proj_label_")] == [
        "proj_label_ethnicity", "proj_label_gender", "proj_label_age_group"]
    said = "\n".join(c.value for c in at.caption)
    assert "no attribute sliders" not in said and "no labels" not in said
    line = next(c.value for c in at.caption if "reads as" in c.value)
    values = dict(zip(GROUPS, np.load(io.BytesIO(download(at, "labels", media)))))
    for group in ("ethnicity", "gender", "age_group"):
        members = {k.split("=", 1)[1]: v for k, v in values.items() if k.startswith(group + "=")}
        assert f"{group.replace('_', ' ')} {max(members, key=members.get)}" in line


def test_the_photo_settings_and_projection_survive_a_visit_to_another_page(app_env,
                                                                            monkeypatch):
    """A visitor who projects, looks at another page and comes back finds their photo, their
    settings and the result as they left them, without projecting again; Start over clears
    them."""
    calls = projections(monkeypatch)
    at = upload(new_app(PAGE), "me.png", face_png())
    at.slider(key="steps").set_value(STEPS + 10).run()
    at.toggle(key="refine").set_value(False).run()
    at.button(key="project").click().run()
    at.toggle(key="proj_morph_on").set_value(True).run()
    shown = at.metric[0].value
    at.switch_page("pages/generate.py").run()
    at.switch_page(PAGE).run()
    no_exceptions(at)
    assert at.slider(key="steps").value == STEPS + 10
    assert at.toggle(key="refine").value is False
    assert at.toggle(key="proj_morph_on").value is True
    assert at.subheader[0].value == "Your photo and its projection"
    assert at.metric[0].value == shown and len(calls) == 1
    assert any("me.png" in e.value.replace("\\", "") for kind in ("caption", "info", "markdown")
               for e in at.get(kind))
    at.button(key="start_over").click().run()
    no_exceptions(at)
    assert not [s for s in at.subheader if s.value == "Your photo and its projection"]
    assert not any(b.key == "project" for b in at.button)


def test_clearing_the_upload_forgets_the_photo(app_env):
    at = project(upload(new_app(PAGE), "me.png", face_png()), refine=False)
    at.file_uploader(key="photo").set_value([]).run()
    no_exceptions(at)
    assert not [s for s in at.subheader if s.value == "Your photo and its projection"]


def test_a_photo_too_large_to_keep_between_pages_is_still_used_while_uploaded(app_env):
    """A photo above what the session keeps between pages is used as long as it is in the
    uploader; only after a page switch is the visitor asked for it again."""
    noise = np.random.default_rng(0).integers(0, 256, (1300, 1300, 3), dtype=np.uint8)
    data = encode(noise)
    assert len(data) > 4 << 20
    at = upload(new_app(PAGE), "big.png", data)
    assert not any("upload it again" in w.value for w in at.warning)
    assert any(b.key == "project" for b in at.button)
    at.switch_page("pages/generate.py").run()
    at.switch_page(PAGE).run()
    no_exceptions(at)
    assert any(b.key == "project" for b in at.button)       # still prepared for this model


def test_another_photo_of_the_same_name_and_size_is_projected_anew(app_env, monkeypatch):
    """The kept photo is told apart by its bytes, not its name and size: a second BMP of the
    same name and dimensions (so the same size in bytes) is projected, not shown the first's
    result."""
    calls = projections(monkeypatch)
    a = encode(drawn_face(200), "BMP")
    b = encode(drawn_face(200, skin=(120, 85, 60)), "BMP")
    assert len(a) == len(b) and a != b
    at = project(upload(new_app(PAGE), "me.bmp", a, "image/bmp"))
    assert len(calls) == 1
    project(upload(at, "me.bmp", b, "image/bmp"))
    assert len(calls) == 2
