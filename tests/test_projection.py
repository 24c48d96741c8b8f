"""Projection (`gan.projection`) and its command line (`python -m gan.project`) on tiny bundles.

The library check is the issue's "own faces project almost perfectly": a face the generator
itself made from a known z is found again from the mean latent (loss falls, MS-SSIM high)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gan import project as cli
from gan.bundle import load_bundle
from gan.io import MANIFEST
from gan.metrics.msssim import ms_ssim
from gan.projection import Projector, learning_rate, noise_scale, project
from gan.sampling import generate_from_latents, latents
from tests.factories import draw_face, make_tiny_bundle

OWN_FACE_MS_SSIM = 0.98    # an own face after 150 steps; the start (z = 0) is far below


def _calibrate(generator, latent_dim: int) -> None:
    """Set each BatchNorm's moving statistics to those of 64 random z, as training would:
    untrained statistics (mean 0, variance 1) make every z give nearly the same flat image
    (random pairs at MS-SSIM 0.99), with nothing to find again; after this, 0.4."""
    import keras

    bns = [layer for layer in generator.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in bns:
        layer.momentum = 0.0
    generator(latents(99, 64, latent_dim), training=True)
    for layer in bns:
        layer.momentum = 0.99


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    b = load_bundle(make_tiny_bundle(tmp_path_factory.mktemp("b") / "tiny", crop="face"))
    _calibrate(b.generator, b.latent_dim)
    return b


@pytest.fixture(scope="module")
def cond_bundle(tmp_path_factory):
    path = make_tiny_bundle(tmp_path_factory.mktemp("c") / "cond", label_names=["male", "smiling"],
                            crop="center", seed=1)
    return load_bundle(path)


def test_schedule_ramps_like_stylegan2_ada():
    assert learning_rate(0.0) == 0.0
    assert learning_rate(0.5) == pytest.approx(0.1)
    assert learning_rate(0.99) < 0.01
    assert noise_scale(0.0, 4.0) == pytest.approx(0.2)
    assert noise_scale(0.75, 4.0) == 0.0 and noise_scale(0.9, 4.0) == 0.0


def test_own_face_projects_almost_perfectly(bundle):
    z = latents(3, 1, bundle.latent_dim)
    face = generate_from_latents(bundle, z)[0]
    seen = []
    r = project(bundle, face, steps=150, seed=0, callback=lambda s, img: seen.append((s, img.shape)))
    start = r.history[0]
    assert r.losses["total"] < 0.3 * start["total"]
    score = float(ms_ssim(face[None], r.image[None])[0])
    assert score > OWN_FACE_MS_SSIM > start["ms_ssim"]
    assert r.z.shape == (bundle.latent_dim,) and r.labels is None
    assert r.image.shape == face.shape and r.image.dtype == np.uint8
    assert [s for s, _ in seen] == list(range(10, 151, 10))
    assert all(shape == face.shape for _, shape in seen)
    # the latent found makes the face returned
    again = generate_from_latents(bundle, r.z[None])[0]
    assert np.abs(again.astype(int) - r.image.astype(int)).max() <= 1


def test_conditional_labels_are_optimised_in_unit_range(cond_bundle):
    face = np.asarray(draw_face(32, 32, seed=2))
    p = Projector(cond_bundle)
    r = p.project(face, steps=15, seed=1)
    assert r.labels.shape == (2,) and np.all((r.labels >= 0) & (r.labels <= 1))
    assert len(r.history) == 16 and r.seconds > 0
    with pytest.raises(ValueError, match="uint8 32x32x3"):
        p.project(np.zeros((64, 64, 3), np.uint8))


def _photo(path, size=96, seed=0):
    draw_face(size, size, seed=seed).save(path, quality=92)
    return path


def test_cli_writes_files_and_json(tmp_path, capsys):
    model = make_tiny_bundle(tmp_path / "cond", label_names=["male", "smiling"], crop="face")
    a = _photo(tmp_path / "alice.jpg")
    blank = tmp_path / "blank.png"
    draw_face(96, 96, seed=1, face=False).save(blank)
    out = tmp_path / "out"
    rc = cli.main(["--model", str(model), str(a), str(blank), "--out", str(out), "--steps", "8"])
    err = capsys.readouterr().err
    assert rc == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [MANIFEST, "alice.labels.npy", "alice.latent.npy", "alice.projection.png",
                     "alice.side_by_side.png", "blank.labels.npy", "blank.latent.npy",
                     "blank.projection.png", "blank.side_by_side.png", "projections.json"]
    doc = json.loads((out / "projections.json").read_text())
    first, second = doc["projections"]
    assert doc["projected"] == 2 and first["face_found"] is True and "note" not in first
    assert second["face_found"] is False and "centre" in second["note"] and "no face found" in err
    assert 0 <= first["ms_ssim"] <= 1 and first["steps"] == 8 and first["seconds"] > 0
    assert set(first["losses"]) >= {"total", "pixel", "ms_ssim", "features"}
    assert set(first["labels"]) == {"male", "smiling"}
    assert np.load(out / "alice.latent.npy").shape == (16,)
    from PIL import Image
    assert Image.open(out / "alice.side_by_side.png").size == (64, 32)


def test_cli_features_refines_and_writes_the_residual(tmp_path, capsys):
    model = make_tiny_bundle(tmp_path / "cond", label_names=["male", "smiling"], crop="face")
    a = _photo(tmp_path / "alice.jpg")
    out = tmp_path / "out"
    rc = cli.main(["--model", str(model), str(a), "--out", str(out), "--steps", "4",
                   "--features", "--feature-steps", "5"])
    err = capsys.readouterr().err
    assert rc == 0 and "feature map (5 steps)" in err
    doc = json.loads((out / "projections.json").read_text())
    (entry,) = doc["projections"]
    assert doc["method"] == "latent + 16x16 feature map"
    assert entry["feature_steps"] == 5 and "regulariser" in entry["feature_losses"]
    assert entry["files"]["features"] == "alice.features.npy"
    assert np.load(out / "alice.features.npy").shape[:2] == (16, 16)
    # without the option: the latent only, said so
    out2 = tmp_path / "out2"
    assert cli.main(["--model", str(model), str(a), "--out", str(out2), "--steps", "2"]) == 0
    doc2 = json.loads((out2 / "projections.json").read_text())
    assert doc2["method"] == "latent" and "features" not in doc2["projections"][0]["files"]
    with pytest.raises(SystemExit):
        cli.main(["--model", str(model), str(a), "--out", str(out2), "--feature-steps", "0"])


def _two_faces(path):
    """A photo of two drawn faces, the left one larger (dlib's HOG counts both)."""
    from PIL import Image

    canvas = Image.new("RGB", (480, 280), (120, 120, 120))
    canvas.paste(draw_face(260, 260, seed=1), (0, 10))
    canvas.paste(draw_face(200, 200, seed=2), (270, 40))
    canvas.save(path)
    return path


def test_cli_projects_the_largest_of_several_faces_and_says_so(tmp_path, capsys):
    model = make_tiny_bundle(tmp_path / "tiny", crop="face")
    group = _two_faces(tmp_path / "group.png")
    alone = tmp_path / "alone.png"
    draw_face(260, 260, seed=1).save(alone)
    out = tmp_path / "out"
    rc = cli.main(["--model", str(model), str(group), str(alone), "--out", str(out),
                   "--steps", "2"])
    err = capsys.readouterr().err
    assert rc == 0
    two, one = json.loads((out / "projections.json").read_text())["projections"]
    assert two["faces"] == 2 and two["note"] == "2 faces found: the largest was projected"
    assert f"{group}: 2 faces found: the largest was projected" in err.splitlines()
    assert one["faces"] == 1 and "note" not in one
    # the crop is the larger, left face's: the same pixels as that face photographed alone
    from PIL import Image
    crops = Image.open(out / "group.side_by_side.png"), Image.open(out / "alone.side_by_side.png")
    left = [np.asarray(c, np.float32)[:, :32] for c in crops]
    assert np.abs(left[0] - left[1]).mean() < 12


def test_cli_bad_inputs_get_a_line_each(tmp_path, capsys):
    model = make_tiny_bundle(tmp_path / "tiny", crop="center")
    good = _photo(tmp_path / "good.jpg")
    (tmp_path / "text.jpg").write_text("not a photo")
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[: len(good.read_bytes()) * 6 // 10])
    draw_face(30, 30).save(tmp_path / "tiny.png")
    (tmp_path / "folder").mkdir()
    bad = ["text.jpg", "cut.jpg", "tiny.png", "folder", "missing.jpg"]
    out = tmp_path / "out"
    rc = cli.main(["--model", str(model), str(good), *[str(tmp_path / b) for b in bad],
                   "--out", str(out), "--steps", "3"])
    err = capsys.readouterr().err
    assert rc == 0 and "Traceback" not in err
    kinds = {e["path"].split("/")[-1]: e.get("error_kind")
             for e in json.loads((out / "projections.json").read_text())["projections"]}
    assert kinds == {"good.jpg": None, "text.jpg": "not an image", "cut.jpg": "truncated image",
                     "tiny.png": "image too small", "folder": "not an image",
                     "missing.jpg": "no such file"}
    for b in bad:
        assert sum(line.startswith(str(tmp_path / b) + ": skipped:") for line in err.splitlines()) == 1

    # nothing usable: exit 1, the reasons on stderr, and the earlier projections kept as they
    # were (not replaced by an empty folder)
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    rc = cli.main(["--model", str(model), str(tmp_path / "text.jpg"), str(tmp_path / "missing.jpg"),
                   "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert "text.jpg: skipped" in err and "nothing was written" in err
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert json.loads((out / "projections.json").read_text())["projected"] == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_cli_refuses_a_folder_of_user_files_and_keeps_it(tmp_path, capsys):
    model = make_tiny_bundle(tmp_path / "tiny", crop="center")
    photo = _photo(tmp_path / "me.jpg")
    out = tmp_path / "holiday"
    out.mkdir()
    (out / "beach.jpg").write_bytes(b"my photo")
    rc = cli.main(["--model", str(model), str(photo), "--out", str(out), "--steps", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error:") and "beach.jpg" in err and "Traceback" not in err
    assert [p.name for p in out.iterdir()] == ["beach.jpg"]
    assert (out / "beach.jpg").read_bytes() == b"my photo"

    # an older projection folder is replaced as a whole
    older = tmp_path / "older"
    assert cli.main(["--model", str(model), str(photo), "--out", str(older), "--steps", "2"]) == 0
    (older / "me.projection.png").unlink()
    assert cli.main(["--model", str(model), str(photo), "--out", str(older), "--steps", "2"]) == 0
    assert (older / "me.projection.png").is_file()

    # ... but not once the user has put a file of theirs in it: that would be deleted with it
    (older / "my_holiday.jpg").write_bytes(b"my photo")
    before = {f.name: f.read_bytes() for f in older.iterdir()}
    capsys.readouterr()
    rc = cli.main(["--model", str(model), str(photo), "--out", str(older), "--steps", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and "my_holiday.jpg" in err and "did not write" in err and "Traceback" not in err
    assert {f.name: f.read_bytes() for f in older.iterdir()} == before


@pytest.mark.parametrize("argv", [["--seed", "-1", "PHOTO"], ["fit", "--seed", "-1"],
                                  ["--seed", "two", "PHOTO"]])
def test_cli_refuses_a_seed_below_zero_in_one_line(tmp_path, capsys, argv):
    """NumPy takes no negative seed: refused as a usage error, not a traceback, and nothing
    is written."""
    photo = _photo(tmp_path / "me.jpg")
    argv = [str(photo) if a == "PHOTO" else a for a in argv]
    out = [] if argv[0] == "fit" else ["--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as e:
        cli.main([*argv, *out, "--model", str(tmp_path / "no bundle needed")])
    err = capsys.readouterr().err
    said = "not a whole number" if "two" in argv else "from 0 up"
    assert e.value.code == 2 and "--seed" in err and said in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_cli_usage_errors_exit_2(tmp_path, capsys):
    photo = _photo(tmp_path / "me.jpg")
    assert cli.main(["--model", str(tmp_path / "nope"), str(photo), "--out", str(tmp_path / "o")]) == 2
    assert "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["--model", str(tmp_path / "nope"), str(photo), "--out", "o", "--steps", "0"])
    assert e.value.code == 2
    assert not (tmp_path / "o").exists()
