"""From photo files to verdicts: each file prepared like an upload, then scored in batches.

The one path a photo takes to a detector, shared by `python -m gan.detect` (`score_files`,
which streams one result per file), the detect page (`app_support.detection`) and the photos a
fit or report uses (`prepare_files`, in `gan.detector.data` and `report`):

- `prepare`: one file or bytes -> a `Face` (the crop to score, whether a face was found), or
  why it cannot be used; it never raises for a bad file, so one file cannot stop a batch;
- `judge`: prepared faces -> (P(generated), verdict) each, in one model call;
- `image_files` / `expand`: the image files of a folder, and a command line's paths as files.
"""
from __future__ import annotations

import queue
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Union

import numpy as np

from gan.data import preprocess
from gan.data.preprocess import ImageError
from gan.data.sources import IMAGE_EXTENSIONS

FileRef = Union[Path, bytes]

BATCH = 32
NO_FACE = "no face found (the detector only judges faces; --score-without-face scores the centre)"
NO_FILES = "no image files in this folder"
NO_SUCH_FILE = "no such file"
KINDS = {NO_FACE: "no face", NO_FILES: "no image files", NO_SUCH_FILE: "no such file"}


@dataclass
class Face:
    """One file prepared for a detector: the crop to score, or the error that kept it out."""
    image: np.ndarray | None = field(default=None, repr=False)   # uint8 [R, R, 3]
    face_found: bool | None = None
    error: Exception | None = None     # an ImageError (its `kind`), or an unexpected failure

    @property
    def kind(self) -> str | None:
        """The failure's category ("truncated image", ...; "error" when unexpected)."""
        return None if self.error is None else getattr(self.error, "kind", "error")


def prepare(data, size: int, crop: str, gate=None, **limits) -> Face:
    """`data` (a path, bytes or a file object) prepared by `prepare_image` with `limits`
    (max_pixels, max_bytes, formats), inside `gate` (a context manager, e.g. a semaphore
    capping decodes at once) when given."""
    try:
        with gate if gate is not None else nullcontext():
            pre = preprocess.prepare_image(data, size=size, crop=crop, **limits)
    except Exception as e:  # noqa: BLE001 - kept with the face; the caller words it
        return Face(error=e)
    return Face(pre.image, pre.face_found)


def judge(det, images: list[np.ndarray | None]) -> list[tuple[float, str] | None]:
    """(P(generated), verdict) per face, None where there is no face to score; all in one
    call of `det` (a `gan.detector.stored.StoredDetector`), so a batch costs one model call."""
    todo = [i for i, im in enumerate(images) if im is not None]
    out: list[tuple[float, str] | None] = [None] * len(images)
    if todo:
        for i, p in zip(todo, det.p(np.stack([images[i] for i in todo]))):
            out[i] = (float(p), det.verdict(float(p)))
    return out


def prepare_files(files: list[FileRef], size: int, crop: str,
                  change: Callable[[FileRef, int], bytes] | None = None,
                  log=lambda m: None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Each file through `prepare` (after `change(file, index)` when given), for fitting and
    measuring: (images [m,R,R,3], face_found [m], indices of the files that were usable).
    A file that is not a usable photo is skipped with a log line; any other failure raises."""
    out, found, kept = [], [], []
    for i, f in enumerate(files):
        face = prepare(change(f, i) if change is not None else f, size, crop)
        if isinstance(face.error, ImageError):
            log(f"skipped {f if isinstance(f, Path) else 'an image'}: {face.error}")
            continue
        if face.error is not None:
            raise face.error
        out.append(face.image)
        found.append(True if face.face_found is None else bool(face.face_found))
        kept.append(i)
    images = np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)
    return images, np.array(found, bool), kept


# --------------------------------------------------------------------------- files and folders


def image_files(folder: str | Path, regular_only: bool = True) -> list[Path]:
    """The image files under `folder` (by extension, recursively, hidden ones left out),
    sorted. With `regular_only=False`, pipes and devices named like photos are listed too, so
    that `gan.detect` can say why it did not read them instead of leaving no trace."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS
                  and (p.is_file() if regular_only else not p.is_dir())
                  and not any(s.startswith(".") for s in p.relative_to(folder).parts))


def expand(paths: list[str]) -> list[tuple[str, Path | None, str | None]]:
    """(shown path, file or None, error) per input: folders become their image files."""
    out = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files = image_files(path, regular_only=False)
            if not files:
                out.append((p, None, NO_FILES))
            out += [(str(f), f, None) for f in files]
        elif not path.exists():
            out.append((p, None, NO_SUCH_FILE))
        else:
            out.append((p, path, None))
    return out


# --------------------------------------------------------------------------- streaming


def _prepare_row(bundle, item, score_without_face: bool) -> tuple[dict, np.ndarray | None]:
    """(result without a score, face to score or None) for one `expand` item."""
    shown, path, err = item
    row: dict = {"path": shown}
    image, kind = None, KINDS.get(err)
    if err is None:
        face = prepare(path, bundle.resolution, bundle.crop)
        if face.error is not None:
            err, kind = str(face.error), face.kind
            if kind == "error":
                err = f"could not be processed ({type(face.error).__name__}: {face.error})"
        else:
            row["face_found"] = face.face_found
            if face.face_found is False and not score_without_face:
                err, kind = NO_FACE, "no face"
            else:
                image = face.image
    if err is not None:
        row.setdefault("face_found", None)
        row.update(error=err, error_kind=kind)
    return row, image


def score_files(bundle, det, items: Iterable, score_without_face: bool = False,
                batch: int = BATCH):
    """Yield one result dict per `expand` item, in order, each as soon as it is ready.

    A background thread prepares the files one after the other while this one scores, in one
    model call, whatever has been prepared meanwhile (up to `batch`): one slow file never holds
    back the lines of the files before it, and a fast folder is still scored in batches.
    """
    done = object()
    ready: queue.Queue = queue.Queue(maxsize=2 * batch)

    def prepare_all():
        try:
            for item in items:
                ready.put(_prepare_row(bundle, item, score_without_face))
        finally:
            ready.put(done)

    threading.Thread(target=prepare_all, name="gan.detect prepare", daemon=True).start()
    finished = False
    while not finished:
        chunk = [ready.get()]
        while len(chunk) < batch and chunk[-1] is not done:
            try:
                chunk.append(ready.get_nowait())
            except queue.Empty:
                break
        if chunk[-1] is done:
            chunk.pop()
            finished = True
        for (row, _), scored in zip(chunk, judge(det, [image for _, image in chunk])):
            if scored is not None:
                row.update(p_generated=round(scored[0], 6), verdict=scored[1],
                           threshold=round(det.threshold, 6))
            yield {"path": row.pop("path"), "detector": det.key, **row}
