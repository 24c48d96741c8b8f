"""python -m gan.detect: one JSON line per file with its verdict (generated, real, or unsure with
the reason), errors per file, the detector choice, exit codes."""
from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest

from gan import detect
from gan.detector.photos import expand, score_files
from gan.detector.stored import pick
from gan.detector.verdict import REASONS, VERDICTS
from tests.detector_fixtures import fitted_bundle, png, real_photo
from tests.factories import make_tiny_bundle


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    return fitted_bundle(tmp_path_factory.mktemp("cli") / "tiny", robustness=False)


@pytest.fixture
def photos(tmp_path):
    (tmp_path / "a.png").write_bytes(png(real_photo(1)))
    (tmp_path / "notes.jpg").write_bytes(b"%PDF-1.4 not a picture")
    sub = tmp_path / "folder"
    sub.mkdir()
    (sub / "b.jpg").write_bytes(png(real_photo(2)))      # PNG bytes behind a .jpg name
    (sub / "readme.txt").write_text("not an image file name, so not listed")
    return tmp_path


def run(capsys, *args) -> tuple[int, list[dict], str]:
    code = detect.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


@pytest.mark.slow
def test_one_line_per_file_with_errors_beside_scores(capsys, fitted, photos):
    code, rows, _ = run(capsys, "--model", fitted, photos / "a.png", photos / "notes.jpg",
                        photos / "missing.png", photos / "folder")
    assert code == 0
    assert [r["path"] for r in rows] == [str(photos / "a.png"), str(photos / "notes.jpg"),
                                         str(photos / "missing.png"),
                                         str(photos / "folder" / "b.jpg")]
    good, bad, missing, in_folder = rows
    for r in (good, in_folder):
        assert 0.0 <= r["p_generated"] <= 1.0 and "error" not in r
        assert r["verdict"] in VERDICTS and r["detector"] == "dfeatures" and "face_found" in r
        assert ("reason" in r) == (r["verdict"] == "unsure")
        if r["verdict"] == "unsure":
            assert r["reason"] in REASONS.values()
        else:                                     # a verdict is never against its threshold
            assert r["verdict"] == ("generated" if r["p_generated"] >= r["threshold"] else "real")
    for r in (bad, missing):
        assert "p_generated" not in r and "verdict" not in r and r["error"]
    assert "not an image" in bad["error"] and "no such file" in missing["error"]


@pytest.mark.slow
def test_scores_match_the_library_and_the_detector_can_be_chosen(capsys, fitted, photos):
    from gan.bundle import load_bundle
    from gan.detector import photos as library
    from gan.detector.stored import stored_detectors

    dets = {d.key: d for d in stored_detectors(load_bundle(fitted))[0]}
    for key in ("dfeatures", "forensic", "discriminator"):
        code, rows, _ = run(capsys, "--model", fitted, "--detector", key, photos / "a.png")
        want = library.judge(dets[key], [library.prepare(photos / "a.png", dets[key])])[0]
        assert code == 0 and rows[0]["detector"] == key
        assert rows[0]["p_generated"] == pytest.approx(want.p, abs=1e-6)
        assert rows[0]["verdict"] == want.verdict
        assert rows[0].get("reason", "") == (REASONS[want.reason] if want.reason else "")
        assert rows[0]["threshold"] == pytest.approx(dets[key].threshold, abs=1e-6)


@pytest.mark.slow
def test_an_unsure_verdict_comes_with_its_reason(capsys, fitted, photos, tmp_path):
    """Every photo in the default detector's unsure band: each line says "unsure" and why."""
    import shutil

    wide = tmp_path / "wide"
    shutil.copytree(fitted, wide)
    card = json.loads((wide / "model.json").read_text())
    card["detector"]["dfeatures"]["rule"] = {"generated_at": 1.0, "real_below": 0.0}
    (wide / "model.json").write_text(json.dumps(card))
    code, rows, _ = run(capsys, "--model", wide, photos / "a.png", photos / "folder")
    assert code == 0 and [r["verdict"] for r in rows] == ["unsure", "unsure"]
    assert all(r["reason"] in (REASONS["band"], REASONS["unfamiliar"]) for r in rows)


@pytest.mark.slow
def test_nothing_scored_exits_1_and_an_unusable_model_or_detector_exits_2(capsys, fitted, photos,
                                                                          tmp_path):
    code, rows, _ = run(capsys, "--model", fitted, photos / "notes.jpg")
    assert code == 1 and "error" in rows[0]
    code, rows, err = run(capsys, "--model", tmp_path / "nope", photos / "a.png")
    assert code == 2 and rows == [] and "No model bundle" in err
    plain = make_tiny_bundle(tmp_path / "plain", crop="center")
    code, rows, err = run(capsys, "--model", plain, "--detector", "forensic", photos / "a.png")
    assert code == 2 and "no forensic detector" in err and "gan.detector fit" in err
    code, rows, _ = run(capsys, "--model", plain, photos / "a.png")      # default: what it has
    assert code == 0 and rows[0]["detector"] == "discriminator"


@pytest.mark.slow
def test_a_damaged_detector_falls_back_by_default_and_fails_when_asked_for(capsys, fitted, photos,
                                                                          tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(fitted, copy)
    (copy / "detection/dfeatures.npz").write_bytes(b"damaged")
    code, rows, err = run(capsys, "--model", copy, photos / "a.png")
    assert code == 0 and rows[0]["detector"] == "forensic" and "not usable" in err
    code, rows, err = run(capsys, "--model", copy, "--detector", "dfeatures", photos / "a.png")
    assert code == 2 and "dfeatures.npz" in err
    (copy / "detection/forensic.npz").write_bytes(b"damaged")
    code, rows, err = run(capsys, "--model", copy, photos / "a.png")
    assert code == 0 and rows[0]["detector"] == "discriminator" and "not usable" in err
    code, rows, err = run(capsys, "--model", copy, "--detector", "forensic", photos / "a.png")
    assert code == 2 and "forensic.npz" in err


def test_no_face_is_an_error_unless_asked_to_score_the_centre(capsys, tmp_path):
    from tests.app_fixtures import landscape_jpeg

    bundle = make_tiny_bundle(tmp_path / "face", crop="face")
    (tmp_path / "beach.jpg").write_bytes(landscape_jpeg())
    code, rows, _ = run(capsys, "--model", bundle, tmp_path / "beach.jpg")
    assert code == 1 and rows[0]["face_found"] is False and "no face" in rows[0]["error"]
    code, rows, _ = run(capsys, "--model", bundle, "--score-without-face", tmp_path / "beach.jpg")
    assert code == 0 and rows[0]["face_found"] is False and 0 <= rows[0]["p_generated"] <= 1
    assert rows[0]["verdict"] in VERDICTS


@pytest.mark.slow
def test_the_fitted_detectors_never_score_a_photo_without_a_face(capsys, fitted, tmp_path):
    from tests.app_fixtures import landscape_jpeg

    (tmp_path / "beach.jpg").write_bytes(landscape_jpeg())
    for key in ("dfeatures", "forensic"):
        code, rows, _ = run(capsys, "--model", fitted, "--detector", key, "--score-without-face",
                            tmp_path / "beach.jpg")
        assert code == 1 and rows[0]["detector"] == key and rows[0]["error_kind"] == "no face"


@pytest.mark.slow
def test_a_face_too_small_for_the_forensic_detector_is_said_so(capsys, fitted, tmp_path):
    """The forensic detector reads the face at the photo's own pixels: a face it finds but
    cannot read is not "no face found" (the line says a face was found)."""
    (tmp_path / "small.jpg").write_bytes(png(real_photo(30, 96)))
    code, rows, _ = run(capsys, "--model", fitted, "--detector", "forensic", tmp_path / "small.jpg")
    assert code == 1 and rows[0]["face_found"] is True
    assert rows[0]["error_kind"] == "face too small" and "larger" in rows[0]["error"]
    code, rows, _ = run(capsys, "--model", fitted, "--detector", "dfeatures", tmp_path / "small.jpg")
    assert code == 0 and rows[0]["face_found"] is True and rows[0]["verdict"] in VERDICTS


@pytest.mark.slow
def test_batches_keep_the_order(capsys, fitted, tmp_path):
    names = []
    for i in range(5):
        p = tmp_path / f"{i}.png"
        p.write_bytes(png(real_photo(i)) if i != 2 else b"")
        names.append(str(p))
    items = expand(names)
    from gan.bundle import load_bundle

    bundle = load_bundle(fitted)
    det, _ = pick(bundle, None)
    rows = list(score_files(det, items, batch=2))
    assert [r["path"] for r in rows] == names
    assert ["p_generated" in r for r in rows] == [True, True, False, True, True]
    one_by_one = [r.get("p_generated") for r in score_files(det, items, batch=1)]
    assert np.allclose([r.get("p_generated") or 0 for r in rows], [p or 0 for p in one_by_one],
                       atol=1e-6)


@pytest.mark.slow
def test_a_pipe_or_a_device_is_refused_unread_and_the_good_file_is_scored(capsys, fitted, photos):
    """`mkfifo f.jpg; python -m gan.detect good.jpg f.jpg /dev/zero` used to wait forever."""
    os.mkfifo(photos / "f.jpg")
    args = ["--model", str(fitted), str(photos / "a.png"), str(photos / "f.jpg"), "/dev/zero"]
    done: dict = {}
    worker = threading.Thread(target=lambda: done.update(code=detect.main(args)), daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "gan.detect hangs on a pipe or a device"
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert done["code"] == 0 and "p_generated" in rows[0]
    assert [(r["error_kind"], r["error"]) for r in rows[1:]] == [
        ("not a regular file", "not a regular file (a pipe)"),
        ("not a regular file", "not a regular file (a device)")]


@pytest.mark.slow
def test_each_line_comes_as_soon_as_its_file_is_done(fitted, photos, monkeypatch):
    """A slow file (a huge photo, a network drive) does not hold back the lines before it."""
    from gan.bundle import load_bundle
    from gan.data import preprocess

    real, release = preprocess.open_image, threading.Event()

    def slow_open(path, *a, **kw):
        if os.path.basename(path) == "slow.png":
            release.wait(30)
        return real(path, *a, **kw)

    monkeypatch.setattr(preprocess, "open_image", slow_open)
    (photos / "slow.png").write_bytes(png(real_photo(3)))
    bundle = load_bundle(fitted)
    det, _ = pick(bundle, None)
    rows = score_files(det, expand([str(photos / "a.png"), str(photos / "slow.png")]))
    t = time.perf_counter()
    first = next(rows)
    waited = time.perf_counter() - t
    release.set()
    assert first["path"] == str(photos / "a.png") and "p_generated" in first
    assert waited < 15
    assert "p_generated" in next(rows)


def test_a_bomb_beyond_pillows_own_limit_gets_our_sentence_only(capsys, tmp_path):
    """A 74-byte PNG claiming 100000x100000 pixels: the line states the size found and our
    limit, not Pillow's text with its second, different limit."""
    from gan.data.preprocess import DEFAULT_MAX_PIXELS
    from tests.bad_inputs import png_header_only

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(100_000, 100_000))
    plain = make_tiny_bundle(tmp_path / "plain", crop="center")
    code, rows, _ = run(capsys, "--model", plain, bomb)
    assert code == 1 and rows[0]["error_kind"] == "decompression bomb"
    assert rows[0]["error"] == f"decompression bomb: 10,000,000,000 pixels > {DEFAULT_MAX_PIXELS:,}"
