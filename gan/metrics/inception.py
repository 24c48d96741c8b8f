"""FID and KID on InceptionV3 features, only from a weights file the user supplies.

Why optional: FID (Heusel et al. 2017) and KID (Binkowski et al. 2018) compare the statistics
of InceptionV3 pool features of generated and real images; every package that computes them
downloads the ImageNet weights at run time, which this machine cannot. A user who has the
Keras file elsewhere (`inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`, or the full
one with the classifier) passes it with `--inception-weights FILE`.

The figures use Keras's InceptionV3 and bilinear resizing to 299 px, not the TF-slim graph
of the original FID code, so they rank models of this project against each other but are not
comparable to FIDs published elsewhere.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

NOT_COMPUTED = "FID/KID: not computed (no --inception-weights)"
INPUT_SIZE = 299


class InceptionError(ValueError):
    """The weights file is missing or is not Keras InceptionV3 weights; the message says."""


def check_weights_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InceptionError(
            f"--inception-weights {path}: no such file. FID/KID need Keras InceptionV3 "
            f"ImageNet weights (e.g. inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5), "
            f"downloaded on a machine with internet access and copied here; without the option "
            f"the evaluation runs without FID/KID.")
    if not str(path).endswith((".h5", ".hdf5", ".keras")):
        raise InceptionError(f"--inception-weights {path}: expected a Keras weights file "
                             f"(.h5, .weights.h5 or .keras)")
    if str(path).endswith((".h5", ".hdf5")):
        import h5py

        if not h5py.is_hdf5(path):     # cheap, before building the network twice
            raise InceptionError(f"--inception-weights {path}: not an HDF5 file, so not Keras "
                                 f"weights (truncated download?)")
    return path


def load_inception(path: str | Path):
    """keras.Model: uint8-range float images [n, 299, 299, 3] -> 2048 pool features."""
    import keras

    path = check_weights_file(path)

    def loaded(model) -> bool:
        # Layer order, not names, as Keras loads its own ImageNet file (names carry counters
        # that differ between Keras versions and between models built in one process).
        kernel = model.weights[0]
        before = np.asarray(kernel).copy()
        model.load_weights(path)
        return not np.allclose(before, np.asarray(kernel))

    errors = []
    notop = keras.applications.InceptionV3(weights=None, include_top=False, pooling="avg",
                                           input_shape=(INPUT_SIZE, INPUT_SIZE, 3))
    try:
        if loaded(notop):
            return notop
        errors.append("no layer of the file matched InceptionV3")
    except Exception as e:  # noqa: BLE001 - Keras raises many types for a wrong file
        errors.append(f"{type(e).__name__}: {e}")
    try:   # a file saved from the full model, classifier included
        full = keras.applications.InceptionV3(weights=None, include_top=True,
                                              input_shape=(INPUT_SIZE, INPUT_SIZE, 3))
        if loaded(full):
            return keras.Model(full.inputs, full.get_layer("avg_pool").output)
    except Exception as e:  # noqa: BLE001
        errors.append(f"{type(e).__name__}: {e}")
    raise InceptionError(f"--inception-weights {path}: not Keras InceptionV3 weights "
                         f"({'; '.join(str(x)[:200] for x in errors)})")


def features(model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """2048-d pool features [n, 2048] of uint8 images, resized to 299 px (bilinear) and scaled
    to [-1, 1] as Keras's `inception_v3.preprocess_input` does."""
    import tensorflow as tf

    out = []
    for s in range(0, len(images), batch_size):
        x = tf.image.resize(tf.constant(images[s:s + batch_size], tf.float32),
                            (INPUT_SIZE, INPUT_SIZE), method="bilinear")
        out.append(np.asarray(model(x / 127.5 - 1.0, training=False), np.float64))
    return np.concatenate(out) if out else np.zeros((0, 2048))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    """Fréchet distance of two Gaussians: |mu1-mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2)."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    import warnings

    with warnings.catch_warnings():     # singular with fewer images than features: handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():   # singular product: nudge both diagonals
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    return frechet_distance(features_a.mean(0), np.cov(features_a, rowvar=False),
                            features_b.mean(0), np.cov(features_b, rowvar=False))


def kid(features_a: np.ndarray, features_b: np.ndarray, subsets: int = 100,
        subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception distance: unbiased MMD^2 with the cubic polynomial kernel
    k(x, y) = (x.y / d + 1)^3, mean and std over random subsets."""
    rng = np.random.default_rng(seed)
    m = int(min(subset_size, len(features_a), len(features_b)))
    if m < 2:
        raise ValueError("KID needs at least 2 images per set")
    d = features_a.shape[1]
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    # The kernels are computed once; each subset reads its block.
    kaa, kbb, kab = ((a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3)
    vals = []
    for _ in range(subsets):
        i = rng.choice(len(a), m, replace=False)
        j = rng.choice(len(b), m, replace=False)
        kxx, kyy, kxy = kaa[np.ix_(i, i)], kbb[np.ix_(j, j)], kab[np.ix_(i, j)]
        mmd = ((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
               + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
        vals.append(mmd)
    return float(np.mean(vals)), float(np.std(vals))


def fid_kid(weights_path: str | Path, generated: np.ndarray, real: np.ndarray) -> dict:
    model = load_inception(weights_path)
    fg, fr = features(model, generated), features(model, real)
    k_mean, k_std = kid(fg, fr)
    return {"computed": True, "fid": fid(fg, fr), "kid": k_mean, "kid_std": k_std,
            "images": [int(len(fg)), int(len(fr))], "weights": str(weights_path),
            "note": "Keras InceptionV3, bilinear 299 px: compare models of this project with "
                    "each other, not with FIDs published elsewhere"}
