"""gan.data.landmarks: finding the largest face, its 5 landmarks, the aligned crop and the
native box, on faces the tests draw themselves (tests.factories.draw_face, which dlib's HOG
detector finds from about 128 px and Haar from 96 px)."""

from __future__ import annotations

import os
import sys
import threading

import cv2
import numpy as np
import pytest
from PIL import ImageDraw

from gan.data import landmarks as L
from tests.factories import draw_face


def _face(width=256, height=None, seed=1, **kw) -> np.ndarray:
    return np.asarray(draw_face(width, height or width, seed=seed, **kw))


def _drawn_points(width, height=None, center=None, face_width=None) -> np.ndarray:
    """(left eye, right eye, nose base) centres as draw_face draws them."""
    height = height or width
    cx, cy = center if center is not None else (width / 2, height / 2)
    fw = face_width if face_width is not None else 0.42 * min(width, height)
    fh = 1.3 * fw
    return np.array([[cx - 0.2 * fw, cy - 0.1 * fh], [cx + 0.2 * fw, cy - 0.1 * fh],
                     [cx, cy + 0.15 * fh]])


def _warp(img: np.ndarray, angle: float, scale: float, shift=(0.0, 0.0)):
    """img rotated by ``angle`` degrees and scaled about its centre, then shifted; the 2x3 matrix."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[:, 2] += shift
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE), m


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return np.hstack([pts, np.ones((len(pts), 1))]) @ np.asarray(m).T


def _key(face: L.FoundFace) -> np.ndarray:
    return np.stack([face.left_eye, face.right_eye, face.nose])


def _manual_face(points3: np.ndarray) -> L.FoundFace:
    """A FoundFace whose eye centres and nose are exactly ``points3`` (corners 4 px either side)."""
    le, re, nose = np.asarray(points3, np.float32)
    d = (re - le) / np.linalg.norm(re - le) * 4
    pts = np.stack([le - d, le + d, re - d, re + d, nose]).astype(np.float32)
    return L.FoundFace(box=(0, 0, 1, 1), points=pts, finder="hog")


TEMPLATE_128 = L.TEMPLATE * 128 - 0.5  # pixel positions in a 128 px crop


@pytest.mark.parametrize("eyes,nose", [([[300, 260], [360, 262]], [331, 300]),     # zoom > 1
                                       ([[100, 120], [500, 130]], [300, 330]),     # shrunk first
                                       ([[5, 20], [60, 18]], [30, 50])])           # cut by the edge
def test_aligned_face_reads_only_its_region(eyes, nose):
    """What lies outside `aligned_region` does not change the aligned face, so a caller may
    prepare (re-encode) that region alone."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (600, 700, 3), dtype=np.uint8)
    face = _manual_face(np.array(eyes + [nose], np.float32))
    x0, y0, x1, y1 = L.aligned_region(face, 128, 700, 600)
    assert 0 <= x0 < x1 <= 700 and 0 <= y0 < y1 <= 600
    other = rng.integers(0, 256, rgb.shape, dtype=np.uint8)
    other[y0:y1, x0:x1] = rgb[y0:y1, x0:x1]
    assert np.array_equal(L.aligned_face(rgb, face, 128), L.aligned_face(other, face, 128))


# --------------------------------------------------------------------------- finding


def test_finds_the_drawn_face_with_landmarks_on_its_eyes_and_nose():
    face = L.find_face(_face(256))
    assert face is not None and face.finder == "hog" and face.score is not None
    assert face.points.dtype == np.float32 and face.points.shape == (5, 2)
    assert all(isinstance(v, int) for v in face.box)
    truth = _drawn_points(256)
    iod = truth[1, 0] - truth[0, 0]
    assert np.abs(_key(face) - truth).max() < 0.1 * iod
    # POINT_NAMES order: left eye outer, inner, right eye inner, outer (image left to right).
    xs = face.points[:4, 0]
    assert list(xs) == sorted(xs)
    x, y, w, h = face.box
    assert x <= truth[:, 0].min() and truth[:, 0].max() <= x + w
    assert y <= truth[:, 1].min() and truth[:, 1].max() <= y + h


def test_returns_none_on_blank_and_face_free_images():
    assert L.find_face(np.zeros((300, 300, 3), np.uint8)) is None
    assert L.find_face(np.full((200, 320, 3), 200, np.uint8)) is None
    assert L.find_face(np.zeros((1, 1, 3), np.uint8)) is None
    for seed in range(3):
        assert L.find_face(_face(256, seed=seed, face=False)) is None


def test_picks_the_largest_face():
    small, large = _face(160, 240, seed=3), _face(240, 240, seed=4)
    for img, large_left in ((np.hstack([small, large]), 160), (np.hstack([large, small]), 0)):
        face = L.find_face(img)
        truth = _drawn_points(240, center=(large_left + 120, 120))
        assert np.abs(_key(face) - truth).max() < 5


def test_the_face_found_says_how_many_faces_its_finder_found_in_the_same_pass(monkeypatch):
    """A photo of several faces is judged on the largest; how many were found comes free from
    the pass that found it (HOG's rectangles; MTCNN's finds above its bar), not from a second
    search: HOG runs once and count_faces, the separate counter, is not called."""
    with L._lock:
        dlib, hog, cnn, predictor = L._load()
    runs = []

    class OnePass:                  # dlib's HOG detector, its passes counted
        def run(self, *args):
            runs.append(args[1:])
            return hog.run(*args)

        def __call__(self, *args):  # how count_faces calls it
            raise AssertionError("a second HOG pass")

    def no_count(rgb):
        raise AssertionError("count_faces was called")

    monkeypatch.setattr(L, "_models", (dlib, OnePass(), cnn, predictor))
    monkeypatch.setattr(L, "count_faces", no_count)
    for n in (1, 2, 3):
        img = np.hstack([_face(200, seed=3 + i) for i in range(n)])
        runs.clear()
        face = L.find_face(img)
        assert face.finder == "hog" and face.faces == n and len(runs) == 1
    assert L.FoundFace(box=(0, 0, 1, 1), points=np.zeros((5, 2), np.float32),
                       finder="hog").faces == 1        # made elsewhere: one face

    # MTCNN (here a stand-in for its network) counts the finds it keeps, not the weak ones.
    pad = round(L.CNN_PAD * 256)
    eyes = _drawn_points(256)[:2] + pad

    class ThreeFinds:
        def detect_faces(self, rgb, min_face_size):
            find = {"box": [0, 0, 100, 100],
                    "keypoints": {"left_eye": eyes[0], "right_eye": eyes[1]}}
            return [dict(find, confidence=0.99), dict(find, box=[300, 0, 40, 40], confidence=0.97),
                    dict(find, box=[0, 300, 40, 40], confidence=0.5)]

    monkeypatch.setattr(L, "_mtcnn_model", ThreeFinds())
    face = L.find_face(_face(256), ("mtcnn",))
    assert face.finder == "mtcnn" and face.faces == 2


def test_large_photo_is_detected_on_a_small_copy_and_mapped_back():
    """A 1200 px photo: HOG runs on a 400 px copy, landmarks land on the full-size face."""
    img = cv2.resize(_face(300), (1200, 1200), interpolation=cv2.INTER_CUBIC)
    face = L.find_face(img)
    truth = _drawn_points(300) * 4 + 1.5  # pixel centres scale about -0.5
    assert face.finder == "hog"
    assert np.abs(_key(face) - truth).max() < 0.1 * (truth[1, 0] - truth[0, 0])


def _masked_face(width=256) -> np.ndarray:
    """A drawn face whose nose and mouth are covered by a pale mask, as in a photo of someone
    wearing one: HOG and the CNN find no face in it."""
    img = draw_face(width, width, seed=1)
    fw = 0.42 * width
    fh, c = 1.3 * fw, width / 2
    ImageDraw.Draw(img).rounded_rectangle([c - fw * 0.45, c + fh * 0.02, c + fw * 0.45, c + fh * 0.45],
                                          radius=int(fw * 0.1), fill=(235, 235, 240))
    return np.asarray(img)


def test_covered_face_is_found_by_mtcnn_and_framed_by_its_eyes():
    """Masks hid 62% of one real collection's faces from HOG and the CNN; MTCNN finds them,
    and the 5-point model, run on a box placed by MTCNN's eyes, puts the eyes where they are."""
    img = _masked_face()
    assert L._hog(img) is None and L._cnn(img) is None
    face = L.find_face(img)
    assert face is not None and face.finder == "mtcnn" and face.score >= L.MTCNN_MIN_CONFIDENCE
    truth = _drawn_points(256)
    eyes = np.stack([face.left_eye, face.right_eye])
    assert np.abs(eyes - truth[:2]).max() < 0.15 * (truth[1, 0] - truth[0, 0])
    # A detector fitted before MTCNN joined frames its uploads without it (Haar, here).
    assert L.find_face(img, L.FINDERS_BEFORE_MTCNN).finder == "haar"
    assert L.find_face(img, ("mtcnn",)).finder == "mtcnn"


@pytest.mark.parametrize("enlarge", [1, 4])     # 4: looked for on a small copy, framed on the full
def test_tilted_face_is_found_on_a_turned_copy_and_its_landmarks_turned_back(enlarge):
    """Tilted heads were most of the selfies no upright pass found a face in: the turned pass
    finds them on a turned copy, and its landmarks land on the tilted photo's eyes and nose."""
    img, m = _warp(_face(256), -70, 0.7)
    if enlarge == 1:
        assert L.find_face(img, L.FINDERS_BEFORE_TURNED) is None
        face = L.find_face(img)
    else:       # (enlarged, MTCNN finds it upright: the turned pass alone is asked here)
        img = cv2.resize(img, None, fx=enlarge, fy=enlarge, interpolation=cv2.INTER_CUBIC)
        assert max(img.shape) > L.TURN_MAX_SIDE
        face = L.find_face(img, ("turned",))
    assert face is not None and face.finder == "turned"
    truth = (_apply(m, _drawn_points(256)) + 0.5) * enlarge - 0.5
    iod = np.linalg.norm(truth[1] - truth[0])
    assert np.abs(_key(face) - truth).max() < 0.15 * iod
    x, y, w, h = face.box          # the upright box around the turned-back box holds the face
    assert x <= truth[:, 0].min() and truth[:, 0].max() <= x + w
    assert y <= truth[:, 1].min() and truth[:, 1].max() <= y + h
    # Framed by its landmarks, the crop is upright: eyes level at the template's height.
    in_crop = _apply(L.align_matrix(face, 128), truth)
    assert np.abs(in_crop[:2] - TEMPLATE_128[:2]).max() < 4.0


def test_a_turned_find_not_found_again_upright_is_dropped(monkeypatch):
    """On photos without people most "faces" found on a turned copy are not found again in
    their upright aligned crop; such a find is dropped, one that is found again is kept."""
    img = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    seen, again = [], {"crop": False}

    def mtcnn(rgb):                 # a "face" on every turned copy; on the crop only if told
        seen.append(rgb.shape[:2])
        if rgb.shape[0] > 200 or (rgb.shape[:2] == (L.TURN_CHECK_SIDE,) * 2 and again["crop"]):
            return (100.0, 100.0, 60.0, 60.0), 0.99, 1
        return None

    monkeypatch.setattr(L, "_mtcnn", mtcnn)
    assert L.find_face(img) is None
    assert seen.count((L.TURN_CHECK_SIDE,) * 2) == len(L.TURN_DEGREES)   # checked at each angle
    again["crop"] = True
    face = L.find_face(img)
    assert face is not None and face.finder == "turned"


def test_unknown_or_no_finders_are_refused():
    for bad in (("hog", "retina"), ()):
        with pytest.raises(ValueError, match="finders must be some of"):
            L.find_face(_face(128), bad)


def test_missing_mtcnn_says_what_to_install(monkeypatch):
    monkeypatch.setattr(L, "_mtcnn_model", None)
    monkeypatch.setitem(sys.modules, "mtcnn", None)
    assert L.find_face(_face(256)).finder == "hog"      # not needed: HOG found the face
    with pytest.raises(L.LandmarkModelMissing, match="pip install mtcnn"):
        L.find_face(_masked_face())


def test_small_face_is_left_to_mtcnn_and_to_haar_only_when_asked(monkeypatch):
    """At 96 px the drawn face is below what HOG and the CNN find; MTCNN finds it. New fits
    leave Haar out (it boxes things in photos without a face): when MTCNN finds nothing,
    there is no face, unless a detector fitted with Haar asks for it; then Haar finds it and
    the shape predictor still puts the landmarks on it."""
    assert L.find_face(_face(96)).finder == "mtcnn"
    monkeypatch.setattr(L, "_mtcnn", lambda rgb: None)
    assert "haar" not in L.FINDERS and L.find_face(_face(96)) is None
    face = L.find_face(_face(96), L.ALL_FINDERS)
    assert face is not None and face.finder == "haar" and face.score is None
    truth = _drawn_points(96)
    assert np.abs(_key(face) - truth).max() < 0.15 * (truth[1, 0] - truth[0, 0])


def test_cnn_fallback_maps_its_box_back_to_the_photo(monkeypatch):
    """When HOG finds nothing (turned faces, faces cut by the frame), the CNN runs on a small
    padded copy; its box and the landmarks must land on the face in the full photo."""
    monkeypatch.setattr(L, "_hog", lambda rgb: None)
    # A tight crop, off centre: the CNN pass is for faces that fill most of the photo.
    kw = dict(center=(125, 100), face_width=180)
    img = _face(240, 200, seed=1, **kw)
    face = L.find_face(img)
    assert face is not None and face.finder == "cnn" and face.score > 0
    truth = _drawn_points(240, 200, **kw)
    assert np.abs(_key(face) - truth).max() < 0.15 * (truth[1, 0] - truth[0, 0])
    x, y, w, h = face.box
    assert x < truth[0, 0] and truth[1, 0] < x + w and y < truth[0, 1] < truth[2, 1] < y + h


def test_rejects_arrays_that_are_not_uint8_rgb():
    for bad in (np.zeros((64, 64), np.uint8), np.zeros((64, 64, 4), np.uint8),
                np.zeros((64, 64, 3), np.float32)):
        with pytest.raises(ValueError, match="uint8 RGB"):
            L.find_face(bad)


def test_same_results_from_many_threads():
    images = [_face(256, seed=s) for s in range(3)] + [_face(96)]
    expected = [L.find_face(im) for im in images]
    results, errors = {}, []

    def work(k):
        try:
            for i in range(len(images)):
                j = (i + k) % len(images)
                results[(k, j)] = L.find_face(images[j])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for (_, j), face in results.items():
        assert face.box == expected[j].box and face.finder == expected[j].finder
        np.testing.assert_array_equal(face.points, expected[j].points)


# --------------------------------------------------------------------------- missing models


@pytest.fixture
def unloaded(monkeypatch):
    """The module as if nothing had been loaded yet (restored afterwards)."""
    monkeypatch.setattr(L, "_models", None)


def _assert_install_hint(exc_info):
    assert "pip install dlib-bin face-recognition-models" in str(exc_info.value)


def test_missing_dlib_says_what_to_install(unloaded, monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib -> ImportError
    with pytest.raises(L.LandmarkModelMissing) as e:
        L.find_face(np.zeros((64, 64, 3), np.uint8))
    _assert_install_hint(e)


def test_missing_model_package_says_what_to_install(unloaded, monkeypatch):
    monkeypatch.setitem(sys.modules, "face_recognition_models", None)
    with pytest.raises(L.LandmarkModelMissing) as e:
        L.find_face(_face(128))
    _assert_install_hint(e)


def test_missing_or_broken_model_file_says_what_to_install(unloaded, monkeypatch, tmp_path):
    monkeypatch.setattr(L, "_models_dir", lambda: str(tmp_path))
    with pytest.raises(L.LandmarkModelMissing, match="missing") as e:
        L.find_face(_face(128))
    _assert_install_hint(e)
    for name in (L._PREDICTOR_FILE, L._CNN_FILE):
        (tmp_path / name).write_bytes(b"not a model" * 100)
    with pytest.raises(L.LandmarkModelMissing, match="cannot load") as e:
        L.find_face(_face(128))
    _assert_install_hint(e)


def test_models_come_from_the_installed_wheel():
    """The files are found where face-recognition-models installs them, without importing
    the package (so without setuptools' pkg_resources)."""
    predictor, cnn = L._model_paths()
    assert predictor.endswith(L._PREDICTOR_FILE) and cnn.endswith(L._CNN_FILE)
    assert os.path.getsize(predictor) > 1_000_000 and os.path.getsize(cnn) > 100_000


# --------------------------------------------------------------------------- aligned crop


@pytest.mark.parametrize("angle,scale,shift", [(0, 1.0, (0, 0)), (25, 0.6, (30, -20)),
                                               (-30, 1.4, (-15, 10)), (12, 2.0, (0, 0))])
def test_alignment_of_a_rotated_scaled_copy_puts_the_eyes_at_the_template(angle, scale, shift):
    img, m = _warp(_face(256), angle, scale, shift)
    face = L.find_face(img)
    assert face is not None
    truth = _apply(m, _drawn_points(256))  # where the drawn eyes and nose really are
    in_crop = _apply(L.align_matrix(face, 128), truth)
    assert np.abs(in_crop[:2] - TEMPLATE_128[:2]).max() < 3.0  # eyes, in pixels of the crop
    assert np.abs(in_crop[2] - TEMPLATE_128[2]).max() < 4.0     # nose
    crop = L.aligned_face(img, face, 128)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    # The crop shows the drawn eyes (dark) where the template puts them, skin between them.
    for ex, ey in np.rint(TEMPLATE_128[:2]).astype(int):
        assert crop[ey - 1:ey + 2, ex - 1:ex + 2].mean() < 110
    mid_x, mid_y = np.rint(TEMPLATE_128[:2].mean(axis=0)).astype(int)
    assert crop[mid_y - 1:mid_y + 2, mid_x - 1:mid_x + 2].mean() > 140


def test_aligned_crops_of_rotated_copies_match():
    img = _face(256)
    base = L.aligned_face(img, L.find_face(img), 128).astype(np.float32)
    for angle, scale in ((20, 0.7), (-15, 1.5)):
        other, _ = _warp(img, angle, scale)
        crop = L.aligned_face(other, L.find_face(other), 128).astype(np.float32)
        assert np.abs(crop - base)[16:112, 16:112].mean() < 12


def test_aligned_face_at_exact_points_and_other_sizes():
    """With the exact drawn points (no detector), the template positions hold at any size."""
    img, m = _warp(_face(256), -20, 0.8, (10, 5))
    face = _manual_face(_apply(m, _drawn_points(256)))
    for size in (64, 128, 200):
        crop = L.aligned_face(img, face, size)
        assert crop.shape == (size, size, 3)
        in_crop = _apply(L.align_matrix(face, size), _key(face))
        assert np.abs(in_crop - (L.TEMPLATE * size - 0.5)).max() < 0.04 * size


def test_shrinking_is_antialiased():
    """A big face over 1-px stripes, shrunk ~10x: area averaging gives even grey, where plain
    bilinear sampling would give stripes of full contrast (aliasing)."""
    stripes = np.zeros((2000, 2000, 3), np.uint8)
    stripes[:, ::2] = 255
    face = _manual_face(np.array([[700.0, 800.0], [1300.0, 800.0], [1000.0, 1260.0]]))
    crop = L.aligned_face(stripes, face, 64).astype(np.float32)
    assert abs(crop.mean() - 127.5) < 8 and crop.std() < 12
    naive = cv2.warpAffine(stripes, L.align_matrix(face, 64), (64, 64), flags=cv2.INTER_LINEAR)
    assert naive.astype(np.float32).std() > 50  # the case the pre-shrink is there for


def test_shrunk_and_native_crops_agree():
    """The same face at 4x the size gives the same crop (the pre-shrink maps coordinates right)."""
    img = _face(256)
    big = cv2.resize(img, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    small_crop = L.aligned_face(img, L.find_face(img), 128).astype(np.float32)
    big_crop = L.aligned_face(big, L.find_face(big), 128).astype(np.float32)
    assert np.abs(small_crop - big_crop)[8:120, 8:120].mean() < 8


def test_face_at_the_border_is_padded_by_repeating_edges():
    img = _face(256, 256, seed=2, center=(70, 80), face_width=110, background=(230, 230, 230))
    face = L.find_face(img)
    crop = L.aligned_face(img, face, 128)
    # Outside the photo the crop repeats its edge pixels: nothing black appears.
    assert crop.min(axis=2).max(axis=None) > 200 and (crop.sum(axis=2) > 60).all()


# --------------------------------------------------------------------------- native box


def test_native_box_is_a_square_of_k_eye_distances_around_the_face():
    img = _face(300)
    face = L.find_face(img)
    x0, y0, x1, y1 = L.native_box(face, 300, 300)
    assert x1 - x0 == y1 - y0
    assert abs((x1 - x0) - L.NATIVE_BOX_SCALE * face.eye_distance) <= 0.1 * face.eye_distance
    for x, y in face.points:
        assert x0 < x < x1 and y0 < y < y1
    # Eyes in the upper part, the box reaching below the nose to about the chin.
    assert y1 - face.nose[1] > 0.4 * (y1 - y0)


def test_native_box_stays_inside_the_image():
    h, w = 200, 260
    img = _face(w, h, seed=3, center=(50, 150), face_width=120)  # cut by the left and bottom edges
    face = L.find_face(img)
    assert face is not None
    x0, y0, x1, y1 = L.native_box(face, w, h)
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    # Clipped, not shifted: the whole square (the same face moved into a large canvas)
    # cut to the image.
    moved = L.FoundFace(box=face.box, points=face.points + 1000, finder=face.finder)
    bx0, by0, bx1, by1 = (v - 1000 for v in L.native_box(moved, 5000, 5000))
    assert bx1 - bx0 == by1 - by0 and bx0 < 0 and by1 > h
    assert (x0, y0, x1, y1) == (max(bx0, 0), max(by0, 0), min(bx1, w), min(by1, h))
    rng = np.random.default_rng(0)
    for _ in range(300):
        w, h = (int(v) for v in rng.integers(1, 400, 2))
        c = rng.uniform(-100, 500, 2)
        d = rng.uniform(1, 300)
        a = rng.uniform(-np.pi, np.pi)
        u = np.array([np.cos(a), np.sin(a)]) * d
        nose = c + np.array([-u[1], u[0]]) * rng.uniform(0.3, 1.0)
        box = L.native_box(_manual_face(np.stack([c - u / 2, c + u / 2, nose])), w, h)
        x0, y0, x1, y1 = box
        assert all(isinstance(v, int) for v in box)
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (box, w, h)
