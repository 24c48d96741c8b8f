"""What the detect page adds to `gan.detector`: upload limits, the plain words, the table.

Uploads take the same path as every photo a detector sees (`gan.detector.photos`: prepared
like the training photos, face crop included, then scored in one model call), read from memory,
never from a temp file. What is the app's own: a file that cannot be used gets a reason a
visitor can act on and no score, while the rest of the batch is still scored; a batch is capped
at MAX_FILES files, and at most MAX_CONCURRENT_DECODES photos are decoded at a time in the whole
server process (all sessions together), so that visitors uploading large photos at once cannot
exhaust the server's memory: the others wait their turn. The detectors are the bundle's stored
ones (`gan.detector.stored`).
"""
from __future__ import annotations

import csv
import io
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from gan.data.preprocess import ImageError, open_image, preprocess_image
from gan.data.sources import IMAGE_EXTENSIONS
from gan.detector import photos, stored
from gan.detector.stored import StoredDetector

log = logging.getLogger(__name__)

# Upload limits. Bytes: the uploader refuses bigger files (server.maxUploadSize in
# .streamlit/config.toml, which Streamlit reads only when started from the repository root, so
# the same limit is checked here too). Pixels (decompression bombs): 50 MP covers phone photos;
# such an image needs 150 MB to decode.
MAX_UPLOAD_MB = 20
MAX_PIXELS = 50_000_000
# Files scored per batch; the rest of a bigger batch is listed as not scored.
MAX_FILES = 10
# Photos decoded at once in the server process, across all sessions.
MAX_CONCURRENT_DECODES = 2
# What the upload's bytes must be (by content, not by name; MPO is a camera JPEG).
UPLOAD_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "BMP")
_decodes = threading.BoundedSemaphore(MAX_CONCURRENT_DECODES)

_EXPLAIN = {
    "empty file": "The file is empty.",
    "not an image": "This file is not an image (JPEG, PNG, WebP or BMP) that can be read.",
    "unsupported format": "This image format is not supported here: upload a JPEG, PNG, WebP "
                          "or BMP file.",
    "invalid pixel values": "The image holds pixel values that are not numbers (infinite or "
                            "NaN), so it is not a usable photo.",
    "file too large": f"The file is larger than {MAX_UPLOAD_MB} MB. Resize or compress it.",
    "truncated image": "The image file is cut short (truncated): the file or its upload is "
                       "incomplete. Try saving or uploading it again.",
    "decompression bomb": f"The image has too many pixels (the limit is "
                          f"{MAX_PIXELS // 1_000_000} megapixels). Resize it and try again.",
    "image too small": "The image is too small to hold a usable face.",
    "unreadable image": "The image data cannot be decoded: the file is damaged or incomplete.",
}
NO_FACE = ("No face found, so this photo was not scored. The detector only judges faces: use a "
           "photo with one clear, front-facing face.")
TOO_MANY = (f"Not scored: only the first {MAX_FILES} files of a batch are scored. Remove some "
            "and upload the rest in another batch.")


def plain(det: StoredDetector) -> str:
    """What a detector's number means, for a visitor."""
    if not det.calibrated:
        return ("Its score has not been calibrated on known real and generated photos, so "
                "0.8 does not mean an 80% chance: read it as *more or less generated-looking*.")
    return ("Its score was calibrated on real photos and generated faces it had not trained "
            "on, so a P(generated) of 0.8 means that about 8 in 10 faces given that score were "
            "generated, *if* half of the faces you check are generated.")


def detectors_for(bundle) -> list[StoredDetector]:
    """The detectors a bundle offers; the first is the default (the best measured one)."""
    return stored.stored_detectors(bundle)[0]


def detector_problems(bundle) -> dict[str, str]:
    """{key: why not} for detectors the bundle stores but that cannot be used."""
    return stored.stored_detectors(bundle)[1]


@dataclass
class Result:
    name: str
    source: str                       # "upload", "generated" or "real example"
    status: str                       # "scored", "no face" or the ImageError kind
    message: str = ""                 # shown beside the image when not scored
    crop: np.ndarray | None = field(default=None, repr=False)   # what was (or would be) scored
    p_generated: float | None = None
    verdict: str | None = None
    face_found: bool | None = None

    @property
    def scored(self) -> bool:
        return self.p_generated is not None


def explain(err: ImageError) -> str:
    """A sentence a visitor can act on, with the measured detail where it helps."""
    kind, reason = getattr(err, "kind", ""), str(err)
    base = _EXPLAIN.get(kind)
    if base is None:
        return f"This file cannot be used: {reason}."
    if kind in ("decompression bomb", "image too small", "unreadable image", "unsupported format"):
        detail = reason.partition(": ")[2] or reason.partition("(")[2].rstrip(")")
        return f"{base} ({detail})" if detail else base
    return base


def _nbytes(data) -> int:
    """Size of bytes or of an in-memory upload (Streamlit's UploadedFile), without copying it:
    an UploadedFile's getvalue() is the bytes it was made from (its getbuffer() would copy)."""
    return memoryview(data).nbytes if isinstance(data, (bytes, bytearray, memoryview)) \
        else len(data.getvalue())


def _prepare(name: str, data, bundle, source: str) -> Result:
    n = _nbytes(data)
    if n > MAX_UPLOAD_MB << 20:
        return Result(name, source, status="file too large",
                      message=f"The file is larger than {MAX_UPLOAD_MB} MB "
                              f"({n / (1 << 20):.0f} MB). Resize or compress it.")
    face = photos.prepare(data, bundle.resolution, bundle.crop, gate=_decodes,
                          max_pixels=MAX_PIXELS, max_bytes=MAX_UPLOAD_MB << 20,
                          formats=UPLOAD_FORMATS)
    if isinstance(face.error, ImageError):
        return Result(name, source, status=face.kind, message=explain(face.error))
    if face.error is not None:           # one odd file must not stop the batch
        log.error("preprocessing %r failed", name, exc_info=face.error)
        return Result(name, source, status="error",
                      message=f"This file could not be processed ({type(face.error).__name__}).")
    if face.face_found is False:
        return Result(name, source, status="no face", message=NO_FACE, crop=face.image,
                      face_found=False)
    return Result(name, source, status="scored", crop=face.image, face_found=face.face_found)


def score_ready(results: list[Result], detector: StoredDetector) -> list[Result]:
    """Fill in p and verdict for every result with status "scored", in one batch."""
    judged = photos.judge(detector, [r.crop if r.status == "scored" else None for r in results])
    for r, j in zip(results, judged):
        if j is not None:
            r.p_generated, r.verdict = j
    return results


def score_uploads(files: Iterable[tuple[str, object]], bundle, detector: StoredDetector,
                  source: str = "upload") -> list[Result]:
    """(name, bytes or UploadedFile) pairs -> one Result each, in order; bad files get a reason,
    not a score."""
    return score_ready([_prepare(n, d, bundle, source) for n, d in files], detector)


def too_many(names: Iterable[str], source: str = "upload") -> list[Result]:
    """Results for the files of a batch beyond MAX_FILES: listed, not read."""
    return [Result(n, source, status="too many files", message=TOO_MANY) for n in names]


def score_generated(images: np.ndarray, names: list[str], detector: StoredDetector) -> list[Result]:
    """Faces straight from the generator: already model-sized, so scored as they are."""
    results = [Result(n, "generated", status="scored", crop=np.asarray(im))
               for n, im in zip(names, images)]
    return score_ready(results, detector)


def real_examples(bundle, limit: int = 8) -> list[Path]:
    """Real photos shipped in the bundle (`examples/real/*`), for the "try it" button."""
    folder = Path(bundle.path) / "examples" / "real"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)[:limit]


def score_examples(bundle, detector: StoredDetector, limit: int = 8) -> list[Result]:
    """Score the bundle's real examples. Exports store them already cropped to the model's
    size (used as they are); any other photo goes through the upload preprocessing."""
    results = []
    for path in real_examples(bundle, limit):
        try:
            img = open_image(path, max_pixels=MAX_PIXELS)
        except ImageError as e:
            results.append(Result(path.name, "real example", status=e.kind, message=explain(e)))
            continue
        if img.size == (bundle.resolution, bundle.resolution):
            crop = preprocess_image(img, size=bundle.resolution, crop="none").image
            results.append(Result(path.name, "real example", status="scored", crop=crop))
        else:
            results.append(_prepare(path.name, path.read_bytes(), bundle, "real example"))
    return score_ready(results, detector)


CSV_COLUMNS = ["file", "source", "status", "p_generated", "verdict", "threshold", "detector",
               "face_found", "message"]


def results_rows(results: list[Result], detector: StoredDetector) -> list[dict]:
    """One plain dict per result (the page's table and the CSV)."""
    return [{"file": r.name, "source": r.source, "status": r.status,
             "p_generated": None if r.p_generated is None else round(r.p_generated, 4),
             "verdict": r.verdict or "", "threshold": detector.threshold,
             "detector": detector.key,
             "face_found": "" if r.face_found is None else ("yes" if r.face_found else "no"),
             "message": r.message} for r in results]


# A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection);
# the full-width forms too, in some spreadsheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_text(value):
    """A text cell a spreadsheet shows as text, never runs: one starting like a formula gets a
    leading single quote (OWASP's advice). Numbers are left as numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def results_csv(results: list[Result], detector: StoredDetector) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n", quoting=csv.QUOTE_ALL)
    w.writeheader()
    w.writerows({k: csv_text(v) for k, v in row.items()}
                for row in results_rows(results, detector))
    return buf.getvalue().encode("utf-8")
