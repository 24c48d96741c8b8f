"""The projection's encoder: a small CNN that guesses a face's latent z (and a conditional
bundle's label values) in one forward pass, so the optimisation (`gan.projection`) starts near
the answer instead of at the mean latent.

It is fitted on the bundle's own generated faces (`gan.encoder_fit`, run by
`python -m gan.project fit`) and stored in the bundle as `projection/encoder.keras`, listed in
the card's `files` with its size and SHA-256 like every other bundle file, and described in the
card's `projection.encoder` section, which also records the SHA-256 of the generator it was
fitted to: an encoder fitted to another generator (a bundle refitted since) is not used.

Input: the face as `prepare_image` makes it at the bundle's size, in [-1, 1]. Output: one
vector, z then one logit per label. Standard Keras layers only, so it loads in safe mode.
This module builds, stores and loads it; fitting is `gan.encoder_fit`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan.bundle import CARD, BundleError, load_model, read_card, save_model, verify_files
from gan.io import file_sha256 as _sha256
from gan.io import atomic_write_text

FILE = "projection/encoder.keras"
WORK_SIZE = 64          # px: the encoder looks at the face at most this large (the guess is coarse)


def build_encoder(resolution: int, latent_dim: int, n_labels: int = 0, width: int = 16,
                  max_width: int = 256):
    """face [R, R, 3] in [-1, 1] -> [latent_dim + n_labels]: an average pool down to WORK_SIZE
    (cheap: the optimisation refines details anyway), strided convolutions down to 4x4, two
    dense layers. Returns (encoder, core), `core` being the part after the pool, which the
    fitting trains on faces pooled once in advance."""
    import keras
    from keras import layers

    pool = max(1, int(resolution) // WORK_SIZE)
    size = int(resolution) // pool
    core_in = keras.Input((size, size, 3), name="face_small")
    h, ch = core_in, int(width)
    while size > 4:
        h = layers.Conv2D(ch, 4, strides=2, padding="same", name=f"down{size}")(h)
        h = layers.LeakyReLU(0.2)(h)
        size //= 2
        ch = min(ch * 2, int(max_width))
    h = layers.Flatten()(h)
    h = layers.Dense(256, name="hidden")(h)
    h = layers.LeakyReLU(0.2)(h)
    out = layers.Dense(int(latent_dim) + int(n_labels), name="z_and_label_logits")(h)
    core = keras.Model(core_in, out, name="encoder_core")
    face = keras.Input((int(resolution), int(resolution), 3), name="face")
    x = layers.AveragePooling2D(pool, name="to_work_size")(face) if pool > 1 else face
    return keras.Model(face, core(x), name="encoder"), core


@dataclass
class Encoder:
    """A loaded encoder and the bundle shapes it serves."""
    model: object
    latent_dim: int
    n_labels: int

    def guess(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(z [n, latent_dim], label logits [n, K] or None) for faces in [-1, 1]."""
        out = np.asarray(self.model(np.asarray(faces, np.float32), training=False))
        return out[:, :self.latent_dim], (out[:, self.latent_dim:] if self.n_labels else None)


def load_encoder(bundle) -> tuple[Encoder | None, str | None]:
    """(the bundle's encoder, None), or (None, why there is none to use): never fitted,
    damaged, or fitted to another generator. Projection then starts from the mean latent."""
    section = (bundle.card.get("projection") or {}).get("encoder")
    if not section or not section.get("file"):
        return None, (f"this model has no encoder (fit one: python -m gan.project fit "
                      f"--model models/{bundle.name})")
    name = section["file"]
    g_sha = bundle.card["files"]["generator.keras"]["sha256"]
    if section.get("generator_sha256") != g_sha:
        return None, (f"its encoder was fitted to another generator (refit it: python -m "
                      f"gan.project fit --model models/{bundle.name})")
    try:
        verify_files(bundle.path, bundle.card, [name])
        model = load_model(Path(bundle.path) / name)
    except BundleError as e:
        return None, f"its encoder cannot be used: {str(e).split(' Get a working bundle')[0]}"
    n_labels = len(bundle.label_names)
    want_in = (bundle.resolution, bundle.resolution, 3)
    if (tuple(model.inputs[0].shape[1:]) != want_in
            or int(model.outputs[0].shape[-1]) != bundle.latent_dim + n_labels):
        return None, "its encoder does not fit this model's faces or latent size"
    return Encoder(model, bundle.latent_dim, n_labels), None


def write_encoder(bundle_path, model, section: dict) -> dict:
    """Store the encoder as FILE (written beside, then renamed into place) and its card
    entries: `files[FILE]` (size, SHA-256) and the `projection.encoder` section (`section`
    plus the file and the generator's SHA-256). The model files are not touched."""
    bundle_path = Path(bundle_path)
    card = read_card(bundle_path)
    target = bundle_path / FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(".encoder.new.keras")      # Keras wants the .keras suffix
    try:
        save_model(model, tmp)
        entry = {"bytes": tmp.stat().st_size, "sha256": _sha256(tmp)}
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    card["files"] = {**card["files"], FILE: entry}
    card["projection"] = {**(card.get("projection") or {}), "encoder": {
        **section, "file": FILE,
        "generator_sha256": card["files"]["generator.keras"]["sha256"]}}
    atomic_write_text(bundle_path / CARD, json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")
    return card
