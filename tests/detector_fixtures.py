"""Photo sources and a tiny bundle with fitted, measured detectors, made by the tests themselves
in seconds (nothing here reads ../shared or /work/data).

`write_sources(folder)` draws four sources of face photos and the manifest naming them
(`gan.detector.collections` format): two "real" (faces drawn at full size, then sensor-like
noise and a JPEG save) and two "generated" (faces drawn at half size, then up-sampled by 2:
nearest-neighbour copies of each pixel, or a transposed-convolution-like copy with a fixed
2x2 pattern on top: the up-sampling trace texture features look for). Each source has its own
framing (face size, position), background colours and photo size, unrelated to its kind, so
only the texture tells the kinds apart. dlib's HOG detector finds every drawn face; one real
source also holds a photo without a face.

`fitted_bundle(path)` makes a tiny untrained bundle and runs what `python -m gan.detector fit`
runs on those sources (fit_detectors, write_detectors, report.measure, write_report), and
returns the bundle's path. The sources and the description cache are made once per test
process (in a temporary folder, removed at exit), so only the first call describes photos
(about 20 s with the bundle; later calls about 6 s).

What to expect of the fitted detectors: left out, gen_nearest is told from the real sources
(AUC about 1) and gen_tconv less well; the 8x8 thumbnail control cannot tell them. With 24
photos a source and 245 texture features, the forensic detector's familiarity check
(`gan.detector.ood`) passes only the very files it was fitted on (`source_bytes`: those of
the real sources come out "real", of the generated ones mostly "generated"); any other photo, even one drawn like a source
(`source_photo`, or a real source's photo saved again), is "unsure" with the reason
"unfamiliar" (see the xfail in tests/test_detector.py). The discriminator has no familiarity
check: its verdicts are real, generated or unsure by its rule.
"""
from __future__ import annotations

import atexit
import io
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from tests.factories import draw_face, make_tiny_bundle

PHOTOS_PER_SOURCE = 24
# target_fpr for the tiny sources: with 24 photos a source, even none called generated has a
# 95% upper bound of 11.7%, so at the library's 5% the rule could never say "generated".
TINY_TARGET_FPR = 0.2
ROBUSTNESS_PHOTOS = 2

# name: (kind, photo side, face width as a share of the side, centre offset (share of side),
#        background colour range, how it is made)
SOURCES = {
    "real_studio": ("real", 176, 0.44, (0.00, 0.02), (150, 230), "jpeg90"),
    "real_street": ("real", 208, 0.36, (0.06, -0.04), (30, 120), "jpeg75"),
    "gen_nearest": ("generated", 192, 0.40, (-0.05, 0.00), (60, 200), "nearest"),
    "gen_tconv": ("generated", 224, 0.38, (0.04, 0.05), (100, 160), "tconv"),
}


def png(image) -> bytes:
    buf = io.BytesIO()
    (Image.fromarray(image) if isinstance(image, np.ndarray) else image).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _draw(side: int, seed: int, face_share: float, offset, bg_range) -> Image.Image:
    rng = np.random.default_rng(seed)
    bg = tuple(int(v) for v in rng.integers(bg_range[0], bg_range[1], 3))
    cx, cy = side * (0.5 + offset[0]), side * (0.5 + offset[1])
    return draw_face(side, side, seed=seed, center=(cx, cy), face_width=face_share * side,
                     background=bg)


def real_photo(seed: int, size: int = 176, quality: int = 90, face_share: float = 0.44,
               offset=(0.0, 0.0), bg_range=(40, 200)) -> Image.Image:
    """A drawn face at full resolution with sensor-like noise, as a camera's JPEG would hold it."""
    img = _draw(size, seed, face_share, offset, bg_range)
    noise = np.random.default_rng(seed + 1).normal(0, 3.0, (size, size, 3))
    a = np.clip(np.asarray(img, np.float32) + noise, 0, 255).astype(np.uint8)
    return _jpeg(Image.fromarray(a), quality)


def generated_photo(seed: int, size: int = 192, how: str = "nearest", face_share: float = 0.40,
                    offset=(0.0, 0.0), bg_range=(40, 200)) -> Image.Image:
    """A drawn face made at half size and up-sampled by 2 ("nearest": each pixel copied into a
    2x2 block; "tconv": the same with a fixed +-3 2x2 pattern added, as a transposed
    convolution leaves), saved losslessly."""
    half = _draw(size // 2, seed, face_share, offset, bg_range)
    a = np.asarray(half, np.float32).repeat(2, axis=0).repeat(2, axis=1)
    if how == "tconv":
        yy, xx = np.mgrid[:a.shape[0], :a.shape[1]]
        a = a + np.where((yy % 2) ^ (xx % 2), 3.0, -3.0)[:, :, None]
    elif how != "nearest":
        raise ValueError(how)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def source_photo(name: str, i: int) -> Image.Image:
    """Photo i of one of SOURCES."""
    kind, side, share, offset, bg, how = SOURCES[name]
    seed = 1000 * (list(SOURCES).index(name) + 1) + i
    if kind == "real":
        return real_photo(seed, side, int(how[4:]), share, offset, bg)
    return generated_photo(seed, side, how, share, offset, bg)


def write_sources(folder: str | Path, n: int = PHOTOS_PER_SOURCE, no_face: bool = True) -> Path:
    """The four SOURCES (n photos each, in `folder/<name>/`) and `folder/sources.json` naming
    them; with `no_face`, real_street also holds one photo without a face. Returns the
    manifest's path."""
    folder = Path(folder)
    entries = []
    for name, (kind, side, *_rest) in SOURCES.items():
        d = folder / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = source_photo(name, i)
            if kind == "real":
                img.save(d / f"{name}_{i:03d}.jpg", quality=95)
            else:
                img.save(d / f"{name}_{i:03d}.png")
        entries.append({"name": name, "kind": kind, "origin": f"drawn by the tests ({name})",
                        "path": str(d), "provenance": "tests/detector_fixtures.py"})
    if no_face:
        draw_face(208, 208, seed=7, face=False).save(folder / "real_street" / "zz_no_face.jpg")
    manifest = folder / "sources.json"
    manifest.write_text(json.dumps(entries, indent=1))
    return manifest


_SHARED: dict[str, Path] = {}


def shared_sources() -> tuple[Path, Path]:
    """(manifest, description cache folder), made once per test process in a temporary
    folder that is removed at exit."""
    if not _SHARED:
        root = Path(tempfile.mkdtemp(prefix="facegan-detector-sources-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _SHARED["manifest"] = write_sources(root / "sources")
        _SHARED["cache"] = root / "cache"
    return _SHARED["manifest"], _SHARED["cache"]


def source_bytes(name: str, i: int) -> bytes:
    """The bytes of photo i of source `name` in the shared sources (the file fitted on)."""
    manifest, _ = shared_sources()
    ext = ".jpg" if SOURCES[name][0] == "real" else ".png"
    return (manifest.parent / name / f"{name}_{i:03d}{ext}").read_bytes()


def damage(path: str | Path) -> None:
    """Flip one byte in the middle of a stored file (its SHA-256 no longer matches the card)."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def fit_tiny(bundle, manifest: str | Path | None = None, cache_dir: str | Path | None = None,
             **kw):
    """fit_detectors on the tiny sources (shared ones by default), quickly: a logistic
    regression read-out, one process, TINY_TARGET_FPR."""
    from gan.detector.collections import load_manifest
    from gan.detector.fit import fit_detectors

    if manifest is None:
        manifest, shared_cache = shared_sources()
        cache_dir = cache_dir or shared_cache
    kw.setdefault("kind", "lr")
    kw.setdefault("target_fpr", TINY_TARGET_FPR)
    kw.setdefault("jobs", 1)
    return fit_detectors(bundle, load_manifest(manifest), cache_dir=cache_dir, **kw)


def fit_and_store(path: str | Path, robustness: bool = True, manifest: str | Path | None = None,
                  **bundle_kw):
    """make_tiny_bundle(path, **bundle_kw) (centre crop unless told), then what `python -m
    gan.detector fit` does: fit the detectors leave-one-source-out on the tiny sources, store
    them (dfeatures.npz, forensic.npz and the card's detector section) and write the report
    (detection/report/; robustness curves on ROBUSTNESS_PHOTOS photos a source unless
    `robustness` is False). Returns (bundle path, the FittedDetectors, the report dict)."""
    from gan.bundle import load_bundle
    from gan.detector import report
    from gan.detector.fit import write_detectors

    path = Path(path)
    bundle_kw.setdefault("crop", "center")
    make_tiny_bundle(path, **bundle_kw)
    bundle = load_bundle(path)
    fitted = fit_tiny(bundle, manifest)
    write_detectors(path, fitted)
    rep = report.measure(fitted, robustness_per_source=ROBUSTNESS_PHOTOS if robustness else 0,
                         jobs=1, bundle=bundle)
    report.write_report(path, rep)
    return path, fitted, rep


def fitted_bundle(path: str | Path, robustness: bool = True, manifest: str | Path | None = None,
                  **bundle_kw) -> Path:
    """A tiny bundle at `path` with fitted, stored and measured detectors (see fit_and_store);
    returns its path."""
    return fit_and_store(path, robustness, manifest, **bundle_kw)[0]
