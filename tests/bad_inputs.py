"""The bad-input corpus: files a visitor, a user of `python -m gan.detect` or a training folder
may hold, each with what every path must make of it. tests/test_bad_inputs.py sends the whole
corpus through the CLI, training ingestion (`load_faces`) and the detect page; a new case is one
line in CASES.

What a path must give, per case:
- FACE: a valid face (the CLI scores it with face_found true; training loads it with its face
  found; the page scores it),
- a kind: the clear error kind (the CLI's `error_kind`, the report's skipped kind, the page's
  status), while the rest of the batch is still done,
- IGNORED: training does not list it (not an image file name, or a folder),
- None: not an input of that path (a pipe or a folder cannot be uploaded).
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps

from tests.app_fixtures import drawn_face

FACE = "face"
IGNORED = "ignored"
FACE_SIZE = 160


def face(size: int = FACE_SIZE) -> Image.Image:
    return Image.fromarray(drawn_face(size))


def enc(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def cut(data: bytes, frac: float = 0.6) -> bytes:
    return data[: int(len(data) * frac)]


def png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming width x height pixels, with one tiny data chunk (a bomb by its header)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims width x height pixels."""
    data = bytearray(enc(face(64), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def exif_rotated(orientation: int) -> bytes:
    """A JPEG stored turned so that only its EXIF orientation makes the face upright."""
    undo = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_270}[orientation]
    stored = face(FACE_SIZE).resize((FACE_SIZE, FACE_SIZE + 40)).transpose(undo)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = enc(stored, "JPEG", quality=95, exif=exif.tobytes())
    assert ImageOps.exif_transpose(Image.open(io.BytesIO(data))).size == (FACE_SIZE, FACE_SIZE + 40)
    return data


def grey16() -> bytes:
    g = np.asarray(face().convert("L")).astype(np.uint16) * 257
    return enc(Image.fromarray(g), "PNG")


def rgba() -> bytes:
    a = np.dstack([drawn_face(FACE_SIZE), np.full((FACE_SIZE, FACE_SIZE), 255, np.uint8)])
    a[:12, :, 3] = 0                                      # a transparent strip on top
    return enc(Image.fromarray(a, "RGBA"), "PNG")


def animated_gif() -> bytes:
    frames = [face(), Image.new("RGB", (FACE_SIZE, FACE_SIZE), (0, 90, 0))]
    return enc(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def float_tiff(fill: float) -> bytes:
    """A 32-bit float TIFF of the face, with a block of non-finite pixels."""
    a = np.asarray(face().convert("L"), np.float32) / 255.0
    a[40:80, 40:80] = fill
    return enc(Image.fromarray(a, "F"), "TIFF")


def large_jpeg() -> bytes:
    """A photo far larger than the model's input (decoded at reduced scale)."""
    img = Image.new("RGB", (4000, 3000), (120, 140, 160))
    img.paste(face(1400), (1300, 800))
    return enc(img, "JPEG", quality=85)


def fifo(path: Path) -> None:
    os.mkfifo(path)


def folder(path: Path) -> None:
    path.mkdir()


def dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def sparse(path: Path) -> None:
    """A file larger than any photo, holding nothing (instant to make, no disk used)."""
    with open(path, "wb") as f:
        f.truncate((256 << 20) + 1)


@dataclass(frozen=True)
class Case:
    id: str                                     # test id
    name: str                                   # file name (on disk and as uploaded)
    make: Callable                              # () -> bytes, or (path) -> None for disk-only
    cli: str | None
    train: str | None
    app: str | None
    disk_only: bool = False                     # made on disk by `make(path)`; no bytes

    def data(self) -> bytes:
        return self.make()

    @property
    def file_name(self) -> str:
        """The name on disk, where "/" cannot be part of a name."""
        return self.name.replace("/", "_")


def C(id, name, make, cli, train=None, app=None, disk_only=False):
    """One case; train and app default to what the CLI gets."""
    return Case(id, name, make, cli, cli if train is None else train,
                (None if disk_only else cli) if app is None else app, disk_only)


UNSUPPORTED = "unsupported format"
CASES = [
    C("zero-byte", "empty.jpg", lambda: b"", "empty file"),
    C("text", "notes.jpg", lambda: b"hello, I am not a photo\n" * 20, "not an image"),
    C("html", "page.png", lambda: b"<html><body>404 not found</body></html>", "not an image"),
    C("svg", "drawing.svg", lambda: b'<svg xmlns="http://www.w3.org/2000/svg"/>', "not an image",
      train=IGNORED),
    C("heic", "phone.heic", lambda: b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 200,
      "not an image", train=IGNORED),
    C("truncated-jpeg", "cut.jpg", lambda: cut(enc(face(), "JPEG")), "truncated image"),
    C("truncated-png", "cut.png", lambda: cut(enc(face(), "PNG")), "truncated image"),
    C("truncated-webp", "cut.webp", lambda: cut(enc(face(), "WEBP")), "truncated image"),
    C("bomb-png-header", "bomb.png", lambda: png_header_only(30000, 30000), "decompression bomb"),
    C("bomb-png-our-limit", "bomb2.png", lambda: png_header_only(12000, 12000),
      "decompression bomb"),
    C("bomb-jpeg-header", "bomb.jpg", lambda: jpeg_claiming(60000, 60000), "decompression bomb"),
    C("1x1", "dot.png", lambda: enc(Image.new("RGB", (1, 1), (200, 150, 120)), "PNG"),
      "image too small"),
    C("cmyk", "cmyk.jpg", lambda: enc(face().convert("CMYK"), "JPEG", quality=95), FACE),
    C("16-bit", "grey16.png", grey16, FACE),
    C("palette", "palette.png", lambda: enc(face().convert("P", palette=Image.Palette.ADAPTIVE),
                                            "PNG"), FACE),
    C("rgba", "alpha.png", rgba, FACE),
    C("animated-gif", "anim.gif", animated_gif, FACE, train=IGNORED, app=UNSUPPORTED),
    C("tiff", "photo.tiff", lambda: enc(face(), "TIFF"), FACE, train=IGNORED, app=UNSUPPORTED),
    *[C(f"exif-{o}", f"exif{o}.jpg", lambda o=o: exif_rotated(o), FACE) for o in range(2, 9)],
    C("png-named-jpg", "really_png.jpg", lambda: enc(face(), "PNG"), FACE),
    C("jpeg-named-webp", "really_jpeg.webp", lambda: enc(face(), "JPEG"), FACE),
    C("large-jpeg", "large.jpg", large_jpeg, FACE),
    C("float-inf-tiff", "inf.tiff", lambda: float_tiff(np.inf), "invalid pixel values",
      train=IGNORED, app=UNSUPPORTED),
    C("float-nan-named-png", "nan.png", lambda: float_tiff(np.nan), "invalid pixel values",
      app=UNSUPPORTED),
    C("over-upload-limit", "padded.png", lambda: enc(face(), "PNG") + b"\0" * (21 << 20), FACE,
      app="file too large"),
    C("fifo", "pipe.jpg", fifo, "not a regular file", disk_only=True),
    C("dev-zero", "zero.jpg", dev_zero, "not a regular file", disk_only=True),
    C("sparse-huge", "huge.jpg", sparse, "file too large", disk_only=True),
    C("folder-named-jpg", "folder.jpg", folder, "no image files", train=IGNORED, disk_only=True),
    # Odd names: a valid face each, whatever its name does to a shell, a spreadsheet or a page.
    C("name-hyperlink", '=HYPERLINK("http://x","y").jpg', lambda: enc(face(), "JPEG"), FACE),
    C("name-cmd", "+cmd|' /C calc'!A0.jpg", lambda: enc(face(), "JPEG"), FACE),
    C("name-at", "@SUM(1+1).jpg", lambda: enc(face(), "JPEG"), FACE),
    C("name-minus", "-2+3.jpg", lambda: enc(face(), "JPEG"), FACE),
    C("name-newline", "line\nbreak.jpg", lambda: enc(face(), "JPEG"), FACE),
    C("name-cr", "carriage\rreturn.jpg", lambda: enc(face(), "JPEG"), FACE),
    C("name-rtl", "photo\u202egpj.png", lambda: enc(face(), "PNG"), FACE),
    C("name-unicode", "visage été 漢字.jpg", lambda: enc(face(), "JPEG"), FACE),
]


def cases(path: str) -> list[Case]:
    """The cases that are inputs of `path` ("cli", "train" or "app")."""
    return [c for c in CASES if getattr(c, path) is not None]


def write(case: Case, folder: Path) -> Path:
    """The case as a file (or pipe, link, folder) in `folder`."""
    path = folder / case.file_name
    if case.disk_only:
        case.make(path)
    else:
        path.write_bytes(case.data())
    return path
