"""The forensic detector as stored in a bundle, and how it is loaded and run.

It is a logistic regression on the discriminator's features (`gan.detector.features`), kept as
plain arrays in `detection/forensic.npz` (NumPy, read with `allow_pickle=False`: nothing is
unpickled): the feature mean and scale, the weights and the bias, plus a small JSON header
saying which discriminator (SHA-256) and feature version it was fitted on. The card lists the
file with its size and SHA-256 (`files`), so a damaged or replaced file is refused before a byte
of it is used, and a detector fitted on another discriminator is refused too.

Its calibration (Platt) and verdict threshold live in the card (`detector.forensic`), beside
the discriminator's; `gan.detector.stored` applies them. This module never imports training
code, scikit-learn or Streamlit.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan.bundle import BundleError, verify_files
from gan.detector.features import FEATURE_VERSION, FeatureExtractor

FILE = "detection/forensic.npz"
KIND = "logistic regression on discriminator features"
FIX = ("Refit it: `python -m gan.detector fit --model {model}` (a few minutes on a CPU).")


class DetectorError(ValueError):
    """A stored detector is missing, damaged or does not match its bundle; the message says
    which and how to fix it."""


@dataclass
class ForensicModel:
    mean: np.ndarray          # float32 [dim]
    scale: np.ndarray         # float32 [dim]
    weights: np.ndarray       # float32 [dim]
    bias: float
    meta: dict                # feature_version, dim, discriminator_sha256, resolution, ...

    def decision(self, features: np.ndarray) -> np.ndarray:
        """Raw score per face (higher = more likely generated)."""
        x = (np.asarray(features, np.float64) - self.mean) / self.scale
        return x @ self.weights.astype(np.float64) + float(self.bias)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, mean=self.mean.astype(np.float32), scale=self.scale.astype(np.float32),
                 weights=self.weights.astype(np.float32), bias=np.float64(self.bias),
                 meta=np.array(json.dumps(self.meta, sort_keys=True)))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "the forensic detector file") -> "ForensicModel":
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in ("mean", "scale", "weights", "bias", "meta")}
            meta = json.loads(str(arrays["meta"]))
        except Exception as e:  # noqa: BLE001 - any failure to parse is a damaged file
            raise DetectorError(f"{where} cannot be read ({type(e).__name__}: {e}); it is damaged "
                                f"or not a forensic detector.") from e
        dim = int(meta.get("dim", -1))
        shapes = {k: arrays[k].shape for k in ("mean", "scale", "weights")}
        if any(s != (dim,) for s in shapes.values()) or arrays["bias"].shape != ():
            raise DetectorError(f"{where} has arrays of the wrong shape ({shapes}, dim {dim}); "
                                f"it is damaged.")
        if not all(np.all(np.isfinite(arrays[k])) for k in ("mean", "scale", "weights", "bias")) \
                or np.any(arrays["scale"] <= 0):
            raise DetectorError(f"{where} holds non-finite or non-positive values; it is damaged.")
        return cls(arrays["mean"], arrays["scale"], arrays["weights"], float(arrays["bias"]), meta)


def settings(card: dict) -> dict | None:
    """The card's forensic detector section, or None when the bundle has none."""
    f = (card.get("detector") or {}).get("forensic")
    return f if isinstance(f, dict) and f.get("file") else None


def load(bundle) -> "ForensicDetector":
    """The bundle's forensic detector, checked against the card (size, SHA-256, discriminator,
    feature size). Raises DetectorError with what is wrong and how to fix it."""
    card = bundle.card
    s = settings(card)
    fix = FIX.format(model=bundle.path)
    if s is None:
        raise DetectorError(f"{bundle.name} has no forensic detector. {fix}")
    rel = s["file"]
    try:
        verify_files(bundle.path, card, names=[rel])
    except BundleError as e:
        msg = str(e).split(" Get a working bundle")[0]
        raise DetectorError(f"The forensic detector of {bundle.name} cannot be used: {msg} {fix}") from e
    path = Path(bundle.path) / rel
    model = ForensicModel.from_bytes(path.read_bytes(), where=str(path))
    d_sha = card["files"]["discriminator.keras"]["sha256"]
    if model.meta.get("discriminator_sha256") != d_sha:
        raise DetectorError(f"The forensic detector of {bundle.name} was fitted on another "
                            f"discriminator than the one in the bundle (a re-export replaced "
                            f"it). {fix}")

    if int(model.meta.get("feature_version", -1)) != FEATURE_VERSION:
        raise DetectorError(f"The forensic detector of {bundle.name} uses feature version "
                            f"{model.meta.get('feature_version')}, this code {FEATURE_VERSION}. {fix}")
    features = FeatureExtractor(bundle)
    if features.dim != len(model.weights):
        raise DetectorError(f"The forensic detector of {bundle.name} expects {len(model.weights)} "
                            f"features, the discriminator gives {features.dim}. {fix}")
    return ForensicDetector(model, features, s)


@dataclass
class ForensicDetector:
    model: ForensicModel
    features: "object"        # FeatureExtractor
    settings: dict            # the card's detector.forensic section

    def scores(self, images: np.ndarray) -> np.ndarray:
        """Raw scores (higher = more likely generated) of uint8 faces [n, R, R, 3]."""
        if len(images) == 0:
            return np.zeros((0,), np.float64)
        return self.model.decision(self.features(images))
