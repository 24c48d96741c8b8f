"""The verdict rule, written once: "generated", "real" or "unsure", with the reason.

A detector's P(generated) alone does not say whether its verdict can be trusted. The rule
(`Rule`, its thresholds chosen on left-out sources by `gan.detector.loso.choose_rule`):

- "generated" at or above `generated_at`, where no left-out real source went over the stated
  false-alarm rate; "real" below `real_below`; in between, left-out sources disagree: "unsure";
- "unsure" too when the photo is unlike every source the detector was fitted on (its score is
  a guess there), or when re-saving it as JPEG (quality 75) or at half size would change the
  verdict (a verdict a re-upload could flip is not one).

The CLI, the app and the reports all ask here, so a photo gets the same verdict everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GENERATED, REAL, UNSURE = "generated", "real", "unsure"
VERDICTS = (GENERATED, REAL, UNSURE)
BAND, UNFAMILIAR, REENCODE = "band", "unfamiliar", "re-encode"
REASONS = {
    BAND: "its score falls where photos of left-out real and generated sources both land",
    UNFAMILIAR: "it is unlike every photo source the detector was fitted on, so its score is a guess",
    REENCODE: "re-saving it (JPEG quality 75 or half size) would change the verdict",
}


@dataclass(frozen=True)
class Rule:
    generated_at: float
    real_below: float

    def zone(self, p) -> np.ndarray:
        p = np.asarray(p, np.float64)
        return np.where(p >= self.generated_at, GENERATED, np.where(p < self.real_below, REAL, UNSURE))

    def decide_many(self, p, p_re=None, unfamiliar=None) -> tuple[np.ndarray, np.ndarray]:
        """(verdicts, reasons) per photo; reasons are "" where the verdict is not unsure.
        p [n]; p_re [n, k] the re-encodings' P (optional); unfamiliar [n] bool (optional)."""
        v = self.zone(p).astype(object)
        why = np.where(v == UNSURE, BAND, "").astype(object)
        if p_re is not None and np.size(p_re):
            zr = self.zone(p_re)
            flips = (v != UNSURE) & np.any(zr != v[:, None], axis=1)
            v, why = np.where(flips, UNSURE, v), np.where(flips, REENCODE, why)
        if unfamiliar is not None:
            u = np.asarray(unfamiliar, bool)
            v, why = np.where(u, UNSURE, v), np.where(u, UNFAMILIAR, why)
        return v.astype(str), why.astype(str)

    def decide(self, p: float, p_re=None, unfamiliar: bool = False) -> tuple[str, str]:
        v, why = self.decide_many(np.array([p]), None if p_re is None else np.array([p_re]),
                                  np.array([unfamiliar]))
        return str(v[0]), str(why[0])

    def to_card(self) -> dict:
        return {"generated_at": self.generated_at, "real_below": self.real_below}

    @classmethod
    def from_card(cls, section: dict) -> "Rule":
        return cls(float(section["generated_at"]), float(section["real_below"]))


def flagged(p, threshold: float) -> np.ndarray:
    """True where P(generated) is at or above a single threshold (element-wise)."""
    return np.asarray(p, np.float64) >= float(threshold)


def verdict(p: float, threshold: float) -> str:
    """The two-way verdict of a single threshold (a bundle's discriminator before it has a rule)."""
    return GENERATED if bool(flagged(p, threshold)) else REAL
