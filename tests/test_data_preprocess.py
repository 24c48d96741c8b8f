"""gan.data.preprocess: opening, colour modes, bad files, crops, scaling."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import threading
import zlib

import numpy as np
import pytest
from PIL import Image

from gan.data import preprocess as P
from gan.data.preprocess import ImageError, open_image, prepare_image, preprocess_image


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming width x height pixels, with one tiny (bogus) data chunk."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


# --------------------------------------------------------------------------- opening


def test_open_image_accepts_path_bytes_and_file_like(tmp_path, face_photo):
    img = face_photo(80, 90, seed=1)
    data = _encode(img, "PNG")
    path = tmp_path / "a.png"
    path.write_bytes(data)

    class ReadOnly:  # a file-like with read() only, like some upload objects
        def __init__(self, d):
            self._d = d

        def read(self):
            return self._d

    ref = np.asarray(img)
    for src in (path, str(path), data, bytearray(data), io.BytesIO(data), ReadOnly(data)):
        out = open_image(src)
        assert out.mode == "RGB" and out.size == (80, 90)
        np.testing.assert_array_equal(np.asarray(out), ref)


def test_open_image_rewinds_a_read_file(face_photo):
    f = io.BufferedReader(io.BytesIO(_encode(face_photo(), "PNG")))
    f.read()  # already consumed, like a re-run Streamlit upload
    assert open_image(f).size == (96, 96)


def test_exif_orientation_is_applied():
    # Stored 80x60: top half red, bottom half blue. Orientation 6 = rotate 90 deg
    # clockwise to display: 60x80 with the red half on the right.
    a = np.zeros((60, 80, 3), np.uint8)
    a[:30] = (255, 0, 0)
    a[30:] = (0, 0, 255)
    img = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = open_image(_encode(img, "JPEG", quality=95, exif=exif.tobytes()))
    assert out.size == (60, 80)
    o = np.asarray(out).astype(int)
    assert o[40, 50, 0] > 200 and o[40, 50, 2] < 60  # right: red
    assert o[40, 10, 2] > 200 and o[40, 10, 0] < 60  # left: blue


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "1", "CMYK", "I;16", "I", "F", "PA"])
def test_every_mode_becomes_8bit_rgb(mode):
    grey = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (64, 1))
    base = Image.fromarray(np.stack([grey] * 3, -1))
    if mode == "I;16":
        img = Image.fromarray((grey.astype(np.uint16) * 257))  # full 16-bit range
        data = _encode(img, "PNG")
    elif mode == "I":
        img = Image.fromarray(grey.astype(np.int32) * 257, "I")
        data = _encode(img, "TIFF")
    elif mode == "F":
        img = Image.fromarray(grey.astype(np.float32) / 255.0, "F")
        data = _encode(img, "TIFF")
    elif mode == "CMYK":
        data = _encode(base.convert("CMYK"), "JPEG", quality=95)
    elif mode == "PA":
        img = base.convert("P").convert("PA")
        data = _encode(img.convert("RGBA"), "PNG")
    else:
        data = _encode(base.convert(mode), "PNG" if mode != "CMYK" else "JPEG")
    out = open_image(data)
    assert out.mode == "RGB" and out.size == (64, 64)
    o = np.asarray(out).astype(int)
    # Dark on the left, bright on the right: 16-bit data is scaled, not clipped to 255.
    assert o[:, :4].mean() < 40, mode
    assert o[:, -4:].mean() > 215, mode
    if mode not in ("1",):
        assert 90 < o[:, 28:36].mean() < 170, mode  # mid-grey stays mid-grey


def test_16bit_values_are_scaled_exactly():
    a = np.array([[0, 257, 32896, 65535]] * 4, np.uint16)
    out = np.asarray(open_image(_encode(Image.fromarray(a), "PNG")))
    assert out[0, :, 0].tolist() == [0, 1, 128, 255]


def test_transparency_is_composited_on_white():
    a = np.zeros((64, 64, 4), np.uint8)
    a[..., 0] = 255
    a[:, 32:, 3] = 255  # left half transparent
    out = np.asarray(open_image(_encode(Image.fromarray(a, "RGBA"), "PNG")))
    assert out[10, 5].tolist() == [255, 255, 255]
    assert out[10, 50].tolist() == [255, 0, 0]
    p = Image.fromarray(a[..., :3]).convert("P")
    p.info["transparency"] = 0
    out = open_image(_encode(p, "PNG", transparency=p.getpixel((5, 5))))
    assert np.asarray(out)[10, 5].tolist() == [255, 255, 255]


# --------------------------------------------------------------------------- bad files


def _truncate(data: bytes, frac=0.6) -> bytes:
    return data[: int(len(data) * frac)]


@pytest.mark.parametrize(
    "name,make,kind",
    [
        ("empty", lambda img: b"", "empty file"),
        ("text", lambda img: b"hello, I am not a photo\n" * 20, "not an image"),
        ("html", lambda img: b"<html><body>404</body></html>", "not an image"),
        ("jpeg-truncated", lambda img: _truncate(_encode(img, "JPEG")), "truncated image"),
        ("png-truncated", lambda img: _truncate(_encode(img, "PNG")), "truncated image"),
        ("webp-truncated", lambda img: _truncate(_encode(img, "WEBP")), "truncated image"),
        ("bmp-truncated", lambda img: _truncate(_encode(img, "BMP")), "truncated image"),
        ("bomb-pil-limit", lambda img: _png_header_only(30000, 30000), "decompression bomb"),
        ("bomb-our-limit", lambda img: _png_header_only(12000, 12000), "decompression bomb"),
    ],
)
def test_bad_files_raise_image_error_with_reason(name, make, kind, face_photo, tmp_path):
    data = make(face_photo(96, 96))
    for src in (data, tmp_path / f"{name}.jpg"):
        if not isinstance(src, bytes):
            src.write_bytes(data)
        with pytest.raises(ImageError) as e:
            prepare_image(src)
        assert e.value.kind == kind
        assert str(e.value).startswith(kind.split()[0])


def test_tiny_and_custom_limits(face_photo):
    small = _encode(face_photo(40, 30), "PNG")
    with pytest.raises(ImageError, match=r"image too small \(40x30 < 64 px\)") as e:
        prepare_image(small)
    assert e.value.kind == "image too small"
    assert prepare_image(small, min_size=16).image.shape == (128, 128, 3)
    big = _encode(face_photo(120, 100), "PNG")
    with pytest.raises(ImageError, match="decompression bomb: 120x100 = 12,000 pixels > 10,000"):
        prepare_image(big, max_pixels=10_000)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(ImageError, match="not an image"):
        open_image(tmp_path)


# --------------------------------------------------------------------------- crops


def test_center_and_none_crops(face_photo):
    img = face_photo(120, 80, seed=3)
    c = preprocess_image(img, size=32, crop="center")
    assert c.box == (20, 0, 100, 80) and c.face_found is None
    assert c.image.shape == (32, 32, 3) and c.image.dtype == np.uint8
    n = preprocess_image(img, size=32, crop="none")
    assert n.box == (0, 0, 120, 80) and n.face_found is None
    # "none" stretches the whole image: left and right edge columns survive.
    np.testing.assert_allclose(n.image[:, 0].mean(0), np.asarray(img)[:, 0].mean(0), atol=12)
    with pytest.raises(ValueError):
        preprocess_image(img, crop="square")


def test_face_crop_is_centred_on_the_face_and_holds_the_whole_head(face_photo):
    # A small head off-centre in a larger photo (face 60 px wide at (400, 200)).
    img = face_photo(640, 480, seed=4, center=(400, 200), face_width=60)
    p = preprocess_image(img, size=64, crop="face")
    assert p.face_found is True
    left, top, right, bottom = p.box
    assert right - left == bottom - top  # square
    # Whole head inside: hair top (y = 200 - 0.62 * 78) to chin (y = 200 + 39), ears.
    assert left < 400 - 35 and right > 400 + 35
    assert top < 200 - 0.62 * 78 - 5 and bottom > 200 + 39 + 5
    # Centred: face centre within 10% of the crop side of the crop centre (the framing
    # puts the face a little below centre, like CelebA).
    side = right - left
    assert abs((left + right) / 2 - 400) < 0.1 * side
    assert 0 <= 200 - (top + bottom) / 2 < 0.2 * side
    # And the face is big in the crop (the drawn oval is 60 px; Haar boxes run wider).
    assert 0.3 < 60 / side < 0.75


def test_face_crop_falls_back_to_center_without_a_face(face_photo):
    img = face_photo(120, 90, seed=5, face=False)
    p = preprocess_image(img, crop="face")
    assert p.face_found is False
    assert p.box == P.center_box(120, 90)
    np.testing.assert_array_equal(p.image, preprocess_image(img, crop="center").image)


def test_face_box_geometry_stays_inside_and_shrinks():
    # Face near the top-left corner: the square is shifted inside, not padded.
    assert P.face_box((0, 0, 40, 40), 200, 200)[:2] == (0, 0)
    l, t, r, b = P.face_box((150, 160, 40, 40), 200, 200)
    assert r == 200 and b == 200 and r - l == round(P.FACE_BOX_SCALE * 40)
    # Tight crop (face nearly the whole image): the box shrinks to the image.
    assert P.face_box((10, 5, 180, 180), 200, 220) == (0, 0, 200, 200) or \
        P.face_box((10, 5, 180, 180), 200, 220)[2] - P.face_box((10, 5, 180, 180), 200, 220)[0] == 200
    for face, w, h in [((3, 7, 11, 11), 50, 40), ((100, 2, 300, 300), 640, 480), ((0, 0, 1, 1), 1, 1)]:
        l, t, r, b = P.face_box(face, w, h)
        assert 0 <= l < r <= w and 0 <= t < b <= h and r - l == b - t


def test_tight_crops_keep_the_whole_image(face_photo):
    img = face_photo(100, 100, seed=6, face_width=70)  # UTKFace-like: the face fills the photo
    p = preprocess_image(img, crop="face")
    assert p.box == (0, 0, 100, 100)


def test_face_detection_is_deterministic_and_thread_safe(face_photo):
    imgs = [face_photo(96, 80, seed=s, center=(44 + 4 * s, 40), face_width=34) for s in range(3)]
    expected = [preprocess_image(im, size=48).box for im in imgs]
    results, errors = {}, []

    def work(t):
        try:
            for k in range(1):
                for i, im in enumerate(imgs):
                    results[(t, k, i)] = preprocess_image(im, size=48).box
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for (t, k, i), box in results.items():
        assert box == expected[i]


def test_prepare_image_equals_open_plus_preprocess(tmp_path, face_photo):
    path = tmp_path / "x.jpg"
    face_photo(150, 130, seed=7).save(path, quality=92)
    for crop in P.CROP_MODES:
        a = prepare_image(path, size=40, crop=crop)
        b = preprocess_image(open_image(path), size=40, crop=crop)
        np.testing.assert_array_equal(a.image, b.image)
        assert a.box == b.box and a.face_found == b.face_found
        assert a.image.shape == (40, 40, 3)


# --------------------------------------------------------------------------- scaling


def test_model_input_round_trip_and_clipping():
    u = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, -1)
    x = P.to_model_input(u)
    assert x.dtype == np.float32 and x.min() == -1.0 and x.max() == 1.0
    np.testing.assert_array_equal(P.to_uint8(x), u)
    np.testing.assert_array_equal(P.to_model_input(u[0]), x[0])  # single image or batch
    out = P.to_uint8(np.array([-3.0, -1.0, -1e-6, 0.0, 0.999, 1.0, 7.0, np.nan], np.float32))
    assert out.tolist() == [0, 0, 127, 128, 255, 255, 255, 128]  # never wraps to 255
    with pytest.raises(TypeError):
        P.to_model_input(x)


def test_preprocess_does_not_import_tensorflow():
    code = ("import sys, gan.data, gan.data.preprocess, gan.data.dataset, gan.data.sources, gan.data.dedup;"
            "sys.exit(1 if 'tensorflow' in sys.modules else 0)")
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


# --------------------------------------------------------------------------- hostile inputs


@pytest.mark.parametrize("fill", [np.inf, -np.inf, np.nan])
def test_non_finite_pixels_are_not_a_photo(fill, face_photo):
    a = np.asarray(face_photo(96, 96).convert("L"), np.float32) / 255.0
    a[30:60, 30:60] = fill
    with pytest.raises(ImageError, match="infinite or NaN") as e:
        prepare_image(_encode(Image.fromarray(a, "F"), "TIFF"))
    assert e.value.kind == "invalid pixel values"


def test_only_regular_files_are_read_and_never_past_the_limit(tmp_path, face_photo):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)                                        # opening it to read would block
    big = tmp_path / "big.jpg"
    with open(big, "wb") as f:
        f.truncate(P.DEFAULT_MAX_BYTES + 1)
    kinds = {}

    def read_all():          # in a thread, so that a regression fails the test, not hangs it
        for src in (fifo, "/dev/zero", big, tmp_path):
            try:
                prepare_image(src)
            except ImageError as e:
                kinds[src] = e.kind

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    reader.join(60)
    assert kinds == {fifo: "not a regular file", "/dev/zero": "not a regular file",
                     big: "file too large", tmp_path: "not an image"}
    data = _encode(face_photo(96, 96), "PNG")
    with pytest.raises(ImageError, match="file too large") as e:
        prepare_image(io.BytesIO(data), max_bytes=len(data) - 1)
    assert prepare_image(io.BytesIO(data), max_bytes=len(data)).image.shape == (128, 128, 3)


def test_formats_restricts_what_is_decoded_by_content(face_photo):
    img = face_photo(96, 96)
    gif, png = _encode(img, "GIF"), _encode(img, "PNG")
    assert prepare_image(gif, size=32).image.shape == (32, 32, 3)     # any format by default
    with pytest.raises(ImageError, match=r"unsupported format \(GIF\)") as e:
        prepare_image(gif, formats=("JPEG", "PNG"))
    assert e.value.kind == "unsupported format"
    assert prepare_image(png, formats=("JPEG", "PNG")).image.shape == (128, 128, 3)


def _large_jpeg(face_photo, width=4000, height=3000) -> bytes:
    img = Image.new("RGB", (width, height), (120, 140, 160))
    img.paste(face_photo(1400, 1400, seed=2, background=(120, 140, 160)), (1300, 800))
    return _encode(img, "JPEG", quality=85)


def test_a_large_jpeg_is_decoded_at_reduced_scale_with_the_same_result(face_photo):
    data = _large_jpeg(face_photo)
    reduced = prepare_image(data, size=64)
    full = preprocess_image(open_image(data), size=64)
    assert reduced.face_found and full.face_found
    assert np.abs(reduced.image.astype(int) - full.image.astype(int)).mean() < 2
    # The box is in the original's pixels either way.
    assert np.abs(np.subtract(reduced.box, full.box)).max() < 0.02 * (full.box[2] - full.box[0])


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK),
                    reason="needs Linux's /proc/self/clear_refs to reset the peak memory")
def test_a_large_jpeg_needs_little_memory(face_photo, tmp_path):
    """The peak memory of preparing a 12 MP JPEG stays below one full-size copy of its pixels
    (width x height x 3 bytes; the full decode needs several), so that many big uploads fit in
    memory at once."""
    path = tmp_path / "large.jpg"
    path.write_bytes(_large_jpeg(face_photo))
    code = ("import sys\n"
            "from gan.data.preprocess import prepare_image\n"
            "def kb(key):\n"
            "    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(key))\n"
            "data = open(sys.argv[1], 'rb').read()\n"
            "open('/proc/self/clear_refs', 'w').write('5')\n"   # peak := now
            "before = kb('VmRSS')\n"
            "prepare_image(data, size=64)\n"
            "print((kb('VmHWM') - before) * 1024)\n")
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code, str(path)], cwd=root, capture_output=True,
                         text=True, check=True)
    assert int(out.stdout) < 4000 * 3000 * 3
