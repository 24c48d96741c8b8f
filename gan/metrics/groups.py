"""Every group, measured: the per-group figures of `python -m gan.evaluate`.

For each group of each label of a conditional bundle (ethnicity=black, gender=female,
age_group=0-9, ...; a binary attribute counts as two groups, with and without it):

- SWD of its generated faces against held-out photos of that group (x1e3, lower is better),
  every group at the same number of faces, since SWD grows as the sets shrink;
- MS-SSIM variety: mean MS-SSIM of random pairs of its generated faces beside pairs of its real
  photos (lower is more varied);
- agreement: how often an independent judge says a generated face shows the group asked for.
  The judge (`gan.sliders.classifier`'s small CNN) is trained on real held-out photos only,
  never on generated faces nor on the generator's training photos: the held-out photos are
  split in two by file-name hash, a judge is trained on each half, and each half is scored by
  the judge that did not see it (its accuracy, per label and per group, is in the report).
  Generated faces are judged by both (mean probability).

The generated faces of a group get the labels of that group's held-out photos (drawn with
replacement), so a group is compared with photos of the same mix of its other labels; z comes
from the evaluation's seed, one stream per group. The weakest group beside the best, per
figure, is the report's `summary` and the figure `groups.png`.

Only consumes bundles and photos: no training code, no Streamlit.
"""
from __future__ import annotations

import zlib

import numpy as np

from gan.card import label_kinds
from gan.data.dataset import unit_hash
from gan.metrics import msssim, swd
from gan.sampling import generate_from_latents, latents

DEFAULT_PER_GROUP = 200       # generated faces per group, and at most this many real photos
DEFAULT_PAIRS = 300           # MS-SSIM pairs per group and set
MIN_PHOTOS = 10               # fewest held-out photos of a group to measure it by
JUDGE_EPOCHS = 40             # a held-out half is small: ~15 batches an epoch
# Targets of issue 19: agreement per group, and weakest / best SWD.
AGREEMENT_TARGET = 0.80
AGE_AGREEMENT_TARGET = 0.70
SWD_RATIO_TARGET = 1.5


class GroupsError(ValueError):
    """Per-group figures cannot be measured as asked; the message says why."""


def label_groups(card: dict) -> dict[str, list[tuple[str, list[int]]]]:
    """{label: [(group, columns that are 1 for it), ...]} of a card: one-hot groups as they
    are, a binary attribute as (not X, X). Numeric labels have no groups."""
    names = list((card.get("labels") or {}).get("names", []))
    out: dict[str, list[tuple[str, list[int]]]] = {}
    for j, (name, kind) in enumerate(zip(names, label_kinds(card))):
        if kind == "onehot":
            label, _, group = name.partition("=")
            out.setdefault(label, []).append((group, [j]))
        elif kind == "binary":
            out[name] = [(f"not {name}", []), (name, [j])]
    return out


def _columns(card: dict) -> dict[str, list[int]]:
    """{label: its columns} (a binary attribute: its one column)."""
    cols: dict[str, list[int]] = {}
    for label, groups in label_groups(card).items():
        cols[label] = sorted({c for _, cs in groups for c in cs})
    return cols


def group_of(y: np.ndarray, card: dict) -> dict[str, np.ndarray]:
    """{label: index of each row's group} from label rows [n, K] (or probabilities: the most
    likely group)."""
    y = np.asarray(y, np.float64)
    out = {}
    for label, groups in label_groups(card).items():
        cols = _columns(card)[label]
        if len(groups) == 2 and not groups[0][1]:           # binary attribute
            out[label] = (y[:, cols[0]] >= 0.5).astype(int)
        else:
            out[label] = np.argmax(y[:, cols], axis=1).astype(int)
    return out


def is_age(label: str) -> bool:
    return label.lower().startswith("age")


def agreement_target(label: str) -> float:
    return AGE_AGREEMENT_TARGET if is_age(label) else AGREEMENT_TARGET


# --------------------------------------------------------------------------- the judge


def balanced_epoch(card: dict, labels: np.ndarray, seed: int) -> np.ndarray:
    """Indices into `labels` drawing every group of every label equally often
    (`gan.data.balance`, as `train.py --balance` draws)."""
    from gan.data.balance import balance_weights, sampling_index

    codes = [(c, [g for g, _ in label_groups(card)[label]]) for label, c in group_of(labels, card).items()]
    return sampling_index(balance_weights(codes), seed=seed)


def train_judge(held, seed: int, epochs: int = JUDGE_EPOCHS, use_cache: bool = True,
                crop: str = "face", card: dict | None = None, log=lambda m: None):
    """Two judges, each trained on one half of the held-out photos (by file-name hash; drawn
    balanced over the groups) and scored on the other. Returns (judges, cross-fitted
    probabilities of every held-out photo)."""
    from gan.sliders import classifier

    fold = np.array([unit_hash(seed + 1, k) < 0.5 for k in held.keys], bool)
    if fold.sum() < 2 or (~fold).sum() < 2:
        raise GroupsError(f"{len(held)} held-out photos are too few to train and score a judge")
    judges, probs = [], np.zeros(held.labels.shape, np.float32)
    size = int(held.images.shape[1])
    for part in (fold, ~fold):
        idx = np.nonzero(part)[0]
        # drawn balanced, as --balance draws training photos: a judge fitted to the groups'
        # shares as they come names a small group rarely, and its agreement would say so
        idx = idx[balanced_epoch(card, held.labels[idx], seed)]
        log(f"judge {len(judges) + 1} of 2: {part.sum():,} held-out photos, drawn balanced")
        model, _ = classifier.trained(np.asarray(held.images[idx]), held.labels[idx],
                                      list(held.label_names), [held.keys[i] for i in idx], size,
                                      f"{crop}/groups-judge", epochs=epochs, seed=seed, use_cache=use_cache,
                                      log=log)
        judges.append(model)
        other = np.nonzero(~part)[0]
        probs[other] = classifier.predict(model, np.asarray(held.images[other]))
    return judges, probs


def judge(judges, images: np.ndarray) -> np.ndarray:
    from gan.sliders import classifier

    return np.mean([classifier.predict(m, images) for m in judges], axis=0)


def judge_accuracy(card: dict, truth: np.ndarray, probs: np.ndarray) -> dict:
    """Cross-fitted accuracy per label, and recall per group (share of a group's real photos
    the judge names correctly)."""
    t, p = group_of(truth, card), group_of(probs, card)
    out = {}
    for label, groups in label_groups(card).items():
        right = t[label] == p[label]
        out[label] = {"accuracy": round(float(right.mean()), 4),
                      "recall": {g: (round(float(right[t[label] == i].mean()), 4)
                                     if (t[label] == i).any() else None)
                                 for i, (g, _) in enumerate(groups)}}
    return out


# --------------------------------------------------------------------------- the figures


def _stream(seed: int, label: str, group: str) -> int:
    return int(seed) * 1_000_003 + zlib.crc32(f"{label}={group}".encode())


def measure_groups(bundle, held, *, n: int = DEFAULT_PER_GROUP, n_pairs: int = DEFAULT_PAIRS,
                   seed: int = 0, truncation: float = 1.0, judge_epochs: int = JUDGE_EPOCHS,
                   min_photos: int = MIN_PHOTOS, use_cache: bool = True, log=lambda m: None):
    """The per-group section of the evaluation report, and the faces for the figures
    ({(label, group): uint8 faces}). `held`: the bundle's held-out photos with their labels
    (a `FaceData` whose columns are the bundle's)."""
    card = bundle.card
    if held is None or held.labels is None:
        raise GroupsError("per-group figures need the bundle's held-out photos with their labels")
    if list(held.label_names) != list(bundle.label_names):
        raise GroupsError(f"the held-out photos are labelled {held.label_names}, the bundle "
                          f"{bundle.label_names}")
    groups = label_groups(card)
    if not groups:
        raise GroupsError("the bundle has no labels with groups")
    truth = group_of(held.labels, card)
    counts = {(label, g): int((truth[label] == i).sum())
              for label, gs in groups.items() for i, (g, _) in enumerate(gs)}
    measured = [k for k, c in counts.items() if c >= max(2, min_photos)]
    if not measured:
        raise GroupsError(f"no group has {min_photos} held-out photos to be measured by")
    n_eq = int(min(n, min(counts[k] for k in measured)))
    n_eq = max(n_eq, 2)

    judges, cross = train_judge(held, seed, judge_epochs, use_cache, bundle.crop, card, log)
    accuracy = judge_accuracy(card, held.labels, cross)

    rows, faces = [], {}
    for label, gs in groups.items():
        for i, (g, _) in enumerate(gs):
            row = {"label": label, "group": g, "heldout_photos": counts[(label, g)]}
            if (label, g) not in measured:
                row["skipped"] = f"fewer than {min_photos} held-out photos"
                rows.append(row)
                continue
            log(f"{label} = {g}: {n} faces")
            mine = np.nonzero(truth[label] == i)[0]
            rng = np.random.default_rng(_stream(seed, label, g))
            y = held.labels[rng.choice(mine, n, replace=True)].astype(np.float32)
            z = latents(_stream(seed, label, g), n, bundle.latent_dim, truncation)
            gen = generate_from_latents(bundle, z, y)
            real_idx = np.sort(rng.choice(mine, min(len(mine), n), replace=False))
            real = np.asarray(held.images[real_idx])
            s = swd.swd(gen[:n_eq], real[:n_eq], seed=seed)
            ms = msssim.compare(gen, real, n_pairs=n_pairs, seed=seed)
            said = group_of(judge(judges, gen), card)[label]
            row.update({
                "swd": round(s["average"], 2), "swd_faces": int(n_eq),
                "ms_ssim_generated": round(ms["generated"], 4), "ms_ssim_real": round(ms["real"], 4),
                "ms_ssim_relative": round(ms["relative"], 4),
                "agreement": round(float(np.mean(said == i)), 4),
                "agreement_target": agreement_target(label),
                "judge_recall": accuracy[label]["recall"][g],
            })
            rows.append(row)
            faces[(label, g)] = gen
    section = {
        "method": ("per group: n generated faces with the labels of that group's held-out photos; "
                   "SWD against its held-out photos (every group at swd_faces faces); MS-SSIM of "
                   "random pairs within the group's generated faces and its real photos; "
                   "agreement: the share of its faces a judge trained on real held-out photos "
                   "only (two halves, cross-fitted) names as that group"),
        "faces_per_group": int(n), "swd_faces": int(n_eq), "pairs": int(n_pairs),
        "min_photos": int(min_photos),
        "judge": {"trained_on": "the bundle's held-out photos, in two halves by file-name hash; "
                                "each half scored by the judge trained on the other",
                  "photos": int(len(held)), "epochs": int(judge_epochs), "labels": accuracy},
        "rows": rows,
    }
    section["summary"] = summary(rows)
    return section, faces


def _extremes(rows: list[dict], key: str, low_is_good: bool) -> dict | None:
    done = [r for r in rows if r.get(key) is not None]
    if not done:
        return None
    order = sorted(done, key=lambda r: r[key], reverse=not low_is_good)
    best, worst = order[0], order[-1]
    return {"best": f"{best['label']} = {best['group']}", "best_value": best[key],
            "weakest": f"{worst['label']} = {worst['group']}", "weakest_value": worst[key]}


def summary(rows: list[dict]) -> dict:
    """The weakest group beside the best, per figure, with the issue's targets."""
    out: dict = {}
    s = _extremes(rows, "swd", low_is_good=True)
    if s:
        s["ratio"] = round(s["weakest_value"] / max(s["best_value"], 1e-9), 3)
        s["target_ratio"] = SWD_RATIO_TARGET
        s["met"] = bool(s["ratio"] <= SWD_RATIO_TARGET)
        out["swd"] = s
    m = _extremes(rows, "ms_ssim_relative", low_is_good=True)
    if m:
        out["ms_ssim_relative"] = m
    a = _extremes(rows, "agreement", low_is_good=False)
    if a:
        below = [f"{r['label']} = {r['group']}" for r in rows
                 if r.get("agreement") is not None and r["agreement"] < r["agreement_target"]]
        a["below_target"] = below
        a["met"] = not below
        out["agreement"] = a
    return out


def table(section: dict) -> list[dict]:
    """The per-group table in words, for the page and the terminal (one row per group)."""
    out = []
    for r in section["rows"]:
        if "skipped" in r:
            out.append({"group": f"{r['label']} = {r['group']}", "held-out photos": r["heldout_photos"],
                        "SWD": "-", "MS-SSIM generated / real": "-", "agreement": "-",
                        "judge recall": r["skipped"]})
            continue
        out.append({"group": f"{r['label']} = {r['group']}", "held-out photos": r["heldout_photos"],
                    "SWD": f"{r['swd']:.1f}",
                    "MS-SSIM generated / real": f"{r['ms_ssim_generated']:.3f} / {r['ms_ssim_real']:.3f}",
                    "agreement": f"{r['agreement']:.0%}" + ("" if r["agreement"] >= r["agreement_target"]
                                                           else f" (< {r['agreement_target']:.0%})"),
                    "judge recall": "-" if r["judge_recall"] is None else f"{r['judge_recall']:.0%}"})
    return out


def weakest_and_best(section: dict) -> list[dict]:
    """One row per figure: the weakest group and its value beside the best's."""
    s = section.get("summary", {})
    out = []
    if "swd" in s:
        x = s["swd"]
        out.append({"figure": "SWD (lower is better)", "weakest": f"{x['weakest']}: {x['weakest_value']:.1f}",
                    "best": f"{x['best']}: {x['best_value']:.1f}",
                    "target": f"weakest / best {x['ratio']:.2f}, target at most {x['target_ratio']:g}"
                              + (" (met)" if x["met"] else " (not met)")})
    if "ms_ssim_relative" in s:
        x = s["ms_ssim_relative"]
        out.append({"figure": "variety: generated pairs more alike than real (lower is better)",
                    "weakest": f"{x['weakest']}: {x['weakest_value']:+.0%}",
                    "best": f"{x['best']}: {x['best_value']:+.0%}", "target": "at most +10%"})
    if "agreement" in s:
        x = s["agreement"]
        out.append({"figure": "agreement (higher is better)", "weakest": f"{x['weakest']}: {x['weakest_value']:.0%}",
                    "best": f"{x['best']}: {x['best_value']:.0%}",
                    "target": ("every group met its target" if x["met"] else
                               "below target: " + ", ".join(x["below_target"]))})
    return out
