"""The app's plain-Python helpers: the face cache, ZIPs, upload scoring, the card in words."""
from __future__ import annotations

import csv
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from app_support import card_text, detection
from app_support.faces import FaceCache, face_file_name, zip_faces
from gan import sampling
from gan.bundle import load_bundle
from tests.app_fixtures import (encode, face_png, huge_png, landscape_jpeg,  # noqa: F401
                                models_dir)


@pytest.fixture(scope="module")
def bundle(models_dir):
    return load_bundle(models_dir / "default")


def test_face_cache_extends_without_regenerating(bundle, monkeypatch):
    calls = []
    real = sampling.generate_from_latents
    monkeypatch.setattr(sampling, "generate_from_latents",
                        lambda b, z, *a, **kw: calls.append(len(z)) or real(b, z, *a, **kw))
    cache = FaceCache()
    first = cache.faces(bundle, "k", 8, seed=3)
    more = cache.faces(bundle, "k", 20, seed=3)
    fewer = cache.faces(bundle, "k", 5, seed=3)
    assert calls == [8, 12] and cache.faces_generated == 20
    assert more.pngs[:8] == first.pngs and fewer.pngs == first.pngs[:5]
    assert np.array_equal(more.images[:8], first.images)
    other = cache.faces(bundle, "k", 8, seed=4)
    assert other.pngs != first.pngs and calls == [8, 12, 8]
    # the same faces as the library makes for that seed (the one code path for "same seed")
    ref = sampling.generate(bundle, 20, seed=3)
    assert np.abs(ref.astype(int) - more.images.astype(int)).max() <= 1
    assert not more.images.flags.writeable


def test_face_cache_is_bounded(bundle):
    cache = FaceCache(max_entries=2)
    for seed in range(4):
        cache.faces(bundle, "k", 1, seed=seed)
    cache.faces(bundle, "k", 1, seed=0)
    assert cache.faces_generated == 5


def test_file_names_say_where_a_face_came_from():
    assert face_file_name("default", 42, 6) == "default_seed42_07.png"
    assert (face_file_name("m", 1, 0, truncation=0.7, labels={"smiling": 1.0, "male": 0.0})
            == "m_seed1_t0.70_male0_smiling1_01.png")


def test_zip_holds_every_face_and_how_to_remake_them(bundle):
    faces = FaceCache().faces(bundle, "k", 3, seed=1)
    names = [face_file_name("default", 1, i) for i in range(3)]
    with zipfile.ZipFile(io.BytesIO(zip_faces(faces.pngs, names, {"seed": 1}))) as z:
        assert z.namelist() == ["default_seed1_01.png", "default_seed1_02.png",
                                "default_seed1_03.png", "faces.json"]
        img = np.asarray(Image.open(io.BytesIO(z.read(names[2]))))
    assert np.array_equal(img, faces.images[2])


def test_bad_uploads_get_reasons_and_the_rest_are_scored(bundle):
    det = detection.detectors_for(bundle)[0]
    jpg = encode(np.asarray(Image.open(io.BytesIO(face_png()))), "JPEG")
    files = [("face.png", face_png()), ("notes.jpg", b"not an image at all"),
             ("empty.png", b""), ("cut.jpg", jpg[: len(jpg) // 2]),
             ("bomb.png", huge_png()), ("tiny.png", encode(np.zeros((20, 20, 3), np.uint8))),
             ("landscape.jpg", landscape_jpeg()), ("face.webp", encode(
                 np.asarray(Image.open(io.BytesIO(face_png()))), "WEBP")),
             ("face.bmp", encode(np.asarray(Image.open(io.BytesIO(face_png()))), "BMP"))]
    results = detection.score_uploads(files, bundle, det)
    assert [r.name for r in results] == [n for n, _ in files]
    status = {r.name: r.status for r in results}
    assert status == {"face.png": "scored", "notes.jpg": "not an image", "empty.png": "empty file",
                      "cut.jpg": "truncated image", "bomb.png": "decompression bomb",
                      "tiny.png": "image too small", "landscape.jpg": "no face",
                      "face.webp": "scored", "face.bmp": "scored"}
    for r in results:
        if r.scored:
            assert 0.0 <= r.p_generated <= 1.0 and r.verdict in ("real", "generated")
            assert r.crop.shape == (32, 32, 3) and r.face_found is True
        else:
            assert r.message and r.p_generated is None and r.verdict is None
    assert "megapixels" in next(r.message for r in results if r.name == "bomb.png")
    # scoring is per image: the batch gives each face the score it gets alone
    alone = detection.score_uploads(files[:1], bundle, det)[0]
    assert alone.p_generated == pytest.approx(results[0].p_generated, abs=1e-5)


def test_csv_has_one_row_per_result(bundle):
    det = detection.detectors_for(bundle)[0]
    results = detection.score_uploads([("a.png", face_png()), ("b.jpg", b"x")], bundle, det)
    rows = list(csv.DictReader(io.StringIO(detection.results_csv(results, det).decode())))
    assert [r["file"] for r in rows] == ["a.png", "b.jpg"]
    assert float(rows[0]["p_generated"]) == pytest.approx(results[0].p_generated, abs=1e-4)
    assert rows[0]["threshold"] == "0.5" and rows[1]["status"] == "not an image"


def test_try_it_scores_generated_faces_and_bundled_real_photos(bundle):
    det = detection.detectors_for(bundle)[0]
    assert [p.name for p in detection.real_examples(bundle)] == ["00.png", "01.jpg"]
    real = detection.score_examples(bundle, det)
    assert [r.status for r in real] == ["scored", "scored"]
    faces = sampling.generate(bundle, 2, seed=0)
    gen = detection.score_generated(faces, ["a", "b"], det)
    assert all(r.scored and r.source == "generated" for r in gen)


def test_threshold_and_note_come_from_the_card(bundle):
    card = {**bundle.card, "detector": {"calibration": None, "threshold": 0.8, "note": "raw"}}
    b = type(bundle)(path=bundle.path, card=card, generator=bundle.generator,
                     discriminator=bundle.discriminator, name="x")
    det = detection.detectors_for(b)[0]
    assert det.threshold == 0.8 and det.note == "raw"
    assert det.rule.decide(0.79)[0] == "real" and det.rule.decide(0.8)[0] == "generated"


def test_card_in_plain_words():
    card = {"config": {"latent_dim": 128}, "preprocessing": {"size": 128, "crop": "face"},
            "data": {"source": "CelebA", "train_images": 5000, "holdout": {"images": 250}},
            "training": {"steps": 20000, "seconds": 11000, "images_seen": 640000},
            "labels": {"names": ["male", "smiling"]}, "metrics": {"swd": {"mean": 12.3456},
                                                                 "fid": 40.0}}
    text = "\n".join(card_text.describe(card))
    assert "`celeba-5k`: 12 photos" in "\n".join(card_text.describe(
        {**card, "data": {"source": "../shared/data/celeba-5k/", "train_images": 12}}))
    for want in ("128×128", "CelebA: 5,000 photos", "250 more kept aside", "20,000 steps",
                 "3 h 3 min", "female or male; not smiling or smiling"):
        assert want in text
    rows = card_text.metric_rows(card)
    assert [r["metric"] for r in rows] == ["swd.mean", "fid"] and rows[0]["value"] == "12.35"
    assert "lower is better" in rows[0]["meaning"]
    more = {**card, "metrics": {"attributes": {"male_success_rate": 0.8}, "ms_ssim": {"generated": 0.3},
                                "swd_x1e3": {"average": 21.8}, "evaluated": "2026-12-01"}}
    assert [r["metric"] for r in card_text.metric_rows(more)] == [  # image quality first
        "swd_x1e3.average", "ms_ssim.generated", "attributes.male_success_rate", "evaluated"]
    untrained = {**card, "training": {"steps": 0}, "metrics": {}}
    assert "untrained" in "\n".join(card_text.describe(untrained))
    assert card_text.metric_rows(untrained) == []
    resumed = {**card, "training": {**card["training"], "cpu_seconds": 7500,
                                    "cpu_counted_from_step": 2750}}
    assert "2 h 5 min of CPU time counted from step 2,750 on" in "\n".join(card_text.describe(resumed))
    tuned = {**card, "training": {"steps": 3000, "seconds": 1500, "total_steps": 44759,
                                  "total_seconds": 25258.1, "total_cpu_seconds": 36752.8}}
    assert ("44,759 steps in all, 7 h 1 min of computing time (10 h 13 min of CPU time)"
            in "\n".join(card_text.describe(tuned)))


def test_upload_limits_agree_with_the_server_config(bundle):
    import tomllib

    from tests.app_fixtures import REPO

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == detection.MAX_UPLOAD_MB
    assert config["browser"]["gatherUsageStats"] is False and config["server"]["headless"] is True
    det = detection.detectors_for(bundle)[0]
    big = face_png() + b"\0" * (detection.MAX_UPLOAD_MB << 20)   # still a valid PNG, too big
    r = detection.score_uploads([("big.png", big), ("ok.png", face_png())], bundle, det)
    assert [x.status for x in r] == ["file too large", "scored"]
    assert f"{detection.MAX_UPLOAD_MB} MB" in r[0].message


def test_model_calls_wait_their_turn_across_sessions(bundle, monkeypatch):
    """Visitors arriving together (one thread each, as Streamlit runs sessions) never run more
    than MAX_CONCURRENT_MODEL_CALLS model calls at once, whatever they call: new faces, a morph,
    judging photos. Unbounded, each call's activations added up: bench/app_load.py measured the
    server at 1.9 GB for 16 visitors and 2.8 GB for 32, against 0.9 GB for one."""
    import threading
    import time

    from app_support import gate, state
    from gan.detector import photos

    inside, peak, lock = {}, [0], threading.Lock()      # thread -> model calls it is in

    def counted(real):          # a morph's interpolate calls generate_from_latents: one call
        def call(*a, **kw):
            me = threading.get_ident()
            with lock:
                inside[me] = inside.get(me, 0) + 1
                peak[0] = max(peak[0], len(inside))
            try:
                time.sleep(0.05)
                return real(*a, **kw)
            finally:
                with lock:
                    inside[me] -= 1
                    if not inside[me]:
                        del inside[me]
        return call

    monkeypatch.setattr(sampling, "generate_from_latents", counted(sampling.generate_from_latents))
    monkeypatch.setattr(sampling, "interpolate", counted(sampling.interpolate))
    monkeypatch.setattr(photos, "judge", counted(photos.judge))
    cache, det = FaceCache(), detection.detectors_for(bundle)[0]
    visitors = [lambda i=i: cache.faces(bundle, "k", 4, seed=100 + i) for i in range(6)]
    visitors += [lambda i=i: state.morph(bundle, "k", i, i + 1, 3, 1.0, None) for i in range(3)]
    visitors += [lambda i=i: detection.score_uploads([(f"{i}.png", face_png())], bundle, det)
                 for i in range(4)]
    errors = []

    def run(fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - reported by the assert below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in visitors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and not any(t.is_alive() for t in threads)
    assert peak[0] == gate.MAX_CONCURRENT_MODEL_CALLS
    assert cache.faces_generated == 24


@pytest.mark.parametrize("seconds, words", [
    (41_570.9, "11 h 33 min"),      # 11 h 32.8 min: the nearest minute, not the one below
    (25_258.1, "7 h 1 min"),        # 7 h 0.97 min
    (3_599.6, "1 h 0 min"),
    (3_629.0, "1 h 0 min"),
    (95, "1 min 35 s"),
    (59.6, "1 min 0 s"),
    (42, "42 s"),
])
def test_durations_are_rounded_to_what_they_show(seconds, words):
    assert card_text.duration(seconds) == words


def test_the_cards_cpu_time_is_rounded_to_the_nearest_minute():
    card = {"training": {"steps": 3000, "seconds": 1500, "total_steps": 44759,
                         "total_seconds": 25258.1, "total_cpu_seconds": 41570.9}}
    assert ("7 h 1 min of computing time (11 h 33 min of CPU time)"
            in "\n".join(card_text.describe(card)))
