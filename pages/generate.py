"""Generate page: 1 to 64 faces from a seed, as a grid, each downloadable, all as a ZIP;
attribute sliders for conditional models; a morph between two seeds as an animated GIF.

Faces come from the process-wide face cache, so moving the count slider only generates the
faces not yet shown, and the same seed and settings always give the same faces. An attribute
slider keeps the seed's z and changes only the label input: the same faces, edited.
"""
from __future__ import annotations

import random

import streamlit as st

from app_support import state, ui
from app_support.faces import face_file_name, zip_faces
from gan import attributes

MAX_FACES = 64
MAX_SEED = 2**31 - 1
MAX_MORPH_FRAMES = 32


def new_seed() -> None:
    st.session_state["seed"] = random.randrange(1_000_000)


def label_controls(bundle) -> dict[str, float]:
    """A slider per binary label (from one end through "model decides" to the other) and a
    choice per one-hot group; returns the label values the generator gets."""
    names = bundle.label_names
    binary = attributes.attribute_names(names)
    groups: dict[str, list[str]] = {}
    for name in names:
        if "=" in name:
            groups.setdefault(name.split("=", 1)[0], []).append(name)
    reach = attributes.slider_reach(bundle.card)
    cols = st.columns(max(1, len(binary) + len(groups)))
    sliders: dict[str, float] = {}
    for col, name in zip(cols, binary):
        low, high = attributes.ends(name)
        ui.sticky(f"attr_{name}", 0.0)
        sliders[name] = col.slider(
            f"{low.capitalize()} ↔ {high}", -1.0, 1.0, step=0.1, format="%+.1f", key=f"attr_{name}",
            help=f"Left: {low}; right: {high}; middle: the model decides. Moving it edits the "
                 f"same faces (the seed stays). The ends are the label values "
                 f"{attributes.label_value(-1, reach):g} and {attributes.label_value(1, reach):g}.")
        ui.remember(f"attr_{name}")
    labels = attributes.slider_labels(sliders, reach)
    for col, (group, members) in zip(cols[len(binary):], groups.items()):
        ui.sticky(f"label_{group}", "any")
        choice = col.selectbox(group.replace("_", " ").capitalize(),
                               ["any"] + [m.split("=", 1)[1] for m in members], key=f"label_{group}")
        ui.remember(f"label_{group}")
        if choice != "any":
            labels.update({m: float(m.split("=", 1)[1] == choice) for m in members})
    measured = (bundle.card.get("metrics") or {}).get("attributes") or {}
    rates = [(n, measured.get(f"{n}_success_rate")) for n in binary]
    if rates and all(isinstance(r, (int, float)) for _, r in rates):
        st.caption(f"Measured on {measured.get('seeds', '?')} seeds (`python -m gan.attributes`): "
                   "moving a slider end to end "
                   "changes a face classifier's verdict with the face still recognisably the same "
                   "for " + ", ".join(f"{r:.0%} of faces ({n})" for n, r in rates) + ".")
    return labels


def morph_section(bundle, key, seed: int, truncation: float, labels: dict[str, float]) -> None:
    """Frames between the first face of two seeds (same variety and labels), shown and
    downloadable as an animated GIF. Off until asked: it costs nothing otherwise."""
    st.subheader("Morph between two faces")
    if not st.toggle("Make a morph", key="morph_on",
                     help="An animation from the first face of one seed to the first face of "
                          "another (with the variety and attributes set above)."):
        return
    for k, default in (("morph_a", seed), ("morph_b", seed + 1), ("morph_frames", 12)):
        ui.sticky(k, default)
    c1, c2, c3 = st.columns([2, 2, 3], vertical_alignment="bottom")
    a = int(c1.number_input("From seed", min_value=0, max_value=MAX_SEED, step=1, key="morph_a"))
    b = int(c2.number_input("To seed", min_value=0, max_value=MAX_SEED, step=1, key="morph_b"))
    frames = c3.slider("Frames", 3, MAX_MORPH_FRAMES, key="morph_frames")
    for k in ("morph_a", "morph_b", "morph_frames"):
        ui.remember(k)
    with st.spinner(f"Making {frames} frames..."):
        morph = state.morph(bundle, key, a, b, frames, truncation, labels)
    name = face_file_name(bundle.name, a, 0, truncation, labels).replace(
        "_01.png", f"_to_seed{b}_{frames}frames.gif")
    left, right = st.columns([1, 3])
    left.image(morph.gif, caption=f"seed {a} → seed {b}", width=160)
    left.download_button("Download GIF", morph.gif, file_name=name, mime="image/gif",
                         on_click="ignore", icon=":material/animated_images:", key="morph_gif")
    with right:
        ui.face_grid(morph.pngs, [f"{i + 1}/{frames}" for i in range(frames)], width=64,
                     key="morph_frame")


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
    labels = label_controls(bundle) if bundle.conditional else {}

    with st.spinner(f"Generating {n} faces..."):
        faces = state.face_cache().faces(bundle, key, n, seed, truncation, labels)
    names = [face_file_name(bundle.name, seed, i, truncation, labels) for i in range(n)]
    manifest = {"model": bundle.name, "seed": seed, "truncation": truncation, "labels": labels,
                "faces": n, "files": names,
                "remake": f"gan.sampling.generate(load_bundle('models/{bundle.name}'), {n}, "
                          f"seed={seed}, truncation={truncation}, labels={labels or None})"}
    st.download_button(f"Download all {n} as ZIP", zip_faces(faces.pngs, names, manifest),
                       file_name=names[0].replace("_01.png", f"_{n}faces.zip"), mime="application/zip",
                       on_click="ignore", icon=":material/folder_zip:", key="zip")
    ui.face_grid(faces.pngs, [f"#{i + 1}" for i in range(n)], downloads=names)

    st.divider()
    morph_section(bundle, key, seed, truncation, labels)
