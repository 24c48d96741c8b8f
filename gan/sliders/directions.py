"""InterFaceGAN latent directions (Shen et al. 2020): how a slider moves z.

Each attribute's direction is the unit normal along which the judge's log-odds rise in z,
with the other attributes' directions projected out so that moving one does not move the
others. This is what gives an unconditional bundle sliders. The app reads the written file
through `gan.sliders.semantics.load_directions`.
"""
from __future__ import annotations

import json

import numpy as np

from gan import sampling
from gan.sliders import classifier as judge
from gan.sliders.semantics import DIRECTIONS_FORMAT

DEFAULT_FIT_N = 2000
DIRECTIONS_FILE = "directions.json"


def fit_directions(bundle, classifier, names: list[str], n_fit: int = DEFAULT_FIT_N,
                   seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """InterFaceGAN directions: generate n_fit faces from seeds other than the measured ones
    (labels at the middle, 0.5), regress the classifier's log-odds on z (least squares: no
    class balance needed, as a model that draws mostly "male" faces would otherwise have too
    few of one class) and keep the unit normal; then project every direction off the others
    (InterFaceGAN's conditional manipulation: moving "smiling" should not move "male").
    Returns the directions and, per attribute, the R^2 of the linear fit on a fifth of the
    faces left out of it (how linear the attribute is in z)."""
    z = (np.random.default_rng([seed, 3]).standard_normal((n_fit, bundle.latent_dim))
         .astype(np.float32))
    y = (np.full((n_fit, len(bundle.label_names)), 0.5, np.float32) if bundle.conditional else None)
    faces = sampling.generate_from_latents(bundle, z, y)
    p = np.clip(judge.predict(classifier, faces), 1e-4, 1 - 1e-4)
    logit = np.log(p / (1 - p))
    cut = max(1, n_fit * 4 // 5)
    x_fit = np.concatenate([z[:cut], np.ones((cut, 1), np.float32)], 1)
    raw, r2 = {}, {}
    for c, name in enumerate(names):
        coef, *_ = np.linalg.lstsq(x_fit, logit[:cut, c], rcond=None)
        raw[name] = coef[:-1] / max(float(np.linalg.norm(coef[:-1])), 1e-12)
        if n_fit - cut >= 2:
            pred = z[cut:] @ coef[:-1] + coef[-1]
            resid = logit[cut:, c] - pred
            r2[name] = float(1 - resid.var() / max(logit[cut:, c].var(), 1e-12))
    directions = {}
    for name, d in raw.items():
        others = [raw[o] for o in names if o != name]
        if others:
            q, _ = np.linalg.qr(np.stack(others, 1))
            d = d - q @ (q.T @ d)
        directions[name] = (d / max(float(np.linalg.norm(d)), 1e-12)).astype(np.float32)
    return directions, r2


def directions_file(directions: dict[str, np.ndarray], names: list[str], latent_dim: int,
                    generator_sha256: str) -> bytes:
    """The directions file's bytes; the generator's hash says which generator they fit."""
    return (json.dumps({
        "format": DIRECTIONS_FORMAT, "latent_dim": latent_dim, "names": names,
        "vectors": [[round(float(v), 6) for v in directions[k]] for k in names],
        "generator_sha256": generator_sha256}) + "\n").encode()
