"""The detectors that are Keras models: their training step and their file in a bundle.

The trained-on discriminator (`tuned`) and the learned detector (`learned`) are both the
discriminator's layers trained as a two-class classifier, stored in `detection/` as .keras
files. Both start from `image_features`, train with `train_step`, store with `to_bytes` and
load with `load`, so a damaged or missing file gives
the same one-line DetectorError (what is wrong and how to refit) and costs that detector only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gan.bundle import BundleError, load_model, save_model, verify_files
from gan.detector.forensic import DetectorError


def image_features(discriminator):
    """(a copy of the discriminator, an image input, the copy's "features" of it): the start
    of both detectors, without a conditional discriminator's labels (an upload has none)."""
    import keras

    d = keras.models.clone_model(discriminator)
    d.set_weights(discriminator.get_weights())
    x = keras.Input(d.inputs[0].shape[1:], name="image")
    return d, x, keras.Model(d.inputs[0], d.get_layer("features").output)(x)


def to_bytes(model) -> bytes:
    """The model as a bundle stores it (.keras, float16 weights: `gan.bundle.save_model`)."""
    return as_stored(model)[0]


def as_stored(model):
    """(bytes, model): the model as a bundle stores it, and read back from those bytes, so a
    fit calibrates and measures the weights that ship, not their unrounded originals."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        save_model(model, path)
        return path.read_bytes(), load_model(path)


def train_step(model, learning_rate: float):
    """The training step: (faces [n, R, R, 3] uint8, targets [n, 1], rng) -> loss; half the
    faces mirrored, then one Adam step (beta_1 0.5) of binary cross-entropy on the logits."""
    import keras
    import tensorflow as tf

    from gan.data.preprocess import to_model_input

    optimizer = keras.optimizers.Adam(learning_rate, beta_1=0.5)
    loss = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def step(images, targets):
        with tf.GradientTape() as tape:
            value = loss(targets, model(images, training=True))
        grads = tape.gradient(value, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        return value

    def run(faces, targets, rng) -> float:
        faces = np.array(faces, np.uint8)
        flip = rng.random(len(faces)) < 0.5
        faces[flip] = faces[flip, :, ::-1]
        return float(step(to_model_input(faces), targets))

    return run


def logits(model, faces_uint8: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The model's logits [n] (float64) of prepared faces [n, R, R, 3] uint8."""
    from gan.data.preprocess import to_model_input

    out = [np.asarray(model(to_model_input(faces_uint8[i:i + batch_size]), training=False),
                      np.float64).reshape(-1) for i in range(0, len(faces_uint8), batch_size)]
    return np.concatenate(out) if out else np.zeros((0,), np.float64)


def load(bundle, name: str, what: str, fix: str):
    """The Keras model stored as `name` (a file the card lists), cached on the bundle object
    by its SHA-256. Raises DetectorError naming `what` and saying `fix`."""
    cache = bundle.__dict__.setdefault("_detector_keras_files", {})
    key = (name, (bundle.card.get("files", {}).get(name) or {}).get("sha256"))
    if key not in cache:
        try:
            verify_files(bundle.path, bundle.card, names=[name])
            cache[key] = load_model(Path(bundle.path) / name)
        except BundleError as e:
            cache[key] = DetectorError(f"The {what} of {bundle.name} cannot be used: "
                                       f"{str(e).split(' Get a working bundle')[0]} {fix}")
        except Exception as e:  # noqa: BLE001 - a damaged .keras file raises many kinds
            cache[key] = DetectorError(f"The {what} of {bundle.name} cannot be read "
                                       f"({type(e).__name__}). {fix}")
    if isinstance(cache[key], Exception):
        raise cache[key]
    return cache[key]
