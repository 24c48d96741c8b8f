"""Identity distance between two face crops with dlib's face-recognition model.

dlib's ResNet (`dlib_face_recognition_resnet_model_v1.dat`, from the face-recognition-models
wheel, nothing downloaded) maps a face to 128 numbers; two photos whose vectors are less than
SAME_PERSON (0.6) apart are, by dlib's own rule, the same person (99.38 % right on LFW's
pairs, at full resolution). Used to ask whether a projection is still the person in the photo
(issue 20): an evaluation extra, never imported by the app.

The crops here are the models' own (128 px, the whole head): each is enlarged UPSCALE times so
dlib's HOG detector, which finds faces from about 80 px, finds the face; then the 5-point
landmarks frame the 150 px chip the ResNet reads. When no face is found in one image of a pair
(a blurred projection), it takes the box found in the other: a projection is drawn in the
photo's frame. `gan.metrics.identity.calibrate` measures what the 0.6 rule means at this
resolution on photos of known people.
"""
from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass

import numpy as np

SAME_PERSON = 0.6             # dlib's threshold: closer is the same person
UPSCALE = 2
_RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
INSTALL_HINT = "pip install dlib-bin face-recognition-models"

_lock = threading.Lock()
_models = None


class IdentityModelMissing(RuntimeError):
    """dlib or its face-recognition model is not installed."""


def _load():
    """(dlib, HOG detector, 5-point predictor, ResNet), once per process; hold _lock."""
    global _models
    if _models is None:
        try:
            import dlib
        except ImportError:
            raise IdentityModelMissing(f"dlib is not installed: {INSTALL_HINT}") from None
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            raise IdentityModelMissing(f"dlib's face models are not installed: {INSTALL_HINT}")
        folder = os.path.join(list(spec.submodule_search_locations)[0], "models")
        paths = [os.path.join(folder, f) for f in (_PREDICTOR_FILE, _RESNET_FILE)]
        for p in paths:
            if not os.path.isfile(p):
                raise IdentityModelMissing(f"model file missing ({p}): reinstall: {INSTALL_HINT}")
        _models = (dlib, dlib.get_frontal_face_detector(), dlib.shape_predictor(paths[0]),
                   dlib.face_recognition_model_v1(paths[1]))
    return _models


@dataclass
class Embedding:
    """A face's 128 numbers, the box (left, top, right, bottom, in the enlarged image) they
    were read in, and whether the box was found in this image or taken from elsewhere."""
    vector: np.ndarray
    box: tuple[int, int, int, int]
    found: bool


def _enlarged(face: np.ndarray) -> np.ndarray:
    import cv2

    a = np.ascontiguousarray(np.asarray(face, np.uint8))
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB face (H, W, 3), not {a.shape}")
    return cv2.resize(a, (a.shape[1] * UPSCALE, a.shape[0] * UPSCALE),
                      interpolation=cv2.INTER_LINEAR)


def detect(face: np.ndarray) -> tuple[int, int, int, int] | None:
    """The largest face box dlib's HOG finds in the enlarged crop, or None."""
    big = _enlarged(face)
    with _lock:
        _, hog, _, _ = _load()
        rects = hog(big, 0)
    if not len(rects):
        return None
    r = max(rects, key=lambda r: (r.width() * r.height(), -r.top(), -r.left()))
    return (r.left(), r.top(), r.right(), r.bottom())


def embed(face: np.ndarray, box: tuple[int, int, int, int] | None = None) -> Embedding | None:
    """dlib's 128 numbers for a face crop: in its own detected box, else in `box` (e.g. the
    box found in the photo a projection was made from); None when neither is there."""
    own = detect(face)
    use = own or box
    if use is None:
        return None
    big = _enlarged(face)
    with _lock:
        dlib, _, predictor, resnet = _load()
        rect = dlib.rectangle(*(int(v) for v in use))
        shape = predictor(big, rect)
        vec = np.asarray(resnet.compute_face_descriptor(big, shape), np.float32)
    return Embedding(vec, tuple(int(v) for v in use), own is not None)


def distance(a: Embedding | np.ndarray, b: Embedding | np.ndarray) -> float:
    va = a.vector if isinstance(a, Embedding) else np.asarray(a)
    vb = b.vector if isinstance(b, Embedding) else np.asarray(b)
    return float(np.linalg.norm(va - vb))


def pair(photo: np.ndarray, other: np.ndarray) -> dict:
    """dlib distance between a photo's crop and another face in its frame (a projection):
    `distance` (None when no face was found in the photo), `same_person` (< SAME_PERSON),
    and whether each face's box was found in it (`photo_found`, `other_found`)."""
    e_photo = embed(photo)
    if e_photo is None:
        return {"distance": None, "same_person": None, "photo_found": False, "other_found": None}
    e_other = embed(other, box=e_photo.box)
    d = distance(e_photo, e_other)
    return {"distance": d, "same_person": d < SAME_PERSON, "photo_found": True,
            "other_found": e_other.found}


def calibrate(faces_by_person: dict[str, list[np.ndarray]], seed: int = 0,
              max_people: int | None = None) -> dict:
    """What SAME_PERSON means for these crops: for each person, two of their photos (a
    same-person pair); every pair of different people's first photos (different-person
    pairs). Returns the share of each under the threshold and their median distances."""
    rng = np.random.default_rng(seed)
    people = sorted(p for p, fs in faces_by_person.items() if len(fs) >= 2)
    if max_people:
        people = people[:max_people]
    firsts, same = [], []
    for p in people:
        i, j = rng.choice(len(faces_by_person[p]), 2, replace=False)
        a, b = embed(faces_by_person[p][i]), embed(faces_by_person[p][j])
        if a is None or b is None:
            continue
        firsts.append(a.vector)
        same.append(distance(a, b))
    f = np.stack(firsts)
    d = np.linalg.norm(f[:, None] - f[None], axis=-1)[np.triu_indices(len(f), 1)]
    same = np.asarray(same)
    return {"people": len(same), "same_pairs": len(same), "different_pairs": int(d.size),
            "same_person_share_of_same_pairs": float((same < SAME_PERSON).mean()),
            "same_person_share_of_different_pairs": float((d < SAME_PERSON).mean()),
            "median_same": float(np.median(same)), "median_different": float(np.median(d)),
            "threshold": SAME_PERSON}
