"""Store a bundle's discriminator compact: int8 weights with its architecture, in place of the
float16 Keras file (half its bytes), for a second model in the 60 MB that models/ may hold.

    python -m gan.compact --model models/groups

The generator is untouched, so the faces stay the same; the discriminator's raw score moves a
little (the card records how far, on 256 of the bundle's faces: `storage.logit_change`).
Refused for a bundle with fitted detectors (their figures were measured on the float16
weights). Fine-tuning from the bundle (`--init-from`), rejection sampling and the raw score
read the compact file as they read the Keras one.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from gan.bundle import BundleError, compact_discriminator  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="bundle folder, e.g. models/groups")
    args = p.parse_args(argv)
    try:
        r = compact_discriminator(args.model)
    except BundleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: could not write into {args.model}: {e.strerror or e}. The bundle is "
              f"as it was, or complete with the compact file.", file=sys.stderr)
        return 2
    print(f"{args.model}: discriminator {r['bytes_before']:,} -> {r['bytes_after']:,} bytes; "
          f"its raw score moved by at most {r['max']:.4f} (median {r['median']:.4f}; the "
          f"scores' spread {r['logit_sd']:.4f}) on {r['faces']} of its faces")
    return 0


if __name__ == "__main__":
    sys.exit(main())
