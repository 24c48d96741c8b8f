"""A folder of photos re-cut so each face fills its frame, as in a tight-cropped source.

    python -m gan.data reframe /work/data/detector/aaf --out /work/data/aaf-tight \
        [--labels /work/data/aaf-labels.csv] [--fill 1.06]

Why: UTKFace's photos are tight face crops; All-Age-Faces' show head and shoulders, and the
project's one face crop (`gan.data.preprocess`) keeps each as it is. Trained together, a model
would learn framing as part of a group (docs/groups.md). This cuts every photo to a square
around its face: the same Haar face and centring as the face crop (`preprocess.face_box`), the
side the face box's width over ``fill``. The face crop of the result is then the whole photo,
as it is for UTKFace's.

``fill`` is the face box's width as a share of the square's side when cut. Measured again on the
cut photo (`bench/groups_framing.py`), the share reads lower: Haar boxes a tightly cut face a
little smaller. The default was chosen so that cut All-Age-Faces photos read about as UTKFace's
do (the figures are in docs/groups.md).

Photos without a face found, or unreadable, are left out and counted; one bad file never stops
the run. SRC's ``labels.csv`` (or the CSV given as ``labels``: first column the file name
relative to SRC) comes along as DST's, with the rows of the photos written, so
`python -m gan.data groups` reads DST as it would read SRC. Each photo keeps its name and
format (JPEG at quality 95, the others lossless). DST is written beside itself and moved into
place at the end; it may only replace an older reframed folder (recognised by its
reframe_report.json), never SRC or any other folder.
"""
from __future__ import annotations

import csv
import datetime
import io
import json
import os
from pathlib import Path

from ..io import Marker, check_replaceable, staged_dir
from .preprocess import ImageError, check_size, detect_face, face_box, open_image
from .sources import _list_folder

FORMAT = "facegan-reframe/1"
REPORT_FILE = "reframe_report.json"
LABELS_FILE = "labels.csv"
REFRAMED = Marker(REPORT_FILE, "a reframed folder (python -m gan.data reframe)", format=FORMAT)
DEFAULT_FILL = 1.06
JPEG_QUALITY = 95
# Each photo is written in the format its name says (labels name the files); JPEG at quality 95,
# the others losslessly.
SAVE_AS = {".jpg": ("JPEG", {"quality": JPEG_QUALITY}), ".jpeg": ("JPEG", {"quality": JPEG_QUALITY}),
           ".png": ("PNG", {}), ".webp": ("WEBP", {"lossless": True}), ".bmp": ("BMP", {})}


class ReframeError(ValueError):
    """A problem with the folders or options, worded to be shown as one `error:` line."""


def _photos(src: Path) -> list[str]:
    """The photos' paths relative to SRC, listed as training lists a folder (`gan.data.sources`:
    hidden files and __MACOSX left out, linked folders not followed, a pipe named like a photo
    listed so that it is counted as unreadable, never opened blindly)."""
    return _list_folder(str(src)).images()


def _cut(path: Path, fill: float) -> tuple[bytes | None, str | None]:
    """(the photo cut around its face, encoded as its own format; or None, why not)."""
    try:
        img = open_image(path)
        check_size(img)
    except ImageError as e:
        return None, e.kind
    face = detect_face(img)
    if face is None:
        return None, "no face found"
    box = face_box(face, *img.size, scale=1.0 / fill)
    buf = io.BytesIO()
    fmt, options = SAVE_AS[path.suffix.lower()]
    img.crop(box).save(buf, fmt, **options)
    return buf.getvalue(), None


def _read_labels(path: Path) -> list[list[str]] | None:
    """The rows of the labels CSV at `path`, read before any photo is cut so that a file that
    is not one is refused at once, by name; None when there is no such file or no row."""
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8-sig")
        if "\0" in text:
            raise csv.Error("it holds NUL bytes")
        rows = list(csv.reader(text.splitlines()))
    except (UnicodeDecodeError, csv.Error) as e:
        raise ReframeError(f"labels {path}: not a CSV text file ({e})") from None
    return rows or None


def _labels(rows: list[list[str]] | None, written: set[str]) -> str | None:
    """The labels CSV with only the rows of photos written (first column: the file name);
    None when there is none."""
    if rows is None:
        return None
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(rows[0])
    for r in rows[1:]:
        if r and r[0] in written:
            w.writerow(r)
    return out.getvalue()


def reframe(src: str | Path, out: str | Path, fill: float = DEFAULT_FILL,
            labels: str | Path | None = None, log=lambda m: None) -> dict:
    """Write OUT: SRC's photos cut around their faces (see the module's docstring); returns
    the report written beside them."""
    src, out = Path(src), Path(out)
    if not 0.5 <= fill <= 1.5:
        raise ReframeError(f"--fill is the face's width over the frame's, between 0.5 and 1.5, "
                           f"not {fill}")
    if not src.is_dir():
        raise ReframeError(f"{src} is not a folder of photos")
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise ReframeError(f"--out must be outside {src}: give a new folder beside it")
    if labels is not None and not Path(labels).is_file():
        raise ReframeError(f"--labels {labels}: no such file")
    check_replaceable(out, REFRAMED)
    label_rows = _read_labels(Path(labels) if labels is not None else src / LABELS_FILE)
    photos = _photos(src)
    if not photos:
        raise ReframeError(f"{src} holds no photos (.jpg, .jpeg, .png, .webp or .bmp files)")
    left_out: dict[str, int] = {}
    written: set[str] = set()
    with staged_dir(out, replaces=REFRAMED) as tmp:
        for i, rel in enumerate(photos, 1):
            data, why = _cut(src / rel, fill)
            if data is None:
                left_out[why] = left_out.get(why, 0) + 1
            else:
                target = Path(tmp) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                written.add(rel)
            if i % 1000 == 0 or i == len(photos):
                log(f"reframe: {i:,} of {len(photos):,} photos ({len(written):,} written)")
        table = _labels(label_rows, written)
        if table is not None:
            (Path(tmp) / LABELS_FILE).write_text(table, encoding="utf-8")
        report = {"format": FORMAT, "source": os.path.abspath(src), "fill": fill,
                  "photos": len(photos), "written": len(written), "left_out": left_out,
                  "labels": LABELS_FILE if table is not None else None,
                  "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        (Path(tmp) / REPORT_FILE).write_text(json.dumps(report, indent=1) + "\n")
    return report
