"""The verdict rule, written once: a face is called generated when P(generated) is at or above
the detector's stored threshold, real otherwise. The CLI, the app and the report all ask here,
so a face on the threshold gets the same verdict everywhere."""
from __future__ import annotations

import numpy as np

GENERATED, REAL = "generated", "real"


def flagged(p, threshold: float) -> np.ndarray:
    """True where the verdict is "generated" (element-wise)."""
    return np.asarray(p, np.float64) >= float(threshold)


def verdict(p: float, threshold: float) -> str:
    return GENERATED if bool(flagged(p, threshold)) else REAL
