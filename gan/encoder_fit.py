"""Fitting the projection's encoder (`gan.encoder`) on the bundle's own faces.

The generator makes `faces` faces from z ~ N(0, I) and labels drawn as its training photos
had them (each binary label 0 or 1, one class per one-hot group, numbers uniform in [0, 1]).
The encoder learns image -> (z, label logits): mean squared error on z, binary cross-entropy
on the labels, Adam with a cosine-decaying learning rate. The faces are made once and pooled
to the encoder's working size, then reused every epoch, so an epoch costs the encoder only.
A tenth is held out: the card records how much of z's variance the encoder explains on it
(R^2) and how often its labels are right, and how long the fit took.

Only `python -m gan.project fit` calls this; the app and `gan.projection` never do.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from gan.card import label_kinds
from gan.data.preprocess import to_model_input
from gan.encoder import build_encoder, write_encoder
from gan.sampling import generate_from_latents

DEFAULT_FACES = 16384
DEFAULT_EPOCHS = 10
BATCH = 64
LEARNING_RATE = 1e-3
WIDTH = 16              # the first convolution's channels, doubling per halving of the size


def random_labels(card: dict, n: int, rng: np.random.Generator) -> np.ndarray | None:
    """[n, K] labels like the training photos': binary 0/1, one class per group, numbers in [0, 1]."""
    names = list((card.get("labels") or {}).get("names", []))
    if not names:
        return None
    kinds = label_kinds(card)
    y = np.zeros((n, len(names)), np.float32)
    groups: dict[str, list[int]] = {}
    for j, (name, kind) in enumerate(zip(names, kinds)):
        if kind == "binary":
            y[:, j] = rng.integers(0, 2, n)
        elif kind == "onehot":
            groups.setdefault(name.split("=", 1)[0], []).append(j)
        else:
            y[:, j] = rng.random(n)
    for cols in groups.values():
        y[np.arange(n), np.asarray(cols)[rng.integers(0, len(cols), n)]] = 1.0
    return y


def _pooled(bundle, z: np.ndarray, y: np.ndarray | None, pool: int, batch: int = 128) -> np.ndarray:
    """The generator's faces for z (and y) in [-1, 1], average-pooled as the encoder's first
    layer pools them, float16 to halve the memory."""
    out = []
    for i in range(0, len(z), batch):
        x = to_model_input(generate_from_latents(bundle, z[i:i + batch],
                                                 None if y is None else y[i:i + batch]))
        if pool > 1:
            n, r = x.shape[0], x.shape[1]
            x = x.reshape(n, r // pool, pool, r // pool, pool, 3).mean(axis=(2, 4))
        out.append(x.astype(np.float16))
    return np.concatenate(out)


def fit_encoder(bundle, faces: int = DEFAULT_FACES, epochs: int = DEFAULT_EPOCHS, seed: int = 0,
                log: Callable[[str], None] = lambda m: None, write: bool = True,
                width: int = WIDTH):
    """Fit the encoder on `faces` generated faces for `epochs` epochs and (with `write`) store
    it in the bundle. Returns (encoder model, the card's `projection.encoder` section)."""
    import keras
    import tensorflow as tf

    if faces < 2 * BATCH:
        raise ValueError(f"faces must be at least {2 * BATCH}")
    if epochs < 1:
        raise ValueError("epochs must be at least 1")
    t0 = time.perf_counter()
    keras.utils.set_random_seed(int(seed))
    rng = np.random.default_rng([int(seed), 20])
    d, n_labels = bundle.latent_dim, len(bundle.label_names)
    encoder, core = build_encoder(bundle.resolution, d, n_labels, width=width)
    pool = bundle.resolution // int(core.inputs[0].shape[1])
    z = rng.standard_normal((faces, d)).astype(np.float32)
    y = random_labels(bundle.card, faces, rng)
    log(f"making {faces} faces with the generator...")
    x = _pooled(bundle, z, y, pool)
    made = time.perf_counter() - t0
    log(f"{faces} faces in {made:.0f} s; fitting the encoder ({epochs} epochs)...")
    n_val = max(BATCH, faces // 10)
    target = z if y is None else np.concatenate([z, y], axis=1)
    xs, ts, xv, tv = x[n_val:], target[n_val:], x[:n_val], target[:n_val]
    steps = epochs * math.ceil(len(xs) / BATCH)
    sched = keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps, alpha=0.05)
    opt = keras.optimizers.Adam(sched)

    @tf.function(reduce_retracing=True)
    def step(xb, tb):
        with tf.GradientTape() as tape:
            out = core(xb, training=True)
            loss = tf.reduce_mean(tf.square(out[:, :d] - tb[:, :d]))
            if n_labels:
                loss += tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
                    labels=tb[:, d:], logits=out[:, d:]))
        grads = tape.gradient(loss, core.trainable_variables)
        opt.apply_gradients(zip(grads, core.trainable_variables))
        return loss

    for epoch in range(epochs):
        order = rng.permutation(len(xs))
        losses = []
        for i in range(0, len(order) - BATCH + 1, BATCH):
            idx = order[i:i + BATCH]
            losses.append(float(step(tf.constant(xs[idx], tf.float32), tf.constant(ts[idx]))))
        log(f"epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.4f} "
            f"({time.perf_counter() - t0:.0f} s)")
    pred = np.concatenate([np.asarray(core(xv[i:i + 256].astype(np.float32), training=False))
                           for i in range(0, len(xv), 256)])
    resid = ((pred[:, :d] - tv[:, :d]) ** 2).mean()
    section = {"faces": int(faces), "epochs": int(epochs), "seed": int(seed), "width": int(width),
               "held_out": int(n_val), "z_r2": round(float(1 - resid / tv[:, :d].var()), 4),
               "seconds": round(time.perf_counter() - t0, 1)}
    if n_labels:
        right = (pred[:, d:] > 0) == (tv[:, d:] > 0.5)
        section["label_accuracy"] = round(float(right.mean()), 4)
    log(f"held-out faces: z R^2 {section['z_r2']:.3f}"
        + (f", labels right {section['label_accuracy']:.1%}" if n_labels else "")
        + f"; {section['seconds']:.0f} s in all")
    if write:
        write_encoder(bundle.path, encoder, section)
    return encoder, section
