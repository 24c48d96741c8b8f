"""Evaluation metrics with known answers, on small synthetic 'faces' made here (no shared
data): SWD orders same < blurred < noise, MS-SSIM flags a collapsed generator, the
memorisation check flags a generator that replays training photos, FID maths on Gaussians,
the clear message without Inception weights, and the CLI end to end on a tiny bundle."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from gan.metrics import inception, memorisation, msssim, swd
from tests.factories import draw_face, make_tiny_bundle, write_photo_folder


def cartoon_faces(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """n varied drawn faces (the tests' `draw_face`: placement, size, skin and background vary;
    its noise is fine detail, like a photo's), so blur and noise are measurable."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), np.uint8)
    for k in range(n):
        center = (size / 2 + rng.normal(0, 0.05 * size), size / 2 + rng.normal(0, 0.05 * size))
        out[k] = draw_face(size, size, seed=int(rng.integers(1 << 31)), center=center,
                           face_width=rng.uniform(0.35, 0.5) * size,
                           skin=tuple(int(v) for v in rng.integers(90, 250, 3)))
    return out


def blur(images: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(im, (0, 0), sigma) for im in images])


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return cartoon_faces(300, 64, seed=0)


# --------------------------------------------------------------------------- SWD

def test_swd_of_identical_descriptors_is_exactly_zero():
    d = np.random.default_rng(0).standard_normal((500, 147)).astype(np.float32)
    assert swd.sliced_wasserstein(d, d.copy(), np.random.default_rng(1)) == 0.0


def test_laplacian_pyramid_levels_and_reconstruction(faces):
    levels = swd.laplacian_pyramid(faces[:3], 3)
    assert [lv.shape[1] for lv in levels] == [64, 32, 16]
    # collapsing the pyramid gives the image back (it is a lossless decomposition)
    img = levels[2]
    for lv in (levels[1], levels[0]):
        img = np.stack([swd.pyr_up(im) for im in img]) + lv
    assert np.allclose(img, faces[:3].astype(np.float32), atol=1e-3)


@pytest.mark.slow
def test_swd_orders_same_blurred_noise(faces):
    a, b = faces[:150], faces[150:]
    same = swd.swd(a, a, seed=0)["average"]
    halves = swd.swd(a, b, seed=0)
    blurred = swd.swd(a, blur(b), seed=0)
    noise = swd.swd(a, np.random.default_rng(0).integers(0, 256, b.shape, dtype=np.uint8), seed=0)
    assert list(halves["levels"]) == ["64", "32", "16"] and halves["images"] == 150
    # the same set, or another sample of its distribution: low; blurred: far; noise: farthest
    assert same < 0.2 * blurred["average"] and halves["average"] < 0.35 * blurred["average"]
    assert blurred["average"] < noise["average"]
    flat = swd.swd(a, np.full_like(b, 128), seed=0)       # an untrained generator's grey
    assert noise["average"] < flat["average"] < 2000      # bad, but a finite, bounded figure
    assert blurred["levels"]["64"] > blurred["levels"]["16"]     # blur hurts fine detail most
    assert swd.swd(a, b, seed=0) == halves                       # same seed, same figures


def test_swd_uses_equal_numbers_and_refuses_mismatched_sizes(faces):
    assert swd.swd(faces[:50], faces[50:200], seed=0)["images"] == 50
    with pytest.raises(ValueError, match="one size"):
        swd.swd(faces[:4], faces[:4, :32, :32])


# --------------------------------------------------------------------------- MS-SSIM

def test_msssim_flags_a_collapsed_generator_and_not_a_diverse_one(tmp_path, faces):
    import keras

    from gan.bundle import load_bundle
    from gan.metrics.evaluate import generate_faces

    bundle = load_bundle(make_tiny_bundle(tmp_path / "b"))       # 32 px, latent 16
    face = faces[0, ::2, ::2].astype(np.float32) / 127.5 - 1.0   # one 32 px face in [-1, 1]
    # A generator that ignores z: zero weights, the face as bias.
    bundle.generator = keras.Sequential([
        keras.Input((bundle.latent_dim,)),
        keras.layers.Dense(32 * 32 * 3, kernel_initializer="zeros",
                           bias_initializer=keras.initializers.Constant(face.reshape(-1))),
        keras.layers.Reshape((32, 32, 3))])
    collapsed = generate_faces(bundle, 60, seed=0)
    assert (collapsed == collapsed[0]).all()
    real = faces[150:, ::2, ::2]
    verdict = msssim.compare(collapsed, real, n_pairs=100)
    assert verdict["mode_collapse"] and verdict["generated"] > 0.99
    assert "mode collapse" in verdict["verdict"]
    diverse = msssim.compare(faces[:150, ::2, ::2], real, n_pairs=400)
    assert not diverse["mode_collapse"] and abs(diverse["relative"]) < 0.1


def test_msssim_scales_fit_the_image_size():
    assert len(msssim.power_factors(128)) == 3 and len(msssim.power_factors(32)) == 2
    assert abs(sum(msssim.power_factors(128)) - 1) < 1e-9
    pairs = msssim.random_pairs(3, 500, np.random.default_rng(0))
    assert (pairs[:, 0] != pairs[:, 1]).all() and pairs.max() == 2


# --------------------------------------------------------------------------- memorisation

@pytest.mark.slow
def test_memorisation_flags_a_generator_that_replays_training_photos(faces):
    train, held, new = faces[:180], faces[180:250], faces[250:]
    rng = np.random.default_rng(0)
    replay = train[rng.choice(180, 50, replace=False)]
    replay[::2] = replay[::2, :, ::-1]                  # mirrored copies count too
    copied = memorisation.check(replay, train, held)
    assert copied["memorisation"] and copied["fraction_closer"] > 0.9
    assert copied["_arrays"]["gen_dist"].max() < 1e-2
    fresh = memorisation.check(new, train, held)
    assert not fresh["memorisation"] and fresh["fraction_closer"] <= 0.05
    assert "no sign of memorisation" in fresh["verdict"]
    # an 'average face' is near many photos at once: collapse, not copying
    average = np.repeat(np.rint(train.mean(axis=0, keepdims=True)).astype(np.uint8), 50, axis=0)
    assert not memorisation.check(average, train, held)["memorisation"]


def test_identity_check_counts_training_people_beside_held_out_photos():
    """Copies of training photos are the same people (distance 0); a face dlib cannot read is
    counted apart, not as new."""
    from tests.factories import draw_face

    drawn = np.stack([np.asarray(draw_face(128, 128, seed=s)) for s in range(8)])
    blank = np.asarray(draw_face(128, 128, seed=1, face=False))[None]
    gen = np.concatenate([drawn[:3], blank])
    r = memorisation.identity_check(gen, drawn[:5], drawn[5:])
    assert r["train_embedded"] == 5 and r["threshold"] == 0.6
    g, h = r["generated"], r["heldout"]
    assert (g["faces"], g["embedded"], g["within"], g["share"]) == (4, 3, 3, 1.0)
    assert g["median_distance"] == pytest.approx(0.0, abs=1e-6)
    assert h["faces"] == 3 and h["embedded"] == 3 and 0 <= h["share"] <= 1
    assert "of held-out photos" in r["verdict"]


def test_identity_copying_is_flagged_only_beyond_what_held_out_photos_show(monkeypatch):
    """The rule: generated share above 5% and above twice the held-out share. Vectors are set
    directly: held-out people at 1.0 from every training person, generated ones at `gen`."""
    rng = np.random.default_rng(0)
    train = rng.normal(size=(50, 128)).astype(np.float32) * 10

    def fake(faces, log=lambda m: None, what=""):
        return faces.astype(np.float32)

    monkeypatch.setattr(memorisation, "_embeddings", fake)
    step = np.zeros(128, np.float32)
    step[0] = 1.0
    held = train[:20] + step                                  # 1.0 away: other people
    for gen_step, flagged in ((0.1, True), (1.0, False)):
        gen = train[:20] + gen_step * step
        r = memorisation.identity_check(gen, train, held)
        assert r["flag"] is flagged and r["heldout"]["share"] == 0.0
        assert r["generated"]["share"] == (1.0 if flagged else 0.0)
    # New photos of training people, generated and held out alike: within 0.6 both, no flag.
    big = rng.normal(size=(200, 128)).astype(np.float32) * 10
    near_people = [big + 0.1 * step + rng.normal(0, 0.01, big.shape).astype(np.float32)
                   for _ in range(2)]
    same = memorisation.identity_check(near_people[0], big, near_people[1])
    assert same["generated"]["share"] == same["heldout"]["share"] == 1.0
    assert same["fraction_closer"] < 0.05 and not same["flag"]
    # Within 0.6 alike, but nearer than almost every held-out photo: flagged.
    mid_held = train[:20] + 0.5 * step
    near = memorisation.identity_check(train[:20] + 0.01 * step, train, mid_held)
    assert near["fraction_closer"] == 1.0 and near["flag"]


# --------------------------------------------------------------------------- FID / KID

def test_frechet_distance_of_known_gaussians():
    mu1, mu2 = np.array([0.0, 0.0, 0.0]), np.array([1.0, 2.0, 2.0])
    assert inception.frechet_distance(mu1, np.eye(3), mu1, np.eye(3)) == pytest.approx(0, abs=1e-9)
    assert inception.frechet_distance(mu1, np.eye(3), mu2, np.eye(3)) == pytest.approx(9.0)
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 4.0, 1.0])   # sum (sqrt s1 - sqrt s2)^2
    assert inception.frechet_distance(mu1, s1, mu1, s2) == pytest.approx(1 + 0 + 4)


def test_fid_and_kid_of_samples():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8))
    assert inception.fid(a, b) < 0.05
    assert inception.fid(a, b + 1.0) == pytest.approx(8.0, rel=0.05)
    same, _ = inception.kid(a, b, subsets=5, subset_size=500)
    shifted, _ = inception.kid(a, b + 1.0, subsets=5, subset_size=500)
    assert abs(same) < 0.01 < shifted


def test_missing_or_damaged_inception_weights_give_a_clear_message(tmp_path):
    with pytest.raises(inception.InceptionError, match="no such file.*InceptionV3"):
        inception.check_weights_file(tmp_path / "inception.h5")
    (tmp_path / "cut.h5").write_bytes(b"<html>not the weights</html>")
    with pytest.raises(inception.InceptionError, match="not an HDF5 file"):
        inception.check_weights_file(tmp_path / "cut.h5")
    assert "not computed (no --inception-weights)" in inception.NOT_COMPUTED


# --------------------------------------------------------------------------- CLI

@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_photo_folder(tmp_path_factory.mktemp("photos"), n=24, size=80)


@pytest.mark.slow
def test_cli_writes_report_figures_and_card(tmp_path, photos, capsys):
    from gan.bundle import read_card
    from gan.evaluate import main

    path = make_tiny_bundle(tmp_path / "b")
    assert main(["--model", str(path), "--real", str(photos), "--n", "24", "--pairs", "40",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "SWD x1e3" in out and "FID/KID: not computed (no --inception-weights)" in out
    assert "training photos are not reachable" in out               # memorisation skipped: why
    report = json.loads((path / "evaluation" / "report.json").read_text())
    assert set(report["swd"]["levels"]) == {"32", "16"} and report["swd"]["images"] == 24
    assert report["swd"]["references"] is None                     # 128 px references only
    assert (path / "evaluation" / "swd.png").is_file() and (path / "evaluation" / "samples.png").is_file()
    card = read_card(path)
    assert card["evaluation"]["dir"] == "evaluation"
    assert card["metrics"]["swd_x1e3"]["average"] == pytest.approx(report["swd"]["average"], rel=1e-3)
    assert "skipped" in card["metrics"]["memorisation"]
    from gan.bundle import load_bundle

    load_bundle(path)                      # the card update kept the model hashes valid


@pytest.mark.slow
def test_cli_uses_the_cards_held_out_split_and_checks_memorisation(tmp_path, photos):
    from gan.bundle import update_card
    from gan.metrics.evaluate import evaluate_bundle

    path = make_tiny_bundle(tmp_path / "b", holdout_fraction=0.4)
    update_card(path, data={"source": str(photos), "holdout": {"fraction": 0.4}})
    report = evaluate_bundle(path, n=30, n_pairs=20, write_card=False)
    assert "held-out photos of" in report["real"]["description"]
    mem = report["memorisation"]
    assert mem["train"] + mem["heldout"] == 24 and mem["heldout"] >= 2
    assert not mem["memorisation"]         # an untrained generator copies nothing
    assert "identity" not in mem           # the dlib check runs only when asked
    for name in ("memorisation_pairs.jpg", "memorisation_hist.png"):
        assert (path / "evaluation" / name).stat().st_size > 1000


@pytest.mark.slow
def test_identity_check_runs_when_asked_and_says_what_to_install(tmp_path, photos, capsys,
                                                                 monkeypatch):
    from gan.bundle import read_card, update_card
    from gan.evaluate import main
    from gan.metrics import identity

    path = make_tiny_bundle(tmp_path / "b", holdout_fraction=0.4)
    update_card(path, data={"source": str(photos), "holdout": {"fraction": 0.4}})
    assert main(["--model", str(path), "--n", "12", "--pairs", "10", "--quiet", "--identity"]) == 0
    # The tiny bundle's 32 px faces are too small for dlib: said, not a failure.
    assert "people: not checked: dlib found no face" in capsys.readouterr().out
    assert "dlib found no face" in read_card(path)["metrics"]["memorisation"]["identity"]["skipped"]

    def missing():
        raise identity.IdentityModelMissing("dlib is not installed: pip install dlib-bin")

    monkeypatch.setattr(identity, "_load", missing)
    assert main(["--model", str(path), "--n", "12", "--pairs", "10", "--quiet", "--identity",
                 "--no-card", "--out", str(tmp_path / "ev2")]) == 2
    assert "pip install dlib-bin" in capsys.readouterr().err


def test_cli_explains_what_is_missing(tmp_path, photos, capsys):
    from gan.evaluate import main

    path = make_tiny_bundle(tmp_path / "b")
    assert main(["--model", str(path), "--n", "8", "--quiet"]) == 2
    assert "Give --real PATH" in capsys.readouterr().err
    assert main(["--model", str(path), "--real", str(photos), "--n", "8", "--quiet",
                 "--inception-weights", str(tmp_path / "nope.h5")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (path / "evaluation").exists()          # failed before doing the long part


@pytest.mark.parametrize("args, says", [
    (["--pairs", "-1"], "--pairs must be at least 1"),
    (["--pairs", "0"], "--pairs must be at least 1"),                 # was NaN in the card
    (["--memorisation-n", "-1"], "--memorisation-n must be at least 1"),
    (["--memorisation-n", "0"], "--memorisation-n must be at least 1"),
])
def test_cli_refuses_a_count_below_one_before_any_work(tmp_path, photos, capsys, args, says):
    from gan.bundle import read_card
    from gan.evaluate import main

    path = make_tiny_bundle(tmp_path / "b")
    card = read_card(path)
    assert main(["--model", str(path), "--real", str(photos), "--n", "16", "--quiet",
                 *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and "Traceback" not in err
    assert not (path / "evaluation").exists() and read_card(path) == card
