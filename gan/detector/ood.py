"""Is a photo like any source the detector was fitted on? An unfamiliar photo gets "unsure".

Each fit source is summarised by the centre of its features (standardised as the classifier
standardises them); the spread is one covariance pooled over the sources (Ledoit-Wolf shrunk,
so 245 features and a few thousand photos give a stable inverse). A photo's distance is its
Mahalanobis distance to the nearest centre; above `limit` no fit source looked like it, and its
score is a guess. The limit is the LIMIT_QUANTILE of distances of photos the centres and
spread were NOT estimated on (the other half of each source): in-sample distances are too
short, and would call new photos of a fitted source unfamiliar.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

LIMIT_QUANTILE = 0.995


@dataclass
class OOD:
    centres: np.ndarray          # [S, D] in standardised units
    precision: np.ndarray        # [D, D]
    limit: float
    standardise: Callable[[np.ndarray], np.ndarray]

    @property
    def columns(self) -> int:
        """How many leading (standardised) features it reads: all of the forensic detector's,
        the summary ones of a detector with too many for a full covariance."""
        return int(self.centres.shape[1])

    def distance(self, X: np.ndarray) -> np.ndarray:
        Z = self.standardise(X)[:, :self.columns]
        out = np.full(len(Z), np.inf)
        for c in self.centres:
            d = Z - c
            out = np.minimum(out, np.einsum("ij,jk,ik->i", d, self.precision, d))
        return np.sqrt(np.maximum(out, 0.0))

    def unfamiliar(self, X: np.ndarray) -> np.ndarray:
        return self.distance(X) > self.limit

    def arrays(self) -> dict[str, np.ndarray]:
        """The stored form. The precision is symmetric, so only its upper triangle is kept: half
        the bytes of the largest array a read-out detector stores; and in float32 (half that
        again) when float32 holds it exactly, as it holds every precision `fit` makes."""
        upper = self.precision[np.triu_indices(len(self.precision))]
        if np.array_equal(upper.astype(np.float32).astype(np.float64), upper):
            upper = upper.astype(np.float32)
        return {"ood_centres": self.centres, "ood_precision_upper": upper,
                "ood_limit": np.float64(self.limit)}


def fit(standardise: Callable[[np.ndarray], np.ndarray], by_source: list[np.ndarray],
        held_by_source: list[np.ndarray], columns: int | None = None) -> OOD:
    """Centres and spread from `by_source`, the limit from `held_by_source` (other photos of
    the same sources); on the first `columns` features only when given."""
    from sklearn.covariance import LedoitWolf

    Zs = [standardise(X)[:, :columns] for X in by_source if len(X)]
    centres = np.stack([Z.mean(axis=0) for Z in Zs])
    pooled = np.concatenate([Z - Z.mean(axis=0) for Z in Zs])
    precision = LedoitWolf().fit(pooled).precision_
    precision = (precision + precision.T) / 2          # exactly symmetric, so stored losslessly
    # Rounded to float32 before the limit is measured, so the stored float32 copy gives the
    # very distances (and verdicts) the fit measured, in half the bytes.
    precision = precision.astype(np.float32).astype(np.float64)
    o = OOD(centres, precision, np.inf, standardise)
    held = [X for X in held_by_source if len(X)]
    o.limit = float(np.quantile(o.distance(np.concatenate(held)), LIMIT_QUANTILE))
    return o


def from_arrays(arrays: dict[str, np.ndarray], standardise) -> OOD:
    centres = np.asarray(arrays["ood_centres"], np.float64)
    if "ood_precision" in arrays:                      # files written before 2026-12-06
        precision = np.asarray(arrays["ood_precision"], np.float64)
    else:
        n = centres.shape[1]
        upper = np.asarray(arrays["ood_precision_upper"], np.float64)
        if upper.shape != (n * (n + 1) // 2,):
            raise ValueError(f"ood_precision_upper holds {upper.size} numbers, "
                             f"not {n}x{n}'s triangle")
        precision = np.zeros((n, n))
        precision[np.triu_indices(n)] = upper
        precision = precision + np.triu(precision, 1).T
    return OOD(centres, precision, float(arrays["ood_limit"]), standardise)
