"""Balanced sampling: every group of the named labels drawn equally often (`train.py --balance`).

    weights = balance_weights(codes_of(data, ["ethnicity", "age_group"]))
    index = sampling_index(weights, seed=0)          # into data.images, one epoch's worth
    ds = make_dataset(images, labels, batch_size, seed=0, index=index)

UTKFace's "black" photos are 2% of the groups folder and its "asian" ones 64%: trained on as
they come, the generator sees 36 Asian faces for every Black one. Here each photo gets a
weight such that, for every named label, its groups carry the same total weight. For one label
that is 1 / (photos of its group). For several, the weights are found by raking (iterative
proportional fitting: scale each label's groups to equal totals in turn until all agree), which
keeps each photo's weight a product of one factor per label, so a photo of two small groups
counts for both and the joint mix within the data is otherwise kept.

The training pipeline then draws from a fixed epoch of `sampling_index`: each photo repeated
about weight x epoch-length times (systematic rounding, in an order shuffled by the seed, so
each group's total is within one draw of its share). The pipeline shuffles that epoch afresh
each time round, as it shuffles the photos themselves, so a resumed run sees the same batches.

No TensorFlow here.
"""
from __future__ import annotations

import numpy as np

__all__ = ["BalanceError", "balance_names", "codes_of", "balance_weights", "sampling_index",
           "balance_report"]

RAKING_ROUNDS = 200
RAKING_TOLERANCE = 1e-6


class BalanceError(ValueError):
    """Labels that cannot be balanced (unknown, numeric); the message says which and why."""


def balance_names(balance) -> list[str]:
    """"ethnicity, age_group" or a list -> ["ethnicity", "age_group"] (lower-case, no repeats)."""
    items = balance.split(",") if isinstance(balance, str) else list(balance or [])
    out: list[str] = []
    for s in items:
        n = str(s).strip().lower()
        if n and n not in out:
            out.append(n)
    return out


def codes_of(data, names: list[str]) -> list[tuple[np.ndarray, list[str]]]:
    """(group of each photo [N] int, group names) of each named raw label of a `FaceData`:
    the class of a categorical label (its one-hot column), 0/1 of a binary one."""
    if names and data.labels is None:
        raise BalanceError(f"cannot balance {', '.join(names)}: the run has no labels "
                           "(give --labels too)")
    columns = list(data.label_names)
    out = []
    for name in names:
        info = data.label_info.get(name)
        if info is None:
            have = ", ".join(data.label_info) or "none"
            raise BalanceError(f"cannot balance {name!r}: the run is not conditioned on it "
                               f"(its labels: {have})")
        if info["kind"] == "numeric":
            raise BalanceError(f"cannot balance {name!r}: it is a number, not groups (for ages, "
                               "use age groups: the age_group label)")
        block = np.asarray(data.labels)[:, [columns.index(c) for c in info["columns"]]]
        if info["kind"] == "categorical":
            out.append((np.argmax(block, axis=1).astype(int), list(info["categories"])))
        else:
            col = info["columns"][0]
            out.append(((block[:, 0] >= 0.5).astype(int), [f"not {col}", col]))
    return out


def balance_weights(codes: list[tuple[np.ndarray, list[str]]]) -> np.ndarray:
    """A weight per photo [N] summing to 1 such that, for each label, every group present has
    the same total weight (exact for one label, to 1e-6 for several by raking). Without
    labels: equal weights."""
    n = len(codes[0][0]) if codes else 0
    if not codes:
        raise BalanceError("nothing to balance")
    w = np.full(n, 1.0 / max(n, 1))
    for _ in range(RAKING_ROUNDS):
        worst = 0.0
        for c, groups in codes:
            totals = np.bincount(c, weights=w, minlength=len(groups))
            present = totals > 0
            target = totals[present].sum() / present.sum()
            factor = np.where(present, target / np.where(present, totals, 1.0), 1.0)
            worst = max(worst, float(np.abs(factor[present] - 1).max()))
            w = w * factor[c]
        if worst < RAKING_TOLERANCE:
            break
    return w / w.sum()


def sampling_index(weights: np.ndarray, seed: int = 0, length: int | None = None) -> np.ndarray:
    """One epoch of draws [length] (default: as many as photos): photo i appears about
    weights[i] x length times (systematic rounding over an order shuffled by `seed`, so every
    photo with weight >= 1/length appears, and no group's total is off by more than one)."""
    w = np.asarray(weights, np.float64)
    n = len(w)
    length = n if length is None else int(length)
    if n == 0 or length < 1:
        raise BalanceError("no photos to sample")
    order = np.random.default_rng([int(seed), 7919]).permutation(n)
    expected = np.cumsum(w[order] / w.sum() * length)
    counts = np.diff(np.concatenate([[0], np.floor(expected + 0.5).astype(np.int64)]))
    counts[-1] += length - counts.sum()
    return np.repeat(order, counts).astype(np.int64)


def balance_report(codes: list[tuple[np.ndarray, list[str]]], names: list[str],
                   index: np.ndarray) -> dict:
    """Per label and group: photos, their share of the photos, and their share of the draws
    with balancing; and how many times more often the most drawn photo comes than under
    uniform sampling (oversampling repeats photos: watch the memorisation check)."""
    n = len(codes[0][0])
    draws = np.bincount(index, minlength=n)
    out = {"labels": list(names), "method": "raking: equal total weight per group of each label",
           "epoch": int(len(index)), "groups": {}}
    for name, (c, groups) in zip(names, codes):
        photos = np.bincount(c, minlength=len(groups))
        drawn = np.bincount(c, weights=draws, minlength=len(groups))
        out["groups"][name] = {g: {"photos": int(p), "share_of_photos": round(float(p) / n, 4),
                                   "share_of_draws": round(float(d) / len(index), 4)}
                               for g, p, d in zip(groups, photos, drawn)}
    out["max_draws_per_photo_vs_uniform"] = round(float(draws.max()) * n / len(index), 2)
    return out
