"""The detectors a bundle stores, as the CLI, the app and the reports use them.

Each is a `StoredDetector` with one contract, whatever it looks at:

- `prepare(image)`: a decoded photo -> (the face to show, its views, whether a face was found,
  how many faces the face finder found in it, the largest being the one judged; None when not
  counted: the discriminator frames its crop without the landmark finders). The views are what
  is scored: the photo as it is and its re-encodings (`gan.detector.variants.REENCODINGS`), so
  the verdict can check that a re-upload would not flip it;
- `judge(views)`: P(generated) of each photo and its verdict with the reason
  (`gan.detector.verdict.Rule`: generated, real or unsure).

The detectors `python -m gan.detector fit` stores: `dfeatures` reads the discriminator's
features of the landmark-aligned face (`gan.detector.dfeatures`), `learned` the same face
through the discriminator's layers trained on as a classifier (`gan.detector.learned`), `forensic` the face's
texture at the photo's own resolution (`gan.detector.forensic`). The discriminator itself is
always there: it reads the bundle's 128 px crop, its raw score being minus its logit (high for
faces like its training photos).
`stored_detectors` lists them best first; `pick` chooses one by name, as `gan.detect` does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image

from gan.data.landmarks import ALL_FINDERS, FINDERS_BEFORE_MTCNN
from gan.data.preprocess import DRAFT_FACTOR, preprocess_image, to_model_input
from gan.detector import calibrate, dfeatures, forensic, learned, panel, tuned, variants
from gan.detector.verdict import Rule

TITLES = {panel.KEY: "The panel: learned detector and discriminator together",
          dfeatures.KEY: "What the discriminator sees (fitted on many sources)",
          learned.KEY: "The discriminator trained on many sources (learned)",
          "forensic": "Forensic detector (texture, fitted on many sources)",
          "discriminator": "The GAN's own discriminator"}
TUNED_TITLE = "The GAN's own discriminator, trained on against its finished generator"
UNCALIBRATED_NOTE = "uncalibrated: p = sigmoid(-logit) of the raw discriminator"


def discriminator_scores(bundle, images_uint8: np.ndarray, labels: np.ndarray | None = None,
                         batch_size: int = 64) -> np.ndarray:
    """Raw scores [n] (minus the logit: higher = generated) of prepared uint8 faces
    [n, R, R, 3]. A conditional discriminator is given neutral labels (0.5) unless told."""
    out = []
    for i in range(0, len(images_uint8), batch_size):
        x = to_model_input(images_uint8[i:i + batch_size])
        if bundle.conditional:
            y = labels[i:i + batch_size] if labels is not None else np.full(
                (len(x), len(bundle.label_names)), 0.5, np.float32)
            x = [x, y]
        logits = bundle.discriminator.predict_on_batch(x)    # a compiled graph: see kerasmodels.logits
        out.append(np.asarray(logits, dtype=np.float64).reshape(-1))
    return -np.concatenate(out) if out else np.zeros((0,), np.float64)


def discriminator_views(bundle, img: Image.Image, crop: str | None = None, first=None,
                        reencoded: list | None = None):
    """(face shown, views [1 + len(REENCODINGS), R, R, 3], face found) for the discriminator:
    the bundle's crop of the photo as it is and of each re-encoding, the re-encodings cut at
    the same place (the face is found once). ``first``: the photo's `preprocess_image` at the
    bundle's crop and resolution and ``reencoded`` its `variants.reencodings` covering
    `crop_reads(first.box, ...)`, when a caller shares them."""
    crop = crop or bundle.crop
    size = bundle.resolution
    first = first if first is not None else preprocess_image(img, size=size, crop=crop)
    if reencoded is None:
        reencoded = variants.reencodings(img, keep=crop_reads(first.box, size, *img.size))
    views = [first.image]
    for changed, scale in reencoded:
        cw, ch = changed.size
        x0, y0, x1, y1 = (v * scale for v in first.box)
        box = (max(0.0, x0), max(0.0, y0), min(float(cw), x1), min(float(ch), y1))
        views.append(np.asarray(changed.resize((size, size), Image.Resampling.LANCZOS, box=box),
                                np.uint8))
    return first.image, np.stack(views), first.face_found


def crop_reads(box, size: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The part of a width x height photo that `discriminator_views` reads for a crop `box`:
    the box and the reach of the Lanczos filter (3 of its output pixels) around it."""
    x0, y0, x1, y1 = box
    reach = int(np.ceil(3 * max(x1 - x0, y1 - y0) / size)) + 2
    return (max(0, x0 - reach), max(0, y0 - reach), min(width, x1 + reach), min(height, y1 + reach))


def detector_settings(bundle) -> dict:
    """The card's detector section, with the defaults of a bundle that was never fitted."""
    det = dict(bundle.card.get("detector", {}))
    det.setdefault("calibration", None)
    det.setdefault("threshold", 0.5)
    return det


def card_finders(bundle) -> tuple[str, ...]:
    """The face finders the bundle's detectors were fitted with: uploads are framed the same
    way, so the stated figures hold for them. A card fitted before MTCNN joined names none."""
    names = detector_settings(bundle).get("finders")
    if not names:
        return FINDERS_BEFORE_MTCNN
    names = tuple(str(n) for n in names)
    if set(names) - set(ALL_FINDERS):
        raise forensic.DetectorError(f"the card names face finders this version does not have: "
                                     f"{', '.join(sorted(set(names) - set(ALL_FINDERS)))}")
    return names


def rule_of(section: dict) -> Rule:
    """The section's verdict rule; a card fitted before the rule existed has one threshold,
    which is then both edges (no unsure band, re-encoding checks still apply)."""
    if isinstance(section.get("rule"), dict):
        return Rule.from_card(section["rule"])
    t = float(section.get("threshold", 0.5))
    return Rule(generated_at=t, real_below=t)


@dataclass(frozen=True)
class Judged:
    p: np.ndarray               # [n] P(generated) of each photo as it is
    verdicts: np.ndarray        # [n] "generated", "real" or "unsure"
    reasons: np.ndarray         # [n] why unsure ("" otherwise): see gan.detector.verdict


@dataclass(frozen=True)
class StoredDetector:
    """A detector a bundle offers."""
    key: str                                      # "forensic" or "discriminator"
    title: str
    note: str                                     # what its score means (from the card)
    rule: Rule
    calibrated: bool
    prepare: Callable          # PIL image [, crop] -> (shown, views, found, faces or None)
    raw: Callable[[np.ndarray], np.ndarray]       # views of one kind [n, ...] -> raw score
    unfamiliar: Callable[[np.ndarray], np.ndarray] | None = None  # views [n, ...] -> bool
    calibration: dict | None = None
    measured: dict | None = None                  # the card's left-out figures, when measured
    draft_side: int | None = None                 # decode large JPEGs down to about this side
    section: dict = field(default_factory=dict, repr=False)

    @property
    def threshold(self) -> float:
        """P(generated) at and above which a face is called generated."""
        return self.rule.generated_at

    def p(self, views: np.ndarray) -> np.ndarray:
        return calibrate.probability(self.raw(views), self.calibration)

    def judge(self, views: np.ndarray) -> Judged:
        """Verdicts of photos' views [n, 1 + len(REENCODINGS), ...]."""
        views = np.asarray(views)
        if len(views) == 0:
            empty = np.zeros(0)
            return Judged(empty, empty.astype(str), empty.astype(str))
        n, k = views.shape[:2]
        p_all = self.p(views.reshape(n * k, *views.shape[2:])).reshape(n, k)
        odd = self.unfamiliar(views[:, 0]) if self.unfamiliar is not None else None
        v, why = self.rule.decide_many(p_all[:, 0], p_all[:, 1:], odd)
        return Judged(p_all[:, 0], v, why)


def _fitted(bundle, key: str, section: dict, finders: tuple[str, ...]):
    """A fitted detector (forensic or discriminator features) framing faces with `finders`, or
    the DetectorError saying why it cannot be used. Loaded once per bundle object (and per
    stored file) and kept on it."""
    module = forensic if key == "forensic" else dfeatures
    cache = bundle.__dict__.setdefault("_stored_detectors", {})
    ck = (key, bundle.card["files"].get(section["file"], {}).get("sha256"), str(section.get("rule")))
    if ck not in cache:
        try:
            cache[ck] = module.load(bundle)
        except forensic.DetectorError as e:
            cache[ck] = e
    if isinstance(cache[ck], Exception):
        return cache[ck]
    f = cache[ck]
    return StoredDetector(
        key=key, title=TITLES[key], note=str(section.get("note") or ""),
        rule=rule_of(section), calibrated=True,
        prepare=lambda img, crop=None: module.photo_views(img, bundle.resolution, finders),
        raw=f.scores, unfamiliar=f.unfamiliar, calibration=section.get("calibration"),
        measured=section.get("left_out"), draft_side=module.DRAFT_SIDE, section=section)


def _panel(bundle, section: dict, members: dict, finders: tuple[str, ...]) -> StoredDetector:
    """The panel (`gan.detector.panel`) of the bundle's learned detector and discriminator:
    each view the aligned face and the discriminator's crop, each member's P as it alone
    gives it, combined on the real-photo rank scale."""
    ranks, gate = panel.ranks_from_card(section), panel.gate_from_card(section)
    m_l, m_d = members[learned.KEY], members["discriminator"]

    def score(views):
        views = np.asarray(views)
        return panel.combine(m_l.p(views[:, 0]), m_d.p(views[:, 1]), ranks, gate)

    def unfamiliar(views):      # the learned detector's check, on the aligned face
        return m_l.unfamiliar(np.asarray(views)[:, 0])

    return StoredDetector(
        key=panel.KEY, title=TITLES[panel.KEY], note=str(section.get("note") or ""),
        rule=rule_of(section), calibrated=True,
        prepare=lambda img, crop=None: panel.photo_views(img, bundle.resolution,
                                                         crop or bundle.crop, finders),
        raw=score, unfamiliar=unfamiliar if m_l.unfamiliar is not None else None,
        calibration={"method": "identity"}, measured=section.get("left_out"),
        draft_side=dfeatures.DRAFT_SIDE, section=section)


def stored_detectors(bundle) -> tuple[list[StoredDetector], dict[str, str]]:
    """(usable detectors, default first; {key: why not} for a stored detector that cannot be
    used, e.g. a damaged forensic file)."""
    s = detector_settings(bundle)
    d_section = s.get("discriminator") if isinstance(s.get("discriminator"), dict) else s
    calibrated = bool(d_section.get("calibration"))
    found, problems = {}, {}
    try:        # the detectors that frame faces by landmarks need the card's finders
        finders, no_finders = card_finders(bundle), None
    except forensic.DetectorError as e:
        finders, no_finders = None, str(e)
    try:        # the card's discriminator figures are of the trained-on one when it lists one
        trained_on = tuned.load(bundle)
    except forensic.DetectorError as e:
        problems["discriminator"] = str(e)
    else:
        found["discriminator"] = StoredDetector(
            key="discriminator",
            title=(TUNED_TITLE if trained_on is not None else TITLES["discriminator"])
            + ("" if calibrated else " (raw)"),
            note=str(d_section.get("note") or s.get("note") or
                     ("calibrated on held-out photos" if calibrated else UNCALIBRATED_NOTE)),
            rule=rule_of(d_section), calibrated=calibrated,
            prepare=lambda img, crop=None: (*discriminator_views(bundle, img, crop), None),
            raw=(lambda x: discriminator_scores(bundle, x)) if trained_on is None
            else (lambda x: tuned.scores(trained_on, x)),
            calibration=d_section.get("calibration"), measured=d_section.get("left_out"),
            draft_side=DRAFT_FACTOR * bundle.resolution, section=d_section)
    for key, module in ((dfeatures.KEY, dfeatures), ("forensic", forensic)):
        section = module.settings(bundle.card)
        if section is not None:
            det = no_finders or _fitted(bundle, key, section, finders)
            if isinstance(det, (Exception, str)):
                problems[key] = str(det)
            else:
                found[key] = det
    s_learned = learned.settings(bundle.card)
    if s_learned is not None:
        try:
            if no_finders:
                raise forensic.DetectorError(no_finders)
            model = learned.load(bundle)
            scorer = learned.Scorer(model, learned.load_ood(bundle, model))
        except forensic.DetectorError as e:
            problems[learned.KEY] = str(e)
        else:
            found[learned.KEY] = StoredDetector(
                key=learned.KEY, title=TITLES[learned.KEY], note=str(s_learned.get("note") or ""),
                rule=rule_of(s_learned), calibrated=True,
                prepare=lambda img, crop=None: dfeatures.photo_views(img, bundle.resolution,
                                                                     finders),
                raw=scorer.raw, unfamiliar=scorer.unfamiliar if scorer.check is not None else None,
                calibration=s_learned.get("calibration"), measured=s_learned.get("left_out"),
                draft_side=dfeatures.DRAFT_SIDE, section=s_learned)
    s_panel = panel.settings(bundle.card)
    if s_panel is not None:
        if any(k not in found for k in panel.MEMBERS):
            problems[panel.KEY] = "it needs both its members: " + "; ".join(
                problems.get(k, f"no {k} detector") for k in panel.MEMBERS if k not in found)
        else:
            try:
                found[panel.KEY] = _panel(bundle, s_panel, found, finders)
            except ValueError as e:
                problems[panel.KEY] = f"its card section is damaged ({e})"
    default = s.get("default")
    order = sorted(found, key=lambda k: (k != default, k == "discriminator"))
    return [found[k] for k in order], problems


def pick(bundle, wanted: str | None) -> tuple[StoredDetector, str | None]:
    """The detector named `wanted` (the default one when None) and a warning (or None) about
    stored detectors that cannot be used; raises ValueError when `wanted` is not usable."""
    dets, problems = stored_detectors(bundle)
    by_key = {d.key: d for d in dets}
    if wanted:
        if wanted in by_key:
            return by_key[wanted], None
        if wanted in problems:
            raise ValueError(problems[wanted])
        raise ValueError(f"{bundle.name} has no {wanted} detector"
                         + (f"; fit one with `python -m gan.detector fit --model {bundle.path}`"
                            if wanted in ("forensic", dfeatures.KEY, learned.KEY) else ""))
    if not dets:
        raise ValueError("no detector of this bundle can be used: " + "; ".join(problems.values()))
    warning = None
    if problems:
        warning = "; ".join(f"the {k} detector is not usable ({m}); using the {dets[0].key}"
                            for k, m in problems.items())
    return dets[0], warning
