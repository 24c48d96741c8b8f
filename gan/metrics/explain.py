"""An evaluation report in plain words, for people who have never heard of SWD or MS-SSIM.

Pure functions over the report dict (`gan.evaluate`'s report.json), so the app page and its
tests share one wording and nothing here needs Streamlit or TensorFlow.
"""
from __future__ import annotations

from typing import Any

SWD_WHAT = (
    "**Sliced Wasserstein distance (SWD)** compares thousands of small 7×7-pixel patches of the "
    "model's faces with patches of real photos, at four scales: fine detail such as hair and "
    "skin texture (128 px), features (64 and 32 px) and the overall layout and colours (16 px). "
    "It asks how differently the two sets of patches are spread out. **Lower is better**: 0 "
    "would mean the patches are indistinguishable from real ones. It needs no downloaded "
    "network, so it runs anywhere (Karras et al., 2018).")

MSSSIM_WHAT = (
    "**Variety (MS-SSIM)** takes random pairs of faces and measures how alike the two faces of "
    "each pair are, from 0 (nothing in common) to 1 (the same picture). Real photos of different "
    "people have a typical likeness; a model whose faces are clearly *more* alike than that is "
    "repeating itself (\"mode collapse\": many seeds, few faces). Blur makes faces alike too "
    "(real photos blurred by 1 pixel score about 12 % more alike, by 2 pixels about 30 %), so "
    "faces more alike than real ones means fewer kinds of face *or* less fine detail: the "
    "fine-detail SWD and the sample grid tell which.")

MEMORISATION_WHAT = (
    "**Copying (memorisation)**: for a few hundred generated faces we look up the most similar "
    "training photo (in a small, blurred version of the picture, mirror images included). Real "
    "photos the model never saw show how close a *new* face normally comes to some training "
    "photo. If many generated faces come closer to one particular training photo than almost "
    "any new photo does, the model is replaying its training photos instead of making up faces.")


def _num(x: float) -> str:
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def swd_position(average: float, references: dict[str, float] | None, resolution: int) -> str:
    """Where the model's average SWD sits among the reference points, in one sentence."""
    if not references:
        return (f"This model makes {resolution}×{resolution} faces; the reference points were "
                f"measured at 128×128, so compare its SWD ({_num(average)}) only with other "
                f"{resolution}-px models.")
    refs = sorted(references.items(), key=lambda kv: kv[1])
    text = f"This model scores **{_num(average)}**. "
    best, best_v = refs[0]
    if average <= best_v * 1.3:
        return text + (f"That is about as close to real photos as *{best}* (~{best_v:g}): "
                       f"as good as this measurement can tell.")
    below = [(n, v) for n, v in refs if v <= average]
    above = [(n, v) for n, v in refs if v > average]
    if not above:
        name, v = refs[-1]
        return text + (f"That is worse than *{name}* (~{v:g}): the faces are far from real "
                       f"photos, likely noise or a failed training run.")
    (n1, v1), (n2, v2) = below[-1], above[0]
    return text + f"That is between *{n1}* (~{v1:g}) and *{n2}* (~{v2:g})."


def diversity_text(ms: dict[str, Any]) -> str:
    return (f"Generated pairs: **{ms['generated']:.3f}**, real pairs: **{ms['real']:.3f}** "
            f"(lower = more varied; target: within {ms.get('tolerance', 0.1):.0%} of real). "
            f"Verdict: {ms['verdict']}.")


def memorisation_text(mem: dict[str, Any]) -> str:
    if "skipped" in mem:
        return f"Not checked: {mem['skipped']}."
    text = (f"Verdict: {mem['verdict']}. Typical distance to the nearest training photo: "
            f"generated faces {mem['generated_median']:.2f}, new real photos "
            f"{mem['heldout_median']:.2f} ({mem['generated']} generated faces, "
            f"{mem['heldout']} held-out and {mem['train']:,} training photos).")
    ident = mem.get("identity")
    if ident and "skipped" in ident:
        text += f" **The same people?** Not checked: {ident['skipped']}."
    elif ident:
        text += (f" **The same people?** {ident['verdict'][0].upper()}{ident['verdict'][1:]} "
                 f"(dlib's face-recognition model; {ident['generated']['embedded']} and "
                 f"{ident['heldout']['embedded']} faces it could read).")
    if mem.get("note"):
        text += f" Note: {mem['note']}."
    return text


def fid_text(fk: dict[str, Any]) -> str:
    if not fk.get("computed"):
        return (f"{fk.get('message', 'FID/KID: not computed')}. FID and KID are the usual "
                "figures in papers, but they need InceptionV3 network weights that cannot be "
                "downloaded here; run the evaluation with `--inception-weights FILE` if you have "
                "the Keras weights file.")
    return (f"FID **{fk['fid']:.2f}**, KID **{fk['kid']:.4f}** (lower is better; "
            f"{fk.get('note', '')}).")


# The SWD reference points (gan.metrics.swd.REFERENCES) as a visitor would name them.
PLAIN_REFERENCES = {"real photos vs other real photos": "real photos",
                    "real photos blurred (2-px Gaussian)": "slightly blurred real photos",
                    "keras-io-style DCGAN, 15 CPU-min": "a basic GAN's first faces",
                    "earlier recipe, collapsed to noise": "noise"}


def _plain(name: str) -> str:
    return PLAIN_REFERENCES.get(name, f"*{name}*")


def _realism(average: float, references: dict[str, float] | None) -> tuple[str, str]:
    """(verdict in words, the figure behind it) for the average SWD. SWD compares the
    statistics of small patches, not whole faces: a model can match real photos there and
    still draw broken faces (its blind audit says how often), so the words say patches."""
    figure = f"SWD {_num(average)}, lower is better"
    if not references:
        return "no reference points at this image size", figure
    refs = sorted(references.items(), key=lambda kv: kv[1])
    figure += "; " + ", ".join(f"{_plain(n)} ~{v:g}" for n, v in refs[:2])
    if average <= refs[0][1] * 1.3:
        return f"as close to real photos as {_other(refs[0][0])} are", figure
    above = [(n, v) for n, v in refs if v > average]
    if not above:
        return f"further from real photos than {_other(refs[-1][0])}", figure
    below = [(n, v) for n, v in refs if v <= average]
    return (f"further from real photos than {_other(below[-1][0])}, closer than "
            f"{_other(above[0][0])}"), figure


def _other(name: str) -> str:
    """A reference point named as compared with real photos: "other real photos"."""
    plain = _plain(name)
    return "other real photos" if plain == "real photos" else plain


def _variety(ms: dict[str, Any]) -> str:
    if ms["mode_collapse"]:
        return f"**possible mode collapse**: faces {ms['relative']:.0%} more alike than real photos"
    if abs(ms["relative"]) <= ms.get("tolerance", 0.1):
        more = ms["relative"]
        return ("**as varied as real photos**" + (
            f" ({abs(more):.0%} {'more' if more > 0 else 'less'} alike, within the "
            f"{ms.get('tolerance', 0.1):.0%} allowed)" if round(abs(more), 2) else ""))
    return f"**more varied than real photos** ({-ms['relative']:.0%} less alike)"


def _copying(mem: dict[str, Any]) -> str:
    if "skipped" in mem:
        return "**not checked** (no training photos here)"
    if mem["memorisation"]:
        return f"**possible memorisation**: {mem['fraction_closer']:.0%} look like copies"
    return "**no sign of copying**"


def headline(report: dict[str, Any]) -> list[tuple[str, str]]:
    """Three (title, short verdict) pairs for the top of the page: realism, variety, copying;
    the words first, the figure behind them after."""
    s = report["swd"]
    words, figure = _realism(s["average"], s.get("references"))
    return [("Small patches", f"**{words}** (small patches' statistics; {figure})"),
            ("Variety", _variety(report["ms_ssim"])),
            ("Copying", _copying(report["memorisation"]))]


def answer(report: dict[str, Any]) -> str:
    """The page's question answered in one plain sentence, no metric names."""
    s, ms, mem = report["swd"], report["ms_ssim"], report["memorisation"]
    words, _ = _realism(s["average"], s.get("references"))
    real = (f"measured on the statistics of small patches (colours, edges and textures, not "
            f"whether a whole face looks right), its faces are {words}"
            if s.get("references") else "there is no reference point at this size for how "
                                        "close its faces' small patches are to real photos'")
    if ms["mode_collapse"]:
        varied = "it repeats itself (many seeds, few different faces)"
    elif ms["relative"] > ms.get("tolerance", 0.1):
        varied = "its faces are less varied than real people"
    else:
        varied = "its faces are about as varied as real people"
    if "skipped" in mem:
        copies = "whether it copies its training photos was not checked"
    elif mem["memorisation"]:
        copies = "some of its faces may be copies of its training photos"
    else:
        copies = "it does not copy its training photos"
    return f"**In short:** {real}; {varied}; and {copies}."


def how_to_run(model_dir: str, card: dict[str, Any]) -> str:
    """The command that evaluates this bundle (with --real when its card names no usable
    held-out split)."""
    cfg, data = card.get("config", {}), card.get("data", {}) or {}
    held = float(cfg.get("holdout_fraction", 0) or 0) > 0 and data.get("source")
    cmd = f"python -m gan.evaluate --model {model_dir}"
    if not held:
        cmd += " --real PATH/TO/REAL/PHOTOS"
    return cmd


AUDIT_WHAT = (
    "**The blind audit**: a person looks at the model's faces (as the Generate page shows them "
    "with nothing changed) shuffled among as many real photos, numbered, and labels each "
    "*intact* or *broken* (melted or doubled features, mismatched eyes, a smeared mouth, a face "
    "dissolving into hair) without knowing which is which. The share of real photos called "
    "broken checks the person: beside real photos the eye is strict. The figures above cannot "
    "see this; the eye can. `python -m gan.audit` draws, scores and keeps an audit.")


def _by_eye_words(share: float) -> str:
    return ("No: almost all look broken" if share >= 0.9 else "Mostly not" if share > 0.5 else
            "Often not" if share > 0.25 else "Mostly" if share > 0.1 else "Yes, nearly all")


def by_eye(card: dict[str, Any]) -> tuple[str, str] | None:
    """(short answer, sentence) for "do its faces look like photos?": the model's own blind
    audit, else its per-group audits (`gan.audit sheet --group`), else None."""
    sha = ((card.get("files") or {}).get("generator.keras") or {}).get("sha256")
    own = audit_answer(card.get("audit"), sha)
    if own is not None:
        return own
    from gan.metrics.groups import audit_summary

    a = audit_summary(card)
    if a is None:
        return None
    lo, hi = a["best_value"], a["weakest_value"]
    sentence = (f"In blind audits of {a['groups_audited']} of its groups, each group's faces "
                "were shuffled among as many real photos of that group and labelled by eye "
                f"without knowing which was which: {lo:.0%} ({a['best']}) to {hi:.0%} "
                f"({a['weakest']}) of its faces were judged broken, and "
                f"{a['real_broken'][0]} to {a['real_broken'][1]} real photos a sheet. Each "
                "group's figure is on the Model quality page.")
    return f"{_by_eye_words(lo)} ({lo:.0%}-{hi:.0%} broken, per group)", sentence


def audit_answer(audit: dict[str, Any] | None,
                 generator_sha256: str | None = None) -> tuple[str, str] | None:
    """(short answer, sentence) for "do its faces look like photos?" from the card's `audit`
    section, or None when the model has none. An audit of an earlier generator says so."""
    if not isinstance(audit, dict):
        return None
    gen, real = audit.get("generated") or {}, audit.get("real") or {}
    n, broken = gen.get("labelled"), gen.get("broken")
    if not n or broken is None:
        return None
    share = broken / n
    words = _by_eye_words(share)
    when = f" on {audit['scored'][:10]}" if audit.get("scored") else ""
    variety, seed = audit.get("truncation"), audit.get("seed")
    changed = ([f"seed {seed}"] if seed not in (None, 0) else []) + (
        [] if variety in (None, 1, 1.0) else [f"variety {variety:g}"])
    # A sheet drawn at another seed than the page opens with says so: those are other faces.
    faces = ("the Generate page's faces with nothing changed" if not changed
             else f"the Generate page's faces at {' and '.join(changed)} (nothing else changed)")
    sentence = (f"In a blind audit{when}, {n} of {faces} were shuffled among "
                f"{real.get('labelled', n)} real photos and labelled by eye without knowing "
                f"which was which: {broken} of {n} faces ({share:.0%}) were judged broken, "
                f"and {real.get('broken', 0)} of {real.get('labelled', n)} real photos.")
    if generator_sha256 and audit.get("generator_sha256") not in (None, generator_sha256):
        sentence += " That audit was of an earlier version of this model: audit it again."
    return f"{words} ({broken} of {n} broken)", sentence
