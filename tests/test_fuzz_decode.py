"""Fuzz of the decode path: whatever the bytes, prepare_image gives a valid uint8 face or an
ImageError of a known kind with a reason, nothing else (no other exception, no hang).

The inputs are small photos in every format the decoders know, with bytes flipped, cut out,
inserted or the file cut short (headers most of all), and plain random bytes. Bounded for CI:
a few hundred examples, each within a deadline, and no example database written into the
checkout. The pixel limit is low so that a mutated header cannot make one example decode a
hundred megapixels.
"""
from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gan.data.preprocess import ImageError, prepare_image

KINDS = {"empty file", "not an image", "not a regular file", "file too large", "unreadable file",
         "unsupported format", "truncated image", "unreadable image", "invalid pixel values",
         "image too small", "decompression bomb"}
SIZE = 32
APP_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "BMP")


def _seeds() -> list[bytes]:
    from tests.conftest import draw_face

    face = draw_face(72, 72, seed=3)
    out = []
    for fmt, img, kw in [("JPEG", face, {"quality": 80}), ("PNG", face, {}), ("WEBP", face, {}),
                         ("GIF", face, {}), ("BMP", face, {}), ("TIFF", face, {}),
                         ("JPEG", face.convert("CMYK"), {}), ("PNG", face.convert("P"), {}),
                         ("PNG", face.convert("RGBA"), {}),
                         ("PNG", Image.fromarray(np.asarray(face.convert("L")).astype(np.uint16)
                                                 * 257), {}),
                         ("TIFF", Image.fromarray(np.asarray(face.convert("L"), np.float32)
                                                  / 255, "F"), {})]:
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        out.append(buf.getvalue())
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    face.save(buf, "JPEG", exif=exif.tobytes())
    out.append(buf.getvalue())
    return out


SEEDS = _seeds()


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        # Headers hold the sizes and modes the decoders trust: aim there half of the time, past
        # the signature (without one, a file is just "not an image").
        at = draw(st.one_of(st.integers(min(8, len(data) - 1), min(63, len(data) - 1)),
                            st.integers(0, len(data) - 1)))
        op = draw(st.sampled_from(["set", "flip", "delete", "insert", "cut"]))
        if op == "set":
            data[at] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]))
        elif op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at:]
    return bytes(data)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")  # Pillow warns about some damaged files; the result counts
@settings(max_examples=200, deadline=timedelta(seconds=10), database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.one_of(mutated(), mutated(), st.binary(max_size=512)), app=st.booleans())
def test_decode_gives_a_face_or_a_clear_image_error(data, app):
    limits = {"formats": APP_FORMATS, "max_bytes": 20 << 20} if app else {}
    try:
        out = prepare_image(data, size=SIZE, crop="face", max_pixels=4_000_000, **limits)
    except ImageError as e:
        assert e.kind in KINDS and str(e), (e.kind, str(e))
        return
    assert out.image.dtype == np.uint8 and out.image.shape == (SIZE, SIZE, 3)
    assert out.face_found in (True, False)
