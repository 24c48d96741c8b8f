"""The detection report in plain words, for the detect page (pure functions, no Streamlit).

Inputs are the card's `detector` section (`measured` holds the summary) and the report dict
(`detection/report/report.json`), so the page and its tests share one wording.
"""
from __future__ import annotations

from typing import Any

DEFAULT_NAMES = {"training": "its training source", "other_gan": "another GAN",
                 "unseen_real": "a source never used in fitting"}


def names_or_defaults(names: dict | None) -> dict:
    return {**DEFAULT_NAMES, **{k: v for k, v in (names or {}).items() if v}}


AUC_WHAT = ("**AUC** (area under the ROC curve): take one generated face and one real photo at "
            "random; the AUC is how often the detector gives the generated one the higher "
            "score. 1.0 is always, 0.5 is guessing.")
THRESHOLD_WHAT = ("**Verdict threshold**: a face is called *generated* when P(generated) is at "
                  "or above it. It was set on real photos kept aside for calibration, so that at "
                  "most {fpr:.0%} of the real photos of each source were wrongly called "
                  "generated (a *false alarm*); the figures below check that on other photos.")
RELIABILITY_WHAT = ("**Reliability**: of all the faces given a P(generated) of 0.8, about 8 "
                    "in 10 should really be generated. The diagram puts the faces into bins by the "
                    "probability the detector said and shows the share that really was generated "
                    "in each bin; points on the diagonal are honest probabilities. The "
                    "probability assumes that half of the faces you check are generated: if "
                    "generated faces are rarer among yours, read it as lower.")
ROBUSTNESS_WHAT = ("**Robustness**: photos are often re-saved, shrunk or cropped before anyone "
                   "checks them, and that can wipe out the traces a detector relies on. Every "
                   "test file was re-saved as JPEG at quality 75, resized to half its size, or "
                   "cropped by 10%, prepared again like an upload and scored again.")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def auc_words(auc: float | None) -> str:
    if auc is None:
        return "not measured"
    if auc >= 0.98:
        return "almost always right"
    if auc >= 0.9:
        return "usually right"
    if auc >= 0.7:
        return "often wrong"
    if auc > 0.55:
        return "barely better than guessing"
    if auc >= 0.45:
        return "no better than guessing"
    return "worse than guessing (it scores these generated faces as *more* real than the photos)"


def headline(key: str, measured: dict[str, Any] | None, target_fpr: float,
             model: str = "NAME", names: dict | None = None) -> str:
    """Two or three sentences on how well one detector measured, or what to run."""
    if not measured:
        return ("It has not been measured on held-out photos yet, so nobody knows how often it "
                f"is right. Measure it with `python -m gan.detector fit --model models/{model}`.")
    n = names_or_defaults(names)
    own, other = measured.get("auc_own"), measured.get("auc_other_gan")
    parts = []
    if own is not None:
        parts.append(f"telling **this model's own faces** from real photos it is "
                     f"{auc_words(own)} (AUC **{own:.3f}**)")
    if other is not None:
        parts.append(f"telling **{n['other_gan']} faces** from real portraits it is "
                     f"{auc_words(other)} (AUC **{other:.3f}**)")
    text = "On photos it never trained on, " + " and ".join(parts) + "." if parts else ""
    fpr = measured.get("fpr") or {}
    if fpr:
        worst = max(fpr.values())
        text += (f" It wrongly calls **{_pct(min(fpr.values()))}–{_pct(worst)}** of real "
                 f"photos generated, depending on where they come from (target: at most "
                 f"{target_fpr:.0%})." if len(fpr) > 1 else
                 f" It wrongly calls **{_pct(worst)}** of real photos generated (target: at most "
                 f"{target_fpr:.0%}).")
    return text.strip()


def fpr_rows(report: dict[str, Any], key: str) -> list[dict[str, str]]:
    """One row per real test source: how many of its photos detector `key` wrongly flagged."""
    n = names_or_defaults(report.get("names"))
    words = {"real_test": f"held-out photos of {n['training']} (never trained on)",
             "other_real_test": f"real portraits of the {n['other_gan']} set (test split)",
             "unseen_real_test": f"photos of {n['unseen_real']} (never used in fitting)"}
    target = report["target_fpr"]
    rows = []
    for name, v in report["detectors"][key].get("false_positive_rates", {}).items():
        lo, hi = v["ci95"]
        rows.append({"real photos": words.get(name, name),
                     "flagged as generated": f"{v['flagged']} of {v['n']} ({_pct(v['rate'])})",
                     "95% range": f"{_pct(lo)} – {_pct(hi)}",
                     f"within {target:.0%}?": "yes" if v["within_target"] else "no"})
    return rows


def pair_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """AUC and accuracy per detector and test pairing, beside the thumbnail-only baseline."""
    n = names_or_defaults(report.get("names"))
    labels = {"own": f"(a) own faces vs held-out {n['training']} photos",
              "other_gan": f"(b) {n['other_gan']} faces vs real portraits of that set",
              "own_as_made": "own faces as the generator made them (not saved and re-read)",
              "other_gan_vs_training_source": f"{n['other_gan']} faces vs held-out "
                                              f"{n['training']} photos",
              "other_gan_vs_unseen_real": f"{n['other_gan']} faces vs {n['unseen_real']} photos",
              "own_vs_unseen_real": f"own faces vs {n['unseen_real']} photos"}
    base = (report.get("shortcut_baseline") or {}).get("auc", {})
    rows = []
    for key, label in labels.items():
        row: dict[str, Any] = {"test": label}
        seen = False
        for det, d in report["detectors"].items():
            q = d["pairs"].get(key)
            if q:
                seen = True
                row[f"{det} AUC"] = q["auc"]
                row[f"{det} accuracy"] = q["accuracy"]
        if seen:
            row["thumbnail-only AUC"] = base.get(key)
            rows.append(row)
    return rows


def robustness_text(report: dict[str, Any], key: str) -> str:
    """The largest AUC drop over the changes, and the worst false-alarm rate after a change
    when it exceeds the target, in two sentences."""
    d = report["detectors"][key]
    n = names_or_defaults(report.get("names"))
    what = {"jpeg75": "JPEG at quality 75", "resize0.5": "resizing to half size",
            "crop10": "a 10% crop"}
    on = {"own": "this model's own faces", "other_gan": f"{n['other_gan']} faces"}
    real_of = {"own": f"held-out {n['training']} photos",
               "other_gan": f"real portraits of the {n['other_gan']} set"}
    worst = worst_fpr = None
    for kind, r in d.get("robustness", {}).items():
        for pair, v in r.items():
            if not isinstance(v, dict) or v.get("drop") is None:
                continue
            if worst is None or v["drop"] > worst[2]:
                worst = (kind, pair, v["drop"], v["auc"])
            if worst_fpr is None or v["fpr"] > worst_fpr[2]:
                worst_fpr = (kind, pair, v["fpr"])
    if worst is None:
        return "Robustness was not measured."
    kind, pair, drop, auc = worst
    if drop <= 0.02:
        text = (f"The ranking hardly changes: the largest AUC drop is {drop:.3f} "
                f"({what.get(kind, kind)}, on {on.get(pair, pair)}).")
    else:
        text = (f"The largest AUC drop is **{drop:.3f}** ({what.get(kind, kind)}, on "
                f"{on.get(pair, pair)}: AUC {auc:.3f} after it), so expect more mistakes on "
                f"re-saved, resized or cropped photos.")
    target = report.get("target_fpr", 0.05)
    kind, pair, fpr = worst_fpr
    clean = (d["false_positive_rates"].get({"own": "real_test", "other_gan": "other_real_test"}
                                           .get(pair, ""), {}) or {}).get("rate")
    if fpr > target:
        text += (f" But at the stored threshold, after {what.get(kind, kind)} it wrongly calls "
                 f"**{_pct(fpr)}** of the {real_of.get(pair, pair)} generated"
                 + (f" (against {_pct(clean)} as they were)" if clean is not None else "")
                 + f", more than the {target:.0%} the threshold was set for: the threshold was "
                   f"chosen on unchanged photos.")
    return text


def robustness_rows(report: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """Per change and test: AUC, its drop, and the verdicts at the stored threshold."""
    d = report["detectors"][key]
    n = names_or_defaults(report.get("names"))
    tests = {"own": "(a) own faces", "other_gan": f"(b) {n['other_gan']}"}
    changes = {"jpeg75": "JPEG quality 75", "resize0.5": "half size", "crop10": "10% crop"}
    rows = []
    for pair, label in tests.items():
        q = d["pairs"].get(pair)
        if not q:
            continue
        rows.append({"test": label, "photos": "as they are", "AUC": q["auc"], "AUC drop": 0.0,
                     "generated caught": _pct(q["tpr"]), "real wrongly flagged": _pct(q["fpr"])})
        for kind, r in d.get("robustness", {}).items():
            v = r.get(pair)
            if isinstance(v, dict):
                rows.append({"test": label, "photos": changes.get(kind, kind), "AUC": v["auc"],
                             "AUC drop": v["drop"], "generated caught": _pct(v["tpr"]),
                             "real wrongly flagged": _pct(v["fpr"])})
    return rows


def shortcut_text(report: dict[str, Any]) -> str | None:
    """The shortcut-baseline caveat, when the report has one."""
    base = (report.get("shortcut_baseline") or {}).get("auc", {})
    if not base:
        return None
    n = names_or_defaults(report.get("names"))
    bits = []
    if base.get("own") is not None:
        bits.append(f"{base['own']:.2f} on this model's own faces")
    if base.get("other_gan") is not None:
        bits.append(f"{base['other_gan']:.2f} on the {n['other_gan']} test set")
    cross = [v for k, v in base.items() if k.startswith("other_gan_vs") and v is not None]
    text = ("**A caveat about these figures.** A deliberately naive classifier that sees only "
            "an 8×8-pixel thumbnail of each face (its layout and colours, none of the fine "
            "detail a generator leaves) reaches an AUC of " + " and ".join(bits) + ". So these "
            "test sets differ in framing, lighting and colour as much as in anything a "
            "generator leaves behind, and a detector can score well on them by noticing that "
            "alone. ")
    if cross:
        text += (f"Pairing {n['other_gan']} faces with real photos of other sources does not "
                 f"remove this (the thumbnail classifier still reaches "
                 f"{min(cross):.2f}–{max(cross):.2f} there). ")
    return text + ("The figures show the detectors work on these collections; a generated face "
                   "that is framed, lit and coloured like an ordinary photo is harder than they "
                   "suggest.")


CANNOT_TELL = """\
- It judges one {res}×{res} crop of the face. It cannot tell whether a photo was edited,
  retouched, filtered or swapped, and it has only seen faces of **this model's generator** and
  (the forensic detector) of **{other_gan}**: faces from other generators (diffusion models,
  newer GANs, phone "beauty" filters) were never measured and may well pass as real.
- Real photos unlike any it was calibrated on (children, very dark or bright photos, drawings,
  heavy compression) can be flagged more often than the rate stated here.
- A probability is not proof. Treat a verdict as a hint worth checking, never as evidence
  about a person.
"""
