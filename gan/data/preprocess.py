"""The one way a face photo becomes model input.

Every path into the models goes through :func:`prepare_image`: the training decode
(``gan.data.dataset``), the app's uploads, the detector and the evaluation code. It

1. opens the image (path, bytes or a binary file-like such as Streamlit's
   ``UploadedFile``), refusing bad files with an :class:`ImageError` that says why
   (only regular files are read, never more than ``max_bytes``, so a pipe or a device
   such as /dev/zero cannot hang or exhaust the process);
2. applies the EXIF orientation (a JPEG much larger than the model needs is decoded at
   1/2, 1/4 or 1/8 scale, see :func:`prepare_image`);
3. converts greyscale, palette, RGBA (composited on white), 16-bit and CMYK to 8-bit RGB;
4. chooses a square crop (``crop = "face" | "center" | "none"``);
5. resizes it to ``size`` x ``size`` with Lanczos (antialiased) resampling.

The result is a uint8 array; :func:`to_model_input` scales it to float32 in [-1, 1]
and :func:`to_uint8` goes back (clipping first, so negatives never wrap).

This module imports numpy, Pillow and OpenCV only: no TensorFlow, so the app and the
detector load fast.
"""

from __future__ import annotations

import io
import os
import re
import stat
import threading
import warnings
from dataclasses import dataclass
from typing import BinaryIO, Union

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "CROP_MODES",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_SIZE",
    "FACE_BOX_SCALE",
    "FACE_BOX_SHIFT",
    "MIN_SIZE",
    "PREPROCESS_VERSION",
    "ImageError",
    "Preprocessed",
    "center_box",
    "detect_face",
    "face_box",
    "open_image",
    "prepare_image",
    "preprocess_image",
    "read_file_bytes",
    "to_model_input",
    "to_uint8",
]

CROP_MODES = ("face", "center", "none")
DEFAULT_SIZE = 128
# Shorter side, in pixels, below which a photo is refused. Below 64 px a 128 px model
# input would be more than 2x upscaled mush; thumbnails and icons are not faces to learn.
MIN_SIZE = 64
# Pixel count above which a photo is refused as a decompression bomb. 120 MP is above
# the largest phone sensors (108 MP) and below Pillow's own hard limit (2 x 89.5 MP),
# and an RGB image that size already needs 360 MB of memory to decode.
DEFAULT_MAX_PIXELS = 120_000_000
# Files larger than this are not read (no photo is this big; a sparse or endless file
# would otherwise be read into memory).
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# A JPEG is decoded at reduced scale (1/2, 1/4, 1/8) as long as its shorter side stays at
# least this many times the output size. The smallest face crop is the smallest face the
# detector finds (DETECT_PASSES) times FACE_BOX_SCALE, about 1/DRAFT_FACTOR of the shorter
# side: so even that crop keeps at least ``size`` pixels, and the reduced decode never
# makes prepare_image upscale.
DRAFT_FACTOR = 10
# Bump whenever any step above changes its output: it is part of the decode cache key.
PREPROCESS_VERSION = 2

# Face framing, calibrated on CelebA (see docs/data.md): the square crop side is
# FACE_BOX_SCALE x the Haar box width, and its centre sits FACE_BOX_SHIFT x the Haar
# box width below the Haar box centre (negative: above). With these values the face
# crop of an aligned CelebA photo is about its centre 178 x 178 square: the whole head
# with some background, the framing the models are trained on.
FACE_BOX_SCALE = 1.70
FACE_BOX_SHIFT = -0.14
# Face detection runs in two passes on small greyscale copies (for speed):
# 1. longer side <= 256 px, padded by 15% (edge pixels repeated) so that tightly
#    cropped faces (UTKFace) are found too, faces >= 20% of the shorter side;
# 2. only when pass 1 finds none: longer side <= 512 px, faces >= 6% of the shorter side
#    (group photos, people further away).
DETECT_PASSES = ((256, 0.20, 0.15), (512, 0.06, 0.0))  # (max side, min face fraction, padding)

_CASCADE_FILE = "haarcascade_frontalface_default.xml"
_RESAMPLE = Image.Resampling.LANCZOS

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]


class ImageError(ValueError):
    """A file that is not a usable photo; ``str(err)`` is a human-readable reason.

    ``kind`` is a short category for counting ("empty file", "not an image",
    "not a regular file", "file too large", "unreadable file", "unsupported format",
    "truncated image", "unreadable image", "invalid pixel values", "image too small",
    "decompression bomb").
    """

    def __init__(self, reason: str, kind: str | None = None, pixels: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind or reason
        self.pixels = pixels  # a decompression bomb's pixel count, when known


def _bomb(pixels: int | None, max_pixels: int) -> ImageError:
    """The decompression-bomb error in our words: the size found and our limit."""
    said = (f"{pixels:,} pixels > {max_pixels:,}" if pixels
            else f"more than {max_pixels:,} pixels")
    return ImageError(f"decompression bomb: {said}", kind="decompression bomb", pixels=pixels)


def _pillow_bomb(err: Exception, max_pixels: int) -> ImageError:
    """Pillow refused the image before our own check could (above its own, higher limit): its
    message names a second limit, so only the pixel count is taken from it (None if its wording
    changes), and the limit said is ours, or Pillow's where that is the lower."""
    m = re.search(r"\((\d+) pixels\)", str(err))
    pillow = 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else max_pixels
    return _bomb(int(m[1]) if m else None, min(max_pixels, pillow))


@dataclass
class Preprocessed:
    image: np.ndarray  # uint8 (size, size, 3)
    face_found: bool | None  # None when crop != "face"
    box: tuple[int, int, int, int]  # crop (left, top, right, bottom) in the oriented original
    # (for a JPEG decoded at reduced scale, the decoded box times that scale)
    faces: int | None = None  # faces in the photo, when prepare_image(count_faces=True) found one


# --------------------------------------------------------------------------- opening


def _too_large(n: int, max_bytes: int) -> ImageError:
    return ImageError(f"file too large ({n:,} bytes > {max_bytes:,})", kind="file too large")


def _not_regular(mode: int) -> ImageError:
    what = ("a directory" if stat.S_ISDIR(mode) else "a pipe" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a special file")
    if stat.S_ISDIR(mode):
        return ImageError(f"not an image ({what})", kind="not an image")
    return ImageError(f"not a regular file ({what})", kind="not a regular file")


def read_file_bytes(path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of a regular file, at most ``max_bytes``.

    A pipe, device or socket is refused without reading it (opening a FIFO for reading
    would wait for a writer forever; /dev/zero never ends), and a file larger than
    ``max_bytes`` is refused without reading it (it is checked again while reading, in
    case the file grows). Raises :class:`ImageError`.
    """
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(st.st_mode)
        if st.st_size > max_bytes:
            raise _too_large(st.st_size, max_bytes)
        # Non-blocking, so that a file swapped for a FIFO after the stat cannot block the open.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except ImageError:
        raise
    except IsADirectoryError:
        raise ImageError("not an image (a directory)", kind="not an image") from None
    except OSError as e:
        raise ImageError(f"unreadable file ({e.strerror or e})", kind="unreadable file") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(st.st_mode)
        try:
            data = f.read(max_bytes + 1)
        except OSError as e:
            raise ImageError(f"unreadable file ({e.strerror or e})", kind="unreadable file") from None
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes)
    return data


def _read_bytes(source, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Bytes of a path, a bytes-like object or a binary file-like, at most ``max_bytes``."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        n = memoryview(source).nbytes
        if n > max_bytes:
            raise _too_large(n, max_bytes)
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        return read_file_bytes(source, max_bytes)
    if hasattr(source, "getvalue"):  # io.BytesIO, Streamlit's UploadedFile (no copy: they share
        data = source.getvalue()     # the bytes they were made from, where getbuffer would copy)
        if isinstance(data, str):
            raise ImageError("not an image (a text stream)", kind="not an image")
        if len(data) > max_bytes:
            raise _too_large(len(data), max_bytes)
        return bytes(data)
    if hasattr(source, "read"):
        if hasattr(source, "seek"):
            try:
                source.seek(0)
            except (OSError, ValueError):
                pass
        try:
            data = source.read(max_bytes + 1)
        except TypeError:  # a read() that takes no size
            data = source.read()
        if isinstance(data, str):
            raise ImageError("not an image (a text stream)", kind="not an image")
        if len(data) > max_bytes:
            raise _too_large(len(data), max_bytes)
        return bytes(data)
    raise TypeError(f"cannot read an image from {type(source).__name__}")


def _looks_truncated(data: bytes) -> bool:
    # A RIFF (WebP) header states the file length; Pillow only says "could not create
    # decoder object" when the file is shorter.
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 8:
        return len(data) < int.from_bytes(data[4:8], "little") + 8
    return False


def open_image(source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_bytes: int = DEFAULT_MAX_BYTES, formats=None,
               draft_side: int | None = None) -> Image.Image:
    """Open a photo as an 8-bit RGB, EXIF-oriented, fully loaded PIL image.

    ``source``: a path, bytes, or a binary file-like (e.g. Streamlit's UploadedFile).
    Raises :class:`ImageError` with the reason for empty, non-image, truncated,
    unreadable, non-finite and decompression-bomb files, files larger than ``max_bytes``
    and, when ``formats`` (Pillow format names such as "JPEG") is given, other formats.
    Multi-frame files give their first frame. With ``draft_side``, a JPEG is decoded at the
    smallest of 1/2, 1/4, 1/8 scale whose shorter side is still at least that (far less
    memory and time for a phone photo).
    """
    return _open(source, max_pixels, max_bytes, formats, draft_side)[0]


def _open(source, max_pixels, max_bytes, formats, draft_side: int | None = None):
    """open_image, plus a JPEG decoded at the smallest of 1/2, 1/4, 1/8 scale whose shorter
    side is still >= ``draft_side``. Returns (image, scale it was decoded at)."""
    data = _read_bytes(source, max_bytes)
    if not data:
        raise ImageError("empty file", kind="empty file")
    scale = 1
    with warnings.catch_warnings():
        # We apply our own pixel limit below; Pillow's warning would only be noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as e:
            raise _pillow_bomb(e, max_pixels) from None
        except UnidentifiedImageError:
            raise ImageError("not an image", kind="not an image") from None
        except Exception as e:  # noqa: BLE001 - every decoder failure is a bad file here
            if _looks_truncated(data):
                raise ImageError("truncated image", kind="truncated image") from None
            raise ImageError(f"unreadable image ({e})", kind="unreadable image") from None
        if formats is not None and img.format not in formats:
            raise ImageError(f"unsupported format ({img.format or 'unknown'})",
                             kind="unsupported format")
        w, h = img.size
        if w * h > max_pixels:
            raise ImageError(
                f"decompression bomb: {w}x{h} = {w * h:,} pixels > {max_pixels:,}",
                kind="decompression bomb", pixels=w * h,
            )
        if w <= 0 or h <= 0:
            raise ImageError("not an image (no pixels)", kind="not an image")
        try:
            if draft_side and img.format in ("JPEG", "MPO"):
                while scale < 8 and min(w, h) // (2 * scale) >= draft_side:
                    scale *= 2
                if scale > 1:
                    img.draft(img.mode, (w // scale, h // scale))
                    scale = round(w / img.size[0])
            img.load()
        except Image.DecompressionBombError as e:
            raise _pillow_bomb(e, max_pixels) from None
        except Exception as e:  # noqa: BLE001
            msg = str(e)
            if "truncated" in msg or _looks_truncated(data):
                raise ImageError("truncated image", kind="truncated image") from None
            raise ImageError(f"unreadable image ({msg})", kind="unreadable image") from None
    try:
        img = _apply_exif_orientation(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block is not worth losing the photo
        pass
    try:
        return _to_rgb(img), scale
    except ImageError:
        raise
    except Exception as e:  # noqa: BLE001
        raise ImageError(f"unreadable image (mode {img.mode}: {e})", kind="unreadable image") from None


def _apply_exif_orientation(img: Image.Image) -> Image.Image:
    orientation = img.getexif().get(0x0112, 1)
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        return ImageOps.exif_transpose(img)
    return img


def _grey_to_rgb(a: np.ndarray) -> Image.Image:
    a = np.ascontiguousarray(a, dtype=np.uint8)
    return Image.fromarray(np.repeat(a[:, :, None], 3, axis=2), "RGB")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; transparency composited on white."""
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img
    if mode.startswith("I;16"):
        # Pillow's own convert() clips 16-bit values to 255 instead of scaling them.
        a = np.asarray(img).astype(np.uint32)
        return _grey_to_rgb((a * 255 + 32767) // 65535)
    if mode == "I":
        a = np.asarray(img).astype(np.int64)
        if a.max(initial=0) > 255:  # 16-bit data stored in 32-bit ints (e.g. some PNGs, TIFFs)
            a = (np.clip(a, 0, 65535) * 255 + 32767) // 65535
        return _grey_to_rgb(np.clip(a, 0, 255))
    if mode == "F":
        a = np.asarray(img, dtype=np.float64)
        if not np.isfinite(a).all():  # inf/NaN is no light level: no photo holds it
            raise ImageError("invalid pixel values (infinite or NaN)", kind="invalid pixel values")
        if a.max(initial=0.0) <= 1.0:
            a = a * 255.0
        return _grey_to_rgb(np.clip(np.rint(a), 0, 255))
    if mode == "CMYK":
        rgb = _cmyk_with_profile(img)
        if rgb is not None:
            return rgb
        return img.convert("RGB")
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        background.alpha_composite(rgba)
        return background.convert("RGB")
    return img.convert("RGB")  # L, 1, P, YCbCr, LAB, HSV, RGBX ...


def _cmyk_with_profile(img: Image.Image) -> Image.Image | None:
    """Colour-managed CMYK -> sRGB when the file embeds an ICC profile (Pillow's plain
    convert() ignores the profile and gives washed-out colours)."""
    icc = img.info.get("icc_profile")
    if not icc:
        return None
    try:
        from PIL import ImageCms

        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        dst = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(img, src, dst, outputMode="RGB")
    except Exception:  # noqa: BLE001 - fall back to the plain conversion
        return None


# --------------------------------------------------------------------------- cropping

_cascade = None
_cascade_lock = threading.Lock()


def _get_cascade():
    """The Haar cascade, loaded once per process. Use only while holding _cascade_lock."""
    global _cascade
    if _cascade is None:
        path = os.path.join(cv2.data.haarcascades, _CASCADE_FILE)
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise RuntimeError(
                f"OpenCV face detector not found at {path}: install opencv-python-headless<5"
            )
        _cascade = cascade
    return _cascade


def detect_face(img: Image.Image) -> tuple[int, int, int, int] | None:
    """The largest frontal face as (x, y, w, h) in ``img`` pixels, or None.

    OpenCV's Haar cascade on histogram-equalised greyscale copies (DETECT_PASSES).
    Deterministic; safe to call from many threads (the one detector runs under a lock).
    """
    w, h = img.size
    grey_full = np.asarray(img.convert("L"))
    for max_side, min_frac, pad_frac in DETECT_PASSES:
        scale = min(1.0, max_side / max(w, h))
        grey = grey_full
        if scale < 1.0:
            dw, dh = max(1, round(w * scale)), max(1, round(h * scale))
            grey = cv2.resize(grey_full, (dw, dh), interpolation=cv2.INTER_AREA)
        min_face = max(24, round(min_frac * min(grey.shape)))
        if min(grey.shape) < min_face:
            continue
        grey = cv2.equalizeHist(np.ascontiguousarray(grey))
        pad = int(round(pad_frac * max(grey.shape)))
        if pad:
            grey = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        with _cascade_lock:
            faces = _get_cascade().detectMultiScale(
                grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_face, min_face)
            )
        if len(faces) == 0:
            continue
        # Largest area; ties broken by position so the choice never depends on order.
        x, y, fw, fh = max((tuple(int(v) for v in f) for f in faces),
                           key=lambda f: (f[2] * f[3], -f[1], -f[0]))
        return (
            round((x - pad) / scale),
            round((y - pad) / scale),
            max(1, round(fw / scale)),
            max(1, round(fh / scale)),
        )
    return None


def _place(center: float, side: int, limit: int) -> int:
    """Start of a segment of length ``side`` centred at ``center``, kept inside [0, limit]."""
    start = int(round(center - side / 2))
    return min(max(start, 0), limit - side)


def center_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred square."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return (left, top, left + side, top + side)


def face_box(face: tuple[int, int, int, int], width: int, height: int,
             scale: float = FACE_BOX_SCALE) -> tuple[int, int, int, int]:
    """Square crop box around a detected face (x, y, w, h), CelebA-like framing (``scale``:
    the side over the face width; `gan.data.reframe` cuts tighter with it).

    The side is ``scale`` (FACE_BOX_SCALE) x the face width, centred FACE_BOX_SHIFT x the face
    width below the face centre, so hair and chin are inside. At the image borders the
    square is shifted inwards, never padded with invented pixels; when it is larger
    than the image's shorter side it shrinks to that side (tightly cropped sources
    such as UTKFace then give the whole image, which already is the face).
    """
    x, y, fw, fh = face
    side = int(round(scale * fw))
    side = max(1, min(side, width, height))
    cx = x + fw / 2
    cy = y + fh / 2 + FACE_BOX_SHIFT * fw
    left = _place(cx, side, width)
    top = _place(cy, side, height)
    return (left, top, left + side, top + side)


# --------------------------------------------------------------------------- pipeline


def preprocess_image(img: Image.Image, size: int = DEFAULT_SIZE, crop: str = "face") -> Preprocessed:
    """Crop and resize an opened RGB photo (see :func:`open_image`) to uint8 (size, size, 3).

    crop="face": the largest face, CelebA-like framing (:func:`face_box`); the centre
    crop when no face is found (``face_found=False``).
    crop="center": the largest centred square.
    crop="none": the whole image, resized to a square (a non-square photo is stretched).
    """
    if crop not in CROP_MODES:
        raise ValueError(f"crop must be one of {CROP_MODES}, not {crop!r}")
    if size < 1:
        raise ValueError(f"size must be positive, not {size}")
    if img.mode != "RGB":
        img = _to_rgb(img)
    w, h = img.size
    face_found = None
    if crop == "none":
        box = (0, 0, w, h)
    elif crop == "center":
        box = center_box(w, h)
    else:
        face = detect_face(img)
        face_found = face is not None
        box = face_box(face, w, h) if face is not None else center_box(w, h)
    out = img.resize((size, size), _RESAMPLE, box=box)
    arr = np.asarray(out, dtype=np.uint8)
    return Preprocessed(image=arr, face_found=face_found, box=tuple(int(v) for v in box))


def check_size(img: Image.Image, min_size: int = MIN_SIZE) -> None:
    w, h = img.size
    if min(w, h) < min_size:
        raise ImageError(f"image too small ({w}x{h} < {min_size} px)", kind="image too small")


def prepare_image(
    source: ImageSource,
    size: int = DEFAULT_SIZE,
    crop: str = "face",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_size: int = MIN_SIZE,
    max_bytes: int = DEFAULT_MAX_BYTES,
    formats=None,
    count_faces: bool = False,
) -> Preprocessed:
    """Open + check + preprocess: THE entry point of training decode and inference alike.

    Raises :class:`ImageError` for a file that is not a usable photo (including one whose
    shorter side is below ``min_size`` pixels, one larger than ``max_bytes`` and, when
    ``formats`` is given, one in another format). A JPEG much larger than ``size`` is
    decoded at reduced scale (see DRAFT_FACTOR): a phone photo of tens of megapixels then
    needs a fraction of the memory and time, for a crop downscaled to ``size`` anyway.

    ``count_faces`` (crop="face"): also count the photo's faces with dlib's HOG detector
    (:func:`gan.data.landmarks.count_faces`, tens of ms) into ``faces`` when a face was found
    (at least 1), so a caller can say that several were there and the largest was used.
    """
    if crop not in CROP_MODES:
        raise ValueError(f"crop must be one of {CROP_MODES}, not {crop!r}")
    img, scale = _open(source, max_pixels, max_bytes, formats,
                       draft_side=max(DRAFT_FACTOR * int(size), min_size))
    check_size(img, min_size)
    out = preprocess_image(img, size=size, crop=crop)
    if count_faces and out.face_found:
        from .landmarks import count_faces as _count

        out.faces = max(1, _count(np.asarray(_to_rgb(img) if img.mode != "RGB" else img)))
    if scale > 1:
        out.box = tuple(v * scale for v in out.box)
    return out


# --------------------------------------------------------------------------- scaling


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 image(s) (..., H, W, 3) -> float32 in [-1, 1] (0 -> -1, 255 -> 1)."""
    a = np.asarray(images)
    if a.dtype != np.uint8:
        raise TypeError(f"to_model_input expects uint8 pixels, got {a.dtype}")
    return a.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float image(s) in [-1, 1] -> uint8, clipping first (negatives never wrap)."""
    a = np.asarray(images, dtype=np.float32)
    a = np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=-1.0)
    a = (np.clip(a, -1.0, 1.0) + 1.0) * 127.5
    return np.rint(a).astype(np.uint8)
