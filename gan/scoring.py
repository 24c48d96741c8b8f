"""The discriminator as a real/fake scorer, shared by the detect page and `gan.detect`.

The raw discriminator output is a logit where high means "looks like the training photos".
`p_generated` turns it into a probability of "generated" with the calibration stored in the
bundle's card when there is one (Platt: sigmoid(a * logit + b)), and with sigmoid(-logit)
otherwise, which is a score, not a calibrated probability; the card says which.
"""
from __future__ import annotations

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
