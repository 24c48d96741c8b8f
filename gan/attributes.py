"""Attribute sliders, and how well they work: `python -m gan.attributes --model models/NAME`.

A slider at s in [-1, 1] edits the same faces (the seed keeps z) in one or both of two ways:
- label (conditional bundles): the attribute's label input becomes 0.5 + 0.5 * s * reach.
  Reach 1 puts the ends at the trained labels 0 and 1; more takes them beyond (the generator
  embeds labels with a Dense layer, so values outside [0, 1] extrapolate the same way);
- direction (InterFaceGAN, Shen et al. 2020): z moves by s * strength along a unit direction
  in latent space along which the attribute classifier's log-odds rise, fitted here on
  generated faces; each direction has the other attributes' directions projected out.
  This is what gives an unconditional bundle sliders.
The card's `attributes` section (written by this measurement: reach, strength, the
directions file) says which the app uses; a conditional bundle never measured uses labels
0..1 and no direction.

The measurement (writes `<bundle>/attributes/` and a summary into the card):
1. a small CNN is trained on real labelled photos (the bundle's training split, rebuilt from
   its card by `gan.data.split`) and scored on the held-out split; a card that held out
   nothing needs --holdout;
2. for N seeds, each attribute is generated at the slider's two ends with z and the other
   attributes (random 0/1 per face) held fixed; a face "flips" when the classifier says "no"
   at the low end and "yes" at the high end;
3. identity: the high-end face must be re-identified among the N low-end faces, by nearest
   neighbour in a feature space of the central face region (`gan.sliders.identity`);
4. a face counts as a success when it flips and is re-identified; the target is 80% per
   attribute. Several settings are measured and the card records the one the app uses:
   the simplest (labels before directions, smaller before larger) that meets the target
   for every attribute, else the best (a direction only when it beats labels by 5 points).
Directions are fitted on other seeds than those measured, but with the same classifier that
judges them; labels are not fitted to the classifier at all.

This module is the command line only; the sliders and their measurement are `gan.sliders`.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from gan.bundle import BundleError  # noqa: E402
from gan.cli import seed_number, truncation_number  # noqa: E402
from gan.sliders.directions import DEFAULT_FIT_N  # noqa: E402
from gan.sliders.measure import (  # noqa: E402
    DEFAULT_ATTRIBUTES,
    DEFAULT_N,
    REACHES,
    STRENGTHS,
    AttributesError,
    measure_bundle,
)
from gan.sliders.report import summary  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="models/default", help="bundle folder (default: models/default)")
    p.add_argument("--photos", default=None,
                   help="labelled real photos for the classifier (default: the card's data source)")
    p.add_argument("--holdout", type=float, default=None,
                   help="held-out fraction of the photos (default: the card's, so its own split; "
                        "needed when the card held out nothing)")
    p.add_argument("--attributes", default=None,
                   help=f"attributes for an unconditional bundle (default {DEFAULT_ATTRIBUTES}); "
                        f"a conditional bundle's are its labels")
    p.add_argument("--n", type=int, default=DEFAULT_N, help=f"seeds measured (default {DEFAULT_N})")
    p.add_argument("--seed", type=seed_number, default=0)
    p.add_argument("--truncation", type=truncation_number, default=1.0)
    p.add_argument("--reaches", default=",".join(f"{r:g}" for r in REACHES),
                   help="label reaches to measure, comma-separated (1 = labels 0..1)")
    p.add_argument("--strengths", default=",".join(f"{r:g}" for r in STRENGTHS),
                   help="z shifts along fitted directions to measure (with the smallest reach "
                        "for a conditional bundle); 0 or empty: no directions")
    p.add_argument("--reach", type=float, default=None, help="measure only this label reach")
    p.add_argument("--strength", type=float, default=None, help="measure only this z shift")
    p.add_argument("--fit-n", type=int, default=DEFAULT_FIT_N,
                   help=f"faces the directions are fitted on (default {DEFAULT_FIT_N})")
    p.add_argument("--epochs", type=int, default=None, help="classifier training epochs")
    p.add_argument("--no-cache", action="store_true", help="retrain the classifier")
    p.add_argument("--out", default=None, help="output folder (default: <model>/attributes)")
    p.add_argument("--no-card", action="store_true", help="do not write into the card")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    log = (lambda m: None) if args.quiet else (lambda m: print(f"[attributes] {m}", file=sys.stderr))
    try:
        reaches = tuple(float(r) for r in args.reaches.split(",") if r.strip())
        strengths = tuple(float(r) for r in args.strengths.split(",") if r.strip())
        report = measure_bundle(args.model, photos=args.photos, holdout=args.holdout,
                                attributes=args.attributes, n=args.n, seed=args.seed,
                                truncation=args.truncation, reaches=reaches, strengths=strengths,
                                reach=args.reach, strength=args.strength, n_fit=args.fit_n,
                                epochs=args.epochs, use_cache=not args.no_cache,
                                out_dir=args.out, write_card=not args.no_card,
                                progress=not args.quiet, log=log)
    except (BundleError, AttributesError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
