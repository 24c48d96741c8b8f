"""Channels-last (NHWC, Keras's default, what gan/models.py builds) against channels-first (NCHW)
for our networks' convolution stacks on this CPU: the "channels-last layouts" lever of issue 5.

    python bench/layout_speed.py [--rounds 3] [--seconds 10]

The real models hard-code NHWC (input shapes, reshape, DiffAugment, the data pipeline), so this
builds the same conv stacks as `gan.models` for the default config (G: Dense -> 4x4 ->
Conv2DTranspose k4 s2 + BatchNorm + ReLU up to 128 px -> to_rgb; D: Conv2D k4 s2 + LeakyReLU
down to 4x4 -> logit) with an explicit `data_format`, and times one forward and backward pass
of G and D on a batch of 32, in float32 and in mixed bfloat16, alternating the layouts in one
process so both see the same load. Prints img/s per layout and the ratio.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build(fmt: str, dtype: str, cfg):
    import keras
    from keras import layers

    from gan.models import _channels

    R = cfg.resolution
    axis = 1 if fmt == "channels_first" else -1
    gch = lambda r: _channels(r, R, cfg.g_channels, cfg.g_max_channels)  # noqa: E731
    dch = lambda r: _channels(r, R // 2, cfg.d_channels, cfg.d_max_channels)  # noqa: E731

    z = keras.Input((cfg.latent_dim,))
    h = layers.Dense(16 * gch(4), use_bias=False, dtype=dtype)(z)
    h = layers.Reshape((gch(4), 4, 4) if axis == 1 else (4, 4, gch(4)), dtype=dtype)(h)
    h = layers.ReLU(dtype=dtype)(layers.BatchNormalization(axis=axis, dtype=dtype)(h))
    for i in range(int(math.log2(R)) - 2):
        h = layers.Conv2DTranspose(gch(8 * 2**i), 4, strides=2, padding="same", use_bias=False,
                                   data_format=fmt, dtype=dtype)(h)
        h = layers.ReLU(dtype=dtype)(layers.BatchNormalization(axis=axis, dtype=dtype)(h))
    h = layers.Conv2D(3, 3, padding="same", data_format=fmt, dtype=dtype)(h)
    g = keras.Model(z, layers.Activation("tanh", dtype="float32")(h))

    x = keras.Input((3, R, R) if axis == 1 else (R, R, 3))
    h, res = x, R
    while res > 4:
        res //= 2
        h = layers.Conv2D(dch(res), 4, strides=2, padding="same", data_format=fmt, dtype=dtype)(h)
        h = layers.LeakyReLU(0.2, dtype=dtype)(h)
    d = keras.Model(x, layers.Dense(1, dtype="float32")(layers.Flatten(dtype=dtype)(h)))
    return g, d


def make_step(g, d, batch: int, latent: int):
    import tensorflow as tf

    variables = g.trainable_variables + d.trainable_variables

    @tf.function
    def step():
        z = tf.random.normal((batch, latent))
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.softplus(-d(g(z, training=True), training=True)))
        return tape.gradient(loss, variables)

    return step


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0, help="timed seconds per block")
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args(argv)

    import tensorflow as tf

    from gan.config import TrainConfig

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(2)
    cfg = TrainConfig()
    candidates = {}
    for dtype in ("float32", "mixed_bfloat16"):
        for fmt in ("channels_last", "channels_first"):
            try:
                step = make_step(*build(fmt, dtype, cfg), args.batch, cfg.latent_dim)
                for _ in range(3):                       # trace and warm up
                    step()
                candidates[(dtype, fmt)] = step
            except Exception as e:  # noqa: BLE001 - a layout the CPU kernels lack is a result
                print(f"{dtype:15s} {fmt:15s} does not run here: {type(e).__name__}: "
                      f"{str(e).splitlines()[0][:160]}")
    rates = {k: [] for k in candidates}
    for r in range(args.rounds):
        order = list(candidates) if r % 2 == 0 else list(reversed(candidates))
        for k in order:
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < args.seconds:
                candidates[k]()
                n += 1
            rates[k].append(n * args.batch / (time.perf_counter() - t0))
            print(f"  round {r + 1}/{args.rounds}  {k[0]:15s} {k[1]:15s} {rates[k][-1]:7.1f} img/s")
    print("\n=== one G+D forward and backward, batch %d (median img/s) ===" % args.batch)
    for dtype in ("float32", "mixed_bfloat16"):
        last, first = rates.get((dtype, "channels_last")), rates.get((dtype, "channels_first"))
        if last and first:
            ratios = [a / b for a, b in zip(first, last)]
            print(f"{dtype:15s} channels_last {statistics.median(last):7.1f}   channels_first "
                  f"{statistics.median(first):7.1f}   first/last {statistics.median(ratios):.2f}x "
                  f"[{min(ratios):.2f}-{max(ratios):.2f}]")


if __name__ == "__main__":
    main()
