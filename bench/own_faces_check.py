"""Build the two folders that test the detector on this model's faces as the app draws them
(issue 17: "this model's faces vs held-out CelebA"), with nothing either side used in a fit:

    python bench/own_faces_check.py --sources DATA/sources.json --out /work/data/own-faces
    python bench/detector_unseen.py --model models/default --out DIR \
        real:celeba_heldout=/work/data/own-faces/celeba_heldout \
        generated:facegan_fresh=/work/data/own-faces/facegan_fresh

`celeba_heldout`: CelebA photos (../shared/data's two CelebA folders, the bundle's training
source) on the held-out side of the bundle's own split (`FaceData.split`'s hash of seed and
path, the card's fraction and seed) that are not among the photos the detectors' `celeba`
source samples for a fit; symlinks, the first --n by the split's hash (a held-out photo whose
near-duplicate the merge kept on the training side, about 2% of pairs, is not dropped here). `facegan_fresh`: --n
faces of the bundle at the generate page's defaults (truncation 1, each face's labels drawn as
the training photos have them) on a seed no fitting source used (`gan.generate`).

Unlike the leave-one-source-out table, where `facegan_t1.0` is left out of its own fit, the
bundle's detectors were fitted on 500 other faces of this generator: this measures what a
visitor meets when they upload a face the generate page made, not a generator never seen.
Data stays outside the repository.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FRESH_SEED = 9101          # the fitting sources' faces are seeds 5001-5003 (detector_sources.py)


def merged_key(f: Path) -> str:
    """The photo's key in the merged CelebA set the bundle trained on (`gan.data merge` keeps
    each folder's name: celeba-5k/img/1.jpg, celeba-identities/celeb_3/2.jpg)."""
    parts = f.parts
    at = max(i for i, part in enumerate(parts) if part in ("celeba-5k", "celeba-identities"))
    return "/".join(parts[at:])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(REPO / "models" / "default"))
    p.add_argument("--sources", required=True, help="the fit's manifest (bench/detector_sources.py)")
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--fit-photos", type=int, default=600,
                   help="photos a fit samples of each source (the card's sources table)")
    args = p.parse_args(argv)

    from gan.data.dataset import unit_hash
    from gan.detector.collections import load_manifest

    card = json.loads((Path(args.model) / "model.json").read_text())
    fraction = float(card["config"]["holdout_fraction"])
    seed = int(card["config"]["seed"])
    celeba = next(s for s in load_manifest(args.sources) if s.name == "celeba")
    fitted = {f.resolve() for f in celeba.sample(args.fit_photos)}
    held = []
    for f in celeba.files:
        u = unit_hash(seed, merged_key(f))
        if u < fraction and f.resolve() not in fitted:
            held.append((u, f))
    held.sort()
    out = Path(args.out)
    real = out / "celeba_heldout"
    real.mkdir(parents=True, exist_ok=True)
    for _, f in held[:args.n]:
        link = real / merged_key(f).replace("/", "_")
        if not link.exists():
            link.symlink_to(f.resolve())
    print(f"{real}: {min(args.n, len(held))} of {len(held)} held-out CelebA photos no fit sampled "
          f"({len(celeba.files)} in the source, {len(fitted)} sampled by a fit)")
    cmd = [sys.executable, "-m", "gan.generate", "--model", args.model, "--n", str(args.n),
           "--seed", str(FRESH_SEED), "--out", str(out / "facegan_fresh")]
    print(" ".join(cmd[1:]))
    return subprocess.call(cmd, cwd=REPO)


if __name__ == "__main__":
    sys.exit(main())
