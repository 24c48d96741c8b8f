"""Shared test fixtures: small synthetic face photos the tests make themselves.

The drawn faces (skin ellipse, hair, brows, eyes, nose, mouth, slight blur and noise)
are found by OpenCV's Haar face detector, so face-crop code can be tested without any
real data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def draw_face(width=96, height=96, seed=0, center=None, face_width=None, background=None, face=True):
    """A synthetic face photo (PIL RGB). ``background``: RGB tuple (default: from seed).
    ``face=False`` gives the same background and noise without a face."""
    rng = np.random.default_rng(seed)
    if background is None:
        background = tuple(int(v) for v in rng.integers(40, 200, 3))
    cx, cy = center if center is not None else (width / 2, height / 2)
    fw = face_width if face_width is not None else 0.42 * min(width, height)
    fh = fw * 1.3
    img = Image.new("RGB", (width, height), tuple(background))
    if face:
        d = ImageDraw.Draw(img)
        d.ellipse([cx - fw * 0.58, cy - fh * 0.62, cx + fw * 0.58, cy + fh * 0.1], fill=(60, 40, 30))
        d.ellipse([cx - fw / 2, cy - fh / 2, cx + fw / 2, cy + fh / 2], fill=(225, 180, 150))
        for sx in (-1, 1):
            ex, ey = cx + sx * fw * 0.2, cy - fh * 0.1
            d.rectangle([ex - fw * 0.14, ey - fh * 0.12, ex + fw * 0.14, ey - fh * 0.09], fill=(70, 50, 40))
            d.ellipse([ex - fw * 0.1, ey - fh * 0.04, ex + fw * 0.1, ey + fh * 0.04], fill=(40, 30, 30))
        d.polygon([(cx, cy - fh * 0.05), (cx - fw * 0.07, cy + fh * 0.15), (cx + fw * 0.07, cy + fh * 0.15)],
                  fill=(200, 150, 125))
        d.ellipse([cx - fw * 0.18, cy + fh * 0.24, cx + fw * 0.18, cy + fh * 0.31], fill=(150, 60, 60))
        img = img.filter(ImageFilter.GaussianBlur(max(1.0, fw / 40)))
    noise = rng.integers(-6, 7, (height, width, 3))
    return Image.fromarray(np.clip(np.asarray(img, np.int16) + noise, 0, 255).astype(np.uint8))


@pytest.fixture
def face_photo():
    """Factory: ``face_photo(width=96, height=96, seed=0, ...)`` -> PIL image (see draw_face)."""
    return draw_face


@pytest.fixture
def write_faces():
    """Factory: ``write_faces(folder, n, size=(72, 72), ext=".jpg", names=None, seed=0)``
    writes ``n`` synthetic face photos (JPEG quality 90 unless ``ext`` says otherwise)
    and returns their paths. ``names``: file names to use instead of face_000.jpg..."""

    def write(folder, n, size=(72, 72), ext=".jpg", names=None, seed=0, **draw_kw):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for i in range(n):
            name = names[i] if names is not None else f"face_{i:03d}{ext}"
            p = folder / name
            p.parent.mkdir(parents=True, exist_ok=True)
            img = draw_face(size[0], size[1], seed=seed + i, **draw_kw)
            fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}[
                p.suffix.lower()]
            img.save(p, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
            paths.append(p)
        return paths

    return write


@pytest.fixture(autouse=True, scope="session")
def _private_data_cache(tmp_path_factory):
    """Tests never write into the user's ~/.cache/facegan: the decode cache goes to a temp
    folder for the whole session."""
    import os

    old = os.environ.get("FACEGAN_CACHE")
    os.environ["FACEGAN_CACHE"] = str(tmp_path_factory.mktemp("facegan-cache"))
    yield
    if old is None:
        os.environ.pop("FACEGAN_CACHE", None)
    else:
        os.environ["FACEGAN_CACHE"] = old
