"""The detectors a bundle stores, as the CLI, the app and the report use them.

Each is a `StoredDetector`: a raw score (higher = more likely generated), P(generated) from the
calibration in the card (`calibrate.probability`) and the verdict threshold. The discriminator's
raw score is minus its logit (its logit is high for faces that look like the training photos);
the forensic detector (`forensic`) is offered when `python -m gan.detector fit` stored one.
`stored_detectors` lists them best first; `pick` chooses one by name, as `gan.detect` does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from gan.data.preprocess import to_model_input
from gan.detector import calibrate, forensic
from gan.detector.verdict import verdict as _verdict

TITLES = {"forensic": "Forensic detector (trained on several generators)",
          "discriminator": "The GAN's own discriminator"}
UNCALIBRATED_NOTE = "uncalibrated: p = sigmoid(-logit) of the raw discriminator"


def discriminator_scores(bundle, images_uint8: np.ndarray, labels: np.ndarray | None = None,
                         batch_size: int = 64) -> np.ndarray:
    """Raw scores [n] (minus the logit: higher = generated) of prepared uint8 faces
    [n, R, R, 3]. A conditional discriminator is given neutral labels (0.5) unless told."""
    out = []
    for i in range(0, len(images_uint8), batch_size):
        x = to_model_input(images_uint8[i:i + batch_size])
        if bundle.conditional:
            y = labels[i:i + batch_size] if labels is not None else np.full(
                (len(x), len(bundle.label_names)), 0.5, np.float32)
            x = [x, y]
        logits = bundle.discriminator(x, training=False)
        out.append(np.asarray(logits, dtype=np.float64).reshape(-1))
    return -np.concatenate(out) if out else np.zeros((0,), np.float64)


def detector_settings(bundle) -> dict:
    """The card's detector section, with the defaults of a bundle that was never fitted."""
    det = dict(bundle.card.get("detector", {}))
    det.setdefault("calibration", None)
    det.setdefault("threshold", 0.5)
    return det


@dataclass(frozen=True)
class StoredDetector:
    """A detector a bundle offers."""
    key: str                                      # "forensic" or "discriminator"
    title: str
    note: str                                     # what its score means (from the card)
    threshold: float                              # see gan.detector.verdict
    calibrated: bool
    raw: Callable[[np.ndarray], np.ndarray]       # uint8 faces -> raw score (higher = generated)
    p: Callable[[np.ndarray], np.ndarray]         # uint8 faces -> P(generated)
    measured: dict | None = None                  # the report's summary for it, when measured

    def verdict(self, p: float) -> str:
        return _verdict(p, self.threshold)


def _stored(key: str, title: str, section: dict, raw, measured: dict | None) -> StoredDetector:
    """A detector from its card section (calibration, threshold, note) and raw score."""
    cal = section.get("calibration")
    return StoredDetector(key=key, title=title, note=str(section.get("note") or ""),
                          threshold=float(section["threshold"]), calibrated=bool(cal), raw=raw,
                          p=lambda x: calibrate.probability(raw(x), cal), measured=measured)


def _forensic(bundle, section: dict, measured: dict | None):
    """The forensic detector, or the DetectorError saying why it cannot be used. Loaded once per
    bundle object (and per stored file) and kept on it."""
    cache = bundle.__dict__.setdefault("_stored_detectors", {})
    key = (bundle.card["files"].get(section["file"], {}).get("sha256"), section.get("threshold"))
    if key not in cache:
        try:
            cache[key] = forensic.load(bundle)
        except forensic.DetectorError as e:
            cache[key] = e
    if isinstance(cache[key], Exception):
        return cache[key]
    return _stored("forensic", TITLES["forensic"], section, cache[key].scores, measured)


def stored_detectors(bundle) -> tuple[list[StoredDetector], dict[str, str]]:
    """(usable detectors, default first; {key: why not} for a stored detector that cannot be
    used, e.g. a damaged forensic file)."""
    s = detector_settings(bundle)
    measured = s.get("measured") or {}
    calibrated = bool(s.get("calibration"))
    found = {"discriminator": _stored(
        "discriminator", TITLES["discriminator"] + ("" if calibrated else " (raw)"),
        {**s, "note": s.get("note") or ("calibrated on held-out photos" if calibrated
                                         else UNCALIBRATED_NOTE)},
        lambda x: discriminator_scores(bundle, x), measured.get("discriminator"))}
    problems: dict[str, str] = {}
    f = forensic.settings(bundle.card)
    if f is not None:
        det = _forensic(bundle, f, measured.get("forensic"))
        if isinstance(det, Exception):
            problems["forensic"] = str(det)
        else:
            found["forensic"] = det
    default = s.get("default")
    order = sorted(found, key=lambda k: (k != default, k != "forensic"))
    return [found[k] for k in order], problems


def pick(bundle, wanted: str | None) -> tuple[StoredDetector, str | None]:
    """The detector named `wanted` (the default one when None) and a warning (or None) about
    stored detectors that cannot be used; raises ValueError when `wanted` is not usable."""
    dets, problems = stored_detectors(bundle)
    by_key = {d.key: d for d in dets}
    if wanted:
        if wanted in by_key:
            return by_key[wanted], None
        if wanted in problems:
            raise ValueError(problems[wanted])
        raise ValueError(f"{bundle.name} has no {wanted} detector"
                         + (f"; fit one with `python -m gan.detector fit --model {bundle.path}`"
                            if wanted == "forensic" else ""))
    warning = None
    if problems:
        warning = "; ".join(f"the {k} detector is not usable ({m}); using the {dets[0].key}"
                            for k, m in problems.items())
    return dets[0], warning
