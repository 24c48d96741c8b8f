"""AppTest of the generate page's attribute sliders (same seed, same z, only the label input
moves) and its morph between two seeds (frames shown, animated GIF download)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from gan import sampling
from gan.bundle import load_bundle, update_card
from tests.app_fixtures import (app_env, download, image_urls, media, media_bytes,  # noqa: F401
                                models_dir, new_app, no_exceptions)
from tests.factories import make_tiny_bundle

PAGE = "pages/generate.py"


@pytest.fixture
def calls(monkeypatch) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(z, labels) of every generator call from now on."""
    seen: list = []
    real = sampling.generate_from_latents

    def spy(bundle, z, y=None, *a, **kw):
        seen.append((np.array(z), None if y is None else np.array(y)))
        return real(bundle, z, y, *a, **kw)

    monkeypatch.setattr(sampling, "generate_from_latents", spy)
    return seen


def cond_page(seed: int):
    at = new_app()
    at.sidebar.selectbox(key="model").set_value("cond").run()
    at.switch_page(PAGE).run()
    at.number_input(key="seed").set_value(seed).run()
    no_exceptions(at)
    return at


@pytest.mark.slow
def test_sliders_edit_the_same_faces(app_env, calls):
    at = cond_page(303)                                          # a seed no other test uses
    assert [s.label for s in at.slider if s.key.startswith("attr_")] == [
        "Female ↔ male", "Not smiling ↔ smiling"]
    z0, y0 = calls[-1]
    assert len(z0) == 16 and np.all(y0 == 0.5)                   # middle: the model decides
    middle = image_urls(at)

    calls.clear()
    at.slider(key="attr_male").set_value(1.0).run()
    no_exceptions(at)
    (z1, y1), = calls
    assert np.array_equal(z1, z0)                                # same seed, same z
    assert np.all(y1[:, 0] == 1.0) and np.all(y1[:, 1] == 0.5)   # only the male input moved
    male = image_urls(at)
    assert len(male) == 16 and male != middle

    at.slider(key="attr_smiling").set_value(-0.6).run()
    (z2, y2) = calls[-1]
    assert np.array_equal(z2, z0) and np.allclose(y2[0], [1.0, 0.2])

    calls.clear()
    at.slider(key="n_faces").set_value(20).run()                 # the count slider still only
    (z3, y3), = calls                                            # makes the new faces
    assert np.array_equal(z3, sampling.latents(303, 20, z0.shape[1])[16:])
    assert np.allclose(y3[0], [1.0, 0.2])

    calls.clear()
    at.slider(key="n_faces").set_value(16).run()
    at.slider(key="attr_smiling").set_value(0.0).run()
    at.slider(key="attr_male").set_value(0.0).run()              # back to the middle: the faces
    assert calls == [] and image_urls(at) == middle              # shown first, from the cache


def test_zip_names_and_manifest_carry_the_slider_labels(app_env, media):
    import json
    import zipfile

    at = cond_page(304)
    at.slider(key="attr_smiling").set_value(-1.0).run()
    with zipfile.ZipFile(io.BytesIO(download(at, "zip", media))) as z:
        manifest = json.loads(z.read("faces.json"))
        assert z.namelist()[0] == "cond_seed304_smiling_slider-1_01.png"
    assert manifest["labels"] == {} and manifest["toward"] == {"smiling": [0.0, 1.0]}
    assert "toward={'smiling': (0.0, 1.0)}" in manifest["remake"]


@pytest.fixture
def measured_models(tmp_path, monkeypatch):
    """A models folder whose conditional bundle has a measured slider reach of 1.5."""
    path = make_tiny_bundle(tmp_path / "default", label_names=["male", "smiling"], crop="center")
    update_card(path, attributes={"slider_reach": 1.5},
                metrics={"attributes": {"male_success_rate": 0.85, "smiling_success_rate": 0.4,
                                        "seeds": 500}})
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(tmp_path))
    return tmp_path


def test_slider_ends_follow_the_measured_reach(measured_models, calls):
    at = new_app(PAGE)
    no_exceptions(at)
    at.slider(key="attr_male").set_value(1.0).run()
    assert np.all(calls[-1][1][:, 0] == 1.25)
    at.slider(key="attr_male").set_value(-1.0).run()
    assert np.all(calls[-1][1][:, 0] == -0.25)
    caption = " ".join(c.value for c in at.caption)
    assert "85% of faces (female ↔ male)" in caption
    assert "40% of faces (not smiling ↔ smiling)" in caption


def test_unconditional_model_has_no_attribute_sliders(app_env):
    at = new_app(PAGE)
    no_exceptions(at)
    assert [s.key for s in at.slider] == ["n_faces", "truncation"]
    assert not at.select_slider and [b.key for b in at.selectbox] == ["model"]


@pytest.mark.slow
def test_morph_shows_frames_and_downloads_an_animated_gif(app_env, media, models_dir):
    at = new_app(PAGE)
    at.number_input(key="seed").set_value(11).run()
    n_faces = len(image_urls(at))
    assert not any(b.key == "morph_gif" for b in at.get("download_button"))   # off by default
    at.toggle(key="morph_on").set_value(True).run()
    at.slider(key="morph_frames").set_value(5).run()
    no_exceptions(at)
    assert at.number_input(key="morph_a").value == 11 and at.number_input(key="morph_b").value == 12
    assert len(image_urls(at)) == n_faces + 1 + 5                # the GIF and its 5 frames
    data = download(at, "morph_gif", media)
    shown = [media_bytes(media, u) for u in image_urls(at)[n_faces:]]
    assert shown[0] == data                                      # animated on the page too
    gif = Image.open(io.BytesIO(data))
    assert gif.format == "GIF" and gif.n_frames == 5 + 3         # there and back
    want = sampling.interpolate(load_bundle(models_dir / "default"), 11, 12, 5)
    frames = []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(np.asarray(gif.convert("RGB")).astype(int))
    assert np.abs(frames[0] - want[0]).mean() < 12 and np.abs(frames[4] - want[4]).mean() < 12
    assert np.abs(frames[0] - want[4]).mean() > np.abs(frames[0] - want[0]).mean()
    button = next(b for b in at.get("download_button") if b.key == "morph_gif")
    assert button.proto.label == "Download GIF"

    at.number_input(key="morph_b").set_value(40).run()
    no_exceptions(at)
    assert download(at, "morph_gif", media) != data


@pytest.mark.slow
def test_unconditional_model_with_fitted_directions_gets_sliders_that_move_z(
        tmp_path, monkeypatch, calls, media):
    import json
    import zipfile

    from gan.sliders import semantics

    path = make_tiny_bundle(tmp_path / "default")
    (path / "attributes").mkdir()
    (path / "attributes" / "directions.json").write_text(json.dumps({
        "format": semantics.DIRECTIONS_FORMAT, "latent_dim": 16, "names": ["male", "smiling"],
        "vectors": np.eye(2, 16).tolist()}))
    update_card(path, attributes={"direction_strength": 3.0,
                                  "directions": "attributes/directions.json"})
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(tmp_path))
    at = new_app(PAGE)
    at.number_input(key="seed").set_value(5).run()
    assert [s.key for s in at.slider if s.key.startswith("attr_")] == ["attr_male", "attr_smiling"]
    before = image_urls(at)
    at.slider(key="attr_smiling").set_value(-0.5).run()
    no_exceptions(at)
    z, y = calls[-1]
    want = sampling.latents(5, 16, 16)
    want[:, 1] -= 1.5                                            # -0.5 x strength 3 along e1
    assert y is None and np.allclose(z, want, atol=1e-6)
    assert image_urls(at) != before
    with zipfile.ZipFile(io.BytesIO(download(at, "zip", media))) as zf:
        assert zf.namelist()[0] == "default_seed5_smiling_slider-0.5_01.png"
        assert json.loads(zf.read("faces.json"))["sliders"] == {"smiling": -0.5}
    at.toggle(key="morph_on").set_value(True).run()             # the morph is edited too
    no_exceptions(at)
    z_m, _ = calls[-1]
    assert len(z_m) == 12 and np.allclose(z_m[0], want[0], atol=1e-5)


@pytest.fixture
def drawn_models(tmp_path, monkeypatch):
    """A models folder whose conditional bundle knows its training photos' label rows."""
    rows = np.array([[0, 0]] * 5 + [[1, 0]] * 3 + [[1, 1]] * 2, np.float32)
    make_tiny_bundle(tmp_path / "default", label_names=["male", "smiling"], crop="center",
                     label_rows=rows)
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(tmp_path))
    return tmp_path / "default"


def test_faces_get_labels_as_photos_have_them_and_sliders_move_each_from_its_own(
        drawn_models, calls):
    bundle = load_bundle(drawn_models)
    at = new_app(PAGE)
    no_exceptions(at)
    z0, y0 = calls[-1]
    own = sampling.label_matrix(bundle, 16, None, seed=0)
    assert np.array_equal(y0, own) and set(map(tuple, y0)) <= {(0, 0), (1, 0), (1, 1)}
    assert "drawn as the training photos have them" in at.slider(key="attr_male").help

    calls.clear()
    at.slider(key="attr_smiling").set_value(0.5).run()           # half way to smiling, per face
    (z1, y1), = calls
    assert np.array_equal(z1, z0) and np.array_equal(y1[:, 0], own[:, 0])
    assert np.allclose(y1[:, 1], own[:, 1] + 0.5 * (1 - own[:, 1]))

    calls.clear()
    at.slider(key="n_faces").set_value(20).run()                 # new faces: their own rows
    (_, y2), = calls
    assert np.allclose(y2[:, 1], 0.5 + 0.5 * sampling.label_matrix(bundle, 4, None, seed=0,
                                                                    start=16)[:, 1])
    assert np.array_equal(y2[:, 0], sampling.label_matrix(bundle, 20, None, seed=0)[16:, 0])


def test_a_morph_at_the_largest_seed_goes_to_another_face(app_env, media):
    """At the largest seed the default "to" seed cannot be seed + 1: it must still be another
    seed, so the morph is not one face repeated."""
    at = new_app(PAGE)
    at.number_input(key="seed").set_value(2**31 - 1).run()
    at.toggle(key="morph_on").set_value(True).run()
    at.slider(key="morph_frames").set_value(3).run()
    no_exceptions(at)
    a, b = at.number_input(key="morph_a").value, at.number_input(key="morph_b").value
    assert a == 2**31 - 1 and b != a
    frames = {im.caption: media_bytes(media, im.url) for el in at.get("image")
              for im in el.proto.imgs if im.caption in ("1/3", "3/3")}
    assert frames["1/3"] != frames["3/3"]                      # not one face repeated
    assert not any("one face" in w.value for w in at.warning)


def test_a_morph_from_a_seed_to_itself_says_it_is_one_face(app_env):
    at = new_app(PAGE)
    at.number_input(key="seed").set_value(5).run()
    at.toggle(key="morph_on").set_value(True).run()
    at.slider(key="morph_frames").set_value(3).run()
    at.number_input(key="morph_b").set_value(5).run()
    no_exceptions(at)
    assert any("one face" in w.value for w in at.warning)


def test_the_morph_stays_on_after_a_visit_to_another_page(app_env):
    at = new_app(PAGE)
    at.toggle(key="morph_on").set_value(True).run()
    at.slider(key="morph_frames").set_value(3).run()
    at.switch_page("pages/evaluate.py").run()
    at.switch_page(PAGE).run()
    no_exceptions(at)
    assert at.toggle(key="morph_on").value is True
    assert at.slider(key="morph_frames").value == 3
