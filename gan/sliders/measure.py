"""How well the sliders work: the measurement behind `python -m gan.attributes`.

`measure_bundle` runs these steps, each a function here:
1. `attribute_choice`, `settings_to_measure`: which sliders, and which label reaches and
   direction strengths to try;
2. `labelled_photos`: real labelled photos, divided by the bundle's own split
   (`gan.data.split`), so the judge is scored on photos it never saw;
3. `train_judge`: the attribute classifier (`gan.sliders.classifier`), cached;
4. `fit_directions` (`gan.sliders.directions`) when a setting moves z;
5. `measure_setting` per setting: for N seeds, each attribute at the slider's two ends with z
   and the other attributes held fixed; a face succeeds when the judge's verdict flips and
   the face is re-identified (`gan.sliders.identity`);
6. `choose_setting`: the simplest setting meeting the target, else the best;
7. `build_report`, then `gan.sliders.report` writes it and the card.
It consumes bundles only: no training code, no Streamlit.
"""
from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gan import sampling
from gan.bundle import load_bundle, update_card
from gan.data.split import Split
from gan.io import check_replaceable
from gan.sliders import classifier as ac
from gan.sliders import report as out
from gan.sliders.directions import DEFAULT_FIT_N, DIRECTIONS_FILE, directions_file, fit_directions
from gan.sliders.identity import IdentitySpace, reidentify
from gan.sliders.semantics import (DEFAULT_REACH, MAX_REACH, MAX_STRENGTH, TARGET,
                                   card_attribute_names, label_value)

REACHES = (1.0, 1.5, 2.0)
STRENGTHS = (0.75, 1.5)
DIRECTION_MARGIN = 0.05     # a direction must beat labels by this much: it is fitted to the judge
DEFAULT_ATTRIBUTES = "male,smiling"
DEFAULT_N = 500
MIN_FIT_N = 10              # directions.fit_directions checks its fit on the last fifth


class AttributesError(ValueError):
    """The measurement cannot run as asked; the message says why and what to do."""


# ---- 1. what to measure ----

def attribute_choice(bundle, attributes: str | None) -> list[str]:
    """The sliders measured: a conditional bundle's binary labels, else `attributes`
    (comma-separated), else the default pair."""
    labelled = card_attribute_names(bundle.card)
    names = ([a.strip() for a in attributes.split(",") if a.strip()] if attributes
             else labelled or DEFAULT_ATTRIBUTES.split(","))
    if bundle.conditional and set(names) - set(labelled):
        raise AttributesError(f"{bundle.name} is conditional on {labelled}; its sliders are "
                              f"those labels, not {sorted(set(names) - set(labelled))}")
    return names


def _floats(values, name: str, high: float) -> tuple[float, ...]:
    found = tuple(sorted({float(v) for v in values}))
    if any(not (0 < v <= high) for v in found):
        raise AttributesError(f"{name} must be in (0, {high:g}]")
    return found


def settings_to_measure(bundle, reaches=REACHES, strengths=STRENGTHS, reach: float | None = None,
                        strength: float | None = None) -> list[tuple[float | None, float]]:
    """(label reach or None, direction strength) pairs: the one given by `reach` / `strength`,
    else the sweep, labels first and then directions (with the smallest reach)."""
    if reach is not None or strength is not None:
        r = (DEFAULT_REACH if reach is None else float(reach)) if bundle.conditional else None
        settings = [(r, float(strength or 0.0))]
        if r is not None:
            _floats([r], "--reach", MAX_REACH)
        if settings[0][1]:
            _floats([settings[0][1]], "--strength", MAX_STRENGTH)
    else:
        reaches = _floats(reaches, "reaches", MAX_REACH) if bundle.conditional else ()
        strengths = tuple(v for v in strengths if float(v) != 0)
        strengths = _floats(strengths, "strengths", MAX_STRENGTH) if strengths else ()
        settings = [(r, 0.0) for r in reaches]
        settings += [(min(reaches) if reaches else None, s) for s in strengths]
    settings = [(r, s) for r, s in settings if r is not None or s]
    if not settings:
        raise AttributesError(
            f"nothing to measure on {bundle.name}: give label reaches (--reaches) or direction "
            f"strengths (--strengths)" + ("" if bundle.conditional else "; it is unconditional, "
                                          "so its sliders can only move z along directions"))
    return settings


# ---- 2. real photos ----

@dataclass
class LabelledPhotos:
    """Real photos with the sliders' labels: the judge's training part and its held-out part."""
    train_images: np.ndarray
    train_labels: np.ndarray
    train_keys: list[str]
    held_images: np.ndarray
    held_labels: np.ndarray
    description: str


def labelled_photos(bundle, names: list[str], photos: str | None = None,
                    holdout: float | None = None, progress: bool = False) -> LabelledPhotos:
    """Labelled real photos: `photos`, else the card's data source, divided with the card's
    hold-out fraction and seed (`gan.data.split`: the bundle's own split when the source is
    its training data), or with `holdout` when given. A card that held out nothing is
    refused unless `holdout` says how much to hold out: the judge must be scored on photos
    it was not trained on."""
    split = Split.from_card(bundle.card).with_(labels=list(names), size=bundle.resolution,
                                               crop=bundle.crop)
    if photos:
        split = split.with_(source=photos, path=Path(photos), dedup=False)
    if split.path is None or not Path(split.path).exists():
        raise AttributesError(
            f"no labelled real photos to train the attribute classifier: the card's data source "
            f"{split.source!r} does not exist here. Give --photos PATH (a folder with a labels CSV "
            f"holding the columns {', '.join(names)}).")
    if holdout is not None:
        if not 0 < float(holdout) < 1:
            raise AttributesError(f"--holdout must be a fraction between 0 and 1, not {holdout:g}")
        split = split.with_(holdout_fraction=float(holdout))
    if split.holdout_fraction <= 0:
        raise AttributesError(
            f"{bundle.name}'s card records no held-out photos (its run held out 0), and the "
            f"attribute classifier must be scored on labelled photos it was not trained on. "
            f"Give --holdout F (e.g. 0.1) to hold out that fraction of {split.name} for it.")
    try:
        parts = split.load(progress)
    except (OSError, ValueError) as e:
        raise AttributesError(f"cannot read labelled photos from {split.path}: {e}") from e
    train, held = parts.train, parts.heldout
    n_held = 0 if held is None else len(held)
    if len(train) < 4 or n_held < 2:
        raise AttributesError(f"{split.path} gives {len(train)} training and {n_held} held-out "
                              f"labelled photos; at least 4 and 2 are needed")
    cols = [parts.faces.label_names.index(n) for n in names]
    desc = (f"{split.source}: {len(train):,} training photos, {n_held:,} held out "
            f"({split.describe()})")
    return LabelledPhotos(train.images, train.labels[:, cols], train.keys,
                          held.images, held.labels[:, cols], desc)


# ---- 3. the judge ----

@dataclass
class Judge:
    """The trained attribute classifier and how it did on the held-out photos."""
    model: Any
    info: dict            # {"cached": bool, "file": cache file or None}
    accuracy: dict[str, float]
    epochs: int


def train_judge(bundle, real: LabelledPhotos, names: list[str], epochs: int | None = None,
                use_cache: bool = True, log=lambda msg: None) -> Judge:
    """Train (or take from the cache) the classifier and score it on the held-out photos."""
    epochs = ac.EPOCHS if epochs is None else int(epochs)
    model, info = ac.trained(real.train_images, real.train_labels, names, real.train_keys,
                             bundle.resolution, bundle.crop, epochs=epochs, seed=0,
                             use_cache=use_cache, log=log)
    acc = ac.accuracy(model, real.held_images, real.held_labels, names)
    log("classifier accuracy on held-out photos: "
        + ", ".join(f"{k} {v:.1%}" for k, v in acc.items()))
    return Judge(model, info, acc, epochs)


# ---- 5. one setting ----

def random_others(n_faces: int, names: list[str], seed: int) -> np.ndarray:
    """Each face's other attributes: random 0/1, fixed while one slider moves."""
    return np.random.default_rng([seed, 2]).integers(0, 2, (n_faces, len(names))).astype(np.float32)


def base_labels(bundle, n_faces: int, names: list[str], seed: int) -> np.ndarray | None:
    """[n, K] labels of a conditional bundle: random 0/1 for the sliders, 0.5 elsewhere."""
    if not bundle.conditional:
        return None
    base = np.full((n_faces, len(bundle.label_names)), 0.5, np.float32)
    others = random_others(n_faces, names, seed)
    for c, name in enumerate(names):
        base[:, bundle.label_names.index(name)] = others[:, c]
    return base


def measure_setting(bundle, classifier, space: IdentitySpace, z: np.ndarray,
                    base: np.ndarray | None, names: list[str], reach: float | None,
                    strength: float = 0.0, directions: dict[str, np.ndarray] | None = None,
                    keep_faces: int = 0) -> dict[str, Any]:
    """Flip and re-identification figures of every attribute at one setting: the label
    reach (None: labels untouched) and the z shift along the attribute's direction."""
    step: dict[str, Any] = {"reach": reach, "strength": float(strength), "attributes": {}}
    if reach is not None:
        step["low_label"], step["high_label"] = label_value(-1, reach), label_value(1, reach)
    for name in names:
        c = names.index(name)
        y_lo = y_hi = base
        if reach is not None:
            j = bundle.label_names.index(name)
            y_lo, y_hi = base.copy(), base.copy()
            y_lo[:, j], y_hi[:, j] = step["low_label"], step["high_label"]
        shift = strength * directions[name] if strength else 0.0
        lo = sampling.generate_from_latents(bundle, (z - shift).astype(np.float32), y_lo)
        hi = sampling.generate_from_latents(bundle, (z + shift).astype(np.float32), y_hi)
        p_lo, p_hi = ac.predict(classifier, lo)[:, c], ac.predict(classifier, hi)[:, c]
        flipped = (p_lo < 0.5) & (p_hi >= 0.5)
        ident = reidentify(space.features(lo), space.features(hi))
        both = flipped & ident["reidentified"]
        r = {"flip_rate": float(flipped.mean()),
             "reverse_flip_rate": float(((p_lo >= 0.5) & (p_hi < 0.5)).mean()),
             "low_says_no": float((p_lo < 0.5).mean()),
             "high_says_yes": float((p_hi >= 0.5).mean()),
             "mean_p_low": float(p_lo.mean()), "mean_p_high": float(p_hi.mean()),
             "p_rises": float((p_hi > p_lo).mean()),
             "reidentified_rate": float(ident["reidentified"].mean()),
             "median_distance_ratio": float(np.median(ident["ratio"])),
             "success_rate": float(both.mean())}
        r["meets_target"] = bool(r["success_rate"] >= TARGET)
        if keep_faces:
            r["_faces"] = (lo[:keep_faces], hi[:keep_faces], p_lo[:keep_faces], p_hi[:keep_faces],
                           ident["reidentified"][:keep_faces])
        step["attributes"][name] = r
    step["worst_success_rate"] = min(a["success_rate"] for a in step["attributes"].values())
    return step


# ---- 6. the choice ----

def choose_setting(sweep: list[dict]) -> tuple[dict, str]:
    """The simplest setting (no direction before a direction, then the smaller strength and
    reach) meeting the target for every attribute; else the one with the best
    worst-attribute success rate (the simpler on a tie). Directions are fitted to the same
    judge that scores them, so short of the target they must beat the best label-only
    setting by DIRECTION_MARGIN to be chosen."""
    def simplicity(s):
        return (s["strength"], s["reach"] if s["reach"] is not None else 0.0)

    ok = [s for s in sweep if s["worst_success_rate"] >= TARGET]
    if ok:
        return min(ok, key=simplicity), (f"simplest measured setting meeting the {TARGET:.0%} "
                                         f"target for every attribute")
    pool = sweep
    labels_only = [s for s in sweep if not s["strength"]]
    if labels_only:
        best_labels = max(s["worst_success_rate"] for s in labels_only)
        if all(s["worst_success_rate"] < best_labels + DIRECTION_MARGIN for s in sweep
               if s["strength"]):
            pool = labels_only
    best = max(round(s["worst_success_rate"], 3) for s in pool)
    pick = min((s for s in pool if round(s["worst_success_rate"], 3) == best), key=simplicity)
    return pick, (f"no measured setting met the {TARGET:.0%} target; this one had the best "
                  f"worst-attribute success rate"
                  + (f" (directions must beat labels by {DIRECTION_MARGIN * 100:.0f} points)"
                     if len(pool) < len(sweep) else ""))


# ---- 7. the report ----

def build_report(bundle, bundle_path: Path, *, names: list[str], real: LabelledPhotos,
                 judge: Judge, space: IdentitySpace, directions: dict, fit_r2: dict,
                 n_fit: int, sweep: list[dict], chosen: dict, why: str, n: int, seed: int,
                 truncation: float) -> dict[str, Any]:
    """The report.json content (without `seconds`, which the caller adds last)."""
    return {
        "format": out.REPORT_FORMAT,
        "model": bundle.name,
        "bundle": str(bundle_path),
        "generator_sha256": bundle.card["files"]["generator.keras"]["sha256"],
        "training_steps": int(bundle.card.get("training", {}).get("steps", 0) or 0),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seeds": n, "seed": seed, "truncation": truncation, "target": TARGET,
        "other_attributes": ("random 0/1 per face, the same at both ends" if bundle.conditional
                             else "not controlled (unconditional bundle)"),
        "classifier": {"recipe": ac.RECIPE, "input_px": int(judge.model.inputs[0].shape[1]),
                       "epochs": judge.epochs, "trained_on": len(real.train_images),
                       "heldout": len(real.held_images), "photos": real.description,
                       "heldout_accuracy": judge.accuracy,
                       "heldout_base_rate": {k: float(real.held_labels[:, c].mean())
                                             for c, k in enumerate(names)},
                       "cached": judge.info["cached"], "cache_file": judge.info["file"]},
        "identity": {"feature": IdentitySpace.DESCRIPTION,
                     "box": IdentitySpace.BOX, "components": space.space.components,
                     "rule": f"the high-end face's nearest of the {n} low-end faces is its own"},
        "directions": ({"file": DIRECTIONS_FILE, "fitted_on": n_fit, "fit_r2_left_out": fit_r2,
                        "method": "least squares of the classifier's log-odds on z, unit "
                                  "normal, other attributes' directions projected out"}
                       if directions else None),
        "sweep": out.rounded(sweep),
        "chosen": {"setting": out.setting_name(chosen), "reach": chosen["reach"],
                   "strength": chosen["strength"], "why": why},
        "attributes": out.rounded(chosen["attributes"]),
        "figures": {"pairs": "pairs.jpg"},
    }


# ---- all of it ----

def check_numbers(n: int, seed: int, truncation: float, n_fit: int, epochs: int | None) -> None:
    """AttributesError for a count or value the measurement cannot mean, before any work: an
    untrained judge (0 epochs) would be written into the card as the sliders' figures."""
    if n < 2:
        raise AttributesError("--n must be at least 2")
    if seed < 0:
        raise AttributesError(f"--seed must be 0 or more, not {seed}")
    try:
        sampling.check_truncation(truncation)
    except ValueError as e:
        raise AttributesError(str(e)) from None
    if n_fit < MIN_FIT_N:
        raise AttributesError(f"--fit-n must be at least {MIN_FIT_N} (a fifth of the faces are "
                              f"left out to check the directions' fit), not {n_fit}")
    if epochs is not None and epochs < 1:
        raise AttributesError(f"--epochs must be at least 1 (the judge must be trained), "
                              f"not {epochs}")


def measure_bundle(bundle_path: str | Path, *, photos: str | None = None,
                   holdout: float | None = None, attributes: str | None = None,
                   n: int = DEFAULT_N, seed: int = 0, truncation: float = 1.0,
                   reaches: tuple[float, ...] = REACHES, strengths: tuple[float, ...] = STRENGTHS,
                   reach: float | None = None, strength: float | None = None,
                   n_fit: int = DEFAULT_FIT_N, epochs: int | None = None,
                   use_cache: bool = True, out_dir: str | Path | None = None,
                   write_card: bool = True, progress: bool = False,
                   log=lambda msg: None) -> dict:
    """Measure one bundle's sliders; write `<bundle>/attributes/` and the card.
    Returns the report. Raises AttributesError / BundleError with a clear message."""
    t0 = time.perf_counter()
    check_numbers(n, seed, truncation, n_fit, epochs)
    bundle_path = Path(bundle_path)
    bundle = load_bundle(bundle_path)
    names = attribute_choice(bundle, attributes)
    settings = settings_to_measure(bundle, reaches, strengths, reach, strength)
    out_dir = Path(out_dir) if out_dir else bundle_path / out.OUT_DIR
    check_replaceable(out_dir)            # a folder of the user's: refused before the work

    log("loading labelled real photos")
    real = labelled_photos(bundle, names, photos, holdout, progress)
    log(f"real: {real.description}")
    judge = train_judge(bundle, real, names, epochs, use_cache, log)
    space = IdentitySpace(real.train_images)

    directions, fit_r2 = {}, {}
    if any(s for _, s in settings):
        log(f"fitting InterFaceGAN directions on {n_fit} faces of other seeds")
        directions, fit_r2 = fit_directions(bundle, judge.model, names, n_fit, seed)
        log("  linear fit R^2 on faces left out: "
            + ", ".join(f"{k} {v:.2f}" for k, v in fit_r2.items()))

    z = sampling.latents(seed, n, bundle.latent_dim, truncation)
    base = base_labels(bundle, n, names, seed)
    sweep = []
    for r, s in settings:
        step = measure_setting(bundle, judge.model, space, z, base, names, r, s, directions,
                               keep_faces=out.PAIRS_SHOWN)
        sweep.append(step)
        log(f"{out.setting_name(step)}: " + "; ".join(
            f"{k} flips {a['flip_rate']:.0%}, re-identified {a['reidentified_rate']:.0%}, "
            f"both {a['success_rate']:.0%}" for k, a in step["attributes"].items()))
    chosen, why = (sweep[0], "the only setting measured") if len(sweep) == 1 else choose_setting(sweep)

    report = build_report(bundle, bundle_path, names=names, real=real, judge=judge, space=space,
                          directions=directions, fit_r2=fit_r2, n_fit=n_fit, sweep=sweep,
                          chosen=chosen, why=why, n=n, seed=seed, truncation=truncation)
    files = {"pairs.jpg": out.pairs_figure(
        chosen, names, f"{bundle.name}: slider ends ({out.setting_name(chosen)}), first "
                       f"{out.PAIRS_SHOWN} seeds; number = classifier P(attribute), green = "
                       f"flipped and re-identified")}
    if directions:
        files[DIRECTIONS_FILE] = directions_file(directions, names, bundle.latent_dim,
                                                 report["generator_sha256"])
    report["seconds"] = time.perf_counter() - t0
    # --no-cache: keep the judge beside its verdicts.
    out.write(out_dir, report, files, judge.model if judge.info["file"] is None else None)
    if write_card:
        update_card(bundle_path, metrics={"attributes": out.card_metrics(report)},
                    attributes=out.card_attributes(report, out_dir, bundle_path))
    log(f"done in {report['seconds']:.0f} s: {out_dir}")
    return report
