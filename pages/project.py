"""Your face page: upload one photo and project it into the generator (`gan.projection`).

The photo is checked and prepared exactly as the detect page's uploads are (the same size and
pixel limits, the same shared decode gate, the same sentences for a file that cannot be used:
`app_support.detection`), then cropped like the training photos (`prepare_image` at the
bundle's size and crop). "Project" runs the latent optimisation with a progress bar and the
best face so far every `gan.projection.CALLBACK_EVERY` steps; then the photo's crop beside its
projection, the pixel MS-SSIM between them and the time, and downloads of the latent (.npy)
and the side-by-side PNG. Results are kept per session, keyed by the photo's hash, the model
and the step count, so reruns do not recompute; the photo (its bytes up to KEEP_PHOTO_MB) and
the settings are kept too, so a visit to another page, which empties the uploader, loses
neither the photo nor its result ("Start over" forgets them). The `Projector` (the compiled
optimisation) is built once per bundle per server process and only used, never changed,
between projections.
It starts from the bundle's encoder when it has a usable one, and the result says which start
it used and, without an encoder, why.

"Closer likeness" (on by default) then refines the projection in the generator's 16x16
feature map (`gan.projection.FeatureProjector`, built once per bundle like the projector): the
progress bar runs on through its steps, the result says so and offers the residual (.npy), and
every face made from the projection below keeps that residual (the sliders move the labels
under it, the variations keep it times the share of z they keep, the morph fades it out on the
way to the generated face). Without it, or for a generator with no such map, the latent alone.

From the projected face: the attribute sliders (`app_support.sliders`, the generate page's
own, with the middle keeping the projection's values), variations (latents near the
projection, `gan.sampling.variations`, a variety slider) and a morph to any generated face
(seed and face number) as an animated GIF. Faces made from a projection are kept per session,
so moving one control does not remake the others.
"""
from __future__ import annotations

import hashlib
import io
import re
import threading

import numpy as np
import streamlit as st

from app_support import detection, state, ui
from app_support.faces import png, zip_faces
from app_support.sliders import attribute_controls, read_as
from gan import sampling
from gan.data.preprocess import ImageError, prepare_image
from gan.images import gif_bytes
from gan.projection import (CALLBACK_EVERY, DEFAULT_STEPS, FEATURE_RES, FEATURE_STEPS,
                            FeatureProjector, Projector)

MIN_STEPS, MAX_STEPS, STEP_STEP = 20, 500, 10
SHOWN = 192          # px: the faces are upscaled for the eye; downloads keep the model's size
VARIATIONS = 8
MAX_SEED = 2**31 - 1           # as on the generate page
MAX_FACE = 64                  # the generate page's largest face number
MAX_MORPH_FRAMES = 32
MEMO_FACES = 24                # faces made from projections kept per session (sets of them)
KEEP_PHOTO_MB = 4              # an upload's bytes kept between pages, per session, up to this
WHAT_IT_KEEPS = (
    "The generator can only draw faces like the ones it learnt, so the projection is the "
    "closest face **it** can make: it usually keeps the pose, the hair and the colours of your "
    "photo, but at this model's size it usually does **not** keep the person's identity. It is "
    "a lookalike at best, not you.")
WHAT_IT_KEEPS_REFINED = (
    "Refined in the generator's feature map, the projection keeps much more of your photo and "
    "usually keeps the person's identity: with the model bundled before 2026-12-06, on 200 "
    "photos it never trained on, a face-recognition model (dlib) called it the same person for "
    "all 194 it found a face in, against 8 for the latent alone (not yet measured on other "
    "models). The price: it is no "
    "longer a face the generator draws from a latent alone (it would redraw stripes, too), and "
    "edits can look pasted on.")
REFINED = (f"Then refined in the generator's {FEATURE_RES}x{FEATURE_RES} feature map: "
           f"{FEATURE_STEPS} steps adjust the generator's inner picture of the face, kept close "
           "to what the latent makes.")
EDITS_REFINED = (
    "On a projection refined in the feature map the sliders move the labels under the kept "
    "refinement: with the model bundled before 2026-12-06, on 200 of its held-out photos, end "
    "to end, a classifier saw the change on 88% (female ↔ male) and 86% (not smiling ↔ "
    "smiling) of them (on the latent alone: 97% and 96%).")

# One projection at a time per Projector: it holds its latent and optimiser state.
_locks: dict[tuple, threading.Lock] = {}


@st.cache_resource(max_entries=4, show_spinner=False)
def _projector(_bundle, bundle_key: tuple) -> Projector:
    """The bundle's projector, built once per server process (its first use traces the graph)."""
    return Projector(_bundle)


@st.cache_resource(max_entries=4, show_spinner=False)
def _feature_projector(_bundle, bundle_key: tuple) -> FeatureProjector | None:
    """The refinement in the generator's feature map, over the bundle's projector; None for a
    generator that has no such map (not built by gan.models)."""
    try:
        return FeatureProjector(_projector(_bundle, bundle_key))
    except ValueError:
        return None


def _ask(key: tuple) -> None:
    """The button's callback: it runs before the script, so the request survives a rerun."""
    st.session_state["_project_asked"] = key


def _keep(upload) -> dict:
    """The uploaded photo, kept in the session so it outlives a visit to another page (which
    empties the uploader): its name and hash, and its bytes up to KEEP_PHOTO_MB (a bigger one
    is kept prepared for the model in use only; another model asks for it again)."""
    data = upload.getvalue()
    digest = hashlib.sha1(data).hexdigest()   # not name and size: another photo may share both
    kept = st.session_state.get("_photo")
    if kept is None or kept["name"] != upload.name or kept["digest"] != digest:
        kept = {"name": upload.name, "size": len(data), "digest": digest,
                "data": data if len(data) <= KEEP_PHOTO_MB << 20 else None}
        st.session_state["_photo"] = kept
    return kept


def _start_over() -> None:
    """Forget the kept photo and everything made from it."""
    for k in ("_photo", "_prepared", "_projections", "_project_asked", "_projected_faces",
              "_projected_morphs"):
        st.session_state.pop(k, None)


def _cleared() -> None:
    """The uploader's callback: a visitor who removes their photo starts over. (A page switch
    empties the uploader without calling it, so the kept photo survives that.)"""
    if st.session_state.get("photo") is None:
        _start_over()


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
                                 formats=detection.UPLOAD_FORMATS, count_faces=True), None
    except ImageError as e:
        return None, detection.explain(e)


def _project(bundle, bkey, face: np.ndarray, steps: int, refine: bool) -> dict:
    """Run the projection (then, with `refine`, its refinement in the feature map) with a
    progress bar and the best face so far; the result as a dict."""
    from gan.images import png_bytes
    from gan.metrics.msssim import ms_ssim

    projector = _projector(bundle, bkey)
    refiner = _feature_projector(bundle, bkey) if refine else None
    total = steps + (FEATURE_STEPS if refiner is not None else 0)
    bar = st.progress(0.0, text="Projecting...")
    slot = st.empty()

    def show(step: int, best: np.ndarray, done: int = 0, what: str = "") -> None:
        bar.progress(min(1.0, (done + step) / total),
                     text=f"Step {done + step} of {total}: the closest face so far{what}")
        slot.image(png(best), width=SHOWN, output_format="PNG")

    delta = None
    with _locks.setdefault(bkey, threading.Lock()):
        r = projector.project(face, steps=steps, seed=0, callback=show)
        if refiner is not None:
            f = refiner.project(face, r, steps=FEATURE_STEPS, callback=lambda k, b: show(
                k, b, steps, " (refining in the feature map)"))
            r.image, r.seconds, delta = f.image, r.seconds + f.seconds, f.delta
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
            "start": r.start, "start_note": r.start_note,
            "refined": delta is not None, "refine_asked": refine,
            "delta": delta, "delta_npy": _npy(delta),
            "labels": labels, "side": png_bytes(np.concatenate([face, r.image], axis=1)),
            "z": np.asarray(r.z, np.float32),
            "y": None if r.labels is None else np.asarray(r.labels, np.float32)}


def _npy(a: np.ndarray | None) -> bytes | None:
    if a is None:
        return None
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def show_result(card: dict, face: np.ndarray, res: dict, stem: str, face_found) -> None:
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
    m2.metric("Time", f"{res['seconds']:.1f} s", help=f"{res['steps']} optimisation steps"
              + (f" and {FEATURE_STEPS} in the feature map." if res["refined"] else "."))
    if res["start"] == "encoder":
        st.caption("Started from the guess of this model's encoder (a small network trained on "
                   "the generator's own faces), then refined step by step.")
    else:
        note = re.sub(r"(python -m [^)]+)", r"`\1`", str(res["start_note"]))
        st.caption(f"Started from the average face, then refined step by step: {note}. An "
                   "encoder's first guess gives a closer face in the same steps, or about as "
                   "close a face in half of them.")
    if res["refined"]:
        st.caption(REFINED)
    elif res["refine_asked"]:
        st.caption("Not refined in the feature map: this model's generator has no "
                   f"{FEATURE_RES}x{FEATURE_RES} feature map to refine (the latent only).")
    st.info(WHAT_IT_KEEPS_REFINED if res["refined"] else WHAT_IT_KEEPS, icon=":material/info:")
    if res["labels"] is not None:
        found = res["labels"][1]
        groups = read_as(card, found)
        single = {k: v for k, v in found.items() if "=" not in k or not groups}
        said = []
        if groups:
            said.append("Your photo reads as " + ", ".join(
                f"{g.replace('_', ' ')} {m}" for g, m in groups.items())
                + " (of each label's groups, the one with the largest value the projection "
                  "found).")
        if single:
            said.append("Label values found: " + ", ".join(f"{k} {v:.2f}"
                                                           for k, v in single.items()) + ".")
        if groups:
            said.append("The raw values, one per group, are the generator's label inputs the "
                        "projection settled on: free numbers, not shares, so a label's need not "
                        "add up to 1 (the Labels download holds them).")
        st.caption(" ".join(said))
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
    if res["delta_npy"] is not None:
        st.download_button("Feature residual (.npy)", res["delta_npy"],
                           file_name=f"{stem}.features.npy", mime="application/octet-stream",
                           key="delta", on_click="ignore", icon=":material/download:",
                           help=f"float32 [{FEATURE_RES}, {FEATURE_RES}, channels]: added to the "
                                f"generator's up{FEATURE_RES} output for the latent and labels, "
                                "it remakes this face (python -m gan.project --features writes "
                                "the same file)")


def _faces(bundle, bkey, z: np.ndarray, y: np.ndarray | None, res: dict | None = None,
           keep=1.0) -> np.ndarray:
    """uint8 faces of latents made from a projection, kept per session (every rerun of the
    page would otherwise remake the edited face, the variations and the morph). A projection
    refined in the feature map (`res["delta"]`) keeps its residual, times `keep` (one per
    face, or one for all)."""
    z = np.ascontiguousarray(z, np.float32)
    y = None if y is None else np.ascontiguousarray(y, np.float32)
    delta = None if res is None else res.get("delta")
    keep = np.broadcast_to(np.asarray(keep, np.float32), (len(z),)).copy()
    memo = st.session_state.setdefault("_projected_faces", {})
    key = (bkey, z.shape, z.tobytes(), None if y is None else y.tobytes(),
           None if delta is None else (hashlib.sha1(delta.tobytes()).hexdigest(), keep.tobytes()))
    if key not in memo:
        refiner = _feature_projector(bundle, bkey) if delta is not None else None
        memo[key] = (refiner.faces(z, y, delta, keep) if refiner is not None
                     else sampling.generate_from_latents(bundle, z, y))
        while len(memo) > MEMO_FACES:
            memo.pop(next(iter(memo)))
    return memo[key]


def _row(bundle, labels: dict[str, float] | None) -> np.ndarray | None:
    """A conditional bundle's label vector (its names' order) from {name: value}."""
    if labels is None:
        return None
    return np.array([labels[n] for n in bundle.label_names], np.float32)


def edit_section(bundle, bkey, res: dict, stem: str) -> tuple[np.ndarray, dict | None]:
    """The generate page's attribute sliders on the projection; the edited (z, labels)."""
    st.subheader("Edit your projection")
    base = res["labels"][1] if res["labels"] is not None else None
    edit = attribute_controls(bundle, prefix="proj_", middle="as projected from your photo",
                              same="your projection (its latent stays)",
                              keeps="the latent stays, only the attribute moves")
    z, labels = edit.on_face(res["z"], base)
    if not edit.offered:
        st.caption("This model has no attribute sliders: it was trained without labels, and "
                   "no latent directions have been fitted for it (`python -m gan.attributes "
                   f"--model models/{bundle.name}` fits them).")
        return z, labels
    if res["refined"]:
        st.caption(EDITS_REFINED)
    if not edit.moved:
        st.caption("Move a slider to edit the projected face; the variations and the morph "
                   "below follow the edit.")
        return z, labels
    y = _row(bundle, labels)
    edited = _faces(bundle, bkey, z[None], None if y is None else y[None], res)[0]
    c1, c2 = st.columns(2)
    c1.image(png(res["image"]), width=SHOWN, output_format="PNG", caption="the projection")
    c2.image(png(edited), width=SHOWN, output_format="PNG", caption="edited by the sliders")
    c2.download_button("Edited face (PNG)", png(edited), file_name=f"{stem}.edited.png",
                       mime="image/png", key="proj_edited", on_click="ignore",
                       icon=":material/download:")
    return z, labels


def _reroll() -> None:
    st.session_state["_proj_variation_seed"] = st.session_state.get("_proj_variation_seed", 0) + 1


def variations_section(bundle, bkey, z: np.ndarray, labels: dict | None, stem: str,
                       res: dict | None = None) -> None:
    """Faces made from latents near the (edited) projection, as a grid and one ZIP."""
    st.subheader("Variations")
    ui.sticky("proj_variety", 0.3)
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    variety = c1.slider("Variety", 0.05, 1.0, step=0.05, key="proj_variety",
                        help="How far the variations stray from your projection: near 0 they "
                             "are the projection itself, at 1 unrelated faces.")
    ui.remember("proj_variety")
    c2.button("Other variations", key="proj_reroll", on_click=_reroll, icon=":material/casino:")
    seed = int(st.session_state.get("_proj_variation_seed", 0))
    zs = sampling.variations(z, VARIATIONS, variety, seed)
    y = _row(bundle, labels)
    # a refined projection's residual fades as the variations stray (the share of z they keep)
    faces = _faces(bundle, bkey, zs, None if y is None else np.repeat(y[None], VARIATIONS, 0),
                   res, float(np.sqrt(1.0 - variety ** 2)))
    pngs = [png(f) for f in faces]
    ui.face_grid(pngs, [f"#{i + 1}" for i in range(VARIATIONS)], width=96, key="variation")
    names = [f"{stem}_variation{variety:.2f}_seed{seed}_{i + 1:02d}.png"
             for i in range(VARIATIONS)]
    manifest = {"model": bundle.name, "variety": variety, "seed": seed, "labels": labels,
                "files": names,
                "remake": "gan.sampling.variations(z, 8, variety, seed) with z the projection's "
                          "latent (after any slider edit), given to the generator with labels"
                          + ("; the feature residual added to its up16 output times "
                             "sqrt(1 - variety^2)" if res and res.get("refined") else "")}
    st.download_button(f"Download the {VARIATIONS} variations (ZIP)",
                       zip_faces(pngs, names, manifest), file_name=f"{stem}_variations.zip",
                       mime="application/zip", key="proj_variations_zip", on_click="ignore",
                       icon=":material/folder_zip:")


def morph_section(bundle, bkey, z: np.ndarray, labels: dict | None, stem: str,
                  res: dict | None = None) -> None:
    """Frames from the (edited) projection to a face of the generate page, as a GIF."""
    st.subheader("Morph to a generated face")
    ui.sticky("proj_morph_on", False)
    on = st.toggle("Make a morph", key="proj_morph_on",
                   help="An animation from your projection (with the edits above) to any face "
                        "the Generate page shows: pick it by its seed and number.")
    ui.remember("proj_morph_on")
    if not on:
        return
    truncation = float(st.session_state.get("_truncation", 1.0))   # the generate page's variety
    for k, default in (("proj_morph_seed", int(st.session_state.get("_seed", 0))),
                       ("proj_morph_face", 1), ("proj_morph_frames", 12)):
        ui.sticky(k, default)
    c1, c2, c3 = st.columns([2, 2, 3], vertical_alignment="bottom")
    seed = int(c1.number_input("To seed", min_value=0, max_value=MAX_SEED, step=1,
                               key="proj_morph_seed"))
    number = int(c2.number_input("Face number", min_value=1, max_value=MAX_FACE, step=1,
                                 key="proj_morph_face",
                                 help="The face's number (#) on the Generate page."))
    frames = int(c3.slider("Frames", 3, MAX_MORPH_FRAMES, key="proj_morph_frames"))
    for k in ("proj_morph_seed", "proj_morph_face", "proj_morph_frames"):
        ui.remember(k)
    zt = sampling.latents(seed, number, bundle.latent_dim, truncation)[number - 1]
    yt = (None if not bundle.conditional
          else sampling.label_matrix(bundle, 1, None, seed=seed, start=number - 1)[0])
    memo = st.session_state.setdefault("_projected_morphs", {})
    refined = bool(res and res.get("refined"))
    key = (bkey, z.tobytes(), None if labels is None else _row(bundle, labels).tobytes(),
           seed, number, round(truncation, 4), frames, refined)
    if key not in memo:
        with st.spinner(f"Making {frames} frames..."):
            if refined:      # the residual fades out on the way to the generated face
                zs = sampling.slerp(z, zt, frames)
                ya, t = _row(bundle, labels), np.linspace(0.0, 1.0, frames)[:, None]
                ys = None if ya is None else ((1 - t) * ya[None] + t * yt[None]).astype("float32")
                images = _faces(bundle, bkey, zs, ys, res, 1.0 - t[:, 0])
            else:
                images = sampling.interpolate_latents(bundle, z, zt, frames,
                                                      _row(bundle, labels), yt)
        memo[key] = (tuple(png(f) for f in images), gif_bytes(images, duration_ms=100))
        while len(memo) > 4:
            memo.pop(next(iter(memo)))
    pngs, gif = memo[key]
    st.caption(f"To face #{number} of seed {seed} at variety {truncation:g}, as the Generate page "
               "shows it with its attribute sliders in the middle.")
    name = f"{stem}_to_{bundle.name}_seed{seed}_{number:02d}_{frames}frames.gif"
    ui.morph_strip(gif, pngs, f"you → seed {seed} #{number}", name, key="proj_morph")


state.ensure_navigation()
st.title("Your face")
st.markdown("Upload a photo of a face. The app looks for the face the **generator** can make "
            "that is closest to it (a *projection*), and shows you the two side by side.")

with ui.guard("projecting the photo"):
    bundle, bkey = state.current_bundle()
    ui.untrained_note(bundle)
    note = st.empty()          # what a projection keeps: here until a result says it below it
    upload = st.file_uploader(
        "One face photo (JPEG, PNG, WebP or BMP)", type=None, key="photo", on_change=_cleared,
        help="The photo is read in memory to project it and is not stored.")
    st.caption(f"Up to {detection.MAX_UPLOAD_MB} MB and {detection.MAX_PIXELS // 1_000_000} "
               "megapixels; other file types get a note. Photos are read in memory and never "
               "stored.")
    for k, default in (("steps", DEFAULT_STEPS), ("refine", True)):
        ui.sticky(k, default)
    steps = st.slider("Steps", MIN_STEPS, MAX_STEPS, step=STEP_STEP, key="steps",
                      help="More steps: a closer face, slower. The best face so far is shown "
                           f"every {CALLBACK_EVERY} steps.")
    refine = st.toggle("Closer likeness: refine in the generator's feature map", key="refine",
                       help=f"After the latent search, {FEATURE_STEPS} more steps adjust the "
                            f"generator's {FEATURE_RES}x{FEATURE_RES} inner picture of the face: "
                            "far more often the same person, about a second longer. Off: the "
                            "latent alone, a face the generator draws by itself.")
    for k in ("steps", "refine"):
        ui.remember(k)
    note.caption(WHAT_IT_KEEPS_REFINED if refine else WHAT_IT_KEEPS)
    photo = _keep(upload) if upload is not None else st.session_state.get("_photo")
    if photo is not None and upload is None:
        c1, c2 = st.columns([4, 1], vertical_alignment="center")
        c1.info(f"Your photo **{ui.md_escape(photo['name'])}** from before, kept for this "
                "visit only. Upload another above, or start over.", icon=":material/history:")
        c2.button("Start over", key="start_over", on_click=_start_over,
                  icon=":material/restart_alt:")
    if photo is not None:
        digest = photo["digest"]
        data = upload.getvalue() if upload is not None else photo["data"]
        prepared = st.session_state.setdefault("_prepared", {})   # not decoded on every rerun
        if (digest, bkey) not in prepared and data is None:
            prepared[(digest, bkey)] = (None, "Your earlier photo was too large to keep between "
                                              "pages: upload it again to use it with this model.")
        elif (digest, bkey) not in prepared:
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
            elif (prep.faces or 1) > 1:
                st.info(f"{prep.faces} faces were found in this photo: the largest is projected. "
                        "To project another, crop the photo to that face.",
                        icon=":material/group:")
            memo = st.session_state.setdefault("_projections", {})
            key = (digest, bkey, int(steps), bool(refine))
            st.button("Project", type="primary", icon=":material/face_retouching_natural:",
                      key="project", on_click=_ask, args=(key,))
            clicked = st.session_state.pop("_project_asked", None) == key
            if key not in memo:
                if clicked:
                    memo[key] = _project(bundle, bkey, prep.image, int(steps), bool(refine))
                    while len(memo) > 8:
                        memo.pop(next(iter(memo)))
                else:
                    st.image(png(prep.image), width=SHOWN, output_format="PNG",
                             caption="your photo, as the model sees it")
            if key in memo:
                stem = "".join(c if c.isalnum() or c in "-_" else "_"
                               for c in photo["name"].rsplit(".", 1)[0])[:60] or "photo"
                note.empty()
                show_result(bundle.card, prep.image, memo[key], stem, prep.face_found)
                st.divider()
                z, labels = edit_section(bundle, bkey, memo[key], stem)
                st.divider()
                variations_section(bundle, bkey, z, labels, stem, memo[key])
                st.divider()
                morph_section(bundle, bkey, z, labels, stem, memo[key])
