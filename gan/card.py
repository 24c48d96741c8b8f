"""The model card written into every bundle (`model.json`): what a user needs to judge a model.

`make_card` writes it; `label_kinds` and `label_groups` are the one place that reads what
each label is (binary attribute, one class of a one-hot group, number), and
`label_frequencies` how often the training drew each label row.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np

from gan.config import TrainConfig
from gan.data import preprocess

# A label array with more distinct rows than this (numbers) gets no frequencies: the card stays
# small, and faces fall back to the neutral labels (gan.sampling.label_matrix).
MAX_FREQUENCY_ROWS = 4096


def make_card(cfg: TrainConfig, *, label_names: list[str] | None = None, step: int = 0,
              training_seconds: float = 0.0, data: dict[str, Any] | None = None,
              metrics: dict[str, Any] | None = None, notes: str = "",
              init_from: dict[str, Any] | None = None,
              cpu: dict[str, Any] | None = None,
              label_kinds: list[str] | None = None,
              images_seen: int | None = None,
              label_rows: np.ndarray | None = None,
              label_weights: np.ndarray | None = None) -> dict[str, Any]:
    """`label_kinds`: per label, `FaceData.label_kind` ("binary", "onehot", "numeric"), so
    readers need not guess from the names. `init_from`: the bundle a run started from (its steps and seconds are not in this run's
    figures; `total_steps` / `total_seconds` add them). `cpu`: {"seconds", "from_step"}, the
    process CPU time of the training steps (all threads), which, unlike the wall-clock
    `seconds`, does not grow while a run is paused or shares the machine. `images_seen`: the
    photos trained on (a distributed run's steps each take batch_size x replicas); by default
    step x batch_size. `label_rows`: the training photos' labels [n, K], whose distinct rows
    and counts the card keeps so faces can be given labels as photos have them;
    `label_weights`: each photo's share of a balanced run's draws (`--balance`), so they are
    given labels as the training drew them instead."""
    seen = int(step) * cfg.batch_size if images_seen is None else int(images_seen)
    training = {"steps": int(step), "seconds": round(float(training_seconds), 1),
                "images_seen": seen}
    if cpu:
        training["cpu_seconds"] = round(float(cpu["seconds"]), 1)
        training["cpu_hours"] = round(float(cpu["seconds"]) / 3600, 2)
        if int(cpu.get("from_step", 0)):
            training["cpu_counted_from_step"] = int(cpu["from_step"])
    if init_from:
        training["init_from"] = dict(init_from)
        training["total_steps"] = int(step) + int(init_from.get("steps", 0))
        training["total_seconds"] = round(float(training_seconds) + float(init_from.get("seconds", 0.0)), 1)
        if cpu and init_from.get("cpu_seconds"):
            total = float(cpu["seconds"]) + float(init_from["cpu_seconds"])
            training["total_cpu_seconds"] = round(total, 1)
            training["total_cpu_hours"] = round(total / 3600, 2)

    return {
        "config": cfg.to_dict(),
        "preprocessing": {"size": cfg.resolution, "crop": cfg.crop, "range": [-1, 1],
                          "version": getattr(preprocess, "PREPROCESS_VERSION", 1)},
        "labels": _labels_section(label_names, label_kinds, label_rows, label_weights),
        "training": training,
        "data": dict(data or {}),
        "metrics": dict(metrics or {}),
        "detector": {"calibration": None, "threshold": 0.5,
                     "note": "uncalibrated: p = sigmoid(-logit) of the raw discriminator"},
        "notes": notes,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


LABEL_KINDS = ("binary", "onehot", "numeric")


def _labels_section(names: list[str] | None, kinds: list[str] | None,
                    rows: np.ndarray | None = None,
                    weights: np.ndarray | None = None) -> dict[str, Any]:
    names = list(names or [])
    freq = None if rows is None or not names else frequencies_section(rows, len(names), weights)
    if kinds is None or not names:
        return {"names": names, **({"frequencies": freq} if freq else {})}
    if len(kinds) != len(names) or not set(kinds) <= set(LABEL_KINDS):
        raise ValueError(f"label kinds {kinds} do not fit the labels {names}")
    section: dict[str, Any] = {"names": names, "kinds": list(kinds)}
    groups: dict[str, list[str]] = {}
    for name, kind in zip(names, kinds):
        if kind == "onehot":
            label, _, group = name.partition("=")
            groups.setdefault(label, []).append(group)
    if groups:
        section["groups"] = groups    # the group names, for people and pages reading the card
    if freq:
        section["frequencies"] = freq
    return section


def frequencies_section(rows: np.ndarray, k: int,
                        weights: np.ndarray | None = None) -> dict[str, Any] | None:
    """The card's `labels.frequencies`: each distinct label row of the training photos (in
    sorted order, values to 4 decimals) and how many photos had it, and with `weights` (each
    photo's share of a balanced run's draws) each row's share of the draws; None when there
    are more than MAX_FREQUENCY_ROWS distinct rows or the array does not have `k` columns."""
    rows = np.asarray(rows, np.float64)
    if rows.ndim != 2 or rows.shape[1] != k or not len(rows) or not np.all(np.isfinite(rows)):
        return None
    kinds, inverse, counts = np.unique(np.round(rows, 4), axis=0, return_inverse=True,
                                       return_counts=True)
    if len(kinds) > MAX_FREQUENCY_ROWS:
        return None
    out = {"rows": [[round(float(v), 4) for v in r] for r in kinds],
           "counts": [int(c) for c in counts], "of": "training photos"}
    if weights is not None and len(weights) == len(rows):
        draws = np.bincount(np.asarray(inverse).ravel(), weights=np.asarray(weights, np.float64),
                            minlength=len(kinds))
        if draws.sum() > 0:
            out["draws"] = [round(float(d), 6) for d in draws / draws.sum()]
            out["draws_of"] = "the balanced training's draws (--balance): each group equally often"
    return out


def drawn_as(card: dict[str, Any]) -> str | None:
    """How faces get their labels, in words ("as the training photos have them"); None for a
    card without label frequencies (faces then get the neutral labels)."""
    if label_frequencies(card) is None:
        return None
    if "draws" in ((card.get("labels") or {}).get("frequencies") or {}):
        return "as the balanced training drew them (each group equally often)"
    return "as the training photos have them"


def label_frequencies(card: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows [U, K] float32, weights [U]) of the training's label rows, as the card keeps them:
    a balanced run's share of draws, else the photos' counts; None for a card without them
    (bundles exported before they were recorded) or whose section does not fit its labels."""
    section = card.get("labels", {}) or {}
    freq = section.get("frequencies")
    k = len(section.get("names", []) or [])
    if not isinstance(freq, dict) or not k:
        return None
    try:
        rows = np.asarray(freq["rows"], np.float32)
        counts = np.asarray(freq["draws"] if "draws" in freq else freq["counts"], np.float64)
    except (KeyError, TypeError, ValueError):
        return None
    if (rows.ndim != 2 or rows.shape != (len(counts), k) or not np.all(np.isfinite(rows))
            or not np.all(counts >= 0) or counts.sum() <= 0):
        return None
    return rows, counts


def label_kinds(card: dict[str, Any]) -> list[str]:
    """Each label's kind, as the run wrote it. Cards written before kinds were recorded (the
    models/default shipped until 2026-12-06 among them) get the old rule: a name with "=" is
    one class of a one-hot group ("class=a"), any other name a binary attribute."""
    section = card.get("labels", {}) or {}
    names = list(section.get("names", []))
    kinds = section.get("kinds")
    if isinstance(kinds, list) and len(kinds) == len(names):
        return [str(k) for k in kinds]
    return ["onehot" if "=" in n else "binary" for n in names]


def label_groups(card: dict[str, Any]) -> dict[str, list[int]]:
    """The one-hot groups of a card's labels: group name ("class" of "class=a") -> columns."""
    names = list((card.get("labels", {}) or {}).get("names", []))
    groups: dict[str, list[int]] = {}
    for j, (name, kind) in enumerate(zip(names, label_kinds(card))):
        if kind == "onehot":
            groups.setdefault(name.split("=", 1)[0], []).append(j)
    return groups
