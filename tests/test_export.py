"""`python -m gan.export`: a SavedModel with `generate` and `score` serving signatures that a
fresh process (TensorFlow and NumPy only, as TF Serving would) loads with tf.saved_model.load
and that gives the Keras bundle's faces and scores; a bad model or target is one error line,
and nothing of the user's is touched, nor a half-written export left. Tiny untrained bundles
from tests.factories and the shipped models/default."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gan.bundle import load_bundle
from gan.data.preprocess import to_model_input, to_uint8
from gan.detector.stored import discriminator_scores
from gan.export import main
from gan.sampling import generate_from_latents, label_matrix, latents
from gan.serving import INFO_FILE, check_target, export_saved_model, scoring_probe, uint8_edges
from tests.factories import make_tiny_bundle

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
N, SEED, TRUNCATION = 12, 5, 0.8

# What the fresh process runs: TensorFlow and NumPy only, through the signature_defs.
LOAD = """
import json, sys
import numpy as np, tensorflow as tf
for folder, inputs, outputs in json.loads(sys.argv[1]):
    m = tf.saved_model.load(folder)
    d = np.load(inputs)
    g = m.signatures["generate"](z=tf.constant(d["z"]), labels=tf.constant(d["labels"]),
                                 truncation=tf.constant(d["truncation"]))
    s = m.signatures["score"](image_uint8=tf.constant(d["faces"]))
    sigs = {name: {"inputs": {k: [v.dtype.name, v.shape.as_list()]
                              for k, v in f.structured_input_signature[1].items()},
                   "outputs": {k: [v.dtype.name, v.shape.as_list()]
                               for k, v in f.structured_outputs.items()}}
            for name, f in m.signatures.items()}
    np.savez(outputs, faces=g["faces"].numpy(), score=s["score"].numpy(),
             signatures=json.dumps(sigs))
"""


BUNDLES = {"tiny-conditional": lambda root: make_tiny_bundle(root, label_names=["male", "smiling"]),
           "tiny-unconditional": lambda root: make_tiny_bundle(root, seed=1),
           "models-default": lambda root: ROOT / "models" / "default"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """case -> (bundle, export folder, the library's faces and scores, the fresh process's):
    each case exported and loaded once, when a test first asks for it."""
    done = {}

    def get(case):
        if case in done:
            return done[case]
        root = tmp_path_factory.mktemp(case)
        bundle = load_bundle(BUNDLES[case](root / "bundle"))
        folder = export_saved_model(bundle, root / "serving")
        labels = label_matrix(bundle, N, {"smiling": 1.0} if bundle.conditional else None)
        faces = generate_from_latents(bundle, latents(SEED, N, bundle.latent_dim, TRUNCATION), labels)
        np.savez(root / "in.npz", z=latents(SEED, N, bundle.latent_dim), faces=faces,
                 labels=labels if labels is not None else np.zeros((N, 0), np.float32),
                 truncation=np.full(N, TRUNCATION, np.float32))
        job = [[str(folder), str(root / "in.npz"), str(root / "out.npz")]]
        run = subprocess.run([sys.executable, "-c", LOAD, json.dumps(job)], cwd=root, env=ENV,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        done[case] = (bundle, folder, faces, discriminator_scores(bundle, faces),
                      dict(np.load(root / "out.npz")))
        return done[case]

    return get


# the quick set keeps one case; the other two (unconditional, the shipped model) are slow
CASES = ["tiny-conditional",
         pytest.param("tiny-unconditional", marks=pytest.mark.slow),
         pytest.param("models-default", marks=pytest.mark.slow)]


@pytest.mark.parametrize("case", CASES)
def test_fresh_process_gets_the_bundles_faces_and_scores(exported, case):
    bundle, folder, faces, scores, got = exported(case)
    assert got["faces"].dtype == np.uint8 and got["faces"].shape == faces.shape
    diff = np.abs(got["faces"].astype(int) - faces.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3            # float rounding only
    assert np.allclose(got["score"], scores, rtol=1e-4, atol=1e-5)
    assert folder.name == "1" and (folder / "saved_model.pb").is_file()


@pytest.mark.parametrize("case", CASES)
def test_signature_defs_are_what_tf_serving_reads(exported, case):
    bundle, folder, *_, got = exported(case)
    sigs = json.loads(str(got["signatures"]))
    r, k = bundle.resolution, len(bundle.label_names)
    assert sigs["generate"] == {
        "inputs": {"z": ["float32", [None, bundle.latent_dim]], "labels": ["float32", [None, k]],
                   "truncation": ["float32", [None]]},
        "outputs": {"faces": ["uint8", [None, r, r, 3]]}}
    assert sigs["score"] == {"inputs": {"image_uint8": ["uint8", [None, r, r, 3]]},
                             "outputs": {"score": ["float32", [None]]}}
    info = json.loads((folder / INFO_FILE).read_text())
    assert info["label_names"] == bundle.label_names and info["latent_dim"] == bundle.latent_dim


def test_pixel_tables_are_the_librarys_conversions(tmp_path):
    edges, nan_value = uint8_edges()
    x = np.concatenate([np.random.default_rng(0).normal(0, 1.3, 200_000).astype(np.float32),
                        edges, np.nextafter(edges, np.float32(-np.inf)),
                        np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 3.0], np.float32)])
    tabled = np.where(np.isnan(x), nan_value, np.searchsorted(edges, x, side="right"))
    assert np.array_equal(tabled, to_uint8(x))
    bundle = load_bundle(make_tiny_bundle(tmp_path / "b", label_names=["a"]))
    table, neutral, sign = scoring_probe(bundle)
    assert np.array_equal(table, to_model_input(np.arange(256, dtype=np.uint8)))
    assert neutral.tolist() == [0.5] and sign == -1.0


def test_cli_exports_the_next_version_and_refuses_bad_input(tmp_path, capsys):
    bundle = make_tiny_bundle(tmp_path / "b")
    out = tmp_path / "serving"

    def run(*argv):
        code = main(list(argv))
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return code, err

    assert run("--model", str(bundle), "--out", str(out))[0] == 0
    assert run("--model", str(bundle), "--out", str(out))[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ["1", "2"]
    code, err = run("--model", str(bundle), "--out", str(out), "--version", "1")
    assert code == 2 and "already holds version 1" in err and "--version 3" in err

    code, err = run("--model", str(tmp_path / "missing"), "--out", str(tmp_path / "new"))
    assert code == 2 and "error: No model bundle at" in err and not (tmp_path / "new").exists()

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    code, err = run("--model", str(bundle), "--out", str(mine))
    assert code == 2 and "not empty" in err and "notes.txt" in err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "keep me"

    code, err = run("--model", str(bundle), "--out", str(mine / "notes.txt"))
    assert code == 2 and "is a file" in err
    code, err = run("--model", str(bundle), "--out", str(tmp_path / "v0"), "--version", "0")
    assert code == 2 and "--version" in err
    code, err = run("--model", str(bundle), "--out", str(tmp_path / "huge"),
                    "--version", str(2 ** 63))                 # one past TF Serving's int64
    assert code == 2 and f"--version must be at most {2 ** 63 - 1}" in err
    assert not (tmp_path / "huge").exists()


def test_a_failed_export_leaves_no_version_and_no_temporary_folder(tmp_path, monkeypatch):
    import tensorflow as tf

    bundle = load_bundle(make_tiny_bundle(tmp_path / "b"))
    out = tmp_path / "serving"
    export_saved_model(bundle, out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))

    def half_then_fail(module, folder, signatures=None):
        (Path(folder) / "saved_model.pb").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(tf.saved_model, "save", half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        export_saved_model(bundle, out)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before     # only version 1, whole
    assert check_target(out).name == "2"


def test_cli_error_in_a_fresh_process_has_no_traceback(tmp_path):
    run = subprocess.run([sys.executable, "-m", "gan.export", "--model", str(tmp_path / "nope"),
                          "--out", str(tmp_path / "out")], cwd=ROOT, env=ENV, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 2 and "error: No model bundle at" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "out").exists()
