"""Projection: find the latent z (and label values) whose generated face is closest to a photo.

Latent optimisation with Adam on the bundle's generator, scheduled like StyleGAN2-ADA's
`projector.py` (the anchor of issue 20): start from the mean of the bundle's latent
distribution (z = 0, the mean of many z ~ N(0, I)), learning rate ramped up over the first 5 %
of steps and down by a cosine over the last 25 %, and Gaussian noise added to z that ramps down
to zero over the first 75 % of steps (it shakes the search out of the first basin it falls in).

Loss, on the face in [-1, 1] at the bundle's size:
  pixel L1 + (1 - MS-SSIM) (`gan.metrics.msssim`'s scales) + a perceptual proxy: the squared
  distance of the discriminator's `gan.models.FEATURES_LAYER` activations (its penultimate
  4x4 features), relative to the photo's. No downloaded perceptual network (LPIPS/VGG) exists
  here; the discriminator was trained on these faces, so its features are what it tells faces
  apart by.

A conditional bundle's labels are optimised too, each as sigmoid(logit) so they stay in
[0, 1] (one-hot groups are not forced to sum to 1). The face kept is the one of the lowest
loss seen, not the last one, since early noisy steps can be better than later ones only
by chance and the last step is not always the best.

When the bundle stores an encoder (`gan.encoder`, fitted by `python -m gan.project fit`), the
search starts from its guess of z and the labels instead of the mean latent, with the noise
scaled down by ENCODER_NOISE (full noise would throw most of the guess away in the first
steps); `Projection.start` says which start was used and, without the encoder, why.

Past the latent (`FeatureProjector`): at this model's size no latent holds an arbitrary
person (docs/projection.md: dlib called 8 of 194 held-out photos' latent projections the same
person), so a projection can be refined in the generator's 16x16 feature map (the "up16"
output, before its BatchNorm): a residual added to the map the latent makes, optimised on the
same loss plus a penalty on its energy relative to the map's (FEATURE_REG), FEATURE_STEPS steps
with the same learning-rate ramps. Edits keep the residual and move z or the labels
(`FeatureProjector.faces`). The settings were chosen on 25 held-out photos outside the 200
measured (16x16 against 8x8 and 32x32, penalty 0.1 to 10, 50 or 100 steps). The layers after
the map draw almost anything from it (stripes come out at MS-SSIM 0.98), so a refined
projection keeps the photo rather than what the generator knows of faces.

No Streamlit and no CLI here: `gan.project` is the command line, pages/project.py the page.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from gan.data.preprocess import to_model_input, to_uint8
from gan.metrics.msssim import FILTER_SIZE, power_factors
from gan.models import FEATURES_LAYER

DEFAULT_STEPS = 250
INITIAL_LR = 0.1
LR_RAMPUP = 0.05          # fraction of steps, StyleGAN2-ADA's lr_rampup_length
LR_RAMPDOWN = 0.25        # fraction of steps, its lr_rampdown_length
NOISE_FACTOR = 0.05       # its initial_noise_factor (times the latents' spread)
NOISE_RAMP = 0.75         # its noise_ramp_length
ENCODER_NOISE = 0.25      # the noise's scale when starting from the encoder's guess
WEIGHTS = {"pixel": 1.0, "ms_ssim": 1.0, "features": 0.5}
CALLBACK_EVERY = 10


@dataclass
class Projection:
    """A photo's projection: `z` [latent_dim], `labels` [n_labels] or None, the face (uint8
    [R, R, 3]), the loss terms per step, the final terms and the wall time."""
    z: np.ndarray
    labels: np.ndarray | None
    image: np.ndarray
    history: list[dict] = field(repr=False)
    losses: dict
    steps: int
    seconds: float
    start: str = "mean"               # "encoder": from its guess; "mean": from z = 0
    start_note: str | None = None     # why not from the encoder, when it was not


def learning_rate(t: float, initial: float = INITIAL_LR) -> float:
    """StyleGAN2-ADA's schedule at t = step / steps in [0, 1]."""
    ramp = min(1.0, (1.0 - t) / LR_RAMPDOWN)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp *= min(1.0, t / LR_RAMPUP)
    return initial * ramp


def noise_scale(t: float, spread: float) -> float:
    """Std of the noise added to z at t: `spread` x NOISE_FACTOR, falling to 0 at NOISE_RAMP."""
    return spread * NOISE_FACTOR * max(0.0, 1.0 - t / NOISE_RAMP) ** 2


def feature_model(bundle):
    """The discriminator up to FEATURES_LAYER, image in only (the labels enter after it)."""
    import keras

    d = bundle.discriminator
    return keras.Model(d.inputs[0], d.get_layer(FEATURES_LAYER).output, name="d_features")


class Projector:
    """The compiled losses and step for one bundle; reuse it for several photos (the first
    call traces the graph, later ones run at once). `use_encoder=False` ignores a stored
    encoder (to compare with it); `start_note` then says so."""

    def __init__(self, bundle, use_encoder: bool = True):
        import tensorflow as tf

        from gan.encoder import load_encoder

        self.bundle = bundle
        if use_encoder:
            self.encoder, self.start_note = load_encoder(bundle)
        else:
            self.encoder, self.start_note = None, "the encoder was turned off"
        self.features = feature_model(bundle)
        self.conditional = bundle.conditional
        size = bundle.resolution
        self.factors = power_factors(size)
        self.filter_size = min(FILTER_SIZE, size)
        self.z = tf.Variable(tf.zeros((1, bundle.latent_dim)), name="z")
        self.logits = tf.Variable(tf.zeros((1, max(1, len(bundle.label_names)))), name="label_logits")
        self.variables = [self.z, self.logits] if self.conditional else [self.z]
        self.opt = tf.keras.optimizers.Adam(learning_rate=INITIAL_LR, beta_1=0.9, beta_2=0.999)
        self.opt.build(self.variables)
        self._step = tf.function(self._step_impl, reduce_retracing=True)

    def _face(self, z):
        import tensorflow as tf

        if self.conditional:
            return self.bundle.generator([z, tf.sigmoid(self.logits)], training=False)
        return self.bundle.generator(z, training=False)

    def _losses(self, x, target, target_feat):
        import tensorflow as tf

        pixel = tf.reduce_mean(tf.abs(x - target))
        ms = self._ms_ssim((x + 1.0) / 2.0, (target + 1.0) / 2.0)
        f = self.features(x, training=False)
        feat = (tf.reduce_mean(tf.square(f - target_feat))
                / (tf.reduce_mean(tf.square(target_feat)) + 1e-8))
        total = (WEIGHTS["pixel"] * pixel + WEIGHTS["ms_ssim"] * (1.0 - ms)
                 + WEIGHTS["features"] * feat)
        return total, pixel, ms, feat

    def _ms_ssim(self, x, y):
        """MS-SSIM as `tf.image.ssim_multiscale` computes it (Gaussian 11 px, sigma 1.5, VALID,
        per channel, then averaged), but with each scale's term floored at 1e-6: TF's version
        raises a term of 0 to a power below 1, whose gradient is NaN, and that NaN wiped out
        the whole step for faces far from the photo (the start of most projections)."""
        import tensorflow as tf

        fs, sigma = self.filter_size, 1.5
        g = np.exp(-0.5 * ((np.arange(fs) - (fs - 1) / 2) / sigma) ** 2)
        g = (g / g.sum()).astype("float32")
        kernel = tf.constant(np.tile(np.outer(g, g)[:, :, None, None], (1, 1, 3, 1)))
        blur = lambda a: tf.nn.depthwise_conv2d(a, kernel, [1, 1, 1, 1], "VALID")  # noqa: E731
        c1, c2 = 0.01 ** 2, 0.03 ** 2
        total = 1.0
        for i, w in enumerate(self.factors):
            if i:
                x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
                y = tf.nn.avg_pool2d(y, 2, 2, "VALID")
            mx, my = blur(x), blur(y)
            vx, vy = blur(x * x) - mx * mx, blur(y * y) - my * my
            cov = blur(x * y) - mx * my
            cs = (2.0 * cov + c2) / (vx + vy + c2)
            if i == len(self.factors) - 1:
                cs = cs * (2.0 * mx * my + c1) / (mx * mx + my * my + c1)
            term = tf.maximum(tf.reduce_mean(cs, axis=[1, 2]), 1e-6)    # [1, 3]
            total = total * term ** w
        return tf.reduce_mean(total)

    def _step_impl(self, target, target_feat, noise, lr):
        import tensorflow as tf

        self.opt.learning_rate.assign(lr)
        with tf.GradientTape() as tape:
            x = self._face(self.z + noise)
            total, pixel, ms, feat = self._losses(x, target, target_feat)
        grads = tape.gradient(total, self.variables)
        # a non-finite entry (should not happen with the floored MS-SSIM) must not poison z
        grads = [tf.where(tf.math.is_finite(g), g, tf.zeros_like(g)) for g in grads]
        self.opt.apply_gradients(zip(grads, self.variables))
        return x, total, pixel, ms, feat

    def project(self, face_uint8: np.ndarray, steps: int = DEFAULT_STEPS, seed: int = 0,
                callback: Callable[[int, np.ndarray], None] | None = None,
                callback_every: int = CALLBACK_EVERY) -> Projection:
        import tensorflow as tf

        b = self.bundle
        face = np.asarray(face_uint8)
        if face.shape != (b.resolution, b.resolution, 3) or face.dtype != np.uint8:
            raise ValueError(f"the face must be uint8 {b.resolution}x{b.resolution}x3 (as "
                             f"prepare_image makes it at the bundle's size), not "
                             f"{face.dtype} {face.shape}")
        steps = int(steps)
        if steps < 1:
            raise ValueError("steps must be at least 1")
        t0 = time.perf_counter()
        rng = np.random.default_rng(int(seed))
        # the spread of z ~ N(0, I) about its mean, StyleGAN2-ADA's w_std: sqrt(latent_dim)
        spread = math.sqrt(b.latent_dim)
        target = tf.constant(to_model_input(face)[None])
        target_feat = self.features(target, training=False)
        noise_factor = 1.0
        if self.encoder is not None:
            z0, logits0 = self.encoder.guess(target.numpy())
            self.z.assign(z0)
            # kept off the flat ends of the sigmoid, where a label could no longer move
            self.logits.assign(np.clip(logits0, -4.0, 4.0) if logits0 is not None
                               else np.zeros(self.logits.shape, np.float32))
            noise_factor = ENCODER_NOISE
        else:
            self.z.assign(tf.zeros_like(self.z))
            self.logits.assign(tf.zeros_like(self.logits))
        for v in self.opt.variables:
            v.assign(tf.zeros_like(v))
        history: list[dict] = []
        best = (math.inf, None, None, None, None)
        for step in range(steps):
            t = step / steps
            noise = (rng.standard_normal((1, b.latent_dim)).astype("float32")
                     * noise_scale(t, spread) * noise_factor)
            # the values before this step's update are the ones its face was made from
            z_now = (self.z.numpy() + noise)[0]
            y_now = tf.sigmoid(self.logits).numpy()[0] if self.conditional else None
            x, total, pixel, ms, feat = self._step(target, target_feat, tf.constant(noise),
                                                   tf.constant(learning_rate(t), tf.float32))
            row = {"step": step, "total": float(total), "pixel": float(pixel),
                   "ms_ssim": float(ms), "features": float(feat)}
            history.append(row)
            if math.isfinite(row["total"]) and row["total"] < best[0]:
                best = (row["total"], z_now, y_now, x, row)
            if callback is not None and best[3] is not None and (
                    (step + 1) % callback_every == 0 or step == steps - 1):
                callback(step + 1, to_uint8(best[3].numpy())[0])
        # the final latent without noise, scored once more: keep it when it is the best
        x = self._face(self.z)
        total, pixel, ms, feat = self._losses(x, target, target_feat)
        final = {"step": steps, "total": float(total), "pixel": float(pixel),
                 "ms_ssim": float(ms), "features": float(feat)}
        history.append(final)
        if not math.isfinite(best[0]) or final["total"] <= best[0]:
            y = tf.sigmoid(self.logits).numpy()[0] if self.conditional else None
            best = (final["total"], self.z.numpy()[0], y, x, final)
        _, z, y, x, row = best
        losses = {k: row[k] for k in ("total", "pixel", "ms_ssim", "features")}
        losses["best_step"] = row["step"]
        return Projection(z=np.asarray(z, np.float32),
                          labels=None if y is None else np.asarray(y, np.float32),
                          image=to_uint8(x.numpy())[0], history=history, losses=losses,
                          steps=steps, seconds=time.perf_counter() - t0,
                          start="encoder" if self.encoder is not None else "mean",
                          start_note=self.start_note)


def project(bundle, face_uint8: np.ndarray, steps: int = DEFAULT_STEPS, seed: int = 0,
            callback: Callable[[int, np.ndarray], None] | None = None,
            projector: Projector | None = None) -> Projection:
    """Project one face (uint8 [R, R, 3] from `prepare_image` at the bundle's size and crop).
    `callback(step, best_image)` is called every CALLBACK_EVERY steps and at the end. Pass a
    `Projector` of the bundle to reuse its compiled step across photos."""
    projector = projector if projector is not None else Projector(bundle)
    return projector.project(face_uint8, steps=steps, seed=seed, callback=callback)


# ---- beyond the latent: a projection into an intermediate feature map ----

FEATURE_RES = 16            # the feature map refined: the generator's "up16" output (pre-BN)
FEATURE_STEPS = 100
FEATURE_LR = 0.05           # Adam's step, in units of the map's own spread
FEATURE_REG = 1.0           # weight of mean(delta^2) / mean(h0^2): keeps the map near G's


@dataclass
class FeatureProjection:
    """A projection refined in the generator's feature map `layer`: the face is
    tail(head(z, labels) + delta). `latent` is the latent projection it started from."""
    z: np.ndarray
    labels: np.ndarray | None
    delta: np.ndarray                 # [r, r, c] added to head(z, labels)
    layer: str
    image: np.ndarray
    losses: dict
    steps: int
    seconds: float
    latent: Projection


def split_generator(generator, layer: str):
    """(head, tail): head maps the generator's inputs to `layer`'s output, tail maps that to
    the face. The layers after `layer` must form a chain (as `gan.models.build_generator`
    makes them); checked on one random latent, ValueError otherwise."""
    import keras

    names = [lay.name for lay in generator.layers]
    if layer not in names:
        raise ValueError(f"this generator has no layer {layer!r}")
    head = keras.Model(generator.inputs, generator.get_layer(layer).output, name="head")
    x_in = keras.Input(tuple(head.outputs[0].shape[1:]), name="feature_map")
    h = x_in
    for lay in generator.layers[names.index(layer) + 1:]:
        h = lay(h)
    tail = keras.Model(x_in, h, name="tail")
    rng = np.random.default_rng(0)
    ins = [rng.standard_normal((1, int(t.shape[-1]))).astype(np.float32)
           for t in generator.inputs]
    ins = ins if len(ins) > 1 else ins[0]
    if not np.allclose(np.asarray(tail(head(ins, training=False), training=False)),
                       np.asarray(generator(ins, training=False)), atol=1e-3):
        raise ValueError(f"the generator's layers after {layer!r} are not a chain")
    return head, tail


class FeatureProjector:
    """Refine a latent projection in the generator's `res` x `res` feature map: optimise a
    residual `delta` added to head(z, labels), with the projection's loss plus FEATURE_REG
    times delta's energy relative to the map's (without it the map drifts off what the
    generator's later layers were trained on). Edits (`faces`) keep delta and change z or
    the labels: the face a slider makes plus the photo's residual."""

    def __init__(self, projector: Projector, res: int = FEATURE_RES,
                 reg: float = FEATURE_REG, lr: float = FEATURE_LR):
        import tensorflow as tf

        self.projector = projector
        self.bundle = projector.bundle
        self.layer = f"up{int(res)}"
        self.head, self.tail = split_generator(self.bundle.generator, self.layer)
        self.reg, self.lr = float(reg), float(lr)
        shape = tuple(int(s) for s in self.head.outputs[0].shape[1:])
        self.delta = tf.Variable(tf.zeros((1, *shape)), name="delta")
        self.opt = tf.keras.optimizers.Adam(learning_rate=self.lr, beta_1=0.9, beta_2=0.999)
        self.opt.build([self.delta])
        self._step = tf.function(self._step_impl, reduce_retracing=True)

    def _head(self, z, y):
        if self.bundle.conditional:
            return self.head([z, y], training=False)
        return self.head(z, training=False)

    def _step_impl(self, h0, scale, target, target_feat, lr):
        import tensorflow as tf

        self.opt.learning_rate.assign(lr)
        with tf.GradientTape() as tape:
            x = self.tail(h0 + self.delta, training=False)
            total, pixel, ms, feat = self.projector._losses(x, target, target_feat)
            reg = tf.reduce_mean(tf.square(self.delta)) / scale
            total = total + self.reg * reg
        g = tape.gradient(total, [self.delta])[0]
        g = tf.where(tf.math.is_finite(g), g, tf.zeros_like(g))
        self.opt.apply_gradients([(g, self.delta)])
        return x, total, pixel, ms, feat, reg

    def project(self, face_uint8: np.ndarray, latent: Projection, steps: int = FEATURE_STEPS,
                callback: Callable[[int, np.ndarray], None] | None = None,
                callback_every: int = CALLBACK_EVERY) -> FeatureProjection:
        """Refine `latent` (the photo's latent projection) for `steps` steps."""
        import tensorflow as tf

        t0 = time.perf_counter()
        target = tf.constant(to_model_input(np.asarray(face_uint8))[None])
        target_feat = self.projector.features(target, training=False)
        y = None if latent.labels is None else tf.constant(latent.labels[None])
        h0 = self._head(tf.constant(latent.z[None]), y)
        scale = tf.reduce_mean(tf.square(h0)) + 1e-8
        spread = float(tf.math.reduce_std(h0))
        self.delta.assign(tf.zeros_like(self.delta))
        for v in self.opt.variables:
            v.assign(tf.zeros_like(v))
        best = (math.inf, None, None, None)
        for step in range(int(steps)):
            t = step / max(1, int(steps))
            lr = learning_rate(t, self.lr * spread)
            d_now = self.delta.numpy()[0]
            x, total, pixel, ms, feat, reg = self._step(h0, scale, target, target_feat,
                                                        tf.constant(lr, tf.float32))
            row = {"step": step, "total": float(total), "pixel": float(pixel),
                   "ms_ssim": float(ms), "features": float(feat), "regulariser": float(reg)}
            if math.isfinite(row["total"]) and row["total"] < best[0]:
                best = (row["total"], d_now, x, row)
            if callback is not None and best[2] is not None and (
                    (step + 1) % callback_every == 0 or step == steps - 1):
                callback(step + 1, to_uint8(best[2].numpy())[0])
        _, delta, x, row = best
        losses = {k: row[k] for k in ("total", "pixel", "ms_ssim", "features", "regulariser")}
        losses["best_step"] = row["step"]
        return FeatureProjection(z=latent.z, labels=latent.labels,
                                 delta=np.asarray(delta, np.float32), layer=self.layer,
                                 image=to_uint8(x.numpy())[0], losses=losses, steps=int(steps),
                                 seconds=time.perf_counter() - t0, latent=latent)

    def faces(self, z: np.ndarray, labels: np.ndarray | None, delta: np.ndarray,
              delta_scale: float | np.ndarray = 1.0) -> np.ndarray:
        """uint8 faces [n, R, R, 3] of tail(head(z, labels) + delta_scale * delta) for z [n,
        latent_dim] (and labels [n, K]): the projection edited by moving z or the labels."""
        import tensorflow as tf

        z = np.asarray(z, np.float32).reshape(-1, self.bundle.latent_dim)
        y = None if labels is None else tf.constant(np.asarray(labels, np.float32).reshape(len(z), -1))
        s = np.broadcast_to(np.asarray(delta_scale, np.float32).reshape(-1, 1, 1, 1),
                            (len(z), 1, 1, 1))
        h = self._head(tf.constant(z), y) + tf.constant(s) * tf.constant(delta[None])
        return to_uint8(np.asarray(self.tail(h, training=False)))
