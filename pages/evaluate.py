"""Model quality page: the selected bundle's evaluation (made by `python -m gan.evaluate`): the
answer in one plain sentence and the faces that were measured first, the three verdicts, then
each measurement's detail one click away; or what to run when it has none yet (or when its
report is damaged: then the page says what is wrong with it and shows the card's copy of the
figures, in words).

It only reads what the evaluation wrote into the bundle (the card's `metrics` and
`evaluation` sections, `evaluation/report.json` and the PNG figures): measuring takes minutes
of CPU, which is not something a page visit should start.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_support import card_text, state, ui
from gan import reports
from gan.metrics import explain
from gan.metrics import groups as per_group

state.ensure_navigation()
st.title("Model quality")
st.markdown("How real do this model's faces look, how varied are they, and does it copy the "
            "photos it was trained on?")


def evaluation_dir(path: Path, card: dict) -> Path | None:
    ev = card.get("evaluation") or {}
    if not ev.get("dir"):
        return None
    d = Path(ev["dir"])
    return d if d.is_absolute() else path / d


def figure(folder: Path, name: str | None, caption: str, width: int | str = "stretch") -> None:
    if name and (folder / name).is_file():
        st.image((folder / name).read_bytes(), caption=caption, width=width)


def no_evaluation(path: Path, card: dict) -> None:
    st.info(f"The model `{path.name}` has not been evaluated yet, so there are no quality "
            "figures for it.", icon=":material/info:")
    cmd = explain.how_to_run(f"models/{path.name}", card)
    st.markdown("To measure it, run this in the project folder (a few minutes on a CPU), then "
                "reload this page:")
    st.code(cmd, language="bash")
    if "--real" in cmd:
        st.caption("Its model card names no held-out photos, so give a folder of real face "
                   "photos it was not trained on (for example `../shared/data/celeba-identities` "
                   "for a model trained on celeba-5k).")
    st.caption("Add `--inception-weights FILE` to get FID and KID too, if you have the Keras "
               "InceptionV3 weights file (it cannot be downloaded here).")


def damaged_report(path: Path, card: dict, found: reports.Report) -> None:
    """The report is there but unusable: which file, what is wrong and what writes it again,
    then the figures the model card kept from the same evaluation."""
    st.subheader(f"`{path.name}`")
    st.warning(found.warning(explain.how_to_run(f"models/{path.name}", card),
                             "Its figures and charts cannot be shown until it is written again."),
               icon=":material/warning:")
    rows = card_text.quality_rows(card)
    if rows:
        st.markdown("**What the model card kept** (its summary of the figures, written with them):")
        st.table([{"Question": r["question"], "Answer": r["answer"], "What it means": r["meaning"]}
                  for r in rows], hide_index=True)


def blind_audit(path: Path, audit: dict) -> None:
    """The kept audit's sheet and how it was made (`python -m gan.audit record` keeps it)."""
    with st.expander("Do its faces look right? The blind audit, sheet and all"):
        st.markdown(explain.AUDIT_WHAT)
        sheet = path / audit.get("sheet", "")
        if audit.get("sheet") and sheet.is_file():
            st.image(sheet.read_bytes(), caption="The sheet as the person labelled it: "
                     "generated faces and real photos, shuffled. Which is which is in "
                     f"{path.name}/{audit.get('dir', 'audit')}/key.json, the labels beside it.")
        g, r = audit["generated"], audit["real"]
        st.table([{"faces": "generated", "labelled": g["labelled"], "broken": g["broken"],
                   "95% interval": _interval(g)},
                  {"faces": "real photos", "labelled": r["labelled"], "broken": r["broken"],
                   "95% interval": _interval(r)}], hide_index=True)


def _interval(share: dict) -> str:
    lo_hi = share.get("ci95")
    return f"{lo_hi[0]:.0%} to {lo_hi[1]:.0%}" if lo_hi else "-"


def every_group(folder: Path, groups: dict, files: dict, card: dict) -> None:
    """The per-group figures: the weakest group beside the best (with each group's blind
    audit when the card keeps one), the chart, then every group's row and faces one click
    away."""
    st.markdown("**Every group:** is each group drawn as well as the others?")
    if "skipped" in groups:
        st.caption(f"Not measured per group: {groups['skipped']}.")
        return
    st.table(per_group.weakest_and_best(groups, card), hide_index=True)
    figure(folder, files.get("groups"),
           "Per group: SWD against held-out photos of that group (left) and how often a judge "
           "trained on real held-out photos names a generated face as the group asked for "
           "(right). Weakest in red, best in green; black ticks mark each label's target.")
    judge = groups["judge"]
    acc = ", ".join(f"{k} {v['accuracy']:.0%}" for k, v in judge["labels"].items())
    with st.expander("Every group's figures, and faces of each group"):
        st.markdown(f"{groups['faces_per_group']} generated faces per group, each with the labels "
                    f"of a held-out photo of that group; SWD on {groups['swd_faces']} faces for "
                    f"every group (SWD grows on smaller sets)"
                    + (f", the mean of {groups['swd_draws']} draws of that many faces and photos"
                       if groups.get("swd_draws", 1) > 1 else "")
                    + f". The judge reads dlib's face "
                    f"descriptor (a face-recognition network, not trained here) with a logistic "
                    f"regression fitted on {judge['photos']:,} real held-out photos only, in "
                    f"two halves, each scored by the fit that did not see it: its own accuracy "
                    f"is {acc}; *judge "
                    "recall* is its accuracy on real photos of the group, the most agreement "
                    "can show.")
        if per_group.group_audits(card):
            st.markdown("*Broken (blind audit)*: that group's generated faces labelled broken "
                        "by a person, shuffled among as many real photos of the group, not "
                        "knowing which were which (`python -m gan.audit sheet --group`).")
        st.table(per_group.table(groups, card), hide_index=True)
        figure(folder, files.get("groups_faces"), "Generated faces of each group.")


def details(folder: Path, report: dict, name: str) -> None:
    """Each measurement, how it works and its figures: one click away from the answer."""
    gen, real, swd = report["generated"], report["real"], report["swd"]
    with st.expander("How real? The measurement in detail (sliced Wasserstein distance, SWD)"):
        st.markdown(explain.SWD_WHAT)
        st.markdown(explain.swd_position(swd["average"], swd.get("references"),
                                         int(report.get("resolution", 128))))
        if swd.get("references"):
            st.caption("Reference points, all SWD of 128-px face crops against real photos: "
                       + "; ".join(f"{k}: ~{v:g}" for k, v in swd["references"].items())
                       + ". The photo ones were measured with this code on CelebA, the model "
                         "ones by the project earlier; details in docs/metrics.md.")
        figure(folder, report["figures"].get("swd"),
               "Left: SWD at each scale, fine detail first. Right: the average beside the "
               "reference points.")
        st.table([{"scale": f"{k} px", "SWD ×1e3": f"{v:.1f}"} for k, v in swd["levels"].items()]
                 + [{"scale": "average", "SWD ×1e3": f"{swd['average']:.1f}"}], hide_index=True)
    with st.expander("How varied? The measurement in detail (MS-SSIM)"):
        st.markdown(explain.MSSSIM_WHAT)
        st.markdown(explain.diversity_text(report["ms_ssim"]))
    with st.expander("Does it copy its training photos? The measurement in detail"):
        st.markdown(explain.MEMORISATION_WHAT)
        st.markdown(explain.memorisation_text(report["memorisation"]))
        figure(folder, report["figures"].get("memorisation_hist"),
               "Distance to the nearest training photo. Copies would show up as generated faces "
               "left of the dashed line.")
        figure(folder, report["figures"].get("memorisation_pairs"),
               "The generated faces closest to a training photo (left of each pair) and that "
               "photo (right), closest first. Look for the same person in the same pose.")
    with st.expander("FID and KID, the figures research papers use"):
        st.markdown(explain.fid_text(report["fid_kid"]))
    with st.expander("How it was measured, and the full report (report.json)"):
        st.markdown(f"Measured on {report['date'][:10]}: {gen['images']:,} generated faces "
                    f"(seed {gen['seed']}) against {real['description']}. To measure again, run "
                    "this in the project folder:")
        st.code(f"python -m gan.evaluate --model models/{name}", language="bash")
        st.json(report, expanded=1)


with ui.guard("showing the model's quality"):
    path, card, _ = state.chosen_card()        # the figures are files: no model to load
    folder = evaluation_dir(path, card)
    found = reports.read(folder / "report.json" if folder else None, reports.EVALUATION, path)
    report = found.data
    if found.problem:
        damaged_report(path, card, found)
    elif report is None:
        no_evaluation(path, card)
    else:
        st.subheader(f"`{path.name}`")
        sha = card.get("files", {}).get("generator.keras", {}).get("sha256")
        if report.get("generator_sha256") and sha and report["generator_sha256"] != sha:
            st.warning("These figures were measured on an earlier version of this model's "
                       "generator; re-run the evaluation.", icon=":material/warning:")
        if report.get("training_steps", 1) == 0:
            st.warning("This model has not been trained: its faces are noise, and the figures "
                       "below show what that looks like.", icon=":material/warning:")
        audit = explain.by_eye(card)
        if audit is not None:
            st.markdown(f"**By eye:** {audit[1]}")
        st.markdown(explain.answer(report))
        tiles = ([("By eye", f"**{audit[0]}** in a blind audit beside real photos")]
                 if audit else []) + explain.headline(report)
        for col, (title, verdict) in zip(st.columns(len(tiles)), tiles):
            with col.container(border=True, height="stretch"):
                st.markdown(f"**{title}**  \n{verdict}")
        gen = report["generated"]
        figure(folder, report["figures"].get("samples"),
               f"The first {min(64, gen['images'])} of the {gen['images']:,} faces that were "
               f"measured (seed {gen['seed']}). Judge them by eye too: the figures measure "
               "patches, likeness and copying, not whether a face looks right.", width=640)
        if report.get("groups"):
            every_group(folder, report["groups"], report["figures"], card)
        st.markdown("**The measurements in detail** (click one to open it):")
        if explain.audit_answer(card.get("audit"), sha) is not None:
            blind_audit(path, card["audit"])
        details(folder, report, path.name)
