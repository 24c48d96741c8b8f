"""An evaluation's report: its figures, its report.json and the summary the model card keeps.

The one writer of `<bundle>/evaluation/` and of the card's `metrics` / `evaluation`
sections, so the folder and the card always describe the same measurement.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gan.bundle import update_card
from gan.images import jpeg_bytes, make_grid, png_bytes
from gan.io import atomic_write_text, staged_dir, write_files
from gan.metrics import figures, swd

REPORT_FORMAT = "facegan-evaluation/1"
EVAL_DIR = "evaluation"
# Figures of many photos are JPEG (they are most of a bundle's size); the sample grid stays PNG:
# the app shows its pixels as the model's own faces (app_support.faces.stored_faces).
FIGURES = {"swd": "swd.png", "memorisation_pairs": "memorisation_pairs.jpg",
           "memorisation_hist": "memorisation_hist.png", "samples": "samples.png",
           "groups": "groups.png", "groups_faces": "groups_faces.jpg"}


def _round(x: Any, digits: int = 4) -> Any:
    if isinstance(x, float):
        return float(f"{x:.{digits}g}")
    if isinstance(x, dict):
        return {k: _round(v, digits) for k, v in x.items()}
    return x


def card_metrics(report: dict) -> dict:
    """The summary figures the model card keeps (the report has the rest)."""
    s = report["swd"]
    m: dict[str, Any] = {
        "swd_x1e3": _round({"average": s["average"], **{f"{k}px": v for k, v in s["levels"].items()}}),
        "ms_ssim": _round({"generated": report["ms_ssim"]["generated"],
                           "real": report["ms_ssim"]["real"],
                           "mode_collapse": report["ms_ssim"]["mode_collapse"]}),
    }
    mem = report["memorisation"]
    m["memorisation"] = ({"skipped": mem["skipped"]} if "skipped" in mem else _round({
        "flag": mem["memorisation"], "fraction_closer": mem["fraction_closer"],
        "median_ratio": mem["median_ratio"]}))
    if mem.get("identity"):
        ident = mem["identity"]
        m["memorisation"]["identity"] = ({"skipped": ident["skipped"]} if "skipped" in ident else _round({
            "flag": ident["flag"], "threshold": ident["threshold"],
            "generated_share": ident["generated"]["share"],
            "heldout_share": ident["heldout"]["share"],
            "fraction_closer": ident.get("fraction_closer")}))
    fk = report["fid_kid"]
    if fk.get("computed"):
        m["fid"], m["kid"] = _round(fk["fid"]), _round(fk["kid"])
    g = report.get("groups")
    if g:
        m["groups"] = ({"skipped": g["skipped"]} if "skipped" in g else
                       {**g["summary"], "judge_accuracy": {k: v["accuracy"] for k, v in
                                                           g["judge"]["labels"].items()}})
    m["evaluated"] = {"date": report["date"], "generated_images": report["generated"]["images"],
                      "real_images": report["real"]["images"], "real_set": report["real"]["description"],
                      "seconds": round(report["seconds"], 1)}
    return m


def figure_files(bundle, report: dict, gen, sets, arrays, n_memorisation: int,
                 group_faces: dict | None = None) -> dict[str, bytes]:
    """The report's figures by file name; also fills `report["figures"]` with those written."""
    files: dict[str, bytes] = {}
    refs = swd.REFERENCES if bundle.resolution == 128 else None
    files[FIGURES["swd"]] = figures.swd_chart(report["swd"], refs, title=f"{bundle.name}: SWD "
                                              f"against {len(sets.real):,} real photos")
    files[FIGURES["samples"]] = png_bytes(make_grid(gen[:64], cols=8))
    if arrays is not None:
        mem = report["memorisation"]
        files[FIGURES["memorisation_hist"]] = figures.distance_histogram(
            arrays["gen_dist"], arrays["heldout_dist"], mem["threshold"])
        files[FIGURES["memorisation_pairs"]] = jpeg_bytes(figures.pairs_grid(
            gen[:n_memorisation], sets.train, arrays["gen_index"], arrays["gen_flipped"],
            arrays["gen_dist"]))
    g = report.get("groups")
    if g and "rows" in g and group_faces:
        files[FIGURES["groups"]] = figures.groups_chart(g, title=f"{bundle.name}: every group, "
                                                        "weakest in red, best in green")
        files[FIGURES["groups_faces"]] = figures.groups_faces(group_faces)
    report["figures"] = {k: v for k, v in FIGURES.items() if v in files}
    return files


def write_report(bundle_path: Path, out_dir: Path, report: dict, files: dict[str, bytes],
                 write_card: bool = True) -> None:
    """Replace `out_dir` with the figures and report.json, then (by default) point the card
    at it with its summary figures."""
    # The evaluation folder is replaced as a whole: never new figures beside an old report.
    with staged_dir(out_dir) as staging:
        write_files(staging, files)
        atomic_write_text(staging / "report.json", json.dumps(report, indent=2, default=str) + "\n")
    if write_card:
        rel = os.path.relpath(out_dir, bundle_path)
        update_card(bundle_path, metrics=card_metrics(report),
                    evaluation={"dir": rel if not rel.startswith("..") else str(out_dir.resolve()),
                                "report": "report.json"})
