"""Model bundles: the one thing training hands to the app and the CLIs.

A bundle is a folder:
    generator.keras       EMA generator
    discriminator.keras   discriminator (the detector's raw score), or discriminator.npz: the
                          same stored compact (`compact_discriminator`)
    model.json            the model card: config, preprocessing, data, labels, steps, time,
                          metrics, detector calibration, and a SHA-256 of each model file

Model files hold float16 weights (`save_model`): half the bytes of float32, which keeps a wider
generator's bundle inside the 60 MB the repository allows for models/, and `load_model` turns
them back into float32 models, so all arithmetic stays float32. Older bundles, written in
float32, load unchanged. A bundle whose discriminator serves no fitted detector (a second
model, say) can keep it as int8 weights with its architecture (`gan.weights`, `python -m
gan.compact`): a quarter of float32's bytes, for the 60 MB.

Writing goes to a staging folder that is renamed into place, so a bundle on disk is whole or
absent. Loading checks the card against its schema (`gan.card_schema`), verifies sizes and
hashes and that each model file is a whole archive before Keras sees a byte, then loads with
`safe_mode=True` (no arbitrary code, nothing unpickled) and checks the shapes against the card.
This module never imports training code.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gan import card_schema, weights
from gan.io import Marker, atomic_write_text, file_sha256, staged_dir, write_files

FORMAT = "facegan-bundle"
FORMAT_VERSION = 1
GENERATOR_FILE = "generator.keras"
DISCRIMINATOR_FILE, COMPACT_DISCRIMINATOR_FILE = "discriminator.keras", "discriminator.npz"
CARD = "model.json"
# what an export may replace: an older bundle, with the files its card lists (the detector and
# encoder files added in place after it was written) counted as ours
BUNDLE = Marker(CARD, "a FaceGAN bundle", lists="files", format=FORMAT)
HOW_TO_FIX = ("Get a working bundle with `git checkout -- models/` (the bundled default model), "
              "or export one from a run: `python train.py --out RUNDIR --export models/NAME`.")


class BundleError(ValueError):
    """A bundle is missing, truncated or does not match its card. The message says which."""


@dataclass
class Bundle:
    path: Path
    card: dict[str, Any]
    generator: Any            # keras.Model: z (and labels) -> images in [-1, 1]
    discriminator: Any        # keras.Model: images (and labels) -> logit, high = real
    name: str = field(default="")

    @property
    def resolution(self) -> int:
        return int(self.card["preprocessing"]["size"])

    @property
    def crop(self) -> str:
        return str(self.card["preprocessing"]["crop"])

    @property
    def latent_dim(self) -> int:
        return int(self.card["config"]["latent_dim"])

    @property
    def label_names(self) -> list[str]:
        return list(self.card.get("labels", {}).get("names", []))

    @property
    def conditional(self) -> bool:
        return bool(self.label_names)




STORED_DTYPE = "float16"


def model_files(card: dict[str, Any]) -> tuple[str, str]:
    """The generator's and the discriminator's file names, as the card lists them."""
    compact = COMPACT_DISCRIMINATOR_FILE in card.get("files", {})
    return GENERATOR_FILE, COMPACT_DISCRIMINATOR_FILE if compact else DISCRIMINATOR_FILE


def discriminator_sha256(card: dict[str, Any]) -> str:
    """The SHA-256 of the discriminator's file: what a detector fitted on it is keyed by."""
    return card["files"][model_files(card)[1]]["sha256"]


def _as_dtype(model, dtype: str):
    """A copy of `model` (nested models too) whose layers compute and keep weights in `dtype`."""
    import keras
    import numpy as np

    def clone(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": dtype})

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy.set_weights([np.asarray(w).astype(dtype) for w in model.get_weights()])
    return copy


def save_model(model, path: str | Path) -> None:
    """Write `model` as a .keras file with float16 weights (`load_model` reads it back as
    float32). Rounding the weights moves a face by at most about one level in 255 and a
    logit by about 0.001 (tests/test_bundle.py holds it to that)."""
    _as_dtype(model, STORED_DTYPE).save(path)


def save_bundle(out_dir: str | Path, generator, discriminator, card: dict[str, Any],
                extra_files: dict[str, bytes] | None = None) -> Path:
    """Write a complete bundle to `out_dir` atomically (replacing an older one there).
    `extra_files` maps relative paths (e.g. "examples/real/0.png") to their bytes."""
    out_dir = Path(out_dir)
    with staged_dir(out_dir, BUNDLE) as staging:
        write_files(staging, extra_files or {})
        save_model(generator, staging / GENERATOR_FILE)
        save_model(discriminator, staging / DISCRIMINATOR_FILE)
        card = dict(card)
        card.setdefault("created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        card["format"], card["format_version"] = FORMAT, FORMAT_VERSION
        card["files"] = {n: {"bytes": (staging / n).stat().st_size, "sha256": file_sha256(staging / n)}
                         for n in (GENERATOR_FILE, DISCRIMINATOR_FILE)}
        (staging / CARD).write_text(json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")
        for p in staging.rglob("*"):
            if not p.is_file():
                continue
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    return out_dir


def read_card(path: str | Path) -> dict[str, Any]:
    """Read a bundle's card and check it against the schema (`gan.card_schema`) without
    loading any model (fast), so a malformed card is refused here, naming the bad field,
    rather than failing later in whatever reads it."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"No model bundle at {path}. {HOW_TO_FIX}")
    card_path = path / CARD
    if not card_path.is_file():
        raise BundleError(f"{path} has no {CARD}, so it is not a FaceGAN bundle. {HOW_TO_FIX}")
    try:
        card = json.loads(card_path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise BundleError(f"{card_path} is not valid JSON ({e}); the bundle is damaged. {HOW_TO_FIX}")
    except OSError as e:
        raise BundleError(f"{card_path} cannot be read ({e}). {HOW_TO_FIX}")
    if isinstance(card, dict):
        if card.get("format") != FORMAT:
            raise BundleError(f"{card_path} is not a FaceGAN model card (its format is "
                              f"{card.get('format')!r}, not {FORMAT!r}). {HOW_TO_FIX}")
        version = card.get("format_version")
        if type(version) is int and version > FORMAT_VERSION:     # not a bool, not text
            raise BundleError(f"{path} was written by a newer FaceGAN (bundle format "
                              f"{version}); update this checkout.")
    problems = card_schema.problems(card)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise BundleError(f"{card_path}: {'; '.join(problems[:3])}{more}. The model card is "
                          f"malformed, so the bundle cannot be used. {HOW_TO_FIX}")
    return card


def verify_files(path: str | Path, card: dict[str, Any], names=None) -> None:
    """Check sizes and SHA-256 against the card: of `names`, or by default of the model files
    and every other file the card lists (e.g. a fitted detector, `detection/forensic.npz`).
    `load_bundle` checks the model files only, so a damaged detector file costs that detector,
    not the whole model (`gan.detector.forensic.load` checks its own file)."""
    path = Path(path)
    if names is None:
        names = list(model_files(card)) + [n for n in card["files"] if n not in model_files(card)]
    for name in names:
        f, want = path / name, card["files"].get(name)
        if want is None:
            raise BundleError(f"The card of {path} does not list {name}. {HOW_TO_FIX}")
        if not f.is_file():
            raise BundleError(f"{f} is missing. {HOW_TO_FIX}")
        size = f.stat().st_size
        if size != want["bytes"]:
            raise BundleError(f"{f} is {size} bytes but the card says {want['bytes']}: "
                              f"truncated or replaced. {HOW_TO_FIX}")
        if file_sha256(f) != want["sha256"]:
            raise BundleError(f"{f} does not match the SHA-256 in its card: damaged or replaced. "
                              f"{HOW_TO_FIX}")


def _check_archive(f: Path) -> None:
    """A `.keras` file is a zip holding config.json and the weights. Keras reports an archive
    it cannot open as "File not found", which misleads when the file is there (e.g. truncated
    after its card was written), so say what is wrong first."""
    try:
        with zipfile.ZipFile(f) as zf:
            members = set(zf.namelist())
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise BundleError(f"{f} is not a readable Keras model file ({e}): it is truncated or "
                          f"damaged, although its size and SHA-256 match the card (the card was "
                          f"written for the damaged file). {HOW_TO_FIX}") from e
    if bad is not None:
        raise BundleError(f"{f} is damaged: its part {bad} fails its checksum. {HOW_TO_FIX}")
    if "config.json" not in members:
        raise BundleError(f"{f} is a zip archive but not a Keras model file (it has no "
                          f"config.json). {HOW_TO_FIX}")


def _first_sentence(e: BaseException) -> str:
    """The most specific line of a Keras error: its innermost cause, first sentence (Keras's
    own advice to turn safe mode off is not for our users)."""
    while (e.__cause__ or e.__context__) is not None:
        e = e.__cause__ or e.__context__
    lines = str(e).strip().splitlines()
    text = re.split(r"(?<=\.)\s", lines[0])[0] if lines else ""
    if len(text) < 15:
        text = f"{type(e).__name__}: {text}" if text else type(e).__name__
    text = text if len(text) <= 300 else text[:297] + "..."
    return text if text.endswith((".", "...")) else text.rstrip(",;:") + "."


def load_model(f: str | Path):
    """A .keras file of a bundle as a float32 model, loaded in safe mode; BundleError when the
    file is damaged or carries code."""
    import keras

    f = Path(f)
    _check_archive(f)
    try:
        model = keras.models.load_model(f, safe_mode=True, compile=False)
        if any(w.dtype != "float32" for w in model.weights):
            model = _as_dtype(model, "float32")
        return model
    except Exception as e:  # Keras raises many types for a refused or bad archive
        raise BundleError(f"Keras could not load {f} in safe mode: {_first_sentence(e)} Safe "
                          f"mode refuses model files that carry code (Lambda layers, classes or "
                          f"functions from outside Keras) and runs nothing from them; this file "
                          f"is unsafe or damaged. {HOW_TO_FIX}") from e


def compact_bytes(model) -> tuple[bytes, Any]:
    """(the bytes of `model` stored compact, a float32 model holding exactly the stored
    weights): its architecture as Keras's JSON beside int8 weights (`gan.weights`)."""
    import keras
    import numpy as np

    data, values = weights.to_bytes(model.get_weights(), architecture=np.array(model.to_json()))
    copy = keras.models.model_from_json(model.to_json())
    copy.set_weights(values)
    return data, copy


def load_compact(f: str | Path):
    """A model stored by `compact_bytes`, as float32. Its architecture is rebuilt by Keras's
    deserializer in safe mode (no code runs from the file, nothing is unpickled); any problem
    is a BundleError naming the file."""
    import keras

    f = Path(f)
    try:
        stored, extra = weights.read(f.read_bytes())
        model = keras.models.model_from_json(str(extra["architecture"]))
        model.set_weights(stored)
        return model
    except Exception as e:  # numpy, zipfile and Keras raise many types for a bad file
        raise BundleError(f"{f} is not a readable compact model file: {_first_sentence(e)} "
                          f"{HOW_TO_FIX}") from e


def compact_discriminator(path: str | Path, faces: int = 256) -> dict[str, Any]:
    """Store a bundle's discriminator as int8 weights (`discriminator.npz`) in place of its
    float16 file, a quarter of the bytes of float32 (half of float16's), and record in the
    card how far the raw score moved on `faces` of the bundle's own faces. Refused when a
    detector was fitted on the discriminator (its figures were measured on the float16
    weights) or the bundle is compact already. Crash-safe: the new file is written whole, then
    the card names it, then the old file goes; the generator is untouched."""
    from gan.io import atomic_write_bytes

    path = Path(path)
    card = read_card(path)
    if model_files(card)[1] == COMPACT_DISCRIMINATOR_FILE:
        raise BundleError(f"{path}: the discriminator is stored compact already.")
    fitted = sorted(n for n in card["files"] if n.startswith("detection/"))
    if fitted or (card.get("detector") or {}).get("calibration"):
        raise BundleError(f"{path}: detectors were fitted on this discriminator "
                          f"({', '.join(fitted) or 'a calibrated score'}); storing it compact "
                          f"would change the scores their figures were measured on. Compact "
                          f"a bundle without detectors.")
    bundle = load_bundle(path)
    data, stored = compact_bytes(bundle.discriminator)
    moved = _logit_change(bundle, stored, faces)
    atomic_write_bytes(path / COMPACT_DISCRIMINATOR_FILE, data)
    files = {n: v for n, v in card["files"].items() if n != DISCRIMINATOR_FILE}
    files[COMPACT_DISCRIMINATOR_FILE] = {"bytes": len(data),
                                         "sha256": file_sha256(path / COMPACT_DISCRIMINATOR_FILE)}
    card["files"] = files
    card["storage"] = {"discriminator": "int8 per output channel, architecture as Keras JSON "
                                        "(gan.weights, gan.bundle.compact_discriminator)",
                       "logit_change": moved,
                       "float16_bytes": int((path / DISCRIMINATOR_FILE).stat().st_size)}
    atomic_write_text(path / CARD, json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")
    (path / DISCRIMINATOR_FILE).unlink()
    return {"bytes_before": card["storage"]["float16_bytes"], "bytes_after": len(data), **moved}


def _logit_change(bundle: "Bundle", stored, n: int) -> dict[str, Any]:
    """How far the stored discriminator's raw score is from the float16 one's on `n` of the
    bundle's faces (seed 0, labels as the app draws them): max and median |change|, and the
    scores' own spread for scale."""
    import numpy as np

    from gan.data.preprocess import to_model_input
    from gan.sampling import generate_from_latents, label_matrix, latents

    y = label_matrix(bundle, n, seed=0)
    x = to_model_input(generate_from_latents(bundle, latents(0, n, bundle.latent_dim), y))
    inputs = [x, y] if bundle.conditional else x
    a = np.asarray(bundle.discriminator(inputs, training=False), np.float64).reshape(-1)
    b = np.asarray(stored(inputs, training=False), np.float64).reshape(-1)
    d = np.abs(a - b)
    return {"faces": int(n), "max": round(float(d.max()), 4), "median": round(float(np.median(d)), 4),
            "logit_sd": round(float(a.std()), 4)}


def load_bundle(path: str | Path) -> Bundle:
    """Load a bundle after checking it; raises BundleError with a clear message otherwise."""
    path = Path(path)
    card = read_card(path)
    g_file, d_file = model_files(card)
    verify_files(path, card, (g_file, d_file))
    g = load_model(path / g_file)
    d = load_model(path / d_file) if d_file == DISCRIMINATOR_FILE else load_compact(path / d_file)
    size = int(card["preprocessing"]["size"])
    n_labels = len(card.get("labels", {}).get("names", []))
    g_out = tuple(g.outputs[0].shape[1:])
    if g_out != (size, size, 3):
        raise BundleError(f"{path}: generator makes {g_out} images but the card says "
                          f"{size}x{size}x3. {HOW_TO_FIX}")
    if (len(g.inputs) == 2) != bool(n_labels) or (len(d.inputs) == 2) != bool(n_labels):
        raise BundleError(f"{path}: the models' label inputs do not match the card's "
                          f"{n_labels} labels. {HOW_TO_FIX}")
    if tuple(d.inputs[0].shape[1:]) != (size, size, 3):
        raise BundleError(f"{path}: the discriminator takes {tuple(d.inputs[0].shape[1:])} "
                          f"but the card says {size}x{size}x3. {HOW_TO_FIX}")
    if int(g.inputs[0].shape[-1]) != int(card["config"]["latent_dim"]):
        raise BundleError(f"{path}: the generator's latent size does not match the card. "
                          f"{HOW_TO_FIX}")
    return Bundle(path=path, card=card, generator=g, discriminator=d, name=path.name)


def list_bundles(models_dir: str | Path = "models") -> list[Path]:
    """Folders under `models_dir` that look like bundles (have a model card), sorted by name,
    with `default` first."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    found = [p for p in models_dir.iterdir() if p.is_dir() and (p / CARD).is_file()
             and not p.name.startswith(".")]
    return sorted(found, key=lambda p: (p.name != "default", p.name))


def update_card(path: str | Path, **sections: Any) -> dict[str, Any]:
    """Merge top-level sections (e.g. metrics=..., detector=...) into a bundle's card,
    atomically. Model files are untouched, so their hashes stay valid."""
    path = Path(path)
    card = read_card(path)
    for k, v in sections.items():
        if isinstance(v, dict) and isinstance(card.get(k), dict):
            card[k] = {**card[k], **v}
        else:
            card[k] = v
    atomic_write_text(path / CARD, json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")
    return card
