"""How much of the frame the face fills, per source, after the project's one face crop.

    python bench/groups_framing.py ../shared/data/utkface /work/data/aaf --out docs/figures/groups_framing.png

For a random sample of each folder: the Haar face box width over the side of the square crop
that `gan.data.preprocess` takes (median and quartiles printed), and a figure of the first 6
crops of each folder, one row per folder. A source whose faces fill more of the frame than
another's would teach a model framing as part of a group (docs/groups.md).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan.data.preprocess import detect_face, face_box, prepare_image  # noqa: E402
from gan.images import make_grid, save_png  # noqa: E402

EXT = (".jpg", ".jpeg", ".png")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+")
    p.add_argument("--n", type=int, default=150, help="photos sampled per folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="docs/figures/groups_framing.png")
    args = p.parse_args()
    rows = []
    for folder in args.folders:
        names = sorted(f for f in os.listdir(folder) if f.lower().endswith(EXT))
        pick = np.random.default_rng(args.seed).choice(len(names), min(args.n, len(names)), replace=False)
        ratios, crops = [], []
        for i in pick:
            path = os.path.join(folder, names[i])
            img = Image.open(path).convert("RGB")
            face = detect_face(img)
            if face is not None:
                x0, _, x1, _ = face_box(face, img.width, img.height)
                ratios.append(face[2] / (x1 - x0))
            if len(crops) < 6:
                crops.append(prepare_image(path).image)
        r = np.array(ratios)
        print(f"{folder}: {len(r)} of {len(pick)} faces found; face width / crop side median "
              f"{np.median(r):.2f} (quartiles {np.percentile(r, 25):.2f}-{np.percentile(r, 75):.2f})")
        rows.extend(crops)
    save_png(args.out, make_grid(np.stack(rows), cols=6))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
