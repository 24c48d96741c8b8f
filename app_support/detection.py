"""What the detect page adds to `gan.detector`: upload limits, the plain words, the table.

Uploads take the same path as every photo a detector sees (`gan.detector.photos`: the face
found and prepared for the detector in use, its re-encodings included, then judged in one model
call: generated, real or unsure with the reason), read from memory, never from a temp file.
What is the app's own: a file that cannot be used gets a reason a visitor can act on and no
score, while the rest of the batch is still scored; a batch is capped at MAX_FILES files, and at
most MAX_CONCURRENT_DECODES photos are decoded at a time in the whole server process (all
sessions together), so that visitors uploading large photos at once cannot exhaust the server's
memory: the others wait their turn. Judging (the model call) goes through the server-wide
model gate (`app_support.gate`). The detectors are the bundle's stored ones
(`gan.detector.stored`).
"""
from __future__ import annotations

import csv
import io
import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from app_support.gate import model_call
from gan.data.preprocess import ImageError, open_image
from gan.data.sources import IMAGE_EXTENSIONS
from gan.detector import photos, stored
from gan.detector.stored import StoredDetector
from gan.detector.verdict import REASONS

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
# Shared by every page that decodes uploads (detect, your face): one cap for the server.
DECODE_GATE = threading.BoundedSemaphore(MAX_CONCURRENT_DECODES)

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
FACE_TOO_SMALL = ("The face is too small to judge, so this photo was not scored: use a photo in "
                  "which the face is larger.")
TOO_MANY = (f"Not scored: only the newest {MAX_FILES} photos in the list are judged, and this "
            "file came before them. To judge it, remove newer files (the × beside each name), "
            "or press Start over and upload it again.")
TOO_MANY_STATUS = "too many files"
# Statuses of files that were read as images: only these take a place among the MAX_FILES.
READ = ("scored", "no face")


def several_faces(n: int | None) -> str:
    """Said with a judged photo's answer when the face finder found more faces in it than the
    one judged; "" for one face, or when the detector does not count them (None)."""
    return (f"{n} faces found: the largest is judged. Crop the photo to judge another."
            if n is not None and n > 1 else "")


def plain(det: StoredDetector) -> str:
    """What a detector's score means, for a visitor (it follows "The score: ")."""
    if det.key == "panel":
        return ("the share of real photos (of sources its two members were not fitted on) "
                "that the more suspicious member scores this face above: 0.5 is an ordinary "
                "real photo, above 0.999 is beyond every real photo it was checked on. It is a "
                "rank, not the chance that yours is generated.")
    if not det.calibrated:
        return ("it has not been calibrated on known real and generated photos, so 0.8 does "
                "not mean an 80% chance: read it as *more or less generated-looking*.")
    return ("it was calibrated on photos of the sources it was fitted on, half real and half "
            "generated: read it as how generated the face looks to this detector, not as the "
            "chance that yours is. What was checked on photo sources it never saw is the "
            "answer, not the number.")


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
    crop: np.ndarray | None = field(default=None, repr=False)   # the face shown
    p_generated: float | None = None
    verdict: str | None = None        # "generated", "real" or "unsure"
    reason: str = ""                  # why unsure: a key of gan.detector.verdict.REASONS
    face_found: bool | None = None
    faces: int | None = None          # faces found in the photo (the largest is judged); None:
                                      # not counted by this detector
    views: np.ndarray | None = field(default=None, repr=False)  # what is judged; dropped after

    @property
    def scored(self) -> bool:
        return self.p_generated is not None

    @property
    def reason_text(self) -> str:
        """Why the verdict is unsure, as a sentence ("" otherwise)."""
        return REASONS.get(self.reason, self.reason) if self.reason else ""


def explain(err: ImageError) -> str:
    """A sentence a visitor can act on, with the measured detail where it helps."""
    kind, reason = getattr(err, "kind", ""), str(err)
    if kind == "decompression bomb" and getattr(err, "pixels", None):
        return (f"The image has too many pixels: {_megapixels(err.pixels)} megapixels, and the "
                f"limit is {MAX_PIXELS // 1_000_000} megapixels. Resize it and try again.")
    base = _EXPLAIN.get(kind)
    if base is None:
        return f"This file cannot be used: {reason}."
    if kind in ("image too small", "unreadable image", "unsupported format"):
        detail = reason.partition(": ")[2] or reason.partition("(")[2].rstrip(")")
        return f"{base} ({detail})" if detail else base
    return base


def _megapixels(pixels: int) -> str:
    """"60", "50.4", "10,000": never rounded down to the limit it is over."""
    mp = pixels / 1_000_000
    return f"{mp:,.0f}" if mp >= 100 or mp == int(mp) else f"{mp:.1f}"


def _nbytes(data) -> int:
    """Size of bytes or of an in-memory upload (Streamlit's UploadedFile), without copying it:
    an UploadedFile's getvalue() is the bytes it was made from (its getbuffer() would copy)."""
    return memoryview(data).nbytes if isinstance(data, (bytes, bytearray, memoryview)) \
        else len(data.getvalue())


def _result(name: str, source: str, face: photos.Face) -> Result:
    """The Result of one prepared photo: ready to judge, or why it cannot be."""
    if isinstance(face.error, ImageError):
        return Result(name, source, status=face.kind, message=explain(face.error))
    if face.error is not None:           # one odd file must not stop the batch
        log.error("preparing %r failed", name, exc_info=face.error)
        return Result(name, source, status="error",
                      message=f"This file could not be processed ({type(face.error).__name__}).")
    if face.face_found is False or face.views is None:
        return Result(name, source, status="no face", crop=face.image, face_found=face.face_found,
                      message=NO_FACE if face.face_found is False else FACE_TOO_SMALL)
    return Result(name, source, status="scored", crop=face.image, face_found=face.face_found,
                  faces=face.faces, views=face.views)


def _prepare(name: str, data, det: StoredDetector, source: str) -> Result:
    """One upload (bytes or UploadedFile) within the upload limits, prepared for `det`."""
    n = _nbytes(data)
    if n > MAX_UPLOAD_MB << 20:
        return Result(name, source, status="file too large",
                      message=f"The file is larger than {MAX_UPLOAD_MB} MB "
                              f"({n / (1 << 20):.0f} MB). Resize or compress it.")
    return _result(name, source, photos.prepare(
        data, det, gate=DECODE_GATE, max_pixels=MAX_PIXELS, max_bytes=MAX_UPLOAD_MB << 20,
        formats=UPLOAD_FORMATS))


def score_ready(results: list[Result], detector: StoredDetector) -> list[Result]:
    """Judge every result with status "scored" in one batch: P(generated), the verdict and why
    when unsure. The views are dropped afterwards (results are kept per session)."""
    with model_call():
        judged = photos.judge(detector, [photos.Face(views=r.views) if r.status == "scored"
                                         and r.views is not None else None for r in results])
    for r, j in zip(results, judged):
        if j is not None:
            r.p_generated, r.verdict, r.reason = j.p, j.verdict, j.reason
        r.views = None
    return results


def score_uploads(files: Iterable[tuple[str, object]], bundle, detector: StoredDetector,
                  source: str = "upload") -> list[Result]:
    """(name, bytes or UploadedFile) pairs -> one Result each, in order; bad files get a reason,
    not a score. (`bundle` is kept for callers: the detector carries what preparing needs.)"""
    return score_ready([_prepare(n, d, detector, source) for n, d in files], detector)


def score_newest(files: list[tuple[str, object]], bundle, detector: StoredDetector,
                 known: list[Result | None] | None = None) -> list[Result]:
    """One Result per (name, data) pair, in the uploader's order (oldest first): the newest
    MAX_FILES files that could be read as images are judged, walking back from the last, since
    Streamlit's uploader adds a new batch after the old one; a file that could not be read gets
    its reason and takes no place; older files are listed as TOO_MANY, not read. `known[i]`: a
    result kept from an earlier run, used instead of reading file i again."""
    known = known if known is not None else [None] * len(files)
    out: list[Result | None] = [None] * len(files)
    end, need = len(files), MAX_FILES
    while need > 0 and end > 0:        # usually one pass; again for each unreadable file
        start = max(0, end - need)
        todo = [i for i in range(start, end) if known[i] is None]
        for i, r in zip(todo, score_uploads([files[i] for i in todo], bundle, detector)):
            out[i] = r
        for i in range(start, end):
            if out[i] is None:
                out[i] = replace(known[i], name=files[i][0])
            need -= out[i].status in READ
        end = start
    return too_many(n for n, _ in files[:end]) + out[end:]


def too_many(names: Iterable[str], source: str = "upload") -> list[Result]:
    """Results for the files of a batch beyond MAX_FILES: listed, not read."""
    return [Result(n, source, status=TOO_MANY_STATUS, message=TOO_MANY) for n in names]


def score_generated(images: np.ndarray, names: list[str], detector: StoredDetector) -> list[Result]:
    """Faces straight from the generator, as images: already model-sized, so the
    discriminator takes them as they are (crop "none"); the forensic detector finds the face
    in them like in any photo. A face it cannot find is still shown."""
    results = []
    for name, im in zip(names, images):
        im = np.asarray(im)
        r = _result(name, "generated", photos.prepare(Image.fromarray(im), detector, crop="none"))
        if r.crop is None and r.status == "no face":
            r.crop = im
        results.append(r)
    return score_ready(results, detector)


def real_examples(bundle, limit: int = 8) -> list[Path]:
    """Real photos shipped in the bundle (`examples/real/*`), for the "try it" button."""
    folder = Path(bundle.path) / "examples" / "real"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)[:limit]


def score_examples(bundle, detector: StoredDetector, limit: int = 8) -> list[Result]:
    """Score the bundle's real examples. Exports store them already cropped to the model's
    size (the discriminator takes those as they are); any other photo goes through the upload
    preparation."""
    results = []
    for path in real_examples(bundle, limit):
        try:
            img = open_image(path, max_pixels=MAX_PIXELS)
        except ImageError as e:
            results.append(Result(path.name, "real example", status=e.kind, message=explain(e)))
            continue
        if img.size == (bundle.resolution, bundle.resolution):
            results.append(_result(path.name, "real example",
                                   photos.prepare(img, detector, crop="none")))
        else:
            results.append(_prepare(path.name, path.read_bytes(), detector, "real example"))
    return score_ready(results, detector)


CSV_COLUMNS = ["file", "source", "status", "p_generated", "verdict", "reason", "threshold",
               "detector", "face_found", "message"]


def results_rows(results: list[Result], detector: StoredDetector) -> list[dict]:
    """One plain dict per result (the page's table and the CSV): `reason` is the sentence
    saying why a verdict is unsure; `threshold` the P(generated) from which it says
    "generated"."""
    return [{"file": r.name, "source": r.source, "status": r.status,
             "p_generated": None if r.p_generated is None else round(r.p_generated, 6),
             "verdict": r.verdict or "", "reason": r.reason_text,
             "threshold": round(detector.threshold, 6),
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
