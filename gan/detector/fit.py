"""Fitting a bundle's detectors, every figure measured leave-one-source-out.

1. Every source of the manifest (`gan.detector.collections`) is sampled and described once
   (cached): the discriminator-feature detector's features of the aligned face, the forensic
   detector's texture features, and the discriminator's raw score.
2. Leave one source out (`gan.detector.loso`): for each source, fit and calibrate without it,
   then score it. The verdict rule (generated / unsure / real) is chosen on those scores, so
   that no left-out real source goes over the stated false-alarm rate (95% upper bound), then
   raised where needed so that no group of real photos does either (`gan.detector.groups`,
   on one half of each group's photos; the report measures the other half).
3. The stored detectors are then fitted once more on all sources; the card states the left-out
   figures, per source, and the worst real source first, never the best case.

The discriminator goes through the same protocol with nothing to fit but its calibration: what
it catches (its own generator's faces) and what it does not are in the same table. Given a
discriminator trained on against its finished generator (`tune_discriminator`,
`gan.detector.tuned`), the table is that one's.

Fit-time code: it may use scikit-learn; the app never imports it.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gan.bundle import CARD, discriminator_sha256, read_card
from gan.data.landmarks import FINDERS
from gan.io import file_sha256 as _sha256
from gan.detector import (classifier, dfeatures, groups, kerasmodels, learned, loso, panel,
                          texture, tuned)
from gan.detector.collections import (Source, describe, describe_dfeatures, describe_discriminator,
                                      describe_views)
from gan.detector.forensic import FILE, ReadoutModel
from gan.io import atomic_write_bytes, atomic_write_text

DEFAULT_TARGET_FPR = 0.05
FPR_CONFIDENCE = 0.95
PER_SOURCE = 600


class FitError(ValueError):
    """Fitting cannot go on (too few sources of a kind); the message says what to add."""


@dataclass
class Measured:
    """One detector's left-out measurement."""
    left: list[loso.LeftOut]
    rule: Any
    rows: list[dict]
    final: loso.Fitted
    on_sources: Any = None          # the rule chosen on whole sources, before the groups
    group_photos: int = 0           # photos of the groups' choice half it was checked on


@dataclass
class FittedDetectors:
    forensic_model: ReadoutModel
    card: dict
    measured: dict[str, Measured] = field(default_factory=dict)
    sets: dict[str, list[loso.SourceData]] = field(default_factory=dict)
    dfeatures_model: ReadoutModel | None = None
    trained_on: TrainedOn | None = None     # detection/discriminator_tuned.npz, when trained
    learned_model: bytes | None = None      # detection/learned.npz, when trained
    learned_ood: bytes | None = None        # detection/learned_ood.npz, its unfamiliar check


def headline(rows: list[dict]) -> dict:
    """The figures a page states first: the worst left-out real source's share called
    "generated" (and its upper bound), and each generated source's catch rate."""
    reals = [r for r in rows if r["kind"] == "real" and r["scored"]]
    worst = max(reals, key=lambda r: (r["false_alarm_upper95"], r["generated_share"]))
    worst_nested = max(reals, key=lambda r: r["nested_generated_share"])
    return {"worst_real_source": worst["source"],
            "worst_real_generated_share": worst["generated_share"],
            "worst_real_upper95": worst["false_alarm_upper95"],
            "worst_nested_source": worst_nested["source"],
            "worst_nested_generated_share": worst_nested["nested_generated_share"],
            "catch": {r["source"]: r["generated_share"] for r in rows if r["kind"] == "generated"}}


def _rule(left: list[loso.LeftOut], rate: float, confidence: float, on_groups) -> tuple:
    """(the rule, the rule on whole sources alone, group photos checked): chosen on the
    left-out sources, then raised until every group is within the rate too (`on_groups(left)`:
    the groups' choice half scored by the detectors of `left`; None: no groups)."""
    by_sources = loso.choose_rule(left, rate, confidence)
    scored = on_groups(left) if on_groups is not None else []
    return (groups.tighten(by_sources, scored, rate, confidence), by_sources,
            sum(len(s.files) for s in scored))


def _measure(sets: list[loso.SourceData], kind: str, rate: float, confidence: float,
             with_ood: bool, log, ood_columns: int | None = None, cache_dir=None,
             on_groups=None) -> Measured:
    left = loso.leave_one_out(sets, kind, log=log, ood_columns=ood_columns, with_ood=with_ood,
                              cache_dir=cache_dir)
    rule, by_sources, n_groups = _rule(left, rate, confidence, on_groups)
    rows = loso.table(left, rule, rate, confidence)
    final = loso.fit(sets, kind, with_ood=with_ood, ood_columns=ood_columns)
    return Measured(left, rule, rows, final, by_sources, n_groups)


def _measure_learned(bundle, sets: list[loso.SourceData], steps: int, folds: int, rate: float,
                     confidence: float, log, cache_dir=None, on_groups=None) -> Measured:
    """The learned detector's measurement: leave folds out, the rule and table as `_measure`'s,
    then the model trained on all sources."""
    log(f"learned detector: leave {folds} folds of sources out, {steps} steps each")
    try:
        left = learned.leave_folds_out(bundle.discriminator, sets, bundle.resolution, folds,
                                       steps, log, cache_dir=cache_dir)
        rule, by_sources, n_groups = _rule(left, rate, confidence, on_groups)
        log("learned detector: training on all sources")
        final = learned.fit(bundle.discriminator, sets, bundle.resolution, steps, log,
                            cache_dir=cache_dir)
    except learned.LearnError as e:
        raise FitError(str(e)) from None
    return Measured(left, rule, loso.table(left, rule, rate, confidence), final, by_sources,
                    n_groups)


def _measure_panel(ml: Measured, md: Measured, sets_d: list[loso.SourceData], disc_raw,
                   rate: float, confidence: float, on_groups=None) -> Measured:
    """The panel's measurement (`gan.detector.panel`) from its members' left-out scores."""
    left, ranks, nested = panel.leave_out(ml.left, md.left, sets_d, disc_raw)
    rule, by_sources, n_groups = _rule(left, rate, confidence, on_groups)
    final = panel.PanelFitted(ml.final, md.final, ranks, disc_raw)
    return Measured(left, rule, loso.table(left, rule, rate, confidence, rescored=nested), final,
                    by_sources, n_groups)


def family_catch(rows: list[dict], sources: list[Source]) -> float:
    """The left-out catch rate averaged over generator families (each family's sources
    averaged first), so five runs of one generator do not outweigh one other generator."""
    family = {s.name: s.family for s in sources}
    by: dict[str, list[float]] = {}
    for r in rows:
        if r["kind"] == "generated" and r["scored"]:
            by.setdefault(family.get(r["source"], r["source"]), []).append(r["generated_share"])
    return float(sum(sum(v) / len(v) for v in by.values()) / len(by)) if by else 0.0


def default_detector(measured: dict[str, Measured], sources: list[Source]) -> str:
    """The page's default: of the detectors fitted on many sources (every one held to the
    stated false-alarm rate by its rule), the one that catches the most, by family."""
    fitted = [k for k in (panel.KEY, dfeatures.KEY, learned.KEY, "forensic") if k in measured]
    return max(fitted, key=lambda k: family_catch(measured[k].rows, sources))


def _section(m: Measured, note: str) -> dict:
    return {"calibration": {"method": "platt", **m.final.platt}, "rule": m.rule.to_card(),
            "threshold": min(m.rule.generated_at, 1.0), "note": note, **_groups_part(m),
            "left_out": {"rows": m.rows, **headline(m.rows)}}


def _groups_part(m: Measured) -> dict:
    """What the groups did to the rule (see `gan.detector.groups`)."""
    if not m.group_photos:
        return {}
    return {"rule_on_sources": m.on_sources.to_card(),
            "groups": {"half": groups.CHOICE, "photos": m.group_photos,
                       "raised": m.rule != m.on_sources}}


def check_options(sources: list[Source], per_source: int | None, target_fpr: float,
                  learned_steps: int = 0, learned_folds: int = learned.FOLDS) -> None:
    """FitError for options a fit cannot run with, before any work is done."""
    if not 0 < target_fpr < 1:      # e.g. 5 meant as 5%: the card would be refused on load
        raise FitError(f"the false-alarm rate must be a share between 0 and 1 (0.05 for 5%), "
                       f"not {target_fpr}")
    if per_source is not None and per_source < 1:
        raise FitError(f"photos per source must be at least 1, not {per_source}")
    for k in ("real", "generated"):
        if sum(s.kind == k for s in sources) < 2:
            raise FitError(f"leave-one-source-out needs at least 2 {k} sources in the manifest; "
                           f"it has {sum(s.kind == k for s in sources)}")
    if learned_steps < 0:
        raise FitError(f"the learned detector's steps must be 0 (none) or more, not {learned_steps}")
    if learned_steps > 0 and not 2 <= learned_folds <= len(sources):
        raise FitError(f"the learned detector's folds must be between 2 and the number of "
                       f"sources ({len(sources)}), not {learned_folds}")


# Each source's photos are split in two by file name (loso.SourceData.calib_mask); with this
# many faces a source, a half is empty about once in a million sources (2 ** (1 - n)).
FACES_NEEDED = 20


def check_halves(sets: list[loso.SourceData], what: str) -> None:
    """FitError unless leaving any one source out still leaves, of each kind, faces in both
    halves of the other sources' photos (the detector is fitted on one half and calibrated on
    the other, with both kinds in each): too few photos a source otherwise, said in numbers
    instead of the calibration's "needs scores of both real and generated faces"."""
    for kind in ("real", "generated"):
        halves = {}
        for s in sets:
            if s.source.kind != kind:
                continue
            ok = s.data.found & np.all(np.isfinite(s.data.X), axis=1)
            calib = s.calib_mask if len(ok) else np.zeros(0, bool)
            halves[s.source.name] = (int((ok & ~calib).sum()), int((ok & calib).sum()))
        if all(sum(h[i] > 0 for h in halves.values()) >= 2 for i in (0, 1)):
            continue
        counts = ", ".join(f"{name} {f} + {c}" for name, (f, c) in halves.items())
        raise FitError(
            f"too few photos with a face to measure the {what} leaving one source out: each "
            f"source's photos are split by file name into a fitting and a calibration half, and "
            f"with any one source left out the other {kind} sources must have faces in both; "
            f"they have {counts} (fitting + calibration). Give --per-source {FACES_NEEDED} or "
            f"more (default {PER_SOURCE}), with at least {FACES_NEEDED} photos with a face in "
            f"every source.")


def training_photos(bundle):
    """The photos `bundle` was trained on (its card's source and split), framed by its crop;
    FitError saying what to give when they are not here."""
    from gan.data.split import Split

    split = Split.from_card(bundle.card)
    if split.path is None:
        raise FitError(f"training the discriminator on needs the photos {bundle.name} was trained "
                       f"on (data.source = {split.source!r}), which are not here; give "
                       f"--tune-photos FOLDER (photos like them), or --tune-steps 0")
    return split.load().train.images


@dataclass
class TrainedOn:
    """The discriminator trained on (`gan.detector.tuned`): its stored file and the model."""
    data: bytes
    model: Any
    steps: int
    photos: int

    @property
    def scorer(self):
        return hashlib.sha256(self.data).hexdigest(), lambda x: tuned.scores(self.model, x)


def _tuned_cache_file(cache_dir, bundle, photos, steps: int) -> Path | None:
    """Where a training of this bundle's networks on exactly these photos is kept (it is
    deterministic), so a fit stopped later and started again does not train it anew."""
    if cache_dir is None:
        return None
    h = hashlib.sha1(json.dumps([2, steps, tuned.BATCH, tuned.LEARNING_RATE, tuned.P_CHANGED,
                                 list(tuned.TRUNCATION)]).encode())
    h.update(np.ascontiguousarray(photos).tobytes())
    for network in (bundle.discriminator, bundle.generator):
        for w in network.get_weights():
            h.update(np.ascontiguousarray(w).tobytes())
    return Path(cache_dir) / f"tuned-{h.hexdigest()[:16]}.npz"


def tune_discriminator(bundle, photos, steps: int, log=lambda m: None,
                       cache_dir=None) -> TrainedOn:
    """The discriminator of `bundle` trained on for `steps` against its generator (or the one
    a training with the same inputs left in `cache_dir`)."""
    def train(progress):
        log(f"training the discriminator on against its generator: {steps} steps, "
            f"{len(photos)} photos")
        try:
            return tuned.train(bundle, photos, steps=steps, log=log, progress=progress)
        except tuned.TuneError as e:
            raise FitError(str(e)) from None

    data, model = kerasmodels.stored_or_trained(
        _tuned_cache_file(cache_dir, bundle, photos, steps),
        lambda: tuned.image_model(bundle.discriminator), train, log,
        "the discriminator trained on against its generator:")
    return TrainedOn(data, model, steps, len(photos))


def stored_trained_on(bundle) -> TrainedOn | None:
    """The bundle's stored trained-on discriminator (to measure it again), or None."""
    model = tuned.load(bundle)
    if model is None:
        return None
    s = tuned.settings(bundle.card)
    return TrainedOn((Path(bundle.path) / s["file"]).read_bytes(), model, int(s.get("steps", 0)),
                     int(s.get("photos", 0)))


def fit_detectors(bundle, sources: list[Source], *, per_source: int = PER_SOURCE,
                  cache_dir: Path | None = None, kind: str = classifier.DEFAULT_KIND,
                  target_fpr: float = DEFAULT_TARGET_FPR, confidence: float = FPR_CONFIDENCE,
                  jobs: int = 2, trained_on: TrainedOn | None = None,
                  learned_steps: int = 0, learned_folds: int = learned.FOLDS,
                  group_photos: int = 0, log=lambda m: None) -> FittedDetectors:
    """Every detector measured leave-one-source-out and fitted on all sources; the
    discriminator's figures are of `trained_on` when given (`tune_discriminator`); with
    `learned_steps` > 0, the learned detector too (`gan.detector.learned`, leave-folds-out).
    With `group_photos` > 0, each rule is raised until every group of real photos is within
    the rate too, on up to that many photos of each group's choice half (`gan.detector.groups`)."""
    t0 = time.perf_counter()
    check_options(sources, per_source, target_fpr, learned_steps, learned_folds)
    d_scorer = trained_on.scorer if trained_on is not None else None
    describe_for = describers(bundle, cache_dir, jobs, log, trained_on)

    def on_groups(key: str, sets: list[loso.SourceData]):
        if group_photos <= 0:
            return None
        return lambda left: groups.score(left, sets, group_photos, describe_for[key],
                                         groups.CHOICE, log)
    sets_f, sets_d, sets_p, sets_v = [], [], [], []
    for s in sources:
        files = s.sample(per_source)
        log(f"describing {s.name}: {len(files)} photos")
        sets_f.append(loso.SourceData(s, describe(files, cache_dir, jobs=jobs, log=log)))
        sets_d.append(loso.SourceData(s, describe_discriminator(
            files, bundle, cache_dir, jobs=jobs, log=log, scorer=d_scorer)))
        sets_p.append(loso.SourceData(s, describe_dfeatures(files, bundle, cache_dir, jobs=jobs, log=log)))
        if learned_steps > 0:
            sets_v.append(loso.SourceData(s, describe_views(files, bundle.resolution, cache_dir,
                                                            jobs=jobs, log=log)))
    for sets, what in ((sets_p, "discriminator-feature detector"),
                       (sets_f, "forensic detector"), (sets_d, "discriminator")):
        check_halves(sets, what)
    log("discriminator features: leave one source out")
    mp = _measure(sets_p, kind, target_fpr, confidence, True, log,
                  ood_columns=dfeatures.ood_columns(bundle), cache_dir=cache_dir,
                  on_groups=on_groups(dfeatures.KEY, sets_p))
    log("forensic detector: leave one source out")
    mf = _measure(sets_f, kind, target_fpr, confidence, True, log, cache_dir=cache_dir,
                  on_groups=on_groups("forensic", sets_f))
    log("discriminator: leave one source out")
    md = _measure(sets_d, "identity", target_fpr, confidence, False, log, cache_dir=cache_dir,
                  on_groups=on_groups("discriminator", sets_d))
    ml = (_measure_learned(bundle, sets_v, learned_steps, learned_folds, target_fpr, confidence,
                           log, cache_dir, on_groups=on_groups(learned.KEY, sets_v))
          if learned_steps > 0 else None)
    measured = {"forensic": mf, "discriminator": md, dfeatures.KEY: mp}
    if ml is not None:
        measured[learned.KEY] = ml
        log("panel (learned detector and discriminator): from their left-out scores")
        from gan.detector.stored import discriminator_scores

        disc_raw = d_scorer[1] if d_scorer is not None else (
            lambda x: discriminator_scores(bundle, x))
        measured[panel.KEY] = _measure_panel(ml, md, sets_d, disc_raw, target_fpr, confidence,
                                             on_groups=on_groups(panel.KEY, sets_v))
    meta = {"texture_version": texture.TEXTURE_VERSION, "dim": texture.DIM, "classifier": kind}
    model = ReadoutModel(mf.final.model, mf.final.ood, meta)
    p_meta = {"dim": int(sets_p[0].data.X.shape[1]), "classifier": kind,
              "discriminator_sha256": discriminator_sha256(bundle.card)}
    p_model = ReadoutModel(mp.final.model, mp.final.ood, p_meta)
    rule_text = (f"generated at or above the lowest P(generated) at which every left-out real "
                 f"source's 95% upper bound of photos called generated is at most "
                 f"{target_fpr:.0%}" + (
                     f" and so is every group's (UTKFace race, gender and age band; "
                     f"All-Age-Faces age band and gender; up to {group_photos} photos a group "
                     f"from one half of its photos, split by file name; the report measures "
                     f"the other half)"
                     if group_photos > 0 else "")
                 + f"; real below the left-out equal-error point; unsure between, "
                 f"for photos unlike every fit source (detectors with that check), and when a "
                 f"JPEG q75 or half-size re-save would change the verdict")
    section = {
        "default": default_detector(measured, sources), "method": "leave-one-source-out",
        "target_fpr": target_fpr, "group_photos": group_photos,
        "confidence": confidence, "threshold_rule": rule_text,
        "finders": list(FINDERS),
        "fitted": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "sources": [{"name": sd.source.name, "kind": sd.source.kind, "origin": sd.source.origin,
                     "family": sd.source.family, "provenance": sd.source.provenance,
                     "photos": len(sd.data), "faces_found": int(sd.data.found.sum())}
                    for sd in sets_f],
        "forensic": {"file": FILE, "kind": f"texture features of the landmark-framed face at the "
                                             f"photo's own resolution; {kind} read-out",
                     "classifier": kind, **_section(mf, rule_text)},
        dfeatures.KEY: {"file": dfeatures.FILE,
                        "kind": f"the discriminator's features of the landmark-aligned face at "
                                f"{bundle.resolution} px; {kind} read-out",
                        "classifier": kind, **_section(mp, rule_text)},
        "discriminator": _section(md, "the GAN's own discriminator" + (
            f", trained on for {trained_on.steps} steps against its finished generator"
            if trained_on is not None else "")
            + ", calibrated and measured leave-one-source-out like the forensic detector"),
    }
    if ml is not None:
        section[learned.KEY] = {
            "file": learned.FILE, "ood_file": learned.OOD_FILE,
            "steps": learned_steps, "folds": learned_folds,
            "kind": f"the discriminator's layers trained on as a classifier of the "
                    f"landmark-aligned face at {bundle.resolution} px, from its weights",
            "protocol": f"leave-sources-out in {learned_folds} folds: each source scored by the "
                        f"model trained and calibrated without its fold",
            **_section(ml, rule_text)}
    if panel.KEY in measured:
        mq = measured[panel.KEY]
        section[panel.KEY] = {
            "members": list(panel.MEMBERS), "calibration": None,
            "ranks": {k: r.to_card() for k, r in mq.final.ranks.items()},
            "gate": mq.final.gate,
            "kind": "the learned detector and the discriminator together: generated when either "
                    "places the photo far above left-out real photos, real when both place it "
                    "among them",
            "rule": mq.rule.to_card(), "threshold": min(mq.rule.generated_at, 1.0),
            "note": rule_text, **_groups_part(mq),
            "left_out": {"rows": mq.rows, **headline(mq.rows)}}
    if trained_on is not None:
        section[tuned.KEY] = {"file": tuned.FILE, "steps": trained_on.steps,
                              "photos": trained_on.photos,
                              "note": "gan.detector.tuned: the discriminator trained on against "
                                      "the frozen generator, its faces framed as uploads are"}
    section["fit_seconds"] = round(time.perf_counter() - t0, 1)
    sets = {"forensic": sets_f, "discriminator": sets_d, dfeatures.KEY: sets_p}
    if ml is not None:
        sets[learned.KEY] = sets_v
        sets[panel.KEY] = sets_v
    return FittedDetectors(model, section, measured, sets, dfeatures_model=p_model,
                           trained_on=trained_on,
                           learned_model=kerasmodels.to_bytes(ml.final.model.model) if ml else None,
                           learned_ood=ml.final.ood.to_bytes() if ml else None)


def stored_group_photos(card: dict) -> int:
    """Photos a group the stored rules were held within the rate on (0: rules on sources
    alone, as every card fitted before 2026-12-07's group rule): `report` chooses the rules
    again exactly so, or its figures would be of other rules than the stored ones."""
    try:
        return max(int((card.get("detector") or {}).get("group_photos", 0)), 0)
    except (TypeError, ValueError):
        return 0


def describers(bundle, cache_dir, jobs: int, log, trained_on: TrainedOn | None = None) -> dict:
    """{detector: files -> described photos}, as the fit describes a source's sample (the
    panel's: both its members' descriptions), for photos beyond the sample (the groups')."""
    scorer = trained_on.scorer if trained_on is not None else None
    out = {
        dfeatures.KEY: lambda f: describe_dfeatures(f, bundle, cache_dir, jobs=jobs, log=log),
        learned.KEY: lambda f: describe_views(f, bundle.resolution, cache_dir, jobs=jobs, log=log),
        "forensic": lambda f: describe(f, cache_dir, jobs=jobs, log=log),
        "discriminator": lambda f: describe_discriminator(f, bundle, cache_dir, jobs=jobs,
                                                          log=log, scorer=scorer)}
    out[panel.KEY] = lambda f: (out[learned.KEY](f), out["discriminator"](f))
    return out


def write_detectors(bundle_path, fitted: FittedDetectors) -> dict:
    """Store the fitted detector files (atomically) and the card's `detector` section and
    `files` entry. The rest of `detection/` (the report) is left as it is."""
    bundle_path = Path(bundle_path)
    entries, staged = {}, []
    try:        # every file staged first: a failure leaves the old files and card as they were
        for name, data in ((FILE, fitted.forensic_model), (dfeatures.FILE, fitted.dfeatures_model),
                           (tuned.FILE, fitted.trained_on.data if fitted.trained_on else None),
                           (learned.FILE, fitted.learned_model),
                           (learned.OOD_FILE, fitted.learned_ood)):
            if data is None:
                continue
            target = bundle_path / name
            tmp = target.with_name(target.name + ".new")       # only the final name is loaded
            staged.append((tmp, target))
            atomic_write_bytes(tmp, data if isinstance(data, bytes) else data.to_bytes())
            entries[name] = {"bytes": tmp.stat().st_size, "sha256": _sha256(tmp)}
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, target in staged:
        tmp.replace(target)
    # The detector section is replaced whole: no figure of an earlier fit may survive in it.
    card = read_card(bundle_path)
    card["detector"] = fitted.card
    files = {**card.get("files", {}), **entries}
    dropped = ([tuned.FILE] if fitted.trained_on is None else []) + (    # a refit without them
        [learned.FILE] if fitted.learned_model is None else []) + (
        [learned.OOD_FILE] if fitted.learned_ood is None else []) + [
        tuned.LEGACY_FILE, learned.LEGACY_FILE]                         # stored the old way
    for name in dropped:
        files.pop(name, None)
    card["files"] = files
    atomic_write_text(bundle_path / CARD, json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")
    for name in dropped:
        (bundle_path / name).unlink(missing_ok=True)
    return card
