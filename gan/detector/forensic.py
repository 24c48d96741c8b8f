"""The forensic detector as stored in a bundle, and how it is loaded and run.

It reads the local texture of the landmark-framed face at the photo's own resolution
(`gan.detector.texture`) with a small classifier (`gan.detector.classifier`), and knows which
photos it has never seen the like of (`gan.detector.ood`). It does not depend on the bundle's
networks: any bundle can carry it. Kept as plain arrays in `detection/forensic.npz` (NumPy,
read with `allow_pickle=False`: nothing is unpickled) with a small JSON header (texture
version, feature count, classifier kind). The card lists the file with its size and SHA-256, so
a damaged or replaced file is refused before a byte of it is used.

Its calibration (Platt), verdict rule and the leave-one-source-out figures behind them live in
the card (`detector.forensic`); `gan.detector.stored` applies them. This module never imports
training code, scikit-learn or Streamlit.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from gan.bundle import BundleError, verify_files
from gan.data.landmarks import FINDERS, aligned_face, find_face
from gan.detector import texture, variants
from gan.detector.classifier import KINDS, Classifier
from gan.detector.ood import OOD, from_arrays as ood_from_arrays
from gan.images import rgb_array

FILE = "detection/forensic.npz"
FIX = ("Refit it: `python -m gan.detector fit --model {model} --sources SOURCES.json` "
       "(see docs/detector.md).")
DRAFT_SIDE = 1024            # a JPEG far larger than this is decoded at 1/2, 1/4 or 1/8 scale


class DetectorError(ValueError):
    """A stored detector is missing, damaged or does not match this code; the message says
    which and how to fix it."""


@dataclass
class ReadoutModel:
    """A fitted read-out as stored: the classifier, the out-of-distribution summary and a small
    header. The forensic detector's file, and the discriminator-feature detector's."""
    classifier: Classifier
    ood: OOD
    meta: dict                # texture_version, dim, classifier

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        arrays = {**self.classifier.arrays(), **{k: v for k, v in self.ood.arrays().items()}}
        # float32 arrays stay float32 (the OOD precision, rounded so at fit: half the bytes);
        # everything else is stored in float64.
        np.savez(buf, meta=np.array(json.dumps(self.meta, sort_keys=True)),
                 **{k: v if getattr(v, "dtype", None) == np.float32 else np.asarray(v, np.float64)
                    for k, v in arrays.items()})
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "the forensic detector file") -> "ReadoutModel":
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(str(arrays.pop("meta")))
            kind = meta.get("classifier")
            if kind not in KINDS:
                raise ValueError(f"unknown classifier {kind!r}")
            clf = Classifier.from_arrays(kind, arrays)
            det_ood = ood_from_arrays(arrays, clf.standardise)
        except Exception as e:  # noqa: BLE001 - any failure to parse is a damaged file
            raise DetectorError(f"{where} cannot be read ({type(e).__name__}: {e}); it is damaged "
                                f"or not a forensic detector of this version.") from e
        dim = int(meta.get("dim", -1))
        shapes_ok = (clf.mean.shape == (dim,) and clf.scale.shape == (dim,) and clf.layers
                     and clf.layers[0][0].shape[0] == dim and clf.layers[-1][0].shape[1] == 1
                     and 0 < det_ood.columns <= dim
                     and det_ood.precision.shape == (det_ood.columns, det_ood.columns))
        if not shapes_ok:
            raise DetectorError(f"{where} has arrays of the wrong shape for {dim} features; it is damaged.")
        finite = all(np.all(np.isfinite(a)) for a in
                     [clf.mean, clf.scale, det_ood.centres, det_ood.precision, np.array(det_ood.limit)]
                     + [x for layer in clf.layers for x in layer])
        if not finite or np.any(clf.scale <= 0):
            raise DetectorError(f"{where} holds non-finite or non-positive values; it is damaged.")
        return cls(clf, det_ood, meta)


def settings(card: dict) -> dict | None:
    """The card's forensic detector section, or None when the bundle has none."""
    f = (card.get("detector") or {}).get("forensic")
    return f if isinstance(f, dict) and f.get("file") else None


def load(bundle) -> "ForensicDetector":
    """The bundle's forensic detector, checked against the card (size, SHA-256) and this code
    (texture version, feature count). Raises DetectorError with what is wrong and how to fix it."""
    card = bundle.card
    s = settings(card)
    fix = FIX.format(model=bundle.path)
    if s is None:
        raise DetectorError(f"{bundle.name} has no forensic detector. {fix}")
    if "rule" not in s:
        raise DetectorError(f"The forensic detector of {bundle.name} was fitted by an older "
                            f"version (no leave-one-source-out verdict rule). {fix}")
    try:
        verify_files(bundle.path, card, names=[s["file"]])
    except BundleError as e:
        msg = str(e).split(" Get a working bundle")[0]
        raise DetectorError(f"The forensic detector of {bundle.name} cannot be used: {msg} {fix}") from e
    path = Path(bundle.path) / s["file"]
    model = ReadoutModel.from_bytes(path.read_bytes(), where=str(path))
    if int(model.meta.get("texture_version", -1)) != texture.TEXTURE_VERSION \
            or int(model.meta.get("dim", -1)) != texture.DIM:
        raise DetectorError(f"The forensic detector of {bundle.name} uses texture features "
                            f"version {model.meta.get('texture_version')}, this code "
                            f"{texture.TEXTURE_VERSION}. {fix}")
    return ForensicDetector(model, s)


def face_features(img: Image.Image, rgb: np.ndarray, face) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(the face's square, features [1 + len(REENCODINGS), DIM]) of a photo whose face was
    found: its texture as it is and after each re-encoding (a re-encoding that leaves the face
    too small to read counts as the photo as it is); (None, None) when the face itself is too
    small. Shared by verdicts and fitting, so both see a photo the same way."""
    region = texture.face_square(rgb, face)
    if region is None:
        return None, None
    rows = [texture.texture_features(region)]
    for kind in variants.REENCODINGS:
        v, s = variants.reencoded(img, kind)
        reg = texture.face_square(np.asarray(v), face, s)
        rows.append(rows[0] if reg is None else texture.texture_features(reg))
    return region, np.stack(rows)


def photo_views(img: Image.Image, size: int = 128, finders: tuple[str, ...] = FINDERS
                ) -> tuple[np.ndarray | None, np.ndarray | None, bool, int]:
    """(face to show [size, size, 3], features [1 + len(REENCODINGS), DIM], face found, faces)
    of one photo: the landmark-framed face, its texture as it is and after each re-encoding;
    ``faces``: how many the finder found in the photo, the largest being the one judged
    (`FoundFace.faces`). No face, or one too small to read: (None, None, False, 0) or (shown
    face, None, True, faces). ``finders``: the face finders the detector was fitted with
    (`gan.data.landmarks.find_face`)."""
    rgb = rgb_array(img)
    face = find_face(rgb, finders)
    if face is None:
        return None, None, False, 0
    return aligned_face(rgb, face, size), face_features(img, rgb, face)[1], True, face.faces


@dataclass
class ForensicDetector:
    model: ReadoutModel
    settings: dict            # the card's detector.forensic section

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Raw scores (higher = more likely generated) of feature rows [n, DIM]."""
        if len(features) == 0:
            return np.zeros((0,), np.float64)
        return self.model.classifier.decision(features)

    def unfamiliar(self, features: np.ndarray) -> np.ndarray:
        return self.model.ood.unfamiliar(features) if len(features) else np.zeros(0, bool)
