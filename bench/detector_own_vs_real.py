"""The detector on this model's own faces against one real source, both left out.

    python bench/detector_own_vs_real.py --sources SOURCES.json [--model models/default]
        [--real celeba] [--own facegan_t1.0,facegan_t0.7,facegan_t0.5] [--cache DIR]

Issue 17's target reads "this model's faces vs held-out CelebA AUC at least 0.99 with at least
95% caught". The detection report measures each generated source against all real sources
pooled; this measures it against one: each named source is scored by the default detector
(`dfeatures`) fitted without it (leave-one-source-out, as the report), and the stored rule of
the report says which are caught. Descriptions come from the fit's cache.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan.bundle import load_bundle  # noqa: E402
from gan.detector import dfeatures, loso  # noqa: E402
from gan.detector.__main__ import DEFAULT_CACHE  # noqa: E402
from gan.detector.collections import describe_dfeatures, load_manifest  # noqa: E402
from gan.detector.fit import PER_SOURCE  # noqa: E402
from gan.detector.report import REPORT_DIR  # noqa: E402
from gan.detector.verdict import GENERATED, Rule  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sources", required=True)
    p.add_argument("--model", default="models/default")
    p.add_argument("--real", default="celeba")
    p.add_argument("--own", default="facegan_t1.0,facegan_t0.7,facegan_t0.5")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = p.parse_args()
    from sklearn.metrics import roc_auc_score

    bundle = load_bundle(args.model)
    sets = [loso.SourceData(s, describe_dfeatures(s.sample(PER_SOURCE), bundle, args.cache))
            for s in load_manifest(args.sources)]
    names = [s.source.name for s in sets]
    rep = json.loads((Path(args.model) / REPORT_DIR / "report.json").read_text())
    r = rep["detectors"][dfeatures.KEY]["rule"]
    rule = Rule(r["generated_at"], r["real_below"])

    def left_out(name):
        i = names.index(name)
        fitted = loso.fit([t for j, t in enumerate(sets) if j != i],
                          ood_columns=dfeatures.ood_columns(bundle))
        _, prob, p_re, unfamiliar = loso.score(fitted, sets[i].data)
        return prob, rule.decide_many(prob, p_re, unfamiliar)[0]

    pr, vr = left_out(args.real)
    print(f"{args.real}: {len(pr)} photos, {np.mean(vr == GENERATED):.1%} called generated")
    for name in args.own.split(","):
        pg, vg = left_out(name)
        auc = roc_auc_score(np.r_[np.zeros(len(pr)), np.ones(len(pg))], np.r_[pr, pg])
        print(f"{name}: {len(pg)} faces, AUC against {args.real} {auc:.3f}, "
              f"{np.mean(vg == GENERATED):.1%} caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
