"""The panel: the learned detector and the GAN's discriminator judging a photo together.

Why: each alone answers half of a visitor's question. The learned detector, trained on many
sources, catches a few percent of other generators' faces at its rule and none of this
project's own; the discriminator (trained on against its finished generator) catches this
project's faces and no other generator's. A page whose default is one of them tells a visitor
holding this model's face that it may be real.

How: each member's P(generated) is put on one scale, its **real-photo rank** (`Ranks`): the share
of left-out real photos (photos of sources that member was not fitted on) it scores above. The
panel's score is the higher of the two ranks, so a photo is called generated when either member
places it far above real photos, and real only when both place it among them. Above every
left-out real photo the last 0.1% of the scale keeps the order of the member's P. The rule is
chosen on the panel's left-out scores like every other detector's (`loso.choose_rule`): no
left-out real source over the stated false-alarm rate, unsure between the edges and when a
re-save would flip the verdict. The members read what they read alone: the learned detector
the landmark-aligned face, the discriminator its own crop (scored whether or not that crop
found a face: the panel's "no face" is the landmark finder's).

The discriminator speaks only far above real photos (`GATE`): below the 99th percentile of
left-out real photos its rank counts as 0. Why: it tells this project's faces from photos and
nothing else; everywhere below that its rank is noise, and with a plain maximum that noise lifts
every real photo's score, which blurs other generators' faces into real ones (figures in
docs/detector.md). Cards fitted before the gate have none (`gate` 0: the plain maximum), and
are scored as fitted.

A photo the learned detector finds unlike every source it was fitted on (its unfamiliar-photo
check, `learned.FeatureOOD`) is "unsure" on the panel too: the panel's rank of it is the
learned detector's guess. Panels fitted before that check have none.

Each source's panel score combines the members' scores of it when it was left out (the
learned detector's fold, the discriminator's calibration without it). The ranks are taken from
all left-out real photos; the nested check (rule chosen without a source) takes them without
that source's photos too (`leave_out`'s third result), so the source is in neither.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from gan.images import rgb_array

KEY = "panel"
MEMBERS = ("learned", "discriminator")
DRAFT_SIDE = 1024            # uploads decoded as the learned detector's (dfeatures.DRAFT_SIDE)
KNOTS = 1001                    # rank levels stored per member
TOP = 0.999                     # ranks 0..TOP: among left-out real photos; TOP..1: above them all
GATE = 0.99                     # the discriminator's rank counts from here (0 below)


@dataclass(frozen=True)
class Ranks:
    """One member's P(generated) -> its real-photo rank in [0, 1] (monotone)."""
    knots: np.ndarray           # P at rank levels 0, 1/(KNOTS-1), ..., 1 (non-decreasing)

    @classmethod
    def of(cls, real_p: np.ndarray) -> "Ranks":
        real_p = np.asarray(real_p, np.float64)
        if not len(real_p):
            raise ValueError("the panel's ranks need left-out real photos")
        return cls(np.quantile(real_p, np.linspace(0.0, 1.0, KNOTS)))

    def __call__(self, p) -> np.ndarray:
        p = np.asarray(p, np.float64)
        k = self.knots
        levels = np.linspace(0.0, TOP, len(k))
        # np.interp wants increasing knots: ties (many equal P) take the highest level of the tie
        uniq, last = np.unique(k[::-1], return_index=True)
        r = np.interp(p, uniq, levels[::-1][last])
        top = float(k[-1])
        above = (p - top) / max(1.0 - top, 1e-12)
        return np.where(p > top, TOP + (1.0 - TOP) * np.clip(above, 0.0, 1.0), r)

    def to_card(self) -> list[float]:
        return [float(f"{v:.9g}") for v in self.knots]

    @classmethod
    def from_card(cls, knots) -> "Ranks":
        k = np.asarray(knots, np.float64)
        if k.ndim != 1 or len(k) < 2 or not np.all(np.isfinite(k)) or np.any(np.diff(k) < 0):
            raise ValueError("the panel's ranks must be a non-decreasing list of numbers")
        return cls(k)


def combine(p_learned, p_disc, ranks: dict[str, Ranks], gate: float = GATE) -> np.ndarray:
    """The panel's score: the higher of the members' real-photo ranks, the discriminator's
    counted only from `gate` up (0 below it; `gate` 0: the plain maximum)."""
    r_d = ranks["discriminator"](p_disc)
    return np.maximum(ranks["learned"](p_learned), np.where(r_d >= gate, r_d, 0.0))


@dataclass
class PanelFitted:
    """The panel as `loso` and the report read a fitted detector: `p` of rows, each the aligned
    face (`collections.describe_views`) followed by the discriminator's crop of the same photo
    (`stored.discriminator_views`), both flattened uint8 (`photo_views` makes them); its
    unfamiliar-photo check is the learned detector's, on the aligned half of each row."""
    learned: object             # loso.Fitted of the learned detector
    disc: object                # loso.Fitted of the discriminator (identity + Platt)
    ranks: dict
    disc_raw: Callable          # discriminator crops [n, R, R, 3] uint8 -> raw scores
    gate: float = GATE

    @property
    def ood(self):
        return _AlignedHalf(self.learned.ood) if getattr(self.learned, "ood", None) else None

    def p(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, np.uint8)
        half = X.shape[1] // 2
        size = int(round((half / 3) ** 0.5))
        raw = self.disc_raw(X[:, half:].reshape(-1, size, size, 3))
        return combine(self.learned.p(X[:, :half]), self.disc.p(np.asarray(raw, np.float64)[:, None]),
                       self.ranks, self.gate)


@dataclass(frozen=True)
class _AlignedHalf:
    """The learned detector's check of panel rows (the aligned face, then the crop)."""
    check: object

    def unfamiliar(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        return self.check.unfamiliar(X[:, :X.shape[1] // 2])


def photo_views(img, size: int, crop: str, finders: tuple[str, ...] | None = None):
    """(face shown, views [1 + len(REENCODINGS), 2, R, R, 3], face found, faces): each view the
    aligned face the learned detector reads beside the crop the discriminator reads; ``faces``:
    how many the face finder found in the photo, the largest being the one judged (0: none).
    ``finders``: the face finders the panel was fitted with (None: all of
    `gan.data.landmarks.FINDERS`)."""
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from gan.data.landmarks import FINDERS, find_face
    from gan.data.preprocess import preprocess_image
    from gan.detector import dfeatures, variants
    from gan.detector.stored import crop_reads, discriminator_views

    # Work that does not wait on other work runs in a second thread (OpenCV and Pillow let go
    # of Python's lock, so a large upload uses both cores): the discriminator's framing while
    # the face is found (and the whole half-size copy, for a photo whose part of it cannot be
    # made alone), then the discriminator's crops beside the aligned faces.
    rgb = rgb_array(img)    # also loads a lazily opened photo before threads share it
    with ThreadPoolExecutor(max_workers=2) as pool:
        half = None if variants.halves_exactly(*img.size) else pool.submit(variants.reencoded, img, "half")
        framed = pool.submit(preprocess_image, img, size=size, crop=crop)
        face = find_face(rgb, finders or FINDERS)
        if face is None:
            if half is not None:
                half.cancel()
            return None, None, False, 0
        first = framed.result()
        # Both members read the same re-encodings: made once, of the part either reads.
        a = dfeatures.reads(face, size, *img.size)
        b = crop_reads(first.box, size, *img.size)
        reencoded = variants.reencodings(img, keep=(min(a[0], b[0]), min(a[1], b[1]),
                                                    max(a[2], b[2]), max(a[3], b[3])),
                                         made={"half": half.result()} if half is not None else None,
                                         pool=pool)
        disc = pool.submit(discriminator_views, SimpleNamespace(crop=crop, resolution=size), img,
                           first=first, reencoded=reencoded)
        shown, aligned, found, faces = dfeatures.photo_views(img, size, face=face,
                                                             reencoded=reencoded, rgb=rgb)
        crops = disc.result()[1]
    return shown, np.stack([aligned, crops], axis=1), found, faces


def _disc_p(fitted, disc_d, files):
    """(P, P of each re-encoding) of the discriminator for `files`, from its description (raw
    scores of its crop, found or not); a file it could not read gets P 0 (rank 0)."""
    at = {f: i for i, f in enumerate(disc_d.files)}
    idx = np.array([at.get(f, -1) for f in files], int)
    k = disc_d.R.shape[1]
    p = np.zeros(len(idx))
    p_re = np.zeros((len(idx), k))
    have = idx >= 0
    if have.any():
        x = disc_d.X[idx[have]].astype(np.float64)
        r = disc_d.R[idx[have]].astype(np.float64)
        r = np.where(np.isfinite(r), r, x[:, None, :])
        p[have] = fitted.p(x)
        p_re[have] = np.stack([fitted.p(r[:, j]) for j in range(k)], axis=1)
    return p, p_re


def leave_out(learned_left: list, disc_left: list, disc_sets: list, disc_raw, gate: float = GATE):
    """([loso.LeftOut] of the panel, its ranks, nested): each source's photos (those the learned
    detector scored) scored by the members fitted without it; the three lists in one order.
    `nested(name)` scores them all again on ranks taken without that source's photos, for the
    nested check (`loso.table`)."""
    from gan.detector import loso

    members = []
    for lo_l, lo_d, s in zip(learned_left, disc_left, disc_sets):
        if lo_l.name != s.source.name or lo_d.name != s.source.name:
            raise ValueError("the panel's members must list the same sources in the same order")
        members.append(_disc_p(lo_d.fitted, s.data, lo_l.files))

    def ranks_without(exclude: str | None) -> dict[str, Ranks]:
        reals = [i for i, lo in enumerate(learned_left) if lo.kind == "real" and lo.name != exclude]
        return {"learned": Ranks.of(np.concatenate([learned_left[i].p for i in reals])),
                "discriminator": Ranks.of(np.concatenate([members[i][0] for i in reals]))}

    def scored_on(ranks: dict[str, Ranks]) -> list:
        out = []
        for (p_d, p_d_re), lo_l, lo_d in zip(members, learned_left, disc_left):
            out.append(loso.LeftOut(
                name=lo_l.name, kind=lo_l.kind, family_seen=lo_l.family_seen,
                n_photos=lo_l.n_photos, no_face=lo_l.no_face, too_small=lo_l.too_small,
                p=combine(lo_l.p, p_d, ranks, gate), p_re=combine(lo_l.p_re, p_d_re, ranks, gate),
                unfamiliar=np.asarray(lo_l.unfamiliar, bool), p_thumb=lo_l.p_thumb,
                files=list(lo_l.files),
                fitted=PanelFitted(lo_l.fitted, lo_d.fitted, ranks, disc_raw, gate=gate)))
        return out

    ranks = ranks_without(None)
    return scored_on(ranks), ranks, lambda name: scored_on(ranks_without(name))


def scored(fitted: PanelFitted, views_d, disc_d):
    """(files scored, P, P of each re-encoding, unfamiliar) of photos described for both
    members (the learned detector's `describe_views`, the discriminator's
    `describe_discriminator`), as `loso.score` gives for one detector: the report's larger
    per-group samples."""
    from gan.detector import loso

    m, p_l, p_l_re, unfamiliar = loso.score(fitted.learned, views_d)
    files = [f for f, k in zip(views_d.files, m) if k]
    p_d, p_d_re = _disc_p(fitted.disc, disc_d, files)
    return (files, combine(p_l, p_d, fitted.ranks, fitted.gate),
            combine(p_l_re, p_d_re, fitted.ranks, fitted.gate), unfamiliar)


def settings(card: dict) -> dict | None:
    s = (card.get("detector") or {}).get(KEY)
    return s if isinstance(s, dict) and isinstance(s.get("ranks"), dict) else None


def ranks_from_card(section: dict) -> dict[str, Ranks]:
    return {k: Ranks.from_card(section["ranks"][k]) for k in MEMBERS}


def gate_from_card(section: dict) -> float:
    """The card's gate; a card fitted before the gate has none: the plain maximum (0)."""
    try:
        g = float(section.get("gate", 0.0))
    except (TypeError, ValueError):
        g = float("nan")
    if not 0.0 <= g <= 1.0:
        raise ValueError("the panel's gate must be a number between 0 and 1")
    return g
