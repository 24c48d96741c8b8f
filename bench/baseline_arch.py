"""The earlier demos' DCGAN architecture, described for measurement (not their training code).

Same layer shapes as the recipe in `../shared/bench/seed_recipe.py` (which is run, never copied):

    G: z (100) -> Dense 8x8x256, LeakyReLU(0.2) -> four Conv2DTranspose(k4, s2) of
       256, 128, 64, 32 channels, each with BatchNorm and LeakyReLU(0.2) -> Conv2D(3, k3), tanh
    D: 128x128x3 -> Conv2D(k4, s2) of 32, 64, 128, 256 channels, LeakyReLU(0.2), BatchNorm on
       all but the first -> Flatten -> Dropout(0.3) -> Dense(1)

One deliberate difference: D ends in a logit (no sigmoid layer); `bench/recipe_step.py` applies
the sigmoid inside the demos' loss, which is the same function.

`generator` / `discriminator` have the signature of `gan.models.build_generator` /
`build_discriminator`, so `DCGAN(cfg, build_g=generator, build_d=discriminator)` runs our
training step on this architecture: that measures our training machinery, not a smaller model.
"""
from __future__ import annotations

import keras
from keras import layers

from gan.config import TrainConfig

Z = 100
SIZE = 128


def config(**overrides) -> TrainConfig:
    """A TrainConfig whose shape fields match this architecture (z = 100, 128 px)."""
    cfg = TrainConfig(latent_dim=Z, resolution=SIZE)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg.validate()


def _check(cfg: TrainConfig, n_labels: int) -> None:
    if n_labels:
        raise ValueError("the baseline architecture is unconditional")
    if cfg.latent_dim != Z or cfg.resolution != SIZE:
        raise ValueError(f"the baseline architecture needs latent_dim={Z}, resolution={SIZE}")


def generator(cfg: TrainConfig, n_labels: int = 0, dtype: str | None = None) -> keras.Model:
    _check(cfg, n_labels)
    dtype = dtype or cfg.precision
    z = keras.Input((Z,), name="z")
    h = layers.Dense(8 * 8 * 256, dtype=dtype)(z)
    h = layers.LeakyReLU(0.2, dtype=dtype)(h)
    h = layers.Reshape((8, 8, 256), dtype=dtype)(h)
    for ch in (256, 128, 64, 32):
        h = layers.Conv2DTranspose(ch, 4, strides=2, padding="same", dtype=dtype)(h)
        h = layers.BatchNormalization(dtype=dtype)(h)
        h = layers.LeakyReLU(0.2, dtype=dtype)(h)
    h = layers.Conv2D(3, 3, padding="same", dtype=dtype)(h)
    out = layers.Activation("tanh", dtype="float32", name="image")(h)
    return keras.Model(z, out, name="baseline_generator")


def discriminator(cfg: TrainConfig, n_labels: int = 0, dtype: str | None = None) -> keras.Model:
    _check(cfg, n_labels)
    dtype = dtype or cfg.precision
    x = keras.Input((SIZE, SIZE, 3), name="image")
    h = x
    for i, ch in enumerate((32, 64, 128, 256)):
        h = layers.Conv2D(ch, 4, strides=2, padding="same", dtype=dtype)(h)
        if i:
            h = layers.BatchNormalization(dtype=dtype)(h)
        h = layers.LeakyReLU(0.2, dtype=dtype)(h)
    h = layers.Flatten(dtype=dtype)(h)
    h = layers.Dropout(0.3, dtype=dtype)(h)
    logit = layers.Dense(1, dtype="float32", name="logit")(h)
    return keras.Model(x, logit, name="baseline_discriminator")
