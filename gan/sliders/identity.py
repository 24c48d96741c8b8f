"""Is the edited face still the same face? The measurement's identity test.

A face pushed to one slider end must be re-identified among all the faces at the other end.
No face recogniser can be downloaded here, so "the same" is judged in a feature space of the
central face region built from the real training photos (`IdentitySpace`);
bench/attribute_identity.py measures how strict that is on real people.
"""
from __future__ import annotations

import numpy as np

from gan.metrics.memorisation import FeatureSpace


class IdentitySpace:
    """Where "the same person" is judged: the central face region (rows 20-85%, columns
    20-80% of the crop, i.e. brows to chin and cheek to cheek, without most background and
    hair), area-downsampled to 32x32 and projected on the first 64 principal components of
    the real training photos' same region. Distances there follow face shape, skin,
    eyes-nose-mouth layout and lighting. Background is left out because it is held fixed by z
    and would re-identify any two faces on the same background. This is no face recogniser:
    it says the edited face kept the layout and colouring of the original, which is what
    "recognisably the same" means for a low-resolution GAN face."""

    BOX = (0.20, 0.85, 0.20, 0.80)    # top, bottom, left, right as fractions of the crop
    DESCRIPTION = ("central face region (rows 20-85%, columns 20-80% of the crop), 32x32, "
                   "first 64 principal components of the real training photos' same region, "
                   "Euclidean distance")

    def __init__(self, real_train: np.ndarray, components: int = 64):
        self.space = FeatureSpace(self.region(real_train), components=components)

    @classmethod
    def region(cls, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        s = images.shape[1]
        t, b, l, r = (int(round(f * s)) for f in cls.BOX)
        return np.ascontiguousarray(images[:, t:b, l:r])

    def features(self, images: np.ndarray) -> np.ndarray:
        return self.space.transform(self.region(images))


def reidentify(gallery: np.ndarray, probes: np.ndarray) -> dict[str, np.ndarray]:
    """Probe i (an edited face) is re-identified when its nearest gallery face (the N
    originals) is gallery i. Also the ratio of its distance to i over the median distance to
    the other originals (below 1: closer to itself than to a typical other face)."""
    g = gallery.astype(np.float64)
    p = probes.astype(np.float64)
    d = np.sqrt(np.clip((p ** 2).sum(1)[:, None] - 2 * p @ g.T + (g ** 2).sum(1)[None], 0, None))
    n = len(g)
    own = d[np.arange(n), np.arange(n)]
    others = d.copy()
    others[np.arange(n), np.arange(n)] = np.nan
    return {"reidentified": np.argmin(d, axis=1) == np.arange(n),
            "ratio": own / np.maximum(np.nanmedian(others, axis=1), 1e-12) if n > 1 else own * 0,
            "rank": (d < own[:, None]).sum(1)}
