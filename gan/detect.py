"""Score face photos as real or generated: one JSON line per file.

    python -m gan.detect --model models/default photo.jpg other.png folder/
    python -m gan.detect --model models/NAME --detector discriminator *.jpg

Each file is prepared exactly as the app prepares an upload (EXIF, RGB, face crop, resize), then
scored by one of the bundle's detectors: `forensic` (trained on faces of several generators,
`python -m gan.detector fit`) or `discriminator` (the GAN's own), by default the best one the
bundle stores. A folder stands for the image files in it (recursively).

Each line has `path`, `detector`, `face_found` and either `p_generated` (calibrated probability
that the face is generated, when the bundle's detector was calibrated), `verdict` ("generated"
when p_generated >= `threshold`, else "real") and `threshold`, or `error` (why the file was not
scored), `error_kind` (its category, e.g. "truncated image", "not a regular file", "no face")
and no `p_generated`. A photo in which no face is found is not scored (as on the app's
detect page) unless --score-without-face is given; then its centre is scored and `face_found` is
false.

Lines come in the order of the inputs, each as soon as its file is done. Only regular files are
read (a pipe or a device such as /dev/zero is refused unread), each up to 256 MB.

Exit status: 0 when at least one file was scored, 1 when none was, 2 when the model or the
detector cannot be used (the message says why).
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BATCH = 32
NO_FACE = "no face found (the detector only judges faces; --score-without-face scores the centre)"
NO_FILES = "no image files in this folder"
NO_SUCH_FILE = "no such file"
KINDS = {NO_FACE: "no face", NO_FILES: "no image files", NO_SUCH_FILE: "no such file"}


def expand(paths: list[str]) -> list[tuple[str, Path | None, str | None]]:
    """(shown path, file or None, error) per input: folders become their image files."""
    from gan.data.sources import IMAGE_EXTENSIONS

    out = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            # Pipes and devices named like photos are listed too: their line says why they
            # were not read, instead of their leaving no trace.
            files = sorted(f for f in path.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS
                           and not f.is_dir()
                           and not any(s.startswith(".") for s in f.relative_to(path).parts))
            if not files:
                out.append((p, None, NO_FILES))
            out += [(str(f), f, None) for f in files]
        elif not path.exists():
            out.append((p, None, NO_SUCH_FILE))
        else:
            out.append((p, path, None))
    return out


def pick_detector(bundle, wanted: str | None):
    """The detector to use and a warning (or None); raises ValueError when `wanted` is not
    usable."""
    from gan.detector.stored import stored_detectors

    dets, problems = stored_detectors(bundle)
    by_key = {d.key: d for d in dets}
    if wanted:
        if wanted in by_key:
            return by_key[wanted], None
        if wanted in problems:
            raise ValueError(problems[wanted])
        raise ValueError(f"{bundle.name} has no {wanted} detector"
                         + (f"; fit one with `python -m gan.detector fit --model {bundle.path}`"
                            if wanted == "forensic" else ""))
    warning = None
    if problems:
        warning = "; ".join(f"the {k} detector is not usable ({m}); using the {dets[0].key}"
                            for k, m in problems.items())
    return dets[0], warning


def _prepare(bundle, item, score_without_face: bool) -> tuple[dict, object]:
    """(row without a score, uint8 face to score or None) for one input; never raises for a
    bad file."""
    from gan.data.preprocess import ImageError, prepare_image

    shown, path, err = item
    row: dict = {"path": shown}
    image, kind = None, KINDS.get(err)
    if err is None:
        try:
            pre = prepare_image(path, size=bundle.resolution, crop=bundle.crop)
            row["face_found"] = pre.face_found
            if pre.face_found is False and not score_without_face:
                err, kind = NO_FACE, "no face"
            else:
                image = pre.image
        except ImageError as e:
            err, kind = str(e), e.kind
        except Exception as e:  # noqa: BLE001 - one odd file must not stop the batch
            err, kind = f"could not be processed ({type(e).__name__}: {e})", "error"
    if err is not None:
        row.setdefault("face_found", None)
        row.update(error=err, error_kind=kind)
    return row, image


def score_files(bundle, det, items, score_without_face: bool = False, batch: int = BATCH):
    """Yield one result dict per item, in order, each as soon as it is ready.

    A background thread prepares the files one after the other while this one scores, in one
    model call, whatever has been prepared meanwhile (up to `batch`): one slow file never holds
    back the lines of the files before it, and a fast folder is still scored in batches.
    """
    import numpy as np

    done = object()
    ready: queue.Queue = queue.Queue(maxsize=2 * batch)

    def prepare_all():
        try:
            for item in items:
                ready.put(_prepare(bundle, item, score_without_face))
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
        todo = [(row, image) for row, image in chunk if image is not None]
        if todo:
            ps = det.p(np.stack([image for _, image in todo]))
            for (row, _), p in zip(todo, ps):
                row.update(p_generated=round(float(p), 6), verdict=det.verdict(float(p)),
                           threshold=round(det.threshold, 6))
        for row, _ in chunk:
            yield {"path": row.pop("path"), "detector": det.key, **row}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gan.detect", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="photos or folders of photos")
    p.add_argument("--model", default="models/default", help="bundle folder (default: models/default)")
    p.add_argument("--detector", choices=["forensic", "discriminator"], default=None,
                   help="which detector (default: the best one the bundle stores)")
    p.add_argument("--score-without-face", action="store_true",
                   help="score the centre of photos in which no face is found")
    args = p.parse_args(argv)

    from gan.bundle import BundleError, load_bundle

    try:
        bundle = load_bundle(args.model)
        det, warning = pick_detector(bundle, args.detector)
    except (BundleError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    scored = 0
    for row in score_files(bundle, det, expand(args.files), args.score_without_face):
        scored += "p_generated" in row
        print(json.dumps(row), flush=True)
    return 0 if scored else 1


if __name__ == "__main__":
    sys.exit(main())
