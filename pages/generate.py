"""Generate page: 1 to 64 faces from a seed, as a grid, each downloadable, all as a ZIP.

Faces come from the process-wide face cache, so moving the slider only generates the faces
not yet shown, and the same seed and settings always give the same faces.
"""
from __future__ import annotations

import random

import streamlit as st

from app_support import state, ui
from app_support.faces import face_file_name, zip_faces

MAX_FACES = 64
MAX_SEED = 2**31 - 1


def new_seed() -> None:
    st.session_state["seed"] = random.randrange(1_000_000)


def label_controls(names: list[str]) -> dict[str, float]:
    """One control per label of a conditional model; "either" leaves it undecided (0.5)."""
    labels: dict[str, float] = {}
    groups: dict[str, list[str]] = {}
    binary = []
    for name in names:
        if "=" in name:
            groups.setdefault(name.split("=", 1)[0], []).append(name)
        else:
            binary.append(name)
    cols = st.columns(max(1, len(binary) + len(groups)))
    for col, name in zip(cols, binary):
        ui.sticky(f"label_{name}", "either")
        choice = col.select_slider(name.replace("_", " ").capitalize(), ["no", "either", "yes"],
                                   key=f"label_{name}")
        ui.remember(f"label_{name}")
        if choice != "either":
            labels[name] = 1.0 if choice == "yes" else 0.0
    for col, (group, members) in zip(cols[len(binary):], groups.items()):
        ui.sticky(f"label_{group}", "any")
        choice = col.selectbox(group.replace("_", " ").capitalize(),
                               ["any"] + [m.split("=", 1)[1] for m in members], key=f"label_{group}")
        ui.remember(f"label_{group}")
        if choice != "any":
            labels.update({m: float(m.split("=", 1)[1] == choice) for m in members})
    return labels


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
    labels = label_controls(bundle.label_names) if bundle.conditional else {}

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
