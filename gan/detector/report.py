"""The detection report: the left-out table, robustness curves and false alarms per group.

Every figure here comes from a detector that never saw the photo's source (`gan.detector.loso`):

- the leave-one-source-out table of every detector (from the fit);
- robustness: each source's photos re-saved as JPEG at quality 30-100, resized so the longer
  side is 64-512 px, cropped by 10%, PNG re-saved as JPEG; each scored by the detector fitted
  without that source: AUC (left-out real against left-out generated), the share of real photos
  called generated, the catch rate, and how often a real photo not called generated as it was
  becomes "generated" after the change (the target is at most 2%);
- groups: the share of real photos called generated per UTKFace race, gender and age band, and
  per All-Age-Faces age band and gender (no group may go over the stated rate), on the half of
  each group's photos the rule was not chosen on (`gan.detector.groups`).

Writes `detection/report/report.json` and figures; `text_summary` is the CLI's printout.
"""
from __future__ import annotations

import datetime as _dt
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from gan.detector import calibrate, dfeatures, figures, forensic, groups, learned, panel, variants
from gan.data.preprocess import open_image
from gan.detector.verdict import GENERATED, UNSURE
from gan.io import staged_dir

REPORT_FORMAT = "facegan-detection/2"
REPORT_DIR = "detection/report"
FIGURES = {"left_out": "left_out.png", "robustness": "robustness.png", "groups": "groups.png"}
ROBUSTNESS_PER_SOURCE = 40
DETECTORS = (panel.KEY, dfeatures.KEY, learned.KEY, "forensic", "discriminator")     # in the order reports show them
REFLIP_TARGET = 0.02
JPEG_QUALITIES = (30, 50, 70, 90, 100)
LONG_SIDES = (64, 128, 256, 512)
PERTURBATIONS = ([("as is", None)] + [(f"JPEG q{q}", ("jpeg", q)) for q in JPEG_QUALITIES]
                 + [(f"long side {s} px", ("side", s)) for s in LONG_SIDES]
                 + [("crop 10%", ("crop", 0.1)), ("PNG to JPEG q90", ("png_jpeg", 90))])


def perturbed(img: Image.Image, how) -> Image.Image | None:
    """The photo changed as `how` says; None where the change does not apply (PNG to JPEG of a
    photo that was not a PNG)."""
    if how is None:
        return img
    kind, v = how
    if kind == "jpeg":
        return variants.jpeg(img, v)
    if kind == "side":
        return variants.resized(img, v / max(img.size))[0]
    if kind == "crop":
        w, h = img.size
        dx, dy = int(w * v / 2), int(h * v / 2)
        return img.crop((dx, dy, w - dx, h - dy))
    if kind == "png_jpeg":
        return variants.jpeg(img, v) if getattr(img, "format_was", None) == "PNG" else None
    raise ValueError(how)


VIEWERS = {"forensic": forensic, dfeatures.KEY: dfeatures,   # key -> module with photo_views
           learned.KEY: dfeatures, panel.KEY: panel}


def _views_of(file: str, key: str, size: int, crop: str = "face") -> list:
    """What detector `key` scores of one photo under every perturbation (None where not
    applicable or no face); the panel's views need the bundle's `crop` too."""
    module = VIEWERS[key]
    with Image.open(file) as raw:
        fmt = raw.format
    img = open_image(file, draft_side=module.DRAFT_SIDE)     # as an upload is opened
    img.format_was = fmt
    out = []
    for _, how in PERTURBATIONS:
        changed = perturbed(img, how)
        views = (None if changed is None else module.photo_views(changed, size, crop)
                 if module is panel else module.photo_views(changed, size))
        out.append(None if views is None or not views[2] else views[1])
    return out


# The panel's views hold, as member 0, the landmark-aligned faces `learned` and `dfeatures`
# read (the same finders and re-encodings: checked pixel for pixel on every perturbation),
# so the report makes them once: robustness() keeps them in `aligned` for the next detector.
ALIGNED_FROM_PANEL = (learned.KEY, dfeatures.KEY)


def _rows_of(files, key: str, size: int, crop: str, jobs: int, aligned: dict | None) -> list:
    """_views_of for every file; the aligned faces the panel's views already hold (`aligned`,
    file -> views per perturbation) are taken from there, and a panel's are kept there."""
    from joblib import Parallel, delayed

    reuse = aligned is not None and key in ALIGNED_FROM_PANEL
    todo = [f for f in files if not (reuse and f in aligned)]
    made = dict(zip(todo, Parallel(n_jobs=jobs, batch_size=4)(
        delayed(_views_of)(f, key, size, crop) for f in todo)))
    if aligned is not None and key == panel.KEY:
        for f, row in made.items():
            aligned[f] = [None if v is None else np.ascontiguousarray(v[:, 0]) for v in row]
    return [made[f] if f in made else aligned[f] for f in files]


def robustness(measured, per_source: int, key: str = "forensic", bundle=None, jobs: int = 2,
               log=lambda m: None, aligned: dict | None = None) -> dict:
    """The curves (see the module docstring) of a fitted detector (`key`: forensic, learned,
    or dfeatures with its `bundle`, whose discriminator turns the views into features).
    `aligned`: a dict shared by one report's detectors (see ALIGNED_FROM_PANEL)."""
    size = bundle.resolution if bundle is not None else 128
    per = {}
    for lo in measured.left:
        files = lo.files[:per_source]
        log(f"robustness ({key}): {lo.name} ({len(files)} photos x {len(PERTURBATIONS)} changes)")
        crop = bundle.crop if bundle is not None else "face"
        rows = _rows_of(files, key, size, crop, jobs, aligned)
        if key == dfeatures.KEY:
            rows = [[None if v is None else dfeatures.features(bundle, v) for v in r] for r in rows]
        per[lo.name] = (lo, rows)
    curves = []
    base = {}
    for j, (label, how) in enumerate(PERTURBATIONS):
        real_p, gen_p, fa, catch, unsure, reflip, applies = [], [], [0, 0], [0, 0], [0, 0], [0, 0], 0
        for name, (lo, rows) in per.items():
            feats = [(i, r[j]) for i, r in enumerate(rows) if r[j] is not None]
            if not feats:
                continue
            applies += len(feats)
            V = np.stack([f for _, f in feats])
            n, k = V.shape[:2]
            p_all = lo.fitted.p(V.reshape(n * k, -1)).reshape(n, k)
            odd = lo.fitted.ood.unfamiliar(V[:, 0]) if lo.fitted.ood else None
            v, _ = measured.rule.decide_many(p_all[:, 0], p_all[:, 1:], odd)
            idx = [i for i, _ in feats]
            if j == 0:
                base[name] = dict(zip(idx, v))
            is_gen = v == GENERATED
            if lo.kind == "real":
                real_p.append(p_all[:, 0])
                fa[0] += int(is_gen.sum()); fa[1] += n
                before = base.get(name, {})
                was_not = np.array([before.get(i, GENERATED) != GENERATED for i in idx])
                reflip[0] += int((is_gen & was_not).sum()); reflip[1] += int(was_not.sum())
            else:
                gen_p.append(p_all[:, 0])
                catch[0] += int(is_gen.sum()); catch[1] += n
            unsure[0] += int((v == UNSURE).sum()); unsure[1] += n
        rp = np.concatenate(real_p) if real_p else np.zeros(0)
        gp = np.concatenate(gen_p) if gen_p else np.zeros(0)
        curves.append({
            "change": label, "photos": applies,
            "auc": calibrate.roc_auc(np.r_[np.zeros(len(rp)), np.ones(len(gp))], np.r_[rp, gp])
            if len(rp) and len(gp) else None,
            "real_called_generated": fa[0] / fa[1] if fa[1] else None,
            "generated_caught": catch[0] / catch[1] if catch[1] else None,
            "unsure_share": unsure[0] / unsure[1] if unsure[1] else None,
            "real_flipped_to_generated": reflip[0] / reflip[1] if reflip[1] and j else None,
            "counts": {"real": fa[1], "generated": catch[1]}})
    worst = max((c["real_flipped_to_generated"] or 0.0) for c in curves)
    return {"per_source": per_source, "curves": curves, "worst_reflip": worst,
            "reflip_target": REFLIP_TARGET, "reflip_met": worst <= REFLIP_TARGET}


# --------------------------------------------------------------------------- the report


def measure(fitted, robustness_per_source: int = ROBUSTNESS_PER_SOURCE, jobs: int = 2,
            log=lambda m: None, bundle=None, group_photos: int = 0,
            describers: dict | None = None, group_half: str | None = groups.CHECK) -> dict:
    """The report. `group_photos` > 0 with `describers` ({detector: files -> Described}):
    false alarms per group on up to that many photos a group, not only those of the fit's
    sample: of `group_half` (the half the rule was not chosen on; None: either, for rules
    chosen on sources alone)."""
    section = fitted.card
    rate = section["target_fpr"]
    rep = {"format": REPORT_FORMAT,
           "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "target_fpr": rate, "confidence": section["confidence"], "sources": section["sources"],
           "default": section.get("default"),
           "threshold_rule": section["threshold_rule"], "figures": dict(FIGURES), "detectors": {}}
    aligned: dict = {}
    for key in DETECTORS:
        if key not in fitted.measured:
            continue
        m = fitted.measured[key]
        check = None
        if group_photos > 0 and describers and key in describers:
            check = groups.score(m.left, fitted.sets[key], group_photos, describers[key],
                                 group_half, log)
        rep["detectors"][key] = {"rule": m.rule.to_card(), "left_out": section[key]["left_out"],
                                 "groups": groups.by_group(m, rate, section["confidence"], check)}
        if check is not None:
            rep["detectors"][key]["group_photos"] = group_photos
            if group_half is not None:
                rep["detectors"][key]["group_half"] = group_half
        if robustness_per_source > 0 and key in VIEWERS and (key != dfeatures.KEY or bundle is not None):
            rep["detectors"][key]["robustness"] = robustness(
                m, robustness_per_source, key, bundle, jobs, log, aligned)
    return rep


def write_report(bundle_path, rep: dict) -> Path:
    out = Path(bundle_path) / REPORT_DIR
    with staged_dir(out) as tmp:
        (tmp / "report.json").write_text(json.dumps(rep, indent=1, default=float))
        for key, name in FIGURES.items():
            png = getattr(figures, key)(rep)
            if png is not None:
                (tmp / name).write_bytes(png)
    return out


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def text_summary(section: dict) -> str:
    """The left-out tables of every detector, in plain text."""
    lines = [f"Leave-one-source-out (each source scored by a detector fitted without it); "
             f"stated rate {section['target_fpr']:.0%} (95% upper bound)"]
    for key in DETECTORS:
        if key not in section:
            continue
        lo = section[key]["left_out"]
        r = section[key]["rule"]
        lines.append(f"\n{key}: generated at {'rank' if key == panel.KEY else 'P'} >= "
                     f"{r['generated_at']:.4f}, real below "
                     f"{r['real_below']:.4f}. Worst real source: {lo['worst_real_source']} "
                     f"{_pct(lo['worst_real_generated_share'])} called generated (upper bound "
                     f"{_pct(lo['worst_real_upper95'])}); chosen without its own scores: "
                     f"{lo['worst_nested_source']} {_pct(lo['worst_nested_generated_share'])}")
        lines.append(f"  {'source':22s} {'kind':9s} {'scored':>6s} {'no face':>7s} {'small':>5s} "
                     f"{'generated':>9s} {'unsure':>7s} {'real':>6s} {'AUC':>6s} {'8x8 ctrl':>8s}")
        for row in lo["rows"]:
            n = max(row["scored"], 1)
            auc = row.get("auc_vs_real")
            ctrl = row.get("thumbnail_auc_vs_real", row.get("thumbnail_generated_share"))
            lines.append(f"  {row['source']:22s} {row['kind']:9s} {row['scored']:6d} "
                         f"{row['no_face']:7d} {row.get('too_small', 0):5d} "
                         f"{_pct(row['generated'] / n):>9s} "
                         f"{_pct(row['unsure'] / n):>7s} {_pct(row['real'] / n):>6s} "
                         f"{'-' if auc is None else f'{auc:.3f}':>6s} "
                         f"{'-' if ctrl is None else f'{ctrl:.3f}':>8s}")
    return "\n".join(lines)
