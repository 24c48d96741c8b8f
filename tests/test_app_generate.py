"""AppTest of pages/generate.py: slider, seed reproducibility, no regeneration of faces already
shown, labels for a conditional model, and the bytes of the PNG and ZIP downloads."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from gan import sampling
from gan.bundle import load_bundle
from tests.app_fixtures import (app_env, download, image_urls, media, media_bytes,  # noqa: F401
                                models_dir, new_app, no_exceptions)

PAGE = "pages/generate.py"


@pytest.fixture
def generated(monkeypatch) -> list[int]:
    """How many faces each generator call made, from now on."""
    calls: list[int] = []
    real = sampling.generate_from_latents
    monkeypatch.setattr(sampling, "generate_from_latents",
                        lambda b, z, *a, **kw: calls.append(len(z)) or real(b, z, *a, **kw))
    return calls


def set_seed(at, seed: int):
    at.number_input(key="seed").set_value(seed).run()
    no_exceptions(at)
    return image_urls(at)


@pytest.mark.slow
def test_slider_shows_that_many_faces_and_keeps_the_ones_shown(app_env, generated):
    at = new_app(PAGE)
    no_exceptions(at)
    generated.clear()
    at.number_input(key="seed").set_value(101).run()        # a seed no other test uses
    assert generated == [16]
    first = image_urls(at)
    assert len(first) == 16 and len(at.get("download_button")) == 2    # the ZIP and one PNG
    at.slider(key="n_faces").set_value(24).run()
    assert generated == [16, 8]                               # only the 8 new faces
    assert image_urls(at)[:16] == first and len(image_urls(at)) == 24
    at.slider(key="n_faces").set_value(5).run()
    assert generated == [16, 8] and image_urls(at) == first[:5]
    at.slider(key="n_faces").set_value(64).run()
    no_exceptions(at)
    assert generated == [16, 8, 40] and len(image_urls(at)) == 64


def test_same_seed_same_faces(app_env):
    at = new_app(PAGE)
    a, b = set_seed(at, 5), set_seed(at, 6)
    assert a != b and set_seed(at, 5) == a
    again = new_app(PAGE)                                     # a new visitor, same seed
    assert set_seed(again, 5) == a
    at.button(key="new_seed").click().run()
    assert at.number_input(key="seed").value != 5 and image_urls(at) != a


def test_variety_changes_the_faces(app_env):
    at = new_app(PAGE)
    a = set_seed(at, 8)
    at.slider(key="truncation").set_value(0.5).run()
    no_exceptions(at)
    assert image_urls(at) != a


def test_downloads_are_the_faces_shown(app_env, media, models_dir):
    at = new_app(PAGE)
    at.number_input(key="seed").set_value(42).run()
    at.slider(key="n_faces").set_value(6).run()
    no_exceptions(at)
    data = download(at, "zip", media)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        assert names == [f"default_seed42_{i:02d}.png" for i in range(1, 7)] + ["faces.json"]
        faces = np.stack([np.asarray(Image.open(io.BytesIO(z.read(n)))) for n in names[:6]])
        manifest = json.loads(z.read("faces.json"))
    assert manifest["seed"] == 42 and manifest["faces"] == 6
    ref = sampling.generate(load_bundle(models_dir / "default"), 6, seed=42)
    assert faces.shape == (6, 32, 32, 3) and np.abs(faces.astype(int) - ref).max() <= 1
    at.number_input(key="one_face").set_value(3).run()       # one face, picked by its number
    no_exceptions(at)
    third = download(at, "face", media)
    assert third == media_bytes(media, image_urls(at)[2])
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(third))), faces[2])
    button = next(b for b in at.get("download_button") if b.key == "face")
    assert button.label == "Download #3 as PNG"
    at.slider(key="n_faces").set_value(2).run()               # fewer faces than the number
    no_exceptions(at)
    assert at.number_input(key="one_face").value == 2


def test_zip_members_unpack_as_ordinary_files(app_env, media, tmp_path):
    # The ZIP's entries must unpack readable by the visitor's other programs and users
    # (rw-r--r--), not private (rw-------, what zipfile records by default).
    import os
    import shutil
    import stat
    import subprocess

    at = new_app(PAGE)
    at.slider(key="n_faces").set_value(3).run()
    no_exceptions(at)
    data = download(at, "zip", media)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        modes = {i.filename: stat.S_IMODE(i.external_attr >> 16) for i in z.infolist()}
        assert {i.create_system for i in z.infolist()} == {3}       # Unix: unzip applies modes
    assert len(modes) == 4 and set(modes.values()) == {0o644}, modes
    if shutil.which("unzip"):
        (tmp_path / "faces.zip").write_bytes(data)
        subprocess.run(["unzip", "-q", "faces.zip", "-d", "out"], cwd=tmp_path, check=True)
        got = {f.name: stat.S_IMODE(os.stat(f).st_mode) for f in (tmp_path / "out").iterdir()}
        assert got == modes


def test_64_faces_fit_without_a_button_under_each(app_env):
    at = new_app(PAGE)
    at.slider(key="n_faces").set_value(64).run()
    no_exceptions(at)
    assert len(image_urls(at)) == 64
    assert [b.key for b in at.get("download_button")] == ["zip", "face"]
    assert any("downloads are full size" in c.value for c in at.caption)


def test_conditional_model_has_label_controls(app_env):
    at = new_app()
    at.sidebar.selectbox(key="model").set_value("cond").run()
    at.switch_page(PAGE).run()
    no_exceptions(at)
    assert [s.key for s in at.slider if s.key.startswith("attr_")] == ["attr_male", "attr_smiling"]
    either = image_urls(at)
    said = " ".join(c.value for c in at.caption)
    assert "mostly the mouth, and subtly" in said and "hair, brows, jaw" in said
    at.slider(key="attr_male").set_value(1.0).run()
    no_exceptions(at)
    assert image_urls(at) != either
    at.slider(key="attr_male").set_value(0.0).run()
    assert image_urls(at) == either


def test_settings_survive_a_visit_to_another_page(app_env):
    at = new_app(PAGE)
    set_seed(at, 77)
    at.switch_page("pages/detect.py").run()
    at.switch_page(PAGE).run()
    assert at.number_input(key="seed").value == 77


def test_a_kept_blind_audit_is_said_beside_the_faces(models_dir, tmp_path, monkeypatch):
    """A visitor looking at broken faces reads the model's own audit of them on the same page;
    a model without an audit says nothing of the kind."""
    import shutil

    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(models_dir))
    plain = new_app(PAGE)
    no_exceptions(plain)
    assert not any("Do they look like photos?" in c.value for c in plain.caption)

    root = tmp_path / "models"
    shutil.copytree(models_dir / "default", root / "default")
    card = json.loads((root / "default" / "model.json").read_text())
    card["audit"] = {"dir": "audit", "sheet": "audit/sheet.jpg",
                     "generator_sha256": card["files"]["generator.keras"]["sha256"],
                     "scored": "2026-12-02T15:00:04+00:00", "truncation": 1.0,
                     "generated": {"broken": 60, "labelled": 64},
                     "real": {"broken": 1, "labelled": 64}}
    (root / "default" / "model.json").write_text(json.dumps(card))
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(root))
    at = new_app(PAGE)
    no_exceptions(at)
    said = [c.value for c in at.caption if "Do they look like photos?" in c.value]
    assert len(said) == 1
    assert "No: almost all look broken (60 of 64 broken)" in said[0]
    assert "60 of 64 faces (94%) were judged broken, and 1 of 64 real photos" in said[0]
