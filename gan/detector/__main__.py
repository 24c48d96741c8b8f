"""Fit and measure a bundle's detectors, every figure leave-one-source-out.

    python -m gan.detector fit --model models/NAME --sources SOURCES.json [--tune-steps N]
    python -m gan.detector report --model models/NAME --sources SOURCES.json

SOURCES.json lists the photo sources (real collections and generators' faces), each a folder
outside the repository (format: gan/detector/collections.py; the one used for models/default is
described in docs/detector.md). `fit` describes up to --per-source photos of each (cached in
--cache, as are its trainings and each left-out source's result, so a fit stopped midway goes on
where it stopped when started again), measures both detectors leave-one-source-out, chooses the
verdict rule on those left-out scores (raised where a group of real photos would go over the
rate: gan.detector.groups), stores the forensic detector fitted on all sources
(`detection/forensic.npz`) and the card's `detector` section, then runs the report (unless
--no-report). Before measuring, `fit` trains the discriminator on against its finished generator
for --tune-steps steps on the photos the model was trained on (or --tune-photos FOLDER; 0 steps:
the raw discriminator is measured), stored as `detection/discriminator_tuned.npz`; and it
trains the learned detector (--learned-steps per training; measured leaving --learned-folds
folds of sources out in turn), stored as `detection/learned.npz`, and measures the panel of
the learned detector and the discriminator (`gan.detector.panel`, from their left-out scores).
`report` measures again without storing a detector: robustness curves (JPEG, resize, crop, PNG
to JPEG, each scored by the detector fitted without the photo's source) and false alarms per
group, written to `detection/report/` (report.json and figures).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from gan.bundle import BundleError, load_bundle
from gan.detector import classifier, groups, learned, report
from gan.detector.collections import ManifestError, load_manifest
from gan.detector import tuned
from gan.detector.fit import (DEFAULT_TARGET_FPR, PER_SOURCE, FitError, check_options, describers,
                              fit_detectors, stored_group_photos, stored_trained_on,
                              training_photos, tune_discriminator, write_detectors)
from gan.detector.forensic import DetectorError
from gan.detector.report import REPORT_DIR
from gan.cli import whole_number
from gan.io import ReplaceRefused, check_replaceable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
DEFAULT_CACHE = Path.home() / ".cache" / "facegan" / "detector"


def run(args, log) -> int:
    t0 = time.perf_counter()
    bundle = load_bundle(args.model)
    sources = load_manifest(args.sources)
    learned_steps, learned_folds = ((args.learned_steps, args.learned_folds)
                                    if args.command == "fit" else _stored_learned(bundle))
    check_options(sources, args.per_source, args.target_fpr, learned_steps,
                  learned_folds)                                   # before minutes of training
    if args.command == "fit" and args.keep_tuned:
        trained_on = stored_trained_on(bundle)
        if trained_on is None:
            raise FitError(f"{args.model} stores no trained-on discriminator to keep; "
                           f"leave out --keep-tuned to train one")
    elif args.command == "fit" and args.tune_steps > 0:
        photos = training_photos(bundle) if args.tune_photos is None else _folder_photos(
            bundle, args.tune_photos)
        trained_on = tune_discriminator(bundle, photos, args.tune_steps, log, cache_dir=args.cache)
    else:       # `report` measures the stored one again
        trained_on = stored_trained_on(bundle) if args.command == "report" else None
    # `report` chooses the rules as the stored ones were chosen (with the groups or without)
    rule_groups = args.group_photos if args.command == "fit" else stored_group_photos(bundle.card)
    fitted = fit_detectors(bundle, sources, per_source=args.per_source, cache_dir=args.cache,
                           kind=args.classifier, target_fpr=args.target_fpr, jobs=args.jobs,
                           trained_on=trained_on, learned_steps=learned_steps,
                           learned_folds=learned_folds, group_photos=rule_groups, log=log)
    if args.command == "fit":
        write_detectors(args.model, fitted)
        log(f"stored: {args.model}/detection/ and the card's detector section "
            f"({time.perf_counter() - t0:.0f} s so far)")
    print(report.text_summary(fitted.card))
    if args.command == "fit" and args.no_report:
        return 0
    rep = report.measure(fitted, robustness_per_source=args.robustness_photos, jobs=args.jobs,
                         log=log, bundle=bundle, group_photos=args.group_photos,
                         group_half=groups.CHECK if rule_groups > 0 else None,
                         describers=describers(bundle, args.cache, args.jobs, log, trained_on))
    out = report.write_report(args.model, rep)
    log(f"done in {time.perf_counter() - t0:.0f} s: {out}")
    return 0


def _stored_learned(bundle) -> tuple[int, int]:
    """(steps, folds): `report` measures the learned detector again, as it was fitted, when
    the bundle stores one (0 steps: it stores none)."""
    s = learned.settings(bundle.card)
    if not s:
        return 0, learned.FOLDS
    return int(s.get("steps", learned.STEPS)), int(s.get("folds", learned.FOLDS))


def _folder_photos(bundle, folder):
    """The real photos of --tune-photos, framed by the bundle's crop."""
    from gan.data import load_faces

    try:
        return load_faces(folder, size=bundle.resolution, crop=bundle.crop, progress=False).images
    except (OSError, ValueError) as e:
        raise FitError(f"--tune-photos {folder}: {e}") from None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gan.detector", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, helptext in (("fit", "measure both detectors leave-one-source-out, store them, report"),
                           ("report", "measure again (robustness, groups) without storing")):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("--model", default="models/default", help="bundle folder")
        q.add_argument("--sources", required=True, metavar="SOURCES.json",
                       help="the photo sources (see docs/detector.md)")
        q.add_argument("--per-source", type=int, default=PER_SOURCE,
                       help=f"photos described per source (default {PER_SOURCE})")
        q.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                       help="where descriptions, trainings and each left-out source's result "
                            "are kept, so a fit stopped midway and started again goes on where "
                            f"it stopped (default {DEFAULT_CACHE})")
        q.add_argument("--classifier", choices=classifier.KINDS[:2], default=classifier.DEFAULT_KIND)
        q.add_argument("--target-fpr", type=float, default=DEFAULT_TARGET_FPR,
                       help="share of a left-out real source's photos a verdict may call "
                            "generated (95%% upper bound; default 0.05)")
        q.add_argument("--robustness-photos", type=whole_number(0),
                       default=report.ROBUSTNESS_PER_SOURCE,
                       help="photos per source re-encoded for the robustness curves (0: none)")
        q.add_argument("--group-photos", type=whole_number(0), default=groups.GROUP_PHOTOS,
                       help="false alarms per group: up to this many photos of each group of a "
                            "real source whose file names label groups (UTKFace, All-Age-Faces), "
                            "beyond --per-source, each scored by the detector fitted without its "
                            "source; the rule is raised until every group is within the rate on "
                            "one half of them, and the report measures the other half "
                            f"(default {groups.GROUP_PHOTOS}; 0: rule on sources alone, groups "
                            "measured on the fit's sample)")
        q.add_argument("--jobs", type=whole_number(1), default=2,
                       help="processes describing photos (default 2)")
        q.add_argument("--quiet", action="store_true")
        if name == "fit":
            q.add_argument("--no-report", action="store_true", help="fit and store only")
            q.add_argument("--tune-steps", type=whole_number(0), default=tuned.STEPS,
                           help="train the discriminator on against its finished generator for "
                                f"this many steps before measuring it (default {tuned.STEPS}; "
                                "0: measure the raw discriminator, and drop a stored trained-on one)")
            q.add_argument("--learned-steps", type=int, default=learned.STEPS,
                           help="train the learned detector (the discriminator's layers as a "
                                "classifier of every source) for this many steps per fold "
                                f"(default {learned.STEPS}; 0: none, and drop a stored one)")
            q.add_argument("--learned-folds", type=int, default=learned.FOLDS,
                           help="the learned detector is measured leaving this many folds of "
                                f"sources out in turn (default {learned.FOLDS})")
            q.add_argument("--keep-tuned", action="store_true",
                           help="measure the stored trained-on discriminator again instead of "
                                "training a new one (e.g. after adding sources)")
            q.add_argument("--tune-photos", metavar="FOLDER", default=None,
                           help="real photos to train it on (default: the photos the model was "
                                "trained on, from its card)")
    args = p.parse_args(argv)
    if args.command == "report":
        args.no_report = False

    log = (lambda m: None) if args.quiet else (lambda m: print(f"[detector] {m}", file=sys.stderr,
                                                               flush=True))
    try:
        if not args.no_report:
            check_replaceable(Path(args.model) / REPORT_DIR)   # before minutes of fitting
        check_cache(args.cache)
        return run(args, log)
    except (BundleError, ManifestError, FitError, ReplaceRefused, DetectorError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: could not read or write {e.filename or args.cache}: {e.strerror or e}",
              file=sys.stderr)
        return 2


def check_cache(cache: Path) -> None:
    """FitError when --cache cannot be a folder (a file stands there or above it)."""
    for p in (cache, *cache.parents):
        if p.exists():
            if not p.is_dir():
                raise FitError(f"--cache {cache}: {p} is a file, not a folder; give a folder "
                               "(new or one a fit used before)")
            return


if __name__ == "__main__":
    sys.exit(main())
