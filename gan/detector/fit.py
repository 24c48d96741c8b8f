"""Fitting the detectors of a bundle: the discriminator's calibration and the forensic detector.

1. The discriminator: its raw score (minus its logit) is mapped to P(generated) by Platt
   scaling fitted on the "calib" parts (held-out real photos against new faces of the
   bundle's own generator).
2. The forensic detector: a logistic regression on the discriminator's features
   (`gan.detector.features`), trained on the "train" parts (the GAN's training photos and the
   other GAN set's train split as real; the generator's faces and the other GAN's faces as
   generated; each once more with JPEG / resize / crop augmentation), then Platt-calibrated on
   all "calib" parts.
3. Both verdict thresholds are set on the "calib" real photos: at most `target_fpr` of the real
   photos of *each* calibration source score above it (the stricter of the per-source
   thresholds), so no one kind of real photo is flagged more often than stated.

Both calibrations are stored the same way: p = sigmoid(a * raw score + b), higher = generated.

No "test" part is used here; `gan.detector.report` measures on those. Fit-time code: it may
use scikit-learn; the app never imports it.
"""
from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from gan.bundle import _sha256, update_card
from gan.detector import calibrate
from gan.detector.data import Part, augment
from gan.detector.features import FEATURE_VERSION, FeatureExtractor
from gan.detector.forensic import FILE, KIND, ForensicModel
from gan.detector.stored import UNCALIBRATED_NOTE, discriminator_scores
from gan.io import atomic_write_bytes

DEFAULT_TARGET_FPR = 0.05
FPR_CONFIDENCE = 0.95               # the stated rate is a 95% upper bound, not the observed rate
DEFAULT_C = 0.1                     # inverse L2 strength of the logistic regression
THRESHOLD_RULE = ("for each real source, so few calibration photos score at or above it that "
                  "the one-sided 95% upper bound of its false-positive rate is at most {fpr:.0%} "
                  "(exact binomial); the strictest of the per-source thresholds")


class FitError(ValueError):
    """The detectors cannot be fitted as asked; the message says why."""


@dataclass
class Calibrated:
    """A detector's calibration on raw scores (higher = generated)."""
    a: float
    b: float
    score_threshold: float
    p_threshold: float
    n_real: int
    n_generated: int
    per_source_thresholds: dict[str, float]


def calibrate_scores(scores: dict[str, np.ndarray], parts: dict[str, Part], platt_parts: list[str],
                     threshold_parts: list[str], target_fpr: float, what: str) -> Calibrated:
    """Platt on `platt_parts` (both classes weighted equally), threshold on the real parts of
    `threshold_parts` by the per-source rule."""
    s = np.concatenate([scores[n] for n in platt_parts])
    y = np.concatenate([np.full(len(scores[n]), parts[n].label) for n in platt_parts])
    if len(np.unique(y)) < 2:
        raise FitError(f"calibrating {what} needs real and generated faces in {platt_parts}")
    a, b = calibrate.platt_fit(s, y)
    if a <= 0:
        raise FitError(f"{what} scores generated faces *lower* than real photos on the "
                       f"calibration data (Platt slope {a:.3g}); it cannot be calibrated")
    per_source = {n: calibrate.threshold_for_fpr(scores[n], target_fpr, FPR_CONFIDENCE)
                  for n in threshold_parts if parts[n].label == 0 and len(scores[n])}
    if not per_source:
        raise FitError(f"no real calibration photos to set the threshold of {what} on")
    t = max(per_source.values())
    return Calibrated(a, b, t, float(calibrate.platt(np.array([t]), a, b)[0]),
                      int((y == 0).sum()), int((y == 1).sum()), per_source)


def train_forensic(sets: list[tuple[np.ndarray, int]], C: float = DEFAULT_C, log=lambda m: None):
    """`sets`: (features [n, dim], label) pairs. Standardise, then an L2 logistic regression
    with both classes weighted equally. Returns a ForensicModel (meta still empty) and the fit's
    figures."""
    from sklearn.linear_model import LogisticRegression

    X = np.concatenate([f for f, _ in sets]).astype(np.float64)
    y = np.concatenate([np.full(len(f), label) for f, label in sets])
    if len(np.unique(y)) < 2:
        raise FitError("the forensic detector needs real and generated training faces")
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 1e-6, scale, 1.0)
    t = time.perf_counter()
    clf = LogisticRegression(C=C, max_iter=3000)
    clf.fit((X - mean) / scale, y, sample_weight=calibrate.balanced_weights(y))
    seconds = time.perf_counter() - t
    log(f"logistic regression on {X.shape[1]} features of {len(y)} faces: {seconds:.0f} s")
    model = ForensicModel(mean.astype(np.float32), scale.astype(np.float32),
                          clf.coef_[0].astype(np.float32), float(clf.intercept_[0]), {})
    return model, {"n_real": int((y == 0).sum()), "n_generated": int((y == 1).sum()),
                   "C": C, "seconds": round(seconds, 1),
                   "train_auc": round(calibrate.roc_auc(y, model.decision(X)), 5),
                   "iterations": int(np.max(clf.n_iter_))}


def _describe(parts: dict[str, Part], names: list[str]) -> list[str]:
    return [parts[n].description for n in names if n in parts and len(parts[n])]


def _part_names(parts: dict[str, Part], target_fpr: float) -> tuple[list[str], list[str]]:
    """(calibration parts, training parts) present; FitError when a fit cannot start."""
    if not 0 < target_fpr < 0.5:
        raise FitError("the target false-positive rate must be between 0 and 0.5")
    need = ["real_train", "real_calib", "own_train", "own_calib"]
    missing = [n for n in need if n not in parts or not len(parts[n])]
    if missing:
        raise FitError(f"missing photos to fit on: {', '.join(missing)}")
    calib = [n for n in parts if n.endswith("_calib") and len(parts[n])]
    train = [n for n in parts if (n.endswith("_train") or n.endswith("_train_raw"))
             and len(parts[n])]
    return calib, train


def fit_discriminator(bundle, parts: dict[str, Part], calib_names: list[str], target_fpr: float,
                      log=lambda m: None) -> tuple[Calibrated | None, str, dict[str, np.ndarray]]:
    """The discriminator calibrated on its own task (held-out real photos against its
    generator's faces): (calibration, or None and why not, its calibration scores). A
    discriminator that cannot be calibrated does not stop the fit: the forensic detector is
    still worth having."""
    log("discriminator: scoring the calibration photos")
    scores = {n: discriminator_scores(bundle, parts[n].images) for n in calib_names}
    try:
        cal = calibrate_scores(scores, parts, ["real_calib", "own_calib"], calib_names,
                               target_fpr, "the discriminator")
    except FitError as e:
        log(f"warning: {e}; the discriminator stays uncalibrated")
        return None, str(e), scores
    return cal, "", scores


@dataclass
class FittedForensic:
    model: Any                        # ForensicModel, its meta filled in
    cal: Calibrated
    fit_info: dict
    features: Any                     # the FeatureExtractor it reads
    scores: dict[str, np.ndarray]     # raw scores of the calibration parts


def fit_forensic(bundle, parts: dict[str, Part], calib_names: list[str], train_names: list[str],
                 *, target_fpr: float, C: float, augment_copies: int, seed: int,
                 log=lambda m: None) -> FittedForensic:
    """Trained on the training parts, each with `augment_copies` augmented copies, then
    calibrated on every calibration part."""
    fx = FeatureExtractor(bundle)
    sets = []
    for i, n in enumerate(train_names):
        log(f"features: {n} ({len(parts[n])} faces, and {augment_copies} augmented cop"
            f"{'y' if augment_copies == 1 else 'ies'})")
        sets.append((fx(parts[n].images), parts[n].label))
        for c in range(augment_copies):
            sets.append((fx(augment(parts[n].images, seed=seed * 1000 + c * 100 + i)),
                         parts[n].label))
    model, fit_info = train_forensic(sets, C=C, log=log)
    del sets
    log("forensic: scoring the calibration photos")
    scores = {n: model.decision(fx(parts[n].images)) for n in calib_names}
    cal = calibrate_scores(scores, parts, calib_names, calib_names, target_fpr,
                           "the forensic detector")
    model.meta = {"feature_version": FEATURE_VERSION, "dim": int(len(model.weights)),
                  "kind": KIND, "resolution": bundle.resolution,
                  "discriminator_sha256": bundle.card["files"]["discriminator.keras"]["sha256"],
                  "fitted": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    return FittedForensic(model, cal, fit_info, fx, scores)


def _card_calibration(cal: Calibrated, fitted_on: list[str]) -> dict:
    """As `calibrate.probability` reads it: p = sigmoid(a * raw score + b)."""
    return {"method": "platt", "a": cal.a, "b": cal.b, "input": "score", "fitted_on": fitted_on,
            "n_real": cal.n_real, "n_generated": cal.n_generated}


def card_section(parts: dict[str, Part], calib_names: list[str], train_names: list[str],
                 target_fpr: float, d_cal: Calibrated | None, d_problem: str,
                 f: FittedForensic) -> dict[str, Any]:
    """The card's new `detector` section, without the report summary (`report` adds it)."""
    rule = THRESHOLD_RULE.format(fpr=target_fpr)
    if d_cal is not None:
        d_section = {
            "calibration": _card_calibration(d_cal, _describe(parts, ["real_calib", "own_calib"])),
            "threshold": d_cal.p_threshold,
            "note": (f"calibrated (Platt) on {d_cal.n_real} held-out real photos and "
                     f"{d_cal.n_generated} new faces of its own generator; threshold: {rule}")}
    else:
        d_section = {"calibration": None, "threshold": 0.5,
                     "note": f"{UNCALIBRATED_NOTE} ({d_problem})"}
    return {
        **d_section,
        "threshold_rule": rule,
        "threshold_set_on": _describe(parts, [n for n in calib_names if parts[n].label == 0]),
        "target_fpr": target_fpr,
        "forensic": {
            "file": FILE, "kind": KIND,
            "calibration": _card_calibration(f.cal, _describe(parts, calib_names)),
            "threshold": f.cal.p_threshold,
            "note": (f"{KIND}, trained on {f.fit_info['n_real']:,} real photos and "
                     f"{f.fit_info['n_generated']:,} generated faces (with augmented copies), "
                     f"calibrated (Platt) on {f.cal.n_real} real and {f.cal.n_generated} "
                     f"generated faces it never trained on; threshold: {rule}"),
            "trained_on": _describe(parts, train_names),
            "fit": f.fit_info,
        },
        "default": "forensic",
        "measured": None,            # filled in by gan.detector.report
        "report": None,
        "fitted": f.model.meta["fitted"],
        "discriminator_sha256": f.model.meta["discriminator_sha256"],
    }


def fit_detectors(bundle, parts: dict[str, Part], *, target_fpr: float = DEFAULT_TARGET_FPR,
                  C: float = DEFAULT_C, augment_copies: int = 1, seed: int = 0,
                  log=lambda m: None) -> dict[str, Any]:
    """Fit both detectors of `bundle` on `parts` (see module doc for the names used). Returns
    {"forensic_model": ForensicModel, "card": the card's new `detector` section (without
    the report summary), "features": FeatureExtractor, "calibration_scores"}."""
    t0 = time.perf_counter()
    calib_names, train_names = _part_names(parts, target_fpr)
    d_cal, d_problem, d_scores = fit_discriminator(bundle, parts, calib_names, target_fpr, log)
    f = fit_forensic(bundle, parts, calib_names, train_names, target_fpr=target_fpr, C=C,
                     augment_copies=augment_copies, seed=seed, log=log)
    section = card_section(parts, calib_names, train_names, target_fpr, d_cal, d_problem, f)
    section["fit_seconds"] = round(time.perf_counter() - t0, 1)
    return {"forensic_model": f.model, "card": section, "features": f.features,
            "calibration_scores": {"discriminator": d_scores, "forensic": f.scores}}


def write_detectors(bundle_path, fitted: dict[str, Any]) -> dict:
    """Store the forensic detector file (atomically) and the card's `detector` section and
    `files` entry. The rest of `detection/` (the report) is left as it is."""
    from pathlib import Path

    bundle_path = Path(bundle_path)
    target = bundle_path / FILE
    atomic_write_bytes(target, fitted["forensic_model"].to_bytes())
    entry = {"bytes": target.stat().st_size, "sha256": _sha256(target)}
    return update_card(bundle_path, detector=fitted["card"], files={FILE: entry})
