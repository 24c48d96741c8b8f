"""What the measurement leaves behind: `<bundle>/attributes/` (report.json, pairs.jpg,
directions.json), the card's summary, and the lines printed in the terminal."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gan.io import atomic_write_text, staged_dir, write_files
from gan.metrics.figures import _jpeg, _plt
from gan.sliders.directions import DIRECTIONS_FILE
from gan.sliders.semantics import DEFAULT_REACH, TARGET, ends

REPORT_FORMAT = "facegan-attributes/1"
OUT_DIR = "attributes"
PAIRS_SHOWN = 10


def setting_name(step: dict) -> str:
    """A measured setting in words: its label values and its z shift."""
    parts = []
    if step.get("reach") is not None:
        parts.append(f"labels {step['low_label']:g}/{step['high_label']:g}")
    if step.get("strength"):
        parts.append(f"z -/+{step['strength']:g} along the direction")
    return " + ".join(parts) or "nothing"


def pairs_figure(step: dict, names: list[str], title: str) -> bytes:
    """Per attribute, the first faces (not picked) at the low end above the high end, each
    with the classifier's P(attribute); green = flipped and re-identified."""
    plt = _plt()
    k = len(step["attributes"][names[0]]["_faces"][0])
    fig, axes = plt.subplots(2 * len(names), k, figsize=(1.3 * k, 2.9 * len(names)), squeeze=False)
    for a, name in enumerate(names):
        lo, hi, p_lo, p_hi, reid = step["attributes"][name]["_faces"]
        low_word, high_word = ends(name)
        for i in range(k):
            ok = p_lo[i] < 0.5 <= p_hi[i] and reid[i]
            for row, img, p in ((2 * a, lo[i], p_lo[i]), (2 * a + 1, hi[i], p_hi[i])):
                ax = axes[row, i]
                ax.imshow(img)
                ax.set_xticks([]), ax.set_yticks([])
                ax.set_title(f"{p:.2f}", fontsize=8, color="#1b9e77" if ok else "#d95f02")
                for sp in ax.spines.values():
                    sp.set_color("#1b9e77" if ok else "#d95f02")
                    sp.set_linewidth(2)
        axes[2 * a, 0].set_ylabel(f"{low_word}\n(slider -1)", fontsize=8)
        axes[2 * a + 1, 0].set_ylabel(f"{high_word}\n(slider +1)", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _jpeg(fig)


def rounded(x: Any, digits: int = 4) -> Any:
    """JSON-ready figures: floats to `digits` significant digits, private (`_`) keys dropped."""
    if isinstance(x, float):
        return float(f"{x:.{digits}g}")
    if isinstance(x, dict):
        return {k: rounded(v, digits) for k, v in x.items() if not k.startswith("_")}
    if isinstance(x, list):
        return [rounded(v, digits) for v in x]
    return x


def card_metrics(report: dict) -> dict:
    """Flat figures for the card's `metrics.attributes` (the app lists them one level deep)."""
    ch = report["chosen"]
    m: dict[str, Any] = {"slider": ch["setting"]}
    for name, acc in report["classifier"]["heldout_accuracy"].items():
        m[f"classifier_accuracy_{name}"] = acc
    for name, a in report["attributes"].items():
        m[f"{name}_flip_rate"] = a["flip_rate"]
        m[f"{name}_reidentified_rate"] = a["reidentified_rate"]
        m[f"{name}_success_rate"] = a["success_rate"]
    m["target"] = TARGET
    m["seeds"] = report["seeds"]
    m["date"] = report["date"]
    return rounded(m)


def card_attributes(report: dict, out_dir: Path, bundle_path: Path) -> dict:
    """The card's `attributes` section: the setting the app's sliders use, and where its
    files are (relative to the bundle when inside it)."""
    rel = os.path.relpath(out_dir, bundle_path)
    rel = rel if not rel.startswith("..") else str(out_dir.resolve())
    chosen = report["chosen"]
    return {"slider_reach": chosen["reach"] or DEFAULT_REACH,
            "direction_strength": chosen["strength"],
            "directions": f"{rel}/{DIRECTIONS_FILE}" if chosen["strength"] else None,
            "names": list(report["attributes"]), "dir": rel, "report": "report.json"}


def write(out_dir: Path, report: dict, files: dict[str, bytes], classifier=None) -> None:
    """Replace `out_dir` as a whole with the report and its files; `classifier` (the judge
    when it is cached nowhere else) is saved beside them."""
    with staged_dir(out_dir) as staging:
        write_files(staging, files)
        if classifier is not None:
            classifier.save(staging / "classifier.keras")
        atomic_write_text(staging / "report.json", json.dumps(report, indent=2, default=str) + "\n")


def summary(report: dict) -> str:
    """The report in a few lines for the terminal."""
    c = report["classifier"]
    lines = [f"{report['model']}: {report['seeds']} seeds; sliders: {report['chosen']['setting']} "
             f"({report['chosen']['why']})",
             "attribute classifier, accuracy on held-out real photos: "
             + ", ".join(f"{k} {v:.1%}" for k, v in c["heldout_accuracy"].items())
             + f" ({c['heldout']} photos; trained on {c['trained_on']})"]
    for name, a in report["attributes"].items():
        lines.append(f"{name}: verdict flips {a['flip_rate']:.1%}, same face re-identified "
                     f"{a['reidentified_rate']:.1%}, both {a['success_rate']:.1%} "
                     f"({'meets' if a['meets_target'] else 'misses'} the {TARGET:.0%} target); "
                     f"mean P {a['mean_p_low']:.2f} -> {a['mean_p_high']:.2f}")
    lines.append("every setting measured:")
    for s in report["sweep"]:
        lines.append(f"  {setting_name(s)}: " + "; ".join(
            f"{k} flips {a['flip_rate']:.0%} / re-id {a['reidentified_rate']:.0%} / both "
            f"{a['success_rate']:.0%}" for k, a in s["attributes"].items()))
    return "\n".join(lines)
