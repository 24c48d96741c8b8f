"""Generate page: 1 to 64 faces from a seed, as a grid, all downloadable as one ZIP (one face
as a PNG on request); attribute sliders, with what each changes; a morph between two seeds as
an animated GIF.

Faces come from the process-wide face cache, so moving the count slider only generates the
faces not yet shown, and the same seed and settings always give the same faces. An attribute
slider (`app_support.sliders`, shared with the Your face page) keeps the seed's faces and moves
only the label input (and, when the bundle's measurement chose it, z along a fitted direction;
gan.sliders.semantics): the same faces, edited. Untouched, each face has labels as the training
photos have them (gan.sampling.label_matrix), not an undecided 0.5.
"""
from __future__ import annotations

import random

import streamlit as st

from app_support import state, ui
from app_support.faces import face_file_name, zip_faces
from app_support.sliders import Edit, attribute_controls

MAX_FACES = 64
MAX_SEED = 2**31 - 1
MAX_MORPH_FRAMES = 32
# Above this many faces they are shown smaller, so 64 fit in about one screen.
LARGE_FACES = 16


def new_seed() -> None:
    st.session_state["seed"] = random.randrange(1_000_000)


def downloads(faces, names: list[str], manifest: dict) -> None:
    """All faces as one ZIP; one face as a PNG, picked by its number (not a button per face)."""
    n = len(names)
    c1, c2, c3 = st.columns([3, 2, 2], vertical_alignment="bottom")
    c1.download_button(f"Download all {n} as ZIP", zip_faces(faces.pngs, names, manifest),
                       file_name=names[0].replace("_01.png", f"_{n}faces.zip"),
                       mime="application/zip", on_click="ignore", icon=":material/folder_zip:",
                       key="zip", type="primary")
    pick = 1
    if n > 1:
        if int(st.session_state.get("one_face", 1)) > n:     # fewer faces than before
            st.session_state["one_face"] = n
        pick = int(c2.number_input("Or one face: its number", min_value=1, max_value=n, step=1,
                                   key="one_face"))
    c3.download_button(f"Download #{pick} as PNG", faces.pngs[pick - 1], file_name=names[pick - 1],
                       mime="image/png", on_click="ignore", icon=":material/download:", key="face")


def next_seed(seed: int) -> int:
    """The morph's default "to" seed: the next one, or the one before at the largest seed, so
    that a morph never starts as one face repeated."""
    return seed + 1 if seed < MAX_SEED else seed - 1


def morph_section(bundle, key, seed: int, truncation: float, edit: Edit) -> None:
    """Frames between the first face of two seeds (same variety and labels), shown and
    downloadable as an animated GIF. Off until asked: it costs nothing otherwise."""
    st.subheader("Morph between two faces")
    ui.sticky("morph_on", False)
    on = st.toggle("Make a morph", key="morph_on",
                   help="An animation from the first face of one seed to the first face of "
                        "another (with the variety and attributes set above).")
    ui.remember("morph_on")
    if not on:
        return
    for k, default in (("morph_a", seed), ("morph_b", next_seed(seed)), ("morph_frames", 12)):
        ui.sticky(k, default)
    c1, c2, c3 = st.columns([2, 2, 3], vertical_alignment="bottom")
    a = int(c1.number_input("From seed", min_value=0, max_value=MAX_SEED, step=1, key="morph_a"))
    b = int(c2.number_input("To seed", min_value=0, max_value=MAX_SEED, step=1, key="morph_b"))
    frames = c3.slider("Frames", 3, MAX_MORPH_FRAMES, key="morph_frames")
    for k in ("morph_a", "morph_b", "morph_frames"):
        ui.remember(k)
    if a == b:
        st.warning(f"From seed and To seed are both {a}: the morph will be one face, the same "
                   "in every frame. Choose another To seed to see a change.",
                   icon=":material/warning:")
    with st.spinner(f"Making {frames} frames..."):
        morph = state.morph(bundle, key, a, b, frames, truncation, edit.labels, edit.z_shift,
                            edit.toward)
    name = face_file_name(bundle.name, a, 0, truncation, edit.tags).replace(
        "_01.png", f"_to_seed{b}_{frames}frames.gif")
    ui.morph_strip(morph.gif, morph.pngs, f"seed {a} → seed {b}", name, key="morph")


state.ensure_navigation()
st.title("Generate faces")
st.markdown("Every face below is made up by the model: none of these people exist. "
            "A **seed** picks the faces: the same seed and settings always give the same faces.")

with ui.guard("generating faces"):
    bundle, key = state.current_bundle()
    ui.untrained_note(bundle)
    for k, default in (("n_faces", 16), ("seed", 0), ("truncation", 1.0)):
        ui.sticky(k, default)
    c1, c2, c3 = st.columns([3, 2, 3], vertical_alignment="bottom")
    n = c1.slider("How many faces", 1, MAX_FACES, key="n_faces",
                  help="Faces already shown stay as they are; only new ones are generated.")
    seed = int(c2.number_input("Seed", min_value=0, max_value=MAX_SEED, step=1, key="seed"))
    c2.button("New random seed", on_click=new_seed, icon=":material/casino:", key="new_seed")
    truncation = c3.slider("Variety", 0.1, 1.5, step=0.05, key="truncation",
                           help="Scales the random numbers behind each face (truncation). Lower: "
                                "more typical, cleaner faces that look more alike; 1.0: as "
                                "trained; higher: more unusual faces and more artefacts.")
    for k in ("n_faces", "seed", "truncation"):
        ui.remember(k)
    edit = attribute_controls(bundle)
    labels = edit.labels

    with st.spinner(f"Generating {n} faces..."):
        faces = state.face_cache().faces(bundle, key, n, seed, truncation, labels, edit.z_shift,
                                         edit.toward)
    names = [face_file_name(bundle.name, seed, i, truncation, edit.tags) for i in range(n)]
    toward = {k: list(v) for k, v in edit.toward.items()}
    manifest = {"model": bundle.name, "seed": seed, "truncation": truncation, "labels": labels,
                "faces": n, "files": names,
                "remake": f"gan.sampling.generate(load_bundle('models/{bundle.name}'), {n}, "
                          f"seed={seed}, truncation={truncation}, labels={labels or None}"
                          + (f", toward={edit.toward}" if edit.toward else "") + ")"}
    if toward:
        manifest["toward"] = toward
    if edit.z_shift is not None:
        manifest["sliders"] = edit.sliders
        manifest["remake"] = ("as above, with every z moved by the sliders along the bundle's "
                              "attributes/directions.json (gan.sliders.semantics.sliders_for(bundle)"
                              f".z_shift({edit.sliders}))")
    downloads(faces, names, manifest)
    small = n > LARGE_FACES
    ui.face_grid(faces.pngs, [f"#{i + 1}" for i in range(n)], width=80 if small else 128,
                 gap="xsmall" if small else "small")
    ui.audit_note(bundle)
    st.caption("The ZIP holds every face as a PNG file, plus faces.json saying how to make them "
               "again." + (" The faces are shown smaller to fit; the downloads are full size."
                           if n > LARGE_FACES else ""))

    st.divider()
    morph_section(bundle, key, seed, truncation, edit)
