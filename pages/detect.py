"""Detect page: score face photos as real or generated, with the crop that was scored.

Uploads are read in memory and prepared exactly like the training photos (face crop included)
by `gan.data.preprocess`; files that cannot be used get a reason beside them while the rest are
scored. The uploader takes any file type, so that a GIF or HEIC in a batch gets its own reason
instead of Streamlit refusing the whole batch; the first `detection.MAX_FILES` files of a batch
are scored. Results are kept per session, keyed by the file's hash, so reruns do not re-score.

The visitor chooses the detector (the forensic one, when the bundle stores it, or the
discriminator); the page says which is in use and how well each measured on held-out photos
(`python -m gan.detector` wrote the figures into the bundle; the page only reads them).
"""
from __future__ import annotations

import dataclasses
import hashlib
import random
from pathlib import Path

import streamlit as st

from app_support import detection, state, ui
from app_support.faces import face_file_name, png
from gan import reports
from gan.detector import explain
from gan.detector.stored import StoredDetector

TRY_GENERATED = 4
CARD_WIDTH = 250


def _cached_scores(files, bundle, bkey, det) -> list[detection.Result]:
    """Score (name, UploadedFile) pairs, reusing this session's earlier results for the same
    bytes. The files are read where Streamlit keeps them (getvalue() does not copy an
    UploadedFile), one at a time, never copied all at once."""
    memo = st.session_state.setdefault("_scores", {})
    keys = [(hashlib.sha1(data.getvalue()).hexdigest(), bkey, det.key) for _, data in files]
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


def show(results: list[detection.Result], det: StoredDetector, expect: str | None = None) -> None:
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


def report_folder(bundle) -> Path | None:
    rep = (bundle.card.get("detector") or {}).get("report") or {}
    if not rep.get("dir"):
        return None
    d = Path(rep["dir"])
    return d if d.is_absolute() else bundle.path / d


def read_report(bundle) -> reports.Report:
    folder = report_folder(bundle)
    return reports.read(folder / "report.json" if folder else None, reports.DETECTION, bundle.path)


def figure(bundle, report: dict, name: str, caption: str) -> None:
    f = report.get("figures", {}).get(name)
    folder = report_folder(bundle)
    if f and folder is not None and (folder / f).is_file():
        st.image((folder / f).read_bytes(), caption=caption)


def measurements(bundle, det: StoredDetector, target_fpr: float) -> None:
    """How well the detectors measured on held-out photos, in plain words, with the figures."""
    st.header("How well does it work?")
    found = read_report(bundle)
    if found.problem:
        st.warning(found.warning(f"python -m gan.detector fit --model models/{bundle.name}",
                                 "So how well the detectors work cannot be shown here."),
                   icon=":material/warning:")
        return
    report = found.data
    if report is None:
        st.info(f"The detectors of `{bundle.name}` have not been measured on held-out photos yet, "
                "so nobody knows how often they are right. To fit the forensic detector, "
                "calibrate both and measure them (a few minutes on a CPU), run:",
                icon=":material/info:")
        st.code(f"python -m gan.detector fit --model models/{bundle.name}", language="bash")
        return
    card = bundle.card
    stale = (report.get("discriminator_sha256") != card["files"]["discriminator.keras"]["sha256"]
             or report.get("forensic_sha256") != (card["files"].get(
                 ((card.get("detector") or {}).get("forensic") or {}).get("file", ""), {})
                 .get("sha256")))
    if stale:
        st.warning("These figures were measured on an earlier version of this model's detectors; "
                   f"re-run `python -m gan.detector report --model models/{bundle.name}`.",
                   icon=":material/warning:")
    measured = (card.get("detector") or {}).get("measured") or {}
    for d in detection.detectors_for(bundle):
        st.markdown(f"**{d.title}**" + (" (in use)" if d.key == det.key else "") + ": "
                    + explain.headline(d.key, measured.get(d.key), target_fpr, bundle.name,
                                     measured.get("names")))
    st.caption(f"Measured on {report['date'][:10]} on photos kept out of fitting and "
               f"calibration. Re-run with `python -m gan.detector report --model "
               f"models/{bundle.name}`.")
    rd = report["detectors"].get(det.key)
    if rd:
        st.subheader("False alarms on real photos")
        st.markdown(explain.THRESHOLD_WHAT.format(fpr=target_fpr)
                    + f" For the detector in use ({det.title}):")
        st.dataframe(explain.fpr_rows(report, det.key), hide_index=True)
        figure(bundle, report, "fpr", "Share of real photos called generated at the threshold "
               "(bars), with the range the true rate is likely in (whiskers).")
    with st.expander("Both tests in detail: ROC curves and the accuracy table",
                     icon=":material/show_chart:"):
        st.markdown(explain.AUC_WHAT + " **Accuracy** is the share of right verdicts at the "
                    "threshold. (a) is this model's own faces against real photos of its "
                    "training source; (b) is another GAN's faces against real portraits; the "
                    "other rows mix the sources. The last column is the naive thumbnail-only "
                    "classifier explained below.")
        st.dataframe(explain.pair_rows(report), hide_index=True)
        figure(bundle, report, "roc", "Each curve shows, for every possible threshold, the share "
               "of generated faces caught (up) against the share of real photos wrongly flagged "
               "(right). Top left is perfect; the dots are the stored thresholds.")
        text = explain.shortcut_text(report)
        if text:
            st.markdown(text)
    with st.expander("Can the probability be taken at face value? (reliability)",
                     icon=":material/balance:"):
        st.markdown(explain.RELIABILITY_WHAT)
        figure(bundle, report, "reliability", "Points near the dotted diagonal mean the "
               "probability can be read as a probability.")
    if rd and rd.get("robustness"):
        with st.expander("Re-saved, shrunk or cropped photos (robustness)",
                         icon=":material/compress:"):
            st.markdown(explain.ROBUSTNESS_WHAT)
            st.markdown(explain.robustness_text(report, det.key))
            st.dataframe(explain.robustness_rows(report, det.key), hide_index=True)
            figure(bundle, report, "robustness", "AUC as the test photos are, and after each "
                   "change.")
    with st.expander("The full report (report.json)"):
        st.json(report, expanded=False)


state.ensure_navigation()
st.title("Is this face generated?")
st.markdown("Upload photos of faces. Each is cropped to the face exactly like the photos the "
            "model was trained on, then a **detector** scores it: the probability that the face "
            "is *generated* rather than a real photo.")

with ui.guard("scoring images"):
    bundle, bkey = state.current_bundle()
    ui.untrained_note(bundle)
    detectors = detection.detectors_for(bundle)
    by_key = {d.key: d for d in detectors}
    det = detectors[0]
    if len(detectors) > 1:
        key = st.radio("Detector", list(by_key), format_func=lambda k: by_key[k].title,
                       horizontal=True, key="detector",
                       help="The forensic detector was trained on faces of this model's "
                            "generator and of another GAN; the discriminator is the GAN's own "
                            "judge, trained only against this model's generator.")
        det = by_key[key]
    for k, msg in detection.detector_problems(bundle).items():
        st.warning(f"The {k} detector stored with this model cannot be used, so it is not "
                   f"offered: {msg}", icon=":material/warning:")
    settings = bundle.card.get("detector") or {}
    target_fpr = float(settings.get("target_fpr", 0.05))
    settings_names = (settings.get("measured") or {}).get("names") or {}
    st.markdown(f"**In use: {det.title}.** "
                + explain.headline(det.key, det.measured, target_fpr, bundle.name,
                                 settings_names))
    rule = (f"set so that at most {target_fpr:.0%} of real photos kept aside for calibration "
            f"of each source were wrongly called generated" if det.calibrated else
            "the default, not chosen on any photos")
    with st.expander("What the score means, and what it cannot tell you", icon=":material/info:"):
        st.markdown(f"""\
- **Detector:** {det.title}. {detection.plain(det)}
  (Its card says: *{det.note}*.)
- **Verdict:** *looks generated* when P(generated) is at least **{det.threshold:.2f}**, the
  threshold stored with this model ({rule}); *looks real* otherwise.
""" + explain.CANNOT_TELL.format(
            res=bundle.resolution, other_gan=explain.names_or_defaults(settings_names)["other_gan"]))
    uploads = st.file_uploader(
        f"Face photos (JPEG, PNG, WebP or BMP; up to {detection.MAX_FILES} at once)",
        type=None, accept_multiple_files=True, key="uploads",
        help="Photos are read in memory to score them and are not stored.")
    st.caption(f"Up to {detection.MAX_FILES} photos per batch, each up to "
               f"{detection.MAX_UPLOAD_MB} MB and {detection.MAX_PIXELS // 1_000_000} megapixels; "
               "other file types get a note and are not scored. Photos are read in memory and "
               f"never stored; the server prepares at most {detection.MAX_CONCURRENT_DECODES} "
               "photos at a time for all visitors together, so a batch may wait for others.")
    c1, c2 = st.columns([3, 2])
    c1.button("Try it: score freshly generated faces and real photos", on_click=_try_it,
              icon=":material/science:", key="try_it")
    if "try_seed" in st.session_state:
        c2.button("Hide the examples", on_click=lambda: st.session_state.pop("try_seed", None),
                  key="hide_try")

    results: list[detection.Result] = []
    if uploads:
        kept = uploads[:detection.MAX_FILES]
        with st.spinner(f"Scoring {len(kept)} image(s)..."):
            results = (_cached_scores([(u.name, u) for u in kept], bundle, bkey, det)
                       + detection.too_many(u.name for u in uploads[detection.MAX_FILES:]))
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
        rows = [{**row, "file": ui.visible(row["file"])}
                for row in detection.results_rows(results, det)]
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

    measurements(bundle, det, target_fpr)
