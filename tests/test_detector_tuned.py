"""The discriminator trained on against its finished generator (gan.detector.tuned): it learns
to tell its generator's faces from photos, `python -m gan.detector fit` stores it and measures
the discriminator's row with it, and a damaged file costs that detector only, with a clear
message."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.detector_fixtures import SOURCES, TINY_TARGET_FPR, damage, shared_sources, source_photo
from tests.factories import make_tiny_bundle

pytestmark = pytest.mark.slow


def _photos(n: int, side: int = 32, start: int = 0) -> np.ndarray:
    """Drawn real faces, framed as a 32 px centre-crop bundle frames them."""
    from gan.data.preprocess import preprocess_image

    return np.stack([preprocess_image(source_photo("real_studio", start + i), side, "center").image
                     for i in range(n)])


def _auc(real: np.ndarray, generated: np.ndarray) -> float:
    from gan.detector.calibrate import roc_auc

    return roc_auc(np.r_[np.zeros(len(real)), np.ones(len(generated))], np.r_[real, generated])


def test_training_on_tells_the_generators_faces_from_photos_it_never_saw(tmp_path):
    from gan.bundle import load_bundle
    from gan.detector import tuned
    from gan.detector.stored import discriminator_scores

    bundle = load_bundle(make_tiny_bundle(tmp_path / "b"))
    model = tuned.train(bundle, _photos(24), steps=60, batch=16)
    unseen = _photos(16, start=100)
    fakes = tuned.Faces(bundle, np.random.default_rng(9)).draw(16)
    before = _auc(discriminator_scores(bundle, unseen), discriminator_scores(bundle, fakes))
    after = _auc(tuned.scores(model, unseen), tuned.scores(model, fakes))
    assert after > 0.95 and after > before, (before, after)
    # the bundle's own discriminator is left as it was (the model trained is a copy)
    assert np.allclose(discriminator_scores(bundle, unseen),
                       discriminator_scores(load_bundle(tmp_path / "b"), unseen))


def test_a_fit_started_again_takes_the_trained_on_discriminator_from_the_cache(tmp_path, monkeypatch):
    from gan.bundle import load_bundle
    from gan.detector import tuned
    from gan.detector.fit import tune_discriminator

    bundle, photos = load_bundle(make_tiny_bundle(tmp_path / "b")), _photos(8)
    first = tune_discriminator(bundle, photos, steps=3, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("tuned-*.npz"))) == 1

    def no_training(*a, **k):
        raise AssertionError("trained again")

    monkeypatch.setattr(tuned, "train", no_training)
    again = tune_discriminator(bundle, photos, steps=3, cache_dir=tmp_path / "cache")
    assert again.data == first.data and (again.steps, again.photos) == (3, 8)
    assert np.allclose(tuned.scores(again.model, photos), tuned.scores(first.model, photos))
    for other in ({"photos": _photos(8, start=50), "steps": 3}, {"photos": photos, "steps": 4}):
        with pytest.raises(AssertionError, match="trained again"):   # other inputs: trained anew
            tune_discriminator(bundle, cache_dir=tmp_path / "cache", **other)


def test_too_few_photos_are_refused_with_a_message():
    from gan.detector import tuned

    with pytest.raises(tuned.TuneError, match="needs real photos"):
        tuned.train(object(), np.zeros((1, 32, 32, 3), np.uint8), steps=1)


def _cli(args, capsys):
    from gan.detector.__main__ import main

    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def _folder_of_photos(folder, n=24):
    folder.mkdir(parents=True)
    for i in range(n):
        source_photo("real_studio", 200 + i).save(folder / f"p{i:02d}.jpg", quality=95)
    return folder


def test_fit_trains_stores_and_measures_it_and_the_detector_uses_it(tmp_path, capsys):
    from gan.bundle import load_bundle, read_card
    from gan.detector import tuned
    from gan.detector.stored import TUNED_TITLE, pick

    manifest, cache = shared_sources()
    path = make_tiny_bundle(tmp_path / "b")
    common = ["--model", str(path), "--sources", str(manifest), "--cache", str(cache),
              "--classifier", "lr", "--target-fpr", str(TINY_TARGET_FPR), "--jobs", "1", "--quiet",
              "--robustness-photos", "0", "--group-photos", "0"]
    rc, out, err = _cli(["fit", *common, "--tune-steps", "20", "--learned-steps", "0", "--tune-photos",
                         str(_folder_of_photos(tmp_path / "photos"))], capsys)
    assert rc == 0, err
    card = read_card(path)
    assert card["detector"][tuned.KEY]["steps"] == 20 and card["detector"][tuned.KEY]["photos"] == 24
    assert tuned.FILE in card["files"] and (path / tuned.FILE).is_file()
    assert "trained on for 20 steps" in card["detector"]["discriminator"]["note"]
    rows = card["detector"]["discriminator"]["left_out"]["rows"]
    assert {r["source"] for r in rows} == set(SOURCES)

    bundle = load_bundle(path)
    det, warning = pick(bundle, "discriminator")
    assert det.title == TUNED_TITLE and warning is None
    faces = _photos(4, start=300)
    views = np.stack([faces, faces, faces], axis=1)
    assert np.allclose(det.raw(faces), tuned.scores(tuned.load(bundle), faces))
    assert len(det.judge(views).verdicts) == 4

    stored = (path / tuned.FILE).read_bytes()         # `report` measures the stored one again
    rc, out, err = _cli(["report", *common], capsys)
    assert rc == 0, err
    assert (path / tuned.FILE).read_bytes() == stored and read_card(path)["files"] == card["files"]

    rc, out, err = _cli(["fit", *common, "--keep-tuned", "--learned-steps", "0"], capsys)
    assert rc == 0, err                              # refit with the stored one, not a new one
    assert (path / tuned.FILE).read_bytes() == stored
    assert read_card(path)["detector"][tuned.KEY]["steps"] == 20

    rc, out, err = _cli(["fit", *common, "--tune-steps", "0", "--learned-steps", "0"], capsys)  # the raw one
    assert rc == 0, err
    card = read_card(path)
    assert tuned.KEY not in card["detector"] and tuned.FILE not in card["files"]
    assert not (path / tuned.FILE).exists()
    det, _ = pick(load_bundle(path), "discriminator")
    assert det.title != TUNED_TITLE
    rc, out, err = _cli(["fit", *common, "--keep-tuned"], capsys)     # none left to keep
    assert rc == 2 and "--keep-tuned" in err and len(err.strip().splitlines()) == 1


def test_a_damaged_trained_on_file_costs_that_detector_only_with_a_clear_message(tmp_path, capsys):
    from gan.bundle import load_bundle
    from gan.detect import main as detect_main
    from gan.detector import tuned
    from gan.detector.stored import pick, stored_detectors

    manifest, cache = shared_sources()
    path = make_tiny_bundle(tmp_path / "b")
    rc, _, err = _cli(["fit", "--model", str(path), "--sources", str(manifest), "--cache", str(cache),
                       "--classifier", "lr", "--target-fpr", str(TINY_TARGET_FPR), "--jobs", "1",
                       "--quiet", "--no-report", "--tune-steps", "5", "--learned-steps", "0", "--tune-photos",
                       str(_folder_of_photos(tmp_path / "photos"))], capsys)
    assert rc == 0, err
    damage(path / tuned.FILE)
    dets, problems = stored_detectors(load_bundle(path))
    assert "discriminator" not in [d.key for d in dets] and dets      # the others still work
    assert "SHA-256" in problems["discriminator"] and "python -m gan.detector fit" in problems["discriminator"]
    with pytest.raises(ValueError, match="trained-on discriminator"):
        pick(load_bundle(path), "discriminator")
    shutil.copy(tmp_path / "photos" / "p00.jpg", tmp_path / "one.jpg")
    rc = detect_main([str(tmp_path / "one.jpg"), "--model", str(path), "--detector", "discriminator"])
    out, err = capsys.readouterr()
    assert rc == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    rc = detect_main([str(tmp_path / "one.jpg"), "--model", str(path)])    # default: still works
    out, err = capsys.readouterr()
    row = json.loads(out.splitlines()[0])
    assert rc in (0, 1) and row["path"].endswith("one.jpg") and row["detector"] != "discriminator"
    assert "not usable" in err


def test_fit_without_the_training_photos_says_what_to_give(tmp_path, capsys):
    manifest, cache = shared_sources()
    path = make_tiny_bundle(tmp_path / "b")           # its card names no data that exists here
    rc, out, err = _cli(["fit", "--model", str(path), "--sources", str(manifest), "--cache",
                         str(cache), "--quiet", "--no-report"], capsys)
    assert rc == 2 and err.startswith("error: ") and "--tune-photos" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_stored_weights_are_int8_a_fraction_of_the_model_and_read_back_exactly(tmp_path):
    """The stored form of a detector model (int8 kernels per output channel): the model read
    back gives exactly the scores the fit measured, close to the unrounded model's, from a
    file far smaller than the float16 .keras a bundle's networks use."""
    from gan.bundle import load_bundle, save_model
    from gan.detector import kerasmodels, tuned

    bundle = load_bundle(make_tiny_bundle(tmp_path / "b"))
    model = tuned.image_model(bundle.discriminator)
    data, stored = kerasmodels.as_stored(model)
    back = kerasmodels.from_bytes(data, lambda: tuned.image_model(bundle.discriminator))
    faces = _photos(12)
    assert np.array_equal(tuned.scores(back, faces), tuned.scores(stored, faces))
    raw = tuned.scores(model, faces)
    assert np.abs(tuned.scores(back, faces) - raw).max() < 0.02 * (np.abs(raw).max() + 1)
    save_model(model, tmp_path / "f16.keras")
    assert len(data) < 0.7 * (tmp_path / "f16.keras").stat().st_size
    assert kerasmodels.to_bytes(back) == data                    # storing again changes nothing
    with pytest.raises(ValueError, match="not a FaceGAN weights file"):
        kerasmodels.from_bytes((tmp_path / "f16.keras").read_bytes(), lambda: model)


def test_a_trained_on_discriminator_cached_as_keras_is_taken_too(tmp_path, monkeypatch):
    """A fit stopped before weights-only storage left .keras files in the cache: used, not
    trained again."""
    from gan.bundle import load_bundle, save_model
    from gan.detector import fit, tuned

    bundle, photos = load_bundle(make_tiny_bundle(tmp_path / "b")), _photos(8)
    npz = fit._tuned_cache_file(tmp_path / "cache", bundle, photos, 3)
    npz.parent.mkdir(parents=True)
    save_model(tuned.image_model(bundle.discriminator), npz.with_suffix(".keras"))
    monkeypatch.setattr(tuned, "train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    got = fit.tune_discriminator(bundle, photos, steps=3, cache_dir=tmp_path / "cache")
    assert npz.is_file() and got.data == npz.read_bytes()
