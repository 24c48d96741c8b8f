"""Write faces from a bundle as PNG files.

    python -m gan.generate --model models/default --n 100 --out faces/ --seed 0
    python -m gan.generate --model models/NAME --n 50 --out faces/ --labels smiling=1,male=0
    python -m gan.generate --interpolate 3 7 --frames 16 --out morph.gif

Face i of seed S is always the same face (whatever --n), and files already in --out are
skipped, so a stopped export resumes. A conditional bundle also gets labels.csv.
--interpolate writes one animated GIF from the first face of one seed to that of another.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from gan.bundle import BundleError, load_bundle  # noqa: E402
from gan.images import gif_bytes, png_bytes  # noqa: E402
from gan.io import atomic_write_bytes, atomic_write_text  # noqa: E402
from gan.sampling import generate_from_latents, interpolate, label_matrix, latents  # noqa: E402


def parse_labels(text: str | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"labels look like name=value, got {part!r}")
        out[name.strip()] = float(value)
    return out


def write_morph(bundle, args, labels: dict[str, float]) -> int:
    if not 2 <= args.frames <= 256:
        print("error: --frames must be between 2 and 256", file=sys.stderr)
        return 2
    a, b = args.interpolate
    frames = interpolate(bundle, a, b, args.frames, args.truncation, labels or None)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, gif_bytes(frames, duration_ms=100))
    print(f"{args.frames} frames from seed {a} to seed {b} in {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="models/default", help="bundle folder (default: models/default)")
    p.add_argument("--n", type=int, default=None, help="how many faces (required unless --interpolate)")
    p.add_argument("--out", required=True, help="output folder (a .gif file with --interpolate)")
    p.add_argument("--seed", type=int, default=0, help="same seed, same faces (default 0)")
    p.add_argument("--truncation", type=float, default=1.0,
                   help="scale of z: below 1 gives more typical faces, less variety (default 1)")
    p.add_argument("--labels", default=None,
                   help="for a conditional bundle: name=value,... (e.g. smiling=1,male=0)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--interpolate", type=int, nargs=2, metavar=("SEED_A", "SEED_B"), default=None,
                   help="write an animated GIF from the first face of SEED_A to that of SEED_B")
    p.add_argument("--frames", type=int, default=16, help="frames of --interpolate (default 16)")
    args = p.parse_args(argv)
    if args.interpolate is None and args.n is None:
        p.error("--n is required (or --interpolate SEED_A SEED_B)")

    from tqdm import tqdm

    try:
        bundle = load_bundle(args.model)
        labels = parse_labels(args.labels)
        if labels and not bundle.conditional:
            raise ValueError(f"{args.model} is not conditional; it takes no --labels")
        y_all = label_matrix(bundle, args.n or 1, labels)
    except (BundleError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.interpolate is not None:
        return write_morph(bundle, args, labels)
    if args.n < 1:
        print("error: --n must be at least 1", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    z_all = latents(args.seed, args.n, bundle.latent_dim, args.truncation)
    names = [f"seed{args.seed:06d}_{i:06d}.png" for i in range(args.n)]
    todo = [i for i in range(args.n) if not (out / names[i]).is_file()]
    with tqdm(total=args.n, initial=args.n - len(todo), unit="face", desc="generate") as bar:
        for s in range(0, len(todo), args.batch_size):
            idx = todo[s:s + args.batch_size]
            y = y_all[idx] if y_all is not None else None
            faces = generate_from_latents(bundle, z_all[idx], y, batch_size=args.batch_size)
            for i, face in zip(idx, faces):
                atomic_write_bytes(out / names[i], png_bytes(face))
            bar.update(len(idx))
    if bundle.conditional:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["image", *bundle.label_names])
        for i, name in enumerate(names):
            w.writerow([name, *[f"{v:g}" for v in y_all[i]]])
        atomic_write_text(out / "labels.csv", buf.getvalue())
    print(f"{args.n} faces in {out} ({args.n - len(todo)} were already there)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
