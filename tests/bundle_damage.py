"""Damaged and malicious bundles for the tests of refusal, each made from a good tiny bundle
by one edit, so a new case is one line in CASES.

A malicious case carries a payload that writes a marker file if it ever runs. Its card is
valid and its hashes are rewritten to match, so refusing it is safe loading's work, not the
hash check's.
"""
from __future__ import annotations

import copy
import hashlib
import io
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np


def read(path: Path) -> dict:
    return json.loads((path / "model.json").read_text())


def write(path: Path, card) -> None:
    (path / "model.json").write_text(json.dumps(card, indent=2))


def rehash(path: Path, name: str) -> None:
    """Make the card's size and SHA-256 of `name` match the file as it is now."""
    card = read(path)
    data = (path / name).read_bytes()
    card["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    write(path, card)


def edit(fn: Callable[[dict], object]) -> Callable[[Path, Path], None]:
    """A card edit: fn changes the card in place, or returns a list to replace it with."""
    def damage(path: Path, marker: Path) -> None:
        card = read(path)
        new = fn(card)
        write(path, new if isinstance(new, list) else card)
    return damage


def truncate_rehashed(path: Path, marker: Path) -> None:
    g = path / "generator.keras"
    g.write_bytes(g.read_bytes()[: g.stat().st_size // 2])
    rehash(path, "generator.keras")


# ---- malicious model files: each a generator of the right shape (16 -> 32x32x3) ----

def _lambda_archive(marker: Path) -> bytes:
    """A .keras generator whose Lambda layer writes `marker` when the model is rebuilt."""
    import keras
    from keras import layers

    fn = eval(f"lambda x: (open({str(marker)!r}, 'w').write('ran'), x)[1]")  # the payload
    z = keras.Input((16,), name="z")
    h = layers.Lambda(fn, name="payload")(z)
    h = layers.Dense(32 * 32 * 3, name="project")(h)
    model = keras.Model(z, layers.Reshape((32, 32, 3), name="image")(h), name="generator")
    out = marker.parent / "lambda.keras"
    model.save(out)
    data = out.read_bytes()
    out.unlink()
    marker.unlink(missing_ok=True)        # Keras traced the layer while building it
    return data


def _edit_archive(data: bytes, fn: Callable[[list], None]) -> bytes:
    """The archive with fn applied to the model config's list of layers."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(files["config.json"])
    fn(config["config"]["layers"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, b in files.items():
            zf.writestr(n, json.dumps(config) if n == "config.json" else b)
    return buf.getvalue()


def _payload_layer(layers: list) -> dict:
    return next(layer for layer in layers if layer["name"] == "payload")


def _exec_class(layers: list, marker: Path) -> None:
    layer = _payload_layer(layers)
    layer.update(module="builtins", class_name="exec", registered_name=None)
    layer["config"] = {"name": "payload", "source": f"open({str(marker)!r}, 'w').write('ran')"}


def _unlock_first(layers: list) -> None:
    """Before the payload, a layer whose function turns Keras's safe mode off."""
    unlock = copy.deepcopy(_payload_layer(layers))
    unlock["name"] = unlock["config"]["name"] = "unlock"
    unlock["config"]["function"] = {"module": "keras.config", "class_name": "function",
                                    "config": "enable_unsafe_deserialization",
                                    "registered_name": None}
    layers.insert(layers.index(_payload_layer(layers)), unlock)


def generator_payload(kind: str) -> Callable[[Path, Path], None]:
    def damage(path: Path, marker: Path) -> None:
        data = _lambda_archive(marker)
        if kind == "exec":
            data = _edit_archive(data, lambda layers: _exec_class(layers, marker))
        elif kind == "unlock":
            data = _edit_archive(data, _unlock_first)
        (path / "generator.keras").write_bytes(data)
        rehash(path, "generator.keras")
    return damage


class _RunsWhenUnpickled:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def pickled_forensic(path: Path, marker: Path) -> None:
    """A forensic detector file whose arrays are pickled objects, listed in a valid card."""
    rel = "detection/forensic.npz"
    (path / "detection").mkdir(exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, mean=np.array([_RunsWhenUnpickled(marker)], dtype=object),
             scale=np.ones(1, np.float32), weights=np.ones(1, np.float32), bias=np.float64(0),
             meta=np.array(json.dumps({"dim": 1, "classifier": "lr", "texture_version": 1})))
    (path / rel).write_bytes(buf.getvalue())
    card = read(path)
    card["detector"]["forensic"] = {"file": rel, "threshold": 0.5, "calibration": None,
                                    "rule": {"generated_at": 0.5, "real_below": 0.5},
                                    "note": "a payload"}
    write(path, card)
    rehash(path, rel)


@dataclass(frozen=True)
class Case:
    id: str
    damage: Callable[[Path, Path], None]
    says: str                   # what the refusal must say (the field or file and what is wrong)


CASES = [
    Case("no_size", edit(lambda c: c["preprocessing"].pop("size")),
         "model.json: preprocessing.size is missing"),
    Case("no_latent_dim", edit(lambda c: c["config"].pop("latent_dim")),
         "model.json: config.latent_dim is missing"),
    Case("empty_file_entry", edit(lambda c: c["files"].update({"generator.keras": {}})),
         'model.json: files["generator.keras"].bytes is missing'),
    Case("files_list", edit(lambda c: c.update(files=list(c["files"].values()))),
         "model.json: files must be an object"),
    Case("card_list", edit(lambda c: [c]), "model.json: the card must be an object"),
    Case("format_version_one", edit(lambda c: c.update(format_version="one")),
         "model.json: format_version must be a whole number"),
    Case("format_version_2", edit(lambda c: c.update(format_version=2)),
         "written by a newer FaceGAN"),
    Case("names_string", edit(lambda c: c["labels"].update(names="male")),
         "model.json: labels.names must be a list"),
    Case("platt_without_a", edit(lambda c: c["detector"].update(calibration={"method": "platt"})),
         "model.json: detector.calibration.a is missing"),
    Case("steps_text", edit(lambda c: c["training"].update(steps="many")),
         "model.json: training.steps must be"),
    Case("file_outside", edit(lambda c: c["files"].update({"../x": c["files"]["generator.keras"]})),
         'model.json: files names "../x"'),
    Case("not_json", lambda p, m: (p / "model.json").write_text("{not json"), "is not valid JSON"),
    Case("truncated_rehashed", truncate_rehashed,
         "generator.keras is not a readable Keras model file"),
    Case("lambda_layer", generator_payload("lambda"), "`Lambda` layer"),
    Case("exec_layer_class", generator_payload("exec"), "'exec'"),
    Case("enable_unsafe", generator_payload("unlock"), "enable_unsafe_deserialization"),
]
PAYLOADS = {"lambda_layer", "exec_layer_class", "enable_unsafe"}


def make_damaged(root: Path, good: Path, case: Case) -> tuple[Path, Path]:
    """A copy of `good` at root/zz_<id>, damaged; returns it and its payload's marker file."""
    path = root / f"zz_{case.id}"
    shutil.copytree(good, path)
    marker = root.parent / f"{root.name}-{case.id}.ran"
    case.damage(path, marker)
    return path, marker
