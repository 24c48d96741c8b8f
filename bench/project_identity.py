"""Are projections the same person? Pixel MS-SSIM, dlib identity, slider flips, seconds.

    python bench/project_identity.py --model models/default --out bench/out/identity \\
        --set heldout:200 --set own:50 --set /work/data/lfw:100 --methods latent,encoder,features

Each --set is `heldout:N[:OFFSET]` (the bundle's held-out CelebA photos, by file name, from
OFFSET), `own:N` (the generator's own faces) or `FOLDER:N` (the first N photos of a folder, in
natural file-name order). Every face is projected by every method (`gan.projection_eval`:
latent = optimisation alone, encoder = the app's default, features = that refined in the 16x16
feature map) and scored: MS-SSIM, dlib's distance and its same-person rule (< 0.6), seconds,
and whether the attribute sliders flip the judge's verdict on the projection.

OUT gets rows.jsonl (one line per face and method; a rerun with the same OUT resumes),
images/ (each crop and projection), summary.json, summary.md and, per set and --rank-by
method, cases_<set>_by_<method>.png (best, median and worst faces by that method's distance);
with --edits N, edits_<set>.png (the sliders' ends on N evenly spaced faces of the first set). Seconds are wall time
under whatever else runs: time on a quiet machine for the speed figure (bench/README.md).
`--calibrate PEOPLE_FOLDER` first measures what dlib's 0.6 means on 128 px crops of known
people (a folder of one subfolder per person).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(REPO / "models" / "default"))
    p.add_argument("--out", required=True)
    p.add_argument("--set", action="append", dest="sets", default=[],
                   help="heldout:N[:OFFSET], own:N or FOLDER:N (repeatable)")
    p.add_argument("--methods", default="latent,encoder,features")
    p.add_argument("--steps", type=int, default=None, help="latent steps (default: the app's)")
    p.add_argument("--feature-steps", type=int, default=None)
    p.add_argument("--rank-by", default="encoder,features",
                   help="methods whose distance ranks the cases (a figure each)")
    p.add_argument("--non-faces", action="store_true",
                   help="also project images that are not faces (the first set's first 3 "
                        "upside down, 3 stripe patterns): non_faces.png")
    p.add_argument("--edits", type=int, default=0, metavar="N",
                   help="also edits_<set>.png: the sliders on N faces of the first set")
    p.add_argument("--no-flips", action="store_true", help="skip the slider flips")
    p.add_argument("--calibrate", metavar="PEOPLE_FOLDER")
    args = p.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]

    from gan import projection_eval as pe
    from gan.bundle import BundleError, load_bundle

    bad = [m for m in methods if m not in pe.METHODS]
    if bad:
        p.error(f"unknown method {bad[0]!r}: choose from {', '.join(pe.METHODS)}")
    try:
        bundle = load_bundle(args.model)
    except BundleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = lambda m: print(m, flush=True)  # noqa: E731

    if args.calibrate:
        from gan.data import load_faces
        from gan.metrics import identity

        faces = load_faces(args.calibrate, size=bundle.resolution, crop=bundle.crop,
                           progress=False)
        people = defaultdict(list)
        for k, img in zip(faces.keys, faces.images):
            people[k.split("/")[0]].append(img)
        cal = identity.calibrate(people)
        cal["source"] = str(args.calibrate)
        (out / "calibration.json").write_text(json.dumps(cal, indent=1) + "\n")
        log(f"calibration: {json.dumps(cal)}")

    sets = []
    for spec in args.sets:
        kind, _, rest = spec.rpartition(":") if not spec.startswith(("heldout:", "own:")) \
            else (spec.split(":", 1)[0], None, spec.split(":", 1)[1])
        try:
            if kind == "heldout":
                n, _, off = rest.partition(":")
                sets.append(pe.heldout_celeba(bundle, int(n), int(off or 0)))
            elif kind == "own":
                sets.append(pe.own_faces(bundle, int(rest)))
            else:
                sets.append(pe.folder(bundle, kind, int(rest)))
        except (ValueError, OSError) as e:
            p.error(f"--set {spec}: {e}")

    judge, names = None, []
    if not args.no_flips and bundle.conditional:
        from gan.sliders.measure import labelled_photos, train_judge
        from gan.sliders.semantics import sliders_for

        names = sliders_for(bundle).names
        j = train_judge(bundle, labelled_photos(bundle, names), names, log=log)
        judge = j.model
        (out / "judge.json").write_text(json.dumps({"accuracy": j.accuracy}) + "\n")

    try:
        engine = pe.Methods(bundle, methods, steps=args.steps, feature_steps=args.feature_steps)
    except ValueError as e:          # no encoder, or a generator without the feature map
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows = []
    log(f"load average {os.getloadavg()[0]:.1f} at the start")
    if args.non_faces and sets:
        sets.append(pe.non_faces(sets[0]))
    for s in sets:
        flips = s.name != "not faces"
        rows += pe.run(s, engine, methods, out / "rows.jsonl", judge if flips else None,
                       names if flips else [], log, images_dir=out / "images")
    summary = pe.summarise(rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    md = pe.table(summary) + f"\n\nload average at the end: {os.getloadavg()[0]:.1f}\n"
    (out / "summary.md").write_text(md)
    print(md)
    if args.non_faces and sets:
        (out / "non_faces.png").write_bytes(pe.non_faces_figure(rows, out / "images", methods))
    for s in sets:
        if s.name == "not faces":
            continue
        name = "".join(c if c.isalnum() else "_" for c in s.name)
        for rank in [m for m in args.rank_by.split(",") if m in methods]:
            png = pe.cases_figure(rows, out / "images", s.name, rank, methods)
            (out / f"cases_{name}_by_{rank}.png").write_bytes(png)
    if args.edits and sets and bundle.conditional and "features" in methods:
        name = "".join(c if c.isalnum() else "_" for c in sets[0].name)
        (out / f"edits_{name}.png").write_bytes(
            pe.edits_figure(engine, sets[0], args.edits, judge, names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
