"""Your face page: upload one photo and project it into the generator (`gan.projection`).

The photo is checked and prepared exactly as the detect page's uploads are (the same size and
pixel limits, the same shared decode gate, the same sentences for a file that cannot be used:
`app_support.detection`), then cropped like the training photos (`prepare_image` at the
bundle's size and crop). "Project" runs the latent optimisation with a progress bar and the
best face so far every `gan.projection.CALLBACK_EVERY` steps; then the photo's crop beside its
projection, the pixel MS-SSIM between them and the time, and downloads of the latent (.npy)
and the side-by-side PNG. Results are kept per session, keyed by the photo's hash, the model
and the step count, so reruns do not recompute. The `Projector` (the compiled optimisation) is
built once per bundle per server process and only used, never changed, between projections.

Not here yet (issue 20): variations around the projection, the attribute sliders on it, and a
morph to a generated face.
"""
from __future__ import annotations

import hashlib
import io
import threading

import numpy as np
import streamlit as st

from app_support import detection, state, ui
from app_support.faces import png
from gan.data.preprocess import ImageError, prepare_image
from gan.projection import CALLBACK_EVERY, DEFAULT_STEPS, Projector

MIN_STEPS, MAX_STEPS, STEP_STEP = 20, 500, 10
SHOWN = 192          # px: the faces are upscaled for the eye; downloads keep the model's size
WHAT_IT_KEEPS = (
    "The generator can only draw faces like the ones it learnt, so the projection is the "
    "closest face **it** can make: it usually keeps the pose, the hair and the colours of your "
    "photo, but at this model's size it usually does **not** keep the person's identity. It is "
    "a lookalike at best, not you.")

# One projection at a time per Projector: it holds its latent and optimiser state.
_locks: dict[tuple, threading.Lock] = {}


@st.cache_resource(max_entries=4, show_spinner=False)
def _projector(_bundle, bundle_key: tuple) -> Projector:
    """The bundle's projector, built once per server process (its first use traces the graph)."""
    return Projector(_bundle)


def _ask(key: tuple) -> None:
    """The button's callback: it runs before the script, so the request survives a rerun."""
    st.session_state["_project_asked"] = key


def _prepare(data: bytes, bundle):
    """The photo prepared as an upload is, or the sentence saying why it cannot be used."""
    if len(data) > detection.MAX_UPLOAD_MB << 20:
        return None, (f"The file is larger than {detection.MAX_UPLOAD_MB} MB "
                      f"({len(data) / (1 << 20):.0f} MB). Resize or compress it.")
    try:
        with detection.DECODE_GATE:
            return prepare_image(io.BytesIO(data), size=bundle.resolution, crop=bundle.crop,
                                 max_pixels=detection.MAX_PIXELS,
                                 max_bytes=detection.MAX_UPLOAD_MB << 20,
                                 formats=detection.UPLOAD_FORMATS), None
    except ImageError as e:
        return None, detection.explain(e)


def _project(bundle, bkey, face: np.ndarray, steps: int) -> dict:
    """Run the projection with a progress bar and the best face so far; the result as a dict."""
    from gan.images import png_bytes
    from gan.metrics.msssim import ms_ssim

    projector = _projector(bundle, bkey)
    bar = st.progress(0.0, text="Projecting...")
    slot = st.empty()

    def show(step: int, best: np.ndarray) -> None:
        bar.progress(min(1.0, step / steps),
                     text=f"Step {step} of {steps}: the closest face so far")
        slot.image(png(best), width=SHOWN, output_format="PNG")

    with _locks.setdefault(bkey, threading.Lock()):
        r = projector.project(face, steps=steps, seed=0, callback=show)
    bar.empty()
    slot.empty()
    z = io.BytesIO()
    np.save(z, r.z)
    labels = None
    if r.labels is not None:
        buf = io.BytesIO()
        np.save(buf, r.labels)
        labels = (buf.getvalue(), dict(zip(bundle.label_names, map(float, r.labels))))
    return {"image": r.image, "ms_ssim": float(ms_ssim(face[None], r.image[None])[0]),
            "seconds": float(r.seconds), "steps": r.steps, "latent": z.getvalue(),
            "labels": labels, "side": png_bytes(np.concatenate([face, r.image], axis=1))}


def show_result(face: np.ndarray, res: dict, stem: str, face_found) -> None:
    st.subheader("Your photo and its projection")
    c1, c2 = st.columns(2)
    c1.image(png(face), width=SHOWN, output_format="PNG",
             caption="your photo, as the model sees it" if face_found is not False
             else "your photo's centre (no face found)")
    c2.image(png(res["image"]), width=SHOWN, output_format="PNG",
             caption="the closest face the generator made")
    m1, m2 = st.columns(2)
    m1.metric("MS-SSIM (pixels)", f"{res['ms_ssim']:.3f}",
              help="How alike the two images are, pixel structure only, from 0 to 1 (1: the "
                   "same image). It does not measure whether it is the same person.")
    m2.metric("Time", f"{res['seconds']:.1f} s", help=f"{res['steps']} optimisation steps.")
    st.info(WHAT_IT_KEEPS, icon=":material/info:")
    if res["labels"] is not None:
        st.caption("Label values found: " + ", ".join(f"{k} {v:.2f}"
                                                       for k, v in res["labels"][1].items()))
    d1, d2, d3 = st.columns(3)
    d1.download_button("Latent (.npy)", res["latent"], file_name=f"{stem}.latent.npy",
                       mime="application/octet-stream", key="latent", on_click="ignore",
                       icon=":material/download:",
                       help="z, float32: the generator's input for this face")
    d2.download_button("Side by side (PNG)", res["side"], file_name=f"{stem}.side_by_side.png",
                       mime="image/png", key="side", on_click="ignore", icon=":material/download:")
    if res["labels"] is not None:
        d3.download_button("Labels (.npy)", res["labels"][0], file_name=f"{stem}.labels.npy",
                           mime="application/octet-stream", key="labels", on_click="ignore",
                           icon=":material/download:")


state.ensure_navigation()
st.title("Your face")
st.markdown("Upload a photo of a face. The app looks for the face the **generator** can make "
            "that is closest to it (a *projection*), and shows you the two side by side.")

with ui.guard("projecting the photo"):
    bundle, bkey = state.current_bundle()
    ui.untrained_note(bundle)
    st.caption(WHAT_IT_KEEPS)
    upload = st.file_uploader(
        "One face photo (JPEG, PNG, WebP or BMP)", type=None, key="photo",
        help="The photo is read in memory to project it and is not stored.")
    st.caption(f"Up to {detection.MAX_UPLOAD_MB} MB and {detection.MAX_PIXELS // 1_000_000} "
               "megapixels; other file types get a note. Photos are read in memory and never "
               "stored.")
    steps = st.slider("Steps", MIN_STEPS, MAX_STEPS, DEFAULT_STEPS, STEP_STEP, key="steps",
                      help="More steps: a closer face, slower. The best face so far is shown "
                           f"every {CALLBACK_EVERY} steps.")
    if upload is not None:
        data = upload.getvalue()
        digest = hashlib.sha1(data).hexdigest()
        prepared = st.session_state.setdefault("_prepared", {})   # not decoded on every rerun
        if (digest, bkey) not in prepared:
            prepared.clear()
            prepared[(digest, bkey)] = _prepare(data, bundle)
        prep, problem = prepared[(digest, bkey)]
        if problem:
            st.warning(problem, icon=":material/block:")
        else:
            if prep.face_found is False:
                st.warning("No face was found in this photo, so its centre square is used. "
                           "For a closer result, use a photo with one clear, front-facing face.",
                           icon=":material/warning:")
            memo = st.session_state.setdefault("_projections", {})
            key = (digest, bkey, int(steps))
            st.button("Project", type="primary", icon=":material/face_retouching_natural:",
                      key="project", on_click=_ask, args=(key,))
            clicked = st.session_state.pop("_project_asked", None) == key
            if key not in memo:
                if clicked:
                    memo[key] = _project(bundle, bkey, prep.image, int(steps))
                    while len(memo) > 8:
                        memo.pop(next(iter(memo)))
                else:
                    st.image(png(prep.image), width=SHOWN, output_format="PNG",
                             caption="your photo, as the model sees it")
            if key in memo:
                stem = "".join(c if c.isalnum() or c in "-_" else "_"
                               for c in upload.name.rsplit(".", 1)[0])[:60] or "photo"
                show_result(prep.image, memo[key], stem, prep.face_found)
