"""FaceGAN Studio, the app: `streamlit run app.py`.

This entry script is the home page and the router: it sets up the navigation (Home, Generate,
Detect), the model picker in the sidebar that every page shares, and the home page itself
(what the app does, the loaded model's card in plain words, a sample grid). The app reads
models only through `gan.bundle`; it never imports training code.
"""
from __future__ import annotations

import streamlit as st

from app_support import card_text, state, ui

st.set_page_config(page_title="FaceGAN Studio", page_icon=":material/face:", layout="wide")

INTRO = """\
This app uses a **generative adversarial network (GAN)** trained on photos of real people.
It has two parts, and you can use both here:

- the **generator** makes up faces of people who do not exist;
- the **discriminator**, trained to tell its generator's faces from real photos, gives any
  face photo a score for how *generated* it looks.
"""


def home() -> None:
    st.title("FaceGAN Studio")
    st.markdown(INTRO)
    c1, c2 = st.columns(2)
    with c1.container(border=True):
        st.page_link("pages/generate.py", label="**Generate faces**", icon=":material/auto_awesome:")
        st.caption("Choose how many (up to 64) and a seed; download them as PNG or ZIP.")
    with c2.container(border=True):
        st.page_link("pages/detect.py", label="**Detect generated faces**",
                     icon=":material/image_search:")
        st.caption("Upload photos and see how generated each face looks to the model.")
    with ui.guard("showing the model"):
        bundle, key = state.current_bundle()
        st.subheader(f"The model in use: `{bundle.name}`")
        if int(bundle.card.get("training", {}).get("steps", 0) or 0) == 0:
            st.warning("This model has not been trained: its faces are noise and its scores mean "
                       "nothing. It is only good for trying the app out.", icon=":material/warning:")
        st.caption("Choose another model in the sidebar. What its card says:")
        st.markdown("\n".join(f"- {line}" for line in card_text.describe(bundle.card)))
        rows = card_text.metric_rows(bundle.card)
        if rows:
            st.markdown("**Quality metrics** (measured when the model was exported):")
            st.dataframe(rows, hide_index=True)
        else:
            st.markdown("**Quality metrics:** none measured for this model yet, so there is no "
                        "number yet for how close its faces are to real photos. Judge by eye below.")
        st.subheader("Sample faces")
        st.caption("16 faces from seed 0. The Generate page makes more, from any seed.")
        faces = state.face_cache().faces(bundle, key, 16, seed=0)
        ui.face_grid(faces.pngs, [f"#{i + 1}" for i in range(16)])
        with st.expander("The full model card (model.json)"):
            st.json(bundle.card, expanded=False)


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
