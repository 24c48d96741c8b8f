"""Detect page: score face photos as real or generated, with the crop that was scored.

Uploads are read in memory and prepared exactly like the training photos (face crop included)
by `gan.data.preprocess`; files that cannot be used get a reason beside them while the rest are
scored. Results are kept per session, keyed by the file's hash, so reruns do not re-score.
"""
from __future__ import annotations

import dataclasses
import hashlib
import random

import streamlit as st

from app_support import detection, state, ui
from app_support.faces import face_file_name, png

TRY_GENERATED = 4
CARD_WIDTH = 250


def _cached_scores(files, bundle, bkey, det) -> list[detection.Result]:
    """Score (name, bytes) pairs, reusing this session's earlier results for the same bytes."""
    memo = st.session_state.setdefault("_scores", {})
    keys = [(hashlib.sha1(data).hexdigest(), bkey, det.key) for _, data in files]
    todo = [(f, k) for f, k in zip(files, keys) if k not in memo]
    if todo:
        for (_, k), r in zip(todo, detection.score_uploads([f for f, _ in todo], bundle, det)):
            memo[k] = r
        while len(memo) > 256:
            memo.pop(next(iter(memo)))
    return [dataclasses.replace(memo[k], name=name) for (name, _), k in zip(files, keys)]


def p_text(p: float, threshold: float) -> str:
    """Two decimals, or more when needed to see on which side of the threshold p falls."""
    gap = abs(p - threshold)
    return f"{p:.{2 if gap >= 0.01 else 3 if gap >= 0.001 else 4}f}"


def _try_it() -> None:
    st.session_state["try_seed"] = random.randrange(1_000_000)


def show(results: list[detection.Result], det: detection.Detector, expect: str | None = None) -> None:
    """One card per image: the crop that was scored, then the score and verdict or the reason."""
    with st.container(horizontal=True, gap="small"):
        for r in results:
            with st.container(border=True, width=CARD_WIDTH, gap="small"):
                st.markdown(f"**{ui.md_escape(r.name)}**")
                if r.crop is not None:
                    st.image(png(r.crop), width=128, output_format="PNG",
                             caption="the crop that was scored" if r.scored else "the centre crop")
                if r.scored:
                    tag = (":red-badge[:material/smart_toy: looks generated]" if r.verdict == "generated"
                           else ":green-badge[:material/person: looks real]")
                    st.markdown(f"P(generated) = **{p_text(r.p_generated, det.threshold)}** {tag}")
                    if expect:
                        ok = r.verdict == expect
                        st.caption(f"It is {expect}: the detector is "
                                   f"{'right' if ok else 'wrong'} here.")
                else:
                    st.warning(r.message, icon=":material/block:")


state.ensure_navigation()
st.title("Is this face generated?")
st.markdown("Upload photos of faces. Each is cropped to the face exactly like the photos the "
            "model was trained on, then the model's **discriminator** scores it: the probability "
            "that the face is *generated* rather than a real photo.")

with ui.guard("scoring images"):
    bundle, bkey = state.current_bundle()
    ui.untrained_note(bundle)
    detectors = detection.detectors_for(bundle)
    det = detectors[0]
    if len(detectors) > 1:
        det = st.radio("Detector", detectors, format_func=lambda d: d.title, horizontal=True,
                       key="detector")
    with st.expander("What the score means, and what it cannot tell you", icon=":material/info:"):
        st.markdown(f"""\
- **Detector:** {det.title}. {det.plain}
  (Its card says: *{det.note}*.)
- **Verdict:** *looks generated* when P(generated) is at least **{det.threshold:.2f}**, the
  threshold stored with this model; *looks real* otherwise.
- The score says how much a face looks like **this model's own** generated faces rather than
  its training photos. It was not trained on faces from other generators, photo edits or
  filters, so it cannot tell whether a photo was made by another AI, retouched or faked.
- It judges a {bundle.resolution}×{bundle.resolution} crop only: lighting, compression and
  how the face is framed all move the score. An uncalibrated score is a ranking, not a
  probability you can take at face value, and no single score is proof either way.
""")
    uploads = st.file_uploader(
        "Face photos (JPEG, PNG, WebP or BMP; several at once is fine)",
        type=detection.UPLOAD_TYPES, accept_multiple_files=True, key="uploads",
        help="Photos are read in memory to score them and are not stored.")
    st.caption(f"Up to {detection.MAX_UPLOAD_MB} MB and "
               f"{detection.MAX_PIXELS // 1_000_000} megapixels per photo. Photos are read in "
               "memory and never stored.")
    c1, c2 = st.columns([3, 2])
    c1.button("Try it: score freshly generated faces and real photos", on_click=_try_it,
              icon=":material/science:", key="try_it")
    if "try_seed" in st.session_state:
        c2.button("Hide the examples", on_click=lambda: st.session_state.pop("try_seed", None),
                  key="hide_try")

    results: list[detection.Result] = []
    if uploads:
        with st.spinner(f"Scoring {len(uploads)} image(s)..."):
            results = _cached_scores([(u.name, u.getvalue()) for u in uploads], bundle, bkey, det)
        st.subheader("Your images")
        show(results, det)

    if "try_seed" in st.session_state:
        seed = st.session_state["try_seed"]
        faces = state.face_cache().faces(bundle, bkey, TRY_GENERATED, seed)
        gen = detection.score_generated(
            faces.images, [face_file_name(bundle.name, seed, i) for i in range(TRY_GENERATED)], det)
        real = detection.score_examples(bundle, det)
        st.subheader("Try it: both sides")
        st.caption(f"{TRY_GENERATED} faces the generator just made (seed {seed}), scored as they "
                   "come out of it:")
        show(gen, det, expect="generated")
        if real:
            note = (bundle.card.get("examples") or {}).get("note")
            st.caption(f"{len(real)} real photo(s) shipped with the model"
                       + (f" ({note})" if note else "") + ", prepared like an upload:")
            show(real, det, expect="real")
        else:
            st.info("This model ships no real example photos (`examples/real/` in its folder), "
                    "so only generated faces are shown. Upload a real photo to see the other side.")
        results = results + gen + real

    if results:
        st.subheader("All results")
        rows = detection.results_rows(results, det)
        st.dataframe(rows, hide_index=True, column_config={
            "file": "File", "source": "Source", "status": "Status", "verdict": "Verdict",
            "face_found": "Face found", "message": "Why not scored",
            "p_generated": st.column_config.ProgressColumn(
                "P(generated)", min_value=0.0, max_value=1.0, format="%.3f"),
            "threshold": None, "detector": None})
        st.download_button("Download the table (CSV)", detection.results_csv(results, det),
                           file_name="facegan_scores.csv", mime="text/csv", on_click="ignore",
                           icon=":material/download:", key="csv")
    elif not uploads:
        st.info("Upload a photo above, or press **Try it** to see how the detector scores "
                "generated faces and real photos.", icon=":material/arrow_upward:")
