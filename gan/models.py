"""The DCGAN generator and discriminator (Keras 3, standard layers only).

Only built-in layers are used so that bundles load with `safe_mode=True` and no custom objects.
Widths halve as resolution doubles (`g_channels` / `d_channels` at the high-resolution end,
capped by `*_max_channels` at the low-resolution end), because on a CPU the cost of a DCGAN sits
in its highest-resolution layers.

Self-attention (optional, `attention_res`): one block in each network at that resolution (SAGAN,
Zhang et al. 2019), its output added through a projection that starts at zero, so a network
without it can be grown into one that first computes the same thing.

Conditioning (optional): the generator takes a label vector beside z, embedded by a Dense layer
and concatenated; the discriminator adds a projection term <embed(y), features> to its logit
(Miyato & Koyama 2018).
"""
from __future__ import annotations

import math

import keras
from keras import layers

from gan.config import TrainConfig, concrete_precision

FEATURES_LAYER = "features"   # the discriminator's penultimate activations (used by detectors)


def _extra_convs(cfg: TrainConfig, res: int) -> int:
    """Extra 3x3 convs in the block at `res`: depth can be kept to the low resolutions, where
    a face's layout forms and a conv costs little (channels are many, pixels few)."""
    return cfg.extra_convs if not cfg.extra_convs_max_res or res <= cfg.extra_convs_max_res else 0


def _attention(h, res: int, dtype: str):
    """h + W·attention(h) over the res x res positions; W starts at zero (SAGAN's gamma = 0),
    so the block passes h through unchanged until training gives it a use."""
    c = h.shape[-1]
    a = layers.MultiHeadAttention(num_heads=1, key_dim=max(8, c // 8), value_dim=max(8, c // 2),
                                  attention_axes=(1, 2), name=f"attn{res}", dtype=dtype)(h, h)
    a = layers.Dense(c, use_bias=False, kernel_initializer="zeros", name=f"attn{res}_out",
                     dtype=dtype)(a)
    return layers.Add(name=f"attn{res}_add", dtype=dtype)([h, a])


def _channels(res: int, out_res: int, base: int, cap: int) -> int:
    return int(min(cap, base * max(1, out_res // res)))


def build_generator(cfg: TrainConfig, n_labels: int = 0, dtype: str | None = None) -> keras.Model:
    """z (and labels) -> 4x4 -> Conv2DTranspose(k4, s2) stack -> resolution^2 x 3 in [-1, 1]."""
    dtype = dtype or concrete_precision(cfg.precision)
    R = cfg.resolution
    ch = lambda r: _channels(r, R, cfg.g_channels, cfg.g_max_channels)  # noqa: E731
    z = keras.Input((cfg.latent_dim,), name="z")
    inputs, h = [z], z
    if n_labels:
        y = keras.Input((n_labels,), name="labels")
        inputs.append(y)
        e = layers.Dense(cfg.label_embed_dim, name="label_embed", dtype=dtype)(y)
        h = layers.Concatenate(name="z_and_labels", dtype=dtype)([z, e])
    h = layers.Dense(4 * 4 * ch(4), use_bias=False, name="project", dtype=dtype)(h)
    h = layers.Reshape((4, 4, ch(4)), dtype=dtype)(h)
    h = layers.BatchNormalization(name="project_bn", dtype=dtype)(h)
    h = layers.ReLU(dtype=dtype)(h)
    for i in range(int(math.log2(R)) - 2):
        res = 8 * 2**i
        h = layers.Conv2DTranspose(ch(res), 4, strides=2, padding="same", use_bias=False,
                                   name=f"up{res}", dtype=dtype)(h)
        h = layers.BatchNormalization(name=f"up{res}_bn", dtype=dtype)(h)
        h = layers.ReLU(dtype=dtype)(h)
        for j in range(_extra_convs(cfg, res)):
            h = layers.Conv2D(ch(res), 3, padding="same", use_bias=False,
                              name=f"conv{res}_{j}", dtype=dtype)(h)
            h = layers.BatchNormalization(name=f"conv{res}_{j}_bn", dtype=dtype)(h)
            h = layers.ReLU(dtype=dtype)(h)
        if res == cfg.attention_res:
            h = _attention(h, res, dtype)
    h = layers.Conv2D(3, 3, padding="same", name="to_rgb", dtype=dtype)(h)
    out = layers.Activation("tanh", dtype="float32", name="image")(h)
    return keras.Model(inputs if n_labels else z, out, name="generator")


def build_discriminator(cfg: TrainConfig, n_labels: int = 0, dtype: str | None = None) -> keras.Model:
    """image (and labels) -> strided Conv2D stack down to 4x4 -> dropout -> one logit (high = real).

    `d_norm="none"` (default): a plain conv stack, kept from overpowering the generator by the
    R1 penalty (`r1_gamma`, on by default). Without R1 such a D collapsed G to one face within
    500 steps at 128 px. `d_norm="batch"` (keras-io's gan_ada.py): BatchNorm without scale
    after every conv but the first, run in training mode on separate all-real and all-fake
    batches; it also avoids that collapse, but normalising each all-fake batch by its own
    statistics hides how alike the fakes are, and its generators drew one face template
    under varying hair and background (docs/metrics.md compares the two)."""
    dtype = dtype or concrete_precision(cfg.precision)
    R = cfg.resolution
    ch = lambda r: _channels(r, R // 2, cfg.d_channels, cfg.d_max_channels)  # noqa: E731
    x = keras.Input((R, R, 3), name="image")
    h, res = x, R
    while res > 4:
        res //= 2
        norm = cfg.d_norm == "batch" and res < R // 2
        h = layers.Conv2D(ch(res), 4, strides=2, padding="same", use_bias=not norm,
                          name=f"down{res}", dtype=dtype)(h)
        if norm:
            h = layers.BatchNormalization(scale=False, name=f"down{res}_bn", dtype=dtype)(h)
        h = layers.LeakyReLU(0.2, dtype=dtype)(h)
        for j in range(_extra_convs(cfg, res)):
            h = layers.Conv2D(ch(res), 3, padding="same", name=f"conv{res}_{j}", dtype=dtype)(h)
            h = layers.LeakyReLU(0.2, dtype=dtype)(h)
        if res == cfg.attention_res:
            h = _attention(h, res, dtype)
    features = layers.Flatten(name=FEATURES_LAYER, dtype=dtype)(h)
    dropped = layers.Dropout(cfg.d_dropout, name="dropout", dtype=dtype)(features) \
        if cfg.d_dropout > 0 else features
    logit = layers.Dense(1, name="logit", dtype="float32")(dropped)
    if not n_labels:
        return keras.Model(x, logit, name="discriminator")
    y = keras.Input((n_labels,), name="labels")
    e = layers.Dense(features.shape[-1], use_bias=False, name="label_projection", dtype="float32")(y)
    f32 = layers.Activation("linear", dtype="float32", name="features_f32")(dropped)
    proj = layers.Dot(axes=1, name="projection", dtype="float32")([f32, e])
    logit = layers.Add(name="logit_projected", dtype="float32")([logit, proj])
    return keras.Model([x, y], logit, name="discriminator")
