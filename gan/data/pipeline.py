"""tf.data input pipeline for training (the only module of gan.data that imports TensorFlow).

The batch of global step ``s`` is a pure function of ``(seed, s)`` (for a given data set
size and batch size), so a resumed run (``start_step=k``) sees exactly the batches an
uninterrupted run sees after ``k`` steps:

* the images are an endless stream of epochs, each a fresh permutation drawn from a
  numpy RNG seeded with ``(seed, epoch)``; step ``s`` takes stream positions
  ``[s * B, (s + 1) * B)`` (a batch may straddle two epochs; no image is dropped);
* the horizontal flips of step ``s`` come from an RNG seeded with ``(seed, s)``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["make_dataset", "batch_indices", "flip_mask"]

_PERM_TAG, _FLIP_TAG = 0, 1


def _epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([int(seed), _PERM_TAG, int(epoch)]).permutation(n)


def batch_indices(n: int, batch_size: int, seed: int, step: int, _perms: dict | None = None) -> np.ndarray:
    """Indices (into the data set of ``n`` images) of the batch of global step ``step``."""
    if n <= 0:
        raise ValueError("no images")
    pos = np.arange(step * batch_size, (step + 1) * batch_size, dtype=np.int64)
    epochs, within = np.divmod(pos, n)
    out = np.empty(batch_size, np.int64)
    perms = {} if _perms is None else _perms
    for e in np.unique(epochs).tolist():
        if e not in perms:
            if len(perms) > 4:
                perms.clear()
            perms[e] = _epoch_permutation(n, seed, e)
        m = epochs == e
        out[m] = perms[e][within[m]]
    return out


def flip_mask(batch_size: int, seed: int, step: int) -> np.ndarray:
    """Which images of step ``step``'s batch are mirrored (each with probability 1/2)."""
    return np.random.default_rng([int(seed), _FLIP_TAG, int(step)]).random(batch_size) < 0.5


def make_dataset(images_uint8, labels, batch_size: int, seed: int = 0, start_step: int = 0,
                 flip: bool = True) -> tf.data.Dataset:
    """Endless dataset of ``(images, labels)``, one element per training step.

    images: float32 [B, S, S, 3] in [-1, 1] (``gan.data.preprocess.to_model_input``);
    labels: float32 [B, K] aligned with the images (K = 0, shape [B, 0], when ``labels``
    is None). Shuffled with a fresh permutation each epoch, batched, randomly mirrored
    left-right (``flip``), prefetched. ``seed`` must be >= 0.
    """
    images = np.asarray(images_uint8)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 [N, H, W, 3], got {images.dtype} {images.shape}")
    n = len(images)
    if n == 0:
        raise ValueError("no images to train on")
    if labels is None:
        lab = np.zeros((n, 0), np.float32)
    else:
        lab = np.asarray(labels, np.float32)
        if lab.ndim == 1:
            lab = lab[:, None]
        if len(lab) != n:
            raise ValueError(f"{len(lab)} label rows for {n} images")
    batch_size, seed, start_step = int(batch_size), int(seed), int(start_step)
    if batch_size < 1 or seed < 0 or start_step < 0:
        raise ValueError("batch_size must be >= 1, seed and start_step >= 0")
    h, w = images.shape[1:3]
    k = lab.shape[1]

    def batches():
        perms = {}
        step = start_step
        while True:
            idx = batch_indices(n, batch_size, seed, step, perms)
            x = images[idx]
            if flip:
                f = flip_mask(batch_size, seed, step)
                x[f] = x[f, :, ::-1]
            yield x, lab[idx]
            step += 1

    ds = tf.data.Dataset.from_generator(
        batches,
        output_signature=(
            tf.TensorSpec((batch_size, h, w, 3), tf.uint8),
            tf.TensorSpec((batch_size, k), tf.float32),
        ),
    )

    def to_float(x, y):
        # Same arithmetic as preprocess.to_model_input: x / 127.5 - 1 in float32.
        return tf.cast(x, tf.float32) / 127.5 - 1.0, y

    ds = ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
