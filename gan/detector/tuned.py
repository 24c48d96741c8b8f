"""The GAN's discriminator, trained on as a judge of its finished generator's faces.

When GAN training stops, the discriminator is in balance with a generator that kept changing
under it: it is not the best judge of the finished generator. Trained on for a few hundred
steps against the frozen (EMA) generator, on the photos the GAN was trained on, it tells this
model's faces from photos far better (docs/detector.md has the figures). Two things make it
see what an upload gives it:

- every generated face is framed the way an uploaded file of it is framed: through the
  bundle's own face crop (`gan.data.preprocess.preprocess_image`), as `discriminator_views`
  frames an upload (trained on the generator's raw output instead, a scratch run missed about
  8% of this model's faces at a 5% false-alarm threshold, against about 2% framed);
- generated faces and photos alike go through the fit-time changes every detector here is
  fitted with (`gan.detector.variants.fit_variant`: size, blur, colour, JPEG), so a re-saved
  photo is not called generated for being re-saved.

The labels of a conditional discriminator are left out: an upload has none. Stored as
`detection/discriminator_tuned.npz` (weights, `kerasmodels.to_bytes`) by `python -m gan.detector fit` (`--tune-steps`); the
discriminator detector reads it instead of the raw discriminator when the card lists it, and
its figures are measured leave-one-source-out like every other detector's. Fit time only
trains it; scoring needs Keras alone.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from gan.detector import kerasmodels, variants

FILE = "detection/discriminator_tuned.npz"
LEGACY_FILE = "detection/discriminator_tuned.keras"   # bundles fitted before weights-only storage
KEY = "discriminator_tuned"
STEPS = 1500
LEARNING_RATE = 5e-5
BATCH = 32
TRUNCATION = (0.5, 1.0)     # the generated faces span the app's truncation slider
P_CHANGED = 0.8             # share of training faces given a fit-time change
FIX = "Refit it: `python -m gan.detector fit --model {model} --sources SOURCES.json`."


class TuneError(ValueError):
    """Training on cannot start (no photos); the message says what to give."""


def image_model(discriminator):
    """A copy of the discriminator as image -> logit (high = real), without its labels."""
    import keras

    d, x, features = kerasmodels.image_features(discriminator)
    dropout = d.get_layer("dropout") if "dropout" in [layer.name for layer in d.layers] else None
    h = dropout(features) if dropout is not None else features
    return keras.Model(x, d.get_layer("logit")(h), name="discriminator_tuned")


def _changed(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A face [R, R, 3] uint8 after one fit-time change, back at its size."""
    side = img.shape[0]
    out, _ = variants.fit_variant(Image.fromarray(img), float(side), rng)
    return np.asarray(out.convert("RGB").resize((side, side), Image.Resampling.LANCZOS), np.uint8)


@dataclasses.dataclass
class Faces:
    """Generated faces as an upload of them is framed."""
    bundle: object
    rng: np.random.Generator

    def draw(self, n: int) -> np.ndarray:
        from gan.data.preprocess import preprocess_image, to_uint8

        b = self.bundle
        z = self.rng.standard_normal((n, b.latent_dim)).astype(np.float32)
        z *= self.rng.uniform(*TRUNCATION, (n, 1)).astype(np.float32)
        inputs = [z]
        if b.conditional:
            inputs.append(self.rng.integers(0, 2, (n, len(b.label_names))).astype(np.float32))
        raw = b.generator(inputs if len(inputs) > 1 else z, training=False)
        faces = to_uint8(raw)           # the library's one pixel conversion
        return np.stack([preprocess_image(Image.fromarray(f), b.resolution, crop=b.crop).image
                         for f in faces])


def train(bundle, photos: np.ndarray, steps: int = STEPS, seed: int = 0, batch: int = BATCH,
          learning_rate: float = LEARNING_RATE, log=lambda m: None, progress=None):
    """The discriminator of `bundle` trained on for `steps` against its frozen generator, on
    `photos` [n, R, R, 3] uint8 (the photos it was trained on, framed by the bundle's crop);
    mid-way state kept at `progress` (`kerasmodels.resumable_steps`)."""
    import keras

    if len(photos) < 2:
        raise TuneError(f"training the discriminator on needs real photos; got {len(photos)}")
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = kerasmodels.trainable(image_model(bundle.discriminator))
    train_step = kerasmodels.train_step(model, learning_rate)
    fakes = Faces(bundle, rng)
    half = max(1, batch // 2)
    is_real = np.r_[np.ones(half), np.zeros(half)].astype(np.float32)[:, None]

    for step in kerasmodels.resumable_steps(steps, train_step, rng, progress, log):
        faces = np.concatenate([photos[rng.integers(len(photos), size=half)], fakes.draw(half)])
        faces = np.stack([_changed(f, rng) if rng.random() < P_CHANGED else f for f in faces])
        value = train_step(faces, is_real, rng)
        if step % 50 == 0 or step == steps:
            log(f"training the discriminator on: step {step}/{steps}, loss {value:.3f}")
    return model


def scores(model, images_uint8: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Raw scores [n] of prepared faces (minus the logit: higher = generated), as
    `gan.detector.stored.discriminator_scores` gives the raw discriminator's."""
    return -kerasmodels.logits(model, images_uint8, batch_size)


def settings(card: dict) -> dict | None:
    s = (card.get("detector") or {}).get(KEY)
    return s if isinstance(s, dict) and s.get("file") else None


def load(bundle):
    """The bundle's trained-on discriminator, checked against the card; None when the card
    lists none. Raises DetectorError saying what is wrong with a listed one."""
    s = settings(bundle.card)
    if s is None:
        return None
    return kerasmodels.load(bundle, s["file"], "trained-on discriminator", FIX.format(model=bundle.path),
                            image_model)
