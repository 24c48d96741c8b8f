"""A bundle as a TensorFlow SavedModel, for TensorFlow Serving and any TensorFlow program.

The SavedModel has two serving signatures (in its signature_defs, where TF Serving finds them):

- `generate(z, labels, truncation)`: z float32 [n, latent_dim], labels float32 [n, K] in the
  card's label order ([n, 0] for an unconditional bundle), truncation float32 [n] (one per face,
  so a row-format REST request carries it in each instance) -> `faces` uint8 [n, R, R, 3]. The
  generator sees z * truncation, as in `gan.sampling.latents`.
- `score(image_uint8)`: uint8 faces [n, R, R, 3], cut as the bundle's crop (what
  `gan.data.preprocess.prepare_image` gives) -> `score` float32 [n], the bundle's raw
  discriminator's score (`gan.detector.stored.discriminator_scores`: minus the logit, higher
  = more likely generated, uncalibrated; not the trained-on copy of `gan.detector.tuned` that
  the app's discriminator detector reads when the bundle stores one).

A graph cannot call NumPy, and the pixel conversions live in one place
(`gan.data.preprocess.to_model_input` and `to_uint8`). So they are not rewritten here: at
export time they are tabulated by calling the library's own functions (every uint8 value's
model input; the float32 edges at which `to_uint8` steps up), and the graph only looks the
tables up. The SavedModel therefore converts pixels exactly as the library does.

Beside `saved_model.pb`, `facegan.json` records the label names, the training photos' label
rows and counts (the app and the CLI draw each face's labels from them), the neutral row, the
sizes, and the bundle the export came from. Exports are written to a staging folder beside the
target and renamed into place, so a version folder is whole or absent.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from gan.bundle import Bundle, discriminator_sha256
from gan.data.preprocess import to_uint8
from gan.detector.stored import discriminator_scores
from gan.io import remove_stale, staged_dir
from gan.sampling import neutral_labels

SIGNATURES = ("generate", "score")
INFO_FILE = "facegan.json"


class ExportRefused(ValueError):
    """The export target cannot be written without touching something that is not ours."""


# --------------------------------------------------------------------------- tables


def _ordered_key(f: np.ndarray) -> np.ndarray:
    """float32 -> int64 in the same order (so bisection can walk float32 values one by one)."""
    bits = np.asarray(f, np.float32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)


def _from_key(k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, np.int64)
    bits = np.where(k < 0, (-k) | 0x80000000, k).astype(np.uint32)
    return bits.view(np.float32)


def uint8_edges() -> tuple[np.ndarray, int]:
    """(edges float32 [255], NaN's value) of `to_uint8`: edges[k - 1] is the smallest float32
    that `to_uint8` turns into k or more, found by bisection on the library function itself
    (it is monotonic, so the number of edges <= x is its value for any non-NaN x)."""
    k = np.arange(1, 256)
    lo = np.full(255, _ordered_key(np.float32(-1.0)))     # to_uint8 gives 0 here
    hi = np.full(255, _ordered_key(np.float32(1.0)))      # and 255 here
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        up = to_uint8(_from_key(mid)).astype(np.int64) >= k
        hi, lo = np.where(up, mid, hi), np.where(up, lo, mid)
    return _from_key(hi), int(to_uint8(np.array([np.nan], np.float32))[0])


def scoring_probe(bundle: Bundle) -> tuple[np.ndarray, np.ndarray | None, float]:
    """(model input of each uint8 value [256], the labels a conditional discriminator is given
    [K] or None, the score of a logit of 1) as `discriminator_scores` has them: read by running
    it once on an image holding every pixel value, with a stand-in discriminator that records
    its input, so the exported `score` follows the app's detector and keeps no copy of it."""
    seen: dict[str, np.ndarray] = {}

    def record(x):
        if isinstance(x, (list, tuple)):
            x, seen["labels"] = x[0], np.asarray(x[1], np.float32)[0]
        seen["x"] = np.asarray(x, np.float32)
        return np.ones((len(seen["x"]), 1), np.float32)

    probe = np.repeat(np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1), 3, axis=-1)
    stand_in = SimpleNamespace(conditional=bundle.conditional, label_names=bundle.label_names,
                               discriminator=SimpleNamespace(predict_on_batch=record))
    sign = float(discriminator_scores(stand_in, probe)[0])
    channels = seen["x"][0].reshape(256, 3)
    if not np.array_equal(channels, np.repeat(channels[:, :1], 3, axis=1)):
        raise AssertionError("to_model_input treats the colour channels differently; "
                             "gan.serving's table assumes one mapping for all three")
    return channels[:, 0].copy(), seen.get("labels"), sign


# --------------------------------------------------------------------------- the module


def serving_module(bundle: Bundle):
    """A tf.Module holding the bundle's models, with `generate` and `score` as tf.functions
    whose input signatures are those of the SavedModel."""
    import tensorflow as tf

    size, dim, k = bundle.resolution, bundle.latent_dim, len(bundle.label_names)
    edges, nan_value = uint8_edges()
    table, neutral, sign = scoring_probe(bundle)
    conditional = bundle.conditional

    class FaceGANServing(tf.Module):
        def __init__(self):
            super().__init__(name="facegan")
            self.generator, self.discriminator = bundle.generator, bundle.discriminator
            self.edges = tf.constant(edges)
            self.nan_value = tf.constant(nan_value, tf.uint8)
            self.table = tf.constant(table)
            self.neutral = tf.constant(neutral if neutral is not None else np.zeros(0, np.float32))

        def _to_uint8(self, x):
            x = tf.cast(x, tf.float32)
            flat = tf.reshape(x, [-1])
            steps = tf.cast(tf.searchsorted(self.edges, flat, side="right"), tf.uint8)
            steps = tf.where(tf.math.is_nan(flat), self.nan_value, steps)
            return tf.reshape(steps, tf.shape(x))

        @tf.function(input_signature=[
            tf.TensorSpec([None, dim], tf.float32, name="z"),
            tf.TensorSpec([None, k], tf.float32, name="labels"),
            tf.TensorSpec([None], tf.float32, name="truncation")])
        def generate(self, z, labels, truncation):
            z = z * truncation[:, None]
            out = self.generator([z, labels] if conditional else z, training=False)
            return {"faces": self._to_uint8(out)}

        @tf.function(input_signature=[
            tf.TensorSpec([None, size, size, 3], tf.uint8, name="image_uint8")])
        def score(self, image_uint8):
            x = tf.gather(self.table, tf.cast(image_uint8, tf.int32))
            if conditional:
                y = tf.tile(self.neutral[None], [tf.shape(x)[0], 1])
                logits = self.discriminator([x, y], training=False)
            else:
                logits = self.discriminator(x, training=False)
            return {"score": sign * tf.reshape(tf.cast(logits, tf.float32), [-1])}

    return FaceGANServing()


# --------------------------------------------------------------------------- export


def _is_ours_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith((".staging", ".old", ".tmp"))


def versions(out: str | Path) -> list[int]:
    """The numeric version folders in `out` (TF Serving serves the highest)."""
    out = Path(out)
    if not out.is_dir():
        return []
    return sorted(int(p.name) for p in out.iterdir() if p.name.isdigit() and p.is_dir())


def check_target(out: str | Path, version: int | None = None) -> Path:
    """The version folder an export to `out` will write (`out/VERSION`, by default one more
    than the highest there), after checking that nothing but earlier exports is in `out`;
    raises ExportRefused otherwise. Called before the bundle is loaded, so a bad target costs
    nothing."""
    out = Path(out)
    if version is not None and version < 1:
        raise ExportRefused(f"--version must be a whole number from 1 up, got {version}")
    if out.is_symlink() and not out.is_dir():
        raise ExportRefused(f"{out} is a broken symbolic link; give a new folder. Nothing was written.")
    if out.exists() and not out.is_dir():
        raise ExportRefused(f"{out} is a file, not a folder; give a new folder. Nothing was written.")
    if out.is_dir():
        foreign = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir()
                         if not (p.name.isdigit() and p.is_dir()) and not _is_ours_temp(p.name))
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise ExportRefused(
                f"{out} is not empty and not a folder of earlier exports: it holds {shown}. "
                "An export goes into a numbered version folder inside --out (what TensorFlow "
                "Serving reads); give a new or empty folder, or one that holds only earlier "
                "exports. Nothing was written.")
    if version is None:
        version = (versions(out) or [0])[-1] + 1
    target = out / str(version)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ExportRefused(f"{target} already holds version {version} (an earlier export); "
                            f"give --version {(versions(out) or [0])[-1] + 1}, or leave --version "
                            "out to take the next number. Nothing was written.")
    return target


def _steps(card: dict) -> int | None:
    training = card.get("training") or {}
    return training.get("total_steps", training.get("steps"))


class _Nothing:
    """What an export may replace: nothing but an empty folder."""
    what = "an empty folder"

    def __call__(self, folder: Path) -> bool:
        return False


def export_saved_model(bundle: Bundle, out: str | Path, version: int | None = None) -> Path:
    """Write `bundle` as a SavedModel to `out/VERSION` (see `check_target`), whole or not at
    all: it is written into a staging folder beside the target and renamed into place, and
    a failed export removes its staging folder. Returns the version folder."""
    import tensorflow as tf

    target = check_target(out, version)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target.parent)
    module = serving_module(bundle)
    signatures = {name: getattr(module, name).get_concrete_function() for name in SIGNATURES}
    info = {
        "format": "facegan-savedmodel",
        "bundle": os.path.abspath(bundle.path),
        "bundle_name": bundle.name,
        "generator_sha256": bundle.card["files"]["generator.keras"]["sha256"],
        "discriminator_sha256": discriminator_sha256(bundle.card),
        "training_steps": _steps(bundle.card),
        "resolution": bundle.resolution,
        "crop": bundle.crop,
        "latent_dim": bundle.latent_dim,
        "label_names": bundle.label_names,
        "neutral_labels": ([float(v) for v in neutral_labels(bundle)]
                           if bundle.conditional else []),
        "label_frequencies": (bundle.card.get("labels") or {}).get("frequencies"),
        "signatures": {
            "generate": "z float32 [n, latent_dim], labels float32 [n, K] (label_names order; "
                        "the CLI and the app give each face a row of label_frequencies.rows, "
                        "drawn as often as its draws share (a balanced run) or its count, or "
                        "neutral_labels when there are none), "
                        "truncation float32 [n] -> faces uint8 [n, R, R, 3]",
            "score": "image_uint8 uint8 [n, R, R, 3] (the bundle's crop) -> score float32 [n]: "
                     "minus the discriminator's logit, higher = more likely generated "
                     "(uncalibrated)",
        },
    }
    with staged_dir(target, _Nothing()) as staging:
        tf.saved_model.save(module, str(staging), signatures=signatures)
        (staging / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return target
