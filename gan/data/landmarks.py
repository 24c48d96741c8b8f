"""The largest face in a photo, its 5 landmarks, and crops framed by them.

Haar boxes carry no landmarks, so two photos of one face could be framed differently, and
Haar misses turned faces. Here every face is framed by its eyes and nose, so framing does
not depend on which detector found it:

- :func:`find_face`: dlib's HOG detector on a copy at most ``HOG_MAX_SIDE`` px; when it
  finds nothing, dlib's CNN (MMOD) detector on a small copy (faces that fill the photo but
  are turned or cut by the frame), then MTCNN (the ``mtcnn`` package, weights inside its
  wheel: faces whose mouth and nose are covered, which HOG and the CNN miss, and small
  faces). The Haar cascade of :mod:`gan.data.preprocess` comes last only for detectors
  fitted with it (ALL_FINDERS): it boxes things in photos without a face. dlib's 5-point shape
  predictor then runs on the full-resolution photo, on the box of whichever detector found
  the face (for MTCNN, a box placed by its eyes where HOG's box would sit), so every face is
  framed by the same landmarks whichever detector found it.
- :func:`aligned_face`: a similarity transform (rotation, scale, shift) taking the eye
  centres and nose to fixed positions, framed like CelebA's aligned crops.
- :func:`native_box`: a square in the photo's own pixel grid around the face, for features
  that must not see resampled pixels.

The models come inside the ``face-recognition-models`` wheel; nothing is downloaded.
Imports numpy, OpenCV and dlib (loaded on first use), and Pillow for the Haar pass of
:mod:`gan.data.preprocess`. TensorFlow only comes in with MTCNN, on the first photo that HOG
and the CNN find no face in.

Thread safety: one set of dlib models per process, loaded on first use, and every dlib
call runs under one lock: dlib's detectors are not safe to share between threads. dlib
releases the GIL, so concurrent calls wait for each other while a face is being found
(thread-local copies of the models would lift that, at the cost of loading them per thread).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from .preprocess import detect_face as _haar_face

__all__ = [
    "ALL_FINDERS",
    "FINDERS",
    "FINDERS_BEFORE_MTCNN",
    "FINDERS_BEFORE_TURNED",
    "INSTALL_HINT",
    "NATIVE_BOX_SCALE",
    "POINT_NAMES",
    "TEMPLATE",
    "FoundFace",
    "LandmarkModelMissing",
    "aligned_face",
    "aligned_region",
    "align_matrix",
    "count_faces",
    "find_face",
    "native_box",
]

INSTALL_HINT = "pip install dlib-bin face-recognition-models"

POINT_NAMES = (
    "left eye, outer corner",   # left and right as seen in the image
    "left eye, inner corner",
    "right eye, inner corner",
    "right eye, outer corner",
    "nose base",                # where the nose meets the upper lip
)
# dlib's 5-point model numbers them right eye outer, right eye inner, left eye outer,
# left eye inner, nose (image left/right); this reorders to POINT_NAMES.
_DLIB_ORDER = (2, 3, 1, 0, 4)

# Every finder, in the order they are tried. A card may name any of them: a stored detector
# frames uploads with the finders it was fitted with, so its figures still hold.
ALL_FINDERS = ("hog", "cnn", "mtcnn", "turned", "haar")
# The finders new fits use. Not Haar: it boxes things in photos without a face
# (docs/detector.md, "Photos without a face"), and MTCNN finds the small faces it was there for.
FINDERS = ("hog", "cnn", "mtcnn", "turned")
# The finders of the fits between MTCNN joining and the turned pass (their cards name them).
FINDERS_BEFORE_TURNED = ("hog", "cnn", "mtcnn")
# The finders of detectors fitted before MTCNN joined (their cards name none).
FINDERS_BEFORE_MTCNN = ("hog", "cnn", "haar")

# HOG finds faces from about 80 px; on a copy with longer side 400 px that is 20% of the
# side. Smaller faces are left to MTCNN.
HOG_MAX_SIDE = 400
# The CNN pass, when HOG finds nothing, is for faces that fill most of the photo but are
# turned or tilted past HOG (tight crops). It is the slow detector, so it gets a small copy,
# padded by repeating the edges so that a face cut off by the border still fits its window.
CNN_SIDE = 100
CNN_PAD = 0.2

# MTCNN runs on a copy at most this many px, padded like the CNN's (a face cut by the frame),
# and finds faces from 20 px (5% of the side); a find is kept from MTCNN_MIN_CONFIDENCE, a
# stricter bar than its last stage's 0.7 (how often it finds a face in photos without one:
# docs/detector.md, "Photos without a face").
MTCNN_MAX_SIDE = 400
MTCNN_MIN_FACE = 20
MTCNN_MIN_CONFIDENCE = 0.95

# The turned pass (only when every upright pass found nothing): the photo turned by each of
# these angles (degrees, counter-clockwise) on a canvas that holds all of it, HOG then MTCNN
# on each. Tilted heads are what the upright passes miss most in selfies (docs/detector.md,
# "Tilted heads"); the landmarks are predicted on the full photo turned alike, and turned back.
TURN_DEGREES = (30.0, -30.0)
TURN_MAX_SIDE = max(HOG_MAX_SIDE, MTCNN_MAX_SIDE)
# A find on a turned copy is kept only when HOG or MTCNN finds a face again in its upright
# aligned crop of this many px: on photos without people, most turned "faces" are not found
# again; on selfies, most real ones are (docs/detector.md, "Tilted heads").
TURN_CHECK_SIDE = 160

# Where the aligned crop puts the eye centres and the nose base, as fractions of its
# side: the mean positions of dlib's landmarks in the centre 178 x 178 square of CelebA's
# aligned crops (the framing gan.data.preprocess.face_box gives and the models learn),
# made symmetric.
TEMPLATE = np.array(
    [
        [0.393, 0.524],  # left eye centre
        [0.607, 0.524],  # right eye centre
        [0.500, 0.690],  # nose base
    ],
    dtype=np.float64,
)
# native_box: side = NATIVE_BOX_SCALE x the eye distance, centred NATIVE_BOX_DROP x the
# eye distance below the midpoint between the eyes (perpendicular to the eye line): about
# where dlib's HOG box sits on frontal faces, eyebrows to chin and cheek to cheek.
NATIVE_BOX_SCALE = 2.3
NATIVE_BOX_DROP = 0.6


class LandmarkModelMissing(RuntimeError):
    """dlib or its face models are not installed; the message says what to install."""


@dataclass(frozen=True, eq=False)  # eq would compare the points array ambiguously
class FoundFace:
    """A face in a photo.

    ``box``: (x, y, w, h) of the detector's box in the photo's pixels (its framing differs
    a little between finders, and may reach past the border: use ``points`` to frame).
    ``points``: float32 [5, 2] (x, y) in the photo's pixels, in POINT_NAMES order.
    ``finder``: which detector found it, one of ALL_FINDERS. ``score``: HOG's detection
    score or the CNN's or MTCNN's confidence (higher is surer); None for Haar, which gives none.
    ``faces``: how many faces that detector found in the same pass, this one (the largest)
    included, so a caller can say the others were left out at no extra cost. Only the faces
    that detector finds at the size it looks at are counted (HOG's: from about 20% of the
    longer side; :func:`count_faces` looks harder); Haar reports its largest face only (1).
    """

    box: tuple[int, int, int, int]
    points: np.ndarray
    finder: str
    score: float | None = None
    faces: int = 1

    @property
    def left_eye(self) -> np.ndarray:
        """Centre of the eye on the image's left (x, y)."""
        return self.points[0:2].mean(axis=0)

    @property
    def right_eye(self) -> np.ndarray:
        return self.points[2:4].mean(axis=0)

    @property
    def nose(self) -> np.ndarray:
        return self.points[4].copy()

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.right_eye - self.left_eye))


# --------------------------------------------------------------------------- models

_lock = threading.Lock()
_models = None


_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
_CNN_FILE = "mmod_human_face_detector.dat"


def _models_dir() -> str:
    """The models folder of the face-recognition-models wheel, found without importing the
    package (its __init__ needs setuptools' pkg_resources, which new setuptools drops)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise LandmarkModelMissing(f"the face landmark models are not installed: {INSTALL_HINT}")
    return os.path.join(list(spec.submodule_search_locations)[0], "models")


def _model_paths() -> tuple[str, str]:
    """(5-point predictor, CNN detector) paths, checked to exist."""
    folder = _models_dir()
    paths = (os.path.join(folder, _PREDICTOR_FILE), os.path.join(folder, _CNN_FILE))
    for p in paths:
        if not os.path.isfile(p):
            raise LandmarkModelMissing(
                f"face landmark model file missing ({p}): reinstall with {INSTALL_HINT}")
    return paths


def _load():
    """(dlib, hog, cnn, predictor), loaded once per process. Call while holding _lock."""
    global _models
    if _models is None:
        try:
            import dlib
        except ImportError:
            raise LandmarkModelMissing(
                f"dlib is not installed (face landmarks need it): {INSTALL_HINT}") from None
        predictor_path, cnn_path = _model_paths()
        try:
            _models = (dlib, dlib.get_frontal_face_detector(),
                       dlib.cnn_face_detection_model_v1(cnn_path),
                       dlib.shape_predictor(predictor_path))
        except RuntimeError as e:  # a truncated or foreign file
            raise LandmarkModelMissing(
                f"cannot load the face landmark models ({e}): reinstall with {INSTALL_HINT}") from None
    return _models


_mtcnn_model = None


def _load_mtcnn():
    """MTCNN, loaded once per process (its weights ship inside the ``mtcnn`` wheel). Call while
    holding _lock."""
    global _mtcnn_model
    if _mtcnn_model is None:
        try:
            from mtcnn import MTCNN
        except ImportError:
            raise LandmarkModelMissing(
                "mtcnn is not installed (the face finder for covered faces needs it): "
                "pip install mtcnn lz4") from None
        _mtcnn_model = MTCNN(device="CPU:0")
    return _mtcnn_model


# --------------------------------------------------------------------------- finding


def _check_rgb(rgb) -> np.ndarray:
    a = np.asarray(rgb)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB array (H, W, 3), got {a.dtype} {a.shape}")
    return np.ascontiguousarray(a)


def _largest(rects) -> int:
    """Index of the largest box; ties broken by position so the choice never depends on order."""
    return max(range(len(rects)), key=lambda i: (rects[i].width() * rects[i].height(),
                                                 -rects[i].top(), -rects[i].left()))


def _resized(a: np.ndarray, scale: float) -> np.ndarray:
    h, w = a.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(a, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


# Each finder below returns (box, score, faces) of the largest face it finds, `faces` the
# number it found in that pass, or None; "turned" also returns the landmarks (a 4th item).


def _hog(rgb: np.ndarray):
    """(box, score, faces) of the largest HOG face, in full-resolution pixels, or None."""
    h, w = rgb.shape[:2]
    scale = min(1.0, HOG_MAX_SIDE / max(h, w))
    small = cv2.cvtColor(_resized(rgb, scale) if scale < 1 else rgb, cv2.COLOR_RGB2GRAY)
    sx, sy = w / small.shape[1], h / small.shape[0]
    with _lock:
        rects, scores, _ = _load()[1].run(small, 0, 0.0)
    if not len(rects):
        return None
    i = _largest(rects)
    r = rects[i]
    return ((r.left() * sx, r.top() * sy, r.width() * sx, r.height() * sy), float(scores[i]),
            len(rects))


def _cnn(rgb: np.ndarray):
    """(box, confidence, faces) of the largest face dlib's CNN finds on a small padded copy,
    or None."""
    h, w = rgb.shape[:2]
    scale = CNN_SIDE / max(h, w)
    small = _resized(rgb, scale)
    pad = int(round(CNN_PAD * max(small.shape[:2])))
    small = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    sx, sy = w / (small.shape[1] - 2 * pad), h / (small.shape[0] - 2 * pad)
    with _lock:
        found = _load()[2](small, 0)
    if not len(found):
        return None
    i = _largest([d.rect for d in found])
    r = found[i].rect
    return (((r.left() - pad) * sx, (r.top() - pad) * sy, r.width() * sx, r.height() * sy),
            float(found[i].confidence), len(found))


def _mtcnn(rgb: np.ndarray, min_confidence: float = MTCNN_MIN_CONFIDENCE):
    """(box, confidence, faces) of the largest face MTCNN finds on a padded copy at most
    MTCNN_MAX_SIDE px with at least `min_confidence` (bench/face_finders.py tries lower bars),
    or None. The box is not MTCNN's (taller than HOG's, which dlib's 5-point
    model was trained on) but a square placed by MTCNN's eye centres where HOG's box sits
    on a frontal face (see NATIVE_BOX_SCALE)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, MTCNN_MAX_SIDE / max(h, w))
    small = _resized(rgb, scale) if scale < 1 else rgb
    pad = int(round(CNN_PAD * max(small.shape[:2])))
    small = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    with _lock:
        found = _load_mtcnn().detect_faces(small, min_face_size=MTCNN_MIN_FACE)
    found = [f for f in found if f["confidence"] >= min_confidence]
    if not found:
        return None
    f = max(found, key=lambda f: (f["box"][2] * f["box"][3], -f["box"][1], -f["box"][0]))
    eyes = (np.array([f["keypoints"]["left_eye"], f["keypoints"]["right_eye"]], np.float64)
            - pad) / scale
    mid, gap = eyes.mean(axis=0), float(np.linalg.norm(eyes[1] - eyes[0]))
    if gap < 1.0:
        return None
    side = NATIVE_BOX_SCALE * gap
    cx, cy = mid[0], mid[1] + NATIVE_BOX_DROP * gap
    return (cx - side / 2, cy - side / 2, side, side), float(f["confidence"]), len(found)


def _turn(rgb: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """(matrix, copy): ``rgb`` turned by ``degrees`` about its centre on a canvas that holds
    all of it, edges repeated into the corners."""
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    tw, th = int(np.ceil(h * s + w * c)), int(np.ceil(h * c + w * s))
    m[0, 2] += tw / 2 - w / 2
    m[1, 2] += th / 2 - h / 2
    return m, cv2.warpAffine(rgb, m, (tw, th), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)


def _turned(rgb: np.ndarray):
    """(box, confidence, faces, points) of a face found by HOG or MTCNN on a copy of the photo
    turned by one of TURN_DEGREES and found again in its upright aligned crop, in the photo's
    own pixels (`faces`: how many that finder found on the turned copy), or None. The faces
    are looked for on a turned copy at most TURN_MAX_SIDE px (the size HOG and MTCNN look at
    anyway); only a find turns the full photo, where the landmarks are predicted (the face
    upright, as dlib's shape model expects) and turned back. The box is the upright box
    around the found box turned back."""
    h, w = rgb.shape[:2]
    scale = min(1.0, TURN_MAX_SIDE / max(h, w))
    small = _resized(rgb, scale) if scale < 1 else rgb
    for degrees in TURN_DEGREES:
        m_small, turned_small = _turn(small, degrees)
        found = _hog(turned_small) or _mtcnn(turned_small)
        if found is None:
            continue
        (x, y, bw, bh), score, faces = found
        m, turned = _turn(rgb, degrees)
        back = cv2.invertAffineTransform(m)
        # The box's corner from the small turned copy to the full one (same turn, 1/scale).
        corner = cv2.invertAffineTransform(m_small) @ (x, y, 1.0) / scale
        x, y = m @ (*corner, 1.0)
        bw, bh = bw / scale, bh / scale
        points = (_points(turned, (x, y, bw, bh)).astype(np.float64) @ back[:, :2].T
                  + back[:, 2]).astype(np.float32)
        upright = aligned_face(rgb, FoundFace(box=(0, 0, 1, 1), points=points, finder="turned"),
                               TURN_CHECK_SIDE)
        if _hog(upright) is None and _mtcnn(upright) is None:
            continue
        corners = np.array([[x, y], [x + bw, y], [x, y + bh], [x + bw, y + bh]], np.float64)
        corners = corners @ back[:, :2].T + back[:, 2]
        (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
        return (x0, y0, x1 - x0, y1 - y0), score, faces, points
    return None


def _points(rgb: np.ndarray, box) -> np.ndarray:
    x, y, w, h = box
    with _lock:
        dlib, _, _, predictor = _load()
        rect = dlib.rectangle(int(round(x)), int(round(y)), int(round(x + w)) - 1, int(round(y + h)) - 1)
        shape = predictor(rgb, rect)
    pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
    return pts[list(_DLIB_ORDER)]


# Counting faces (to say "several faces: the largest was used") looks harder than finding one:
# a copy at most COUNT_MAX_SIDE px, enlarged 2x by dlib when under HOG_MAX_SIDE px, so faces from
# about 10% of the longer side are counted. HOG, not Haar: Haar boxes a second "face" in the
# hair or background of about 5% of single-person CelebA photos, HOG in 1 of 300.
COUNT_MAX_SIDE = 800


def count_faces(rgb: np.ndarray) -> int:
    """How many faces dlib's HOG detector finds in a uint8 RGB photo (H, W, 3). Frontal and
    slightly turned faces only: a profile beside a frontal face is not counted."""
    rgb = _check_rgb(rgb)
    if min(rgb.shape[:2]) < 2:
        return 0
    scale = min(1.0, COUNT_MAX_SIDE / max(rgb.shape[:2]))
    small = cv2.cvtColor(_resized(rgb, scale) if scale < 1 else rgb, cv2.COLOR_RGB2GRAY)
    upsample = 1 if max(small.shape) < HOG_MAX_SIDE else 0
    with _lock:
        rects = _load()[1](small, upsample)
    return len(rects)


def find_face(rgb: np.ndarray, finders: tuple[str, ...] = FINDERS) -> FoundFace | None:
    """The largest face in a uint8 RGB array (H, W, 3) with its 5 landmarks, or None.

    Detectors are tried in ALL_FINDERS order, each only when the ones before found nothing:
    HOG (frontal and slightly turned faces from 20% of the longer side), the CNN (faces
    filling most of the photo, turned or cut by the frame; it is the slow one), MTCNN (faces
    with the mouth and nose covered, small faces), "turned" (HOG and MTCNN on the photo
    turned by +-TURN_DEGREES: tilted heads), Haar (only for detectors fitted with it).
    ``finders``: the ones to try (default FINDERS; a stored detector passes its card's).
    The face's ``faces`` is how many the detector that found it found in that same pass.
    Landmarks are always predicted on the full-resolution photo. Deterministic and safe to
    call from many threads. Raises :class:`LandmarkModelMissing` when dlib or its models are
    not installed (even for a photo without a face), ValueError for an array that is not
    uint8 RGB or an unknown finder.
    """
    unknown = set(finders) - set(ALL_FINDERS)
    if unknown or not finders:
        raise ValueError(f"finders must be some of {ALL_FINDERS}, not {tuple(finders)}")
    rgb = _check_rgb(rgb)
    with _lock:
        _load()
    if min(rgb.shape[:2]) < 2:
        return None
    passes = {"hog": _hog, "cnn": _cnn, "mtcnn": _mtcnn, "turned": _turned,
              "haar": lambda a: (None if (b := _haar_face(Image.fromarray(a))) is None
                                 else (b, None, 1))}
    found = None
    for finder in ALL_FINDERS:
        if finder in finders and (found := passes[finder](rgb)) is not None:
            break
    if found is None:
        return None
    box, score, faces = found[:3]
    points = found[3] if len(found) > 3 else _points(rgb, box)
    x, y, w, h = (int(round(v)) for v in box)
    return FoundFace(box=(x, y, max(1, w), max(1, h)), points=points, finder=finder, score=score,
                     faces=faces)


# --------------------------------------------------------------------------- framing


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity (rotation, uniform scale, shift; no shear) src -> dst."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - ms, dst - md
    denom = (s ** 2).sum()
    if denom <= 0:
        raise ValueError("landmarks coincide: no transform")
    a = (s * d).sum() / denom
    b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / denom
    rot = np.array([[a, -b], [b, a]])
    return np.hstack([rot, (md - rot @ ms)[:, None]])


def _key_points(face: FoundFace) -> np.ndarray:
    return np.stack([face.left_eye, face.right_eye, face.nose]).astype(np.float64)


def align_matrix(face: FoundFace, size: int = 128) -> np.ndarray:
    """The 2x3 matrix taking photo pixels to the aligned crop's pixels (see aligned_face)."""
    # Pixel centres: a point at template fraction f lands at f * size - 0.5.
    return _similarity(_key_points(face), TEMPLATE * size - 0.5)


def aligned_region(face: FoundFace, size: int, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), x1 and y1 exclusive: the part of a width x height photo that
    `aligned_face` reads for this face, clipped to the photo (so a caller can prepare that part
    only, e.g. re-encode it, and get the same aligned face)."""
    return _region(align_matrix(face, size), size, width, height)


def _region(m: np.ndarray, size: int, width: int, height: int) -> tuple[int, int, int, int]:
    """`aligned_region` for the alignment matrix `m` (aligned_face has it already)."""
    zoom = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))  # output px per photo px
    inv = cv2.invertAffineTransform(m)
    corners = np.array([[-1, -1, 1], [size, -1, 1], [-1, size, 1], [size, size, 1]], np.float64)
    src = corners @ inv.T
    margin = 2.0 / min(zoom, 1.0)
    x0 = int(np.clip(np.floor(src[:, 0].min() - margin), 0, width - 1))
    y0 = int(np.clip(np.floor(src[:, 1].min() - margin), 0, height - 1))
    x1 = int(np.clip(np.ceil(src[:, 0].max() + margin) + 1, x0 + 1, width))
    y1 = int(np.clip(np.ceil(src[:, 1].max() + margin) + 1, y0 + 1, height))
    return x0, y0, x1, y1


def aligned_face(rgb: np.ndarray, face: FoundFace, size: int = 128) -> np.ndarray:
    """uint8 [size, size, 3]: the face turned upright and scaled so its eye centres and nose
    sit at TEMPLATE (least squares over the three), framed like a CelebA aligned crop.

    When the crop shrinks the face, the part of the photo it covers is first shrunk with
    area averaging (no aliasing); outside the photo, edge pixels are repeated.
    """
    rgb = _check_rgb(rgb)
    if size < 1:
        raise ValueError(f"size must be positive, not {size}")
    m = align_matrix(face, size)
    zoom = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))  # output px per photo px
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = _region(m, size, w, h)
    # Working on the covered region only: its edges are either the photo's edges (where
    # repeating is wanted) or beyond what the warp reads.
    roi = rgb[y0:y1, x0:x1]
    shift = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    m3 = np.vstack([m, [0.0, 0.0, 1.0]]) @ shift
    if zoom < 1.0:
        rw, rh = max(1, round(roi.shape[1] * zoom)), max(1, round(roi.shape[0] * zoom))
        fx, fy = rw / roi.shape[1], rh / roi.shape[0]
        roi = cv2.resize(roi, (rw, rh), interpolation=cv2.INTER_AREA)
        # cv2.resize maps pixel centres: x_small = (x + 0.5) * fx - 0.5.
        to_small = np.array([[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, 0.5 * fy - 0.5], [0.0, 0.0, 1.0]])
        m3 = m3 @ np.linalg.inv(to_small)
    return cv2.warpAffine(np.ascontiguousarray(roi), m3[:2], (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def native_box(face: FoundFace, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), x1 and y1 exclusive: an axis-aligned square in the photo's own
    pixels around the face (eyebrows to chin, cheek to cheek), clipped to the photo.

    Side: NATIVE_BOX_SCALE x the eye distance (taken from the same fit as aligned_face,
    so a turned head, whose eyes look closer together, keeps its size); the square is
    only smaller where the photo's border cuts it. Never empty.
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, not {width}x{height}")
    m = _similarity(_key_points(face), TEMPLATE)  # photo -> template units
    inv = cv2.invertAffineTransform(m)
    eye_gap = TEMPLATE[1, 0] - TEMPLATE[0, 0]
    centre_t = np.array([TEMPLATE[:2, 0].mean(), TEMPLATE[:2, 1].mean() + NATIVE_BOX_DROP * eye_gap, 1.0])
    cx, cy = inv @ centre_t
    eye_px = eye_gap / float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    half = NATIVE_BOX_SCALE * eye_px / 2
    x0 = int(np.clip(round(cx - half), 0, width - 1))
    y0 = int(np.clip(round(cy - half), 0, height - 1))
    x1 = int(np.clip(round(cx + half), x0 + 1, width))
    y1 = int(np.clip(round(cy + half), y0 + 1, height))
    return (x0, y0, x1, y1)
