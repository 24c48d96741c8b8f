"""The ways a photo is changed on its way to the detector, written once.

- `fit_variant`: what fitting sees instead of the photo itself. Every copy is resized so the
  face gets a side drawn from one range whatever the source (so a face's size in pixels says
  nothing about generated or real: generated sets tend to be large, some real sets small), then
  maybe blurred, colour-jittered and re-saved as JPEG at quality 30-100 (as photos are on the way
  to a detector; CNNDetection's blur+JPEG augmentation, Wang et al. 2020).
- `REENCODINGS`: the re-encodings a verdict must survive (JPEG quality 75, half size); a verdict
  that one of them would flip is "unsure".
- `PERTURBATIONS`: the robustness curves' changes (JPEG quality, resize, crop, PNG to JPEG).
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

FACE_SIDE_RANGE = (64.0, 400.0)   # face square side after the fit-time resize (log-uniform)
JPEG_QUALITY_RANGE = (30, 100)
P_BLUR, P_COLOUR, P_JPEG = 0.3, 0.5, 0.9
_RESAMPLERS = (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC,
               Image.Resampling.LANCZOS, Image.Resampling.BOX)
REENCODINGS = ("jpeg75", "half")
REENCODING_TEXT = {"jpeg75": "re-saved as JPEG at quality 75", "half": "resized to half size"}


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out.convert("RGB")


def resized(img: Image.Image, scale: float, resample=Image.Resampling.LANCZOS) -> tuple[Image.Image, float]:
    """(image, the scale actually applied to x) resized by `scale`, at least 32 px a side."""
    w, h = img.size
    nw, nh = max(32, int(round(w * scale))), max(32, int(round(h * scale)))
    return img.resize((nw, nh), resample), nw / w


def reencoded(img: Image.Image, kind: str) -> tuple[Image.Image, float]:
    """(image, scale) for one of REENCODINGS."""
    if kind == "jpeg75":
        return jpeg(img, 75), 1.0
    if kind == "half":
        return resized(img, 0.5)
    raise ValueError(f"unknown re-encoding {kind!r}; known: {', '.join(REENCODINGS)}")


JPEG_GRID = 16     # JPEG's blocks with halved colour resolution (MCUs): 16 x 16 px
REGION_MARGIN = 16  # px re-encoded beyond what the caller reads (JPEG's colour upsampling reads 1)


def reencodings(img: Image.Image, keep: tuple[float, float, float, float] | None = None,
                made: dict | None = None, pool=None) -> list[tuple[Image.Image, float]]:
    """[(image, scale)] for each of REENCODINGS, pixel for pixel as `reencoded` makes them
    inside `keep`, so callers that read the same photo share one set.

    `keep` (x0, y0, x1, y1): the part of the photo the caller reads. The JPEG copy then
    re-encodes only a region around it (a 12-megapixel upload costs a face's worth): the region
    starts and ends on JPEG's 16-px block grid, so each of its blocks holds the pixels the
    whole photo's would; outside it the copy is blank. The half-size copy of a photo with even
    sides is made of the same region only (blank outside it too): halving exactly, Pillow's
    resize of a part at even corners gives the whole resize's pixels (its filter reads beyond
    the part). Odd sides make the scale not quite 0.5 and a part's pixels can then differ by 1,
    so those photos get the whole photo's copy. ``made``: {kind: `reencoded(img, kind)`}
    already made. ``pool``: an executor that makes all but the first copy while this thread
    makes the first (Pillow lets go of Python's lock)."""
    made = made or {}
    if keep is None:
        return [made[kind] if kind in made else reencoded(img, kind) for kind in REENCODINGS]
    w, h = img.size
    g, m = JPEG_GRID, REGION_MARGIN
    x0 = max(0, (int(np.floor(keep[0])) - m) // g * g)
    y0 = max(0, (int(np.floor(keep[1])) - m) // g * g)
    x1 = min(w, -(-(int(np.ceil(keep[2])) + m) // g) * g)
    y1 = min(h, -(-(int(np.ceil(keep[3])) + m) // g) * g)
    part = x0 < x1 and y0 < y1 and (x1 - x0) * (y1 - y0) < w * h

    def one(kind: str) -> tuple[Image.Image, float]:
        if kind in made:
            return made[kind]
        if kind == "jpeg75" and part:
            changed = Image.new("RGB", img.size)
            changed.paste(jpeg(img.crop((x0, y0, x1, y1)), 75), (x0, y0))
            return changed, 1.0
        if kind == "half" and part and halves_exactly(w, h):
            return _half_of_region(img, (x0, y0, x1, y1)), 0.5
        return reencoded(img, kind)

    later = {kind: pool.submit(one, kind) for kind in REENCODINGS[1:]} if pool is not None else {}
    return [later[kind].result() if kind in later else one(kind) for kind in REENCODINGS]


def halves_exactly(w: int, h: int) -> bool:
    """Whether `resized` by 0.5 halves a w x h photo exactly (even sides, above its 32 px
    floor), so that a part of its half-size copy can be made alone."""
    return w % 2 == 0 and h % 2 == 0 and w >= 64 and h >= 64


def _half_of_region(img: Image.Image, region: tuple[int, int, int, int]) -> Image.Image:
    """`reencoded(img, "half")` inside `region` (even corners), blank outside."""
    x0, y0, x1, y1 = region
    part = img.resize(((x1 - x0) // 2, (y1 - y0) // 2), Image.Resampling.LANCZOS, box=region)
    out = Image.new(img.mode, (img.size[0] // 2, img.size[1] // 2))
    out.paste(part, (x0 // 2, y0 // 2))
    return out


def fit_variant(img: Image.Image, face_side: float, rng: np.random.Generator) -> tuple[Image.Image, float]:
    """(changed image, scale applied to coordinates) for fitting; see the module docstring."""
    lo, hi = FACE_SIDE_RANGE
    target = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    img, scale = resized(img, target / max(face_side, 1.0), _RESAMPLERS[int(rng.integers(len(_RESAMPLERS)))])
    if rng.random() < P_BLUR:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.2, 1.2))))
    if rng.random() < P_COLOUR:
        img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.85, 1.15)))
        img = ImageEnhance.Contrast(img).enhance(float(rng.uniform(0.85, 1.15)))
        img = ImageEnhance.Color(img).enhance(float(rng.uniform(0.8, 1.2)))
    if rng.random() < P_JPEG:
        img = jpeg(img, int(rng.integers(JPEG_QUALITY_RANGE[0], JPEG_QUALITY_RANGE[1] + 1)))
    return img, scale
