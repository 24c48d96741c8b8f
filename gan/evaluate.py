"""Measure a model bundle against real photos, offline: `python -m gan.evaluate`.

    python -m gan.evaluate --model models/default                  # real = the card's held-out split
    python -m gan.evaluate --model models/NAME --real ../shared/data/celeba-identities
    python -m gan.evaluate --model models/NAME --inception-weights inception_v3_notop.h5

What it measures (docs/metrics.md explains each, with calibration figures):
- SWD: sliced Wasserstein distance of Laplacian-pyramid patches (ProGAN), generated faces vs
  real photos, per level and averaged (x1e3; lower is better);
- MS-SSIM diversity of random generated pairs beside random real pairs (mode-collapse flag);
- memorisation: each of a few hundred generated faces against its nearest training photo,
  beside held-out photos against the same training photos;
- FID and KID, only with a user-supplied InceptionV3 weights file (nothing is downloaded);
- per group (a bundle conditioned on label groups, e.g. ethnicity, gender, age group): SWD
  against held-out photos of that group, MS-SSIM variety, and how often a judge trained on real
  held-out photos only agrees that a face shows the group asked for; the weakest group beside
  the best (`gan.metrics.groups`; `--groups on` for binary labels too).

Writes `<bundle>/evaluation/` (report.json, swd.png, memorisation_pairs.jpg,
memorisation_hist.png, samples.png, groups.png, groups_faces.jpg; replaced as a whole) and the summary figures into the
bundle's model card (`metrics`, `evaluation`). This is the command line only: the
evaluation itself is `gan.metrics.evaluate` and the report writer `gan.metrics.report`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from gan.bundle import BundleError  # noqa: E402
from gan.cli import seed_number, truncation_number  # noqa: E402
from gan.io import ReplaceRefused, check_replaceable  # noqa: E402
from gan.metrics.evaluate import (  # noqa: E402
    DEFAULT_MEMORISATION_N,
    DEFAULT_N,
    DEFAULT_PAIRS,
    EvaluationError,
    evaluate_bundle,
)
from gan.metrics import groups as per_group  # noqa: E402
from gan.metrics.report import EVAL_DIR  # noqa: E402


def summary(report: dict) -> str:
    """The report in a few lines for the terminal."""
    s, ms, mem, fk = report["swd"], report["ms_ssim"], report["memorisation"], report["fid_kid"]
    lines = [f"{report['model']}: {report['generated']['images']:,} generated faces vs "
             f"{report['real']['description']}",
             "SWD x1e3 (lower is better): average {:.1f}; per level {}".format(
                 s["average"], ", ".join(f"{k}px {v:.1f}" for k, v in s["levels"].items()))]
    if s.get("references"):
        lines.append("  for scale: " + ", ".join(f"{k} ~{v:g}" for k, v in s["references"].items()))
    lines.append(f"MS-SSIM diversity: generated {ms['generated']:.3f}, real {ms['real']:.3f} "
                 f"(lower = more varied): {ms['verdict']}")
    lines.append("Memorisation: " + (mem["skipped"] if "skipped" in mem else mem["verdict"]))
    if mem.get("identity"):
        ident = mem["identity"]
        lines.append("  people: " + (f"not checked: {ident['skipped']}" if "skipped" in ident
                                     else ident["verdict"]))
    lines.append(f"FID {fk['fid']:.2f}, KID {fk['kid']:.4f}" if fk.get("computed") else fk["message"])
    g = report.get("groups")
    if g and "skipped" in g:
        lines.append(f"Per group: skipped ({g['skipped']})")
    elif g:
        acc = ", ".join(f"{k} {v['accuracy']:.0%}" for k, v in g["judge"]["labels"].items())
        draws = g.get("swd_draws", 1)
        lines.append(f"Per group ({g['faces_per_group']} faces each, SWD at {g['swd_faces']}"
                     + (f", mean of {draws} draws" if draws > 1 else "") + "; the "
                     f"judge's own held-out accuracy: {acc}):")
        for r in per_group.table(g):
            lines.append("  " + " | ".join(f"{k} {v}" for k, v in r.items()))
        for r in per_group.weakest_and_best(g):
            lines.append(f"  {r['figure']}: weakest {r['weakest']}, best {r['best']}; {r['target']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="models/default", help="bundle folder (default: models/default)")
    p.add_argument("--real", default=None,
                   help="folder (or .zip) of real face photos; default: the held-out split named "
                        "in the model card")
    p.add_argument("--n", type=int, default=DEFAULT_N,
                   help=f"generated faces, and at most this many real photos (default {DEFAULT_N})")
    p.add_argument("--memorisation-n", type=int, default=DEFAULT_MEMORISATION_N,
                   help=f"generated faces checked against the training photos "
                        f"(default {DEFAULT_MEMORISATION_N})")
    p.add_argument("--identity", action="store_true",
                   help="also check copying of people: the share of generated faces within "
                        "dlib's same-person distance of a training photo, beside held-out "
                        "photos' share (embeds every training photo: minutes)")
    p.add_argument("--pairs", type=int, default=DEFAULT_PAIRS,
                   help=f"random pairs per set for MS-SSIM (default {DEFAULT_PAIRS})")
    p.add_argument("--seed", type=seed_number, default=0)
    p.add_argument("--truncation", type=truncation_number, default=1.0)
    p.add_argument("--inception-weights", default=None, metavar="FILE",
                   help="Keras InceptionV3 weights file for FID/KID (not downloaded here)")
    p.add_argument("--groups", choices=("auto", "on", "off"), default="auto",
                   help="per-group figures: auto (bundles conditioned on label groups, e.g. "
                        "ethnicity), on (any labelled bundle, binary labels as two groups), off")
    p.add_argument("--per-group", type=int, default=per_group.DEFAULT_PER_GROUP,
                   help=f"generated faces per group (default {per_group.DEFAULT_PER_GROUP})")
    p.add_argument("--group-pairs", type=int, default=per_group.DEFAULT_PAIRS,
                   help=f"MS-SSIM pairs per group (default {per_group.DEFAULT_PAIRS})")
    p.add_argument("--min-group-photos", type=int, default=per_group.MIN_PHOTOS,
                   help=f"fewest held-out photos a group is measured by (default {per_group.MIN_PHOTOS})")
    p.add_argument("--out", default=None, help="output folder (default: <model>/evaluation)")
    p.add_argument("--no-card", action="store_true", help="do not write the metrics into the card")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    log = (lambda m: None) if args.quiet else (lambda m: print(f"[evaluate] {m}", file=sys.stderr))
    try:
        check_replaceable(Path(args.out) if args.out else Path(args.model) / EVAL_DIR)
        report = evaluate_bundle(args.model, args.real, n=args.n, n_memorisation=args.memorisation_n,
                                 n_pairs=args.pairs, seed=args.seed, truncation=args.truncation,
                                 inception_weights=args.inception_weights, out_dir=args.out,
                                 write_card=not args.no_card, progress=not args.quiet,
                                 groups=args.groups, n_per_group=args.per_group,
                                 group_pairs=args.group_pairs,
                                 min_group_photos=args.min_group_photos,
                                 identity=args.identity, log=log)
    except (BundleError, EvaluationError, ReplaceRefused) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
