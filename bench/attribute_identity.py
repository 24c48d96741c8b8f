"""How strict is the attribute sliders' "same face" test? (numbers for docs/attributes.md)

    python bench/attribute_identity.py [--data ../shared/data]

`gan.sliders.measure` re-identifies an edited face among the originals by nearest neighbour in
IdentitySpace (central face region, PCA of real training photos). Here the same test runs on
real people: for each of the 200 celeba-identities people, a second photo must find the
first photo of the same person among the first photos of all 200. Different photos of one
person differ in pose, expression, lighting and age, so this says how much of real identity
the feature holds; the distance ratio (own / median other) is comparable with the report's
`median_distance_ratio`. Prints one JSON object. Needs ../shared/data; the first run decodes
about 6,000 photos (a few minutes, then cached).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data")
    args = p.parse_args()

    from gan.sliders.identity import IdentitySpace, reidentify
    from gan.data import load_faces

    data = Path(args.data)
    faces = load_faces(data / "celeba-5k", size=128, crop="face", progress=False)
    train, _ = faces.split(0.1, 0)               # the default model's training split
    space = IdentitySpace(train.images)
    ids = load_faces(data / "celeba-identities", size=128, crop="face", progress=False)
    by_person: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(ids.keys):
        by_person[key.split("/")[0]].append(i)
    people = sorted(k for k, v in by_person.items() if len(v) >= 2)
    first = np.array([sorted(by_person[k], key=lambda i: ids.keys[i])[0] for k in people])
    second = np.array([sorted(by_person[k], key=lambda i: ids.keys[i])[1] for k in people])
    r = reidentify(space.features(ids.images[first]), space.features(ids.images[second]))
    mirrored = reidentify(space.features(ids.images[first]),
                          space.features(ids.images[first][:, :, ::-1]))
    print(json.dumps({
        "people": len(people),
        "feature": IdentitySpace.DESCRIPTION,
        "second_photo_reidentified": float(r["reidentified"].mean()),
        "second_photo_median_distance_ratio": float(np.median(r["ratio"])),
        "second_photo_median_rank": float(np.median(r["rank"])),
        "chance": 1 / len(people),
        "same_photo_mirrored_reidentified": float(mirrored["reidentified"].mean()),
        "same_photo_mirrored_median_distance_ratio": float(np.median(mirrored["ratio"])),
    }, indent=1))


if __name__ == "__main__":
    main()
