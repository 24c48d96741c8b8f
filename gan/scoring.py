"""The discriminator as a real/fake scorer, shared by the detect page and `gan.detect`.

The raw discriminator output is a logit where high means "looks like the training photos".
`p_generated` turns it into a probability of "generated" with the calibration stored in the
bundle's card when there is one (Platt: sigmoid(a * logit + b)), and with sigmoid(-logit)
otherwise, which is a score, not a calibrated probability; the card says which.

`stored_detectors` lists every detector a bundle offers (the discriminator, and the forensic
detector of `gan.detector` when one was fitted), best first, for the app and `gan.detect`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


def discriminator_logits(bundle, images_uint8: np.ndarray, labels: np.ndarray | None = None,
                         batch_size: int = 64) -> np.ndarray:
    """Raw logits [n] for preprocessed uint8 faces [n, R, R, 3]."""
    from gan.data.preprocess import to_model_input

    out = []
    for i in range(0, len(images_uint8), batch_size):
        x = to_model_input(images_uint8[i:i + batch_size])
        if bundle.conditional:
            y = labels[i:i + batch_size] if labels is not None else np.full(
                (len(x), len(bundle.label_names)), 0.5, np.float32)
            x = [x, y]
        out.append(np.asarray(bundle.discriminator(x, training=False), dtype=np.float64).reshape(-1))
    return np.concatenate(out) if out else np.zeros((0,), np.float64)


def detector_settings(bundle) -> dict:
    """Calibration and threshold from the card (defaults when the bundle has none)."""
    det = dict(bundle.card.get("detector", {}))
    det.setdefault("calibration", None)        # {"method": "platt", "a": .., "b": ..}
    det.setdefault("threshold", 0.5)           # verdict "generated" when p >= threshold
    return det


def p_generated(bundle, logits: np.ndarray) -> np.ndarray:
    cal = detector_settings(bundle)["calibration"]
    logits = np.asarray(logits, dtype=np.float64)
    if cal and cal.get("method") == "platt":
        s = float(cal["a"]) * logits + float(cal["b"])
    else:
        s = -logits
    return 1.0 / (1.0 + np.exp(-np.clip(s, -60, 60)))


def verdict(bundle, p: float) -> str:
    return "generated" if p >= float(detector_settings(bundle)["threshold"]) else "real"


# --------------------------------------------------------------------------- stored detectors

TITLES = {"forensic": "Forensic detector (trained on several generators)",
          "discriminator": "The GAN's own discriminator"}


@dataclass(frozen=True)
class StoredDetector:
    """A detector a bundle offers, as the app and `gan.detect` use it."""
    key: str                                      # "forensic" or "discriminator"
    title: str
    note: str                                     # what its score means (from the card)
    threshold: float                              # verdict "generated" when p >= threshold
    calibrated: bool
    raw: Callable[[np.ndarray], np.ndarray]       # uint8 faces -> raw score (higher = generated)
    p: Callable[[np.ndarray], np.ndarray]         # uint8 faces -> P(generated)
    measured: dict | None = None                  # the report's summary for it, when measured

    def verdict(self, p: float) -> str:
        return "generated" if p >= self.threshold else "real"


def _discriminator(bundle) -> StoredDetector:
    s = detector_settings(bundle)
    calibrated = bool(s.get("calibration"))
    note = s.get("note") or ("calibrated on held-out photos" if calibrated else
                             "uncalibrated: p = sigmoid(-logit) of the raw discriminator")
    measured = (s.get("measured") or {}).get("discriminator")
    return StoredDetector(
        key="discriminator", title=TITLES["discriminator"] + ("" if calibrated else " (raw)"),
        note=str(note), threshold=float(s["threshold"]), calibrated=calibrated,
        raw=lambda x: -discriminator_logits(bundle, x),
        p=lambda x: p_generated(bundle, discriminator_logits(bundle, x)), measured=measured)


def stored_detectors(bundle) -> tuple[list[StoredDetector], dict[str, str]]:
    """(usable detectors, default first; {key: why not} for a stored detector that cannot be
    used, e.g. a damaged forensic file). The forensic detector is loaded once per bundle
    object and kept on it."""
    from gan.detector import forensic

    s = detector_settings(bundle)
    found = {"discriminator": _discriminator(bundle)}
    problems: dict[str, str] = {}
    f = forensic.settings(bundle.card)
    if f is not None:
        cache = bundle.__dict__.setdefault("_stored_detectors", {})
        key = (bundle.card["files"].get(f["file"], {}).get("sha256"), f.get("threshold"))
        if key not in cache:
            try:
                cache[key] = forensic.load(bundle)
            except forensic.DetectorError as e:
                cache[key] = e
        det = cache[key]
        if isinstance(det, Exception):
            problems["forensic"] = str(det)
        else:
            found["forensic"] = StoredDetector(
                key="forensic", title=TITLES["forensic"], note=str(f.get("note", "")),
                threshold=float(f["threshold"]), calibrated=bool(f.get("calibration")),
                raw=det.scores, p=det.p_generated,
                measured=(s.get("measured") or {}).get("forensic"))
    default = s.get("default")
    order = sorted(found, key=lambda k: (k != default, k != "forensic"))
    return [found[k] for k in order], problems
