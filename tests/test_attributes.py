"""Attribute sliders' meaning and their measurement (`python -m gan.attributes`), the GIF of a
morph, and `python -m gan.generate --interpolate`. Tiny untrained bundles and drawn photos only."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

import gan.attributes as cli
from gan import sampling
from gan.bundle import load_bundle, read_card, update_card
from gan.images import gif_bytes
from gan.sliders import classifier as attribute_classifier
from gan.sliders import directions, identity, measure, semantics
from gan.sliders.report import REPORT_FORMAT
from tests.factories import make_tiny_bundle, write_photo_folder


def gif_frames(data: bytes) -> list[np.ndarray]:
    im = Image.open(io.BytesIO(data))
    assert im.format == "GIF"
    out = []
    for i in range(im.n_frames):
        im.seek(i)
        out.append(np.asarray(im.convert("RGB")))
    return out


# ---- slider meaning ----

def test_slider_ends_and_middle():
    assert semantics.label_value(-1) == 0.0 and semantics.label_value(1) == 1.0
    assert semantics.label_value(0) == 0.5 and semantics.label_value(0.4) == pytest.approx(0.7)
    assert semantics.label_value(1, reach=2) == 1.5 and semantics.label_value(-1, 2) == -0.5
    assert semantics.label_value(5) == 1.0                       # clipped to the slider
    sl = semantics.Sliders(["male", "smiling"], reach=1.0)
    assert sl.toward({"male": 0.0, "smiling": -1.0}) == {"smiling": (0.0, 1.0)}   # middle: none
    assert sl.toward({"male": 0.4}) == {"male": (1.0, 0.4)}       # 40% of the way to male
    assert semantics.Sliders(["male"], reach=1.5).toward({"male": 1.0}) == {"male": (1.25, 1.0)}
    # a face with labels of its own moves from them the same way
    assert sl.labels_from({"male": 0.5, "smiling": -1.0}, {"male": 0.0, "smiling": 1.0}) == {
        "male": 0.5, "smiling": 0.0}


def test_reach_comes_from_the_card_and_is_bounded():
    assert semantics.slider_reach({}) == 1.0
    assert semantics.slider_reach({"attributes": {"slider_reach": 1.5}}) == 1.5
    assert semantics.slider_reach({"attributes": {"slider_reach": 99}}) == semantics.MAX_REACH
    assert semantics.slider_reach({"attributes": {"slider_reach": "nan"}}) == 1.0
    assert semantics.slider_reach({"attributes": {"slider_reach": "x"}}) == 1.0


def test_only_binary_labels_are_sliders():
    assert semantics.attribute_names(["male", "race=a", "race=b", "smiling"]) == ["male", "smiling"]
    assert semantics.ends("male") == ("female", "male")
    assert semantics.ends("wavy_hair") == ("not wavy hair", "wavy hair")


def setting(reach, strength, worst):
    return {"reach": reach, "strength": strength, "worst_success_rate": worst}


def test_choose_setting_prefers_the_simplest_that_meets_the_target():
    sweep = [setting(1.0, 0, 0.5), setting(1.5, 0, 0.85), setting(2.0, 0, 0.9),
             setting(1.0, 1.5, 0.95)]
    assert measure.choose_setting(sweep)[0] is sweep[1]       # labels before a direction
    assert measure.choose_setting([sweep[0], sweep[3]])[0] is sweep[3]
    low = [setting(1.0, 0, 0.3), setting(2.0, 0, 0.3), setting(1.0, 3.0, 0.3)]
    assert measure.choose_setting(low)[0] is low[0]           # a tie keeps the trained range
    assert measure.choose_setting([low[0], setting(2.0, 0, 0.6)])[0]["reach"] == 2.0
    assert measure.choose_setting([setting(None, 1.5, 0.2), setting(None, 3, 0.5)])[0][
        "strength"] == 3
    # Short of the target, a direction (fitted to the judge) must beat labels by a margin.
    assert measure.choose_setting([low[0], setting(1.0, 0.75, 0.33)])[0] is low[0]
    assert measure.choose_setting([low[0], setting(1.0, 0.75, 0.36)])[0]["strength"] == 0.75


def write_directions(path, card_strength=2.0, vectors=None, dim=16, names=("male", "smiling")):
    vectors = np.eye(len(names), dim) * 3 if vectors is None else vectors
    (path / "attributes").mkdir(exist_ok=True)
    (path / "attributes" / "directions.json").write_text(json.dumps({
        "format": semantics.DIRECTIONS_FORMAT, "latent_dim": dim, "names": list(names),
        "vectors": np.asarray(vectors).tolist()}))
    update_card(path, attributes={"direction_strength": card_strength,
                                  "directions": "attributes/directions.json"})


def test_sliders_of_an_unconditional_bundle_come_from_its_directions(tmp_path):
    path = make_tiny_bundle(tmp_path / "plain")
    assert semantics.sliders_for(load_bundle(path)).names == []       # none measured
    write_directions(path)
    sl = semantics.sliders_for(load_bundle(path))
    assert sl.names == ["male", "smiling"] and sl.reach is None and sl.strength == 2.0
    assert sl.toward({"male": 1.0}) == {}
    shift = sl.z_shift({"male": 0.5, "smiling": -1.0})
    assert np.allclose(shift[:2], [1.0, -2.0]) and np.allclose(shift[2:], 0)   # unit vectors
    assert sl.z_shift({"male": 0.0}) is None
    write_directions(path, vectors=np.ones((2, 15)), dim=15)           # wrong size: ignored
    assert semantics.sliders_for(load_bundle(path)).names == []


def test_a_conditional_bundle_uses_directions_only_when_measured_so(tmp_path):
    path = make_tiny_bundle(tmp_path / "cond", label_names=["male", "smiling"])
    sl = semantics.sliders_for(load_bundle(path))
    assert sl.names == ["male", "smiling"] and sl.reach == 1.0 and sl.z_shift({"male": 1}) is None
    write_directions(path, card_strength=1.5)
    sl = semantics.sliders_for(load_bundle(path))
    assert sl.toward({"male": 1.0}) == {"male": (1.0, 1.0)}
    assert np.allclose(sl.z_shift({"male": 1.0})[:2], [1.5, 0])
    update_card(path, attributes={"direction_strength": 0})
    assert semantics.sliders_for(load_bundle(path)).z_shift({"male": 1.0}) is None


# ---- identity ----

def test_reidentify_finds_each_face_among_the_others():
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(50, 8))
    r = identity.reidentify(gallery, gallery + rng.normal(scale=0.05, size=gallery.shape))
    assert r["reidentified"].all() and (r["ratio"] < 0.2).all()
    shuffled = identity.reidentify(gallery, gallery[::-1])     # every probe is someone else
    assert shuffled["reidentified"].mean() <= 0.02 and np.median(shuffled["ratio"]) > 0.7


def test_identity_space_ignores_the_background():
    rng = np.random.default_rng(1)
    real = rng.integers(0, 255, (40, 32, 32, 3), dtype=np.uint8)
    space = identity.IdentitySpace(real, components=8)
    face = real[:1].copy()
    other_background = face.copy()
    other_background[:, :4] = 0                                  # top rows: outside the box
    other_face = face.copy()
    other_face[:, 12:20, 10:22] = 255 - other_face[:, 12:20, 10:22]
    f = space.features
    assert np.allclose(f(face), f(other_background))
    assert not np.allclose(f(face), f(other_face))


# ---- the measurement, with a stand-in generator and classifier ----

@pytest.fixture(scope="module")
def cond_bundle(tmp_path_factory):
    return load_bundle(make_tiny_bundle(tmp_path_factory.mktemp("b") / "cond",
                                       label_names=["male", "smiling"], crop="center"))


def fake_generator(follows_labels: bool):
    """Faces = a pattern fixed by z, brightened in one corner per label: the corner's
    brightness says the label when `follows_labels`."""
    def gen(bundle, z, y=None, batch_size=64):
        base = (np.abs(z[:, :1, None, None]) * 40 + 60) * np.ones((1, 32, 32, 3))
        base = base + (np.sin(z[:, :3] * 7)[:, None, None, :] * 20)
        pattern = np.tile(z[:, None, :16, None] * 30, (1, 32, 2, 3))
        img = base + pattern
        if follows_labels:
            img[:, :3, :3] += 200 * y[:, 0, None, None, None]    # male: top-left corner
            img[:, :3, -3:] += 200 * y[:, 1, None, None, None]   # smiling: top-right corner
        return np.clip(img, 0, 255).astype(np.uint8)
    return gen


def fake_predict(model, images, batch_size=256):
    """P(male), P(smiling) read off the corners the fake generator brightens."""
    corners = np.stack([images[:, :3, :3].mean((1, 2, 3)), images[:, :3, -3:].mean((1, 2, 3))], 1)
    return 1 / (1 + np.exp(-(corners - 200) / 10))


@pytest.mark.parametrize("follows", [True, False])
def test_flip_rate_counts_faces_whose_verdict_flips(cond_bundle, monkeypatch, follows):
    monkeypatch.setattr(sampling, "generate_from_latents", fake_generator(follows))
    monkeypatch.setattr(attribute_classifier, "predict", fake_predict)
    rng = np.random.default_rng(2)
    space = identity.IdentitySpace(rng.integers(0, 255, (30, 32, 32, 3), dtype=np.uint8), 8)
    z = sampling.latents(0, 40, cond_bundle.latent_dim)
    base = np.zeros((40, 2), np.float32)
    step = measure.measure_setting(cond_bundle, None, space, z, base, ["male", "smiling"], 1.0)
    for name in ("male", "smiling"):
        a = step["attributes"][name]
        assert a["reidentified_rate"] == 1.0                      # z fixes the face
        if follows:
            assert a["flip_rate"] == 1.0 and a["success_rate"] == 1.0 and a["meets_target"]
        else:
            assert a["flip_rate"] == 0.0 and a["success_rate"] == 0.0 and not a["meets_target"]


# ---- the CLI end to end on a tiny bundle and tiny labelled photos ----

@pytest.fixture(scope="module")
def labelled_photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    write_photo_folder(root / "img", n=40, size=72)
    rng = np.random.default_rng(3)
    rows = ["image,male,smiling"] + [f"img_{i:03d}.jpg,{rng.integers(0, 2)},{i % 2}" for i in range(40)]
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.slow
def test_cli_measures_a_tiny_bundle_and_writes_report_figure_and_card(
        tmp_path, labelled_photos, capsys):
    path = make_tiny_bundle(tmp_path / "cond", label_names=["male", "smiling"], crop="center")
    update_card(path, data={"source": str(labelled_photos)}, config={"holdout_fraction": 0.25})
    rc = cli.main(["--model", str(path), "--n", "12", "--epochs", "1", "--reaches", "1,2",
                          "--strengths", "1.5", "--fit-n", "64", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    out = path / "attributes"
    report = json.loads((out / "report.json").read_text())
    assert report["format"] == REPORT_FORMAT and report["seeds"] == 12
    clf = report["classifier"]
    assert clf["trained_on"] + clf["heldout"] == 40 and 2 <= clf["heldout"] <= 20
    assert set(clf["heldout_accuracy"]) == {"male", "smiling"}
    assert [(s["reach"], s["strength"]) for s in report["sweep"]] == [(1.0, 0), (2.0, 0), (1.0, 1.5)]
    assert report["sweep"][1]["low_label"] == -0.5 and report["sweep"][1]["high_label"] == 1.5
    for name in ("male", "smiling"):
        a = report["attributes"][name]
        for k in ("flip_rate", "reidentified_rate", "success_rate", "mean_p_low", "mean_p_high"):
            assert 0.0 <= a[k] <= 1.0, (name, k)
        assert a["success_rate"] <= min(a["flip_rate"], a["reidentified_rate"])
    assert Image.open(out / "pairs.jpg").size[0] > 300
    judge = attribute_classifier.load(report["classifier"]["cache_file"])     # cached, not
    assert int(judge.outputs[0].shape[-1]) == 2 and not (out / "classifier.keras").exists()  # in the bundle
    card = read_card(path)
    assert card["attributes"]["slider_reach"] == report["chosen"]["reach"]
    assert card["attributes"]["direction_strength"] == report["chosen"]["strength"]
    assert (out / "directions.json").is_file()
    m = card["metrics"]["attributes"]
    assert m["male_flip_rate"] == pytest.approx(report["attributes"]["male"]["flip_rate"], abs=1e-3)
    assert "classifier_accuracy_smiling" in m and "smiling_success_rate" in m
    from app_support.card_text import metric_rows

    meaning = {r["metric"]: r["meaning"] for r in metric_rows(card)}
    assert "judge" in meaning["attributes.classifier_accuracy_male"]     # not the detector's
    assert "target 80%" in meaning["attributes.smiling_success_rate"]
    assert "flips" in capsys.readouterr().out
    load_bundle(path)                                  # the card update kept the bundle valid

    # A second run reuses the cached classifier (same photos, same recipe).
    report2 = measure.measure_bundle(path, n=4, epochs=1, reach=1.0, write_card=False)
    assert report2["classifier"]["cached"] and report2["chosen"]["reach"] == 1.0
    assert report2["chosen"]["strength"] == 0 and report2["directions"] is None
    # Without the cache the judge is kept in the output folder instead.
    measure.measure_bundle(path, n=4, epochs=1, reach=1.0, write_card=False, use_cache=False,
                              out_dir=tmp_path / "nocache")
    assert (tmp_path / "nocache" / "classifier.keras").is_file()


@pytest.mark.slow
def test_fitted_directions_follow_the_classifier_and_leave_the_other_attribute(
        cond_bundle, monkeypatch):
    """Fake faces whose corners brighten with z[0] (male) and z[0] + z[1] (smiling). Each
    direction must leave the other attribute unchanged: male along (1, -1) (z[0] + z[1]
    constant), smiling along z[1] alone."""
    def gen(bundle, z, y=None, batch_size=64):
        img = np.full((len(z), 32, 32, 3), 100.0)
        img[:, :3, :3] = 200 + 10 * z[:, 0, None, None, None]
        img[:, :3, -3:] = 200 + 10 * (z[:, 0] + z[:, 1])[:, None, None, None]
        return img
    monkeypatch.setattr(sampling, "generate_from_latents", gen)
    monkeypatch.setattr(attribute_classifier, "predict", fake_predict)
    d, r2 = directions.fit_directions(cond_bundle, None, ["male", "smiling"], n_fit=400)
    assert np.allclose(d["male"][:2], [2 ** -0.5, -(2 ** -0.5)], atol=1e-3)
    assert d["smiling"][1] > 0.999 and abs(d["smiling"][0]) < 1e-3
    assert r2["male"] > 0.95 and r2["smiling"] > 0.95


@pytest.mark.slow
def test_cli_fits_directions_for_an_unconditional_bundle(tmp_path, labelled_photos, capsys):
    path = make_tiny_bundle(tmp_path / "plain")
    update_card(path, data={"source": str(labelled_photos)}, config={"holdout_fraction": 0.25})
    assert cli.main(["--model", str(path), "--strengths", "0", "--quiet"]) == 2
    assert "only move z along directions" in capsys.readouterr().err
    rc = cli.main(["--model", str(path), "--n", "8", "--epochs", "1", "--fit-n", "64",
                          "--strengths", "2,4", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    report = json.loads((path / "attributes" / "report.json").read_text())
    assert [(s["reach"], s["strength"]) for s in report["sweep"]] == [(None, 2.0), (None, 4.0)]
    assert report["directions"]["fitted_on"] == 64
    card = read_card(path)
    assert card["attributes"]["directions"] == "attributes/directions.json"
    assert card["attributes"]["direction_strength"] == report["chosen"]["strength"]
    sl = semantics.sliders_for(load_bundle(path))
    assert sl.names == ["male", "smiling"] and sl.strength in (2.0, 4.0)
    assert np.linalg.norm(sl.z_shift({"male": 1.0})) == pytest.approx(sl.strength, rel=1e-4)


def test_cli_says_when_there_are_no_labelled_photos(tmp_path, capsys):
    path = make_tiny_bundle(tmp_path / "cond", label_names=["male", "smiling"])
    assert cli.main(["--model", str(path), "--quiet"]) == 2
    assert "--photos" in capsys.readouterr().err


def test_cli_refuses_a_card_without_held_out_photos_unless_given_holdout(
        tmp_path, labelled_photos, capsys):
    """The judge is scored on photos it never saw: a run that held out nothing gets no
    silent hold-out of the measurement's own, only the one the user gives."""
    path = make_tiny_bundle(tmp_path / "cond", label_names=["male", "smiling"])
    update_card(path, data={"source": str(labelled_photos)}, config={"holdout_fraction": 0.0})
    assert cli.main(["--model", str(path), "--quiet"]) == 2
    assert "--holdout" in capsys.readouterr().err
    assert cli.main(["--model", str(path), "--holdout", "1.5", "--quiet"]) == 2
    assert "between 0 and 1" in capsys.readouterr().err
    real = measure.labelled_photos(load_bundle(path), ["male", "smiling"], holdout=0.25)
    assert len(real.train_images) + len(real.held_images) == 40 and len(real.held_images) >= 2
    assert "split 0.25, seed" in real.description


# ---- morph GIF ----

def test_gif_bytes_is_an_animated_gif_forward_then_back():
    rng = np.random.default_rng(4)
    frames = rng.integers(0, 255, (5, 16, 16, 3), dtype=np.uint8)
    frames = np.repeat(np.repeat(frames, 2, 1), 2, 2)             # blocky: few colours, exact
    got = gif_frames(gif_bytes(frames))
    assert len(got) == 5 + 3
    order = [0, 1, 2, 3, 4, 3, 2, 1]
    for g, i in zip(got, order):
        assert np.abs(g.astype(int) - frames[i]).mean() < 8


def test_generate_cli_writes_a_morph_gif(tmp_path):
    from gan import generate

    path = make_tiny_bundle(tmp_path / "cond", label_names=["male", "smiling"])
    out = tmp_path / "m" / "morph.gif"
    assert generate.main(["--model", str(path), "--interpolate", "3", "7", "--frames", "6",
                          "--labels", "male=1", "--out", str(out)]) == 0
    got = gif_frames(out.read_bytes())
    want = sampling.interpolate(load_bundle(path), 3, 7, 6, labels={"male": 1})
    assert len(got) == 6 + 4
    assert np.abs(got[0].astype(int) - want[0]).mean() < 12
    assert np.abs(got[5].astype(int) - want[5]).mean() < 12
    assert np.abs(got[0].astype(int) - want[5]).mean() > np.abs(got[0].astype(int) - want[0]).mean()


@pytest.mark.parametrize("args, says", [
    (["--epochs", "0"], "--epochs must be at least 1"),      # an untrained judge in the card
    (["--epochs", "-1"], "--epochs must be at least 1"),
    (["--fit-n", "0"], "--fit-n must be at least 10"),
    (["--fit-n=-5"], "--fit-n must be at least 10"),
])
def test_cli_refuses_counts_it_cannot_mean_before_any_work(tmp_path, capsys, args, says):
    """Before the photos are even looked for: this bundle has none, and that is not what is said."""
    path = make_tiny_bundle(tmp_path / "cond", label_names=["male", "smiling"])
    card = read_card(path)
    assert cli.main(["--model", str(path), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and "Traceback" not in err
    assert not (path / "attributes").exists() and read_card(path) == card
