"""Generated faces for the app, each made once.

A process-wide cache keeps, per (model, seed, variety, labels), the longest run of faces
generated so far and only ever extends it: `gan.sampling.latents` makes the first k faces of a
seed independent of how many are asked for, so moving the slider from 16 to 24 generates 8
faces and leaves the 16 on screen byte-identical. Entries are immutable once stored (shared
between sessions and threads); a per-key lock stops two sessions generating the same faces,
and the server-wide model gate (`app_support.gate`) bounds how many generate at once.
"""
from __future__ import annotations

import io
import json
import stat
import threading
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Hashable

import numpy as np
from PIL import Image

from app_support.gate import model_call
from gan import reports, sampling
from gan.images import split_grid


@dataclass(frozen=True)
class Faces:
    images: np.ndarray        # uint8 [n, R, R, 3], read-only
    pngs: tuple[bytes, ...]   # the same faces as PNG files


def png(image: np.ndarray) -> bytes:
    """PNG bytes of one uint8 face (fast zlib level: the app encodes up to 64 at once)."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def labels_key(labels: dict[str, float] | None) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((str(k), round(float(v), 4)) for k, v in (labels or {}).items()))


def toward_key(toward: sampling.Toward | None) -> tuple[tuple[str, float, float], ...]:
    return tuple(sorted((str(k), round(float(e), 4), round(float(t), 4))
                        for k, (e, t) in (toward or {}).items()))


class FaceCache:
    """Faces per (bundle_key, seed, truncation, labels), extended on demand; LRU-bounded."""

    def __init__(self, max_entries: int = 32):
        self.max_entries = int(max_entries)
        self.faces_generated = 0          # faces actually run through a generator (for tests)
        self._entries: OrderedDict[Hashable, Faces] = OrderedDict()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def _get(self, key):
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def faces(self, bundle, bundle_key: Hashable, n: int, seed: int, truncation: float = 1.0,
              labels: dict[str, float] | None = None, z_shift: np.ndarray | None = None,
              toward: sampling.Toward | None = None) -> Faces:
        """The first `n` faces of `seed` (generating only those not made before); `z_shift`
        (an attribute slider's move along a latent direction) is added to every face's z, and
        `toward` (a slider's move of the labels, gan.sampling.label_matrix) to its labels."""
        n = int(n)
        shift = None if z_shift is None else np.asarray(z_shift, np.float32)
        key = (bundle_key, int(seed), round(float(truncation), 4), labels_key(labels),
               None if shift is None else shift.tobytes(), toward_key(toward))
        entry = self._get(key)
        if entry is not None and len(entry.pngs) >= n:
            return Faces(entry.images[:n], entry.pngs[:n])
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            entry = self._get(key)       # another session may have extended it meanwhile
            have = 0 if entry is None else len(entry.pngs)
            if have < n:
                z = sampling.latents(seed, n, bundle.latent_dim, truncation)[have:]
                if shift is not None:
                    z = z + shift
                y = sampling.label_matrix(bundle, n - have, labels, seed=seed, start=have,
                                          toward=toward)
                with model_call():
                    new = sampling.generate_from_latents(bundle, z, y)
                images = new if entry is None else np.concatenate([entry.images, new])
                images.setflags(write=False)
                pngs = (entry.pngs if entry is not None else ()) + tuple(png(f) for f in new)
                entry = Faces(images, pngs)
                with self._lock:
                    self.faces_generated += n - have
                    self._entries[key] = entry
                    self._entries.move_to_end(key)
                    while len(self._entries) > self.max_entries:
                        old, _ = self._entries.popitem(last=False)
                        self._key_locks.pop(old, None)
        return Faces(entry.images[:n], entry.pngs[:n])


def face_file_name(model: str, seed: int, index: int, truncation: float = 1.0,
                   labels: dict[str, float] | None = None) -> str:
    """`default_seed42_07.png` (model, seed, 1-based position), plus the variety and labels when
    not the defaults (`default_seed42_t0.70_male1_07.png`), so a file says where it came from."""
    parts = [model, f"seed{int(seed)}"]
    if round(float(truncation), 4) != 1.0:
        parts.append(f"t{float(truncation):.2f}")
    parts += [f"{k.replace('=', '-')}{v:g}" for k, v in labels_key(labels)]
    return "_".join(parts + [f"{index + 1:02d}.png"])


def _member(name: str, when: tuple) -> zipfile.ZipInfo:
    """A ZIP entry that unpacks as an ordinary file (rw-r--r--): `ZipFile.writestr` with a bare
    name records mode 0600, which leaves the unpacked faces unreadable to anyone else."""
    info = zipfile.ZipInfo(name, date_time=when)
    info.create_system = 3                       # Unix, so unzip applies the mode below
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    info.compress_type = zipfile.ZIP_STORED
    return info


def zip_faces(pngs: tuple[bytes, ...] | list[bytes], names: list[str],
              manifest: dict[str, Any] | None = None) -> bytes:
    """A ZIP of PNG files (stored, not recompressed) plus `faces.json` saying how to remake them."""
    when = time.localtime()[:6]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in zip(names, pngs):
            z.writestr(_member(name, when), data)
        if manifest is not None:
            z.writestr(_member("faces.json", when),
                       json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return buf.getvalue()


@dataclass(frozen=True)
class StoredFaces:
    """Faces the bundle's own evaluation stored (its sample grid), and how they were made."""
    faces: Faces
    seed: int
    truncation: float
    labels: str | None            # how a conditional model's labels were drawn (the report's)


def stored_faces(bundle_path: Path, card: dict[str, Any], n: int) -> StoredFaces | None:
    """The first `n` faces of the evaluation's sample grid (`gan.evaluate` writes the first 64
    faces it measured), read from the PNG, so a page can show this model's faces before
    TensorFlow and the model have loaded. None unless the grid was made by this very generator
    (the report's generator SHA-256 is the card's), holds `n` faces and reads cleanly."""
    ev = card.get("evaluation") or {}
    if not isinstance(ev, dict) or not ev.get("dir"):
        return None
    folder = Path(ev["dir"]) if Path(ev["dir"]).is_absolute() else Path(bundle_path) / ev["dir"]
    found = reports.read(folder / "report.json", reports.EVALUATION, bundle_path)
    report = found.data
    sha = ((card.get("files") or {}).get("generator.keras") or {}).get("sha256")
    if report is None or not sha or report.get("generator_sha256") != sha:
        return None
    name = (report.get("figures") or {}).get("samples")
    size = int((card.get("preprocessing") or {}).get("size", 0) or 0)
    if not name or not size or min(64, int(report["generated"]["images"])) < n:
        return None
    try:
        with Image.open(folder / name) as im:
            grid = np.asarray(im.convert("RGB"))
        cols = max(1, (grid.shape[1] - 2) // (size + 2))       # make_grid's 2-px padding
        images = split_grid(grid, n, size, cols)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    images.setflags(write=False)
    gen = report["generated"]
    return StoredFaces(Faces(images, tuple(png(f) for f in images)), int(gen["seed"]),
                       float(gen.get("truncation", 1.0) or 1.0), gen.get("labels") or None)
