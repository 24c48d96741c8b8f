"""A bundle's model card (`model.json`) in plain words, for the home page.

Pure functions over the card dict so they are tested without Streamlit. What a visitor reads
first (`describe`, `quality_rows`) uses words, never the card's keys or training flags; the
card's own figures with their keys (`metric_rows`) are reference material, shown one click
away. Nothing here guesses a value that is absent.
"""
from __future__ import annotations

import math
from typing import Any

from gan.metrics import explain, swd
from gan.sliders import semantics

# Meanings of the card's stored figures (metric_rows), most specific pattern first: the first
# pattern found in "section.key" wins.
_METRIC_HELP = [
    ("classifier_accuracy", "attribute classifier (the sliders' judge) on held-out real photos"),
    ("flip_rate", "share of faces whose attribute verdict flips when its slider goes end to end"),
    ("reidentified_rate", "share of slider-edited faces still nearest to their own original"),
    ("success_rate", "share of faces that flip and stay recognisably the same (target 80%)"),
    ("attributes.seeds", "how many faces (seeds) the slider measurement used"),
    ("attributes.slider", "how the app moves the sliders (label values or a latent direction)"),
    ("attributes.target", "the share of faces a slider must flip and keep recognisable"),
    ("attributes.date", "when the sliders were measured"),
    ("swd", "sliced Wasserstein distance to real photos, x1000 (lower is better)"),
    ("fid", "Fréchet Inception distance to real photos (lower is better)"),
    ("kid", "kernel Inception distance to real photos (lower is better)"),
    ("ms_ssim.real", "MS-SSIM between pairs of real photos: how alike two real people "
                     "typically are (the yardstick for the generated pairs)"),
    ("ms_ssim.mode_collapse", "yes/no: are the generated faces clearly more alike than real "
                              "photos (more than 10%), a sign the model repeats itself?"),
    ("ms_ssim", "MS-SSIM between generated faces: a diversity check (lower means more varied)"),
    ("msssim", "MS-SSIM between generated faces: a diversity check (lower means more varied)"),
    ("memorisation.flag", "yes/no: do many generated faces look like copies of training photos?"),
    ("memorisation.fraction_closer", "share of generated faces closer to one training photo than "
                                     "99% of new real photos come to any (about 1% or less is "
                                     "normal)"),
    ("memorisation.median_ratio", "typical distance of a generated face to its nearest training "
                                  "photo, divided by that of a new real photo (about 1 or more: "
                                  "no copying)"),
    ("memorisation.skipped", "why the copying check was not run"),
    ("evaluated.date", "when the figures above were measured"),
    ("evaluated.generated_images", "how many generated faces were measured"),
    ("evaluated.real_images", "how many real photos they were compared with"),
    ("evaluated.real_set", "which real photos (never trained on)"),
    ("evaluated.seconds", "how long the measurement took, in seconds"),
    ("auc", "detector ROC AUC on held-out real vs generated faces (1.0 is perfect, 0.5 is chance)"),
    ("accuracy", "share of faces the detector labels correctly at its threshold"),
]
# SWD of 128-px real photos against other real photos, and of the same photos blurred.
(_, _SWD_REAL), (_, _SWD_BLURRED) = swd.REFERENCES[:2]


def duration(seconds: float) -> str:
    """A time in words, rounded to its last unit shown (an hour or more to the nearest minute,
    less to the nearest second): cutting off would make 11 h 32.8 min read as 11 h 32 min."""
    s = int(round(float(seconds)))
    if s >= 3600:
        h, m = divmod(int(round(float(seconds) / 60)), 60)
        return f"{h} h {m} min"
    m, sec = divmod(s, 60)
    if m:
        return f"{m} min {sec} s"
    return f"{sec} s"


def _num(x: Any) -> str:
    try:
        return f"{int(x):,}"
    except (TypeError, ValueError):
        return str(x)


def _number(x: Any) -> float | None:
    """x as a finite float, or None (cards are hand-editable: never trust a type)."""
    if isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def total_steps(card: dict[str, Any]) -> int:
    """Training steps in all: a fine-tuned model counts the steps of the model it started
    from too (the card's `steps` are the last stage's only)."""
    tr = card.get("training") or {}
    steps = int(_number(tr.get("steps")) or 0)
    total = _number(tr.get("total_steps"))
    if total is not None:
        return int(total)
    base = _number((tr.get("init_from") or {}).get("steps")) if isinstance(tr.get("init_from"), dict) else None
    return steps + int(base or 0)


def steps_label(card: dict[str, Any]) -> str:
    """'38,042 steps' (all of them), or 'untrained': what the model picker shows."""
    n = total_steps(card)
    return f"{n:,} steps" if n else "untrained"


def steps_sentence(card: dict[str, Any]) -> str:
    """The picker's steps in words: 'Trained for 38,042 steps in all (the last 7,091 a
    fine-tune).', so they read the same as the card's."""
    n, last = total_steps(card), int(_number((card.get("training") or {}).get("steps")) or 0)
    if not n:
        return "Not trained yet."
    return (f"Trained for {n:,} steps" + (f" in all (the last {last:,} a fine-tune)."
                                          if last and last != n else "."))


def choices(card: dict[str, Any]) -> list[str]:
    """What the Generate page lets a visitor choose, in words (the card and the home page's
    Generate link both say it)."""
    out = [" or ".join(semantics.ends(n)) for n in semantics.card_attribute_names(card)]
    for group, members in semantics.choice_groups(card).items():
        out.append(f"the {group.replace('_', ' ')} (" + ", ".join(m.split("=", 1)[1] for m in members) + ")")
    return out


def _fine_tune_aims(cfg: dict[str, Any]) -> list[str]:
    """What the extra loss terms of a run were for, in words (train.py's options)."""
    aims = []
    if (_number(cfg.get("label_loss")) or 0) > 0:
        aims.append("keep the attribute sliders strong")
    if (_number(cfg.get("label_edit")) or 0) > 0:
        aims.append("keep the same face when a slider moves")
    if (_number(cfg.get("mode_seeking")) or 0) > 0:
        aims.append("make its faces more varied")
    return aims


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def generate_link(card: dict[str, Any] | None) -> str:
    """The home page's line under its Generate link: the choices of the model in use only."""
    chosen = choices(card) if card is not None else []
    return ("Up to 64 faces from a seed" + (": choose " + _join(chosen) if chosen else "")
            + "; download them as a ZIP.")


def describe(card: dict[str, Any]) -> list[str]:
    """Markdown sentences, one per aspect a visitor asks about, in reading order."""
    cfg = card.get("config", {}) or {}
    pre = card.get("preprocessing", {}) or {}
    size = pre.get("size", cfg.get("resolution", "?"))
    crop = pre.get("crop", cfg.get("crop", "?"))
    lines = [f"**Makes** {size}×{size} colour faces. Each face comes from a seed: a number "
             f"that picks the {cfg.get('latent_dim', '?')} random numbers the generator turns "
             "into that face, so the same seed always gives the same face."]

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
    steps = int(_number(tr.get("steps")) or 0)
    if steps == 0:
        lines.append("**Training:** none yet (0 steps). This model is untrained, so its "
                     "\"faces\" are noise and its detector scores mean nothing.")
    else:
        total = total_steps(card)
        base = tr.get("init_from") if isinstance(tr.get("init_from"), dict) else {}
        text = f"**Training:** {_num(total)} steps"
        if total != steps:
            text += " in all"
        secs = tr.get("total_seconds") if total != steps else tr.get("seconds")
        if _number(secs):
            text += f", {duration(secs)} of computing time"
        if total != steps and _number(tr.get("total_cpu_seconds")):   # a fine-tune's whole history
            text += f" ({duration(tr['total_cpu_seconds'])} of CPU time)"
        if total == steps and tr.get("cpu_seconds"):
            since = tr.get("cpu_counted_from_step")
            text += (f" ({duration(tr['cpu_seconds'])} of CPU time"
                     + (f" counted from step {_num(int(since))} on" if since else "") + ")")
        text += ". In each step the two networks learn from a batch of "
        text += f"{_num(cfg['batch_size'])} photos" if cfg.get("batch_size") else "photos"
        if total != steps:
            aims = _fine_tune_aims(cfg)
            text += (f"; the last {_num(steps)} steps fine-tuned a model already trained for "
                     f"{_num(total - steps)}" + (f", to {_join(aims)}" if aims else ""))
        elif base:
            text += "; it continued a model trained earlier"
        lines.append(text + ".")

    chosen = choices(card)
    if chosen:
        lines.append("**You can choose:** " + "; ".join(chosen)
                     + ", with the controls on the Generate page.")
    else:
        lines.append("**You cannot choose attributes** (such as male or female): the model was "
                     "trained without labels.")

    if card.get("created"):
        lines.append(f"**Exported:** {str(card['created'])[:10]}.")
    return lines


def notes(card: dict[str, Any]) -> str:
    """The trainer's free-text notes (may hold command-line flags: reference material)."""
    return str(card.get("notes") or "").strip()


def _pct(x: float) -> str:
    return f"{x:.0%}"


def _swd_words(avg: float, resolution: Any) -> str:
    if _number(resolution) not in (None, 128.0):
        return (f"Compares small patches of its faces with patches of real photos, at four "
                f"scales (sliced Wasserstein distance ×1000; lower is better). The reference "
                f"points were measured on 128-px faces, so compare {avg:.1f} only with other "
                f"{resolution}-px models.")
    if avg <= _SWD_REAL * 1.3:
        where = "about as close as real photos are to each other"
    elif avg < _SWD_BLURRED:
        where = ("closer to real photos than the same real photos blurred by 2 pixels are, "
                 "though not as close as real photos are to each other")
    else:
        where = "further from real photos than blurred photos are: clearly not photo-like"
    return (f"Small patches of its faces compared with patches of real photos, at four scales "
            f"(sliced Wasserstein distance ×1000). Real photos against other real photos score "
            f"about {_SWD_REAL:g}, the same photos blurred about {_SWD_BLURRED:g}: its faces are "
            f"{where}.")


def quality_rows(card: dict[str, Any]) -> list[dict[str, str]]:
    """[{question, answer, meaning}] in words for the figures a visitor asks about (how real,
    how varied, copying, the sliders); [] when the card holds none. No card keys."""
    m = card.get("metrics") or {}
    if not isinstance(m, dict):
        return []
    rows: list[dict[str, str]] = []
    res = (card.get("preprocessing") or {}).get("size")

    audit = explain.by_eye(card)
    if audit is not None:
        rows.append({"question": "Do its faces look like photos, by eye?",
                     "answer": audit[0], "meaning": audit[1]})

    swd = m.get("swd_x1e3", m.get("swd"))
    avg = _number(swd.get("average", swd.get("mean"))) if isinstance(swd, dict) else _number(swd)
    if avg is not None:
        rows.append({"question": "How close are its faces to real photos?",
                     "answer": f"{avg:.1f} (lower is better)", "meaning": _swd_words(avg, res)})
    for key, name in (("fid", "Fréchet Inception distance (FID)"),
                      ("kid", "kernel Inception distance (KID)")):
        v = _number(m.get(key))
        if v is not None:
            rows.append({"question": "How close are its faces to real photos?",
                         "answer": f"{v:.4g} (lower is better)",
                         "meaning": f"{name}: the usual figure in research papers, from an "
                                    "image-recognition network's view of the faces."})

    ms = m.get("ms_ssim") or m.get("msssim")
    if isinstance(ms, dict):
        gen, real = _number(ms.get("generated")), _number(ms.get("real"))
        if gen is not None and real:
            rel = gen / real - 1
            alike = (f"{_pct(rel)} more alike than" if rel > 0.005 else
                     f"{_pct(-rel)} less alike than" if rel < -0.005 else "as alike as")
            rows.append({"question": "How varied are its faces?",
                         "answer": f"{alike} real people",
                         "meaning": f"Two of its faces have a likeness of {gen:.3f} on average, "
                                    f"two real photos {real:.3f} (MS-SSIM: 0 nothing in "
                                    "common, 1 the same picture)."})
        collapse = ms.get("mode_collapse")
        if isinstance(collapse, bool):
            rows.append({"question": "Does it keep making the same few faces?",
                         "answer": "Yes" if collapse else "No",
                         "meaning": "A yes/no check: a model that repeats itself (\"mode "
                                    "collapse\") makes faces clearly more alike than real people "
                                    "are (more than 10% more)."})

    mem = m.get("memorisation")
    if isinstance(mem, dict):
        if mem.get("skipped"):
            rows.append({"question": "Does it copy its training photos?", "answer": "Not checked",
                         "meaning": str(mem["skipped"]).rstrip(".") + "."})
        elif isinstance(mem.get("flag"), bool):
            frac, ratio = _number(mem.get("fraction_closer")), _number(mem.get("median_ratio"))
            meaning = ("Each generated face was compared with its most similar training photo, "
                       "and new real photos the model never saw with theirs.")
            if frac is not None:
                meaning += (f" {_pct(frac)} of its faces come closer to a training photo than "
                            "99% of the new photos do (about 1% or less is normal).")
            if ratio is not None:
                meaning += (f" Typically its faces are {ratio:.2f} times as far from the nearest "
                            "training photo as a new real photo is.")
            rows.append({"question": "Does it copy its training photos?",
                         "answer": "Possibly: look at the Model quality page" if mem["flag"]
                         else "No", "meaning": meaning})

    att = m.get("attributes")
    if isinstance(att, dict):
        target = _number(att.get("target")) or semantics.TARGET
        for name in semantics.card_attribute_names(card):
            ok = _number(att.get(f"{name}_success_rate"))
            if ok is None:
                continue
            low, high = semantics.ends(name)
            flip, same = _number(att.get(f"{name}_flip_rate")), _number(att.get(f"{name}_reidentified_rate"))
            meaning = (f"Moving the slider from {low} to {high} changes what a face classifier "
                       "sees")
            meaning += f" for {_pct(flip)} of faces" if flip is not None else ""
            meaning += (f", and {_pct(same)} stay recognisably the same face" if same is not None
                        else "")
            meaning += f"; both together: {_pct(ok)} (the aim is {_pct(target)} or more)."
            judge = _number(att.get(f"classifier_accuracy_{name}"))
            if judge is not None:
                meaning += f" The classifier is right about {_pct(judge)} of real photos."
            rows.append({"question": f"Does the {low} ↔ {high} slider work?",
                         "answer": f"Yes, for {_pct(ok)} of faces" if ok >= target
                         else f"Only for {_pct(ok)} of faces", "meaning": meaning})
    return rows


def measured_on(card: dict[str, Any]) -> str:
    """When and against what the image figures were measured, in one sentence ("" if unknown)."""
    ev = (card.get("metrics") or {}).get("evaluated")
    if not isinstance(ev, dict):
        return ""
    text = "Measured"
    if ev.get("date"):
        text += f" on {str(ev['date'])[:10]}"
    if _number(ev.get("generated_images")):
        text += f", {_num(ev['generated_images'])} of its faces"
    n = _number(ev.get("real_images"))
    if n:
        text += f" against {_num(n)} real photos"
        if any(w in str(ev.get("real_set", "")) for w in ("never trained on", "held-out")):
            text += " it never trained on"
    return text + "." if text != "Measured" else ""


_QUALITY_FIRST = ("swd", "ms_ssim", "memorisation", "fid", "kid")


def _rank(name: str) -> tuple[int, str]:
    """Image-quality metrics first (what a visitor asks about), then the rest alphabetically."""
    return next((i for i, f in enumerate(_QUALITY_FIRST) if name.startswith(f)),
                len(_QUALITY_FIRST)), name


def _meaning(key: str) -> str:
    k = key.lower()
    return next((h for pattern, h in _METRIC_HELP if pattern in k), "")


def metric_rows(card: dict[str, Any]) -> list[dict[str, str]]:
    """[{metric, value, meaning}] for every number in card['metrics'] (flattened one level), as
    the card stores them: reference material, behind a click."""
    rows = []
    for name, value in sorted((card.get("metrics") or {}).items(), key=lambda kv: _rank(kv[0])):
        items = value.items() if isinstance(value, dict) else [("", value)]
        for sub, v in items:
            key = f"{name}.{sub}" if sub else name
            if isinstance(v, bool):
                v = "yes" if v else "no"
            elif isinstance(v, float):
                v = f"{v:.4g}"
            meaning = _meaning(key)
            if name.startswith("swd") and str(sub).endswith("px"):
                meaning = meaning.replace("real photos,", f"real photos at the {sub} scale,")
            rows.append({"metric": key, "value": str(v), "meaning": meaning})
    return rows
