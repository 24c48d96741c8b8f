"""The attribute judge: a small classifier trained on real photos, which scores the sliders.

It answers "does this face look male / smiling?" for generated faces, so it must never have
seen generated faces: it is trained only on real labelled photos (the training split of the
bundle's data) and its accuracy is measured on the held-out split.

A small CNN rather than logistic regression on pixels: smiling is a few mouth pixels, and a
linear model on downsampled pixels mostly sees hair and background. Inputs are the face crops
area-downsampled to 64 px (both real and generated, the same way), which also narrows the
sharpness gap between photos and a GAN's blurrier faces. One sigmoid output per attribute.

The trained model is cached as a `.keras` file (loaded with `safe_mode=True`; nothing is
pickled) keyed by the training photos, labels and recipe, so measuring a re-exported bundle
on the same data reuses it.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from gan.data import default_cache_dir
from gan.data.preprocess import to_model_input
from gan.io import atomic_write_bytes

INPUT_PX = 64
RECIPE = "attr-cnn/2"     # change when the architecture or training changes (new cache key)
# BatchNorm's running statistics follow the batches at this rate. Keras' default (0.99) does not
# settle in the few hundred steps a small data set gives, and the judge is then wrong in
# inference mode (docs/attributes.md, "The judge on a small data set").
BN_MOMENTUM = 0.9
EPOCHS = 12
BATCH = 64


def downsample(images: np.ndarray, px: int) -> np.ndarray:
    """uint8 [n, S, S, 3] -> float32 [n, px, px, 3] in [-1, 1] (area averaging)."""
    import cv2

    images = np.asarray(images)
    if len(images) and images.shape[1] != px:
        images = np.stack([cv2.resize(np.ascontiguousarray(im), (px, px),
                                      interpolation=cv2.INTER_AREA) for im in images])
    return to_model_input(images.astype(np.uint8))


def build(n_outputs: int, px: int = INPUT_PX):
    """Four blocks of two 3x3 convs (the second of stride 2), global average pooling, one sigmoid per attribute."""
    import keras
    from keras import layers

    x = keras.Input((px, px, 3), name="image")
    h = x
    for i, ch in enumerate((32, 64, 128, 128)):
        for j, stride in enumerate((1, 2)):
            h = layers.Conv2D(ch, 3, strides=stride, padding="same", use_bias=False,
                              name=f"conv{i}_{j}")(h)
            h = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i}_{j}")(h)
            h = layers.ReLU()(h)
    h = layers.GlobalAveragePooling2D()(h)
    h = layers.Dropout(0.3)(h)
    out = layers.Dense(n_outputs, activation="sigmoid", name="attributes")(h)
    return keras.Model(x, out, name="attribute_classifier")


def _augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror half the batch and shift by up to 3 px (edge-padded): faces are not all centred."""
    x = x.copy()
    flip = rng.random(len(x)) < 0.5
    x[flip] = x[flip, :, ::-1]
    pad = 3
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    px = x.shape[1]
    for i, (dy, dx) in enumerate(rng.integers(0, 2 * pad + 1, (len(x), 2))):
        x[i] = padded[i, dy:dy + px, dx:dx + px]
    return x


def train(images: np.ndarray, labels: np.ndarray, epochs: int = EPOCHS, seed: int = 0,
          px: int = INPUT_PX, log=lambda msg: None):
    """Fit the classifier on real uint8 faces and 0/1 labels [n, K]; returns the Keras model."""
    import keras

    keras.utils.set_random_seed(seed)
    x = downsample(images, px)
    y = np.asarray(labels, np.float32)
    model = build(y.shape[1], px)
    steps = max(1, int(np.ceil(len(x) / BATCH)))
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, steps * max(1, epochs))
    # Tracing the train step takes 10-30 s on this CPU: worth it for a real fit, not for a
    # few steps (tests). XLA would add tens of seconds of compiling for no gain.
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy",
                  jit_compile=False, run_eagerly=steps * epochs < 100)
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        losses = []
        for s in range(0, len(x), BATCH):
            idx = order[s:s + BATCH]
            losses.append(float(model.train_on_batch(_augment(x[idx], rng), y[idx])))
        log(f"classifier epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.3f}")
    return model


def predict(model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """P(attribute) [n, K] for uint8 faces."""
    px = int(model.inputs[0].shape[1])
    out = [np.asarray(model(downsample(images[i:i + batch_size], px), training=False))
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, int(model.outputs[0].shape[-1])), np.float32)


def accuracy(model, images: np.ndarray, labels: np.ndarray, names: list[str]) -> dict[str, float]:
    """Per-attribute accuracy at threshold 0.5."""
    p = predict(model, images)
    y = np.asarray(labels) >= 0.5
    return {name: float(np.mean((p[:, j] >= 0.5) == y[:, j])) for j, name in enumerate(names)}


def cache_key(keys: list[str], labels: np.ndarray, names: list[str], size: int, crop: str,
              epochs: int, seed: int) -> str:
    """Identity of a trained classifier: which photos (keys and labels), how cropped, how trained."""
    h = hashlib.sha256()
    h.update(json.dumps([RECIPE, names, int(size), crop, int(epochs), int(seed)]).encode())
    h.update("\n".join(keys).encode())
    h.update(np.ascontiguousarray(np.asarray(labels, np.float32)).tobytes())
    return h.hexdigest()[:24]


def cache_dir() -> Path:
    return Path(default_cache_dir()) / "attribute-classifiers"


def load(path: str | Path):
    import keras

    return keras.models.load_model(path, safe_mode=True, compile=False)


def trained(train_images, train_labels, names, keys, size, crop, epochs=EPOCHS, seed=0,
            use_cache=True, log=lambda msg: None):
    """(model, info): from the cache when the same photos were used before, else trained now
    and cached. `info` says whether it came from the cache and where it is stored."""
    key = cache_key(keys, train_labels, names, size, crop, epochs, seed)
    path = cache_dir() / f"{key}.keras"
    if use_cache and path.is_file():
        try:
            log(f"attribute classifier from the cache: {path}")
            return load(path), {"cached": True, "file": str(path)}
        except Exception as e:  # noqa: BLE001 - a damaged cache entry is retrained
            log(f"cached classifier unusable ({type(e).__name__}); retraining")
    log(f"training the attribute classifier on {len(train_images):,} real photos")
    model = train(train_images, train_labels, epochs=epochs, seed=seed,
                  px=min(INPUT_PX, int(size)), log=log)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.keras")
        model.save(tmp)
        atomic_write_bytes(path, tmp.read_bytes())
        tmp.unlink(missing_ok=True)
    return model, {"cached": False, "file": str(path) if use_cache else None}
