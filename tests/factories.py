"""Small real objects for tests: an untrained bundle made in seconds, so no test needs the
shipped models or ../shared."""
from __future__ import annotations

from pathlib import Path

from gan.bundle import save_bundle
from gan.card import make_card
from gan.config import TrainConfig
from gan.models import build_discriminator, build_generator


def tiny_config(**overrides) -> TrainConfig:
    base = dict(resolution=32, latent_dim=16, g_channels=8, g_max_channels=32, d_channels=8,
                d_max_channels=32, batch_size=8, precision="float32", jit_compile=False,
                crop="center", steps=4, sample_every=2, checkpoint_every=2, log_every=1)
    base.update(overrides)
    return TrainConfig(**base).validate()


def make_tiny_bundle(path: str | Path, label_names: list[str] | None = None, seed: int = 0,
                     **overrides) -> Path:
    """An untrained but complete and loadable bundle at `path`."""
    import keras

    keras.utils.set_random_seed(seed)
    cfg = tiny_config(labels=",".join(label_names) if label_names else None, **overrides)
    n = len(label_names or [])
    g = build_generator(cfg, n, dtype="float32")
    d = build_discriminator(cfg, n, dtype="float32")
    card = make_card(cfg, label_names=label_names, step=0, data={"source": "none (test)"},
                     notes="untrained test bundle")
    return save_bundle(path, g, d, card)


def write_photo_folder(path: str | Path, n: int = 24, size: int = 80, seed: int = 0,
                       classes: tuple[str, ...] = ()) -> Path:
    """n small synthetic JPEG 'photos' (smooth colour fields with a bright oval) in `path`,
    spread over subfolders named after `classes` when given."""
    import numpy as np
    from PIL import Image, ImageDraw

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
