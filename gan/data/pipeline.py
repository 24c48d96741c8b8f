"""tf.data input pipeline for training (the only module of gan.data that imports TensorFlow).

The batch of global step ``s`` is a pure function of ``(seed, s)`` (for a given data set
size and batch size), so a resumed run (``start_step=k``) sees exactly the batches an
uninterrupted run sees after ``k`` steps:

* the images form an endless stream of epochs, each a fresh pseudo-random permutation
  keyed by ``(seed, epoch)`` (TensorFlow's stateless ``RandomIndexShuffle``);
  step ``s`` takes stream positions ``[s * B, (s + 1) * B)``, so a batch may straddle
  two epochs and no image is ever dropped;
* the horizontal flips of step ``s`` come from a stateless RNG keyed by ``(seed, s)``.

Under ``tf.distribute`` (``shard``), step ``s``'s global batch of ``batch_size x replicas``
photos is that same stream's ``[s * G, (s + 1) * G)``, and each replica gets its own
contiguous slice: together the replicas train on exactly the batches one device would with
the global batch, and a resume on any number of replicas starts where the run stopped.

Everything runs as TensorFlow ops, with no Python callback in the pipeline: tf.data
threads that call back into Python (``from_generator``, ``numpy_function``) can hang the
process at exit while an iterator is still alive, which we saw here with both.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["make_dataset", "batch_indices", "flip_mask"]


def _indices(step, n: int, batch_size: int, seed: int, part=0, parts: int = 1):
    """Data-set indices of the batch of ``step`` (int64 tensor [batch_size]): slice ``part``
    of ``parts`` of the global batch of ``batch_size * parts``."""
    step, part = tf.cast(step, tf.int64), tf.cast(part, tf.int64)
    pos = (step * parts + part) * batch_size + tf.range(batch_size, dtype=tf.int64)
    epoch, within = pos // n, pos % n
    seeds = tf.stack([tf.fill([batch_size], tf.constant(seed, tf.int64)),
                      tf.zeros([batch_size], tf.int64), epoch], axis=1)  # [B, 3]: (seed, 0, epoch)
    # The raw op: tf.random.experimental.index_shuffle mis-pads a batch of seeds.
    return tf.raw_ops.RandomIndexShuffle(index=within, seed=seeds, max_index=tf.constant(n - 1, tf.int64),
                                         rounds=4)


def _flips(step, batch_size: int, seed: int, part=0, parts: int = 1):
    """Which images of the batch of ``step`` are mirrored (bool tensor [batch_size]); with
    ``parts``, slice ``part`` of the global batch's flips."""
    key = tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)])
    flips = tf.random.stateless_uniform([batch_size * parts], seed=key) < 0.5
    return tf.reshape(flips, [parts, batch_size])[part]


def batch_indices(n: int, batch_size: int, seed: int, step: int, index=None) -> np.ndarray:
    """Indices (into the data set of ``n`` images) of the batch of global step ``step``;
    with ``index`` (a balanced epoch, `gan.data.balance.sampling_index`), the photos its
    positions name."""
    if index is not None:
        index = np.asarray(index, np.int64)
        return index[_indices(step, len(index), batch_size, seed).numpy()]
    if n <= 0:
        raise ValueError("no images")
    return _indices(step, n, batch_size, seed).numpy()


def flip_mask(batch_size: int, seed: int, step: int) -> np.ndarray:
    """Which images of step ``step``'s batch are mirrored (each with probability 1/2)."""
    return _flips(step, batch_size, seed).numpy()


def make_dataset(images_uint8, labels, batch_size: int, seed: int = 0, start_step: int = 0,
                 flip: bool = True, shard: tuple[int, int, int] = (0, 1, 1),
                 index=None) -> tf.data.Dataset:
    """Endless dataset of ``(images, labels)``, one element per training step.

    ``shard = (first, local, replicas)``: for ``tf.distribute``, this input pipeline feeds
    replicas ``first .. first + local - 1`` of ``replicas``, each ``batch_size`` photos of the
    step's global batch. Its elements are the steps' slices in the order the strategy hands
    them out (step s: replica first, first + 1, ...), starting at ``start_step``.

    images: float32 [B, S, S, 3] in [-1, 1] (``gan.data.preprocess.to_model_input``);
    labels: float32 [B, K] aligned with the images (K = 0, shape [B, 0], when ``labels``
    is None). Shuffled with a fresh permutation each epoch, batched, randomly mirrored
    left-right (``flip``), prefetched. ``seed`` must be >= 0.

    ``index``: int [M], an epoch of photo indices to draw from instead of every photo once
    (balanced sampling: `gan.data.balance.sampling_index`); each epoch is a fresh permutation
    of its M positions, so the batches stay a pure function of (seed, step).

    The uint8 images are copied into one TensorFlow tensor (a memory-mapped cache is
    read into memory here).
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
    stream = n
    if index is not None:
        index = np.asarray(index, np.int64)
        if index.ndim != 1 or not len(index) or index.min() < 0 or index.max() >= n:
            raise ValueError(f"index must name photos 0..{n - 1}")
        stream = len(index)
    first, local, replicas = (int(v) for v in shard)
    if not (local >= 1 and 0 <= first and first + local <= replicas):
        raise ValueError(f"shard {shard} is not (first, local, replicas) of a cluster")

    images_t = tf.convert_to_tensor(np.ascontiguousarray(images))
    labels_t = tf.convert_to_tensor(np.ascontiguousarray(lab))
    index_t = None if index is None else tf.constant(index)

    width = images.shape[2]
    forward = tf.range(width)[None, :]
    backward = tf.range(width - 1, -1, -1)[None, :]

    def make(element):
        step, part = element // local, first + element % local
        idx = _indices(step, stream, batch_size, seed, part, replicas)
        if index_t is not None:
            idx = tf.gather(index_t, idx)
        x = tf.gather(images_t, idx)
        if flip:
            # Mirror by gathering columns (4x cheaper on CPU than where(reverse(x), x)).
            cols = tf.where(_flips(step, batch_size, seed, part, replicas)[:, None], backward, forward)
            x = tf.gather(x, cols, axis=2, batch_dims=1)
        # Same arithmetic as preprocess.to_model_input: x / 127.5 - 1 in float32.
        return tf.cast(x, tf.float32) / 127.5 - 1.0, tf.gather(labels_t, idx)

    ds = tf.data.Dataset.counter(start=start_step * local, dtype=tf.int64)
    ds = ds.map(make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
