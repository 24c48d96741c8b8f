"""All-Age-Faces' labels as the labels.csv `python -m gan.data groups` reads (file,age,gender).

    python bench/aaf_labels.py --mirror /work/.mirror/middleyuan+All-Age-Faces-Dataset/repo \
        --photos /work/data/detector/aaf --out /work/data/aaf-labels.csv

The collection keeps its labels in its own files: the age in each file name (00000A02.jpg: age
2) and the gender in "image sets/train.txt" and "val.txt" (name, then 0 = female, 1 = male).
Reads those two files from the mirror (a git directory, `fetch github:middleyuan/All-Age-Faces-Dataset`)
and writes OUT for the photos present in PHOTOS (`bench/detector_sources.py` puts the "original
images" in /work/data/detector/aaf; OUT goes elsewhere, so that folder stays as the detectors
read it). Then: `python -m gan.data reframe PHOTOS --labels OUT --out /work/data/aaf-tight` and `python -m gan.data groups ../shared/data/utkface /work/data/aaf-tight
--out DIR --set aaf-tight.ethnicity=asian --set aaf-tight.gender=0:female,1:male` (docs/groups.md).
"""
from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
from pathlib import Path

COMMIT = "28741a75"
SETS = ("All-Age-Faces Dataset/image sets/train.txt", "All-Age-Faces Dataset/image sets/val.txt")
NAME = re.compile(r"^\d{5}A(\d{2})\.jpg$")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mirror", required=True, help="All-Age-Faces' git directory")
    p.add_argument("--photos", required=True, help="the folder of its photos")
    p.add_argument("--out", required=True, help="the labels CSV to write")
    args = p.parse_args()
    gender = {}
    for path in SETS:
        text = subprocess.run(["git", "--git-dir", args.mirror, "show", f"{COMMIT}:{path}"],
                              capture_output=True, text=True, check=True).stdout
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] in ("0", "1"):
                gender[parts[0]] = parts[1]
    photos = Path(args.photos)
    rows = []
    for f in sorted(photos.glob("*.jpg")):
        m = NAME.match(f.name)
        if m and f.name in gender:
            rows.append((f.name, int(m.group(1)), gender[f.name]))
    with open(args.out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "age", "gender"])
        w.writerows(rows)
    print(f"wrote {args.out}: {len(rows):,} photos labelled "
          f"({len(gender):,} genders listed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
