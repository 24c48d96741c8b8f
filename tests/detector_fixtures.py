"""A tiny bundle with fitted, measured detectors, made in seconds from synthetic pictures.

"Real" photos are drawn faces; the "other GAN" draws the same faces with a fine checkerboard
laid over them (the kind of upsampling trace detectors look for); the bundle's own generator is
untrained, so its faces are noise. Nothing here needs ../shared.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import draw_face
from tests.factories import make_tiny_bundle


def png(image) -> bytes:
    buf = io.BytesIO()
    (Image.fromarray(image) if isinstance(image, np.ndarray) else image).save(buf, format="PNG")
    return buf.getvalue()


def real_photo(seed: int, size: int = 160) -> Image.Image:
    return draw_face(size, size, seed=seed)


def other_gan_photo(seed: int, size: int = 160) -> Image.Image:
    a = np.asarray(draw_face(size, size, seed=10_000 + seed), np.int16)
    yy, xx = np.mgrid[:size, :size]
    a = a + np.where((yy // 5 + xx // 5) % 2 == 0, 28, -28)[:, :, None]   # 2 px at 32 px
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def _part(name, label, photos, bundle, with_files=True):
    from gan.detector.data import Part
    from gan.detector.photos import prepare_files

    files = [png(p) for p in photos]
    images, found, kept = prepare_files(files, bundle.resolution, bundle.crop)
    return Part(name, label, images, f"{len(kept)} synthetic {name}",
                files=[files[i] for i in kept] if with_files else [], face_found=found)


def tiny_parts(bundle, n: int = 40) -> dict:
    """Every part a fit and a report use, small."""
    from gan.detector.data import own_part

    parts = {}
    for split, off in (("train", 0), ("calib", 1000), ("test", 2000)):
        parts[f"real_{split}"] = _part(f"real_{split}", 0,
                                       [real_photo(off + i) for i in range(n)], bundle)
        parts[f"other_real_{split}"] = _part(f"other_real_{split}", 0,
                                             [real_photo(50_000 + off + i) for i in range(n)], bundle)
        parts[f"other_fake_{split}"] = _part(f"other_fake_{split}", 1,
                                             [other_gan_photo(off + i) for i in range(n)], bundle)
        parts[f"own_{split}"] = own_part(bundle, f"own_{split}", n, seed=off + 1, as_files=False)
    parts["own_test_raw"] = own_part(bundle, "own_test_raw", n, seed=2001, as_files=False)
    parts["unseen_real_test"] = _part("unseen_real_test", 0,
                                      [real_photo(90_000 + i) for i in range(n)], bundle)
    return parts


def fitted_bundle(path: Path, robustness: bool = True, **bundle_kw) -> Path:
    """make_tiny_bundle, then fit, store and measure its detectors (python -m gan.detector fit,
    without the data gathering)."""
    from gan.bundle import load_bundle
    from gan.detector import report
    from gan.detector.fit import fit_detectors, write_detectors
    from gan.detector.stored import stored_detectors

    bundle_kw.setdefault("crop", "center")
    make_tiny_bundle(path, **bundle_kw)
    bundle = load_bundle(path)
    parts = tiny_parts(bundle)
    write_detectors(path, fit_detectors(bundle, parts))
    bundle = load_bundle(path)
    dets, problems = stored_detectors(bundle)
    assert not problems, problems
    rep = report.measure(bundle, parts, dets, robustness=robustness)
    report.write_report(path, rep)
    return path
