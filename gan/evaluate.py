"""Measure a model bundle against real photos, offline: `python -m gan.evaluate`.

    python -m gan.evaluate --model models/default                  # real = the card's held-out split
    python -m gan.evaluate --model models/NAME --real ../shared/data/celeba-identities
    python -m gan.evaluate --model models/NAME --inception-weights inception_v3_notop.h5

What it measures (docs/metrics.md explains each, with calibration figures):
- SWD: sliced Wasserstein distance of Laplacian-pyramid patches (ProGAN), generated faces vs
  real photos, per level and averaged (x1e3; lower is better);
- MS-SSIM diversity of random generated pairs beside random real pairs (mode-collapse flag);
- memorisation: each of a few hundred generated faces against its nearest training photo,
  beside held-out photos against the same training photos;
- FID and KID, only with a user-supplied InceptionV3 weights file (nothing is downloaded).

Writes `<bundle>/evaluation/` (report.json, swd.png, memorisation_pairs.png,
memorisation_hist.png, samples.png; replaced as a whole) and the summary figures into the
bundle's model card (`metrics`, `evaluation`). Evaluation only consumes bundles: it never
imports training code or Streamlit.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gan.data.split import Split, resolve_source  # noqa: F401  (resolve_source: old import path)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPORT_FORMAT = "facegan-evaluation/1"
EVAL_DIR = "evaluation"
DEFAULT_N = 1000            # generated faces (and at most this many real photos)
DEFAULT_MEMORISATION_N = 300
DEFAULT_PAIRS = 1000        # random pairs per set for MS-SSIM
FIGURES = {"swd": "swd.png", "memorisation_pairs": "memorisation_pairs.png",
           "memorisation_hist": "memorisation_hist.png", "samples": "samples.png"}


class EvaluationError(ValueError):
    """The evaluation cannot run as asked (no real photos, bad option); the message says why
    and what to do."""


@dataclass
class RealSets:
    """The photos a bundle is measured against, and where they came from."""
    real: np.ndarray                  # uint8 [n, R, R, 3]: compared with generated faces
    description: str                  # in words, for the report, the card and the app
    train: np.ndarray | None          # training photos (memorisation), None when unreachable
    heldout: np.ndarray | None        # real photos never trained on (memorisation reference)
    memorisation_note: str            # why the check is skipped, or a caveat; "" when none


def _load(path, bundle, progress: bool, **kw):
    from gan.data import load_faces

    try:
        return load_faces(path, size=bundle.resolution, crop=bundle.crop, progress=progress, **kw)
    except (OSError, ValueError) as e:
        raise EvaluationError(f"cannot read real photos from {path}: {e}") from e


def _subsample(images: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(images) <= n:
        return images
    idx = np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))
    return images[idx]


def _load_split(split, progress: bool):
    try:
        return split.load(progress)
    except (OSError, ValueError) as e:
        raise EvaluationError(f"cannot read real photos from {split.path}: {e}") from e


def real_sets(bundle, real_path: str | None, n: int, seed: int = 0,
              progress: bool = False) -> RealSets:
    """The real photos for `bundle`: `real_path`, or else the held-out split its card names.
    The training split is rebuilt from the card (`gan.data.split`) for the memorisation check."""
    split = Split.from_card(bundle.card)
    parts = None if split.path is None else _load_split(split, progress)
    train = None if parts is None else parts.train
    held = None if parts is None else parts.heldout
    if real_path is None:
        if held is None or len(held) < 2:
            why = split.why_no_heldout() or "its held-out split has fewer than 2 photos"
            raise EvaluationError(
                f"no real photos to compare {bundle.name} with: {why} "
                f"(data.source = {split.source!r}). Give --real PATH, a folder of real face "
                f"photos the model was not trained on.")
        real = _subsample(held.images, n, seed)
        desc = (f"{len(real):,} held-out photos of {split.source} (never trained on: "
                f"{split.describe()})")
        return RealSets(real, desc, train.images, real, "")
    faces = _load(real_path, bundle, progress)
    if len(faces) < 2:
        raise EvaluationError(f"{real_path} holds {len(faces)} usable face photo(s); at least 2 "
                              f"are needed (see gan.data.load_faces' report for skipped files)")
    real = _subsample(faces.images, n, seed)
    desc = f"{len(real):,} photos of {real_path}"
    note, heldout = "", real
    if train is None:
        note = (f"skipped: the training photos are not reachable here (the card's data.source is "
                f"{split.source!r}), so generated faces cannot be compared with them")
    elif Path(real_path).resolve() == split.path.resolve():
        trained = set(train.keys)
        keep = np.array([k not in trained for k in faces.keys], bool)
        heldout = _subsample(faces.images[keep], n, seed) if keep.sum() >= 2 else None
        desc += " (the training source itself: includes training photos)"
        note = ("--real is the training source: only its held-out photos serve as the "
                "memorisation reference" if heldout is not None else
                "skipped: --real is the training source and has no held-out photos")
    return RealSets(real, desc, None if train is None else train.images, heldout, note)


def random_labels(bundle, n: int, seed: int) -> np.ndarray | None:
    """Definite random attributes for a conditional bundle (binary 0/1, one class per group),
    so its faces are measured as users get them, not at an undecided 0.5."""
    names = bundle.label_names
    if not names:
        return None
    from gan.card import label_groups, label_kinds

    rng = np.random.default_rng([seed, 1])
    y = np.zeros((n, len(names)), np.float32)
    for j, kind in enumerate(label_kinds(bundle.card)):
        if kind != "onehot":
            y[:, j] = rng.integers(0, 2, n)
    groups = label_groups(bundle.card)
    for idx in groups.values():
        y[np.arange(n), np.asarray(idx)[rng.integers(0, len(idx), n)]] = 1.0
    return y


def generate_faces(bundle, n: int, seed: int = 0, truncation: float = 1.0) -> np.ndarray:
    from gan.sampling import generate_from_latents, latents

    z = latents(seed, n, bundle.latent_dim, truncation)
    return generate_from_latents(bundle, z, random_labels(bundle, n, seed))


def _round(x: Any, digits: int = 4) -> Any:
    if isinstance(x, float):
        return float(f"{x:.{digits}g}")
    if isinstance(x, dict):
        return {k: _round(v, digits) for k, v in x.items()}
    return x


def card_metrics(report: dict) -> dict:
    """The summary figures the model card keeps (the report has the rest)."""
    s = report["swd"]
    m: dict[str, Any] = {
        "swd_x1e3": _round({"average": s["average"], **{f"{k}px": v for k, v in s["levels"].items()}}),
        "ms_ssim": _round({"generated": report["ms_ssim"]["generated"],
                           "real": report["ms_ssim"]["real"],
                           "mode_collapse": report["ms_ssim"]["mode_collapse"]}),
    }
    mem = report["memorisation"]
    m["memorisation"] = ({"skipped": mem["skipped"]} if "skipped" in mem else _round({
        "flag": mem["memorisation"], "fraction_closer": mem["fraction_closer"],
        "median_ratio": mem["median_ratio"]}))
    fk = report["fid_kid"]
    if fk.get("computed"):
        m["fid"], m["kid"] = _round(fk["fid"]), _round(fk["kid"])
    m["evaluated"] = {"date": report["date"], "generated_images": report["generated"]["images"],
                      "real_images": report["real"]["images"], "real_set": report["real"]["description"],
                      "seconds": round(report["seconds"], 1)}
    return m


def evaluate_bundle(bundle_path: str | Path, real_path: str | Path | None = None, *,
                    n: int = DEFAULT_N, n_memorisation: int = DEFAULT_MEMORISATION_N,
                    n_pairs: int = DEFAULT_PAIRS, seed: int = 0, truncation: float = 1.0,
                    inception_weights: str | Path | None = None, out_dir: str | Path | None = None,
                    write_card: bool = True, progress: bool = False,
                    log=lambda msg: None) -> dict:
    """Evaluate one bundle; write the figures, report.json and (by default) the card's
    metrics. Returns the report. Raises EvaluationError / BundleError with a clear message."""
    from gan.bundle import load_bundle, update_card
    from gan.images import make_grid, png_bytes
    from gan.io import atomic_write_text, staged_dir, write_files
    from gan.metrics import figures, memorisation, msssim, swd

    t0 = time.perf_counter()
    if n < 2:
        raise EvaluationError("--n must be at least 2")
    if inception_weights is not None:     # fail before the long part, not after it
        from gan.metrics.inception import InceptionError, check_weights_file

        try:
            check_weights_file(inception_weights)
        except InceptionError as e:
            raise EvaluationError(str(e)) from e
    bundle_path = Path(bundle_path)
    bundle = load_bundle(bundle_path)
    out_dir = Path(out_dir) if out_dir else bundle_path / EVAL_DIR

    log("loading real photos")
    sets = real_sets(bundle, None if real_path is None else str(real_path), n, seed, progress)
    log(f"real: {sets.description}")
    log(f"generating {n} faces")
    gen = generate_faces(bundle, n, seed, truncation)

    log("SWD")
    t = time.perf_counter()
    s = swd.swd(gen, sets.real, seed=seed)
    s["seconds"] = round(time.perf_counter() - t, 1)
    s["references"] = ({name: v for name, v in swd.REFERENCES} if bundle.resolution == 128 else None)

    log("MS-SSIM diversity")
    ms = msssim.compare(gen, sets.real, n_pairs=n_pairs, seed=seed)

    log("memorisation")
    arrays = None
    if sets.train is None or sets.heldout is None or len(sets.heldout) < 2:
        mem = {"skipped": sets.memorisation_note or "no training or held-out photos"}
    else:
        mem = memorisation.check(gen[:n_memorisation], sets.train, sets.heldout)
        arrays = mem.pop("_arrays")
        if sets.memorisation_note:
            mem["note"] = sets.memorisation_note

    if inception_weights is not None:
        log("FID/KID (InceptionV3)")
        from gan.metrics.inception import InceptionError, fid_kid

        try:
            fk = fid_kid(inception_weights, gen, sets.real)
        except InceptionError as e:
            raise EvaluationError(str(e)) from e
    else:
        from gan.metrics.inception import NOT_COMPUTED

        fk = {"computed": False, "message": NOT_COMPUTED}

    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "model": bundle.name,
        "bundle": str(bundle_path),
        "generator_sha256": bundle.card["files"]["generator.keras"]["sha256"],
        "training_steps": int(bundle.card.get("training", {}).get("steps", 0) or 0),
        "resolution": bundle.resolution,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "generated": {"images": int(len(gen)), "seed": seed, "truncation": truncation,
                      "labels": "random 0/1 per attribute" if bundle.conditional else None},
        "real": {"images": int(len(sets.real)), "description": sets.description},
        "swd": s, "ms_ssim": ms, "memorisation": mem, "fid_kid": fk,
        "figures": {},
    }

    log("figures")
    files: dict[str, bytes] = {}
    refs = swd.REFERENCES if bundle.resolution == 128 else None
    files[FIGURES["swd"]] = figures.swd_chart(s, refs, title=f"{bundle.name}: SWD against "
                                              f"{len(sets.real):,} real photos")
    files[FIGURES["samples"]] = png_bytes(make_grid(gen[:64], cols=8))
    if arrays is not None:
        files[FIGURES["memorisation_hist"]] = figures.distance_histogram(
            arrays["gen_dist"], arrays["heldout_dist"], mem["threshold"])
        files[FIGURES["memorisation_pairs"]] = png_bytes(figures.pairs_grid(
            gen[:n_memorisation], sets.train, arrays["gen_index"], arrays["gen_flipped"],
            arrays["gen_dist"]))
    report["figures"] = {k: v for k, v in FIGURES.items() if v in files}
    report["seconds"] = time.perf_counter() - t0

    # The evaluation folder is replaced as a whole: never new figures beside an old report.
    with staged_dir(out_dir) as staging:
        write_files(staging, files)
        atomic_write_text(staging / "report.json", json.dumps(report, indent=2, default=str) + "\n")
    if write_card:
        rel = os.path.relpath(out_dir, bundle_path)
        update_card(bundle_path, metrics=card_metrics(report),
                    evaluation={"dir": rel if not rel.startswith("..") else str(out_dir.resolve()),
                                "report": "report.json"})
    log(f"done in {report['seconds']:.0f} s: {out_dir}")
    return report


def summary(report: dict) -> str:
    """The report in a few lines for the terminal."""
    s, ms, mem, fk = report["swd"], report["ms_ssim"], report["memorisation"], report["fid_kid"]
    lines = [f"{report['model']}: {report['generated']['images']:,} generated faces vs "
             f"{report['real']['description']}",
             "SWD x1e3 (lower is better): average {:.1f}; per level {}".format(
                 s["average"], ", ".join(f"{k}px {v:.1f}" for k, v in s["levels"].items()))]
    if s.get("references"):
        lines.append("  for scale: " + ", ".join(f"{k} ~{v:g}" for k, v in s["references"].items()))
    lines.append(f"MS-SSIM diversity: generated {ms['generated']:.3f}, real {ms['real']:.3f} "
                 f"(lower = more varied): {ms['verdict']}")
    lines.append("Memorisation: " + (mem["skipped"] if "skipped" in mem else mem["verdict"]))
    lines.append(f"FID {fk['fid']:.2f}, KID {fk['kid']:.4f}" if fk.get("computed") else fk["message"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="models/default", help="bundle folder (default: models/default)")
    p.add_argument("--real", default=None,
                   help="folder (or .zip) of real face photos; default: the held-out split named "
                        "in the model card")
    p.add_argument("--n", type=int, default=DEFAULT_N,
                   help=f"generated faces, and at most this many real photos (default {DEFAULT_N})")
    p.add_argument("--memorisation-n", type=int, default=DEFAULT_MEMORISATION_N,
                   help=f"generated faces checked against the training photos "
                        f"(default {DEFAULT_MEMORISATION_N})")
    p.add_argument("--pairs", type=int, default=DEFAULT_PAIRS,
                   help=f"random pairs per set for MS-SSIM (default {DEFAULT_PAIRS})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--truncation", type=float, default=1.0)
    p.add_argument("--inception-weights", default=None, metavar="FILE",
                   help="Keras InceptionV3 weights file for FID/KID (not downloaded here)")
    p.add_argument("--out", default=None, help="output folder (default: <model>/evaluation)")
    p.add_argument("--no-card", action="store_true", help="do not write the metrics into the card")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    from gan.bundle import BundleError
    from gan.io import ReplaceRefused, check_replaceable

    log = (lambda m: None) if args.quiet else (lambda m: print(f"[evaluate] {m}", file=sys.stderr))
    try:
        check_replaceable(Path(args.out) if args.out else Path(args.model) / EVAL_DIR)
        report = evaluate_bundle(args.model, args.real, n=args.n, n_memorisation=args.memorisation_n,
                                 n_pairs=args.pairs, seed=args.seed, truncation=args.truncation,
                                 inception_weights=args.inception_weights, out_dir=args.out,
                                 write_card=not args.no_card, progress=not args.quiet, log=log)
    except (BundleError, EvaluationError, ReplaceRefused) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
