"""Detect page: is this face generated? Per photo the verdict in words (generated, real, or
unsure and why) with P(generated), then how far that verdict can be trusted.

Uploads are read in memory and prepared for the detector in use (`gan.detector.photos`: the
face found, its re-encodings made, so a verdict a re-save would flip is "unsure"); files that
cannot be used get a reason beside them while the rest are judged. The uploader takes any file
type, so that a GIF or HEIC in a batch gets its own reason instead of Streamlit refusing the
whole batch; the first `detection.MAX_FILES` files of a batch are judged. Results are kept per
session, keyed by the file's hash, so reruns do not re-score.

The figures are the ones `python -m gan.detector fit` measured leave-one-source-out (each
photo source scored by a detector fitted without it), read from the card and the report; the
worst left-out real source comes first. The page states no figure of its own.
"""
from __future__ import annotations

import dataclasses
import hashlib
import random

import streamlit as st

from app_support import detection, state, ui
from app_support.faces import face_file_name, png
from gan import reports
from gan.detector import explain, figures
from gan.detector.stored import StoredDetector

TRY_GENERATED = 4
CARD_WIDTH = 250
BADGES = {"generated": ":red-badge[:material/smart_toy: generated]",
          "real": ":green-badge[:material/person: real]",
          "unsure": ":orange-badge[:material/help: unsure]"}


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


def _try_it() -> None:
    st.session_state["try_seed"] = random.randrange(1_000_000)


def show(results: list[detection.Result], expect: str | None = None) -> None:
    """One card per image: the face, then the verdict in words and P(generated), or the
    reason it was not judged."""
    with st.container(horizontal=True, gap="small"):
        for r in results:
            with st.container(border=True, width=CARD_WIDTH, gap="small"):
                st.markdown(f"**{ui.md_escape(r.name)}**")
                if r.crop is not None:
                    st.image(png(r.crop), width=128, output_format="PNG",
                             caption="the face that was judged" if r.scored else
                             "the face found" if r.face_found else "the centre: no face found")
                if r.scored:
                    st.markdown(BADGES.get(r.verdict, r.verdict or "")
                                + (f" — {r.reason_text}" if r.reason_text else ""))
                    st.markdown(f"P(generated) = **{explain.p_text(r.p_generated)}**")
                    if expect:
                        said = ("did not decide (unsure)" if r.verdict == "unsure" else
                                "is right" if r.verdict == expect else "is wrong")
                        st.caption(f"It is {expect}: the detector {said} here.")
                else:
                    st.warning(r.message, icon=":material/block:")


def read_report(bundle) -> reports.Report:
    return reports.read(bundle.path / explain.REPORT_DIR / "report.json", reports.DETECTION,
                        bundle.path)


def figure(bundle, report: dict, name: str, caption: str) -> None:
    f = (report.get("figures") or {}).get(name) or explain.FIGURES.get(name)
    path = bundle.path / explain.REPORT_DIR / f if f else None
    if path is not None and path.is_file():
        st.image(path.read_bytes(), caption=caption)


def left_out_figures(bundle, det: StoredDetector, target_fpr: float,
                     report: dict | None) -> None:
    """The card's left-out table of the detector in use: the worst real source first, in words,
    then every generated source's catch rate, the table, the figure and the thumbnail control."""
    st.markdown(explain.headline(det.measured, target_fpr, bundle.name))
    st.markdown(explain.catch_text(det.measured))
    st.dataframe(explain.left_out_rows(det.measured), hide_index=True)
    st.caption("Each row: one photo source, judged by the detector fitted and calibrated "
               "without it. *Called generated* is a false alarm on a real source and the catch "
               "rate on a generated one; *unsure* is counted apart. The 95% upper bound allows "
               "for chance in a source's number of photos.")
    if report is not None:
        figure(bundle, report, "left_out", "Per source, left out of fitting: the shares called "
               "generated, unsure and real, for both detectors.")
    st.markdown(explain.THUMBNAIL_WHAT)
    st.markdown(explain.thumbnail_text(det.measured))


def usable_report(bundle, det: StoredDetector) -> dict | None:
    """The report when it can be shown; otherwise None, with a warning saying why (damaged,
    written by an older version) and what to run. A report of another fit is shown, warned."""
    found = read_report(bundle)
    if found.problem:
        st.warning(found.warning(explain.fit_command(bundle.name),
                                 "So the robustness and per-group figures cannot be shown here."),
                   icon=":material/warning:")
        return None
    report = found.data
    if report is None:
        if det.measured:
            st.info("The robustness and per-group figures have not been measured: run "
                    f"`{explain.fit_command(bundle.name)}`.", icon=":material/info:")
        return None
    if report.get("format") != reports.DETECTION_FORMAT:
        st.warning(f"`{found.file}` was written by an older version of the detector, which "
                   "measured on held-out photos of the same collections it was fitted on: "
                   "those figures say nothing about photos from elsewhere, so they are not "
                   f"shown. Refit and measure again with `{explain.fit_command(bundle.name)}`.",
                   icon=":material/warning:")
        return None
    if explain.is_stale(report, det.key, det.rule):
        st.warning("The robustness and per-group figures below were measured for an earlier fit "
                   "of this detector; measure again with `python -m gan.detector report --model "
                   f"models/{bundle.name} --sources SOURCES.json`.", icon=":material/warning:")
    return report


def measurements(bundle, det: StoredDetector, settings: dict, target_fpr: float) -> None:
    """How far the verdicts can be trusted: the left-out figures (card), the robustness curves
    and the false alarms per group (report), each one click away."""
    st.header("How well does it work?")
    if not det.measured:
        st.info(explain.headline(None, target_fpr, bundle.name), icon=":material/info:")
        st.code(explain.fit_command(bundle.name), language="bash")
    else:
        st.caption("Every figure here was measured on photo sources the detector never saw: "
                   "each source was left out of fitting in turn, then judged.")
    report = usable_report(bundle, det)
    if det.measured:
        with st.expander("On photo sources it never saw: false alarms and catch rates, per "
                         "source", icon=":material/table:"):
            left_out_figures(bundle, det, target_fpr, report)
        with st.expander("How these figures were measured, and on which sources",
                         icon=":material/science:"):
            st.markdown("Every photo source was left out of fitting in turn: the detector was "
                        "fitted and calibrated on all the others, then judged the left-out "
                        "source's photos. The verdict rule was chosen on those left-out verdicts: "
                        + (settings.get("threshold_rule") or "see the model card") + ".")
            rows = explain.source_rows(settings)
            if rows:
                st.dataframe(rows, hide_index=True)
    if report is None or det.key not in report["detectors"]:
        return
    with st.expander("Re-saved, shrunk or cropped photos (robustness)", icon=":material/compress:"):
        st.markdown(explain.ROBUSTNESS_WHAT)
        st.markdown(explain.robustness_text(report, det.key))
        rows = explain.robustness_rows(report, det.key)
        if rows:
            st.dataframe(rows, hide_index=True)
            if det.key == figures.main_key(report, "robustness"):
                figure(bundle, report, "robustness", "Left: how well real and generated faces "
                       "are told apart, and the catch rate, after each change. Right: real "
                       "photos called generated, and real photos a change turned into "
                       "\"generated\".")
    with st.expander("False alarms per group (age, gender, race)", icon=":material/groups:"):
        st.markdown(explain.GROUPS_WHAT)
        st.markdown(explain.groups_text(report, det.key))
        rows = explain.group_rows(report, det.key)
        if rows:
            st.dataframe(rows, hide_index=True)
            if det.key == figures.main_key(report, "groups"):
                figure(bundle, report, "groups", "Share of real photos called generated per "
                       "group (bars) and its 95% upper bound (whiskers); the dashed line is the "
                       "stated rate.")
    with st.expander("The full report (report.json)", icon=":material/data_object:"):
        st.caption(f"Measured on {report['date'][:10]}.")
        st.json(report, expanded=False)


state.ensure_navigation()
st.title("Is this face generated?")
st.markdown("Upload photos of faces. The **detector** looks at each face and answers "
            "*generated*, *real*, or *unsure* (and says why), with P(generated): how generated "
            "the face looks to it.")

with ui.guard("scoring images"):
    bundle, bkey = state.current_bundle()
    ui.untrained_note(bundle)
    detectors = detection.detectors_for(bundle)
    by_key = {d.key: d for d in detectors}
    det = detectors[0]
    if len(detectors) > 1:
        key = st.radio("Detector", list(by_key), format_func=lambda k: by_key[k].title,
                       horizontal=True, key="detector",
                       help="\"What the discriminator sees\" reads the GAN's discriminator's "
                            "view of the face with a read-out fitted on real photos and "
                            "generated faces of many sources; the forensic detector reads the "
                            "fine texture of the face, fitted the same way; the discriminator "
                            "alone is the GAN's own judge, trained only against this model's "
                            "generator.")
        det = by_key[key]
    for k, msg in detection.detector_problems(bundle).items():
        st.warning(f"The {k} detector stored with this model cannot be used, so it is not "
                   f"offered: {msg}", icon=":material/warning:")
    settings = bundle.card.get("detector") or {}
    target_fpr = float(settings.get("target_fpr", 0.05))
    st.markdown(f"**In use: {det.title}.** "
                + explain.summary(det.measured, target_fpr, bundle.name))
    with st.expander("What the verdicts mean, and what they cannot tell you",
                     icon=":material/info:"):
        st.markdown(explain.rule_text(det.rule, target_fpr,
                                      fitted_with_rule=isinstance(det.section.get("rule"), dict),
                                      checks_unfamiliar=det.unfamiliar is not None))
        st.markdown(f"- **P(generated):** {detection.plain(det)}\n" + explain.CANNOT_TELL)
    uploads = st.file_uploader(
        f"Face photos (JPEG, PNG, WebP or BMP; up to {detection.MAX_FILES} at once)",
        type=None, accept_multiple_files=True, key="uploads",
        help="Photos are read in memory to judge them and are not stored.")
    st.caption(f"Up to {detection.MAX_FILES} photos per batch, each up to "
               f"{detection.MAX_UPLOAD_MB} MB and {detection.MAX_PIXELS // 1_000_000} megapixels; "
               "other file types get a note and are not scored. Photos are read in memory and "
               f"never stored; the server prepares at most {detection.MAX_CONCURRENT_DECODES} "
               "photos at a time for all visitors together, so a batch may wait for others.")
    c1, c2 = st.columns([3, 2])
    c1.button("Try it: judge freshly generated faces and real photos", on_click=_try_it,
              icon=":material/science:", key="try_it")
    if "try_seed" in st.session_state:
        c2.button("Hide the examples", on_click=lambda: st.session_state.pop("try_seed", None),
                  key="hide_try")

    results: list[detection.Result] = []
    if uploads:
        kept = uploads[:detection.MAX_FILES]
        with st.spinner(f"Judging {len(kept)} image(s)..."):
            results = (_cached_scores([(u.name, u) for u in kept], bundle, bkey, det)
                       + detection.too_many(u.name for u in uploads[detection.MAX_FILES:]))
        st.subheader("Your images")
        show(results)

    if "try_seed" in st.session_state:
        seed = st.session_state["try_seed"]
        faces = state.face_cache().faces(bundle, bkey, TRY_GENERATED, seed)
        gen = detection.score_generated(
            faces.images, [face_file_name(bundle.name, seed, i) for i in range(TRY_GENERATED)], det)
        real = detection.score_examples(bundle, det)
        st.subheader("Try it: both sides")
        st.caption(f"{TRY_GENERATED} faces the generator just made (seed {seed}), judged as they "
                   "come out of it:")
        show(gen, expect="generated")
        if real:
            note = (bundle.card.get("examples") or {}).get("note")
            st.caption(f"{len(real)} real photo(s) shipped with the model"
                       + (f" ({note})" if note else "") + ", prepared like an upload:")
            show(real, expect="real")
        else:
            st.info("This model ships no real example photos (`examples/real/` in its folder), "
                    "so only generated faces are shown. Upload a real photo to see the other side.")
        results = results + gen + real

    if results:
        st.subheader("All results")
        rows = [{**row, "file": ui.visible(row["file"]),
                 "p_generated": "" if r.p_generated is None else explain.p_text(r.p_generated)}
                for r, row in zip(results, detection.results_rows(results, det))]
        st.dataframe(rows, hide_index=True, column_config={
            "file": "File", "source": "Source", "status": "Status", "verdict": "Verdict",
            "reason": "Why unsure", "p_generated": "P(generated)",
            "face_found": "Face found", "message": "Why not scored",
            "threshold": None, "detector": None})
        st.download_button("Download the table (CSV)", detection.results_csv(results, det),
                           file_name="facegan_scores.csv", mime="text/csv", on_click="ignore",
                           icon=":material/download:", key="csv")
    elif not uploads:
        st.info("Upload a photo above, or press **Try it** to see how the detector judges "
                "generated faces and real photos.", icon=":material/arrow_upward:")

    measurements(bundle, det, settings, target_fpr)
