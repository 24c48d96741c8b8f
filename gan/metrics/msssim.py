"""MS-SSIM diversity: how alike two random faces of a set are, generated beside real.

Why: a GAN that has collapsed onto a few faces can still score a fair SWD on patches, but
two of its faces picked at random look alike. MS-SSIM (Wang et al. 2003) measures structural
likeness from 0 (unrelated) to 1 (identical); its mean over random pairs of one set is that
set's sameness (Odena et al. 2017 used it this way). Real photos set the yardstick: generated
faces should be about as varied as real ones, so we flag "possible mode collapse" when the
generated mean exceeds the real mean by more than 10 % of it.

Scales: `tf.image.ssim_multiscale` with its default five scales needs sides of at least
11 x 2^4 = 176 px, so at 128 px we use the first three scales (128, 64, 32 px) and their
standard weights (0.0448, 0.2856, 0.3001) renormalised to sum to 1, and fewer scales still for
smaller images (each scale must be at least the 11-px filter wide).
"""
from __future__ import annotations

import numpy as np

STANDARD_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MAX_SCALES = 3
FILTER_SIZE = 11
COLLAPSE_TOLERANCE = 0.10   # generated may exceed real by this fraction of real


def power_factors(size: int, max_scales: int = MAX_SCALES,
                  filter_size: int = FILTER_SIZE) -> tuple[float, ...]:
    """Weights of the scales usable at `size` px, renormalised to sum to 1."""
    scales = 1
    while scales < max_scales and size // 2 ** scales >= filter_size:
        scales += 1
    w = np.array(STANDARD_WEIGHTS[:scales], np.float64)
    return tuple(float(x) for x in w / w.sum())


def random_pairs(n: int, n_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """[n_pairs, 2] indices i != j (a pair of an image with itself would say nothing)."""
    if n < 2:
        raise ValueError("MS-SSIM diversity needs at least 2 images")
    i = rng.integers(0, n, n_pairs)
    j = (i + rng.integers(1, n, n_pairs)) % n        # never equal to i
    return np.stack([i, j], axis=1)


def ms_ssim(images_a: np.ndarray, images_b: np.ndarray, batch: int = 100) -> np.ndarray:
    """MS-SSIM [n] of uint8 image pairs (images_a[k], images_b[k])."""
    import tensorflow as tf

    a, b = np.asarray(images_a), np.asarray(images_b)
    size = int(a.shape[1])
    factors = power_factors(size)
    fs = min(FILTER_SIZE, size)
    out = []
    for s in range(0, len(a), batch):
        x = tf.constant(a[s:s + batch], tf.float32)
        y = tf.constant(b[s:s + batch], tf.float32)
        out.append(tf.image.ssim_multiscale(x, y, max_val=255.0, power_factors=factors,
                                            filter_size=fs).numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def diversity(images: np.ndarray, n_pairs: int = 1000, seed: int = 0) -> dict:
    """Mean MS-SSIM over `n_pairs` random pairs of one set (lower = more varied)."""
    pairs = random_pairs(len(images), int(n_pairs), np.random.default_rng(seed))
    v = ms_ssim(images[pairs[:, 0]], images[pairs[:, 1]])
    return {"mean": float(v.mean()), "std": float(v.std()),
            "sem": float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0,
            "pairs": int(len(v))}


def compare(generated: np.ndarray, real: np.ndarray, n_pairs: int = 1000, seed: int = 0,
            tolerance: float = COLLAPSE_TOLERANCE) -> dict:
    """Diversity of generated faces beside real photos, with the mode-collapse flag."""
    g = diversity(generated, n_pairs, seed)
    r = diversity(real, n_pairs, seed + 1)
    rel = (g["mean"] - r["mean"]) / max(r["mean"], 1e-8)
    collapse = bool(rel > tolerance)
    if collapse:
        verdict = (f"possible mode collapse: generated faces are {rel:.0%} more alike than "
                   f"real photos (more than the {tolerance:.0%} allowed)")
    elif rel < -tolerance:
        verdict = (f"generated faces are {-rel:.0%} less alike than real photos: varied, "
                   f"possibly noisy (check the SWD and the samples)")
    else:
        verdict = f"about as varied as real photos ({rel:+.0%})"
    return {"generated": g["mean"], "real": r["mean"], "relative": float(rel),
            "generated_sem": g["sem"], "real_sem": r["sem"], "pairs": g["pairs"],
            "scales": len(power_factors(int(np.asarray(generated).shape[1]))),
            "tolerance": tolerance, "mode_collapse": collapse, "verdict": verdict}
