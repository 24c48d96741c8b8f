"""Project face photos into a bundle's generator: `python -m gan.project`.

    python -m gan.project --model models/default photo.jpg other.png --out projections/
    python -m gan.project --model models/NAME *.jpg --out DIR --steps 400 --seed 1
    python -m gan.project --model models/default photo.jpg --out DIR --features
    python -m gan.project fit --model models/NAME [--faces 12288] [--epochs 20]

`fit` trains the bundle's encoder (`gan.encoder_fit`: a small CNN, image -> z and label values,
on the generator's own faces) and stores it in the bundle (`projection/encoder.keras`, listed
in the card); projections then start from its guess. `--no-encoder` starts from the mean
latent even when the bundle has one (to compare); a bundle without a usable encoder is
projected from the mean latent, and the output says why. A photo literally named `fit` is
given as `./fit`.

Each photo is prepared exactly as an upload is (`prepare_image` at the bundle's size and crop:
EXIF, RGB, the largest face the detector finds, CelebA-like framing; when it finds no face, the
centre square, and the photo's entry says `face_found: false`). A photo with several faces
(counted by dlib's HOG detector) has the largest projected, and its entry says so (`faces`,
`note`). `gan.projection` then finds the latent z (and, for a conditional bundle, the label
values) whose face is closest.

`--features` then refines each projection in the generator's 16x16 feature map
(`gan.projection.FeatureProjector`, `--feature-steps` steps): a residual added to the map the
latent makes, kept small by a penalty. It holds the person where the latent cannot
(docs/projection.md: dlib called 194 of 194 held-out CelebA photos' refined projections the
same person, 8 of 194 latent ones) and the labels still edit it, but it is no longer a face
the generator draws from a latent alone (it redraws stripes too): keep NAME.features.npy
with the latent to remake it.

DIR gets, per photo NAME (the file name without extension; repeated names get _2, _3, ...):
  NAME.projection.png     the projected face
  NAME.latent.npy         z, float32 [latent_dim]
  NAME.labels.npy         the label values in [0, 1] (conditional bundles only)
  NAME.side_by_side.png   the photo's crop | the projection
  NAME.features.npy       with --features: the residual, float32 [16, 16, C], added to the
                          generator's "up16" output for z and the labels
and projections.json: the model, `start` ("encoder" or "mean latent", with `start_note` saying
why not the encoder), `method` ("latent" or "latent + 16x16 feature map") and, per input in
order, either the files, `ms_ssim` (pixel MS-SSIM of crop and projection), the final losses,
steps and seconds (with --features: those of the refinement too, `latent_ms_ssim` the
latent's alone), or `error` and `error_kind` for a file that could not be used (the rest are
still projected).

DIR is written as a whole at the end (a staging folder renamed into place): it must be new,
empty, or an older projection folder (with projections.json) holding only what gan.project
wrote there, which is replaced; a folder holding anything else (a photo of yours put beside
the projections, say) is refused before any work and left as it was.

Exit status: 0 when at least one photo was projected, 1 when none was (then nothing is
written: DIR stays as it was, and the reasons are on stderr), 2 for a usage error (bad option,
unusable model, refused DIR). This is the command line only: the optimisation is
`gan.projection`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from gan.bundle import BundleError, load_bundle  # noqa: E402
from gan.cli import seed_number  # noqa: E402
from gan.data.preprocess import ImageError, prepare_image  # noqa: E402
from gan.io import Marker, ReplaceRefused, check_replaceable, staged_dir  # noqa: E402

FORMAT = "facegan-projections"
RESULTS = "projections.json"
FOLDER = Marker(RESULTS, "a projection folder (with projections.json)", format=FORMAT)
NO_FACE = "no face found: the centre square was projected"


class _NothingProjected(Exception):
    """No photo could be used: the staging folder is dropped, so DIR stays as it was."""


def several_faces(n: int) -> str:
    return f"{n} faces found: the largest was projected"


def _names(paths: list[str]) -> list[str]:
    """A distinct output name per input: its stem, with _2, _3, ... for repeats."""
    seen: dict[str, int] = {}
    out = []
    for p in paths:
        stem = Path(p).stem or "photo"
        n = seen.get(stem.lower(), 0) + 1
        seen[stem.lower()] = n
        out.append(stem if n == 1 else f"{stem}_{n}")
    return out


def _prepare(path: str, bundle) -> tuple[object, str | None, str | None]:
    """(Preprocessed or None, error, error kind) for one input; never raises for a bad file."""
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        return None, "no such file", "no such file"
    try:
        return (prepare_image(p, size=bundle.resolution, crop=bundle.crop, count_faces=True),
                None, None)
    except ImageError as e:
        return None, str(e), e.kind
    except Exception as e:  # noqa: BLE001 - one bad file must not stop the others
        return None, f"could not be processed ({type(e).__name__}: {e})", "error"


def fit_main(argv: list[str]) -> int:
    """`python -m gan.project fit`: fit and store the bundle's encoder."""
    from gan.encoder_fit import DEFAULT_EPOCHS, DEFAULT_FACES

    p = argparse.ArgumentParser(prog="python -m gan.project fit",
                                description="Fit the projection's encoder on the generator's "
                                            "own faces and store it in the bundle.")
    p.add_argument("--model", default="models/default", help="bundle folder (default: models/default)")
    p.add_argument("--faces", type=int, default=DEFAULT_FACES,
                   help=f"generated faces to fit on, a tenth held out (default {DEFAULT_FACES})")
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                   help=f"passes over them (default {DEFAULT_EPOCHS})")
    p.add_argument("--seed", type=seed_number, default=0, help="seed of the fit (default 0)")
    args = p.parse_args(argv)
    if not 128 <= args.faces <= 1_000_000:
        p.error("--faces must be between 128 and 1000000")
    if not 1 <= args.epochs <= 1000:
        p.error("--epochs must be between 1 and 1000")
    try:
        bundle = load_bundle(args.model)
    except BundleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from gan.encoder_fit import fit_encoder

    log = lambda m: print(f"[fit] {m}", file=sys.stderr, flush=True)  # noqa: E731
    try:
        _, section = fit_encoder(bundle, faces=args.faces, epochs=args.epochs, seed=args.seed,
                                 log=log)
    except (BundleError, OSError) as e:
        print(f"error: the encoder could not be stored in {args.model}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {args.model} was left as it was", file=sys.stderr)
        return 130
    print(f"encoder stored in {args.model} (z R^2 {section['z_r2']:.3f} on held-out faces, "
          f"{section['seconds']:.0f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["fit"]:
        return fit_main(argv[1:])
    p = argparse.ArgumentParser(prog="python -m gan.project", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="PHOTO", help="face photos to project")
    p.add_argument("--model", default="models/default", help="bundle folder (default: models/default)")
    p.add_argument("--out", required=True,
                   help="output folder (new, empty, or an older projection folder)")
    from gan.projection import DEFAULT_STEPS
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                   help=f"optimisation steps per photo (default {DEFAULT_STEPS})")
    p.add_argument("--seed", type=seed_number, default=0, help="seed of the latent noise (default 0)")
    p.add_argument("--no-encoder", action="store_true",
                   help="start from the mean latent even when the bundle has an encoder")
    from gan.projection import FEATURE_RES, FEATURE_STEPS
    p.add_argument("--features", action="store_true",
                   help=f"refine each projection in the generator's {FEATURE_RES}x{FEATURE_RES} "
                        "feature map (closer to the person; writes NAME.features.npy)")
    p.add_argument("--feature-steps", type=int, default=FEATURE_STEPS,
                   help=f"steps of that refinement (default {FEATURE_STEPS})")
    args = p.parse_args(argv)
    if not 1 <= args.steps <= 100_000:
        p.error("--steps must be between 1 and 100000")
    if not 1 <= args.feature_steps <= 100_000:
        p.error("--feature-steps must be between 1 and 100000")

    out = Path(args.out)
    try:
        check_replaceable(out, FOLDER)
        bundle = load_bundle(args.model)
    except (BundleError, ReplaceRefused) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    import numpy as np

    from gan.images import png_bytes
    from gan.metrics.msssim import ms_ssim
    from gan.projection import FeatureProjector, Projector

    projector = Projector(bundle, use_encoder=not args.no_encoder)
    start = "encoder" if projector.encoder is not None else "mean latent"
    print("starting from the encoder's guess" if projector.encoder is not None
          else f"starting from the mean latent: {projector.start_note}", file=sys.stderr, flush=True)
    refiner, method = None, "latent"
    if args.features:
        try:
            refiner = FeatureProjector(projector)
        except ValueError as e:
            print(f"error: {args.model}: no feature-map refinement for this generator: {e}",
                  file=sys.stderr)
            return 2
        method = f"latent + {FEATURE_RES}x{FEATURE_RES} feature map"
        print(f"then refining in the generator's {FEATURE_RES}x{FEATURE_RES} feature map "
              f"({args.feature_steps} steps)", file=sys.stderr, flush=True)
    entries, done = [], 0
    try:
        with staged_dir(out, FOLDER) as tmp:
            for path, name in zip(args.files, _names(args.files)):
                prep, err, kind = _prepare(path, bundle)
                if prep is None:
                    print(f"{path}: skipped: {err}", file=sys.stderr, flush=True)
                    entries.append({"path": path, "error": err, "error_kind": kind})
                    continue
                entry = {"path": path, "name": name, "face_found": prep.face_found}
                if prep.face_found is False:
                    entry["note"] = NO_FACE
                    print(f"{path}: {NO_FACE}", file=sys.stderr, flush=True)
                elif prep.faces:
                    entry["faces"] = prep.faces
                    if prep.faces > 1:
                        entry["note"] = several_faces(prep.faces)
                        print(f"{path}: {entry['note']}", file=sys.stderr, flush=True)
                r = projector.project(prep.image, steps=args.steps, seed=args.seed)
                files = {"projection": f"{name}.projection.png", "latent": f"{name}.latent.npy",
                         "side_by_side": f"{name}.side_by_side.png"}
                if refiner is not None:
                    latent_ms = float(ms_ssim(prep.image[None], r.image[None])[0])
                    f = refiner.project(prep.image, r, steps=args.feature_steps)
                    files["features"] = f"{name}.features.npy"
                    np.save(tmp / files["features"], f.delta)
                    entry["latent_ms_ssim"] = round(latent_ms, 4)
                    entry["feature_losses"] = {k: round(float(v), 5) if isinstance(v, float)
                                               else v for k, v in f.losses.items()}
                    entry["feature_steps"] = f.steps
                    r.image, r.seconds = f.image, r.seconds + f.seconds
                (tmp / files["projection"]).write_bytes(png_bytes(r.image))
                np.save(tmp / files["latent"], r.z)
                if r.labels is not None:
                    files["labels"] = f"{name}.labels.npy"
                    np.save(tmp / files["labels"], r.labels)
                    entry["labels"] = dict(zip(bundle.label_names, map(float, r.labels)))
                side = np.concatenate([prep.image, r.image], axis=1)
                (tmp / files["side_by_side"]).write_bytes(png_bytes(side))
                score = float(ms_ssim(prep.image[None], r.image[None])[0])
                entry.update(files=files, ms_ssim=round(score, 4),
                             losses={k: round(float(v), 5) if isinstance(v, float) else v
                                     for k, v in r.losses.items()},
                             steps=r.steps, seconds=round(r.seconds, 2))
                entries.append(entry)
                done += 1
                print(f"{path}: MS-SSIM {score:.3f} in {r.seconds:.1f} s -> {out / files['projection']}",
                      file=sys.stderr, flush=True)
            doc = {"format": FORMAT, "model": str(args.model), "steps": args.steps,
                   "seed": args.seed, "start": start, "method": method, "projected": done,
                   "projections": entries}
            if projector.encoder is None:
                doc["start_note"] = projector.start_note
            if not done:        # an older projection folder there is kept, not emptied
                raise _NothingProjected
            (tmp / RESULTS).write_text(json.dumps(doc, indent=1) + "\n")
    except _NothingProjected:
        print(f"none of the {len(args.files)} photos could be projected; nothing was written "
              f"to {out}", file=sys.stderr)
        return 1
    except (ReplaceRefused, OSError) as e:
        print(f"error: {out} could not be written: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: nothing was written to {out}", file=sys.stderr)
        return 130
    print(f"{done} of {len(args.files)} photos projected into {out}", file=sys.stderr)
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
