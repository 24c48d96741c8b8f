"""Measuring a bundle's stored detectors on photos they never trained or were calibrated on.

For each detector (exactly as stored: its calibration and threshold from the card):

- (a) own faces: new faces of the bundle's generator (seed never used in fitting, saved as PNG
  and prepared like an upload) against the held-out real photos' test half;
  also the same faces as the generator made them (what the app's "try it" scores);
- (b) other GAN: the other GAN set's test split, generated against real;
- cross pairings: the other GAN's faces against the other real sources, and own faces against
  real photos from elsewhere, so a figure cannot come from one collection's framing alone;
- per pair: ROC AUC, accuracy / true- and false-positive rates at the threshold, the ROC curve
  and a reliability diagram (both classes weighted equally, as the calibration assumes);
- false-positive rate on every real test source, with a 95% interval, against the target;
- robustness: the AUCs again after every test file is re-saved as JPEG at quality 75, resized
  to half its size, or cropped by 10%, and prepared again like an upload (with how much each
  change altered the prepared faces: mean |pixel difference|, 0-255);
- a shortcut baseline: a logistic regression on 8x8-pixel thumbnails (layout and colour only,
  no detail a generator leaves) trained on training parts (BASELINE_TRAIN), so the reader sees how
  much of each figure could come from how the collections differ rather than from traces of
  generation.

Writes `<bundle>/detection/report/` (report.json, roc.png, reliability.png, robustness.png,
fpr.png; replaced as a whole) and the summary into the card (`detector.measured`,
`detector.report`).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from gan.bundle import update_card
from gan.detector import calibrate, figures, verdict
from gan.detector.data import PERTURBATION_TEXT, PERTURBATIONS, Part, perturb
from gan.detector.forensic import settings
from gan.detector.photos import prepare_files
from gan.io import atomic_write_text, staged_dir, write_files

REPORT_FORMAT = "facegan-detection/1"
REPORT_DIR = "detection/report"
FIGURES = {"roc": "roc.png", "reliability": "reliability.png", "robustness": "robustness.png",
           "fpr": "fpr.png"}
TARGETS = {"own_auc": 0.98, "other_gan_auc": 0.90}

# (key, real part, generated part, what it is in words)
PAIRS = [
    ("own", "real_test", "own_test", "own generator's faces vs held-out real photos of its "
                                     "training source"),
    ("other_gan", "other_real_test", "other_fake_test", "other GAN's faces vs real portraits "
                                                        "(held-out split of that set)"),
    ("own_as_made", "real_test", "own_test_raw", "own generator's faces as it made them (not "
                                                 "saved and re-read) vs held-out real photos"),
    ("other_gan_vs_training_source", "real_test", "other_fake_test",
     "other GAN's faces vs held-out real photos of the training source"),
    ("other_gan_vs_unseen_real", "unseen_real_test", "other_fake_test",
     "other GAN's faces vs real photos of a source never used in fitting"),
    ("own_vs_unseen_real", "unseen_real_test", "own_test",
     "own generator's faces vs real photos of a source never used in fitting"),
]
REAL_TEST_PARTS = ["real_test", "other_real_test", "unseen_real_test"]
# The shortcut baseline's training parts: the cheap ones, so `report` without `fit` has them.
BASELINE_TRAIN = ["real_train", "other_real_train", "other_fake_train", "own_train_raw"]
ROBUST_PAIRS = ["own", "other_gan"]


def _r(x: float, d: int = 4) -> float | None:
    return None if x is None or not np.isfinite(x) else float(round(float(x), d))


def _thin_roc(fpr: np.ndarray, tpr: np.ndarray, n: int = 200) -> dict:
    if len(fpr) > n:
        idx = np.unique(np.r_[np.linspace(0, len(fpr) - 1, n).astype(int), len(fpr) - 1])
        fpr, tpr = fpr[idx], tpr[idx]
    return {"fpr": [_r(v) for v in fpr], "tpr": [_r(v) for v in tpr]}


def pair_figures(p_real: np.ndarray, p_gen: np.ndarray, s_real: np.ndarray, s_gen: np.ndarray,
                 threshold: float) -> dict:
    y = np.r_[np.zeros(len(s_real)), np.ones(len(s_gen))]
    s, p = np.r_[s_real, s_gen], np.r_[p_real, p_gen]
    flagged = verdict.flagged(p, threshold)
    fpr_c, tpr_c = calibrate.roc_curve(y, s)
    tp, fp = int(flagged[y == 1].sum()), int(flagged[y == 0].sum())
    return {"auc": _r(calibrate.roc_auc(y, s)), "accuracy": _r(float((flagged == (y == 1)).mean())),
            "balanced_accuracy": _r(0.5 * (tp / len(s_gen) + 1 - fp / len(s_real))),
            "tpr": _r(tp / len(s_gen)), "fpr": _r(fp / len(s_real)),
            "n_real": int(len(s_real)), "n_generated": int(len(s_gen)),
            "roc": _thin_roc(fpr_c, tpr_c), "reliability": calibrate.reliability(p, y)}


def _score_all(det, parts: dict[str, Part], names: list[str]) -> dict[str, tuple]:
    return {n: (det.raw(parts[n].images), det.p(parts[n].images)) for n in names}


def perturbed_parts(parts: dict[str, Part], bundle, log=lambda m: None) -> dict[str, dict[str, Part]]:
    """{kind: {part name: Part}} of the test parts that have files, each file changed by `kind`
    and prepared again like an upload. Deterministic (seeded per kind and part)."""
    names = sorted({n for key, r, g, _what in PAIRS if key in ROBUST_PAIRS
                    for n in (r, g) if n in parts and parts[n].files})
    out: dict[str, dict[str, Part]] = {}
    for ki, kind in enumerate(PERTURBATIONS):
        out[kind] = {}
        for pi, n in enumerate(names):
            rng = np.random.default_rng([ki, pi])
            log(f"robustness: {kind} on {n} ({len(parts[n].files)} files)")
            images, found, kept = prepare_files(parts[n].files, bundle.resolution, bundle.crop,
                                                change=lambda f, i: perturb(f, kind, rng))
            out[kind][n] = Part(n, parts[n].label, images, parts[n].description, face_found=found)
            # How much the change altered the prepared faces (mean |difference|, 0-255).
            out[kind][n].pixel_change = (float(np.abs(images.astype(np.int16) - parts[n].images[kept]
                                                      .astype(np.int16)).mean()) if kept else None)
    return out


def shortcut_baseline(parts: dict[str, Part], size: int = 8) -> dict | None:
    """AUC of a logistic regression on size x size thumbnails, trained on the train parts."""
    from PIL import Image
    from sklearn.linear_model import LogisticRegression

    train = [n for n in BASELINE_TRAIN if n in parts and len(parts[n])]
    if not train or len({parts[n].label for n in train}) < 2:
        return None

    def thumbs(images):
        return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BOX),
                                    np.float32).ravel() / 255.0 for im in images])

    X = np.concatenate([thumbs(parts[n].images) for n in train])
    y = np.concatenate([np.full(len(parts[n]), parts[n].label) for n in train])
    clf = LogisticRegression(C=1.0, max_iter=5000).fit(X, y, sample_weight=calibrate.balanced_weights(y))
    out = {}
    for key, r, g, _ in PAIRS:
        if r in parts and g in parts and len(parts[r]) and len(parts[g]):
            s = np.r_[clf.decision_function(thumbs(parts[r].images)),
                      clf.decision_function(thumbs(parts[g].images))]
            out[key] = _r(calibrate.roc_auc(np.r_[np.zeros(len(parts[r])), np.ones(len(parts[g]))], s))
    return {"what": f"logistic regression on {size}x{size}-pixel thumbnails (layout and colour "
                    f"only), trained on the same training photos", "auc": out}


def measure(bundle, parts: dict[str, Part], detectors: list, *, robustness: bool = True,
            target_fpr: float = 0.05, names: dict | None = None,
            log=lambda m: None) -> dict[str, Any]:
    """The report dict (see module doc). `detectors`: `gan.detector.stored.StoredDetector`s; `names`:
    short names of the sources ({"training", "other_gan", "unseen_real"}) for plain words."""
    t0 = time.perf_counter()
    test_names = [n for n in parts if n.endswith("_test") or n.endswith("_test_raw")]
    perturbed = perturbed_parts(parts, bundle, log) if robustness else {}
    result: dict[str, Any] = {}
    for det in detectors:
        log(f"measuring the {det.key} detector")
        sc = _score_all(det, parts, test_names)
        pairs = {}
        for key, r, g, what in PAIRS:
            if r in sc and g in sc and len(sc[r][0]) and len(sc[g][0]):
                pairs[key] = {"what": what, "real": parts[r].description,
                              "generated": parts[g].description,
                              **pair_figures(sc[r][1], sc[g][1], sc[r][0], sc[g][0], det.threshold)}
        fprs = {}
        for n in REAL_TEST_PARTS:
            if n in sc and len(sc[n][1]):
                k, m = int(verdict.flagged(sc[n][1], det.threshold).sum()), len(sc[n][1])
                lo, hi = calibrate.wilson(k, m)
                fprs[n] = {"description": parts[n].description, "flagged": k, "n": m,
                           "rate": _r(k / m), "ci95": [_r(lo), _r(hi)],
                           "within_target": bool(k / m <= target_fpr)}
        robust = {}
        for kind, pp in perturbed.items():
            psc = _score_all(det, pp, list(pp))
            robust[kind] = {"what": PERTURBATION_TEXT[kind],
                            "pixel_change": {n: _r(p.pixel_change, 3) for n, p in pp.items()}}
            for key, r, g, _ in PAIRS:
                if (key in ROBUST_PAIRS and r in psc and g in psc and key in pairs
                        and len(psc[r][0]) and len(psc[g][0])):
                    f = pair_figures(psc[r][1], psc[g][1], psc[r][0], psc[g][0], det.threshold)
                    robust[kind][key] = {"auc": f["auc"], "drop": _r(pairs[key]["auc"] - f["auc"]),
                                         "fpr": f["fpr"], "tpr": f["tpr"]}
        result[det.key] = {"title": det.title, "note": det.note, "threshold": _r(det.threshold, 6),
                           "calibrated": det.calibrated, "pairs": pairs,
                           "false_positive_rates": fprs, "robustness": robust}
    return {"format": REPORT_FORMAT, "model": bundle.name,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "discriminator_sha256": bundle.card["files"]["discriminator.keras"]["sha256"],
            "generator_sha256": bundle.card["files"]["generator.keras"]["sha256"],
            "forensic_sha256": _forensic_sha(bundle),
            "training_steps": int((bundle.card.get("training") or {}).get("steps", 0) or 0),
            "target_fpr": target_fpr,
            "names": dict(names or {}),
            "threshold_rule": (bundle.card.get("detector") or {}).get("threshold_rule"),
            "targets": {**TARGETS, "unseen_real_fpr": target_fpr},
            "data": {n: {"n": len(p), "label": "generated" if p.label else "real",
                         "description": p.description,
                         "face_found": None if p.face_found is None or not len(p)
                         else _r(float(np.mean(p.face_found)), 3)}
                     for n, p in parts.items()},
            "detectors": result,
            "shortcut_baseline": shortcut_baseline(parts),
            "seconds": round(time.perf_counter() - t0, 1)}


def _forensic_sha(bundle) -> str | None:
    f = settings(bundle.card)
    return None if f is None else bundle.card["files"].get(f["file"], {}).get("sha256")


def summary(report: dict) -> dict:
    """What the card keeps (`detector.measured`): per detector the headline figures."""
    out: dict[str, Any] = {"date": report["date"], "target_fpr": report["target_fpr"],
                           "names": report.get("names", {})}
    for key, d in report["detectors"].items():
        pairs, fprs = d["pairs"], d["false_positive_rates"]
        m = {"auc_own": pairs.get("own", {}).get("auc"),
             "auc_other_gan": pairs.get("other_gan", {}).get("auc"),
             "accuracy_own": pairs.get("own", {}).get("accuracy"),
             "accuracy_other_gan": pairs.get("other_gan", {}).get("accuracy"),
             "fpr": {n: v["rate"] for n, v in fprs.items()},
             "robustness_drop": {k: {p: v[p]["drop"] for p in ROBUST_PAIRS if p in v}
                                 for k, v in d["robustness"].items()}}
        m["targets_met"] = targets_met(report, key)
        out[key] = m
    return out


def best_detector(report: dict) -> str:
    """The detector with the higher worst-case AUC over (a) and (b): the default one."""
    def worst(key):
        pairs = report["detectors"][key]["pairs"]
        aucs = [pairs[k]["auc"] for k in ("own", "other_gan") if pairs.get(k, {}).get("auc") is not None]
        return min(aucs) if aucs else -1.0

    return max(report["detectors"], key=lambda k: (worst(k), k == "forensic"))


def targets_met(report: dict, key: str) -> dict[str, bool | None]:
    d = report["detectors"][key]
    own = d["pairs"].get("own", {}).get("auc")
    other = d["pairs"].get("other_gan", {}).get("auc")
    fprs = [v for n, v in d["false_positive_rates"].items() if n != "real_test"]
    return {"own_auc": None if own is None else bool(own >= TARGETS["own_auc"]),
            "other_gan_auc": None if other is None else bool(other >= TARGETS["other_gan_auc"]),
            "other_real_fpr": None if not fprs else all(v["within_target"] for v in fprs)}


def write_report(bundle_path, report: dict, write_card: bool = True) -> Path:
    """Figures and report.json into `<bundle>/detection/report/` (replaced as a whole), and the
    summary into the card."""
    bundle_path = Path(bundle_path)
    out_dir = bundle_path / REPORT_DIR
    files = {FIGURES["roc"]: figures.roc_chart(report),
             FIGURES["reliability"]: figures.reliability_chart(report),
             FIGURES["fpr"]: figures.fpr_chart(report)}
    if any(d["robustness"] for d in report["detectors"].values()):
        files[FIGURES["robustness"]] = figures.robustness_chart(report)
    report["figures"] = {k: v for k, v in FIGURES.items() if v in files}
    with staged_dir(out_dir) as staging:
        write_files(staging, files)
        atomic_write_text(staging / "report.json", json.dumps(report, indent=1, default=str) + "\n")
    if write_card:
        update_card(bundle_path, detector={"measured": summary(report),
                                           "default": best_detector(report),
                                           "report": {"dir": os.path.relpath(out_dir, bundle_path),
                                                      "report": "report.json"}})
    return out_dir


def text_summary(report: dict) -> str:
    """The report in a few lines for the terminal."""
    names = {"real_test": "held-out training-source photos", "other_real_test": "other set's real",
             "unseen_real_test": "unseen source"}
    lines = [f"{report['model']}: detectors measured on held-out photos "
             f"(target false-positive rate {report['target_fpr']:.0%})"]
    for key, d in report["detectors"].items():
        pairs = d["pairs"]
        lines.append(f"- {d['title']} (threshold p >= {d['threshold']:.3f}):")
        for pk, label in (("own", "(a) own faces"), ("other_gan", "(b) other GAN")):
            if pk in pairs:
                q = pairs[pk]
                lines.append(f"    {label}: AUC {q['auc']:.4f}, accuracy {q['accuracy']:.3f} "
                             f"(caught {q['tpr']:.1%}, false alarms {q['fpr']:.1%}; "
                             f"{q['n_generated']} vs {q['n_real']})")
        f = d["false_positive_rates"]
        if f:
            lines.append("    real photos flagged: " + ", ".join(
                f"{names.get(n, n)} {v['rate']:.1%} ({v['flagged']}/{v['n']})" for n, v in f.items()))
        for kind, r in d["robustness"].items():
            change = ", ".join(f"{v:.1f}" for v in r.get("pixel_change", {}).values()
                               if v is not None)
            lines.append(f"    {kind} (mean pixel change {change}): " + ", ".join(
                f"{p} AUC {v['auc']:.3f} (drop {v['drop']:+.3f})"
                for p, v in r.items() if p in ROBUST_PAIRS))
    base = report.get("shortcut_baseline")
    if base:
        lines.append("shortcut baseline (8x8 thumbnails): " + ", ".join(
            f"{k} {v:.3f}" for k, v in base["auc"].items()))
    return "\n".join(lines)
