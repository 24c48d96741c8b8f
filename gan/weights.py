"""Weights stored as int8, one scale per output channel: a quarter of float32's bytes.

Used where a copy of a discriminator must fit in the 60 MB that models/ may hold: the
detectors trained from one (`gan.detector.kerasmodels`) and a bundle's own discriminator when
it is stored compact (`gan.bundle`, `python -m gan.compact`). A kernel (2 or more axes) is kept
as int8 times a float32 scale per output channel (its last axis); anything else (biases,
normalisation) as float16. Whatever reads the file gets exactly `values`, so a figure measured
on the stored weights is the figure of the shipped model.
"""
from __future__ import annotations

import io

import numpy as np

INT8_FORMAT = "facegan-int8-weights/1"


def quantized(weights) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """(arrays to store, the float32 values they stand for)."""
    arrays, values = {}, []
    for i, w in enumerate(weights):
        w = np.asarray(w, np.float32)
        if w.ndim >= 2:
            scale = np.abs(w).max(axis=tuple(range(w.ndim - 1)), keepdims=True) / 127.0
            scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
            q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
            arrays[f"q{i}"], arrays[f"s{i}"] = q, scale
            values.append(q.astype(np.float32) * scale)
        else:
            half = w.astype(np.float16)
            arrays[f"f{i}"] = half
            values.append(half.astype(np.float32))
    return arrays, values


def to_bytes(weights, **extra: np.ndarray) -> tuple[bytes, list[np.ndarray]]:
    """(the file's bytes, the float32 weights it stands for); `extra` arrays are stored beside
    the weights (e.g. the model's architecture) and read back by `read`."""
    arrays, values = quantized(weights)
    buf = io.BytesIO()
    np.savez_compressed(buf, format=np.array(INT8_FORMAT), count=np.array(len(values)),
                        **extra, **arrays)
    return buf.getvalue(), values


def read(data: bytes) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """(the float32 weights, the extra arrays) of a `to_bytes` file; ValueError for any other
    file. Nothing is unpickled."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        if "format" not in z.files or str(z["format"]) != INT8_FORMAT:
            raise ValueError("not a FaceGAN weights file")
        n = int(z["count"])
        weights = [z[f"q{i}"].astype(np.float32) * z[f"s{i}"] if f"q{i}" in z.files
                   else z[f"f{i}"].astype(np.float32) for i in range(n)]
        names = {"format", "count"} | {f"{k}{i}" for i in range(n) for k in "qsf"}
        extra = {k: z[k] for k in z.files if k not in names}
    return weights, extra
