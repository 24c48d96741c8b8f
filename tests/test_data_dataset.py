"""gan.data.dataset.load_faces: bad files, labels, cache, dedup, split, report."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from gan.data import dataset as D
from gan.data import load_faces, prepare_image

from test_data_preprocess import _png_header_only


def _colour_image(rgb, size=(72, 72)):
    a = np.zeros((size[1], size[0], 3), np.uint8)
    a[:] = rgb
    return Image.fromarray(a)


def _load(path, **kw):
    kw.setdefault("n_jobs", 1)
    kw.setdefault("progress", False)
    return load_faces(path, **kw)


@pytest.fixture
def messy_folder(tmp_path, write_faces):
    """6 good photos and one of every kind of bad file."""
    root = tmp_path / "messy"
    write_faces(root, 6)
    good = (root / "face_000.jpg").read_bytes()
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.jpg").write_bytes(b"this is a text file with a .jpg name\n")
    (root / "truncated.jpg").write_bytes(good[: len(good) // 2])
    buf = io.BytesIO()
    _colour_image((10, 20, 30), (40, 30)).save(buf, "PNG")
    (root / "tiny.png").write_bytes(buf.getvalue())
    (root / "bomb.png").write_bytes(_png_header_only(30000, 30000))
    return root


def test_bad_files_are_skipped_and_reported(messy_folder, tmp_path):
    data = _load(messy_folder, cache_dir=False)
    assert len(data) == 6 and data.images.shape == (6, 128, 128, 3) and data.images.dtype == np.uint8
    assert data.keys == [f"face_{i:03d}.jpg" for i in range(6)]
    r = data.report
    assert r["counts"]["found"] == 11 and r["counts"]["loaded"] == 6 and r["counts"]["skipped_files"] == 5
    assert r["counts"]["skipped_by_reason"] == {
        "decompression bomb": 1, "empty file": 1, "image too small": 1, "not an image": 1, "truncated image": 1}
    reasons = {s["file"]: s["reason"] for s in r["skipped"]}
    assert reasons["tiny.png"] == "image too small (40x30 < 64 px)"
    assert reasons["empty.jpg"] == "empty file"
    assert reasons["bomb.png"].startswith("decompression bomb")
    # The report is JSON and is written where training asks.
    out = tmp_path / "run" / "data_report.json"
    data.write_report(out)
    back = json.loads(out.read_text())
    assert back["counts"] == r["counts"] and back["source"]["kind"] == "folder"
    assert back["options"]["crop"] == "face" and back["options"]["min_size"] == 64
    assert back["face_crop"]["faces_found"] + back["face_crop"]["center_fallback"] == 6
    assert back["cache"]["status"] == "off"


def test_min_size_is_an_option(messy_folder):
    data = _load(messy_folder, cache_dir=False, min_size=16, crop="center", size=32)
    assert "tiny.png" in data.keys and len(data) == 7


def test_oversized_file_is_not_read(tmp_path, write_faces, monkeypatch):
    write_faces(tmp_path / "f", 2)
    monkeypatch.setattr(D, "MAX_FILE_BYTES", 100)
    data = _load(tmp_path / "f", cache_dir=False)
    assert len(data) == 0 and data.report["counts"]["skipped_by_reason"] == {"file too large": 2}


def test_training_and_inference_preprocess_identically(tmp_path, write_faces):
    paths = write_faces(tmp_path / "f", 4, size=(140, 110), center=(80, 50), face_width=48)
    paths += write_faces(tmp_path / "f", 2, size=(90, 120), names=["p/a.png", "p/b.webp"], seed=9)
    zpath = tmp_path / "f.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in paths:
            zf.write(p, p.relative_to(tmp_path / "f").as_posix())
    for crop in ("face", "center", "none"):
        for src in (tmp_path / "f", zpath):
            data = _load(src, size=48, crop=crop, cache_dir=False)
            assert len(data) == 6
            for key, img in zip(data.keys, data.images):
                ref = prepare_image(tmp_path / "f" / key, size=48, crop=crop).image
                np.testing.assert_array_equal(img, ref)
    data = _load(tmp_path / "f", size=48, cache_dir=False)
    assert data.face_found[:4].all()  # the four drawn faces are found


def _csv_set(root, n=12):
    """Photos whose colour encodes their labels: red = male, green = smiling,
    blue = age; a few rows lack a value."""
    (root / "img").mkdir(parents=True)
    rows = ["image,male,smiling,age"]
    for i in range(n):
        male, smiling, age = i % 2, (i // 2) % 2, 20 + 3 * (i % 12)
        _colour_image((200 * male + 20, 200 * smiling + 20, 2 * age)).save(root / "img" / f"{i}.png")
        rows.append(f"{i}.jpg,{male},{smiling},{age if i != 5 else ''}".replace(f"{i}.jpg", f"{i}.png"))
    (root / "img" / "bad.png").write_bytes(b"not a png")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")


def test_labels_stay_aligned_with_images(tmp_path):
    root = tmp_path / "set"
    _csv_set(root)
    data = _load(root, labels="auto", crop="center", size=16, cache_dir=False)
    assert data.label_names == ["male", "smiling", "age"]
    assert data.label_kind == ["binary", "binary", "numeric"]
    assert len(data) == 11  # bad.png skipped, 5.png lacks its age
    assert "img/5.png" not in data.keys
    assert any(s["reason"] == "missing label: age" for s in data.report["skipped"])
    for key, img, lab in zip(data.keys, data.images, data.labels):
        r, g, b = img[8, 8].astype(int)
        assert lab[0] == (r > 128) and lab[1] == (g > 128), key
        age = lab[2] * data.label_info["age"]["scale"] + data.label_info["age"]["offset"]
        assert abs(2 * age - b) <= 2, key
    # Only the labels asked for; images lacking an unasked label stay.
    only = _load(root, labels="Male, SMILING", crop="center", size=16, cache_dir=False)
    assert only.label_names == ["male", "smiling"] and len(only) == 12
    assert only.report["labels"]["counts"] == {"male": 6, "smiling": 6}
    assert _load(root, labels=None, crop="center", size=16, cache_dir=False).labels is None
    with pytest.raises(ValueError, match="its labels: male, smiling, age"):
        _load(root, labels=["glasses"], cache_dir=False)


def test_class_labels_are_one_hot_and_aligned(tmp_path):
    colours = {"blue": (0, 0, 255), "green": (0, 255, 0), "red": (255, 0, 0)}
    for c, rgb in colours.items():
        for i in range(3):
            (tmp_path / "c" / c).mkdir(parents=True, exist_ok=True)
            _colour_image(rgb).save(tmp_path / "c" / c / f"{i}.png")
    data = _load(tmp_path / "c", labels="class", crop="center", size=8, cache_dir=False)
    assert data.label_names == ["class=blue", "class=green", "class=red"]
    assert data.labels.shape == (9, 3) and (data.labels.sum(1) == 1).all()
    for img, lab in zip(data.images, data.labels):
        assert tuple(img[4, 4] > 128) == tuple(np.array(colours[data.label_names[lab.argmax()][6:]]) > 128)


def test_utkface_labels(tmp_path, write_faces):
    names = ["25_0_2_20170116174525125.jpg.chip.jpg", "3_1_0_20170109142408075.jpg.chip.jpg",
             "61_1_20170109142408075.jpg.chip.jpg"]
    write_faces(tmp_path / "utk", 3, names=names)
    data = _load(tmp_path / "utk", labels="auto", crop="center", size=16, cache_dir=False)
    assert data.label_names[:3] == ["age", "gender=male", "gender=female"]
    assert len(data) == 2  # the third name has no race
    by_key = dict(zip(data.keys, data.labels.tolist()))
    assert by_key[names[0]][:3] == [0.25, 1.0, 0.0] and by_key[names[0]][3 + 2] == 1.0  # asian
    gender = _load(tmp_path / "utk", labels="gender", crop="center", size=16, cache_dir=False)
    assert len(gender) == 3


def test_cache_hit_then_invalidation(tmp_path, write_faces, monkeypatch):
    folder, cache = tmp_path / "f", tmp_path / "cache"
    paths = write_faces(folder, 5)
    (folder / "bad.jpg").write_bytes(b"nope")
    first = _load(folder, cache_dir=cache, crop="center", size=24)
    assert first.report["cache"]["status"] == "miss" and first.report["cache"]["decoded"] == 6
    assert not list(cache.glob(".tmp-*"))  # written atomically

    def no_decode(*a, **k):
        raise AssertionError("decoded although cached")

    with monkeypatch.context() as m:
        m.setattr(D, "_decode_chunk", no_decode)
        second = _load(folder, cache_dir=cache, crop="center", size=24)
    assert second.report["cache"]["status"] == "hit"
    np.testing.assert_array_equal(first.images, second.images)
    assert second.keys == first.keys and second.report["skipped"] == first.report["skipped"]

    # One file changes: only it is decoded again, and its new pixels are used.
    _colour_image((255, 0, 0), (80, 80)).save(paths[2], quality=95)
    os.utime(paths[2], ns=(1, 1))  # new mtime, whatever the file system's clock resolution
    third = _load(folder, cache_dir=cache, crop="center", size=24)
    c = third.report["cache"]
    assert (c["status"], c["decoded"], c["reused"]) == ("partial", 1, 5)
    assert third.images[2, 12, 12, 0] > 200 and third.images[2, 12, 12, 2] < 50
    np.testing.assert_array_equal(third.images[[0, 1, 3, 4]], first.images[[0, 1, 3, 4]])

    # A file removed and one added; then other options are another cache entry.
    paths[0].unlink()
    write_faces(folder, 1, names=["new.jpg"], seed=50)
    fourth = _load(folder, cache_dir=cache, crop="center", size=24)
    assert fourth.report["cache"]["decoded"] == 1 and len(fourth) == 5
    assert _load(folder, cache_dir=cache, crop="center", size=32).report["cache"]["status"] == "miss"
    assert _load(folder, cache_dir=cache, crop="center", size=24).report["cache"]["status"] == "hit"
    # Only one array per entry is kept.
    assert len(list(cache.glob("*.npy"))) == 2 and len(list(cache.glob("*.json"))) == 2


def test_broken_cache_is_rebuilt(tmp_path, write_faces, monkeypatch):
    write_faces(tmp_path / "f", 3)
    cache = tmp_path / "cache"
    _load(tmp_path / "f", cache_dir=cache, crop="center", size=16)
    for npy in cache.glob("*.npy"):
        npy.write_bytes(b"garbage")
    data = _load(tmp_path / "f", cache_dir=cache, crop="center", size=16)
    assert len(data) == 3 and data.report["cache"]["status"] == "miss"
    assert "error" in data.report["cache"]
    monkeypatch.setenv("FACEGAN_CACHE", str(tmp_path / "envcache"))
    _load(tmp_path / "f", crop="center", size=16)
    assert list((tmp_path / "envcache").glob("*.json"))


def test_two_runs_writing_one_cache_entry_leave_it_readable(tmp_path, monkeypatch):
    """Two trainings started together on the same photos both write the entry. Here the
    first is held between writing its array and its index while the second writes: the
    second must wait for it, and the index must end up naming an array that exists."""
    import threading

    cache = str(tmp_path / "cache")
    options = {"size": 4}
    second_done = threading.Event()
    real_write = D.atomic_write_text

    def held_write(path, text):
        if threading.current_thread().name == "first":
            second_done.wait(timeout=2)  # with the lock the second cannot finish: go on
        real_write(path, text)

    monkeypatch.setattr(D, "atomic_write_text", held_write)

    def write(value):
        meta = {"format": D.CACHE_FORMAT, "options": options, "n_ok": 1}
        D._write_cache(cache, "entry", meta, np.full((1, 4, 4, 3), value, np.uint8))
        if threading.current_thread().name == "second":
            second_done.set()

    first = threading.Thread(target=write, args=(1,), name="first")
    first.start()
    while first.is_alive() and not list((tmp_path / "cache").glob("entry-*.npy")):
        first.join(0.01)  # until first's array is written (or first failed: no hang)
    second = threading.Thread(target=write, args=(2,), name="second")
    second.start()
    first.join()
    second.join()
    meta, images = D._read_cache(cache, "entry", options)
    assert images[0, 0, 0, 0] == 2  # the later writer's array, and it exists
    assert [p.name for p in (tmp_path / "cache").glob("*.npy")] == [meta["images_file"]]


@pytest.mark.slow
def test_parallel_decode_matches_serial(tmp_path, write_faces, monkeypatch):
    write_faces(tmp_path / "f", 10)
    (tmp_path / "f" / "bad.jpg").write_bytes(b"")
    serial = _load(tmp_path / "f", cache_dir=False, size=32)
    monkeypatch.setattr(D, "PARALLEL_MIN_ITEMS", 1)
    par = _load(tmp_path / "f", cache_dir=False, size=32, n_jobs=2)
    np.testing.assert_array_equal(serial.images, par.images)
    assert serial.report["skipped"] == par.report["skipped"]


def test_near_duplicates_found_and_dropped(tmp_path, face_photo):
    root = tmp_path / "d"
    root.mkdir()
    for i in range(6):
        face_photo(96, 96, seed=100 + i, center=(40 + 4 * i, 48), face_width=40 + 3 * i).save(root / f"{i}.jpg")
    orig = Image.open(root / "2.jpg")
    orig.save(root / "2_copy.png")  # same pixels, other format
    orig.resize((150, 150), Image.Resampling.BICUBIC).save(root / "2_big.jpg", quality=70)  # rescaled, recompressed
    Image.open(root / "4.jpg").save(root / "x4_again.jpg", quality=60)
    data = _load(root, cache_dir=False, crop="center", size=64, dedup="report")
    pairs = {(p["a"], p["b"]) for p in data.report["duplicates"]["pairs"]}
    assert {("2.jpg", "2_big.jpg"), ("2.jpg", "2_copy.png"), ("2_big.jpg", "2_copy.png"),
            ("4.jpg", "x4_again.jpg")} <= pairs
    assert all("2" in a and "2" in b or "4" in a and "4" in b for a, b in pairs)
    assert len(data) == 9
    dropped = _load(root, cache_dir=False, crop="center", size=64, dedup=True)
    assert sorted(dropped.report["duplicates"]["dropped"]) == ["2_big.jpg", "2_copy.png", "x4_again.jpg"]
    assert len(dropped) == 6 and dropped.report["counts"]["duplicates_dropped"] == 3
    assert _load(root, cache_dir=False, crop="center", size=64).report["duplicates"] == {"checked": False}


def test_split_is_deterministic_by_key(tmp_path):
    root = tmp_path / "set"
    _csv_set(root, n=40)
    data = _load(root, labels="male", crop="center", size=8, cache_dir=False)
    train, hold = data.split(0.25, seed=3)
    assert len(train) + len(hold) == len(data) and 3 <= len(hold) <= 20
    assert not set(train.keys) & set(hold.keys)
    for part in (train, hold):  # labels travel with their images
        for img, lab in zip(part.images, part.labels):
            assert (img[4, 4, 0] > 128) == bool(lab[0])
    # Same side whatever else is loaded: split a subset and compare.
    sub = data.subset(np.arange(len(data))[::-1][:15])
    sub_train, sub_hold = sub.split(0.25, seed=3)
    assert set(sub_hold.keys) == set(hold.keys) & set(sub.keys)
    assert set(data.split(0.25, seed=4)[1].keys) != set(hold.keys)
    assert hold.report["split"]["holdout"] == len(hold)


def test_zip_source_with_bad_member(tmp_path, write_faces):
    paths = write_faces(tmp_path / "f", 3)
    z = tmp_path / "faces.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in paths:
            zf.write(p, "faces/" + p.name)
        zf.writestr("faces/broken.jpg", b"\xff\xd8\xff\xe0 truncated")
    data = _load(z, cache_dir=tmp_path / "cache", crop="center", size=16)
    assert data.keys == ["face_000.jpg", "face_001.jpg", "face_002.jpg"]
    assert data.report["source"]["kind"] == "zip"
    assert [s["file"] for s in data.report["skipped"]] == ["broken.jpg"]
    again = _load(z, cache_dir=tmp_path / "cache", crop="center", size=16)
    assert again.report["cache"]["status"] == "hit"


def test_empty_folder(tmp_path):
    (tmp_path / "e").mkdir()
    for _ in range(2):
        data = _load(tmp_path / "e", cache_dir=tmp_path / "cache")
        assert len(data) == 0 and data.images.shape == (0, 128, 128, 3)
        assert data.report["face_crop"]["fallback_fraction"] == 0.0
    assert data.report["cache"]["status"] == "hit" and "error" not in data.report["cache"]
