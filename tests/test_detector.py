"""gan.detector: a whole fit + report on a tiny bundle, the stored forensic detector (round
trip, damage, another discriminator), perturbations. The calibration maths:
test_detector_calibrate.py."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gan.detector import calibrate
from tests.detector_fixtures import fitted_bundle


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    return fitted_bundle(tmp_path_factory.mktemp("det") / "tiny")


# --------------------------------------------------------------------------- fit and store


@pytest.mark.slow
def test_fit_stores_the_detector_in_the_card_and_hits_the_fpr_on_calibration(fitted):
    from gan.bundle import read_card, verify_files

    card = read_card(fitted)
    det = card["detector"]
    # An untrained discriminator may rank noise above drawn faces or below them: calibrated
    # when it ranks them the right way round, otherwise left raw with the reason in its note.
    assert (det["calibration"] or {}).get("method") == "platt" or (
        det["calibration"] is None and "cannot be calibrated" in det["note"])
    assert det["forensic"]["calibration"]["method"] == "platt"
    assert det["forensic"]["file"] == "detection/forensic.npz"
    assert card["files"]["detection/forensic.npz"]["sha256"]
    verify_files(fitted, card)                        # every listed file, the detector included
    assert det["target_fpr"] == 0.05 and 0 < det["forensic"]["threshold"] < 1
    rep = json.loads((fitted / "detection/report/report.json").read_text())
    for name in ("roc", "reliability", "robustness", "fpr"):
        assert (fitted / "detection/report" / rep["figures"][name]).stat().st_size > 1000
    f = rep["detectors"]["forensic"]
    assert f["pairs"]["other_gan"]["auc"] > 0.9          # the checkerboard is easy to see
    assert set(f["robustness"]) == {"jpeg75", "resize0.5", "crop10"}
    assert f["robustness"]["crop10"]["pixel_change"]["other_fake_test"] > 1   # it did change
    assert det["measured"]["forensic"]["auc_other_gan"] == f["pairs"]["other_gan"]["auc"]


@pytest.mark.slow
def test_calibration_thresholds_meet_the_rate_on_each_calibration_source(tmp_path):
    from gan.bundle import load_bundle
    from gan.detector.fit import fit_detectors
    from tests.detector_fixtures import tiny_parts
    from tests.factories import make_tiny_bundle

    bundle = load_bundle(make_tiny_bundle(tmp_path / "b", crop="center"))
    parts = tiny_parts(bundle, n=60)
    fitted = fit_detectors(bundle, parts, target_fpr=0.1)
    a, b = fitted["card"]["forensic"]["calibration"]["a"], fitted["card"]["forensic"]["calibration"]["b"]
    t = fitted["card"]["forensic"]["threshold"]
    for name, scores in fitted["calibration_scores"]["forensic"].items():
        if parts[name].label == 0:
            assert (calibrate.platt(scores, a, b) >= t).mean() <= 0.1, name


@pytest.mark.slow
def test_stored_detector_reloads_with_identical_scores(fitted):
    from gan.bundle import load_bundle
    from gan.detector.forensic import ForensicModel
    from gan.detector.stored import stored_detectors

    bundle = load_bundle(fitted)
    dets, problems = stored_detectors(bundle)
    assert not problems and [d.key for d in dets][0] == "forensic"
    x = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    first = dets[0].p(x)
    again = stored_detectors(load_bundle(fitted))[0][0].p(x)       # a fresh load from disk
    assert np.array_equal(first, again) and np.all((first >= 0) & (first <= 1))
    model = ForensicModel.from_bytes((fitted / "detection/forensic.npz").read_bytes())
    assert np.array_equal(ForensicModel.from_bytes(model.to_bytes()).weights, model.weights)


@pytest.mark.slow
def test_a_damaged_detector_file_is_refused_and_the_discriminator_still_works(fitted, tmp_path):
    import shutil

    from gan.bundle import load_bundle
    from gan.detector.stored import stored_detectors

    copy = tmp_path / "copy"
    shutil.copytree(fitted, copy)
    f = copy / "detection/forensic.npz"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    bundle = load_bundle(copy)                        # the model itself still loads
    dets, problems = stored_detectors(bundle)
    assert [d.key for d in dets] == ["discriminator"]
    assert "SHA-256" in problems["forensic"] and "python -m gan.detector fit" in problems["forensic"]
    f.unlink()
    assert "missing" in stored_detectors(load_bundle(copy))[1]["forensic"]


@pytest.mark.slow
def test_unreadable_or_foreign_detector_files_are_refused(fitted, tmp_path):
    import shutil

    from gan.bundle import _sha256, load_bundle, update_card
    from gan.detector.forensic import DetectorError, ForensicModel
    from gan.detector.stored import stored_detectors

    with pytest.raises(DetectorError, match="cannot be read"):
        ForensicModel.from_bytes(b"PK\x03\x04 not really an archive")
    copy = tmp_path / "copy"
    shutil.copytree(fitted, copy)
    f = copy / "detection/forensic.npz"
    model = ForensicModel.from_bytes(f.read_bytes())
    model.meta["discriminator_sha256"] = "0" * 64        # fitted on another discriminator
    f.write_bytes(model.to_bytes())
    update_card(copy, files={"detection/forensic.npz": {"bytes": f.stat().st_size,
                                                         "sha256": _sha256(f)}})
    problems = stored_detectors(load_bundle(copy))[1]
    assert "another discriminator" in problems["forensic"]


@pytest.mark.slow
def test_verify_files_checks_every_listed_file(fitted, tmp_path):
    import shutil

    from gan.bundle import BundleError, MODEL_FILES, read_card, verify_files

    copy = tmp_path / "copy"
    shutil.copytree(fitted, copy)
    (copy / "detection/forensic.npz").write_bytes(b"replaced")
    card = read_card(copy)
    verify_files(copy, card, MODEL_FILES)             # the models are fine
    with pytest.raises(BundleError, match="forensic.npz"):
        verify_files(copy, card)


def test_perturbations_change_the_file_as_stated():
    import io

    from PIL import Image

    from gan.detector.data import augment, perturb
    from tests.detector_fixtures import png, real_photo

    src = png(real_photo(0, size=160))
    rng = np.random.default_rng(0)
    assert Image.open(io.BytesIO(perturb(src, "jpeg75", rng))).format == "JPEG"
    assert Image.open(io.BytesIO(perturb(src, "resize0.5", rng))).size == (80, 80)
    assert Image.open(io.BytesIO(perturb(src, "crop10", rng))).size == (144, 144)
    with pytest.raises(ValueError):
        perturb(src, "blur", rng)
    x = np.random.default_rng(1).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    a, b = augment(x, seed=3), augment(x, seed=3)
    assert a.shape == x.shape and a.dtype == np.uint8 and np.array_equal(a, b)


@pytest.mark.slow
def test_the_cli_fits_and_measures_a_bundle_from_folders(tmp_path, capsys):
    from gan.bundle import read_card, update_card
    from gan.detector.__main__ import main
    from tests.detector_fixtures import other_gan_photo, real_photo
    from tests.factories import make_tiny_bundle

    real = tmp_path / "real_source"
    real.mkdir()
    for i in range(80):
        real_photo(i, size=96).save(real / f"{i:03d}.png")
    other = tmp_path / "other"
    for side, draw in (("real", real_photo), ("fake", other_gan_photo)):
        (other / side).mkdir(parents=True)
        for i in range(40):
            draw(500 + i, size=96).save(other / side / f"{side}_{i}.png")
    bundle = make_tiny_bundle(tmp_path / "b", crop="center")
    update_card(bundle, data={"source": str(real)}, config={"holdout_fraction": 0.5})
    args = ["--model", str(bundle), "--other-gan", str(other), "--unseen-real", "none", "--quick",
            "--no-robustness", "--quiet"]
    assert main(["fit", *args]) == 0
    out = capsys.readouterr().out
    assert "(a) own faces: AUC" in out and "(b) other GAN: AUC" in out
    card = read_card(bundle)
    assert card["detector"]["measured"]["forensic"]["auc_other_gan"] is not None
    assert card["detector"]["report"] == {"dir": "detection/report", "report": "report.json"}
    assert main(["report", *args]) == 0                       # measure again, no refit
    assert read_card(bundle)["files"] == card["files"]
    rep = json.loads((bundle / "detection/report/report.json").read_text())
    assert rep["shortcut_baseline"]["auc"]["other_gan"] is not None
    assert main(["fit", *args[:2], "--other-gan", str(tmp_path / "nowhere"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
