"""What a bundle's attribute sliders do: the app's only view of the sliders.

A slider at s in [-1, 1] edits the same faces (the seed keeps z) in one or both of two ways:
- label (conditional bundles): each face's own label value (drawn as the training photos
  have them, `gan.sampling.label_matrix`) moves |s| of the way to the end 0.5 +- 0.5 * reach;
  reach 1 puts the ends at the trained labels 0 and 1, more extrapolates beyond them;
- direction: z moves by s * strength along a unit direction fitted by the measurement
  (`gan.sliders.directions`); this is what gives an unconditional bundle sliders.
The card's `attributes` section, written by the measurement, says which the app uses; a
conditional bundle never measured uses labels 0..1 and no direction.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from gan import reports
from gan.card import label_kinds

DIRECTIONS_FORMAT = "facegan-directions/1"
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
TARGET = 0.8                # share of faces a slider must flip and keep recognisable
ENDS = {"male": ("female", "male"), "smiling": ("not smiling", "smiling"),
        "young": ("older", "young"), "eyeglasses": ("no glasses", "glasses")}


def attribute_names(label_names: list[str], kinds: list[str] | None = None) -> list[str]:
    """The binary labels (sliders); one-hot classes and numbers are not sliders. `kinds` as
    the card records them; without them `gan.card.label_kinds` applies its rule for old cards."""
    if kinds is None or len(kinds) != len(label_names):
        kinds = label_kinds({"labels": {"names": list(label_names)}})
    return [n for n, k in zip(label_names, kinds) if k == "binary"]


def card_attribute_names(card: dict) -> list[str]:
    """A card's binary labels, by the kinds it records."""
    names = list((card.get("labels") or {}).get("names", []))
    return attribute_names(names, label_kinds(card))


def choice_groups(card: dict) -> dict[str, list[str]]:
    """One-hot label groups, shown as a choice rather than a slider: group -> its labels."""
    names = list((card.get("labels") or {}).get("names", []))
    kinds = label_kinds(card)
    groups: dict[str, list[str]] = {}
    for name, kind in zip(names, kinds):
        if kind == "onehot":
            groups.setdefault(name.split("=", 1)[0], []).append(name)
    return groups


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

    def toward(self, values: dict[str, float]) -> dict[str, tuple[float, float]]:
        """{name: (end label, fraction of the way)} for the sliders moved off the middle, as
        `gan.sampling.label_matrix` takes them: the middle leaves each face's own label (an
        untouched slider changes nothing, file names included), an end sets that end's label
        on every face, and positions between go in a straight line, so a small move makes a
        small edit."""
        if self.reach is None:
            return {}
        out = {}
        for k, s in values.items():
            s = float(np.clip(s, -1.0, 1.0))
            if k in self.names and round(s, 4) != 0:
                out[k] = (label_value(1.0 if s > 0 else -1.0, self.reach), round(abs(s), 4))
        return out

    def labels_from(self, values: dict[str, float], base: dict[str, float]) -> dict[str, float]:
        """The `toward` edit on one face with labels of its own (`base`, e.g. a projection's)."""
        return {k: round(float(base[k]) + t * (end - float(base[k])), 4)
                for k, (end, t) in self.toward(values).items() if k in base}

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
    names = attribute_names(bundle.label_names, label_kinds(card))
    if names:
        return Sliders(names, slider_reach(card), strength if directions else 0.0,
                       {k: v for k, v in directions.items() if k in names}, damaged)
    if directions:
        return Sliders(list(directions), None, strength, directions)
    return Sliders([], damaged=damaged)


def measured_success(card: dict, names: list[str]) -> tuple[list[tuple[str, float]], object] | None:
    """[(name, success rate)] and the seed count the card's measurement recorded for these
    sliders; None when it holds no figure for one of them."""
    measured = (card.get("metrics") or {}).get("attributes") or {}
    rates = [(n, measured.get(f"{n}_success_rate")) for n in names]
    if not rates or not all(isinstance(r, (int, float)) for _, r in rates):
        return None
    return rates, measured.get("seeds", "?")
