"""Streamlit pieces the pages share: error boxes instead of tracebacks, and the face grid."""
from __future__ import annotations

import contextlib
import logging
import unicodedata
from pathlib import Path

import streamlit as st

from gan.metrics import explain

log = logging.getLogger("facegan.app")

GET_A_MODEL = """\
**How to get a working model**

- Restore the bundled one: `git checkout -- models/`
- or export one from a training run: `python train.py --out RUNDIR --export models/NAME`
- then reload this page. The app looks for bundles in `{dir}` (set `FACEGAN_MODELS_DIR` to use
  another folder).
"""


@contextlib.contextmanager
def guard(doing: str):
    """Show a short message instead of a traceback when a page fails; the traceback goes to the
    server log. (Streamlit's stop/rerun signals are BaseExceptions and pass through.)"""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - the page must never show a raw traceback
        log.exception("error while %s", doing)
        st.error(f"Sorry, something went wrong while {doing}: {type(e).__name__}. "
                 "The details are in the server log. Reloading the page usually helps; if it "
                 "keeps happening, please report it with the time it happened.")


def no_models(models_dir: Path) -> None:
    st.error(f"No model is installed: `{models_dir}` holds no model bundle "
             "(a folder with a `model.json`, `generator.keras` and `discriminator.keras` or `.npz`).")
    st.markdown(GET_A_MODEL.format(dir=models_dir))


def bundle_problem(path: Path, err: Exception) -> None:
    msg = str(err).split(" Get a working bundle")[0]   # the how-to follows below, in full
    st.error(f"The model `{path.name}` cannot be used. {msg}")
    st.markdown(GET_A_MODEL.format(dir=path.parent))


def visible(text: str) -> str:
    """Text with its invisible characters spelt out (a newline as \\n, U+202E as \\u202e): a
    visitor's file name must not break the page's layout or reverse how its end reads."""
    return "".join(c if c.isprintable() or unicodedata.category(c) == "Zs"
                   else c.encode("unicode_escape").decode("ascii") for c in str(text))


def md_escape(text: str) -> str:
    """A visitor's file name shown as Markdown, literally (no links, emphasis or HTML) and with
    its invisible characters spelt out (see visible)."""
    return "".join("\\" + c if c in "\\`*_{}[]()<>#+-.!|~:$" else c for c in visible(text))


def untrained_note(bundle) -> None:
    """A visible warning when the model has had no training: its faces are noise."""
    if int((bundle.card.get("training") or {}).get("steps", 0) or 0) == 0:
        st.warning("This model has not been trained: its faces are noise and its scores mean "
                   "nothing. It is only good for trying the app out.", icon=":material/warning:")


def audit_note(bundle) -> None:
    """The model's blind-audit figure beside its faces, so the page says what the eye sees
    rather than leaving a visitor to wonder whether broken faces are a fault of theirs."""
    card = bundle.card
    audit = explain.by_eye(card)
    if audit is not None:
        sheet = "" if card.get("audit") is None else " The Model quality page shows the audit sheet."
        st.caption(f"**Do they look like photos?** {audit[0]}. {audit[1]}{sheet}")


def face_grid(pngs, captions: list[str] | None = None, width: int = 128,
              downloads: list[str] | None = None, key: str = "face", gap: str = "small") -> None:
    """Faces in a wrapping row; with `downloads` (file names), a PNG button under each."""
    with st.container(horizontal=True, gap=gap):
        for i, (data, cap) in enumerate(zip(pngs, captions or [None] * len(pngs))):
            with st.container(width=width + 8, gap=None):
                st.image(data, caption=cap, width=width, output_format="PNG")
                if downloads:
                    st.download_button("PNG", data, file_name=downloads[i], mime="image/png",
                                       key=f"{key}_{i}", on_click="ignore", icon=":material/download:",
                                       width="stretch", help=f"Download {downloads[i]}")


def morph_strip(gif: bytes, pngs, caption: str, file_name: str, key: str) -> None:
    """A morph as the generate and projection pages show it: the GIF with its download on the
    left, its frames on the right."""
    left, right = st.columns([1, 3])
    left.image(gif, caption=caption, width=160)
    left.download_button("Download GIF", gif, file_name=file_name, mime="image/gif",
                         on_click="ignore", icon=":material/animated_images:", key=f"{key}_gif")
    with right:
        face_grid(pngs, [f"{i + 1}/{len(pngs)}" for i in range(len(pngs))], width=64,
                  key=f"{key}_frame")


def sticky(key: str, default):
    """Streamlit forgets a widget's value when the visitor visits another page; seed the widget
    from a copy kept under `_key` so settings survive a trip to the other page."""
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get("_" + key, default)


def remember(key: str) -> None:
    st.session_state["_" + key] = st.session_state[key]
