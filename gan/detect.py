"""Score face photos as real or generated: one JSON line per file.

    python -m gan.detect --model models/default photo.jpg other.png folder/
    python -m gan.detect --model models/NAME --detector discriminator *.jpg

Each file is prepared exactly as the app prepares an upload (EXIF, RGB, the face found, its
re-encodings made), then judged by one of the bundle's detectors: `panel` (the learned detector
and the discriminator together: generated when either is sure), `dfeatures` (what the GAN's
discriminator sees of the aligned face, read by a classifier fitted on several real and
generated photo sources, `python -m gan.detector fit`), `learned` (the discriminator's layers
trained on those sources as a classifier), `forensic` (the face's texture, fitted
the same way) or `discriminator` (the GAN's own raw score), by default the one the bundle names. A folder stands for
the image files in it (recursively).

Each line has `path`, `detector`, `face_found`, `faces` when a face was found by a detector that
frames faces by landmarks (how many faces its face finder found in the photo; only the largest
is judged: crop the photo to judge another) and either

- `p_generated` (P(generated), calibrated when the detector was; for the panel, the share of
  left-out real photos its more suspicious member scores the photo above), `verdict` and `threshold`
  (the P(generated) from which it says "generated"). The verdict is "generated", "real" or
  "unsure"; an "unsure" line also has `reason`, a sentence saying why: the score falls where
  photos of left-out real and generated sources both land, the photo is unlike every source the
  detector was fitted on, or re-saving it (JPEG quality 75, half size) would change the verdict
  (`gan.detector.verdict`);
- or `error` (why the file was not scored), `error_kind` (its category, e.g. "truncated image",
  "not a regular file", "no face", "face too small") and no `p_generated`. A photo in which
  no face is found is not scored (as on the app's detect page) unless --score-without-face is
  given; then the discriminator scores its centre and `face_found` is false (the fitted
  detectors need a face). A face too small for the detector to read is not scored either.

Lines come in the order of the inputs, each as soon as its file is done. Only regular files are
read (a pipe or a device such as /dev/zero is refused unread), each up to 256 MB.

Exit status: 0 when at least one file was scored, 1 when none was, 2 when the model or the
detector cannot be used (the message says why).

This module is the command line only: preparing and scoring live in `gan.detector.photos`,
the choice of detector in `gan.detector.stored`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from gan.bundle import BundleError, load_bundle
from gan.detector import photos, stored

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gan.detect", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="photos or folders of photos")
    p.add_argument("--model", default="models/default", help="bundle folder (default: models/default)")
    p.add_argument("--detector", choices=["panel", "dfeatures", "learned", "forensic", "discriminator"], default=None,
                   help="which detector (default: the one the bundle names as its default)")
    p.add_argument("--score-without-face", action="store_true",
                   help="score the centre of photos in which no face is found (the "
                        "discriminator; the fitted detectors need a face)")
    args = p.parse_args(argv)

    try:
        bundle = load_bundle(args.model)
        det, warning = stored.pick(bundle, args.detector)
    except (BundleError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    scored = 0
    for row in photos.score_files(det, photos.expand(args.files),
                                  args.score_without_face):
        scored += "p_generated" in row
        print(json.dumps(row), flush=True)
    return 0 if scored else 1


if __name__ == "__main__":
    sys.exit(main())
