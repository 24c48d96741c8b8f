"""`python -m gan.compact`: a bundle's discriminator stored as int8 weights (room for a second
model in models/' 60 MB) keeps the same faces, nearly the same raw score, loads everywhere a
bundle is read, and is refused where detectors were measured on the float16 weights."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gan.bundle import BundleError, load_bundle, read_card
from gan.sampling import generate
from tests.factories import make_tiny_bundle


def _raw_scores(bundle, faces, labels=None):
    from gan.data.preprocess import to_model_input

    x = to_model_input(faces)
    inputs = [x, labels] if bundle.conditional else x
    return np.asarray(bundle.discriminator(inputs, training=False), np.float64).reshape(-1)


def test_compact_discriminator_keeps_faces_and_nearly_the_score(tmp_path, capsys):
    from gan.compact import main
    from gan.sampling import label_matrix

    path = make_tiny_bundle(tmp_path / "b", label_names=["a", "b"], d_channels=16,
                            d_max_channels=64)
    before = load_bundle(path)
    faces = generate(before, 32, seed=5)
    y = label_matrix(before, 32, seed=5)
    keras_bytes = (path / "discriminator.keras").stat().st_size

    assert main(["--model", str(path)]) == 0
    out = capsys.readouterr().out
    assert "discriminator" in out and "moved by at most" in out

    card = read_card(path)
    assert "discriminator.keras" not in card["files"] and not (path / "discriminator.keras").exists()
    assert card["files"]["discriminator.npz"]["bytes"] == (path / "discriminator.npz").stat().st_size
    assert (path / "discriminator.npz").stat().st_size < 0.8 * keras_bytes
    assert card["storage"]["logit_change"]["faces"] == 256

    after = load_bundle(path)
    assert np.array_equal(generate(after, 32, seed=5), faces)          # generator untouched
    a, b = _raw_scores(before, faces, y), _raw_scores(after, faces, y)
    assert not np.array_equal(a, b)                                      # it was requantised...
    assert np.max(np.abs(a - b)) < 0.05 * (np.std(a) + 1e-3) + 1e-3      # ...by a sliver
    assert [w.dtype for w in after.discriminator.weights] == ["float32"] * len(after.discriminator.weights)

    # the compact file, written in place, is the bundle's as its card lists it: an export over
    # the bundle may still replace it
    from gan.bundle import BUNDLE
    from gan.io import check_replaceable

    check_replaceable(path, BUNDLE)


def test_compacting_twice_or_with_fitted_detectors_is_refused(tmp_path, capsys):
    from gan.compact import main

    path = make_tiny_bundle(tmp_path / "b")
    assert main(["--model", str(path)]) == 0
    capsys.readouterr()
    assert main(["--model", str(path)]) == 2
    assert "compact already" in capsys.readouterr().err

    fitted = make_tiny_bundle(tmp_path / "fitted")
    card = json.loads((fitted / "model.json").read_text())
    (fitted / "detection").mkdir()
    (fitted / "detection" / "forensic.npz").write_bytes(b"x")
    card["files"]["detection/forensic.npz"] = {
        "bytes": 1, "sha256": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"}
    (fitted / "model.json").write_text(json.dumps(card))
    before = (fitted / "discriminator.keras").read_bytes()
    assert main(["--model", str(fitted)]) == 2
    err = capsys.readouterr().err
    assert "detectors were fitted" in err and "detection/forensic.npz" in err and "Traceback" not in err
    assert (fitted / "discriminator.keras").read_bytes() == before
    assert not (fitted / "discriminator.npz").exists()


def test_a_damaged_compact_file_is_refused_with_a_clear_message(tmp_path):
    from gan.compact import main
    from gan.io import file_sha256

    path = make_tiny_bundle(tmp_path / "b")
    assert main(["--model", str(path)]) == 0
    f = path / "discriminator.npz"
    f.write_bytes(f.read_bytes()[:-40])
    with pytest.raises(BundleError, match="truncated or replaced"):
        load_bundle(path)
    card = json.loads((path / "model.json").read_text())       # a card written for the bad file
    card["files"]["discriminator.npz"] = {"bytes": f.stat().st_size, "sha256": file_sha256(f)}
    (path / "model.json").write_text(json.dumps(card))
    with pytest.raises(BundleError, match="not a readable compact model file"):
        load_bundle(path)


def test_a_card_without_any_discriminator_file_is_refused(tmp_path):
    path = make_tiny_bundle(tmp_path / "b")
    card = json.loads((path / "model.json").read_text())
    del card["files"]["discriminator.keras"]
    (path / "model.json").write_text(json.dumps(card))
    with pytest.raises(BundleError, match="discriminator.keras or discriminator.npz"):
        read_card(path)


def test_fine_tuning_from_a_compact_bundle_starts_from_its_weights(tmp_path, capsys):
    from gan.compact import main as compact
    from tests.factories import write_photo_folder
    from train import main as train

    base = make_tiny_bundle(tmp_path / "models" / "base")
    assert compact(["--model", str(base)]) == 0
    photos = write_photo_folder(tmp_path / "photos", n=12)
    assert train(["--data", str(photos), "--init-from", str(base), "--steps", "0",
                  "--batch-size", "8", "--crop", "center", "--precision", "float32",
                  "--n-jobs", "1", "--no-progress", "--no-broken-figure",
                  "--out", str(tmp_path / "tuned")]) == 0, capsys.readouterr().err
    tuned, stored = load_bundle(tmp_path / "tuned" / "bundle"), load_bundle(base)
    for w, v in zip(tuned.discriminator.get_weights(), stored.discriminator.get_weights()):
        np.testing.assert_allclose(w, v, atol=1e-3)     # the export rounds to float16
    assert "discriminator.keras" in read_card(tmp_path / "tuned" / "bundle")["files"]


@pytest.mark.slow
def test_the_app_shows_faces_of_a_compact_bundle(tmp_path, monkeypatch):
    from gan.compact import main
    from tests.app_fixtures import image_urls, new_app, no_exceptions

    make_tiny_bundle(tmp_path / "models" / "default", crop="face")
    assert main(["--model", str(tmp_path / "models" / "default")]) == 0
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(tmp_path / "models"))
    at = new_app("pages/generate.py").run()
    no_exceptions(at)
    assert image_urls(at)
