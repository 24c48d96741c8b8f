"""The learned detector trained in float32 and in mixed bfloat16, side by side: CPU time and
what each learns.

    python bench/learned_precision.py --sources SOURCES.json [--model models/default]
        [--only NAME,NAME,...] [--hold NAME,NAME,...] [--steps 4000] [--cache DIR]

`gan.detector.kerasmodels.trainable` trains the learned detector and the trained-on
discriminator with their convolutions in bfloat16 (float32 variables). This checks that choice
on this machine, each figure beside its float32 baseline run in the same process:

1. CPU time of one training step (batch 64, the bundle's discriminator), five steps at a time,
   the two precisions alternating, median of the rounds; the ratio is float32 / bfloat16.
2. One training of each on the sources' fit halves without the --hold sources (default: the
   first fold of `learned.folds`), the same --seed and draws, each timed; then both score the held
   sources' photos: AUC of held generated against held real faces for each, and the
   correlation of the two precisions' scores. Process CPU time, all threads counted; pause
   other work (training runs) for the timing to mean much.

Descriptions come from the fit's cache (`python -m gan.detector fit` fills it); `--only`
limits the sources to those already described.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan.bundle import load_bundle  # noqa: E402
from gan.detector import kerasmodels, learned, loso  # noqa: E402
from gan.detector.calibrate import roc_auc  # noqa: E402
from gan.detector.__main__ import DEFAULT_CACHE  # noqa: E402
from gan.detector.collections import describe_views, load_manifest  # noqa: E402
from gan.detector.fit import PER_SOURCE  # noqa: E402


def step_seconds(discriminator, size: int, rounds: int = 6, steps: int = 5) -> dict[str, float]:
    """Median CPU seconds of one training step in each precision, measured alternately."""
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (learned.BATCH, size, size, 3), np.uint8)
    targets = np.r_[np.zeros(32), np.ones(32)].astype(np.float32)[:, None]
    runs = {"float32": kerasmodels.train_step(learned.build(discriminator), learned.LEARNING_RATE),
            "mixed_bfloat16": kerasmodels.train_step(
                kerasmodels.trainable(learned.build(discriminator)), learned.LEARNING_RATE)}
    for run in runs.values():                                   # traced and warmed up
        for _ in range(2):
            run(faces, targets, rng)
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            t0 = time.process_time()
            for _ in range(steps):
                run(faces, targets, rng)
            times[name].append((time.process_time() - t0) / steps)
    return {k: float(np.median(v)) for k, v in times.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sources", required=True)
    p.add_argument("--model", default="models/default")
    p.add_argument("--only", default="", help="only these sources (comma-separated names)")
    p.add_argument("--hold", default="", help="sources held out of both trainings and scored")
    p.add_argument("--steps", type=int, default=learned.STEPS)
    p.add_argument("--seed", type=int, default=0,
                   help="of both trainings (weights' draws, batches)")
    p.add_argument("--per-source", type=int, default=PER_SOURCE)
    p.add_argument("--cache", default=str(DEFAULT_CACHE))
    args = p.parse_args()

    bundle = load_bundle(args.model)
    size = bundle.resolution
    sources = load_manifest(args.sources)
    if args.only:
        keep = set(args.only.split(","))
        sources = [s for s in sources if s.name in keep]
    sets = [loso.SourceData(s, describe_views(s.sample(args.per_source), size, args.cache))
            for s in sources]
    if args.hold:
        held = set(args.hold.split(","))
    else:
        fold = learned.folds([s.source for s in sets])
        held = {s.source.name for s, f in zip(sets, fold) if f == 0}
    rest = [s for s in sets if s.source.name not in held]
    test = [s for s in sets if s.source.name in held]
    if {s.source.kind for s in test} != {"real", "generated"}:
        print("error: the held sources need both kinds: " + ", ".join(sorted(held)),
              file=sys.stderr)
        return 2
    print(f"trained on: {', '.join(s.source.name for s in rest)}")
    print(f"held out:   {', '.join(s.source.name for s in test)}")

    per_step = step_seconds(bundle.discriminator, size)
    print(f"CPU seconds a step (median, alternating): float32 {per_step['float32']:.3f}, "
          f"mixed bfloat16 {per_step['mixed_bfloat16']:.3f}: ratio "
          f"{per_step['float32'] / per_step['mixed_bfloat16']:.2f}")

    as_is = kerasmodels.trainable
    scores, cpu = {}, {}
    for name, make in (("float32", lambda m: m), ("mixed_bfloat16", as_is)):
        kerasmodels.trainable = make          # the baseline trains the float32 model itself
        try:
            t0 = time.process_time()
            model = learned.train(bundle.discriminator, rest, size, args.steps, seed=args.seed)
            cpu[name] = time.process_time() - t0
        finally:
            kerasmodels.trainable = as_is
        measured = kerasmodels.from_bytes(kerasmodels.to_bytes(model),
                                          lambda: learned.build(bundle.discriminator))
        readout = learned.Readout(measured, size)
        scores[name] = {s.source.name: readout.decision(s.data.X[s.data.found]) for s in test}
        gen = np.concatenate([v for s in test if s.source.kind == "generated"
                              for v in [scores[name][s.source.name]]])
        real = np.concatenate([v for s in test if s.source.kind == "real"
                               for v in [scores[name][s.source.name]]])
        held_auc = roc_auc(np.r_[np.ones(len(gen)), np.zeros(len(real))], np.r_[gen, real])
        print(f"{name}: {args.steps} steps in {cpu[name]:.0f} CPU-s; held-out AUC generated vs "
              f"real {held_auc:.3f} ({len(gen)} generated, {len(real)} real faces)")
        for s in test:
            print(f"    {s.source.name} ({s.source.kind}): median score "
                  f"{np.median(scores[name][s.source.name]):.2f}")
    a = np.concatenate(list(scores["float32"].values()))
    b = np.concatenate(list(scores["mixed_bfloat16"].values()))
    print(f"training CPU time ratio float32 / bfloat16: "
          f"{cpu['float32'] / cpu['mixed_bfloat16']:.2f}; "
          f"correlation of the two precisions' held-out scores {np.corrcoef(a, b)[0, 1]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
