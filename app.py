"""FaceGAN Studio, the app: `streamlit run app.py`.

This entry script is the home page and the router: it sets up the navigation, the model picker
in the sidebar that every page shares, and the home page itself (what the app does, faces the
model made, what a visitor can do, the model's card in plain words). The home page needs no
TensorFlow when the bundle stores faces from its evaluation: it shows those, then starts the
model loading in the background for the other pages. The app reads models only through
`gan.bundle`; it never imports training code.
"""
from __future__ import annotations

import streamlit as st

from app_support import card_text, state, ui

st.set_page_config(page_title="FaceGAN Studio", page_icon=":material/face:", layout="wide")

INTRO = """\
This app uses a **generative adversarial network (GAN)** trained on photos of real people.
It has two parts, and you can use both here:

- the **generator** makes up faces of people who do not exist (like the ones below);
- the **discriminator**, trained to tell its generator's faces from real photos, gives any
  face photo a score for how *generated* it looks.
"""
FACES = 16
LINKS = [
    ("pages/generate.py", "Generate faces", ":material/auto_awesome:", card_text.generate_link),
    ("pages/project.py", "Your face", ":material/face_retouching_natural:",
     "Upload a photo of a face and see the nearest face this model can make."),
    ("pages/detect.py", "Detect generated faces", ":material/image_search:",
     "Upload photos and see whether the face in each photo looks generated, real, or cannot be told."),
    ("pages/evaluate.py", "Model quality", ":material/analytics:",
     "How real and how varied this model's faces are, and whether it copies its photos."),
]


def sample_faces(path, card, key) -> None:
    """The model's faces first: they are what a newcomer came to see."""
    st.subheader("Sample faces")
    faces, stored = state.first_faces(path, card, key, FACES)
    if stored is not None:
        how = f"seed {stored.seed}"
        if stored.labels:
            how += (", each face's labels drawn as the Generate page draws them"
                    if "drawn" in stored.labels else
                    ", each face's labels (such as male or female) chosen at random")
        st.caption(f"{FACES} faces this model made ({how}). None of these people exist. The "
                   "Generate page makes more, from any seed.")
    else:
        st.caption(f"{FACES} faces from seed 0. None of these people exist. The Generate page "
                   "makes more, from any seed.")
    ui.face_grid(faces.pngs, width=96)


def model_card(path, card) -> None:
    """The loaded model in words, its measured quality as answers, the stored card behind clicks."""
    st.subheader(f"About the model in use: `{path.name}`")
    st.caption("Choose another model in the sidebar. What its model card says:")
    st.markdown("\n".join(f"- {line}" for line in card_text.describe(card)))
    rows = card_text.quality_rows(card)
    if rows:
        st.markdown("**How good is it?** " + card_text.measured_on(card))
        st.table([{"Question": r["question"], "Answer": r["answer"], "What it means": r["meaning"]}
                  for r in rows], hide_index=True)
        st.page_link("pages/evaluate.py", label="More on the Model quality page",
                     icon=":material/analytics:")
    else:
        st.markdown("**How good is it?** Nothing has been measured for this model yet, so there "
                    "is no number yet for how close its faces are to real photos. Judge by eye "
                    "above.")
    raw = card_text.metric_rows(card)
    if raw:
        with st.expander("Every measured figure, as the model card stores it"):
            st.table([{"figure (key in model.json)": r["metric"], "value": r["value"],
                       "meaning": r["meaning"]} for r in raw], hide_index=True)
    with st.expander("The full model card (model.json)"):
        st.caption("The card is the model's record: training settings, data, figures and the "
                   "detector's calibration, as JSON. Click a ▸ to open a section.")
        if card_text.notes(card):
            st.markdown("**The trainer's notes:**")
            st.text(card_text.notes(card))
        st.download_button("Download model.json", (path / "model.json").read_bytes(),
                           file_name=f"{path.name}-model.json", mime="application/json",
                           on_click="ignore", icon=":material/download:", key="card_json")
        st.json(card, expanded=1)


def home() -> None:
    st.title("FaceGAN Studio")
    st.markdown(INTRO)
    with ui.guard("showing the model"):
        path, card = None, None
        path, card, key = state.chosen_card()
        if card_text.total_steps(card) == 0:
            st.warning("This model has not been trained: its faces are noise and its scores mean "
                       "nothing. It is only good for trying the app out.", icon=":material/warning:")
        sample_faces(path, card, key)
    st.subheader("What you can do here")
    cols = st.columns(2) + st.columns(2)
    for col, (page, label, icon, what) in zip(cols, LINKS):
        with col.container(border=True, height="stretch"):
            st.page_link(page, label=f"**{label}**", icon=icon)
            st.caption(what(card) if callable(what) else what)
    if card is None:
        return
    with ui.guard("showing the model card"):
        model_card(path, card)
        # Start loading the model now, after the faces went out: the Generate page is then ready.
        load = state.preload(path)
        if load.done() and load.exception() is not None:
            ui.bundle_problem(path, load.exception())


with state.routing([
    st.Page(home, title="Home", icon=":material/home:", default=True),
    st.Page("pages/generate.py", title="Generate faces", icon=":material/auto_awesome:"),
    st.Page("pages/project.py", title="Your face", icon=":material/face_retouching_natural:"),
    st.Page("pages/detect.py", title="Detect generated faces", icon=":material/image_search:"),
    st.Page("pages/evaluate.py", title="Model quality", icon=":material/analytics:"),
]) as nav:
    with ui.guard("listing the models"):
        state.model_picker()
    nav.run()
