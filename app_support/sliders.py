"""The attribute sliders every page that edits faces shows: the generate page (the seed's
faces) and the Your face page (a photo's projection). One set of controls, so a slider
means the same thing, says the same words and reads the same card on both.

What a slider does to the generator is `gan.sliders.semantics`; this module only draws it
and collects what the visitor asked for into an `Edit`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from app_support import ui
from gan.card import drawn_as
from gan.sliders import semantics

# What moving a slider changes in the face, for the attributes we have looked at.
CHANGES = {
    "male": "the whole face: hair, brows, jaw and skin",
    "smiling": "mostly the mouth, and subtly: closed lips become an open smile, the cheeks lift "
               "a little, while hair and face shape stay",
}


@dataclass
class Edit:
    """What the attribute controls ask of the generator, and how files name it."""
    labels: dict[str, float] = field(default_factory=dict)    # labels set on every face
    toward: dict[str, tuple[float, float]] = field(default_factory=dict)  # slider label moves
    z_shift: np.ndarray | None = None                          # slider moves in latent space
    tags: dict[str, float] = field(default_factory=dict)      # for file names
    sliders: dict[str, float] = field(default_factory=dict)   # positions moved off the middle
    choices: dict[str, float] = field(default_factory=dict)   # one-hot labels chosen
    groups: list[str] = field(default_factory=list)           # one-hot groups offered
    controls: semantics.Sliders | None = None

    @property
    def moved(self) -> bool:
        return bool(self.sliders or self.choices)

    @property
    def offered(self) -> bool:
        """Whether the page shows any control at all: a dropdown left on "any" is one too."""
        return bool((self.controls and self.controls.names) or self.groups)

    def on_face(self, z: np.ndarray, labels: dict[str, float] | None
                ) -> tuple[np.ndarray, dict[str, float] | None]:
        """One face's own (z, labels), a projection's, as these controls edit it: a slider's
        middle keeps the face's value rather than the generator's default, so an untouched
        slider leaves the face as it was."""
        z = np.asarray(z, np.float32)
        if self.z_shift is not None:
            z = z + self.z_shift
        if labels is None:
            return z, None
        out = dict(labels)
        if self.controls is not None:
            out.update(self.controls.labels_from(self.sliders, labels))
        out.update(self.choices)
        return z, out


def read_as(card: dict, values: dict[str, float]) -> dict[str, str]:
    """Which member of each one-hot group a face's label values read as: the largest. A
    projection's values are free numbers (a group's need not add up to 1), so the largest is
    the only reading that names one group."""
    out = {}
    for group, members in semantics.choice_groups(card).items():
        found = [m for m in members if m in values]
        if found:
            out[group] = max(found, key=lambda m: values[m]).split("=", 1)[1]
    return out


def attribute_controls(bundle, prefix: str = "", middle: str | None = None,
                       same: str = "the same faces (the seed stays)",
                       keeps: str = "the seed, and so the person, stays") -> Edit:
    """A slider per attribute (from one end through the middle to the other) and a choice per
    one-hot label group. Sliders are the binary labels of a conditional bundle, or the latent
    directions a measurement fitted for an unconditional one; none otherwise. A damaged
    directions file is named, with the command that writes it again. `prefix` keeps one
    page's slider positions apart from another's; `middle`, `same` and `keeps` say what the
    middle means and what an edit keeps on that page."""
    drawn = drawn_as(bundle.card)
    if middle is None:
        middle = f"each face's own, drawn {drawn}" if drawn else "the model decides"
    sl = semantics.sliders_for(bundle)
    if sl.damaged:
        st.warning(sl.damaged.warning(
            f"python -m gan.attributes --model models/{bundle.name}",
            "The sliders move the label inputs only, not along the fitted directions the "
            "measurement chose." if sl.names else "So this model has no attribute sliders."),
            icon=":material/warning:")
    groups = semantics.choice_groups(bundle.card)
    if not sl.names and not groups:
        return Edit(controls=sl)
    cols = st.columns(max(1, len(sl.names) + len(groups)))
    values: dict[str, float] = {}
    for col, name in zip(cols, sl.names):
        low, high = semantics.ends(name)
        key = f"{prefix}attr_{name}"
        ui.sticky(key, 0.0)
        values[name] = col.slider(
            f"{low.capitalize()} ↔ {high}", -1.0, 1.0, step=0.1, format="%+.1f", key=key,
            help=f"Left: {low}; right: {high}; middle: {middle}. Moving it edits {same}. "
                 f"The ends: {sl.describe()}.")
        ui.remember(key)
    edit = Edit(toward=sl.toward(values), z_shift=sl.z_shift(values),
                sliders={k: round(v, 4) for k, v in values.items() if round(v, 4) != 0},
                groups=list(groups), controls=sl)
    for col, (group, members) in zip(cols[len(sl.names):], groups.items()):
        key = f"{prefix}label_{group}"
        ui.sticky(key, "any")
        names = [m.split("=", 1)[1] for m in members]
        choice = col.selectbox(group.replace("_", " ").capitalize(), ["any"] + names, key=key,
                               help=f"The {group.replace('_', ' ')} the faces are drawn as: one "
                                    f"of the {len(names)} groups the model learned "
                                    f"({', '.join(names)}). Any: "
                                    + (f"each face drawn from them {drawn}" if drawn else
                                       "an even mix of them all, which the model blends")
                                    + f". Changing it edits {same}.")
        ui.remember(key)
        if choice != "any":
            chosen = {m: float(m.split("=", 1)[1] == choice) for m in members}
            edit.labels.update(chosen)
            edit.choices.update(chosen)
    # File names carry the groups chosen and the slider positions.
    edit.tags = {**edit.labels, **{f"{k}_slider": v for k, v in edit.sliders.items()}}
    said = [f"**{' ↔ '.join(semantics.ends(n)).capitalize()}** changes {CHANGES[n]}"
            for n in sl.names if n in CHANGES]
    if said:
        st.caption("What the sliders change: " + "; ".join(said) + f". Each slider edits "
                   f"{same.split(' (')[0]}: {keeps}.")
    measured = semantics.measured_success(bundle.card, sl.names)
    if measured:
        rates, seeds = measured
        st.caption(f"Tested on {seeds} faces: moving a slider end to end changed what a face "
                   "classifier saw, with the face still recognisably the same person, for "
                   + "; ".join(f"{r:.0%} of faces ({' ↔ '.join(semantics.ends(n))})"
                               for n, r in rates)
                   + f". The aim is {semantics.TARGET:.0%} or more.")
    return edit
