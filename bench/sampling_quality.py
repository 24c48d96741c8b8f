"""How do the ways of sampling change the faces? (issue 18, point 5). For one bundle, draws
`--n` faces at the generate page's defaults (labels in the middle) each way and measures them
alike: SWD against the bundle's held-out photos, MS-SSIM variety beside real pairs, and the
share gan.metrics.broken calls broken (its trend figure; the blind audit is the measure:
`python -m gan.audit sheet --model M [--truncation T] [--drs P]`).

    python bench/sampling_quality.py --model runs/capacity/w1/m240 [--n 500] \
        [--truncation 0.7] [--drs 95] [--drs 80] [--best-of 4]

Ways: "plain" (variety 1.0, what the app shows), each `--truncation T`, each `--drs P`
(discriminator rejection sampling at that percentile, gan.rejection), each `--best-of K` (a
filter that uses no audit label: of each K faces in a row of the seed's stream, the one dlib
finds most face-like, by its HOG detector's margin plus the plausibility of its 68 landmarks'
layout among real photos', each in standard deviations of the held-out photos'). Prints a
markdown table.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gan import rejection  # noqa: E402
from gan.bundle import load_bundle  # noqa: E402
from gan.metrics import broken, msssim, swd  # noqa: E402
from gan.metrics.audit import page_default_labels  # noqa: E402
from gan.metrics.broken import BrokenFigure  # noqa: E402
from gan.metrics.evaluate import real_sets  # noqa: E402
from gan.sampling import generate  # noqa: E402


def face_likeness(describer: broken.Describer, space: broken.ShapeSpace, face) -> tuple[float, float]:
    """(HOG margin, minus the landmark layout's distance from real photos' mean layout)."""
    import numpy as np

    margin, pts = describer.layout(face)
    return margin, -float(np.linalg.norm(space.coords(pts)))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--truncation", type=float, action="append", default=[])
    ap.add_argument("--drs", type=float, action="append", default=[], metavar="PERCENTILE")
    ap.add_argument("--best-of", type=int, action="append", default=[], metavar="K")
    args = ap.parse_args(argv)
    bundle = load_bundle(args.model)
    real = real_sets(bundle, None, args.n, seed=args.seed).real
    figure = BrokenFigure()
    labels = page_default_labels(bundle)
    ways = [("plain", lambda: generate(bundle, args.n, seed=args.seed, truncation=1.0, labels=None))]
    ways += [(f"truncation {t:g}", lambda t=t: generate(bundle, args.n, seed=args.seed,
                                                         truncation=t, labels=None))
             for t in args.truncation]

    def drs(p):
        kept = rejection.calibrate(bundle, 1.0, labels, percentile=p)
        faces, _, drawn = rejection.sample(bundle, args.n, args.seed, 1.0, labels, kept)
        print(f"DRS {p:g}: kept {args.n} of {drawn} candidates ({args.n / drawn:.0%})", flush=True)
        return faces

    ways += [(f"DRS {p:g}th percentile", lambda p=p: drs(p)) for p in args.drs]

    def best_of(k):
        import numpy as np

        cands = generate(bundle, args.n * k, seed=args.seed, truncation=1.0, labels=None)
        ref = np.array([face_likeness(figure.describer, figure.space, f) for f in real])
        raw = np.array([face_likeness(figure.describer, figure.space, f) for f in cands])
        score = ((raw - ref.mean(axis=0)) / ref.std(axis=0)).sum(axis=1)
        return cands[np.arange(args.n) * k + score.reshape(args.n, k).argmax(axis=1)]

    ways += [(f"best of {k} by face-likeness", lambda k=k: best_of(k)) for k in args.best_of]
    real_div = msssim.diversity(real, 1000, args.seed + 1)["mean"]
    print(f"{args.model}: {args.n} faces each way against {len(real)} held-out photos "
          f"(MS-SSIM of real pairs {real_div:.3f})\n")
    print("| sampling | SWD | MS-SSIM | predicted broken |\n| --- | ---: | ---: | ---: |")
    for name, draw in ways:
        faces = draw()
        s = swd.swd(faces, real, seed=args.seed)["average"]
        m = msssim.diversity(faces, 1000, args.seed)["mean"]
        print(f"| {name} | {s:.1f} | {m:.3f} | {figure.broken_share(faces):.0%} |", flush=True)


if __name__ == "__main__":
    main()
