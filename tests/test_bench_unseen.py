"""bench/unseen_collections.py without the mirrors: the tile cutter on synthetic README-style
figures (titles over tiles, JPEG noise, a near-black band inside a tile), the edge-to-edge grid,
and which files a real collection keeps."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bench.unseen_collections import even_boxes, grid_boxes, keep_real


def photo(rng, size):
    """A smooth, photo-like square tile (never background-black)."""
    y, x = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(60, 200, 3)
    img = base + 40 * np.stack([np.sin(6 * x + k) * np.cos(4 * y - k) for k in range(3)], -1)
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def figure(rows, cols, size=120, gap=14, title=26, left=30, top=50, bg=(12, 12, 12), dark=None,
           seed=0):
    """A matplotlib-like figure: titled square tiles on a dark background, JPEG-compressed.
    Returns the decoded pixels and each tile's true (left, top, right, bottom)."""
    rng = np.random.default_rng(seed)
    w = left + cols * size + (cols - 1) * gap + 20
    h = top + rows * (size + title) + (rows - 1) * gap + 20
    im = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(im)
    d.text((w // 3, 10), "image textual search, prefix_text = ''", fill=(255, 255, 255))
    truth = []
    for i in range(rows):
        for j in range(cols):
            x0, y0 = left + j * (size + gap), top + i * (size + title + gap) + title
            tile = photo(rng, size)
            if dark == (i, j):                 # a black band through the tile, top to bottom
                tile[:, size // 3:size // 3 + 15] = bg
            im.paste(Image.fromarray(tile), (x0, y0))
            d.text((x0 + 5, y0 - 18), f"'30 year old adult' {i}{j}", fill=(255, 255, 255))
            truth.append((x0, y0, x0 + size, y0 + size))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    return np.asarray(Image.open(buf).convert("RGB")), truth


def inside(box, true, slack=4):
    """The cut lies within the true tile and misses at most a few px more than the inset."""
    return (all(b >= t for b, t in zip(box[:2], true[:2]))
            and all(b <= t for b, t in zip(box[2:], true[2:]))
            and all(abs(b - t) <= 4 + slack for b, t in zip(box, true)))


@pytest.mark.parametrize("rows,cols,dark", [(3, 4, None), (2, 5, (1, 2)), (1, 2, (0, 0))])
def test_tiles_are_found_whole_under_titles(rows, cols, dark):
    pixels, truth = figure(rows, cols, dark=dark)
    boxes, how = grid_boxes(pixels, rows, cols)
    assert len(boxes) == rows * cols
    assert all(inside(b, t) for b, t in zip(boxes, truth)), (boxes, truth)
    assert f"{rows}x{cols} tiles" in how


def test_a_wrong_tile_count_is_refused():
    pixels, _ = figure(3, 4)
    with pytest.raises(ValueError):
        grid_boxes(pixels, 3, 5)


def test_edge_to_edge_grid_is_cut_at_its_seams():
    rng = np.random.default_rng(1)
    tiles = [photo(rng, 32) for _ in range(6)]
    sheet = np.concatenate([np.concatenate(tiles[r * 3:r * 3 + 3], axis=1) for r in range(2)])
    boxes, _ = even_boxes(sheet, 2, 3)
    assert boxes[4] == (32, 32, 64, 64)
    assert np.array_equal(sheet[32:64, 32:64], tiles[4])
    with pytest.raises(ValueError):
        even_boxes(sheet, 2, 4)                    # 96 px wide is not 4 tiles of 32...
    with pytest.raises(ValueError):
        even_boxes(np.tile(photo(rng, 32), (2, 2, 1))[:, :60], 2, 2)   # ...nor seams off the grid


def test_real_collections_keep_photos_by_rule():
    tree = {f"p{i:03d}.jpg": b"x" for i in range(305)}
    tree.update({"ig_0001.png": b"x", "._p000.jpg": b"fork", "ground_truth.json": b"[]"})
    assert list(keep_real("jpg_first300", [("fairface", tree)]))[-1] == "p299.jpg"
    assert len(keep_real("jpg_all", [("fairface", tree)])) == 305
    nested = {"bob/y/b.png": b"x", "bob/a.png": b"x", "al/c.png": b"x"}
    assert list(keep_real("first300", [("Pic", nested)])) == ["al_c.png", "bob_a.png", "bob_y_b.png"]
    front = keep_real("front", [("inst/neutral_front", {"001.jpg": b"n", "._001.jpg": b"f"}),
                                ("inst/smiling_front", {"001.jpg": b"s"})])
    assert front == {"neutral_front_001.jpg": b"n", "smiling_front_001.jpg": b"s"}
