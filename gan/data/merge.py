"""Several folders of face photos -> one labelled training source, near-duplicates dropped first.

    merge_sources(["../shared/data/celeba-5k", "../shared/data/celeba-identities"],
                  "/work/data/celeba-merged", labels="male,smiling")

Why: collections cut from the same data set (celeba-5k and celeba-identities are both CelebA)
share photos. A photo in two of them would be trained on twice as often and, worse, could sit
on both sides of the train/held-out split. So the near-duplicates are found within and across
the folders with the project's one dedup (`gan.data.dedup`, on the preprocessed crops) before
anything is split, and one photo of each group is kept: a labelled copy when there is one.

The result is one folder that `load_faces` and `train.py --data` read like any CSV-labelled
folder (the train/held-out split is then made from it, by `FaceData.split`, as for any source):

    OUT/<folder name>/<path in that folder>   a link to each kept photo (never a copy)
    OUT/labels.csv        image,<label>,...: every kept photo, predicted labels included
    OUT/manifest.tsv      per photo: its file, labels "given" or "predicted", the classifier's
                          probabilities, the duplicates dropped in its favour
    OUT/merge_report.json counts, pairs, thresholds, the classifier's held-out accuracy

Photos of unlabelled folders get their labels from the project's attribute classifier
(`gan.sliders.classifier`), trained on the labelled photos kept and scored on a part of them
held out by file-name hash; `predict=False` leaves them blank instead (a labelled run then
leaves those photos out). The flag and the probabilities stay out of labels.csv because the
loader takes every CSV column as a label, and `--labels auto` must not condition on them.

OUT is written beside itself and moved into place at the end, so a failure leaves it as it
was; it may only replace an older merge (recognised by its merge_report.json).
"""
from __future__ import annotations

import csv
import datetime
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import dedup as _dedup
from .dataset import FaceData, encode_labels, load_faces, unit_hash
from .preprocess import CROP_MODES, DEFAULT_SIZE
from .sources import CELEBA_ATTR_FILE, CSV_IMAGE_COLUMNS, IMAGE_EXTENSIONS, Source, detect_source
from ..io import Marker, check_replaceable, paths_overlap, staged_dir

__all__ = ["MergeError", "merge_sources", "MERGED", "LABELS_FILE", "MANIFEST_FILE", "REPORT_FILE"]

REPO = Path(__file__).resolve().parents[2]
MERGE_FORMAT = "facegan-merged-data/1"
LABELS_FILE = "labels.csv"
MANIFEST_FILE = "manifest.tsv"  # not .csv: the loader would read any CSV as a label table
REPORT_FILE = "merge_report.json"
MERGED = Marker(REPORT_FILE, "a merged data folder (python -m gan.data merge)", format=MERGE_FORMAT)
LINKS = ("symlink", "hardlink")
DEFAULT_HOLDOUT = 0.1
# Fewest labelled photos the classifier may be trained / scored on (as gan.sliders.measure).
MIN_TRAIN, MIN_HELDOUT = 4, 2


class MergeError(ValueError):
    """A problem with the folders or options, worded to be shown as one `error:` line."""


@dataclass
class _Part:
    """One input folder: what it holds and, once loaded, its photos and given labels."""
    name: str           # its folder inside OUT
    path: str           # absolute
    src: Source
    data: FaceData | None = None
    given: np.ndarray | None = None        # float32 [n, K]: labels read from its label file
    has_labels: np.ndarray | None = None   # bool [n]: every requested label was given
    offset: int = 0                        # its first row in the merged numbering


@dataclass
class _Pool:
    """All photos of all parts in one numbering (part by part, each in its load order)."""
    parts: list
    keys: list = field(default_factory=list)     # "<part name>/<key>": its path inside OUT
    part_of: np.ndarray | None = None            # int [n]
    row_of: np.ndarray | None = None             # int [n]: row inside its part

    def __post_init__(self):
        part_of, row_of = [], []
        for j, p in enumerate(self.parts):
            p.offset = len(self.keys)
            self.keys += [f"{p.name}/{k}" for k in p.data.keys]
            part_of += [j] * len(p.data)
            row_of += range(len(p.data))
        self.part_of, self.row_of = np.array(part_of, int), np.array(row_of, int)

    def __len__(self):
        return len(self.keys)

    def __getitem__(self, i):
        """One image (what `dedup.find_duplicates` asks for), without stacking all of them."""
        return self.parts[self.part_of[i]].data.images[self.row_of[i]]

    def gather(self, idx) -> np.ndarray:
        """uint8 images of the rows ``idx``, in that order (read part by part)."""
        idx = np.asarray(idx, int)
        p0 = self.parts[0].data.images
        out = np.empty((len(idx),) + tuple(p0.shape[1:]), np.uint8)
        for j, p in enumerate(self.parts):
            sel = np.nonzero(self.part_of[idx] == j)[0]
            if len(sel):
                out[sel] = p.data.images[self.row_of[idx[sel]]]
        return out

    def source_file(self, i) -> str:
        p = self.parts[self.part_of[i]]
        return os.path.join(p.src.root, *p.data.keys[self.row_of[i]].split("/"))


# --------------------------------------------------------------------------- checks


def _label_names(labels) -> list:
    if labels is None or labels is False:
        return []
    items = labels.split(",") if isinstance(labels, str) else list(labels)
    names = []
    for s in items:
        n = str(s).strip().lower()
        if n and n not in names:
            names.append(n)
    return names


def check_options(threshold: int, min_correlation: float, holdout: float, epochs: int,
                  size: int, crop: str, link: str) -> None:
    """Refuse bad options before any photo is read."""
    if not 0 <= int(threshold) <= 64:
        raise MergeError(f"the hash threshold is a number of bits between 0 and 64, not {threshold}")
    if not -1.0 <= float(min_correlation) <= 1.0:
        raise MergeError(f"the minimum correlation is between -1 and 1, not {min_correlation:g}")
    if not 0.0 < float(holdout) < 1.0:
        raise MergeError(f"the classifier's hold-out is a fraction between 0 and 1, not {holdout:g}")
    if int(epochs) < 1:
        raise MergeError(f"the classifier needs at least 1 epoch, not {epochs}")
    if int(size) < 8:
        raise MergeError(f"size must be at least 8, not {size}")
    if crop not in CROP_MODES:
        raise MergeError(f"crop must be one of {', '.join(CROP_MODES)}, not {crop!r}")
    if link not in LINKS:
        raise MergeError(f"link must be one of {', '.join(LINKS)}, not {link!r}")


def _inside(a: str, b: str) -> bool:
    """Whether real path ``a`` is ``b`` or lies under it."""
    return a == b or a.startswith(b.rstrip(os.sep) + os.sep)


def _check_paths(paths, out) -> tuple[list, str]:
    """Absolute folders and OUT, refusing what would mix them up: a missing or repeated
    folder, OUT inside a folder (or the reverse), OUT inside the repository."""
    if not paths:
        raise MergeError("give at least one folder of photos")
    folders = []
    for p in paths:
        a = os.path.abspath(os.fspath(p))
        if not os.path.exists(a):
            raise MergeError(f"no such folder: {p}")
        if not os.path.isdir(a):
            raise MergeError(f"{p} is not a folder (merge reads folders of photos)")
        folders.append(a)
    real = [os.path.realpath(a) for a in folders]
    for i in range(len(real)):
        for j in range(len(real)):
            if i != j and _inside(real[i], real[j]):
                raise MergeError(f"{paths[i]} is {'the same folder as' if real[i] == real[j] else 'inside'} "
                                 f"{paths[j]}: give each folder once")
    out = os.path.abspath(os.fspath(out))
    rout = os.path.realpath(out)
    if _inside(rout, str(REPO)):
        raise MergeError(f"{out} is inside the repository ({REPO}); write merged data outside it, "
                         "e.g. /work/data/NAME")
    for p in paths:
        if paths_overlap(out, p):
            raise MergeError(f"the output {out} and the folder {p} overlap; give a separate output folder")
    return folders, out


def _label_file_problem(path: str, names: list) -> str:
    """Why a label file the loader could not use was refused, in a few words."""
    try:
        with open(path, "rb") as f:
            raw = f.read(1 << 20)
    except OSError as e:
        return e.strerror or str(e)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "not UTF-8 text"
    first = next(csv.reader(io.StringIO(text)), [])
    if not first or first[0].strip().lower() not in CSV_IMAGE_COLUMNS:
        return f"its first column is {first[0].strip()[:40]!r}, not image" if first else "it is empty"
    return "none of its rows names a photo of the folder"


def _check_labels(part: _Part, names: list) -> None:
    """A folder is labelled when the loader found a label file for it; a label file in the
    folder that the loader could not use, or one lacking a requested 0/1 label, is an error
    (silently treating such a folder as unlabelled would replace its labels by predictions)."""
    src = part.src
    if not names:
        return
    if src.label_file is None:
        for f in sorted(os.listdir(part.path)):
            full = os.path.join(part.path, f)
            if (f == CELEBA_ATTR_FILE or f.lower().endswith(".csv")) and os.path.isfile(full):
                raise MergeError(f"{full}: cannot read labels from it ({_label_file_problem(full, names)}); "
                                 f"a labels CSV starts with the header image,{','.join(names)} and names "
                                 "one photo of its folder per row")
        return
    have = ", ".join(src.labels) or "none"
    for n in names:
        spec = src.labels.get(n)
        if spec is None:
            raise MergeError(f"{src.label_file}: no label {n!r} (its labels: {have})")
        if spec.kind != "binary":
            shown = sorted({str(v) for v in spec.values.values()})[:4]
            raise MergeError(f"{src.label_file}: label {n!r} is not 0/1 (values such as {', '.join(shown)})")


def _open_parts(folders: list, names: list) -> list:
    """Each folder's listing and labels, checked before any photo is decoded."""
    parts, used = [], set()
    for folder in folders:
        src = detect_source(folder)
        if not src.items:
            raise MergeError(f"{folder} holds no photos ({', '.join(e[1:] for e in IMAGE_EXTENSIONS)}, "
                             "searched in its subfolders too)")
        base = os.path.basename(folder.rstrip(os.sep)) or "source"
        name, k = base, 2
        while name in used:
            name, k = f"{base}-{k}", k + 1
        used.add(name)
        part = _Part(name=name, path=folder, src=src)
        _check_labels(part, names)
        parts.append(part)
    return parts


# --------------------------------------------------------------------------- steps


def _load(part: _Part, names: list, size, crop, n_jobs, cache_dir, progress) -> None:
    """Decode the folder as training would (and through its cache), and read its labels."""
    data = load_faces(part.path, size=size, crop=crop, labels=None, dedup=False, n_jobs=n_jobs,
                      cache_dir=cache_dir, progress=progress)
    if not len(data):
        bad = data.report["skipped"][0] if data.report["skipped"] else {"file": "?", "reason": "?"}
        raise MergeError(f"{part.path}: none of its {data.report['counts']['found']} photos could be "
                         f"read (e.g. {bad['file']}: {bad['reason']})")
    part.data = data
    if names and part.src.label_file is not None:
        matrix, _, _, _, missing = encode_labels(part.src, names, data.keys)
        part.given = matrix.astype(np.float32)
        part.has_labels = np.array([m is None for m in missing], bool)
    else:
        part.given = np.zeros((len(data), len(names)), np.float32)
        part.has_labels = np.zeros(len(data), bool)


def _deduplicate(pool: _Pool, threshold: int, min_correlation: float):
    """Near-duplicate pairs over all folders, and which photos to drop: in each group the
    first labelled photo stays (folder order, then load order), else the first photo.

    Returns (pairs, drop mask, kept photo of each photo's group)."""
    hashes = np.concatenate([p.data.hashes for p in pool.parts])
    pairs = _dedup.find_duplicates(pool, hashes, threshold, min_correlation)
    labelled = np.concatenate([p.has_labels for p in pool.parts])
    n = len(pool)
    # Rank photos so that `duplicates_to_drop` (which keeps the lowest index of a group)
    # keeps a labelled copy: labelled first, then the merged order.
    order = np.lexsort((np.arange(n), ~labelled))
    rank = np.empty(n, int)
    rank[order] = np.arange(n)
    drop = _dedup.duplicates_to_drop(n, [(rank[i], rank[j]) for i, j, *_ in pairs])[rank]
    group = _dedup.groups(n, pairs)
    kept_of = np.arange(n)
    for g in np.unique(group[drop]):
        members = np.nonzero(group == g)[0]
        kept_of[members] = members[~drop[members]][0]
    return pairs, drop, kept_of


def _pair_counts(pool: _Pool, pairs) -> dict:
    """Pairs within each folder and across each two folders."""
    counts = {}
    for p in pool.parts:
        counts[f"within {p.name}"] = 0
    for a in range(len(pool.parts)):
        for b in range(a + 1, len(pool.parts)):
            counts[f"across {pool.parts[a].name} + {pool.parts[b].name}"] = 0
    for i, j, *_ in pairs:
        a, b = sorted((pool.part_of[i], pool.part_of[j]))
        k = (f"within {pool.parts[a].name}" if a == b
             else f"across {pool.parts[a].name} + {pool.parts[b].name}")
        counts[k] += 1
    return counts


def _predict(clf, pool: _Pool, keep: np.ndarray, labelled: np.ndarray, given: np.ndarray, names: list,
             holdout: float, seed: int, epochs: int, size: int, crop: str, use_cache: bool, log):
    """Train the attribute classifier on the kept labelled photos (a hash of seed and file
    name holds out ``holdout`` of them, for its accuracy), then predict the kept unlabelled
    photos. Returns (rows predicted, probabilities [m, K], classifier report)."""
    lab = np.nonzero(keep & labelled)[0]
    todo = np.nonzero(keep & ~labelled)[0]
    held = np.array([unit_hash(seed, pool.keys[i]) < holdout for i in lab], bool)
    tr, ho = lab[~held], lab[held]
    if len(tr) < MIN_TRAIN or len(ho) < MIN_HELDOUT:
        raise MergeError(f"{len(lab)} labelled photos give {len(tr)} to train the attribute classifier "
                         f"on and {len(ho)} to score it (at least {MIN_TRAIN} and {MIN_HELDOUT}); "
                         "add labelled photos, change --holdout, or give --no-predict")
    model, info = clf.trained(pool.gather(tr), given[tr], names, [pool.keys[i] for i in tr],
                                      size, crop, epochs=epochs, seed=seed, use_cache=use_cache, log=log)
    acc = clf.accuracy(model, pool.gather(ho), given[ho], names)
    log("classifier accuracy on held-out labelled photos: "
        + ", ".join(f"{k} {v:.1%}" for k, v in acc.items()))
    probs = clf.predict(model, pool.gather(todo)) if len(todo) else np.zeros((0, len(names)))
    report = {
        "model": f"{clf.__name__} ({clf.RECIPE}, {epochs} epochs, seed {seed})",
        "trained_on": int(len(tr)), "held_out": int(len(ho)), "holdout_fraction": float(holdout),
        "split": f"unit_hash(seed, merged file name) < {holdout:g}",
        "heldout_accuracy": {k: round(float(v), 4) for k, v in acc.items()},
        "heldout_positive_share": {n: round(float(given[ho, j].mean()), 4) for j, n in enumerate(names)},
        "predicted": int(len(todo)),
        "predicted_positive_share": {n: round(float((probs[:, j] >= 0.5).mean()), 4) if len(todo) else None
                                     for j, n in enumerate(names)},
        "cached": bool(info.get("cached")), "file": info.get("file"),
    }
    return todo, np.asarray(probs, np.float32), report


def _link(target: str, dst: Path, link: str) -> None:
    try:
        if link == "hardlink":
            os.link(target, dst)
        else:
            os.symlink(target, dst)
    except OSError as e:
        hint = " (hard links cannot cross file systems: use --link symlink)" if link == "hardlink" else ""
        raise MergeError(f"cannot {link} {target} to {dst}: {e.strerror or e}{hint}") from None


def _write(out: str, pool: _Pool, keep, labels_of, how, probs_of, dropped_for, names, report,
           link: str) -> None:
    """The merged folder, staged beside OUT and moved into place whole."""
    rows = sorted(np.nonzero(keep)[0], key=lambda i: pool.keys[i])
    with staged_dir(out, replaces=MERGED) as tmp:
        made = set()
        for i in rows:
            dst = tmp.joinpath(*pool.keys[i].split("/"))
            if dst.parent not in made:
                dst.parent.mkdir(parents=True, exist_ok=True)
                made.add(dst.parent)
            _link(os.path.realpath(pool.source_file(i)), dst, link)
        if names:
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(["image", *names])
            for i in rows:
                w.writerow([pool.keys[i], *(("" if how[i] == "none" else int(v)) for v in labels_of[i])])
            (tmp / LABELS_FILE).write_text(buf.getvalue())
        buf = io.StringIO()
        w = csv.writer(buf, delimiter="\t", lineterminator="\n")
        w.writerow(["image", "source_file", "labels", *names, *(f"p_{n}" for n in names),
                    "duplicates_dropped"])
        for i in rows:
            vals = ["" if how[i] == "none" else int(v) for v in labels_of[i]]
            ps = [f"{p:.4f}" for p in probs_of[i]] if i in probs_of else [""] * len(names)
            w.writerow([pool.keys[i], pool.source_file(i), how[i], *vals, *ps,
                        ";".join(dropped_for.get(i, []))])
        (tmp / MANIFEST_FILE).write_text(buf.getvalue())
        (tmp / REPORT_FILE).write_text(json.dumps(report, indent=1) + "\n")


# --------------------------------------------------------------------------- the merge


def merge_sources(paths, out, labels=None, *, predict: bool = True,
                  threshold: int = _dedup.DEFAULT_THRESHOLD,
                  min_correlation: float = _dedup.DEFAULT_MIN_CORRELATION,
                  holdout: float = DEFAULT_HOLDOUT, seed: int = 0, epochs: int | None = None,
                  classifier=None,
                  size: int = DEFAULT_SIZE, crop: str = "face", link: str = "symlink",
                  n_jobs: int = -1, cache_dir=None, use_cache: bool = True, progress: bool = False,
                  log=lambda msg: None) -> dict:
    """Merge the folders ``paths`` into ``out`` (see the module docstring); returns the
    report written to OUT/merge_report.json. Every check that needs no decoding (folders,
    label files, options, whether OUT may be replaced) runs first; any problem raises
    MergeError (or ReplaceRefused) and leaves OUT untouched. ``classifier`` predicts missing
    labels: a module like `gan.sliders.classifier` (trained, accuracy, predict, EPOCHS,
    RECIPE), passed in by the caller so this data module does not depend on the sliders
    package, which depends on it; ``epochs`` defaults to its EPOCHS."""
    names = _label_names(labels)
    if names and predict and classifier is None:
        raise MergeError("predicting missing labels needs a classifier (the CLI passes "
                         "gan.sliders.classifier); give --no-predict to merge without it")
    if epochs is None:
        epochs = classifier.EPOCHS if classifier is not None else 1
    check_options(threshold, min_correlation, holdout, epochs, size, crop, link)
    folders, out = _check_paths(paths, out)
    check_replaceable(out, MERGED)
    parts = _open_parts(folders, names)
    if names and predict and not any(p.src.label_file for p in parts):
        raise MergeError(f"none of the folders has the labels {', '.join(names)}: nothing to learn "
                         "them from (give --no-predict to merge without them, or leave out --labels)")

    for p in parts:
        log(f"reading {p.path} ({len(p.src.items):,} files)")
        _load(p, names, size, crop, n_jobs, cache_dir, progress)
    pool = _Pool(parts)
    labelled = np.concatenate([p.has_labels for p in parts])
    given = np.concatenate([p.given for p in parts])

    log(f"looking for near-duplicates among {len(pool):,} photos")
    pairs, drop, kept_of = _deduplicate(pool, threshold, min_correlation)
    keep = ~drop

    how = np.where(labelled, "given", "none").astype(object)
    labels_of = given.copy()
    probs_of, clf = {}, None
    if names and predict and (keep & ~labelled).any():
        todo, probs, clf = _predict(classifier, pool, keep, labelled, given, names, holdout, seed, epochs,
                                    size, crop, use_cache, log)
        labels_of[todo] = (probs >= 0.5).astype(np.float32)
        how[todo] = "predicted"
        probs_of = {int(i): p for i, p in zip(todo, probs)}
    if not names:
        how[:] = "none"

    dropped_for, conflicts = {}, []
    for i in np.nonzero(drop)[0]:
        k = int(kept_of[i])
        dropped_for.setdefault(k, []).append(pool.keys[i])
        if labelled[k] and labelled[i] and not np.array_equal(given[k], given[i]):
            conflicts.append({"kept": pool.keys[k], "dropped": pool.keys[i]})

    per_part = []
    for j, p in enumerate(parts):
        mine = pool.part_of == j
        c = p.data.report["counts"]
        per_part.append({
            "name": p.name, "path": p.path, "label_file": p.src.label_file,
            "found": c["found"], "unreadable": c["skipped_files"], "read": int(mine.sum()),
            "dropped_as_duplicates": int((mine & drop).sum()), "kept": int((mine & keep).sum()),
            "labels_given": int((mine & keep & (how == "given")).sum()),
            "labels_predicted": int((mine & keep & (how == "predicted")).sum()),
        })
    report = {
        "format": MERGE_FORMAT,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "options": {"labels": names, "predict": bool(predict), "size": int(size), "crop": crop,
                    "link": link, "holdout": float(holdout), "seed": int(seed), "epochs": int(epochs)},
        "sources": per_part,
        "counts": {"found": int(sum(s["found"] for s in per_part)),
                   "read": int(len(pool)), "pairs": len(pairs),
                   "dropped_as_duplicates": int(drop.sum()), "kept": int(keep.sum()),
                   "labels_given": int((keep & (how == "given")).sum()),
                   "labels_predicted": int((keep & (how == "predicted")).sum()),
                   "labels_missing": int((keep & (how == "none")).sum()) if names else None},
        "duplicates": {
            "method": "pHash (ImageHash, 64 bit) of the preprocessed crops within `threshold` bits, "
                      "confirmed by correlation of 32x32 grey thumbnails >= `min_correlation`; "
                      "one photo kept per group, a labelled one when the group has one",
            "threshold": int(threshold), "min_correlation": float(min_correlation),
            "pairs_by_folders": _pair_counts(pool, pairs),
            "label_conflicts": conflicts,
            "pairs": [{"a": pool.keys[i], "b": pool.keys[j], "distance": d, "correlation": c}
                      for i, j, d, c in pairs],
        },
        "classifier": clf,
    }
    log(f"writing {out}")
    _write(out, pool, keep, labels_of, how, probs_of, dropped_for, names, report, link)
    return report
