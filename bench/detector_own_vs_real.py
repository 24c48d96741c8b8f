"""The detector on this model's own faces against one real source, both left out.

    python bench/detector_own_vs_real.py --sources SOURCES.json [--model models/default]
        [--real celeba] [--own facegan_t1.0,facegan_t0.7,facegan_t0.5] [--cache DIR]
        [--detector dfeatures|discriminator] [--heldout]

Issue 17's target reads "this model's faces vs held-out CelebA AUC at least 0.99 with at least
95% caught". The detection report measures each generated source against all real sources
pooled; this measures it against one: each named source is scored by the default detector
(`dfeatures`) fitted without it (leave-one-source-out, as the report), and the stored rule of
the report says which are caught. Descriptions come from the fit's cache.

`--detector discriminator` measures the discriminator's row instead (the trained-on one when
the bundle stores it). `--heldout` adds the photos the model itself held out of training (its
card's split: never seen by the generator or either discriminator), scored by the detector
fitted without the --real source, and states the figures against them too.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan.bundle import load_bundle  # noqa: E402
from gan.data.split import Split  # noqa: E402
from gan.detector import dfeatures, loso  # noqa: E402
from gan.detector.__main__ import DEFAULT_CACHE  # noqa: E402
from gan.detector.collections import (describe_dfeatures, describe_discriminator,  # noqa: E402
                                      load_manifest)
from gan.detector.fit import PER_SOURCE, stored_trained_on  # noqa: E402
from gan.detector.report import REPORT_DIR  # noqa: E402
from gan.detector.verdict import GENERATED, Rule  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sources", required=True)
    p.add_argument("--model", default="models/default")
    p.add_argument("--real", default="celeba")
    p.add_argument("--own", default="facegan_t1.0,facegan_t0.7,facegan_t0.5")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--detector", choices=[dfeatures.KEY, "discriminator"], default=dfeatures.KEY)
    p.add_argument("--heldout", action="store_true",
                   help="also the model's own held-out photos (its card's split)")
    args = p.parse_args()
    from sklearn.metrics import roc_auc_score

    bundle = load_bundle(args.model)
    if args.detector == dfeatures.KEY:
        describe = lambda files: describe_dfeatures(files, bundle, args.cache)  # noqa: E731
        fit_kw = {"ood_columns": dfeatures.ood_columns(bundle)}
    else:
        trained_on = stored_trained_on(bundle)
        scorer = trained_on.scorer if trained_on is not None else None
        describe = lambda files: describe_discriminator(files, bundle, args.cache, scorer=scorer)  # noqa: E731
        fit_kw = {"kind": "identity", "with_ood": False}
    sets = [loso.SourceData(s, describe(s.sample(PER_SOURCE))) for s in load_manifest(args.sources)]
    names = [s.source.name for s in sets]
    rep = json.loads((Path(args.model) / REPORT_DIR / "report.json").read_text())
    r = rep["detectors"][args.detector]["rule"]
    rule = Rule(r["generated_at"], r["real_below"])

    def without(name):
        i = names.index(name)
        return loso.fit([t for j, t in enumerate(sets) if j != i], **fit_kw), sets[i].data

    def scored(fitted, data):
        _, prob, p_re, unfamiliar = loso.score(fitted, data)
        return prob, rule.decide_many(prob, p_re, unfamiliar)[0]

    reals = {args.real: scored(*without(args.real))}
    if args.heldout:
        split = Split.from_card(bundle.card)
        files = [Path(split.path) / k for k in split.load().heldout.keys]
        reals[f"{bundle.name}'s held-out photos"] = scored(without(args.real)[0], describe(files))
    for real, (pr, vr) in reals.items():
        print(f"{real}: {len(pr)} photos, {np.mean(vr == GENERATED):.1%} called generated")
    for name in args.own.split(","):
        pg, vg = scored(*without(name))
        against = ", ".join(f"AUC against {real} "
                            f"{roc_auc_score(np.r_[np.zeros(len(pr)), np.ones(len(pg))], np.r_[pr, pg]):.3f}"
                            for real, (pr, _) in reals.items())
        print(f"{name}: {len(pg)} faces, {against}, {np.mean(vg == GENERATED):.1%} caught "
              f"({np.mean(vg == 'unsure'):.1%} unsure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
