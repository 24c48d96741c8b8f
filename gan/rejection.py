"""Discriminator rejection sampling (DRS, Azadi et al. 2019): keep each generated face with a
probability that rises with how real the bundle's discriminator finds it.

At the optimum of the GAN's loss the discriminator's logit is log p_data(x) / p_g(x), so
accepting x with probability p_data / (M p_g) would draw from p_data itself. The paper's
practical form, used here: a burn-in of faces gives M's logit (their highest), and each face
is kept with probability sigmoid(F), F = D - D_M - log(1 - exp(D - D_M - eps)) - gamma, where
gamma is the burn-in's `percentile` of F without it (the paper's 95th: a face as real as that
is kept half the time). This is only as good as the discriminator's logit is at telling good
faces from bad ones, which is what the audit measures (docs/metrics.md).

Candidates come from one seed's latent stream in order, each with its own uniform draw, so the
first k faces kept for a seed are the same whatever the number asked for, and each kept face
is the face its latent row gives without rejection (`rows` says which).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gan.data.preprocess import to_model_input
from gan.sampling import generate_from_latents, label_matrix, latent_rows, latents

PERCENTILE = 95.0          # the paper's gamma
BURN_IN = 2048             # faces that set D_M and gamma
BURN_IN_SEED = 1_000_003   # not a seed anyone draws by default: the burn-in is not the sample
EPS = 1e-6
CHUNK = 64


class RejectionError(ValueError):
    """Rejection sampling cannot give the faces asked for; the message says why."""


@dataclass(frozen=True)
class Rejection:
    max_logit: float       # D_M: the burn-in's highest logit
    gamma: float           # the shift that sets how many faces are kept
    percentile: float
    burn_in: int
    acceptance: float      # the burn-in's mean probability of keeping a face

    def describe(self) -> dict:
        return {"method": "discriminator rejection sampling (Azadi et al. 2019)",
                "percentile": self.percentile, "burn_in": self.burn_in,
                "burn_in_seed": BURN_IN_SEED, "max_logit": round(self.max_logit, 4),
                "gamma": round(self.gamma, 4), "acceptance": round(self.acceptance, 4)}


def logits(bundle, faces: np.ndarray, y: np.ndarray | None) -> np.ndarray:
    """The discriminator's logits [n] (float64) of uint8 faces as a user receives them."""
    out = []
    for i in range(0, len(faces), CHUNK):
        x = to_model_input(faces[i:i + CHUNK])
        inputs = [x, y[i:i + CHUNK]] if bundle.conditional else x
        out.append(np.asarray(bundle.discriminator.predict_on_batch(inputs),    # compiled graph
                              np.float64).reshape(-1))
    return np.concatenate(out) if out else np.zeros((0,), np.float64)


def _f(d: np.ndarray, max_logit: float) -> np.ndarray:
    """F without gamma; a logit above the burn-in's highest counts as the highest (kept)."""
    delta = np.minimum(d - max_logit, 0.0)
    return delta - np.log1p(-np.exp(delta - EPS))


def calibrate(bundle, truncation: float = 1.0, labels: dict[str, float] | None = None,
              percentile: float = PERCENTILE, burn_in: int = BURN_IN) -> Rejection:
    """D_M and gamma from `burn_in` faces drawn as the sample will be (same truncation and
    labels)."""
    if not 0 < percentile < 100:
        raise RejectionError(f"the percentile must be between 0 and 100, not {percentile}")
    if burn_in < 16:
        raise RejectionError(f"the burn-in needs at least 16 faces, not {burn_in}")
    z = latents(BURN_IN_SEED, burn_in, bundle.latent_dim, truncation)
    y = label_matrix(bundle, burn_in, labels, seed=BURN_IN_SEED)
    d = logits(bundle, generate_from_latents(bundle, z, y), y)
    max_logit = float(d.max())
    f = _f(d, max_logit)
    gamma = float(np.percentile(f, percentile))
    accept = float(np.mean(1.0 / (1.0 + np.exp(-(f - gamma)))))
    return Rejection(max_logit, gamma, float(percentile), int(burn_in), accept)


def accept_probability(d: np.ndarray, rejection: Rejection) -> np.ndarray:
    """The probability of keeping faces with discriminator logits `d`."""
    return 1.0 / (1.0 + np.exp(-(_f(np.asarray(d, np.float64), rejection.max_logit) - rejection.gamma)))


def sample(bundle, n: int, seed: int = 0, truncation: float = 1.0,
           labels: dict[str, float] | None = None, rejection: Rejection | None = None,
           max_candidates: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(faces [n] uint8, their rows in the seed's latent stream, candidates drawn): the first
    n faces of `seed` that rejection keeps. Raises RejectionError when `max_candidates` (by
    default 20 times what the burn-in's acceptance predicts, at least 1,024) run out first."""
    rejection = rejection or calibrate(bundle, truncation, labels)
    if max_candidates is None:
        max_candidates = max(1024, int(20 * n / max(rejection.acceptance, 1e-3)))
    rows = latent_rows(seed, 0, bundle.latent_dim, truncation, chunk=CHUNK)
    draws = np.random.default_rng([int(seed), 0xD125])
    kept, kept_rows, drawn = [], [], 0
    while sum(len(k) for k in kept) < n:
        if drawn >= max_candidates:
            got = sum(len(k) for k in kept)
            raise RejectionError(f"rejection kept {got} of {drawn} faces, fewer than the {n} "
                                 f"asked for (the burn-in predicted {rejection.acceptance:.1%} "
                                 "kept): ask for fewer or use a lower percentile")
        y = label_matrix(bundle, CHUNK, labels, seed=seed, start=drawn)
        faces = generate_from_latents(bundle, next(rows), y)
        u = draws.random(CHUNK)
        keep = u < accept_probability(logits(bundle, faces, y), rejection)
        kept.append(faces[keep])
        kept_rows.append(drawn + np.flatnonzero(keep))
        drawn += CHUNK
    return np.concatenate(kept)[:n], np.concatenate(kept_rows)[:n], drawn
