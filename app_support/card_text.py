"""A bundle's model card (`model.json`) in plain words, for the home page.

Pure functions over the card dict so they are tested without Streamlit. Unknown fields are
left to the raw card the page shows on request; nothing here guesses a value that is absent.
"""
from __future__ import annotations

from typing import Any

_METRIC_HELP = {
    "classifier_accuracy": "attribute classifier (the sliders' judge) on held-out real photos",
    "flip_rate": "share of faces whose attribute verdict flips when its slider goes end to end",
    "reidentified_rate": "share of slider-edited faces still nearest to their own original",
    "success_rate": "share of faces that flip and stay recognisably the same (target 80%)",
    "swd": "sliced Wasserstein distance to real photos (lower is better)",
    "fid": "Fréchet Inception distance to real photos (lower is better)",
    "kid": "kernel Inception distance to real photos (lower is better)",
    "ms_ssim": "MS-SSIM between generated faces: a diversity check (lower means more varied)",
    "msssim": "MS-SSIM between generated faces: a diversity check (lower means more varied)",
    "auc": "detector ROC AUC on held-out real vs generated faces (1.0 is perfect, 0.5 is chance)",
    "accuracy": "share of faces the detector labels correctly at its threshold",
}


def duration(seconds: float) -> str:
    """3725 -> '1 h 2 min'; 95 -> '1 min 35 s'."""
    s = int(round(float(seconds)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h} h {m} min"
    if m:
        return f"{m} min {sec} s"
    return f"{sec} s"


def _num(x: Any) -> str:
    try:
        return f"{int(x):,}"
    except (TypeError, ValueError):
        return str(x)


def describe(card: dict[str, Any]) -> list[str]:
    """Markdown sentences, one per aspect a visitor asks about, in reading order."""
    cfg = card.get("config", {})
    pre = card.get("preprocessing", {})
    size = pre.get("size", cfg.get("resolution", "?"))
    crop = pre.get("crop", cfg.get("crop", "?"))
    lines = [f"**Makes** {size}×{size} colour faces from a seed (random numbers), with a DCGAN "
             f"whose code for one face is {cfg.get('latent_dim', '?')} numbers."]

    data = card.get("data", {}) or {}
    src = str(data.get("source") or "an unnamed data set")
    if "/" in src:                      # a path on the training machine: its last part says enough
        src = f"`{src.rstrip('/').rsplit('/', 1)[-1]}`"
    n = data.get("train_images") or data.get("images")
    held = (data.get("holdout") or {}).get("images") if isinstance(data.get("holdout"), dict) else None
    crop_words = {"face": "cropped around the face", "center": "centre-cropped",
                  "none": "resized whole"}.get(crop, f"crop '{crop}'")
    text = f"**Trained on** {src}"
    if n:
        text += f": {_num(n)} photos"
    if held:
        text += f" ({_num(held)} more kept aside, never trained on)"
    lines.append(text + f", each {crop_words} to {size}×{size}. Uploads on the Detect page "
                        f"are prepared the same way.")

    tr = card.get("training", {}) or {}
    steps = int(tr.get("steps", 0) or 0)
    if steps == 0:
        lines.append("**Training:** none yet (0 steps). This model is untrained, so its "
                     "\"faces\" are noise and its detector scores mean nothing.")
    else:
        text = f"**Training:** {_num(steps)} steps"
        if tr.get("images_seen"):
            text += f" ({_num(tr['images_seen'])} images seen)"
        if tr.get("seconds"):
            text += f" in {duration(tr['seconds'])} of computing time"
        if tr.get("cpu_seconds"):
            since = tr.get("cpu_counted_from_step")
            text += (f" ({duration(tr['cpu_seconds'])} of CPU time"
                     + (f" counted from step {_num(int(since))} on" if since else "") + ")")
        base = tr.get("init_from") or {}
        if base:
            text += (f", continuing from a model already trained for {_num(int(base.get('steps', 0)))} "
                     f"steps ({_num(int(tr.get('total_steps', steps)))} steps"
                     + (f", {duration(tr['total_seconds'])}" if tr.get("total_seconds") else "")
                     + " in all)")
        lines.append(text + ".")

    names = (card.get("labels") or {}).get("names") or []
    if names:
        lines.append("**You can choose:** " + ", ".join(f"`{x}`" for x in names)
                     + " (a conditional model).")
    else:
        lines.append("**You cannot choose attributes:** the model was trained without labels.")

    if card.get("notes"):
        lines.append(f"**Notes:** {card['notes']}")
    if card.get("created"):
        lines.append(f"**Exported:** {str(card['created'])[:10]}.")
    return lines


_QUALITY_FIRST = ("swd", "ms_ssim", "memorisation", "fid", "kid")


def _rank(name: str) -> tuple[int, str]:
    """Image-quality metrics first (what a visitor asks about), then the rest alphabetically."""
    return next((i for i, f in enumerate(_QUALITY_FIRST) if name.startswith(f)),
                len(_QUALITY_FIRST)), name


def metric_rows(card: dict[str, Any]) -> list[dict[str, str]]:
    """[{metric, value, meaning}] for every number in card['metrics'] (flattened one level)."""
    rows = []
    for name, value in sorted((card.get("metrics") or {}).items(), key=lambda kv: _rank(kv[0])):
        items = value.items() if isinstance(value, dict) else [("", value)]
        for sub, v in items:
            key = f"{name}.{sub}" if sub else name
            if isinstance(v, float):
                v = f"{v:.4g}"
            help_ = next((h for k, h in _METRIC_HELP.items() if k in key.lower()), "")
            rows.append({"metric": key, "value": str(v), "meaning": help_})
    return rows
