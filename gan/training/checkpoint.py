"""Checkpoints that survive `kill -9`: one .npz holding G, D, G_ema, both optimizers' slots,
the step and the run's metadata, written to a temp file and renamed over the previous one.

Nothing is pickled: arrays go in by name and metadata as a JSON string, and loading uses
`allow_pickle=False`. The RNG and augmentation state is the (seed, step) pair, because every
random draw in training is stateless (see gan_model.py and gan.data.pipeline).
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from gan.io import atomic_write_bytes

CHECKPOINT_NAME = "checkpoint.npz"


class CheckpointError(RuntimeError):
    pass


def checkpoint_arrays(groups: dict[str, list]) -> dict[str, np.ndarray]:
    """The arrays a checkpoint stores for `groups`, by name ("group/0007")."""
    arrays: dict[str, np.ndarray] = {}
    for group, variables in groups.items():
        for i, v in enumerate(variables):
            arrays[f"{group}/{i:04d}"] = np.asarray(v.numpy() if hasattr(v, "numpy") else v)
    return arrays


def state_fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """A short SHA-256 of checkpoint arrays (names, dtypes, shapes and bytes): the workers of a
    multi-worker run print theirs, which must all equal the chief's checkpoint's."""
    h = hashlib.sha256()
    for name in sorted(k for k in arrays if k != "__meta__"):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def save_checkpoint(path: str | Path, groups: dict[str, list], meta: dict[str, Any]) -> None:
    arrays = checkpoint_arrays(groups)
    for name, a in arrays.items():
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise CheckpointError(f"refusing to checkpoint non-finite values in {name}")
    counts = {g: len(v) for g, v in groups.items()}
    arrays["__meta__"] = np.array(json.dumps({**meta, "counts": counts}, default=str))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _unreadable(path: str | Path, e: Exception) -> CheckpointError:
    """A CheckpointError saying why `path` cannot be read, in a user's words (NumPy's own
    message for a file that is no archive talks of pickles)."""
    try:
        empty = Path(path).stat().st_size == 0
    except OSError:
        empty = False
    if empty:
        why = "it is empty"
    elif isinstance(e, (zipfile.BadZipFile, EOFError)):
        why = f"it is truncated or not a .npz archive ({e})"
    elif isinstance(e, ValueError) and "pickle" in str(e):
        why = "it is not a .npz archive"
    elif isinstance(e, KeyError):
        why = "it holds no run metadata"
    else:
        why = str(e) or type(e).__name__
    return CheckpointError(f"{path} is not a readable checkpoint: {why}")


def read_meta(path: str | Path) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return json.loads(str(z["__meta__"]))
    except Exception as e:
        raise _unreadable(path, e) from e


def load_checkpoint(path: str | Path, groups: dict[str, list],
                    optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """Assign the saved arrays to `groups`' variables (same structure as saved); return meta.
    A group named in `optional` that the checkpoint lacks keeps its values; meta's
    "missing_groups" lists those."""
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as e:
        raise _unreadable(path, e) from e
    with z:
        meta = json.loads(str(z["__meta__"]))
        meta["missing_groups"] = [g for g in groups if g in optional and g not in meta["counts"]]
        for group, variables in groups.items():
            if group in meta["missing_groups"]:
                continue
            saved = meta["counts"].get(group)
            if saved != len(variables):
                raise CheckpointError(
                    f"{path}: {group} has {saved} saved arrays but the model has {len(variables)}; "
                    "the checkpoint belongs to a different architecture or config")
            for i, v in enumerate(variables):
                a = z[f"{group}/{i:04d}"]
                if tuple(a.shape) != tuple(v.shape):
                    raise CheckpointError(f"{path}: {group}/{i} has shape {a.shape}, model wants "
                                          f"{tuple(v.shape)}")
                v.assign(a)
    return meta
