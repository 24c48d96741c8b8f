"""From photo files to verdicts: each file prepared like an upload, then scored in batches.

The one path a photo takes to a detector, shared by `python -m gan.detect` (`score_files`,
which streams one result per file) and the detect page (`app_support.detection`); fitting and
the left-out measurement describe photos the same way (`gan.detector.collections`):

- `prepare`: one file or bytes -> a `Face` (the face to show, the views the detector scores,
  whether a face was found and how many faces the face finder found), or why it cannot be
  used; it never raises for a bad file, so one file cannot stop a batch;
- `judge`: prepared faces -> a `Verdict` each (P(generated), generated / real / unsure and
  why), in one model call;
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
from PIL import Image
from gan.data.sources import IMAGE_EXTENSIONS
from gan.detector.verdict import REASONS

FileRef = Union[Path, bytes]

BATCH = 32
NO_FACE = "no face found (the detector only judges faces; --score-without-face scores the centre)"
FACE_TOO_SMALL = ("face too small to judge (this detector reads the face at the photo's own "
                  "pixels; use a photo in which the face is larger)")
NO_FILES = "no image files in this folder"
NO_SUCH_FILE = "no such file"
KINDS = {NO_FACE: "no face", FACE_TOO_SMALL: "face too small", NO_FILES: "no image files",
         NO_SUCH_FILE: "no such file"}


@dataclass
class Face:
    """One file prepared for a detector: the face to show and the views to score, or the error
    that kept it out."""
    image: np.ndarray | None = field(default=None, repr=False)   # uint8 [R, R, 3], shown
    views: np.ndarray | None = field(default=None, repr=False)   # what the detector scores
    face_found: bool | None = None
    error: Exception | None = None     # an ImageError (its `kind`), or an unexpected failure
    # Faces the face finder found in the photo, in the pass that found the one judged (the
    # largest); None when the detector does not count them (the discriminator's own crop).
    faces: int | None = None

    @property
    def kind(self) -> str | None:
        """The failure's category ("truncated image", ...; "error" when unexpected)."""
        return None if self.error is None else getattr(self.error, "kind", "error")


def prepare(data, det, gate=None, crop: str | None = None, **limits) -> Face:
    """`data` (a path, bytes, a file object or a decoded PIL image) opened with `limits`
    (max_pixels, max_bytes, formats) inside `gate` (a context manager, e.g. a semaphore capping
    decodes at once) when given, then prepared for `det` (a StoredDetector). `crop` overrides
    the discriminator's crop (e.g. "none" for a face already cut to the model's size)."""
    try:
        with gate if gate is not None else nullcontext():
            if isinstance(data, Image.Image):
                img = data.convert("RGB")
            else:
                img = preprocess.open_image(data, draft_side=det.draft_side, **limits)
                preprocess.check_size(img)
            shown, views, found, faces = det.prepare(img, crop)
    except Exception as e:  # noqa: BLE001 - kept with the face; the caller words it
        return Face(error=e)
    return Face(shown, views, found, faces=faces)


@dataclass(frozen=True)
class Verdict:
    p: float
    verdict: str
    reason: str                        # why unsure, "" otherwise (gan.detector.verdict.REASONS)


def judge(det, faces: list[Face | None]) -> list[Verdict | None]:
    """A Verdict per face, None where there is nothing to score; all in one call of `det`
    (a `gan.detector.stored.StoredDetector`), so a batch costs one model call."""
    todo = [i for i, f in enumerate(faces) if f is not None and f.views is not None]
    out: list[Verdict | None] = [None] * len(faces)
    if todo:
        j = det.judge(np.stack([faces[i].views for i in todo]))
        for k, i in enumerate(todo):
            out[i] = Verdict(float(j.p[k]), str(j.verdicts[k]), str(j.reasons[k]))
    return out


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


def _prepare_row(det, item, score_without_face: bool) -> tuple[dict, Face | None]:
    """(result without a score, face to score or None) for one `expand` item."""
    shown, path, err = item
    row: dict = {"path": shown}
    image, kind = None, KINDS.get(err)
    if err is None:
        face = prepare(path, det)
        if face.error is not None:
            err, kind = str(face.error), face.kind
            if kind == "error":
                err = f"could not be processed ({type(face.error).__name__}: {face.error})"
        else:
            row["face_found"] = face.face_found
            if face.faces is not None and face.face_found:
                row["faces"] = face.faces
            if face.views is None and face.face_found:
                err, kind = FACE_TOO_SMALL, KINDS[FACE_TOO_SMALL]
            elif face.views is None or (face.face_found is False and not score_without_face):
                err, kind = NO_FACE, KINDS[NO_FACE]
            else:
                image = face
    if err is not None:
        row.setdefault("face_found", None)
        row.update(error=err, error_kind=kind)
    return row, image


def score_files(det, items: Iterable, score_without_face: bool = False,
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
                ready.put(_prepare_row(det, item, score_without_face))
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
                row.update(p_generated=round(scored.p, 6), verdict=scored.verdict,
                           threshold=round(det.threshold, 6))
                if scored.reason:
                    row["reason"] = REASONS[scored.reason]
            yield {"path": row.pop("path"), "detector": det.key, **row}
