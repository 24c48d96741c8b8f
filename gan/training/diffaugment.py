"""DiffAugment (Zhao et al. 2020): differentiable colour, translation and cutout, applied to
real and generated images before every discriminator call, the generator's step included.

With few photos (a community's few hundred faces) the discriminator memorises the training set
and the generator stops learning; augmenting both sides the same way stops that without
leaking augmentations into the generated faces. All randomness is stateless and seeded by
(run seed, step, call), so a resumed run augments exactly as an uninterrupted one.
"""
from __future__ import annotations

import tensorflow as tf


def _uniform(shape, seed, lo=0.0, hi=1.0):
    return tf.random.stateless_uniform(shape, seed=seed, minval=lo, maxval=hi, dtype=tf.float32)


def _color(x, seed):
    b = tf.shape(x)[0]
    s = [seed + tf.constant([0, k], seed.dtype) for k in (11, 12, 13)]
    x = x + (_uniform([b, 1, 1, 1], s[0]) - 0.5)                        # brightness
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - mean) * (_uniform([b, 1, 1, 1], s[1]) * 2.0) + mean         # saturation
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    x = (x - mean) * (_uniform([b, 1, 1, 1], s[2]) + 0.5) + mean         # contrast
    return x


def _translation(x, seed, ratio=0.125):
    b, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    sh = tf.cast(tf.cast(h, tf.float32) * ratio + 0.5, tf.int32)
    sw = tf.cast(tf.cast(w, tf.float32) * ratio + 0.5, tf.int32)
    ty = tf.random.stateless_uniform([b, 1, 1], seed=seed, minval=-sh, maxval=sh + 1, dtype=tf.int32)
    tx = tf.random.stateless_uniform([b, 1, 1], seed=seed + tf.constant([0, 1], seed.dtype), minval=-sw, maxval=sw + 1, dtype=tf.int32)
    gy, gx = tf.meshgrid(tf.range(h), tf.range(w), indexing="ij")
    # pad by one zero pixel on every side; indices that fall outside land on the padding
    ys = tf.clip_by_value(gy[None] + ty + 1, 0, h + 1)
    xs = tf.clip_by_value(gx[None] + tx + 1, 0, w + 1)
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    return tf.gather_nd(padded, tf.stack([ys, xs], axis=-1), batch_dims=1)


def _cutout(x, seed, ratio=0.5):
    b, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    ch = tf.cast(tf.cast(h, tf.float32) * ratio + 0.5, tf.int32)
    cw = tf.cast(tf.cast(w, tf.float32) * ratio + 0.5, tf.int32)
    cy = tf.random.stateless_uniform([b, 1, 1], seed=seed, minval=0, maxval=h + (1 - ch % 2), dtype=tf.int32)
    cx = tf.random.stateless_uniform([b, 1, 1], seed=seed + tf.constant([0, 1], seed.dtype), minval=0, maxval=w + (1 - cw % 2), dtype=tf.int32)
    gy, gx = tf.meshgrid(tf.range(h), tf.range(w), indexing="ij")
    inside = (gy[None] >= cy - ch // 2) & (gy[None] < cy - ch // 2 + ch) & \
             (gx[None] >= cx - cw // 2) & (gx[None] < cx - cw // 2 + cw)
    return x * tf.cast(~inside, x.dtype)[..., None]


def diff_augment(x, policies: tuple[str, ...], seed):
    """Augment a batch [B,H,W,C] in [-1,1]. `seed` is an int32/int64 tensor of shape [2]."""
    if not policies:
        return x
    seed = tf.cast(seed, tf.int64)
    x = tf.cast(x, tf.float32)
    for i, p in enumerate(policies):
        s = seed + tf.constant([0, 1000003 * (i + 1)], tf.int64)
        if p == "color":
            x = _color(x, s)
        elif p == "translation":
            x = _translation(x, s)
        elif p == "cutout":
            x = _cutout(x, s)
        else:
            raise ValueError(f"unknown DiffAugment policy {p!r}")
    return x


def parse_policies(spec: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in spec.split(",") if p.strip())
