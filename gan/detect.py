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
scored) and no `p_generated`. A photo in which no face is found is not scored (as on the app's
detect page) unless --score-without-face is given; then its centre is scored and `face_found` is
false.

Exit status: 0 when at least one file was scored, 1 when none was, 2 when the model or the
detector cannot be used (the message says why).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BATCH = 32
NO_FACE = "no face found (the detector only judges faces; --score-without-face scores the centre)"


def expand(paths: list[str]) -> list[tuple[str, Path | None, str | None]]:
    """(shown path, file or None, error) per input: folders become their image files."""
    from gan.data.sources import IMAGE_EXTENSIONS

    out = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files = sorted(f for f in path.rglob("*") if f.is_file()
                           and f.suffix.lower() in IMAGE_EXTENSIONS
                           and not any(s.startswith(".") for s in f.relative_to(path).parts))
            if not files:
                out.append((p, None, "no image files in this folder"))
            out += [(str(f), f, None) for f in files]
        elif not path.exists():
            out.append((p, None, "no such file"))
        else:
            out.append((p, path, None))
    return out


def pick_detector(bundle, wanted: str | None):
    """The detector to use and a warning (or None); raises ValueError when `wanted` is not
    usable."""
    from gan.scoring import stored_detectors

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


def score_files(bundle, det, items, score_without_face: bool = False, batch: int = BATCH):
    """Yield one result dict per item, in order, scoring in batches."""
    import numpy as np

    from gan.data.preprocess import ImageError, prepare_image

    for start in range(0, len(items), batch):
        chunk = items[start:start + batch]
        rows, ready, images = [], [], []
        for shown, path, err in chunk:
            row: dict = {"path": shown, "detector": det.key}
            if err is None:
                try:
                    pre = prepare_image(path, size=bundle.resolution, crop=bundle.crop)
                    row["face_found"] = pre.face_found
                    if pre.face_found is False and not score_without_face:
                        err = NO_FACE
                    else:
                        ready.append(len(rows))
                        images.append(pre.image)
                except ImageError as e:
                    err = str(e)
                except Exception as e:  # noqa: BLE001 - one odd file must not stop the batch
                    err = f"could not be processed ({type(e).__name__}: {e})"
            if err is not None:
                row.setdefault("face_found", None)
                row["error"] = err
            rows.append(row)
        if images:
            ps = det.p(np.stack(images))
            for i, p in zip(ready, ps):
                rows[i].update(p_generated=round(float(p), 6), verdict=det.verdict(float(p)),
                               threshold=round(det.threshold, 6))
        yield from rows


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
