"""False alarms per group: real photos of each UTKFace race, gender and age band and each
All-Age-Faces age band and gender, called generated.

Why a module of its own: the groups are used twice, apart. A rule chosen on whole sources can
still call one group's photos generated far more often than the stated rate (the GAN's
discriminator called 6.2% of UTKFace's Asian photos generated while UTKFace as a whole stayed
within it). So the fit raises each detector's "generated" threshold until every group is
within the stated rate too (`tighten`), on one half of each group's photos (`CHOICE`, by a hash
of the file name); the report measures the other half (`CHECK`), so the per-group figures a
page states are of photos the rule was not chosen on. Either way each photo is scored by the
detector fitted without its source (leave one source out).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from gan.data.dataset import unit_hash
from gan.detector import calibrate
from gan.detector.verdict import GENERATED, UNSURE, Rule

GROUP_PHOTOS = 300          # photos per group and half (beyond the fit's sample of a source)
SPLIT_SEED = 11             # which half of a group's photos a photo is in (by file name)
CHOICE, CHECK = "choice", "check"

_UTK = re.compile(r"^(\d+)_([01])_([0-4])_")
_AAF = re.compile(r"^(\d{5})A(\d{2})\.")
UTK_RACES = ("White", "Black", "Asian", "Indian", "Other")
AAF_FIRST_MALE = 7381        # All-Age-Faces: files 00000-07380 are women, the rest men


def _age_band(age: int) -> str:
    return ("child (under 10)" if age < 10 else "10-19" if age < 20 else "20-39" if age < 40
            else "40-59" if age < 60 else "over 60")


def groups_of(file: str) -> list[str]:
    """The groups a real photo belongs to, read from UTKFace's and All-Age-Faces' file names."""
    name = Path(file).name
    m = _UTK.match(name)
    if m:
        age, gender, race = int(m[1]), int(m[2]), int(m[3])
        return [f"UTKFace race: {UTK_RACES[race]}", f"UTKFace gender: {'female' if gender else 'male'}",
                f"UTKFace age: {_age_band(age)}"]
    m = _AAF.match(name)
    if m:
        return [f"All-Age-Faces age: {_age_band(int(m[2]))}",
                f"All-Age-Faces gender: {'male' if int(m[1]) >= AAF_FIRST_MALE else 'female'}"]
    return []


def half_of(file) -> str:
    """CHOICE or CHECK, fixed by the file's name."""
    return CHOICE if unit_hash(SPLIT_SEED, Path(file).name) < 0.5 else CHECK


def group_sample(files, n: int, half: str | None = None) -> list:
    """Up to `n` photos of every group the file names label (`groups_of`), in the order given
    (a source's hash ranking), so small groups are measured on as many photos as big ones;
    with `half`, only photos of that half."""
    taken: dict[str, int] = {}
    out = []
    for f in files:
        if half is not None and half_of(f) != half:
            continue
        gs = groups_of(str(f))
        if gs and any(taken.get(g, 0) < n for g in gs):
            out.append(f)
            for g in gs:
                taken[g] = taken.get(g, 0) + 1
    return out


@dataclass
class Scored:
    """One real source's group photos, each scored by the detector fitted without the source."""
    source: str
    files: list[str]                # the photos with a face scored, in the order of p
    p: np.ndarray
    p_re: np.ndarray
    unfamiliar: np.ndarray | None

    def verdicts(self, rule: Rule) -> np.ndarray:
        return rule.decide_many(self.p, self.p_re, self.unfamiliar)[0]


def score(left, sets, n: int, describe_fn, half: str | None, log=lambda m: None) -> list[Scored]:
    """Up to `n` photos of each group of every real source whose file names label groups, of
    one `half` (None: either), described by `describe_fn` and scored by the detector fitted
    without their source (`left`: a detector's `loso.LeftOut`s, in the order of `sets`). Any
    photo of a left-out source is unseen by its detector, so the sample may go beyond the
    fit's sample of it."""
    from gan.detector import loso, panel

    out = []
    for lo, sd in zip(left, sets):
        if lo.kind != "real" or lo.name != sd.source.name:
            continue
        files = group_sample(sd.source.sample(None), n, half)
        if not files:
            continue
        log(f"groups ({half}): {len(files)} photos of {lo.name}, up to {n} a group")
        d = describe_fn(files)
        if isinstance(lo.fitted, panel.PanelFitted):    # described for both its members
            scored, p, p_re, unfamiliar = panel.scored(lo.fitted, *d)
        else:
            m, p, p_re, unfamiliar = loso.score(lo.fitted, d)
            scored = [f for f, k in zip(d.files, m) if k]
        out.append(Scored(lo.name, [str(f) for f in scored], p, p_re, unfamiliar))
    return out


@lru_cache(maxsize=1 << 16)
def _groups_cached(file: str) -> tuple[str, ...]:
    return tuple(groups_of(file))


def _counts(pairs) -> dict[str, list[int]]:
    """{group: [photos, called generated, unsure]} of (files, verdicts) pairs."""
    counts: dict[str, list[int]] = {}
    for files, v in pairs:
        for f, verdict in zip(files, v):
            for g in _groups_cached(str(f)):
                c = counts.setdefault(g, [0, 0, 0])
                c[0] += 1
                c[1] += verdict == GENERATED
                c[2] += verdict == UNSURE
    return counts


def _within(scored: list[Scored], rule: Rule, rate: float, confidence: float) -> bool:
    counts = _counts((s.files, s.verdicts(rule)) for s in scored)
    return all(calibrate.upper_bound(k, n, confidence) <= rate for n, k, _ in counts.values()
               if can_show(n, rate, confidence))


def can_show(n: int, rate: float, confidence: float = 0.95) -> bool:
    """Whether n photos can show a share within `rate` at all: with none called generated,
    the upper bound of 0 of n must be within it (59 photos for 5% at 95%)."""
    return n > 0 and calibrate.upper_bound(0, n, confidence) <= rate


def tighten(rule: Rule, scored: list[Scored], rate: float, confidence: float = 0.95) -> Rule:
    """`rule` with "generated" raised to the lowest threshold at which every group's 95% upper
    bound of real photos called generated is within `rate` (as every source's already is).
    Raising it only moves photos from generated to unsure or real, so the first threshold that
    holds is the lowest; where none does below 1, nothing is called generated. A group too
    small to show the rate even with none called generated (`can_show`) cannot hold a rule to
    it and is left out: otherwise a few labelled photos would stop every "generated" verdict."""
    if not scored or _within(scored, rule, rate, confidence):
        return rule
    p = np.concatenate([np.r_[s.p, np.ravel(s.p_re)] for s in scored])
    for t in np.unique(np.nextafter(p[p >= rule.generated_at], np.inf)):
        trial = Rule(generated_at=float(t), real_below=rule.real_below)
        if _within(scored, trial, rate, confidence):
            return trial
    return Rule(generated_at=1.0 + 1e-9, real_below=rule.real_below)


def by_group(measured, rate: float, confidence: float = 0.95,
             scored: list[Scored] | None = None) -> list[dict]:
    """Real photos called generated per group under `measured.rule`: of `scored` (the half
    the rule was not chosen on, or either for a rule chosen on sources alone) for the sources
    in it, else of the left-out scores of the fit's sample."""
    scored = scored or []
    done = {s.source for s in scored}
    pairs = [(s.files, s.verdicts(measured.rule)) for s in scored]
    pairs += [(lo.files, measured.rule.decide_many(lo.p, lo.p_re, lo.unfamiliar)[0])
              for lo in measured.left if lo.kind == "real" and lo.name not in done]
    counts = _counts(pairs)
    rows = []
    for g in sorted(counts):
        n, k, u = counts[g]
        up = calibrate.upper_bound(k, n, confidence)
        rows.append({"group": g, "photos": n, "generated": k, "generated_share": k / n,
                     "upper95": up, "unsure_share": u / n, "within_rate": k / n <= rate})
    return rows
