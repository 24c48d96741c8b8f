"""Seconds per projection and its MS-SSIM, with and without the bundle's encoder (a benchmark,
not a test): the encoder's first guess should buy either a closer face in the same steps or
the same face in fewer.

    python bench/project_speed.py --model models/NAME [--photos 5] [--steps 250,125] [PHOTO ...]

Without photos it takes the first N held-out CelebA photos of the bundle's own split (the
card's source, fraction and seed; `../shared/data`, never copied here), prepared as uploads
are. Each photo is projected by every setting in turn, the settings interleaved so a change in
the machine's load hits them alike: the baseline (no encoder, the first step count), then the
encoder at each step count. Prints per setting the median wall and CPU seconds per
projection and the median MS-SSIM (photo crop vs projection), each with its ratio to the
baseline run beside it, and the load average. `--own N` adds N of the generator's own faces
(seeds the encoder was not fitted on), which should project almost perfectly.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def heldout_photos(card: dict, n: int) -> list[Path]:
    """The first n held-out photos of the bundle's split, by the split's own hash of their keys."""
    from gan.data.dataset import unit_hash
    from gan.data.split import Split

    split = Split.from_card(card)
    if split.path is None or split.holdout_fraction <= 0:
        raise SystemExit(f"no held-out photos: {split.why_no_heldout()}; give PHOTO files")
    root = split.path
    files = sorted((p for p in root.rglob("*.jpg")), key=lambda p: str(p.relative_to(root)))
    held = [p for p in files if unit_hash(split.seed, str(p.relative_to(root)))
            < split.holdout_fraction]
    return held[:n]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("photos", nargs="*")
    p.add_argument("--model", default=str(REPO / "models" / "default"))
    p.add_argument("--photos", dest="n", type=int, default=5, help="held-out photos (default 5)")
    p.add_argument("--own", type=int, default=0, help="also this many of the generator's own faces")
    p.add_argument("--steps", default="250,125",
                   help="step counts: the first is the baseline's; the encoder runs each")
    args = p.parse_args()
    steps = [int(s) for s in args.steps.split(",") if s.strip()]

    import numpy as np

    from gan.bundle import load_bundle
    from gan.data.preprocess import prepare_image
    from gan.metrics.msssim import ms_ssim
    from gan.projection import Projector
    from gan.sampling import generate_from_latents, label_matrix

    bundle = load_bundle(args.model)
    paths = [Path(x) for x in args.photos] or heldout_photos(bundle.card, args.n)
    faces = [(x.name, prepare_image(x, size=bundle.resolution, crop=bundle.crop).image)
             for x in paths]
    if args.own:
        rng = np.random.default_rng(12345)       # not the fitting's seeds
        z = rng.standard_normal((args.own, bundle.latent_dim)).astype(np.float32)
        y = None
        if bundle.conditional:
            y = label_matrix(bundle, args.own, None)
            y[:, :] = rng.integers(0, 2, y.shape)
        faces += [(f"own face {i + 1}", f) for i, f in enumerate(generate_from_latents(bundle, z, y))]

    baseline = Projector(bundle, use_encoder=False)
    with_encoder = Projector(bundle)
    if with_encoder.encoder is None:
        raise SystemExit(f"{args.model}: {with_encoder.start_note}")
    settings = [("no encoder", baseline, steps[0])] + [("encoder", with_encoder, s) for s in steps]
    blank = faces[0][1]
    for _, proj, s in settings:                  # trace each graph before timing
        proj.project(blank, steps=2)
    rows: dict[int, list[tuple[float, float, float]]] = {i: [] for i in range(len(settings))}
    print(f"{args.model}: {len(faces)} faces; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs", flush=True)
    for name, face in faces:
        line = []
        for i, (label, proj, s) in enumerate(settings):
            c0 = time.process_time()
            r = proj.project(face, steps=s, seed=0)
            cpu = time.process_time() - c0
            score = float(ms_ssim(face[None], r.image[None])[0])
            rows[i].append((r.seconds, cpu, score))
            line.append(f"{label} {s}: {score:.3f} {r.seconds:.1f} s")
        print(f"  {name}: " + "; ".join(line), flush=True)
    print(f"\nmedian per projection (load average now {os.getloadavg()[0]:.1f}):")
    groups = [("held-out photos", [i for i, (n, _) in enumerate(faces) if not n.startswith("own")]),
              ("own faces", [i for i, (n, _) in enumerate(faces) if n.startswith("own")])]
    print("| faces | setting | steps | wall s | CPU s | MS-SSIM | wall vs baseline | MS-SSIM vs baseline |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for group, idx in groups:
        if not idx:
            continue
        med = {i: [statistics.median(v) for v in zip(*[rows[i][j] for j in idx])]
               for i in rows}
        base = med[0]
        for i, (label, _, s) in enumerate(settings):
            wall, cpu, score = med[i]
            print(f"| {group} ({len(idx)}) | {label} | {s} | {wall:.1f} | {cpu:.1f} | {score:.3f} | "
                  f"{wall / base[0]:.2f} | {score / base[2]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
