"""Load a whole source of face photos as clean uint8 training data, with a data report.

    data = load_faces("../shared/data/celeba-5k", labels="auto", dedup=True)
    data.images        # uint8 [N, 128, 128, 3]
    data.labels        # float32 [N, K] conditioning vectors, or None
    data.write_report(run_dir / "data_report.json")
    train, holdout = data.split(0.1, seed=0)

Every photo goes through :func:`gan.data.preprocess.prepare_image`, the same function
inference uses. Decoding runs in parallel (joblib) and its result is cached on disk,
keyed by the files' identity (path, size, mtime; CRC for zip members) and the
preprocessing options, so a second load of the same data takes seconds. A bad file
never stops a load: it is skipped and listed with its reason in the report.

No TensorFlow here (see ``gan.data.pipeline`` for the tf.data side).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import time
import uuid
import zipfile
from dataclasses import dataclass, field, replace

try:
    import fcntl
except ImportError:  # Windows: no lock, as before
    fcntl = None

import numpy as np

from . import dedup as _dedup
from .preprocess import (
    CROP_MODES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_SIZE,
    MIN_SIZE,
    PREPROCESS_VERSION,
    ImageError,
    prepare_image,
)
from .sources import Source, detect_source, read_item_bytes
from ..io import atomic_file, atomic_write_text

__all__ = ["FaceData", "load_faces", "default_cache_dir", "encode_labels", "MAX_FILE_BYTES"]

CACHE_ENV = "FACEGAN_CACHE"
CACHE_FORMAT = 1
REPORT_FORMAT = "facegan-data-report/1"
# Files larger than this are not read at all (a photo this size is not a face photo;
# a zip member this size may be a zip bomb).
MAX_FILE_BYTES = 256 * 1024 * 1024
# Fewer files than this are decoded in-process: starting worker processes costs more.
PARALLEL_MIN_ITEMS = 64


@dataclass
class FaceData:
    images: np.ndarray  # uint8 [N, S, S, 3]; a read-only np.memmap of the cache on a cache hit
    labels: np.ndarray | None  # float32 [N, K] conditioning vectors; None without labels
    label_names: list  # K column names, e.g. ["male", "smiling"] or ["class=a", "class=b"]
    label_kind: list  # per column: "binary" | "onehot" | "numeric"
    keys: list  # stable id per image: its path relative to the source root
    report: dict  # JSON-serialisable data report
    hashes: np.ndarray | None = None  # uint64 pHash of each image (of the preprocessed crop)
    face_found: np.ndarray | None = None  # bool per image when crop="face"
    label_info: dict = field(default_factory=dict)  # raw label -> kind, columns, categories, scaling

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def subset(self, index, part: str | None = None) -> "FaceData":
        """The images at ``index`` (ints or a boolean mask), labels kept aligned."""
        idx = np.arange(len(self))[np.asarray(index)] if len(self) else np.zeros(0, int)
        report = json.loads(json.dumps(self.report))
        if part is not None:
            report.setdefault("subsets", []).append({"part": part, "images": int(len(idx))})
        return replace(
            self,
            images=self.images[idx],
            labels=None if self.labels is None else self.labels[idx],
            keys=[self.keys[i] for i in idx],
            report=report,
            hashes=None if self.hashes is None else self.hashes[idx],
            face_found=None if self.face_found is None else self.face_found[idx],
        )

    def split(self, holdout_fraction: float, seed: int = 0) -> tuple["FaceData", "FaceData"]:
        """(train, holdout): each image goes to holdout when a hash of (seed, key) falls
        below ``holdout_fraction``. The side of a photo depends only on its key and the
        seed, never on load order, other files, or dedup."""
        if not 0.0 <= holdout_fraction <= 1.0:
            raise ValueError("holdout_fraction must be in [0, 1]")
        u = np.array([unit_hash(seed, k) for k in self.keys], dtype=np.float64)
        hold = u < holdout_fraction
        train, holdout = self.subset(~hold, part="train"), self.subset(hold, part="holdout")
        for d in (train, holdout):
            d.report["split"] = {"holdout_fraction": holdout_fraction, "seed": seed,
                                 "train": int((~hold).sum()), "holdout": int(hold.sum())}
        return train, holdout

    def write_report(self, path) -> None:
        path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        atomic_write_text(path, json.dumps(self.report, indent=1, sort_keys=False) + "\n")


def unit_hash(seed: int, key: str) -> float:
    """A number in [0, 1) fixed by (seed, key): where a photo goes is decided by its name,
    never by load order."""
    h = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


# --------------------------------------------------------------------------- labels


def _select_labels(src: Source, labels) -> list:
    if labels is None or labels is False:
        return []
    if isinstance(labels, str):
        if labels.strip().lower() == "auto":
            return list(src.auto_labels)
        labels = [s for s in labels.split(",") if s.strip()]
    names = []
    for want in labels:
        n = want.strip().lower()
        if n not in src.labels:
            have = ", ".join(src.labels) or "none"
            raise ValueError(f"label {want!r} not in {src.path} (its labels: {have})")
        if n not in names:
            names.append(n)
    return names


def encode_labels(src: Source, names: list, keys: list):
    """Conditioning vectors of ``keys`` for the raw labels ``names``.

    Returns (matrix float32 [N, K], column names, column kinds, info, missing) where
    ``missing[i]`` is the first requested label image i lacks (None when complete).
    Binary labels give one 0/1 column; categorical ones a one-hot column per category
    ("race=asian"); numeric ones one column, (value - offset) / scale.
    """
    cols, kinds, info, blocks = [], [], {}, []
    missing = [None] * len(keys)
    for name in names:
        spec = src.labels[name]
        if spec.kind == "categorical":
            c = [f"{name}={cat}" for cat in spec.categories]
            index = {cat: j for j, cat in enumerate(spec.categories)}
            block = np.zeros((len(keys), len(c)), np.float32)
            for i, k in enumerate(keys):
                v = spec.values.get(k)
                if v is None:
                    missing[i] = missing[i] or name
                else:
                    block[i, index[v]] = 1.0
            kinds += ["onehot"] * len(c)
            info[name] = {"kind": "categorical", "columns": c, "categories": list(spec.categories)}
        else:
            c = [name]
            block = np.zeros((len(keys), 1), np.float32)
            for i, k in enumerate(keys):
                v = spec.values.get(k)
                if v is None:
                    missing[i] = missing[i] or name
                elif spec.kind == "numeric":
                    block[i, 0] = (float(v) - spec.offset) / spec.scale
                else:
                    block[i, 0] = float(v)
            kinds.append(spec.kind)
            info[name] = {"kind": spec.kind, "columns": c}
            if spec.kind == "numeric":
                info[name].update(offset=spec.offset, scale=spec.scale)
        cols += c
        blocks.append(block)
    matrix = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(keys), 0), np.float32)
    return matrix, cols, kinds, info, missing


def _label_counts(matrix, cols, kinds, info) -> dict:
    counts = {}
    for j, (c, k) in enumerate(zip(cols, kinds)):
        col = matrix[:, j] if len(matrix) else np.zeros(0, np.float32)
        if k == "numeric":
            name = c
            off, sc = info[name]["offset"], info[name]["scale"]
            raw = col * sc + off
            counts[c] = {"min": float(raw.min()) if len(raw) else None,
                         "max": float(raw.max()) if len(raw) else None,
                         "mean": float(raw.mean()) if len(raw) else None}
        else:
            counts[c] = int(col.sum())
    return counts


# --------------------------------------------------------------------------- decoding


def _decode_chunk(container, root, refs, options, in_worker):
    """Decode [(ref, nbytes)] -> [(image|None, face_found|None, phash, kind, reason)].

    Runs in a joblib worker: never raises for a bad file, returns its reason instead.
    """
    if in_worker:
        import cv2

        cv2.setNumThreads(1)  # one process per core already
    zf = None
    out = []
    try:
        if container == "zip":
            zf = zipfile.ZipFile(root)
        for ref, nbytes in refs:
            try:
                if nbytes > MAX_FILE_BYTES:
                    raise ImageError(f"file too large ({nbytes:,} bytes > {MAX_FILE_BYTES:,})",
                                     kind="file too large")
                try:
                    data = read_item_bytes(container, root, ref, zf)
                except ImageError:
                    raise
                except (OSError, zipfile.BadZipFile, EOFError, ValueError) as e:
                    raise ImageError(f"unreadable file ({e})", kind="unreadable file") from None
                p = prepare_image(data, size=options["size"], crop=options["crop"],
                                  max_pixels=options["max_pixels"], min_size=options["min_size"])
                out.append((p.image, p.face_found, _dedup.phash(p.image), None, None))
            except ImageError as e:
                out.append((None, None, 0, e.kind, e.reason))
            except Exception as e:  # noqa: BLE001 - never die on one file
                out.append((None, None, 0, "unreadable image", f"unreadable image ({type(e).__name__}: {e})"))
    finally:
        if zf is not None:
            zf.close()
    return out


def _decode(src: Source, todo: list, options: dict, n_jobs: int, progress: bool) -> dict:
    """Decode items ``todo`` (indices into src.items) -> {index: result tuple}."""
    results = {}
    if not todo:
        return results
    from joblib import Parallel, cpu_count, delayed
    from tqdm.auto import tqdm

    workers = cpu_count() if n_jobs is None or n_jobs < 0 else max(1, n_jobs)
    if n_jobs is not None and n_jobs < -1:
        workers = max(1, cpu_count() + 1 + n_jobs)
    parallel = workers > 1 and len(todo) >= PARALLEL_MIN_ITEMS
    chunk = max(8, min(128, len(todo) // (workers * 8) or 8))
    chunks = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]
    args = [[(src.items[i].ref, src.items[i].size) for i in c] for c in chunks]
    bar = tqdm(total=len(todo), desc="decoding faces", unit="img", disable=not progress, leave=False)
    try:
        if parallel:
            gen = Parallel(n_jobs=workers, return_as="generator")(
                delayed(_decode_chunk)(src.container, src.root, a, options, True) for a in args
            )
        else:
            gen = (_decode_chunk(src.container, src.root, a, options, False) for a in args)
        for c, res in zip(chunks, gen):
            for i, r in zip(c, res):
                results[i] = r
            bar.update(len(c))
    finally:
        bar.close()
    return results


# --------------------------------------------------------------------------- cache


def default_cache_dir() -> str:
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "facegan")


def _cache_name(src: Source, options: dict) -> str:
    ident = json.dumps({"root": src.root, "container": src.container, "prefix": src.prefix,
                        "options": options, "format": CACHE_FORMAT}, sort_keys=True)
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


def _read_cache(cache_dir: str, name: str, options: dict):
    """The cached decode (meta dict, images array) or None."""
    meta_path = os.path.join(cache_dir, name + ".json")
    if not os.path.exists(meta_path):
        return None
    with open(meta_path) as f:
        meta = json.load(f)
    if meta.get("format") != CACHE_FORMAT or meta.get("options") != options:
        return None
    # Memory-mapped, read-only: a cache hit starts at once and pages are read as used
    # (an empty array cannot be mapped).
    mode = "r" if meta.get("n_ok") else None
    images = np.load(os.path.join(cache_dir, meta["images_file"]), mmap_mode=mode, allow_pickle=False)
    s = options["size"]
    if images.dtype != np.uint8 or images.shape[1:] != (s, s, 3) or len(images) != meta["n_ok"]:
        return None
    return meta, images


@contextlib.contextmanager
def _entry_lock(cache_dir: str, name: str):
    """Hold an exclusive lock on one cache entry while it is written.

    Two runs started together on the same photos both decode and both write; without the
    lock each one's clean-up deleted the other's array and the index named a missing file."""
    with open(os.path.join(cache_dir, name + ".lock"), "a") as f:
        if fcntl is not None:
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(f, fcntl.LOCK_UN)


def _write_cache(cache_dir: str, name: str, meta: dict, images: np.ndarray) -> None:
    os.makedirs(cache_dir, exist_ok=True)
    with _entry_lock(cache_dir, name):
        images_file = f"{name}-{uuid.uuid4().hex[:12]}.npy"
        with atomic_file(os.path.join(cache_dir, images_file), "wb") as f:
            np.save(f, images, allow_pickle=False)
        meta = dict(meta, images_file=images_file)
        atomic_write_text(os.path.join(cache_dir, name + ".json"), json.dumps(meta))
        for old in os.listdir(cache_dir):  # older arrays of this cache entry
            if old.startswith(name + "-") and old.endswith(".npy") and old != images_file:
                try:
                    os.unlink(os.path.join(cache_dir, old))
                except OSError:
                    pass


def _open_cache(src: Source, options: dict, cache_dir):
    """Find this load's cache entry and read it, so unchanged files are not decoded again.

    Returns (cache info for the report, cache dir, entry name, cached (meta, images) or None).
    An unreadable entry is not an error: it is noted and rebuilt."""
    if cache_dir is False:
        return {"status": "off"}, cache_dir, None, None
    cache_dir = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
    name = _cache_name(src, options)
    cache = {"status": "miss", "dir": cache_dir, "entry": name}
    try:
        cached = _read_cache(cache_dir, name, options)
    except (OSError, ValueError, KeyError, TypeError) as e:
        cache["error"] = f"cache unreadable, rebuilt: {e}"
        cached = None
    return cache, cache_dir, name, cached


def _reusable_items(cached, identity: list) -> dict:
    """{item index: its cached status} for every item whose file identity (key, size,
    stamp) is unchanged since the cache was written: those need no decoding.

    A cached status is ["ok", row in the cached images] or ["bad", kind, reason]."""
    reuse = {}
    if cached is None:
        return reuse
    meta, _ = cached
    old = {idn[0]: (idn, st) for idn, st in zip(meta["identity"], meta["status"])}
    for i, idn in enumerate(identity):
        hit = old.get(idn[0])
        if hit is not None and list(hit[0]) == idn:
            reuse[i] = hit[1]
    return reuse


def _cache_status(cache: dict, cached, identity: list, reuse: dict, todo: list) -> None:
    """Say in the report whether the cache served all ("hit"), some ("partial") or none
    ("miss") of the items, and how many were reused and decoded."""
    if cached is not None and not todo and len(cached[0]["identity"]) == len(identity):
        cache["status"] = "hit"
    elif reuse:
        cache["status"] = "partial"
    if cache["status"] != "off":
        cache["reused"], cache["decoded"] = len(reuse), len(todo)


def _item_outcomes(src: Source, reuse: dict, fresh: dict):
    """Per item, in source order: its row in the image array or why it was skipped.

    Returns (status list for the cache, indices of the usable items, skipped list for
    the report). Rows are numbered in source order, so the output order is the source's."""
    status, ok_idx, skipped = [], [], []
    for i, it in enumerate(src.items):
        if i in reuse:
            st = reuse[i]
            ok = st[0] == "ok"
            kind, reason = (None, None) if ok else (st[1], st[2])
        else:
            img, _, _, kind, reason = fresh[i]
            ok = img is not None
        if ok:
            status.append(["ok", len(ok_idx)])
            ok_idx.append(i)
        else:
            status.append(["bad", kind, reason])
            skipped.append({"file": it.key, "kind": kind, "reason": reason})
    return status, ok_idx, skipped


def _assemble_arrays(ok_idx: list, reuse: dict, fresh: dict, cached, cache: dict, size: int):
    """(images, face flags int8, hashes) of the usable items, merging cached and freshly
    decoded rows. On a full hit with the rows in the same order, the cached (memory-mapped)
    array is used as it is, without a copy."""
    if cached is not None:
        meta, old_images = cached
        if cache["status"] == "hit" and [reuse[i][1] for i in ok_idx] == list(range(meta["n_ok"])):
            face = np.asarray(meta["face"], np.int8)
            hashes = np.array([int(h, 16) for h in meta["hashes"]], np.uint64)
            return old_images, face, hashes
    images = np.empty((len(ok_idx), size, size, 3), np.uint8)
    face = np.full(len(ok_idx), -1, np.int8)
    hashes = np.zeros(len(ok_idx), np.uint64)
    rows = [(row, reuse[i][1]) for row, i in enumerate(ok_idx) if i in reuse]
    if rows:
        new_rows, old_rows = (np.array(x, np.int64) for x in zip(*rows))
        images[new_rows] = old_images[old_rows]
        face[new_rows] = np.asarray(meta["face"], np.int8)[old_rows]
        hashes[new_rows] = np.array([int(meta["hashes"][r], 16) for r in old_rows], np.uint64)
    for row, i in enumerate(ok_idx):
        if i not in reuse:
            img, ff, h, _, _ = fresh[i]
            images[row] = img
            face[row] = -1 if ff is None else int(ff)
            hashes[row] = h
    return images, face, hashes


def _store_cache(cache: dict, cache_dir: str, name: str, src: Source, options: dict,
                 identity: list, status: list, images, face, hashes) -> None:
    """Write the new cache entry after a miss or partial hit, so the next load is fast.
    A cache that cannot be written is noted in the report, never an error."""
    if cache["status"] in ("off", "hit"):
        return
    new_meta = {"format": CACHE_FORMAT, "source": src.root, "options": options, "identity": identity,
                "status": status, "n_ok": len(images), "face": face.tolist(),
                "hashes": [format(int(h), "016x") for h in hashes]}
    try:
        _write_cache(cache_dir, name, new_meta, images)
    except OSError as e:
        cache["error"] = f"cache not written: {e}"


def _decode_all(src: Source, options: dict, cache_dir, n_jobs: int, progress: bool):
    """Decode every item of ``src``, reusing the cache. Returns (ok item indices,
    images, face flags int8, hashes, skipped list, cache info, decode seconds)."""
    identity = src.identity()
    cache, cache_dir, name, cached = _open_cache(src, options, cache_dir)
    reuse = _reusable_items(cached, identity)
    todo = [i for i in range(len(identity)) if i not in reuse]
    _cache_status(cache, cached, identity, reuse, todo)

    t = time.perf_counter()
    fresh = _decode(src, todo, options, n_jobs, progress)
    decode_seconds = time.perf_counter() - t

    status, ok_idx, skipped = _item_outcomes(src, reuse, fresh)
    images, face, hashes = _assemble_arrays(ok_idx, reuse, fresh, cached, cache, options["size"])
    _store_cache(cache, cache_dir, name, src, options, identity, status, images, face, hashes)
    return ok_idx, images, face, hashes, skipped, cache, decode_seconds


# --------------------------------------------------------------------------- load_faces


class _Rows:
    """images[sel[i]] without copying the selection."""

    def __init__(self, images, sel):
        self.images, self.sel = images, sel

    def __getitem__(self, i):
        return self.images[self.sel[i]]


def _check_options(size, crop: str, dedup) -> None:
    """Refuse bad options before any file is read: a mistake costs no decoding time."""
    if crop not in CROP_MODES:
        raise ValueError(f"crop must be one of {CROP_MODES}, not {crop!r}")
    if int(size) < 8:
        raise ValueError(f"size must be at least 8, not {size}")
    if dedup not in (False, True, "report"):
        raise ValueError('dedup must be False, True or "report"')


def _preprocess_options(size, crop: str, min_size, max_pixels) -> dict:
    """Everything that changes the decoded pixels: it keys the cache (with the
    preprocessing version, so a change to preprocessing invalidates old entries)."""
    return {"size": int(size), "crop": crop, "min_size": int(min_size), "max_pixels": int(max_pixels),
            "preprocess_version": PREPROCESS_VERSION}


def _keep_labelled(src: Source, wanted: list, keys: list, skipped: list):
    """Encode the requested labels and leave out the images lacking one (a conditional
    model cannot train on them); each is added to ``skipped`` as "missing label".

    Returns (label matrix of all ``keys``, columns, kinds, info, kept positions, n left out)."""
    matrix, cols, kinds, info, missing = encode_labels(src, wanted, keys)
    keep = np.array([m is None for m in missing], dtype=bool)
    for k, m in zip(keys, missing):
        if m is not None:
            skipped.append({"file": k, "kind": "missing label", "reason": f"missing label: {m}"})
    return matrix, cols, kinds, info, np.nonzero(keep)[0], int((~keep).sum())


def _drop_duplicates(images, hashes, keys: list, sel, dedup, threshold: int, min_correlation: float):
    """Find near-duplicates among the selected images (a face seen twice is overweighted and
    can leak across the train/held-out split). dedup=True drops all but one of each group,
    "report" only lists them. Returns (selection left, duplicates report)."""
    if not dedup:
        return sel, {"checked": False}
    pairs = _dedup.find_duplicates(_Rows(images, sel), hashes[sel], threshold, min_correlation)
    drop = _dedup.duplicates_to_drop(len(sel), pairs) if dedup is True else np.zeros(len(sel), bool)
    dup_report = {
        "checked": True,
        "method": "pHash (ImageHash, 64 bit) of the preprocessed crops within `threshold` bits, "
                  "confirmed by correlation of 32x32 grey thumbnails >= `min_correlation`",
        "threshold": int(threshold),
        "min_correlation": float(min_correlation),
        "pairs": [{"a": keys[sel[i]], "b": keys[sel[j]], "distance": d, "correlation": c}
                  for i, j, d, c in pairs],
        "dropped": [keys[sel[i]] for i in np.nonzero(drop)[0]],
    }
    return sel[~drop], dup_report


def _face_crop_report(out_face) -> dict:
    """How often the face detector found a face, and how often the centre crop stood in:
    a high fallback fraction means the photos are not the faces the model expects."""
    found = int(out_face.sum())
    return {
        "detector": "OpenCV Haar cascade haarcascade_frontalface_default",
        "faces_found": found,
        "center_fallback": int(len(out_face) - found),
        "fallback_fraction": round((len(out_face) - found) / len(out_face), 4) if len(out_face) else 0.0,
    }


def _build_report(src: Source, options: dict, labels, wanted: list, dedup, dedup_threshold,
                  dedup_min_correlation, counts: dict, skipped: list, label_part: dict,
                  dup_report: dict, cache: dict, timing: dict, out_face) -> dict:
    """The data report: what was read, skipped and dropped and why, so a run's data can be
    checked without reading the photos again. Key order is the report's reading order."""
    by_kind = {}
    for d in skipped:
        by_kind[d["kind"]] = by_kind.get(d["kind"], 0) + 1
    return {
        "format": REPORT_FORMAT,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source": {"path": src.path, "kind": src.kind, "container": src.container,
                   "label_file": src.label_file, **src.notes},
        "options": {**options, "labels": wanted if labels != "auto" else "auto", "dedup": dedup,
                    "dedup_threshold": int(dedup_threshold) if dedup else None,
                    "dedup_min_correlation": float(dedup_min_correlation) if dedup else None},
        "counts": {**counts, "skipped_by_reason": dict(sorted(by_kind.items()))},
        "face_crop": None if out_face is None else _face_crop_report(out_face),
        "labels": label_part,
        "duplicates": dup_report,
        "skipped": skipped,
        "cache": cache,
        "timing": timing,
    }


def load_faces(
    path,
    size: int = DEFAULT_SIZE,
    crop: str = "face",
    labels=None,
    dedup=False,
    cache_dir=None,
    n_jobs: int = -1,
    min_size: int = MIN_SIZE,
    progress: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    dedup_threshold: int = _dedup.DEFAULT_THRESHOLD,
    dedup_min_correlation: float = _dedup.DEFAULT_MIN_CORRELATION,
) -> FaceData:
    """Load every face photo of ``path`` (folder, .zip, CelebA, CSV-labelled folder,
    UTKFace), preprocessed exactly as :func:`gan.data.preprocess.prepare_image` does.

    labels: None (no labels) | "auto" (all the source has) | names, as a list or a
        comma-separated string (case-insensitive). With labels, images lacking one of
        them are left out (listed in the report as "missing label").
    dedup: False | True (find near-duplicates and keep one of each group) |
        "report" (find and list them, keep all). See gan.data.dedup for the method and
        ``dedup_threshold`` / ``dedup_min_correlation``.
    cache_dir: where decoded arrays are cached (default: $FACEGAN_CACHE or
        ~/.cache/facegan); False: no cache.
    n_jobs: decoding processes (-1: all cores).
    min_size: photos whose shorter side is below this many pixels are skipped.
    """
    t0 = time.perf_counter()
    _check_options(size, crop, dedup)
    src = detect_source(path)
    wanted = _select_labels(src, labels)
    options = _preprocess_options(size, crop, min_size, max_pixels)

    # 1. Decode (or take from the cache) every file; bad files are skipped with a reason.
    ok_idx, images, face, hashes, skipped, cache, decode_seconds = _decode_all(
        src, options, cache_dir, n_jobs, progress)
    keys = [src.items[i].key for i in ok_idx]
    n_skipped_files = len(skipped)

    # 2. Keep the images that have every requested label, then 3. drop near-duplicates.
    matrix, cols, kinds, info, sel, n_missing = _keep_labelled(src, wanted, keys, skipped)
    sel, dup_report = _drop_duplicates(images, hashes, keys, sel, dedup, dedup_threshold,
                                       dedup_min_correlation)

    # 4. The selected rows, in source order, and the report of how they were chosen.
    out_images = images if len(sel) == len(images) else images[sel]
    out_labels = matrix[sel].astype(np.float32) if wanted else None
    out_face = None if crop != "face" else face[sel] == 1
    counts = {"found": len(src.items), "decoded": len(keys), "skipped_files": n_skipped_files,
              "missing_labels": n_missing, "duplicates_dropped": len(dup_report.get("dropped", [])),
              "loaded": len(sel)}
    label_part = {"names": wanted, "columns": cols, "kinds": kinds, "info": info,
                  "counts": _label_counts(out_labels, cols, kinds, info) if wanted else {}}
    timing = {"decode_seconds": round(decode_seconds, 3), "n_jobs": n_jobs}
    report = _build_report(src, options, labels, wanted, dedup, dedup_threshold, dedup_min_correlation,
                           counts, skipped, label_part, dup_report, cache, timing, out_face)
    report["timing"]["total_seconds"] = round(time.perf_counter() - t0, 3)
    return FaceData(images=out_images, labels=out_labels, label_names=cols, label_kind=kinds,
                    keys=[keys[i] for i in sel], report=report, hashes=hashes[sel],
                    face_found=out_face, label_info=info)
