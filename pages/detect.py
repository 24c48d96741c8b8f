"""Detect page: is this face generated? The uploader first, then each photo's answer in words
with its face ("Looks generated", "Looks real", "Unsure — because ...") and its score, a table
of every file, then what those answers are worth in three plain lines; the measurement detail
(the left-out table, the 8x8 control, the sources, robustness, groups, the report) sits in
expanders, one click away.

Uploads are read in memory and prepared for the detector in use (`gan.detector.photos`: the
face found, its re-encodings made, so a verdict a re-save would flip is "unsure"); files that
cannot be used get a reason beside them while the rest are judged. The uploader takes any file
type, so that a GIF or HEIC in a batch gets its own reason instead of Streamlit refusing the
whole batch; the newest `detection.MAX_FILES` readable files in the list are judged (the
uploader adds a new batch after the old one). Results are kept per session, keyed by the file's
hash, so reruns do not re-score; the last batch's names and hashes are kept too, so its answers
are still there when the visitor comes back from another page (Streamlit empties the uploader
then), until they press "Start over".

The figures are the ones `python -m gan.detector fit` measured leave-one-source-out (each
photo source scored by a detector fitted without it), read from the card and the report; the
worst left-out real source comes first. The page states no figure of its own. No table has an
inner scroll box: the answers' table is `st.table` (every row and column, text wrapped), and the
wide detail tables are grids exactly as tall as their rows.
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
ROW_PX = 35                       # a grid row's height; grid() sizes each table to its rows
# Streamlit's uploader lists the files in a box 106 px tall that scrolls inside itself: two rows
# of names, the third cut in half. A batch is at most MAX_FILES files, so list them all.
# (Checked in the browser test: the list has no hidden part.)
UPLOAD_LIST_CSS = ('<style>[data-testid="stFileUploader"] [data-testid="stFileChips"] '
                   '{ max-height: none; }</style>')
# The last batch, kept for the visitor's return: Streamlit empties the uploader when they leave
# the page. Only (name, sha1) per file is kept (sha1 None: past the cap); the answers are in the
# session's results ("_scores"), so no photo is kept.
BATCH = "_detect_batch"
RETURNED = "_detect_returned"       # the batch shown is the kept one, until a new upload
UPLOADS_GEN = "_detect_uploads_gen"  # bumped by "Start over" to empty the uploader
ANSWER_STYLE = {"generated": "**:red[:material/smart_toy: {}]**",
                "real": "**:green[:material/person: {}]**",
                "unsure": "**:orange[:material/help: {}]**"}


def _file_key(data, bkey, det) -> tuple:
    """What a result is kept under: the file's bytes, the model and the detector."""
    return hashlib.sha1(data.getvalue()).hexdigest(), bkey, det.key


def _cached_scores(files, bundle, bkey, det) -> list[detection.Result]:
    """Score (name, UploadedFile) pairs, the newest `detection.MAX_FILES` readable ones (see
    `detection.score_newest`), reusing this session's earlier results for the same bytes, and
    keep the batch for the visitor's return. The files are read where Streamlit keeps them
    (getvalue() does not copy an UploadedFile), one at a time, never copied all at once."""
    memo = st.session_state.setdefault("_scores", {})
    keys = [_file_key(data, bkey, det) for _, data in files]
    results = detection.score_newest(files, bundle, det, [memo.get(k) for k in keys])
    judged = [r.status != detection.TOO_MANY_STATUS for r in results]
    for r, k, j in zip(results, keys, judged):
        if j and k not in memo:
            memo[k] = r
    while len(memo) > 256:
        memo.pop(next(iter(memo)))
    st.session_state[BATCH] = [(r.name, k[0] if j else None)
                               for r, k, j in zip(results, keys, judged)]
    return results


def _kept_batch(bkey, det) -> list[detection.Result] | None:
    """The last batch's results, rebuilt from the session's results (no photo is kept, only
    its answer); None when another model or detector is in use that did not judge them."""
    memo = st.session_state.get("_scores", {})
    out = []
    for name, sha in st.session_state.get(BATCH, []):
        if sha is None:
            out += detection.too_many([name])
        elif (sha, bkey, det.key) in memo:
            out.append(dataclasses.replace(memo[(sha, bkey, det.key)], name=name))
        else:
            return None
    return out


def _start_over() -> None:
    """Forget the batch and empty the uploader (a new key: Streamlit offers no other way)."""
    st.session_state.pop(BATCH, None)
    st.session_state.pop(RETURNED, None)
    st.session_state[UPLOADS_GEN] = st.session_state.get(UPLOADS_GEN, 0) + 1


def uploads_key() -> str:
    gen = st.session_state.get(UPLOADS_GEN, 0)
    return "uploads" if not gen else f"uploads_{gen}"


def upload_mb() -> int:
    """The size a file may have: the page's own cap, or the server's when it is lower (the
    uploader refuses bigger files before the page sees them)."""
    return min(detection.MAX_UPLOAD_MB, int(st.get_option("server.maxUploadSize")))


def _try_it() -> None:
    st.session_state["try_seed"] = random.randrange(1_000_000)


def answer(r: detection.Result) -> str:
    """The answer line of one judged photo: the answer in bold colour, then why when unsure."""
    line = ANSWER_STYLE.get(r.verdict or "", "**{}**").format(
        explain.ANSWERS.get(r.verdict or "", r.verdict))
    return line + (f" — because {explain.because_text(r.reason)}"
                   if r.verdict == "unsure" and r.reason else "")


def show(results: list[detection.Result], det: StoredDetector, expect: str | None = None) -> None:
    """One card per image: its name and face, the answer in words, the score and where it falls;
    or the reason it was not judged."""
    with st.container(horizontal=True, gap="small"):
        for r in results:
            with st.container(border=True, width=CARD_WIDTH, gap="small"):
                st.markdown(f"**{ui.md_escape(r.name)}**")
                if r.crop is not None:
                    st.image(png(r.crop), width=128, output_format="PNG",
                             caption="the face judged" if r.scored else
                             "the face found" if r.face_found else "the centre: no face found")
                if r.scored:
                    st.markdown(answer(r))
                    if several := detection.several_faces(r.faces):
                        st.caption(several)
                    st.caption(f"Score **{explain.p_text(r.p_generated)}**: "
                               + explain.score_side(r.p_generated, det.rule))
                    if expect:
                        said = ("did not decide (unsure)" if r.verdict == "unsure" else
                                "is right" if r.verdict == expect else "is wrong")
                        st.caption(f"It is {expect}: the detector {said} here.")
                else:
                    st.warning(r.message, icon=":material/block:")


def tally(results: list[detection.Result]) -> str:
    """"3 photos judged: 1 looks generated, 1 looks real, 1 unsure; 1 file could not be judged
    (the reason is shown with it)." """
    judged = [r for r in results if r.scored]
    counts = [explain.answer_count(n, v) for v in ("generated", "real", "unsure")
              if (n := sum(r.verdict == v for r in judged))]
    text = (f"**{len(judged)} photo{'s' * (len(judged) != 1)} judged:** "
            + ", ".join(counts)) if judged else "**No photo judged**"
    left = len(results) - len(judged)
    if left:
        text += (f"; {left} file{'s' * (left != 1)} could not be judged (the reason is shown "
                 + ("with it)" if left == 1 else "with each)"))
    return text + "."


def results_table(results: list[detection.Result]) -> None:
    """Every file in one static table (every row, nothing cut off), in the card's words; the CSV
    has every column as `gan.detect` writes them."""
    mixed = len({r.source for r in results}) > 1
    rows = []
    for r in results:
        row = {"Photo": ui.visible(r.name)}
        if mixed:
            row["From"] = {"upload": "your upload", "generated": "the generator just now",
                           "real example": "a real photo shipped with the model"}.get(r.source,
                                                                                      r.source)
        row.update({"Answer": explain.answer_text(r.verdict, r.reason) if r.scored
                    else f"Not judged — {r.message}",
                    "Score (0 real, 1 generated)": "" if r.p_generated is None
                    else explain.p_text(r.p_generated)})
        rows.append(row)
    st.table(rows, hide_index=True)


def grid(rows: list[dict], last: tuple[str, ...] = (), labels: dict | None = None) -> None:
    """A wide detail table as a grid exactly as tall as its rows: every row shown, no inner
    scroll box. The long text columns (`last`) go last, so the figures are in view; a cell too
    long for its column shows in full on hover or when widened. `labels`: {column: (shorter
    label, what it means)}."""
    order = [c for c in (rows[0] if rows else {}) if c not in last] + list(last)
    config = {c: st.column_config.Column(label, help=what)
              for c, (label, what) in (labels or {}).items()}
    st.dataframe(rows, hide_index=True, row_height=ROW_PX, height=ROW_PX * (len(rows) + 1) + 3,
                 column_order=order, column_config=config)


def read_report(bundle) -> reports.Report:
    return reports.read(bundle.path / explain.REPORT_DIR / "report.json", reports.DETECTION,
                        bundle.path)


def figure(bundle, report: dict, name: str, caption: str, width: int | str = "content") -> None:
    f = (report.get("figures") or {}).get(name) or explain.FIGURES.get(name)
    path = bundle.path / explain.REPORT_DIR / f if f else None
    if path is not None and path.is_file():
        st.image(path.read_bytes(), caption=caption, width=width)


def left_out_figures(bundle, det: StoredDetector, target_fpr: float,
                     report: dict | None) -> None:
    """The card's left-out table of the detector in use: the worst real source first, in words,
    then every generated source's catch rate, the table and the figure."""
    st.markdown(explain.headline(det.measured, target_fpr, bundle.name))
    st.markdown(explain.catch_text(det.measured))
    rows = explain.left_out_rows(det.measured)
    for kind, heading, drop in (
            ("real", "**Real photos**, per collection: *called generated* is a false alarm",
             ("kind", "family seen in fitting", "AUC vs real")),
            ("generated", "**Generated faces**, per source: *called generated* is a catch",
             ("kind", "95% upper bound"))):
        part = [{k: v for k, v in r.items() if k not in drop} for r in rows if r["kind"] == kind]
        if part:
            st.markdown(heading)
            grid(part, last=("why unsure",), labels={"family seen in fitting": (
                "family seen", "Whether another source made by the same kind of generator was "
                               "among the sources it was fitted on")})
    st.caption("Each row: one photo source, judged by the detector fitted and calibrated "
               "without it; *unsure* is counted apart, and *why unsure* says how many for each "
               "reason. The 95% upper bound allows for chance in a collection's number of "
               "photos. *Family seen*: another source made by the same kind of generator was "
               "among those it was fitted on. " + explain.AUC_WHAT + " The 8×8 control is explained in the next "
               "section.")
    if report is not None and det.key in report["detectors"]:    # else it shows other detectors
        figure(bundle, report, "left_out", "Per source, left out of fitting: the shares called "
               "generated, unsure and real, for each detector the report measured.")


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


def pick_detector(bundle) -> StoredDetector:
    """The detector in use: the bundle's best, or the visitor's choice when it offers more."""
    detectors = detection.detectors_for(bundle)
    if not detectors:
        st.error("No detector of this model can be used: "
                 + "; ".join(detection.detector_problems(bundle).values()), icon=":material/error:")
        st.stop()
    by_key = {d.key: d for d in detectors}
    if len(detectors) == 1:
        return detectors[0]
    key = st.radio("Detector", list(by_key), format_func=lambda k: by_key[k].title,
                   horizontal=True, key="detector",
                   help="The panel asks the learned detector and the GAN's discriminator "
                        "together: generated when either places the photo far above real "
                        "photos of sources it never saw, real when both place it among them. "
                        "\"What the discriminator sees\" reads the GAN's discriminator's view "
                        "of the face with a read-out fitted on real photos and generated faces "
                        "of many sources; the \"learned\" one trains the discriminator's layers "
                        "themselves on those sources; the forensic detector reads the fine "
                        "texture of the face, fitted the same way; the discriminator alone is "
                        "the GAN's own judge, trained only against this model's generator (and, "
                        "where the model stores one, trained on against the finished generator). "
                        "Changing it judges your photos again.")
    return by_key[key]


def trust(bundle, det: StoredDetector, settings: dict, target_fpr: float) -> None:
    """Under the heading and the detector's choice: what the answers are worth, in three plain
    lines; then the measurement detail, each part one click away: the verdict rule, the
    left-out figures (card), the 8x8 control, the sources, the robustness curves and false
    alarms per group (report), the report itself."""
    st.markdown(f"**In use: {det.title}.** " + ("What its answers are worth, measured on photo "
                                                 "collections it never saw:\n\n"
                                                 if det.measured else "")
                + explain.summary(det.measured))
    with st.expander("What the answers and the score mean, and what they cannot tell you",
                     icon=":material/info:"):
        st.markdown(explain.rule_text(det.rule, target_fpr,
                                      fitted_with_rule=isinstance(det.section.get("rule"), dict),
                                      checks_unfamiliar=det.unfamiliar is not None))
        st.markdown(f"- **The score** (*p_generated* in the CSV): {detection.plain(det)}\n"
                    + explain.CANNOT_TELL)
    if not det.measured:
        with st.expander("How to measure it", icon=":material/science:"):
            st.markdown(explain.headline(None, target_fpr, bundle.name))
            st.code(explain.fit_command(bundle.name), language="bash")
    report = usable_report(bundle, det)
    if det.measured:
        with st.expander("On photo sources it never saw: false alarms and catch rates, per "
                         "source", icon=":material/table:"):
            left_out_figures(bundle, det, target_fpr, report)
        with st.expander("Is it telling photo collections apart instead? The 8×8 thumbnail "
                         "control", icon=":material/grid_on:"):
            st.markdown(explain.THUMBNAIL_WHAT)
            st.markdown(explain.thumbnail_text(det.measured))
        with st.expander("How these figures were measured, and on which sources",
                         icon=":material/science:"):
            folds = det.section.get("folds")
            st.markdown(("Every photo source was left out of fitting in turn: the detector was "
                         "fitted and calibrated on all the others, then judged the left-out "
                         "source's photos." if not folds else
                         f"The photo sources were split into {folds} groups, each left out of "
                         f"fitting in turn: the detector was trained and calibrated on the "
                         f"others, then judged the left-out sources' photos.")
                        + " The verdict rule was chosen on those left-out verdicts: "
                        + (settings.get("threshold_rule") or "see the model card") + ".")
            rows = explain.source_rows(settings)
            if rows:
                grid(rows, last=("family", "origin", "provenance"))
    if report is None:
        return
    if det.key not in report["detectors"]:
        st.caption("How it does on re-saved, shrunk or cropped photos, and its false alarms per "
                   "group (age, gender, race), have not been measured for this detector yet.")
        return
    with st.expander("Re-saved, shrunk or cropped photos (robustness)", icon=":material/compress:"):
        st.markdown(explain.ROBUSTNESS_WHAT)
        st.markdown(explain.robustness_text(report, det.key))
        rows = explain.robustness_rows(report, det.key)
        if rows:
            st.table(rows, hide_index=True)
            st.caption(explain.AUC_WHAT)
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
            st.table(rows, hide_index=True)
            if det.key == figures.main_key(report, "groups"):
                figure(bundle, report, "groups", "Share of real photos called generated per "
                       "group (bars) and its 95% upper bound (whiskers); the dashed line is the "
                       "stated rate.", width=640)
    with st.expander("The full report (report.json)", icon=":material/data_object:"):
        st.caption(f"Measured on {report['date'][:10]}.")
        st.json(report, expanded=1)


state.ensure_navigation()
st.title("Is this face generated?")
st.markdown("Upload photos of faces. For each photo the **detector** judges its largest face and "
            "answers *looks generated* (made by a program such as this app's generator), *looks "
            "real*, or *unsure*, and says why. Take it as a hint, not proof.")

with ui.guard("scoring images"):
    bundle, bkey = state.current_bundle()
    ui.untrained_note(bundle)
    st.html(UPLOAD_LIST_CSS)            # style only: takes no room on the page
    arrived = uploads_key() not in st.session_state    # a first visit, or back from elsewhere
    uploads = st.file_uploader(
        f"Face photos (JPEG, PNG, WebP or BMP; up to {detection.MAX_FILES} at once)",
        type=None, accept_multiple_files=True, key=uploads_key(),
        help="Photos are read in memory to judge them and are not stored.")
    st.caption(f"Each file up to {upload_mb()} MB: the uploader refuses a bigger one (it "
               "stays listed, marked in red) and it is not judged. Resize or compress it first.")
    st.caption(f"Up to {detection.MAX_FILES} photos per batch (the newest in the list; a file "
               "that cannot be read takes no place), each up to "
               f"{detection.MAX_PIXELS // 1_000_000} megapixels; "
               "other files get a note and are not judged. Photos are read in memory and never "
               f"stored; the server prepares at most {detection.MAX_CONCURRENT_DECODES} photos "
               "at a time for all visitors together, so a batch may wait for others.")
    c1, c2 = st.columns([3, 2])
    c1.button("Try it: judge freshly generated faces and real photos", on_click=_try_it,
              icon=":material/science:", key="try_it")
    if "try_seed" in st.session_state:
        c2.button("Hide the examples", on_click=lambda: st.session_state.pop("try_seed", None),
                  key="hide_try")
    answers = st.container()            # the answers go here, above the detector's choice
    settings = bundle.card.get("detector") or {}
    target_fpr = float(settings.get("target_fpr", 0.05))
    trust_box = st.container()          # how far to trust them, and the detector's choice
    with trust_box:
        st.subheader("How far can you trust the answer?", anchor=False)
        det = pick_detector(bundle)
    for k, msg in detection.detector_problems(bundle).items():
        trust_box.warning(f"The {k} detector stored with this model cannot be used, so it is not "
                          f"offered: {msg}", icon=":material/warning:")

    with answers:
        results: list[detection.Result] = []
        returned = False
        if uploads:
            with st.spinner(f"Judging {min(len(uploads), detection.MAX_FILES)} image(s)..."):
                results = _cached_scores([(u.name, u) for u in uploads], bundle, bkey, det)
            st.session_state.pop(RETURNED, None)
        elif BATCH in st.session_state and (arrived or st.session_state.get(RETURNED)):
            st.session_state[RETURNED] = returned = True
            results = _kept_batch(bkey, det)
            if results is None:
                results = []
                st.info("Your last batch was judged by another model or detector: upload the "
                        "photos again to judge them with this one.", icon=":material/info:")
        else:                           # the visitor removed every file: the batch goes too
            st.session_state.pop(BATCH, None)
        if results:
            st.subheader("Your photos", anchor=False)
            if returned:
                st.caption("Your last batch, kept from your last visit to this page: its "
                           "answers are kept, not the photos.")
            st.button("Start over: clear these photos", on_click=_start_over,
                      icon=":material/restart_alt:", key="start_over")
            st.markdown(tally(results))
            if any(r.scored for r in results):
                st.caption(explain.score_scale(det.rule, det.calibrated))
            show(results, det)

        if "try_seed" in st.session_state:
            seed = st.session_state["try_seed"]
            faces = state.face_cache().faces(bundle, bkey, TRY_GENERATED, seed)
            gen = detection.score_generated(
                faces.images, [face_file_name(bundle.name, seed, i)
                               for i in range(TRY_GENERATED)], det)
            real = detection.score_examples(bundle, det)
            st.subheader("Try it: both sides", anchor=False)
            if not results:
                st.caption(explain.score_scale(det.rule, det.calibrated))
            st.caption(f"{TRY_GENERATED} faces the generator just made (seed {seed}), judged as "
                       "they come out of it:")
            show(gen, det, expect="generated")
            if real:
                note = (bundle.card.get("examples") or {}).get("note")
                st.caption(f"{len(real)} real photo(s) shipped with the model"
                           + (f" ({note})" if note else "") + ", prepared like an upload:")
                show(real, det, expect="real")
            else:
                st.info("This model ships no real example photos (`examples/real/` in its "
                        "folder), so only generated faces are shown. Upload a real photo to see "
                        "the other side.")
            results = results + gen + real

        if results:
            st.subheader("All the answers in one table", anchor=False)
            results_table(results)
            st.download_button("Download the table (CSV)", detection.results_csv(results, det),
                               file_name="facegan_scores.csv", mime="text/csv",
                               on_click="ignore", icon=":material/download:", key="csv")
        elif not uploads and not returned:
            st.info("No photo judged yet: upload one above (a file over "
                    f"{upload_mb()} MB is refused by the uploader and not judged), or press "
                    "**Try it** to see how the detector judges generated faces and real photos.",
                    icon=":material/arrow_upward:")

    with trust_box:
        trust(bundle, det, settings, target_fpr)
