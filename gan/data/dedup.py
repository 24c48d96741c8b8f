"""Near-duplicate photos: perceptual hash (ImageHash's 64-bit DCT pHash), then a check.

Hashes are taken of the *preprocessed* crops (what the model would see), so two copies
of a photo that differ in size, compression or a few pixels of framing still match.

1. Candidates: pairs whose hashes differ in at most ``threshold`` of 64 bits.
2. Check: the normalised cross-correlation of the two crops' 32 x 32 greyscale
   thumbnails is at least ``min_correlation``.

pHash alone cannot separate near-duplicates from different photos of aligned faces:
aligned faces share their coarse layout, so different people in the same pose reach
distance 2 to 4 while true copies with a new crop or colour reach 6 to 10. The check
removes those (see docs/data.md for how both defaults were chosen on CelebA).

    python -m gan.data dedup DIR_OR_ZIP [DIR_OR_ZIP ...] [--threshold 10] [--sheet out.png]

finds the pairs within and across several sources (the command lives in gan/data/__main__.py,
so this module never imports the loader that imports it).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Hamming distance (bits of 64) at or below which two crops are candidates.
DEFAULT_THRESHOLD = 10
# Correlation of 32 x 32 greyscale thumbnails at or above which candidates are duplicates.
DEFAULT_MIN_CORRELATION = 0.95
THUMB_SIZE = 32


def phash(image: np.ndarray) -> int:
    """64-bit perceptual hash of a uint8 (H, W, 3) image, as a Python int."""
    import imagehash

    bits = imagehash.phash(Image.fromarray(np.asarray(image, dtype=np.uint8))).hash.ravel()
    return int.from_bytes(np.packbits(bits.astype(np.uint8)).tobytes(), "big")


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    b = x.view(np.uint8).reshape(x.shape + (8,))
    return np.unpackbits(b, axis=-1).sum(axis=-1)


def find_pairs(hashes, threshold: int = DEFAULT_THRESHOLD, block: int = 512) -> list[tuple[int, int, int]]:
    """All pairs (i, j, distance), i < j, whose hashes differ in <= threshold bits.

    Exact all-pairs search in blocks: about a second for 20,000 hashes; it grows with N^2.
    """
    h = np.asarray(hashes, dtype=np.uint64).ravel()
    n = len(h)
    pairs = []
    for i0 in range(0, n, block):
        i1 = min(n, i0 + block)
        d = _popcount(h[i0:i1, None] ^ h[None, i0:])  # columns start at i0: only j >= i
        ii, jj = np.nonzero(d <= threshold)
        for a, b in zip(ii.tolist(), jj.tolist()):
            i, j = i0 + a, i0 + b
            if j > i:
                pairs.append((i, j, int(d[a, b])))
    pairs.sort()
    return pairs


def _thumb(image: np.ndarray) -> np.ndarray:
    g = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("L")
    v = np.asarray(g.resize((THUMB_SIZE, THUMB_SIZE), Image.Resampling.BOX), np.float32).ravel()
    v = v - v.mean()
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-6 else v  # a flat image correlates with nothing


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two images' 32 x 32 greyscale thumbnails."""
    return float(_thumb(a) @ _thumb(b))


def find_duplicates(images, hashes, threshold: int = DEFAULT_THRESHOLD,
                    min_correlation: float = DEFAULT_MIN_CORRELATION) -> list[tuple[int, int, int, float]]:
    """Near-duplicate pairs (i, j, hash distance, correlation), i < j: hash candidates
    (:func:`find_pairs`) whose thumbnails correlate at least ``min_correlation``."""
    pairs = find_pairs(hashes, threshold)
    thumbs = {}

    def t(i):
        if i not in thumbs:
            thumbs[i] = _thumb(images[i])
        return thumbs[i]

    out = []
    for i, j, d in pairs:
        c = float(t(i) @ t(j))
        if c >= min_correlation:
            out.append((i, j, d, round(c, 4)))
    return out


def duplicates_to_drop(n: int, pairs) -> np.ndarray:
    """Boolean mask of images to drop: in every group of near-duplicates (connected by
    pairs) the one with the lowest index stays."""
    return groups(n, pairs) != np.arange(n)


def groups(n: int, pairs) -> np.ndarray:
    """Group id (its smallest member) of every image, images linked by duplicate pairs."""
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, *_ in pairs:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return np.array([find(i) for i in range(n)], int)
