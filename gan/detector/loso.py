"""Leave one source out: how every figure of the forensic detector is measured.

A detector fitted and measured on held-out photos of the same collections learns which
collection a photo comes from (framing, colour, JPEG settings) and its figures say nothing about
a visitor's photo. Here, for each source in turn, the detector is fitted and calibrated on all
the others, and only then scores that source's photos: false alarms for a real source, catch
rate for a generated one. The verdict rule's thresholds are chosen on those left-out scores
(`choose_rule`), and the stated false-alarm rate is the worst left-out real source's 95% upper
bound, never the best case.

The same protocol runs the shortcut control: a classifier of 8x8 thumbnails (layout and colour
only). Where it separates a left-out source as well as the detector does, the test measures
the collection, not generation, and the table says so.
"""
from __future__ import annotations

import hashlib
import inspect
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan.data.dataset import unit_hash
from gan.detector import calibrate, classifier, ood
from gan.detector.collections import Described, Source
from gan.detector.verdict import GENERATED, REAL, UNSURE, Rule

CALIB_SEED = 3                  # which half of each source calibrates (by file-name hash)


@dataclass
class SourceData:
    source: Source
    data: Described

    @property
    def calib_mask(self) -> np.ndarray:
        return np.array([unit_hash(CALIB_SEED, Path(f).name) < 0.5 for f in self.data.files])


def fit_rows(sets: list[SourceData], part: str, use_variants: bool, thumbs: bool = False):
    """(X, y, w) from the fit or calib half of each set; every source weighs the same within its
    kind, and both kinds the same in all."""
    n_kind = {k: sum(1 for s in sets if s.source.kind == k) for k in ("real", "generated")}
    Xs, ys, ws = [], [], []
    for s in sets:
        d = s.data
        m = d.found & (s.calib_mask if part == "calib" else ~s.calib_mask)
        if thumbs:
            X = d.T[m]
        elif use_variants:
            X = np.concatenate([d.X[m], d.A[m].reshape(-1, d.A.shape[-1])])
        else:
            X = d.X[m]
        X = X[np.all(np.isfinite(X), axis=1)]
        if len(X) == 0:
            continue
        Xs.append(X)
        ys.append(np.full(len(X), s.source.label))
        ws.append(np.full(len(X), 1.0 / len(X) / max(n_kind[s.source.kind], 1)))
    return np.concatenate(Xs), np.concatenate(ys), np.concatenate(ws)


@dataclass
class Fitted:
    model: classifier.Classifier
    platt: dict                       # calibrate.probability's section
    ood: ood.OOD | None

    def p(self, X: np.ndarray) -> np.ndarray:
        return calibrate.probability(self.model.decision(X), self.platt)


def fit(sets: list[SourceData], kind: str = classifier.DEFAULT_KIND, thumbs: bool = False,
        with_ood: bool = True, ood_columns: int | None = None) -> Fitted:
    """The classifier on the fit halves (with their variants), Platt on the calib halves; the
    out-of-distribution check on the first `ood_columns` features (all when None)."""
    X, y, w = fit_rows(sets, "fit", use_variants=not thumbs, thumbs=thumbs)
    model = classifier.train(X, y, w, kind="lr" if thumbs else kind)
    Xc, yc, wc = fit_rows(sets, "calib", use_variants=False, thumbs=thumbs)
    a, b = calibrate.platt_fit(model.decision(Xc), yc, weights=wc * len(wc))
    detector_ood = None
    if with_ood and not thumbs:
        ok = [s.data.found & np.all(np.isfinite(s.data.X), axis=1) for s in sets]
        detector_ood = ood.fit(model.standardise,
                               [s.data.X[m & ~s.calib_mask] for s, m in zip(sets, ok)],
                               [s.data.X[m & s.calib_mask] for s, m in zip(sets, ok)],
                               columns=ood_columns)
    return Fitted(model, {"method": "platt", "a": a, "b": b, "input": "score"}, detector_ood)


@dataclass
class LeftOut:
    """One source's photos as scored by the detector fitted without it."""
    name: str
    kind: str
    family_seen: bool               # another source of its family was in the fit
    n_photos: int
    no_face: int
    p: np.ndarray                   # [n] P(generated) of each photo with a face, as it is
    p_re: np.ndarray                # [n, len(REENCODINGS)] of its re-encodings
    unfamiliar: np.ndarray          # [n] bool: out of the fit sources' range
    p_thumb: np.ndarray             # [n] the thumbnail control's P(generated)
    files: list[str]                # the scored photos, in the order of p
    fitted: "Fitted"                # the detector fitted without this source
    too_small: int = 0              # faces found but too small for the detector to read


def leave_one_out(sets: list[SourceData], kind: str = classifier.DEFAULT_KIND,
                  log=lambda m: None, ood_columns: int | None = None,
                  with_ood: bool = True, cache_dir=None) -> list[LeftOut]:
    """Each source scored by the detector fitted without it. `with_ood` as the stored detector
    has it: a detector the app runs without the unfamiliar-photo check is measured without it.
    With `cache_dir`, each left-out source's result is kept there as soon as it is measured,
    so a fit stopped midway and started again goes on where it stopped."""
    out = []
    keys = _cache_keys(cache_dir, sets, kind, ood_columns, with_ood)
    for i, s in enumerate(sets):
        cached = _cached(keys[i])
        if cached is not None:
            log(f"without {s.source.name} ({i + 1}/{len(sets)}): from the cache")
            out.append(cached)
            continue
        rest = [t for j, t in enumerate(sets) if j != i]
        log(f"fitting without {s.source.name} ({i + 1}/{len(sets)})")
        fitted = fit(rest, kind, with_ood=with_ood, ood_columns=ood_columns)
        out.append(left_out(s, rest, fitted, fit(rest, thumbs=True)))
        _keep(keys[i], out[-1])
    return out


def _code_digest() -> str:
    """The code a left-out result depends on: a cached result of other code is not reused."""
    import gan.detector.loso as this

    h = hashlib.sha1()
    for module in (this, classifier, calibrate, ood):
        h.update(inspect.getsource(module).encode())
    return h.hexdigest()


def _cache_keys(cache_dir, sets: list[SourceData], kind: str, ood_columns, with_ood: bool):
    """One cache file per left-out source, keyed by every set's photos and features (in
    order), the options and the code; [None] * n without `cache_dir`."""
    if cache_dir is None:
        return [None] * len(sets)
    h = hashlib.sha1(json.dumps([1, kind, ood_columns, with_ood, _code_digest(),
                                 [[s.source.name, s.source.kind, s.source.family, s.data.files,
                                   s.data.finder] for s in sets]]).encode())
    for s in sets:
        for part in (s.data.found, s.data.X, s.data.R, s.data.A, s.data.T):
            h.update(np.ascontiguousarray(part).tobytes())
    names = (hashlib.sha1(f"{h.hexdigest()}:{i}".encode()).hexdigest()[:16] for i in range(len(sets)))
    return [Path(cache_dir) / f"loso-{name}.joblib" for name in names]


def _cached(path: Path | None) -> "LeftOut | None":
    """A kept result, or None. It is a pickle (joblib), which can run code when loaded: only
    the user's own --cache folder is read, never a file that came with a bundle or a source."""
    if path is None or not path.is_file():
        return None
    import joblib

    try:
        return joblib.load(path)
    except Exception:           # a damaged or foreign cache file: measured again
        return None


def _keep(path: Path | None, value: "LeftOut") -> None:
    if path is None:
        return
    import joblib

    from gan.io import atomic_write_bytes

    buf = io.BytesIO()
    joblib.dump(value, buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())


def left_out(s: SourceData, rest: list[SourceData], fitted: Fitted, thumb: Fitted) -> LeftOut:
    """Source `s` scored by `fitted` and the thumbnail control `thumb`, both fitted on `rest`."""
    d = s.data
    m, p, p_re, unfamiliar = score(fitted, d)
    return LeftOut(
        name=s.source.name, kind=s.source.kind,
        family_seen=any(t.source.family == s.source.family for t in rest),
        n_photos=len(d), no_face=int((~d.found).sum()), p=p, p_re=p_re,
        unfamiliar=unfamiliar, p_thumb=thumb.p(d.T[m]),
        files=[f for f, k in zip(d.files, m) if k], fitted=fitted,
        too_small=int((d.found & ~m).sum()))


def score(fitted: Fitted, d: Described):
    """(which photos were scored: a face found and readable, P(generated) as they are, of
    each re-encoding, and whether each is unlike every fit source) of described photos."""
    m = d.found & np.all(np.isfinite(d.X), axis=1)
    X, R = d.X[m], d.R[m]
    R = np.where(np.isfinite(R), R, X[:, None, :])    # a re-encoding too small to read: as is
    p = fitted.p(X)
    p_re = np.stack([fitted.p(R[:, k]) for k in range(R.shape[1])], axis=1)
    unfamiliar = fitted.ood.unfamiliar(X) if fitted.ood else np.zeros(len(X), bool)
    return m, p, p_re, unfamiliar


# --------------------------------------------------------------------------- the rule


def _verdicts(lo: LeftOut, rule: Rule) -> np.ndarray:
    return rule.decide_many(lo.p, lo.p_re, lo.unfamiliar)[0]


def choose_rule(left: list[LeftOut], rate: float, confidence: float = 0.95,
                exclude: str | None = None) -> Rule:
    """The thresholds, from left-out scores only (a source named `exclude` left out of the
    choice too, for the nested check):

    - "generated" at or above `generated_at`: the lowest value at which every left-out real
      source has a 95% upper bound of its share called "generated" within `rate`;
    - "real" below `real_below`: where left-out real photos start to outnumber left-out
      generated ones (each source weighing the same: the equal-error point); between the two,
      left-out sources disagree and the verdict is "unsure".
    """
    reals = [lo for lo in left if lo.kind == "real" and lo.name != exclude and len(lo.p)]
    gens = [lo for lo in left if lo.kind == "generated" and lo.name != exclude and len(lo.p)]
    grid = np.unique(np.concatenate([lo.p for lo in left if len(lo.p)] + [np.array([1.0])]))
    real_below = _equal_error(reals, gens, grid)
    best = 1.0 + 1e-9
    for t in grid[::-1]:
        if t < real_below:
            break
        rule = Rule(generated_at=float(t), real_below=real_below)
        if all(calibrate.upper_bound(int((_verdicts(lo, rule) == GENERATED).sum()), len(lo.p),
                                     confidence) <= rate for lo in reals):
            best = float(t)
        else:
            break
    return Rule(generated_at=best, real_below=min(real_below, best))


def _equal_error(reals: list[LeftOut], gens: list[LeftOut], grid: np.ndarray) -> float:
    if not reals or not gens:
        return 0.5
    fa = np.mean([[np.mean(lo.p >= t) for t in grid] for lo in reals], axis=0)
    miss = np.mean([[np.mean(lo.p < t) for t in grid] for lo in gens], axis=0)
    return float(grid[int(np.argmin(np.abs(fa - miss)))])


def table(left: list[LeftOut], rule: Rule, rate: float, confidence: float = 0.95,
          rescored=None) -> list[dict]:
    """One row per left-out source: verdict shares (unsure apart, by reason), the 95% upper
    bound of false alarms for a real source, the nested check (threshold chosen without it),
    ROC AUC against all left-out real photos for a generated one, and the thumbnail control.
    `rescored(name)`: every source's left-out scores made again without that source (for a
    score that itself depends on other sources' photos, the panel's ranks), for its nested
    check."""
    real_p = np.concatenate([lo.p for lo in left if lo.kind == "real"])
    real_t = np.concatenate([lo.p_thumb for lo in left if lo.kind == "real"])
    rows = []
    for lo in left:
        v, why = rule.decide_many(lo.p, lo.p_re, lo.unfamiliar)
        n = len(lo.p)
        count = {k: int((v == k).sum()) for k in (GENERATED, UNSURE, REAL)}
        row = {"source": lo.name, "kind": lo.kind, "photos": lo.n_photos, "no_face": lo.no_face,
               "too_small": lo.too_small, "scored": n, **count,
               "unsure_reasons": {r: int((why == r).sum()) for r in sorted(set(why.tolist()) - {""})},
               "generated_share": count[GENERATED] / n if n else None,
               "unsure_share": count[UNSURE] / n if n else None}
        if lo.kind == "real":
            row["false_alarm_upper95"] = calibrate.upper_bound(count[GENERATED], n, confidence) if n else None
            again = rescored(lo.name) if rescored is not None else left
            nested = choose_rule(again, rate, confidence, exclude=lo.name)
            mine = next(x for x in again if x.name == lo.name)
            row["nested_generated_share"] = float(np.mean(_verdicts(mine, nested) == GENERATED)) if n else None
            tt = _thumb_threshold(left, rate, exclude=lo.name)
            row["thumbnail_generated_share"] = float(np.mean(lo.p_thumb >= tt)) if n else None
        else:
            row["family_seen"] = lo.family_seen
            row["auc_vs_real"] = calibrate.roc_auc(np.r_[np.zeros(len(real_p)), np.ones(n)], np.r_[real_p, lo.p]) if n else None
            row["thumbnail_auc_vs_real"] = calibrate.roc_auc(np.r_[np.zeros(len(real_t)), np.ones(n)], np.r_[real_t, lo.p_thumb]) if n else None
        rows.append(row)
    return rows


def _thumb_threshold(left: list[LeftOut], rate: float, exclude: str | None) -> float:
    """The thumbnail control's own threshold, by the same left-out false-alarm rule."""
    reals = [lo.p_thumb for lo in left if lo.kind == "real" and lo.name != exclude and len(lo.p_thumb)]
    return max(calibrate.threshold_for_fpr(p, rate) for p in reals) if reals else 0.5
