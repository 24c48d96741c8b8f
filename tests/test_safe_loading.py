"""Safe loading, kept as tests because the Keras pin in requirements.txt rests on them: a model
file with a Lambda layer, with `builtins.exec` as a layer class or with a config that calls
`keras.config.enable_unsafe_deserialization`, and a pickled forensic detector, each in a
bundle whose card and hashes are right, are refused with a clear message and their payload
never runs. (tests/test_damaged_bundles.py takes the model-file payloads through
`load_bundle`, the CLIs and every app page; this file adds the detector file, the processes
users start, and checks that the payloads would run if loaded unsafely.)"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gan.bundle import load_bundle
from tests.app_fixtures import face_png, new_app, no_exceptions
from tests.bundle_damage import CASES, PAYLOADS, make_damaged, pickled_forensic
from tests.factories import make_tiny_bundle

REPO = Path(__file__).resolve().parent.parent
BY_ID = {c.id: c for c in CASES}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """models/ with a good `default`, the three model-file payloads and zz_pickle (a good
    bundle whose forensic detector file is pickled): {name: (bundle folder, marker)}."""
    root = tmp_path_factory.mktemp("payloads") / "models"
    good = make_tiny_bundle(root / "default", crop="center")
    made = {c.id: make_damaged(root, good, c) for c in CASES if c.id in PAYLOADS}
    pickle_bundle = root / "zz_pickle"
    marker = root.parent / "pickle.ran"
    import shutil

    shutil.copytree(good, pickle_bundle)
    pickled_forensic(pickle_bundle, marker)
    made["pickle"] = (pickle_bundle, marker)
    return root, made


def test_the_payloads_are_live(models):
    # Each payload would run if its file were loaded without safe mode, so the refusals below
    # are what keeps it from running (Keras 3.15 also refuses the other two outside safe mode).
    import keras

    path, marker = models[1]["lambda_layer"]
    keras.models.load_model(path / "generator.keras", safe_mode=False, compile=False)
    assert marker.exists()
    marker.unlink()
    path, marker = models[1]["pickle"]
    with np.load(path / "detection/forensic.npz", allow_pickle=True) as z:
        z["mean"]
    assert marker.exists()
    marker.unlink()


def test_a_pickled_detector_is_refused_and_the_model_still_serves(models, capsys, tmp_path):
    from gan import detect
    from gan.detector.stored import stored_detectors

    path, marker = models[1]["pickle"]
    bundle = load_bundle(path)             # the models themselves are fine
    dets, problems = stored_detectors(bundle)
    assert [d.key for d in dets] == ["discriminator"]
    assert "forensic.npz cannot be read" in problems["forensic"]
    assert "allow_pickle=False" in problems["forensic"]
    photo = tmp_path / "face.png"
    photo.write_bytes(face_png())
    code = detect.main(["--model", str(path), "--detector", "forensic", str(photo)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.startswith("error: ") and "forensic.npz" in err
    code = detect.main(["--model", str(path), str(photo)])
    out, err = capsys.readouterr()
    assert code in (0, 1) and '"detector": "discriminator"' in out and "not usable" in err
    assert not marker.exists(), "the payload ran"


@pytest.mark.slow
def test_the_detect_page_refuses_a_pickled_detector(models, monkeypatch):
    path, marker = models[1]["pickle"]
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(models[0]))
    at = new_app()
    at.sidebar.selectbox(key="model").set_value("zz_pickle").run()
    at.switch_page("pages/detect.py").run()
    no_exceptions(at)
    warnings = " ".join(w.value for w in at.warning)
    assert "forensic detector stored with this model cannot be used" in warnings
    assert "forensic.npz" in warnings
    assert not marker.exists(), "the payload ran"


ARGS = {"gan.generate": ["--n", "1", "--out", "{tmp}/faces"], "gan.detect": ["{tmp}/photo.png"]}


# One process per CLI (each starts TensorFlow); the in-process matrix of every payload
# through every CLI is in tests/test_damaged_bundles.py.
@pytest.mark.slow
@pytest.mark.parametrize("cli, case_id", [("gan.generate", "lambda_layer"),
                                          ("gan.detect", "enable_unsafe")])
def test_the_cli_processes_refuse_the_payloads(models, cli, case_id, tmp_path):
    path, marker = models[1][case_id]
    env = {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}
    r = subprocess.run([sys.executable, "-m", cli, "--model", str(path),
                        *[a.format(tmp=tmp_path) for a in ARGS[cli]]],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stdout == ""
    assert "error: " in r.stderr and BY_ID[case_id].says in r.stderr
    assert "Traceback" not in r.stderr
    assert not marker.exists(), "the payload ran"
