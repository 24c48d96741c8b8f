"""Folders of labelled face photos -> one source labelled by group: ethnicity, gender, age group.

    python -m gan.data groups ../shared/data/utkface /work/data/aaf --out /work/data/groups \\
        --set aaf.ethnicity=asian --set aaf.gender=0:female,1:male

Each photo gets three categorical labels, the groups a model is conditioned on and measured by:

    ethnicity   UTKFace's race field (white, black, asian, indian, other), or a folder's
                `ethnicity` / `race` column, or one value for a whole folder (`--set`)
    gender      female or male: UTKFace's names, a `gender` / `sex` column, CelebA's `male`
    age_group   the age in years in the bands of `gan.data.sources.AGE_EDGES` (0-9, 10-29,
                30-49, 50+; `--age-edges` for others), or a folder's own `age_group` column

A 0/1 column says nothing about which value is which, so it needs a `--set` saying so
(`aaf.gender=0:female,1:male`); `FOLDER.LABEL=VALUE` gives every photo of a folder one value.
Photos that still lack a label are left out and counted. Byte-identical files (All-Age-Faces
holds 188 groups of them, some with different ages) are kept once, the first in folder order.
Near-duplicates that are not byte-identical are training's `--dedup`.

OUT is what `load_faces` and `train.py --data` read like any CSV-labelled folder:

    OUT/<folder name>/<path in that folder>   a link to each kept photo (never a copy)
    OUT/labels.csv          image,ethnicity,gender,age_group
    OUT/groups_report.json  the counts: per label and group, per folder, per cell, left out

No photo is decoded (only the file names, label files and bytes are read), so this takes
seconds. OUT is written beside itself and moved into place at the end; it may only replace an
older groups folder (recognised by its groups_report.json).
"""
from __future__ import annotations

import csv
import datetime
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..io import Marker, check_replaceable, file_sha256, paths_overlap, staged_dir
from .sources import AGE_EDGES, UTKFACE_RACES, Source, age_band, age_band_names, detect_source, \
    parse_utkface_name

__all__ = ["GroupsError", "GROUP_LABELS", "write_groups", "LABELS_FILE", "REPORT_FILE"]

REPO = Path(__file__).resolve().parents[2]
FORMAT = "facegan-groups/1"
LABELS_FILE = "labels.csv"
REPORT_FILE = "groups_report.json"
GROUPS = Marker(REPORT_FILE, "a groups folder (python -m gan.data groups)", format=FORMAT)
GROUP_LABELS = ("ethnicity", "gender", "age_group")
GENDERS = ("female", "male")
# Columns of a label file that give each group label (first found wins).
COLUMNS = {"ethnicity": ("ethnicity", "race"), "gender": ("gender", "sex"),
           "age_group": ("age_group",)}


class GroupsError(ValueError):
    """A problem with the folders or options, worded to be shown as one `error:` line."""


@dataclass
class _Folder:
    name: str
    path: str
    src: Source
    fixed: dict = field(default_factory=dict)    # label -> value for every photo
    maps: dict = field(default_factory=dict)     # label -> {raw value: group}


def parse_sets(items, names: list[str]) -> dict[str, dict[str, object]]:
    """`--set` values -> {folder name: {label: value or {raw: value}}}, refusing what cannot be
    meant: an unknown folder or label, an empty value."""
    out: dict[str, dict[str, object]] = {}
    for item in items or []:
        left, eq, right = item.partition("=")
        folder, dot, label = left.rpartition(".")
        label, right = label.strip().lower(), right.strip()
        if not eq or not dot or not folder or not right:
            raise GroupsError(f"--set {item!r}: write FOLDER.LABEL=VALUE (aaf.ethnicity=asian) or "
                              "FOLDER.LABEL=RAW:VALUE,... (aaf.gender=0:female,1:male)")
        if folder not in names:
            raise GroupsError(f"--set {item!r}: no folder named {folder!r} (the folders: "
                              f"{', '.join(names)})")
        if label not in GROUP_LABELS:
            raise GroupsError(f"--set {item!r}: the labels are {', '.join(GROUP_LABELS)}, not {label!r}")
        if ":" in right:
            pairs = [p.split(":", 1) for p in right.split(",")]
            if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
                raise GroupsError(f"--set {item!r}: a value map is RAW:VALUE,RAW:VALUE")
            value: object = {a.strip().lower(): b.strip().lower() for a, b in pairs}
        else:
            value = right.lower()
        out.setdefault(folder, {})[label] = value
    return out


def _check_paths(paths, out) -> tuple[list[str], str]:
    if not paths:
        raise GroupsError("give at least one folder of labelled photos")
    folders = []
    for p in paths:
        a = os.path.abspath(os.fspath(p))
        if not os.path.isdir(a):
            raise GroupsError(f"no such folder: {p}" if not os.path.exists(a) else
                              f"{p} is not a folder")
        folders.append(a)
    if len({os.path.realpath(f) for f in folders}) < len(folders):
        raise GroupsError("a folder is given twice: give each once")
    out = os.path.abspath(os.fspath(out))
    real = os.path.realpath(out)
    if real == str(REPO) or real.startswith(str(REPO) + os.sep):
        raise GroupsError(f"{out} is inside the repository ({REPO}); write the groups folder "
                          "outside it, e.g. /work/data/groups")
    for f in folders:
        if paths_overlap(out, f):
            raise GroupsError(f"the output {out} and the folder {f} overlap; give a separate folder")
    return folders, out


def _raw(src: Source, label: str, key: str):
    """The folder's own value of a group label for one photo (lower-case text), or None."""
    for col in COLUMNS[label]:
        spec = src.labels.get(col)
        if spec is not None:
            v = spec.values.get(key)
            return None if v is None else str(v).strip().lower()
    if label == "gender" and "male" in src.labels:           # CelebA's attribute
        v = src.labels["male"].values.get(key)
        return None if v is None else ("male" if int(v) == 1 else "female")
    return None


def _age(src: Source, key: str):
    spec = src.labels.get("age")
    if spec is None or spec.kind != "numeric":
        return None
    v = spec.values.get(key)
    return None if v is None else float(v)


def _labels_of(f: _Folder, key: str, edges) -> tuple[dict, str | None]:
    """({label: group}, the first label the photo lacks or None)."""
    if f.src.kind == "utkface":
        p = parse_utkface_name(key) or {}
        given = {"ethnicity": p.get("race"), "gender": p.get("gender"),
                 "age_group": None if p.get("age") is None else age_band(p["age"], edges)}
    else:
        given = {lab: _raw(f.src, lab, key) for lab in GROUP_LABELS}
        if given["age_group"] is None and (a := _age(f.src, key)) is not None:
            given["age_group"] = age_band(a, edges)
    out = {}
    for lab in GROUP_LABELS:
        v = f.fixed.get(lab, given[lab])
        if lab in f.maps and v is not None:
            v = f.maps[lab].get(v)
        if v is None or v == "":
            return out, lab
        out[lab] = v
    return out, None


def _check_folder(f: _Folder, edges) -> None:
    """Refuse a folder whose labels cannot be read as groups, before anything is written: no
    label source for a group label, or a 0/1 gender without a map saying which is which."""
    if not f.src.items:
        raise GroupsError(f"{f.path} holds no photos")
    if f.src.kind == "utkface":
        return
    for lab in GROUP_LABELS:
        if lab in f.fixed or lab in f.maps and any(c in f.src.labels for c in COLUMNS[lab]):
            continue
        has = any(c in f.src.labels for c in COLUMNS[lab])
        if lab == "gender":
            has = has or "male" in f.src.labels
        if lab == "age_group":
            has = has or ("age" in f.src.labels and f.src.labels["age"].kind == "numeric")
        if not has:
            have = ", ".join(f.src.labels) or "none"
            raise GroupsError(f"{f.path}: nothing gives {lab} (its labels: {have}); add a column "
                              f"{COLUMNS[lab][0]} to its labels file or give --set {f.name}.{lab}=VALUE")
        spec = next((f.src.labels[c] for c in COLUMNS[lab] if c in f.src.labels), None)
        if spec is not None and spec.kind == "binary" and lab not in f.maps:
            raise GroupsError(f"{f.path}: its {spec.name} column is 0/1, which does not say which "
                              f"is which; give --set {f.name}.{lab}=0:VALUE,1:VALUE "
                              f"(e.g. {f.name}.gender=0:female,1:male)")




def _counts(rows: list[dict], label: str, order: list[str]) -> dict[str, int]:
    c = {g: 0 for g in order}
    for r in rows:
        c[r[label]] = c.get(r[label], 0) + 1
    return c


def _order(values, label: str, edges) -> list[str]:
    """Groups in a reading order: age bands by age, UTKFace's races in its order, then the rest."""
    first = {"age_group": age_band_names(edges), "ethnicity": list(UTKFACE_RACES),
             "gender": list(GENDERS)}[label]
    seen = set(values)
    return [g for g in first if g in seen] + sorted(seen - set(first))


def write_groups(paths, out, sets=(), age_edges=AGE_EDGES, log=lambda msg: None) -> dict:
    """Write the groups folder OUT from the folders ``paths`` (see the module docstring);
    returns the report written to OUT/groups_report.json. Every problem raises GroupsError
    (or ReplaceRefused) before anything is written."""
    edges = tuple(int(e) for e in age_edges)
    try:
        age_band_names(edges)
    except ValueError as e:
        raise GroupsError(str(e)) from None
    folders, out = _check_paths(paths, out)
    check_replaceable(out, GROUPS)
    names, used = [], set()
    for p in folders:
        base = os.path.basename(p.rstrip(os.sep)) or "source"
        name, k = base, 2
        while name in used:
            name, k = f"{base}-{k}", k + 1
        used.add(name)
        names.append(name)
    given = parse_sets(sets, names)
    parts = []
    for name, p in zip(names, folders):
        src = detect_source(p)
        fixed = {k: v for k, v in given.get(name, {}).items() if isinstance(v, str)}
        maps = {k: v for k, v in given.get(name, {}).items() if isinstance(v, dict)}
        f = _Folder(name, p, src, fixed, maps)
        _check_folder(f, edges)
        parts.append(f)

    rows, left_out, seen, dup = [], [], {}, []
    per_folder = []
    for f in parts:
        log(f"reading {f.path} ({len(f.src.items):,} photos)")
        kept = lacking = dups = 0
        for it in f.src.items:
            labels, missing = _labels_of(f, it.key, edges)
            image = f"{f.name}/{it.key}"
            if missing:
                left_out.append({"image": image, "lacks": missing})
                lacking += 1
                continue
            digest = file_sha256(it.ref) if f.src.container == "folder" else f"{f.name}:{it.key}"
            if digest in seen:
                first = seen[digest]
                dup.append({"image": image, "same_bytes_as": first["image"],
                            "labels_differ": any(first[k] != labels[k] for k in GROUP_LABELS)})
                dups += 1
                continue
            row = {"image": image, "file": os.path.realpath(it.ref), **labels}
            seen[digest] = row
            rows.append(row)
            kept += 1
        per_folder.append({"name": f.name, "path": f.path, "kind": f.src.kind,
                           "photos": len(f.src.items), "kept": kept, "lacking_a_label": lacking,
                           "byte_identical_dropped": dups,
                           "set": {**f.fixed, **{k: v for k, v in f.maps.items()}}})
    if not rows:
        raise GroupsError("no photo has all of " + ", ".join(GROUP_LABELS)
                          + (f" (e.g. {left_out[0]['image']} lacks {left_out[0]['lacks']})" if left_out else ""))
    orders = {lab: _order({r[lab] for r in rows}, lab, edges) for lab in GROUP_LABELS}
    report = {
        "format": FORMAT,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "labels": list(GROUP_LABELS),
        "age_edges": list(edges),
        "age_groups": age_band_names(edges),
        "photos": len(rows),
        "counts": {lab: _counts(rows, lab, orders[lab]) for lab in GROUP_LABELS},
        "by_folder": {f["name"]: {lab: _counts([r for r in rows if r["image"].startswith(f["name"] + "/")],
                                               lab, orders[lab]) for lab in GROUP_LABELS}
                      for f in per_folder},
        "ethnicity_by_age_group": {e: _counts([r for r in rows if r["ethnicity"] == e], "age_group",
                                              orders["age_group"]) for e in orders["ethnicity"]},
        "ethnicity_by_gender": {e: _counts([r for r in rows if r["ethnicity"] == e], "gender",
                                           orders["gender"]) for e in orders["ethnicity"]},
        "folders": per_folder,
        "left_out": {"lacking_a_label": len(left_out), "byte_identical": len(dup),
                     "byte_identical_with_other_labels": sum(d["labels_differ"] for d in dup)},
        "lacking": left_out[:1000],
        "byte_identical": dup[:1000],
    }
    log(f"writing {out}")
    rows.sort(key=lambda r: r["image"])
    with staged_dir(out, replaces=GROUPS) as tmp:
        made = set()
        for r in rows:
            dst = tmp.joinpath(*r["image"].split("/"))
            if dst.parent not in made:
                dst.parent.mkdir(parents=True, exist_ok=True)
                made.add(dst.parent)
            os.symlink(r["file"], dst)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["image", *GROUP_LABELS])
        for r in rows:
            w.writerow([r["image"], *(r[lab] for lab in GROUP_LABELS)])
        (tmp / LABELS_FILE).write_text(buf.getvalue())
        (tmp / REPORT_FILE).write_text(json.dumps(report, indent=1) + "\n")
    return report


def counts_table(report: dict) -> str:
    """The report's counts as text: one line per label, then ethnicity by age group."""
    lines = []
    for lab in report["labels"]:
        c = report["counts"][lab]
        lines.append(f"{lab:<10} " + ", ".join(f"{g} {n:,}" for g, n in c.items()))
    bands = report["age_groups"]
    lines.append("ethnicity x age group: " + " / ".join(bands))
    for e, c in report["ethnicity_by_age_group"].items():
        lines.append(f"  {e:<8} " + " ".join(f"{c.get(b, 0):>6,}" for b in bands)
                     + f"   {sum(c.values()):>6,}")
    return "\n".join(lines)
