"""Measure a model bundle against real photos: the library behind `python -m gan.evaluate`.

`evaluate_bundle` runs the steps in order: the real photos (`real_sets`, from the card's
split in `gan.data.split` or a given folder), the generated faces (`generate_faces`), the
measurements (SWD, MS-SSIM diversity, memorisation, FID/KID), then `gan.metrics.report`
writes the folder and the card. Evaluation only consumes bundles: it never imports training
code or Streamlit.
"""
from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gan.bundle import load_bundle
from gan.card import drawn_as, label_frequencies, label_groups, label_kinds
from gan.data import load_faces
from gan.data.split import Split
from gan.metrics import groups as per_group
from gan.metrics import memorisation, msssim, swd
from gan.metrics.inception import NOT_COMPUTED, InceptionError, check_weights_file, fid_kid
from gan.metrics.report import EVAL_DIR, REPORT_FORMAT, figure_files, write_report
from gan.sampling import check_truncation, generate_from_latents, label_matrix, latents

DEFAULT_N = 1000            # generated faces (and at most this many real photos)
DEFAULT_MEMORISATION_N = 300
DEFAULT_PAIRS = 1000        # random pairs per set for MS-SSIM


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
    heldout_faces: Any = None         # the card's held-out split with its labels (per group)


def _load(path, bundle, progress: bool, **kw):
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
        return RealSets(real, desc, train.images, real, "", held)
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
    return RealSets(real, desc, None if train is None else train.images, heldout, note,
                    None if (held is None or len(held) < 2) else held)


def random_labels(bundle, n: int, seed: int) -> np.ndarray | None:
    """Definite random attributes for a conditional bundle (binary 0/1, one class per group),
    so its faces are measured as users get them, not at an undecided 0.5."""
    names = bundle.label_names
    if not names:
        return None

    rng = np.random.default_rng([seed, 1])
    y = np.zeros((n, len(names)), np.float32)
    for j, kind in enumerate(label_kinds(bundle.card)):
        if kind != "onehot":
            y[:, j] = rng.integers(0, 2, n)
    groups = label_groups(bundle.card)
    for idx in groups.values():
        y[np.arange(n), np.asarray(idx)[rng.integers(0, len(idx), n)]] = 1.0
    return y


def evaluation_labels(bundle, n: int, seed: int) -> np.ndarray | None:
    """The measured faces' labels: as the app draws them (each face a row of the training
    photos', `gan.sampling.label_matrix`), so the faces measured are the app's faces of that
    seed; `random_labels` for a card without label frequencies (figures stay comparable)."""
    if bundle.conditional and label_frequencies(bundle.card) is not None:
        return label_matrix(bundle, n, None, seed=seed)
    return random_labels(bundle, n, seed)


def labels_note(bundle) -> str | None:
    """How `evaluation_labels` drew the labels, for the report."""
    if not bundle.conditional:
        return None
    drawn = drawn_as(bundle.card)
    return f"drawn per face {drawn} (as the app draws them)" if drawn else "random 0/1 per attribute"


def generate_faces(bundle, n: int, seed: int = 0, truncation: float = 1.0) -> np.ndarray:
    z = latents(seed, n, bundle.latent_dim, truncation)
    return generate_from_latents(bundle, z, evaluation_labels(bundle, n, seed))


def check_inception_weights(inception_weights) -> None:
    """Refuse a missing or damaged weights file before the long part, not after it."""
    try:
        check_weights_file(inception_weights)
    except InceptionError as e:
        raise EvaluationError(str(e)) from e


def measure_swd(bundle, gen: np.ndarray, real: np.ndarray, seed: int) -> dict:
    """SWD of generated against real, with the reference figures when they apply (128 px)."""
    t = time.perf_counter()
    s = swd.swd(gen, real, seed=seed)
    s["seconds"] = round(time.perf_counter() - t, 1)
    s["references"] = ({name: v for name, v in swd.REFERENCES} if bundle.resolution == 128 else None)
    return s


def measure_memorisation(gen: np.ndarray, sets: RealSets, n_memorisation: int,
                         identity: bool = False, log=lambda m: None):
    """(report section, arrays for the figures or None when skipped). `identity`: also the
    identity-level check (`memorisation.identity_check`, dlib; minutes for thousands of
    training photos)."""
    if sets.train is None or sets.heldout is None or len(sets.heldout) < 2:
        return {"skipped": sets.memorisation_note or "no training or held-out photos"}, None
    mem = memorisation.check(gen[:n_memorisation], sets.train, sets.heldout)
    arrays = mem.pop("_arrays")
    if identity:
        from gan.metrics.identity import IdentityModelMissing

        log(f"identity: embedding {len(sets.train):,} training photos with dlib")
        try:
            mem["identity"] = memorisation.identity_check(gen[:n_memorisation], sets.train,
                                                          sets.heldout, log=log)
        except IdentityModelMissing as e:
            raise EvaluationError(f"--identity needs dlib's face models: {e}") from e
    if sets.memorisation_note:
        mem["note"] = sets.memorisation_note
    return mem, arrays


def measure_fid_kid(inception_weights, gen: np.ndarray, real: np.ndarray) -> dict:
    """FID/KID only with the user's weights file; otherwise the report says why not."""
    if inception_weights is None:
        return {"computed": False, "message": NOT_COMPUTED}
    try:
        return fid_kid(inception_weights, gen, real)
    except InceptionError as e:
        raise EvaluationError(str(e)) from e


GROUPS_CHOICES = ("auto", "on", "off")


def measure_groups(bundle, sets: RealSets, groups: str, n_per_group: int, n_pairs: int, seed: int,
                   truncation: float, min_photos: int, log):
    """(the report's per-group section or None, faces for the figures). `groups`: "auto"
    measures a bundle with one-hot label groups when its held-out split is here and says why
    not otherwise, "on" measures any labelled bundle or refuses, "off" skips."""
    if groups == "off":
        return None, {}
    wanted = groups == "on" or bool(label_groups(bundle.card))
    if not wanted:
        return None, {}
    try:
        if sets.heldout_faces is None:
            why = Split.from_card(bundle.card).why_no_heldout() or "its held-out split has too few photos"
            raise per_group.GroupsError(f"per-group figures need the bundle's own labelled held-out "
                                        f"photos: {why}")
        return per_group.measure_groups(bundle, sets.heldout_faces, n=n_per_group, n_pairs=n_pairs,
                                        seed=seed, truncation=truncation,
                                        min_photos=min_photos, log=log)
    except per_group.GroupsError as e:
        if groups == "on":
            raise EvaluationError(str(e)) from e
        log(f"per-group figures skipped: {e}")
        return {"skipped": str(e)}, {}


def _report(bundle, bundle_path: Path, gen, sets: RealSets, seed: int, truncation: float,
            sections: dict) -> dict[str, Any]:
    return {
        "format": REPORT_FORMAT,
        "model": bundle.name,
        "bundle": str(bundle_path),
        "generator_sha256": bundle.card["files"]["generator.keras"]["sha256"],
        "training_steps": int(bundle.card.get("training", {}).get("steps", 0) or 0),
        "resolution": bundle.resolution,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "generated": {"images": int(len(gen)), "seed": seed, "truncation": truncation,
                      "labels": labels_note(bundle)},
        "real": {"images": int(len(sets.real)), "description": sets.description},
        **sections,
        "figures": {},
    }


def evaluate_bundle(bundle_path: str | Path, real_path: str | Path | None = None, *,
                    n: int = DEFAULT_N, n_memorisation: int = DEFAULT_MEMORISATION_N,
                    n_pairs: int = DEFAULT_PAIRS, seed: int = 0, truncation: float = 1.0,
                    inception_weights: str | Path | None = None, out_dir: str | Path | None = None,
                    write_card: bool = True, progress: bool = False,
                    groups: str = "auto", n_per_group: int = per_group.DEFAULT_PER_GROUP,
                    group_pairs: int = per_group.DEFAULT_PAIRS,
                    min_group_photos: int = per_group.MIN_PHOTOS,
                    identity: bool = False, log=lambda msg: None) -> dict:
    """Evaluate one bundle; write the figures, report.json and (by default) the card's
    metrics. Returns the report. Raises EvaluationError / BundleError with a clear message.
    `groups`, `n_per_group`, `group_pairs`, `min_group_photos`: the per-group figures
    (`gan.metrics.groups`; `measure_groups` says when they run). `identity`: the
    identity-level memorisation check too (dlib)."""
    t0 = time.perf_counter()
    if n < 2:
        raise EvaluationError("--n must be at least 2")
    if n_pairs < 1:       # 0 pairs: NaN diversity in the card
        raise EvaluationError(f"--pairs must be at least 1, not {n_pairs}")
    if n_memorisation < 1:   # a negative count sliced gen[:-k], silently fewer faces
        raise EvaluationError(f"--memorisation-n must be at least 1, not {n_memorisation}")
    if seed < 0:
        raise EvaluationError(f"--seed must be 0 or more, not {seed}")
    try:
        check_truncation(truncation)
    except ValueError as e:
        raise EvaluationError(str(e)) from None
    if groups not in GROUPS_CHOICES:
        raise EvaluationError(f"--groups must be one of {', '.join(GROUPS_CHOICES)}, not {groups!r}")
    if n_per_group < 2 or group_pairs < 1:
        raise EvaluationError("--per-group must be at least 2, --group-pairs at least 1")
    if inception_weights is not None:
        check_inception_weights(inception_weights)
    bundle_path = Path(bundle_path)
    bundle = load_bundle(bundle_path)
    out_dir = Path(out_dir) if out_dir else bundle_path / EVAL_DIR

    log("loading real photos")
    sets = real_sets(bundle, None if real_path is None else str(real_path), n, seed, progress)
    log(f"real: {sets.description}")
    log(f"generating {n} faces")
    gen = generate_faces(bundle, n, seed, truncation)
    log("SWD")
    s = measure_swd(bundle, gen, sets.real, seed)
    log("MS-SSIM diversity")
    ms = msssim.compare(gen, sets.real, n_pairs=n_pairs, seed=seed)
    log("memorisation")
    mem, arrays = measure_memorisation(gen, sets, n_memorisation, identity, log)
    if inception_weights is not None:
        log("FID/KID (InceptionV3)")
    fk = measure_fid_kid(inception_weights, gen, sets.real)
    sections = {"swd": s, "ms_ssim": ms, "memorisation": mem, "fid_kid": fk}
    group_section, group_faces = measure_groups(bundle, sets, groups, n_per_group, group_pairs,
                                                seed, truncation, min_group_photos, log)
    if group_section is not None:
        sections["groups"] = group_section

    report = _report(bundle, bundle_path, gen, sets, seed, truncation, sections)
    log("figures")
    files = figure_files(bundle, report, gen, sets, arrays, n_memorisation, group_faces)
    report["seconds"] = time.perf_counter() - t0
    write_report(bundle_path, out_dir, report, files, write_card)
    log(f"done in {report['seconds']:.0f} s: {out_dir}")
    return report
