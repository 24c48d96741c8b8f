"""Calibrate the evaluation metrics on real CelebA photos (numbers for docs/metrics.md).

    python bench/metrics_calibration.py [--n 1000] [--data ../shared/data]

SWD (x1e3, ProGAN definition) of 1,000 celeba-5k photos against 1,000 other photos
(celeba-identities): as they are, blurred with a 2-px Gaussian, and against noise; MS-SSIM
diversity of real pairs; the memorisation check with photos standing in for a generator.
Prints one JSON object. Needs ../shared/data; takes a few minutes (decodes are cached).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from anywhere

from gan.data import load_faces
from gan.metrics import memorisation, msssim, swd


def blur(images: np.ndarray, sigma: float) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(im, (0, 0), sigma) for im in images])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / "../shared/data"))
    args = p.parse_args()
    rng = np.random.default_rng(0)
    a_all = load_faces(Path(args.data) / "celeba-5k", size=128, crop="face", progress=False)
    b_all = load_faces(Path(args.data) / "celeba-identities", size=128, crop="face", progress=False)
    a = a_all.images[rng.choice(len(a_all), args.n, replace=False)]
    b = b_all.images[rng.choice(len(b_all), args.n, replace=False)]
    out: dict = {"n": args.n}

    def run(name, x, y):
        t = time.perf_counter()
        r = swd.swd(x, y, seed=0)
        out[name] = {"average": round(r["average"], 2),
                     "levels": {k: round(v, 2) for k, v in r["levels"].items()},
                     "seconds": round(time.perf_counter() - t, 1)}
        print(name, out[name], flush=True)

    run("swd_real_vs_real", a, b)
    run("swd_real_vs_blur1", a, blur(b, 1.0))
    run("swd_real_vs_blur2", a, blur(b, 2.0))
    run("swd_real_vs_uniform_noise", a, rng.integers(0, 256, b.shape, dtype=np.uint8))
    half = args.n // 2
    run("swd_celeba5k_halves", a[:half], a[half:2 * half])

    out["msssim_real_5k"] = msssim.diversity(a, 1000, seed=0)
    out["msssim_real_identities"] = msssim.diversity(b, 1000, seed=1)
    out["msssim_blur2"] = msssim.diversity(blur(b, 2.0), 1000, seed=1)
    print("msssim", out["msssim_real_5k"], out["msssim_real_identities"], flush=True)

    train, held = a_all.split(0.1, seed=0)
    # "Generator" = other CelebA photos (celeba-identities shares ~120 near-copies with celeba-5k)
    gen = b_all.images[rng.choice(len(b_all), 300, replace=False)]
    t = time.perf_counter()
    m = memorisation.check(gen, train.images, held.images)
    m.pop("_arrays")
    m["seconds"] = round(time.perf_counter() - t, 1)
    out["memorisation_other_photos"] = m
    copies = train.images[rng.choice(len(train), 300, replace=False)]
    m = memorisation.check(copies, train.images, held.images)
    m.pop("_arrays")
    out["memorisation_training_copies"] = m
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
