"""Model quality page: the selected bundle's evaluation (made by `python -m gan.evaluate`) in
plain words, with its figures, or what to run when it has none yet (or when its report is
damaged: then the page says what is wrong with it and shows the card's copy of the figures).

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

state.ensure_navigation()
st.title("Model quality")
st.markdown("How close are this model's faces to real photos, how varied are they, and does it "
            "copy the photos it was trained on? The figures below were measured offline, on "
            "faces the model made, against real photos it never trained on.")


def evaluation_dir(bundle) -> Path | None:
    ev = bundle.card.get("evaluation") or {}
    if not ev.get("dir"):
        return None
    d = Path(ev["dir"])
    return d if d.is_absolute() else bundle.path / d


def figure(folder: Path, name: str | None, caption: str) -> None:
    if name and (folder / name).is_file():
        st.image((folder / name).read_bytes(), caption=caption)


def no_evaluation(bundle) -> None:
    st.info(f"The model `{bundle.name}` has not been evaluated yet, so there are no quality "
            "figures for it.", icon=":material/info:")
    cmd = explain.how_to_run(f"models/{bundle.name}", bundle.card)
    st.markdown("To measure it, run this in the project folder (a few minutes on a CPU), then "
                "reload this page:")
    st.code(cmd, language="bash")
    if "--real" in cmd:
        st.caption("Its model card names no held-out photos, so give a folder of real face "
                   "photos it was not trained on (for example `../shared/data/celeba-identities` "
                   "for a model trained on celeba-5k).")
    st.caption("Add `--inception-weights FILE` to get FID and KID too, if you have the Keras "
               "InceptionV3 weights file (it cannot be downloaded here).")


def damaged_report(bundle, found: reports.Report) -> None:
    """The report is there but unusable: which file, what is wrong and what writes it again,
    then the figures the model card kept from the same evaluation."""
    st.subheader(f"`{bundle.name}`")
    st.warning(found.warning(explain.how_to_run(f"models/{bundle.name}", bundle.card),
                             "Its figures and charts cannot be shown until it is written again."),
               icon=":material/warning:")
    rows = card_text.metric_rows(bundle.card)
    if rows:
        st.markdown("**What the model card kept** (its summary of the figures, written with them):")
        st.dataframe(rows, hide_index=True)


with ui.guard("showing the model's quality"):
    bundle, _ = state.current_bundle()
    folder = evaluation_dir(bundle)
    found = reports.read(folder / "report.json" if folder else None, reports.EVALUATION,
                         bundle.path)
    report = found.data
    if found.problem:
        damaged_report(bundle, found)
    elif report is None:
        no_evaluation(bundle)
    else:
        st.subheader(f"`{bundle.name}`")
        gen, real = report["generated"], report["real"]
        st.caption(f"Measured on {report['date'][:10]}: {gen['images']:,} generated faces "
                   f"against {real['description']}. Re-run with "
                   f"`python -m gan.evaluate --model models/{bundle.name}`.")
        sha = bundle.card.get("files", {}).get("generator.keras", {}).get("sha256")
        if report.get("generator_sha256") and sha and report["generator_sha256"] != sha:
            st.warning("These figures were measured on an earlier version of this model's "
                       "generator; re-run the evaluation.", icon=":material/warning:")
        if report.get("training_steps", 1) == 0:
            st.warning("This model has not been trained: its faces are noise, and the figures "
                       "below show what that looks like.", icon=":material/warning:")
        for col, (title, verdict) in zip(st.columns(3), explain.headline(report)):
            with col.container(border=True):
                st.markdown(f"**{title}**  \n{verdict}")

        swd = report["swd"]
        st.header("How realistic? (SWD)")
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
        st.dataframe([{"scale": f"{k} px", "SWD ×1e3": round(v, 1)}
                      for k, v in swd["levels"].items()] + [{"scale": "average",
                                                             "SWD ×1e3": round(swd["average"], 1)}],
                     hide_index=True)

        st.header("How varied? (MS-SSIM)")
        st.markdown(explain.MSSSIM_WHAT)
        st.markdown(explain.diversity_text(report["ms_ssim"]))

        st.header("Does it copy its training photos?")
        st.markdown(explain.MEMORISATION_WHAT)
        st.markdown(explain.memorisation_text(report["memorisation"]))
        figure(folder, report["figures"].get("memorisation_hist"),
               "Distance to the nearest training photo. Copies would show up as generated faces "
               "left of the dashed line.")
        figure(folder, report["figures"].get("memorisation_pairs"),
               "The generated faces closest to a training photo (left of each pair) and that "
               "photo (right), closest first. Look for the same person in the same pose.")

        st.header("FID and KID")
        st.markdown(explain.fid_text(report["fid_kid"]))

        st.header("Faces that were measured")
        figure(folder, report["figures"].get("samples"),
               f"The first 64 of the {gen['images']:,} generated faces (seed {gen['seed']}).")
        with st.expander("The full report (report.json)"):
            st.json(report, expanded=False)
