"""What the forensic detector looks at: local texture of the face at the photo's own resolution.

Layout, framing and colour tell collections apart (an 8x8 thumbnail does), not generated from
real, so they are left out. What is kept is how neighbouring pixels relate, measured on the
face's square in the original pixel grid, before any resize (a resize would wash out the traces
that up-sampling layers and cameras leave):

- histograms of high-pass residuals (first differences, a Laplacian, and NPR's relation of each
  pixel to its 2x2 block's anchor, Tan et al. 2024), and co-occurrences of neighbouring
  differences (SPAM, as in steganalysis);
- periodicity: how strong the residual is at each position modulo 8 of the photo's grid, read
  through a Fourier transform so it does not depend on where the face sits; up-sampling by 2 or
  4 and JPEG's 8x8 blocks each show at their own frequency;
- the residual's radial power spectrum and its strength and tails.

Only brightness is looked at: JPEG files differ in how they store colour (halved colour
resolution in most cameras' files, full in some collections' of both kinds), which would
tell collections apart, not generated from real.

Every feature is a share, a ratio or a logarithm, so brightness and the face's size in pixels
move it little. Square origins are snapped to multiples of 8 of the photo's grid.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from gan.data.landmarks import FoundFace, native_box

TEXTURE_VERSION = 1
GRID = 8                 # box origins snap to this (JPEG blocks; up-sampling by 2, 4, 8)
MAX_SIDE = 512           # larger squares are cut to their centre (not resized)
MIN_SIDE = 48            # smaller squares give too few pixels for the statistics
HIST_T = 4               # residual histograms: integer values clipped to [-T, T]
SPAM_T = 2               # co-occurrences: differences clipped to [-T, T]
SPECTRUM_BINS = 12
EPS = 1e-4
DIM = 245                # features per face (checked by a test against texture_features)


def snap_box(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) with the origin on the photo's 8-pixel grid and the side a multiple of 8,
    inside the image, at most MAX_SIDE (centre kept)."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    side = min(x1 - x0, y1 - y0, width, height)
    side = min(side, MAX_SIDE)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = max(GRID, side - side % GRID)
    x0 = int(np.clip(cx - side / 2, 0, width - side))
    y0 = int(np.clip(cy - side / 2, 0, height - side))
    x0 -= x0 % GRID
    y0 -= y0 % GRID
    return x0, y0, x0 + side, y0 + side


def _hist(r: np.ndarray, t: int) -> np.ndarray:
    q = np.clip(np.rint(r), -t, t).astype(np.int64) + t
    h = np.bincount(q.ravel(), minlength=2 * t + 1).astype(np.float64)
    return np.log(h / max(h.sum(), 1.0) + EPS)


def _cooc(a: np.ndarray, b: np.ndarray, t: int) -> np.ndarray:
    qa = np.clip(np.rint(a), -t, t).astype(np.int64) + t
    qb = np.clip(np.rint(b), -t, t).astype(np.int64) + t
    n = 2 * t + 1
    h = np.bincount((qa * n + qb).ravel(), minlength=n * n).astype(np.float64)
    return np.log(h / max(h.sum(), 1.0) + EPS)


def _laplacian(g: np.ndarray) -> np.ndarray:
    return 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]


def _periodicity(e: np.ndarray, offset: int) -> np.ndarray:
    """Fourier magnitudes of the mean residual energy per position modulo 8 (offset: where the
    array starts in the photo's grid), normalised by the mean; the DC term is dropped."""
    h, w = e.shape
    h8, w8 = h - h % GRID, w - w % GRID
    m = e[:h8, :w8].reshape(h8 // GRID, GRID, w8 // GRID, GRID).mean(axis=(0, 2))
    m = np.roll(m, (offset, offset), axis=(0, 1)) / (m.mean() + EPS)
    f = np.abs(np.fft.fft2(m)) / (GRID * GRID)
    return np.log(f[:GRID // 2 + 1].ravel()[1:] + 1e-3)


def _spectrum(r: np.ndarray) -> np.ndarray:
    h, w = r.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    p = np.abs(np.fft.rfft2(r * win)) ** 2
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    rad = np.sqrt(fx ** 2 + fy ** 2)
    bins = np.minimum((rad / 0.5 * SPECTRUM_BINS).astype(np.int64), SPECTRUM_BINS)
    s = np.bincount(bins.ravel(), weights=p.ravel(), minlength=SPECTRUM_BINS + 1)[:SPECTRUM_BINS]
    return np.log(s / max(s.sum(), EPS) + 1e-6)


def texture_features(region: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] face square (origin on the photo's 8-pixel grid) -> float32 features."""
    x = np.asarray(region, np.float32)
    g = x @ np.array([0.299, 0.587, 0.114], np.float32)
    dh = g[:, 1:] - g[:, :-1]
    dv = g[1:, :] - g[:-1, :]
    dd = g[1:, 1:] - g[:-1, :-1]
    lap = _laplacian(g)
    h2, w2 = (g.shape[0] // 2) * 2, (g.shape[1] // 2) * 2
    blocks = g[:h2, :w2]
    anchor = np.repeat(np.repeat(blocks[::2, ::2], 2, axis=0), 2, axis=1)
    npr = (blocks - anchor).reshape(h2 // 2, 2, w2 // 2, 2)
    parts = [
        _hist(dh, HIST_T), _hist(dv, HIST_T), _hist(dd, HIST_T), _hist(lap / 4, HIST_T),
        _hist(npr[:, 0, :, 1], HIST_T), _hist(npr[:, 1, :, 0], HIST_T), _hist(npr[:, 1, :, 1], HIST_T),
        _cooc(dh[:, :-1], dh[:, 1:], SPAM_T), _cooc(dv[:-1, :], dv[1:, :], SPAM_T),
        _periodicity(np.abs(lap), 1), _periodicity(np.abs(dh), 0), _periodicity(np.abs(dv), 0),
        _spectrum(lap),
    ]
    parts.append(np.array([np.log(np.mean(np.abs(lap)) + EPS), np.log(np.std(lap) + EPS),
                           np.log(np.mean(lap ** 4) / (np.mean(lap ** 2) ** 2 + EPS) + EPS)]))
    return np.concatenate(parts).astype(np.float32)


def face_square(rgb: np.ndarray, face: FoundFace, scale: float = 1.0) -> np.ndarray | None:
    """The face's square in the photo's own pixels (landmark-framed, origin snapped to the 8-px
    grid), for a photo that was resized by `scale` after `face` was found; None when smaller
    than MIN_SIDE."""
    if scale != 1.0:
        face = dataclasses.replace(face, points=face.points * np.float32(scale),
                                   box=tuple(int(round(v * scale)) for v in face.box))
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = snap_box(native_box(face, w, h), w, h)
    if x1 - x0 < MIN_SIDE:
        return None
    return rgb[y0:y1, x0:x1]


def thumbnail(region: np.ndarray, side: int = 8) -> np.ndarray:
    """The shortcut control: the face square as an 8x8 colour thumbnail (layout and colour
    only, no texture). A test this can pass is a test of collections, not of generation."""
    import cv2

    return cv2.resize(np.asarray(region), (side, side), interpolation=cv2.INTER_AREA) \
        .astype(np.float32).ravel() / 255.0
