"""Do neutral labels make faces look broken? Two blind audit sheets of one bundle with the same
seed (so the same z): arm `neutral`, every face at the neutral labels (binary attributes at 0.5:
the generate page's default until 2026-12-06, called `page` in the audits of that day), and arm
`drawn`, each face's labels drawn from the joint label frequencies of the training photos
(labels.csv of the bundle's data source), as photos come.

Usage: python bench/audit_label_arms.py --model runs/long-figures/m420 --out DIR [--seed 7]
           [--real-seeds 9,10] [--arms random | drawn,neutral | neutral,drawn] [--labels-csv FILE]

Writes DIR/X and DIR/Y (audit folders as `python -m gan.audit sheet` writes them; label both
without their keys, then `python -m gan.audit score --dir DIR/X` and `.../Y`) and
DIR/arms.json, which arm each folder holds: open it only after both are labelled. With
`--arms random` a coin decides which folder gets which arm, so the labeller cannot know; the
two sheets share z, so a labeller may recognise a face on both (say so with the figures).
"""
from __future__ import annotations

import argparse
import csv
import json
import secrets
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gan.bundle import load_bundle  # noqa: E402
from gan.metrics.audit import make_sheet  # noqa: E402
from gan.sampling import neutral_labels  # noqa: E402

ARMS = ("neutral", "drawn")


def joint_frequencies(labels_csv: Path, names: list[str]) -> tuple[list[tuple], np.ndarray]:
    """The label rows that occur among the training photos and their shares, rows sorted."""
    with open(labels_csv, newline="") as f:
        rows = [tuple(float(r[k]) for k in names) for r in csv.DictReader(f)]
    kinds, counts = np.unique(np.array(rows, np.float32), axis=0, return_counts=True)
    return [tuple(k) for k in kinds], counts / counts.sum()


def drawn_rows(labels_csv: Path, names: list[str], n: int, seed: int) -> np.ndarray:
    kinds, p = joint_frequencies(labels_csv, names)
    picks = np.random.default_rng([int(seed), 12345]).choice(len(kinds), n, p=p)
    return np.array([kinds[i] for i in picks], np.float32)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--real-seeds", default="9,10", help="real-seed of sheet X, of sheet Y")
    ap.add_argument("--arms", default="random", help="random, or the arms of X and Y: drawn,neutral")
    ap.add_argument("--labels-csv", default=None,
                    help="labels of the training photos (default: labels.csv in the card's source)")
    args = ap.parse_args(argv)
    bundle = load_bundle(args.model)
    if not bundle.label_names:
        ap.error(f"{args.model} has no labels: nothing to compare")
    labels_csv = Path(args.labels_csv or Path(bundle.card["data"]["source"]) / "labels.csv")
    if not labels_csv.is_file():
        ap.error(f"no labels file {labels_csv}: give --labels-csv")
    if args.arms == "random":
        arms = list(ARMS) if secrets.randbelow(2) else list(reversed(ARMS))
    else:
        arms = [a.strip() for a in args.arms.split(",")]
        if sorted(arms) != sorted(ARMS):
            ap.error("--arms: random, drawn,neutral or neutral,drawn")
    real_seeds = [int(s) for s in args.real_seeds.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kinds, p = joint_frequencies(labels_csv, bundle.label_names)
    note = ("drawn from the training photos' joint label shares "
            + ", ".join(f"{dict(zip(bundle.label_names, k))}: {q:.3f}" for k, q in zip(kinds, p))
            + f" (numpy default_rng([{args.seed}, 12345]))")
    for folder, arm, real_seed in zip("XY", arms, real_seeds):
        if arm == "drawn":
            rows, why = drawn_rows(labels_csv, bundle.label_names, args.n, args.seed), note
        else:
            rows = np.repeat(neutral_labels(bundle)[None], args.n, axis=0)
            why = "the neutral labels (0.5 for binary attributes, an even mix for one-hot groups)"
        make_sheet(args.model, out / folder, n=args.n, seed=args.seed, real_seed=real_seed,
                   label_rows=rows, label_note=why)
    (out / "arms.json").write_text(json.dumps({"X": arms[0], "Y": arms[1]}) + "\n")
    print(f"wrote {out}/X and {out}/Y; which arm is which: {out}/arms.json (open after labelling)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
