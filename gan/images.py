"""Image grids, PNG bytes and pixel arrays, shared by training (sample grids), the app, the
detectors and the CLIs."""
from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from gan.io import atomic_write_bytes


def rgb_array(img: Image.Image) -> np.ndarray:
    """uint8 [H, W, 3] of a Pillow image, as `np.asarray(img.convert("RGB"))` gives it but
    copied once, not twice, when it is RGB already (a 12-megapixel upload's copy costs ms)."""
    return np.asarray(img if img.mode == "RGB" else img.convert("RGB"))


def make_grid(images: np.ndarray, cols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile uint8 images [n,H,W,3] into one uint8 image, `cols` per row (square-ish default)."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
    for i, im in enumerate(images):
        r, q = divmod(i, cols)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + q * (w + pad):pad + q * (w + pad) + w] = im
    return grid


def split_grid(grid: np.ndarray, n: int, size: int, cols: int, pad: int = 2) -> np.ndarray:
    """The first `n` tiles of a `make_grid` image of size x size tiles, `cols` per row: so a
    stored grid of faces can be shown face by face without regenerating them."""
    grid = np.asarray(grid)
    rows = -(-int(n) // int(cols))
    if grid.shape[0] < rows * (size + pad) + pad or grid.shape[1] < cols * (size + pad) + pad:
        raise ValueError(f"a {grid.shape[1]}x{grid.shape[0]} image is not a grid of {n} "
                         f"{size}-px tiles, {cols} per row")
    tiles = []
    for i in range(int(n)):
        r, q = divmod(i, cols)
        y, x = pad + r * (size + pad), pad + q * (size + pad)
        tiles.append(grid[y:y + size, x:x + size])
    return np.stack(tiles) if tiles else np.zeros((0, size, size, grid.shape[-1]), np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(image: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes, for the large figures of photos a bundle ships (a third of the PNG's size):
    never for faces a user downloads or a page takes as the model's own pixels."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def save_png(path, image: np.ndarray) -> None:
    atomic_write_bytes(path, png_bytes(image))


def gif_bytes(frames: np.ndarray, duration_ms: int = 80, loop: int = 0,
              comment: bytes | None = None) -> bytes:
    """An animated GIF (bounce: forward then back) from uint8 frames [n,H,W,3]; `comment`, the
    GIF's comment, lets a writer recognise its own file later."""
    seq = list(frames) + list(frames[-2:0:-1])
    pil = [Image.fromarray(np.asarray(f, np.uint8)) for f in seq]
    buf = io.BytesIO()
    extra = {"comment": comment} if comment else {}
    pil[0].save(buf, format="GIF", save_all=True, append_images=pil[1:], duration=duration_ms,
                loop=loop, **extra)
    return buf.getvalue()
