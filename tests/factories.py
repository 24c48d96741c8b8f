"""Small real objects for tests: an untrained bundle made in seconds, and the tests' one drawn
face photo, so no test needs the shipped models or ../shared."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from gan.bundle import save_bundle
from gan.card import make_card
from gan.config import TrainConfig


def tiny_config(**overrides) -> TrainConfig:
    base = dict(resolution=32, latent_dim=16, g_channels=8, g_max_channels=32, d_channels=8,
                d_max_channels=32, batch_size=8, precision="float32", jit_compile=False,
                crop="center", steps=4, sample_every=2, checkpoint_every=2, log_every=1,
                broken_figure=False)   # dlib on every tiny grid: seconds per test, tested once
    base.update(overrides)
    return TrainConfig(**base).validate()


def make_tiny_bundle(path: str | Path, label_names: list[str] | None = None, seed: int = 0,
                     label_rows=None, **overrides) -> Path:
    """An untrained but complete and loadable bundle at `path`; `label_rows`, the labels of
    its (pretend) training photos, give the card label frequencies."""
    import keras

    from gan.models import build_discriminator, build_generator

    keras.utils.set_random_seed(seed)
    cfg = tiny_config(labels=",".join(label_names) if label_names else None, **overrides)
    n = len(label_names or [])
    g = build_generator(cfg, n, dtype="float32")
    d = build_discriminator(cfg, n, dtype="float32")
    card = make_card(cfg, label_names=label_names, step=0, data={"source": "none (test)"},
                     notes="untrained test bundle", label_rows=label_rows)
    return save_bundle(path, g, d, card)


def write_photo_folder(path: str | Path, n: int = 24, size: int = 80, seed: int = 0,
                       classes: tuple[str, ...] = ()) -> Path:
    """n small synthetic JPEG 'photos' (smooth colour fields with a bright oval) in `path`,
    spread over subfolders named after `classes` when given."""
    path = Path(path)
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = path / classes[i % len(classes)] if classes else path
        folder.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 255, 3)
        img = Image.new("RGB", (size, size), tuple(int(c) for c in base))
        d = ImageDraw.Draw(img)
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        m = int(rng.integers(4, size // 4))
        d.ellipse([m, m, size - m, size - m + 2], fill=c)
        img.save(folder / f"img_{i:03d}.jpg", quality=90)
    return path


def draw_face(width=96, height=96, seed=0, center=None, face_width=None, background=None, face=True,
              skin=(225, 180, 150)):
    """The tests' one synthetic face photo (PIL RGB): skin ellipse, hair, brows, eyes, nose,
    mouth, slight blur and noise. OpenCV's Haar face detector finds it from about 64 px up, so
    face-crop code is tested without real data. ``background``: RGB tuple (default: from
    seed); ``skin``: RGB tuple; ``face=False`` gives the same background and noise without a
    face."""
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
        d.ellipse([cx - fw / 2, cy - fh / 2, cx + fw / 2, cy + fh / 2], fill=tuple(skin))
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
