"""Export a bundle as a TensorFlow SavedModel that TensorFlow Serving can serve.

    python -m gan.export --model models/default --out serving/facegan

writes serving/facegan/1/ (the next free version number; TF Serving serves the highest), with
two signatures: generate(z, labels, truncation) -> uint8 faces, and score(image_uint8) -> the
discriminator's raw score (gan/serving.py says what each takes and gives). --out must be new,
empty, or hold only earlier exports; nothing in it is ever replaced or deleted.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from gan.bundle import BundleError, load_bundle, read_card  # noqa: E402
from gan.io import ReplaceRefused  # noqa: E402
from gan.serving import SIGNATURES, ExportRefused, check_target, export_saved_model  # noqa: E402


MAX_VERSION = 2 ** 63 - 1      # the largest version TF Serving's int64 can name


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="models/default", help="bundle folder (default: models/default)")
    p.add_argument("--out", required=True,
                   help="the model's serving folder; the export goes into OUT/VERSION/")
    p.add_argument("--version", type=int, default=None,
                   help="version number (default: one more than the highest in --out, or 1)")
    args = p.parse_args(argv)
    try:
        read_card(args.model)                     # a missing or wrong bundle: said before any work
        target = check_target(args.out, args.version)
        if int(target.name) > MAX_VERSION:
            raise ExportRefused(f"--version must be at most {MAX_VERSION} (TensorFlow Serving reads "
                                f"the version folder as a 64-bit number), not {target.name}. "
                                "Nothing was written.")
        bundle = load_bundle(args.model)
        target = export_saved_model(bundle, args.out, int(target.name))
    except (BundleError, ExportRefused, ReplaceRefused) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no version was written (the staging folder was removed)", file=sys.stderr)
        return 130
    except OSError as e:
        print(f"error: could not write the export into {args.out}: {e.strerror or e} "
              f"({e.filename or args.out}). Nothing was left half-written.", file=sys.stderr)
        return 2
    base = Path(args.out).resolve()
    print(f"SavedModel of {args.model} in {target} (signatures: {', '.join(SIGNATURES)}). Serve it "
          f"with:\n  docker run -p 8501:8501 --mount type=bind,source={base},target=/models/facegan "
          f"-e MODEL_NAME=facegan tensorflow/serving", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
