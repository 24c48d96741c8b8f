"""Fit and measure a bundle's detectors.

    python -m gan.detector fit --model models/NAME
    python -m gan.detector report --model models/NAME

`fit` calibrates the discriminator (Platt, on held-out real photos against new faces of the
bundle's own generator), trains the forensic detector (a logistic regression on the
discriminator's features, on the GAN's training photos, its generator's faces and the train
split of another GAN's set), calibrates it, sets both verdict thresholds for the target
false-positive rate, writes `detection/forensic.npz` and the card's `detector` section, then
runs `report` (unless --no-report). `report` measures the stored detectors on held-out photos
and writes `detection/report/` (report.json and figures) and the card's `detector.measured`.

Data (defaults as in this repository's layout):
  the bundle's training source and its held-out split, rebuilt from the card (or --real PATH);
  --other-gan PATH: a folder with real/ and fake/ (default ../shared/data/stylegan-vs-real);
  --unseen-real PATH: real photos never used in fitting, for the false-positive rate on other
  sources (default ../shared/data/utkface). `none` goes without either.
docs/detector.md explains the method and the figures measured here.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from gan.bundle import BundleError, load_bundle
from gan.detector import data, report
from gan.detector.data import DetectorDataError, resolve
from gan.detector.fit import FitError, fit_detectors, write_detectors
from gan.detector.report import REPORT_DIR
from gan.detector.stored import stored_detectors
from gan.io import ReplaceRefused, check_replaceable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _data_path(value: str | None, default: str, what: str, log):
    if value is not None and value.lower() == "none":
        return None
    p = resolve(value or default)
    if p is None:
        if value is not None:
            raise DetectorDataError(f"{what} {value!r} does not exist")
        log(f"warning: {what} {default} is not here; going without it (give a PATH to use one)")
    return p


def run(args, log) -> int:
    t0 = time.perf_counter()
    bundle = load_bundle(args.model)
    other = _data_path(args.other_gan, data.DEFAULT_OTHER_GAN, "--other-gan", log)
    unseen = _data_path(args.unseen_real, data.DEFAULT_UNSEEN_REAL, "--unseen-real", log)
    sizes = {}
    if args.quick:
        sizes = {"real_train": 600, "own_train": 300, "own_train_raw": 300, "own_calib": 150,
                 "own_test": 150, "unseen_real_test": 200}
    do_fit = args.command == "fit"
    do_report = args.command == "report" or not args.no_report
    parts = data.build_parts(bundle, real=args.real, other_gan=other, unseen_real=unseen,
                             sizes=sizes, fit=do_fit, test=do_report, log=log)
    if do_fit:
        fitted = fit_detectors(bundle, parts, target_fpr=args.target_fpr, C=args.C, log=log)
        write_detectors(args.model, fitted)
        log(f"stored: {args.model}/detection/forensic.npz and the card's detector section "
            f"({time.perf_counter() - t0:.0f} s so far)")
        bundle = load_bundle(args.model)          # measure exactly what is stored
    if not do_report:
        return 0
    dets, problems = stored_detectors(bundle)
    for k, msg in problems.items():
        log(f"warning: the {k} detector is not measured: {msg}")
    rep = report.measure(bundle, parts, dets, robustness=not args.no_robustness,
                         names=data.source_names(bundle, args.real, other, unseen),
                         target_fpr=float((bundle.card.get("detector") or {}).get(
                             "target_fpr", args.target_fpr)), log=log)
    out = report.write_report(args.model, rep)
    print(report.text_summary(rep))
    log(f"done in {time.perf_counter() - t0:.0f} s: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gan.detector", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, helptext in (("fit", "fit both detectors, store them, then measure them"),
                           ("report", "measure the stored detectors on held-out photos")):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("--model", default="models/default", help="bundle folder")
        q.add_argument("--real", default=None,
                       help="real photos the GAN never trained on, instead of the held-out split "
                            "named in the card")
        q.add_argument("--other-gan", default=None, metavar="PATH|none",
                       help="folder with real/ and fake/ of another GAN (default "
                            "../shared/data/stylegan-vs-real)")
        q.add_argument("--unseen-real", default=None, metavar="PATH|none",
                       help="real photos never used in fitting (default ../shared/data/utkface)")
        q.add_argument("--target-fpr", type=float, default=0.05,
                       help="share of real photos a verdict may flag (default 0.05)")
        q.add_argument("--no-robustness", action="store_true",
                       help="skip the JPEG / resize / crop re-measurement (saves minutes)")
        q.add_argument("--quick", action="store_true",
                       help="fewer photos everywhere (a smoke test, not figures to publish)")
        q.add_argument("--quiet", action="store_true")
        if name == "fit":
            q.add_argument("--C", type=float, default=0.1,
                           help="inverse L2 strength of the logistic regression (default 0.1)")
            q.add_argument("--no-report", action="store_true", help="fit and store only")
    args = p.parse_args(argv)
    if args.command == "report":
        args.C, args.no_report = None, False

    log = (lambda m: None) if args.quiet else (lambda m: print(f"[detector] {m}", file=sys.stderr,
                                                               flush=True))
    try:
        if not args.no_report:
            check_replaceable(Path(args.model) / REPORT_DIR)   # before minutes of fitting
        return run(args, log)
    except (BundleError, DetectorDataError, FitError, ReplaceRefused) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
