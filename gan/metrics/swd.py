"""Sliced Wasserstein distance (SWD) between two sets of images, as ProGAN defines it.

Why this metric: it needs no pretrained network (FID's InceptionV3 weights cannot be
downloaded here), and it looks at the statistics of small image patches at several scales, so
it tells blurry faces (fine levels), wrong textures and wrong colours/layout (coarse levels)
apart. Lower is better; a set against itself scores about 0.

Definition (Karras et al. 2018, "Progressive growing of GANs", appendix D, and their
reference code `metrics/sliced_wasserstein.py`), followed step by step:

1. a Laplacian pyramid of each image (5-tap binomial filter, mirrored borders, as
   `cv2.pyrDown`/`pyrUp`) from the full resolution down to 16 px: at 128 px the levels are
   128, 64, 32 (band-pass detail) and 16 (the low-pass residual);
2. 128 random 7x7 neighbourhoods per image per level, each a 7x7x3 = 147-number descriptor;
3. per level and per set, each colour channel of the descriptors is normalised to mean 0 and
   standard deviation 1 over all of that set's descriptors (ProGAN's `finalize_descriptors`:
   each set by its own statistics, not pooled; pooled statistics give 20 / 280 instead of
   15 / 64 for real / blurred CelebA, far from the published scale). One addition: a standard
   deviation below 1 grey level counts as 1, so a set of (nearly) flat images, such as an
   untrained generator's grey output, is not blown up to arbitrary figures (ProGAN divides by
   about 0 there); real photos have 3 to 70 grey levels per band, so they are unaffected;
4. 4 repeats of 128 random unit directions (512 projections in all); per direction, the 1-D
   Wasserstein distance of the two projected sets = mean |difference| of their sorted values;
5. averaged over descriptors, directions and repeats, multiplied by 1e3 ("SWDx1e3"), per
   level, and the mean over levels is the headline figure.

Both sets must give the same number of descriptors (sorted values are matched one to one),
so the larger set is subsampled to the size of the smaller. The figure depends a little on the
number of images (fewer images: a higher floor), so reports carry it.

NumPy, vectorised, with OpenCV's pyramid functions (ProGAN's own were written to match them):
1,000 vs 1,000 images at 128 px take well under a minute on 2 cores.
"""
from __future__ import annotations

import cv2
import numpy as np

NHOOD_SIZE = 7             # ProGAN: 7x7 neighbourhoods
NHOODS_PER_IMAGE = 128     # ProGAN: 128 per image per level
DIR_REPEATS = 4            # ProGAN: 4 repeats ...
DIRS_PER_REPEAT = 128      # ... of 128 random directions
MIN_RESOLUTION = 16        # ProGAN: levels down to 16 px
SCALE = 1e3                # ProGAN reports SWD x 1e3
STD_FLOOR = 1.0            # grey levels (images in 0..255): see step 3 of the docstring

def resolutions(size: int) -> list[int]:
    """Pyramid levels for square images of side `size`: [size, size/2, ..., 16]."""
    out, res = [], int(size)
    while res >= MIN_RESOLUTION:
        out.append(res)
        res //= 2
    if not out:
        raise ValueError(f"SWD needs images of at least {MIN_RESOLUTION} px, got {size}")
    return out


def pyr_down(image: np.ndarray) -> np.ndarray:
    """Blur (5x5 binomial, mirrored borders) and keep every other pixel: ProGAN's `pyr_down`,
    which its authors wrote to match `cv2.pyrDown`; OpenCV's is used for speed."""
    return cv2.pyrDown(image)


def pyr_up(image: np.ndarray) -> np.ndarray:
    """Insert zeros between pixels and blur with 4x the kernel (ProGAN's `pyr_up` =
    `cv2.pyrUp`)."""
    return cv2.pyrUp(image)


def laplacian_pyramid(images: np.ndarray, levels: int) -> list[np.ndarray]:
    """float32 NHWC levels, finest first; the last level is the low-pass residual."""
    images = np.asarray(images, np.float32)
    out: list[list[np.ndarray]] = [[] for _ in range(levels)]
    for image in images:
        current = image
        for lod in range(levels - 1):
            down = pyr_down(current)
            out[lod].append(current - pyr_up(down))
            current = down
        out[-1].append(current)
    return [np.stack(level) for level in out]


def descriptors(level: np.ndarray, rng: np.random.Generator,
                nhoods_per_image: int = NHOODS_PER_IMAGE, size: int = NHOOD_SIZE) -> np.ndarray:
    """[n * nhoods_per_image, size, size, 3] random neighbourhoods of one pyramid level."""
    n, h, w, _ = level.shape
    half = size // 2
    m = n * nhoods_per_image
    img = np.repeat(np.arange(n), nhoods_per_image)[:, None, None]
    ys = rng.integers(half, h - half, size=m)[:, None, None] + np.arange(-half, half + 1)[None, :, None]
    xs = rng.integers(half, w - half, size=m)[:, None, None] + np.arange(-half, half + 1)[None, None, :]
    return level[img, ys, xs]


def normalise(desc: np.ndarray) -> np.ndarray:
    """Per colour channel: mean 0, std 1 over all descriptors of one set; flattened rows.
    A std below STD_FLOOR grey levels is taken as STD_FLOOR (see the module docstring)."""
    desc = desc - desc.mean(axis=(0, 1, 2), keepdims=True)
    desc = desc / np.maximum(desc.std(axis=(0, 1, 2), keepdims=True), STD_FLOOR)
    return desc.reshape(len(desc), -1).astype(np.float32)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.Generator,
                       dir_repeats: int = DIR_REPEATS, dirs_per_repeat: int = DIRS_PER_REPEAT,
                       chunk: int = 32) -> float:
    """Mean 1-D Wasserstein distance of `a` and `b` (same shape [n, d]) over random unit
    directions. Projections are sorted along the contiguous axis, a chunk of directions at a
    time, to bound memory (n x chunk floats per set)."""
    if a.shape != b.shape:
        raise ValueError(f"descriptor sets differ in shape: {a.shape} vs {b.shape}")
    results = []
    for _ in range(dir_repeats):
        dirs = rng.standard_normal((a.shape[1], dirs_per_repeat)).astype(np.float32)
        dirs /= np.sqrt(np.sum(dirs * dirs, axis=0, keepdims=True))
        total = 0.0
        for s in range(0, dirs_per_repeat, chunk):
            d = dirs[:, s:s + chunk].T
            pa = np.sort(d @ a.T, axis=1)       # [chunk, n], sorted along contiguous rows
            pb = np.sort(d @ b.T, axis=1)
            total += float(np.abs(pa - pb).sum(dtype=np.float64))
        results.append(total / (a.shape[0] * dirs_per_repeat))
    return float(np.mean(results))


def _one_blas_thread():
    """The BLAS calls here are small; letting each of our threads start its own BLAS threads
    only makes them spin against each other (40 % more CPU time, measured)."""
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(1, user_api="blas")
    except ImportError:   # scikit-learn brings threadpoolctl; without it, run as is
        import contextlib

        return contextlib.nullcontext()


def swd(images_a: np.ndarray, images_b: np.ndarray, seed: int = 0, batch: int = 250,
        workers: int = 2) -> dict:
    """SWDx1e3 of two uint8 (or float, 0..255) image sets [n, S, S, 3].

    Returns {"levels": {"128": x, "64": ..., "16": ...}, "average": mean over levels,
    "images": n used per set, "descriptors": per set per level}. Same seed, same figures
    (whatever `workers`: each level draws its directions from its own seeded stream)."""
    a, b = np.asarray(images_a), np.asarray(images_b)
    if a.ndim != 4 or a.shape[1:] != b.shape[1:] or a.shape[-1] != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"SWD needs two sets of square RGB images of one size, got "
                         f"{a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("SWD needs at least 2 images per set")
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b))
    # The larger set is subsampled (without replacement) so both give as many descriptors.
    if len(a) > n:
        a = a[np.sort(rng.choice(len(a), n, replace=False))]
    if len(b) > n:
        b = b[np.sort(rng.choice(len(b), n, replace=False))]
    res = resolutions(a.shape[1])
    desc: dict[str, list[list[np.ndarray]]] = {"a": [[] for _ in res], "b": [[] for _ in res]}
    for name, images in (("a", a), ("b", b)):
        for s in range(0, n, batch):       # batches bound the pyramid's memory
            for lod, level in enumerate(laplacian_pyramid(images[s:s + batch], len(res))):
                desc[name][lod].append(descriptors(level, rng))

    def level_distance(lod: int) -> float:
        da = normalise(np.concatenate(desc["a"][lod]))
        db = normalise(np.concatenate(desc["b"][lod]))
        return sliced_wasserstein(da, db, np.random.default_rng([seed, lod])) * SCALE

    # NumPy's sort and matmul release the GIL, so levels run in parallel threads.
    from concurrent.futures import ThreadPoolExecutor

    with _one_blas_thread(), ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        dists = list(pool.map(level_distance, range(len(res))))
    levels = {str(r): float(d) for r, d in zip(res, dists)}
    return {"levels": levels, "average": float(np.mean(dists)),
            "images": int(n), "descriptors": int(n * NHOODS_PER_IMAGE)}


# Where a model's average SWD sits, for people who do not know the scale: figures measured
# with this implementation on 1,000 vs 1,000 CelebA face crops at 128 px (docs/metrics.md),
# and, for the two models we could not rerun, the figures the project measured earlier.
REFERENCES: list[tuple[str, float]] = [
    ("real photos vs other real photos", 11.0),
    ("real photos blurred (2-px Gaussian)", 60.0),
    ("keras-io-style DCGAN, 15 CPU-min", 121.0),
    ("earlier recipe, collapsed to noise", 255.0),
]
