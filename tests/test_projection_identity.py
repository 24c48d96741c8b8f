"""Identity of projections (issue 20, point 3): dlib's distance (`gan.metrics.identity`), the
feature-map projection (`gan.projection.FeatureProjector`) and the measurement's bookkeeping
(`gan.projection_eval`), on faces the tests draw and on tiny bundles."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gan import projection_eval as pe
from gan.bundle import load_bundle
from gan.metrics import identity
from gan.metrics.msssim import ms_ssim
from gan.projection import FeatureProjector, Projector, split_generator
from gan.sampling import generate_from_latents, latents
from tests.factories import draw_face, make_tiny_bundle


def _face(seed=1, **kw) -> np.ndarray:
    return np.asarray(draw_face(128, 128, seed=seed, **kw))


def test_dlib_distance_same_image_other_face_and_no_face():
    a = _face(1)
    same = identity.pair(a, a)
    assert same["distance"] == pytest.approx(0.0, abs=1e-6) and same["same_person"] is True
    blank = _face(1, face=False)
    # no face in the projection: it is read in the photo's box, and it is not the person
    other = identity.pair(a, blank)
    assert other["other_found"] is False and other["distance"] > identity.SAME_PERSON
    # no face in the photo: nothing to compare
    assert identity.pair(blank, a) == {"distance": None, "same_person": None,
                                       "photo_found": False, "other_found": None}
    with pytest.raises(ValueError):
        identity.embed(np.zeros((8, 8), np.uint8))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A tiny conditional bundle whose BatchNorm statistics are those of random z and labels
    (untrained ones make every input the same flat face: nothing to edit)."""
    import keras

    b = load_bundle(make_tiny_bundle(tmp_path_factory.mktemp("f") / "cond",
                                     label_names=["male", "smiling"], crop="face"))
    bns = [lay for lay in b.generator.layers if isinstance(lay, keras.layers.BatchNormalization)]
    for lay in bns:
        lay.momentum = 0.0
    y = np.random.default_rng(0).integers(0, 2, (64, 2)).astype(np.float32)
    b.generator([latents(99, 64, b.latent_dim), y], training=True)
    for lay in bns:
        lay.momentum = 0.99
    return b


def test_the_generator_splits_at_its_feature_map_into_the_same_faces(bundle):
    head, tail = split_generator(bundle.generator, "up16")
    assert tuple(head.outputs[0].shape[1:3]) == (16, 16)
    with pytest.raises(ValueError, match="no layer"):
        split_generator(bundle.generator, "up4096")
    fp = FeatureProjector(Projector(bundle, use_encoder=False), res=16)
    z = latents(5, 3, bundle.latent_dim)
    y = np.array([[0, 1], [1, 0], [0.5, 0.5]], np.float32)
    zero = np.zeros(tuple(head.outputs[0].shape[1:]), np.float32)
    assert np.abs(fp.faces(z, y, zero).astype(int)
                  - generate_from_latents(bundle, z, y).astype(int)).max() <= 1


def test_the_feature_map_gets_closer_than_the_latent_and_labels_still_edit(bundle):
    from PIL import Image

    photo = np.asarray(draw_face(96, 96, seed=3).resize((32, 32), Image.LANCZOS))
    proj = Projector(bundle, use_encoder=False)
    latent = proj.project(photo, steps=30)
    fp = FeatureProjector(proj, res=16)
    refined = fp.project(photo, latent, steps=30)
    before = float(ms_ssim(photo[None], latent.image[None])[0])
    after = float(ms_ssim(photo[None], refined.image[None])[0])
    assert after > before + 0.05
    assert refined.delta.shape == (16, 16, fp.head.outputs[0].shape[-1])
    assert refined.losses["regulariser"] > 0 and refined.layer == "up16"
    # the kept residual redraws the refined face; moving a label changes it
    again = fp.faces(refined.z[None], refined.labels[None], refined.delta)[0]
    assert np.abs(again.astype(int) - refined.image.astype(int)).max() <= 1
    lo, hi = refined.labels.copy(), refined.labels.copy()
    lo[0], hi[0] = 0.0, 1.0
    ends = fp.faces(np.stack([refined.z] * 2), np.stack([lo, hi]), refined.delta)
    assert np.abs(ends[0].astype(int) - ends[1].astype(int)).mean() > 1


def _row(set_name, key, method, d, ms=0.5, flip=True, seconds=1.0):
    v = np.zeros(128)
    v[0] = d
    return {"set": set_name, "key": key, "method": method, "ms_ssim": ms, "seconds": seconds,
            "distance": d, "same_person": None if d is None else d < 0.6,
            "photo_found": d is not None, "projection_found": d is not None,
            "photo_vector": None if d is None else np.zeros(128).tolist(),
            "projection_vector": None if d is None else v.tolist(),
            "flips": {"male": {"flip": flip, "p_low": 0.1, "p_high": 0.9, "ends_distance": 0.5}}}


def test_summary_counts_shares_intervals_flips_and_chance():
    rows = ([_row("s", f"k{i}", "encoder", d, flip=i < 3) for i, d in
             enumerate([0.3, 0.5, 0.7, 0.9])]
            + [_row("s", "k4", "encoder", None, flip=False)])
    (s,) = pe.summarise(rows)
    assert s["faces"] == 5 and s["dlib_judged"] == 4 and s["same_person"] == 2
    assert s["same_person_share"] == 0.5
    lo, hi = s["same_person_interval"]
    assert lo < 0.5 < hi and (lo, hi) == pytest.approx(pe.wilson(2, 4))
    assert s["distance_median"] == pytest.approx(0.6)
    assert s["flip_rate"] == {"male": 0.6}
    # another photo's projection: distances 0.3..0.9 rolled by one, still 2 of 4 under 0.6
    assert s["chance_share"] == 0.5
    assert "2/4 = 50.0%" in pe.table([s])


def test_cases_figure_shows_best_median_and_worst(tmp_path):
    from gan.images import png_bytes

    rows = []
    for i, d in enumerate([0.2, 0.4, 0.5, 0.6, 0.8, 0.9]):
        rows.append(_row("s", f"k{i}", "encoder", d))
        stem = pe._stem("s", f"k{i}")
        img = np.full((32, 32, 3), 40 * i, np.uint8)
        (tmp_path / f"{stem}.photo.png").write_bytes(png_bytes(img))
        (tmp_path / f"{stem}.encoder.png").write_bytes(png_bytes(img))
    png = pe.cases_figure(rows, tmp_path, "s", "encoder", ["encoder"], per=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no dlib-judged"):
        pe.cases_figure(rows, tmp_path, "other", "encoder", ["encoder"])


def test_a_measurement_resumes_from_its_rows(bundle, tmp_path):
    own = pe.own_faces(bundle, 2)
    assert own.images.shape == (2, 32, 32, 3)
    methods = pe.Methods(bundle, ["latent", "features"][:1], steps=3)
    rows_path = tmp_path / "rows.jsonl"
    first = pe.run(own, methods, ["latent"], rows_path, images_dir=tmp_path / "img")
    assert len(first) == 2 and len(rows_path.read_text().splitlines()) == 2
    assert all(r["set"] == "own faces" and 0 <= r["ms_ssim"] <= 1 for r in first)
    again = pe.run(own, methods, ["latent"], rows_path)
    assert [json.dumps(r, sort_keys=True) for r in again] == \
        [json.dumps(r, sort_keys=True) for r in first]
    with pytest.raises(ValueError, match="no encoder"):
        pe.Methods(bundle, ["encoder"])


def test_features_reuse_the_encoders_projection_and_the_edits_figure_draws(bundle, tmp_path):
    from gan.encoder_fit import fit_encoder

    fit_encoder(bundle, faces=256, epochs=1)
    b = load_bundle(bundle.path)          # the card now lists the encoder
    b.generator.set_weights(bundle.generator.get_weights())   # the calibrated statistics
    methods = pe.Methods(b, ["encoder", "features"], steps=3, feature_steps=3)
    own = pe.own_faces(b, 2)
    rows = pe.run(own, methods, ["encoder", "features"], tmp_path / "rows.jsonl")
    enc, feat = rows[0], rows[1]
    assert (enc["method"], feat["method"]) == ("encoder", "features")
    # the refinement's time includes the latent search it started from
    assert feat["seconds"] >= enc["seconds"]
    png = pe.edits_figure(methods, own, 1, None, ["male", "smiling"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_non_faces_are_upside_down_faces_and_stripes(tmp_path):
    from gan.images import png_bytes

    faces = pe.FaceSet("s", ["a", "b", "c", "d"], np.random.default_rng(0).integers(
        0, 255, (4, 32, 32, 3), dtype=np.uint8), [True] * 4)
    nf = pe.non_faces(faces)
    assert nf.name == "not faces" and len(nf.keys) == 6 and nf.images.shape == (6, 32, 32, 3)
    assert np.array_equal(nf.images[0], faces.images[0][::-1])
    assert (nf.images[3] == nf.images[3][:, :1]).all()          # stripes: rows of one value
    rows = []
    for key, img in zip(nf.keys, nf.images):
        (tmp_path / f"{pe._stem('not faces', key)}.photo.png").write_bytes(png_bytes(img))
        (tmp_path / f"{pe._stem('not faces', key)}.latent.png").write_bytes(png_bytes(img))
        rows.append({**_row("not faces", key, "latent", None, ms=1.0), "flips": None})
    assert pe.non_faces_figure(rows, tmp_path, ["latent"])[:4] == b"\x89PNG"
    (s,) = pe.summarise(rows)
    assert s["dlib_judged"] == 0 and "| - |" in pe.table([s])
