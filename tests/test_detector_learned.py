"""The learned detector (gan.detector.learned): the discriminator's layers trained on many
sources as a classifier. Its folds keep a source out of the model that scores it, `python -m
gan.detector fit` stores it and the app's detector list offers it, and a damaged file costs that
detector only."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.detector_fixtures import SOURCES, TINY_TARGET_FPR, damage, shared_sources, source_photo
from tests.factories import make_tiny_bundle


def _src(name, kind, family):
    from gan.detector.collections import Source

    return Source(name, kind, name, family, [])


def test_folds_spread_families_and_kinds():
    from gan.detector import learned

    sources = ([_src(f"r{i}", "real", f"r{i}") for i in range(7)]
               + [_src(f"facegan{i}", "generated", "FaceGAN") for i in range(4)]
               + [_src("sg2", "generated", "StyleGAN"), _src("sg1", "generated", "StyleGAN"),
                  _src("sd", "generated", "Stable Diffusion"), _src("hm", "generated", "hm")])
    fold = learned.folds(sources, 4)
    assert sorted(set(fold)) == [0, 1, 2, 3]
    for f in range(4):
        members = [s for s, g in zip(sources, fold) if g == f]
        assert {s.kind for s in members} == {"real", "generated"}
        assert 3 <= len(members) <= 5
    for family in ("FaceGAN", "StyleGAN"):          # no two members of a family in one fold
        folds_of = [g for s, g in zip(sources, fold) if s.family == family]
        assert len(set(folds_of)) == len(folds_of)
    assert learned.folds(list(reversed(sources)), 4) == list(reversed(fold))   # order-free


def _cli(args, capsys):
    from gan.detector.__main__ import main

    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.slow
def test_fit_trains_it_without_each_fold_stores_it_and_the_app_offers_it(tmp_path, capsys, monkeypatch):
    from gan.bundle import load_bundle, read_card
    from gan.data.preprocess import open_image
    from gan.detector import dfeatures, learned, photos
    from gan.detector.stored import pick, stored_detectors
    from tests.detector_fixtures import png

    trained_on = []                                  # the sources each training saw
    real_train = learned.train

    def spy(discriminator, sets, size, steps=learned.STEPS, **kw):
        trained_on.append({s.source.name for s in sets})
        return real_train(discriminator, sets, size, steps, **kw)

    monkeypatch.setattr(learned, "train", spy)
    manifest, cache = shared_sources()
    path = make_tiny_bundle(tmp_path / "b")
    common = ["--model", str(path), "--sources", str(manifest), "--cache", str(cache),
              "--classifier", "lr", "--target-fpr", str(TINY_TARGET_FPR), "--jobs", "1", "--quiet",
              "--robustness-photos", "1", "--group-photos", "0"]
    rc, out, err = _cli(["fit", *common, "--tune-steps", "0", "--learned-steps", "30",
                         "--learned-folds", "2"], capsys)
    assert rc == 0, err
    # Two folds, then all sources: each source was out of the training whose model scored it.
    fold = learned.folds([s for s in _manifest_sources(manifest)], 2)
    names = list(SOURCES)
    assert trained_on[:2] == [{n for n, g in zip(names, fold) if g != f} for f in (0, 1)]
    assert trained_on[2] == set(names)
    card = read_card(path)
    sec = card["detector"][learned.KEY]
    assert sec["steps"] == 30 and sec["folds"] == 2 and sec["file"] == learned.FILE
    assert {r["source"] for r in sec["left_out"]["rows"]} == set(SOURCES)
    for r in sec["left_out"]["rows"]:
        assert r["generated"] + r["unsure"] + r["real"] == r["scored"] > 0
        if r["kind"] == "real":
            assert r["false_alarm_upper95"] <= TINY_TARGET_FPR
    assert learned.FILE in card["files"] and (path / learned.FILE).is_file()
    assert sec["ood_file"] == learned.OOD_FILE and learned.OOD_FILE in card["files"]
    rep = json.loads((path / "detection/report/report.json").read_text())
    assert rep["detectors"][learned.KEY]["robustness"]["curves"][0]["counts"]["real"] == 2
    assert learned.KEY in out                                   # the CLI's table lists it

    # The app's detector: an upload is prepared as the discriminator-feature detector prepares
    # it, and scored by the stored model exactly as the fit's final model scored it.
    bundle = load_bundle(path)
    det, warning = pick(bundle, learned.KEY)
    assert warning is None and det.key == learned.KEY and det.rule.to_card() == sec["rule"]
    img = source_photo("gen_nearest", 3)
    face = photos.prepare(png(img), det)
    assert face.error is None and face.views.shape == (3, 32, 32, 3)
    _, views, _, _ = dfeatures.photo_views(open_image(_saved(img, tmp_path), draft_side=dfeatures.DRAFT_SIDE), 32)
    assert np.array_equal(views, face.views)
    raw = learned.scores(learned.load(bundle), face.views)
    assert np.allclose(det.raw(face.views), raw)
    # its unfamiliar-photo check is the one the fit stored: noise is unlike every source
    noise = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    assert det.unfamiliar(noise).all()
    assert set(det.judge(noise[:, None].repeat(3, axis=1)).reasons) == {"unfamiliar"}
    (v,) = photos.judge(det, [face])
    assert v.verdict in ("generated", "real", "unsure")
    assert learned.KEY in [d.key for d in stored_detectors(bundle)[0]]

    rc, out, err = _cli(["fit", *common, "--tune-steps", "0", "--learned-steps", "0",
                         "--no-report"], capsys)
    assert rc == 0, err
    card = read_card(path)
    assert learned.KEY not in card["detector"] and learned.FILE not in card["files"]
    assert not (path / learned.FILE).exists()
    assert learned.OOD_FILE not in card["files"] and not (path / learned.OOD_FILE).exists()
    with pytest.raises(ValueError, match="no learned detector"):
        pick(load_bundle(path), learned.KEY)


def _manifest_sources(manifest):
    from gan.detector.collections import load_manifest

    return load_manifest(manifest)


def _saved(img, tmp_path):
    f = tmp_path / "upload.png"
    img.save(f)
    return f


@pytest.mark.slow
def test_a_damaged_learned_file_costs_that_detector_only(tmp_path, capsys):
    from gan.bundle import load_bundle
    from gan.detect import main as detect_main
    from gan.detector import learned
    from gan.detector.stored import pick, stored_detectors

    manifest, cache = shared_sources()
    path = make_tiny_bundle(tmp_path / "b")
    rc, _, err = _cli(["fit", "--model", str(path), "--sources", str(manifest), "--cache", str(cache),
                       "--classifier", "lr", "--target-fpr", str(TINY_TARGET_FPR), "--jobs", "1",
                       "--quiet", "--no-report", "--tune-steps", "0", "--learned-steps", "5",
                       "--learned-folds", "2"], capsys)
    assert rc == 0, err
    damage(path / learned.FILE)
    dets, problems = stored_detectors(load_bundle(path))
    assert learned.KEY not in [d.key for d in dets] and dets
    assert "SHA-256" in problems[learned.KEY] and "python -m gan.detector fit" in problems[learned.KEY]
    with pytest.raises(ValueError, match="learned detector"):
        pick(load_bundle(path), learned.KEY)
    photo = tmp_path / "one.jpg"
    source_photo("real_studio", 300).save(photo, quality=95)
    rc = detect_main([str(photo), "--model", str(path), "--detector", learned.KEY])
    out, err = capsys.readouterr()
    assert rc == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_bad_learned_options_are_refused_before_any_work(tmp_path, capsys):
    manifest, cache = shared_sources()
    path = make_tiny_bundle(tmp_path / "b")
    for bad, words in ((["--learned-folds", "9"], "folds must be between 2"),
                       (["--learned-steps", "-1"], "steps must be 0")):
        rc, out, err = _cli(["fit", "--model", str(path), "--sources", str(manifest), "--cache",
                             str(cache), "--quiet", "--no-report", "--tune-steps", "0", *bad], capsys)
        assert rc == 2 and words in err and "Traceback" not in err


def _tiny_bundle_and_sets(tmp_path):
    """A tiny bundle and the shared fixture sources described for it."""
    from gan.bundle import load_bundle
    from gan.detector import loso
    from gan.detector.collections import describe_views, load_manifest

    manifest, cache = shared_sources()
    bundle = load_bundle(make_tiny_bundle(tmp_path / "b"))
    sets = [loso.SourceData(s, describe_views(s.sample(None), bundle.resolution, cache, jobs=1))
            for s in load_manifest(manifest)]
    return bundle, sets


@pytest.mark.slow
def test_a_refit_on_the_same_photos_loads_the_trained_model_instead_of_training(tmp_path, monkeypatch):
    from gan.detector import learned

    bundle, sets = _tiny_bundle_and_sets(tmp_path)
    calls = []
    real_train = learned.train
    monkeypatch.setattr(learned, "train", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    models = tmp_path / "models"
    first = learned.fit(bundle.discriminator, sets, bundle.resolution, 6, cache_dir=models)
    again = learned.fit(bundle.discriminator, sets, bundle.resolution, 6, cache_dir=models)
    assert len(calls) == 1                                   # the second fit trained nothing
    faces = sets[0].data.X[:4]
    assert np.allclose(first.p(faces), again.p(faces))       # and scores exactly the same
    learned.fit(bundle.discriminator, sets[1:], bundle.resolution, 6, cache_dir=models)
    learned.fit(bundle.discriminator, sets, bundle.resolution, 7, cache_dir=models)
    assert len(calls) == 3                                   # other photos or steps: trained



def test_the_unfamiliar_check_flags_faces_unlike_every_source_and_is_stored_exactly(tmp_path):
    """The check reads the model's own features: photos of the fit sources it was not fitted
    on (their calibration halves) are familiar, noise is not; the stored file gives the very
    same flags, and a damaged or foreign file is refused with a DetectorError."""
    from gan.detector import learned
    from gan.detector.forensic import DetectorError

    bundle, sets = _tiny_bundle_and_sets(tmp_path)
    size = bundle.resolution
    model = learned.build(bundle.discriminator)
    check = learned.fit_ood(model, sets, size)
    held = np.concatenate([s.data.X[s.data.found & s.calib_mask] for s in sets])
    assert check.unfamiliar(held).mean() <= 0.02
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (8, size, size, 3), dtype=np.uint8)
    assert check.unfamiliar_faces(noise).all()
    faces = np.concatenate([noise, held[:8].reshape(-1, size, size, 3)])
    again = learned.ood_from_bytes(check.to_bytes(), model, size, "the file")
    np.testing.assert_array_equal(again.unfamiliar_faces(faces), check.unfamiliar_faces(faces))
    np.testing.assert_allclose(again.check.distance(learned.features(model, faces)),
                               check.check.distance(learned.features(model, faces)))
    with pytest.raises(DetectorError, match="the file cannot be read"):
        learned.ood_from_bytes(check.to_bytes()[:-40], model, size, "the file")
    import io

    arrays = dict(np.load(io.BytesIO(check.to_bytes())))
    arrays["mean"] = arrays["mean"][:-1]
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with pytest.raises(DetectorError, match="features"):
        learned.ood_from_bytes(buf.getvalue(), model, size, "the file")


def test_the_apps_check_reads_the_pass_that_scored_the_faces(tmp_path, monkeypatch):
    """A judge scores every view, then checks the photos as they are: no second pass for
    faces just scored, the same flags as a fresh pass, and faces not just scored (another
    upload's) are passed again rather than read from the wrong row."""
    from gan.detector import learned

    bundle, sets = _tiny_bundle_and_sets(tmp_path)
    size = bundle.resolution
    model = learned.build(bundle.discriminator)
    scorer = learned.Scorer(model, learned.fit_ood(model, sets, size))
    rng = np.random.default_rng(2)
    real = sets[0].data.X[sets[0].data.found][:4].reshape(-1, size, size, 3)
    noise = rng.integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    views = np.concatenate([real[:2], noise, real[2:]])          # [6 faces]
    passes = []
    real_pass = learned.scores_and_features
    monkeypatch.setattr(learned, "scores_and_features",
                        lambda m, f, *a: passes.append(len(f)) or real_pass(m, f, *a))
    scorer.raw(views)
    first = views[[0, 2, 4]]
    flags = scorer.unfamiliar(first)
    assert passes == [6]                                          # read from that pass
    np.testing.assert_array_equal(flags, scorer.check.unfamiliar_faces(first))
    assert flags[1]                                               # the noise face
    other = rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    np.testing.assert_array_equal(scorer.unfamiliar(np.concatenate([first[:1], other])),
                                  scorer.check.unfamiliar_faces(np.concatenate([first[:1], other])))
    assert learned.Scorer(model, None).unfamiliar(first).tolist() == [False] * 3


def test_features_come_from_the_same_pass_as_the_score(tmp_path):
    """One forward pass gives both: the score is the model's, the features each channel's
    mean of the map the head reads (the `features` layer's input)."""
    import keras

    from gan.bundle import load_bundle
    from gan.data.preprocess import to_model_input
    from gan.detector import learned

    bundle = load_bundle(make_tiny_bundle(tmp_path / "b"))
    model = learned.build(bundle.discriminator)
    faces = np.random.default_rng(1).integers(0, 256, (3, bundle.resolution, bundle.resolution, 3),
                                              dtype=np.uint8)
    s, f = learned.scores_and_features(model, faces)
    inner = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    fmap = keras.Model(inner.inputs, inner.get_layer("features").input)
    want = np.asarray(fmap(to_model_input(faces), training=False), np.float64).mean(axis=(1, 2))
    np.testing.assert_allclose(f, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(s, learned.scores(model, faces))


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


@pytest.mark.slow
@pytest.mark.parametrize("machine", ["mixed_bfloat16", "float32"])
def test_it_trains_in_bfloat16_and_is_measured_as_the_app_scores_it(tmp_path, monkeypatch,
                                                                     machine):
    """On a CPU with a bfloat16 unit the training copy's convolutions compute in bfloat16 over
    float32 variables (less than half the CPU time there), on any other in float32 (bfloat16
    emulated is slower); the model a fit measures is the float32 one rebuilt from the stored
    file, exactly as the app loads it, not the copy that trained."""
    import keras

    from gan import config as config_module
    from gan.detector import kerasmodels, learned

    monkeypatch.setattr(config_module, "machine_precision", lambda *a: machine)
    bundle, sets = _tiny_bundle_and_sets(tmp_path)
    trained_copies = []
    real_step = kerasmodels.train_step
    monkeypatch.setattr(kerasmodels, "train_step",
                        lambda model, rate: trained_copies.append(model) or real_step(model, rate))
    cache = tmp_path / "cache"
    model = learned.trained(bundle.discriminator, sets, bundle.resolution, 4, cache_dir=cache)
    convs = [la for la in _all_layers(trained_copies[0]) if isinstance(la, keras.layers.Conv2D)]
    computes = "bfloat16" if machine == "mixed_bfloat16" else "float32"
    assert convs and all(la.compute_dtype == computes and la.kernel.dtype == "float32"
                         for la in convs)
    dense = [la for la in _all_layers(trained_copies[0]) if isinstance(la, keras.layers.Dense)]
    assert dense and all(la.compute_dtype == "float32" for la in dense)
    assert {la.compute_dtype for la in _all_layers(model)} == {"float32"}
    (stored,) = cache.glob("learned-*.npz")
    app = kerasmodels.from_bytes(stored.read_bytes(), lambda: learned.build(bundle.discriminator))
    faces = sets[0].data.X[:4]
    ours, apps = (learned.Readout(m, bundle.resolution).decision(faces) for m in (model, app))
    assert np.array_equal(ours, apps)

def _tiny_training(steps, progress, stop_at=None, log=lambda m: None):
    """A tiny classifier (with dropout) trained by the detectors' train step; None when stopped."""
    import keras

    from gan.detector import kerasmodels

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = keras.Input((8, 8, 3))
    h = keras.layers.Dropout(0.4)(keras.layers.Flatten()(keras.layers.Conv2D(4, 3)(x)))
    model = keras.Model(x, keras.layers.Dense(1)(h))
    run = kerasmodels.train_step(model, 1e-2)
    faces = np.random.default_rng(1).integers(0, 256, (32, 8, 8, 3)).astype(np.uint8)
    targets = np.r_[np.zeros(4), np.ones(4)].astype(np.float32)[:, None]
    for step in kerasmodels.resumable_steps(steps, run, rng, progress, log, every=3):
        run(faces[rng.integers(32, size=8)], targets, rng)
        if step == stop_at:
            return None
    return model


def test_a_stopped_training_resumes_where_it_stopped_and_ends_as_if_never_stopped(tmp_path):
    whole = _tiny_training(10, None)
    progress = tmp_path / "learned-x.progress.npz"
    assert _tiny_training(10, progress, stop_at=8) is None   # stopped after step 8: state of 6
    lines = []
    resumed = _tiny_training(10, progress, log=lines.append)
    assert any("resuming at step 6/10" in m for m in lines)
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        assert np.array_equal(a, b)                          # dropout, Adam and draws all resumed
    lines.clear()
    other = _tiny_training(12, progress, log=lines.append)   # state of a 10-step training
    assert any("not resuming" in m and "training from step 0" in m for m in lines)
    assert other is not None
    for damaged in (b"not a state", b"PK\x03\x04 cut short"):  # a damaged file: start afresh
        progress.write_bytes(damaged)
        lines.clear()
        assert _tiny_training(10, progress, log=lines.append) is not None
        assert any("not resuming" in m for m in lines)


@pytest.mark.slow
def test_a_fit_stopped_mid_training_resumes_it_and_leaves_no_state_behind(tmp_path, monkeypatch):
    from gan.detector import kerasmodels, learned

    bundle, sets = _tiny_bundle_and_sets(tmp_path)
    whole = learned.fit(bundle.discriminator, sets, bundle.resolution, 6, cache_dir=tmp_path / "a")
    monkeypatch.setattr(kerasmodels, "PROGRESS_EVERY", 2)
    real_step, calls = kerasmodels.train_step, []

    def stopping_step(model, rate):
        run = real_step(model, rate)

        def counted(*a):
            calls.append(1)
            if len(calls) == 5:
                raise KeyboardInterrupt                      # the session ends at step 5
            return run(*a)
        counted.model, counted.optimizer = run.model, run.optimizer
        return counted

    monkeypatch.setattr(kerasmodels, "train_step", stopping_step)
    with pytest.raises(KeyboardInterrupt):
        learned.fit(bundle.discriminator, sets, bundle.resolution, 6, cache_dir=tmp_path / "b2")
    assert len(list((tmp_path / "b2").glob("*.progress.npz"))) == 1
    monkeypatch.setattr(kerasmodels, "train_step", real_step)
    lines = []
    resumed = learned.fit(bundle.discriminator, sets, bundle.resolution, 6,
                          cache_dir=tmp_path / "b2", log=lines.append)
    assert any("resuming at step 4/6" in m for m in lines)
    faces = sets[0].data.X[:4]
    assert np.allclose(whole.p(faces), resumed.p(faces))
    assert not list((tmp_path / "b2").glob("*.progress.npz"))


def test_scores_are_the_models_own_outputs_for_any_number_of_faces(tmp_path):
    """Scoring runs the model as one compiled graph (Keras's predict_on_batch), for speed; the
    scores must be what calling the model gives, in inference mode (its dropout off), for an
    upload's one to three faces and for more than one batch. So must the raw discriminator's."""
    from gan.bundle import load_bundle
    from gan.data.preprocess import to_model_input
    from gan.detector import learned
    from gan.detector.stored import discriminator_scores

    bundle = load_bundle(make_tiny_bundle(tmp_path / "b"))
    model = learned.build(bundle.discriminator)
    rng = np.random.default_rng(0)
    for n in (1, 3, 70):
        faces = rng.integers(0, 256, (n, bundle.resolution, bundle.resolution, 3), dtype=np.uint8)
        called = np.asarray(model(to_model_input(faces), training=False), np.float64).ravel()
        scores = learned.scores(model, faces)
        assert scores.shape == (n,)
        np.testing.assert_allclose(scores, called, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(learned.scores(model, faces), scores)
        d_called = -np.asarray(bundle.discriminator(to_model_input(faces), training=False),
                               np.float64).ravel()
        np.testing.assert_allclose(discriminator_scores(bundle, faces), d_called,
                                   rtol=1e-5, atol=1e-5)
