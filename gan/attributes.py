"""Attribute sliders, and how well they work: `python -m gan.attributes --model models/NAME`.

A slider at s in [-1, 1] edits the same faces (the seed keeps z) in one or both of two ways:
- label (conditional bundles): the attribute's label input becomes 0.5 + 0.5 * s * reach.
  Reach 1 puts the ends at the trained labels 0 and 1; more takes them beyond (the generator
  embeds labels with a Dense layer, so values outside [0, 1] extrapolate the same way);
- direction (InterFaceGAN, Shen et al. 2020): z moves by s * strength along a unit direction
  in latent space along which the attribute classifier's log-odds rise, fitted here on
  generated faces; each direction has the other attributes' directions projected out.
  This is what gives an unconditional bundle sliders.
The card's `attributes` section (written by this measurement: reach, strength, the
directions file) says which the app uses; a conditional bundle never measured uses labels
0..1 and no direction.

The measurement (writes `<bundle>/attributes/` and a summary into the card):
1. a small CNN is trained on real labelled photos (the bundle's training split, rebuilt from
   its card as `gan.evaluate` does) and scored on the held-out split (`gan.attribute_classifier`);
2. for N seeds, each attribute is generated at the slider's two ends with z and the other
   attributes (random 0/1 per face) held fixed; a face "flips" when the classifier says "no"
   at the low end and "yes" at the high end;
3. identity: the high-end face must be re-identified among the N low-end faces, by nearest
   neighbour in a feature space of the central face region (see IdentitySpace);
4. a face counts as a success when it flips and is re-identified; the target is 80% per
   attribute. Several settings are measured and the card records the one the app uses:
   the simplest (labels before directions, smaller before larger) that meets the target
   for every attribute, else the best (a direction only when it beats labels by 5 points).
Directions are fitted on other seeds than those measured, but with the same classifier that
judges them; labels are not fitted to the classifier at all. It consumes bundles only: no
training code, no Streamlit.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from gan import reports

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPORT_FORMAT = "facegan-attributes/1"
DIRECTIONS_FORMAT = "facegan-directions/1"
OUT_DIR = "attributes"
DIRECTIONS_FILE = "directions.json"
# What load_directions reads (and, past the schema, checks against the generator).
DIRECTIONS_SCHEMA = reports.validator({
    "title": "attribute directions (attributes/directions.json)",
    "type": "object",
    "required": ["format", "names", "vectors"],
    "properties": {"format": {"const": DIRECTIONS_FORMAT},
                   "names": {"type": "array", "items": {"type": "string", "minLength": 1},
                             "uniqueItems": True},
                   "vectors": {"type": "array",
                               "items": {"type": "array", "items": {"type": "number"}}}},
})
DEFAULT_REACH = 1.0
MAX_REACH = 3.0
MAX_STRENGTH = 6.0
REACHES = (1.0, 1.5, 2.0)
STRENGTHS = (0.75, 1.5)
DIRECTION_MARGIN = 0.05     # a direction must beat labels by this much: it is fitted to the judge
DEFAULT_ATTRIBUTES = "male,smiling"
TARGET = 0.8
DEFAULT_N = 500
DEFAULT_FIT_N = 2000
PAIRS_SHOWN = 10
ENDS = {"male": ("female", "male"), "smiling": ("not smiling", "smiling"),
        "young": ("older", "young"), "eyeglasses": ("no glasses", "glasses")}


class AttributesError(ValueError):
    """The measurement cannot run as asked; the message says why and what to do."""


# ---- slider semantics (the app and the measurement share these) ----

def attribute_names(label_names: list[str]) -> list[str]:
    """The binary labels (sliders); one-hot groups (`class=a`) are not sliders."""
    return [n for n in label_names if "=" not in n]


def _bounded(value, default: float, low: float, high: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return default
    return float(min(max(v, low), high)) if np.isfinite(v) else default


def slider_reach(card: dict) -> float:
    """The label reach the card's measurement chose, 1.0 (the trained 0..1) when never measured."""
    return _bounded((card.get("attributes") or {}).get("slider_reach", DEFAULT_REACH),
                    DEFAULT_REACH, 0.1, MAX_REACH)


def label_value(s: float, reach: float = DEFAULT_REACH) -> float:
    """Slider position s in [-1, 1] -> the label value the generator gets."""
    return 0.5 + 0.5 * float(np.clip(s, -1.0, 1.0)) * float(reach)


def slider_labels(sliders: dict[str, float], reach: float = DEFAULT_REACH) -> dict[str, float]:
    """{name: label value} for the sliders moved off the middle (the middle is the
    generator's default 0.5, so an untouched slider changes nothing, file names included)."""
    return {k: round(label_value(s, reach), 4) for k, s in sliders.items() if round(float(s), 4) != 0}


def ends(name: str) -> tuple[str, str]:
    """Words for the two ends of a slider: ("female", "male"), ("not smiling", "smiling")."""
    words = name.replace("_", " ")
    return ENDS.get(name.lower(), (f"not {words}", words))


def load_directions(bundle_path: str | Path, card: dict,
                    latent_dim: int) -> tuple[dict[str, np.ndarray], reports.Report | None]:
    """({name: unit vector}, None) from the file the card's `attributes.directions` names;
    ({}, None) when it names none. When that file cannot be used (missing, not JSON, not a
    directions file, or not fitting this generator): ({}, the `gan.reports.Report` saying
    why), so the sliders fall back to labels and the page can say which file is damaged."""
    rel = (card.get("attributes") or {}).get("directions")
    if not rel:
        return {}, None
    found = reports.read(Path(bundle_path) / rel, DIRECTIONS_SCHEMA, bundle_path)
    if found.data is None:
        return {}, found if found.problem else replace(found, problem="it is missing")
    names, vectors = found.data["names"], found.data["vectors"]
    lengths = sorted({len(v) for v in vectors})
    problem = None
    if len(vectors) != len(names):
        problem = f"its names ({len(names)}) and vectors ({len(vectors)}) do not pair up"
    elif vectors and lengths != [int(latent_dim)]:
        problem = (f"its vectors have {' or '.join(map(str, lengths))} numbers, but this "
                   f"generator's latent code has {int(latent_dim)}")
    elif not np.all(np.isfinite(np.asarray(vectors, np.float64))):
        problem = "vectors holds numbers that are not finite"
    if problem:
        return {}, replace(found, data=None, problem=problem)
    return {n: (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)
            for n, v in zip(names, np.asarray(vectors, np.float32))}, None


@dataclass
class Sliders:
    """What the sliders of one bundle do. `names` is empty when it has none."""
    names: list[str]
    reach: float | None = None             # label reach; None: the bundle has no such labels
    strength: float = 0.0                  # z shift at a slider end, along `directions`
    directions: dict[str, np.ndarray] = field(default_factory=dict)
    damaged: reports.Report | None = None  # the directions file the card names, unusable

    def labels(self, values: dict[str, float]) -> dict[str, float]:
        if self.reach is None:
            return {}
        return slider_labels({k: v for k, v in values.items() if k in self.names}, self.reach)

    def z_shift(self, values: dict[str, float]) -> np.ndarray | None:
        """The shift added to every face's z; None when no direction moves."""
        moved = {k: float(np.clip(v, -1, 1)) for k, v in values.items()
                 if k in self.directions and round(float(v), 4) != 0}
        if not self.strength or not moved:
            return None
        return (self.strength * sum(v * self.directions[k] for k, v in moved.items())).astype(np.float32)

    def describe(self) -> str:
        parts = []
        if self.reach is not None:
            parts.append(f"labels {label_value(-1, self.reach):g} to {label_value(1, self.reach):g}")
        if self.strength and self.directions:
            parts.append(f"z moved {self.strength:g} along a fitted direction each way")
        return " and ".join(parts)


def sliders_for(bundle) -> Sliders:
    """A bundle's sliders: its binary labels (conditional), else the fitted directions its
    card names (unconditional, after `python -m gan.attributes --attributes ...`), else none.
    When the card names a directions file that cannot be used, `damaged` says why and the
    sliders are what remains without it (labels, or none)."""
    card = bundle.card
    att = card.get("attributes") or {}
    strength = _bounded(att.get("direction_strength", 0.0), 0.0, 0.0, MAX_STRENGTH)
    directions, damaged = (load_directions(bundle.path, card, bundle.latent_dim) if strength
                           else ({}, None))
    names = attribute_names(bundle.label_names)
    if names:
        return Sliders(names, slider_reach(card), strength if directions else 0.0,
                       {k: v for k, v in directions.items() if k in names}, damaged)
    if directions:
        return Sliders(list(directions), None, strength, directions)
    return Sliders([], damaged=damaged)


# ---- identity ----

class IdentitySpace:
    """Where "the same person" is judged: the central face region (rows 20-85%, columns
    20-80% of the crop, i.e. brows to chin and cheek to cheek, without most background and
    hair), area-downsampled to 32x32 and projected on the first 64 principal components of
    the real training photos' same region. Distances there follow face shape, skin,
    eyes-nose-mouth layout and lighting. Background is left out because it is held fixed by z
    and would re-identify any two faces on the same background. This is no face recogniser
    (none can be downloaded here): it says the edited face kept the layout and colouring of
    the original, which is what "recognisably the same" means for a low-resolution GAN face."""

    BOX = (0.20, 0.85, 0.20, 0.80)    # top, bottom, left, right as fractions of the crop
    DESCRIPTION = ("central face region (rows 20-85%, columns 20-80% of the crop), 32x32, "
                   "first 64 principal components of the real training photos' same region, "
                   "Euclidean distance")

    def __init__(self, real_train: np.ndarray, components: int = 64):
        from gan.metrics.memorisation import FeatureSpace

        self.space = FeatureSpace(self.region(real_train), components=components)

    @classmethod
    def region(cls, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        s = images.shape[1]
        t, b, l, r = (int(round(f * s)) for f in cls.BOX)
        return np.ascontiguousarray(images[:, t:b, l:r])

    def features(self, images: np.ndarray) -> np.ndarray:
        return self.space.transform(self.region(images))


def reidentify(gallery: np.ndarray, probes: np.ndarray) -> dict[str, np.ndarray]:
    """Probe i (an edited face) is re-identified when its nearest gallery face (the N
    originals) is gallery i. Also the ratio of its distance to i over the median distance to
    the other originals (below 1: closer to itself than to a typical other face)."""
    g = gallery.astype(np.float64)
    p = probes.astype(np.float64)
    d = np.sqrt(np.clip((p ** 2).sum(1)[:, None] - 2 * p @ g.T + (g ** 2).sum(1)[None], 0, None))
    n = len(g)
    own = d[np.arange(n), np.arange(n)]
    others = d.copy()
    others[np.arange(n), np.arange(n)] = np.nan
    return {"reidentified": np.argmin(d, axis=1) == np.arange(n),
            "ratio": own / np.maximum(np.nanmedian(others, axis=1), 1e-12) if n > 1 else own * 0,
            "rank": (d < own[:, None]).sum(1)}


# ---- real photos ----

def real_photos(bundle, names: list[str], photos: str | None, holdout: float | None,
                progress: bool = False):
    """((images, labels, keys), (images, labels), description): labelled real photos: `photos`, else the card's data
    source; split with the card's holdout fraction and seed (the bundle's own split when
    the source is its training data), or `holdout` when given."""
    from gan.data import load_faces
    from gan.evaluate import resolve_source

    cfg = bundle.card.get("config", {})
    source = photos or (bundle.card.get("data") or {}).get("source")
    path = Path(photos) if photos else resolve_source(source)
    if path is None or not Path(path).exists():
        raise AttributesError(
            f"no labelled real photos to train the attribute classifier: the card's data source "
            f"{source!r} does not exist here. Give --photos PATH (a folder with a labels CSV "
            f"holding the columns {', '.join(names)}).")
    fraction = float(holdout if holdout is not None else cfg.get("holdout_fraction") or 0.1)
    seed = int(cfg.get("seed", 0))
    try:
        faces = load_faces(path, size=bundle.resolution, crop=bundle.crop, labels=names,
                           progress=progress)
    except (OSError, ValueError) as e:
        raise AttributesError(f"cannot read labelled photos from {path}: {e}") from e
    train, held = faces.split(fraction, seed)
    if len(train) < 4 or len(held) < 2:
        raise AttributesError(f"{path} gives {len(train)} training and {len(held)} held-out "
                              f"labelled photos; at least 4 and 2 are needed")
    cols = [faces.label_names.index(n) for n in names]
    desc = (f"{source}: {len(train):,} training photos, {len(held):,} held out "
            f"(split {fraction:g}, seed {seed})")
    return (train.images, train.labels[:, cols], train.keys), (held.images, held.labels[:, cols]), desc


# ---- the measurement ----

def random_others(n_faces: int, names: list[str], seed: int) -> np.ndarray:
    """Each face's other attributes: random 0/1, fixed while one slider moves."""
    return np.random.default_rng([seed, 2]).integers(0, 2, (n_faces, len(names))).astype(np.float32)


def base_labels(bundle, n_faces: int, names: list[str], seed: int) -> np.ndarray | None:
    """[n, K] labels of a conditional bundle: random 0/1 for the sliders, 0.5 elsewhere."""
    if not bundle.conditional:
        return None
    base = np.full((n_faces, len(bundle.label_names)), 0.5, np.float32)
    others = random_others(n_faces, names, seed)
    for c, name in enumerate(names):
        base[:, bundle.label_names.index(name)] = others[:, c]
    return base


def fit_directions(bundle, classifier, names: list[str], n_fit: int = DEFAULT_FIT_N,
                   seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """InterFaceGAN directions: generate n_fit faces from seeds other than the measured ones
    (labels at the middle, 0.5), regress the classifier's log-odds on z (least squares: no
    class balance needed, as a model that draws mostly "male" faces would otherwise have too
    few of one class) and keep the unit normal; then project every direction off the others
    (InterFaceGAN's conditional manipulation: moving "smiling" should not move "male").
    Returns the directions and, per attribute, the R^2 of the linear fit on a fifth of the
    faces left out of it (how linear the attribute is in z)."""
    from gan.attribute_classifier import predict
    from gan.sampling import generate_from_latents

    z = (np.random.default_rng([seed, 3]).standard_normal((n_fit, bundle.latent_dim))
         .astype(np.float32))
    y = (np.full((n_fit, len(bundle.label_names)), 0.5, np.float32) if bundle.conditional else None)
    p = np.clip(predict(classifier, generate_from_latents(bundle, z, y)), 1e-4, 1 - 1e-4)
    logit = np.log(p / (1 - p))
    cut = max(1, n_fit * 4 // 5)
    x_fit = np.concatenate([z[:cut], np.ones((cut, 1), np.float32)], 1)
    raw, r2 = {}, {}
    for c, name in enumerate(names):
        coef, *_ = np.linalg.lstsq(x_fit, logit[:cut, c], rcond=None)
        raw[name] = coef[:-1] / max(float(np.linalg.norm(coef[:-1])), 1e-12)
        if n_fit - cut >= 2:
            pred = z[cut:] @ coef[:-1] + coef[-1]
            resid = logit[cut:, c] - pred
            r2[name] = float(1 - resid.var() / max(logit[cut:, c].var(), 1e-12))
    directions = {}
    for name, d in raw.items():
        others = [raw[o] for o in names if o != name]
        if others:
            q, _ = np.linalg.qr(np.stack(others, 1))
            d = d - q @ (q.T @ d)
        directions[name] = (d / max(float(np.linalg.norm(d)), 1e-12)).astype(np.float32)
    return directions, r2


def measure_setting(bundle, classifier, space: IdentitySpace, z: np.ndarray,
                    base: np.ndarray | None, names: list[str], reach: float | None,
                    strength: float = 0.0, directions: dict[str, np.ndarray] | None = None,
                    keep_faces: int = 0) -> dict[str, Any]:
    """Flip and re-identification figures of every attribute at one setting: the label
    reach (None: labels untouched) and the z shift along the attribute's direction."""
    from gan.attribute_classifier import predict
    from gan.sampling import generate_from_latents

    out: dict[str, Any] = {"reach": reach, "strength": float(strength), "attributes": {}}
    if reach is not None:
        out["low_label"], out["high_label"] = label_value(-1, reach), label_value(1, reach)
    for name in names:
        c = names.index(name)
        y_lo = y_hi = base
        if reach is not None:
            j = bundle.label_names.index(name)
            y_lo, y_hi = base.copy(), base.copy()
            y_lo[:, j], y_hi[:, j] = out["low_label"], out["high_label"]
        shift = strength * directions[name] if strength else 0.0
        lo = generate_from_latents(bundle, (z - shift).astype(np.float32), y_lo)
        hi = generate_from_latents(bundle, (z + shift).astype(np.float32), y_hi)
        p_lo, p_hi = predict(classifier, lo)[:, c], predict(classifier, hi)[:, c]
        flipped = (p_lo < 0.5) & (p_hi >= 0.5)
        ident = reidentify(space.features(lo), space.features(hi))
        both = flipped & ident["reidentified"]
        r = {"flip_rate": float(flipped.mean()),
             "reverse_flip_rate": float(((p_lo >= 0.5) & (p_hi < 0.5)).mean()),
             "low_says_no": float((p_lo < 0.5).mean()),
             "high_says_yes": float((p_hi >= 0.5).mean()),
             "mean_p_low": float(p_lo.mean()), "mean_p_high": float(p_hi.mean()),
             "p_rises": float((p_hi > p_lo).mean()),
             "reidentified_rate": float(ident["reidentified"].mean()),
             "median_distance_ratio": float(np.median(ident["ratio"])),
             "success_rate": float(both.mean())}
        r["meets_target"] = bool(r["success_rate"] >= TARGET)
        if keep_faces:
            r["_faces"] = (lo[:keep_faces], hi[:keep_faces], p_lo[:keep_faces], p_hi[:keep_faces],
                           ident["reidentified"][:keep_faces])
        out["attributes"][name] = r
    out["worst_success_rate"] = min(a["success_rate"] for a in out["attributes"].values())
    return out


def setting_name(step: dict) -> str:
    parts = []
    if step.get("reach") is not None:
        parts.append(f"labels {step['low_label']:g}/{step['high_label']:g}")
    if step.get("strength"):
        parts.append(f"z -/+{step['strength']:g} along the direction")
    return " + ".join(parts) or "nothing"


def choose_setting(sweep: list[dict]) -> tuple[dict, str]:
    """The simplest setting (no direction before a direction, then the smaller strength and
    reach) meeting the target for every attribute; else the one with the best
    worst-attribute success rate (the simpler on a tie). Directions are fitted to the same
    judge that scores them, so short of the target they must beat the best label-only
    setting by DIRECTION_MARGIN to be chosen."""
    def simplicity(s):
        return (s["strength"], s["reach"] if s["reach"] is not None else 0.0)

    ok = [s for s in sweep if s["worst_success_rate"] >= TARGET]
    if ok:
        return min(ok, key=simplicity), (f"simplest measured setting meeting the {TARGET:.0%} "
                                         f"target for every attribute")
    pool = sweep
    labels_only = [s for s in sweep if not s["strength"]]
    if labels_only:
        best_labels = max(s["worst_success_rate"] for s in labels_only)
        if all(s["worst_success_rate"] < best_labels + DIRECTION_MARGIN for s in sweep
               if s["strength"]):
            pool = labels_only
    best = max(round(s["worst_success_rate"], 3) for s in pool)
    pick = min((s for s in pool if round(s["worst_success_rate"], 3) == best), key=simplicity)
    return pick, (f"no measured setting met the {TARGET:.0%} target; this one had the best "
                  f"worst-attribute success rate"
                  + (f" (directions must beat labels by {DIRECTION_MARGIN * 100:.0f} points)"
                     if len(pool) < len(sweep) else ""))


def pairs_figure(step: dict, names: list[str], title: str) -> bytes:
    """Per attribute, the first faces (not picked) at the low end above the high end, each
    with the classifier's P(attribute); green = flipped and re-identified."""
    from gan.metrics.figures import _plt, _png

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
    return _png(fig)


def _round(x: Any, digits: int = 4) -> Any:
    if isinstance(x, float):
        return float(f"{x:.{digits}g}")
    if isinstance(x, dict):
        return {k: _round(v, digits) for k, v in x.items() if not k.startswith("_")}
    if isinstance(x, list):
        return [_round(v, digits) for v in x]
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
    return _round(m)


def _floats(values, name: str, high: float) -> tuple[float, ...]:
    out = tuple(sorted({float(v) for v in values}))
    if any(not (0 < v <= high) for v in out):
        raise AttributesError(f"{name} must be in (0, {high:g}]")
    return out


def measure_bundle(bundle_path: str | Path, *, photos: str | None = None,
                   holdout: float | None = None, attributes: str | None = None,
                   n: int = DEFAULT_N, seed: int = 0, truncation: float = 1.0,
                   reaches: tuple[float, ...] = REACHES, strengths: tuple[float, ...] = STRENGTHS,
                   reach: float | None = None, strength: float | None = None,
                   n_fit: int = DEFAULT_FIT_N, epochs: int | None = None,
                   use_cache: bool = True, out_dir: str | Path | None = None,
                   write_card: bool = True, progress: bool = False,
                   log=lambda msg: None) -> dict:
    """Measure one bundle's sliders; write `<bundle>/attributes/` and the card.
    Returns the report. Raises AttributesError / BundleError with a clear message."""
    from gan import attribute_classifier as ac
    from gan.bundle import load_bundle, update_card
    from gan.io import atomic_write_text, staged_dir, write_files
    from gan.sampling import latents

    t0 = time.perf_counter()
    if n < 2:
        raise AttributesError("--n must be at least 2")
    bundle_path = Path(bundle_path)
    bundle = load_bundle(bundle_path)
    labelled = attribute_names(bundle.label_names)
    names = ([a.strip() for a in attributes.split(",") if a.strip()] if attributes
             else labelled or DEFAULT_ATTRIBUTES.split(","))
    if bundle.conditional and set(names) - set(labelled):
        raise AttributesError(f"{bundle.name} is conditional on {labelled}; its sliders are "
                              f"those labels, not {sorted(set(names) - set(labelled))}")
    if reach is not None or strength is not None:      # one setting, as given
        r = (DEFAULT_REACH if reach is None else float(reach)) if bundle.conditional else None
        settings = [(r, float(strength or 0.0))]
        if r is not None:
            _floats([r], "--reach", MAX_REACH)
        if settings[0][1]:
            _floats([settings[0][1]], "--strength", MAX_STRENGTH)
    else:                                              # the sweep: labels, then directions
        reaches = _floats(reaches, "reaches", MAX_REACH) if bundle.conditional else ()
        strengths = tuple(v for v in strengths if float(v) != 0)
        strengths = _floats(strengths, "strengths", MAX_STRENGTH) if strengths else ()
        settings = [(r, 0.0) for r in reaches]
        settings += [(min(reaches) if reaches else None, s) for s in strengths]
    settings = [(r, s) for r, s in settings if r is not None or s]
    if not settings:
        raise AttributesError(
            f"nothing to measure on {bundle.name}: give label reaches (--reaches) or direction "
            f"strengths (--strengths)" + ("" if bundle.conditional else "; it is unconditional, "
                                          "so its sliders can only move z along directions"))
    out_dir = Path(out_dir) if out_dir else bundle_path / OUT_DIR

    log("loading labelled real photos")
    (train_x, train_y, train_keys), (held_x, held_y), desc = real_photos(
        bundle, names, photos, holdout, progress)
    log(f"real: {desc}")
    epochs = ac.EPOCHS if epochs is None else int(epochs)
    clf, clf_info = ac.trained(train_x, train_y, names, train_keys, bundle.resolution,
                               bundle.crop, epochs=epochs, seed=0, use_cache=use_cache, log=log)
    acc = ac.accuracy(clf, held_x, held_y, names)
    log("classifier accuracy on held-out photos: "
        + ", ".join(f"{k} {v:.1%}" for k, v in acc.items()))
    space = IdentitySpace(train_x)

    directions, fit_r2 = {}, {}
    if any(s for _, s in settings):
        log(f"fitting InterFaceGAN directions on {n_fit} faces of other seeds")
        directions, fit_r2 = fit_directions(bundle, clf, names, n_fit, seed)
        log("  linear fit R^2 on faces left out: "
            + ", ".join(f"{k} {v:.2f}" for k, v in fit_r2.items()))

    z = latents(seed, n, bundle.latent_dim, truncation)
    base = base_labels(bundle, n, names, seed)
    sweep = []
    for r, s in settings:
        step = measure_setting(bundle, clf, space, z, base, names, r, s, directions,
                               keep_faces=PAIRS_SHOWN)
        sweep.append(step)
        log(f"{setting_name(step)}: " + "; ".join(
            f"{k} flips {a['flip_rate']:.0%}, re-identified {a['reidentified_rate']:.0%}, "
            f"both {a['success_rate']:.0%}" for k, a in step["attributes"].items()))
    if len(sweep) == 1:
        step, why = sweep[0], "the only setting measured"
    else:
        step, why = choose_setting(sweep)

    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "model": bundle.name,
        "bundle": str(bundle_path),
        "generator_sha256": bundle.card["files"]["generator.keras"]["sha256"],
        "training_steps": int(bundle.card.get("training", {}).get("steps", 0) or 0),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seeds": n, "seed": seed, "truncation": truncation, "target": TARGET,
        "other_attributes": ("random 0/1 per face, the same at both ends" if bundle.conditional
                             else "not controlled (unconditional bundle)"),
        "classifier": {"recipe": ac.RECIPE, "input_px": int(clf.inputs[0].shape[1]),
                       "epochs": epochs, "trained_on": len(train_x), "heldout": len(held_x),
                       "photos": desc, "heldout_accuracy": acc,
                       "heldout_base_rate": {k: float(held_y[:, c].mean())
                                             for c, k in enumerate(names)},
                       "cached": clf_info["cached"], "cache_file": clf_info["file"]},
        "identity": {"feature": IdentitySpace.DESCRIPTION,
                     "box": IdentitySpace.BOX, "components": space.space.components,
                     "rule": f"the high-end face's nearest of the {n} low-end faces is its own"},
        "directions": ({"file": DIRECTIONS_FILE, "fitted_on": n_fit, "fit_r2_left_out": fit_r2,
                        "method": "least squares of the classifier's log-odds on z, unit "
                                  "normal, other attributes' directions projected out"}
                       if directions else None),
        "sweep": _round(sweep),
        "chosen": {"setting": setting_name(step), "reach": step["reach"],
                   "strength": step["strength"], "why": why},
        "attributes": _round(step["attributes"]),
        "figures": {"pairs": "pairs.png"},
    }
    files = {"pairs.png": pairs_figure(
        step, names, f"{bundle.name}: slider ends ({setting_name(step)}), first {PAIRS_SHOWN} "
                     f"seeds; number = classifier P(attribute), green = flipped and re-identified")}
    if directions:
        files[DIRECTIONS_FILE] = (json.dumps({
            "format": DIRECTIONS_FORMAT, "latent_dim": bundle.latent_dim, "names": names,
            "vectors": [[round(float(v), 6) for v in directions[k]] for k in names],
            "generator_sha256": report["generator_sha256"]}) + "\n").encode()
    report["seconds"] = time.perf_counter() - t0

    with staged_dir(out_dir) as staging:
        write_files(staging, files)
        if clf_info["file"] is None:        # --no-cache: keep the judge beside its verdicts
            clf.save(staging / "classifier.keras")
        atomic_write_text(staging / "report.json", json.dumps(report, indent=2, default=str) + "\n")
    if write_card:
        rel = os.path.relpath(out_dir, bundle_path)
        rel = rel if not rel.startswith("..") else str(out_dir.resolve())
        update_card(bundle_path, metrics={"attributes": card_metrics(report)},
                    attributes={"slider_reach": step["reach"] or DEFAULT_REACH,
                                "direction_strength": step["strength"],
                                "directions": (f"{rel}/{DIRECTIONS_FILE}"
                                               if step["strength"] else None),
                                "names": names, "dir": rel, "report": "report.json"})
    log(f"done in {report['seconds']:.0f} s: {out_dir}")
    return report


def summary(report: dict) -> str:
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="models/default", help="bundle folder (default: models/default)")
    p.add_argument("--photos", default=None,
                   help="labelled real photos for the classifier (default: the card's data source)")
    p.add_argument("--holdout", type=float, default=None,
                   help="held-out fraction of --photos (default: the card's, so its own split)")
    p.add_argument("--attributes", default=None,
                   help=f"attributes for an unconditional bundle (default {DEFAULT_ATTRIBUTES}); "
                        f"a conditional bundle's are its labels")
    p.add_argument("--n", type=int, default=DEFAULT_N, help=f"seeds measured (default {DEFAULT_N})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--truncation", type=float, default=1.0)
    p.add_argument("--reaches", default=",".join(f"{r:g}" for r in REACHES),
                   help="label reaches to measure, comma-separated (1 = labels 0..1)")
    p.add_argument("--strengths", default=",".join(f"{r:g}" for r in STRENGTHS),
                   help="z shifts along fitted directions to measure (with the smallest reach "
                        "for a conditional bundle); 0 or empty: no directions")
    p.add_argument("--reach", type=float, default=None, help="measure only this label reach")
    p.add_argument("--strength", type=float, default=None, help="measure only this z shift")
    p.add_argument("--fit-n", type=int, default=DEFAULT_FIT_N,
                   help=f"faces the directions are fitted on (default {DEFAULT_FIT_N})")
    p.add_argument("--epochs", type=int, default=None, help="classifier training epochs")
    p.add_argument("--no-cache", action="store_true", help="retrain the classifier")
    p.add_argument("--out", default=None, help="output folder (default: <model>/attributes)")
    p.add_argument("--no-card", action="store_true", help="do not write into the card")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    from gan.bundle import BundleError

    log = (lambda m: None) if args.quiet else (lambda m: print(f"[attributes] {m}", file=sys.stderr))
    try:
        reaches = tuple(float(r) for r in args.reaches.split(",") if r.strip())
        strengths = tuple(float(r) for r in args.strengths.split(",") if r.strip())
        report = measure_bundle(args.model, photos=args.photos, holdout=args.holdout,
                                attributes=args.attributes, n=args.n, seed=args.seed,
                                truncation=args.truncation, reaches=reaches, strengths=strengths,
                                reach=args.reach, strength=args.strength, n_fit=args.fit_n,
                                epochs=args.epochs, use_cache=not args.no_cache,
                                out_dir=args.out, write_card=not args.no_card,
                                progress=not args.quiet, log=log)
    except (BundleError, AttributesError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
