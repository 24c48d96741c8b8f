"""The detectors' verdicts and left-out figures in plain words, for the detect page (pure
functions, no Streamlit), so the page and its tests share one wording.

Every figure comes from the card's leave-one-source-out table (`detector.<key>.left_out`,
written by `python -m gan.detector fit`) or the report (`detection/report/report.json`:
robustness curves, false alarms per group): each source scored by a detector fitted without it.
The worst real source comes first, never the best case; nothing here states a figure of its own.
"""
from __future__ import annotations

import math
from typing import Any

from gan.detector.verdict import (BAND, GENERATED, REAL, REASONS, REENCODE, UNFAMILIAR,
                                  UNSURE, Rule)

# Where `python -m gan.detector` writes the report (gan.detector.report.REPORT_DIR, FIGURES;
# the app does not import the fitting code).
REPORT_DIR = "detection/report"
FIGURES = {"left_out": "left_out.png", "robustness": "robustness.png", "groups": "groups.png"}
# Wording thresholds, not measurements: a generated source caught less often than this is
# "not caught"; a thumbnail control at or above this AUC passes a test the detector should
# only pass by seeing generation.
MOSTLY_MISSED = 0.5
THUMBNAIL_PASSES = 0.9
SHORT_REASONS = {"band": "score in between", "unfamiliar": "unlike every fit source",
                 "re-encode": "a re-save flips it"}


def fit_command(model: str) -> str:
    return f"python -m gan.detector fit --model models/{model} --sources SOURCES.json"


def pct(x: float | None) -> str:
    """A share as a percentage with one decimal ("n/a" when not measured)."""
    return "n/a" if x is None else f"{100 * x:.1f}%"


def p_text(p: float) -> str:
    """P(generated) with 3 significant digits, and with enough decimals that a P just below 1
    never reads as 1 (0.998 stays "0.998", 0.99962 is "0.9996")."""
    p = float(p)
    if p >= 1.0:
        return "1"
    if p <= 0.0:
        return "0"
    decimals = max(2, 2 - math.floor(math.log10(p)), -math.floor(math.log10(1.0 - p)))
    if decimals > 6:
        return "above 0.999999" if p > 0.5 else "below 0.000001"
    return f"{p:.{decimals}f}"


# What a visitor reads first: each verdict as an answer, and an unsure one's reason in everyday
# words (REASONS, the CLI's and the CSV's wording, names the method: "left-out sources").
ANSWERS = {GENERATED: "Looks generated", REAL: "Looks real", UNSURE: "Unsure"}
BECAUSE = {
    BAND: "its score is in between: real photos and generated faces both get scores like this",
    UNFAMILIAR: "the photo is unlike every kind of photo the detector learned from, so its "
                "score is only a guess",
    REENCODE: "saving the photo again (as a JPEG, or at half size) would change the answer",
}


def because_text(reason: str) -> str:
    """Why a verdict is unsure, in a visitor's words."""
    return BECAUSE.get(reason, REASONS.get(reason, reason))


def answer_text(verdict: str | None, reason: str | None = None) -> str:
    """"Looks generated", "Looks real", or "Unsure — because ..." for a visitor."""
    answer = ANSWERS.get(verdict or "", verdict or "")
    if verdict == UNSURE and reason:
        return f"{answer} — because {because_text(reason)}"
    return answer


def answer_count(n: int, verdict: str) -> str:
    """"1 looks real", "3 look real", "2 unsure": how many got an answer, the verb agreeing with
    the number (the answers are written for one photo)."""
    words = ANSWERS.get(verdict, verdict).lower()
    if n != 1 and words.startswith("looks "):
        words = "look " + words.removeprefix("looks ")
    return f"{n} {words}"


def score_side(p: float, rule: Rule) -> str:
    """Where a score falls under the rule, in words: "the generated side (from 0.870)", "the
    real side (below 0.350)" or "in between (0.350 to 0.870)"; under a rule that never says
    generated, "the unsure side (from 0.350)"."""
    g, r = rule.generated_at, min(rule.real_below, rule.generated_at)
    if p >= g:
        return f"the generated side (from {p_text(g)})"
    if p < r:
        return f"the real side (below {p_text(r)})"
    if never_generated(rule):
        return f"the unsure side (from {p_text(r)})"
    return f"in between ({p_text(r)} to {p_text(g)})"


def score_scale(rule: Rule, calibrated: bool = True) -> str:
    """What the score beside each photo means, said once above the photos."""
    g, r = rule.generated_at, min(rule.real_below, rule.generated_at)
    text = ("Each face's **score** runs from 0 (looks real to the detector) to 1 (looks "
            "generated). ")
    if never_generated(rule):
        text += (f"This detector never answers *looks generated* (no score was safe enough on "
                 f"real photos); below **{p_text(r)}** it answers *looks real*, above that "
                 "*unsure*.")
    elif r < g:
        text += (f"From **{p_text(g)}** up it answers *looks generated*, below **{p_text(r)}** "
                 "*looks real*, and in between *unsure*.")
    else:
        text += (f"From **{p_text(g)}** up it answers *looks generated*, below that *looks "
                 "real*.")
    if calibrated:
        text += " The score is how generated the face looks to it, not the chance that it is."
    else:
        text += (" Its score was never checked against photos known to be real or generated, "
                 "so 0.8 does not mean an 80% chance: read it as more or less generated-looking.")
    return text


def never_generated(rule: Rule) -> bool:
    """No threshold kept every left-out real source within the stated rate: the rule's
    generated_at sits above 1, so it never says "generated"."""
    return rule.generated_at > 1.0


def rule_text(rule: Rule, target_fpr: float, fitted_with_rule: bool = True,
              checks_unfamiliar: bool = True) -> str:
    """What each verdict means for this detector, as Markdown bullets. `fitted_with_rule`:
    the rule was chosen leave-one-source-out (else it is one old threshold); `checks_unfamiliar`:
    the detector knows which photos are unlike its fit sources."""
    if never_generated(rule):
        gen = (f"- **{GENERATED}**: never. On the sources it was measured on, no threshold kept "
               f"every left-out real source within {target_fpr:.0%} of photos called generated, "
               "so this detector does not give that verdict.")
    elif fitted_with_rule:
        gen = (f"- **{GENERATED}** when its score is at least **{p_text(rule.generated_at)}**: "
               f"the lowest value at which every real photo source left out of fitting had at "
               f"most {target_fpr:.0%} of its photos called generated (95% upper bound).")
    else:
        gen = (f"- **{GENERATED}** when its score is at least **{p_text(rule.generated_at)}**: "
               "one threshold stored with this model before the leave-one-source-out "
               "measurement, so it was never checked on photo sources it had not seen.")
    real = f"- **{REAL}** when it is below **{p_text(min(rule.real_below, rule.generated_at))}**."
    why = []
    if rule.real_below < min(rule.generated_at, 1.0):
        why.append(REASONS["band"])
    if checks_unfamiliar:
        why.append(REASONS["unfamiliar"])
    why.append(REASONS["re-encode"])
    unsure = f"- **{UNSURE}** when " + "; or when ".join(why) + "."
    return "\n".join([gen, real, unsure])


def _rows(measured: dict | None, kind: str) -> list[dict]:
    return [r for r in (measured or {}).get("rows", []) if r.get("kind") == kind]


def _share(row: dict, key: str = "generated") -> float | None:
    n = row.get("scored") or 0
    return row.get(key, 0) / n if n else None


def worst_real(measured: dict | None) -> dict | None:
    """The left-out real source with the largest share of photos called generated (ties: the
    larger 95% upper bound)."""
    reals = [r for r in _rows(measured, "real") if r.get("scored")]
    if not reals:
        return None
    return max(reals, key=lambda r: (_share(r), r.get("false_alarm_upper95") or 0.0))


def _nested(measured: dict) -> tuple[float | None, str | None]:
    """(share, source) of the nested check's worst real source: the rule chosen without that
    source's own photos, what a new collection like it would see."""
    return measured.get("worst_nested_generated_share"), measured.get("worst_nested_source")


def summary(measured: dict | None) -> str:
    """What each answer means for a visitor's photo, as Markdown bullets, from the left-out
    table: how often it answered "generated" for real photos of a collection it never saw (the
    worst collection), how many generated faces of sources it never saw it caught, and so what
    "looks real" is worth. A detector never measured that way: that nobody knows."""
    worst = worst_real(measured)
    if worst is None:
        return ("Nobody has measured how often this detector is right on kinds of photos it "
                "did not learn from, such as yours: treat its answers as a guess.")
    lines = [f"- **Looks generated** is a hint, not proof: for real photos from collections it "
             f"had never seen, it said so at most **{pct(_share(worst))}** of the time (the "
             f"worst collection: {worst.get('generated', 0)} of {worst['scored']} photos)."]
    nested, nsrc = _nested(measured)
    if nested is not None and nsrc and nested > (_share(worst) or 0):
        # That rule was chosen knowing those collections; the nested check is what a new
        # collection meets, so the first promise on the page must carry it.
        lines[0] += (f" But the rule was chosen knowing those collections: chosen without a "
                     f"collection's own photos, it called **{pct(nested)}** of {nsrc}'s real "
                     "photos generated, so a collection unlike all of them can fare much worse.")
    gens = [r for r in _rows(measured, "generated") if r.get("scored")]
    if gens:
        lo, hi = min(gens, key=_share), max(gens, key=_share)
        caught = (f"**{pct(_share(lo))}**" if lo is hi else
                  f"between **{pct(_share(lo))}** and **{pct(_share(hi))}**, depending on the "
                  "program that made them")
        if (_share(hi) or 0) < MOSTLY_MISSED:
            lines.append(f"- **Looks real** proves little: of generated faces from sources it "
                         f"had never seen, it caught only {caught}; it took the rest for real "
                         "or was unsure.")
        else:
            lines.append(f"- **Looks real** is not proof either: of generated faces from "
                         f"sources it had never seen, it caught {caught}; the rest it took for "
                         "real or was unsure.")
    lines.append("- **Unsure** means it cannot tell either way.")
    return "\n".join(lines)


def headline(measured: dict | None, target_fpr: float, model: str = "NAME") -> str:
    """The worst left-out real source's figure in words, first; then its upper bound and the
    nested check. Or, for a detector never measured that way, that nobody knows."""
    worst = worst_real(measured)
    if worst is None:
        return ("It has not been measured on photo sources left out of its fitting, so nobody "
                "knows how often it is right on photos from elsewhere, such as yours. Measure "
                f"it with `{fit_command(model)}`.")
    text = (f"On photo collections it never saw, the detector called at most "
            f"**{pct(_share(worst))}** of real photos generated (worst: **{worst['source']}**, "
            f"{worst.get('generated', 0)} of {worst['scored']} photos).")
    src, up = measured.get("worst_real_source"), measured.get("worst_real_upper95")
    if up is not None:
        text += (f" Allowing for chance in a sample that size, a collection like "
                 f"{src or worst['source']} may see up to **{pct(up)}** (95% upper bound; the "
                 f"verdict rule aims at most {target_fpr:.0%}).")
    nested, nsrc = _nested(measured)
    if nested is not None and nsrc:
        text += (f" With the rule chosen without a source's own photos, the worst real source "
                 f"is {nsrc}: **{pct(nested)}** called generated.")
    return text


def catch_text(measured: dict | None) -> str:
    """Each generated source's catch rate (left out of fitting), with whether its generator
    family was seen in fitting; and, when the table shows it, that generators the detector
    was not fitted on are not caught."""
    gens = [r for r in _rows(measured, "generated") if r.get("scored")]
    if not gens:
        return ""
    parts = []
    for r in sorted(gens, key=lambda r: -(_share(r) or 0)):
        seen = r.get("family_seen")
        family = ("its generator family was seen in fitting" if seen else
                  "a generator family not seen in fitting" if seen is False else "")
        parts.append(f"**{r['source']}** {pct(_share(r))} (unsure {pct(_share(r, 'unsure'))}"
                     + (f"; {family}" if family else "") + ")")
    text = ("Generated faces it called generated, each source left out of fitting: "
            + ", ".join(parts) + ".")
    best = max(gens, key=lambda r: _share(r) or 0)
    if (_share(best) or 0) < MOSTLY_MISSED:
        text += (f" **It catches few generated faces:** on no generated source did it call more "
                 f"than {pct(_share(best))} of the faces generated ({best['source']}).")
    unseen = [r for r in gens if r.get("family_seen") is False]
    missed = [r for r in unseen if (_share(r) or 0) < MOSTLY_MISSED]
    if missed:
        text += (" **It does not catch generators it was not fitted on:** "
                 + ", ".join(f"{r['source']} ({pct(_share(r))} caught)" for r in missed)
                 + (" came from a generator family that played no part in fitting. A face from "
                    "a new kind of generator will most likely not be called generated."))
    elif not unseen:
        text += (" Every generated source shared its generator family with another one in "
                 "fitting, so how it does on a new kind of generator was not measured; expect "
                 "it to miss many.")
    return text


def left_out_rows(measured: dict | None) -> list[dict[str, Any]]:
    """One row per source, as scored by the detector fitted without it: verdict shares (unsure
    apart, with why), no face, the 95% upper bound of false alarms (real sources), the catch
    rate's family and AUC (generated sources), and the 8x8 thumbnail control."""
    out = []
    rows = (measured or {}).get("rows", [])
    small = any(r.get("too_small") for r in rows)   # the column only where a detector has some
    for r in sorted(rows, key=lambda r: (r.get("kind") != "real", r.get("source", ""))):
        real = r.get("kind") == "real"
        why = r.get("unsure_reasons") or {}
        thumb = r.get("thumbnail_generated_share") if real else r.get("thumbnail_auc_vs_real")
        out.append({
            "source": r.get("source", ""), "kind": r.get("kind", ""),
            "photos": r.get("photos", r.get("scored", 0)), "no face": r.get("no_face", 0),
            **({"face too small": r.get("too_small", 0)} if small else {}),
            "called generated": pct(_share(r)), "unsure": pct(_share(r, "unsure")),
            "called real": pct(_share(r, "real")),
            "why unsure": ", ".join(f"{SHORT_REASONS.get(k, k)} {v}" for k, v in why.items() if v),
            "95% upper bound": pct(r.get("false_alarm_upper95")) if real else "",
            "family seen in fitting": "" if real else
            {True: "yes", False: "no"}.get(r.get("family_seen"), "n/a"),
            "AUC vs real": "" if real or r.get("auc_vs_real") is None
            else f"{r['auc_vs_real']:.3f}",
            "8×8 control": "" if thumb is None else (pct(thumb) if real else f"{thumb:.3f}"),
        })
    return out


AUC_WHAT = ("*AUC* says how well the detector ranks a source's generated faces above real "
            "photos: 1 means always, 0.5 no better than chance, below 0.5 it takes them for more "
            "real than real photos.")
THUMBNAIL_WHAT = (
    "**The 8×8 thumbnail control.** A deliberately naive classifier that sees only an 8×8-pixel "
    "thumbnail of each face (layout and colour, none of the detail a generator leaves) goes "
    "through the same leave-one-source-out test. For a generated source the table gives its "
    "AUC against the left-out real photos; for a real source, the share it calls generated. "
    "Where the thumbnail alone separates a source from real photos, that row measures which "
    "collection a photo comes from, not whether it was generated, and is not evidence that the "
    "detector works.")


def thumbnail_text(measured: dict | None) -> str:
    """Where the thumbnail control passes a test (the test is broken there), and where the
    detector does no better than it."""
    gens = [r for r in _rows(measured, "generated") if r.get("thumbnail_auc_vs_real") is not None]
    if not gens:
        return "The thumbnail control was not measured."

    def auc(x):
        return "n/a" if x is None else f"{x:.3f}"

    passed = [r for r in gens if r["thumbnail_auc_vs_real"] >= THUMBNAIL_PASSES]
    level = [r for r in gens if r not in passed and r.get("auc_vs_real") is not None
             and r["thumbnail_auc_vs_real"] >= r["auc_vs_real"]]
    parts = []
    if passed:
        parts.append("**The thumbnail control passes the test on "
                     + ", ".join(f"{r['source']}** (AUC {auc(r['thumbnail_auc_vs_real'])})"
                                 if i == len(passed) - 1 else
                                 f"{r['source']} (AUC {auc(r['thumbnail_auc_vs_real'])})"
                                 for i, r in enumerate(passed))
                     + ": layout and colour alone tell those faces from real photos, so their "
                       "rows measure the collection, not the detector's skill.")
    if level:
        parts.append("The detector does no better than the thumbnail control on "
                     + ", ".join(f"{r['source']} (AUC {auc(r['auc_vs_real'])} against "
                                 f"{auc(r['thumbnail_auc_vs_real'])})" for r in level)
                     + ": there, what it ranks may be layout and colour rather than generation.")
    if not parts:
        return (f"On every generated source the thumbnail control stays below both "
                f"{THUMBNAIL_PASSES} and the detector's AUC: layout and colour alone do not pass "
                "these tests.")
    return " ".join(parts)


def is_stale(report: dict, key: str, rule: Rule) -> bool:
    """The report measured another fit than the stored one (its rule differs)."""
    r = ((report.get("detectors") or {}).get(key) or {}).get("rule")
    if not isinstance(r, dict):
        return False
    return not (math.isclose(r["generated_at"], rule.generated_at, abs_tol=1e-9)
                and math.isclose(r["real_below"], rule.real_below, abs_tol=1e-9))


ROBUSTNESS_WHAT = (
    "**Robustness**: photos are re-saved, shrunk or cropped before anyone checks them, and that "
    "can wipe out the traces a detector relies on. Photos of each source were changed as listed "
    "and scored again by the detector fitted without that source.")


def robustness_text(report: dict, key: str = "forensic") -> str:
    """How often a change turned a real photo into "generated", against the report's target,
    and the worst false-alarm share after a change."""
    rob = ((report.get("detectors") or {}).get(key) or {}).get("robustness")
    if not rob:
        return "Robustness was not measured for this detector."
    changed = [c for c in rob["curves"] if c.get("real_flipped_to_generated") is not None]
    if not changed:
        return "No real photo was scored after a change."
    worst = max(changed, key=lambda c: c["real_flipped_to_generated"])
    target = pct(rob["reflip_target"])
    if rob["worst_reflip"] > 0:
        text = (f"After a change, at most **{pct(rob['worst_reflip'])}** of real photos that were "
                f"not called generated became \"generated\" (worst: {worst['change']}); the "
                f"target is at most {target}: " + ("met." if rob["reflip_met"] else "**not met**."))
    else:
        text = (f"No change turned a real photo that was not called generated into "
                f"\"generated\" (target: at most {target}).")
    fa = [c for c in changed if c.get("real_called_generated") is not None]
    w = max(fa, key=lambda c: c["real_called_generated"]) if fa else None
    if w is not None and w["real_called_generated"] > 0:
        rate = report.get("target_fpr")
        text += (f" The most real photos called generated after a change: "
                 f"**{pct(w['real_called_generated'])}** ({w['change']})"
                 + (f", above the stated {rate:.0%}." if rate is not None
                    and w["real_called_generated"] > rate else "."))
    elif w is not None:
        text += " No real photo was called generated after any change."
    return text


def robustness_rows(report: dict, key: str = "forensic") -> list[dict[str, Any]]:
    rob = ((report.get("detectors") or {}).get(key) or {}).get("robustness") or {}
    return [{"change": c["change"], "photos": c["photos"],
             "AUC": "n/a" if c["auc"] is None else f"{c['auc']:.3f}",
             "real called generated": pct(c["real_called_generated"]),
             "generated caught": pct(c["generated_caught"]), "unsure": pct(c["unsure_share"]),
             "real flipped to generated": pct(c["real_flipped_to_generated"])}
            for c in rob.get("curves", [])]


GROUPS_WHAT = (
    "**False alarms per group**: the share of real photos called generated in each group that "
    "the photo collections label (UTKFace: race, gender, age; All-Age-Faces: age, gender), each "
    "photo scored by the detector fitted without its collection.")


def group_rows(report: dict, key: str) -> list[dict[str, Any]]:
    groups = ((report.get("detectors") or {}).get(key) or {}).get("groups") or []
    return [{"group": g["group"], "photos": g["photos"], "called generated":
             f"{g['generated']} ({pct(g['generated_share'])})",
             "95% upper bound": pct(g["upper95"]), "unsure": pct(g["unsure_share"]),
             f"within {report['target_fpr']:.0%}?": "yes" if g["within_rate"] else "no"}
            for g in groups]


def groups_text(report: dict, key: str) -> str:
    det = (report.get("detectors") or {}).get(key) or {}
    groups = det.get("groups") or []
    if not groups:
        return ("No real photos with group labels (UTKFace, All-Age-Faces file names) were "
                "among the sources, so false alarms per group were not measured.")
    over = [g for g in groups if not g["within_rate"]]
    rate = report["target_fpr"]
    half = (" The rule was chosen to keep every group within the rate on one half of each "
            "group's photos; these figures are of the other half." if det.get("group_half") else "")
    if not over:
        worst = max(groups, key=lambda g: g["generated_share"])
        if worst["generated_share"] == 0:
            return (f"In no group was any real photo called generated ({len(groups)} groups, "
                    f"{min(g['photos'] for g in groups)} photos or more each).{half}")
        return (f"No group had more than {rate:.0%} of its real photos called generated; the "
                f"most was {pct(worst['generated_share'])} ({worst['group']}, "
                f"{worst['photos']} photos).{half}")
    return (f"**Over the stated {rate:.0%}:** "
            + ", ".join(f"{g['group']} ({pct(g['generated_share'])} of {g['photos']})"
                        for g in sorted(over, key=lambda g: -g["generated_share"]))
            + f". Real photos of these groups are wrongly called generated more often.{half}")


def source_rows(settings: dict) -> list[dict[str, Any]]:
    """The card's sources, with their counts and where they come from."""
    return [{"source": s.get("name", ""), "kind": s.get("kind", ""),
             "origin": s.get("origin", ""), "family": s.get("family", ""),
             "photos": s.get("photos"), "faces found": s.get("faces_found"),
             "provenance": s.get("provenance", "")}
            for s in settings.get("sources") or []]


CANNOT_TELL = """\
- It judges the face only. It cannot tell whether a photo was edited, retouched, filtered or
  swapped, and a face from a kind of generator it was not fitted on will often pass as real
  (the per-source table below shows which generators it was measured on).
- The figures hold for the photo collections it was measured on, each left out of fitting in
  turn; a photo unlike all of them gets *unsure*, but no test covers every kind of photo.
- A verdict is not proof. Treat it as a hint worth checking, never as evidence about a person.
"""
