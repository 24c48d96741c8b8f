"""The detection report's PNG figures (matplotlib, Agg), each readable without the report beside.

(a) is the bundle's own generator against held-out real photos of its training source, (b) the
other GAN's held-out faces against held-out real portraits. Every function takes the report
dict and returns PNG bytes.
"""
from __future__ import annotations

import numpy as np

from gan.metrics.figures import _plt, _png

COLOURS = {"forensic": "#d95f02", "discriminator": "#7570b3"}
SHORT = {"forensic": "forensic detector", "discriminator": "discriminator"}
PANELS = [("own", "(a) our generator's faces vs held-out real photos"),
          ("other_gan", "(b) another GAN's faces vs real portraits")]
REAL_NAMES = {"real_test": "held-out photos of\nthe training source",
              "other_real_test": "real portraits of\nthe other GAN's set",
              "unseen_real_test": "photos of a source\nnever used in fitting"}


def _panel_axes(report, height: float = 4.4):
    """A figure with one panel per test pairing the report measured: (fig, [(ax, key, title)])."""
    panels = [(k, t) for k, t in PANELS
              if any(k in d["pairs"] for d in report["detectors"].values())]
    n = max(1, len(panels))
    fig, axes = _plt().subplots(1, n, figsize=(5.2 * n, height), squeeze=False)
    return fig, [(ax, k, t) for ax, (k, t) in zip(axes[0], panels)]


def roc_chart(report: dict) -> bytes:
    fig, panels = _panel_axes(report)
    for ax, key, title in panels:
        for det, d in report["detectors"].items():
            if key not in d["pairs"]:
                continue
            p = d["pairs"][key]
            ax.plot(p["roc"]["fpr"], p["roc"]["tpr"], color=COLOURS.get(det, "k"),
                    label=f"{SHORT.get(det, det)}: AUC {p['auc']:.3f}")
            ax.plot([p["fpr"]], [p["tpr"]], "o", color=COLOURS.get(det, "k"), markersize=7,
                    markeredgecolor="black")
        ax.plot([0, 1], [0, 1], ":", color="grey", linewidth=1, label="guessing (AUC 0.5)")
        ax.axvline(report["target_fpr"], color="grey", linewidth=0.8, linestyle="--")
        ax.set_xlim(-0.01, 1.0)
        ax.set_ylim(0.0, 1.01)
        ax.set_xlabel("real photos wrongly flagged (false-positive rate)")
        ax.set_ylabel("generated faces caught (true-positive rate)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("ROC curves on held-out photos (dots: the stored threshold; dashed: the "
                 f"{report['target_fpr']:.0%} target)", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def reliability_chart(report: dict) -> bytes:
    fig, panels = _panel_axes(report)
    for ax, key, title in panels:
        ax.plot([0, 1], [0, 1], ":", color="grey", linewidth=1, label="perfectly calibrated")
        for det, d in report["detectors"].items():
            if key not in d["pairs"]:
                continue
            rel = d["pairs"][key]["reliability"]
            x = [b["mean_p"] for b in rel["bins"]]
            y = [b["observed"] for b in rel["bins"]]
            n = np.array([b["n"] for b in rel["bins"]], float)
            ax.plot(x, y, "-", color=COLOURS.get(det, "k"), linewidth=1)
            ax.scatter(x, y, s=12 + 150 * n / max(1.0, n.max()), color=COLOURS.get(det, "k"),
                       edgecolor="black", linewidth=0.5, zorder=3,
                       label=f"{SHORT.get(det, det)} (calibration error {rel['ece']:.2f})")
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("P(generated) the detector said (bins of 0.1)")
        ax.set_ylabel("share that really was generated")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("Reliability: does P(generated) = 0.8 mean 8 in 10 are generated? (dot size: "
                 "faces in the bin; real and generated weighted equally)", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def robustness_chart(report: dict) -> bytes:
    dets = list(report["detectors"])
    kinds = list(next(iter(report["detectors"].values()))["robustness"])
    labels = ["as is"] + [{"jpeg75": "JPEG q75", "resize0.5": "half size",
                           "crop10": "10% crop"}.get(k, k) for k in kinds]
    fig, panels = _panel_axes(report, height=3.8)
    width = 0.8 / max(1, len(dets))
    for ax, key, title in panels:
        for j, det in enumerate(dets):
            d = report["detectors"][det]
            if key not in d["pairs"]:
                continue
            vals = [d["pairs"][key]["auc"]] + [d["robustness"][k].get(key, {}).get("auc", np.nan)
                                               for k in kinds]
            x = np.arange(len(vals)) + (j - (len(dets) - 1) / 2) * width
            bars = ax.bar(x, vals, width, color=COLOURS.get(det, "k"), label=SHORT.get(det, det))
            ax.bar_label(bars, fmt="%.2f", fontsize=7)
        ax.set_xticks(np.arange(len(labels)), labels)
        ax.set_ylim(0.0, 1.08)
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_ylabel("ROC AUC (1 = perfect, 0.5 = guessing)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8, loc="lower left")
    fig.suptitle("After the photo is changed: every test file re-saved, resized or cropped, "
                 "then prepared again", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def fpr_chart(report: dict) -> bytes:
    plt = _plt()
    dets = list(report["detectors"])
    sources = [n for n in REAL_NAMES
               if any(n in d["false_positive_rates"] for d in report["detectors"].values())]
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.9 * max(1, len(sources))))
    height = 0.8 / max(1, len(dets))
    for j, det in enumerate(dets):
        f = report["detectors"][det]["false_positive_rates"]
        ys, xs, lo, hi = [], [], [], []
        for i, n in enumerate(sources):
            if n in f:
                ys.append(i + (j - (len(dets) - 1) / 2) * height)
                xs.append(100 * f[n]["rate"])
                lo.append(100 * (f[n]["rate"] - f[n]["ci95"][0]))
                hi.append(100 * (f[n]["ci95"][1] - f[n]["rate"]))
        ax.barh(ys, xs, height, xerr=[lo, hi], color=COLOURS.get(det, "k"),
                label=SHORT.get(det, det), error_kw={"elinewidth": 1, "capsize": 2})
        for y, x, h in zip(ys, xs, hi):
            ax.text(x + h + 0.3, y, f"{x:.1f}%", va="center", fontsize=7)
    ax.axvline(100 * report["target_fpr"], color="black", linestyle="--", linewidth=1,
               label=f"target: {report['target_fpr']:.0%}")
    ax.set_yticks(np.arange(len(sources)), [
        f"{REAL_NAMES[n]} (n={report['data'][n]['n']})" for n in sources], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("real photos flagged as generated at the stored threshold (%, 95% interval)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=3)
    ax.set_title("False alarms on real photos the detectors never trained on", fontsize=9)
    fig.tight_layout()
    return _png(fig)
